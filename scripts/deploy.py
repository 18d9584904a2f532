"""Deploy the Glue job's stack: build wheels, upload them under a content-hashed prefix, apply a change set.

One command: ``python scripts/deploy.py --stack-name NAME --parameters infra/parameters.json`` (Python 3.11:
the wheels are CPython 3.11's). ``--build-only DIR`` writes the exact files a deploy would upload into DIR
and calls no AWS API.

The bucket the artifacts go to belongs to the stack, so the first deploy runs in two steps: it creates the
stack with an empty ``ArtifactsVersion`` (the template then leaves the Glue job, its trigger and its failure
rule out), uploads the artifacts to the new bucket, and updates the stack with the version. Every later
deploy uploads first (only what is missing under ``artifacts/<version>/``) and applies one change set; a
rerun with nothing changed creates an empty change set, deletes it and says so.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import yaml
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_s3 import S3Client

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "genesys-etl.yaml"
ENTRY_SCRIPT = ROOT / "glue_jobs" / "genesys_queue_metrics_job.py"
# The bundle holds only what Glue lacks: requirements-glue.txt resolved against the modules the Glue version
# provides (AWS's list, copied into infra/), and every provided module left out of the zip.
GLUE_VERSION = "5.1"
GLUE_REQUIREMENTS = ROOT / "requirements-glue.txt"
GLUE_PROVIDED = ROOT / "infra" / f"glue-{GLUE_VERSION}-provided.txt"
REQUIRED_PYTHON = (3, 11)

# Keys under artifacts/<version>/; the template builds the same two paths (ScriptLocation and
# --additional-python-modules), and tests/test_deploy.py checks that they agree.
SCRIPT_KEY = "genesys_queue_metrics_job.py"
WHEELS_KEY = "wheels/genesys-etl.gluewheels.zip"
VERSION_PARAMETER = "ArtifactsVersion"
BUCKET_RESOURCE = "ArtifactBucket"
VERSION_LENGTH = 16

# Glue 5.x workers: Amazon Linux 2023 (glibc 2.34), x86_64, CPython 3.11. pip matches platform tags
# exactly, so every manylinux tag up to glibc 2.34 is listed (numpy/pyarrow ship manylinux_2_28 only).
GLUE_PYTHON_VERSION = "3.11"
GLUE_PLATFORMS = ("manylinux2014_x86_64", *(f"manylinux_2_{minor}_x86_64" for minor in range(17, 35)))

CAPABILITIES = ["CAPABILITY_IAM"]
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
STACK_OK = {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
STACK_GONE_OR_NEW = {"REVIEW_IN_PROGRESS"}
# Stacks CloudFormation cannot update, and the command that unblocks them.
STUCK = {
    "ROLLBACK_COMPLETE": "delete it: aws cloudformation delete-stack",
    "ROLLBACK_FAILED": "delete it: aws cloudformation delete-stack",
    "CREATE_FAILED": "delete it: aws cloudformation delete-stack",
    "DELETE_FAILED": "delete it again: aws cloudformation delete-stack",
    "UPDATE_ROLLBACK_FAILED": "finish the rollback: aws cloudformation continue-update-rollback",
}
POLL_SECONDS = 5.0
# A wheel's zip timestamps vary between builds of the same source; this fixes them (1980-01-01).
REPRODUCIBLE_EPOCH = "315532800"

WheelBuilder = Callable[[Path], list[Path]]
Sleep = Callable[[float], None]


class DeployError(Exception):
    """A deploy step failed; ``str(err)`` is one line naming what failed and why."""

    exit_code = 1


class UsageError(DeployError):
    """The command line or its environment is incomplete (exit status 2)."""

    exit_code = 2


@dataclass(frozen=True)
class Artifacts:
    """What one deploy uploads: files keyed by their path under ``artifacts/<version>/``."""

    version: str
    files: Mapping[str, Path]

    def prefix(self) -> str:
        """Return the S3 key prefix ``artifacts/<version>/``."""
        return f"artifacts/{self.version}/"


@dataclass
class DeployResult:
    """What a deploy did (or, with ``dry_run``, would do)."""

    stack_name: str
    version: str
    changed: bool = False
    created: bool = False
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)


def canonical_name(name: str) -> str:
    """Return a distribution name normalized as PEP 503 does (``Redshift_Connector``: ``redshift-connector``).

    Args:
        name: a distribution name, as in a requirement or a wheel file name.

    Returns:
        The normalized name.
    """
    return re.sub(r"[-_.]+", "-", name).lower()


def provided_modules(path: Path = GLUE_PROVIDED) -> dict[str, str]:
    """Read a Glue version's provided modules (``name==version`` lines; ``#`` comments ignored).

    Args:
        path: the list copied from AWS's page.

    Returns:
        Version by canonical distribution name.
    """
    pins: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            name, _, version = text.partition("==")
            pins[canonical_name(name)] = version.strip()
    return pins


def build_wheels(destination: Path) -> list[Path]:
    """Build the project wheel and download, for Glue's platform, the dependency wheels Glue lacks.

    ``requirements-glue.txt`` is resolved with Glue's provided modules as constraints, so every module Glue
    has resolves to Glue's own version; those wheels are then left out (Glue already has them installed).

    Args:
        destination: an empty folder for the ``.whl`` files.

    Returns:
        The wheel files written: the project's and the ones Glue does not provide.

    Raises:
        DeployError: pip failed (its last output line is in the message).
    """
    destination.mkdir(parents=True, exist_ok=True)
    downloaded = destination.parent / f"{destination.name}-resolved"
    python = sys.executable
    platform_flags = [flag for platform in GLUE_PLATFORMS for flag in ("--platform", platform)]
    commands = [
        [python, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(destination), str(ROOT)],
        [
            python,
            "-m",
            "pip",
            "download",
            "--requirement",
            str(GLUE_REQUIREMENTS),
            "--constraint",
            str(GLUE_PROVIDED),
            "--only-binary=:all:",
            *platform_flags,
            "--python-version",
            GLUE_PYTHON_VERSION,
            "--implementation",
            "cp",
            "--dest",
            str(downloaded),
        ],
    ]
    env = {**os.environ, "SOURCE_DATE_EPOCH": REPRODUCIBLE_EPOCH}
    for command in commands:
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
        if done.returncode != 0:
            last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
            raise DeployError(f"pip {command[3]} failed (exit {done.returncode}): {last}")
    provided = provided_modules()
    for wheel in sorted(downloaded.glob("*.whl")):
        if canonical_name(wheel.name.split("-")[0]) not in provided:
            shutil.copy2(wheel, destination / wheel.name)
    return sorted(destination.glob("*.whl"))


def _wheel_requirement(wheel: Path) -> str:
    # Wheel file names are {name}-{version}(-{build})?-{python}-{abi}-{platform}.whl (PEP 427).
    name, version = wheel.name.split("-")[:2]
    return f"{name}=={version}"


def _content_digest(wheels: Sequence[Path], script: Path) -> str:
    # Hash what the wheels contain, not their zip bytes: rebuilding unchanged code gives the same version.
    digest = hashlib.sha256()
    for wheel in sorted(wheels, key=lambda path: path.name):
        digest.update(wheel.name.encode())
        with zipfile.ZipFile(wheel) as archive:
            for member in sorted(archive.namelist()):
                digest.update(member.encode())
                digest.update(hashlib.sha256(archive.read(member)).digest())
    digest.update(SCRIPT_KEY.encode())
    digest.update(hashlib.sha256(script.read_bytes()).digest())
    return digest.hexdigest()[:VERSION_LENGTH]


def _write_gluewheels_zip(wheels: Sequence[Path], target: Path) -> None:
    # Glue 5's "zip of wheels": wheels/*.whl plus wheels/requirements.txt naming them, installed without
    # an index. Fixed timestamps and order make the zip reproducible.
    requirements = "".join(f"{_wheel_requirement(wheel)}\n" for wheel in sorted(wheels))
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as archive:
        entries = [("wheels/requirements.txt", requirements.encode())]
        entries += [(f"wheels/{wheel.name}", wheel.read_bytes()) for wheel in sorted(wheels)]
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)


def package_artifacts(
    workdir: Path, build: WheelBuilder = build_wheels, script: Path = ENTRY_SCRIPT
) -> Artifacts:
    """Build the wheels, bundle them for Glue, and name the result by a hash of its content.

    Args:
        workdir: an empty scratch folder.
        build: writes the wheels into the folder it is given and returns them (tests pass a fake).
        script: the Glue entry script.

    Returns:
        The artifacts and their version.

    Raises:
        DeployError: no wheel was built.
    """
    wheels = build(workdir / "wheels")
    if not wheels:
        raise DeployError("the wheel build produced no .whl files")
    bundle = workdir / Path(WHEELS_KEY).name
    _write_gluewheels_zip(wheels, bundle)
    version = _content_digest(wheels, script)
    return Artifacts(version=version, files={SCRIPT_KEY: script, WHEELS_KEY: bundle})


def _template_parameters(template_body: str) -> dict[str, dict[str, Any]]:
    # CloudFormation short tags (!Ref, !Sub, ...) only matter for resources; read them as plain nodes.
    class _Loader(yaml.SafeLoader):
        pass

    def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return loader.construct_scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node)
        return loader.construct_mapping(node)  # type: ignore[arg-type]

    _Loader.add_multi_constructor("!", _any_tag)
    document = yaml.load(template_body, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    parameters: dict[str, dict[str, Any]] = document.get("Parameters", {})
    return parameters


def load_parameters(path: Path, template_body: str) -> dict[str, str]:
    """Read the stack parameters file and check it against the template.

    Args:
        path: JSON, ``{"Key": "value"}`` or the AWS CLI's ``[{"ParameterKey": k, "ParameterValue": v}]``.
        template_body: the template, for the parameter names and which ones have defaults.

    Returns:
        Parameter values as strings (lists joined with commas).

    Raises:
        DeployError: unreadable file, unknown or missing parameters, or ``ArtifactsVersion`` given.
    """
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DeployError(f"cannot read parameters file {path}: {err}") from err
    if isinstance(raw, list):
        raw = {item["ParameterKey"]: item["ParameterValue"] for item in raw}
    if not isinstance(raw, dict):
        raise DeployError(f"{path}: expected a JSON object of parameter names to values")
    values = {str(key): ",".join(map(str, v)) if isinstance(v, list) else str(v) for key, v in raw.items()}
    declared = _template_parameters(template_body)
    if VERSION_PARAMETER in values:
        raise DeployError(
            f"{path}: remove {VERSION_PARAMETER}; the deploy script sets it to the content hash"
        )
    unknown = sorted(set(values) - set(declared))
    if unknown:
        raise DeployError(
            f"{path}: unknown parameters {', '.join(unknown)} (the template has {len(declared)})"
        )
    missing = sorted(name for name, spec in declared.items() if "Default" not in spec and name not in values)
    if missing:
        raise DeployError(f"{path}: missing required parameters {', '.join(missing)}")
    return values


def describe_stack(cfn: CloudFormationClient, stack_name: str) -> dict[str, Any] | None:
    """Return the stack's description, or None when it does not exist.

    Args:
        cfn: CloudFormation client.
        stack_name: the stack.

    Returns:
        The ``describe_stacks`` entry, or None.
    """
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as err:
        if "does not exist" in str(err):
            return None
        raise
    return dict(stacks[0]) if stacks else None


def stack_outputs(stack: Mapping[str, Any]) -> dict[str, str]:
    """Return a stack's outputs as a name → value mapping.

    Args:
        stack: a ``describe_stacks`` entry.

    Returns:
        Output values by output key.
    """
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def describe_failure(cfn: CloudFormationClient, stack_name: str) -> str:
    """Name the first resource that failed in the stack's latest operation and CloudFormation's reason.

    Args:
        cfn: CloudFormation client.
        stack_name: the stack.

    Returns:
        One line, ``"<LogicalId> (<Type>) <STATUS>: <reason>"``, or the stack's own status and reason.
    """
    latest: list[Mapping[str, Any]] = []  # newest first, back to the event that started the operation
    for page in cfn.get_paginator("describe_stack_events").paginate(StackName=stack_name):
        for event in page["StackEvents"]:
            latest.append(event)
            if (
                event.get("LogicalResourceId") == stack_name
                and event.get("ResourceStatusReason") == "User Initiated"
            ):
                break
        else:
            continue
        break
    failed = [
        event
        for event in reversed(latest)  # oldest first: the root cause precedes the cancellations it causes
        if str(event.get("ResourceStatus", "")).endswith("FAILED")
        and event.get("LogicalResourceId") != stack_name
        and "cancelled" not in str(event.get("ResourceStatusReason", "")).lower()
    ]
    if failed:
        first = failed[0]
        reason = " ".join(str(first.get("ResourceStatusReason", "no reason given")).split())
        return f"{first['LogicalResourceId']} ({first['ResourceType']}) {first['ResourceStatus']}: {reason}"
    own = [event for event in latest if event.get("LogicalResourceId") == stack_name]
    if own:
        reason = " ".join(str(own[0].get("ResourceStatusReason", "no reason given")).split())
        return f"{stack_name} {own[0]['ResourceStatus']}: {reason}"
    return f"{stack_name}: no failure event found"


def _wait_for_stack(cfn: CloudFormationClient, stack_name: str, sleep: Sleep) -> dict[str, Any]:
    while True:
        stack = describe_stack(cfn, stack_name)
        if stack is None:
            raise DeployError(f"stack {stack_name} disappeared while deploying")
        status = str(stack["StackStatus"])
        if not status.endswith("IN_PROGRESS"):
            if status not in STACK_OK:
                raise DeployError(f"stack {stack_name} ended {status}: {describe_failure(cfn, stack_name)}")
            return stack
        sleep(POLL_SECONDS)


def apply_change_set(
    cfn: CloudFormationClient,
    *,
    stack_name: str,
    template_body: str,
    parameters: Mapping[str, str],
    change_set_type: str,
    sleep: Sleep,
) -> bool:
    """Create a change set, execute it unless empty, and wait for the stack.

    Args:
        cfn: CloudFormation client.
        stack_name: the stack.
        template_body: the template text.
        parameters: every parameter value to pass.
        change_set_type: ``CREATE`` or ``UPDATE``.
        sleep: waits between polls (tests pass a no-op).

    Returns:
        True when the stack changed; False when the change set was empty (and was deleted).

    Raises:
        DeployError: the change set or the stack operation failed (resource and reason in the message).
    """
    name = f"genesys-etl-{uuid.uuid4().hex[:12]}"
    try:
        cfn.create_change_set(
            StackName=stack_name,
            ChangeSetName=name,
            ChangeSetType=change_set_type,  # type: ignore[arg-type]
            TemplateBody=template_body,
            Parameters=[
                {"ParameterKey": key, "ParameterValue": value} for key, value in sorted(parameters.items())
            ],
            Capabilities=CAPABILITIES,  # type: ignore[arg-type]
            Description="scripts/deploy.py",
        )
    except ClientError as err:
        if any(marker in str(err) for marker in NO_CHANGES):
            return False
        raise DeployError(
            f"cannot create a change set for stack {stack_name}: {' '.join(str(err).split())}"
        ) from err
    while True:
        change_set = cfn.describe_change_set(StackName=stack_name, ChangeSetName=name)
        status = change_set["Status"]
        if status in {"CREATE_COMPLETE", "FAILED"}:
            break
        sleep(POLL_SECONDS)
    if status == "FAILED":
        reason = " ".join(str(change_set.get("StatusReason", "no reason given")).split())
        if any(marker in reason for marker in NO_CHANGES):
            cfn.delete_change_set(StackName=stack_name, ChangeSetName=name)
            return False
        raise DeployError(f"change set {name} for stack {stack_name} failed: {reason}")
    cfn.execute_change_set(StackName=stack_name, ChangeSetName=name)
    _wait_for_stack(cfn, stack_name, sleep)
    return True


def upload_artifacts(
    s3: S3Client, bucket: str, artifacts: Artifacts, *, dry_run: bool = False
) -> tuple[list[str], list[str]]:
    """Upload the artifacts under ``artifacts/<version>/``, skipping keys already there.

    Args:
        s3: S3 client.
        bucket: the stack's bucket.
        artifacts: what to upload.
        dry_run: only find out what would be uploaded.

    Returns:
        (keys uploaded or to upload, keys already present).
    """
    uploaded: list[str] = []
    skipped: list[str] = []
    for relative, path in sorted(artifacts.files.items()):
        key = artifacts.prefix() + relative
        if _object_exists(s3, bucket, key):
            skipped.append(key)
            continue
        if not dry_run:
            s3.upload_file(str(path), bucket, key)
        uploaded.append(key)
    return uploaded, skipped


def _object_exists(s3: S3Client, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            return False
        raise
    return True


def _bucket_of(cfn: CloudFormationClient, stack_name: str) -> str:
    try:
        detail = cfn.describe_stack_resource(StackName=stack_name, LogicalResourceId=BUCKET_RESOURCE)
    except ClientError as err:
        raise DeployError(
            f"stack {stack_name} has no {BUCKET_RESOURCE}; is it this project's stack? ({err})"
        ) from err
    return str(detail["StackResourceDetail"]["PhysicalResourceId"])


def _deployed_template(cfn: CloudFormationClient, stack_name: str) -> str:
    body = cfn.get_template(StackName=stack_name, TemplateStage="Original")["TemplateBody"]
    return body if isinstance(body, str) else json.dumps(body)


def build_only(directory: Path, build: WheelBuilder = build_wheels) -> Artifacts:
    """Write the exact files a deploy would upload into ``directory`` (same relative keys); no AWS call.

    Args:
        directory: where to write them; created if missing.
        build: the wheel builder.

    Returns:
        The artifacts, with ``files`` pointing into ``directory``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="genesys-etl-build-") as scratch:
        artifacts = package_artifacts(Path(scratch), build)
        written: dict[str, Path] = {}
        for relative, path in sorted(artifacts.files.items()):
            target = directory / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            written[relative] = target
    return Artifacts(version=artifacts.version, files=written)


