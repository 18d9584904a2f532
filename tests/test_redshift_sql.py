"""Redshift-only SQL: the DDL and every statement parse as Redshift, and the COPY carries no credentials."""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot
from sqlglot import exp

from fixtures.postgres import PostgresServer, PostgresStandInWarehouse
from genesys_etl import settings
from genesys_etl.errors import WarehouseError
from genesys_etl.stage import StagedWindow
from genesys_etl.transform import arrow_schema
from genesys_etl.verify import loaded_metrics
from genesys_etl.warehouse import RedshiftWarehouse, build_copy_sql, strip_redshift_options
from genesys_etl.warehouse.base import load_migrations, qmark_to_format, split_statements
from genesys_etl.windows import Window, local_midnight

ROLE = "arn:aws:iam::123456789012:role/genesys-redshift-copy"
URI = "s3://genesys-stage-bucket/stage/run=abc/window=2026-03-01_2026-03-03/"


def redshift_statements() -> list[str]:
    return [
        statement.replace("{schema}", '"genesys"')
        for migration in load_migrations("redshift")
        for statement in migration.statements
    ]


# SQL that PostgreSQL (the test stand-in) runs but the Redshift SQL reference does not document.
_DENIED_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"\bpg_(try_)?advisory", "advisory locks"),
    (r"\bON\s+CONFLICT\b", "ON CONFLICT (use DELETE + INSERT)"),
    (r"\bRETURNING\b", "RETURNING"),
    (r"\bFOR\s+(UPDATE|SHARE)\b", "row locks (Redshift has LOCK TABLE only)"),
    (r"\bSKIP\s+LOCKED\b", "SKIP LOCKED"),
    (r"::", "PostgreSQL casts (write CAST(x AS type))"),
    (r"\bGENERATED\b|\bSERIAL\b", "generated columns"),
    (r"\bCREATE\s+(UNIQUE\s+)?INDEX\b", "indexes (Redshift has none)"),
)


def undocumented_redshift(statement: str) -> list[str]:
    """What in ``statement`` the Redshift SQL reference does not document (empty when nothing).

    AT TIME ZONE and CONVERT_TIMEZONE are documented with literal time zones only ("AT TIME ZONE
    function", "CONVERT_TIMEZONE function"): a zone taken from a column is refused here.
    """
    found = [why for pattern, why in _DENIED_PATTERNS if re.search(pattern, statement, re.IGNORECASE)]
    try:
        tree = sqlglot.parse_one(statement, read="redshift")
    except sqlglot.errors.ParseError as err:
        return [*found, f"does not parse as Redshift: {err}"]
    for node in tree.find_all(exp.AtTimeZone):
        if not isinstance(node.args.get("zone"), exp.Literal):
            found.append(f"column-valued AT TIME ZONE: {node.sql('redshift')}")
    for node in tree.find_all(exp.ConvertTimezone):
        for arg in ("source_tz", "target_tz"):
            if node.args.get(arg) is not None and not isinstance(node.args[arg], exp.Literal):
                found.append(f"column-valued CONVERT_TIMEZONE: {node.sql('redshift')}")
    return found


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT CAST(loaded_at AT TIME ZONE time_zone AS DATE) FROM t",
        "SELECT CONVERT_TIMEZONE('UTC', time_zone, loaded_at) FROM t",
        "INSERT INTO t (a) VALUES (1) ON CONFLICT DO NOTHING",
        "DELETE FROM t WHERE a = 1 RETURNING a",
        "SELECT pg_advisory_lock(42)",
        "SELECT a::date FROM t",
    ],
)
def test_the_deny_list_catches_what_redshift_does_not_document(statement: str) -> None:
    assert undocumented_redshift(statement) != []


def test_the_deny_list_allows_literal_zones() -> None:
    assert (
        undocumented_redshift(
            "SELECT loaded_at AT TIME ZONE 'UTC', CONVERT_TIMEZONE('UTC', 'America/New_York', x) FROM t"
        )
        == []
    )


def create_table(name: str) -> str:
    matches = [
        s for s in redshift_statements() if re.search(rf'CREATE TABLE IF NOT EXISTS "genesys"\.{name}\b', s)
    ]
    assert len(matches) == 1, name
    return matches[0]


def test_redshift_ddl_parses_with_sqlglot() -> None:
    statements = redshift_statements()
    assert (
        len(statements) == 10
    )  # 001: four tables; 002: the view; 003: loaded_date, the view; 004: two tables, a view
    for statement in statements:
        trees = sqlglot.parse(statement, read="redshift")
        assert len(trees) == 1
        assert isinstance(trees[0], exp.Create | exp.Alter), statement[:60]  # not a fallback exp.Command


