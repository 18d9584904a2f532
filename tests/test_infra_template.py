"""Infra tests: cfn-lint and assertions on the parsed CloudFormation template (moto skips Glue resources)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint import api as cfnlint_api
from cfnlint.decode import cfn_yaml

import genesys_queue_metrics_job

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = sorted((ROOT / "infra").glob("*.yaml"))
TEMPLATE = ROOT / "infra" / "genesys-etl.yaml"

# Job parameters Glue itself reads (not passed to our parser's contract), from "Using job parameters in
# AWS Glue jobs": https://docs.aws.amazon.com/glue/latest/dg/aws-glue-programming-etl-glue-arguments.html
GLUE_SPECIAL_PARAMETERS = frozenset(
    {
        "--additional-python-modules",
        "--python-modules-installer-option",
        "--TempDir",
        "--job-language",
        "--enable-metrics",
        "--enable-observability-metrics",
        "--enable-continuous-cloudwatch-log",
        "--enable-continuous-log-filter",
        "--continuous-log-logGroup",
        "--continuous-log-logStreamPrefix",
        "--enable-spark-ui",
        "--spark-event-logs-path",
        "--enable-job-insights",
        "--enable-glue-datacatalog",
        "--job-bookmark-option",
        "--extra-py-files",
        "--extra-files",
        "--extra-jars",
        "--user-jars-first",
        "--scriptLocation",
        "--encryption-type",
        "--enable-auto-scaling",
        "--conf",
    }
)
# The only actions allowed on Resource "*": none of them supports resource-level permissions.
STAR_RESOURCE_ACTIONS = frozenset(
    {
        "cloudwatch:PutMetricData",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSubnets",
        "ec2:DescribeRouteTables",
        "ec2:DescribeVpcEndpoints",
        "ec2:DescribeVpcAttribute",
    }
)
# Glue job state change events end SUCCEEDED, FAILED, TIMEOUT or STOPPED; Glue never emits ERROR.
GLUE_TERMINAL_FAILURES = {"FAILED", "TIMEOUT", "STOPPED"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return dict(cfn_yaml.load(str(TEMPLATE)))


def resources_of(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == resource_type}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def raw_job_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    role = template["Resources"]["JobRole"]["Properties"]
    return [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]


def job_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement the role can have: a conditional one (Fn::If) counts as its granted branch."""
    statements = []
    for statement in raw_job_statements(template):
        branches = statement["Fn::If"][1:] if "Fn::If" in statement else [statement]
        statements += [b for b in branches if b != {"Ref": "AWS::NoValue"}]
    return statements


