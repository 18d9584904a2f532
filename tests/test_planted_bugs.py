"""Behaviours a planted bug once slipped past the suite: each test here fails on that bug.

Written against public behaviour (warehouse methods, the CLI) so refactors keep them meaningful.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from fixtures.jobs import sim_env
from fixtures.postgres import PostgresServer, PostgresStandInWarehouse
from genesys_etl import pipeline
from genesys_etl.config import Config
from genesys_etl.errors import WarehouseError
from genesys_etl.warehouse import DuckDBWarehouse, RedshiftWarehouse
from genesys_etl.windows import Window
from genesys_sim import SimConfig, SimulatorServer

ROLE = "arn:aws:iam::123456789012:role/redshift-copy"


class _ConnectionWithoutClosed:
    """A DB-API connection that, like ``redshift_connector``'s, has no ``closed`` attribute."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._connection = connection
        self.backend_pid = connection.info.backend_pid

    def cursor(self) -> Any:
        return self._connection.cursor()

    def commit(self) -> None:
        self._connection.commit()

    def rollback(self) -> None:
        self._connection.rollback()

    def close(self) -> None:
        self._connection.close()


def test_the_redshift_warehouse_reconnects_after_a_failed_rollback_without_a_closed_attribute(
    postgres_server: PostgresServer,
) -> None:
    opened: list[_ConnectionWithoutClosed] = []

    def connect() -> _ConnectionWithoutClosed:
        connection = _ConnectionWithoutClosed(postgres_server.connect())
        assert not hasattr(connection, "closed")
        opened.append(connection)
        return connection

    schema = f"t_{uuid.uuid4().hex[:8]}"
    wh = RedshiftWarehouse(connect, schema, ROLE, dialect="postgres")
    window = Window(date(2026, 10, 1), date(2026, 10, 7), "UTC")
    try:
        wh.ensure_schema()
        # The cluster drops the connection (a restart, an idle cut while the job waited on Genesys).
        with postgres_server.connect() as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [opened[-1].backend_pid])
            admin.commit()
        with pytest.raises(WarehouseError):
            wh.start_load(run_id="r1", trigger="manual", window=window)  # its rollback fails too
        # The next window must not inherit the dead connection.
        load_id = wh.start_load(run_id="r1", trigger="manual", window=window)
        assert load_id
        assert len(opened) == 2
    finally:
        wh.close()
        with postgres_server.connect() as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            admin.commit()


# --- is_provisional at exactly settle_days, on both view dialects, and status agreeing with the view ---

LOAD_START, LOAD_END = date(2026, 10, 5), date(2026, 10, 9)
LOADED_AT = datetime(2026, 10, 10, 12, 0, tzinfo=UTC)  # 10-07 is then exactly settle_days (3) old
ZERO_TRAFFIC_DAY = date(2026, 10, 8)


def _load_and_read(
    kind: str, tmp_path: Path, postgres_server: PostgresServer
) -> tuple[dict[date, bool], dict[date, tuple[str, int]]]:
    """Load 10-05..10-09 at LOADED_AT, empty one day's facts (a day without traffic), then read the
    view's is_provisional per day and ``coverage`` of 10-07..10-12 (a range starting inside the load)."""
    schema = f"t_{uuid.uuid4().hex[:8]}"
    path = tmp_path / "wh.duckdb"

    def open_warehouse() -> Any:
        if kind == "duckdb":
            return DuckDBWarehouse(str(path), schema, settle_days=3)
        return PostgresStandInWarehouse(postgres_server.connect, schema)

    def sql(statement: str) -> list[tuple[Any, ...]]:
        if kind == "duckdb":
            with duckdb.connect(str(path)) as con:
                return [tuple(r) for r in con.execute(statement).fetchall()]
        with postgres_server.connect() as con:
            cursor = con.execute(statement)
            rows = [tuple(r) for r in cursor.fetchall()] if cursor.description else []
            con.commit()
            return rows

    with SimulatorServer(SimConfig(seed=3, queues=4, today=date(2026, 10, 11))) as sim:
        config = Config.from_mapping(
            {
                "api_url": sim.base_url,
                "start_date": LOAD_START.isoformat(),
                "end_date": LOAD_END.isoformat(),
                "settle_days": "3",
                "schema": schema,
                "stage": str(tmp_path / "stage"),
            },
            sim_env(sim),
        )
        warehouse = open_warehouse()
        try:
            assert pipeline.run(config, warehouse=warehouse, now=LOADED_AT).ok
        finally:
            warehouse.close()
    sql(f"DELETE FROM \"{schema}\".queue_metrics_daily WHERE metric_date = DATE '{ZERO_TRAFFIC_DAY}'")
    rows = sql(f'SELECT metric_date, bool_or(is_provisional) FROM "{schema}".v_queue_daily_kpis GROUP BY 1')
    view = {row[0]: bool(row[1]) for row in rows}
    warehouse = open_warehouse()
    try:
        days = warehouse.coverage(
            date(2026, 10, 7), date(2026, 10, 12), settle_days=3, today=LOADED_AT.date(), time_zone="UTC"
        )
    finally:
        warehouse.close()
    return view, {item.day: (item.status, item.rows) for item in days}


@pytest.mark.parametrize("kind", ["duckdb", "postgres"])
def test_a_day_loaded_exactly_settle_days_later_is_settled_in_the_view_and_in_status(
    kind: str, tmp_path: Path, postgres_server: PostgresServer
) -> None:
    view, coverage = _load_and_read(kind, tmp_path, postgres_server)
    assert view == {
        date(2026, 10, 5): False,
        date(2026, 10, 6): False,
        date(2026, 10, 7): False,  # 3 days old at its load: settled (a `<=` would call it provisional)
        date(2026, 10, 9): True,
    }
    for day, provisional in view.items():
        if day in coverage:
            assert coverage[day][0] == ("provisional" if provisional else "loaded"), day
    # The range starts inside the loaded window: its load still covers 10-07..10-09, and the day
    # without traffic (no rows) is covered, not missing.
    assert coverage[date(2026, 10, 7)][0] == "loaded"
    assert coverage[ZERO_TRAFFIC_DAY] == ("provisional", 0)
    assert coverage[date(2026, 10, 9)][0] == "provisional"
    assert [coverage[date(2026, 10, d)][0] for d in (10, 11, 12)] == ["missing"] * 3
