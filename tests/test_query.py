"""Query bodies: field by field, DST offsets, every body clean under the linter, the plan of a run."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from genesys_etl import settings
from genesys_etl.config import Config
from genesys_etl.lint import lint_body
from genesys_etl.query import build_query, plan_bodies
from genesys_etl.windows import Window

ENV = {"GENESYS_CLIENT_ID": "id", "GENESYS_CLIENT_SECRET": "secret"}


def test_body_has_exactly_the_documented_fields() -> None:
    body = build_query(
        Window(date(2026, 3, 8), date(2026, 3, 8), "America/New_York"), settings.DEFAULT_METRICS
    )
    assert body == {
        "interval": "2026-03-08T00:00:00.000-05:00/2026-03-09T00:00:00.000-04:00",
        "granularity": "P1D",
        "timeZone": "America/New_York",
        "groupBy": ["queueId", "mediaType"],
        "metrics": list(settings.DEFAULT_METRICS),
    }
    json.dumps(body)  # plain JSON types only (no datetime objects)


@pytest.mark.parametrize(
    ("zone", "first", "last", "interval"),
    [
        (
            "America/New_York",
            date(2026, 11, 1),
            date(2026, 11, 1),
            "2026-11-01T00:00:00.000-04:00/2026-11-02T00:00:00.000-05:00",
        ),
        (
            "Europe/London",
            date(2026, 3, 29),
            date(2026, 3, 29),
            "2026-03-29T00:00:00.000+00:00/2026-03-30T00:00:00.000+01:00",
        ),
        (
            "Europe/London",
            date(2026, 10, 25),
            date(2026, 10, 25),
            "2026-10-25T00:00:00.000+01:00/2026-10-26T00:00:00.000+00:00",
        ),
        (
            "America/New_York",
            date(2026, 3, 2),
            date(2026, 3, 8),
            "2026-03-02T00:00:00.000-05:00/2026-03-09T00:00:00.000-04:00",
        ),
        (
            "Asia/Kolkata",
            date(2026, 1, 1),
            date(2026, 1, 7),
            "2026-01-01T00:00:00.000+05:30/2026-01-08T00:00:00.000+05:30",
        ),
    ],
)
def test_interval_carries_the_local_offset_at_each_end(
    zone: str, first: date, last: date, interval: str
) -> None:
    body = build_query(Window(first, last, zone), ("nOffered",))
    assert body["interval"] == interval
    assert body["timeZone"] == zone


def test_metrics_keep_the_configured_order() -> None:
    body = build_query(Window(date(2026, 1, 1), date(2026, 1, 1), "UTC"), ("tHandle", "nOffered"))
    assert body["metrics"] == ["tHandle", "nOffered"]


def test_a_body_needs_metrics() -> None:
    with pytest.raises(ValueError, match="metric"):
        build_query(Window(date(2026, 1, 1), date(2026, 1, 1), "UTC"), ())


def test_bodies_do_not_share_mutable_lists() -> None:
    window = Window(date(2026, 1, 1), date(2026, 1, 1), "UTC")
    first = build_query(window, ("nOffered",))
    first["groupBy"].append("userId")
    assert build_query(window, ("nOffered",))["groupBy"] == ["queueId", "mediaType"]


@hypothesis_settings(max_examples=200, deadline=None)
@given(
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2060, 12, 31)),
    span=st.integers(min_value=0, max_value=6),
    zone=st.sampled_from(["America/New_York", "Europe/London", "Australia/Sydney", "Asia/Kolkata", "UTC"]),
)
def test_every_built_body_passes_the_linter(start: date, span: int, zone: str) -> None:
    body = build_query(Window(start, start + timedelta(days=span), zone), settings.DEFAULT_METRICS)
    assert lint_body(body, today=start) == []


def test_plan_bodies_gives_one_body_per_window_in_order() -> None:
    config = Config.from_mapping(
        {
            "start_date": "2026-03-01",
            "end_date": "2026-03-16",
            "time_zone": "America/New_York",
            "metrics": "nOffered",
        },
        ENV,
    )
    bodies = plan_bodies(config)
    assert [body["interval"] for body in bodies] == [
        "2026-03-01T00:00:00.000-05:00/2026-03-08T00:00:00.000-05:00",
        "2026-03-08T00:00:00.000-05:00/2026-03-15T00:00:00.000-04:00",
        "2026-03-15T00:00:00.000-04:00/2026-03-17T00:00:00.000-04:00",
    ]
    assert all(body["metrics"] == ["nOffered"] for body in bodies)
    assert all(body["granularity"] == "P1D" and body["timeZone"] == "America/New_York" for body in bodies)


def test_plan_bodies_of_a_nightly_run_uses_the_lookback() -> None:
    config = Config.from_mapping({"lookback_days": "10"}, ENV)
    bodies = plan_bodies(config, now=datetime(2026, 11, 26, 12, 0, tzinfo=UTC))
    assert [body["interval"] for body in bodies] == [
        "2026-11-16T00:00:00.000+00:00/2026-11-23T00:00:00.000+00:00",
        "2026-11-23T00:00:00.000+00:00/2026-11-26T00:00:00.000+00:00",
    ]


def test_plan_of_a_year_is_53_bodies() -> None:
    config = Config.from_mapping(
        {"start_date": "2025-01-01", "end_date": "2025-12-31", "offline": "true"}, {}
    )
    assert len(plan_bodies(config)) == 53
