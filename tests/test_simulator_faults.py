"""Injected faults (429, 5xx, drops, slow and malformed answers), latency and request counters."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests

from fixtures.simulator import AGGREGATES_PATH, NY_WEEK_BODY, QUEUES_PATH, api_session, post_query
from genesys_sim import FaultConfig, SimulatorServer


@pytest.fixture
def api(simulator: SimulatorServer) -> requests.Session:
    return api_session(simulator)


def test_injected_429_carries_the_configured_retry_after(
    simulator: SimulatorServer, api: requests.Session
) -> None:
    simulator.set_faults(FaultConfig(sequence=("429",), retry_after_seconds=7200))
    limited = post_query(api, simulator, NY_WEEK_BODY)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "7200"
    assert limited.json()["code"] == "too.many.requests.retry.after"
    assert "7200" in limited.json()["message"]
    assert post_query(api, simulator, NY_WEEK_BODY).status_code == 200  # the sequence is used up


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_injected_server_errors(simulator: SimulatorServer, api: requests.Session, status: int) -> None:
    simulator.set_faults(FaultConfig(sequence=(str(status),)))
    answer = post_query(api, simulator, NY_WEEK_BODY)
    assert answer.status_code == status
    assert answer.headers["inin-correlation-id"]
    if status in (502, 504):  # gateways answer with HTML, not the API's JSON
        assert answer.headers["Content-Type"] == "text/html"
        assert str(status) in answer.text
    else:
        assert answer.json()["status"] == status
    assert simulator.request_count("aggregates/query", status) == 1


def test_dropped_connection_gives_no_answer(simulator: SimulatorServer, api: requests.Session) -> None:
    simulator.set_faults(FaultConfig(sequence=("drop",)))
    with pytest.raises(requests.ConnectionError):
        post_query(api, simulator, NY_WEEK_BODY)
    assert simulator.request_count("aggregates/query", "dropped") == 1
    assert post_query(api, simulator, NY_WEEK_BODY).status_code == 200


def test_slow_answer_times_out_a_short_client_timeout(
    simulator: SimulatorServer, api: requests.Session
) -> None:
    simulator.set_faults(FaultConfig(sequence=("slow", "slow"), slow_seconds=0.5))
    with pytest.raises(requests.ReadTimeout):
        post_query(api, simulator, NY_WEEK_BODY, timeout=0.2)
    started = time.monotonic()
    answer = post_query(api_session(simulator), simulator, NY_WEEK_BODY, timeout=5)
    assert answer.status_code == 200
    assert time.monotonic() - started >= 0.5


def test_malformed_answer_is_a_200_with_truncated_json(
    simulator: SimulatorServer, api: requests.Session
) -> None:
    complete = post_query(api, simulator, NY_WEEK_BODY)
    simulator.set_faults(FaultConfig(sequence=("malformed",)))
    broken = post_query(api, simulator, NY_WEEK_BODY)
    assert broken.status_code == 200
    assert complete.text.startswith(broken.text)
    assert len(broken.content) < len(complete.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.text)


def test_fault_rates_are_seeded(simulator: SimulatorServer, api: requests.Session) -> None:
    faults = FaultConfig(seed=11, rate_429=0.2, rate_5xx=0.2, rate_malformed=0.1, retry_after_seconds=0)

    def statuses() -> list[str]:
        simulator.set_faults(faults)
        seen = []
        for _ in range(40):
            answer = api.get(f"{simulator.base_url}{QUEUES_PATH}", params={"pageSize": 100}, timeout=10)
            try:
                answer.json()
                seen.append(str(answer.status_code))
            except ValueError:
                seen.append(f"{answer.status_code}-malformed")
        return seen

    first, second = statuses(), statuses()
    assert first == second
    kinds = set(first)
    assert "200" in kinds
    assert "429" in kinds
    assert "200-malformed" in kinds
    assert kinds & {"500", "502", "503", "504"}
    assert 10 <= sum(s != "200" for s in first) <= 30


def test_faults_only_hit_their_path_prefix(simulator: SimulatorServer) -> None:
    simulator.set_faults(FaultConfig(rate_5xx=1.0, path_prefix="/api/v2/analytics/"))
    api = api_session(simulator)  # the token endpoint is not faulted
    assert api.get(f"{simulator.base_url}{QUEUES_PATH}", timeout=10).status_code == 200
    assert post_query(api, simulator, NY_WEEK_BODY).status_code >= 500


def test_counters_are_kept_by_endpoint_and_status(simulator: SimulatorServer, api: requests.Session) -> None:
    post_query(api, simulator, NY_WEEK_BODY)
    post_query(api, simulator, NY_WEEK_BODY)
    post_query(api, simulator, {"interval": "P1D", "metrics": ["nOffered"]})
    api.get(f"{simulator.base_url}{QUEUES_PATH}", timeout=10)
    counters = simulator.counters()
    assert counters == {
        "POST /oauth/token 200": 1,
        f"POST {AGGREGATES_PATH} 200": 2,
        f"POST {AGGREGATES_PATH} 400": 1,
        f"GET {QUEUES_PATH} 200": 1,
    }
    assert simulator.request_count("aggregates/query") == 3
    assert simulator.request_count(status=200) == 4
    admin = requests.get(f"{simulator.base_url}/_sim/counters", timeout=10).json()
    assert admin == counters
    simulator.reset_counters()
    assert simulator.counters() == {}


def test_latency_is_fixed_plus_jitter(simulator: SimulatorServer, api: requests.Session) -> None:
    simulator.set_latency(0.15, 0.1)
    durations = []
    for _ in range(3):
        started = time.monotonic()
        api.get(f"{simulator.base_url}{QUEUES_PATH}", timeout=10)
        durations.append(time.monotonic() - started)
    assert all(0.15 <= d < 1.0 for d in durations)
    assert max(durations) - min(durations) > 0.001


def test_faults_can_be_set_over_http(simulator: SimulatorServer, api: requests.Session) -> None:
    answer = requests.post(
        f"{simulator.base_url}/_sim/faults", json={"sequence": ["503"], "retry_after_seconds": 3}, timeout=10
    )
    assert answer.status_code == 200
    assert simulator.faults.sequence == ("503",)
    assert post_query(api, simulator, NY_WEEK_BODY).status_code == 503
    refused = requests.post(f"{simulator.base_url}/_sim/faults", json={"rate_429": 2}, timeout=10)
    assert refused.status_code == 400


def test_stats_report_simulator_cpu(simulator: SimulatorServer, api: requests.Session) -> None:
    post_query(api, simulator, NY_WEEK_BODY)
    stats: dict[str, Any] = requests.get(f"{simulator.base_url}/_sim/stats", timeout=10).json()
    assert stats["cpu_seconds"] > 0
    assert stats["requests"] == 2
    assert stats["today"] == "2026-11-26"
