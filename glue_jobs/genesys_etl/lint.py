"""Offline checks of a hand-written aggregates query body, each problem with its fix."""

from __future__ import annotations

import json
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import isodate

from genesys_etl import settings
from genesys_etl.config import check_time_zone, closest_match
from genesys_etl.errors import ConfigError
from genesys_etl.windows import Window, format_instant, local_midnight, midnight_exists, today_in

# Top-level fields of ConversationAggregationQuery (reference/genesys-analytics-api.md).
_BODY_FIELDS: tuple[str, ...] = (
    "interval",
    "metrics",
    "granularity",
    "timeZone",
    "groupBy",
    "filter",
    "flattenMultivaluedDimensions",
    "views",
    "alternateTimeDimension",
    "queryType",
    "sortMetric",
    "limit",
)
# Names people reach for that Genesys does not have, and the field that does the job.
_RENAMED: dict[str, str] = {
    "groupings": "groupBy",
    "grouping": "groupBy",
    "groupby": "groupBy",
    "group_by": "groupBy",
    "groups": "groupBy",
    "dimensions": "groupBy",
    "dateFrom": "interval",
    "dateTo": "interval",
    "startDate": "interval",
    "endDate": "interval",
    "from": "interval",
    "to": "interval",
    "start": "interval",
    "end": "interval",
    "timeGroup": "granularity",
    "timegroup": "granularity",
    "bucket": "granularity",
    "queryFilter": "filter",
    "filters": "filter",
    "where": "filter",
    "timezone": "timeZone",
    "time_zone": "timeZone",
    "tz": "timeZone",
    "metric": "metrics",
    "metricNames": "metrics",
}
_DATE_FIELDS = frozenset(name for name, target in _RENAMED.items() if target == "interval")
_FILTER_KEYS = frozenset({"type", "clauses", "predicates"})
_CLAUSE_KEYS = frozenset({"type", "predicates"})
_PREDICATE_KEYS = frozenset(
    {"type", "dimension", "propertyType", "property", "metric", "operator", "value", "range"}
)
_MAX_VIEWS = 10
_MAX_BUCKETS = 100_000
_DURATION = re.compile(
    r"P(?!$)(?:\d+Y)?(?:\d+M)?(?:\d+W)?(?:\d+D)?(?:T(?=\d)(?:\d+H)?(?:\d+M)?(?:\d+(?:[.,]\d+)?S)?)?",
    re.IGNORECASE,
)
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
_EXAMPLE_INSTANT = "2026-03-08T00:00:00.000-05:00"
# A body with thousands of mistakes is one mistake repeated: list the first ones, count the rest.
MAX_LISTED_PROBLEMS = 50


@dataclass(frozen=True)
class Problem:
    """One mistake in an aggregates body.

    Attributes:
        field: where it is, as a path (``interval``, ``metrics[2]``, ``filter.predicates[0].dimension``).
        message: what is wrong.
        fix: what to write instead.
    """

    field: str
    message: str
    fix: str


def format_problems(problems: Sequence[Problem], *, limit: int = MAX_LISTED_PROBLEMS) -> str:
    """Render problems for a person: one block per problem, the fix under it, at most ``limit`` of them.

    Args:
        problems: from ``lint_body``.
        limit: most problems listed; the rest are counted in one last line.

    Returns:
        Text without a trailing newline; a one-line all-clear when there are none.
    """
    if not problems:
        return "no problems found: the body matches the aggregates query schema and allowed values"
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found:"
    lines = [count]
    for problem in problems[:limit]:
        lines.append(f"- {problem.field}: {problem.message}")
        lines.append(f"  fix: {problem.fix}")
    if len(problems) > limit:
        lines.append(f"… and {len(problems) - limit} more (fix the first ones and lint again)")
    return "\n".join(lines)