def references(value: Any) -> set[str]:
    """Every resource or parameter name a (possibly nested) intrinsic refers to."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref":
                found.add(str(inner))
            elif key == "Fn::GetAtt":
                found.add(str(inner[0] if isinstance(inner, list) else inner.split(".")[0]))
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                found |= {name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", text)}
                if isinstance(inner, list):
                    found |= references(inner[1])
            else:
                found |= references(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= references(inner)
    return found


def sub_text(value: Any) -> str:
    assert isinstance(value, dict), value
    assert "Fn::Sub" in value, value
    inner = value["Fn::Sub"]
    return str(inner[0] if isinstance(inner, list) else inner)


# --- cfn-lint --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", TEMPLATES, ids=[p.name for p in TEMPLATES])
def test_cfn_lint_reports_nothing_on_every_template(path: Path) -> None:
    matches = cfnlint_api.lint_file(path)
    assert [str(m) for m in matches] == []


def test_cfn_lint_catches_a_broken_job_definition(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(TEMPLATE.read_text().replace("WorkerType: G.1X", "WorkerType: G.1Y"))
    matches = cfnlint_api.lint_file(broken)
    assert any("G.1Y" in str(m) for m in matches)


# --- bucket ----------------------------------------------------------------------------------------------


def test_bucket_is_encrypted_and_blocks_public_access(template: dict[str, Any]) -> None:
    bucket = template["Resources"]["ArtifactBucket"]["Properties"]
    rules = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rules[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    block = bucket["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }


def test_bucket_policy_denies_requests_without_tls(template: dict[str, Any]) -> None:
    (policy,) = resources_of(template, "AWS::S3::BucketPolicy").values()
    assert policy["Properties"]["Bucket"] == {"Ref": "ArtifactBucket"}
    denies = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny"
        and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
    ]
    assert len(denies) == 1
    deny = denies[0]
    assert deny["Principal"] == "*"
    assert deny["Action"] in ("s3:*", ["s3:*"])
    covered = as_list(deny["Resource"])
    assert {"Fn::GetAtt": ["ArtifactBucket", "Arn"]} in covered
    assert {"Fn::Sub": "${ArtifactBucket.Arn}/*"} in covered


def test_bucket_expires_staging_and_aborts_incomplete_uploads(template: dict[str, Any]) -> None:
    rules = template["Resources"]["ArtifactBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    staging = [r for r in rules if r.get("Prefix") == "stage/" and r["Status"] == "Enabled"]
    assert len(staging) == 1
    assert 1 <= staging[0]["ExpirationInDays"] <= 30
    aborts = [r for r in rules if "AbortIncompleteMultipartUpload" in r and r["Status"] == "Enabled"]
    assert aborts
    assert not any(r.get("Prefix", "").startswith("artifacts") and "ExpirationInDays" in r for r in rules)
    # The job's --stage argument points at exactly the prefix that expires.
    stage = template["Resources"]["GlueJob"]["Properties"]["DefaultArguments"]["--stage"]
    assert sub_text(stage) == "s3://${ArtifactBucket}/stage/"


# --- IAM -------------------------------------------------------------------------------------------------


def test_job_role_is_assumed_by_glue_only(template: dict[str, Any]) -> None:
    trust = template["Resources"]["JobRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [
        {"Effect": "Allow", "Principal": {"Service": "glue.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    assert "ManagedPolicyArns" not in template["Resources"]["JobRole"]["Properties"]


def test_job_role_never_allows_wildcard_actions(template: dict[str, Any]) -> None:
    for statement in job_statements(template):
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            assert "*" not in action, statement
        assert "NotAction" not in statement
        assert "NotResource" not in statement


def test_star_resources_only_for_actions_without_resource_level_permissions(template: dict[str, Any]) -> None:
    star = [s for s in job_statements(template) if "*" in as_list(s["Resource"])]
    assert star, "the template is expected to need Resource '*' for EC2 Describe and PutMetricData"
    for statement in star:
        assert as_list(statement["Resource"]) == ["*"], statement
        assert set(as_list(statement["Action"])) <= STAR_RESOURCE_ACTIONS, statement
    (metrics,) = [s for s in star if "cloudwatch:PutMetricData" in as_list(s["Action"])]
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "Glue"}}


def test_every_star_resource_line_says_why() -> None:
    lines = TEMPLATE.read_text().splitlines()
    star_lines = [line for line in lines if re.search(r"""Resource:\s*["']\*["']""", line)]
    assert star_lines
    for line in star_lines:
        comment = line.partition("#")[2].strip()
        assert len(comment) > 20, f"Resource '*' without a reason: {line.strip()}"


def test_secret_access_is_only_to_the_jobs_secrets(template: dict[str, Any]) -> None:
    secret_statements = [
        s
        for s in job_statements(template)
        if any(a.startswith("secretsmanager:") for a in as_list(s["Action"]))
    ]
    assert len(secret_statements) == 1
    (statement,) = secret_statements
    assert as_list(statement["Action"]) == ["secretsmanager:GetSecretValue"]
    resources = as_list(statement["Resource"])
    assert {
        "Fn::If": ["CreateGenesysSecret", {"Ref": "GenesysSecret"}, {"Ref": "GenesysSecretArn"}]
    } in resources
    assert {"Ref": "RedshiftSecretArn"} in resources
    assert len(resources) == 2
    # ... and the job is told to read the same Genesys secret.
    secret_argument = template["Resources"]["GlueJob"]["Properties"]["DefaultArguments"]["--secret_id"]
    assert secret_argument == resources[0]


def test_s3_access_is_only_to_the_buckets_prefixes(template: dict[str, Any]) -> None:
    s3_statements = [
        s for s in job_statements(template) if any(a.startswith("s3:") for a in as_list(s["Action"]))
    ]
    assert s3_statements
    object_prefixes: set[str] = set()
    for statement in s3_statements:
        for resource in as_list(statement["Resource"]):
            assert references(resource) == {"ArtifactBucket"}, resource
            if resource == {"Fn::GetAtt": ["ArtifactBucket", "Arn"]}:
                assert as_list(statement["Action"]) == ["s3:ListBucket"]
                prefixes = as_list(statement["Condition"]["StringLike"]["s3:prefix"])
                assert set(prefixes) <= {"artifacts/*", "stage/*", "tmp/*"}
            else:
                text = sub_text(resource)
                prefix = text.removeprefix("${ArtifactBucket.Arn}/")
                assert prefix in {"artifacts/*", "stage/*", "tmp/*"}, text
                object_prefixes.add(prefix)
                if prefix == "artifacts/*":
                    assert as_list(statement["Action"]) == ["s3:GetObject"], "artifacts are read-only"
    assert object_prefixes == {"artifacts/*", "stage/*", "tmp/*"}


def test_glue_connection_access_is_only_to_the_jobs_connection(template: dict[str, Any]) -> None:
    (statement,) = [s for s in job_statements(template) if "glue:GetConnection" in as_list(s["Action"])]
    assert as_list(statement["Action"]) == ["glue:GetConnection"]
    resources = as_list(statement["Resource"])
    assert any(sub_text(r).endswith(":catalog") for r in resources if "Fn::Sub" in r)
    connection = [r for r in resources if "connection/" in str(r)]
    assert len(connection) == 1
    assert references(connection[0]) >= {"RedshiftConnection", "ExistingConnectionName"}
    job_connections = template["Resources"]["GlueJob"]["Properties"]["Connections"]["Connections"]
    assert job_connections == [
        {"Fn::If": ["CreateConnection", {"Ref": "RedshiftConnection"}, {"Ref": "ExistingConnectionName"}]}
    ]


def test_logs_are_limited_to_glue_log_groups(template: dict[str, Any]) -> None:
    statements = [
        s for s in job_statements(template) if any(a.startswith("logs:") for a in as_list(s["Action"]))
    ]
    assert statements
    for statement in statements:
        for resource in as_list(statement["Resource"]):
            assert ":log-group:/aws-glue/" in sub_text(resource)


# --- Glue ------------------------------------------------------------------------------------------------


def test_glue_job_properties(template: dict[str, Any]) -> None:
    job = template["Resources"]["GlueJob"]
    props = job["Properties"]
    assert props["Command"]["Name"] == "glueetl"
    assert props["Command"]["PythonVersion"] == "3"
    assert sub_text(props["Command"]["ScriptLocation"]) == (
        "s3://${ArtifactBucket}/artifacts/${ArtifactsVersion}/genesys_queue_metrics_job.py"
    )
    assert props["GlueVersion"] == {"Ref": "GlueVersion"}
    glue_version = template["Parameters"]["GlueVersion"]
    assert glue_version["Default"] == "5.1"
    assert all(v.startswith("5.") for v in glue_version["AllowedValues"])
    assert props["WorkerType"] == "G.1X"
    assert props["NumberOfWorkers"] == 2
    assert isinstance(props["Timeout"], int)
    assert 10 <= props["Timeout"] <= 480
    assert props["MaxRetries"] in (0, 1)
    assert props["ExecutionProperty"] == {"MaxConcurrentRuns": 1}
    assert props["Role"] == {"Fn::GetAtt": ["JobRole", "Arn"]}


def test_job_dependencies_come_from_the_bucket_not_pypi(template: dict[str, Any]) -> None:
    arguments = template["Resources"]["GlueJob"]["Properties"]["DefaultArguments"]
    modules = sub_text(arguments["--additional-python-modules"])
    assert modules.startswith("s3://${ArtifactBucket}/artifacts/${ArtifactsVersion}/wheels/")
    assert "," not in modules
    assert "--no-index" in arguments["--python-modules-installer-option"].split()
    assert arguments["--job-language"] == "python"
    assert arguments["--enable-metrics"] == "true"
    assert arguments["--enable-continuous-cloudwatch-log"] == "true"


def test_job_trigger_and_rule_wait_for_the_artifacts(template: dict[str, Any]) -> None:
    # First deploy: ArtifactsVersion is empty, so these stay out until the deploy uploaded the code.
    assert template["Conditions"]["HasArtifacts"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ArtifactsVersion"}, ""]}]
    }
    assert template["Parameters"]["ArtifactsVersion"]["Default"] == ""
    for name in ("GlueJob", "NightlyTrigger", "JobFailureRule"):
        assert template["Resources"][name]["Condition"] == "HasArtifacts", name
    assert template["Outputs"]["JobName"]["Condition"] == "HasArtifacts"
    unconditional = [
        n for n, r in template["Resources"].items() if "HasArtifacts" not in str(r.get("Condition"))
    ]
    assert "ArtifactBucket" in unconditional


def test_job_arguments_are_accepted_by_the_entry_scripts_parser(template: dict[str, Any]) -> None:
    parser = genesys_queue_metrics_job.build_parser()
    accepted = {option for action in parser._actions for option in action.option_strings}
    arguments = template["Resources"]["GlueJob"]["Properties"]["DefaultArguments"]
    ours = {name for name in arguments if name not in GLUE_SPECIAL_PARAMETERS}
    assert ours, "the template passes none of the job's own arguments"
    assert ours <= accepted, f"not accepted by the entry script: {sorted(ours - accepted)}"
    # Glue's own parameters must not shadow ours.
    assert not (set(arguments) & GLUE_SPECIAL_PARAMETERS & accepted)
    # The schedule's extra arguments are the job's too.
    (action,) = template["Resources"]["NightlyTrigger"]["Properties"]["Actions"]
    assert set(action["Arguments"]) <= accepted


def test_every_required_job_argument_is_passed(template: dict[str, Any]) -> None:
    parser = genesys_queue_metrics_job.build_parser()
    required = {action.option_strings[0] for action in parser._actions if action.required}
    assert required, "the entry script declares no required arguments"
    arguments = template["Resources"]["GlueJob"]["Properties"]["DefaultArguments"]
    assert required <= set(arguments), f"missing: {sorted(required - set(arguments))}"
    assert "--trigger" not in arguments, "only the schedule's runs are nightly (see NightlyTrigger)"
    assert arguments["--time_zone"] == {"Ref": "TimeZone"}
    assert arguments["--lookback_days"] == {"Ref": "LookbackDays"}
    assert arguments["--schema"] == {"Ref": "Schema"}
    assert arguments["--iam_role"] == {"Ref": "RedshiftCopyRoleArn"}


def test_glue_connection_is_jdbc_to_redshift_with_a_secret(template: dict[str, Any]) -> None:
    connection = template["Resources"]["RedshiftConnection"]
    assert connection["Condition"] == "CreateConnection"
    assert template["Conditions"]["CreateConnection"] == {
        "Fn::Equals": [{"Ref": "ExistingConnectionName"}, ""]
    }
    connection_input = connection["Properties"]["ConnectionInput"]
    assert connection_input["ConnectionType"] == "JDBC"
    props = connection_input["ConnectionProperties"]
    assert sub_text(props["JDBC_CONNECTION_URL"]).startswith(
        "jdbc:redshift://${RedshiftHost}:${RedshiftPort}/"
    )
    assert props["SECRET_ID"] == {"Ref": "RedshiftSecretArn"}
    assert "PASSWORD" not in props
    network = connection_input["PhysicalConnectionRequirements"]
    assert network == {
        "SubnetId": {"Ref": "SubnetId"},
        "SecurityGroupIdList": {"Ref": "SecurityGroupIds"},
        "AvailabilityZone": {"Ref": "AvailabilityZone"},
    }


def test_created_secret_holds_placeholders_only(template: dict[str, Any]) -> None:
    secret = template["Resources"]["GenesysSecret"]
    assert secret["Condition"] == "CreateGenesysSecret"
    text = sub_text(secret["Properties"]["SecretString"])
    assert '"client_id": "REPLACE_ME"' in text
    assert '"client_secret": "REPLACE_ME"' in text
    assert '"region"' in text


def test_created_secret_survives_stack_deletion_and_replacement(template: dict[str, Any]) -> None:
    secret = template["Resources"]["GenesysSecret"]
    assert secret["DeletionPolicy"] == "Retain"
    assert secret["UpdateReplacePolicy"] == "Retain"


def test_an_optional_kms_key_is_granted_for_decrypt_through_secrets_manager_only(
    template: dict[str, Any],
) -> None:
    parameter = template["Parameters"]["SecretsKmsKeyArn"]
    assert parameter["Default"] == ""
    assert re.fullmatch(parameter["AllowedPattern"], "")
    assert re.fullmatch(parameter["AllowedPattern"], "arn:aws:kms:us-east-1:123456789012:key/abcd-1234")
    assert not re.fullmatch(parameter["AllowedPattern"], "alias/aws/secretsmanager")
    assert template["Conditions"]["HasSecretsKmsKey"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "SecretsKmsKeyArn"}, ""]}]
    }
    conditional = [s for s in raw_job_statements(template) if "Fn::If" in s]
    (statement,) = conditional
    condition, granted, otherwise = statement["Fn::If"]
    assert condition == "HasSecretsKmsKey"
    assert otherwise == {"Ref": "AWS::NoValue"}
    assert granted["Action"] == "kms:Decrypt"
    assert granted["Resource"] == {"Ref": "SecretsKmsKeyArn"}
    assert sub_text(granted["Condition"]["StringEquals"]["kms:ViaService"]) == (
        "secretsmanager.${AWS::Region}.amazonaws.com"
    )
    key = template["Resources"]["GenesysSecret"]["Properties"]["KmsKeyId"]
    assert key == {"Fn::If": ["HasSecretsKmsKey", {"Ref": "SecretsKmsKeyArn"}, {"Ref": "AWS::NoValue"}]}


