"""The warehouse interface and the SQL every backend shares: identifiers, migrations, the window load."""

from __future__ import annotations

import abc
import logging
import re
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Any, Final, Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa

from genesys_etl import settings
from genesys_etl.errors import ConfigError, EtlError, ShrinkGuardError, WarehouseError
from genesys_etl.windows import Window, day_exists

log = logging.getLogger(__name__)

# Unquoted-identifier rules shared by Redshift, PostgreSQL and DuckDB (Redshift: at most 127 bytes,
# PostgreSQL: 63). Validated names are also double-quoted everywhere, so case is kept as written.
IDENTIFIER_PATTERN: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

SCHEMA_MIGRATIONS_TABLE: Final = "schema_migrations"
ETL_SETTINGS_TABLE: Final = "etl_settings"
SETTLE_DAYS_SETTING: Final = "settle_days"
TIME_ZONE_SETTING: Final = "time_zone"

LoadStatus = Literal["running", "succeeded", "failed"]
CoverageStatus = Literal["loaded", "provisional", "missing", "nonexistent"]

_ERROR_MAX_BYTES: Final = 4000  # load_runs.error is VARCHAR(4096); Redshift counts bytes
_INSERT_BATCH_ROWS: Final = 200  # rows per multi-row INSERT of the queue listing
_BOOTSTRAP_ATTEMPTS: Final = 3
_QUEUE_COLUMNS: Final = ("queue_id", "name", "division_id", "division_name", "date_created", "date_modified")


class StagedFiles(Protocol):
    """What the warehouse needs from a staged window (``stage.StagedWindow`` satisfies it)."""

    @property
    def uri(self) -> str:
        """Folder or ``s3://`` prefix (ending ``/``) holding only this window's Parquet files."""
        ...

    @property
    def files(self) -> tuple[str, ...]:
        """Every staged Parquet file (local paths or ``s3://`` keys)."""
        ...

    @property
    def rows(self) -> int:
        """Rows written to the files."""
        ...


@dataclass(frozen=True)
class DayCoverage:
    """What the warehouse holds for one local day.

    Attributes:
        day: the local date.
        status: ``loaded`` (settled data), ``provisional`` (latest load too young to be final),
            ``missing`` (no successful load covered the day) or ``nonexistent`` (the zone skipped the
            whole date, e.g. Pacific/Apia on 2011-12-30: nothing to load).
        rows: rows of ``queue_metrics_daily`` for the day.
        last_loaded_at: when the latest successful load covering the day finished (UTC), if any.
        zones: the distinct ``time_zone`` values of the day's rows (more than one, or one that is not
            the schema's, means the day was loaded in another zone and needs a reload).
    """

    day: date
    status: CoverageStatus
    rows: int
    last_loaded_at: datetime | None
    zones: tuple[str, ...] = ()


@dataclass(frozen=True)
class ZoneBinding:
    """The schema's reporting time zone as stored, and the zones its loads actually used.

    Attributes:
        stored: the zone recorded in ``etl_settings`` by the first load (None before it).
        loaded: without a stored zone, the distinct ``time_zone`` values of the succeeded loads and
            the fact rows (empty when a zone is stored: it is then not scanned for).
    """

    stored: str | None
    loaded: tuple[str, ...]

    @property
    def zone(self) -> str | None:
        """The schema's zone: the stored one, else the only zone its loads used, else None."""
        if self.stored is not None:
            return self.stored
        return self.loaded[0] if len(self.loaded) == 1 else None


@dataclass(frozen=True)
class Migration:
    """One versioned DDL file.

    Attributes:
        version: the file name without ``.sql`` (e.g. ``001_tables``); recorded in ``schema_migrations``.
        statements: the file's statements, comments removed, ``{schema}`` still unformatted.
    """

    version: str
    statements: tuple[str, ...]


def validate_identifier(name: str) -> str:
    """Return ``name`` when it is a safe SQL identifier.

    Args:
        name: a schema, table or column name.

    Returns:
        ``name`` unchanged.

    Raises:
        WarehouseError: the name is not letters, digits and underscores starting with a letter or
            underscore, at most 63 characters.
    """
    if not isinstance(name, str) or not IDENTIFIER_PATTERN.fullmatch(name):
        msg = (
            f"invalid SQL identifier {name!r}: use letters, digits and underscores, "
            "starting with a letter or underscore, at most 63 characters"
        )
        raise WarehouseError(msg)
    return name


def quote_identifier(name: str) -> str:
    """Validate ``name`` and return it double-quoted.

    Args:
        name: a schema, table or column name.

    Returns:
        e.g. ``"genesys"``.

    Raises:
        WarehouseError: the name is not a valid identifier.
    """
    return f'"{validate_identifier(name)}"'


def split_statements(sql: str) -> list[str]:
    """Split a DDL file into statements: ``--`` comments dropped, ``;`` outside quotes ends one.

    Args:
        sql: the file's text.

    Returns:
        The non-empty statements, stripped, without the trailing ``;``.
    """
    statements: list[str] = []
    current: list[str] = []
    quote: str | None = None
    i = 0
    while i < len(sql):
        char = sql[i]
        if quote is not None:
            current.append(char)
            if char == quote:
                quote = None
        elif char in ("'", '"'):
            quote = char
            current.append(char)
        elif char == "-" and sql.startswith("--", i):
            newline = sql.find("\n", i)
            i = len(sql) if newline < 0 else newline
            continue
        elif char == ";":
            statements.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    statements.append("".join(current))
    return [s.strip() for s in statements if s.strip()]