def lint_bytes(data: bytes, *, today: date | None = None) -> list[Problem]:
    """Decode a file's bytes as UTF-8 JSON text and lint the body it holds.

    Args:
        data: the file or stdin contents, any bytes.
        today: as for ``lint_text``.

    Returns:
        Every problem found; one problem when the bytes are not UTF-8 text.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        message = f"not UTF-8 text: byte 0x{data[err.start]:02x} at offset {err.start} (JSON is UTF-8)"
        fix = (
            "save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8 body.json), or check it is the right file"
        )
        return [Problem("(body)", message, fix)]
    return lint_text(text, today=today)


def lint_text(text: str, *, today: date | None = None) -> list[Problem]:
    """Parse JSON text and lint the body it holds.

    Args:
        text: the file or stdin contents.
        today: the date suggestions are relative to (default: today in the body's time zone).

    Returns:
        Every problem found; empty when the body is clean.
    """
    fix = 'write one JSON object, e.g. {"interval": "…/…", "metrics": ["nOffered"]}'
    try:
        body = json.loads(text)
    except json.JSONDecodeError as err:
        message = f"not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}"
        return [Problem("(body)", message, fix)]
    except RecursionError:
        message = "nested too deeply to read (an aggregates body is at most a few levels deep)"
        return [Problem("(body)", message, fix)]
    return lint_body(body, today=today)


def lint_body(body: object, *, today: date | None = None) -> list[Problem]:
    """Check an aggregates query body offline against the schema and allowed values.

    Args:
        body: the parsed JSON.
        today: the date suggested intervals end before (default: today in the body's time zone).

    Returns:
        Every problem found, in field order; empty when the body is clean.
    """
    if not isinstance(body, Mapping):
        kind = type(body).__name__ if body is not None else "null"
        fix = (
            '{"interval": "2026-03-08T00:00:00.000-05:00/2026-03-09T00:00:00.000-04:00", '
            '"granularity": "P1D", "timeZone": "America/New_York", "groupBy": ["queueId"], '
            '"metrics": ["nOffered"]}'
        )
        return [Problem("(body)", f"the body must be a JSON object, not {_json_kind(kind)}", fix)]
    return _Linter(body, today).run()


def _json_kind(kind: str) -> str:
    names = {
        "list": "an array",
        "str": "a string",
        "int": "a number",
        "float": "a number",
        "bool": "a boolean",
    }
    return names.get(kind, kind)


def _pair(name: str, value: object) -> str:
    return f"{json.dumps(name)}: {json.dumps(value)}"


def _is_duration(text: str) -> bool:
    return bool(_DURATION.fullmatch(text.strip()))


def _parse_instant(text: str) -> datetime | None:
    """Parse an ISO-8601 date or date-time; naive when it has no offset, None when unparseable."""
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        pass
    try:
        parsed: datetime = isodate.parse_datetime(text.strip())
    except (ValueError, isodate.ISO8601Error):
        return None
    return parsed


class _Linter:
    """One pass over one body; collects problems in order."""

    def __init__(self, body: Mapping[str, Any], today: date | None) -> None:
        self.body = body
        self.problems: list[Problem] = []
        zone = body.get("timeZone")
        self.zone_given = isinstance(zone, str) and _valid_zone(zone)
        self.zone: str = zone if self.zone_given and isinstance(zone, str) else "UTC"
        self.today = today if today is not None else today_in(self.zone)
        self.start: datetime | None = None
        self.end: datetime | None = None

    def add(self, field: str, message: str, fix: str) -> None:
        self.problems.append(Problem(field, message, fix))

    def run(self) -> list[Problem]:
        self.check_fields()
        self.check_interval()
        self.check_time_zone()
        self.check_granularity()
        self.check_metrics()
        self.check_group_by()
        self.check_filter()
        self.check_options()
        return self.problems

    # --- suggestions -------------------------------------------------------------------------
    def days_ending_yesterday(self, days: int) -> Window:
        yesterday = self.today - timedelta(days=1)
        return Window(yesterday - timedelta(days=days - 1), yesterday, self.zone)

    def interval_fix(self, window: Window, why: str = "") -> str:
        zone_note = f' with "timeZone": "{self.zone}"' if self.zone != "UTC" or self.zone_given else " (UTC)"
        days = "1 day" if window.day_count == 1 else f"{window.day_count} days"
        text = f"{_pair('interval', window.interval)} — {days} {window}{zone_note}"
        return f"{text}; {why}" if why else text

    # --- fields ------------------------------------------------------------------------------
    def check_fields(self) -> None:
        for name in self.body:
            if name in _BODY_FIELDS:
                continue
            target = _RENAMED.get(name) or _RENAMED.get(name.lower() if isinstance(name, str) else name)
            if target == "interval":
                self.add(name, f"{name!r} does not exist in the aggregates query", self.date_field_fix())
            elif target is not None:
                fix = f"rename {name!r} to {target!r}"
                if target in self.body:
                    fix = f"remove {name!r}; {target!r} is already there"
                elif target == "groupBy":
                    fix = f'{_pair("groupBy", self.body[name])} — e.g. ["queueId", "mediaType"]'
                self.add(name, f"{name!r} does not exist in the aggregates query", fix)
            else:
                hint = closest_match(str(name), _BODY_FIELDS)
                fix = (
                    f"did you mean {hint!r}?"
                    if hint
                    else f"remove it; the fields are {', '.join(_BODY_FIELDS)}"
                )
                self.add(str(name), f"unknown field {name!r}", fix)

    def date_field_fix(self) -> str:
        """Build the interval that dateFrom/dateTo (or startDate/endDate, from/to) meant."""
        begin = next(
            (self.body[k] for k in ("dateFrom", "startDate", "from", "start") if k in self.body), None
        )
        finish = next((self.body[k] for k in ("dateTo", "endDate", "to", "end") if k in self.body), None)
        start = self.instant_or_midnight(begin, end_of_day=False)
        end = self.instant_or_midnight(finish, end_of_day=True)
        if start is not None and end is not None and end > start:
            interval = f"{format_instant(start)}/{format_instant(end)}"
            return f"one field {_pair('interval', interval)} (ISO-8601 start/end, end exclusive)"
        window = self.days_ending_yesterday(1)
        return f"one field 'interval' = start/end, e.g. {self.interval_fix(window)}"

    def instant_or_midnight(self, value: object, *, end_of_day: bool) -> datetime | None:
        if not isinstance(value, str):
            return None
        text = value.strip()
        if _DATE_ONLY.fullmatch(text):
            try:
                day = date.fromisoformat(text)
            except ValueError:
                return None
            # A bare end date is read as the last day to include: the interval ends the midnight after.
            return local_midnight(day + timedelta(days=1) if end_of_day else day, self.zone)
        moment = _parse_instant(text)
        if moment is None:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zoneinfo.ZoneInfo(self.zone))
        return moment

    # --- interval ----------------------------------------------------------------------------
    def check_interval(self) -> None:
        if "interval" not in self.body:
            if not any(name in self.body for name in _DATE_FIELDS):
                fix = self.interval_fix(self.days_ending_yesterday(1), "an ISO-8601 start/end is required")
                self.add("interval", "missing: every aggregates query needs an interval", fix)
            return
        value = self.body["interval"]
        if not isinstance(value, str):
            fix = self.interval_fix(self.days_ending_yesterday(1), "one string, not a list or object")
            self.add("interval", f"must be an ISO-8601 'start/end' string, not {json.dumps(value)}", fix)
            return
        text = value.strip()
        if _is_duration(text):
            self.duration_as_interval(text)
            return
        parts = text.split("/")
        if len(parts) != 2:
            moment = self.instant_or_midnight(text, end_of_day=False)
            if len(parts) == 1 and moment is not None:
                day = moment.astimezone(zoneinfo.ZoneInfo(self.zone)).date()
                fix = self.interval_fix(Window(day, day, self.zone), "the day that begins there")
                self.add("interval", f"{text!r} is a single instant, not an interval 'start/end'", fix)
            else:
                fix = self.interval_fix(self.days_ending_yesterday(1))
                self.add("interval", f"{text!r} is not an ISO-8601 interval 'start/end'", fix)
            return
        start_text, end_text = parts[0].strip(), parts[1].strip()
        if _is_duration(start_text) or _is_duration(end_text):
            self.duration_in_interval(start_text, end_text)
            return
        start = self.bound(start_text, "start")
        end = self.bound(end_text, "end")
        if start is None or end is None:
            return
        # Aware datetimes sharing a ZoneInfo compare and subtract in wall time: compare in UTC.
        if _utc(end) <= _utc(start):
            if _utc(end) < _utc(start):
                fix = _pair("interval", f"{format_instant(end)}/{format_instant(start)}") + " (start first)"
                self.add("interval", f"the end {end_text!r} is before the start {start_text!r}", fix)
            else:
                fix = self.interval_fix(self.days_ending_yesterday(1), "the end is exclusive")
                self.add("interval", "start and end are the same instant: the interval is empty", fix)
            return
        self.start, self.end = start, end
        days = (_utc(end) - _utc(start)) / timedelta(days=1)
        if days > settings.MAX_DAYS_PER_QUERY + 1 / 24:  # a 25-hour DST day is still one day
            fix = (
                f"split it into intervals of at most {settings.MAX_DAYS_PER_QUERY} days "
                "(`genesys-etl plan --start-date … --end-date …` prints them)"
            )
            message = (
                f"spans {days:g} days; Genesys rejects aggregate intervals over "
                f"{settings.MAX_DAYS_PER_QUERY} days (a 400 in practice)"
            )
            self.add("interval", message, fix)

    def bound(self, text: str, which: str) -> datetime | None:
        moment = _parse_instant(text)
        if moment is None:
            fix = f"write an ISO-8601 date-time with offset, e.g. {_EXAMPLE_INSTANT} or …T05:00:00.000Z"
            self.add("interval", f"the {which} {text!r} cannot be parsed as an ISO-8601 date-time", fix)
            return None
        if moment.tzinfo is not None:
            return moment
        localized = self.instant_or_midnight(text, end_of_day=False)
        assert localized is not None  # parsed above
        where = f"in {self.zone}" if self.zone_given else "in UTC (no timeZone given)"
        kind = "a date without time or offset" if _DATE_ONLY.fullmatch(text) else "without a UTC offset"
        fix = f"write it with its offset: {format_instant(localized)} ({where}), or in UTC ending with Z"
        if _DATE_ONLY.fullmatch(text) and which == "end":
            fix += "; the end is exclusive: the midnight after the last day to include"
        self.add("interval", f"the {which} {text!r} is {kind}; Genesys needs an offset or Z", fix)
        return localized

    def duration_as_interval(self, text: str) -> None:
        length = _duration_length(text)
        days = round(length / timedelta(days=1)) if length is not None else 1
        whole_days = length is not None and length == timedelta(days=days) and days >= 1
        window = self.days_ending_yesterday(min(days, settings.MAX_DAYS_PER_QUERY) if whole_days else 1)
        which = (
            "the last full day (yesterday)"
            if window.day_count == 1
            else f"the {window.day_count} days to yesterday"
        )
        message = (
            f"{text!r} is a duration, not an interval: Genesys needs an ISO-8601 'start/end' "
            "(this is the usual cause of a 400 on aggregates/query)"
        )
        self.add("interval", message, self.interval_fix(window, f"{which}, local midnight to midnight"))

    def duration_in_interval(self, start_text: str, end_text: str) -> None:
        fix = self.interval_fix(self.days_ending_yesterday(1))
        if not _is_duration(start_text):
            start = self.instant_or_midnight(start_text, end_of_day=False)
            length = _duration_length(end_text)
            if start is not None and length is not None:
                end = start + length
                fix = _pair("interval", f"{format_instant(start)}/{format_instant(end)}")
        message = "'start/duration' and 'duration/end' are undocumented for this call; send 'start/end'"
        self.add("interval", message, fix)

    # --- time zone and granularity -----------------------------------------------------------
    def check_time_zone(self) -> None:
        if "timeZone" not in self.body:
            return
        value = self.body["timeZone"]
        try:
            check_time_zone(value, "timeZone")
        except ConfigError as err:
            hint = closest_match(str(value), sorted(zoneinfo.available_timezones()))
            fix = (
                _pair("timeZone", hint) if hint else _pair("timeZone", "America/New_York") + " (an IANA name)"
            )
            self.add("timeZone", err.message.split(";")[0], fix)

    def check_granularity(self) -> None:
        if "granularity" not in self.body:
            return
        value = self.body["granularity"]
        if (
            not isinstance(value, str)
            or _parse_duration(value) is None
            or value.strip().upper() in ("P", "PT")
        ):
            fix = f"{_pair('granularity', 'P1D')} for daily buckets (or PT15M, PT30M, PT1H, P7D, P1M)"
            self.add("granularity", f"{json.dumps(value)} is not an ISO-8601 duration", fix)
            return
        length = _duration_length(value)
        if length is not None and length <= timedelta(0):
            self.add("granularity", f"{value!r} is an empty duration", f"{_pair('granularity', 'P1D')}")
            return
        if self.start is None or self.end is None:
            return
        if "T" not in value.strip().upper() and self.midnight_gap_in_interval():
            return
        if not self.tiles(value.strip().upper(), self.start, self.end):
            self.granularity_does_not_tile(value)

    def midnight_gap_in_interval(self) -> bool:
        """Flag calendar buckets over a day whose local midnight the zone skips; True when flagged.

        Where Genesys puts a ``P1D`` boundary after a skipped midnight is documented nowhere (a
        ``ZonedDateTime.plusDays`` reading drifts every later bucket to 01:00), so such a day must be
        asked for on its own, without granularity (one bucket: the whole interval).
        """
        assert self.start is not None
        assert self.end is not None
        zone = zoneinfo.ZoneInfo(self.zone)
        day = self.start.astimezone(zone).date()
        for _ in range(_MAX_BUCKETS):
            first_instant = local_midnight(day, self.zone)
            if _utc(first_instant) >= _utc(self.end):
                return False
            if _utc(first_instant) >= _utc(self.start) and not midnight_exists(day, self.zone):
                window = Window(day, day, self.zone)
                message = (
                    f"{day} has no local midnight in {self.zone} (the clocks skip from 00:00 to "
                    f"{first_instant:%H:%M}); where Genesys puts calendar buckets after it is undocumented"
                )
                fix = (
                    f"ask for {day} on its own and leave granularity out (one bucket, the whole day): "
                    f"{_pair('interval', window.interval)}; query the other days separately"
                )
                self.add("granularity", message, fix)
                return True
            day += timedelta(days=1)
        return False

    def tiles(self, granularity: str, start: datetime, end: datetime) -> bool:
        zone = zoneinfo.ZoneInfo(self.zone)
        if "T" not in granularity:
            # Calendar buckets (days, weeks, months) start at local midnight in timeZone.
            local_start = start.astimezone(zone)
            if local_start.time() != datetime.min.time():
                return False
            step = isodate.parse_duration(granularity)
            naive = local_start.replace(tzinfo=None)
            for count in range(1, _MAX_BUCKETS):
                boundary = local_midnight((naive + step * count).date(), self.zone)
                if _utc(boundary) >= _utc(end):
                    return _utc(boundary) == _utc(end)
            return False
        length = _duration_length(granularity)
        if length is None or length <= timedelta(0):
            return False
        return (_utc(end) - _utc(start)) % length == timedelta(0)

    def granularity_does_not_tile(self, granularity: str) -> None:
        assert self.start is not None
        assert self.end is not None
        zone = zoneinfo.ZoneInfo(self.zone)
        local_start, local_end = self.start.astimezone(zone), self.end.astimezone(zone)
        where = f"{self.zone}" if self.zone_given else "UTC (the default timeZone)"
        message = (
            f"granularity {granularity!r} does not divide the interval into whole buckets: "
            f"it runs {local_start:%Y-%m-%d %H:%M} to {local_end:%Y-%m-%d %H:%M} in {where}"
        )
        # Round each end to the nearest local midnight: a wrong DST offset is an hour off, not a day.
        first = (local_start + timedelta(hours=12)).date()
        last = max((local_end + timedelta(hours=12)).date() - timedelta(days=1), first)
        window = Window(first, last, self.zone)
        fix = self.interval_fix(window, f"with {_pair('granularity', 'P1D')} buckets start at local midnight")
        offsets = {self.start.utcoffset(), self.end.utcoffset()}
        if not self.zone_given and offsets != {timedelta(0)}:
            fix = (
                "the interval has local offsets but no timeZone: add "
                f"{_pair('timeZone', 'America/New_York')} (your IANA zone) so buckets start at local midnight"
            )
        self.add("granularity", message, fix)

    # --- metrics and dimensions --------------------------------------------------------------
    def check_metrics(self) -> None:
        example = _pair("metrics", list(settings.DEFAULT_METRICS[:3]))
        if "metrics" not in self.body:
            self.add("metrics", "missing: every aggregates query needs a list of metrics", example)
            return
        metrics = self.body["metrics"]
        if isinstance(metrics, str):
            self.add("metrics", "must be a list of names, not one string", _pair("metrics", [metrics]))
            return
        if not isinstance(metrics, list) or not metrics:
            self.add("metrics", "must be a non-empty list of metric names", example)
            return
        self.check_names("metrics", metrics, settings.allowed_values()["metrics"], "metric")

    def check_group_by(self) -> None:
        if "groupBy" not in self.body:
            return
        dimensions = self.body["groupBy"]
        if isinstance(dimensions, str):
            self.add(
                "groupBy", "must be a list of dimension names, not one string", _pair("groupBy", [dimensions])
            )
            return
        if not isinstance(dimensions, list):
            self.add(
                "groupBy", "must be a list of dimension names", _pair("groupBy", ["queueId", "mediaType"])
            )
            return
        self.check_names("groupBy", dimensions, settings.allowed_values()["groupBy"], "groupBy dimension")

    def check_names(self, field: str, names: list[Any], allowed: list[str], kind: str) -> None:
        seen: set[str] = set()
        for index, name in enumerate(names):
            where = f"{field}[{index}]"
            if not isinstance(name, str):
                self.add(where, f"{json.dumps(name)} is not a {kind} name", "write the name as a string")
                continue
            if name not in allowed:
                hint = closest_match(name, allowed)
                fix = f"did you mean {hint!r}?" if hint else f"remove it; see the allowed {kind} names"
                self.add(where, f"unknown {kind} {name!r}", fix)
            elif name in seen:
                self.add(where, f"{name!r} is listed twice", "list it once")
            seen.add(name)

    # --- filter ------------------------------------------------------------------------------
    def check_filter(self) -> None:
        if "filter" not in self.body:
            return
        value = self.body["filter"]
        if not isinstance(value, Mapping):
            fix = '{"type": "and", "predicates": [{"dimension": "queueId", "value": "<queue id>"}]}'
            self.add("filter", "must be an object", fix)
            return
        allowed = settings.allowed_values()
        self.check_keys("filter", value, _FILTER_KEYS)
        self.check_choice("filter.type", value.get("type"), allowed["filter_types"], required=True)
        if "predicates" not in value and "clauses" not in value:
            self.add("filter", "has neither predicates nor clauses", "add predicates: [{dimension, value}]")
        self.check_predicates("filter.predicates", value.get("predicates"))
        clauses = value.get("clauses")
        if clauses is None:
            return
        if not isinstance(clauses, list):
            self.add("filter.clauses", "must be a list of clauses", '[{"type": "or", "predicates": [...]}]')
            return
        for index, clause in enumerate(clauses):
            where = f"filter.clauses[{index}]"
            if not isinstance(clause, Mapping):
                self.add(where, "must be an object", '{"type": "or", "predicates": [...]}')
                continue
            if "clauses" in clause:
                self.add(where, "clauses nest at most two levels", "move these predicates into this clause")
            self.check_keys(where, clause, _CLAUSE_KEYS | {"clauses"})
            self.check_choice(f"{where}.type", clause.get("type"), allowed["clause_types"], required=True)
            self.check_predicates(f"{where}.predicates", clause.get("predicates"), required=True)

    def check_predicates(self, where: str, predicates: object, *, required: bool = False) -> None:
        if predicates is None:
            if required:
                self.add(where, "missing", '"predicates": [{"dimension": "queueId", "value": "<queue id>"}]')
            return
        if not isinstance(predicates, list):
            self.add(
                where, "must be a list of predicates", '[{"dimension": "queueId", "value": "<queue id>"}]'
            )
            return
        allowed = settings.allowed_values()
        for index, predicate in enumerate(predicates):
            at = f"{where}[{index}]"
            if not isinstance(predicate, Mapping):
                self.add(at, "must be an object", '{"dimension": "queueId", "value": "<queue id>"}')
                continue
            self.check_keys(at, predicate, _PREDICATE_KEYS)
            kind = predicate.get("type", "dimension")
            self.check_choice(f"{at}.type", kind, allowed["predicate_types"], required=False)
            operator = predicate.get("operator", "matches")
            self.check_choice(f"{at}.operator", operator, allowed["operators"], required=False)
            if kind == "dimension":
                dimensions = allowed["filter_dimensions"]
                dimension = predicate.get("dimension")
                self.check_choice(f"{at}.dimension", dimension, dimensions, True, "filter dimension")
            if operator == "matches" and "value" not in predicate and "range" not in predicate:
                self.add(f"{at}.value", "missing: 'matches' compares with a value", '"value": "<queue id>"')
            value = predicate.get("value")
            if value is not None and not isinstance(value, str):
                fix = "one predicate per value, inside a clause of type 'or'"
                self.add(f"{at}.value", f"must be one string, not {json.dumps(value)}", fix)

    def check_keys(self, where: str, value: Mapping[str, Any], allowed: frozenset[str]) -> None:
        for key in value:
            if key not in allowed:
                target = _RENAMED.get(key)
                hint = target if target in allowed else closest_match(str(key), sorted(allowed))
                fix = (
                    f"did you mean {hint!r}?" if hint else f"remove it; allowed: {', '.join(sorted(allowed))}"
                )
                self.add(f"{where}.{key}", f"unknown field {key!r}", fix)

    def check_choice(
        self, where: str, value: object, allowed: list[str], required: bool, kind: str = "value"
    ) -> None:
        if value is None:
            if required:
                self.add(where, "missing", f"one of {', '.join(allowed)}")
            return
        if not isinstance(value, str) or value not in allowed:
            hint = closest_match(str(value), allowed)
            listing = ", ".join(allowed) if len(allowed) <= 5 else "the allowed values"
            fix = f"did you mean {hint!r}?" if hint else f"use one of {listing}"
            self.add(where, f"unknown {kind} {json.dumps(value)}", fix)

    # --- the rest ----------------------------------------------------------------------------
    def check_options(self) -> None:
        allowed = settings.allowed_values()
        body = self.body
        if "flattenMultivaluedDimensions" in body and not isinstance(
            body["flattenMultivaluedDimensions"], bool
        ):
            self.add(
                "flattenMultivaluedDimensions",
                "must be true or false",
                '"flattenMultivaluedDimensions": true',
            )
        if "views" in body:
            views = body["views"]
            if not isinstance(views, list):
                self.add("views", "must be a list", "remove it unless you need ranged views")
            elif len(views) > _MAX_VIEWS:
                self.add("views", f"{len(views)} views; at most {_MAX_VIEWS} are allowed", "split the query")
        if "alternateTimeDimension" in body:
            self.check_choice(
                "alternateTimeDimension",
                body["alternateTimeDimension"],
                allowed["alternate_time_dimensions"],
                False,
            )
        if "queryType" in body:
            self.check_choice("queryType", body["queryType"], allowed["query_types"], False)
        if "limit" in body:
            limit = body["limit"]
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                self.add("limit", f"{json.dumps(limit)} is not a positive whole number", '"limit": 10')


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _valid_zone(name: str) -> bool:
    try:
        check_time_zone(name)
    except ConfigError:
        return False
    return True


def _parse_duration(text: str) -> timedelta | isodate.Duration | None:
    if not _is_duration(text):
        return None
    try:
        value: timedelta | isodate.Duration = isodate.parse_duration(text.strip().upper())
    except (ValueError, isodate.ISO8601Error):
        return None
    return value


def _duration_length(text: str) -> timedelta | None:
    """Return the fixed length of a duration, or None for months/years (no fixed length) or garbage."""
    value = _parse_duration(text)
    if value is None or isinstance(value, timedelta):
        return value
    if value.years or value.months:
        return None
    tdelta: timedelta = value.tdelta
    return tdelta
