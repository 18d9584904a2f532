"""AWS Glue entry script: parse Glue job arguments, fetch the Genesys secret, run the pipeline."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

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
    "max_retry_wait",
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job from Glue arguments (the pipeline lands with the end-to-end issue).

    Args:
        argv: arguments after the script name; ``sys.argv[1:]`` when None.

    Returns:
        The process exit status.
    """
    parse_arguments(sys.argv[1:] if argv is None else argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