def qmark_to_format(sql: str) -> str:
    """Rewrite ``?`` placeholders as ``%s`` for ``format``-paramstyle drivers (redshift_connector, psycopg).

    Every SQL text in this package is written with ``?``; the drivers of Redshift and PostgreSQL want
    ``%s`` and a literal ``%`` doubled. Only called when parameters are bound.

    Args:
        sql: a statement with ``?`` placeholders outside string literals.

    Returns:
        The statement with ``%s`` placeholders and ``%`` escaped as ``%%``.

    Raises:
        WarehouseError: a ``%`` inside a quoted literal (the two drivers disagree on escaping it
            there: bind the pattern as a parameter instead).
    """
    out: list[str] = []
    quote: str | None = None
    for char in sql:
        if quote is not None:
            if char == "%":
                msg = "a '%' inside a quoted SQL literal cannot be sent with bound parameters: bind it"
                raise WarehouseError(msg)
            if char == quote:
                quote = None
            out.append(char)
        elif char in ("'", '"'):
            quote = char
            out.append(char)
        elif char == "?":
            out.append("%s")
        elif char == "%":
            out.append("%%")
        else:
            out.append(char)
    return "".join(out)


def load_migrations(dialect: str) -> list[Migration]:
    """Read the versioned DDL files of a dialect folder (``sql/<dialect>/NNN_name.sql``), in order.

    Args:
        dialect: ``duckdb`` or ``redshift``.

    Returns:
        The migrations sorted by version.

    Raises:
        WarehouseError: the folder holds no ``.sql`` file.
    """
    folder = resources.files("genesys_etl").joinpath("sql", dialect)
    files = sorted((entry for entry in folder.iterdir() if entry.name.endswith(".sql")), key=lambda e: e.name)
    if not files:
        msg = f"no DDL files found under genesys_etl/sql/{dialect}/"
        raise WarehouseError(msg)
    return [
        Migration(
            version=entry.name.removesuffix(".sql"),
            statements=tuple(split_statements(entry.read_text(encoding="utf-8"))),
        )
        for entry in files
    ]


