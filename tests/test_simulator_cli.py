"""The simulator's command line: starts, answers over HTTP, stops on SIGTERM."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests

import genesys_sim
from genesys_sim.cli import build_parser, config_from_args


@pytest.fixture
def running_simulator() -> Iterator[tuple[subprocess.Popen[str], str]]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "genesys_sim",
            "--port",
            "0",
            "--seed",
            "7",
            "--queues",
            "6",
            "--today",
            "2026-11-26",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", first_line)
        assert match, first_line + (process.stderr.read() if process.stderr else "")
        yield process, match.group(1)
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


def test_command_line_serves_token_and_aggregates_then_stops(
    running_simulator: tuple[subprocess.Popen[str], str],
) -> None:
    process, base_url = running_simulator
    token = requests.post(
        f"{base_url}/oauth/token",
        auth=("demo", "demo-secret"),
        data={"grant_type": "client_credentials"},
        timeout=10,
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    body = {
        "interval": "2026-11-24T00:00:00.000-05:00/2026-11-26T00:00:00.000-05:00",
        "granularity": "P1D",
        "timeZone": "America/New_York",
        "groupBy": ["queueId", "mediaType"],
        "metrics": ["nOffered", "tHandle"],
    }
    url = f"{base_url}/api/v2/analytics/conversations/aggregates/query"
    answer = requests.post(url, json=body, headers=headers, timeout=10)
    assert answer.status_code == 200
    assert {e["interval"] for r in answer.json()["results"] for e in r["data"]} == {
        "2026-11-24T05:00:00.000Z/2026-11-25T05:00:00.000Z",
        "2026-11-25T05:00:00.000Z/2026-11-26T05:00:00.000Z",
    }
    refused = requests.post(url, json={**body, "interval": "P1D"}, headers=headers, timeout=10)
    assert refused.status_code == 400
    assert "ISO-8601" in refused.json()["message"]
    stats = requests.get(f"{base_url}/_sim/stats", timeout=10).json()
    assert stats["today"] == "2026-11-26"
    assert stats["cpu_seconds"] > 0

    process.terminate()
    out, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "simulator stopped" in out


def test_flags_map_to_the_config() -> None:
    args = build_parser().parse_args(
        [
            "--client-id",
            "me",
            "--client-secret",
            "s3",
            "--latency-ms",
            "250",
            "--late-data",
            "--rate-drop",
            "0.1",
        ]
    )
    config = config_from_args(args)
    assert (config.client_id, config.client_secret) == ("me", "s3")
    assert config.latency_seconds == 0.25
    assert config.late_data is True
    assert config.faults.rate_drop == 0.1
    assert config.port == 8787


def test_invalid_settings_exit_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        genesys_sim.main(["--queues", "2", "--deleted-queues", "2"])
    assert exited.value.code == 2
    assert "deleted_queues" in capsys.readouterr().err


def test_a_leading_double_dash_from_a_wrapping_command_is_ignored(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        genesys_sim.main(["--", "--queues", "0"])
    assert exited.value.code == 2
    assert "queues must be >= 1" in capsys.readouterr().err
