"""Backfills as Glue job runs against moto's Glue: states progress, concurrency holds, failures reported."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID
from moto.glue.models import glue_backends
from moto.moto_api import state_manager

from fixtures.aws import TEST_REGION
from genesys_etl.config import Config
from genesys_etl.errors import ConfigError
from genesys_etl.glue_backfill import (
    BackfillProgress,
    run_glue_backfill,
    split_range,
)
from genesys_etl.report import backfill_commands

JOB = "genesys-test-queue-metrics"
# Default settings: the rerun commands then carry only the Glue job and the dates.
OFFLINE = Config(offline=True)
ACTIVE = {"STARTING", "RUNNING"}


@pytest.fixture
def glue(moto_aws: boto3.Session) -> Iterator[Any]:
    # moto runs go STARTING -> RUNNING -> SUCCEEDED, one step per get_job_run (instead of at once).
    state_manager.set_transition(model_name="glue::job_run", transition={"progression": "manual", "times": 1})
    try:
        yield moto_aws.client("glue")
    finally:
        state_manager.unset_transition("glue::job_run")


def create_job(glue: Any, max_concurrent_runs: int) -> None:
    glue.create_job(
        Name=JOB,
        Role="arn:aws:iam::123456789012:role/glue",
        Command={"Name": "glueetl", "ScriptLocation": "s3://bucket/artifacts/v/job.py", "PythonVersion": "3"},
        ExecutionProperty={"MaxConcurrentRuns": max_concurrent_runs},
        DefaultArguments={"--trigger": "nightly", "--secret_id": "arn:secret"},
        GlueVersion="5.0",
    )


def moto_runs() -> list[Any]:
    return list(glue_backends[DEFAULT_ACCOUNT_ID][TEST_REGION].jobs[JOB].job_runs)


def active_in_moto() -> int:
    # Reads moto's stored state without advancing it (get_job_run would).
    return sum(1 for run in moto_runs() if run._status in ACTIVE)


class ObservedGlue:
    """The moto client, recording what the backfill does; optionally failing the run of one start date."""

    def __init__(self, client: Any, fail_start: date | None = None) -> None:
        self._client = client
        self._fail_start = fail_start
        self.active_at_start: list[int] = []
        self.refused_starts = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def start_job_run(self, **kwargs: Any) -> Any:
        before = active_in_moto()
        try:
            answer = self._client.start_job_run(**kwargs)
        except ClientError:
            self.refused_starts += 1
            raise
        self.active_at_start.append(before + 1)
        return answer

    def get_job_run(self, **kwargs: Any) -> Any:
        answer = self._client.get_job_run(**kwargs)
        run = answer["JobRun"]
        if (
            self._fail_start is not None
            and run["Arguments"]["--start_date"] == self._fail_start.isoformat()
            and run["JobRunState"] == "RUNNING"
        ):
            # Fail it in moto too, so moto's own concurrency count sees it end.
            (stored,) = [r for r in moto_runs() if r.job_run_id == run["Id"]]
            stored.status = "FAILED"
            run["JobRunState"] = "FAILED"
            run["ErrorMessage"] = "WarehouseError: COPY failed"
        return answer


def test_split_range_covers_the_range_in_chunks() -> None:
    assert split_range(date(2026, 1, 1), date(2026, 1, 10), 4) == [
        (date(2026, 1, 1), date(2026, 1, 4)),
        (date(2026, 1, 5), date(2026, 1, 8)),
        (date(2026, 1, 9), date(2026, 1, 10)),
    ]
    assert split_range(date(2026, 3, 8), date(2026, 3, 8), 7) == [(date(2026, 3, 8), date(2026, 3, 8))]


@pytest.mark.parametrize(
    ("start", "end", "days", "field"),
    [
        (date(2026, 1, 2), date(2026, 1, 1), 1, "--end-date"),
        (date(2026, 1, 1), date(2026, 1, 2), 0, "--days-per-run"),
    ],
)
def test_split_range_rejects_bad_input(start: date, end: date, days: int, field: str) -> None:
    with pytest.raises(ConfigError) as raised:
        split_range(start, end, days)
    assert raised.value.field == field


def test_backfill_runs_every_chunk_with_its_dates_and_succeeds(glue: Any) -> None:
    create_job(glue, max_concurrent_runs=2)
    events: list[BackfillProgress] = []
    sleeps: list[float] = []

    result = run_glue_backfill(
        glue,
        job_name=JOB,
        start_date=date(2026, 1, 1),
        end_date=date(2026, 1, 10),
        days_per_run=3,
        arguments={"--time_zone": "America/New_York"},
        poll_seconds=7,
        progress=events.append,
        sleep=sleeps.append,
    )

    assert result.succeeded
    assert result.failed_ranges == []
    assert result.failed_ranges == []
    assert [(r.start, r.end, r.state) for r in result.runs] == [
        (date(2026, 1, 1), date(2026, 1, 3), "SUCCEEDED"),
        (date(2026, 1, 4), date(2026, 1, 6), "SUCCEEDED"),
        (date(2026, 1, 7), date(2026, 1, 9), "SUCCEEDED"),
        (date(2026, 1, 10), date(2026, 1, 10), "SUCCEEDED"),
    ]
    arguments = {r.job_run_id: r.arguments for r in moto_runs()}
    for run in result.runs:
        assert arguments[run.run_id]["--start_date"] == run.start.isoformat()
        assert arguments[run.run_id]["--end_date"] == run.end.isoformat()
        assert arguments[run.run_id]["--trigger"] == "backfill"
        assert arguments[run.run_id]["--time_zone"] == "America/New_York"
        assert arguments[run.run_id]["--secret_id"] == "arn:secret"  # the job's defaults still apply
    assert set(sleeps) == {7}
    assert events[-1].finished == events[-1].total == 4
    assert events[-1].failed == 0
    assert [e.started for e in events if e.message.startswith("started")] == [1, 2, 3, 4]


def test_backfill_never_exceeds_the_jobs_concurrency(glue: Any) -> None:
    create_job(glue, max_concurrent_runs=2)
    observed = ObservedGlue(glue)

    result = run_glue_backfill(
        observed,
        job_name=JOB,
        start_date=date(2026, 1, 1),
        end_date=date(2026, 1, 14),
        days_per_run=2,
        arguments={},
        sleep=lambda _: None,
    )

    assert result.succeeded
    assert len(result.runs) == 7
    assert max(observed.active_at_start) == 2
    assert observed.refused_starts == 0


def test_explicit_max_concurrent_overrides_the_job_setting(glue: Any) -> None:
    create_job(glue, max_concurrent_runs=3)
    observed = ObservedGlue(glue)
    run_glue_backfill(
        observed,
        job_name=JOB,
        start_date=date(2026, 1, 1),
        end_date=date(2026, 1, 6),
        days_per_run=1,
        arguments={},
        max_concurrent=1,
        sleep=lambda _: None,
    )
    assert observed.active_at_start == [1] * 6


def test_a_busy_job_makes_the_backfill_wait_and_retry(glue: Any) -> None:
    create_job(glue, max_concurrent_runs=1)
    nightly = glue.start_job_run(JobName=JOB)["JobRunId"]  # a nightly run holds the only slot
    observed = ObservedGlue(glue)

    def sleep(_: float) -> None:
        glue.get_job_run(JobName=JOB, RunId=nightly)  # time passes: the nightly run progresses

    result = run_glue_backfill(
        observed,
        job_name=JOB,
        start_date=date(2026, 2, 1),
        end_date=date(2026, 2, 2),
        days_per_run=1,
        arguments={},
        sleep=sleep,
    )

    assert result.succeeded
    assert observed.refused_starts >= 1
    assert max(observed.active_at_start) == 1


def test_a_failed_run_is_reported_with_a_rerun_command(glue: Any) -> None:
    create_job(glue, max_concurrent_runs=2)
    observed = ObservedGlue(glue, fail_start=date(2026, 1, 4))
    events: list[BackfillProgress] = []

    result = run_glue_backfill(
        observed,
        job_name=JOB,
        start_date=date(2026, 1, 1),
        end_date=date(2026, 1, 9),
        days_per_run=3,
        arguments={},
        progress=events.append,
        sleep=lambda _: None,
    )

    assert not result.succeeded
    assert [r.state for r in result.runs] == ["SUCCEEDED", "FAILED", "SUCCEEDED"]
    assert result.runs[1].error == "WarehouseError: COPY failed"
    assert result.failed_ranges == [(date(2026, 1, 4), date(2026, 1, 6))]
    assert backfill_commands(result.failed_ranges, OFFLINE, glue_job=JOB) == [
        f"genesys-etl backfill --on glue --job-name {JOB} --start-date 2026-01-04 --end-date 2026-01-06"
    ]
    assert events[-1].failed == 1
    assert events[-1].finished == 3
    assert any("2026-01-04..2026-01-06 FAILED: WarehouseError: COPY failed" in e.message for e in events)


def test_a_refused_start_fails_only_its_range(glue: Any) -> None:
    create_job(glue, max_concurrent_runs=1)

    class RefusesOneStart(ObservedGlue):
        def start_job_run(self, **kwargs: Any) -> Any:
            if kwargs["Arguments"]["--start_date"] == "2026-01-02":
                raise ClientError(
                    {"Error": {"Code": "InvalidInputException", "Message": "argument too long"}},
                    "StartJobRun",
                )
            return super().start_job_run(**kwargs)

    result = run_glue_backfill(
        RefusesOneStart(glue),
        job_name=JOB,
        start_date=date(2026, 1, 1),
        end_date=date(2026, 1, 3),
        days_per_run=1,
        arguments={},
        sleep=lambda _: None,
    )
    assert [r.state for r in result.runs] == ["SUCCEEDED", "NOT_STARTED", "SUCCEEDED"]
    assert result.runs[1].error == "InvalidInputException: argument too long"
    assert result.failed_ranges == [(date(2026, 1, 2), date(2026, 1, 2))]


def test_an_unknown_job_is_a_config_error(glue: Any) -> None:
    with pytest.raises(ConfigError) as raised:
        run_glue_backfill(
            glue,
            job_name="missing",
            start_date=date(2026, 1, 1),
            end_date=date(2026, 1, 1),
            days_per_run=1,
            arguments={},
            sleep=lambda _: None,
        )
    assert raised.value.field == "--job-name"


def test_rerun_command_has_one_line_per_range_and_quotes_the_job_name() -> None:
    commands = backfill_commands(
        [(date(2026, 1, 1), date(2026, 1, 7)), (date(2026, 2, 1), date(2026, 2, 1))],
        OFFLINE,
        glue_job="my job",
    )
    assert commands == [
        "genesys-etl backfill --on glue --job-name 'my job' --start-date 2026-01-01 --end-date 2026-01-07",
        "genesys-etl backfill --on glue --job-name 'my job' --start-date 2026-02-01 --end-date 2026-02-01",
    ]
