"""`genesys-etl doctor` and the Glue job's `--doctor true`: every dependency checked, one line each."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import boto3
import duckdb
import pytest

import genesys_queue_metrics_job as job
from fixtures.jobs import sim_env
from fixtures.postgres import PostgresServer, PostgresStandInWarehouse
from genesys_etl import cli
from genesys_sim import SimConfig, SimulatorServer

TODAY = date(2026, 11, 26)
NAMES = ["Genesys login", "aggregates query", "queue listing", "warehouse", "stage", "load path", "time zone"]


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimConfig(seed=3, queues=4, today=TODAY)) as server:
        yield server


def _doctor(
    sim: SimulatorServer, tmp_path: Path, *extra: str, env: dict[str, str] | None = None
) -> tuple[int, str]:
    out = io.StringIO()
    argv = [
        "doctor",
        "--api-url",
        sim.base_url,
        "--warehouse",
        f"duckdb:{tmp_path / 'wh.duckdb'}",
        "--stage",
        str(tmp_path / "stage"),
        *extra,
    ]
    status = cli.main(argv, env=sim_env(sim) if env is None else env, out=out)
    return status, out.getvalue()


def _checks(text: str) -> list[tuple[str, str]]:
    return [(line[0], line[2:].split(":", 1)[0]) for line in text.splitlines() if line[:1] in "✓✗"]


def test_doctor_on_the_embedded_default_passes_every_check_and_changes_nothing_analysts_see(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    status, text = _doctor(sim, tmp_path)
    assert status == 0, text
    assert _checks(text) == [("✓", name) for name in NAMES]
    assert text.rstrip().endswith("all checks passed")
    assert sim.request_count("aggregates/query", 200) == 1  # one one-day probe
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        for table in ("queue_metrics_daily", "load_runs", "queues", "etl_settings"):
            assert con.execute(f"SELECT count(*) FROM genesys.{table}").fetchone() == (0,), table
    assert not [p for p in (tmp_path / "stage").rglob("*") if p.is_file()]  # the probe was removed


def test_refused_credentials_fail_the_login_line_and_the_rest_still_runs(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    env = {"GENESYS_CLIENT_ID": sim.client_id, "GENESYS_CLIENT_SECRET": "not-the-secret"}
    status, text = _doctor(sim, tmp_path, env=env)
    assert status == 1
    checks = _checks(text)
    assert checks[0] == ("✗", "Genesys login")
    assert ("✓", "warehouse") in checks
    assert ("✓", "load path") in checks
    assert "not-the-secret" not in text
    assert text.rstrip().endswith("1 check(s) failed")


def test_a_zone_other_than_the_schemas_fails_the_time_zone_line(sim: SimulatorServer, tmp_path: Path) -> None:
    out = io.StringIO()
    days = ["--start-date", "2026-11-03", "--end-date", "2026-11-03", "--time-zone", "America/New_York"]
    base = ["--api-url", sim.base_url, "--warehouse", f"duckdb:{tmp_path / 'wh.duckdb'}"]
    assert cli.main(["run", *days, *base, "--stage", str(tmp_path / "stage")], env=sim_env(sim), out=out) == 0
    status, text = _doctor(sim, tmp_path, "--time-zone", "UTC")
    assert status == 1
    line = next(line for line in text.splitlines() if "time zone" in line)
    assert line.startswith("✗")
    assert "America/New_York" in line
    status, text = _doctor(sim, tmp_path)
    assert status == 0
    assert "reports in America/New_York (recorded)" in text


def test_a_stage_that_cannot_be_written_fails_the_stage_line(sim: SimulatorServer, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = io.StringIO()
    argv = ["doctor", "--api-url", sim.base_url, "--warehouse", f"duckdb:{tmp_path / 'wh.duckdb'}"]
    status = cli.main([*argv, "--stage", str(blocker / "stage")], env=sim_env(sim), out=out)
    assert status == 1
    checks = {name: mark for mark, name in _checks(out.getvalue())}
    assert checks["stage"] == "✗"
    assert "load path" not in checks  # nothing staged: nothing to load


def test_glue_doctor_true_runs_the_checks_on_s3_and_redshift_sql_instead_of_a_load(
    moto_aws: boto3.Session,
    s3_bucket: str,
    sim: SimulatorServer,
    postgres_server: PostgresServer,
    postgres_schema: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = json.dumps({"client_id": sim.client_id, "client_secret": sim.client_secret})
    arn = moto_aws.client("secretsmanager").create_secret(Name="genesys/oauth", SecretString=secret)["ARN"]
    argv = [
        "--JOB_ID", "j_1", "--JOB_RUN_ID", "jr_1", "--JOB_NAME", "genesys-queue-metrics",
        "--secret_id", arn, "--stage", f"s3://{s3_bucket}/stage", "--redshift_connection", "rs",
        "--iam_role", "arn:aws:iam::123456789012:role/copy", "--schema", postgres_schema,
        "--api_url", sim.base_url, "--doctor", "true", "--job-bookmark-option", "job-bookmark-disable",
    ]  # fmt: skip
    caplog.set_level("INFO")
    status = job.main(
        argv,
        session=moto_aws,
        warehouse_factory=lambda _config: PostgresStandInWarehouse(postgres_server.connect, postgres_schema),
    )
    lines = [r.getMessage() for r in caplog.records if r.getMessage()[:1] in "✓✗"]
    assert status == 0, lines
    assert [line[2:].split(":", 1)[0] for line in lines] == NAMES
    assert all(line.startswith("✓") for line in lines)
    assert "COPY" in next(line for line in lines if "load path" in line)
    objects = moto_aws.client("s3").list_objects_v2(Bucket=s3_bucket).get("Contents", [])
    assert objects == []  # the probe was staged on S3 and removed
    assert sim.request_count("aggregates/query", 200) == 1  # the probe only: no load ran
