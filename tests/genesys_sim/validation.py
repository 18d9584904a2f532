"""Strict validation of aggregates query bodies, answered with Genesys-shaped 400 errors."""

from __future__ import annotations

import calendar
import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import isodate
import numpy as np
import numpy.typing as npt

from genesys_etl.settings import allowed_values

INTERVAL_EXAMPLE = "2026-03-08T00:00:00.000-05:00/2026-03-09T00:00:00.000-04:00"
INSTANT_EXAMPLE = "2026-03-08T00:00:00.000-05:00"
GRANULARITY_EXAMPLES = '"PT15M", "PT30M", "PT1H", "P1D" or "P7D"'
SLOT_SECONDS = 900
MAX_BUCKETS = 100_000
# ConversationAggregationQuery's fields (reference/genesys-analytics-api.md "The aggregate query body").
QUERY_FIELDS: tuple[str, ...] = (
    "interval",
    "granularity",
    "timeZone",
    "groupBy",
    "filter",
    "metrics",
    "flattenMultivaluedDimensions",
    "views",
    "alternateTimeDimension",
    "queryType",
    "sortMetric",
    "limit",
)
FILTER_FIELDS: tuple[str, ...] = ("type", "clauses", "predicates")
PREDICATE_FIELDS: tuple[str, ...] = (
    "type",
    "dimension",
    "propertyType",
    "property",
    "metric",
    "operator",
    "value",
    "range",
)
_INTERVAL_HINT = (
    f'send one "interval": "start/end" (ISO-8601 instants with UTC offsets), e.g. "{INTERVAL_EXAMPLE}"'
)
_GROUP_BY_HINT = 'the field is called "groupBy", e.g. "groupBy": ["queueId", "mediaType"]'
# Fields people send that do not exist, with the fix (DESIGN.md "lint": the usual mistakes).
FIELD_HINTS: dict[str, str] = {
    "groupings": _GROUP_BY_HINT,
    "grouping": _GROUP_BY_HINT,
    "groupby": _GROUP_BY_HINT,
    "group_by": _GROUP_BY_HINT,
    "dateFrom": f'there are no "dateFrom"/"dateTo" fields: {_INTERVAL_HINT}',
    "dateTo": f'there are no "dateFrom"/"dateTo" fields: {_INTERVAL_HINT}',
    "startDate": f"there are no start/end date fields: {_INTERVAL_HINT}",
    "endDate": f"there are no start/end date fields: {_INTERVAL_HINT}",
    "from": f"there are no from/to fields: {_INTERVAL_HINT}",
    "to": f"there are no from/to fields: {_INTERVAL_HINT}",
    "timeGroup": 'the field is called "granularity" (an ISO-8601 duration), e.g. "granularity": "P1D"',
    "timeZoneId": 'the field is called "timeZone" (an IANA zone name), e.g. "timeZone": "America/New_York"',
    "timezone": 'the field is called "timeZone" (an IANA zone name), e.g. "timeZone": "America/New_York"',
    "time_zone": 'the field is called "timeZone" (an IANA zone name), e.g. "timeZone": "America/New_York"',
    "queryFilter": 'the field is called "filter", e.g. "filter": {"type": "and", "predicates": [...]}',
    "metric": 'the field is called "metrics" (a list), e.g. "metrics": ["nOffered", "tHandle"]',
}

Array = npt.NDArray[Any]


@dataclass(frozen=True)
class Problem:
    """One validation mistake.

    Attributes:
        field: the body path at fault (``interval``, ``filter.predicates[0].dimension`` …).
        message: what is wrong and how to fix it.
        code: the Genesys error code.
    """

    field: str
    message: str
    code: str = "bad.request"