def test_nightly_trigger_is_scheduled_and_started(template: dict[str, Any]) -> None:
    props = template["Resources"]["NightlyTrigger"]["Properties"]
    assert props["Type"] == "SCHEDULED"
    assert props["StartOnCreation"] is True
    assert props["Schedule"] == {"Ref": "ScheduleCron"}
    assert props["Actions"] == [{"JobName": {"Ref": "GlueJob"}, "Arguments": {"--trigger": "nightly"}}]
    cron = template["Parameters"]["ScheduleCron"]
    match = re.fullmatch(r"cron\((\d+) (\d+) \* \* \? \*\)", cron["Default"])
    assert match, cron["Default"]
    minute, hour = int(match[1]), int(match[2])
    # The stack's zone default agrees with the CLI's (UTC); the schedule also suits New York:
    # 06:30 UTC is after midnight in America/New_York in winter (UTC-5) and summer (UTC-4).
    assert template["Parameters"]["TimeZone"]["Default"] == "UTC"
    assert 0 <= (hour * 60 + minute) - 5 * 60 < 6 * 60
    assert 0 <= (hour * 60 + minute) - 4 * 60 < 6 * 60
    assert "UTC" in cron["Description"]
    assert "America/New_York" in cron["Description"]


# --- alerts ----------------------------------------------------------------------------------------------


