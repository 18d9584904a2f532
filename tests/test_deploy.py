"""scripts/deploy.py against moto: artifacts uploaded, change sets applied, no-op reruns, dry runs."""

from __future__ import annotations

import importlib.util
import io
import json
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from cfnlint.decode import cfn_yaml
from moto.cloudformation.models import ChangeSet

# moto's CloudFormation skips (and warns about) the Glue, Secrets Manager and policy resources; the
# template's Glue properties are checked in tests/test_infra_template.py instead.
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")

ROOT = Path(__file__).resolve().parent.parent
STACK = "genesys-test"
PARAMETERS = {
    "RedshiftHost": "example.abc123.us-east-1.redshift.amazonaws.com",
    "RedshiftSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:redshift-AbCdEf",
    "RedshiftCopyRoleArn": "arn:aws:iam::123456789012:role/redshift-copy",
    "SubnetId": "subnet-12345678",
    "SecurityGroupIds": "sg-12345678",
    "AvailabilityZone": "us-east-1a",
    "TimeZone": "Europe/Berlin",
}


def load_deploy() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_script", ROOT / "scripts" / "deploy.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["deploy_script"] = module
    spec.loader.exec_module(module)
    return module


deploy = load_deploy()


def fake_builder(
    tag: str = "v1", *, date_time: tuple[int, ...] = (2020, 1, 1, 0, 0, 0)
) -> Callable[[Path], list[Path]]:
    """A wheel builder that writes two small wheels instead of running pip (no network in tests)."""

    def build(destination: Path) -> list[Path]:
        destination.mkdir(parents=True, exist_ok=True)
        wheels = []
        for name in ("genesys_etl-0.1.0-py3-none-any.whl", "isodate-0.7.2-py3-none-any.whl"):
            path = destination / name
            with zipfile.ZipFile(path, "w") as archive:
                info = zipfile.ZipInfo(f"{name.split('-')[0]}/__init__.py", date_time=date_time)  # type: ignore[arg-type]
                archive.writestr(info, f"VERSION = {tag!r}\n")
            wheels.append(path)
        return wheels

    return build


@pytest.fixture(autouse=True)
def faithful_change_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto 5.2 executes change sets without updating the stack's parameters and outputs; CloudFormation does.

    Without this, moto compares the next change set with the parameters of the stack's creation and
    reports changes that are not there (moto/cloudformation/models.py, ChangeSet.apply).
    """
    original = ChangeSet.apply

    def apply(self: Any) -> None:
        original(self)
        self.stack.parameters = self.parameters
        self.stack.template = self.template
        self.stack._parse_template()
        self.stack.output_map = self.stack._create_output_map()

    monkeypatch.setattr(ChangeSet, "apply", apply)


@pytest.fixture
def parameters_file(tmp_path: Path) -> Path:
    path = tmp_path / "parameters.json"
    path.write_text(json.dumps(PARAMETERS))
    return path


def run(
    session: boto3.Session, parameters_file: Path, *, builder: Any = None, dry_run: bool = False
) -> tuple[Any, list[str]]:
    lines: list[str] = []
    options = deploy.DeployOptions(stack_name=STACK, parameters_file=parameters_file, dry_run=dry_run)
    result = deploy.run_deploy(
        options, session=session, build=builder or fake_builder(), sleep=lambda _: None, say=lines.append
    )
    return result, lines


def stack_parameters(session: boto3.Session) -> dict[str, str]:
    stack = session.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}


def bucket_name(session: boto3.Session) -> str:
    detail = session.client("cloudformation").describe_stack_resource(
        StackName=STACK, LogicalResourceId="ArtifactBucket"
    )
    return str(detail["StackResourceDetail"]["PhysicalResourceId"])


def object_keys(session: boto3.Session) -> list[str]:
    listing = session.client("s3").list_objects_v2(Bucket=bucket_name(session))
    return sorted(item["Key"] for item in listing.get("Contents", []))


def change_set_count(session: boto3.Session) -> int:
    return len(session.client("cloudformation").list_change_sets(StackName=STACK)["Summaries"])


def template_artifact_keys(version: str) -> set[str]:
    """The S3 keys the template's job reads, for a given ArtifactsVersion."""
    template = cfn_yaml.load(str(ROOT / "infra" / "genesys-etl.yaml"))
    props = template["Resources"]["GlueJob"]["Properties"]
    uris = [
        props["Command"]["ScriptLocation"]["Fn::Sub"],
        props["DefaultArguments"]["--additional-python-modules"]["Fn::Sub"],
    ]
    return {
        uri.replace("s3://${ArtifactBucket}/", "").replace("${ArtifactsVersion}", version) for uri in uris
    }


