"""The embedded warehouse: one DuckDB file, the same tables and transactions as Redshift."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from genesys_etl import settings
from genesys_etl.errors import ConfigError, WarehouseError
from genesys_etl.warehouse.base import SqlWarehouse, StagedFiles, one_line, quote_identifier

log = logging.getLogger(__name__)

# One lock per database file per process. DuckDB has no LOCK TABLE: a file has one writing process
# (DuckDB's own file lock makes a second process fail to open it, see __init__) and, inside that
# process, connections to the same file share one database whose concurrent writers would abort
# with a transaction conflict. Holding this lock around every transaction serialises them instead:
# it is what LOCK TABLE is on Redshift.
_FILE_LOCKS: dict[str, threading.RLock] = {}
_FILE_LOCKS_GUARD = threading.Lock()


def _file_lock(path: str) -> threading.RLock:
    key = path if path == ":memory:" else str(Path(path).resolve())
    with _FILE_LOCKS_GUARD:
        return _FILE_LOCKS.setdefault(key, threading.RLock())


class DuckDBWarehouse(SqlWarehouse):
    """The local default warehouse: a DuckDB file with the same tables, view and load semantics.

    Concurrency: one process may have the file open (a second process gets ``WarehouseError``
    "duckdb file is locked by another process"); inside it, every transaction of every
    ``DuckDBWarehouse`` on the same file is serialised by a per-file lock, so overlapping window
    loads run one after the other and never leave duplicates.

    Args:
        path: the database file (created with its folder if missing), or ``:memory:``.
        schema: the schema holding the tables.
        settle_days: days after which a day's data is final (for ``is_provisional``).
        create: False for readers (``status``): a missing file is a ``ConfigError``, never created.

    Raises:
        ConfigError: ``create`` is False and the file does not exist.
        WarehouseError: the file cannot be opened (locked by another process, unreadable).
    """

    ddl_dialect = "duckdb"

    def __init__(
        self,
        path: str,
        schema: str = settings.DEFAULT_SCHEMA,
        *,
        settle_days: int = settings.DEFAULT_SETTLE_DAYS,
        create: bool = True,
    ) -> None:
        super().__init__(schema, settle_days=settle_days)
        self.path = path
        self._con: duckdb.DuckDBPyConnection | None = None
        self._mutex = _file_lock(path)
        if path != ":memory:" and not create and not Path(path).is_file():
            msg = (
                f"no DuckDB warehouse at {path}; load some days first (genesys-etl run) or give the "
                "file you load into (--warehouse duckdb:PATH)"
            )
            raise ConfigError("--warehouse", msg)
        if path != ":memory:":
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:  # a regular file where a folder of the path belongs, no permission
                reason = err.strerror or type(err).__name__
                msg = f"cannot create the folder of {path}: {reason}; give a path in a writable folder"
                raise ConfigError("--warehouse", msg) from err
        try:
            self._con = duckdb.connect(path)
        except duckdb.IOException as err:
            if "lock" in str(err).lower():
                msg = (
                    f"duckdb file is locked by another process: {path} (DuckDB lets one process open "
                    "it: another run, or e.g. an analyst's notebook or duckdb shell, holds it; close that "
                    "or wait for the run to finish, or use another --warehouse duckdb:PATH)"
                )
                raise WarehouseError(msg) from err
            msg = f"cannot open duckdb file {path}: {one_line(err)}"
            raise WarehouseError(msg) from err
        except duckdb.Error as err:
            msg = f"cannot open duckdb file {path}: {one_line(err)}"
            raise WarehouseError(msg) from err
        # Timestamps come back as aware UTC datetimes, like Redshift's TIMESTAMPTZ.
        self._con.execute("SET TimeZone = 'UTC'")
        # DuckDB names the catalog after the file (genesys.duckdb -> "genesys"); a schema of the same
        # name makes every "genesys".name ambiguous and its views unusable, so refuse it up front.
        row = self._con.execute("SELECT current_database()").fetchone()
        if row is not None and str(row[0]) == self.schema:
            self.close()
            msg = (
                f"--warehouse duckdb:{path}: DuckDB names this database {row[0]!r} after the file, the "
                f"same as --schema {schema!r}, and cannot tell them apart; rename the file "
                "(e.g. warehouse.duckdb) or choose another --schema"
            )
            raise WarehouseError(msg)

    @property
    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            msg = f"duckdb warehouse {self.path} is closed"
            raise WarehouseError(msg)
        return self._con

    def _begin(self) -> None:
        self._connection.begin()

    def _commit(self) -> None:
        self._connection.commit()

    def _rollback(self) -> None:
        self._connection.rollback()

    def _execute(self, sql: str, params: Sequence[Any] | None) -> None:
        self._connection.execute(sql, params)

    def _fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self._connection.fetchall()]

    def fetch_table(self, sql: str, params: Sequence[Any], schema: pa.Schema) -> pa.Table:
        """``SqlWarehouse.fetch_table`` straight from DuckDB's columns (no Python row per value)."""
        with self._mutex, self._transaction("query"):
            log.debug("SQL: %s | params: %d", sql, len(params))
            table = self._connection.sql(sql, params=list(params)).to_arrow_table()
        return table.rename_columns(schema.names).cast(schema)

    def _lock_tables(self, *tables: str) -> None:
        """No-op: DuckDB has no LOCK TABLE; the per-file lock held by every transaction serialises writers."""
        del tables

    def _create_stage(self, stage: str) -> None:
        # DuckDB has no CREATE TABLE ... (LIKE ...): an empty CREATE TABLE AS gives the same columns.
        self._exec(
            f"CREATE TEMP TABLE {quote_identifier(stage)} AS "
            f"SELECT * FROM {self.qualified(settings.FACT_TABLE)} WHERE 1 = 0"
        )

    def _copy_stage(self, stage: str, staged: StagedFiles) -> None:
        remote = [f for f in staged.files if "://" in f]
        if remote:
            msg = (
                f"the duckdb warehouse reads a local stage, got {remote[0]}: use a local --stage folder "
                "with --warehouse duckdb:PATH"
            )
            raise WarehouseError(msg)
        columns = ", ".join(quote_identifier(c.name) for c in settings.FACT_COLUMNS)
        # Columns are matched by name, so the Parquet column order does not matter here.
        self._exec(
            f"INSERT INTO {quote_identifier(stage)} ({columns}) SELECT {columns} FROM read_parquet(?)",
            [list(staged.files)],
        )

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._mutex:
            if self._con is not None:
                self._con.close()
                self._con = None