def test_fact_table_ddl_matches_fact_columns() -> None:
    tree = sqlglot.parse_one(create_table("queue_metrics_daily"), read="redshift")
    columns = [c for c in tree.this.expressions if isinstance(c, exp.ColumnDef)]
    for statement in redshift_statements():  # columns later migrations add, in order
        if statement.startswith('ALTER TABLE "genesys".queue_metrics_daily ADD COLUMN'):
            columns.extend(sqlglot.parse_one(statement, read="redshift").find_all(exp.ColumnDef))
    assert [c.name for c in columns] == [c.name for c in settings.FACT_COLUMNS]
    for parsed, column in zip(columns, settings.FACT_COLUMNS, strict=True):
        expected = exp.DataType.build(column.redshift, dialect="redshift").sql("redshift")
        assert parsed.args["kind"].sql("redshift") == expected, column.name


def test_redshift_ddl_storage_options() -> None:
    fact = create_table("queue_metrics_daily")
    assert re.search(r"\)\s*DISTSTYLE AUTO\s+COMPOUND SORTKEY \(metric_date, queue_id", fact)
    for name in ("queues", "load_runs", "etl_settings"):
        assert "DISTSTYLE AUTO" in create_table(name)
    for statement in redshift_statements():
        assert "ENCODE" not in statement.upper(), "leave ENCODE out: Redshift picks ENCODE AUTO"


def test_strip_redshift_options_removes_only_storage_clauses() -> None:
    fact = create_table("queue_metrics_daily")
    stripped = strip_redshift_options(fact)
    assert stripped == fact[: fact.index("\nDISTSTYLE")]
    original = sqlglot.parse_one(fact, read="redshift").this.sql("postgres")
    assert sqlglot.parse_one(stripped, read="postgres").this.sql("postgres") == original
    odd = "CREATE TABLE t (a INT ENCODE zstd, b INT) DISTSTYLE KEY DISTKEY (a) INTERLEAVED SORTKEY (a, b)"
    assert strip_redshift_options(odd) == "CREATE TABLE t (a INT, b INT)"


class RecordingCursor:
    """Fake DB-API cursor recording SQL text.

    Used ONLY for the Redshift-only ``COPY … IAM_ROLE … FORMAT AS PARQUET``, which neither PostgreSQL
    nor anything else here can execute; every other statement is tested against real PostgreSQL.
    """

    def __init__(self) -> None:
        self.statements: list[tuple[str, Any]] = []

    def execute(self, sql: str, params: Any = None) -> None:
        self.statements.append((sql, params))

    def fetchall(self) -> list[tuple[Any, ...]]:
        return []


class RecordingConnection:
    """The connection around ``RecordingCursor`` (autocommit off, like redshift_connector's default)."""

    autocommit = False

    def __init__(self) -> None:
        self.recorder = RecordingCursor()

    def cursor(self) -> RecordingCursor:
        return self.recorder

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        pass


def staged(uri: str = URI) -> StagedWindow:
    return StagedWindow(uri=uri, files=(f"{uri}part-0.parquet",), rows=12)


def test_copy_uses_the_iam_role_and_parquet_and_no_credentials() -> None:
    connection = RecordingConnection()
    wh = RedshiftWarehouse(lambda: connection, "genesys", ROLE)
    connection.recorder.statements.clear()

    wh._copy_stage("genesys_stage_0123", staged())

    assert connection.recorder.statements == [
        (f"COPY \"genesys_stage_0123\" FROM '{URI}' IAM_ROLE '{ROLE}' FORMAT AS PARQUET", None)
    ]
    text = connection.recorder.statements[0][0]
    for forbidden in ("ACCESS_KEY", "SECRET", "TOKEN", "CREDENTIALS", "AKIA"):
        assert forbidden not in text.upper()
    assert isinstance(sqlglot.parse_one(text, read="redshift"), exp.Copy)


@pytest.mark.parametrize(
    ("uri", "role", "message"),
    [
        ("data/stage/window=x/", ROLE, "must be an s3://bucket/prefix/ URI"),
        ("s3://bucket/p/' CREDENTIALS 'aws_access_key_id=x", ROLE, "must be an s3://bucket/prefix/ URI"),
        (URI, "arn:aws:iam::123456789012:user/someone", "must be an IAM role ARN"),
        (URI, f"{ROLE}' ACCESS_KEY_ID 'x", "must be an IAM role ARN"),
    ],
)
def test_copy_refuses_unsafe_uris_and_roles(uri: str, role: str, message: str) -> None:
    with pytest.raises(WarehouseError, match=message):
        build_copy_sql('"stage"', uri, role)


def test_copy_needs_an_iam_role() -> None:
    wh = RedshiftWarehouse(RecordingConnection, "genesys", None)
    with pytest.raises(WarehouseError, match="needs --iam-role"):
        wh._copy_stage("genesys_stage_0123", staged())


