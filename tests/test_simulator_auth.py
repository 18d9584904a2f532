"""The simulator's OAuth client credentials, Bearer checks, token expiry and per-token rate limit."""

from __future__ import annotations

import time
from typing import Any

import requests

from fixtures.simulator import NY_WEEK_BODY, QUEUES_PATH, api_session, fetch_token, post_query
from genesys_sim import SimulatorServer


def token_request(sim: SimulatorServer, **kwargs: Any) -> requests.Response:
    return requests.post(f"{sim.base_url}/oauth/token", timeout=10, **kwargs)


def test_client_credentials_give_a_bearer_token(simulator: SimulatorServer) -> None:
    answer = token_request(simulator, auth=("demo", "demo-secret"), data={"grant_type": "client_credentials"})
    assert answer.status_code == 200
    payload = answer.json()
    assert set(payload) == {"access_token", "token_type", "expires_in"}
    assert payload["token_type"] == "bearer"
    assert payload["expires_in"] == 86400
    assert answer.headers["inin-correlation-id"]
    listing = requests.get(
        f"{simulator.base_url}{QUEUES_PATH}",
        headers={"Authorization": f"Bearer {payload['access_token']}"},
        timeout=10,
    )
    assert listing.status_code == 200


def test_wrong_credentials_get_401_with_an_error_body(simulator: SimulatorServer) -> None:
    for auth in (("demo", "wrong"), ("someone", "demo-secret")):
        answer = token_request(simulator, auth=auth, data={"grant_type": "client_credentials"})
        assert answer.status_code == 401
        assert answer.json()["error"] == "invalid_client"
        assert answer.json()["error_description"]
        assert "demo-secret" not in answer.text
    no_basic = token_request(simulator, data={"grant_type": "client_credentials"})
    assert no_basic.status_code == 401
    assert simulator.request_count("/oauth/token", 401) == 3


def test_wrong_grant_or_body_is_a_400(simulator: SimulatorServer) -> None:
    auth = (simulator.client_id, simulator.client_secret)
    wrong_grant = token_request(simulator, auth=auth, data={"grant_type": "password"})
    assert wrong_grant.status_code == 400
    assert wrong_grant.json()["error"] == "unsupported_grant_type"
    as_json = token_request(simulator, auth=auth, json={"grant_type": "client_credentials"})
    assert as_json.status_code == 400
    assert as_json.json()["error"] == "invalid_request"


def test_api_calls_without_a_valid_bearer_get_bad_credentials(simulator: SimulatorServer) -> None:
    url = f"{simulator.base_url}{QUEUES_PATH}"
    for headers in (
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic ZGVtbzpkZW1vLXNlY3JldA=="},
    ):
        answer = requests.get(url, headers=headers, timeout=10)
        assert answer.status_code == 401
        error = answer.json()
        assert error["code"] == "bad.credentials"
        assert error["status"] == 401
        assert error["contextId"] == answer.headers["inin-correlation-id"]
    aggregates = post_query(requests.Session(), simulator, NY_WEEK_BODY)
    assert aggregates.status_code == 401


def test_tokens_expire_after_their_lifetime(fresh_simulator: Any) -> None:
    sim = fresh_simulator(token_lifetime_seconds=0.6)
    token_answer = token_request(sim, auth=("demo", "demo-secret"), data={"grant_type": "client_credentials"})
    assert token_answer.json()["expires_in"] == 1
    api = api_session(sim, token_answer.json()["access_token"])
    assert api.get(f"{sim.base_url}{QUEUES_PATH}", timeout=10).status_code == 200
    time.sleep(0.7)
    expired = api.get(f"{sim.base_url}{QUEUES_PATH}", timeout=10)
    assert expired.status_code == 401
    assert expired.json()["code"] == "bad.credentials"
    assert "expired" in expired.json()["message"]
    assert api_session(sim).get(f"{sim.base_url}{QUEUES_PATH}", timeout=10).status_code == 200


def test_tokens_expire_after_max_uses(fresh_simulator: Any) -> None:
    sim = fresh_simulator(token_max_uses=3)
    api = api_session(sim)
    statuses = [api.get(f"{sim.base_url}{QUEUES_PATH}", timeout=10).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 401]
    assert api_session(sim).get(f"{sim.base_url}{QUEUES_PATH}", timeout=10).status_code == 200


def test_normal_answers_carry_rate_limit_headers(fresh_simulator: Any) -> None:
    sim = fresh_simulator(requests_per_minute=5)
    api = api_session(sim)
    counts = []
    for _ in range(2):
        answer = api.get(f"{sim.base_url}{QUEUES_PATH}", timeout=10)
        assert answer.headers["inin-ratelimit-allowed"] == "5"
        assert 0 < int(answer.headers["inin-ratelimit-reset"]) <= 60
        assert answer.headers["inin-correlation-id"]
        counts.append(int(answer.headers["inin-ratelimit-count"]))
    assert counts == [1, 2]
    invalid = post_query(api, sim, {"interval": "P1D", "metrics": ["nOffered"]})
    assert invalid.status_code == 400
    assert invalid.headers["inin-ratelimit-count"] == "3"


def test_rate_limit_is_per_token_with_retry_after(fresh_simulator: Any) -> None:
    sim = fresh_simulator(requests_per_minute=3)
    api = api_session(sim)
    url = f"{sim.base_url}{QUEUES_PATH}"
    statuses = [api.get(url, timeout=10).status_code for _ in range(3)]
    limited = api.get(url, timeout=10)
    assert statuses == [200, 200, 200]
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    error = limited.json()
    assert error["code"] == "too.many.requests.retry.after"
    assert error["status"] == 429
    assert error["contextId"] == limited.headers["inin-correlation-id"]
    assert "inin-ratelimit-count" not in limited.headers
    assert api_session(sim).get(url, timeout=10).status_code == 200  # another token, its own budget
    assert sim.request_count(QUEUES_PATH, 429) == 1


def test_issue_token_mints_a_token_without_http(simulator: SimulatorServer) -> None:
    token = simulator.issue_token()
    assert (
        api_session(simulator, token).get(f"{simulator.base_url}{QUEUES_PATH}", timeout=10).status_code == 200
    )
    assert simulator.request_count("/oauth/token") == 0
    assert fetch_token(simulator) != token