# --- first deploy, rerun, new version ----------------------------------------------------------------------


def test_first_deploy_creates_the_stack_uploads_artifacts_then_sets_the_version(
    moto_aws: boto3.Session, parameters_file: Path
) -> None:
    result, lines = run(moto_aws, parameters_file)

    assert result.created
    assert result.changed
    assert len(result.version) == 16
    cfn = moto_aws.client("cloudformation")
    assert cfn.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"
    assert stack_parameters(moto_aws)["ArtifactsVersion"] == result.version
    assert stack_parameters(moto_aws)["TimeZone"] == "Europe/Berlin"
    # Two change sets: CREATE without the job (no bucket yet), then UPDATE with the uploaded version.
    summaries = cfn.list_change_sets(StackName=STACK)["Summaries"]
    assert [s["ExecutionStatus"] for s in summaries] == ["EXECUTE_COMPLETE", "EXECUTE_COMPLETE"]
    # Exactly the keys the template's job reads were uploaded.
    assert set(object_keys(moto_aws)) == template_artifact_keys(result.version)
    assert sorted(result.uploaded) == object_keys(moto_aws)
    assert any(line.startswith("uploaded s3://") for line in lines)


def test_uploaded_artifacts_are_the_entry_script_and_a_glue_zip_of_wheels(
    moto_aws: boto3.Session, parameters_file: Path
) -> None:
    result, _ = run(moto_aws, parameters_file)
    s3 = moto_aws.client("s3")
    bucket = bucket_name(moto_aws)
    prefix = f"artifacts/{result.version}/"

    script = s3.get_object(Bucket=bucket, Key=prefix + "genesys_queue_metrics_job.py")["Body"].read()
    assert script == (ROOT / "glue_jobs" / "genesys_queue_metrics_job.py").read_bytes()
    bundle = s3.get_object(Bucket=bucket, Key=prefix + "wheels/genesys-etl.gluewheels.zip")["Body"].read()
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        names = sorted(archive.namelist())
        requirements = archive.read("wheels/requirements.txt").decode().split()
    assert names == [
        "wheels/genesys_etl-0.1.0-py3-none-any.whl",
        "wheels/isodate-0.7.2-py3-none-any.whl",
        "wheels/requirements.txt",
    ]
    assert requirements == ["genesys_etl==0.1.0", "isodate==0.7.2"]


def test_rerun_without_changes_is_a_noop(moto_aws: boto3.Session, parameters_file: Path) -> None:
    first, _ = run(moto_aws, parameters_file)
    change_sets = change_set_count(moto_aws)
    events = len(moto_aws.client("cloudformation").describe_stack_events(StackName=STACK)["StackEvents"])

    second, lines = run(moto_aws, parameters_file)

    assert second.version == first.version
    assert not second.changed
    assert not second.created
    assert second.uploaded == []
    assert sorted(second.skipped) == sorted(first.uploaded)
    assert any(line.startswith("no changes") for line in lines)
    # The empty change set was deleted and nothing was executed.
    assert change_set_count(moto_aws) == change_sets
    after = len(moto_aws.client("cloudformation").describe_stack_events(StackName=STACK)["StackEvents"])
    assert after == events


def test_changed_code_uploads_a_new_version_and_updates_the_stack(
    moto_aws: boto3.Session, parameters_file: Path
) -> None:
    first, _ = run(moto_aws, parameters_file)
    second, lines = run(moto_aws, parameters_file, builder=fake_builder("v2"))

    assert second.version != first.version
    assert second.changed
    assert not second.created
    assert stack_parameters(moto_aws)["ArtifactsVersion"] == second.version
    keys = object_keys(moto_aws)
    assert template_artifact_keys(first.version) <= set(keys)
    assert template_artifact_keys(second.version) <= set(keys)
    assert not any(line.startswith("no changes") for line in lines)


