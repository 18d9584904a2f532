"""Glue rehearsal: the deploy's artifacts installed over Glue 5.1's modules as Glue does, then a real run.

``scripts/deploy.py --build-only`` writes the entry script and the zip of wheels; a fresh Python 3.11 venv
gets exactly the modules Glue 5.1 provides at Glue's pip (tests/glue_runtime.py), then the zip the way the
template tells Glue (``--no-index`` from its wheels/requirements.txt), and ``pip check`` must pass. The
entry script then runs in that venv as its own process, with the arguments Glue adds, against the
simulator over HTTP, moto's S3 and Secrets Manager as a real server on loopback, and PostgreSQL standing
in for Redshift (through tests/glue_launcher.py, the only test hook). Downloads are cached under .cache/.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import zipfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

import glue_runtime
from fixtures.jobs import assert_equals_ground_truth, warehouse_facts
from fixtures.postgres import PostgresServer, PostgresStandInWarehouse
from genesys_sim import SimConfig, SimulatorServer

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(1500)]

TESTS = Path(__file__).resolve().parent
TODAY = date(2026, 11, 26)
BUCKET = "genesys-etl-rehearsal"
REGION = "eu-west-1"  # not the default region: the job must take it from its secret's ARN
START, END, ZONE = date(2026, 10, 1), date(2026, 10, 10), "America/New_York"
# Bigger than the bundle is today (about 6 MB) with room to grow, far below what replacing Glue's
# numpy/pandas/pyarrow/boto3 would weigh (over 100 MB).
MAX_BUNDLE_BYTES = 20 * 1024 * 1024


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("artifacts")
    glue_runtime.build_bundle(folder)
    return folder


@pytest.fixture(scope="module")
def glue_python(artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The rehearsal venv: Glue 5.1's modules, the bundle installed as Glue does, ``pip check`` passed."""
    python, requirements = glue_runtime.glue_environment(
        tmp_path_factory.mktemp("glue") / "venv", artifacts / glue_runtime.BUNDLE_KEY
    )
    # Test tooling for tests/glue_launcher.py (psycopg for PostgreSQL, pytest for tests/fixtures), added
    # after pip check and constrained so no provided or bundled version moves.
    glue_runtime.install_test_tools(python, requirements)
    return python


@pytest.fixture
def moto_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def test_the_bundle_holds_only_what_glue_lacks(artifacts: Path) -> None:
    bundle = artifacts / glue_runtime.BUNDLE_KEY
    assert sorted(str(p.relative_to(artifacts)) for p in artifacts.rglob("*") if p.is_file()) == [
        "genesys_queue_metrics_job.py",
        str(glue_runtime.BUNDLE_KEY),
    ]
    assert bundle.stat().st_size < MAX_BUNDLE_BYTES
    with zipfile.ZipFile(bundle) as archive:
        wheels = [name.split("/")[-1] for name in archive.namelist() if name.endswith(".whl")]
        listed = archive.read("wheels/requirements.txt").decode().split()
    names = {glue_runtime._canonical(wheel.split("-")[0]) for wheel in wheels}
    provided = glue_runtime.provided_names()
    assert {"genesys-etl", "awswrangler", "redshift-connector", "isodate"} <= names
    assert not names & provided, f"the bundle replaces modules Glue provides: {sorted(names & provided)}"
    assert not names & {"duckdb", "tqdm", "pytest", "moto", "psycopg"}
    assert len(listed) == len(wheels)
    assert (artifacts / "genesys_queue_metrics_job.py").read_bytes() == (
        TESTS.parent / "glue_jobs" / "genesys_queue_metrics_job.py"
    ).read_bytes()


def test_the_glue_venv_runs_glues_pip_and_module_versions(glue_python: Path) -> None:
    modules = ("pip", "numpy", "pandas", "pyarrow", "boto3", "urllib3")
    code = f"import {', '.join(modules)}; print({', '.join(m + '.__version__' for m in modules)})"
    out = subprocess.run([glue_python, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [glue_runtime.GLUE_PIP, "2.3.4", "2.3.3", "22.0.0", "1.40.61", "2.5.0"]
    checked = subprocess.run([glue_python, "-m", "pip", "check"], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    duckdb = subprocess.run([glue_python, "-c", "import duckdb"], capture_output=True, check=False)
    assert duckdb.returncode != 0, "duckdb must not be in the Glue environment"


def test_the_entry_script_loads_rows_in_the_glue_venv(
    artifacts: Path,
    glue_python: Path,
    moto_server: str,
    postgres_server: PostgresServer,
    postgres_schema: str,
    tmp_path: Path,
) -> None:
    aws_env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    aws = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    s3 = aws.client("s3", endpoint_url=moto_server)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    with SimulatorServer(SimConfig(seed=23, queues=5, today=TODAY)) as simulator:
        secret = json.dumps({"client_id": simulator.client_id, "client_secret": simulator.client_secret})
        secret_arn = aws.client("secretsmanager", endpoint_url=moto_server).create_secret(
            Name="genesys/oauth", SecretString=secret
        )["ARN"]
        argv = [
            "--JOB_ID", "j_0123", "--JOB_RUN_ID", "jr_0123abcd", "--JOB_NAME", "genesys-etl-queue-metrics",
            "--job-bookmark-option", "job-bookmark-disable", "--TempDir", f"s3://{BUCKET}/temporary/",
            "--enable-metrics", "true", "--job-language", "python",
            "--secret_id", secret_arn,
            "--stage", f"s3://{BUCKET}/stage/",
            "--redshift_connection", "redshift-analytics",
            "--iam_role", "arn:aws:iam::123456789012:role/redshift-copy",
            "--schema", postgres_schema,
            "--start_date", START.isoformat(), "--end_date", END.isoformat(), "--time_zone", ZONE,
            "--api_url", simulator.base_url,
        ]  # fmt: skip
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            **aws_env,
            "GENESYS_ETL_TEST_POSTGRES_DSN": postgres_server.dsn,
            "GENESYS_ETL_TEST_SCHEMA": postgres_schema,
        }
        started = time.monotonic()
        done = subprocess.run(
            [glue_python, TESTS / "glue_launcher.py", artifacts / "genesys_queue_metrics_job.py", *argv],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, check=False,
        )  # fmt: skip
        seconds = time.monotonic() - started
        output = done.stdout + done.stderr
        assert done.returncode == 0, output[-4000:]
        truth = simulator.ground_truth(START, END, ZONE)
        calls = simulator.request_count()
    print(f"rehearsal run: {seconds:.1f} s, {calls} simulator requests")

    reader = PostgresStandInWarehouse(postgres_server.connect, postgres_schema)
    try:
        # Every (day, queue, media type, metric) and every stat, exactly as Genesys (the simulator) has them.
        assert assert_equals_ground_truth(truth, warehouse_facts(reader, START, END)) > 0
        runs = reader.fetch(f"SELECT status, count(*) FROM {reader.qualified('load_runs')} GROUP BY 1")
    finally:
        reader.close()
    assert [tuple(r) for r in runs] == [("succeeded", 2)]
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="stage/").get("KeyCount", 0) == 0
    # Logging survived the launcher's configuration: the run report's INFO lines are there, once each.
    report = [line for line in output.splitlines() if "INFO genesys_queue_metrics_job" in line]
    assert report, output[-4000:]
    assert len(report) == len(set(report))
    assert secret not in output
    assert simulator.client_secret not in output