def one_line(err: BaseException) -> str:
    """Return ``Type: first line of the message`` for an exception (driver errors span many lines)."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def _truncate_bytes(text: str, limit: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", errors="ignore")


def _parse_instant(value: Any) -> datetime | None:
    """Parse a Genesys ISO-8601 instant (``2020-01-01T00:00:00.000Z``); None when absent or unparseable."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        log.warning("queue listing: unparseable date %r ignored", value)
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _queue_row(entity: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """One listing entity → (queue_id, name, division_id, division_name, date_created, date_modified)."""
    queue_id = entity.get("id")
    if not isinstance(queue_id, str) or not queue_id:
        return None
    division = entity.get("division")
    division = division if isinstance(division, Mapping) else {}
    return (
        queue_id,
        entity.get("name"),
        division.get("id"),
        division.get("name"),
        _parse_instant(entity.get("dateCreated")),
        _parse_instant(entity.get("dateModified")),
    )


def _local_date(moment: datetime, time_zone: str) -> date:
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return moment.astimezone(zone).date()


def _as_aware(moment: Any) -> datetime | None:
    if not isinstance(moment, datetime):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def classify_day(
    day: date, *, loaded_at: datetime | None, time_zone: str, settle_days: int, today: date
) -> CoverageStatus:
    """Classify one day the way ``v_queue_daily_kpis.is_provisional`` does.

    A day is provisional while it was younger than ``settle_days`` days at its latest load
    (``load date - day < settle_days``, the load date taken no later than ``today``), as DESIGN.md
    says: "days younger than settle_days are provisional". Otherwise it is settled (``loaded``).

    Args:
        day: the local date.
        loaded_at: when its latest successful load happened (aware), or None if never loaded.
        time_zone: the zone of the day (the load's ``time_zone``).
        settle_days: days after which Genesys data is final.
        today: the current local date.

    Returns:
        ``missing``, ``provisional`` or ``loaded``.
    """
    if loaded_at is None:
        return "missing"
    reference = min(today, _local_date(loaded_at, time_zone))
    return "provisional" if (reference - day).days < settle_days else "loaded"


def resolve_zone(binding: ZoneBinding, requested: str | None, *, schema: str, flag: str) -> str:
    """Return the zone a run or read of ``schema`` uses, or refuse one that would mix zones.

    Args:
        binding: what the schema recorded and used.
        requested: the zone given, or None.
        schema: the schema's name (for the message).
        flag: the option to name in errors.

    Returns:
        The schema's zone; ``requested`` (or UTC) for a schema that has none yet.

    Raises:
        ConfigError: ``requested`` differs from the schema's zone, or the schema's loads mix zones
            and none was given.
    """
    zone = binding.zone
    if zone is not None and requested is not None and requested != zone:
        msg = (
            f"schema {schema!r} reports in {zone} (recorded by its first load), this run asks for "
            f"{requested}; days of two zones overlap and would mix. Give {flag} {zone}, or load the "
            "other zone into another --schema"
        )
        raise ConfigError(flag, msg)
    if zone is None and requested is None and binding.loaded:
        msg = (
            f"schema {schema!r} already holds loads in {', '.join(binding.loaded)}; give {flag} with "
            "the zone it should report in (`genesys-etl status` then lists the days to reload)"
        )
        raise ConfigError(flag, msg)
    return zone or requested or settings.DEFAULT_TIME_ZONE


class Warehouse(abc.ABC):
    """A place the job loads windows into: Redshift in AWS, DuckDB locally. Same tables, same rules."""

    @abc.abstractmethod
    def ensure_schema(self, *, store_settings: bool = True) -> None:
        """Create the schema, apply pending versioned DDL once each, record it; a no-op when current.

        Args:
            store_settings: also store this run's settings (``settle_days``) for the view; readers
                such as ``status`` pass False so they never change what analysts see.
        """

    @abc.abstractmethod
    def has_schema(self) -> bool:
        """Tell whether the schema holds this job's tables (a read; readers never create them)."""

    @abc.abstractmethod
    def stored_settle_days(self) -> int | None:
        """Return the ``settle_days`` the view currently uses (None before any load stored one)."""

    @abc.abstractmethod
    def zone_binding(self) -> ZoneBinding:
        """Return the schema's stored time zone and the zones its loads used (a read)."""

    @abc.abstractmethod
    def bind_time_zone(self, requested: str | None, *, flag: str = "--time-zone") -> str:
        """Return the zone this schema reports in, recording ``requested`` on a schema's first load.

        Raises:
            ConfigError: ``requested`` differs from the schema's zone (exit 2, before any load).
        """

    @abc.abstractmethod
    def start_load(self, *, run_id: str, trigger: str, window: Window) -> str:
        """Record a ``running`` load of ``window`` in ``load_runs`` (committed) and return its load id."""

    @abc.abstractmethod
    def replace_window(
        self,
        *,
        load_id: str,
        window: Window,
        metrics: Sequence[str],
        staged: StagedFiles,
        api_calls: int,
        retries: int,
        shrink_limit: float | None = None,
    ) -> int:
        """Replace the window's cells (days × metrics) with the staged rows in one transaction.

        Returns the rows loaded; ``shrink_limit`` None loads whatever the answer removes.
        """

    @abc.abstractmethod
    def fail_load(self, load_id: str, *, error: str, api_calls: int, retries: int) -> None:
        """Mark a load ``failed`` with a one-line reason."""

    @abc.abstractmethod
    def refresh_queues(self, queues: Sequence[Mapping[str, Any]], seen_at: datetime) -> None:
        """Upsert the queue listing into ``queues``; flag the queues it no longer has inactive."""

    @abc.abstractmethod
    def coverage(
        self, start: date, end: date, *, settle_days: int, today: date, time_zone: str | None = None
    ) -> list[DayCoverage]:
        """Return one ``DayCoverage`` per local day from ``start`` to ``end`` inclusive."""

    @abc.abstractmethod
    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only query (``?`` placeholders on every backend) and return its rows."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection; the object is unusable afterwards."""


class SqlWarehouse(Warehouse):
    """The shared implementation over a DB-API-like connection; backends supply the primitives.

    Every SQL text here uses ``?`` placeholders and validated, double-quoted identifiers; values are
    always bound. Statements are logged at DEBUG. Each public method is one (or, for
    ``replace_window``, a staging plus one replacing) transaction, committed or rolled back before it
    returns; errors surface as ``WarehouseError`` with the driver error chained.

    Args:
        schema: the schema holding the tables (validated).
        settle_days: days after which a day's data is final; written to ``etl_settings`` by
            ``ensure_schema`` for the view's ``is_provisional``.
    """

    #: folder under ``genesys_etl/sql/`` with this backend's versioned DDL.
    ddl_dialect: str = ""

    def __init__(self, schema: str, *, settle_days: int = settings.DEFAULT_SETTLE_DAYS) -> None:
        self.schema = validate_identifier(schema)
        if settle_days < 0:
            msg = f"settle_days must be >= 0, got {settle_days}"
            raise WarehouseError(msg)
        self.settle_days = settle_days
        self._mutex: threading.RLock = threading.RLock()

    # ---- primitives each backend implements -------------------------------------------------------

    @abc.abstractmethod
    def _begin(self) -> None:
        """Start a transaction (a no-op for drivers that begin implicitly)."""

    @abc.abstractmethod
    def _commit(self) -> None:
        """Commit the current transaction."""

    @abc.abstractmethod
    def _rollback(self) -> None:
        """Roll back the current transaction."""

    @abc.abstractmethod
    def _execute(self, sql: str, params: Sequence[Any] | None) -> None:
        """Execute one statement with ``?`` placeholders (``params`` None when nothing is bound)."""

    @abc.abstractmethod
    def _fetchall(self) -> list[tuple[Any, ...]]:
        """Rows of the last executed statement."""

    @abc.abstractmethod
    def _create_stage(self, stage: str) -> None:
        """Create the session-scoped staging table ``stage`` shaped like ``queue_metrics_daily``."""

    @abc.abstractmethod
    def _copy_stage(self, stage: str, staged: StagedFiles) -> None:
        """Load the staged Parquet files into the staging table."""

    def _lock_tables(self, *tables: str) -> None:
        """Lock tables for the rest of the transaction (``LOCK`` exists in Redshift and PostgreSQL)."""
        self._exec(f"LOCK TABLE {', '.join(self.qualified(t) for t in tables)}")

    def _adapt_ddl(self, statement: str) -> str:
        """Adjust a DDL statement of ``ddl_dialect`` for the server actually connected (default: as is)."""
        return statement

    # ---- helpers ----------------------------------------------------------------------------------

    def qualified(self, name: str) -> str:
        """Return the schema-qualified, quoted name of a table or view, e.g. ``"genesys"."queues"``.

        Args:
            name: a table or view of this warehouse (validated).
        """
        return f"{quote_identifier(self.schema)}.{quote_identifier(name)}"

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> None:
        log.debug("SQL: %s | params: %d", sql, len(params))
        self._execute(sql, list(params) if params else None)

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._exec(sql, params)
        return self._fetchall()

    def _safe_rollback(self) -> None:
        try:
            self._rollback()
        except Exception as err:  # noqa: BLE001 - the first error is the one to report
            log.warning("rollback failed: %s", one_line(err))

    @contextmanager
    def _transaction(self, action: str) -> Iterator[None]:
        """Run the block as one transaction: commit at the end; on error roll back, raise WarehouseError."""
        try:
            self._begin()
            yield
            self._commit()
        except EtlError:  # the job's own refusals (WarehouseError, ShrinkGuardError, ConfigError)
            self._safe_rollback()
            raise
        except Exception as err:
            self._safe_rollback()
            msg = f"{action} failed and was rolled back: {one_line(err)}"
            raise WarehouseError(msg) from err
        except BaseException:
            # SIGTERM/SIGINT mid-transaction (errors.RunInterrupted, KeyboardInterrupt): roll back
            # here, so the connection can still record the failure before the process ends.
            self._safe_rollback()
            raise

    @staticmethod
    def _now() -> datetime:
        return datetime.now(tz=UTC)

    # ---- schema -----------------------------------------------------------------------------------

    def ensure_schema(self, *, store_settings: bool = True) -> None:
        """Create the schema and apply each pending versioned DDL file once, then store the settings.

        Concurrent callers are safe: creating the schema and ``schema_migrations`` is retried when a
        concurrent creator wins the race, and migrations run under a lock on ``schema_migrations``
        (DuckDB: one writer per file, see ``DuckDBWarehouse``), so each file is applied exactly once.

        Raises:
            WarehouseError: a statement failed (the failing migration is rolled back).
        """
        migrations = load_migrations(self.ddl_dialect)
        schema = quote_identifier(self.schema)
        table = self.qualified(SCHEMA_MIGRATIONS_TABLE)
        with self._mutex:
            for attempt in range(1, _BOOTSTRAP_ATTEMPTS + 1):
                try:
                    with self._transaction(f"create schema {self.schema}"):
                        self._exec(f"CREATE SCHEMA IF NOT EXISTS {schema}")
                        self._exec(
                            f"CREATE TABLE IF NOT EXISTS {table} "
                            "(version VARCHAR(64) NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
                        )
                    break
                except WarehouseError:
                    # Two first runs at once: PostgreSQL-family catalogs raise a unique violation for
                    # the loser of a concurrent CREATE ... IF NOT EXISTS; the retry sees the winner's.
                    if attempt == _BOOTSTRAP_ATTEMPTS:
                        raise
                    time.sleep(0.2 * attempt)
            with self._transaction(f"apply schema migrations to {self.schema}"):
                self._lock_tables(SCHEMA_MIGRATIONS_TABLE)
                applied = {row[0] for row in self._query(f"SELECT version FROM {table}")}
                for migration in migrations:
                    if migration.version in applied:
                        continue
                    for statement in migration.statements:
                        self._exec(self._adapt_ddl(statement.replace("{schema}", schema)))
                    self._exec(
                        f"INSERT INTO {table} (version, applied_at) VALUES (?, ?)",
                        (migration.version, self._now()),
                    )
                    log.info("warehouse schema %s: applied %s", self.schema, migration.version)
                if store_settings:
                    self._store_setting(SETTLE_DAYS_SETTING, str(self.settle_days))

    def has_schema(self) -> bool:
        """Tell whether the schema holds this job's tables (``schema_migrations``), creating nothing."""
        rows = self.fetch(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            (self.schema, SCHEMA_MIGRATIONS_TABLE),
        )
        return bool(rows and rows[0][0])

    def stored_settle_days(self) -> int | None:
        """Return the ``settle_days`` stored in ``etl_settings`` (None when none was stored yet)."""
        rows = self.fetch(
            f"SELECT value FROM {self.qualified(ETL_SETTINGS_TABLE)} WHERE name = ?", (SETTLE_DAYS_SETTING,)
        )
        return int(rows[0][0]) if rows else None

    def zone_binding(self) -> ZoneBinding:
        """Return the stored reporting zone and every zone the schema's loads and rows used.

        Raises:
            WarehouseError: a query failed.
        """
        with self._mutex, self._transaction("read the schema's time zone"):
            return self._read_zone_binding()

    def _read_zone_binding(self) -> ZoneBinding:
        stored = self._query(
            f"SELECT value FROM {self.qualified(ETL_SETTINGS_TABLE)} WHERE name = ?", (TIME_ZONE_SETTING,)
        )
        if stored:
            return ZoneBinding(stored=str(stored[0][0]), loaded=())
        # A schema loaded before zones were recorded: what did its loads use? (scanned once per schema)
        zones = self._query(
            f"SELECT DISTINCT time_zone FROM {self.qualified(settings.LOAD_RUNS_TABLE)} WHERE status = ? "
            f"UNION SELECT DISTINCT time_zone FROM {self.qualified(settings.FACT_TABLE)} "
            "WHERE time_zone IS NOT NULL",
            ("succeeded",),
        )
        return ZoneBinding(
            stored=None,
            loaded=tuple(sorted({str(row[0]) for row in zones if row[0] is not None})),
        )

    def bind_time_zone(self, requested: str | None, *, flag: str = "--time-zone") -> str:
        """Return the schema's reporting zone; a schema's first load records it.

        One reporting time zone per schema: days of two zones overlap by hours, so a schema whose
        loads mix zones has wrong totals. With ``requested`` None the schema's zone is used (UTC for
        a new schema); a ``requested`` zone that differs from the schema's is refused. A schema
        loaded before zones were recorded adopts the one zone its loads used; one whose loads
        already mix zones needs an explicit zone, which is then recorded (``status`` lists the days
        to reload).

        Args:
            requested: the zone the run was given, or None when none was given.
            flag: the option to name in errors (``--time_zone`` for the Glue job).

        Returns:
            The zone to load in.

        Raises:
            ConfigError: ``requested`` differs from the schema's zone, or the schema mixes zones and
                none was given.
            WarehouseError: a statement failed.
        """
        with self._mutex, self._transaction("bind the schema's time zone"):
            self._lock_tables(ETL_SETTINGS_TABLE)
            binding = self._read_zone_binding()
            chosen = resolve_zone(binding, requested, schema=self.schema, flag=flag)
            if binding.stored is None:
                self._store_setting(TIME_ZONE_SETTING, chosen)
                log.info("schema %s: reporting time zone %s recorded", self.schema, chosen)
            return chosen

    def _store_setting(self, name: str, value: str) -> None:
        settings_table = self.qualified(ETL_SETTINGS_TABLE)
        current = self._query(f"SELECT value FROM {settings_table} WHERE name = ?", (name,))
        if current:
            if current[0][0] != value:
                self._exec(
                    f"UPDATE {settings_table} SET value = ?, updated_at = ? WHERE name = ?",
                    (value, self._now(), name),
                )
            return
        self._exec(
            f"INSERT INTO {settings_table} (name, value, updated_at) VALUES (?, ?, ?)",
            (name, value, self._now()),
        )

    # ---- loads ------------------------------------------------------------------------------------

    def start_load(self, *, run_id: str, trigger: str, window: Window) -> str:
        """Insert a ``running`` row into ``load_runs`` and commit it.

        Args:
            run_id: the run this window belongs to.
            trigger: ``nightly``, ``backfill`` or ``manual``.
            window: the local days about to be loaded.

        Returns:
            The new load id (32 hex characters), stored on every fact row of this load.

        Raises:
            WarehouseError: the insert failed.
        """
        load_id = uuid.uuid4().hex
        with self._mutex, self._transaction(f"start load of {window}"):
            self._lock_tables(settings.LOAD_RUNS_TABLE)
            self._exec(
                f"INSERT INTO {self.qualified(settings.LOAD_RUNS_TABLE)} "
                '(load_id, run_id, "trigger", window_start_date, window_end_date, time_zone, status, '
                "api_calls, retries, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    load_id,
                    run_id,
                    trigger,
                    window.start_date,
                    window.end_date,
                    window.time_zone,
                    "running",
                    0,
                    0,
                    self._now(),
                ),
            )
        log.debug("load %s of window %s started", load_id, window)
        return load_id

    def replace_window(
        self,
        *,
        load_id: str,
        window: Window,
        metrics: Sequence[str],
        staged: StagedFiles,
        api_calls: int,
        retries: int,
        shrink_limit: float | None = None,
    ) -> int:
        """Replace exactly the cells the window pulled (its days × its metrics) by the staged rows.

        First the staged Parquet is loaded into a session-scoped staging table and checked (row count
        equals ``staged.rows``, every row inside the window's days and metrics). Then one transaction:
        lock ``queue_metrics_daily``, ``queues`` and ``load_runs``; count the rows the cells hold;
        refuse (``ShrinkGuardError``) when the new rows would remove more than ``shrink_limit`` of
        them; delete the cells (whatever time zone loaded them); insert the staged rows; add a
        ``queues`` row (null name) for each queue id not seen before; mark the ``load_runs`` row
        ``succeeded``; commit. Rows of other metrics of those days stay. On any error the transaction
        is rolled back, so the previous rows of those cells stay as they were.

        Args:
            load_id: the id ``start_load`` returned.
            window: the local days being replaced.
            metrics: the metrics the window's request asked for (the cells' other axis).
            staged: the staged Parquet of the window (may hold zero rows: the cells are then emptied).
            api_calls: aggregate requests spent on the window, retries included.
            retries: retried requests.
            shrink_limit: the largest share (0..1) of the cells' current rows a reload may remove;
                None loads whatever the answer removes (``--allow-shrink``).

        Returns:
            Rows inserted (= rows of the window's cells now in the warehouse).

        Raises:
            ShrinkGuardError: the answer would remove more than ``shrink_limit`` of the rows (rolled back).
            WarehouseError: the staged data is inconsistent or a statement failed (rolled back).
        """
        if not metrics:
            msg = f"window {window}: no metrics given, so no cells to replace"
            raise WarehouseError(msg)
        stage = validate_identifier(f"genesys_stage_{load_id}")
        fact = self.qualified(settings.FACT_TABLE)
        cells = f"metric_date BETWEEN ? AND ? AND metric IN ({', '.join('?' * len(metrics))})"
        cell_params = (window.start_date, window.end_date, *metrics)
        with self._mutex:
            try:
                rows = self._stage_window(stage, window, staged, metrics)
                with self._transaction(f"replace window {window}"):
                    self._lock_tables(settings.FACT_TABLE, settings.QUEUES_TABLE, settings.LOAD_RUNS_TABLE)
                    before = int(self._query(f"SELECT COUNT(*) FROM {fact} WHERE {cells}", cell_params)[0][0])
                    if shrink_limit is not None and before and (before - rows) > shrink_limit * before:
                        raise ShrinkGuardError(
                            str(window), rows_before=before, rows_after=rows, limit=shrink_limit
                        )
                    self._exec(f"DELETE FROM {fact} WHERE {cells}", cell_params)
                    self._insert_staged(stage)
                    self._insert_new_queues(stage)
                    self._finish_load(load_id, rows=rows, api_calls=api_calls, retries=retries)
                    self._exec(f"DROP TABLE {quote_identifier(stage)}")
            except BaseException:
                self._drop_stage_quietly(stage)
                raise
        log.info("window %s: %d rows in place of %d (load %s)", window, rows, before, load_id)
        return rows

    def copy_round_trip(self, staged: StagedFiles) -> list[tuple[Any, ...]]:
        """Load staged Parquet into a temporary staging table the way a window load does, read it back.

        ``doctor``'s check of the load path (on Redshift: COPY with the IAM role through Spectrum),
        touching no table of the warehouse. The schema's tables must exist (``ensure_schema``).

        Args:
            staged: a staged window (``doctor`` stages one probe row).

        Returns:
            The staging table's rows, columns in ``settings.FACT_COLUMNS`` order.

        Raises:
            WarehouseError: a statement failed (the temporary table is dropped).
        """
        stage = validate_identifier(f"genesys_doctor_{uuid.uuid4().hex}")
        columns = ", ".join(self._staged_value(c) for c in settings.FACT_COLUMNS)
        with self._mutex:
            try:
                with self._transaction(f"COPY round-trip of {staged.uri}"):
                    self._create_stage(stage)
                    self._copy_stage(stage, staged)
                    rows = self._query(f"SELECT {columns} FROM {quote_identifier(stage)}")
                    self._exec(f"DROP TABLE {quote_identifier(stage)}")
            except BaseException:
                self._drop_stage_quietly(stage)
                raise
        return [tuple(row) for row in rows]

    def record_verification(
        self,
        *,
        verify_id: str,
        run_id: str,
        window: Window,
        checks: Sequence[tuple[date, bool, int, int]],
        api_calls: int,
    ) -> None:
        """Write the audit of one verified window: a ``verify_runs`` row and a ``verified_days`` row a day.

        Args:
            verify_id: the verification's id (one per ``verify`` command).
            run_id: the command's run id.
            window: the window compared.
            checks: per day ``(day, matches, cells compared, cells differing)``.
            api_calls: aggregate requests spent on the window.

        Raises:
            WarehouseError: a statement failed (rolled back).
        """
        now = self._now()
        with self._mutex, self._transaction(f"record verification of {window}"):
            self._exec(
                f"INSERT INTO {self.qualified('verify_runs')} (verify_id, run_id, window_start_date, "
                "window_end_date, time_zone, verified_at, cells_compared, cells_differing, days_differing, "
                "api_calls) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    verify_id,
                    run_id,
                    window.start_date,
                    window.end_date,
                    window.time_zone,
                    now,
                    sum(c[2] for c in checks),
                    sum(c[3] for c in checks),
                    sum(1 for c in checks if not c[1]),
                    api_calls,
                ),
            )
            for day, matches, cells, differing in checks:
                self._exec(
                    f"INSERT INTO {self.qualified('verified_days')} (verify_id, metric_date, verified_at, "
                    "matches, cells_compared, cells_differing) VALUES (?, ?, ?, ?, ?, ?)",
                    (verify_id, day, now, matches, cells, differing),
                )

    def pending_migrations(self) -> list[str]:
        """Versions of the DDL files not yet applied to the schema (all of them before the first run)."""
        wanted = [m.version for m in load_migrations(self.ddl_dialect)]
        if not self.has_schema():
            return wanted
        applied = {
            row[0] for row in self.fetch(f"SELECT version FROM {self.qualified(SCHEMA_MIGRATIONS_TABLE)}")
        }
        return [version for version in wanted if version not in applied]

    def _stage_window(self, stage: str, window: Window, staged: StagedFiles, metrics: Sequence[str]) -> int:
        """Fill the staging table from the staged files (committed) and check it; return its rows."""
        quoted = quote_identifier(stage)
        with self._transaction(f"stage window {window} from {staged.uri}"):
            self._exec(f"DROP TABLE IF EXISTS {quoted}")
            self._create_stage(stage)
            if staged.files:
                self._copy_stage(stage, staged)
            count, outside = self._query(
                f"SELECT COUNT(*), SUM(CASE WHEN metric_date IS NULL OR metric_date < ? "
                f"OR metric_date > ? OR metric IS NULL OR metric NOT IN ({', '.join('?' * len(metrics))}) "
                f"THEN 1 ELSE 0 END) FROM {quoted}",
                (window.start_date, window.end_date, *metrics),
            )[0]
            count = int(count)
            if count != staged.rows:
                msg = (
                    f"staged window {window} holds {count} rows, the stage wrote {staged.rows} ({staged.uri})"
                )
                raise WarehouseError(msg)
            if outside:
                msg = (
                    f"staged window {window} at {staged.uri} has {int(outside)} rows outside its days "
                    "and metrics"
                )
                raise WarehouseError(msg)
        return count

    def _staged_value(self, column: settings.Column) -> str:
        """The SELECT expression that reads ``column`` of the staging table as the fact table types it."""
        return quote_identifier(column.name)

    def _insert_staged(self, stage: str) -> None:
        """Insert the staging table into ``queue_metrics_daily`` (inside the replacing transaction)."""
        columns = ", ".join(quote_identifier(c.name) for c in settings.FACT_COLUMNS)
        values = ", ".join(self._staged_value(c) for c in settings.FACT_COLUMNS)
        self._exec(
            f"INSERT INTO {self.qualified(settings.FACT_TABLE)} ({columns}) "
            f"SELECT {values} FROM {quote_identifier(stage)}"
        )

    def _insert_new_queues(self, stage: str) -> None:
        """Give each queue id first seen in facts a ``queues`` row: null name, unknown activity."""
        queues = self.qualified(settings.QUEUES_TABLE)
        self._exec(
            f"INSERT INTO {queues} (queue_id, first_seen_at) "
            f"SELECT n.queue_id, ? FROM (SELECT DISTINCT queue_id FROM {quote_identifier(stage)} "
            "WHERE queue_id IS NOT NULL) n "
            f"WHERE NOT EXISTS (SELECT 1 FROM {queues} q WHERE q.queue_id = n.queue_id)",
            (self._now(),),
        )

    def _finish_load(self, load_id: str, *, rows: int, api_calls: int, retries: int) -> None:
        load_runs = self.qualified(settings.LOAD_RUNS_TABLE)
        if not self._query(f"SELECT status FROM {load_runs} WHERE load_id = ?", (load_id,)):
            msg = f"no load_runs row for load id {load_id}: call start_load first"
            raise WarehouseError(msg)
        self._exec(
            f"UPDATE {load_runs} SET status = ?, rows_loaded = ?, api_calls = ?, retries = ?, "
            "finished_at = ?, error = NULL WHERE load_id = ?",
            ("succeeded", rows, api_calls, retries, self._now(), load_id),
        )

    def _drop_stage_quietly(self, stage: str) -> None:
        try:
            with self._transaction(f"drop staging table {stage}"):
                self._exec(f"DROP TABLE IF EXISTS {quote_identifier(stage)}")
        except Exception as err:  # noqa: BLE001 - the load's own error is the one to raise
            log.warning("could not drop staging table %s: %s", stage, one_line(err))

    def fail_load(self, load_id: str, *, error: str, api_calls: int, retries: int) -> None:
        """Mark a load ``failed`` (rows_loaded 0) with a one-line reason; the window's old rows stay.

        Args:
            load_id: the id ``start_load`` returned.
            error: why it failed (newlines folded, truncated to fit the column).
            api_calls: aggregate requests spent on the window, retries included.
            retries: retried requests.

        Raises:
            WarehouseError: the update failed.
        """
        reason = _truncate_bytes(" ".join(error.split()), _ERROR_MAX_BYTES)
        with self._mutex, self._transaction(f"record failure of load {load_id}"):
            self._lock_tables(settings.LOAD_RUNS_TABLE)
            self._exec(
                f"UPDATE {self.qualified(settings.LOAD_RUNS_TABLE)} SET status = ?, error = ?, "
                "api_calls = ?, retries = ?, rows_loaded = ?, finished_at = ? "
                "WHERE load_id = ? AND status = 'running'",
                ("failed", reason, api_calls, retries, 0, self._now(), load_id),
            )

    # ---- queues -----------------------------------------------------------------------------------

    def refresh_queues(self, queues: Sequence[Mapping[str, Any]], seen_at: datetime) -> None:
        """Upsert the queue listing; queues missing from it become inactive, never deleted.

        Listed ids get their name, division and dates updated, ``last_seen_at = seen_at`` and
        ``is_active = true``; new ids also ``first_seen_at = seen_at``. Every other row (deleted
        queues, ids known only from facts) gets ``is_active = false``; ``first_seen_at`` never changes.

        Args:
            queues: ``GET /api/v2/routing/queues`` entities (``id``, ``name``, ``division{id,name}``,
                ``dateCreated``, ``dateModified``); entities without an id are skipped.
            seen_at: when the listing was taken (aware).

        Raises:
            WarehouseError: a statement failed (rolled back: the table is unchanged).
        """
        rows: dict[str, tuple[Any, ...]] = {}
        for entity in queues:
            row = _queue_row(entity)
            if row is None:
                log.warning("queue listing: an entity without an id was skipped")
                continue
            rows[row[0]] = row
        if not rows:
            log.warning("queue listing is empty: every queue will be flagged inactive")
        seen = _as_aware(seen_at) or self._now()
        table = self.qualified(settings.QUEUES_TABLE)
        listing = quote_identifier("genesys_queue_listing")
        set_columns = ", ".join(f"{c} = l.{c}" for c in _QUEUE_COLUMNS[1:])
        with self._mutex, self._transaction("refresh queues"):
            self._lock_tables(settings.QUEUES_TABLE)
            self._exec(f"DROP TABLE IF EXISTS {listing}")
            self._exec(
                f"CREATE TEMP TABLE {listing} (queue_id VARCHAR(64) NOT NULL, name VARCHAR(1024), "
                "division_id VARCHAR(64), division_name VARCHAR(1024), date_created TIMESTAMPTZ, "
                "date_modified TIMESTAMPTZ)"
            )
            values = list(rows.values())
            for first in range(0, len(values), _INSERT_BATCH_ROWS):
                batch = values[first : first + _INSERT_BATCH_ROWS]
                placeholders = ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(batch))
                self._exec(
                    f"INSERT INTO {listing} ({', '.join(_QUEUE_COLUMNS)}) VALUES {placeholders}",
                    [value for row in batch for value in row],
                )
            self._exec(
                f"UPDATE {table} SET {set_columns}, last_seen_at = ?, is_active = TRUE "
                f"FROM {listing} l WHERE {quote_identifier(settings.QUEUES_TABLE)}.queue_id = l.queue_id",
                (seen,),
            )
            self._exec(
                f"INSERT INTO {table} ({', '.join(_QUEUE_COLUMNS)}, first_seen_at, last_seen_at, is_active) "
                f"SELECT {', '.join('l.' + c for c in _QUEUE_COLUMNS)}, ?, ?, TRUE FROM {listing} l "
                f"WHERE NOT EXISTS (SELECT 1 FROM {table} q WHERE q.queue_id = l.queue_id)",
                (seen, seen),
            )
            self._exec(
                f"UPDATE {table} SET is_active = FALSE WHERE (is_active IS NULL OR is_active) "
                f"AND NOT EXISTS (SELECT 1 FROM {listing} l "
                f"WHERE l.queue_id = {quote_identifier(settings.QUEUES_TABLE)}.queue_id)"
            )
            self._exec(f"DROP TABLE {listing}")
        log.info("queues: %d listed, others flagged inactive", len(rows))

    # ---- reading ----------------------------------------------------------------------------------

    def coverage(
        self, start: date, end: date, *, settle_days: int, today: date, time_zone: str | None = None
    ) -> list[DayCoverage]:
        """Per local day: loaded, provisional, missing or nonexistent, its rows, zones and latest load.

        A day is ``missing`` when no succeeded load covered it, ``provisional`` when its latest load
        (the rows' ``loaded_at``; the load's finish time for a day without rows) was on a local date
        less than ``settle_days`` after it — the same rule as the view's ``is_provisional`` — and
        ``loaded`` otherwise.

        Args:
            start: first local day (inclusive).
            end: last local day (inclusive).
            settle_days: days after which data is final.
            today: the current local date.
            time_zone: the schema's zone: a date it skipped is ``nonexistent`` rather than ``missing``.

        Returns:
            One entry per day, in date order.

        Raises:
            WarehouseError: a query failed.
        """
        load_runs = self.qualified(settings.LOAD_RUNS_TABLE)
        fact = self.qualified(settings.FACT_TABLE)
        with self._mutex, self._transaction("read coverage"):
            runs = self._query(
                f"SELECT window_start_date, window_end_date, time_zone, finished_at FROM {load_runs} "
                "WHERE status = ? AND window_end_date >= ? AND window_start_date <= ?",
                ("succeeded", start, end),
            )
            facts = self._query(
                f"SELECT metric_date, COUNT(*), MAX(loaded_at), MIN(time_zone) FROM {fact} "
                "WHERE metric_date BETWEEN ? AND ? GROUP BY metric_date",
                (start, end),
            )
            day_zones = self._query(
                f"SELECT DISTINCT metric_date, time_zone FROM {fact} WHERE metric_date BETWEEN ? AND ?",
                (start, end),
            )
        by_day = {row[0]: (int(row[1]), _as_aware(row[2]), row[3]) for row in facts}
        zones_of: dict[date, set[str]] = {}
        for day_, zone_ in day_zones:
            zones_of.setdefault(day_, set()).add(str(zone_))
        result: list[DayCoverage] = []
        day = start
        while day <= end:
            covering = [
                (_as_aware(finished), zone)
                for first, last, zone, finished in runs
                if first <= day <= last and finished is not None
            ]
            last_run = max(
                covering, key=lambda item: item[0] or datetime.min.replace(tzinfo=UTC), default=None
            )
            rows, rows_loaded_at, rows_zone = by_day.get(day, (0, None, None))
            last_loaded_at = last_run[0] if last_run else rows_loaded_at
            reference = rows_loaded_at if rows else last_loaded_at
            zone = rows_zone or (last_run[1] if last_run else None) or "UTC"
            status: CoverageStatus = classify_day(
                day, loaded_at=reference, time_zone=zone, settle_days=settle_days, today=today
            )
            if status == "missing" and time_zone is not None and not day_exists(day, time_zone):
                status = "nonexistent"
            result.append(
                DayCoverage(
                    day=day,
                    status=status,
                    rows=rows,
                    last_loaded_at=last_loaded_at,
                    zones=tuple(sorted(zones_of.get(day, ()))),
                )
            )
            day += timedelta(days=1)
        return result

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only query and return all rows (its transaction ends before returning).

        Args:
            sql: one statement with ``?`` placeholders; name tables with ``qualified()``.
            params: values bound to the placeholders.

        Returns:
            The rows as tuples.

        Raises:
            WarehouseError: the query failed.
        """
        with self._mutex, self._transaction("query"):
            return [tuple(row) for row in self._query(sql, params)]

    def fetch_table(self, sql: str, params: Sequence[Any], schema: pa.Schema) -> pa.Table:
        """Run a read-only query and return its rows as an Arrow table of ``schema`` (columns in order).

        Args:
            sql: as for ``fetch``; its columns are ``schema``'s, in order.
            params: as for ``fetch``.
            schema: the table's names and types.

        Returns:
            The rows, cast to ``schema``.

        Raises:
            WarehouseError: the query failed.
        """
        rows = self.fetch(sql, params)
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema.names]
        arrays = [pa.array(list(values), f.type) for values, f in zip(columns, schema, strict=True)]
        return pa.Table.from_arrays(arrays, schema=schema)
