"""PostgreSQL-only behaviour: the throwaway server, catalog types, concurrent first runs, Redshift wiring."""

from __future__ import annotations

import io
import threading
import uuid
from datetime import date
from types import SimpleNamespace
from typing import Any

import awswrangler as wr
import boto3
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

import genesys_etl.warehouse as warehouse_package
from fixtures.postgres import PostgresServer, PostgresStandInWarehouse
from genesys_etl import settings
from genesys_etl.errors import WarehouseError
from genesys_etl.stage import StagedWindow
from genesys_etl.transform import arrow_schema
from genesys_etl.warehouse import RedshiftWarehouse, open_warehouse
from genesys_etl.warehouse.redshift import redshift_connect_from_glue, redshift_connect_from_secret
from genesys_etl.windows import Window

pytestmark = pytest.mark.postgres

ROLE = "arn:aws:iam::123456789012:role/genesys-redshift-copy"


def postgres_type(redshift: str) -> str:
    """The information_schema spelling of a Redshift type from settings.FACT_COLUMNS."""
    if redshift.startswith("VARCHAR("):
        return f"character varying{redshift[len('VARCHAR') :]}"
    return {"TIMESTAMPTZ": "timestamp with time zone"}.get(redshift, redshift.lower())


def test_the_server_listens_on_loopback_as_a_non_root_user(postgres_server: PostgresServer) -> None:
    with psycopg.connect(postgres_server.dsn) as connection:
        version, listen = connection.execute(
            "SELECT version(), current_setting('listen_addresses')"
        ).fetchone() or ("", "")
    assert version.startswith("PostgreSQL ")
    assert listen == "127.0.0.1"
    assert postgres_server.data_dir.stat().st_uid != 0


def test_the_server_context_manager_stops_and_cleans_up() -> None:
    with PostgresServer(database="scratch") as server:
        with psycopg.connect(server.dsn) as connection:
            assert connection.execute("SELECT current_database()").fetchone() == ("scratch",)
        data_dir = server.data_dir
        dsn = server.dsn
    assert not data_dir.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn, connect_timeout=2)


def test_catalog_types_match_fact_columns(postgres_warehouse: PostgresStandInWarehouse) -> None:
    rows = postgres_warehouse.fetch(
        "SELECT column_name, data_type, character_maximum_length FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [postgres_warehouse.schema, settings.FACT_TABLE],
    )
    actual = [(name, f"{kind}({length})" if length else kind) for name, kind, length in rows]
    assert actual == [(c.name, postgres_type(c.redshift)) for c in settings.FACT_COLUMNS]


