"""The warehouse compared with Genesys cell by cell: the same bodies a load sends, nothing changed."""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from genesys_etl import settings
from genesys_etl.client import GenesysClient
from genesys_etl.query import build_query
from genesys_etl.transform import arrow_schema, flatten_body
from genesys_etl.warehouse import SqlWarehouse
from genesys_etl.warehouse.base import quote_identifier

if TYPE_CHECKING:
    from genesys_etl.config import Config
    from genesys_etl.windows import Window

log = logging.getLogger(__name__)

DayVerdict = Literal["matches", "differs", "missing in the warehouse", "only in the warehouse"]
_KEY = ("metric_date", "queue_id", "media_type", "metric", "qualifier")
_STATS = tuple(c.name for c in settings.FACT_COLUMNS if c.stat is not None)
Cell = tuple[Any, ...]


@dataclass
class DayCheck:
    """One local day compared.

    Attributes:
        day: the date.
        verdict: matches, differs, missing in the warehouse or only in the warehouse.
        cells: cells (day × queue × media type × metric × qualifier) on either side.
        differing: cells whose stats differ or that exist on one side only.
        largest_change: the largest relative change of a stat (1.0 for a cell on one side only).
        example: one differing cell, described.
    """

    day: date
    verdict: DayVerdict
    cells: int = 0
    differing: int = 0
    largest_change: float = 0.0
    example: str = ""

    def __str__(self) -> str:
        if self.verdict == "matches":
            return f"{self.day}  matches ({self.cells} cells)"
        if self.verdict != "differs":
            return f"{self.day}  {self.verdict} ({self.differing} cells), e.g. {self.example}"
        return (
            f"{self.day}  differs: {self.differing} of {self.cells} cells, largest change "
            f"{self.largest_change:.1%}, e.g. {self.example}"
        )


@dataclass
class Verification:
    """A verification of a date range: one ``DayCheck`` per day, in order."""

    days: list[DayCheck] = field(default_factory=list)
    api_calls: int = 0

    @property
    def differing_days(self) -> list[date]:
        """Days that do not match Genesys."""
        return [d.day for d in self.days if d.verdict != "matches"]

    def summary(self) -> str:
        """The total line."""
        cells = sum(d.cells for d in self.days)
        bad = sum(d.differing for d in self.days)
        if not self.differing_days:
            calls = f"{self.api_calls} call(s)"
            return f"total: {len(self.days)} day(s), {cells} cells, all equal to Genesys ({calls})"
        return (
            f"total: {len(self.differing_days)} of {len(self.days)} day(s) differ, {bad} of {cells} cells "
            f"({self.api_calls} call(s))"
        )


def _describe(key: Cell) -> str:
    _day, queue, media, metric, qualifier = key
    return f"{metric}{f'[{qualifier}]' if qualifier else ''} of queue {queue} {media}"


def _stat_change(expected: Any, actual: Any) -> float | None:
    """Relative change from ``expected`` (Genesys) to ``actual`` (warehouse); None when equal."""
    missing_e = expected is None or (isinstance(expected, float) and math.isnan(expected))
    missing_a = actual is None or (isinstance(actual, float) and math.isnan(actual))
    if missing_e and missing_a:
        return None
    if missing_e or missing_a:
        return 1.0
    if float(expected) == float(actual):
        return None
    return abs(float(actual) - float(expected)) / max(abs(float(expected)), 1e-12)


def compare_cells(
    days: Sequence[date], genesys: dict[Cell, Cell], warehouse: dict[Cell, Cell]
) -> list[DayCheck]:
    """Compare two ``{key: stats}`` maps day by day.

    Args:
        days: the days to report, in order.
        genesys: what Genesys answered, keyed by ``(metric_date, queue_id, media_type, metric,
            qualifier)``, stats in ``settings.FACT_COLUMNS`` order.
        warehouse: what the warehouse holds, the same shape.

    Returns:
        One ``DayCheck`` per day.
    """
    checks = []
    for day in days:
        want = {k: v for k, v in genesys.items() if k[0] == day}
        have = {k: v for k, v in warehouse.items() if k[0] == day}
        keys = sorted(set(want) | set(have), key=lambda k: tuple("" if p is None else str(p) for p in k))
        check = DayCheck(day=day, verdict="matches", cells=len(keys))
        for key in keys:
            if key not in have or key not in want:
                change = 1.0
                where = "only in Genesys" if key not in have else "only in the warehouse"
                what = f"{_describe(key)} ({where})"
            else:
                changes = [
                    (name, _stat_change(e, a))
                    for name, e, a in zip(_STATS, want[key], have[key], strict=True)
                ]
                changed = [(name, c) for name, c in changes if c is not None]  # c: float
                if not changed:
                    continue
                change = max(float(c) for _, c in changed if c is not None)
                name = changed[0][0]
                index = _STATS.index(name)
                what = (
                    f"{_describe(key)}: {name} {want[key][index]!r} in Genesys, {have[key][index]!r} loaded"
                )
            check.differing += 1
            if change >= check.largest_change or not check.example:
                check.largest_change = max(check.largest_change, change)
                check.example = what
        if check.differing:
            if not have:
                check.verdict = "missing in the warehouse"
            elif not want:
                check.verdict = "only in the warehouse"
            else:
                check.verdict = "differs"
        checks.append(check)
    return checks


