"""End to end: the real CLI and pipeline against the simulator over HTTP into DuckDB."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from genesys_etl import cli, pipeline
from genesys_etl.config import Config
from genesys_etl.errors import StageError
from genesys_etl.stage import open_stage
from genesys_sim import SimConfig, SimulatorServer

TODAY = date(2026, 11, 26)
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
CHECKED = [("nOffered", "count"), ("tAnswered", "count"), ("tHandle", "sum")]


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimConfig(seed=11, queues=12, today=TODAY)) as server:
        yield server


def _env(sim: SimulatorServer) -> dict[str, str]:
    return {"GENESYS_CLIENT_ID": sim.client_id, "GENESYS_CLIENT_SECRET": sim.client_secret}


def _cli(sim: SimulatorServer, tmp_path: Path, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    argv = [
        *args,
        "--api-url",
        sim.base_url,
        "--warehouse",
        f"duckdb:{tmp_path / 'wh.duckdb'}",
        "--stage",
        str(tmp_path / "stage"),
    ]
    status = cli.main(argv, env=_env(sim), out=out)
    return status, out.getvalue()


def _status(tmp_path: Path, start: str, end: str) -> str:
    """Run ``genesys-etl status`` on the test's warehouse and return what it printed."""
    out = io.StringIO()
    argv = [
        "status",
        "--start-date",
        start,
        "--end-date",
        end,
        "--warehouse",
        f"duckdb:{tmp_path / 'wh.duckdb'}",
    ]
    assert cli.main(argv, env={}, out=out) == 0
    return out.getvalue()


def _warehouse_sums(path: Path, start: date, end: date) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        frame = con.execute(
            """
            SELECT metric_date, queue_id, media_type, metric, stat_count AS count, stat_sum AS sum
            FROM genesys.queue_metrics_daily
            WHERE metric IN ('nOffered', 'tAnswered', 'tHandle') AND metric_date BETWEEN ? AND ?
            """,
            [start, end],
        ).df()
    frame["metric_date"] = pd.to_datetime(frame["metric_date"]).dt.date
    return frame


