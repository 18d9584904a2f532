"""Glue entry operations: log lines survive a launcher's logging set-up; the AWS region is explicit."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

import pytest

import genesys_queue_metrics_job as job
from fixtures.jobs import process_logging

SECRET_ARN = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:genesys/oauth-AbCdEf"


@pytest.fixture
def job_loggers() -> Iterator[None]:
    """Restore the job's loggers (level, handlers, propagation) after the test."""
    saved = [
        (logging.getLogger(n), logging.getLogger(n).level, logging.getLogger(n).propagate)
        for n in job.JOB_LOGGERS
    ]
    handlers = {logger.name: logger.handlers[:] for logger, _, _ in saved}
    yield
    for logger, level, propagate in saved:
        logger.setLevel(level)
        logger.propagate = propagate
        logger.handlers[:] = handlers[logger.name]


def test_info_lines_show_once_when_the_launchers_root_handler_filters_them(
    job_loggers: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with process_logging():
        launcher = logging.StreamHandler(sys.stderr)
        launcher.setLevel(logging.WARNING)  # a launcher whose handler shows warnings only
        logging.getLogger().addHandler(launcher)
        logging.getLogger().setLevel(logging.WARNING)
        job.configure_logging(logging.INFO)
        job.configure_logging(logging.INFO)  # twice: still one handler
        logging.getLogger("genesys_etl.pipeline").info("window 2026-10-01..2026-10-07 loaded")
        logging.getLogger("genesys_queue_metrics_job").warning("a warning")
    captured = capsys.readouterr()
    assert captured.out.count("window 2026-10-01..2026-10-07 loaded") == 1
    assert captured.out.count("a warning") == 1
    assert captured.err == ""


def test_info_lines_go_through_a_root_handler_that_shows_them(
    job_loggers: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with process_logging():
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)  # what makes basicConfig a no-op later
        job.configure_logging(logging.INFO)
        logging.getLogger("genesys_etl.pipeline").info("window loaded")
    captured = capsys.readouterr()
    assert captured.err.count("window loaded") == 1
    assert "window loaded" not in captured.out


@pytest.mark.parametrize(
    ("env", "secret_id", "expected"),
    [
        ({"AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "us-east-2"}, SECRET_ARN, "us-west-2"),
        ({"AWS_DEFAULT_REGION": "us-east-2"}, SECRET_ARN, "us-east-2"),
        ({}, SECRET_ARN, "eu-central-1"),
        ({}, "genesys/oauth", None),
    ],
)
def test_the_region_comes_from_the_environment_or_the_secrets_arn(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], secret_id: str, expected: str | None
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert job.aws_region(secret_id) == expected


def test_no_region_is_a_one_line_error_before_any_aws_call(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, job_loggers: None
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    argv = ["--secret_id", "genesys/oauth", "--stage", "s3://b/stage/", "--redshift_connection", "c"]
    argv += ["--iam_role", "arn:aws:iam::123456789012:role/r"]
    assert job.main(argv) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == ["no AWS region: set AWS_REGION or pass --secret_id as the secret's ARN"]