@dataclass(frozen=True)
class DeployOptions:
    """The command line, parsed."""

    stack_name: str
    parameters_file: Path
    region: str | None = None
    dry_run: bool = False
    template: Path = TEMPLATE


def run_deploy(
    options: DeployOptions,
    *,
    session: boto3.Session | None = None,
    build: WheelBuilder = build_wheels,
    sleep: Sleep = time.sleep,
    say: Callable[[str], None] = print,
) -> DeployResult:
    """Build, upload and apply the stack, or with ``dry_run`` print what that would do.

    Args:
        options: stack name, parameters file, region, dry run.
        session: boto3 session (default: from the environment and ``options.region``).
        build: the wheel builder (tests pass a fake that writes dummy wheels).
        sleep: waits between polls.
        say: where progress lines go.

    Returns:
        What was done.

    Raises:
        DeployError: any step failed; the message names the step, resource and reason.
    """
    template_body = options.template.read_text(encoding="utf-8")
    parameters = load_parameters(options.parameters_file, template_body)
    session = session or boto3.Session(region_name=options.region)
    if not session.region_name:
        raise UsageError("no AWS region: pass --region REGION (the stack's region) or set AWS_REGION")
    cfn = session.client("cloudformation")
    s3 = session.client("s3")
    with tempfile.TemporaryDirectory(prefix="genesys-etl-deploy-") as scratch:
        artifacts = package_artifacts(Path(scratch), build)
        say(f"artifacts version {artifacts.version}: {', '.join(sorted(artifacts.files))}")
        result = DeployResult(stack_name=options.stack_name, version=artifacts.version)
        if options.dry_run:
            _plan(cfn, s3, options, template_body, parameters, artifacts, result, say)
            return result
        result.created = _ensure_stack(cfn, options.stack_name, template_body, parameters, sleep, say)
        bucket = _bucket_of(cfn, options.stack_name)
        result.uploaded, result.skipped = upload_artifacts(s3, bucket, artifacts)
        for key in result.uploaded:
            say(f"uploaded s3://{bucket}/{key}")
        for key in result.skipped:
            say(f"already present s3://{bucket}/{key}")
        result.changed = apply_change_set(
            cfn,
            stack_name=options.stack_name,
            template_body=template_body,
            parameters={**parameters, VERSION_PARAMETER: artifacts.version},
            change_set_type="UPDATE",
            sleep=sleep,
        )
        result.changed = result.changed or result.created
        if not result.changed:
            say(
                f"no changes: stack {options.stack_name} already runs version {artifacts.version} "
                "with this template and these parameters (the empty change set was deleted)"
            )
        stack = describe_stack(cfn, options.stack_name)
        result.outputs = stack_outputs(stack) if stack else {}
        for key, value in sorted(result.outputs.items()):
            say(f"{key}: {value}")
        return result


