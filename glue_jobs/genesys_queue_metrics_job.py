"""AWS Glue entry script: parse Glue job arguments, fetch the Genesys secret, run the pipeline."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3

log = logging.getLogger("genesys_queue_metrics_job")
# The loggers whose lines the job's output is made of (this script's and the package's).
JOB_LOGGERS: tuple[str, ...] = ("genesys_queue_metrics_job", "genesys_etl")
_HANDLER_NAME = "genesys-etl-job"
_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Job arguments mirror the CLI flags (DESIGN.md "Interfaces users touch"); Glue passes every value as a
# string. Glue adds its own (--JOB_ID, --JOB_RUN_ID, --JOB_NAME, --TempDir, ...): parse_known_args
# ignores them, as awsglue.utils.getResolvedOptions does underneath.
REQUIRED_ARGUMENTS: tuple[str, ...] = ("secret_id", "stage", "redshift_connection", "iam_role")
OPTIONAL_ARGUMENTS: tuple[str, ...] = (
    "start_date",
    "end_date",
    "time_zone",
    "lookback_days",
    "days_per_query",
    "metrics",
    "settle_days",
    "schema",
    "trigger",
    "region",
    "api_url",
    "login_url",
    "keep_staged",
    "requests_per_minute",
    "max_concurrent_queries",
    "max_retry_wait",
    "allow_shrink",
    "shrink_limit",
    "doctor",
    "verify_days",
    "log_level",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the job's arguments (``--name value``); the infra tests read it too.

    Returns:
        An ``ArgumentParser`` whose required options are exactly ``REQUIRED_ARGUMENTS``.
    """
    parser = argparse.ArgumentParser(prog="genesys_queue_metrics_job", allow_abbrev=False)
    for name in REQUIRED_ARGUMENTS:
        parser.add_argument(f"--{name}", required=True)
    for name in OPTIONAL_ARGUMENTS:
        parser.add_argument(f"--{name}", default=None)
    return parser


def parse_arguments(argv: Sequence[str]) -> dict[str, str]:
    """Parse Glue-style ``--name value`` pairs, ignoring the arguments Glue adds itself.

    Args:
        argv: the arguments after the script name.

    Returns:
        The job's own arguments that were given (absent optional ones left out).
    """
    known, _glue_added = build_parser().parse_known_args(list(argv))
    return {key: value for key, value in vars(known).items() if value is not None}


def _job_name(argv: Sequence[str]) -> str | None:
    """Return the ``--JOB_NAME`` Glue passes to every run (for ready-to-run rerun commands)."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--JOB_NAME")
    known, _others = parser.parse_known_args(list(argv))
    name: str | None = known.JOB_NAME
    return name


def read_genesys_secret(session: boto3.Session, secret_id: str) -> dict[str, str]:
    """Read the Genesys OAuth client from Secrets Manager.

    Args:
        session: the boto3 session.
        secret_id: name or ARN of a secret whose string is JSON with ``client_id``, ``client_secret``
            and optionally ``region``.

    Returns:
        The secret's fields as strings.

    Raises:
        ConfigError: the secret is missing, unreadable, not JSON or lacks a field (its value is never shown).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from genesys_etl.errors import ConfigError

    try:
        secret = session.client("secretsmanager").get_secret_value(SecretId=secret_id)
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "error")
        raise ConfigError(
            "--secret_id", f"cannot read secret {secret_id!r} ({code}); check its name and the job role"
        ) from None
    except BotoCoreError as err:
        raise ConfigError("--secret_id", f"cannot read secret {secret_id!r}: {type(err).__name__}") from None
    try:
        data = json.loads(secret.get("SecretString") or "")
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise ConfigError(
            "--secret_id",
            f"secret {secret_id!r} is not a JSON object; store "
            '{"client_id": "…", "client_secret": "…", "region": "…"} in it',
        )
    missing = [
        key for key in ("client_id", "client_secret") if not isinstance(data.get(key), str) or not data[key]
    ]
    if missing:
        raise ConfigError(
            "--secret_id", f"secret {secret_id!r} has no {' or '.join(missing)}; add it to the secret's JSON"
        )
    return {key: str(value) for key, value in data.items() if isinstance(value, str | int | float)}


