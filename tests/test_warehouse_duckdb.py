"""DuckDB-only behaviour: the file lock between processes, the catalog types, local stages, opening."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest

from genesys_etl import settings
from genesys_etl.errors import WarehouseError
from genesys_etl.stage import StagedWindow
from genesys_etl.warehouse import DuckDBWarehouse, open_warehouse
from genesys_etl.windows import Window

# What DuckDB's information_schema calls the types settings.FACT_COLUMNS spell.
_DUCKDB_CATALOG_NAMES = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}


def test_a_second_process_gets_a_clear_locked_error(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, duckdb
                con = duckdb.connect({str(path)!r})
                print("ready", flush=True)
                sys.stdin.read()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(WarehouseError, match="duckdb file is locked by another process") as caught:
            DuckDBWarehouse(str(path), "genesys")
        assert "\n" not in str(caught.value)
    finally:
        holder.communicate(input="", timeout=30)
    wh = DuckDBWarehouse(str(path), "genesys")  # free again once the other process ended
    wh.ensure_schema()
    wh.close()


def test_catalog_types_match_fact_columns(tmp_path: Path) -> None:
    wh = DuckDBWarehouse(str(tmp_path / "w.duckdb"), "genesys")
    wh.ensure_schema()
    rows = wh.fetch(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        ["genesys", settings.FACT_TABLE],
    )
    wh.close()
    assert rows == [(c.name, _DUCKDB_CATALOG_NAMES.get(c.duckdb, c.duckdb)) for c in settings.FACT_COLUMNS]


def test_an_s3_stage_is_refused_with_the_fix(tmp_path: Path) -> None:
    wh = DuckDBWarehouse(str(tmp_path / "w.duckdb"), "genesys")
    wh.ensure_schema()
    window = Window(date(2026, 3, 1), date(2026, 3, 1), "UTC")
    load_id = wh.start_load(run_id="r", trigger="manual", window=window)
    staged = StagedWindow(uri="s3://bucket/p/", files=("s3://bucket/p/part-0.parquet",), rows=1)
    with pytest.raises(WarehouseError, match="use a local --stage folder"):
        wh.replace_window(
            load_id=load_id, window=window, metrics=["nOffered"], staged=staged, api_calls=1, retries=0
        )
    assert (
        wh.fetch("SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'genesys_stage%'")
        == []
    )
    wh.close()


def test_open_warehouse_opens_duckdb_and_creates_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "data" / "nested" / "genesys.duckdb"
    config = SimpleNamespace(warehouse=f"duckdb:{path}", schema="analytics", settle_days=5)
    wh = open_warehouse(config)  # type: ignore[arg-type]
    try:
        assert isinstance(wh, DuckDBWarehouse)
        wh.ensure_schema()
        assert path.exists()
        assert wh.fetch(f"SELECT value FROM {wh.qualified('etl_settings')} WHERE name = 'settle_days'") == [
            ("5",)
        ]
    finally:
        wh.close()


def test_open_warehouse_refuses_an_unknown_spec() -> None:
    config = SimpleNamespace(warehouse="sqlite:x.db", schema="genesys", settle_days=3)
    with pytest.raises(WarehouseError, match="unknown warehouse"):
        open_warehouse(config)  # type: ignore[arg-type]


def test_a_closed_warehouse_says_so(tmp_path: Path) -> None:
    wh = DuckDBWarehouse(str(tmp_path / "w.duckdb"), "genesys")
    wh.close()
    wh.close()  # idempotent
    with pytest.raises(WarehouseError, match="is closed"):
        wh.fetch("SELECT 1")


def test_a_database_file_named_like_the_schema_is_refused_with_the_fix(tmp_path: Path) -> None:
    # DuckDB would name the catalog "genesys" too and then fail to create or query the view.
    with pytest.raises(
        WarehouseError, match=r"rename the file \(e\.g\. warehouse\.duckdb\) or choose another --schema"
    ):
        DuckDBWarehouse(str(tmp_path / "genesys.duckdb"), "genesys")
    DuckDBWarehouse(str(tmp_path / "genesys.duckdb"), "analytics").close()
