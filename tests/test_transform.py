"""Flatten: hand-built aggregate responses in the documented shape → typed rows at the fact grain."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from genesys_etl import settings
from genesys_etl.errors import ResponseShapeError
from genesys_etl.transform import Flattened, arrow_schema, flatten_body, flatten_response
from genesys_etl.windows import Window

LOADED_AT = datetime(2026, 11, 26, 6, 0, 1, 250000, tzinfo=UTC)
UTC_WINDOW = Window(date(2026, 11, 24), date(2026, 11, 25), "UTC")
DAY1 = "2026-11-24T00:00:00.000Z/2026-11-25T00:00:00.000Z"
DAY2 = "2026-11-25T00:00:00.000Z/2026-11-26T00:00:00.000Z"


def flatten(response: Any, window: Window = UTC_WINDOW) -> Flattened:
    return flatten_response(response, window, load_id="load-1", loaded_at=LOADED_AT)


def _through_the_body(response: Any, window: Window, *, load_id: str, loaded_at: datetime) -> Flattened:
    """``flatten_body`` on the response serialised as Genesys would send it (the job's path)."""
    content = json.dumps(response).encode()
    return flatten_body(
        content, window, load_id=load_id, loaded_at=loaded_at, decode=lambda: json.loads(content)
    )


@pytest.fixture(autouse=True, params=["objects", "body"])
def flatten_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs twice: on decoded objects, and through ``flatten_body`` from JSON bytes."""
    if request.param == "body":
        monkeypatch.setitem(globals(), "flatten_response", _through_the_body)
    return str(request.param)


def group(queue_id: str | None, media: str | None, *buckets: dict[str, Any]) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    if queue_id is not None:
        keys["queueId"] = queue_id
    if media is not None:
        keys["mediaType"] = media
    return {"group": keys, "data": list(buckets)}


def bucket(interval: str, *metrics: dict[str, Any]) -> dict[str, Any]:
    return {"interval": interval, "metrics": list(metrics)}


def metric(name: str, qualifier: str | None = None, **stats: Any) -> dict[str, Any]:
    return {"metric": name, "qualifier": qualifier, "stats": dict(stats)}


def rows_by_key(flat: Flattened) -> dict[tuple[Any, ...], dict[str, Any]]:
    rows = flat.table.to_pylist()
    by_key = {tuple(row[k] for k in settings.FACT_KEY): row for row in rows}
    assert len(by_key) == len(rows)
    return by_key


# The response example of reference/genesys-analytics-api.md, verbatim in shape.
DOCUMENTED_RESPONSE: dict[str, Any] = {
    "results": [
        {
            "group": {"queueId": "q-1", "mediaType": "voice"},
            "data": [
                {
                    "interval": "2026-11-24T05:00:00.000Z/2026-11-25T05:00:00.000Z",
                    "metrics": [
                        {"metric": "nOffered", "qualifier": None, "stats": {"count": 42}},
                        {
                            "metric": "tHandle",
                            "stats": {"max": 912000, "min": 31000, "count": 40, "sum": 11230000},
                        },
                        {
                            "metric": "oServiceLevel",
                            "stats": {"ratio": 0.82, "numerator": 33, "denominator": 40, "target": 0.8},
                        },
                    ],
                }
            ],
        }
    ]
}


def test_arrow_schema_is_the_column_map_in_order() -> None:
    expected_types = {
        "string": pa.string(),
        "int64": pa.int64(),
        "float64": pa.float64(),
        "date32": pa.date32(),
        "timestamp_utc": pa.timestamp("us", tz="UTC"),
    }
    schema = arrow_schema()
    assert schema.names == [c.name for c in settings.FACT_COLUMNS]
    for column, field in zip(settings.FACT_COLUMNS, schema, strict=True):
        assert field.type == expected_types[column.arrow], column.name
        assert field.nullable
    assert schema.field("stat_count").type == pa.int64()
    assert schema.field("loaded_at").type == pa.timestamp("us", tz="UTC")


def test_documented_response_gives_one_typed_row_per_metric() -> None:
    window = Window(date(2026, 11, 24), date(2026, 11, 24), "America/New_York")
    flat = flatten(DOCUMENTED_RESPONSE, window)

    assert flat.table.schema.equals(arrow_schema())
    assert flat.table.num_rows == 3
    assert flat.queue_ids == frozenset({"q-1"})
    assert (flat.unattributed_groups, flat.unattributed_rows, flat.unknown_stats) == (0, 0, frozenset())
    rows = rows_by_key(flat)
    offered = rows[(date(2026, 11, 24), "q-1", "voice", "nOffered", None)]
    assert offered["interval_start"] == datetime(2026, 11, 24, 5, tzinfo=UTC)
    assert offered["interval_end"] == datetime(2026, 11, 25, 5, tzinfo=UTC)
    assert offered["time_zone"] == "America/New_York"
    assert offered["stat_count"] == 42
    assert isinstance(offered["stat_count"], int)
    assert offered["stat_sum"] is None
    assert offered["stat_ratio"] is None
    assert offered["load_id"] == "load-1"
    assert offered["loaded_at"] == LOADED_AT
    handle = rows[(date(2026, 11, 24), "q-1", "voice", "tHandle", None)]
    assert (handle["stat_count"], handle["stat_sum"], handle["stat_min"], handle["stat_max"]) == (
        40,
        11230000.0,
        31000.0,
        912000.0,
    )
    assert handle["stat_numerator"] is None
    assert handle["stat_current"] is None


def test_service_level_stats_land_in_their_columns() -> None:
    flat = flatten(DOCUMENTED_RESPONSE, Window(date(2026, 11, 24), date(2026, 11, 24), "America/New_York"))
    row = rows_by_key(flat)[(date(2026, 11, 24), "q-1", "voice", "oServiceLevel", None)]
    assert row["stat_ratio"] == pytest.approx(0.82)
    assert row["stat_numerator"] == 33.0
    assert row["stat_denominator"] == 40.0
    assert row["stat_target"] == pytest.approx(0.8)
    assert row["stat_count"] is None
    assert row["stat_sum"] is None


@pytest.mark.parametrize("response", [{}, {"results": []}, {"results": None}], ids=["{}", "empty", "null"])
def test_empty_answers_give_an_empty_table_with_the_schema(response: dict[str, Any]) -> None:
    flat = flatten(response)
    assert flat.table.num_rows == 0
    assert flat.table.schema.equals(arrow_schema())
    assert flat.queue_ids == frozenset()
    assert (flat.unattributed_groups, flat.unattributed_rows) == (0, 0)


def test_absent_metrics_and_data_give_no_rows_and_no_error() -> None:
    response = {
        "results": [
            {"group": {"queueId": "q-1", "mediaType": "voice"}},  # no data at all
            {"group": {"queueId": "q-2", "mediaType": "chat"}, "data": [{"interval": DAY1}]},  # no metrics
            group("q-3", "email", bucket(DAY1), bucket(DAY2, metric("nOffered", count=3))),
        ]
    }
    flat = flatten(response)
    assert flat.table.num_rows == 1
    assert list(rows_by_key(flat)) == [(date(2026, 11, 25), "q-3", "email", "nOffered", None)]
    assert flat.queue_ids == frozenset({"q-3"})


def test_absent_stats_fields_are_nulls_not_zeros() -> None:
    response = {"results": [group("q-1", "voice", bucket(DAY1, {"metric": "tAcw"}, metric("tWait", sum=5)))]}
    rows = rows_by_key(flatten(response))
    acw = rows[(date(2026, 11, 24), "q-1", "voice", "tAcw", None)]
    assert all(acw[column] is None for column in settings.STAT_COLUMNS.values())
    wait = rows[(date(2026, 11, 24), "q-1", "voice", "tWait", None)]
    assert wait["stat_sum"] == 5.0
    assert wait["stat_count"] is None


def test_groups_without_queue_id_are_counted_and_kept_out(caplog: pytest.LogCaptureFixture) -> None:
    response = {
        "results": [
            group("q-1", "voice", bucket(DAY1, metric("nOffered", count=7))),
            group(None, "voice", bucket(DAY1, metric("tIvr", sum=100, count=2), metric("nOffered", count=9))),
            group(None, "chat", bucket(DAY1, metric("tIvr", sum=1)), bucket(DAY2, metric("tIvr", sum=2))),
            {"data": [bucket(DAY2, metric("nConnected", count=1))]},  # no group object at all
        ]
    }
    with caplog.at_level(logging.INFO, logger="genesys_etl.transform"):
        flat = flatten(response)
    assert flat.unattributed_groups == 3
    assert flat.unattributed_rows == 5
    assert flat.table.num_rows == 1
    assert flat.table.column("queue_id").null_count == 0
    assert flat.table.column("stat_count").to_pylist() == [7]
    assert flat.queue_ids == frozenset({"q-1"})
    infos = [r for r in caplog.records if r.levelno == logging.INFO and "without queueId" in r.getMessage()]
    assert len(infos) == 1
    assert "3 result group(s)" in infos[0].getMessage()


def test_unknown_stats_warn_once_per_key_and_are_reported(caplog: pytest.LogCaptureFixture) -> None:
    novel = f"novelStat{uuid.uuid4().hex[:8]}"  # unique: the warning is once per key per process
    response = {"results": [group("q-1", "voice", bucket(DAY1, metric("nOffered", count=4, **{novel: 1.0})))]}
    with caplog.at_level(logging.DEBUG, logger="genesys_etl.transform"):
        first = flatten(response)
        second = flatten(response)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and novel in r.getMessage()]
    assert len(warnings) == 1
    assert first.unknown_stats == second.unknown_stats == frozenset({novel})
    assert first.table.column("stat_count").to_pylist() == [4]


def test_documented_stats_without_a_column_are_ignored_silently(caplog: pytest.LogCaptureFixture) -> None:
    response = {
        "results": [group("q-1", "voice", bucket(DAY1, metric("tHandle", count=2, p95=9.0, p99=10.0)))]
    }
    with caplog.at_level(logging.DEBUG, logger="genesys_etl.transform"):
        flat = flatten(response)
    assert flat.unknown_stats == frozenset()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("p95" in r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG)
    assert flat.table.column("stat_count").to_pylist() == [2]


def test_dst_days_of_23_and_25_hours_map_to_their_local_dates() -> None:
    spring = Window(date(2026, 3, 8), date(2026, 3, 9), "America/New_York")
    response = {
        "results": [
            group(
                "q-1",
                "voice",
                bucket("2026-03-08T05:00:00.000Z/2026-03-09T04:00:00.000Z", metric("nOffered", count=1)),
                bucket("2026-03-09T04:00:00.000Z/2026-03-10T04:00:00.000Z", metric("nOffered", count=2)),
            )
        ]
    }
    rows = flatten(response, spring).table.to_pylist()
    assert [(r["metric_date"], r["interval_end"] - r["interval_start"], r["stat_count"]) for r in rows] == [
        (date(2026, 3, 8), timedelta(hours=23), 1),
        (date(2026, 3, 9), timedelta(hours=24), 2),
    ]
    autumn = Window(date(2026, 11, 1), date(2026, 11, 1), "America/New_York")
    response = {
        "results": [
            group(
                "q-1",
                "voice",
                bucket("2026-11-01T04:00:00.000Z/2026-11-02T05:00:00.000Z", metric("nOffered")),
            )
        ]
    }
    (row,) = flatten(response, autumn).table.to_pylist()
    assert row["metric_date"] == date(2026, 11, 1)
    assert row["interval_end"] - row["interval_start"] == timedelta(hours=25)


def test_half_hour_zone_utc_intervals_map_to_the_local_day() -> None:
    kolkata = Window(date(2026, 11, 24), date(2026, 11, 25), "Asia/Kolkata")
    response = {
        "results": [
            group(
                "q-1",
                "chat",
                # Genesys renders the local day 2026-11-24 (+05:30) in UTC: it starts on the 23rd at 18:30Z.
                bucket("2026-11-23T18:30:00.000Z/2026-11-24T18:30:00.000Z", metric("nOffered", count=5)),
                # Offsets written out must parse to the same instants.
                bucket(
                    "2026-11-25T00:00:00.000+05:30/2026-11-26T00:00:00.000+05:30", metric("nOffered", count=6)
                ),
            )
        ]
    }
    rows = flatten(response, kolkata).table.to_pylist()
    assert [r["metric_date"] for r in rows] == [date(2026, 11, 24), date(2026, 11, 25)]
    assert rows[0]["interval_start"] == datetime(2026, 11, 23, 18, 30, tzinfo=UTC)
    assert rows[1]["interval_start"] == datetime(2026, 11, 24, 18, 30, tzinfo=UTC)
    assert rows[1]["interval_end"] == datetime(2026, 11, 25, 18, 30, tzinfo=UTC)
    assert {r["time_zone"] for r in rows} == {"Asia/Kolkata"}


def test_qualifiers_split_rows_of_one_metric() -> None:
    response = {
        "results": [
            group(
                "q-1",
                "voice",
                bucket(
                    DAY1,
                    metric("tOrganizationResponse", qualifier="a", count=1),
                    metric("tOrganizationResponse", qualifier="b", count=2),
                    metric("tOrganizationResponse", count=3),
                ),
            )
        ]
    }
    rows = rows_by_key(flatten(response))
    assert {key[4]: row["stat_count"] for key, row in rows.items()} == {"a": 1, "b": 2, None: 3}


def test_a_group_split_across_results_is_merged_when_metrics_differ() -> None:
    response = {
        "results": [
            group("q-1", "voice", bucket(DAY1, metric("nOffered", count=1))),
            group("q-1", "voice", bucket(DAY1, metric("tHandle", count=1, sum=10))),
        ]
    }
    assert flatten(response).table.num_rows == 2


@pytest.mark.parametrize(
    "response",
    [
        {
            "results": [
                group("q-1", "voice", bucket(DAY1, metric("nOffered", count=1), metric("nOffered", count=2)))
            ]
        },
        {
            "results": [
                group("q-1", "voice", bucket(DAY1, metric("nOffered", count=1))),
                group("q-1", "voice", bucket(DAY1, metric("nOffered", count=1))),
            ]
        },
        # Two 12-hour buckets of one local day would both claim the day's row.
        {
            "results": [
                group(
                    "q-1",
                    "voice",
                    bucket("2026-11-24T00:00:00.000Z/2026-11-24T12:00:00.000Z", metric("nOffered", count=1)),
                    bucket("2026-11-24T12:00:00.000Z/2026-11-25T00:00:00.000Z", metric("nOffered", count=1)),
                )
            ]
        },
    ],
    ids=["same-bucket", "repeated-group", "sub-day-buckets"],
)
def test_duplicate_grain_keys_are_rejected(response: dict[str, Any]) -> None:
    with pytest.raises(ResponseShapeError, match=r"repeats metric nOffered .*q-1"):
        flatten(response)


def test_a_bucket_outside_the_window_is_rejected_naming_its_interval() -> None:
    stray = "2026-11-26T00:00:00.000Z/2026-11-27T00:00:00.000Z"
    response = {
        "results": [
            group("q-1", "voice", bucket(DAY1, metric("nOffered")), bucket(stray, metric("nOffered")))
        ]
    }
    with pytest.raises(ResponseShapeError, match=stray):
        flatten(response)


@pytest.mark.parametrize(
    ("response", "message"),
    [
        ([], "not a JSON object"),
        ({"results": {"group": {}}}, "'results' is not a list"),
        ({"results": ["x"]}, r"results\[0\] is not an object"),
        ({"results": [{"group": "q-1"}]}, r"results\[0\].group is not an object"),
        ({"results": [{"group": {"queueId": "q"}, "data": {}}]}, r"results\[0\].data is not a list"),
        ({"results": [{"group": {"queueId": "q"}, "data": ["x"]}]}, r"data\[\] entry is not an object"),
        ({"results": [group("q", "voice", {"interval": DAY1, "metrics": {}})]}, "metrics is not a list"),
        ({"results": [group(None, "voice", {"interval": DAY1, "metrics": "x"})]}, "metrics is not a list"),
        ({"results": [group("q", "voice", bucket(DAY1, "nOffered"))]}, "metrics entry 'nOffered'"),
        ({"results": [group("q", "voice", bucket(DAY1, {"stats": {"count": 1}}))]}, "metrics entry"),
        ({"results": [group("q", "voice", bucket(DAY1, {"metric": "n", "stats": [1]}))]}, "stats"),
        ({"results": [group("q", "voice", bucket(DAY1, metric("n", count="many")))]}, "not a number"),
        (
            {"results": [group("q", "voice", bucket(DAY1, metric("n", count=1.5)))]},
            "stats.count is not a whole",
        ),
        ({"results": [group("q", "voice", bucket(DAY1, {"metric": None, "stats": {}}))]}, "null 'metric'"),
        ({"results": [{"group": {"queueId": 7, "mediaType": "voice"}, "data": []}]}, "non-string queueId"),
        ({"results": [group("q", "voice", bucket("P1D", metric("n")))]}, "not an ISO-8601 'start/end'"),
        (
            {"results": [group("q", "voice", bucket("2026-11-24/2026-11-25T00:00:00", metric("n")))]},
            "without UTC",
        ),
        ({"results": [group("q", "voice", bucket("yesterday/today", metric("n")))]}, "unparseable instant"),
        (
            {
                "results": [
                    group("q", "voice", bucket(f"{DAY1.split('/')[1]}/{DAY1.split('/')[0]}", metric("n")))
                ]
            },
            "end",
        ),
    ],
)
def test_wrong_shapes_raise_a_one_line_response_shape_error(response: Any, message: str) -> None:
    with pytest.raises(ResponseShapeError, match=message) as caught:
        flatten(response)
    assert "\n" not in str(caught.value)


def test_large_counts_stay_exact_int64() -> None:
    response = {"results": [group("q-1", "voice", bucket(DAY1, metric("nOffered", count=2**40 + 1)))]}
    assert flatten(response).table.column("stat_count").to_pylist() == [2**40 + 1]


def test_a_naive_loaded_at_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        flatten_response({}, UTC_WINDOW, load_id="x", loaded_at=datetime(2026, 1, 1))


def test_rows_follow_response_order_across_groups_days_and_metrics() -> None:
    response = {
        "results": [
            group("q-2", "chat", bucket(DAY2, metric("a"), metric("b")), bucket(DAY1, metric("c"))),
            group("q-1", "voice", bucket(DAY1, metric("d"))),
        ]
    }
    table = flatten(response).table
    assert table.column("metric").to_pylist() == ["a", "b", "c", "d"]
    assert table.column("queue_id").to_pylist() == ["q-2", "q-2", "q-2", "q-1"]
    assert table.column("media_type").to_pylist() == ["chat", "chat", "chat", "voice"]
    assert table.column("metric_date").to_pylist() == [date(2026, 11, 25)] * 2 + [date(2026, 11, 24)] * 2
