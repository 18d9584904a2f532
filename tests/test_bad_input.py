"""Bad input, table-driven: exact exit status, one line naming the problem, the warehouse unchanged.

Every case runs the real entry point (the ``genesys-etl`` CLI, or the Glue entry for the Secrets
Manager cases) in-process against the simulator over HTTP, on a copy of a DuckDB warehouse that
already holds one loaded window (2026-10-01..2026-10-05). Logging is set up by the entry point
itself, as in a fresh process (``process_logging``), at ``--log-level ERROR``: what a person sees is
then exactly the error lines, and each case must produce exactly one.

"Unchanged" means: the fact rows and the queue rows are identical, and ``load_runs`` keeps its rows
as they were; it may only gain ``failed`` rows for a window that was attempted and failed (that row
is the audit trail a rerun needs, not a change of data). A queue-listing case loads a different,
disjoint window successfully (the aggregates were fine) and must leave the loaded window and the
queue table untouched.
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import pytest

import genesys_queue_metrics_job as job
from fixtures.jobs import (
    Canned,
    ProxyStub,
    Route,
    StubRequest,
    always,
    duckdb_snapshot,
    genesys_error,
    process_logging,
    python_command,
    sim_env,
)
from genesys_etl import cli
from genesys_etl.warehouse import DuckDBWarehouse
from genesys_sim import FaultConfig, SimConfig, SimulatorServer

TODAY = date(2026, 11, 26)
LOADED = ("2026-10-01", "2026-10-05")  # the window the warehouse holds before every case
MAX_INTERVAL_DAYS = 5  # the simulated org refuses longer aggregate intervals (a genuine 400)
AGGREGATES = "/api/v2/analytics/conversations/aggregates/query"
QUEUES = "/api/v2/routing/queues"
COPY_ROLE = "arn:aws:iam::123456789012:role/redshift-copy"

# ---- answers of the loopback proxy (see fixtures.jobs.ProxyStub) ----------------------------------
# The simulator is the API and answers like it; these come from "something in between": statuses the
# simulator has no way to give for the job's fixed paths (403: the simulator has no permission model;
# 404: --api-url accepts no path prefix, so the job cannot reach an unknown path of the simulator),
# and the transport-shaped answers a proxy or gateway gives (empty 200, HTML page, foreign JSON).


def _endless_pages() -> Route:
    """A listing that always has a next page of new queues and no pageCount: it never ends."""
    pages = iter(range(1, 10**6))

    def route(request: StubRequest) -> Canned:
        number = next(pages)
        entities = [{"id": f"queue-{number}-{i}", "name": f"Queue {number}.{i}"} for i in range(100)]
        return Canned.json(200, {"entities": entities, "pageSize": 100, "pageNumber": number})

    return route


PROXIES: dict[str, Callable[[], dict[str, Route]]] = {
    "403": lambda: {
        AGGREGATES: always(
            genesys_error(
                403,
                "missing.any.permissions",
                "Unable to perform the requested action. You are missing the following permission(s): "
                "[analytics:conversationAggregate:view]",
            )
        )
    },
    "404": lambda: {
        AGGREGATES: always(genesys_error(404, "not.found", "The requested operation was not found"))
    },
    "empty-200": lambda: {AGGREGATES: always(Canned(200, b"", {"Content-Type": "application/json"}))},
    "html-page": lambda: {
        AGGREGATES: always(
            Canned(
                200,
                b"<!DOCTYPE html><html><body><h1>Proxy authentication required</h1></body></html>",
                {"Content-Type": "text/html; charset=utf-8"},
            )
        )
    },
    "results-not-a-list": lambda: {AGGREGATES: always(Canned.json(200, {"results": {"group": {}}}))},
    "json-array": lambda: {AGGREGATES: always(Canned.json(200, [{"results": []}]))},
    "stat-not-a-number": lambda: {
        AGGREGATES: always(
            Canned.json(
                200,
                {
                    "results": [
                        {
                            "group": {"queueId": "q-1", "mediaType": "voice"},
                            "data": [
                                {
                                    "interval": "2026-10-01T00:00:00.000Z/2026-10-02T00:00:00.000Z",
                                    "metrics": [{"metric": "nOffered", "stats": {"count": "many"}}],
                                }
                            ],
                        }
                    ]
                },
            )
        )
    },
    "repeated-page": lambda: {
        # A listing that ignores pageNumber and claims more pages: the same page forever.
        QUEUES: always(
            Canned.json(
                200,
                {
                    "entities": [{"id": "queue-a", "name": "A"}],
                    "pageSize": 100,
                    "pageNumber": 1,
                    "pageCount": 9,
                },
            )
        )
    },
    "endless-pages": lambda: {QUEUES: _endless_pages()},
}


@dataclass(frozen=True)
class Case:
    """One bad input.

    Attributes:
        name: the test id.
        argv: the CLI arguments (``{api}``, ``{wh}``, ``{stage}`` filled in), or the Glue arguments.
        status: the exact exit status.
        expect: substrings of the one error line (they name the problem and the fix).
        loads: ``none`` (load_runs unchanged), ``failed`` (only new ``failed`` rows, at least one),
            ``elsewhere`` (a disjoint window loaded: the loaded window and the queues are unchanged).
        env: ``ok``, ``wrong-secret`` or ``empty`` credentials in the environment.
        proxy: a key of PROXIES: the job talks to the simulator through that proxy.
        faults: faults the simulator injects during the case.
        glue_secret: for the Glue entry: the Secrets Manager string (None: the secret does not exist).
        lock: another process holds the DuckDB file during the case.
        absent: text that must not appear in the output (e.g. a password given in a URL).
        seconds: the case must end within this wall time (failures that retrying cannot fix).
    """

    name: str
    argv: tuple[str, ...]
    status: int
    expect: tuple[str, ...]
    loads: str = "none"
    env: str = "ok"
    proxy: str | None = None
    faults: FaultConfig | None = None
    glue_secret: str | None = field(default=None)
    glue: bool = False
    lock: bool = False
    absent: tuple[str, ...] = ()
    seconds: float | None = None


def _run(*extra: str, start: str = LOADED[0], end: str = LOADED[1]) -> tuple[str, ...]:
    """``run`` on a range (the loaded window by default); later flags override earlier ones."""
    base = ("run", "--start-date", start, "--end-date", end, "--api-url", "{api}")
    return (*base, "--warehouse", "{wh}", "--stage", "{stage}", *extra)


GLUE_ARGV = (
    "--JOB_ID", "j_1", "--JOB_RUN_ID", "jr_1",
    "--secret_id", "genesys/oauth", "--stage", "s3://genesys-etl-test-stage/stage",
    "--redshift_connection", "redshift-analytics", "--iam_role", COPY_ROLE,
    "--start_date", LOADED[0], "--end_date", LOADED[1], "--api_url", "{api}", "--log_level", "ERROR",
)  # fmt: skip


CASES: list[Any] = [
    # --- flags and dates (ConfigError: exit 2, before anything is opened or called) ---------------
    Case(
        "date-not-iso", _run("--start-date", "10/01/2026"), 2, ("--start-date", "'10/01/2026' is not a date")
    ),
    Case("date-impossible", _run("--end-date", "2026-02-30"), 2, ("--end-date", "not a calendar date")),
    Case("date-year-typo", _run("--start-date", "1026-10-01"), 2, ("--start-date", "outside 2000..2199")),
    Case("range-reversed", _run(start="2026-10-05", end="2026-10-01"), 2, ("--end-date", "before", "swap")),
    Case(
        "zone-unknown",
        _run("--time-zone", "Europe/Londn"),
        2,
        ("--time-zone", "did you mean 'Europe/London'"),
    ),
    Case(
        "metric-unknown",
        _run("--metrics", "nOffered,tHandel"),
        2,
        ("--metrics", "'tHandel'", "did you mean 'tHandle'"),
    ),
    Case("metric-twice", _run("--metrics", "nOffered,nOffered"), 2, ("--metrics", "listed twice")),
    Case("metrics-empty", _run("--metrics", " , "), 2, ("--metrics", "at least one metric")),
    Case(
        "region-unknown",
        (*_run(), "--region", "eu-west-9"),
        2,
        ("--region", "unknown region 'eu-west-9'", "did you mean"),
    ),
    Case("days-per-query-too-long", _run("--days-per-query", "8"), 2, ("--days-per-query", "1..7")),
    Case(
        "days-per-query-not-a-number",
        _run("--days-per-query", "a week"),
        2,
        ("--days-per-query", "not a whole number"),
    ),
    Case(
        "lookback-zero",
        ("run", "--lookback-days", "0", "--api-url", "{api}", "--warehouse", "{wh}", "--stage", "{stage}"),
        2,
        ("--lookback-days",),
    ),
    Case("pace-zero", _run("--requests-per-minute", "0"), 2, ("--requests-per-minute", "0 is too small")),
    Case(
        "days-per-query-zero",
        _run("--days-per-query", "0"),
        2,
        ("--days-per-query", "0 is outside 1..7", "days per request"),
    ),
    Case(
        "secret-outside-latin-1",
        _run(),
        2,
        ("GENESYS_CLIENT_SECRET", "cannot be sent", "outside Latin-1"),
        env="secret-non-latin-1",
        absent=("☃",),
    ),
    Case(
        "secret-with-a-newline",
        _run(),
        2,
        ("GENESYS_CLIENT_SECRET", "control character"),
        env="secret-newline",
        absent=("s3cr3t-tail",),
    ),
    Case("retry-wait-negative", _run("--max-retry-wait", "-3"), 2, ("--max-retry-wait",)),
    Case("credentials-missing", _run(), 2, ("GENESYS_CLIENT_ID", "is not set"), env="empty"),
    Case(
        "api-url-plain-http-remote",
        _run("--api-url", "http://api.example.com"),
        2,
        ("--api-url", "loopback", "https://api.example.com"),
    ),
    Case(
        "api-url-with-password",
        _run("--api-url", "https://etl:hunter2@api.mypurecloud.com"),
        2,
        ("--api-url", "credentials do not belong in a URL"),
        absent=("hunter2",),
    ),
    Case(
        "api-url-with-path",
        _run("--api-url", "http://127.0.0.1:9/genesys"),
        2,
        ("--api-url", "without a path"),
    ),
    Case(
        "warehouse-unknown", _run("--warehouse", "postgres://db/genesys"), 2, ("--warehouse", "duckdb:PATH")
    ),
    Case("stage-bad-bucket", _run("--stage", "s3://Bad_Bucket/x"), 2, ("--stage", "not a valid S3 location")),
    Case(
        "schema-with-sql",
        _run("--schema", "genesys; DROP TABLE genesys.load_runs"),
        2,
        ("--schema", "not a plain identifier"),
    ),
    Case(
        "schema-with-quote",
        _run("--schema", 'genesys"."load_runs'),
        2,
        ("--schema", "not a plain identifier"),
    ),
    Case("log-level-unknown", ("--log-level", "LOUD", *_run()), 2, ("--log-level", "'LOUD'", "DEBUG, INFO")),
    # --- argparse (SystemExit 2) ------------------------------------------------------------------
    Case(
        "flag-unknown",
        _run("--frobnicate", "1"),
        2,
        ("genesys-etl run: error: unrecognized arguments: --frobnicate", "(see genesys-etl run --help)"),
    ),
    Case(
        "log-level-after-the-command",
        _run("--log-level", "LOUD"),
        2,
        ("--log-level", "'LOUD'", "DEBUG, INFO"),
    ),
    Case(
        "backfill-without-end",
        ("backfill", "--start-date", LOADED[0], "--api-url", "{api}"),
        2,
        ("backfill", "required: --end-date"),
    ),
    Case("no-command", (), 2, ("required: COMMAND",)),
    # --- the API refuses (the window fails: exit 1, a failed load_runs row, facts unchanged) ------
    Case(
        "api-400-interval-too-long",
        _run(end="2026-10-07"),
        1,
        ("400", "invalid.date", "maximum is 5 days"),
        loads="failed",
    ),
    pytest.param(
        Case(
            "api-401-wrong-secret",
            _run(),
            1,
            ("401", "GENESYS_CLIENT_SECRET"),
            loads="failed",
            env="wrong-secret",
        ),
        id="api-401-wrong-secret",
    ),
    Case(
        "api-403-permission",
        _run(),
        1,
        ("403", "missing.any.permissions", "analytics:conversationAggregate:view"),
        loads="failed",
        proxy="403",
    ),
    Case("api-404", _run(), 1, ("404", "not.found"), loads="failed", proxy="404"),
    # --- Genesys cannot be reached at all: one retry, one line naming the host, the report ---------
    Case(
        "api-host-does-not-resolve",
        _run("--api-url", "https://api.nonexistent.invalid"),
        1,
        ("cannot resolve the host login.nonexistent.invalid", "--api-url / --login-url", "2 attempts"),
        loads="failed",
        seconds=10,
    ),
    Case(
        "api-connection-refused",
        _run("--api-url", "{closed}"),
        1,
        ("refused the connection", "nothing listens there", "--api-url", "2 attempts"),
        loads="failed",
        seconds=10,
    ),
    Case(
        "api-retry-after-hours",
        _run(),
        1,
        ("429", "wait 10800 s", "--max-retry-wait"),
        loads="failed",
        faults=FaultConfig(sequence=("429",), retry_after_seconds=3 * 3600),
    ),
    # --- a proxy answers 200 with something that is not the API's answer ------------------------
    Case("body-empty-200", _run(), 1, ("200 with an empty body", "proxy"), loads="failed", proxy="empty-200"),
    Case(
        "body-html-page", _run(), 1, ("HTML page instead of JSON", "proxy"), loads="failed", proxy="html-page"
    ),
    Case(
        "body-results-not-a-list",
        _run(),
        1,
        ("'results' of the wrong shape",),
        loads="failed",
        proxy="results-not-a-list",
    ),
    Case(
        "body-json-array", _run(), 1, ("JSON list, expected an object",), loads="failed", proxy="json-array"
    ),
    Case(
        "body-stat-not-a-number",
        _run(),
        1,
        ("not a number", "'many'"),
        loads="failed",
        proxy="stat-not-a-number",
    ),
    # --- the queue listing never ends (windows of another range load; the listing must not loop) --
    Case(
        "queues-same-page-forever",
        _run(start="2026-10-10", end="2026-10-11"),
        1,
        ("queue refresh failed", "repeats an earlier page"),
        loads="elsewhere",
        proxy="repeated-page",
    ),
    Case(
        "queues-endless-paging",
        _run("--requests-per-minute", "600000", start="2026-10-10", end="2026-10-11"),
        1,
        ("queue refresh failed", "did not end after 1000 pages"),
        loads="elsewhere",
        proxy="endless-pages",
    ),
    # --- bad paths (exit 2) and a held file (exit 1): found before any call, nothing written --------
    Case(
        "stage-unwritable",
        _run("--stage", "{unwritable}"),
        2,
        ("--stage", "cannot write to", "Not a directory"),
    ),
    Case(
        "warehouse-under-a-file",
        _run("--warehouse", "{warehouse-under-a-file}"),
        2,
        ("--warehouse", "cannot create the folder of", "Not a directory", "writable folder"),
    ),
    Case(
        "duckdb-locked",
        _run(),
        1,
        ("duckdb file is locked by another process", "an analyst's notebook"),
        lock=True,
    ),
    # --- the Glue entry's Secrets Manager secret (ConfigError: exit 2, the value never shown) -------
    Case(
        "secret-not-json",
        GLUE_ARGV,
        2,
        ("--secret_id", "is not a JSON object"),
        glue=True,
        glue_secret="client_id=demo",
    ),
    Case(
        "secret-json-array",
        GLUE_ARGV,
        2,
        ("--secret_id", "is not a JSON object"),
        glue=True,
        glue_secret='["demo", "x"]',
    ),
    Case(
        "secret-no-client-secret",
        GLUE_ARGV,
        2,
        ("--secret_id", "has no client_secret"),
        glue=True,
        glue_secret='{"client_id": "demo"}',
    ),
    Case(
        "secret-empty-client-id",
        GLUE_ARGV,
        2,
        ("--secret_id", "has no client_id"),
        glue=True,
        glue_secret='{"client_id": "", "client_secret": "top-secret-value"}',
        absent=("top-secret-value",),
    ),
    Case("secret-missing", GLUE_ARGV, 2, ("--secret_id", "ResourceNotFoundException"), glue=True),
]


def _closed_loopback_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _case_id(case: Any) -> str:
    return case.name if isinstance(case, Case) else str(case)


# ---- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(
        SimConfig(seed=17, queues=6, today=TODAY, max_interval_days=MAX_INTERVAL_DAYS)
    ) as server:
        yield server


@pytest.fixture(scope="module")
def preloaded(sim: SimulatorServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB warehouse holding the LOADED window (and the queue listing), closed."""
    folder = tmp_path_factory.mktemp("preloaded")
    path = folder / "wh.duckdb"
    argv = [*_run(), "--days-per-query", str(MAX_INTERVAL_DAYS)]
    values = {"{api}": sim.base_url, "{wh}": f"duckdb:{path}", "{stage}": str(folder / "stage")}
    status = cli.main([values.get(a, a) for a in argv], env=sim_env(sim))
    assert status == 0
    snapshot = duckdb_snapshot(path)
    assert len(snapshot.facts) > 500
    assert [r[6] for r in snapshot.load_runs] == ["succeeded"]
    return path