def _ensure_stack(
    cfn: CloudFormationClient,
    stack_name: str,
    template_body: str,
    parameters: Mapping[str, str],
    sleep: Sleep,
    say: Callable[[str], None],
) -> bool:
    # Returns True when the stack had to be created (without the job: its bucket must exist first).
    stack = describe_stack(cfn, stack_name)
    status = str(stack["StackStatus"]) if stack else None
    if status is not None and status in STUCK:
        raise DeployError(
            f"stack {stack_name} is {status} ({describe_failure(cfn, stack_name)}); {STUCK[status]} "
            f"--stack-name {stack_name}, then deploy again"
        )
    if status is not None and status not in STACK_GONE_OR_NEW:
        return False
    say(f"creating stack {stack_name} without the job (first deploy: the bucket comes first)")
    apply_change_set(
        cfn,
        stack_name=stack_name,
        template_body=template_body,
        parameters={**parameters, VERSION_PARAMETER: ""},
        change_set_type="CREATE",
        sleep=sleep,
    )
    return True


def _plan(
    cfn: CloudFormationClient,
    s3: S3Client,
    options: DeployOptions,
    template_body: str,
    parameters: Mapping[str, str],
    artifacts: Artifacts,
    result: DeployResult,
    say: Callable[[str], None],
) -> None:
    # Read-only calls only: describe the stack, look for the artifacts already uploaded.
    shown = ", ".join(f"{key}={value}" for key, value in sorted(parameters.items()))
    try:
        stack = describe_stack(cfn, options.stack_name)
    except NoCredentialsError:
        say("(no AWS credentials: cannot read the stack; showing the first-deploy plan)")
        stack = None
    if stack is None or stack["StackStatus"] in STACK_GONE_OR_NEW:
        say(f"would create stack {options.stack_name} with {VERSION_PARAMETER}='' and {shown}")
        for relative in sorted(artifacts.files):
            say(f"would upload s3://<new bucket>/{artifacts.prefix()}{relative}")
            result.uploaded.append(artifacts.prefix() + relative)
        say(f"would update stack {options.stack_name} with {VERSION_PARAMETER}={artifacts.version}")
        return
    bucket = _bucket_of(cfn, options.stack_name)
    result.uploaded, result.skipped = upload_artifacts(s3, bucket, artifacts, dry_run=True)
    for key in result.uploaded:
        say(f"would upload s3://{bucket}/{key}")
    for key in result.skipped:
        say(f"already present s3://{bucket}/{key}")
    current = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    same_template = _deployed_template(cfn, options.stack_name) == template_body
    same_version = current.get(VERSION_PARAMETER) == artifacts.version
    say(
        f"would apply a change set to stack {options.stack_name} ({stack['StackStatus']}): template "
        f"{'unchanged' if same_template else 'changed'}, {VERSION_PARAMETER} "
        f"{current.get(VERSION_PARAMETER) or '(none)'} -> {artifacts.version}, parameters {shown}"
    )
    result.changed = not (same_template and same_version and not result.uploaded)
    if not result.changed:
        say("the change set would be empty unless a parameter value changed: deploying would change nothing")