def test_chained_roles_are_accepted() -> None:
    chain = f"{ROLE},arn:aws:iam::210987654321:role/target"
    assert f"IAM_ROLE '{chain}'" in build_copy_sql('"stage"', URI, chain)


@pytest.mark.postgres
def test_every_statement_the_warehouse_sends_is_documented_redshift_with_bound_values(
    postgres_server: PostgresServer, postgres_schema: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="genesys_etl.warehouse")
    wh = PostgresStandInWarehouse(postgres_server.connect, postgres_schema)
    try:
        window = Window(date(2026, 3, 1), date(2026, 3, 1), "UTC")
        wh.ensure_schema()
        wh.refresh_queues([{"id": "q-secretive", "name": "Distinctive Queue Name"}], datetime.now(tz=UTC))
        load_id = wh.start_load(run_id="run-xyz", trigger="manual", window=window)
        row = {c.name: None for c in settings.FACT_COLUMNS} | {
            "metric_date": window.start_date,
            "interval_start": local_midnight(window.start_date, "UTC"),
            "queue_id": "q-secretive",
            "media_type": "voice",
            "metric": "nOffered",
            "stat_count": 7,
            "load_id": load_id,
        }
        path = tmp_path / "part-0.parquet"
        pq.write_table(pa.Table.from_pylist([row], schema=arrow_schema()), path)
        empty = tmp_path / "empty.parquet"
        pq.write_table(pa.Table.from_pylist([], schema=arrow_schema()), empty)
        wh.replace_window(
            load_id=load_id,
            window=window,
            metrics=["nOffered"],
            staged=StagedWindow(uri=f"{tmp_path}/", files=(str(path),), rows=1),
            api_calls=1,
            retries=0,
        )
        wh.fail_load(load_id, error="a reason", api_calls=1, retries=0)
        wh.coverage(
            window.start_date, window.end_date, settle_days=3, today=date(2026, 3, 9), time_zone="UTC"
        )
        # Everything else a run, status or doctor sends.
        wh.bind_time_zone("UTC")
        wh.zone_binding()
        wh.stored_settle_days()
        wh.pending_migrations()
        wh.copy_round_trip(StagedWindow(uri=f"{tmp_path}/", files=(str(path),), rows=1))
        again = wh.start_load(run_id="run-xyz", trigger="manual", window=window)
        with pytest.raises(WarehouseError, match="shrink guard"):
            wh.replace_window(
                load_id=again,
                window=window,
                metrics=["nOffered"],
                staged=StagedWindow(uri=f"{tmp_path}/", files=(str(empty),), rows=0),
                api_calls=1,
                retries=0,
                shrink_limit=0.5,
            )
        wh.fetch(f"SELECT * FROM {wh.qualified('v_queue_daily_kpis')}")
        wh.record_verification(
            verify_id="v1",
            run_id="run-xyz",
            window=window,
            checks=[(window.start_date, True, 1, 0)],
            api_calls=1,
        )
        loaded_metrics(wh, window.start_date, window.end_date)
        wh.fetch(f"SELECT * FROM {wh.qualified('v_day_verification')}")
    finally:
        wh.close()

    logged = [
        str(r.args[0]) for r in caplog.records if str(r.msg).startswith("SQL: ") and isinstance(r.args, tuple)
    ]
    assert len(logged) > 20
    for statement in [*logged, *redshift_statements()]:
        assert undocumented_redshift(statement) == [], statement[:120]
    for statement in logged:
        for value in ("q-secretive", "Distinctive Queue Name", "run-xyz", "a reason"):
            assert value not in statement, f"{value!r} must be bound, not inlined: {statement[:80]}"
        tree = sqlglot.parse_one(statement, read="redshift")
        if isinstance(tree, exp.Command):
            assert statement.startswith("LOCK TABLE "), statement[:80]


def test_qmark_placeholders_become_format_placeholders_outside_literals() -> None:
    assert qmark_to_format("SELECT a % 2, 'why?' FROM t WHERE b = ? AND c = ?") == (
        "SELECT a %% 2, 'why?' FROM t WHERE b = %s AND c = %s"
    )
    with pytest.raises(WarehouseError, match="bind it"):
        qmark_to_format("SELECT * FROM t WHERE a LIKE 'x%' AND b = ?")


def test_ddl_files_split_on_semicolons_outside_quotes_and_comments() -> None:
    text = "-- a comment; not a split\nCREATE VIEW v AS SELECT ';' AS x; -- trailing; comment\n\nSELECT 2;\n"
    assert split_statements(text) == ["CREATE VIEW v AS SELECT ';' AS x", "SELECT 2"]