def test_outputs_are_printed_after_a_deploy(moto_aws: boto3.Session, parameters_file: Path) -> None:
    result, lines = run(moto_aws, parameters_file)
    assert result.outputs["BucketName"] == bucket_name(moto_aws)
    assert "TopicArn" in result.outputs
    assert f"BucketName: {bucket_name(moto_aws)}" in lines


def test_version_ignores_wheel_zip_timestamps_but_not_content(tmp_path: Path) -> None:
    first = deploy.package_artifacts(tmp_path / "a", fake_builder("v1", date_time=(2020, 1, 1, 0, 0, 0)))
    same = deploy.package_artifacts(tmp_path / "b", fake_builder("v1", date_time=(2024, 6, 1, 12, 0, 0)))
    other = deploy.package_artifacts(tmp_path / "c", fake_builder("v2"))
    assert first.version == same.version
    assert first.version != other.version


# --- dry run -----------------------------------------------------------------------------------------------


def test_dry_run_before_the_first_deploy_changes_nothing(
    moto_aws: boto3.Session, parameters_file: Path
) -> None:
    result, lines = run(moto_aws, parameters_file, dry_run=True)

    assert moto_aws.client("cloudformation").list_stacks()["StackSummaries"] == []
    assert moto_aws.client("s3").list_buckets()["Buckets"] == []
    assert any(line.startswith(f"would create stack {STACK}") for line in lines)
    assert len([line for line in lines if line.startswith("would upload")]) == 2
    assert not result.created


def test_dry_run_on_a_deployed_stack_changes_nothing(moto_aws: boto3.Session, parameters_file: Path) -> None:
    first, _ = run(moto_aws, parameters_file)
    keys = object_keys(moto_aws)
    change_sets = change_set_count(moto_aws)

    result, lines = run(moto_aws, parameters_file, builder=fake_builder("v2"), dry_run=True)

    assert result.version != first.version
    assert object_keys(moto_aws) == keys
    assert change_set_count(moto_aws) == change_sets
    assert stack_parameters(moto_aws)["ArtifactsVersion"] == first.version
    assert len([line for line in lines if line.startswith("would upload")]) == 2
    assert any(line.startswith("would apply a change set") and result.version in line for line in lines)


def test_dry_run_says_when_nothing_would_change(moto_aws: boto3.Session, parameters_file: Path) -> None:
    run(moto_aws, parameters_file)
    result, lines = run(moto_aws, parameters_file, dry_run=True)
    assert not result.changed
    assert result.uploaded == []
    assert any("would change nothing" in line for line in lines)


# --- parameters and errors ------------------------------------------------------------------------------


def test_parameters_file_in_the_aws_cli_format_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "cli.json"
    path.write_text(json.dumps([{"ParameterKey": k, "ParameterValue": v} for k, v in PARAMETERS.items()]))
    template = (ROOT / "infra" / "genesys-etl.yaml").read_text()
    assert deploy.load_parameters(path, template) == PARAMETERS


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"Bogus": "x"}, "unknown parameters Bogus"),
        ({"ArtifactsVersion": "0123456789abcdef"}, "remove ArtifactsVersion"),
        ({"RedshiftCopyRoleArn": None}, "missing required parameters RedshiftCopyRoleArn"),
    ],
)
def test_parameters_file_mistakes_are_named(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    values = {**PARAMETERS, **change}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({k: v for k, v in values.items() if v is not None}))
    template = (ROOT / "infra" / "genesys-etl.yaml").read_text()
    with pytest.raises(deploy.DeployError, match=message):
        deploy.load_parameters(path, template)


