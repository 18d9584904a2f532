"""GenesysClient over real HTTP: the simulator for Genesys behaviour, a scripted stub for broken servers."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

from genesys_etl import __version__, settings
from genesys_etl import client as client_module
from genesys_etl.client import ClientStats, GenesysClient
from genesys_etl.config import Config
from genesys_etl.errors import (
    ConfigError,
    GenesysApiError,
    GenesysAuthError,
    ResponseShapeError,
    RetryBudgetExceededError,
)
from genesys_etl.query import build_query, plan_bodies
from genesys_etl.windows import Window, plan_windows
from genesys_sim import FaultConfig, SimConfig, SimulatorServer

CLIENT_ID = "etl-client-7c9e2b41"
CLIENT_SECRET = "s3cr3t-5f8a1d-do-not-log"
TODAY = date(2026, 11, 26)
ZONE = "America/New_York"
STATS = ("count", "sum", "min", "max", "numerator", "denominator", "ratio", "target")


@pytest.fixture
def start_sim() -> Iterator[Callable[..., SimulatorServer]]:
    """Start simulators with per-test settings; all are stopped at the end of the test."""
    started: list[SimulatorServer] = []

    def start(**overrides: Any) -> SimulatorServer:
        values: dict[str, Any] = {
            "seed": 7,
            "queues": 20,
            "today": TODAY,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "requests_per_minute": 100_000,  # the client's own pace is under test, not the simulator's limit
        }
        values.update(overrides)
        sim = SimulatorServer(SimConfig(**values)).start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(start_sim: Callable[..., SimulatorServer]) -> SimulatorServer:
    return start_sim()


def make_client(base_url: str, **overrides: Any) -> GenesysClient:
    values: dict[str, Any] = {
        "api_url": base_url,
        "login_url": base_url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "requests_per_minute": 6000,
        "timeout": 5.0,
    }
    values.update(overrides)
    return GenesysClient(**values)


def one_day_body(day: date = date(2026, 11, 20), metrics: Sequence[str] = ("nOffered",)) -> dict[str, Any]:
    return build_query(Window(day, day, ZONE), metrics)


def collect(responses: Sequence[Mapping[str, Any]], zone: str) -> dict[tuple[Any, ...], dict[str, float]]:
    """(local day, queue, media type, metric) → stats, from raw aggregate answers (queue groups only)."""
    rows: dict[tuple[Any, ...], dict[str, float]] = {}
    for response in responses:
        for result in response.get("results", []):
            group = result["group"]
            if "queueId" not in group:
                continue
            for bucket in result["data"]:
                start = datetime.fromisoformat(bucket["interval"].split("/")[0])
                day = start.astimezone(ZoneInfo(zone)).date()
                for metric in bucket["metrics"]:
                    key = (day, group["queueId"], group["mediaType"], metric["metric"])
                    assert key not in rows, f"duplicate {key}"
                    rows[key] = {name: float(value) for name, value in metric["stats"].items()}
    return rows


def ground_truth(
    sim: SimulatorServer, start: date, end: date, zone: str, metrics: Sequence[str]
) -> dict[tuple[Any, ...], dict[str, float]]:
    rows: dict[tuple[Any, ...], dict[str, float]] = {}
    for record in sim.ground_truth(start, end, zone, list(metrics)).to_dict("records"):
        key = (record["metric_date"], record["queue_id"], record["media_type"], record["metric"])
        rows[key] = {name: float(record[name]) for name in STATS if not math.isnan(record[name])}
    return rows


# --- the 90-day pull under faults -------------------------------------------------------------------


def test_a_90_day_pull_under_faults_equals_the_ground_truth(
    start_sim: Callable[..., SimulatorServer],
) -> None:
    # Tokens are revoked every 5 requests (not 50): a 13-window pull makes ~20 requests, so 50 would never
    # trigger; test_token_is_renewed_once_per_50_requests covers the 50 itself.
    sim = start_sim(token_max_uses=5, latency_seconds=0.002)
    sim.set_faults(
        FaultConfig(
            seed=1,
            rate_429=0.2,
            retry_after_seconds=1,
            rate_5xx=0.05,
            statuses_5xx=(503,),
            rate_drop=0.02,
            rate_malformed=0.01,
            # Every fault kind at least once, whatever the seeded draws give for ~20 requests.
            sequence=("429", "503", "drop", "malformed", "ok", "drop", "503"),
        )
    )
    end = TODAY - timedelta(days=1)
    start = end - timedelta(days=89)
    windows = list(plan_windows(start, end, 7, ZONE))
    assert len(windows) == 13
    client = make_client(sim.base_url)
    responses = [client.query_aggregates(build_query(window, settings.DEFAULT_METRICS)) for window in windows]

    pulled = collect(responses, ZONE)
    expected = ground_truth(sim, start, end, ZONE, settings.DEFAULT_METRICS)
    assert len(expected) > 10_000
    assert pulled.keys() == expected.keys()
    mismatched = [key for key, stats in expected.items() if pulled[key] != pytest.approx(stats, rel=1e-12)]
    assert mismatched == []
    offered = sum(stats["count"] for key, stats in pulled.items() if key[3] == "nOffered")
    assert offered == sum(stats["count"] for key, stats in expected.items() if key[3] == "nOffered")

    stats = client.stats
    counters = sim.counters()
    assert stats.api_calls == sim.request_count("aggregates/query")  # every attempt counted, once
    assert stats.api_calls == len(windows) + stats.retries  # each extra attempt is a counted retry
    assert sim.request_count("aggregates/query", 429) >= 1
    assert sim.request_count("aggregates/query", 503) >= 2
    assert sim.request_count("aggregates/query", "dropped") >= 2
    assert sim.request_count("aggregates/query", 401) >= 2  # revoked tokens were renewed
    assert stats.token_fetches == counters["POST /oauth/token 200"] >= 3
    assert stats.wait_seconds >= 1.0  # the Retry-After of each 429 was honoured


# --- retry budget -------------------------------------------------------------------------------------


def test_retry_after_above_the_maximum_fails_fast_with_a_clear_error(sim: SimulatorServer) -> None:
    sim.set_faults(FaultConfig(sequence=("429",), retry_after_seconds=86400))  # a daily cap
    client = make_client(sim.base_url, max_retry_wait=180.0)
    started = time.monotonic()
    with pytest.raises(RetryBudgetExceededError) as caught:
        client.query_aggregates(one_day_body())
    assert time.monotonic() - started < 5.0  # no day-long (or 6-hour urllib3 default) sleep
    error = caught.value
    assert error.status == 429
    assert error.correlation_id
    assert error.url_path == settings.AGGREGATES_QUERY_PATH
    assert "wait 86400 s" in str(error)  # what Genesys asked, not urllib3's 6-hour cap
    assert "allowed 180 s" in str(error)
    assert "--max-retry-wait" in str(error)
    assert "\n" not in str(error)
    assert sim.request_count("aggregates/query") == 1
    assert client.stats.wait_seconds < 1.0


def test_retry_waits_are_bounded_in_total(sim: SimulatorServer) -> None:
    sim.set_faults(FaultConfig(sequence=("429", "429", "429"), retry_after_seconds=1))
    client = make_client(sim.base_url, max_retry_wait=1.5)
    with pytest.raises(RetryBudgetExceededError, match=r"wait 2 s in total, more than the allowed 1\.5 s"):
        client.query_aggregates(one_day_body())
    assert sim.request_count("aggregates/query") == 2


def test_retries_are_bounded_in_attempts(sim: SimulatorServer) -> None:
    sim.set_faults(FaultConfig(rate_5xx=1.0, statuses_5xx=(503,)))
    client = make_client(sim.base_url, max_attempts=3)
    with pytest.raises(RetryBudgetExceededError) as caught:
        client.query_aggregates(one_day_body())
    error = caught.value
    assert "gave up after 3 attempt(s), last answer HTTP 503" in str(error)
    assert (error.status, error.code) == (503, "service.unavailable")
    assert error.correlation_id
    assert sim.request_count("aggregates/query", 503) == 3
    assert client.stats.retries == 2


def test_dropped_connections_are_retried_then_given_up(sim: SimulatorServer) -> None:
    sim.set_faults(FaultConfig(sequence=("drop", "drop")))
    client = make_client(sim.base_url)
    assert "results" in client.query_aggregates(one_day_body())
    assert client.stats.retries == 2
    sim.set_faults(FaultConfig(rate_drop=1.0))
    with pytest.raises(RetryBudgetExceededError, match=r"failed after 2 attempt\(s\)"):
        make_client(sim.base_url, max_attempts=2).query_aggregates(one_day_body())


@pytest.mark.parametrize("status", [502, 504])
def test_gateway_errors_with_html_bodies_are_retried(sim: SimulatorServer, status: int) -> None:
    sim.set_faults(FaultConfig(sequence=(str(status),)))
    client = make_client(sim.base_url)
    assert "results" in client.query_aggregates(one_day_body())
    assert sim.request_count("aggregates/query", status) == 1
    assert client.stats.retries == 1


def test_malformed_bodies_are_retried_a_bounded_number_of_times(sim: SimulatorServer) -> None:
    sim.set_faults(FaultConfig(sequence=("malformed", "malformed")))
    client = make_client(sim.base_url)
    assert client.query_aggregates(one_day_body()) == make_client(sim.base_url).query_aggregates(
        one_day_body()
    )
    assert client.stats.retries == 2
    sim.set_faults(FaultConfig(rate_malformed=1.0))
    with pytest.raises(ResponseShapeError, match="not valid JSON"):
        client.query_aggregates(one_day_body())


def test_every_call_has_a_timeout(sim: SimulatorServer) -> None:
    sim.set_faults(FaultConfig(sequence=("slow",), slow_seconds=3.0))
    client = make_client(sim.base_url, timeout=0.5)
    started = time.monotonic()
    assert "results" in client.query_aggregates(one_day_body())
    assert time.monotonic() - started < 2.5  # the slow answer was abandoned, not awaited
    assert client.stats.retries == 1


# --- request counts -----------------------------------------------------------------------------------


def test_a_year_with_7_day_windows_is_exactly_53_aggregate_calls(sim: SimulatorServer) -> None:
    config = Config.from_mapping(
        {
            "start_date": "2025-11-26",
            "end_date": "2026-11-25",
            "time_zone": ZONE,
            "days_per_query": "7",
            "api_url": sim.base_url,
            "requests_per_minute": "6000",
        },
        {"GENESYS_CLIENT_ID": CLIENT_ID, "GENESYS_CLIENT_SECRET": CLIENT_SECRET},
    )
    with GenesysClient.from_config(config) as client:
        for body in plan_bodies(config):
            client.query_aggregates(body)
        assert client.stats.api_calls == 53
    assert sim.request_count("aggregates/query") == 53
    assert sim.request_count("aggregates/query", 200) == 53


# --- non-retryable errors -----------------------------------------------------------------------------


def test_a_400_carries_status_code_message_and_correlation_id(sim: SimulatorServer) -> None:
    client = make_client(sim.base_url)
    with pytest.raises(GenesysApiError) as caught:
        client.query_aggregates({"interval": "P1D", "groupings": ["queueId"], "metrics": ["nOffered"]})
    error = caught.value
    assert type(error) is GenesysApiError
    assert error.status == 400
    assert error.code
    assert "interval" in error.message
    assert error.correlation_id
    assert error.url_path == settings.AGGREGATES_QUERY_PATH
    assert f"correlation id {error.correlation_id}" in str(error)
    assert sim.request_count("aggregates/query") == 1  # not retried


def test_a_transient_500_is_retried(sim: SimulatorServer) -> None:
    sim.set_faults(FaultConfig(sequence=("500",)))
    client = make_client(sim.base_url)
    answer = client.query_aggregates(one_day_body())
    assert "results" in answer
    assert sim.request_count("aggregates/query", 500) == 1
    assert sim.request_count("aggregates/query", 200) == 1
    assert client.stats.retries == 1


def test_a_500_that_persists_fails_after_bounded_attempts(sim: SimulatorServer) -> None:
    sim.set_faults(FaultConfig(sequence=("500",) * 10))
    client = make_client(sim.base_url, max_attempts=3)
    with pytest.raises(GenesysApiError) as caught:
        client.query_aggregates(one_day_body())
    assert caught.value.status == 500
    assert sim.request_count("aggregates/query") == 3


def test_wrong_credentials_are_a_401_from_the_login_host(sim: SimulatorServer) -> None:
    client = make_client(sim.base_url, client_secret="not-the-secret")
    with pytest.raises(GenesysAuthError) as caught:
        client.query_aggregates(one_day_body())
    error = caught.value
    assert (error.status, error.code) == (401, "invalid_client")
    assert "GENESYS_CLIENT_ID / GENESYS_CLIENT_SECRET" in str(error)
    assert error.correlation_id
    assert sim.request_count("aggregates/query") == 0


def test_a_token_refused_twice_is_an_auth_error(start_sim: Callable[..., SimulatorServer]) -> None:
    # The simulator advertises expires_in 1 s but expires tokens after 1 ms, and answers every request
    # 20 ms late: each token has expired before its first use.
    sim = start_sim(token_lifetime_seconds=0.001, latency_seconds=0.02)
    client = make_client(sim.base_url)
    with pytest.raises(GenesysAuthError) as caught:
        client.query_aggregates(one_day_body())
    error = caught.value
    assert (error.status, error.code) == (401, "bad.credentials")
    assert "fresh token was refused too" in str(error)
    assert error.correlation_id
    assert sim.request_count("aggregates/query", 401) == 2  # refreshed once, retried once, then failed
    assert client.stats.token_fetches == 2


# --- tokens -------------------------------------------------------------------------------------------


def test_token_is_renewed_once_per_50_requests(start_sim: Callable[..., SimulatorServer]) -> None:
    sim = start_sim(token_max_uses=50)
    client = make_client(sim.base_url)
    for _ in range(101):  # tokens A (1-50), B (51-100), C (101)
        assert len(list(client.list_queues())) == 18
    assert client.stats.token_fetches == 3
    assert sim.request_count("routing/queues", 401) == 2
    assert sim.request_count("routing/queues", 200) == 101
    assert client.stats.retries == 2


def test_token_is_refreshed_ahead_of_its_expiry(start_sim: Callable[..., SimulatorServer]) -> None:
    sim = start_sim(token_lifetime_seconds=1.0)  # expires_in 1: refreshed after 0.8 s, before it runs out
    client = make_client(sim.base_url)
    client.query_aggregates(one_day_body())
    client.query_aggregates(one_day_body())
    assert client.stats.token_fetches == 1  # cached between calls
    time.sleep(0.85)
    client.query_aggregates(one_day_body())
    assert client.stats.token_fetches == 2
    assert sim.request_count("aggregates/query", 401) == 0  # refreshed before, not after, a refusal


# --- queues -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("page_size", "pages"), [(7, 3), (9, 2), (100, 1), (1, 18)])
def test_queue_listing_pages_until_page_count(sim: SimulatorServer, page_size: int, pages: int) -> None:
    client = make_client(sim.base_url)
    queues = list(client.list_queues(page_size=page_size))
    assert [q["id"] for q in queues] == [q["id"] for q in sim.queues()]
    assert sorted(q["id"] for q in queues) == sorted(sim.queue_ids(include_deleted=False))
    assert sim.request_count("routing/queues") == pages
    assert all(q["name"] and q["division"]["name"] for q in queues)


def test_queue_page_size_is_checked() -> None:
    client = make_client("http://127.0.0.1:9")
    with pytest.raises(ValueError, match=r"1\.\.100"):
        list(client.list_queues(page_size=0))


# --- pacing -------------------------------------------------------------------------------------------


def _max_in_any_second(samples: list[tuple[float, int]]) -> int:
    """Most requests the simulator counted within any 1-second span of the samples."""
    worst = 0
    for i, (t_i, c_i) in enumerate(samples):
        for t_j, c_j in samples[i:]:
            if t_j - t_i > 1.0:
                break
            worst = max(worst, c_j - c_i)
    return worst


def _burst(sim: SimulatorServer, requests_per_minute: int, calls: int, rate_period: float = 60.0) -> int:
    sim.reset_counters()
    samples: list[tuple[float, int]] = [(time.monotonic(), 0)]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append((time.monotonic(), sim.request_count("routing/queues")))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    client = make_client(sim.base_url, requests_per_minute=requests_per_minute, rate_period=rate_period)
    for _ in range(calls):
        list(client.list_queues())
    time.sleep(0.05)
    done.set()
    sampler.join()
    samples.append((time.monotonic(), sim.request_count("routing/queues")))
    assert samples[-1][1] == calls
    return _max_in_any_second(samples)


def test_the_budget_keeps_a_burst_under_the_configured_rate(sim: SimulatorServer) -> None:
    # 4 requests per 1-second period (a minute's budget, scaled down): the 10 calls take 3 periods.
    budgeted = _burst(sim, requests_per_minute=4, calls=10, rate_period=1.0)
    bursting = _burst(sim, requests_per_minute=240, calls=10)  # 10 of a minute's 240: no wait at all
    assert budgeted <= 5  # 4 per period, +1 for a span that catches both ends
    assert bursting >= 9  # within the budget requests are not spaced out: the measurement sees the burst


# --- secrets ------------------------------------------------------------------------------------------


def test_secrets_never_appear_in_logs_or_errors(
    start_sim: Callable[..., SimulatorServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sim = start_sim(token_max_uses=3)
    issued: list[str] = []
    issue_token = sim.issue_token

    def record_token() -> str:
        token = issue_token()
        issued.append(token)
        return token

    sim.issue_token = record_token  # type: ignore[method-assign]
    texts: list[str] = []
    sim.set_faults(FaultConfig(sequence=("429", "503", "drop", "malformed", "502"), retry_after_seconds=1))
    client = make_client(sim.base_url)
    for day in range(5):
        client.query_aggregates(one_day_body(date(2026, 11, 1) + timedelta(days=day)))
    list(client.list_queues(page_size=5))
    sim.set_faults(FaultConfig())

    def too_long_a_wait() -> object:
        sim.set_faults(FaultConfig(sequence=("429",), retry_after_seconds=9999))
        return client.query_aggregates(one_day_body())

    failing: list[Callable[[], object]] = [
        lambda: client.query_aggregates({"interval": "P1D", "metrics": ["nOffered"]}),
        lambda: make_client(sim.base_url, client_secret=CLIENT_SECRET + "x").query_aggregates(one_day_body()),
        too_long_a_wait,
    ]
    errors: list[GenesysApiError] = []
    for call in failing:
        with pytest.raises(GenesysApiError) as caught:
            call()
        errors.append(caught.value)
        texts.extend([str(caught.value), repr(caught.value), caught.value.message])
    assert [error.status for error in errors] == [400, 401, 429]
    texts.extend([repr(client), str(client.stats), caplog.text])
    texts.extend(str(record.args) for record in caplog.records)

    assert len(issued) >= 3
    assert any(r.name == "genesys_etl.client" and r.levelno == logging.DEBUG for r in caplog.records)
    assert any(r.name.startswith("urllib3") for r in caplog.records)
    assert "retrying POST /api/v2/analytics/conversations/aggregates/query" in caplog.text
    everything = "\n".join(texts)
    for secret in (CLIENT_ID, CLIENT_SECRET, *issued):
        assert secret not in everything
    assert "Bearer" not in everything
    assert "Basic " not in everything
    assert "Authorization" not in everything


def test_plain_http_is_refused_for_a_remote_host() -> None:
    with pytest.raises(ConfigError, match="only for loopback"):
        make_client("http://api.mypurecloud.com")
    with pytest.raises(ConfigError, match="only for loopback"):
        make_client("https://api.mypurecloud.com", login_url="http://login.mypurecloud.com")


def test_stats_are_snapshots() -> None:
    client = make_client("http://127.0.0.1:9")
    assert client.stats == ClientStats()
    assert "api_url='http://127.0.0.1:9'" in repr(client)


# --- a scripted stub for what the simulator never does ------------------------------------------------
# The simulator behaves like Genesys; these tests need a server that misbehaves (HTML or empty 200s, a
# 403, paging that repeats or never ends), so a tiny loopback server plays back scripted answers.


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


def _json(status: int, payload: object, **headers: str) -> Answer:
    return Answer(status, json.dumps(payload).encode(), {"Content-Type": "application/json", **headers})


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


class Stub:
    """Loopback HTTP server answering from a script: path → answers in order (the last one repeats)."""

    def __init__(self, script: dict[str, list[Answer] | Callable[[Seen], Answer]]) -> None:
        self.script = script
        self.seen: list[Seen] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(
                    self.command, url.path, parse_qs(url.query), dict(self.headers), self.rfile.read(length)
                )
                stub.seen.append(seen)
                answer = stub.next_answer(seen)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = do_POST = _answer  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def next_answer(self, seen: Seen) -> Answer:
        if seen.path == settings.TOKEN_PATH:
            return _json(
                200, {"access_token": "stub-token-1b2c3d", "token_type": "bearer", "expires_in": 3600}
            )
        entry = self.script[seen.path]
        if callable(entry):
            return entry(seen)
        return entry.pop(0) if len(entry) > 1 else entry[0]

    def calls(self, path: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.path == path]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub() -> Iterator[Callable[[dict[str, Any]], Stub]]:
    stubs: list[Stub] = []

    def start(script: dict[str, Any]) -> Stub:
        stubs.append(Stub(script))
        return stubs[-1]

    yield start
    for one in stubs:
        one.stop()


AGG = settings.AGGREGATES_QUERY_PATH
QUEUES = settings.QUEUES_PATH


def test_requests_carry_user_agent_bearer_token_and_basic_login(
    stub: Callable[[dict[str, Any]], Stub],
) -> None:
    server = stub({AGG: [_json(200, {"results": []})]})
    assert make_client(server.base_url).query_aggregates(one_day_body()) == {"results": []}
    token_call, api_call = server.seen
    assert token_call.headers["User-Agent"] == f"genesys-etl/{__version__}"
    assert token_call.headers["Authorization"].startswith("Basic ")
    assert parse_qs(token_call.body.decode()) == {"grant_type": ["client_credentials"]}
    assert api_call.headers["User-Agent"] == f"genesys-etl/{__version__}"
    assert api_call.headers["Authorization"] == "Bearer stub-token-1b2c3d"
    assert json.loads(api_call.body) == one_day_body()


def test_an_empty_org_day_is_not_an_error(stub: Callable[[dict[str, Any]], Stub]) -> None:
    server = stub({AGG: [_json(200, {})]})
    assert make_client(server.base_url).query_aggregates(one_day_body()) == {}


@pytest.mark.parametrize(
    ("status", "headers", "payload", "correlation_id"),
    [
        (
            403,
            {"inin-correlation-id": "corr-403"},
            {
                "message": "Missing permission analytics:conversationAggregate:view",
                "code": "missing.permissions",
            },
            "corr-403",
        ),
        (404, {}, {"message": "Resource not found", "code": "not.found", "contextId": "ctx-404"}, "ctx-404"),
    ],
)
def test_403_and_404_carry_status_code_message_and_correlation_id(
    stub: Callable[[dict[str, Any]], Stub],
    status: int,
    headers: dict[str, str],
    payload: dict[str, str],
    correlation_id: str,
) -> None:
    server = stub({AGG: [_json(status, {**payload, "status": status}, **headers)]})
    with pytest.raises(GenesysApiError) as caught:
        make_client(server.base_url).query_aggregates(one_day_body())
    error = caught.value
    assert (error.status, error.code, error.correlation_id) == (status, payload["code"], correlation_id)
    assert payload["message"] in error.message
    assert isinstance(error, GenesysAuthError) is (status == 403)
    assert len(server.calls(AGG)) == 1


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        (Answer(200, b""), "an empty body"),
        (Answer(200, b"<html><body>Proxy error</body></html>", {"Content-Type": "text/html"}), "HTML page"),
        (Answer(200, b'{"results": [{"group": '), "not valid JSON"),
    ],
)
def test_unparseable_200_bodies_are_retried_then_a_shape_error(
    stub: Callable[[dict[str, Any]], Stub], answer: Answer, match: str
) -> None:
    server = stub({AGG: [answer]})
    with pytest.raises(ResponseShapeError, match=match):
        make_client(server.base_url).query_aggregates(one_day_body())
    assert len(server.calls(AGG)) == 4  # the first try and three retries


@pytest.mark.parametrize(
    ("payload", "match"),
    [([], "JSON list, expected an object"), ({"results": {"a": 1}}, "'results' of the wrong shape")],
)
def test_json_of_the_wrong_shape_is_a_shape_error_at_once(
    stub: Callable[[dict[str, Any]], Stub], payload: object, match: str
) -> None:
    server = stub({AGG: [_json(200, payload)]})
    with pytest.raises(ResponseShapeError, match=match):
        make_client(server.base_url).query_aggregates(one_day_body())
    assert len(server.calls(AGG)) == 1


def _page(ids: Sequence[str], number: int, count: int) -> Answer:
    entities = [{"id": queue_id, "name": f"Queue {queue_id}"} for queue_id in ids]
    return _json(200, {"entities": entities, "pageNumber": number, "pageSize": len(ids), "pageCount": count})


def test_a_repeated_queue_page_is_refused(stub: Callable[[dict[str, Any]], Stub]) -> None:
    server = stub({QUEUES: [_page(["a", "b"], 1, 5)]})  # a server that ignores pageNumber
    client = make_client(server.base_url)
    with pytest.raises(ResponseShapeError, match="page 2 repeats an earlier page"):
        list(client.list_queues(page_size=2))
    assert len(server.calls(QUEUES)) == 2


def test_queue_paging_that_never_ends_is_refused(
    stub: Callable[[dict[str, Any]], Stub], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "_MAX_QUEUE_PAGES", 25)

    def endless(seen: Seen) -> Answer:
        number = int(seen.query["pageNumber"][0])
        return _page([f"q{number}"], number, 10**9)

    server = stub({QUEUES: endless})
    with pytest.raises(ResponseShapeError, match="did not end after 25 pages"):
        list(make_client(server.base_url).list_queues(page_size=1))
    assert len(server.calls(QUEUES)) == 25


def test_queue_paging_past_the_listing_total_is_refused_at_once(
    stub: Callable[[dict[str, Any]], Stub],
) -> None:
    def growing(seen: Seen) -> Answer:
        number = int(seen.query["pageNumber"][0])
        entities = [{"id": f"q{number}", "name": f"Queue {number}"}]
        return _json(200, {"entities": entities, "pageNumber": number, "pageCount": 10**9, "total": 3})

    server = stub({QUEUES: growing})
    with pytest.raises(ResponseShapeError, match="more than its total of 3 queues"):
        list(make_client(server.base_url).list_queues(page_size=1))
    assert len(server.calls(QUEUES)) == 4


def test_queue_paging_without_page_count_stops_on_a_short_page(
    stub: Callable[[dict[str, Any]], Stub],
) -> None:
    pages = [
        _json(200, {"entities": [{"id": "a"}, {"id": "b"}]}),
        _json(200, {"entities": [{"id": "c"}]}),
    ]
    server = stub({QUEUES: pages})
    assert [q["id"] for q in make_client(server.base_url).list_queues(page_size=2)] == ["a", "b", "c"]
    assert [call.query["pageNumber"] for call in server.calls(QUEUES)] == [["1"], ["2"]]


# --- a host that cannot be reached fails fast; the token call retries like the aggregates call -------


def _closed_loopback_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("base_url", "names"),
    [
        (
            "https://api.nonexistent.invalid",
            ("cannot resolve the host", "api.nonexistent.invalid", "--api-url"),
        ),
        ("closed-port", ("refused the connection", "nothing listens there", "--api-url")),
    ],
    ids=["name-does-not-resolve", "connection-refused"],
)
def test_an_unreachable_host_is_retried_once_and_named(
    base_url: str, names: tuple[str, ...], caplog: pytest.LogCaptureFixture
) -> None:
    from genesys_etl.errors import GenesysUnreachableError

    if base_url == "closed-port":
        base_url = f"http://127.0.0.1:{_closed_loopback_port()}"
    caplog.set_level(logging.INFO)
    client = make_client(base_url)
    started = time.monotonic()
    with pytest.raises(GenesysUnreachableError) as caught:
        client.query_aggregates(one_day_body())
    elapsed = time.monotonic() - started
    message = str(caught.value)
    assert elapsed < 5, f"took {elapsed:.1f} s: the host was retried like a transient failure"
    assert client.stats.requests == 2  # the first try and one retry, not max_attempts
    for part in names:
        assert part in message
    assert "2 attempts" in message
    assert "\n" not in message
    # urllib3's own "Retrying (...)" warning would repeat each retry as a long extra line.
    assert not [r for r in caplog.records if r.name.startswith("urllib3") and "Retrying" in r.getMessage()]
    assert CLIENT_SECRET not in caplog.text + message


def test_an_unresolvable_login_host_names_the_login_flags() -> None:
    from genesys_etl.errors import GenesysUnreachableError

    client = make_client("https://api.mypurecloud.ie", login_url="https://login.nonexistent.invalid")
    with pytest.raises(GenesysUnreachableError, match=r"login\.nonexistent\.invalid.*--login-url"):
        client.query_aggregates(one_day_body())


@pytest.mark.parametrize(
    "faults",
    [("503",), ("500", "502"), ("drop",), ("malformed",), ("malformed", "504", "drop")],
    ids=["503", "500-502", "reset", "truncated-200", "mixed"],
)
def test_the_token_call_retries_transient_failures(
    start_sim: Callable[..., SimulatorServer], faults: tuple[str, ...]
) -> None:
    sim = start_sim(faults=FaultConfig(sequence=faults, path_prefix=settings.TOKEN_PATH))
    client = make_client(sim.base_url)
    response = client.query_aggregates(one_day_body())
    assert response["results"]
    assert sim.request_count(settings.TOKEN_PATH) == len(faults) + 1
    assert client.stats.token_fetches == 1
    assert client.stats.retries == len(faults)


def test_the_token_call_gives_up_after_bounded_attempts(start_sim: Callable[..., SimulatorServer]) -> None:
    sim = start_sim(faults=FaultConfig(sequence=("503",) * 20, path_prefix=settings.TOKEN_PATH))
    client = make_client(sim.base_url, max_attempts=3, max_retry_wait=5)
    with pytest.raises(RetryBudgetExceededError, match="503"):
        client.query_aggregates(one_day_body())
    assert sim.request_count(settings.TOKEN_PATH) == 3
    assert sim.request_count(settings.AGGREGATES_QUERY_PATH) == 0
