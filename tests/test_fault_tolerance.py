"""Fault tolerance: API faults, SIGKILL mid-load, database failures mid-transaction, concurrent runs.

Every test ends by comparing the warehouse with the simulator's ground truth exactly (every stat of
every day, queue, media type and metric) and by counting duplicate keys.
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from fixtures.jobs import (
    api_answers,
    assert_equals_ground_truth,
    duckdb_duplicate_keys,
    duckdb_facts,
    duckdb_load_runs,
    duckdb_snapshot,
    genesys_etl_command,
    python_command,
    sim_env,
    wait_until,
    warehouse_duplicate_keys,
    warehouse_facts,
)
from fixtures.postgres import PostgresServer, PostgresStandInWarehouse
from genesys_etl import cli, pipeline
from genesys_etl.config import Config
from genesys_etl.warehouse import DuckDBWarehouse
from genesys_etl.warehouse.base import SqlWarehouse
from genesys_etl.windows import Window
from genesys_sim import FaultConfig, SimConfig, SimulatorServer

TODAY = date(2026, 11, 26)


def _cli_args(sim: SimulatorServer, db: Path, stage: Path, start: str, end: str, *extra: str) -> list[str]:
    return [
        "backfill",
        "--start-date",
        start,
        "--end-date",
        end,
        "--api-url",
        sim.base_url,
        "--warehouse",
        f"duckdb:{db}",
        "--stage",
        str(stage),
        *extra,
    ]


def _config(sim: SimulatorServer, tmp_path: Path, start: str, end: str, **values: Any) -> Config:
    mapping = {
        "start_date": start,
        "end_date": end,
        "api_url": sim.base_url,
        "warehouse": f"duckdb:{tmp_path / 'wh.duckdb'}",
        "stage": str(tmp_path / "stage"),
        "trigger": "backfill",
        **values,
    }
    return Config.from_mapping(mapping, sim_env(sim))


# ---- API faults ------------------------------------------------------------------------------------

# 20 % 429 (Retry-After 1 s), 5 % 5xx, 2 % dropped connections, 1 % truncated 200 bodies, and a token
# revoked every 50 requests. The scripted sequence in front makes sure every kind happens at least
# once whatever the draws; the 5xx are drawn from the simulator's 500/502/503/504.
API_FAULTS = FaultConfig(
    seed=2026,
    rate_429=0.20,
    retry_after_seconds=1,
    rate_5xx=0.05,
    rate_drop=0.02,
    rate_malformed=0.01,
    sequence=("429", "500", "drop", "malformed", "502", "ok", "503", "504", "429"),
)


def test_backfill_90_days_under_api_faults_equals_ground_truth_exactly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="genesys_etl")
    start, end = TODAY - timedelta(days=90), TODAY - timedelta(days=1)
    zone = "America/New_York"  # the range spans the end of daylight saving time (2026-11-01)
    db = tmp_path / "wh.duckdb"
    sim_config = SimConfig(seed=7, queues=20, today=TODAY, token_max_uses=50, faults=API_FAULTS)
    with SimulatorServer(sim_config) as sim:
        started = time.monotonic()
        args = _cli_args(sim, db, tmp_path / "stage", str(start), str(end), "--time-zone", zone)
        # 2-day windows: 45 aggregate calls plus retries, so the 50-use token is revoked mid-run.
        args += ["--days-per-query", "2", "--requests-per-minute", "6000"]
        out = io.StringIO()
        status = cli.main(args, env=sim_env(sim), out=out)
        elapsed = time.monotonic() - started
        counters = sim.counters()
        truth = sim.ground_truth(start, end, zone)

    assert status == 0, out.getvalue()
    assert elapsed < 60
    # The faults land on whichever API requests draw them: the windows' and the queue listing's,
    # which is fetched alongside the windows.
    assert api_answers(counters, 429) >= 5
    assert all(api_answers(counters, s) >= 1 for s in (500, 502, 503, 504))
    assert api_answers(counters, "dropped") >= 1
    assert api_answers(counters, 401) >= 1, "the token was never revoked: expiry not exercised"
    assert counters["POST /oauth/token 200"] >= 2
    assert "answered 200 with a body that is not valid JSON" in caplog.text  # the truncated body was retried

    assert assert_equals_ground_truth(truth, duckdb_facts(db, start, end)) > 50_000
    assert duckdb_duplicate_keys(db) == 0
    runs = duckdb_load_runs(db)
    assert len(runs) == 45
    assert {r[3] for r in runs} == {"succeeded"}


# ---- SIGKILL -----------------------------------------------------------------------------------------


def test_sigkill_of_the_cli_mid_run_then_a_rerun_loads_exactly(tmp_path: Path) -> None:
    db, stage = tmp_path / "wh.duckdb", tmp_path / "stage"
    start, end = "2026-10-01", "2026-10-28"  # four 7-day windows
    with SimulatorServer(SimConfig(seed=23, queues=8, today=TODAY, latency_seconds=0.8)) as sim:
        log_file = (tmp_path / "killed.log").open("w")
        process = subprocess.Popen(
            [*genesys_etl_command(), *_cli_args(sim, db, stage, start, end)],
            env={**os.environ, **sim_env(sim)},
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        # The job commits a window's 'running' load_runs row before it asks for the window's data, and
        # the simulator counts a request as soon as it has read it, then holds the answer 0.8 s. Once
        # the first window has its answer the others are fetched concurrently, so when the third
        # request is counted at least one window is in flight: the kill lands mid-run every time.
        try:
            assert wait_until(lambda: sim.request_count("aggregates/query") >= 3, timeout=60)
            os.kill(process.pid, signal.SIGKILL)
        finally:
            process.wait(timeout=30)
            log_file.close()
        assert process.returncode == -signal.SIGKILL

        killed = duckdb_load_runs(db)
        statuses = [r[3] for r in sorted(killed, key=lambda r: r[1])]
        # Loads commit in date order: some windows loaded, every later one started and never finished.
        loaded = statuses.count("succeeded")
        assert statuses == ["succeeded"] * loaded + ["running"] * (len(statuses) - loaded)
        assert loaded < len(statuses) <= 4

        sim.set_latency(0.0)
        status = cli.main(_cli_args(sim, db, stage, start, end), env=sim_env(sim), out=io.StringIO())
        assert status == 0
        truth = sim.ground_truth(date.fromisoformat(start), date.fromisoformat(end))

    assert_equals_ground_truth(truth, duckdb_facts(db, start, end))
    assert duckdb_duplicate_keys(db) == 0
    runs = duckdb_load_runs(db)
    killed_run = killed[0][0]
    # The interrupted loads stay visible as not succeeded; the rerun's four loads all succeeded.
    assert [r[3] for r in runs if r[0] == killed_run] == statuses
    assert [r[3] for r in runs if r[0] != killed_run] == ["succeeded"] * 4


def test_sigkill_inside_the_load_transaction_keeps_the_previous_rows(tmp_path: Path) -> None:
    db, stage = tmp_path / "wh.duckdb", tmp_path / "stage"
    start, end = "2026-09-01", "2026-09-21"  # windows 09-01..07, 09-08..14, 09-15..21
    marker = tmp_path / "inside-transaction"
    with SimulatorServer(SimConfig(seed=29, queues=8, today=TODAY)) as sim:
        args = _cli_args(sim, db, stage, start, end)
        assert cli.main(args, env=sim_env(sim), out=io.StringIO()) == 0
        before = duckdb_snapshot(db)

        # A child runs the same CLI but freezes in window 2's transaction right after its DELETE and
        # INSERT (fixtures.jobs.run_cli_pausing_in_load): the kill lands inside the transaction.
        code = (
            "from fixtures.jobs import run_cli_pausing_in_load as run; "
            "sys.exit(run(sys.argv[1:-2], sys.argv[-2], int(sys.argv[-1])))"
        )
        log_file = (tmp_path / "killed.log").open("w")
        process = subprocess.Popen(
            [*python_command(code), *args, str(marker), "2"],
            env={**os.environ, **sim_env(sim)},
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            assert wait_until(marker.exists, timeout=60), (tmp_path / "killed.log").read_text()
            os.kill(process.pid, signal.SIGKILL)
        finally:
            process.wait(timeout=30)
            log_file.close()
        assert process.returncode == -signal.SIGKILL

        after = duckdb_snapshot(db)
        window_2 = (date(2026, 9, 8), date(2026, 9, 14))

        def rows_of(snapshot_facts: list[tuple[Any, ...]], days: tuple[date, date]) -> list[tuple[Any, ...]]:
            return [r for r in snapshot_facts if days[0] <= r[0] <= days[1]]

        # Window 2's rows are exactly the first run's (same load ids): the open DELETE+INSERT left nothing.
        assert rows_of(after.facts, window_2) == rows_of(before.facts, window_2)
        assert len(rows_of(before.facts, window_2)) > 500
        first_run = before.load_runs[0][1]
        killed_runs = [r for r in duckdb_load_runs(db) if r[0] != first_run]
        statuses = [(str(r[1]), r[3]) for r in killed_runs]
        assert statuses[:2] == [("2026-09-01", "succeeded"), ("2026-09-08", "running")]
        assert statuses[2:] in ([], [("2026-09-15", "running")])  # fetched meanwhile, never loaded

        assert cli.main(args, env=sim_env(sim), out=io.StringIO()) == 0
        truth = sim.ground_truth(date.fromisoformat(start), date.fromisoformat(end))

    assert_equals_ground_truth(truth, duckdb_facts(db, start, end))
    assert duckdb_duplicate_keys(db) == 0
    assert ("2026-09-08", "running") in [(str(r[1]), r[3]) for r in duckdb_load_runs(db)]


# ---- database failure inside a window's transaction ---------------------------------------------------


class _FailsAfterDelete(SqlWarehouse):
    """Mixin: for the window starting on ``fail_on``, count the window's rows right after the DELETE
    (inside the open transaction), then let ``_break`` make the INSERT fail."""

    fail_on: date
    rows_after_delete: int | None = None
    _window: Window | None = None

    def replace_window(self, *, window: Window, **kwargs: Any) -> int:
        self._window = window
        return super().replace_window(window=window, **kwargs)

    def _insert_staged(self, stage: str) -> None:
        window = self._window
        assert window is not None
        if window.start_date == self.fail_on:
            fact = self.qualified("queue_metrics_daily")
            self.rows_after_delete = self._query(
                f"SELECT count(*) FROM {fact} WHERE metric_date BETWEEN ? AND ?",
                (window.start_date, window.end_date),
            )[0][0]
            self._break()
        super()._insert_staged(stage)

    def _break(self) -> None:
        raise NotImplementedError


class _FailingDuckDB(_FailsAfterDelete, DuckDBWarehouse):
    """DuckDB whose replacing transaction fails right after the DELETE, for one window."""

    def __init__(self, path: str, fail_on: date) -> None:
        super().__init__(path)
        self.fail_on = fail_on

    def _break(self) -> None:
        raise duckdb.IOException("IO Error: injected: could not write to the database file")


def test_duckdb_error_inside_the_transaction_keeps_the_window_and_a_rerun_fixes_it(tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    start, end = "2026-09-01", "2026-09-21"
    with SimulatorServer(SimConfig(seed=31, queues=8, today=TODAY)) as sim:
        assert pipeline.run(_config(sim, tmp_path, start, end)).ok
        before = duckdb_snapshot(db)

        failing = _FailingDuckDB(str(db), fail_on=date(2026, 9, 8))
        try:
            report = pipeline.run(_config(sim, tmp_path, start, end), warehouse=failing)
        finally:
            failing.close()
        assert failing.rows_after_delete == 0  # the DELETE had run inside the transaction
        assert [w.status for w in report.windows] == ["succeeded", "failed", "succeeded"]
        assert report.exit_code == 1
        error = report.windows[1].error or ""
        assert "rolled back" in error
        assert "injected" in error

        after = duckdb_snapshot(db)
        window_2 = [r for r in before.facts if date(2026, 9, 8) <= r[0] <= date(2026, 9, 14)]
        assert [r for r in after.facts if date(2026, 9, 8) <= r[0] <= date(2026, 9, 14)] == window_2
        latest = [r for r in duckdb_load_runs(db) if r[0] == report.run_id]
        assert [(str(r[1]), r[3]) for r in latest] == [
            ("2026-09-01", "succeeded"),
            ("2026-09-08", "failed"),
            ("2026-09-15", "succeeded"),
        ]
        assert "injected" in latest[1][4]

        rerun = pipeline.run(_config(sim, tmp_path, "2026-09-08", "2026-09-14"))
        assert rerun.ok
        truth = sim.ground_truth(date.fromisoformat(start), date.fromisoformat(end))

    assert_equals_ground_truth(truth, duckdb_facts(db, start, end))
    assert duckdb_duplicate_keys(db) == 0


class _DroppedPostgres(_FailsAfterDelete, PostgresStandInWarehouse):
    """The PostgreSQL stand-in whose connection is terminated by the server right after the DELETE."""

    def __init__(self, server: PostgresServer, schema: str, fail_on: date) -> None:
        super().__init__(server.connect, schema)
        self.server = server
        self.fail_on = fail_on

    def _break(self) -> None:
        pid = self._conn.info.backend_pid
        with psycopg.connect(self.server.dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
            gone = wait_until(
                lambda: (
                    admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
                    == (0,)
                ),
                timeout=10,
            )
            assert gone


def _pg_config(sim: SimulatorServer, tmp_path: Path, start: str, end: str) -> Config:
    return _config(sim, tmp_path, start, end)


@pytest.fixture
def sim_31() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimConfig(seed=31, queues=8, today=TODAY)) as server:
        yield server


@pytest.mark.postgres
def test_postgres_connection_dropped_inside_the_transaction_keeps_the_window_and_a_rerun_fixes_it(
    sim_31: SimulatorServer, postgres_server: PostgresServer, postgres_schema: str, tmp_path: Path
) -> None:
    start, end = "2026-09-01", "2026-09-21"
    reader = PostgresStandInWarehouse(postgres_server.connect, postgres_schema)
    try:
        assert pipeline.run(_pg_config(sim_31, tmp_path, start, end), warehouse=reader).ok
        table = reader.qualified("queue_metrics_daily")
        window_3_sql = f"SELECT * FROM {table} WHERE metric_date BETWEEN ? AND ? ORDER BY 1, 5, 6, 7, 8"
        window_3 = (date(2026, 9, 15), date(2026, 9, 21))
        before = reader.fetch(window_3_sql, window_3)
        assert len(before) > 500

        # The last window's transaction loses its connection after the DELETE (pg_terminate_backend).
        dropping = _DroppedPostgres(postgres_server, postgres_schema, fail_on=window_3[0])
        try:
            report = pipeline.run(_pg_config(sim_31, tmp_path, start, end), warehouse=dropping)
        finally:
            dropping.close()
        assert dropping.rows_after_delete == 0  # the DELETE had run inside the transaction
        assert [w.status for w in report.windows] == ["succeeded", "succeeded", "failed"]
        assert report.exit_code == 1
        assert "rolled back" in (report.windows[2].error or "")

        assert reader.fetch(window_3_sql, window_3) == before  # the previous rows, untouched
        runs = reader.fetch(
            f"SELECT window_start_date, status FROM {reader.qualified('load_runs')} WHERE run_id = ? "
            "ORDER BY window_start_date",
            (report.run_id,),
        )
        # Not succeeded (see the next test for the 'failed' row written after reconnecting).
        assert runs[2][0] == window_3[0]
        assert runs[2][1] != "succeeded"

        rerun = pipeline.run(_pg_config(sim_31, tmp_path, "2026-09-15", "2026-09-21"), warehouse=reader)
        assert rerun.ok
        truth = sim_31.ground_truth(date.fromisoformat(start), date.fromisoformat(end))
        assert_equals_ground_truth(truth, warehouse_facts(reader, start, end))
        assert warehouse_duplicate_keys(reader) == 0
    finally:
        reader.close()


@pytest.mark.postgres
def test_after_a_dropped_connection_the_failure_is_recorded_and_later_windows_load(
    sim_31: SimulatorServer, postgres_server: PostgresServer, postgres_schema: str, tmp_path: Path
) -> None:
    start, end = "2026-09-01", "2026-09-21"
    dropping = _DroppedPostgres(postgres_server, postgres_schema, fail_on=date(2026, 9, 1))
    try:
        report = pipeline.run(_pg_config(sim_31, tmp_path, start, end), warehouse=dropping)
    finally:
        dropping.close()
    reader = PostgresStandInWarehouse(postgres_server.connect, postgres_schema)
    try:
        load_runs = reader.qualified("load_runs")
        runs = reader.fetch(f"SELECT window_start_date, status FROM {load_runs} ORDER BY window_start_date")
    finally:
        reader.close()
    assert [w.status for w in report.windows] == ["failed", "succeeded", "succeeded"]
    assert report.queue_error is None
    assert [r[1] for r in runs] == ["failed", "succeeded", "succeeded"]


# ---- two runs at once ------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_two_overlapping_runs_at_once_on_postgres_both_succeed_without_duplicates(
    postgres_server: PostgresServer, postgres_schema: str, tmp_path: Path
) -> None:
    # Two processes, each its own connection and client, released together; their windows overlap
    # partly (A: 10-01..07, 08..14, 15..21; B: 10-04..10, 11..17, 18..24). The simulator's latency
    # keeps both in flight at the same time. The schema does not exist yet: both create it at once.
    with SimulatorServer(SimConfig(seed=37, queues=8, today=TODAY, latency_seconds=0.3)) as sim:
        ranges = {"a": ("2026-10-01", "2026-10-21"), "b": ("2026-10-04", "2026-10-24")}
        children = {}
        for name, (start, end) in ranges.items():
            spec = {
                "dsn": postgres_server.dsn,
                "schema": postgres_schema,
                "config": {
                    "start_date": start,
                    "end_date": end,
                    "api_url": sim.base_url,
                    # The child passes its PostgreSQL warehouse to pipeline.run: this spec is never opened.
                    "warehouse": f"duckdb:{tmp_path / 'unused.duckdb'}",
                    "stage": str(tmp_path / f"stage-{name}"),
                    "run_id": f"run-{name}",
                    "trigger": "backfill",
                },
                "env": sim_env(sim),
            }
            code = "from fixtures.jobs import run_pipeline_on_postgres as run; sys.exit(run(sys.argv[1]))"
            children[name] = subprocess.Popen(
                [*python_command(code), json.dumps(spec)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=tmp_path,
            )
        outcomes = {}
        try:
            for child in children.values():
                assert child.stdout is not None
                assert child.stdout.readline().strip() == "ready"
            for child in children.values():
                assert child.stdin is not None
                child.stdin.write("go\n")
                child.stdin.flush()
            for name, child in children.items():
                out, _ = child.communicate(timeout=120)
                outcomes[name] = (child.returncode, json.loads(out.strip().splitlines()[-1]))
        finally:
            for child in children.values():
                if child.poll() is None:
                    child.kill()
        truth = sim.ground_truth(date(2026, 10, 1), date(2026, 10, 24))

    for name, (returncode, outcome) in outcomes.items():
        assert returncode == 0, (name, outcome)
        assert outcome["exit_code"] == 0
        assert [w[1] for w in outcome["windows"]] == ["succeeded"] * 3

    reader = PostgresStandInWarehouse(postgres_server.connect, postgres_schema)
    try:
        assert_equals_ground_truth(truth, warehouse_facts(reader, "2026-10-01", "2026-10-24"))
        assert warehouse_duplicate_keys(reader) == 0
        runs = reader.fetch(
            f"SELECT run_id, started_at, finished_at, status FROM {reader.qualified('load_runs')}"
        )
    finally:
        reader.close()
    assert sorted(r[3] for r in runs) == ["succeeded"] * 6
    spans = {
        name: (
            min(r[1] for r in runs if r[0] == f"run-{name}"),
            max(r[2] for r in runs if r[0] == f"run-{name}"),
        )
        for name in ranges
    }
    assert spans["a"][0] < spans["b"][1]
    assert spans["b"][0] < spans["a"][1], "the two runs did not overlap in time: the test proved nothing"