def configure_logging(level: int) -> None:
    """Make the job's log lines at ``level`` and above appear exactly once, whatever set up logging before.

    Glue's launcher configures the root logger before the script runs, so ``logging.basicConfig`` is a
    no-op there and the root's WARNING level would drop every INFO line. The job's own loggers get the
    level; a stdout handler of their own shows what no root handler shows (records below the lowest root
    handler level; everything when the root has none), so no line is lost or printed twice. Calling it
    again replaces that handler.

    Args:
        level: the ``--log_level``, as a ``logging`` level number.
    """
    root_levels = [handler.level for handler in logging.getLogger().handlers]
    shown_by_root = min(root_levels, default=logging.CRITICAL + 1)

    def not_shown_by_root(record: logging.LogRecord) -> bool:
        return record.levelno < shown_by_root

    for name in JOB_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(level)
        for handler in [h for h in logger.handlers if h.get_name() == _HANDLER_NAME]:
            logger.removeHandler(handler)
        if shown_by_root > level:
            handler = _StdoutHandler()
            handler.set_name(_HANDLER_NAME)
            handler.setFormatter(logging.Formatter(_LOG_FORMAT))
            handler.addFilter(not_shown_by_root)
            logger.addHandler(handler)


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stdout`` is at the time (Glue sends the job's stdout to CloudWatch)."""

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        del value


def aws_region(secret_id: str) -> str | None:
    """Return the AWS region the job's clients use: ``AWS_REGION``, ``AWS_DEFAULT_REGION``, or the secret's.

    boto3 reads the same variables (https://docs.aws.amazon.com/sdkref/latest/guide/feature-region.html);
    when neither is set, the region of the ``--secret_id`` ARN (the stack passes an ARN) is the job's own.

    Args:
        secret_id: the ``--secret_id`` argument (a name or an ARN).

    Returns:
        The region, or None when none is known.
    """
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if os.environ.get(variable):
            return os.environ[variable]
    parts = secret_id.split(":")
    if len(parts) >= 7 and parts[0] == "arn" and parts[2] == "secretsmanager" and parts[3]:
        return parts[3]
    return None


def build_config(arguments: dict[str, str], secret: dict[str, str]) -> Any:
    """Turn Glue arguments and the Genesys secret into the job's validated Config.

    Args:
        arguments: parsed job arguments (``parse_arguments``).
        secret: the Genesys secret's fields.

    Returns:
        A ``genesys_etl.config.Config`` for a Redshift load staged in S3.
    """
    from genesys_etl.config import Config

    values: dict[str, Any] = {
        k: v for k, v in arguments.items() if k not in {"secret_id", "log_level", "doctor"}
    }
    values["warehouse"] = "redshift"
    if "region" not in values and "api_url" not in values and secret.get("region"):
        values["region"] = secret["region"]
    env = {"GENESYS_CLIENT_ID": secret["client_id"], "GENESYS_CLIENT_SECRET": secret["client_secret"]}
    return Config.from_mapping(values, env)


def _doctor(config: Any, warehouse: Any, stage: Any) -> int:
    """``--doctor true``: the preflight instead of a load, one log line per check; 0 when all pass."""
    from genesys_etl.doctor import run_doctor

    failed = 0
    for check in run_doctor(config, warehouse=warehouse, stage=stage):
        (log.info if check.ok else log.error)("%s", check)
        failed += not check.ok
    log.info("doctor: %s", "all checks passed" if not failed else f"{failed} check(s) failed")
    return 1 if failed else 0


def main(
    argv: Sequence[str] | None = None,
    *,
    session: boto3.Session | None = None,
    warehouse_factory: Callable[[Any], Any] | None = None,
) -> int:
    """Run the job from Glue arguments: secret → config → pipeline into Redshift through S3.

    Args:
        argv: arguments after the script name; ``sys.argv[1:]`` when None.
        session: boto3 session (tests pass one bound to moto); a default session when None.
        warehouse_factory: builds the warehouse from the Config instead of a RedshiftWarehouse on the
            Glue connection (tests build the same class on PostgreSQL, with only COPY replaced).

    Returns:
        0 when every window loaded, 1 when any failed, 2 on bad arguments or secret.
    """
    import boto3

    from genesys_etl import pipeline
    from genesys_etl.errors import EtlError, RunInterrupted
    from genesys_etl.report import format_run_report
    from genesys_etl.stage import open_stage
    from genesys_etl.warehouse import open_warehouse

    if argv is None and threading.current_thread() is threading.main_thread():
        # Glue stops a run (stop request, timeout) with SIGTERM: roll back, record, report, exit 143.
        pipeline.stop_on_signals()
    argv = sys.argv[1:] if argv is None else argv
    arguments = parse_arguments(argv)
    level = logging.getLevelName(arguments.get("log_level", "INFO").upper())
    configure_logging(level if isinstance(level, int) else logging.INFO)
    if not isinstance(level, int):
        log.error("--log_level: unknown level %r; use DEBUG, INFO, WARNING or ERROR", arguments["log_level"])
        return 2
    if session is None:
        region = aws_region(arguments["secret_id"])
        if region is None:
            log.error("no AWS region: set AWS_REGION or pass --secret_id as the secret's ARN")
            return 2
        session = boto3.Session(region_name=region)
    try:
        config = build_config(arguments, read_genesys_secret(session, arguments["secret_id"]))
        warehouse = (warehouse_factory or open_warehouse)(config)
        stage = open_stage(config.stage, config.run_id, boto3_session=session)
        try:
            if arguments.get("doctor", "false").strip().lower() in {"1", "true", "yes"}:
                return _doctor(config, warehouse, stage)
            report = pipeline.run(config, warehouse=warehouse, stage=stage, zone_flag="--time_zone")
        finally:
            warehouse.close()
    except EtlError as err:
        log.error("%s", " ".join(str(err).split()))
        return err.exit_code
    loaded_in = config.with_changes(time_zone=report.time_zone or None)  # reruns name the schema's zone
    for line in format_run_report(report, loaded_in, glue_job=_job_name(argv)).splitlines():
        log.info("%s", line)
    if isinstance(report.stopped, RunInterrupted):
        log.error("stopped by %s; the window in flight was rolled back and recorded failed", report.stopped)
        return report.stopped.exit_code
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
