"""Aggregate responses → typed Arrow rows at the grain (metric_date, queue, media type, metric, qualifier)."""

from __future__ import annotations

import bisect
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from typing import Any, Final
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from genesys_etl import settings
from genesys_etl.errors import ResponseShapeError
from genesys_etl.windows import Window

logger = logging.getLogger(__name__)

# settings.Column.arrow names → Arrow types; the only place the Parquet schema's types are spelled.
ARROW_TYPES: Final[dict[str, pa.DataType]] = {
    "string": pa.string(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "date32": pa.date32(),
    "timestamp_utc": pa.timestamp("us", tz="UTC"),
}

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DATE: Final = date(1970, 1, 1)
_MICROSECOND: Final = timedelta(microseconds=1)
_NO_STATS: Final[Mapping[str, Any]] = {}
_SNIPPET_CHARS = 80

# Stats keys this process has already warned about: Genesys may add fields; say so once, not per row.
_warned_stats: set[str] = set()
_warned_lock = threading.Lock()


@dataclass(frozen=True)
class Flattened:
    """One aggregate response as rows of ``queue_metrics_daily``, plus what was kept out of them.

    Attributes:
        table: the rows, with exactly ``arrow_schema()``.
        unattributed_groups: result groups without a ``queueId`` (real data, but no queue's).
        unattributed_rows: metric entries in those groups; never attributed to a queue.
        unknown_stats: ``stats`` keys this version does not know (ignored, warned once per process).
        queue_ids: the queue ids present in ``table``.
    """

    table: pa.Table
    unattributed_groups: int
    unattributed_rows: int
    unknown_stats: frozenset[str]
    queue_ids: frozenset[str]


def arrow_schema() -> pa.Schema:
    """Return the Arrow schema of ``queue_metrics_daily``, built from ``settings.FACT_COLUMNS``.

    Returns:
        One nullable field per column, in contract order; timestamps are UTC microseconds.

    Raises:
        KeyError: a column names an Arrow type this module does not map.
    """
    return pa.schema([pa.field(c.name, ARROW_TYPES[c.arrow]) for c in settings.FACT_COLUMNS])


def flatten_body(
    content: bytes,
    window: Window,
    *,
    load_id: str,
    loaded_at: datetime,
    decode: Callable[[], Mapping[str, Any]],
    gate: AbstractContextManager[object] | None = None,
) -> Flattened:
    """Flatten one ``aggregates/query`` answer straight from its JSON body; same rows as ``flatten_response``.

    An answer of exactly the documented shape (``results[].group{queueId, mediaType}``,
    ``data[].interval``, ``metrics[]{metric, qualifier, stats}`` with documented stats keys) is parsed
    by Arrow's JSON reader into columns, in C and without holding the GIL, and flattened with Arrow
    compute: about a tenth of the memory of the decoded objects and a fraction of their CPU. Anything
    else (an unknown field, a null where an object belongs, a fraction in a count, a repeated key, a
    bucket outside the window) falls back to ``decode()`` and ``flatten_response``, which load or refuse
    it with the precise message: the two paths load the same rows (tests/test_transform_arrow.py).

    Args:
        content: the answer's body.
        window: as for ``flatten_response``.
        load_id: as for ``flatten_response``.
        loaded_at: as for ``flatten_response``.
        decode: returns the body as JSON objects (the client's decoder: an unparseable body makes it
            ask Genesys again).
        gate: entered around reading and flattening (a lock keeps one answer's scratch memory, and at
            most one decoded answer, in the process at a time).

    Returns:
        As ``flatten_response``.

    Raises:
        ResponseShapeError: as ``flatten_response``.
        ValueError: ``loaded_at`` is naive.
    """
    if loaded_at.tzinfo is None or loaded_at.utcoffset() is None:
        msg = "loaded_at must be an aware datetime"
        raise ValueError(msg)
    with gate if gate is not None else nullcontext():
        try:
            columns = _read_columns(content)
            pa.default_memory_pool().release_unused()  # the reader's scratch, before the flatten's
            if columns is not None:
                try:
                    return _flatten_columns(columns, window, load_id=load_id, loaded_at=loaded_at)
                except (_NotDocumentedShapeError, ResponseShapeError, pa.ArrowException):
                    logger.debug(
                        "window %s: answer outside the documented shape; decoding it as objects", window
                    )
                del columns
            return flatten_response(decode(), window, load_id=load_id, loaded_at=loaded_at)
        finally:
            # Arrow's allocator keeps freed memory for reuse; the reader's and the flatten's scratch
            # (several times the table) would otherwise stay in the process between windows.
            pa.default_memory_pool().release_unused()


def flatten_response(
    response: Mapping[str, Any], window: Window, *, load_id: str, loaded_at: datetime
) -> Flattened:
    """Flatten one ``aggregates/query`` response into typed rows, one per metric per day bucket.

    Groups without ``queueId`` are counted, logged at INFO and left out of the table. Stats keys
    documented by Genesys but without a column are ignored; keys unknown to this version are ignored
    with one warning per key per process. A metric's absent stats become nulls.

    Args:
        response: the parsed JSON body (``{}`` and ``{"results": []}`` are valid, empty answers).
        window: the window the request asked for; gives the time zone of ``metric_date``.
        load_id: the load this data belongs to, stored on every row.
        loaded_at: an aware instant stored on every row (as UTC).

    Returns:
        The table and the counts of what was kept out of it.

    Raises:
        ResponseShapeError: the body is not the documented shape, a bucket lies outside the window,
            or two entries share a (metric_date, queue, media type, metric, qualifier) key.
        ValueError: ``loaded_at`` is naive.
    """
    if loaded_at.tzinfo is None or loaded_at.utcoffset() is None:
        msg = "loaded_at must be an aware datetime"
        raise ValueError(msg)
    results = _results_of(response)
    parser = _IntervalParser(window)
    buckets = _Buckets()
    metrics: list[Any] = []
    unattributed_groups = 0
    unattributed_rows = 0
    for group_no, result in enumerate(results):
        group, data = _group_and_data(result, group_no)
        queue_id = group.get("queueId")
        if queue_id is None or queue_id == "":
            unattributed_groups += 1
            for bucket in data:
                unattributed_rows += len(_metrics_of(bucket, group_no))
                parser.parse(bucket.get("interval"))  # same window rule: a stray bucket is a bad answer
            continue
        media_type = group.get("mediaType")
        if not isinstance(queue_id, str) or not isinstance(media_type, str | None):
            msg = f"results[{group_no}].group has a non-string queueId or mediaType: {_snippet(group)}"
            raise ResponseShapeError(msg)
        for bucket in data:
            bucket_metrics = _metrics_of(bucket, group_no)
            day, start, end = parser.parse(bucket.get("interval"))
            if bucket_metrics:
                buckets.add(queue_id, media_type, day, start, end, len(bucket_metrics))
                metrics.extend(bucket_metrics)
    _log_unattributed(window, unattributed_groups, unattributed_rows)
    columns = _metric_columns(metrics, buckets)
    table = _build_table(columns, buckets, window=window, load_id=load_id, loaded_at=loaded_at)
    buckets.check_unique(columns.names, columns.qualifiers)  # after typing: keys are hashable
    return Flattened(
        table=table,
        unattributed_groups=unattributed_groups,
        unattributed_rows=unattributed_rows,
        unknown_stats=columns.unknown_stats,
        queue_ids=frozenset(buckets.queue_ids),
    )


def _log_unattributed(window: Window, groups: int, rows: int) -> None:
    if groups:
        logger.info(
            "window %s: %d result group(s) without queueId (%d metric rows) kept out of the queue grain",
            window,
            groups,
            rows,
        )


class _IntervalParser:
    """Parse ``data[].interval`` strings once each: (local date days, start µs, end µs), window-checked."""

    def __init__(self, window: Window) -> None:
        self._window = window
        self._zone = ZoneInfo(window.time_zone)
        self._low = _to_micros(window.start)
        self._high = _to_micros(window.end)
        self._cache: dict[str, tuple[int, int, int]] = {}

    def parse(self, interval: Any) -> tuple[int, int, int]:
        parsed = self._cache.get(interval) if isinstance(interval, str) else None
        if parsed is None:
            parsed = self._parse_new(interval)
            self._cache[interval] = parsed
        return parsed

    def _parse_new(self, interval: Any) -> tuple[int, int, int]:
        if not isinstance(interval, str) or interval.count("/") != 1:
            msg = f"data[].interval {_snippet(interval)} is not an ISO-8601 'start/end' string"
            raise ResponseShapeError(msg)
        start_text, end_text = interval.split("/")
        start = _parse_instant(start_text, interval)
        end = _parse_instant(end_text, interval)
        start_us, end_us = _to_micros(start), _to_micros(end)
        if end_us <= start_us:
            msg = f"data[].interval {interval} does not end after it starts"
            raise ResponseShapeError(msg)
        if start_us < self._low or end_us > self._high:
            msg = f"data[].interval {interval} lies outside the requested window {self._window.interval}"
            raise ResponseShapeError(msg)
        # A one-day window holds one local day whatever bucket bounds Genesys chose for it (a day
        # after a skipped midnight is asked for without granularity, see query.build_query).
        if self._window.day_count == 1:
            local_day = self._window.start_date
        else:
            local_day = start.astimezone(self._zone).date()
        return (local_day - _EPOCH_DATE).days, start_us, end_us


class _Buckets:
    """Bucket-level columns (one entry per group × interval with metrics) and each bucket's row count."""

    def __init__(self) -> None:
        self.days: list[int] = []
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.queues: list[str] = []
        self.media: list[str | None] = []
        self.sizes: list[int] = []
        self.queue_ids: set[str] = set()
        self._by_key: dict[tuple[str, str | None, int], list[int]] = {}
        self._repeated: set[tuple[str, str | None, int]] = set()

    def add(self, queue_id: str, media_type: str | None, day: int, start: int, end: int, size: int) -> None:
        key = (queue_id, media_type, day)
        same_key = self._by_key.setdefault(key, [])
        if same_key:
            self._repeated.add(key)
        same_key.append(len(self.sizes))
        self.days.append(day)
        self.starts.append(start)
        self.ends.append(end)
        self.queues.append(queue_id)
        self.media.append(media_type)
        self.sizes.append(size)
        self.queue_ids.add(queue_id)

    def offsets(self) -> list[int]:
        return [0, *accumulate(self.sizes)]

    def locate(self, row: int) -> str:
        """Describe the bucket a flat row index belongs to, for error messages."""
        return self._describe(bisect.bisect_right(self.offsets(), row) - 1)

    def _describe(self, number: int) -> str:
        day = _EPOCH_DATE + timedelta(days=self.days[number])
        return f"queue {self.queues[number]} media {self.media[number]} day {day}"

    def check_unique(self, names: Sequence[Any], qualifiers: Sequence[Any]) -> None:
        """Raise ResponseShapeError when two rows share a grain key (one bucket or repeated buckets)."""
        offsets = self.offsets()
        for number, size in enumerate(self.sizes):
            segment = names[offsets[number] : offsets[number] + size]
            # Fast path: distinct metric names are distinct keys; only look at qualifiers otherwise.
            if len(set(segment)) != size:
                _check_keys(self._keys(names, qualifiers, [number], offsets), self._describe(number))
        for key in self._repeated:
            numbers = self._by_key[key]
            _check_keys(self._keys(names, qualifiers, numbers, offsets), self._describe(numbers[0]))

    @staticmethod
    def _keys(
        names: Sequence[Any], qualifiers: Sequence[Any], numbers: list[int], offsets: list[int]
    ) -> list[tuple[Any, Any]]:
        keys: list[tuple[Any, Any]] = []
        for number in numbers:
            rows = range(offsets[number], offsets[number + 1])
            keys.extend((names[row], qualifiers[row]) for row in rows)
        return keys


def _check_keys(keys: list[tuple[Any, Any]], where: str) -> None:
    seen: set[tuple[Any, Any]] = set()
    for key in keys:
        if key in seen:
            msg = (
                f"response repeats metric {key[0]} (qualifier {key[1]}) for {where};"
                " the grain (metric_date, queue_id, media_type, metric, qualifier) would break"
            )
            raise ResponseShapeError(msg)
        seen.add(key)


def _results_of(response: Any) -> list[Any]:
    if not isinstance(response, Mapping):
        msg = f"response is not a JSON object but {type(response).__name__}"
        raise ResponseShapeError(msg)
    return _list_field(response, "results", "response 'results'")


def _group_and_data(result: Any, group_no: int) -> tuple[Mapping[str, Any], list[Any]]:
    if not isinstance(result, Mapping):
        msg = f"results[{group_no}] is not an object but {type(result).__name__}"
        raise ResponseShapeError(msg)
    group = result.get("group")
    if group is None:
        group = _NO_STATS
    if not isinstance(group, Mapping):
        msg = f"results[{group_no}].group is not an object but {type(group).__name__}"
        raise ResponseShapeError(msg)
    return group, _list_field(result, "data", f"results[{group_no}].data")


def _metrics_of(bucket: Any, group_no: int) -> list[Any]:
    if not isinstance(bucket, Mapping):
        msg = f"results[{group_no}].data[] entry is not an object but {type(bucket).__name__}"
        raise ResponseShapeError(msg)
    return _list_field(bucket, "metrics", f"results[{group_no}].data[].metrics")


def _list_field(parent: Mapping[str, Any], key: str, where: str) -> list[Any]:
    """Return ``parent[key]`` as a list: absent or null is empty (Genesys omits empty lists)."""
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        msg = f"{where} is not a list but {type(value).__name__}"
        raise ResponseShapeError(msg)
    return value


@dataclass(frozen=True)
class _MetricColumns:
    """The per-row parts of the metric entries, as plain lists (one comprehension each)."""

    names: list[Any]
    qualifiers: list[Any]
    stats: list[Any]
    unknown_stats: frozenset[str]


def _metric_columns(metrics: list[Any], buckets: _Buckets) -> _MetricColumns:
    try:
        stats = [entry.get("stats") or _NO_STATS for entry in metrics]
        names = [entry["metric"] for entry in metrics]
        qualifiers = [entry.get("qualifier") for entry in metrics]
        keys: set[Any] = set().union(*stats)
    except (AttributeError, KeyError, TypeError) as exc:
        raise _describe_bad_metric(metrics, buckets) from exc
    unknown = frozenset(str(key) for key in keys if key not in settings.KNOWN_STATS)
    _warn_unknown_stats(unknown)
    ignored = keys - unknown - settings.STAT_COLUMNS.keys()
    if ignored:
        logger.debug("ignoring documented stats without a column: %s", ", ".join(sorted(map(str, ignored))))
    return _MetricColumns(names, qualifiers, stats, unknown)


def _describe_bad_metric(metrics: list[Any], buckets: _Buckets) -> ResponseShapeError:
    for row, entry in enumerate(metrics):
        stats = entry.get("stats") if isinstance(entry, Mapping) else None
        if not isinstance(entry, Mapping) or "metric" not in entry or not isinstance(stats, Mapping | None):
            return ResponseShapeError(
                f"metrics entry {_snippet(entry)} of {buckets.locate(row)} is not an object"
                " with 'metric' and an object 'stats'"
            )
    return ResponseShapeError("metrics entries are not objects with 'metric' and an object 'stats'")


def _warn_unknown_stats(unknown: frozenset[str]) -> None:
    if not unknown:
        return
    with _warned_lock:
        new = sorted(unknown - _warned_stats)
        _warned_stats.update(new)
    for key in new:
        logger.warning("ignoring stats field %r unknown to this version (reported once per run)", key)


def _build_table(
    columns: _MetricColumns, buckets: _Buckets, *, window: Window, load_id: str, loaded_at: datetime
) -> pa.Table:
    """Assemble the table in schema order: bucket columns by take(), constants by repeat()."""
    schema = arrow_schema()
    rows = len(columns.names)
    take = pa.array(np.repeat(np.arange(len(buckets.sizes), dtype=np.int64), buckets.sizes))

    def bucket_column(values: list[Any], name: str) -> pa.Array:
        return _to_array(values, schema.field(name).type, name).take(take)

    def constant(value: Any, name: str) -> pa.Array:
        return pa.repeat(pa.scalar(value, schema.field(name).type), rows)

    arrays: dict[str, pa.Array] = {
        "metric_date": bucket_column(buckets.days, "metric_date"),
        "interval_start": bucket_column(buckets.starts, "interval_start"),
        "interval_end": bucket_column(buckets.ends, "interval_end"),
        "time_zone": constant(window.time_zone, "time_zone"),
        "queue_id": bucket_column(buckets.queues, "queue_id"),
        "media_type": bucket_column(buckets.media, "media_type"),
        "metric": _to_array(columns.names, pa.string(), "metric"),
        "qualifier": _to_array(columns.qualifiers, pa.string(), "qualifier"),
        "load_id": constant(load_id, "load_id"),
        "loaded_at": constant(loaded_at.astimezone(UTC), "loaded_at"),
        "loaded_date": constant(loaded_at.astimezone(ZoneInfo(window.time_zone)).date(), "loaded_date"),
    }
    if arrays["metric"].null_count:
        msg = "a metrics entry has a null 'metric' name"
        raise ResponseShapeError(msg)
    arrays.update(_stat_arrays(columns.stats, schema))
    return pa.Table.from_arrays([arrays[field.name] for field in schema], schema=schema)


def _stat_arrays(stats: list[Any], schema: pa.Schema) -> dict[str, pa.Array]:
    """Every stat column at once: Arrow reads the stats objects as structs in C, absent keys → null.

    Integer columns are read as float64 first and cast safely, so a fractional count is an error
    rather than silently truncated (pyarrow truncates 1.5 → 1 when converting straight to int64).
    """
    fields = []
    for key, column in settings.STAT_COLUMNS.items():
        target = schema.field(column).type
        fields.append(pa.field(key, pa.float64() if pa.types.is_integer(target) else target))
    try:
        struct = pa.array(stats, type=pa.struct(fields))
    except pa.ArrowTypeError as exc:
        msg = f"metrics[].stats is not an object of numbers: {_one_line(exc)}"
        raise ResponseShapeError(msg) from exc
    except pa.ArrowInvalid as exc:
        msg = f"metrics[].stats holds a value that is not a number: {_one_line(exc)}"
        raise ResponseShapeError(msg) from exc
    arrays: dict[str, pa.Array] = {}
    for (key, column), child in zip(settings.STAT_COLUMNS.items(), struct.flatten(), strict=True):
        try:
            arrays[column] = child.cast(schema.field(column).type, safe=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            msg = f"stats.{key} is not a whole number: {_one_line(exc)}"
            raise ResponseShapeError(msg) from exc
    return arrays


def _to_array(values: list[Any], arrow_type: pa.DataType, name: str) -> pa.Array:
    try:
        return pa.array(values, type=arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
        msg = f"{name} values are not {arrow_type}: {_one_line(exc)}"
        raise ResponseShapeError(msg) from exc


def _parse_instant(text: str, interval: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        msg = f"data[].interval {interval} has an unparseable instant {_snippet(text)}"
        raise ResponseShapeError(msg) from exc
    if moment.tzinfo is None:
        msg = f"data[].interval {interval} has an instant without UTC offset"
        raise ResponseShapeError(msg)
    return moment


def _to_micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def _snippet(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SNIPPET_CHARS else text[: _SNIPPET_CHARS - 1] + "…"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


# ---- the columnar path: Arrow's JSON reader over the documented shape --------------------------------


class _NotDocumentedShapeError(Exception):
    """The answer is valid JSON but not exactly the documented shape: take the object path."""


def _body_schema() -> pa.Schema:
    """The documented answer shape, every stats value read as float64 (ints are cast back safely)."""
    stats = pa.struct([pa.field(key, pa.float64()) for key in sorted(settings.KNOWN_STATS)])
    entry = pa.struct([("metric", pa.string()), ("qualifier", pa.string()), ("stats", stats)])
    bucket = pa.struct([("interval", pa.string()), ("metrics", pa.list_(entry))])
    group = pa.struct([("queueId", pa.string()), ("mediaType", pa.string())])
    result = pa.struct([("group", group), ("data", pa.list_(bucket))])
    return pa.schema([("results", pa.list_(result))])


_BODY_SCHEMA: Final = _body_schema()
_IGNORED_STATS: Final = settings.KNOWN_STATS - settings.STAT_COLUMNS.keys()


def _read_columns(content: bytes) -> pa.ListArray | None:
    """``results`` of a one-object body as an Arrow list, or None when the reader cannot take it."""
    if content[:64].lstrip()[:1] != b"{":  # a prefix: no copy of a large body
        return None
    try:
        table = pa_json.read_json(
            pa.BufferReader(content),
            read_options=pa_json.ReadOptions(use_threads=False, block_size=len(content) + 1),
            parse_options=pa_json.ParseOptions(
                explicit_schema=_BODY_SCHEMA, unexpected_field_behavior="error", newlines_in_values=True
            ),
        )
    except (pa.ArrowException, OverflowError):
        return None
    if table.num_rows != 1:
        return None
    results = table.column("results").combine_chunks()
    assert isinstance(results, pa.ListArray)
    return results


def _child(array: pa.Array, name: str) -> pa.Array:
    """A struct array's field with the parent's nulls applied."""
    assert isinstance(array, pa.StructArray)
    return array.flatten()[array.type.get_field_index(name)]


def _flatten_columns(
    results: pa.ListArray, window: Window, *, load_id: str, loaded_at: datetime
) -> Flattened:
    """``flatten_response`` on columns; raises ``_NotDocumentedShapeError`` where the object path decides."""
    groups = results.flatten()  # a null `results` (``{}``) has no groups
    if groups.null_count:
        raise _NotDocumentedShapeError
    group = _child(groups, "group")
    queues, media = _child(group, "queueId"), _child(group, "mediaType")
    data = _child(groups, "data")
    buckets = data.flatten()
    if buckets.null_count:
        raise _NotDocumentedShapeError
    bucket_group = pc.list_parent_indices(data)
    intervals = _child(buckets, "interval")
    if intervals.null_count:
        raise _NotDocumentedShapeError
    metrics = _child(buckets, "metrics")
    entries = metrics.flatten()
    entry_bucket = pc.list_parent_indices(metrics)
    entry_group = pc.take(bucket_group, entry_bucket)

    # Every bucket's interval, each distinct string parsed once (and checked against the window).
    parser = _IntervalParser(window)
    distinct = pc.unique(intervals)
    parsed = [parser.parse(text) for text in distinct.to_pylist()]
    position = pc.index_in(intervals, value_set=distinct)
    bucket_days = pc.take(pa.array([p[0] for p in parsed], pa.int32()).cast(pa.date32()), position)
    bucket_starts = pc.take(pa.array([p[1] for p in parsed], pa.int64()), position)
    bucket_ends = pc.take(pa.array([p[2] for p in parsed], pa.int64()), position)

    attributed = pc.fill_null(pc.not_equal(queues, ""), False)
    unattributed_groups = len(attributed) - pc.sum(attributed).as_py() if len(attributed) else 0
    keep = pc.take(attributed, entry_group)
    kept_rows = pc.sum(keep).as_py() if len(keep) else 0
    unattributed_rows = len(keep) - (kept_rows or 0)
    _log_unattributed(window, unattributed_groups, unattributed_rows)
    if pc.filter(entries.is_null(), keep).true_count if len(keep) else 0:
        raise _NotDocumentedShapeError

    def kept(values: pa.Array) -> pa.Array:
        return values if unattributed_rows == 0 else pc.filter(values, keep)

    row_bucket = kept(entry_bucket)
    row_group = kept(entry_group)
    names = kept(_child(entries, "metric"))
    if names.null_count:
        raise _NotDocumentedShapeError

    schema = arrow_schema()
    rows = len(names)

    def constant(value: Any, name: str) -> pa.Array:
        return pa.repeat(pa.scalar(value, schema.field(name).type), rows)

    queue_ids = pc.take(queues, row_group)
    arrays: dict[str, pa.Array] = {
        "metric_date": pc.take(bucket_days, row_bucket),
        "interval_start": pc.take(bucket_starts, row_bucket).cast(schema.field("interval_start").type),
        "interval_end": pc.take(bucket_ends, row_bucket).cast(schema.field("interval_end").type),
        "time_zone": constant(window.time_zone, "time_zone"),
        "queue_id": queue_ids,
        "media_type": pc.take(media, row_group),
        "metric": names,
        "qualifier": kept(_child(entries, "qualifier")),
        "load_id": constant(load_id, "load_id"),
        "loaded_at": constant(loaded_at.astimezone(UTC), "loaded_at"),
        "loaded_date": constant(loaded_at.astimezone(ZoneInfo(window.time_zone)).date(), "loaded_date"),
    }
    stats = _child(entries, "stats")
    for key, column in settings.STAT_COLUMNS.items():
        values = kept(_child(stats, key))
        if pc.any(pc.is_nan(values)).as_py():  # NaN is not JSON: the object path refuses the body
            raise _NotDocumentedShapeError
        arrays[column] = values.cast(schema.field(column).type, safe=True)
    present = [key for key in sorted(_IGNORED_STATS) if _child(stats, key).null_count < len(stats)]
    if present:
        logger.debug("ignoring documented stats without a column: %s", ", ".join(present))
    bucket_triples = [bucket_days, pc.take(queues, bucket_group), pc.take(media, bucket_group)]
    if rows and _has_repeated_key(bucket_triples, row_bucket, names, arrays["qualifier"]):
        raise _NotDocumentedShapeError  # the object path names the repeated key
    table = pa.Table.from_arrays([arrays[field.name] for field in schema], schema=schema)
    return Flattened(
        table=table,
        unattributed_groups=unattributed_groups,
        unattributed_rows=unattributed_rows,
        unknown_stats=frozenset(),
        queue_ids=frozenset(pc.unique(queue_ids).to_pylist()),
    )


def _has_repeated_key(
    bucket_triples: Sequence[pa.Array], row_bucket: pa.Array, names: pa.Array, qualifiers: pa.Array
) -> bool:
    """True when two rows share (metric_date, queue_id, media_type, metric, qualifier).

    The rows of a bucket share its (day, queue, media type): the buckets' triples are numbered in
    Python (a few thousand), so each row's key is three small integers rather than five columns.
    """
    numbers: dict[tuple[Any, ...], int] = {}
    triple = [
        numbers.setdefault(key, len(numbers))
        for key in zip(*(a.to_pylist() for a in bucket_triples), strict=True)
    ]
    row_triple = np.asarray(triple, dtype=np.int64)[row_bucket.to_numpy(zero_copy_only=False)]
    metric = pc.dictionary_encode(names)
    qualifier = pc.dictionary_encode(qualifiers)
    metric_codes = metric.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    # Null qualifiers are one value of their own (code 0); the others count from 1.
    qualifier_codes = (
        pc.add(qualifier.indices, 1).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    )
    keys = (row_triple * (len(metric.dictionary) + 1) + metric_codes) * (len(qualifier.dictionary) + 1)
    keys += qualifier_codes
    return len(np.unique(keys)) != len(keys)