def build_parser() -> argparse.ArgumentParser:
    """Return the command line parser.

    Returns:
        The parser of ``--stack-name``, ``--parameters``, ``--region``, ``--dry-run``, ``--build-only``.
    """
    parser = argparse.ArgumentParser(
        prog="deploy.py",
        description="Build the job's wheels, upload them to the stack's bucket, create or update the stack.",
    )
    parser.add_argument("--stack-name", help="CloudFormation stack name (required unless --build-only)")
    parser.add_argument(
        "--parameters", type=Path, help="JSON file of stack parameters (required unless --build-only)"
    )
    parser.add_argument("--region", default=None, help="AWS region (default: from the environment)")
    parser.add_argument("--dry-run", action="store_true", help="print what would be done; change nothing")
    parser.add_argument(
        "--build-only",
        type=Path,
        metavar="DIR",
        help="write the files a deploy would upload (entry script, zip of wheels) into DIR; no AWS call",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the deploy from the command line.

    Args:
        argv: arguments (default ``sys.argv[1:]``).

    Returns:
        0 on success, 1 on a deploy error, 2 on an incomplete command line or the wrong Python.
    """
    if sys.version_info[:2] != REQUIRED_PYTHON:
        print(
            f"deploy.py needs Python 3.11 (Glue {GLUE_VERSION} runs CPython 3.11 wheels), not "
            f"{sys.version_info.major}.{sys.version_info.minor}: run it with .venv/bin/python",
            file=sys.stderr,
        )
        return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.build_only is not None:
            artifacts = build_only(args.build_only)
            print(f"artifacts version {artifacts.version} written to {args.build_only}:")
            for relative in sorted(artifacts.files):
                print(f"  {relative}")
            return 0
        if not args.stack_name or not args.parameters:
            parser.error("--stack-name and --parameters are required (or use --build-only DIR)")
        options = DeployOptions(
            stack_name=args.stack_name,
            parameters_file=args.parameters,
            region=args.region,
            dry_run=args.dry_run,
        )
        run_deploy(options)
    except DeployError as err:
        print(f"deploy failed: {' '.join(str(err).split())}", file=sys.stderr)
        return err.exit_code
    except (ClientError, BotoCoreError) as err:
        print(f"deploy failed: {' '.join(str(err).split())}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