def _warehouse_table(warehouse: SqlWarehouse, window: Window, metrics: Sequence[str]) -> pa.Table:
    names = (*_KEY, *_STATS)
    schema = arrow_schema()
    columns = ", ".join(quote_identifier(c) for c in names)
    return warehouse.fetch_table(
        f"SELECT {columns} FROM {warehouse.qualified(settings.FACT_TABLE)} "
        f"WHERE metric_date BETWEEN ? AND ? AND metric IN ({', '.join('?' * len(metrics))})",
        (window.start_date, window.end_date, *metrics),
        pa.schema([schema.field(name) for name in names]),
    )


def _key(values: Iterable[Any]) -> Cell:
    day, queue, media, metric, qualifier = values
    return (day, queue, media, metric, qualifier or None)


def fetch_genesys(client: GenesysClient, window: Window, metrics: Sequence[str]) -> tuple[pa.Table, int]:
    """What Genesys answers for a window now, as cells, and the aggregates requests it took.

    Args:
        client: the Genesys client (any thread: the count is the calling thread's).
        window: the window, exactly as a load plans it.
        metrics: the metrics to ask for.

    Returns:
        The cells (key and stat columns) and the requests sent, retries included.
    """
    before = client.thread_stats.api_calls
    table = _genesys_table(client, window, metrics)
    return table, client.thread_stats.api_calls - before


def _genesys_table(client: GenesysClient, window: Window, metrics: Sequence[str]) -> pa.Table:
    loaded_at = datetime.now(tz=UTC)

    def parse(content: bytes, decode: Callable[[], dict[str, Any]]) -> pa.Table:
        return flatten_body(content, window, load_id="verify", loaded_at=loaded_at, decode=decode).table

    return client.query_aggregates_with(build_query(window, metrics), parse).select([*_KEY, *_STATS])


def _cells(table: pa.Table) -> dict[Cell, Cell]:
    data = table.select([*_KEY, *_STATS]).to_pylist()
    return {_key(row[k] for k in _KEY): tuple(row[s] for s in _STATS) for row in data}


def _comparable(table: pa.Table) -> pa.Table:
    """Cells in one canonical form: '' qualifier as null, stats as float64 with NaN as null, sorted.

    Two such tables are equal exactly when ``compare_cells`` finds no difference (``_stat_change``
    treats null and NaN alike and compares numbers as floats).
    """
    columns: dict[str, pa.Array] = {}
    for name in _KEY:
        column = table.column(name)
        if name == "qualifier":
            column = pc.if_else(pc.equal(column, ""), pa.scalar(None, column.type), column)
        columns[name] = column
    for name in _STATS:
        column = table.column(name).cast(pa.float64())
        columns[name] = pc.if_else(pc.is_nan(column), pa.scalar(None, pa.float64()), column)
    canonical = pa.table(columns)
    return canonical.sort_by([(name, "ascending") for name in _KEY])


def _equal_days(days: Sequence[date], genesys: pa.Table, warehouse: pa.Table) -> list[DayCheck] | None:
    """Every day ``matches`` when both sides hold the very same cells; None when anything differs."""
    left, right = _comparable(genesys), _comparable(warehouse)
    if left.num_rows != right.num_rows or not left.equals(right):
        return None
    per_day = left.group_by("metric_date").aggregate([("metric_date", "count")]).to_pydict()
    cells = dict(zip(per_day["metric_date"], per_day["metric_date_count"], strict=True))
    return [DayCheck(day=day, verdict="matches", cells=int(cells.get(day, 0))) for day in days]


def loaded_metrics(warehouse: SqlWarehouse, start: date, end: date) -> list[str]:
    """The metrics the warehouse holds for a date range (verify's default: what was loaded)."""
    rows = warehouse.fetch(
        f"SELECT DISTINCT metric FROM {warehouse.qualified(settings.FACT_TABLE)} "
        "WHERE metric_date BETWEEN ? AND ?",
        (start, end),
    )
    return sorted(str(row[0]) for row in rows)


def verify(
    config: Config,
    warehouse: SqlWarehouse,
    client: GenesysClient,
    *,
    metrics: Sequence[str],
    fetch: Callable[[Window], tuple[pa.Table, int]] | None = None,
) -> Verification:
    """Re-query Genesys with the bodies a load of ``config`` would send and compare every cell.

    Each window is one call (the same rate limit and retries as a load) and one ``verify_runs`` row.

    Args:
        config: the range, zone and days per query (zone already the schema's).
        warehouse: the warehouse to compare.
        client: the Genesys client.
        metrics: the metrics to compare.
        fetch: returns Genesys' cells of a window and the calls spent (default ``fetch_genesys``; the
            nightly run fetches them while it loads the lookback).

    Returns:
        The per-day verdicts.
    """
    result = Verification()
    verify_id = uuid.uuid4().hex
    for window in config.windows():
        genesys, calls = fetch(window) if fetch is not None else fetch_genesys(client, window, metrics)
        stored = _warehouse_table(warehouse, window, metrics)
        # The usual answer, all equal, is decided on columns; a difference is described cell by cell.
        checks = _equal_days(window.days, genesys, stored)
        if checks is None:
            checks = compare_cells(window.days, _cells(genesys), _cells(stored))
        result.api_calls += calls
        result.days.extend(checks)
        warehouse.record_verification(
            verify_id=verify_id,
            run_id=config.run_id,
            window=window,
            checks=[(c.day, c.verdict == "matches", c.cells, c.differing) for c in checks],
            api_calls=calls,
        )
    return result