def test_main_reports_errors_in_one_line_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"Bogus": "x"}))
    assert deploy.main(["--stack-name", STACK, "--parameters", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("deploy failed: ")
    assert "\n" not in err
    assert "Bogus" in err


def stubbable_cloudformation() -> Any:
    credentials = {"aws_access_key_id": "x", "aws_secret_access_key": "x"}
    return boto3.client("cloudformation", region_name="us-east-1", **credentials)


def stack_event(logical: str, resource_type: str, status: str, reason: str, minute: int) -> dict[str, Any]:
    return {
        "StackId": f"arn:aws:cloudformation:us-east-1:123456789012:stack/{STACK}/1",
        "EventId": f"{logical}-{minute}",
        "StackName": STACK,
        "LogicalResourceId": logical,
        "PhysicalResourceId": "",
        "ResourceType": resource_type,
        "Timestamp": datetime(2026, 1, 1, 0, minute, tzinfo=UTC),
        "ResourceStatus": status,
        "ResourceStatusReason": reason,
    }


# moto cannot make a resource fail, so the events CloudFormation would record are canned (Stubber).
FAILED_UPDATE_EVENTS = [  # newest first, as describe_stack_events returns them
    stack_event(STACK, "AWS::CloudFormation::Stack", "UPDATE_ROLLBACK_COMPLETE", "", 9),
    stack_event("GlueJob", "AWS::Glue::Job", "UPDATE_FAILED", "Resource update cancelled", 8),
    stack_event(
        "NightlyTrigger",
        "AWS::Glue::Trigger",
        "CREATE_FAILED",
        "Invalid schedule expression\n(Service: Glue, Status Code: 400)",
        7,
    ),
    stack_event(STACK, "AWS::CloudFormation::Stack", "UPDATE_IN_PROGRESS", "User Initiated", 6),
    stack_event("ArtifactBucket", "AWS::S3::Bucket", "CREATE_FAILED", "an older failure", 2),
    stack_event(STACK, "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS", "User Initiated", 1),
]


def test_failure_names_the_resource_and_cloudformations_reason_in_one_line() -> None:
    cfn = stubbable_cloudformation()
    with Stubber(cfn) as stub:
        stub.add_response(
            "describe_stack_events", {"StackEvents": FAILED_UPDATE_EVENTS}, {"StackName": STACK}
        )
        line = deploy.describe_failure(cfn, STACK)
    assert line == (
        "NightlyTrigger (AWS::Glue::Trigger) CREATE_FAILED: "
        "Invalid schedule expression (Service: Glue, Status Code: 400)"
    )


def test_a_rolled_back_update_raises_with_the_failed_resource() -> None:
    cfn = stubbable_cloudformation()
    stack = {
        "StackName": STACK,
        "StackId": f"arn:aws:cloudformation:us-east-1:123456789012:stack/{STACK}/1",
        "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
    }
    with Stubber(cfn) as stub:
        stub.add_response("create_change_set", {"Id": "cs-1", "StackId": stack["StackId"]})
        stub.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "ChangeSetName": "x"})
        stub.add_response("execute_change_set", {})
        stub.add_response("describe_stacks", {"Stacks": [{**stack, "StackStatus": "UPDATE_IN_PROGRESS"}]})
        stub.add_response(
            "describe_stacks", {"Stacks": [{**stack, "StackStatus": "UPDATE_ROLLBACK_COMPLETE"}]}
        )
        stub.add_response("describe_stack_events", {"StackEvents": FAILED_UPDATE_EVENTS})
        with pytest.raises(deploy.DeployError) as raised:
            deploy.apply_change_set(
                cfn,
                stack_name=STACK,
                template_body="{}",
                parameters={"ArtifactsVersion": "0123456789abcdef"},
                change_set_type="UPDATE",
                sleep=lambda _: None,
            )
    message = str(raised.value)
    assert "\n" not in message
    assert "UPDATE_ROLLBACK_COMPLETE" in message
    assert "NightlyTrigger (AWS::Glue::Trigger) CREATE_FAILED: Invalid schedule expression" in message


def test_an_empty_change_set_is_deleted_and_reported_as_no_change(moto_aws: boto3.Session) -> None:
    cfn = moto_aws.client("cloudformation")
    body = (ROOT / "infra" / "genesys-etl.yaml").read_text()
    values = {**PARAMETERS, "ArtifactsVersion": ""}
    common = {"stack_name": STACK, "template_body": body, "parameters": values, "sleep": lambda _: None}
    assert deploy.apply_change_set(cfn, change_set_type="CREATE", **common) is True
    assert deploy.apply_change_set(cfn, change_set_type="UPDATE", **common) is False
    assert [s["ExecutionStatus"] for s in cfn.list_change_sets(StackName=STACK)["Summaries"]] == [
        "EXECUTE_COMPLETE"
    ]


