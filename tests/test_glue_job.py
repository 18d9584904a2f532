"""The Glue entry script on Glue-style argv: moto (secret, S3) + simulator + PostgreSQL for Redshift SQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date

import boto3
import pytest

import genesys_queue_metrics_job as job
from fixtures.postgres import PostgresServer, PostgresStandInWarehouse
from genesys_etl.errors import ConfigError
from genesys_sim import SimConfig, SimulatorServer

TODAY = date(2026, 11, 26)
COPY_ROLE = "arn:aws:iam::123456789012:role/redshift-copy"
# Arguments Glue adds on its own to every run (they must be ignored, not rejected).
GLUE_ADDED = [
    "--JOB_ID", "j_0123", "--JOB_RUN_ID", "jr_0123", "--JOB_NAME", "genesys-queue-metrics",
    "--TempDir", "s3://aws-glue-temporary/tmp", "--enable-metrics", "true", "--job-bookmark-option",
    "job-bookmark-disable",
]  # fmt: skip


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimConfig(seed=21, queues=6, today=TODAY)) as server:
        yield server


def _put_secret(session: boto3.Session, value: str) -> str:
    client = session.client("secretsmanager")
    return client.create_secret(Name="genesys/oauth", SecretString=value)["ARN"]


def _argv(secret_id: str, bucket: str, simulator: SimulatorServer, schema: str) -> list[str]:
    return [
        *GLUE_ADDED[:6],
        "--secret_id", secret_id,
        "--stage", f"s3://{bucket}/stage",
        "--redshift_connection", "redshift-analytics",
        "--iam_role", COPY_ROLE,
        "--schema", schema,
        "--start_date", "2026-10-01",
        "--end_date", "2026-10-10",
        "--time_zone", "Europe/London",
        "--api_url", simulator.base_url,
        *GLUE_ADDED[6:],
    ]  # fmt: skip


def test_glue_entry_loads_through_s3_into_redshift_sql_on_postgres(
    moto_aws: boto3.Session,
    s3_bucket: str,
    simulator: SimulatorServer,
    postgres_server: PostgresServer,
    postgres_schema: str,
) -> None:
    secret = json.dumps({"client_id": simulator.client_id, "client_secret": simulator.client_secret})
    secret_arn = _put_secret(moto_aws, secret)
    built = []

    def warehouse_factory(config: object) -> PostgresStandInWarehouse:
        built.append(config)
        return PostgresStandInWarehouse(postgres_server.connect, postgres_schema)

    status = job.main(
        _argv(secret_arn, s3_bucket, simulator, postgres_schema),
        session=moto_aws,
        warehouse_factory=warehouse_factory,
    )
    assert status == 0
    config = built[0]
    assert config.warehouse == "redshift"  # type: ignore[attr-defined]
    assert config.iam_role == COPY_ROLE  # type: ignore[attr-defined]
    assert config.trigger == "manual"  # type: ignore[attr-defined]

    truth = simulator.ground_truth(
        date(2026, 10, 1), date(2026, 10, 10), "Europe/London", metrics=["nOffered"]
    )
    with postgres_server.connect() as con:
        rows = con.execute(
            "SELECT metric_date, queue_id, media_type, stat_count "
            f"FROM \"{postgres_schema}\".queue_metrics_daily WHERE metric = 'nOffered'"
        ).fetchall()
        runs = con.execute(
            f'SELECT status, count(*) FROM "{postgres_schema}".load_runs GROUP BY 1'
        ).fetchall()
    loaded = {(r[0], r[1], r[2]): r[3] for r in rows}
    expected = {(r.metric_date, r.queue_id, r.media_type): int(r.count) for r in truth.itertuples()}
    assert loaded == expected
    assert runs == [("succeeded", 2)]
    # Staged Parquet is removed after a successful load: nothing left under the stage prefix.
    listed = moto_aws.client("s3").list_objects_v2(Bucket=s3_bucket, Prefix="stage/")
    assert listed.get("KeyCount", 0) == 0


@pytest.mark.parametrize(
    ("secret_value", "expected"),
    [
        ("not json", "is not a JSON object"),
        (json.dumps({"client_id": "abc"}), "has no client_secret"),
        (json.dumps(["client_id", "client_secret"]), "is not a JSON object"),
    ],
)
def test_glue_entry_rejects_a_bad_secret_without_showing_it(
    moto_aws: boto3.Session,
    s3_bucket: str,
    simulator: SimulatorServer,
    secret_value: str,
    expected: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret_arn = _put_secret(moto_aws, secret_value)
    status = job.main(_argv(secret_arn, s3_bucket, simulator, "genesys"), session=moto_aws)
    assert status == 2
    assert expected in caplog.text
    assert secret_value not in caplog.text  # the secret's content is never shown
    assert "abc" not in caplog.text
    assert simulator.request_count() == 0  # nothing was called


def test_read_genesys_secret_names_a_missing_secret(moto_aws: boto3.Session) -> None:
    with pytest.raises(
        ConfigError, match=r"--secret_id: cannot read secret 'nope' \(ResourceNotFoundException\)"
    ):
        job.read_genesys_secret(moto_aws, "nope")


def test_glue_arguments_ignore_what_glue_adds() -> None:
    parsed = job.parse_arguments(
        [
            *GLUE_ADDED,
            "--secret_id",
            "s",
            "--stage",
            "s3://b/p",
            "--redshift_connection",
            "c",
            "--iam_role",
            "r",
        ]
    )
    assert parsed == {"secret_id": "s", "stage": "s3://b/p", "redshift_connection": "c", "iam_role": "r"}
