"""The simulator refuses malformed aggregates bodies with Genesys-shaped 400s naming the field and the fix."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from fixtures.simulator import AGGREGATES_PATH, NY_WEEK_BODY, api_session, post_query, query_ok
from genesys_sim import SimulatorServer

EXAMPLE = "2026-03-08T00:00:00.000-05:00/2026-03-09T00:00:00.000-04:00"


@pytest.fixture
def api(simulator: SimulatorServer) -> requests.Session:
    return api_session(simulator)


def body_with(**changes: Any) -> dict[str, Any]:
    """NY_WEEK_BODY with fields replaced; a value of None removes the field."""
    body = dict(NY_WEEK_BODY)
    for name, value in changes.items():
        if value is None:
            body.pop(name, None)
        else:
            body[name] = value
    return body


def assert_genesys_400(answer: requests.Response, field: str, *fragments: str) -> dict[str, Any]:
    assert answer.status_code == 400, answer.text
    error = answer.json()
    assert set(error) >= {"message", "code", "status", "contextId", "details", "errors"}
    assert error["status"] == 400
    assert error["code"] in {"bad.request", "invalid.date", "invalid.value"}
    assert error["contextId"] == answer.headers["inin-correlation-id"]
    assert isinstance(error["details"], list)
    assert isinstance(error["errors"], list)
    assert field in {d["fieldName"] for d in error["details"]}, error["details"]
    message = error["message"]
    assert field in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return error


# --- the seed mistakes first -----------------------------------------------------------------------------


def test_duration_as_interval_asks_for_an_iso_start_end_interval(
    simulator: SimulatorServer, api: requests.Session
) -> None:
    answer = post_query(api, simulator, body_with(interval="P1D"))
    error = assert_genesys_400(answer, "interval", "P1D", "ISO-8601", "start/end", EXAMPLE)
    assert error["code"] == "invalid.date"


def test_groupings_is_unknown_and_points_to_group_by(
    simulator: SimulatorServer, api: requests.Session
) -> None:
    answer = post_query(api, simulator, body_with(groupBy=None, groupings=["queueId", "mediaType"]))
    assert_genesys_400(answer, "groupings", 'unknown field "groupings"', '"groupBy"')


def test_missing_metrics_is_named(simulator: SimulatorServer, api: requests.Session) -> None:
    answer = post_query(api, simulator, body_with(metrics=None))
    assert_genesys_400(answer, "metrics", 'missing required field "metrics"')


def test_date_from_and_date_to_point_to_interval(simulator: SimulatorServer, api: requests.Session) -> None:
    body = body_with(interval=None, dateFrom="2026-11-01", dateTo="2026-11-07")
    error = assert_genesys_400(
        post_query(api, simulator, body), "dateFrom", "dateFrom", '"interval"', "start/end"
    )
    fields = {d["fieldName"] for d in error["details"]}
    assert fields == {"dateFrom", "dateTo", "interval"}
    assert len(error["errors"]) == 3  # every mistake listed, each with its own message


def test_time_group_points_to_granularity(simulator: SimulatorServer, api: requests.Session) -> None:
    answer = post_query(api, simulator, body_with(granularity=None, timeGroup="P1D"))
    assert_genesys_400(answer, "timeGroup", 'unknown field "timeGroup"', '"granularity"')


# --- every other case --------------------------------------------------------------------------------------

CASES: list[tuple[str, dict[str, Any], str, tuple[str, ...]]] = [
    ("missing interval", {"interval": None}, "interval", ("missing required field", "start/end", EXAMPLE)),
    (
        "no offset",
        {"interval": "2026-11-01T00:00:00.000/2026-11-08T00:00:00.000"},
        "interval",
        ("no UTC offset",),
    ),
    ("dates only", {"interval": "2026-11-01/2026-11-08"}, "interval", ("no UTC offset",)),
    (
        "reversed",
        {"interval": "2026-11-08T00:00:00.000-05:00/2026-11-01T00:00:00.000-04:00"},
        "interval",
        ("before it starts",),
    ),
    ("empty", {"interval": "2026-11-01T00:00:00Z/2026-11-01T00:00:00Z"}, "interval", ("empty",)),
    ("start and duration", {"interval": "2026-11-01T00:00:00Z/P7D"}, "interval", ("duration", "start/end")),
    ("not a date", {"interval": "yesterday/today"}, "interval", ("not an ISO-8601 date-time",)),
    ("not a string", {"interval": 20261101}, "interval", ("must be a string",)),
    ("unknown metric", {"metrics": ["nOfered"]}, "metrics", ('"nOfered"', 'did you mean "nOffered"')),
    ("metrics not a list", {"metrics": "nOffered"}, "metrics", ("must be a list",)),
    ("metrics empty", {"metrics": []}, "metrics", ("is empty",)),
    ("metric twice", {"metrics": ["nOffered", "nOffered"]}, "metrics", ("listed twice",)),
    ("unknown groupBy", {"groupBy": ["queue"]}, "groupBy", ('"queue"',)),
    (
        "unknown filter dimension",
        {"filter": {"type": "and", "predicates": [{"dimension": "queue", "value": "x"}]}},
        "filter.predicates[0].dimension",
        ('"queue"',),
    ),
    (
        "filter without type",
        {"filter": {"predicates": [{"dimension": "queueId", "value": "x"}]}},
        "filter.type",
        ('"and" or "or"',),
    ),
    (
        "unknown operator",
        {"filter": {"type": "and", "predicates": [{"dimension": "queueId", "operator": "eq", "value": "x"}]}},
        "filter.predicates[0].operator",
        ("matches",),
    ),
    (
        "matches without value",
        {"filter": {"type": "and", "predicates": [{"dimension": "queueId"}]}},
        "filter.predicates[0].value",
        ("required",),
    ),
    (
        "clauses nested too deep",
        {
            "filter": {
                "type": "or",
                "clauses": [
                    {
                        "type": "and",
                        "clauses": [{"type": "and", "predicates": [{"dimension": "queueId", "value": "x"}]}],
                    }
                ],
            }
        },
        "filter.clauses[0].clauses",
        ("two levels",),
    ),
    ("bad granularity", {"granularity": "1 day"}, "granularity", ("ISO-8601 duration",)),
    ("granularity finer than data", {"granularity": "PT10M"}, "granularity", ("15-minute",)),
    ("granularity not tiling", {"granularity": "PT7H"}, "granularity", ("does not tile",)),
    (
        "day buckets off local midnight",
        {"interval": "2026-11-02T00:00:00.000Z/2026-11-03T00:00:00.000Z"},
        "granularity",
        ("does not tile", "local midnight", "America/New_York"),
    ),
    ("unknown timeZone", {"timeZone": "America/Atlantis"}, "timeZone", ("America/Atlantis", "IANA")),
    (
        "longer than 7 days",
        {"interval": "2026-11-01T00:00:00.000-04:00/2026-11-09T00:00:00.000-05:00"},
        "interval",
        ("maximum is 7 days", "split the query"),
    ),
    (
        "views",
        {"views": [{"target": "tHandle", "name": "x", "function": "rangeBound"}]},
        "views",
        ("not implemented",),
    ),
    ("top N", {"queryType": "topN"}, "queryType", ("not implemented",)),
    ("unknown field", {"sortOrder": "asc"}, "sortOrder", ('unknown field "sortOrder"',)),
]


@pytest.mark.parametrize(("changes", "field", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_body_is_refused_naming_the_field(
    simulator: SimulatorServer,
    api: requests.Session,
    changes: dict[str, Any],
    field: str,
    fragments: tuple[str, ...],
) -> None:
    assert_genesys_400(post_query(api, simulator, body_with(**changes)), field, *fragments)


def test_non_json_body_is_refused(simulator: SimulatorServer, api: requests.Session) -> None:
    answer = api.post(
        f"{simulator.base_url}{AGGREGATES_PATH}",
        data=b"interval=P1D&metrics=nOffered",
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert_genesys_400(answer, "body", "not valid JSON")


def test_json_that_is_not_an_object_is_refused(simulator: SimulatorServer, api: requests.Session) -> None:
    assert_genesys_400(post_query(api, simulator, [NY_WEEK_BODY]), "body", "JSON object")


def test_body_sent_as_a_form_is_unsupported_media_type(
    simulator: SimulatorServer, api: requests.Session
) -> None:
    answer = api.post(f"{simulator.base_url}{AGGREGATES_PATH}", data={"interval": "x"}, timeout=10)
    assert answer.status_code == 415
    assert answer.json()["code"] == "unsupported.media.type"
    assert "application/json" in answer.json()["message"]


def test_refused_bodies_are_counted_as_400(simulator: SimulatorServer, api: requests.Session) -> None:
    post_query(api, simulator, body_with(interval="P1D"))
    assert simulator.request_count("aggregates/query", 400) == 1
    assert simulator.request_count("aggregates/query", 200) == 0


# --- valid variants are accepted ---------------------------------------------------------------------------

VALID: list[tuple[str, dict[str, Any]]] = [
    ("utc offsets Z", {"interval": "2026-11-02T00:00:00Z/2026-11-03T00:00:00Z", "timeZone": None}),
    ("no granularity", {"granularity": None}),
    (
        "168 hours over a fall-back day",
        {"interval": "2026-11-01T00:00:00Z/2026-11-08T00:00:00Z", "granularity": None},
    ),
    (
        "quarter hours",
        {"interval": "2026-11-02T00:00:00.000-05:00/2026-11-03T00:00:00.000-05:00", "granularity": "PT15M"},
    ),
    ("one week bucket", {"granularity": "P7D"}),
    (
        "one day and a half",
        {"interval": "2026-11-02T00:00:00.000-05:00/2026-11-05T00:00:00.000-05:00", "granularity": "P1DT12H"},
    ),
    ("optional fields", {"flattenMultivaluedDimensions": True, "alternateTimeDimension": "eventTime"}),
    (
        "or filter with clauses",
        {
            "filter": {
                "type": "or",
                "clauses": [{"type": "and", "predicates": [{"dimension": "mediaType", "value": "voice"}]}],
            }
        },
    ),
    (
        "exists filter",
        {"filter": {"type": "and", "predicates": [{"dimension": "queueId", "operator": "exists"}]}},
    ),
    ("any valid dimension", {"groupBy": ["queueId", "wrapUpCode"]}),
]


@pytest.mark.parametrize("changes", [v[1] for v in VALID], ids=[v[0] for v in VALID])
def test_valid_variants_are_answered(
    simulator: SimulatorServer, api: requests.Session, changes: dict[str, Any]
) -> None:
    payload = query_ok(api, simulator, body_with(**changes))
    assert payload["results"]
