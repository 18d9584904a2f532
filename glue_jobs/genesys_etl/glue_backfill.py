"""Backfills as AWS Glue job runs: split a date range, start runs within the job's concurrency, poll them."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, NamedTuple

from botocore.exceptions import ClientError

from genesys_etl.errors import ConfigError

if TYPE_CHECKING:
    from mypy_boto3_glue import GlueClient

logger = logging.getLogger(__name__)

# JobRunState values after which a run never changes again (Glue API, JobRun.JobRunState).
TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "TIMEOUT", "STOPPED", "ERROR", "EXPIRED"})
# The state recorded for a range Glue refused to start (not a Glue state).
NOT_STARTED = "NOT_STARTED"
# Glue answers this when the job already runs MaxConcurrentRuns times (ours, or a nightly run).
CONCURRENCY_ERROR = "ConcurrentRunsExceededException"


class GlueRun(NamedTuple):
    """One run of the backfill: its local date range, Glue run id, final state and error message."""

    start: date
    end: date
    run_id: str
    state: str
    error: str | None


class BackfillProgress(NamedTuple):
    """A snapshot after each start or finish, for progress bars and log lines."""

    total: int
    started: int
    finished: int
    failed: int
    running: int
    message: str


@dataclass(frozen=True)
class GlueBackfillResult:
    """Every run in range order, and the date ranges whose run did not succeed."""

    job_name: str
    runs: list[GlueRun] = field(default_factory=list)
    failed_ranges: list[tuple[date, date]] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        """True when every run succeeded."""
        return not self.failed_ranges


def split_range(start_date: date, end_date: date, days_per_run: int) -> list[tuple[date, date]]:
    """Split an inclusive date range into consecutive inclusive chunks of at most ``days_per_run`` days.

    Args:
        start_date: first local day.
        end_date: last local day (inclusive).
        days_per_run: days per Glue run, at least 1.

    Returns:
        The chunks in date order.

    Raises:
        ConfigError: an empty range or fewer than one day per run.
    """
    if days_per_run < 1:
        raise ConfigError("--days-per-run", f"must be at least 1, got {days_per_run}")
    if end_date < start_date:
        raise ConfigError("--end-date", f"{end_date} is before --start-date {start_date}; swap them")
    chunks: list[tuple[date, date]] = []
    first = start_date
    while first <= end_date:
        last = min(first + timedelta(days=days_per_run - 1), end_date)
        chunks.append((first, last))
        first = last + timedelta(days=1)
    return chunks


def _job_concurrency(glue: GlueClient, job_name: str) -> int:
    try:
        job = glue.get_job(JobName=job_name)["Job"]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "EntityNotFoundException":
            raise ConfigError("--job-name", f"no Glue job named {job_name!r} in this account/region") from err
        raise
    return int(job.get("ExecutionProperty", {}).get("MaxConcurrentRuns", 1))


def _error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def run_glue_backfill(
    glue: GlueClient,
    *,
    job_name: str,
    start_date: date,
    end_date: date,
    days_per_run: int,
    arguments: Mapping[str, str],
    max_concurrent: int | None = None,
    poll_seconds: float = 30,
    progress: Callable[[BackfillProgress], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> GlueBackfillResult:
    """Run a backfill as Glue job runs of ``days_per_run`` days each and wait for all of them.

    Each run gets ``arguments`` plus ``--start_date``, ``--end_date`` and ``--trigger backfill``. At most
    ``max_concurrent`` runs are in flight; when Glue refuses a start because the job is busy (a nightly
    run, say), the start waits and is retried; any other refusal marks that range ``NOT_STARTED``.

    Args:
        glue: boto3 Glue client.
        job_name: the Glue job.
        start_date: first local day.
        end_date: last local day (inclusive).
        days_per_run: days per run.
        arguments: further job arguments (``--name`` → value), e.g. ``{"--time_zone": "UTC"}``.
        max_concurrent: runs in flight at once; default the job's ``MaxConcurrentRuns``.
        poll_seconds: wait between polls.
        progress: called after every start and finish.
        sleep: the wait function (tests pass a fake).

    Returns:
        Every run with its state, and the failed date ranges.

    Raises:
        ConfigError: bad range, days per run, concurrency, or no such job.
    """
    chunks = split_range(start_date, end_date, days_per_run)
    limit = _job_concurrency(glue, job_name) if max_concurrent is None else max_concurrent
    if limit < 1:
        raise ConfigError("--max-concurrent", f"must be at least 1, got {limit}")
    pending = deque(chunks)
    active: dict[str, tuple[date, date]] = {}
    finished: dict[tuple[date, date], GlueRun] = {}
    started = 0

    def report(message: str) -> None:
        logger.info(message)
        if progress is not None:
            failed = sum(1 for run in finished.values() if run.state != "SUCCEEDED")
            progress(BackfillProgress(len(chunks), started, len(finished), failed, len(active), message))

    while pending or active:
        while pending and len(active) < limit:
            first, last = pending[0]
            run_arguments = {
                **arguments,
                "--start_date": first.isoformat(),
                "--end_date": last.isoformat(),
                "--trigger": "backfill",
            }
            try:
                run_id = glue.start_job_run(JobName=job_name, Arguments=run_arguments)["JobRunId"]
            except ClientError as err:
                if _error_code(err) == CONCURRENCY_ERROR:
                    logger.info("job %s is busy; retrying the start of %s..%s", job_name, first, last)
                    break
                # Anything else (validation, permissions) fails this range only; it is reported for rerun.
                pending.popleft()
                message = f"{_error_code(err)}: {err.response.get('Error', {}).get('Message', '')}"
                finished[(first, last)] = GlueRun(first, last, "", NOT_STARTED, message)
                report(f"{first}..{last} {NOT_STARTED}: {message}")
                continue
            pending.popleft()
            active[run_id] = (first, last)
            started += 1
            report(f"started {first}..{last} as {run_id} ({started}/{len(chunks)})")
        if not active and not pending:
            break
        sleep(poll_seconds)
        for run_id, (first, last) in list(active.items()):
            run = glue.get_job_run(JobName=job_name, RunId=run_id)["JobRun"]
            state = str(run.get("JobRunState", ""))
            if state not in TERMINAL_STATES:
                continue
            error = run.get("ErrorMessage") or (None if state == "SUCCEEDED" else state)
            del active[run_id]
            finished[(first, last)] = GlueRun(first, last, run_id, state, error)
            report(f"{first}..{last} {state}" + (f": {error}" if state != "SUCCEEDED" else ""))

    runs = [finished[chunk] for chunk in chunks]
    failed_ranges = [(run.start, run.end) for run in runs if run.state != "SUCCEEDED"]
    return GlueBackfillResult(job_name=job_name, runs=runs, failed_ranges=failed_ranges)