# --- the real wheel builder's command lines (pip itself is not run: no network in tests) -------------------


def test_build_wheels_targets_glues_platform_and_leaves_out_what_glue_provides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands: list[list[str]] = []

    def fake_run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        commands.append(command)
        assert kwargs["env"]["SOURCE_DATE_EPOCH"]
        if command[3] == "download":  # what pip would resolve: one module Glue provides, one it lacks
            dest = Path(command[command.index("--dest") + 1])
            dest.mkdir(parents=True, exist_ok=True)
            for name in (
                "numpy-2.3.4-cp311-cp311-manylinux_2_28_x86_64.whl",
                "isodate-0.7.2-py3-none-any.whl",
            ):
                (dest / name).write_bytes(b"")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(deploy.subprocess, "run", fake_run)
    wheels = deploy.build_wheels(tmp_path / "wheels")
    wheel, download = commands
    assert wheel[2:5] == ["pip", "wheel", "--no-deps"]
    assert wheel[-1] == str(ROOT)
    assert download[2:4] == ["pip", "download"]
    assert "--only-binary=:all:" in download
    platforms = [download[i + 1] for i, arg in enumerate(download) if arg == "--platform"]
    assert "manylinux2014_x86_64" in platforms
    assert "manylinux_2_28_x86_64" in platforms
    assert download[download.index("--python-version") + 1] == "3.11"
    assert download[download.index("--implementation") + 1] == "cp"
    assert download[download.index("--requirement") + 1] == str(ROOT / "requirements-glue.txt")
    assert download[download.index("--constraint") + 1] == str(ROOT / "infra" / "glue-5.1-provided.txt")
    assert [w.name for w in wheels] == ["isodate-0.7.2-py3-none-any.whl"]


# --- what the bundle may hold ------------------------------------------------------------------------------


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            name, _, version = text.partition("==")
            assert version, f"{path.name}: {text!r} is not an exact pin"
            pins[deploy.canonical_name(name.split("[")[0])] = version
    return pins


def test_glue_requirements_pin_nothing_glue_provides() -> None:
    provided = deploy.provided_modules()
    assert provided["boto3"] == "1.40.61"
    assert provided["pandas"] == "2.3.3"
    bundle = _pins(ROOT / "requirements-glue.txt")
    assert "awswrangler" in bundle
    assert "redshift-connector" in bundle
    assert not set(bundle) & set(provided), "a provided module would be replaced; say why or drop it"
    assert not {"duckdb", "tqdm", "pytest", "moto"} & set(bundle), "local/dev-only packages in the bundle"


def test_project_dependency_ranges_admit_the_versions_glue_provides() -> None:
    from packaging.requirements import Requirement

    provided = deploy.provided_modules()
    document = tomllib.loads((ROOT / "pyproject.toml").read_text())
    dependencies = [Requirement(text) for text in document["project"]["dependencies"]]
    names = {deploy.canonical_name(r.name) for r in dependencies}
    assert not {"duckdb", "tqdm"} & names, "local-only packages belong in the 'local' extra"
    for requirement in dependencies:
        version = provided.get(deploy.canonical_name(requirement.name))
        if version is not None:
            assert requirement.specifier.contains(version), f"{requirement} excludes Glue's {version}"


def test_the_bundles_glue_version_is_the_templates() -> None:
    template = cfn_yaml.load(str(ROOT / "infra" / "genesys-etl.yaml"))
    assert template["Parameters"]["GlueVersion"]["Default"] == deploy.GLUE_VERSION
    assert template["Parameters"]["GlueVersion"]["AllowedValues"] == [deploy.GLUE_VERSION]
    assert deploy.GLUE_PROVIDED.name == f"glue-{deploy.GLUE_VERSION}-provided.txt"


# --- version hash and --build-only ----------------------------------------------------------------------