class QueryError(Exception):
    """An aggregates body the API refuses (400)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(summarize(self.problems))


def summarize(problems: Sequence[Problem]) -> str:
    """Return one message for a list of problems (each names its field).

    Args:
        problems: at least one problem.
    """
    if len(problems) == 1:
        return problems[0].message
    numbered = " ".join(f"({i}) {p.message}" for i, p in enumerate(problems, start=1))
    return f"{len(problems)} problems in the query: {numbered}"


def error_body(
    status: int,
    code: str,
    message: str,
    context_id: str,
    problems: Sequence[Problem] = (),
    limit: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return a Genesys error body.

    Args:
        status: HTTP status.
        code: Genesys error code (``bad.request``, ``bad.credentials`` …).
        message: human-readable message.
        context_id: the correlation id of the request.
        problems: validation problems, listed in ``details`` and ``errors``.
        limit: the rate limit that was hit, for 429s.

    Returns:
        ``{"message", "code", "status", "contextId", "details", "errors", ...}``.
    """
    body: dict[str, Any] = {
        "message": message,
        "code": code,
        "status": status,
        "messageWithParams": message,
        "messageParams": {},
        "contextId": context_id,
        "details": [{"errorCode": p.code, "fieldName": p.field} for p in problems],
        "errors": [
            {
                "message": p.message,
                "code": p.code,
                "status": status,
                "messageWithParams": p.message,
                "messageParams": {"field": p.field},
                "details": [],
                "errors": [],
            }
            for p in problems
        ]
        if len(problems) > 1
        else [],
    }
    if limit is not None:
        body["limit"] = dict(limit)
    return body


@dataclass(frozen=True)
class Predicate:
    """A filter predicate on a dimension.

    Attributes:
        dimension: the dimension name.
        operator: ``matches``, ``exists`` or ``notExists``.
        value: the matched value (``matches`` only).
    """

    dimension: str
    operator: str
    value: str | None


@dataclass(frozen=True)
class FilterNode:
    """An ``and``/``or`` node of a filter.

    Attributes:
        type: ``and`` or ``or``.
        predicates: its predicates.
        clauses: nested nodes (one level below the top filter at most).
    """

    type: str
    predicates: tuple[Predicate, ...]
    clauses: tuple[FilterNode, ...]


@dataclass(frozen=True)
class Granularity:
    """An ISO-8601 duration split into calendar (local wall clock) and absolute parts.

    Attributes:
        text: as sent.
        months: calendar months.
        days: calendar days (weeks count 7).
        seconds: absolute seconds.
    """

    text: str
    months: int
    days: int
    seconds: int

    @property
    def calendar(self) -> bool:
        """Whether the buckets are calendar periods starting at local midnight."""
        return bool(self.months or self.days)


@dataclass(frozen=True)
class ParsedQuery:
    """A valid aggregates query.

    Attributes:
        start: interval start (UTC).
        end: interval end (UTC, exclusive).
        time_zone: IANA zone of the buckets.
        boundaries: bucket boundaries (UTC), one more than the buckets.
        metrics: requested metrics.
        group_by: requested dimensions.
        filter: the filter, if any.
    """

    start: datetime
    end: datetime
    time_zone: str
    boundaries: tuple[datetime, ...]
    metrics: tuple[str, ...]
    group_by: tuple[str, ...]
    filter: FilterNode | None


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).isoformat(timespec="milliseconds")


def _close(word: str, choices: Sequence[str]) -> str:
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if not matches:
        lowered = {c.lower(): c for c in choices}
        if word.lower() in lowered:
            matches = [lowered[word.lower()]]
    return f'; did you mean "{matches[0]}"?' if matches else ""