def _assert_equals_ground_truth(sim: SimulatorServer, db: Path, start: date, end: date, zone: str) -> int:
    """Compare the warehouse with the simulator's ground truth for the checked stats; return rows compared."""
    truth = sim.ground_truth(start, end, zone, metrics=[m for m, _ in CHECKED])
    loaded = _warehouse_sums(db, start, end)
    key = ["metric_date", "queue_id", "media_type", "metric"]
    merged = truth.merge(loaded, on=key, how="outer", suffixes=("_truth", "_loaded"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"].head()
    for metric, stat in CHECKED:
        rows = merged[merged["metric"] == metric]
        assert len(rows) > 0
        assert (rows[f"{stat}_truth"].astype("int64") == rows[f"{stat}_loaded"].astype("int64")).all(), metric
    return len(merged)


def _duplicate_keys(db: Path) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute(
            """
            SELECT count(*) FROM (
              SELECT metric_date, queue_id, media_type, metric, coalesce(qualifier, '') AS q, count(*) AS n
              FROM genesys.queue_metrics_daily GROUP BY ALL HAVING count(*) > 1)
            """
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_backfill_90_days_equals_ground_truth_exactly(sim: SimulatorServer, tmp_path: Path) -> None:
    start, end = TODAY - timedelta(days=90), TODAY - timedelta(days=1)
    status, out = _cli(
        sim,
        tmp_path,
        "backfill",
        "--start-date",
        str(start),
        "--end-date",
        str(end),
        "--time-zone",
        "America/New_York",
    )
    assert status == 0, out
    assert sim.request_count("aggregates/query", 200) == 13  # ceil(90 / 7) calls for all queues
    compared = _assert_equals_ground_truth(sim, tmp_path / "wh.duckdb", start, end, "America/New_York")
    assert compared > 1000
    assert _duplicate_keys(tmp_path / "wh.duckdb") == 0
    assert "total" in out
    assert "ok" in out


def test_running_the_same_range_twice_changes_nothing(sim: SimulatorServer, tmp_path: Path) -> None:
    args = ("run", "--start-date", "2026-10-01", "--end-date", "2026-10-20")
    assert _cli(sim, tmp_path, *args)[0] == 0

    def snapshot() -> pd.DataFrame:
        with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
            return con.execute(
                "SELECT * EXCLUDE (load_id, loaded_at) FROM genesys.queue_metrics_daily "
                "ORDER BY metric_date, queue_id, media_type, metric"
            ).df()

    first = snapshot()
    assert _cli(sim, tmp_path, *args)[0] == 0
    second = snapshot()
    pd.testing.assert_frame_equal(first, second)
    assert _duplicate_keys(tmp_path / "wh.duckdb") == 0
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        statuses = con.execute("SELECT status, count(*) FROM genesys.load_runs GROUP BY 1").fetchall()
    assert statuses == [("succeeded", 6)]  # 3 windows per run, 2 runs


def test_nightly_rerun_corrects_provisional_days_with_late_data(tmp_path: Path) -> None:
    config_values: dict[str, Any] = {
        "warehouse": f"duckdb:{tmp_path / 'wh.duckdb'}",
        "stage": str(tmp_path / "stage"),
        "trigger": "nightly",
    }
    sim_config = SimConfig(seed=5, queues=8, today=TODAY, late_data=True, late_data_horizon_days=3)
    with SimulatorServer(sim_config) as sim:
        config = Config.from_mapping({**config_values, "api_url": sim.base_url}, _env(sim))
        first = pipeline.run(config, now=NOW)
        assert first.ok
        yesterday = TODAY - timedelta(days=1)
        provisional = _warehouse_sums(tmp_path / "wh.duckdb", yesterday, yesterday)
        _assert_equals_ground_truth(sim, tmp_path / "wh.duckdb", TODAY - timedelta(days=7), yesterday, "UTC")

        # Three days later the same days have settled: the nightly lookback re-pulls and replaces them.
        sim.set_today(TODAY + timedelta(days=3))
        second = pipeline.run(config.with_changes(run_id="second"), now=NOW + timedelta(days=3))
        assert second.ok
        settled = _warehouse_sums(tmp_path / "wh.duckdb", yesterday, yesterday)
        _assert_equals_ground_truth(
            sim, tmp_path / "wh.duckdb", TODAY - timedelta(days=4), TODAY + timedelta(days=2), "UTC"
        )
    grew = settled["count"].fillna(0).sum() > provisional["count"].fillna(0).sum()
    assert grew, "late-arriving data should have raised yesterday's counts once settled"
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        flags = dict(
            con.execute(
                "SELECT metric_date, bool_or(is_provisional) FROM genesys.v_queue_daily_kpis GROUP BY 1"
            ).fetchall()
        )
    assert flags[yesterday] is False  # re-pulled 4 days old: settled
    assert flags[TODAY + timedelta(days=2)] is True


def test_a_failed_window_is_reported_others_load_and_a_rerun_completes(tmp_path: Path) -> None:
    # The simulator refuses intervals over 5 days, like an org with a stricter limit: with
    # --days-per-query 7 the first (7-day) window gets a real 400 and the 2-day one loads.
    with SimulatorServer(SimConfig(seed=3, queues=6, today=TODAY, max_interval_days=5)) as sim:
        status, out = _cli(sim, tmp_path, "run", "--start-date", "2026-09-01", "--end-date", "2026-09-09")
        assert status == 1
        assert "2026-09-01..2026-09-07" in out
        assert "failed" in out
        assert "genesys-etl backfill --start-date 2026-09-01 --end-date 2026-09-07" in out
        assert "7 missing" in _status(tmp_path, "2026-09-01", "2026-09-09")
        with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
            runs = con.execute(
                "SELECT window_start_date, status, error FROM genesys.load_runs ORDER BY window_start_date"
            ).fetchall()
        assert [(r[0], r[1]) for r in runs] == [(date(2026, 9, 1), "failed"), (date(2026, 9, 8), "succeeded")]
        assert "400" in runs[0][2]

        status, out = _cli(
            sim,
            tmp_path,
            "backfill",
            "--start-date",
            "2026-09-01",
            "--end-date",
            "2026-09-07",
            "--days-per-query",
            "5",
        )
        assert status == 0, out
        _assert_equals_ground_truth(sim, tmp_path / "wh.duckdb", date(2026, 9, 1), date(2026, 9, 9), "UTC")
    assert "9 loaded, 0 provisional, 0 missing" in _status(tmp_path, "2026-09-01", "2026-09-09")


def test_a_staging_cleanup_failure_after_commit_keeps_the_load_succeeded(
    sim: SimulatorServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = Config.from_mapping(
        {
            "api_url": sim.base_url,
            "warehouse": f"duckdb:{tmp_path / 'wh.duckdb'}",
            "stage": str(tmp_path / "stage"),
            "start_date": "2026-10-01",
            "end_date": "2026-10-03",
        },
        _env(sim),
    )
    stage = open_stage(config.stage, config.run_id)

    def refuse(staged: object) -> None:
        raise StageError("--stage: cannot delete the staged files: access denied")

    stage.remove = refuse  # type: ignore[method-assign]
    report = pipeline.run(config, stage=stage)
    assert report.ok
    assert "loaded, but its staged files were not removed" in caplog.text
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        runs = con.execute("SELECT status, rows_loaded > 0 FROM genesys.load_runs").fetchall()
    assert runs == [("succeeded", True)]
