"""`genesys-etl verify`: the warehouse compared with Genesys cell by cell, and `--fix`."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from fixtures.jobs import assert_equals_ground_truth, duckdb_facts, sim_env
from genesys_etl import cli, pipeline
from genesys_etl.config import Config
from genesys_etl.report import format_run_report
from genesys_etl.verify import compare_cells
from genesys_sim import SimConfig, SimulatorServer

TODAY = date(2026, 11, 26)
WEEK = ("--start-date", "2026-11-02", "--end-date", "2026-11-08")


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimConfig(seed=8, queues=5, today=TODAY)) as server:
        yield server


def _cli(sim: SimulatorServer, db: Path, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    argv = [
        *args,
        "--api-url",
        sim.base_url,
        "--warehouse",
        f"duckdb:{db}",
        "--stage",
        str(db.parent / "stage"),
    ]
    return cli.main(argv, env=sim_env(sim), out=out), out.getvalue()


def _sql(db: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db)) as con:
        return con.execute(sql, params or []).fetchall()


def _day_lines(text: str) -> dict[str, str]:
    return {line[:10]: line[12:] for line in text.splitlines() if line[:4] == "2026"}


def test_a_clean_load_verifies_equal_in_one_call_and_is_recorded(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    db = tmp_path / "wh.duckdb"
    assert _cli(sim, db, "run", *WEEK)[0] == 0
    sim.reset_counters()

    status, out = _cli(sim, db, "verify", *WEEK)

    assert status == 0, out
    lines = _day_lines(out)
    assert len(lines) == 7
    assert all(line.startswith("matches") for line in lines.values())
    assert "all equal to Genesys (1 call(s))" in out
    assert sim.request_count("aggregates/query") <= 2  # 7 days: one window, one call
    assert _sql(db, "SELECT count(*) FROM genesys.queue_metrics_daily WHERE load_id = 'verify'") == [(0,)]
    runs = _sql(db, "SELECT window_start_date, days_differing, api_calls FROM genesys.verify_runs")
    assert runs == [(date(2026, 11, 2), 0, 1)]
    proven = _sql(db, "SELECT count(*) FROM genesys.v_day_verification WHERE latest_check_matched")
    assert proven == [(7,)]


def test_a_hand_edit_and_a_deleted_day_are_found_and_fix_restores_the_ground_truth(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    db = tmp_path / "wh.duckdb"
    assert _cli(sim, db, "run", *WEEK)[0] == 0
    _sql(
        db,
        "UPDATE genesys.queue_metrics_daily SET stat_sum = stat_sum * 2 WHERE metric = 'tHandle' "
        "AND metric_date = '2026-11-04' AND media_type = 'voice' "
        "AND queue_id = (SELECT min(queue_id) FROM genesys.queue_metrics_daily)",
    )
    _sql(db, "DELETE FROM genesys.queue_metrics_daily WHERE metric_date = '2026-11-06'")

    status, out = _cli(sim, db, "verify", *WEEK)
    assert status == 1
    lines = _day_lines(out)
    assert lines["2026-11-04"].startswith("differs: 1 of")
    assert "largest change 100.0%" in lines["2026-11-04"]
    assert "tHandle" in lines["2026-11-04"]
    assert lines["2026-11-06"].startswith("missing in the warehouse")
    assert sum(line.startswith("matches") for line in lines.values()) == 5
    assert "total: 2 of 7 day(s) differ" in out
    latest = _sql(
        db, "SELECT metric_date FROM genesys.v_day_verification WHERE NOT latest_check_matched ORDER BY 1"
    )
    assert latest == [(date(2026, 11, 4),), (date(2026, 11, 6),)]

    status, out = _cli(sim, db, "verify", *WEEK, "--fix")
    assert status == 0, out
    assert "fixing 2026-11-04..2026-11-04" in out
    assert "fixing 2026-11-06..2026-11-06" in out
    after = out.split("after --fix:")[1]
    assert all(line.startswith("matches") for line in _day_lines(after).values())
    truth = sim.ground_truth(date(2026, 11, 2), date(2026, 11, 8))
    assert_equals_ground_truth(truth, duckdb_facts(db, "2026-11-02", "2026-11-08"))
    reloaded = _sql(db, "SELECT DISTINCT window_start_date FROM genesys.load_runs ORDER BY 1")
    assert reloaded == [(date(2026, 11, 2),), (date(2026, 11, 4),), (date(2026, 11, 6),)]  # only those days


def test_data_that_settled_after_the_load_is_found_by_day(tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    days = ("--start-date", "2026-11-20", "--end-date", "2026-11-25")
    with SimulatorServer(SimConfig(seed=8, queues=5, today=TODAY, late_data=True)) as sim:
        assert _cli(sim, db, "run", *days)[0] == 0
        assert _cli(sim, db, "verify", *days)[0] == 0  # equal to what Genesys says today
        sim.set_today(date(2026, 11, 30))  # four days later: the recent days have filled in
        status, out = _cli(sim, db, "verify", *days)
        assert status == 1
        lines = _day_lines(out)
        assert lines["2026-11-20"].startswith("matches")  # already settled when loaded
        assert lines["2026-11-25"].startswith("differs")
        assert _cli(sim, db, "verify", *days, "--fix")[0] == 0
        truth = sim.ground_truth(date(2026, 11, 20), date(2026, 11, 25))
    assert_equals_ground_truth(truth, duckdb_facts(db, "2026-11-20", "2026-11-25"))


def test_verify_on_a_missing_warehouse_is_bad_input(sim: SimulatorServer, tmp_path: Path) -> None:
    status, _ = _cli(sim, tmp_path / "none.duckdb", "verify", *WEEK)
    assert status == 2
    assert sim.request_count() == 0


def test_compare_cells_names_cells_only_in_the_warehouse() -> None:
    day = date(2026, 1, 1)
    key = (day, "q1", "voice", "nOffered", None)
    stats = (5,) + (None,) * 8
    checks = compare_cells([day], {}, {key: stats})
    assert checks[0].verdict == "only in the warehouse"
    assert "(only in the warehouse)" in checks[0].example
    assert compare_cells([day], {key: stats}, {key: stats})[0].verdict == "matches"


def test_the_nightly_self_check_fails_the_run_on_a_late_correction_and_names_the_fix(tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    with SimulatorServer(SimConfig(seed=8, queues=5, today=TODAY, late_correction_days=10)) as sim:
        # Loaded on 26 November: 11-16 was already corrected (10 days old), 11-17..11-22 not yet.
        assert _cli(sim, db, "backfill", "--start-date", "2026-11-16", "--end-date", "2026-11-22")[0] == 0
        sim.set_today(date(2026, 11, 30))  # now 11-17..11-20 are 10+ days old: Genesys corrected them
        config = Config(
            api_url=sim.base_url,
            client_id=sim.client_id,
            client_secret=sim.client_secret,
            warehouse=f"duckdb:{db}",
            stage=str(tmp_path / "stage"),
        )
        sim.reset_counters()
        report = pipeline.run(config, now=datetime(2026, 11, 30, 12, 0, tzinfo=UTC))  # nightly 11-23..11-29
        assert sim.request_count("aggregates/query", 200) == 2  # the lookback week + the verified week
        text = format_run_report(report, config.with_changes(time_zone=report.time_zone))
        assert report.verified == (date(2026, 11, 16), date(2026, 11, 22))
        assert report.verify_differs == [date(2026, 11, d) for d in (17, 18, 19, 20)]
        assert report.exit_code == 1
        assert "4 day(s) no longer equal Genesys: 2026-11-17, 2026-11-18, 2026-11-19, 2026-11-20" in text
        fix = next(
            line.strip() for line in text.splitlines() if line.strip().startswith("genesys-etl verify")
        )
        assert "--start-date 2026-11-17 --end-date 2026-11-20" in fix
        assert fix.endswith("--fix")
        status, out = _cli(
            sim, db, "verify", "--start-date", "2026-11-17", "--end-date", "2026-11-20", "--fix"
        )
        assert status == 0, out
        truth = sim.ground_truth(date(2026, 11, 16), date(2026, 11, 29))
    assert_equals_ground_truth(truth, duckdb_facts(db, "2026-11-16", "2026-11-29"))


def test_the_self_check_is_off_with_verify_days_0_and_never_counts_unloaded_days(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    db = tmp_path / "wh.duckdb"
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    base = Config(
        api_url=sim.base_url,
        client_id=sim.client_id,
        client_secret=sim.client_secret,
        warehouse=f"duckdb:{db}",
        stage=str(tmp_path / "stage"),
    )
    report = pipeline.run(base, now=now)  # the week before the lookback was never loaded
    assert report.exit_code == 0
    assert report.verify_differs == []
    sim.reset_counters()
    report = pipeline.run(base.with_changes(verify_days=0), now=now)
    assert report.verified is None
    assert sim.request_count("aggregates/query", 200) == 1
