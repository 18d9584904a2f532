"""The simulator's data: answer shape, additivity, DST buckets, groups, filters and ground truth."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import requests

from fixtures.simulator import NY_WEEK_BODY, SIM_TODAY, api_session, flatten_answer, query_ok
from genesys_etl.settings import DEFAULT_METRICS
from genesys_sim import SimulatorServer

ALL = list(DEFAULT_METRICS)
NY = "America/New_York"
ADDITIVE = ("count", "sum", "numerator", "denominator")


@pytest.fixture
def api(simulator: SimulatorServer) -> requests.Session:
    return api_session(simulator)


def parse_interval(text: str) -> tuple[datetime, datetime]:
    start, end = text.split("/")
    return datetime.fromisoformat(start), datetime.fromisoformat(end)


def totals(payload: dict[str, Any], *, drop: tuple[str, ...] = ()) -> dict[tuple[Any, ...], dict[str, float]]:
    """Combine every bucket of an answer per (group without ``drop`` keys, metric)."""
    combined: dict[tuple[Any, ...], dict[str, float]] = defaultdict(dict)
    for (_, group, metric), stats in flatten_answer(payload).items():
        key = (tuple(item for item in group if item[0] not in drop), metric)
        into = combined[key]
        for name, value in stats.items():
            if name in ADDITIVE:
                into[name] = into.get(name, 0) + value
            elif name == "min":
                into[name] = min(into.get(name, math.inf), value)
            elif name == "max":
                into[name] = max(into.get(name, -math.inf), value)
    return dict(combined)


def body(interval: str, granularity: str | None, time_zone: str | None = NY, **extra: Any) -> dict[str, Any]:
    query: dict[str, Any] = {
        "interval": interval,
        "groupBy": ["queueId", "mediaType"],
        "metrics": ALL,
        **extra,
    }
    if granularity is not None:
        query["granularity"] = granularity
    if time_zone is not None:
        query["timeZone"] = time_zone
    return query


# --- shape ------------------------------------------------------------------------------------------------


def test_answer_has_the_documented_shape(simulator: SimulatorServer, api: requests.Session) -> None:
    payload = query_ok(api, simulator, body(NY_WEEK_BODY["interval"], "P1D", metrics=ALL))
    assert set(payload) == {"results"}
    families = {
        "n": {"count"},
        "t": {"max", "min", "count", "sum"},
        "o": {"ratio", "numerator", "denominator", "target"},
    }
    seen_metrics = set()
    for result in payload["results"]:
        assert set(result) == {"group", "data"}
        assert set(result["group"]) <= {"queueId", "mediaType"}
        assert "mediaType" in result["group"]
        for entry in result["data"]:
            start, _end = parse_interval(entry["interval"])
            assert entry["interval"].endswith("Z")
            assert ".000Z/" in entry["interval"]
            assert start.utcoffset() == timedelta(0)
            assert entry["metrics"], "a bucket without metrics must be absent"
            for metric in entry["metrics"]:
                seen_metrics.add(metric["metric"])
                stats = metric["stats"]
                family = metric["metric"][0]
                if family == "o":
                    assert set(stats) <= families["o"]
                    assert {"ratio", "numerator", "denominator"} <= set(stats)
                    assert stats["denominator"] > 0
                    assert stats["ratio"] == pytest.approx(stats["numerator"] / stats["denominator"])
                else:
                    assert set(stats) == families[family]
                    assert stats["count"] > 0, "metrics without data are absent, never zero"
                    assert all(isinstance(v, int) for v in stats.values())
                if family == "t":
                    assert stats["min"] <= stats["sum"] / stats["count"] <= stats["max"]
                    if stats["count"] == 1 and metric["metric"] != "tHandle":
                        assert stats["min"] == stats["max"] == stats["sum"]
    assert seen_metrics == set(ALL)


def test_metrics_without_data_are_absent(simulator: SimulatorServer, api: requests.Session) -> None:
    payload = query_ok(
        api, simulator, body(NY_WEEK_BODY["interval"], "P1D", metrics=["nOffered", "tIvr", "tVoicemail"])
    )
    names_by_media: dict[str, set[str]] = defaultdict(set)
    for result in payload["results"]:
        for entry in result["data"]:
            names_by_media[result["group"]["mediaType"]] |= {m["metric"] for m in entry["metrics"]}
    assert all("tIvr" not in names for names in names_by_media.values())  # valid, but no simulated data
    assert "tVoicemail" in names_by_media["voice"]
    assert "tVoicemail" not in names_by_media["chat"]  # chats never go to voicemail


def test_quiet_groups_and_days_are_absent(simulator: SimulatorServer, api: requests.Session) -> None:
    payload = query_ok(api, simulator, body(NY_WEEK_BODY["interval"], "P1D", metrics=["nOffered"]))
    attributed = [r for r in payload["results"] if "queueId" in r["group"]]
    queues = {r["group"]["queueId"] for r in attributed}
    # Not every queue has every media type, and some (queue, media type) have quiet days.
    assert len(attributed) < len(queues) * 5
    assert any(len(r["data"]) < 7 for r in attributed)


def test_days_after_today_have_no_data(simulator: SimulatorServer, api: requests.Session) -> None:
    after = SIM_TODAY + timedelta(days=1)
    interval = f"{after}T00:00:00.000Z/{after + timedelta(days=2)}T00:00:00.000Z"
    assert query_ok(api, simulator, body(interval, "P1D", None)) == {}
    today_interval = f"{SIM_TODAY}T00:00:00.000Z/{after}T00:00:00.000Z"
    assert query_ok(api, simulator, body(today_interval, "P1D", None))["results"]


# --- DST buckets ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "interval", "bucket", "hours"),
    [
        (
            "spring forward",
            "2026-03-08T00:00:00.000-05:00/2026-03-09T00:00:00.000-04:00",
            "2026-03-08T05:00:00.000Z/2026-03-09T04:00:00.000Z",
            23,
        ),
        (
            "fall back",
            "2026-11-01T00:00:00.000-04:00/2026-11-02T00:00:00.000-05:00",
            "2026-11-01T04:00:00.000Z/2026-11-02T05:00:00.000Z",
            25,
        ),
    ],
)
def test_dst_days_are_one_bucket_of_local_midnights(
    simulator: SimulatorServer, api: requests.Session, day: str, interval: str, bucket: str, hours: int
) -> None:
    payload = query_ok(api, simulator, body(interval, "P1D"))
    intervals = {entry["interval"] for r in payload["results"] for entry in r["data"]}
    assert intervals == {bucket}, day
    start, end = parse_interval(bucket)
    assert end - start == timedelta(hours=hours)


def test_week_over_fall_back_has_local_midnight_buckets(
    simulator: SimulatorServer, api: requests.Session
) -> None:
    payload = query_ok(api, simulator, body(NY_WEEK_BODY["interval"], "P1D"))
    starts = sorted({parse_interval(e["interval"])[0] for r in payload["results"] for e in r["data"]})
    assert [s.isoformat() for s in starts[:3]] == [
        "2026-11-01T04:00:00+00:00",
        "2026-11-02T05:00:00+00:00",
        "2026-11-03T05:00:00+00:00",
    ]
    assert len(starts) == 7


# --- additivity -------------------------------------------------------------------------------------------


def test_a_week_equals_the_sum_of_its_days(simulator: SimulatorServer, api: requests.Session) -> None:
    daily = query_ok(api, simulator, body(NY_WEEK_BODY["interval"], "P1D"))
    weekly = query_ok(api, simulator, body(NY_WEEK_BODY["interval"], "P7D"))
    whole = query_ok(api, simulator, body(NY_WEEK_BODY["interval"], None))
    expected = totals(daily)
    assert totals(weekly) == expected
    assert totals(whole) == expected
    assert len(expected) > 100


def test_hours_sum_to_their_day_on_a_23_hour_day(simulator: SimulatorServer, api: requests.Session) -> None:
    interval = "2026-03-08T00:00:00.000-05:00/2026-03-09T00:00:00.000-04:00"
    hourly = query_ok(api, simulator, body(interval, "PT1H"))
    buckets = {e["interval"] for r in hourly["results"] for e in r["data"]}
    assert len(buckets) <= 23
    assert "2026-03-08T06:00:00.000Z/2026-03-08T07:00:00.000Z" in buckets  # 01:00-03:00 local: one hour
    assert totals(hourly) == totals(query_ok(api, simulator, body(interval, "P1D")))


def test_quarter_hours_sum_to_their_day(simulator: SimulatorServer, api: requests.Session) -> None:
    interval = "2026-11-10T00:00:00.000-05:00/2026-11-11T00:00:00.000-05:00"
    quarters = query_ok(api, simulator, body(interval, "PT15M"))
    assert totals(quarters) == totals(query_ok(api, simulator, body(interval, "P1D")))


@pytest.mark.parametrize(
    ("time_zone", "interval"),
    [
        ("America/New_York", "2026-11-10T00:00:00.000-05:00/2026-11-17T00:00:00.000-05:00"),
        ("Asia/Kolkata", "2026-11-10T00:00:00.000+05:30/2026-11-17T00:00:00.000+05:30"),
        ("Asia/Kathmandu", "2026-11-10T00:00:00.000+05:45/2026-11-17T00:00:00.000+05:45"),
        ("Australia/Sydney", "2026-10-01T00:00:00.000+10:00/2026-10-08T00:00:00.000+11:00"),
    ],
)
def test_time_zones_agree_for_the_same_utc_span(
    simulator: SimulatorServer, api: requests.Session, time_zone: str, interval: str
) -> None:
    local_days = query_ok(api, simulator, body(interval, "P1D", time_zone))
    start, end = parse_interval(interval)
    utc_interval = f"{start.astimezone(UTC).isoformat()}/{end.astimezone(UTC).isoformat()}"
    one_bucket = query_ok(api, simulator, body(utc_interval, None, None))
    assert totals(local_days) == totals(one_bucket)
    starts = {parse_interval(e["interval"])[0] for r in local_days["results"] for e in r["data"]}
    local_starts = sorted(s.astimezone(ZoneInfo(time_zone)) for s in starts)
    assert [s.time().isoformat() for s in local_starts] == ["00:00:00"] * 7
    assert [s.date() for s in local_starts] == [start.date() + timedelta(days=i) for i in range(7)]


def test_group_by_media_type_totals_include_unattributed_conversations(
    simulator: SimulatorServer, api: requests.Session
) -> None:
    by_queue = query_ok(api, simulator, body(NY_WEEK_BODY["interval"], "P7D"))
    by_media = query_ok(api, simulator, body(NY_WEEK_BODY["interval"], "P7D", groupBy=["mediaType"]))
    assert totals(by_media) == totals(by_queue, drop=("queueId",))
    no_groups = query_ok(api, simulator, body(NY_WEEK_BODY["interval"], "P7D", groupBy=[]))
    assert [r["group"] for r in no_groups["results"]] == [{}]
    assert totals(no_groups) == totals(by_queue, drop=("queueId", "mediaType"))


# --- groups, filters, direction --------------------------------------------------------------------------


def test_unattributed_groups_carry_no_queue_id(simulator: SimulatorServer, api: requests.Session) -> None:
    payload = query_ok(api, simulator, body(NY_WEEK_BODY["interval"], "P1D"))
    unattributed = [r for r in payload["results"] if "queueId" not in r["group"]]
    assert unattributed
    assert all(set(r["group"]) == {"mediaType"} for r in unattributed)
    names = {m["metric"] for r in unattributed for e in r["data"] for m in e["metrics"]}
    assert "nConnected" in names
    assert "tHandle" in names
    assert "nOffered" not in names  # nothing was offered to a queue


def test_unattributed_groups_can_be_switched_off(fresh_simulator: Any) -> None:
    sim = fresh_simulator(unattributed_groups=False)
    payload = query_ok(api_session(sim), sim, body(NY_WEEK_BODY["interval"], "P1D"))
    assert all("queueId" in r["group"] for r in payload["results"])


def test_filter_on_queue_and_media_type(simulator: SimulatorServer, api: requests.Session) -> None:
    everything = totals(query_ok(api, simulator, body(NY_WEEK_BODY["interval"], "P7D")))
    queue_a, queue_b = simulator.queue_ids()[:2]
    one_queue = {"type": "and", "predicates": [{"dimension": "queueId", "value": queue_a}]}
    payload = query_ok(api, simulator, body(NY_WEEK_BODY["interval"], "P7D", filter=one_queue))
    assert {r["group"]["queueId"] for r in payload["results"]} == {queue_a}
    assert totals(payload) == {k: v for k, v in everything.items() if ("queueId", queue_a) in k[0]}

    either_voice = {
        "type": "and",
        "predicates": [{"dimension": "mediaType", "operator": "matches", "value": "voice"}],
        "clauses": [
            {
                "type": "or",
                "predicates": [
                    {"dimension": "queueId", "value": queue_a},
                    {"dimension": "queueId", "value": queue_b},
                ],
            }
        ],
    }
    payload = query_ok(api, simulator, body(NY_WEEK_BODY["interval"], "P7D", filter=either_voice))
    expected = {
        k: v
        for k, v in everything.items()
        if ("mediaType", "voice") in k[0] and ({("queueId", queue_a), ("queueId", queue_b)} & set(k[0]))
    }
    assert totals(payload) == expected
    assert expected


def test_filter_on_a_dimension_the_data_do_not_carry(
    simulator: SimulatorServer, api: requests.Session
) -> None:
    wrap_up = {"type": "and", "predicates": [{"dimension": "wrapUpCode", "value": "x"}]}
    assert query_ok(api, simulator, body(NY_WEEK_BODY["interval"], "P7D", filter=wrap_up)) == {}
    absent = {"type": "and", "predicates": [{"dimension": "wrapUpCode", "operator": "notExists"}]}
    all_data = query_ok(api, simulator, body(NY_WEEK_BODY["interval"], "P7D"))
    assert totals(query_ok(api, simulator, body(NY_WEEK_BODY["interval"], "P7D", filter=absent))) == totals(
        all_data
    )


def test_group_by_direction_splits_outbound(simulator: SimulatorServer, api: requests.Session) -> None:
    payload = query_ok(
        api, simulator, body(NY_WEEK_BODY["interval"], "P7D", groupBy=["queueId", "mediaType", "direction"])
    )
    by_direction: dict[str, set[str]] = defaultdict(set)
    for result in payload["results"]:
        by_direction[result["group"]["direction"]] |= {
            m["metric"] for e in result["data"] for m in e["metrics"]
        }
    assert by_direction["outbound"] == {"nOutbound"}
    assert "nOutbound" not in by_direction["inbound"]
    assert "nOffered" in by_direction["inbound"]
    assert totals(payload, drop=("direction",)) == totals(
        query_ok(api, simulator, body(NY_WEEK_BODY["interval"], "P7D"))
    )


# --- ground truth and realism -----------------------------------------------------------------------------


def answer_frame(payload: dict[str, Any], time_zone: str) -> pd.DataFrame:
    rows = []
    for (interval, group, metric), stats in flatten_answer(payload).items():
        keys = dict(group)
        if "queueId" not in keys:
            continue
        start = parse_interval(interval)[0]
        rows.append(
            {
                "metric_date": start.astimezone(ZoneInfo(time_zone)).date(),
                "queue_id": keys["queueId"],
                "media_type": keys["mediaType"],
                "metric": metric,
                **{k: float(v) for k, v in stats.items()},
            }
        )
    frame = pd.DataFrame(rows)
    return frame.sort_values(["metric_date", "queue_id", "media_type", "metric"], ignore_index=True)


def test_ground_truth_equals_the_api_answer(simulator: SimulatorServer, api: requests.Session) -> None:
    payload = query_ok(api, simulator, body(NY_WEEK_BODY["interval"], "P1D"))
    truth = simulator.ground_truth(date(2026, 11, 1), date(2026, 11, 7), NY)
    assert list(truth.columns) == [
        "metric_date", "queue_id", "media_type", "metric",
        "count", "sum", "min", "max", "numerator", "denominator", "ratio", "target",
    ]  # fmt: skip
    served = answer_frame(payload, NY)
    assert len(truth) == len(served) > 1000
    pd.testing.assert_frame_equal(truth, served[truth.columns], check_dtype=False)
    assert set(truth["metric_date"]) == {date(2026, 11, 1) + timedelta(days=i) for i in range(7)}


def test_ground_truth_includes_deleted_queues_absent_from_the_listing(simulator: SimulatorServer) -> None:
    truth = simulator.ground_truth(date(2026, 11, 1), date(2026, 11, 7), "UTC")
    deleted = set(simulator.queue_ids(include_deleted=True)) - set(simulator.queue_ids(include_deleted=False))
    assert len(deleted) == 2
    assert deleted <= set(truth["queue_id"])
    listed = {q["id"] for q in simulator.queues()}
    assert not deleted & listed


def test_metric_relations_hold(simulator: SimulatorServer) -> None:
    truth = simulator.ground_truth(date(2026, 10, 1), date(2026, 10, 31), "UTC")
    wide = truth.pivot_table(
        index=["metric_date", "queue_id", "media_type"],
        columns="metric",
        values=["count", "sum", "numerator", "denominator"],
        aggfunc="first",
    ).fillna(0)
    count, total = wide["count"], wide["sum"]
    assert (count["nOffered"] == count["tAnswered"] + count["tAbandon"] + count["tFlowOut"]).all()
    assert (count["nOffered"] == count["tWait"]).all()
    assert (count["tAcd"] == count["tAnswered"] + count["tAbandon"]).all()
    assert (count["tShortAbandon"] <= count["tAbandon"]).all()
    assert (count["tVoicemail"] <= count["tFlowOut"]).all()
    assert (count["nOverSla"] <= count["tAnswered"]).all()
    assert (count["tAnswered"] <= count["tAlert"]).all()
    assert (count["nConnected"] == count["tHandle"]).all()
    assert (count["tTalkComplete"] == count["tHandle"]).all()
    assert (count["nTransferred"] == count["nBlindTransferred"] + count["nConsultTransferred"]).all()
    assert (total["tWait"] == total["tAnswered"] + total["tAbandon"] + total["tFlowOut"]).all()
    assert (total["tHandle"] == total["tTalkComplete"] + total["tHeldComplete"] + total["tAcw"]).all()
    service = wide["numerator"]["oServiceLevel"], wide["denominator"]["oServiceLevel"]
    assert (service[0] == count["tAnswered"] - count["nOverSla"]).all()
    assert (service[1] == count["tAnswered"] + count["tAbandon"] - count["tShortAbandon"]).all()
    short = truth[truth["metric"] == "tShortAbandon"]
    assert (short["max"] < 10_000).all()
    # A daily and weekly pattern: weekdays busier than weekends, and some variety between days.
    daily = truth[truth["metric"] == "nOffered"].groupby("metric_date")["count"].sum()
    weekday = daily[[d.weekday() < 5 for d in daily.index]]
    weekend = daily[[d.weekday() >= 5 for d in daily.index]]
    assert weekend.mean() < 0.6 * weekday.mean()
    assert weekday.std() > 0


def test_data_are_deterministic_from_the_seed(fresh_simulator: Any) -> None:
    first, same, other = fresh_simulator(seed=7), fresh_simulator(seed=7), fresh_simulator(seed=8)
    answers = [
        query_ok(api_session(s), s, body(NY_WEEK_BODY["interval"], "P1D")) for s in (first, same, other)
    ]
    assert answers[0] == answers[1]
    assert answers[0] != answers[2]
    assert first.queue_ids() == same.queue_ids() != other.queue_ids()


def test_a_large_org_is_served_fast(fresh_simulator: Any) -> None:
    sim = fresh_simulator(queues=200, deleted_queues=10, requests_per_minute=10_000)
    api = api_session(sim)
    started = time.process_time()
    start = date(2026, 9, 6)
    for week in range(4):
        first = start + timedelta(days=7 * week)
        interval = f"{first}T00:00:00.000-04:00/{first + timedelta(days=7)}T00:00:00.000-04:00"
        payload = query_ok(api, sim, body(interval, "P1D", metrics=ALL))
        assert len(payload["results"]) > 400
    # 28 days × 200 queues × all default metrics: a fraction of a second of simulator CPU (a year takes
    # a few seconds); the bound is generous for a shared machine.
    assert sim.cpu_seconds() < 4.0
    assert time.process_time() - started < 30


def test_concurrent_requests_get_the_same_answers(fresh_simulator: Any) -> None:
    sim = fresh_simulator(requests_per_minute=10_000)
    token = sim.issue_token()
    weeks = [date(2026, 8, 2) + timedelta(days=7 * i) for i in range(6)]

    def ask(first: date) -> dict[str, Any]:
        interval = f"{first}T00:00:00.000-04:00/{first + timedelta(days=7)}T00:00:00.000-04:00"
        return query_ok(api_session(sim, token), sim, body(interval, "P1D"))

    with ThreadPoolExecutor(max_workers=6) as pool:
        parallel = list(pool.map(ask, weeks))
    assert parallel == [ask(first) for first in weeks]
