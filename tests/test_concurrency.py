"""Windows fetched concurrently within the request budget: the same rows, the same rules, bounded memory.

The rate limiter is tested on its own with real time over short periods (the budget scaled from a
minute to a fraction of a second), then the whole job against the simulator over loopback HTTP.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from fixtures.jobs import (
    api_answers,
    assert_equals_ground_truth,
    duckdb_duplicate_keys,
    duckdb_facts,
    duckdb_load_runs,
    sim_env,
)
from genesys_etl import cli, pipeline, settings, transform
from genesys_etl.client import GenesysClient
from genesys_etl.config import Config
from genesys_etl.errors import ConfigError, RequestCancelledError
from genesys_etl.ratelimit import RateLimiter
from genesys_etl.warehouse import DuckDBWarehouse
from genesys_sim import FaultConfig, SimConfig, SimulatorServer
from genesys_sim import server as sim_server

TODAY = date(2026, 11, 26)
ZONE = "America/New_York"


# ---- the rate limiter ----------------------------------------------------------------------------


def _most_in_any_span(starts: list[float], span: float) -> int:
    starts = sorted(starts)
    most, first = 0, 0
    for last, moment in enumerate(starts):
        while moment - starts[first] >= span:
            first += 1
        most = max(most, last - first + 1)
    return most


def test_the_limiter_bursts_up_to_the_budget_then_waits_for_the_oldest_start() -> None:
    limiter = RateLimiter(5, period=0.4)
    started = time.monotonic()
    waits = [limiter.acquire() for _ in range(5)]
    burst = time.monotonic() - started
    sixth = limiter.acquire()
    assert burst < 0.1  # five starts at once: no spacing inside the budget
    assert max(waits) < 0.05
    assert 0.3 <= sixth <= 0.6  # the sixth waits until the first start leaves the period


def test_no_span_of_the_period_holds_more_starts_than_the_budget_across_threads() -> None:
    limiter = RateLimiter(5, period=0.3)
    starts: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            limiter.acquire()
            with lock:
                starts.append(time.monotonic())
            limiter.release()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(starts) == 20
    assert _most_in_any_span(starts, 0.3 - 0.01) <= 5
    assert _most_in_any_span(starts, 1.0) >= 10  # and it does not space them out more than it must


def test_headers_without_room_hold_new_requests_until_the_announced_reset() -> None:
    limiter = RateLimiter(300)
    limiter.acquire()
    limiter.observe(
        {"inin-ratelimit-allowed": "300", "inin-ratelimit-count": "299", "inin-ratelimit-reset": "9"}
    )
    limiter.release()
    assert limiter.acquire() < 0.05  # one request of room left: it may start
    limiter.observe(
        {"inin-ratelimit-allowed": "300", "inin-ratelimit-count": "300", "inin-ratelimit-reset": "1"}
    )
    limiter.release()
    assert 0.8 <= limiter.acquire() <= 1.5  # none left: wait for the reset


def test_a_lower_allowed_header_lowers_the_budget_and_a_higher_one_never_raises_it() -> None:
    limiter = RateLimiter(300)
    limiter.observe(
        {"inin-ratelimit-allowed": "120", "inin-ratelimit-count": "1", "inin-ratelimit-reset": "60"}
    )
    assert limiter.limit == 120
    limiter.observe(
        {"inin-ratelimit-allowed": "1000", "inin-ratelimit-count": "1", "inin-ratelimit-reset": "60"}
    )
    assert limiter.limit == 120
    limiter.observe({"inin-ratelimit-allowed": "many", "inin-ratelimit-count": "1"})  # unreadable: ignored
    assert limiter.limit == 120


def test_a_pause_holds_every_thread_and_cancel_wakes_them_at_once() -> None:
    limiter = RateLimiter(300)
    limiter.pause(0.5, "a 429 with Retry-After")
    waited: list[float] = []
    other = threading.Thread(target=lambda: waited.append(limiter.acquire()))
    other.start()
    other.join()
    assert 0.4 <= waited[0] <= 0.9

    limiter.pause(30, "a long Retry-After")
    errors: list[BaseException] = []

    def blocked() -> None:
        try:
            limiter.acquire()
        except RequestCancelledError as err:
            errors.append(err)

    thread = threading.Thread(target=blocked)
    started = time.monotonic()
    thread.start()
    time.sleep(0.1)
    limiter.cancel()
    thread.join(timeout=5)
    assert time.monotonic() - started < 2
    assert len(errors) == 1
    with pytest.raises(RequestCancelledError):
        limiter.sleep(10)


# ---- the job, concurrently ----------------------------------------------------------------------


def _config(sim: SimulatorServer, tmp_path: Path, start: date, end: date, **values: Any) -> Config:
    mapping = {
        "start_date": str(start),
        "end_date": str(end),
        "api_url": sim.base_url,
        "warehouse": f"duckdb:{tmp_path / 'wh.duckdb'}",
        "stage": str(tmp_path / "stage"),
        "time_zone": ZONE,
        "trigger": "backfill",
        **values,
    }
    return Config.from_mapping(mapping, sim_env(sim))


def _numbers(path: Path, start: date, end: date) -> pd.DataFrame:
    """Every fact row's key and numbers (not the load's ids and timestamps), sorted."""
    frame = duckdb_facts(path, start, end)  # the key and every stat column
    keys = ["metric_date", "queue_id", "media_type", "metric"]
    return frame.sort_values(keys).reset_index(drop=True)


@pytest.fixture
def short_minute(monkeypatch: pytest.MonkeyPatch) -> float:
    """The simulator counts its rate limit per second instead of per minute (the budget, scaled)."""
    monkeypatch.setattr(sim_server, "RATE_WINDOW_SECONDS", 1.0)
    return 1.0


def test_concurrent_windows_stay_within_the_budget_and_get_no_429(
    tmp_path: Path, short_minute: float
) -> None:
    start, end = date(2026, 10, 1), date(2026, 10, 12)  # 12 one-day windows
    with SimulatorServer(SimConfig(seed=5, queues=6, today=TODAY, requests_per_minute=5)) as sim:
        config = _config(sim, tmp_path, start, end, days_per_query=1, max_concurrent_queries=4)
        client = GenesysClient(
            api_url=sim.base_url,
            login_url=sim.base_url,
            client_id=config.client_id,
            client_secret=config.client_secret,
            requests_per_minute=5,
            rate_period=short_minute,
        )
        started = time.monotonic()
        with client:
            report = pipeline.run(config, client=client)
        elapsed = time.monotonic() - started
        counters = sim.counters()
        truth = sim.ground_truth(start, end, ZONE)
    assert report.ok, [w.error for w in report.failed]
    assert not any(key.endswith(" 429") for key in counters), counters
    assert elapsed >= 2.0  # 13 API requests at 5 per period: the budget did hold them back
    assert assert_equals_ground_truth(truth, duckdb_facts(tmp_path / "wh.duckdb", start, end)) > 0


# 15 % 429 (Retry-After 1 s), 5 % 5xx, 2 % dropped connections, 2 % truncated bodies, a token revoked
# every 25 requests: the same faults as the one-at-a-time fault test, landing on concurrent requests.
FAULTS = FaultConfig(
    seed=12,
    rate_429=0.15,
    retry_after_seconds=1,
    rate_5xx=0.05,
    rate_drop=0.02,
    rate_malformed=0.02,
    sequence=("429", "500", "drop", "malformed", "503", "ok", "429"),
)


def test_concurrent_and_one_at_a_time_load_the_same_rows_under_faults(tmp_path: Path) -> None:
    start, end = date(2026, 9, 1), date(2026, 10, 30)  # 60 days in 2-day windows: 30 calls
    results: dict[int, pd.DataFrame] = {}
    counters: dict[int, dict[str, int]] = {}
    for concurrency in (1, 4):
        folder = tmp_path / f"c{concurrency}"
        sim_config = SimConfig(seed=9, queues=10, today=TODAY, token_max_uses=25, faults=FAULTS)
        with SimulatorServer(sim_config) as sim:
            config = _config(
                sim,
                folder,
                start,
                end,
                days_per_query=2,
                max_concurrent_queries=concurrency,
                requests_per_minute=6000,
            )
            report = pipeline.run(config)
            counters[concurrency] = sim.counters()
            truth = sim.ground_truth(start, end, ZONE)
        assert report.ok, [w.error for w in report.failed]
        assert [w.window.start_date for w in report.windows] == sorted(
            w.window.start_date for w in report.windows
        )
        assert assert_equals_ground_truth(truth, duckdb_facts(folder / "wh.duckdb", start, end)) > 10_000
        assert duckdb_duplicate_keys(folder / "wh.duckdb") == 0
        assert {r[3] for r in duckdb_load_runs(folder / "wh.duckdb")} == {"succeeded"}
        results[concurrency] = _numbers(folder / "wh.duckdb", start, end)
    # The faults land on whichever requests draw them (windows and the queue listing run together).
    assert api_answers(counters[4], "429") >= 3
    assert api_answers(counters[4], "401") >= 1, "the token was never revoked under concurrency"
    assert api_answers(counters[4], "dropped") >= 1
    pd.testing.assert_frame_equal(results[4], results[1])


@pytest.mark.parametrize("columnar", [True, False], ids=["columns", "objects"])
def test_memory_holds_one_decoded_answer_and_at_most_n_plus_one_unloaded_windows(
    columnar: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start, end = date(2026, 8, 1), date(2026, 9, 30)  # 61 days in 3-day windows: 21 windows
    active = {"decoded": 0, "decoded_max": 0, "decodes": 0, "unloaded": 0, "unloaded_max": 0}
    lock = threading.Lock()
    real_flatten = transform.flatten_response

    def counted_flatten(*args: Any, **kwargs: Any) -> Any:
        with lock:
            active["decoded"] += 1
            active["decodes"] += 1
            active["decoded_max"] = max(active["decoded_max"], active["decoded"])
        time.sleep(0.02)  # widen the window in which two decoded answers could coexist
        try:
            return real_flatten(*args, **kwargs)
        finally:
            with lock:
                active["decoded"] -= 1

    def counting(method: Callable[..., Any], delta: int) -> Callable[..., Any]:
        def wrapped(self: DuckDBWarehouse, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            finally:
                active["unloaded"] += delta
                active["unloaded_max"] = max(active["unloaded_max"], active["unloaded"])

        return wrapped

    monkeypatch.setattr(transform, "flatten_response", counted_flatten)
    if not columnar:  # every answer takes the object path (as one outside the documented shape would)
        monkeypatch.setattr(transform, "_read_columns", lambda content: None)
    monkeypatch.setattr(DuckDBWarehouse, "start_load", counting(DuckDBWarehouse.start_load, +1))
    monkeypatch.setattr(DuckDBWarehouse, "replace_window", counting(DuckDBWarehouse.replace_window, -1))
    config = SimConfig(seed=3, queues=6, today=TODAY, latency_seconds=0.05, latency_jitter_seconds=0.1)
    with SimulatorServer(config) as sim:
        report = pipeline.run(_config(sim, tmp_path, start, end, days_per_query=3, max_concurrent_queries=3))
        truth = sim.ground_truth(start, end, ZONE)
    assert report.ok
    assert len(report.windows) == 21
    assert active["decodes"] == (0 if columnar else 21)  # documented answers are never decoded as objects
    assert active["decoded_max"] == (0 if columnar else 1)  # and those that are, one at a time
    assert active["unloaded_max"] == 3 + 1
    assert active["unloaded"] == 0
    assert assert_equals_ground_truth(truth, duckdb_facts(tmp_path / "wh.duckdb", start, end)) > 0


def test_progress_and_the_report_keep_date_order_when_answers_arrive_out_of_order(tmp_path: Path) -> None:
    start, end = date(2026, 6, 1), date(2026, 7, 15)
    seen: list[date] = []
    # Jittered latency: later windows often answer first.
    config = SimConfig(seed=4, queues=4, today=TODAY, latency_seconds=0.01, latency_jitter_seconds=0.3)
    with SimulatorServer(config) as sim:
        report = pipeline.run(
            _config(sim, tmp_path, start, end, days_per_query=3, max_concurrent_queries=6),
            progress=lambda w: seen.append(w.window.start_date),
        )
        truth = sim.ground_truth(start, end, ZONE)
    assert report.ok
    assert seen == sorted(seen) == [w.window.start_date for w in report.windows]
    assert seen[0] == start
    assert sum(w.window.day_count for w in report.windows) == (end - start).days + 1
    assert assert_equals_ground_truth(truth, duckdb_facts(tmp_path / "wh.duckdb", start, end)) > 0
    assert sum(w.api_calls for w in report.windows) == len(report.windows)  # per-window counts add up


def test_an_answer_refused_by_one_window_fails_only_that_window_when_concurrent(
    tmp_path: Path,
) -> None:
    start, end = date(2026, 5, 1), date(2026, 5, 28)  # 4 windows
    faults = FaultConfig(sequence=("ok", "ok", "empty", "ok"))  # one window answers {}: the shrink guard
    with SimulatorServer(SimConfig(seed=8, queues=6, today=TODAY)) as sim:
        assert pipeline.run(_config(sim, tmp_path, start, end)).ok
        sim.set_faults(faults)
        report = pipeline.run(_config(sim, tmp_path, start, end))
    statuses = [w.status for w in report.windows]
    assert statuses.count("succeeded") == 3
    (refused,) = report.failed
    assert refused.shrink is not None
    assert refused.shrink[1] == 0
    assert [w.window.start_date for w in report.windows] == sorted(
        w.window.start_date for w in report.windows
    )


@pytest.mark.parametrize("value", ["0", "33", "four"])
def test_max_concurrent_queries_out_of_range_is_one_line_exit_2(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "backfill",
        "--start-date",
        "2026-10-01",
        "--end-date",
        "2026-10-02",
        "--api-url",
        "http://127.0.0.1:9",
        "--warehouse",
        f"duckdb:{tmp_path / 'wh.duckdb'}",
        "--max-concurrent-queries",
        value,
    ]
    env = {"GENESYS_CLIENT_ID": "id", "GENESYS_CLIENT_SECRET": "secret"}
    assert cli.main(argv, env=env, out=io.StringIO()) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "--max-concurrent-queries" in err[0]
    assert not (tmp_path / "wh.duckdb").exists()


def test_the_default_concurrency_is_documented_and_in_range() -> None:
    assert 1 <= settings.DEFAULT_MAX_CONCURRENT_QUERIES <= settings.MAX_CONCURRENT_QUERIES
    with pytest.raises(ConfigError, match="--max-concurrent-queries"):
        Config.from_mapping(
            {"max_concurrent_queries": "0", "api_url": "http://127.0.0.1:9"},
            {"GENESYS_CLIENT_ID": "id", "GENESYS_CLIENT_SECRET": "secret"},
        )
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert (
        f"`--max-concurrent-queries` | `--max_concurrent_queries` | {settings.DEFAULT_MAX_CONCURRENT_QUERIES}"
        in readme
    )


def test_a_host_lost_mid_run_stops_it_with_every_window_in_flight_recorded_and_none_running(
    tmp_path: Path,
) -> None:
    start, end = date(2026, 4, 1), date(2026, 4, 28)  # 14 two-day windows
    sim = SimulatorServer(SimConfig(seed=2, queues=4, today=TODAY, latency_seconds=0.3)).start()

    def lose_the_host(window: pipeline.WindowReport) -> None:
        if window.window.start_date == start:  # window 1 is loaded, the next ones are in flight
            sim.stop()

    try:
        config = _config(sim, tmp_path, start, end, days_per_query=2, max_concurrent_queries=4)
        report = pipeline.run(config, progress=lose_the_host)
    finally:
        sim.stop()
    assert report.stopped is not None
    assert report.windows[0].status == "succeeded"
    assert {w.status for w in report.windows[1:]} <= {"failed", "not attempted"}
    assert [w.status for w in report.windows].count("not attempted") >= 14 - 1 - 5
    runs = duckdb_load_runs(tmp_path / "wh.duckdb")
    statuses = [r[3] for r in runs]
    assert statuses[0] == "succeeded"
    assert set(statuses[1:]) == {"failed"}  # the windows that were in flight: none left running
    facts = duckdb_facts(tmp_path / "wh.duckdb", start, end)
    assert set(facts["metric_date"]) == {date(2026, 4, 1), date(2026, 4, 2)}
