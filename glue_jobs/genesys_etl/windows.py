"""Local calendar dates → half-open query windows of whole local days, DST-correct."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def local_midnight(day: date, time_zone: str) -> datetime:
    """Return the aware datetime of ``day`` 00:00 in ``time_zone``.

    Args:
        day: a local calendar date.
        time_zone: an IANA zone name.

    Returns:
        Local midnight with the UTC offset in force at that instant. In the rare zones where
        midnight does not exist on a DST day, the first instant of the day (fold=0) is used.
    """
    zone = ZoneInfo(time_zone)
    naive = datetime.combine(day, time.min)
    aware = naive.replace(tzinfo=zone)
    # A skipped midnight (e.g. America/Santiago) round-trips to another wall time: move to the first
    # existing instant of that day.
    roundtrip = aware.astimezone(ZoneInfo("UTC")).astimezone(zone)
    if roundtrip.replace(tzinfo=None) != naive:
        return roundtrip
    return aware


def midnight_exists(day: date, time_zone: str) -> bool:
    """Tell whether ``day`` 00:00 exists on the wall clock of ``time_zone``.

    Zones such as America/Santiago, America/Havana or Asia/Beirut move their clocks at midnight:
    on those days the local day starts at 01:00. Genesys documents nothing about how it places
    ``P1D`` buckets after such a midnight, so the job queries these days on their own.

    Args:
        day: a local calendar date.
        time_zone: an IANA zone name.
    """
    return local_midnight(day, time_zone).replace(tzinfo=None) == datetime.combine(day, time.min)


def day_exists(day: date, time_zone: str) -> bool:
    """Tell whether local ``day`` has any instant in ``time_zone`` (a date-line jump can skip a day).

    Args:
        day: a local calendar date.
        time_zone: an IANA zone name.
    """
    return local_midnight(day, time_zone) < local_midnight(day + timedelta(days=1), time_zone)


def skipped_days(start_date: date, end_date: date, time_zone: str) -> list[date]:
    """Return the local dates of an inclusive range that do not exist in ``time_zone``.

    Args:
        start_date: first local date (inclusive).
        end_date: last local date (inclusive).
        time_zone: an IANA zone name.

    Returns:
        e.g. ``[2011-12-30]`` for Pacific/Apia, which jumped from 29 to 31 December 2011.
    """
    days = (end_date - start_date).days + 1
    return [d for d in (start_date + timedelta(days=i) for i in range(days)) if not day_exists(d, time_zone)]


def format_instant(moment: datetime) -> str:
    """Format an aware datetime as Genesys expects: millisecond precision and a numeric offset.

    Args:
        moment: an aware datetime.

    Returns:
        e.g. ``2026-03-08T00:00:00.000-05:00`` (``+00:00`` for UTC).
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        msg = "format_instant needs an aware datetime"
        raise ValueError(msg)
    return moment.isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Window:
    """Consecutive whole local days ``[start_date 00:00, end_date + 1 00:00)`` in ``time_zone``.

    Attributes:
        start_date: first local day (inclusive).
        end_date: last local day (inclusive).
        time_zone: IANA zone the days are local to.
    """

    start_date: date
    end_date: date
    time_zone: str

    @property
    def start(self) -> datetime:
        """The aware instant the window starts: local midnight of ``start_date``."""
        return local_midnight(self.start_date, self.time_zone)

    @property
    def end(self) -> datetime:
        """The aware instant the window ends (exclusive): local midnight after ``end_date``."""
        return local_midnight(self.end_date + timedelta(days=1), self.time_zone)

    @property
    def starts_after_midnight_gap(self) -> bool:
        """True when the window is a day whose local midnight the zone skips (planned on its own)."""
        return not midnight_exists(self.start_date, self.time_zone)

    @property
    def interval(self) -> str:
        """The ISO-8601 ``start/end`` interval string for the aggregates query."""
        return f"{format_instant(self.start)}/{format_instant(self.end)}"

    @property
    def days(self) -> list[date]:
        """Every local date in the window, in order."""
        return [self.start_date + timedelta(days=i) for i in range(self.day_count)]

    @property
    def day_count(self) -> int:
        """Number of local days in the window."""
        return (self.end_date - self.start_date).days + 1

    def __str__(self) -> str:
        if self.start_date == self.end_date:
            return self.start_date.isoformat()
        return f"{self.start_date.isoformat()}..{self.end_date.isoformat()}"


def plan_windows(start_date: date, end_date: date, days_per_query: int, time_zone: str) -> Iterator[Window]:
    """Split an inclusive range of local dates into consecutive windows of at most ``days_per_query`` days.

    A day whose local midnight the zone skips (``midnight_exists`` is false) is a window of its own,
    and a day that does not exist in the zone at all (``day_exists`` is false) is in no window: it is
    never sent (``skipped_days`` lists it).

    Args:
        start_date: first local date (inclusive).
        end_date: last local date (inclusive); not before ``start_date``.
        days_per_query: maximum days per window (>= 1).
        time_zone: IANA zone the dates are local to.

    Yields:
        Windows in date order, with no overlaps, never crossing ``end_date``.

    Raises:
        ValueError: on a reversed range or ``days_per_query`` < 1.
    """
    if end_date < start_date:
        msg = f"end date {end_date} is before start date {start_date}"
        raise ValueError(msg)
    if days_per_query < 1:
        msg = f"days_per_query must be >= 1, got {days_per_query}"
        raise ValueError(msg)
    first: date | None = None
    last = start_date
    day = start_date
    while day <= end_date:
        if not day_exists(day, time_zone) or not midnight_exists(day, time_zone):
            if first is not None:
                yield Window(first, last, time_zone)
                first = None
            if day_exists(day, time_zone):
                yield Window(day, day, time_zone)
        else:
            if first is not None and (day - first).days >= days_per_query:
                yield Window(first, last, time_zone)
                first = None
            if first is None:
                first = day
            last = day
        day += timedelta(days=1)
    if first is not None:
        yield Window(first, last, time_zone)


def today_in(time_zone: str, now: datetime | None = None) -> date:
    """Return the current local date in ``time_zone``.

    Args:
        time_zone: IANA zone name.
        now: an aware instant to use instead of the clock (tests).
    """
    moment = now if now is not None else datetime.now(tz=ZoneInfo("UTC"))
    return moment.astimezone(ZoneInfo(time_zone)).date()


def nightly_range(lookback_days: int, time_zone: str, now: datetime | None = None) -> tuple[date, date]:
    """Return the nightly default range: the ``lookback_days`` local days ending yesterday.

    Args:
        lookback_days: number of days (>= 1).
        time_zone: IANA zone name.
        now: an aware instant to use instead of the clock (tests).

    Returns:
        ``(start_date, end_date)``, inclusive. Today is never part of it (it is incomplete).
    """
    yesterday = today_in(time_zone, now) - timedelta(days=1)
    return yesterday - timedelta(days=lookback_days - 1), yesterday