@pytest.fixture
def warehouse_copy(preloaded: Path, tmp_path: Path) -> Path:
    """A private copy of the preloaded warehouse for one case."""
    target = tmp_path / "wh.duckdb"
    shutil.copyfile(preloaded, target)
    wal = preloaded.with_name(preloaded.name + ".wal")
    if wal.exists():
        shutil.copyfile(wal, target.with_name(target.name + ".wal"))
    return target


@pytest.fixture
def clean_sim(sim: SimulatorServer) -> Iterator[SimulatorServer]:
    """The module's simulator with no faults and zeroed counters before and after the case."""
    sim.set_faults(FaultConfig())
    sim.reset_counters()
    yield sim
    sim.set_faults(FaultConfig())


def _hold_lock(path: Path) -> subprocess.Popen[str]:
    """Another process opening the DuckDB file (DuckDB lets one process have it); returns once it holds it."""
    holder = subprocess.Popen(
        python_command(
            f"import duckdb; con = duckdb.connect({str(path)!r}); "
            "print('holding', flush=True); sys.stdin.read()"
        ),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "holding"
    return holder


def _env(case: Case, sim: SimulatorServer) -> dict[str, str]:
    if case.env == "empty":
        return {}
    env = sim_env(sim)
    if case.env == "wrong-secret":
        env["GENESYS_CLIENT_SECRET"] = "not-the-secret"
    if case.env == "secret-non-latin-1":
        env["GENESYS_CLIENT_SECRET"] = "d\u00e9mo-\u2603-secret"
    if case.env == "secret-newline":
        env["GENESYS_CLIENT_SECRET"] = "demo-secret\ns3cr3t-tail"
    return env


def _invoke(
    case: Case, argv: list[str], sim: SimulatorServer, request: pytest.FixtureRequest, path: Path
) -> int:
    """Run the case's entry point as a process would: its own logging, SystemExit as an exit status."""
    with process_logging():
        if case.glue:
            session: boto3.Session = request.getfixturevalue("moto_aws")
            if case.glue_secret is not None:
                session.client("secretsmanager").create_secret(
                    Name="genesys/oauth", SecretString=case.glue_secret
                )
            return job.main(
                argv,
                session=session,
                warehouse_factory=lambda config: DuckDBWarehouse(str(path), config.schema),
            )
        try:
            return cli.main(argv, env=_env(case, sim))
        except SystemExit as exit_:  # argparse reports its errors by exiting
            return int(exit_.code or 0)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_bad_input_fails_with_one_line_and_leaves_the_warehouse_unchanged(
    case: Case,
    clean_sim: SimulatorServer,
    warehouse_copy: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    before = duckdb_snapshot(warehouse_copy)
    unwritable = tmp_path / "a-file"
    unwritable.write_text(
        "a file where the stage folder should be\n"
    )  # as root, permissions would not stop it
    if case.faults is not None:
        clean_sim.set_faults(case.faults)
    with ProxyStub(clean_sim.base_url, PROXIES[case.proxy]() if case.proxy else {}) as proxy:
        values = {
            "{api}": proxy.base_url if case.proxy else clean_sim.base_url,
            "{wh}": f"duckdb:{warehouse_copy}",
            "{stage}": str(tmp_path / "stage"),
            "{unwritable}": str(unwritable / "stage"),
            "{warehouse-under-a-file}": f"duckdb:{unwritable / 'wh' / 'wh.duckdb'}",
            "{closed}": f"http://127.0.0.1:{_closed_loopback_port()}",
        }
        argv = [values.get(arg, arg) for arg in case.argv]
        if not case.glue and case.name != "log-level-unknown":
            argv = ["--log-level", "ERROR", *argv]
        holder = _hold_lock(warehouse_copy) if case.lock else None
        started = time.monotonic()
        try:
            status = _invoke(case, argv, clean_sim, request, warehouse_copy)
            elapsed = time.monotonic() - started
        finally:
            if holder is not None:
                assert holder.stdin is not None
                holder.stdin.close()
                holder.wait(timeout=10)
    captured = capsys.readouterr()
    # The CLI writes errors to stderr; the Glue entry logs them to stdout (CloudWatch's stream).
    shown = captured.out if case.glue else captured.err
    lines = shown.strip().splitlines()

    assert status == case.status, shown
    assert len(lines) == 1, f"expected one line naming the problem, got:\n{shown}"
    for part in case.expect:
        assert part in lines[0], f"{part!r} not in {lines[0]!r}"
    assert "Traceback" not in captured.out + captured.err
    if case.seconds is not None:
        assert elapsed < case.seconds, f"took {elapsed:.1f} s"
    if case.loads == "failed" and not case.glue:
        # The run report still comes out, with the command that reruns the failed days.
        assert (
            f"rerun the failed days with:\n  genesys-etl backfill --start-date {LOADED[0]} " in captured.out
        )
    for secret in case.absent:
        assert secret not in captured.out + captured.err

    after = duckdb_snapshot(warehouse_copy)
    assert after.load_runs[: len(before.load_runs)] == before.load_runs
    new_statuses = [row[6] for row in after.load_runs[len(before.load_runs) :]]
    if case.loads == "elsewhere":
        loaded_days = {date.fromisoformat(d) for d in LOADED}
        assert [r for r in after.facts if min(loaded_days) <= r[0] <= max(loaded_days)] == before.facts
        assert after.queues == before.queues  # the listing failed: no half-applied refresh
        assert new_statuses == ["succeeded"]
        return
    assert after.facts == before.facts
    if case.loads == "failed":
        # The queue listing still refreshed after the failed window: only last_seen_at may move.
        assert _without_last_seen(after.queues) == _without_last_seen(before.queues)
        assert new_statuses, "the failed window should be recorded in load_runs"
        assert set(new_statuses) == {"failed"}
    else:
        assert after.queues == before.queues
        assert new_statuses == []


def _without_last_seen(queues: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Queue rows without ``last_seen_at`` (column 8 of the queues table)."""
    return [row[:7] + row[8:] for row in queues]


def test_the_table_has_at_least_25_cases() -> None:
    assert len(CASES) >= 25
    names = [_case_id(case) if isinstance(case, Case) else case.id for case in CASES]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize(
    ("cause", "expect"),
    [
        ("wrong-secret", "401"),
        ("host-does-not-resolve", "cannot resolve the host login.nonexistent.invalid"),
        ("connection-refused", "refused the connection"),
    ],
)
def test_a_failure_every_call_would_repeat_stops_the_run_and_still_prints_the_report(
    cause: str,
    expect: str,
    clean_sim: SimulatorServer,
    warehouse_copy: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    api = {
        "wrong-secret": clean_sim.base_url,
        "host-does-not-resolve": "https://api.nonexistent.invalid",
        "connection-refused": f"http://127.0.0.1:{_closed_loopback_port()}",
    }[cause]
    values = {"{api}": api, "{wh}": f"duckdb:{warehouse_copy}", "{stage}": str(tmp_path / "stage")}
    argv = [values.get(a, a) for a in _run("--days-per-query", str(MAX_INTERVAL_DAYS), end="2026-10-15")]
    env = sim_env(clean_sim)
    if cause == "wrong-secret":
        env["GENESYS_CLIENT_SECRET"] = "not-the-secret"
    started = time.monotonic()
    with process_logging():
        status = cli.main(["--log-level", "ERROR", *argv], env=env)
    elapsed = time.monotonic() - started
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert status == 1
    assert elapsed < 10, f"took {elapsed:.1f} s"
    # Three windows and the queue listing: one refusal is enough to know the others would fail too.
    if cause == "wrong-secret":
        assert clean_sim.request_count("/oauth/token") == 1
    assert clean_sim.request_count("aggregates/query") == 0
    assert clean_sim.request_count("routing/queues") == 0
    assert len(lines) == 1, lines
    assert expect in lines[0]
    assert "Traceback" not in captured.out + captured.err
    report = captured.out
    assert "2026-10-01..2026-10-05" in report
    assert report.count("not attempted") >= 3  # two windows, and the total
    later = [line for line in report.splitlines() if line.startswith(("2026-10-06..", "2026-10-11.."))]
    assert len(later) == 2
    assert all(line.rstrip().endswith("not attempted") for line in later), later
    assert "the later windows and the queue listing were not attempted" in report
    assert "queues listed" not in report
    assert (
        "rerun the failed days with:\n  genesys-etl backfill --start-date 2026-10-01 --end-date 2026-10-15"
        in report
    )
    assert "not-the-secret" not in report + captured.err
    statuses = [row[6] for row in duckdb_snapshot(warehouse_copy).load_runs]
    assert statuses == ["succeeded", "failed"]  # the preloaded window, then the one that was attempted


def test_a_closed_pipe_on_stdout_ends_quietly() -> None:
    """``genesys-etl plan | head -1``: the reader goes away after one line; no traceback follows."""
    argv = ["plan", "--start-date", "2020-01-01", "--end-date", "2025-12-31", "--days-per-query", "1"]
    process = subprocess.Popen(
        python_command(f"from genesys_etl import cli; sys.exit(cli.main({argv!r}))"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stdout.readline().startswith(b'{"interval": "2020-01-01')
    process.stdout.close()  # what head does after its first line
    _, err = process.communicate(timeout=60)
    assert err == b"", err.decode(errors="replace")
    assert process.returncode == 141


@pytest.mark.parametrize("where", ["before", "after"])
def test_log_level_works_before_or_after_the_command(where: str, capsys: pytest.CaptureFixture[str]) -> None:
    plan = ["plan", "--start-date", "2026-10-01", "--end-date", "2026-10-01"]
    argv = ["--log-level", "DEBUG", *plan] if where == "before" else [*plan, "--log-level", "DEBUG"]
    with process_logging():
        assert cli.main(argv) == 0
        assert logging.getLogger().level == logging.DEBUG
    assert capsys.readouterr().out.startswith('{"interval": "2026-10-01')


@pytest.mark.parametrize("command", ["run", "backfill", "plan", "lint", "status", "doctor", "verify"])
def test_every_command_points_at_its_own_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main([command, "--no-such-flag"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2
    assert lines[-1].startswith(f"genesys-etl {command}: error: ")
    assert lines[-1].endswith(f"(see genesys-etl {command} --help)")
