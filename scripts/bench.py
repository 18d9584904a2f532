"""Benchmark: the real job against the simulator (a separate process) into DuckDB, vs naive baselines.

``make bench`` runs every scenario and prints a table; the figures also go to
``bench-results/bench.json``. Each measured run is a child process (this script re-invoked with
``--scenario``) so its peak RSS is its own; the simulator runs as another process with 150 ms of
latency per request and a 300 requests/minute rate limit, and its CPU time is read from its
``/_sim/stats`` endpoint before and after each scenario and reported apart from the job's.

Scenarios:
  year            365 days x 200 queues x 5 media types, the 20 default metrics (America/New_York)
  nightly         the default 7-day lookback on the same org, into the year's warehouse
  14 days         the same org, 14 days, fresh warehouse: the reference for peak RSS
  side by side    14 days x 20 queues (UTC): the job vs one request per day and one per queue per day,
                  both with pandas.json_normalize and row-by-row inserts
  transform only  flatten_response vs pandas.json_normalize on the same year of responses
  slow api: concurrency 1 / slow api
                  90 days of the same org with the simulator at 2 s per answer: one window at a time,
                  then the default --max-concurrent-queries, on the same data (same checksum)
  large org       2,000 queues x 14 days: wall, rows/s and the job's peak RSS (one process)

Every scenario also reports ``http_429``: the 429 answers the simulator sent while it ran.

Exit status: 0 when every scenario was measured (a missed target is printed as MISS), 1 when one
could not be measured.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import math
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench-results" / "bench.json"
SCRIPTS = Path(__file__).resolve().parent

TODAY = date(2026, 11, 26)  # the simulator's clock: fixed, so every run sees the same data
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
CLIENT_ID, CLIENT_SECRET = "demo", "demo-secret"
SEED = 42
LATENCY_MS = 150.0
REQUESTS_PER_MINUTE = 300
ORG_QUEUES = 200
ORG_ZONE = "America/New_York"
YEAR_DAYS = 365
REFERENCE_DAYS = 14
SIDE_QUEUES = 20
SIDE_DAYS = 14
SIDE_ZONE = "UTC"
NORMALIZE_SAMPLE = 8  # responses of the year timed with json_normalize too (evenly spaced)
PER_ROW_LIMIT = 3000  # rows flattened with one json_normalize call each (the issue #4 baseline)
REPEATS = 3  # timings of each transform per sampled response; the best is kept

SLOW_LATENCY_MS = 2000.0
SLOW_DAYS = 90
LARGE_QUEUES = 2000
LARGE_DAYS = 14

TARGET_YEAR_SECONDS = 10.0
TARGET_NIGHTLY_SECONDS = 1.0
TARGET_FLATTEN_SPEEDUP = 10.0
TARGET_RSS_RATIO = 1.5
TARGET_SLOW_SPEEDUP = 3.0
TARGET_LARGE_RSS_MB = 600.0

SIM_START_SECONDS = 60.0
CHILD_TIMEOUT_SECONDS = 420.0
AGGREGATES_COUNTER = "aggregates/query"

log = logging.getLogger("bench")


class BenchError(Exception):
    """A scenario could not be measured."""


# --------------------------------------------------------------------------------------- simulator
class Simulator:
    """``python -m genesys_sim`` as a separate process on a free loopback port."""

    def __init__(
        self,
        name: str,
        workdir: Path,
        *,
        queues: int,
        deleted_queues: int | None = None,
        latency_ms: float = LATENCY_MS,
    ) -> None:
        self.name = name
        self.log_path = workdir / f"simulator-{name}.log"
        self.args = [
            "--port",
            "0",
            "--seed",
            str(SEED),
            "--queues",
            str(queues),
            "--today",
            TODAY.isoformat(),
            "--latency-ms",
            str(latency_ms),
            "--requests-per-minute",
            str(REQUESTS_PER_MINUTE),
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            CLIENT_SECRET,
        ]
        if deleted_queues is not None:
            self.args += ["--deleted-queues", str(deleted_queues)]
        self.base_url = ""
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Simulator:
        with self.log_path.open("wb") as output:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "genesys_sim", *self.args],
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        deadline = time.monotonic() + SIM_START_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                msg = f"simulator {self.name} exited with {self._process.returncode}: {self._tail()}"
                raise BenchError(msg)
            found = re.search(r"listening on (http://\S+)", self.log_path.read_text(errors="replace"))
            if found:
                self.base_url = found.group(1)
                try:
                    self.stats()
                except requests.RequestException:
                    pass
                else:
                    return self
            time.sleep(0.1)
        self._stop()
        msg = f"simulator {self.name} did not come up within {SIM_START_SECONDS:.0f}s: {self._tail()}"
        raise BenchError(msg)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)

    def _tail(self) -> str:
        return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-5:])

    def stats(self) -> dict[str, Any]:
        answer = requests.get(f"{self.base_url}/_sim/stats", timeout=10)
        answer.raise_for_status()
        payload: dict[str, Any] = answer.json()
        return payload

    def counters(self) -> dict[str, int]:
        answer = requests.get(f"{self.base_url}/_sim/counters", timeout=10)
        answer.raise_for_status()
        return {str(key): int(value) for key, value in answer.json().items()}

    def command(self) -> str:
        return "python -m genesys_sim " + " ".join(self.args)


def _aggregate_requests(counters: Mapping[str, int]) -> int:
    return sum(count for key, count in counters.items() if AGGREGATES_COUNTER in key)


def measure(sim: Simulator, scenario: str, args: Sequence[str], workdir: Path) -> dict[str, Any]:
    """Run one child scenario and add the simulator's view: its CPU seconds and requests.

    Args:
        sim: the simulator the child talks to.
        scenario: ``job``, ``baseline`` or ``transform``.
        args: the child's other arguments.
        workdir: where the child writes its JSON.

    Returns:
        The child's figures plus ``sim_*`` keys and ``process_seconds``.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / "result.json"
    stats_before, counters_before = sim.stats(), sim.counters()
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--scenario",
        scenario,
        "--api-url",
        sim.base_url,
        "--workdir",
        str(workdir),
        "--json-out",
        str(out),
        *args,
    ]
    started = time.perf_counter()
    try:
        finished = subprocess.run(command, cwd=ROOT, timeout=CHILD_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        msg = f"{scenario} {' '.join(args)} did not finish within {CHILD_TIMEOUT_SECONDS:.0f}s"
        raise BenchError(msg) from None
    process_seconds = time.perf_counter() - started
    if finished.returncode != 0 or not out.exists():
        msg = f"{scenario} {' '.join(args)} exited with status {finished.returncode}"
        raise BenchError(msg)
    stats_after, counters_after = sim.stats(), sim.counters()
    result: dict[str, Any] = json.loads(out.read_text())
    result["process_seconds"] = process_seconds
    result["sim_cpu_seconds"] = stats_after["cpu_seconds"] - stats_before["cpu_seconds"]
    result["sim_process_cpu_seconds"] = (
        stats_after["process_cpu_seconds"] - stats_before["process_cpu_seconds"]
    )
    result["sim_aggregate_requests"] = _aggregate_requests(counters_after) - _aggregate_requests(
        counters_before
    )
    result["sim_requests"] = sum(counters_after.values()) - sum(counters_before.values())
    result["http_429"] = _answered_429(counters_after) - _answered_429(counters_before)
    return result


def _answered_429(counters: Mapping[str, int]) -> int:
    return sum(count for key, count in counters.items() if key.endswith(" 429"))


# --------------------------------------------------------------------------------------- children
def _usage() -> dict[str, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"peak_rss_mb": usage.ru_maxrss / 1024.0, "cpu_seconds": usage.ru_utime + usage.ru_stime}


def _env() -> dict[str, str]:
    return {"GENESYS_CLIENT_ID": CLIENT_ID, "GENESYS_CLIENT_SECRET": CLIENT_SECRET}


def _checksum(database: Path, table: str) -> dict[str, Any]:
    import duckdb

    with duckdb.connect(str(database), read_only=True) as connection:
        row = connection.execute(
            f"SELECT count(*), coalesce(sum(stat_count), 0), coalesce(round(sum(stat_sum)), 0) FROM {table}"
        ).fetchone()
    assert row is not None
    return {"rows": int(row[0]), "sum_count": int(row[1]), "sum_sum": int(row[2])}


def child_job(args: argparse.Namespace) -> dict[str, Any]:
    """Run the real job (``pipeline.run``) into a DuckDB file in the work folder."""
    from genesys_etl import pipeline
    from genesys_etl.config import Config

    workdir = Path(args.workdir)
    database = Path(args.warehouse) if args.warehouse else workdir / "warehouse.duckdb"
    config = Config.from_mapping(
        {
            "api_url": args.api_url,
            "warehouse": f"duckdb:{database}",
            "stage": str(workdir / "stage"),
            "time_zone": args.time_zone,
            "start_date": args.start_date,
            "end_date": args.end_date,
            "trigger": "backfill" if args.start_date else "nightly",
            **(
                {"max_concurrent_queries": args.max_concurrent_queries} if args.max_concurrent_queries else {}
            ),
        },
        _env(),
    )
    report = pipeline.run(config, now=NOW)
    usage = _usage()  # before the check below: the peak is the job's
    totals = report.totals()
    timings = {
        step: sum(w.timings.get(step, 0.0) for w in report.windows)
        for step in ("extract", "transform", "stage", "load")
    }
    return {
        "ok": report.ok,
        "errors": [w.error for w in report.failed] + ([report.queue_error] if report.queue_error else []),
        "windows": int(totals["windows"]),
        "days": int(totals["days"]),
        "api_calls": int(totals["api_calls"]),
        "retries": int(totals["retries"]),
        "rows": int(totals["rows"]),
        "seconds": report.seconds,
        "timings": timings,
        "max_window_seconds": max((w.seconds for w in report.windows), default=0.0),
        "checksum": _checksum(database, "genesys.queue_metrics_daily"),
        **usage,
    }


def child_baseline(args: argparse.Namespace) -> dict[str, Any]:
    """Run one naive baseline into a DuckDB file in the work folder."""
    from bench_baselines import run_baseline
    from genesys_etl import settings

    database = Path(args.workdir) / "baseline.duckdb"
    result = run_baseline(
        args.pattern,
        base_url=args.api_url,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        start=date.fromisoformat(args.start_date),
        end=date.fromisoformat(args.end_date),
        metrics=settings.DEFAULT_METRICS,
        database=str(database),
    )
    usage = _usage()
    return {
        **asdict(result),
        "timings": {
            "transform": result.normalize_seconds,
            "load": result.insert_seconds,
            "extract": result.request_seconds,
        },
        "checksum": _checksum(database, "metrics"),
        **usage,
    }


def _timed(function: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    started = time.perf_counter()
    value = function()
    return time.perf_counter() - started, value


def _best_of(repeats: int, functions: Sequence[Callable[[], Any]]) -> tuple[list[list[float]], list[Any]]:
    """Time each function ``repeats`` times, alternating them; return every time and the last values."""
    times: list[list[float]] = [[] for _ in functions]
    values: list[Any] = [None for _ in functions]
    for _ in range(repeats):
        for number, function in enumerate(functions):
            values[number] = None  # free the previous result before timing again
            seconds, values[number] = _timed(function)
            times[number].append(seconds)
    return times, values


def child_transform(args: argparse.Namespace) -> dict[str, Any]:
    """Record a year of responses once and time flatten_response vs pandas.json_normalize on them.

    Every response is fetched once from the simulator and flattened once by ``flatten_response`` (the
    year figure). An evenly spaced sample of the same responses is then flattened by both
    ``flatten_response`` and ``normalize_results`` (``pandas.json_normalize``), ``REPEATS`` times each,
    alternating, and the best time of each is kept (the usual estimator of the intrinsic cost on a
    shared machine); the year figure of json_normalize is extrapolated per row from that sample.
    """
    from bench_baselines import normalize_per_row, normalize_results
    from genesys_etl.client import GenesysClient
    from genesys_etl.config import Config
    from genesys_etl.query import build_query
    from genesys_etl.transform import flatten_response

    config = Config.from_mapping(
        {
            "api_url": args.api_url,
            "time_zone": args.time_zone,
            "start_date": args.start_date,
            "end_date": args.end_date,
        },
        _env(),
    )
    windows = config.windows(NOW)
    count = min(args.sample, len(windows))
    sample = {round(i * (len(windows) - 1) / max(count - 1, 1)) for i in range(count)}
    figures: dict[str, Any] = {
        "rows": 0,
        "flatten_seconds": 0.0,
        "sample_rows": 0,
        "sample_normalize_rows": 0,
    }
    figures |= {"sample_flatten_seconds": 0.0, "sample_normalize_seconds": 0.0, "response_mb": 0.0}
    figures |= {"sample_flatten_times": [], "sample_normalize_times": [], "repeats": REPEATS}
    client = GenesysClient.from_config(config)
    try:
        for number, window in enumerate(windows):
            response = client.query_aggregates(build_query(window, config.metrics))
            flatten = partial(flatten_response, response, window, load_id="bench", loaded_at=NOW)
            normalize = partial(normalize_results, response.get("results") or [])
            seconds, flat = _timed(flatten)
            rows = flat.table.num_rows
            del flat
            figures["rows"] += rows
            figures["flatten_seconds"] += seconds
            if number in sample:
                figures["response_mb"] += len(json.dumps(response)) / 1e6
                figures["sample_rows"] += rows
                (flatten_times, normalize_times), (_, frame) = _best_of(REPEATS, [flatten, normalize])
                figures["sample_normalize_rows"] += len(frame)
                del frame
                figures["sample_flatten_seconds"] += min(flatten_times)
                figures["sample_normalize_seconds"] += min(normalize_times)
                figures["sample_flatten_times"].append(flatten_times)
                figures["sample_normalize_times"].append(normalize_times)
                if not figures.get("per_row_rows"):
                    per_row = partial(normalize_per_row, response.get("results") or [], PER_ROW_LIMIT)
                    per_row_seconds, per_row_rows = _timed(per_row)
                    figures["per_row_rows"] = per_row_rows
                    figures["per_row_seconds"] = per_row_seconds
            del response, flatten, normalize
    finally:
        client.close()
    return {
        **figures,
        "responses": len(windows),
        "sample_responses": len(sample),
        "api_calls": client.stats.api_calls,
        **_usage(),
    }


def run_child(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    sys.path.insert(0, str(SCRIPTS))
    started = time.perf_counter()
    runners = {"job": child_job, "baseline": child_baseline, "transform": child_transform}
    result = runners[args.scenario](args)
    result["child_seconds"] = time.perf_counter() - started
    Path(args.json_out).write_text(json.dumps(result, indent=2, default=str))
    return 0


# --------------------------------------------------------------------------------------- scenarios
def _rate(rows: float, seconds: float) -> float:
    return rows / seconds if seconds > 0 else math.nan


def _attempt(results: dict[str, Any], name: str, function: Callable[[], dict[str, Any]]) -> None:
    """Measure one scenario; a failure is recorded under its name and the next scenario still runs."""
    print(f"... {name}", flush=True)
    try:
        results[name] = function()
    except (BenchError, requests.RequestException, KeyError, ValueError) as error:
        results[name] = {"error": str(error)}
        print(f"    {name} failed: {error}", flush=True)


def run_all(args: argparse.Namespace) -> int:
    """Run every scenario, print the table and write the JSON."""
    started = time.perf_counter()
    year_end = TODAY - timedelta(days=1)
    year_start = year_end - timedelta(days=args.year_days - 1)
    reference_start = year_end - timedelta(days=REFERENCE_DAYS - 1)
    side_start = year_end - timedelta(days=SIDE_DAYS - 1)
    results: dict[str, Any] = {}
    meta: dict[str, Any] = {
        "started_at": datetime.now(tz=UTC).isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", "scripts/bench.py", *sys.argv[1:]]),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_before": os.getloadavg(),
        "simulator_today": TODAY.isoformat(),
        "latency_ms": LATENCY_MS,
        "requests_per_minute": REQUESTS_PER_MINUTE,
    }
    with tempfile.TemporaryDirectory(prefix="genesys-bench-") as temp:
        work = Path(temp)
        org_dir, year_db = work / "year", work / "year" / "warehouse.duckdb"
        try:
            with Simulator("org", work, queues=args.org_queues) as sim:
                meta["org_simulator"] = sim.command()
                year = [f"--time-zone={ORG_ZONE}", f"--start-date={year_start}", f"--end-date={year_end}"]
                _attempt(results, "year", lambda: measure(sim, "job", year, org_dir))
                nightly = [f"--time-zone={ORG_ZONE}", f"--warehouse={year_db}"]
                _attempt(results, "nightly", lambda: measure(sim, "job", nightly, work / "nightly"))
                reference = [
                    f"--time-zone={ORG_ZONE}",
                    f"--start-date={reference_start}",
                    f"--end-date={year_end}",
                ]
                _attempt(results, "14 days", lambda: measure(sim, "job", reference, work / "reference"))
                transform = [*year, f"--sample={args.sample}"]
                _attempt(
                    results, "transform", lambda: measure(sim, "transform", transform, work / "transform")
                )
            slow_start = year_end - timedelta(days=SLOW_DAYS - 1)
            slow = [f"--time-zone={ORG_ZONE}", f"--start-date={slow_start}", f"--end-date={year_end}"]
            with Simulator("slow", work, queues=args.org_queues, latency_ms=SLOW_LATENCY_MS) as sim:
                meta["slow_simulator"] = sim.command()
                one = [*slow, "--max-concurrent-queries=1"]
                name = "slow api: concurrency 1"
                _attempt(results, name, lambda: measure(sim, "job", one, work / "slow-1"))
                _attempt(results, "slow api", lambda: measure(sim, "job", slow, work / "slow"))
            with Simulator("large", work, queues=args.large_queues) as sim:
                meta["large_simulator"] = sim.command()
                large_start = year_end - timedelta(days=LARGE_DAYS - 1)
                large = [f"--time-zone={ORG_ZONE}", f"--start-date={large_start}", f"--end-date={year_end}"]
                _attempt(results, "large org", lambda: measure(sim, "job", large, work / "large"))
            with Simulator("side", work, queues=SIDE_QUEUES, deleted_queues=0) as sim:
                meta["side_simulator"] = sim.command()
                side = [f"--start-date={side_start}", f"--end-date={year_end}"]
                job = [f"--time-zone={SIDE_ZONE}", *side]
                _attempt(results, "side: job", lambda: measure(sim, "job", job, work / "side-job"))
                for pattern in ("per_day", "per_queue"):
                    name = f"side: {pattern}"
                    arguments = [*side, f"--pattern={pattern}"]
                    baseline = partial(measure, sim, "baseline", arguments, work / pattern)
                    _attempt(results, name, baseline)
        except BenchError as error:
            print(f"benchmark stopped: {error}", file=sys.stderr)
            results["error"] = str(error)
    meta["load_average_after"] = os.getloadavg()
    meta["total_seconds"] = time.perf_counter() - started
    summary = summarize(results, args.year_days)
    document = {"meta": meta, "scenarios": results, "summary": summary}
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2, default=str))
    print_report(meta, results, summary, out)
    # A missed target is a finding printed as MISS, not a failure of the benchmark; a scenario that
    # could not be measured is.
    failed = "error" in results or any(
        "error" in figures for figures in results.values() if isinstance(figures, dict)
    )
    return 1 if failed else 0


def summarize(results: Mapping[str, Any], year_days: int) -> dict[str, Any]:
    """Compute the targets and the side-by-side ratios from the measured figures."""
    targets: list[dict[str, Any]] = []

    def target(name: str, measured: float | None, goal: str, passed: bool | None) -> None:
        targets.append({"target": name, "goal": goal, "measured": measured, "passed": bool(passed)})

    year, nightly, reference = results.get("year", {}), results.get("nightly", {}), results.get("14 days", {})
    expected_calls = math.ceil(year_days / 7)
    calls = year.get("sim_aggregate_requests")
    target(
        "year aggregate calls",
        calls,
        f"== {expected_calls}",
        calls == expected_calls and year.get("api_calls") == expected_calls and year.get("ok"),
    )
    target(
        "year wall seconds",
        year.get("seconds"),
        f"<= {TARGET_YEAR_SECONDS:.0f}",
        year.get("ok") and year.get("seconds", math.inf) <= TARGET_YEAR_SECONDS,
    )
    target(
        "nightly wall seconds",
        nightly.get("seconds"),
        f"<= {TARGET_NIGHTLY_SECONDS:.0f}",
        nightly.get("ok") and nightly.get("seconds", math.inf) <= TARGET_NIGHTLY_SECONDS,
    )
    transform = results.get("transform", {})
    speedup = None
    if transform.get("sample_flatten_seconds") and transform.get("per_row_seconds"):
        flatten_rate = transform["sample_rows"] / transform["sample_flatten_seconds"]
        speedup = flatten_rate / (transform["per_row_rows"] / transform["per_row_seconds"])
    target(
        "flatten vs json_normalize per row",
        speedup,
        f">= {TARGET_FLATTEN_SPEEDUP:.0f}x",
        speedup is not None and speedup >= TARGET_FLATTEN_SPEEDUP,
    )
    call_speedup = None
    if transform.get("sample_flatten_seconds"):
        call_speedup = transform["sample_normalize_seconds"] / transform["sample_flatten_seconds"]
    target(
        "flatten vs one json_normalize per response",
        call_speedup,
        f">= {TARGET_FLATTEN_SPEEDUP:.0f}x",
        call_speedup is not None and call_speedup >= TARGET_FLATTEN_SPEEDUP,
    )
    rss_ratio = None
    if year.get("peak_rss_mb") and reference.get("peak_rss_mb"):
        rss_ratio = year["peak_rss_mb"] / reference["peak_rss_mb"]
    target(
        "peak RSS year / 14 days",
        rss_ratio,
        f"<= {TARGET_RSS_RATIO}",
        rss_ratio is not None and rss_ratio <= TARGET_RSS_RATIO,
    )
    one, many = results.get("slow api: concurrency 1", {}), results.get("slow api", {})
    slow_speedup = None
    if one.get("seconds") and many.get("seconds"):
        slow_speedup = one["seconds"] / many["seconds"]
    target(
        f"slow api ({SLOW_LATENCY_MS / 1000:g} s/answer) concurrency speedup",
        slow_speedup,
        f">= {TARGET_SLOW_SPEEDUP:.0f}x, same checksum",
        slow_speedup is not None
        and slow_speedup >= TARGET_SLOW_SPEEDUP
        and one.get("ok")
        and many.get("ok")
        and one.get("checksum") == many.get("checksum"),
    )
    large = results.get("large org", {})
    target(
        "large org peak RSS MB",
        large.get("peak_rss_mb"),
        f"<= {TARGET_LARGE_RSS_MB:.0f}",
        large.get("ok") and large.get("peak_rss_mb", math.inf) <= TARGET_LARGE_RSS_MB,
    )
    answered = {
        name: figures.get("http_429")
        for name, figures in results.items()
        if isinstance(figures, dict) and "http_429" in figures
    }
    target(
        "429 answers, every scenario",
        sum(v for v in answered.values() if v is not None),
        "== 0",
        bool(answered) and all(v == 0 for v in answered.values()),
    )
    ratios: dict[str, Any] = {}
    ours = results.get("side: job", {})
    for pattern in ("per_day", "per_queue"):
        theirs = results.get(f"side: {pattern}", {})
        if (
            ours.get("sim_aggregate_requests")
            and theirs.get("sim_aggregate_requests")
            and ours.get("seconds")
        ):
            ratios[pattern] = {
                "api_calls": theirs["sim_aggregate_requests"] / ours["sim_aggregate_requests"],
                "wall": theirs["seconds"] / ours["seconds"],
                "same_rows": theirs.get("checksum") == ours.get("checksum"),
            }
    return {
        "targets": targets,
        "targets_met": all(t["passed"] for t in targets),
        "side_by_side": ratios,
        "year_profile": profile_floor(year, os.cpu_count() or 1) if year and "error" not in year else {},
    }


# --------------------------------------------------------------------------------------- printing
def _fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def print_report(
    meta: Mapping[str, Any], results: Mapping[str, Any], summary: Mapping[str, Any], out: Path
) -> None:
    """Print the scenario table, the targets, the side-by-side ratios and the transform comparison."""
    header = (
        "scenario",
        "API calls",
        "wall s",
        "rows",
        "transform rows/s",
        "load rows/s",
        "peak RSS MB",
        "job CPU s",
        "sim CPU s",
        "429s",
    )
    lines: list[tuple[str, ...]] = [header]
    for name, figures in results.items():
        if not isinstance(figures, dict) or name == "transform":
            continue
        if "error" in figures:
            lines.append((name, "ERROR", *["-"] * (len(header) - 2)))
            continue
        timings = figures.get("timings", {})
        load_seconds = timings.get("load", 0.0) + timings.get("stage", 0.0)
        lines.append(
            (
                name,
                _fmt(figures.get("sim_aggregate_requests")),
                _fmt(figures.get("seconds"), 2),
                _fmt(figures.get("rows")),
                _fmt(_rate(figures.get("rows", 0), timings.get("transform", 0.0)), 0),
                _fmt(_rate(figures.get("rows", 0), load_seconds), 0),
                _fmt(figures.get("peak_rss_mb")),
                _fmt(figures.get("cpu_seconds"), 2),
                _fmt(figures.get("sim_cpu_seconds"), 2),
                _fmt(figures.get("http_429")),
            )
        )
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    print()
    when, cpus, python = meta.get("started_at"), meta.get("cpus"), meta.get("python")
    print(f"Genesys ETL benchmark - {when} - {cpus} CPUs, python {python}")
    print(f"simulator (separate process): {meta.get('org_simulator', '-')}")
    print(f"side-by-side simulator:       {meta.get('side_simulator', '-')}")
    print(f"slow-api simulator:           {meta.get('slow_simulator', '-')}")
    print(f"large-org simulator:          {meta.get('large_simulator', '-')}")
    print()
    for number, line in enumerate(lines):
        cells = [str(c).ljust(widths[i]) if i == 0 else str(c).rjust(widths[i]) for i, c in enumerate(line)]
        print("  ".join(cells))
        if number == 0:
            print("  ".join("-" * w for w in widths))
    print(
        "API calls: aggregates requests the simulator received (retries included); wall s: the run itself\n"
        "(job: pipeline.run incl. schema check and queue listing; baselines: token to last insert);\n"
        "load rows/s: job = Parquet staging + warehouse transaction, baselines = row-by-row INSERTs;\n"
        "job CPU s: the child process; sim CPU s: the simulator's own (from /_sim/stats), apart."
    )
    _print_profile(results.get("year", {}), meta.get("cpus") or 1)
    _print_transform(results.get("transform", {}))
    _print_side_by_side(summary.get("side_by_side", {}))
    print()
    print("targets:")
    for item in summary["targets"]:
        measured = item["measured"]
        shown = _fmt(measured, 2) if isinstance(measured, float) else _fmt(measured)
        verdict = "PASS" if item["passed"] else "MISS"
        print(f"  {verdict}  {item['target']:<36} {shown:>10}  (target {item['goal']})")
    print()
    before = ", ".join(f"{x:.2f}" for x in meta.get("load_average_before", ()))
    after = ", ".join(f"{x:.2f}" for x in meta.get("load_average_after", ()))
    print(f"load average {before} -> {after}; total {meta.get('total_seconds', 0):.0f} s; JSON: {out}")


def profile_floor(year: Mapping[str, Any], cpus: int) -> dict[str, float]:
    """Where the year's time goes, and the two floors it cannot beat on this machine.

    Windows are fetched, parsed and staged by worker threads while the main thread loads them one by
    one, so the wall time is at least the loads' sum; and every CPU second of the job and of the
    simulator (a separate process on the same cores) has to fit on ``cpus`` cores.
    """
    timings = year.get("timings", {})
    cpu = float(year.get("cpu_seconds", 0.0)) + float(year.get("sim_cpu_seconds", 0.0))
    return {
        "parse_flatten_s": timings.get("transform", 0.0),
        "parquet_s": timings.get("stage", 0.0),
        "load_s": timings.get("load", 0.0),
        "answers_s": timings.get("extract", 0.0),
        "cpu_floor_s": cpu / max(cpus, 1),
        "load_floor_s": timings.get("load", 0.0),
    }


def _print_profile(year: Mapping[str, Any], cpus: int) -> None:
    if not year or "error" in year:
        return
    floor = profile_floor(year, cpus)
    print()
    print(
        "year profile (seconds summed over windows; workers overlap): waiting for answers "
        f"{floor['answers_s']:.1f}, JSON parse + flatten {floor['parse_flatten_s']:.1f}, "
        f"Parquet {floor['parquet_s']:.1f}, warehouse load {floor['load_s']:.1f} (one after another)"
    )
    print(
        f"  floors: loads in sequence {floor['load_floor_s']:.1f} s; CPU (job "
        f"{year.get('cpu_seconds', 0):.1f} s + simulator {year.get('sim_cpu_seconds', 0):.1f} s on {cpus} "
        f"cores) {floor['cpu_floor_s']:.1f} s; "
        f"measured {year.get('seconds', 0):.1f} s"
    )


def _print_transform(transform: Mapping[str, Any]) -> None:
    if not transform or "error" in transform:
        return
    flat_rate = _rate(transform["sample_rows"], transform["sample_flatten_seconds"])
    norm_rate = _rate(transform["sample_normalize_rows"], transform["sample_normalize_seconds"])
    year_rate = _rate(transform["rows"], transform["flatten_seconds"])
    year_estimate = (
        transform["sample_normalize_seconds"] * transform["rows"] / max(transform["sample_rows"], 1)
    )
    speedup = _rate(transform["sample_normalize_seconds"], transform["sample_flatten_seconds"])
    responses, sample = transform["responses"], transform["sample_responses"]
    print()
    rows = _fmt(transform["rows"])
    print(f"transform only: the {responses} responses of the year, recorded once ({rows} rows)")
    year_seconds = _fmt(transform["flatten_seconds"], 2)
    print(f"  flatten_response, whole year, one pass  {year_seconds:>7} s  ({_fmt(year_rate, 0)} rows/s)")
    print(
        f"  the same {sample} evenly spaced responses ({_fmt(transform['response_mb'])} MB of JSON), "
        f"best of {transform['repeats']} each, alternating:"
    )
    flat_seconds = _fmt(transform["sample_flatten_seconds"], 2)
    print(f"    flatten_response                      {flat_seconds:>7} s  ({_fmt(flat_rate, 0)} rows/s)")
    print(
        f"    pandas.json_normalize                 {_fmt(transform['sample_normalize_seconds'], 2):>7} s  "
        f"({_fmt(norm_rate, 0)} rows/s)  -> flatten {speedup:.1f}x faster"
    )
    print(
        f"  json_normalize on the whole year: ~{_fmt(year_estimate, 1)} s, extrapolated per row from the "
        "sample (not run in full: too long for make bench)"
    )
    if transform.get("per_row_seconds"):
        per_row_rate = _rate(transform["per_row_rows"], transform["per_row_seconds"])
        print(
            f"    pandas.json_normalize, one call per row (issue #4's baseline; first "
            f"{_fmt(transform['per_row_rows'])} rows of one response): {_fmt(per_row_rate, 0)} rows/s "
            f"-> flatten {_rate(flat_rate, per_row_rate):.0f}x faster"
        )


def _print_side_by_side(side: Mapping[str, Any]) -> None:
    if not side:
        return
    print()
    print(f"side by side ({SIDE_DAYS} days x {SIDE_QUEUES} queues, one simulator, same data): baseline / job")
    for pattern, ratio in side.items():
        same = "same rows and sums" if ratio["same_rows"] else "ROWS DIFFER"
        print(
            f"  {pattern:<10} API calls x{ratio['api_calls']:<6.1f} wall time x{ratio['wall']:<6.1f} ({same})"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output", default=str(RESULTS), help="JSON file to write (default %(default)s)")
    parser.add_argument("--year-days", type=int, default=YEAR_DAYS, help="days of the year scenario")
    parser.add_argument("--org-queues", type=int, default=ORG_QUEUES, help="queues of the year/nightly org")
    parser.add_argument("--large-queues", type=int, default=LARGE_QUEUES, help="queues of the large org")
    parser.add_argument(
        "--sample", type=int, default=NORMALIZE_SAMPLE, help="responses timed with json_normalize"
    )
    # Internal: one measured run in a child process.
    parser.add_argument("--scenario", choices=("job", "baseline", "transform"), help=argparse.SUPPRESS)
    parser.add_argument("--api-url", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--json-out", help=argparse.SUPPRESS)
    parser.add_argument("--warehouse", help=argparse.SUPPRESS)
    parser.add_argument("--time-zone", default="UTC", help=argparse.SUPPRESS)
    parser.add_argument("--start-date", help=argparse.SUPPRESS)
    parser.add_argument("--end-date", help=argparse.SUPPRESS)
    parser.add_argument("--pattern", choices=("per_day", "per_queue"), help=argparse.SUPPRESS)
    parser.add_argument("--max-concurrent-queries", type=int, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.scenario:
        return run_child(args)
    if args.year_days < 1 or args.org_queues < 1 or args.sample < 1 or args.large_queues < 1:
        print("--year-days, --org-queues, --large-queues and --sample must be >= 1", file=sys.stderr)
        return 2
    return run_all(args)


if __name__ == "__main__":
    sys.exit(main())
