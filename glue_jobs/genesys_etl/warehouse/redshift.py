"""Amazon Redshift through a DB-API connection: COPY from the S3 stage, then one replacing transaction."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal

from genesys_etl import settings
from genesys_etl.errors import WarehouseError
from genesys_etl.warehouse.base import SqlWarehouse, StagedFiles, one_line, qmark_to_format, quote_identifier

log = logging.getLogger(__name__)

Dialect = Literal["redshift", "postgres"]

# An IAM role ARN, or a comma-separated chain of them (Redshift role chaining).
_ROLE_ARN = r"arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]+"
IAM_ROLE_PATTERN: Final = re.compile(rf"{_ROLE_ARN}(?:,{_ROLE_ARN})*")
S3_URI_PATTERN: Final = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^'\\\x00-\x1f]*)?")

# Redshift-only table options PostgreSQL does not parse: DISTSTYLE x, DISTKEY (c), [COMPOUND |
# INTERLEAVED] SORTKEY (c, ...), ENCODE x. Nothing else in the Redshift DDL differs.
_REDSHIFT_ONLY_CLAUSES: Final = re.compile(
    r"\s+(?:DISTSTYLE\s+\w+|DISTKEY\s*\([^)]*\)|(?:COMPOUND\s+|INTERLEAVED\s+)?SORTKEY\s*\([^)]*\)"
    r"|ENCODE\s+\w+)",
    re.IGNORECASE,
)


def strip_redshift_options(sql: str) -> str:
    """Remove the Redshift-only physical options from DDL so PostgreSQL can run it.

    PostgreSQL is this project's test stand-in for Redshift (same transaction, DML and view SQL); it
    rejects only the storage clauses DISTSTYLE, DISTKEY, SORTKEY and ENCODE, which change where and
    how Redshift stores rows, never what a query returns. Everything else is left untouched.

    Args:
        sql: a Redshift DDL statement.

    Returns:
        The statement without those clauses.
    """
    return _REDSHIFT_ONLY_CLAUSES.sub("", sql)


def build_copy_sql(table: str, uri: str, iam_role: str) -> str:
    """Return the Redshift ``COPY`` of a staged Parquet prefix into a table, authorised by an IAM role.

    No credentials ever appear in the text: the cluster assumes ``iam_role``. Redshift's COPY takes
    no bind parameters, so the URI and role are validated and written as quoted literals. Parquet
    columns map to the table by position: the stage writes ``settings.FACT_COLUMNS`` order.

    Args:
        table: the (already quoted) target table, e.g. the temporary staging table.
        uri: the ``s3://bucket/prefix/`` holding only this window's files.
        iam_role: an IAM role ARN the cluster may assume (or a comma-separated chain).

    Returns:
        ``COPY <table> FROM 's3://…' IAM_ROLE 'arn:…' FORMAT AS PARQUET``.

    Raises:
        WarehouseError: the URI is not an ``s3://`` URI or the role is not an IAM role ARN.
    """
    if not S3_URI_PATTERN.fullmatch(uri):
        msg = f"Redshift loads from S3: the stage must be an s3://bucket/prefix/ URI, got {uri!r}"
        raise WarehouseError(msg)
    if not IAM_ROLE_PATTERN.fullmatch(iam_role):
        msg = "--iam-role must be an IAM role ARN (arn:aws:iam::<account>:role/<name>) the cluster may assume"
        raise WarehouseError(msg)
    return f"COPY {table} FROM '{uri}' IAM_ROLE '{iam_role}' FORMAT AS PARQUET"


class RedshiftWarehouse(SqlWarehouse):
    """Redshift over any DB-API connection (redshift_connector in Glue, psycopg for the PostgreSQL tests).

    ``replace_window`` COPYs the staged S3 prefix into a temporary table ``(LIKE
    queue_metrics_daily)`` and commits, then locks the target tables and replaces the window's days
    in one transaction. ``LOCK`` serialises concurrent loads, which also keeps Redshift's
    serializable isolation from aborting one of them.

    Args:
        connect: returns a new DB-API connection (``format`` paramstyle, autocommit off), e.g.
            ``lambda: redshift_connect_from_glue("my-connection")``.
        schema: the schema holding the tables.
        iam_role: the IAM role ARN COPY runs as (required to load; not for reading).
        dialect: ``redshift``, or ``postgres`` for PostgreSQL standing in for Redshift in tests: the
            same SQL with the Redshift-only DDL options stripped (see ``strip_redshift_options``).
            PostgreSQL cannot COPY from S3: a subclass overrides ``_copy_stage`` there.
        settle_days: days after which a day's data is final (for ``is_provisional``).

    Raises:
        WarehouseError: the connection cannot be opened.
    """

    ddl_dialect = "redshift"

    def __init__(
        self,
        connect: Callable[[], Any],
        schema: str = settings.DEFAULT_SCHEMA,
        iam_role: str | None = None,
        dialect: Dialect = "redshift",
        *,
        settle_days: int = settings.DEFAULT_SETTLE_DAYS,
    ) -> None:
        super().__init__(schema, settle_days=settle_days)
        if dialect not in ("redshift", "postgres"):
            msg = f"unknown dialect {dialect!r}: use 'redshift' or 'postgres'"
            raise WarehouseError(msg)
        self.dialect: Dialect = dialect
        self.iam_role = iam_role
        self._connect = connect
        self._broken = False
        self._closed = False
        self._open()

    def _open(self) -> None:
        """Open the connection: autocommit off, session time zone UTC."""
        try:
            self._conn: Any = self._connect()
            if getattr(self._conn, "autocommit", False):
                self._conn.autocommit = False
            self._cursor: Any = self._conn.cursor()
            # TIMESTAMPTZ values come back in UTC whatever the cluster default.
            self._cursor.execute("SET timezone TO 'UTC'")
            self._conn.commit()
        except WarehouseError:
            raise
        except Exception as err:
            msg = f"cannot connect to the {self.dialect} warehouse: {one_line(err)}"
            raise WarehouseError(msg) from err
        self._broken = False

    def _begin(self) -> None:
        """Reopen a connection lost in an earlier transaction; the driver opens the transaction itself.

        A dropped connection (a restarted cluster, an idle connection cut while the job waited on
        Genesys) must fail only the window it happened in: the next transaction reconnects.
        """
        if self._closed:
            msg = "the Redshift warehouse is closed"
            raise WarehouseError(msg)
        if self._broken or getattr(self._conn, "closed", False):
            log.warning("the %s connection was lost; reconnecting", self.dialect)
            with contextlib.suppress(Exception):
                self._conn.close()
            self._open()

    def _commit(self) -> None:
        self._conn.commit()

    def _rollback(self) -> None:
        try:
            self._conn.rollback()
        except Exception:
            # A rollback only fails when the connection is gone: reconnect at the next transaction.
            self._broken = True
            raise

    def _execute(self, sql: str, params: Sequence[Any] | None) -> None:
        if params is None:
            self._cursor.execute(sql)
        else:
            self._cursor.execute(qmark_to_format(sql), list(params))

    def _fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self._cursor.fetchall()]

    def _adapt_ddl(self, statement: str) -> str:
        return strip_redshift_options(statement) if self.dialect == "postgres" else statement

    def _create_stage(self, stage: str) -> None:
        # COPY from Parquet documents no Parquet -> TIMESTAMPTZ mapping (Redshift Database Developer
        # Guide, "COPY from columnar data formats"): the staging table holds the UTC instants as plain
        # TIMESTAMP, and _staged_value converts them with AT TIME ZONE 'UTC' on the way in. doctor's
        # COPY round-trip checks this path on the real cluster.
        columns = ", ".join(
            f"{quote_identifier(c.name)} {'TIMESTAMP' if c.arrow == 'timestamp_utc' else c.redshift}"
            for c in settings.FACT_COLUMNS
        )
        self._exec(f"CREATE TEMP TABLE {quote_identifier(stage)} ({columns})")

    def _staged_value(self, column: settings.Column) -> str:
        # "TIMESTAMPTZ when used with a TIMESTAMP expression" (Redshift SQL reference, AT TIME ZONE
        # function): the staged UTC wall time becomes the instant, whatever the session time zone.
        if column.arrow == "timestamp_utc":
            return f"{quote_identifier(column.name)} AT TIME ZONE 'UTC'"
        return quote_identifier(column.name)

    def _copy_stage(self, stage: str, staged: StagedFiles) -> None:
        """COPY the staged S3 prefix into the staging table (Redshift only)."""
        if self.dialect != "redshift":
            msg = (
                "PostgreSQL cannot COPY from S3: the postgres dialect is a test stand-in whose subclass "
                "overrides _copy_stage"
            )
            raise WarehouseError(msg)
        if not self.iam_role:
            msg = "loading into Redshift needs --iam-role (the role COPY reads the S3 stage with)"
            raise WarehouseError(msg)
        self._exec(build_copy_sql(quote_identifier(stage), staged.uri, self.iam_role))

    def close(self) -> None:
        """Close the connection (idempotent; errors while closing are logged, not raised)."""
        with self._mutex:
            if self._closed:
                return
            self._closed = True
            try:
                self._conn.close()
            except Exception as err:  # noqa: BLE001 - closing must not mask the run's outcome
                log.warning("closing the warehouse connection failed: %s", one_line(err))


def redshift_connect_from_glue(connection_name: str) -> Any:
    """Open a Redshift connection described by a Glue connection (awswrangler, SSL on).

    Args:
        connection_name: the Glue connection's name.

    Returns:
        A ``redshift_connector`` connection.
    """
    import awswrangler as wr  # heavy, and only needed in AWS

    return wr.redshift.connect(connection=connection_name)


def redshift_connect_from_secret(secret_id: str) -> Any:
    """Open a Redshift connection from a Secrets Manager secret (host, port, username, password, dbname).

    Args:
        secret_id: the secret's name or ARN.

    Returns:
        A ``redshift_connector`` connection.
    """
    import awswrangler as wr  # heavy, and only needed in AWS

    return wr.redshift.connect(secret_id=secret_id)