def test_version_changes_when_only_the_entry_script_changes(tmp_path: Path) -> None:
    script = tmp_path / "genesys_queue_metrics_job.py"
    script.write_bytes((ROOT / "glue_jobs" / "genesys_queue_metrics_job.py").read_bytes())
    first = deploy.package_artifacts(tmp_path / "a", fake_builder(), script=script)
    script.write_bytes(script.read_bytes() + b"# a fix to the entry script alone\n")
    second = deploy.package_artifacts(tmp_path / "b", fake_builder(), script=script)
    assert first.version != second.version


def test_build_only_writes_exactly_what_a_deploy_uploads_without_aws(
    tmp_path: Path, moto_aws: boto3.Session, parameters_file: Path
) -> None:
    built = deploy.build_only(tmp_path / "out", fake_builder())
    written = sorted(
        str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file()
    )
    prefix = f"artifacts/{built.version}/"
    assert {prefix + key for key in written} == template_artifact_keys(built.version)
    assert moto_aws.client("s3").list_buckets()["Buckets"] == []  # no AWS call made anything

    deployed, _ = run(moto_aws, parameters_file)
    assert deployed.version == built.version
    s3 = moto_aws.client("s3")
    bucket = bucket_name(moto_aws)
    for key in written:
        body = s3.get_object(Bucket=bucket, Key=prefix + key)["Body"].read()
        assert body == (tmp_path / "out" / key).read_bytes(), key


def test_main_build_only_needs_no_stack_or_parameters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(deploy, "build_wheels", fake_builder())
    monkeypatch.setattr(deploy.boto3, "Session", None)  # any AWS use would fail
    assert deploy.main(["--build-only", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "genesys_queue_metrics_job.py").exists()
    assert (tmp_path / "out" / "wheels" / "genesys-etl.gluewheels.zip").exists()
    assert "artifacts version " in capsys.readouterr().out


def test_dry_run_without_a_region_names_what_to_pass(
    aws_credentials: None,
    parameters_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    argv = ["--stack-name", STACK, "--parameters", str(parameters_file), "--dry-run"]
    assert deploy.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "--region" in err
    assert "AWS_REGION" in err


def test_main_refuses_another_python_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(deploy, "REQUIRED_PYTHON", (3, 99))
    assert deploy.main(["--build-only", "/nonexistent"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert err.startswith("deploy.py needs Python 3.11")


def test_build_wheels_failure_names_pip_and_its_last_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_run(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(
            command, 1, "", "Collecting x\nERROR: No matching distribution for duckdb"
        )

    monkeypatch.setattr(deploy.subprocess, "run", failing_run)
    with pytest.raises(deploy.DeployError, match=r"pip wheel failed .*No matching distribution for duckdb"):
        deploy.build_wheels(tmp_path)


def test_example_parameters_file_matches_the_template() -> None:
    template = (ROOT / "infra" / "genesys-etl.yaml").read_text()
    values = deploy.load_parameters(ROOT / "infra" / "parameters.example.json", template)
    assert "ArtifactsVersion" not in values
    assert values["ScheduleCron"] == "cron(30 6 * * ? *)"


def test_a_stack_stuck_after_a_failed_create_is_named_with_the_way_out() -> None:
    cfn = stubbable_cloudformation()
    stack = {
        "StackName": STACK,
        "StackId": f"arn:aws:cloudformation:us-east-1:123456789012:stack/{STACK}/1",
        "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
        "StackStatus": "ROLLBACK_COMPLETE",
    }
    events = [
        stack_event(STACK, "AWS::CloudFormation::Stack", "ROLLBACK_COMPLETE", "", 3),
        stack_event("JobRole", "AWS::IAM::Role", "CREATE_FAILED", "Requires CAPABILITY_IAM", 2),
        stack_event(STACK, "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS", "User Initiated", 1),
    ]
    with Stubber(cfn) as stub:
        stub.add_response("describe_stacks", {"Stacks": [stack]})
        stub.add_response("describe_stack_events", {"StackEvents": events})
        with pytest.raises(deploy.DeployError) as raised:
            deploy._ensure_stack(cfn, STACK, "{}", PARAMETERS, lambda _: None, lambda _: None)
    message = str(raised.value)
    assert "JobRole (AWS::IAM::Role) CREATE_FAILED: Requires CAPABILITY_IAM" in message
    assert f"aws cloudformation delete-stack --stack-name {STACK}" in message
