"""Property and example tests of windows.py: whole local days, no gaps, no overlaps, DST-correct offsets."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genesys_etl.windows import (
    Window,
    format_instant,
    local_midnight,
    nightly_range,
    plan_windows,
    today_in,
)

ZONES = ("America/New_York", "Europe/London", "Australia/Sydney", "Asia/Kolkata", "UTC")
INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2}")

zones = st.sampled_from(ZONES)
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2060, 12, 31))
spans = st.integers(min_value=0, max_value=800)
days_per_query = st.integers(min_value=1, max_value=7)


def _elapsed(window: Window) -> timedelta:
    # Subtracting two datetimes that share a ZoneInfo gives wall-clock time (24 h on a 23 h day): use UTC.
    return window.end.astimezone(UTC) - window.start.astimezone(UTC)


def _windows(start: date, span: int, per_query: int, zone: str) -> list[Window]:
    return list(plan_windows(start, start + timedelta(days=span), per_query, zone))


@settings(max_examples=300, deadline=None)
@given(start=days, span=spans, per_query=days_per_query, zone=zones)
def test_windows_cover_every_date_exactly_once(start: date, span: int, per_query: int, zone: str) -> None:
    windows = _windows(start, span, per_query, zone)
    covered = [day for window in windows for day in window.days]
    assert covered == [start + timedelta(days=i) for i in range(span + 1)]


@settings(max_examples=300, deadline=None)
@given(start=days, span=spans, per_query=days_per_query, zone=zones)
def test_windows_are_consecutive_instants_without_gap_or_overlap(
    start: date, span: int, per_query: int, zone: str
) -> None:
    windows = _windows(start, span, per_query, zone)
    assert windows[0].start == local_midnight(start, zone)
    assert windows[-1].end == local_midnight(start + timedelta(days=span + 1), zone)
    for before, after in itertools.pairwise(windows):
        assert after.start_date == before.end_date + timedelta(days=1)
        assert before.end == after.start  # the same instant: half-open, no gap, no overlap
    for window in windows:
        assert window.start < window.end


@settings(max_examples=300, deadline=None)
@given(start=days, span=spans, per_query=days_per_query, zone=zones)
def test_windows_respect_the_size_limit_and_stay_inside_the_range(
    start: date, span: int, per_query: int, zone: str
) -> None:
    windows = _windows(start, span, per_query, zone)
    end = start + timedelta(days=span)
    assert all(1 <= window.day_count <= per_query for window in windows)
    assert all(window.day_count == per_query for window in windows[:-1])  # only the last may be short
    assert all(start <= window.start_date <= window.end_date <= end for window in windows)
    assert len(windows) == -(-(span + 1) // per_query)


@settings(max_examples=300, deadline=None)
@given(start=days, span=st.integers(min_value=0, max_value=6), zone=zones)
def test_window_bounds_are_local_midnights_with_the_offset_in_force(
    start: date, span: int, zone: str
) -> None:
    window = Window(start, start + timedelta(days=span), zone)
    tz = ZoneInfo(zone)
    for moment, day in ((window.start, window.start_date), (window.end, window.end_date + timedelta(days=1))):
        local = moment.astimezone(tz)
        assert (local.date(), local.time()) == (day, time(0))
        assert moment.utcoffset() == tz.utcoffset(moment.replace(tzinfo=None))
    hours = _elapsed(window) / timedelta(hours=1)
    assert window.day_count * 24 - 1 <= hours <= window.day_count * 24 + 1  # DST days: 23 h / 25 h


@settings(max_examples=300, deadline=None)
@given(start=days, span=st.integers(min_value=0, max_value=6), zone=zones)
def test_interval_string_round_trips_with_millisecond_precision(start: date, span: int, zone: str) -> None:
    window = Window(start, start + timedelta(days=span), zone)
    first, last = window.interval.split("/")
    assert INSTANT.fullmatch(first)
    assert INSTANT.fullmatch(last)
    assert datetime.fromisoformat(first) == window.start
    assert datetime.fromisoformat(last) == window.end
    assert datetime.fromisoformat(first).utcoffset() == window.start.utcoffset()
    assert datetime.fromisoformat(last).utcoffset() == window.end.utcoffset()


@pytest.mark.parametrize(
    ("zone", "day", "interval", "hours"),
    [
        (
            "America/New_York",
            date(2026, 3, 8),
            "2026-03-08T00:00:00.000-05:00/2026-03-09T00:00:00.000-04:00",
            23,
        ),
        (
            "America/New_York",
            date(2026, 11, 1),
            "2026-11-01T00:00:00.000-04:00/2026-11-02T00:00:00.000-05:00",
            25,
        ),
        (
            "Europe/London",
            date(2026, 3, 29),
            "2026-03-29T00:00:00.000+00:00/2026-03-30T00:00:00.000+01:00",
            23,
        ),
        (
            "Europe/London",
            date(2026, 10, 25),
            "2026-10-25T00:00:00.000+01:00/2026-10-26T00:00:00.000+00:00",
            25,
        ),
        (
            "Australia/Sydney",
            date(2026, 4, 5),
            "2026-04-05T00:00:00.000+11:00/2026-04-06T00:00:00.000+10:00",
            25,
        ),
        (
            "Australia/Sydney",
            date(2026, 10, 4),
            "2026-10-04T00:00:00.000+10:00/2026-10-05T00:00:00.000+11:00",
            23,
        ),
        ("Asia/Kolkata", date(2026, 3, 8), "2026-03-08T00:00:00.000+05:30/2026-03-09T00:00:00.000+05:30", 24),
        ("UTC", date(2026, 3, 8), "2026-03-08T00:00:00.000+00:00/2026-03-09T00:00:00.000+00:00", 24),
    ],
)
def test_dst_days_have_the_offset_of_each_end(zone: str, day: date, interval: str, hours: int) -> None:
    window = Window(day, day, zone)
    assert window.interval == interval
    assert _elapsed(window) == timedelta(hours=hours)


def test_a_week_across_the_new_york_spring_change_is_167_hours() -> None:
    [window] = plan_windows(date(2026, 3, 5), date(2026, 3, 11), 7, "America/New_York")
    assert window.interval == "2026-03-05T00:00:00.000-05:00/2026-03-12T00:00:00.000-04:00"
    assert _elapsed(window) == timedelta(hours=7 * 24 - 1)


def test_windows_split_at_the_limit_and_the_last_is_short() -> None:
    windows = list(plan_windows(date(2026, 1, 1), date(2026, 1, 16), 7, "UTC"))
    assert [(w.start_date, w.end_date) for w in windows] == [
        (date(2026, 1, 1), date(2026, 1, 7)),
        (date(2026, 1, 8), date(2026, 1, 14)),
        (date(2026, 1, 15), date(2026, 1, 16)),
    ]


def test_a_year_in_weeks_is_53_windows() -> None:
    windows = list(plan_windows(date(2025, 11, 26), date(2026, 11, 25), 7, "America/New_York"))
    assert len(windows) == 53
    assert sum(w.day_count for w in windows) == 365


def test_plan_windows_rejects_a_reversed_range_and_a_zero_size() -> None:
    with pytest.raises(ValueError, match="before start date"):
        list(plan_windows(date(2026, 1, 2), date(2026, 1, 1), 7, "UTC"))
    with pytest.raises(ValueError, match="days_per_query"):
        list(plan_windows(date(2026, 1, 1), date(2026, 1, 2), 0, "UTC"))


def test_format_instant_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="aware"):
        format_instant(datetime(2026, 1, 1))


def test_skipped_midnight_starts_the_day_at_its_first_instant() -> None:
    # America/Santiago springs forward at 24:00: 2026-09-06 00:00 does not exist, the day starts at 01:00.
    start = local_midnight(date(2026, 9, 6), "America/Santiago")
    assert format_instant(start) == "2026-09-06T01:00:00.000-03:00"
    before = (start.astimezone(UTC) - timedelta(seconds=1)).astimezone(ZoneInfo("America/Santiago"))
    assert before.date() == date(2026, 9, 5)


@settings(max_examples=200, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(2001, 1, 1), max_value=datetime(2059, 12, 31), timezones=st.just(UTC)
    ),
    lookback=st.integers(min_value=1, max_value=60),
    zone=zones,
)
def test_nightly_range_ends_yesterday_in_the_zone_and_never_includes_today(
    moment: datetime, lookback: int, zone: str
) -> None:
    start, end = nightly_range(lookback, zone, now=moment)
    today = moment.astimezone(ZoneInfo(zone)).date()
    assert today_in(zone, now=moment) == today
    assert end == today - timedelta(days=1)
    assert (end - start).days + 1 == lookback


def test_nightly_range_uses_the_local_date_not_the_utc_date() -> None:
    now = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)  # 22:00 on the 25th in New York
    assert nightly_range(7, "America/New_York", now=now) == (date(2026, 11, 18), date(2026, 11, 24))
    assert nightly_range(7, "UTC", now=now) == (date(2026, 11, 19), date(2026, 11, 25))
    assert nightly_range(1, "Asia/Kolkata", now=datetime(2026, 11, 25, 19, 0, tzinfo=UTC)) == (
        date(2026, 11, 25),
        date(2026, 11, 25),
    )