def test_concurrent_first_runs_apply_each_migration_once(
    postgres_server: PostgresServer, postgres_schema: str
) -> None:
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def first_run() -> None:
        wh = PostgresStandInWarehouse(postgres_server.connect, postgres_schema)
        try:
            barrier.wait()
            wh.ensure_schema()
        except BaseException as err:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(err)
        finally:
            wh.close()

    threads = [threading.Thread(target=first_run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    check = PostgresStandInWarehouse(postgres_server.connect, postgres_schema)
    try:
        versions = check.fetch(f"SELECT version FROM {check.qualified('schema_migrations')} ORDER BY version")
        assert versions == [("001_tables",), ("002_kpi_view",), ("003_loaded_date",), ("004_verification",)]
    finally:
        check.close()


def test_open_warehouse_connects_redshift_through_the_glue_connection(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def fake_glue_connect(name: str) -> Any:
        asked.append(name)
        return postgres_server.connect()  # PostgreSQL answers for the cluster here

    monkeypatch.setattr(warehouse_package, "redshift_connect_from_glue", fake_glue_connect)
    config = SimpleNamespace(
        warehouse="redshift",
        schema="genesys",
        settle_days=3,
        redshift_connection="analytics-redshift",
        redshift_secret_id=None,
        iam_role=ROLE,
    )
    wh = open_warehouse(config)  # type: ignore[arg-type]
    try:
        assert isinstance(wh, RedshiftWarehouse)
        assert (wh.dialect, wh.iam_role, wh.schema) == ("redshift", ROLE, "genesys")
        assert asked == ["analytics-redshift"]
        assert wh.fetch("SELECT current_setting('TimeZone')") == [("UTC",)]
    finally:
        wh.close()


def test_open_warehouse_redshift_needs_a_connection_source() -> None:
    config = SimpleNamespace(
        warehouse="redshift",
        schema="genesys",
        settle_days=3,
        redshift_connection=None,
        redshift_secret_id=None,
        iam_role=ROLE,
    )
    with pytest.raises(WarehouseError, match="--redshift-connection or --redshift-secret-id"):
        open_warehouse(config)  # type: ignore[arg-type]


def test_connect_helpers_pass_the_glue_connection_or_secret_to_awswrangler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[dict[str, Any]] = []

    def fake_connect(**kwargs: Any) -> str:
        calls.append(kwargs)
        return "connection"

    monkeypatch.setattr(wr.redshift, "connect", fake_connect)
    assert redshift_connect_from_glue("glue-conn") == "connection"
    assert redshift_connect_from_secret("prod/redshift") == "connection"
    assert calls == [{"connection": "glue-conn"}, {"secret_id": "prod/redshift"}]


def test_a_connection_failure_is_a_one_line_warehouse_error(postgres_server: PostgresServer) -> None:
    dsn = f"host=127.0.0.1 port={postgres_server.port} user=postgres dbname=no_such_db_{uuid.uuid4().hex[:6]}"
    with pytest.raises(WarehouseError, match="cannot connect to the redshift warehouse") as caught:
        RedshiftWarehouse(lambda: psycopg.connect(dsn), "genesys", ROLE)
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value.__cause__, psycopg.OperationalError)


def test_the_postgres_dialect_cannot_copy_from_s3(postgres_server: PostgresServer) -> None:
    wh = RedshiftWarehouse(postgres_server.connect, f"t_{uuid.uuid4().hex[:8]}", ROLE, dialect="postgres")
    try:
        staged = StagedWindow(uri="s3://bucket/p/", files=("s3://bucket/p/part-0.parquet",), rows=1)
        with pytest.raises(WarehouseError, match="PostgreSQL cannot COPY from S3"):
            wh._copy_stage("genesys_stage_x", staged)
    finally:
        wh.close()


def test_the_stand_in_loads_an_s3_stage_under_moto(
    postgres_warehouse: PostgresStandInWarehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    window = Window(date(2026, 3, 1), date(2026, 3, 1), "UTC")
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="stage-bucket")
        load_id = postgres_warehouse.start_load(run_id="r", trigger="manual", window=window)
        row = {c.name: None for c in settings.FACT_COLUMNS} | {
            "metric_date": window.start_date,
            "queue_id": "q1",
            "media_type": "voice",
            "metric": "nOffered",
            "stat_count": 5,
            "load_id": load_id,
        }
        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pylist([row], schema=arrow_schema()), buffer)
        key = "stage/run=r/window=2026-03-01_2026-03-01/part-0.parquet"
        s3.put_object(Bucket="stage-bucket", Key=key, Body=buffer.getvalue())
        staged = StagedWindow(
            uri="s3://stage-bucket/stage/run=r/window=2026-03-01_2026-03-01/",
            files=(f"s3://stage-bucket/{key}",),
            rows=1,
        )
        loaded = postgres_warehouse.replace_window(
            load_id=load_id, window=window, metrics=["nOffered"], staged=staged, api_calls=1, retries=0
        )
    assert loaded == 1
    assert postgres_warehouse.fetch(
        f"SELECT queue_id, stat_count FROM {postgres_warehouse.qualified(settings.FACT_TABLE)}"
    ) == [("q1", 5)]
