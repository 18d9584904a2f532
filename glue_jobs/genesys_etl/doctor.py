"""Preflight of every dependency a run has, in the order a run meets them, one line each."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from genesys_etl import settings
from genesys_etl.client import GenesysClient
from genesys_etl.errors import EtlError
from genesys_etl.query import build_query
from genesys_etl.stage import Stage, open_stage
from genesys_etl.transform import arrow_schema
from genesys_etl.warehouse import SqlWarehouse, Warehouse, open_warehouse
from genesys_etl.warehouse.base import one_line, resolve_zone
from genesys_etl.windows import Window, local_midnight, today_in

if TYPE_CHECKING:
    from genesys_etl.config import Config

log = logging.getLogger(__name__)

PASS, FAIL = "✓", "✗"


@dataclass(frozen=True)
class Check:
    """One line of the preflight.

    Attributes:
        name: what was checked.
        ok: whether it passed.
        detail: what was found (passed) or what is wrong and the fix (failed).
    """

    name: str
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"{PASS if self.ok else FAIL} {self.name}: {self.detail}"


def _probe_row(window: Window) -> dict[str, Any]:
    """One fact row with every column set, so the round trip compares each type (timestamps too)."""
    start = local_midnight(window.start_date, window.time_zone)
    values: dict[str, Any] = {
        "metric_date": window.start_date,
        "interval_start": start.astimezone(UTC),
        "interval_end": local_midnight(window.end_date + timedelta(days=1), window.time_zone).astimezone(UTC),
        "time_zone": window.time_zone,
        "queue_id": "genesys-etl-doctor",
        "media_type": "voice",
        "metric": "tHandle",
        "qualifier": "doctor",
        "stat_count": 3,
        "load_id": "doctor",
        "loaded_at": datetime(2026, 3, 8, 7, 30, 15, 123456, tzinfo=UTC),
        "loaded_date": window.start_date,
    }
    for number, column in enumerate(settings.FACT_COLUMNS):
        if column.name not in values:
            values[column.name] = 1000.25 + number if column.arrow == "float64" else f"doctor-{number}"
    return values


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, datetime) and isinstance(actual, datetime):
        aware = actual if actual.tzinfo is not None else actual.replace(tzinfo=UTC)
        return expected == aware
    if isinstance(expected, float) and isinstance(actual, int | float):
        return expected == float(actual)  # exactly: a double survives Parquet and the load unchanged
    return bool(expected == actual)


def run_doctor(
    config: Config,
    *,
    client: GenesysClient | None = None,
    warehouse: Warehouse | None = None,
    stage: Stage | None = None,
    stage_factory: Callable[[], Stage] | None = None,
) -> Iterator[Check]:
    """Check Genesys, the warehouse, the stage, the load path and the zone binding, in that order.

    Nothing analysts see changes: the schema's tables are created if missing (as the first run would),
    one probe row is staged, loaded into a temporary table and removed, and no fact, queue, load or
    setting row is written.

    Args:
        config: the run's configuration (the same flags as ``run``).
        client: a Genesys client instead of one built from ``config`` (tests).
        warehouse: a warehouse instead of ``open_warehouse(config)`` (Glue, tests).
        stage: a stage instead of ``open_stage(config.stage, …)``.
        stage_factory: builds the stage when ``stage`` is None (Glue passes its boto3 session).

    Yields:
        One ``Check`` per line, as soon as it is known.
    """
    zone = config.zone
    yesterday = today_in(zone) - timedelta(days=1)
    probe = Window(yesterday, yesterday, zone)
    with ExitStack() as resources:
        if client is None:
            client = resources.enter_context(GenesysClient.from_config(config))
        where = f"region {config.region}" if config.region else "explicit --api-url/--login-url"
        try:
            client.login()
            yield Check("Genesys login", True, f"token from {config.login_url} ({where})")
            logged_in = True
        except EtlError as err:
            yield Check("Genesys login", False, str(err))
            logged_in = False
        if logged_in:
            try:
                answer = client.query_aggregates(build_query(probe, ["nOffered"]))
                groups = len(answer.get("results", []))
                yield Check(
                    "aggregates query", True, f"one-day probe of {yesterday} answered ({groups} group(s))"
                )
            except EtlError as err:
                fix = "the OAuth client's role needs analytics:conversationAggregate:view"
                yield Check("aggregates query", False, f"{err}; {fix}")
            try:
                first = next(iter(client.list_queues()), None)
                found = "listed" if first is not None else "listed, but the org has no queues"
                yield Check("queue listing", True, found)
            except EtlError as err:
                yield Check(
                    "queue listing", False, f"{err}; the OAuth client's role needs routing:queue:view"
                )

        try:
            if warehouse is None:
                warehouse = open_warehouse(config)
                resources.callback(warehouse.close)
            pending = warehouse.pending_migrations() if isinstance(warehouse, SqlWarehouse) else []
            warehouse.ensure_schema(store_settings=False)
            state = f"applied {', '.join(pending)} now" if pending else "up to date"
            yield Check("warehouse", True, f"{config.warehouse}, schema {config.schema}: tables {state}")
        except EtlError as err:
            yield Check(
                "warehouse", False, f"{one_line(err)}; check --warehouse, --schema and the privileges"
            )
            warehouse = None

        staged = None
        try:
            if stage is None:
                stage = stage_factory() if stage_factory else open_stage(config.stage, config.run_id)
            table = pa.Table.from_pylist([_probe_row(probe)], schema=arrow_schema())
            staged = stage.write_window(table, probe)
            listed = stage.list_window(staged)
            back = stage.read_window(staged)
            if back.num_rows != 1 or not set(staged.files) <= set(listed):
                msg = f"wrote 1 row to {staged.uri}, read back {back.num_rows}, listed {len(listed)} file(s)"
                raise EtlError(msg)
            yield Check("stage", True, f"wrote, listed and read back {staged.uri}")
        except EtlError as err:
            yield Check("stage", False, f"{one_line(err)}; check --stage and its permissions")

        if warehouse is not None and staged is not None and isinstance(warehouse, SqlWarehouse):
            try:
                rows = warehouse.copy_round_trip(staged)
                expected = _probe_row(probe)
                if len(rows) != 1:
                    raise EtlError(f"the load read {len(rows)} rows from the staged probe, not 1")
                wrong = [
                    f"{column.name} {expected[column.name]!r} came back as {value!r}"
                    for column, value in zip(settings.FACT_COLUMNS, rows[0], strict=True)
                    if not _same(expected[column.name], value)
                ]
                if wrong:
                    raise EtlError("the load changed a value: " + "; ".join(wrong[:3]))
                how = "COPY with the IAM role" if config.warehouse == "redshift" else "read_parquet"
                yield Check("load path", True, f"{how}: every column of a probe row round-tripped exactly")
            except EtlError as err:
                fix = "check --iam-role (its S3 read access) and that the bucket is in the cluster's region"
                yield Check("load path", False, f"{one_line(err)}; {fix}")
        if staged is not None and stage is not None:
            try:
                stage.remove(staged)
            except EtlError as err:
                yield Check("stage cleanup", False, f"{one_line(err)}; check the stage's delete permission")

        if warehouse is not None:
            try:
                binding = warehouse.zone_binding()
                chosen = resolve_zone(binding, config.time_zone, schema=config.schema, flag="--time-zone")
                state = "recorded" if binding.stored else "the first load records it"
                yield Check("time zone", True, f"schema {config.schema} reports in {chosen} ({state})")
            except EtlError as err:
                yield Check("time zone", False, one_line(err))
