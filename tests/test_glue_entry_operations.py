"""Glue entry operations: log lines survive a launcher's logging set-up; the AWS region is explicit."""

from __future__ import annotations

import logging
import sys

import pytest

import genesys_queue_metrics_job as job
from fixtures.jobs import process_logging

SECRET_ARN = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:genesys/oauth-AbCdEf"


def test_each_line_shows_once_when_the_launchers_root_handler_filters_info(
    capsys: pytest.CaptureFixture[str],
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
    assert "a warning" not in captured.out
    assert captured.err.count("a warning") == 1
    assert "loaded" not in captured.err


def test_everything_goes_to_stdout_when_nothing_configured_logging(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with process_logging():
        job.configure_logging(logging.WARNING)
        logging.getLogger("genesys_etl.client").info("not shown at WARNING")
        logging.getLogger("genesys_etl.client").error("shown")
    captured = capsys.readouterr()
    assert captured.out.count("ERROR genesys_etl.client: shown") == 1
    assert "not shown" not in captured.out + captured.err


def test_info_lines_go_through_a_root_handler_that_shows_them(capsys: pytest.CaptureFixture[str]) -> None:
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
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    argv = ["--secret_id", "genesys/oauth", "--stage", "s3://b/stage/", "--redshift_connection", "c"]
    argv += ["--iam_role", "arn:aws:iam::123456789012:role/r"]
    assert job.main(argv) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == ["no AWS region: set AWS_REGION or pass --secret_id as the secret's ARN"]