def test_failure_rule_matches_failed_runs_of_this_job(template: dict[str, Any]) -> None:
    rule = template["Resources"]["JobFailureRule"]["Properties"]
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.glue"]
    assert pattern["detail-type"] == ["Glue Job State Change"]
    assert set(pattern["detail"]["state"]) == GLUE_TERMINAL_FAILURES
    assert pattern["detail"]["jobName"] == [{"Ref": "GlueJob"}]
    assert rule["State"] == "ENABLED"
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Ref": "FailureTopic"}


def test_topic_accepts_eventbridge_and_optional_email(template: dict[str, Any]) -> None:
    (policy,) = resources_of(template, "AWS::SNS::TopicPolicy").values()
    assert policy["Properties"]["Topics"] == [{"Ref": "FailureTopic"}]
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sns:Publish"
    assert statement["Resource"] == {"Ref": "FailureTopic"}
    (subscription,) = resources_of(template, "AWS::SNS::Subscription").values()
    assert subscription["Condition"] == "HasAlertEmail"
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlertEmail"}
    assert template["Parameters"]["AlertEmail"]["Default"] == ""


def test_outputs_name_job_bucket_secret_and_topic(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert {"JobName", "BucketName", "SecretArn", "TopicArn"} <= set(outputs)
    assert outputs["JobName"]["Value"] == {"Ref": "GlueJob"}
    assert outputs["BucketName"]["Value"] == {"Ref": "ArtifactBucket"}
    assert outputs["TopicArn"]["Value"] == {"Ref": "FailureTopic"}
    assert outputs["SecretArn"]["Value"] == {
        "Fn::If": ["CreateGenesysSecret", {"Ref": "GenesysSecret"}, {"Ref": "GenesysSecretArn"}]
    }