def _quote(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return f'"{text}"' if isinstance(value, str) else text


def resolve_local(naive: datetime, zone: ZoneInfo) -> datetime:
    """Attach ``zone`` to a wall-clock time; a time inside a DST gap moves to the first instant after it.

    Args:
        naive: a wall-clock time.
        zone: the zone.

    Returns:
        The aware instant.
    """
    aware = naive.replace(tzinfo=zone)
    roundtrip = aware.astimezone(UTC).astimezone(zone)
    if roundtrip.replace(tzinfo=None) != naive:
        return roundtrip
    return aware


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """Return the first instant of local ``day`` in ``zone``.

    Args:
        day: local date.
        zone: the zone.
    """
    return resolve_local(datetime.combine(day, time.min), zone)


def _add_months(naive: datetime, months: int) -> datetime:
    total = naive.month - 1 + months
    year, month = naive.year + total // 12, total % 12 + 1
    return naive.replace(year=year, month=month, day=min(naive.day, calendar.monthrange(year, month)[1]))


def step_boundary(boundary: datetime, granularity: Granularity, zone: ZoneInfo) -> datetime:
    """Return the next bucket boundary after ``boundary``.

    Calendar parts (months, days) move the local wall clock of ``zone`` (so a ``P1D`` bucket is 23 h
    or 25 h on DST days); the time part is absolute.

    Args:
        boundary: an aware instant.
        granularity: the bucket size.
        zone: the bucket time zone.
    """
    moment = boundary
    if granularity.calendar:
        wall = boundary.astimezone(zone).replace(tzinfo=None)
        wall = _add_months(wall, granularity.months) + timedelta(days=granularity.days)
        moment = resolve_local(wall, zone)
    return (moment + timedelta(seconds=granularity.seconds)).astimezone(UTC)


def parse_granularity(text: str) -> Granularity:
    """Parse an ISO-8601 duration such as ``PT15M``, ``P1D``, ``P1DT12H`` or ``P1M``.

    Args:
        text: the duration.

    Returns:
        The parsed granularity.

    Raises:
        ValueError: when it is not a positive ISO-8601 duration of whole days/months and seconds.
    """
    if not text.startswith("P") or text in ("P", "PT") or text.endswith("T"):
        raise ValueError(text)
    date_text, _, time_text = text.partition("T")
    months = days = seconds = 0
    if date_text != "P":
        parsed = isodate.parse_duration(date_text)
        if isinstance(parsed, isodate.Duration):
            whole = parsed.years * 12 + parsed.months
            if whole != int(whole):
                raise ValueError(text)
            months = int(whole)
            parsed = parsed.tdelta
        if parsed.seconds or parsed.microseconds:
            raise ValueError(text)
        days = parsed.days
    if time_text:
        parsed_time = isodate.parse_duration("PT" + time_text)
        if isinstance(parsed_time, isodate.Duration) or parsed_time.microseconds:
            raise ValueError(text)
        seconds = int(parsed_time.total_seconds())
    if months < 0 or days < 0 or seconds < 0 or not (months or days or seconds):
        raise ValueError(text)
    return Granularity(text=text, months=months, days=days, seconds=seconds)


class _Parser:
    """Collects every problem of one body."""

    def __init__(self, body: Mapping[str, Any], max_interval_days: int) -> None:
        self.body = body
        self.max_interval_days = max_interval_days
        self.allowed = allowed_values()
        self.problems: list[Problem] = []

    def add(self, field: str, message: str, code: str = "bad.request") -> None:
        self.problems.append(Problem(field=field, message=message, code=code))

    # ------------------------------------------------------------------------- fields
    def check_fields(self) -> None:
        for name in self.body:
            if name in QUERY_FIELDS:
                continue
            hint = FIELD_HINTS.get(name)
            if hint is None:
                close = _close(name, QUERY_FIELDS)
                hint = close[2:] if close else "allowed fields are " + ", ".join(QUERY_FIELDS)
            self.add(name, f'unknown field "{name}" in the aggregates query: {hint}')
        if "metrics" not in self.body:
            self.add(
                "metrics",
                'missing required field "metrics": list the metrics to compute, '
                'e.g. "metrics": ["nOffered", "tAnswered", "tHandle"]',
            )
        if "interval" not in self.body:
            self.add(
                "interval",
                'missing required field "interval": an ISO-8601 interval "start/end" with UTC offsets '
                f'is required, e.g. "{INTERVAL_EXAMPLE}"',
                "invalid.date",
            )

    def parse_instant(self, text: str, which: str) -> datetime | None:
        if text.startswith("P"):
            self.add(
                "interval",
                f'"interval" uses a duration ("{text}") as its {which}: an ISO-8601 interval with explicit '
                f'"start/end" instants is required, e.g. "{INTERVAL_EXAMPLE}"',
                "invalid.date",
            )
            return None
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            self.add(
                "interval",
                f'"interval" {which} "{text}" is not an ISO-8601 date-time: '
                f'write it like "{INSTANT_EXAMPLE}"',
                "invalid.date",
            )
            return None
        if moment.tzinfo is None or moment.utcoffset() is None:
            self.add(
                "interval",
                f'"interval" {which} "{text}" has no UTC offset: add one ("Z", "+00:00", "-05:00"), '
                f'e.g. "{INSTANT_EXAMPLE}"',
                "invalid.date",
            )
            return None
        return moment

    def parse_interval(self) -> tuple[datetime, datetime] | None:
        value = self.body.get("interval")
        if value is None or "interval" not in self.body:
            return None
        if not isinstance(value, str):
            self.add(
                "interval",
                f'"interval" must be a string: an ISO-8601 interval "start/end", e.g. "{INTERVAL_EXAMPLE}" '
                f"(got {_quote(value)})",
                "invalid.date",
            )
            return None
        parts = value.split("/")
        if len(parts) != 2 or not all(parts):
            kind = "a duration, not an interval" if value.strip().startswith("P") else "not an interval"
            self.add(
                "interval",
                f'"interval" is "{value}", {kind}: an ISO-8601 interval "start/end" with UTC offsets is '
                f'required, e.g. "{INTERVAL_EXAMPLE}"',
                "invalid.date",
            )
            return None
        start = self.parse_instant(parts[0], "start")
        end = self.parse_instant(parts[1], "end")
        if start is None or end is None:
            return None
        if end < start:
            self.add(
                "interval",
                f'"interval" ends ({parts[1]}) before it starts ({parts[0]}): '
                'write "start/end" with the start first',
                "invalid.date",
            )
            return None
        if end == start:
            self.add(
                "interval", f'"interval" "{value}" is empty: its end must be after its start', "invalid.date"
            )
            return None
        return start, end

    def parse_names(
        self, field: str, choices: Sequence[str], example: str, *, required: bool
    ) -> tuple[str, ...]:
        if field not in self.body:
            return ()
        value = self.body[field]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.add(field, f'"{field}" must be a list of names, e.g. "{field}": {example} (got {value!r})')
            return ()
        if required and not value:
            self.add(field, f'"{field}" is empty: list at least one, e.g. "{field}": {example}')
            return ()
        names: list[str] = []
        noun = "metric" if field == "metrics" else field
        for name in value:
            if name not in choices:
                self.add(
                    field,
                    f'unknown {noun} "{name}" in "{field}"{_close(name, choices)} '
                    f"(the allowed values are in genesys_etl/aggregates_enums.json; e.g. {example})",
                    "invalid.value",
                )
            elif name in names:
                self.add(field, f'"{name}" is listed twice in "{field}": list each once', "invalid.value")
            else:
                names.append(name)
        return tuple(names)

    def parse_time_zone(self) -> ZoneInfo | None:
        value = self.body.get("timeZone", "UTC")
        hint = 'use an IANA zone name such as "America/New_York", "Europe/London" or "UTC"'
        if not isinstance(value, str) or not value:
            self.add("timeZone", f'"timeZone" must be a string: {hint} (got {value!r})', "invalid.value")
            return None
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            self.add("timeZone", f'unknown "timeZone" "{value}": {hint}', "invalid.value")
            return None

    def parse_granularity(self) -> Granularity | None:
        if "granularity" not in self.body:
            return None
        value = self.body["granularity"]
        if not isinstance(value, str):
            self.add(
                "granularity",
                f'"granularity" must be an ISO-8601 duration string such as {GRANULARITY_EXAMPLES} '
                f"(got {value!r})",
                "invalid.value",
            )
            return None
        try:
            granularity = parse_granularity(value)
        except (ValueError, isodate.ISO8601Error, TypeError, AttributeError):
            self.add(
                "granularity",
                f'"granularity" "{value}" is not a positive ISO-8601 duration: '
                f"use e.g. {GRANULARITY_EXAMPLES}",
                "invalid.value",
            )
            return None
        if granularity.seconds % SLOT_SECONDS:
            self.add(
                "granularity",
                f'"granularity" "{value}" is not a whole number of 15-minute periods (the finest the '
                f"simulated data has): use e.g. {GRANULARITY_EXAMPLES}",
                "invalid.value",
            )
            return None
        return granularity

    def check_span(self, start: datetime, end: datetime, zone: ZoneInfo) -> bool:
        # A week of local days across a DST change lasts 7 days ± 1 hour: accept an interval that is
        # within the limit either in absolute time or in the wall time of timeZone.
        limit = timedelta(days=self.max_interval_days)
        wall = end.astimezone(zone).replace(tzinfo=None) - start.astimezone(zone).replace(tzinfo=None)
        if wall <= limit or end - start <= limit:
            return True
        days = wall / timedelta(days=1)
        hint = ""
        if end.replace(tzinfo=None) - start.replace(tzinfo=None) <= limit:
            hint = ' (its own offsets span fewer days: set "timeZone" to the zone they belong to)'
        self.add(
            "interval",
            f'"interval" spans {days:g} days of wall time in timeZone "{zone.key}"{hint}; the maximum is '
            f"{self.max_interval_days} days: split the query into windows of at most "
            f"{self.max_interval_days} days",
            "invalid.date",
        )
        return False

    def tile(
        self, start: datetime, end: datetime, zone: ZoneInfo, granularity: Granularity | None
    ) -> tuple[datetime, ...] | None:
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if granularity is None:
            return (start, end)
        local_start = start.astimezone(zone)
        midnight = local_midnight(local_start.date(), zone)
        where = f'the interval in timeZone "{zone.key}"'
        if granularity.calendar and local_start != midnight:
            self.add(
                "granularity",
                f'"granularity" "{granularity.text}" does not tile {where}: its buckets start at '
                f"local midnight, but the interval starts at {_local(start, zone)} local time; start the "
                f'interval at local midnight (e.g. "{_local(midnight, zone)}") or set "timeZone" to the zone '
                "of the interval offsets",
                "invalid.value",
            )
            return None
        if not granularity.calendar and (local_start - midnight).total_seconds() % granularity.seconds:
            self.add(
                "granularity",
                f'"granularity" "{granularity.text}" does not tile {where}: its buckets start at '
                f"local midnight plus whole multiples of {granularity.text}, but the interval starts at "
                f"{_local(start, zone)}",
                "invalid.value",
            )
            return None
        boundaries = [start]
        while boundaries[-1] < end and len(boundaries) <= MAX_BUCKETS:
            boundaries.append(step_boundary(boundaries[-1], granularity, zone))
        if boundaries[-1] != end:
            before = boundaries[-2].astimezone(zone).isoformat(timespec="milliseconds")
            after = boundaries[-1].astimezone(zone).isoformat(timespec="milliseconds")
            self.add(
                "granularity",
                f'"granularity" "{granularity.text}" does not tile {where}: buckets end at '
                f"{before} and then {after}, but the interval ends at "
                f"{end.astimezone(zone).isoformat(timespec='milliseconds')}; make the interval a whole "
                f"number of {granularity.text} buckets",
                "invalid.value",
            )
            return None
        return tuple(boundaries)

    # ------------------------------------------------------------------------- filter
    def parse_filter(self, value: Any, path: str, depth: int) -> FilterNode | None:
        if not isinstance(value, dict):
            self.add(
                path,
                f'"{path}" must be an object {{"type": "and"|"or", "predicates": [...], "clauses": [...]}}',
            )
            return None
        for name in value:
            if name not in FILTER_FIELDS:
                self.add(
                    f"{path}.{name}",
                    f'unknown field "{name}" in "{path}"{_close(name, FILTER_FIELDS)} '
                    "(allowed: type, predicates, clauses)",
                )
        node_type = value.get("type")
        if node_type not in self.allowed["filter_types"]:
            self.add(
                f"{path}.type", f'"{path}.type" must be "and" or "or" (got {node_type!r})', "invalid.value"
            )
        predicates_value = value.get("predicates", [])
        clauses_value = value.get("clauses", [])
        if not isinstance(predicates_value, list):
            self.add(f"{path}.predicates", f'"{path}.predicates" must be a list of predicates')
            predicates_value = []
        if not isinstance(clauses_value, list):
            self.add(f"{path}.clauses", f'"{path}.clauses" must be a list of clauses')
            clauses_value = []
        if not predicates_value and not clauses_value:
            self.add(path, f'"{path}" has no "predicates" and no "clauses": give at least one predicate')
        if clauses_value and depth >= 1:
            self.add(
                f"{path}.clauses",
                f'"{path}.clauses": filters nest at most two levels (filter → clauses → predicates)',
            )
            clauses_value = []
        predicates = [
            self.parse_predicate(p, f"{path}.predicates[{i}]") for i, p in enumerate(predicates_value)
        ]
        clauses = [
            self.parse_filter(c, f"{path}.clauses[{i}]", depth + 1) for i, c in enumerate(clauses_value)
        ]
        if any(p is None for p in predicates) or any(c is None for c in clauses):
            return None
        return FilterNode(
            type=str(node_type),
            predicates=tuple(p for p in predicates if p is not None),
            clauses=tuple(c for c in clauses if c is not None),
        )

    def parse_predicate(self, value: Any, path: str) -> Predicate | None:
        if not isinstance(value, dict):
            self.add(
                path, f'"{path}" must be an object {{"dimension": ..., "operator": "matches", "value": ...}}'
            )
            return None
        ok = True
        for name in value:
            if name not in PREDICATE_FIELDS:
                self.add(
                    f"{path}.{name}", f'unknown field "{name}" in "{path}"{_close(name, PREDICATE_FIELDS)}'
                )
                ok = False
        kind = value.get("type", "dimension")
        if kind not in self.allowed["predicate_types"]:
            self.add(
                f"{path}.type",
                f'"{path}.type" must be one of {self.allowed["predicate_types"]} (got {kind!r})',
                "invalid.value",
            )
            return None
        if kind != "dimension":
            self.add(
                f"{path}.type",
                f'"{path}.type" "{kind}" is valid for Genesys Cloud but not implemented by this simulator: '
                "filter on dimensions (queueId, mediaType, direction)",
            )
            return None
        dimension = value.get("dimension")
        dimensions = self.allowed["filter_dimensions"]
        if not isinstance(dimension, str):
            self.add(
                f"{path}.dimension",
                f'"{path}.dimension" is required: a dimension name such as "queueId" or "mediaType"',
            )
            ok = False
        elif dimension not in dimensions:
            self.add(
                f"{path}.dimension",
                f'unknown filter dimension "{dimension}" in "{path}.dimension"'
                f"{_close(dimension, dimensions)}",
                "invalid.value",
            )
            ok = False
        operator = value.get("operator", "matches")
        if operator not in self.allowed["operators"]:
            self.add(
                f"{path}.operator",
                f'"{path}.operator" must be one of {self.allowed["operators"]} (got {operator!r})',
                "invalid.value",
            )
            ok = False
        matched = value.get("value")
        if operator == "matches" and not isinstance(matched, str):
            self.add(
                f"{path}.value",
                f'"{path}.value" is required with operator "matches": the value to match, a string',
            )
            ok = False
        if not ok:
            return None
        return Predicate(
            dimension=str(dimension), operator=str(operator), value=matched if operator == "matches" else None
        )

    # ------------------------------------------------------------------------- other fields
    def check_others(self) -> None:
        if "flattenMultivaluedDimensions" in self.body and not isinstance(
            self.body["flattenMultivaluedDimensions"], bool
        ):
            self.add("flattenMultivaluedDimensions", '"flattenMultivaluedDimensions" must be true or false')
        if "alternateTimeDimension" in self.body:
            value = self.body["alternateTimeDimension"]
            if value not in self.allowed["alternate_time_dimensions"]:
                self.add(
                    "alternateTimeDimension",
                    f'"alternateTimeDimension" must be one of {self.allowed["alternate_time_dimensions"]} '
                    f"(got {value!r})",
                    "invalid.value",
                )
        if "queryType" in self.body:
            value = self.body["queryType"]
            if value not in self.allowed["query_types"]:
                self.add(
                    "queryType",
                    f'"queryType" must be one of {self.allowed["query_types"]} (got {value!r})',
                    "invalid.value",
                )
            elif value != "groupBy":
                self.add(
                    "queryType",
                    f'"queryType" "{value}" is valid for Genesys Cloud but not implemented by this '
                    'simulator: use "groupBy"',
                )
        if "views" in self.body:
            self.add(
                "views",
                '"views" are valid for Genesys Cloud but not implemented by this simulator: leave them out',
            )
        if "limit" in self.body and (
            not isinstance(self.body["limit"], int)
            or isinstance(self.body["limit"], bool)
            or self.body["limit"] < 1
        ):
            self.add("limit", '"limit" must be a positive integer')
        if "sortMetric" in self.body and not isinstance(self.body["sortMetric"], dict):
            self.add("sortMetric", '"sortMetric" must be an object {"metric": ..., "function": ...}')

    def parse(self) -> ParsedQuery:
        self.check_fields()
        interval = self.parse_interval()
        metrics = self.parse_names(
            "metrics", self.allowed["metrics"], '["nOffered", "tHandle"]', required=True
        )
        group_by = self.parse_names(
            "groupBy", self.allowed["groupBy"], '["queueId", "mediaType"]', required=False
        )
        zone = self.parse_time_zone()
        granularity = self.parse_granularity()
        node = self.parse_filter(self.body["filter"], "filter", 0) if "filter" in self.body else None
        self.check_others()
        boundaries = None
        granularity_usable = granularity is not None or "granularity" not in self.body
        if (
            interval is not None
            and zone is not None
            and self.check_span(*interval, zone)
            and granularity_usable
        ):
            boundaries = self.tile(*interval, zone, granularity)
        if self.problems or interval is None or zone is None or boundaries is None:
            raise QueryError(self.problems)
        return ParsedQuery(
            start=boundaries[0],
            end=boundaries[-1],
            time_zone=zone.key,
            boundaries=boundaries,
            metrics=metrics,
            group_by=group_by,
            filter=node,
        )


def parse_query(body: Any, *, max_interval_days: int) -> ParsedQuery:
    """Validate an aggregates body as strictly as the reference describes.

    Args:
        body: the decoded JSON body.
        max_interval_days: the longest interval accepted (days of ``timeZone`` wall time).

    Returns:
        The parsed query.

    Raises:
        QueryError: listing every problem found (each names its field and the fix).
    """
    if not isinstance(body, dict):
        raise QueryError(
            [
                Problem(
                    "body",
                    f"the request body must be a JSON object (got a JSON {type(body).__name__}): "
                    f'e.g. {{"interval": "{INTERVAL_EXAMPLE}", "metrics": ["nOffered"]}}',
                )
            ]
        )
    return _Parser(body, max_interval_days).parse()


def evaluate_filter(node: FilterNode, values_of: Callable[[str], Array]) -> Array:
    """Evaluate a filter over the simulated data's units.

    Args:
        node: the filter.
        values_of: dimension name → object array of that dimension's value per unit (None: absent).

    Returns:
        Boolean array: which units pass.
    """
    results = [_evaluate_predicate(p, values_of) for p in node.predicates]
    results += [evaluate_filter(c, values_of) for c in node.clauses]
    combined = results[0].copy()
    for result in results[1:]:
        combined = combined & result if node.type == "and" else combined | result
    return combined


def _evaluate_predicate(predicate: Predicate, values_of: Callable[[str], Array]) -> Array:
    values = values_of(predicate.dimension)
    present = np.vectorize(lambda v: v is not None, otypes=[bool])(values)
    if predicate.operator == "exists":
        return np.asarray(present)
    if predicate.operator == "notExists":
        return np.asarray(~present)
    return np.asarray(values == predicate.value, dtype=bool)
