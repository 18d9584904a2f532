"""The ``genesys-etl`` command: run, backfill, plan, lint, status, simulator."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any, NoReturn

from genesys_etl import __version__
from genesys_etl.errors import ConfigError, EtlError, RunInterrupted

log = logging.getLogger("genesys_etl")

# Flags shared by the subcommands that take them (DESIGN.md "Interfaces users touch"); the config key
# is the flag without dashes, with underscores.
_DATE_FLAGS = ("--start-date", "--end-date")
_GENESYS_FLAGS = (
    "--region",
    "--api-url",
    "--login-url",
    "--requests-per-minute",
    "--max-concurrent-queries",
    "--max-retry-wait",
)
_WAREHOUSE_FLAGS = ("--warehouse", "--schema", "--redshift-connection", "--redshift-secret-id", "--iam-role")


_LOG_LEVEL_HELP = "DEBUG, INFO, WARNING or ERROR (default INFO)"


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line naming the problem and pointing at --help.

    Flags must be spelled out (no abbreviations), like the Glue job's arguments.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add_dates(parser: argparse.ArgumentParser, *, required: bool = False) -> None:
    parser.add_argument(
        "--start-date", required=required, help="first local date to load, YYYY-MM-DD (inclusive)"
    )
    parser.add_argument(
        "--end-date", required=required, help="last local date to load, YYYY-MM-DD (inclusive)"
    )


def _add_window_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--time-zone", help="IANA zone the dates are local to (default: the schema's, UTC for a new schema)"
    )
    parser.add_argument(
        "--lookback-days", help="nightly: how many days ending yesterday to (re)load (default 7)"
    )
    parser.add_argument("--days-per-query", help="days per aggregates request, 1..7 (default 7)")
    parser.add_argument("--metrics", help="comma-separated Genesys metric names (default: the 20 queue KPIs)")
    parser.add_argument(
        "--allow-shrink",
        action="store_true",
        default=None,
        help="load a window even when its answer removes more than --shrink-limit of its rows",
    )
    parser.add_argument(
        "--shrink-limit",
        help="largest share of a window's rows a reload may remove before it is refused (default 0.5)",
    )


def _add_genesys_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--region", help="Genesys Cloud region (e.g. us-east-1) or API domain (mypurecloud.ie)"
    )
    parser.add_argument("--api-url", help="API base URL instead of --region (e.g. the simulator's)")
    parser.add_argument("--login-url", help="login base URL (default: derived from --api-url/--region)")
    parser.add_argument(
        "--requests-per-minute", help="request budget: at most this many start in any minute (default 300)"
    )
    parser.add_argument(
        "--max-concurrent-queries", help="aggregates queries in flight at once, 1..32 (default 4)"
    )
    parser.add_argument(
        "--max-retry-wait", help="give up when Genesys asks to wait longer than this, seconds (default 180)"
    )


def _add_warehouse_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--warehouse", help="duckdb:PATH (default duckdb:data/warehouse.duckdb) or redshift")
    parser.add_argument("--schema", help="warehouse schema (default genesys)")
    parser.add_argument("--settle-days", help="days younger than this are provisional (default 3)")
    parser.add_argument("--redshift-connection", help="Glue connection name for --warehouse redshift")
    parser.add_argument(
        "--redshift-secret-id", help="Secrets Manager secret with Redshift host/port/username/password/dbname"
    )
    parser.add_argument("--iam-role", help="IAM role ARN Redshift assumes for COPY")


def _add_stage_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stage", help="local folder (default data/stage) or s3://bucket/prefix")
    parser.add_argument(
        "--keep-staged", action="store_true", default=None, help="keep staged Parquet after loading"
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser with every subcommand.

    Returns:
        The top-level parser; each subparser sets ``handler``.
    """
    parser = _Parser(
        prog="genesys-etl",
        description="Genesys Cloud queue analytics into Redshift or DuckDB.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--log-level", default="INFO", help=_LOG_LEVEL_HELP)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    run = commands.add_parser(
        "run",
        help="load the nightly lookback window (default) or --start-date..--end-date",
        description="Load Genesys queue aggregates. Without dates: the --lookback-days days ending "
        "yesterday in --time-zone (trigger nightly). Reruns replace exactly the days they load.",
    )
    _add_dates(run)
    for add in (_add_window_flags, _add_genesys_flags, _add_warehouse_flags, _add_stage_flags):
        add(run)
    run.add_argument(
        "--verify-days",
        help="nightly: then verify this many loaded days older than the lookback against Genesys "
        "(default 7, one more call; 0 turns it off); a difference fails the run",
    )
    run.set_defaults(handler=_cmd_run)

    backfill = commands.add_parser(
        "backfill",
        help="load a date range, locally with progress or as Glue job runs",
        description="Backfill --start-date..--end-date, locally (default) or as AWS Glue job runs.",
    )
    _add_dates(backfill, required=True)
    for add in (_add_window_flags, _add_genesys_flags, _add_warehouse_flags, _add_stage_flags):
        add(backfill)
    backfill.add_argument(
        "--on", choices=("local", "glue"), default="local", help="where to run (default local)"
    )
    backfill.add_argument("--job-name", help="Glue job name (with --on glue)")
    backfill.add_argument("--days-per-run", type=int, default=30, help="days per Glue job run (default 30)")
    backfill.add_argument(
        "--max-concurrent", type=int, help="Glue runs at once (default: the job's MaxConcurrentRuns)"
    )
    backfill.add_argument("--poll-seconds", type=float, default=30.0, help="Glue run polling interval")
    backfill.add_argument("--aws-region", help="AWS region of the Glue job (default: the AWS environment's)")
    backfill.set_defaults(handler=_cmd_backfill)

    plan = commands.add_parser(
        "plan",
        help="print the exact aggregates request bodies, one JSON per line; calls nothing",
        description="Print the request bodies the job would send for these flags, as JSON lines. "
        "Calls nothing.",
    )
    _add_dates(plan)
    _add_window_flags(plan)
    plan.set_defaults(handler=_cmd_plan)

    lint = commands.add_parser(
        "lint",
        help="check a hand-written aggregates query body offline and explain each mistake",
        description="Check an aggregates query body (file or - for stdin) against the API's schema and "
        "allowed values. Exit 0 when clean, 1 with every problem and its fix otherwise.",
    )
    lint.add_argument("file", nargs="?", default="-", help="JSON file with the body (default: stdin)")
    lint.set_defaults(handler=_cmd_lint)

    status = commands.add_parser(
        "status",
        help="per-day coverage: loaded, provisional, missing, last load",
        description="Show per-day coverage of a date range (default: the 30 days ending yesterday) and "
        "the backfill command for the missing days.",
    )
    _add_dates(status)
    status.add_argument(
        "--time-zone", help="IANA zone of the schema (default: the one its first load recorded)"
    )
    _add_warehouse_flags(status)
    status.set_defaults(handler=_cmd_status)

    doctor = commands.add_parser(
        "doctor",
        help="preflight: Genesys login and permissions, warehouse, stage, load path, time zone",
        description="Check every dependency of a run, in order, one line each (✓, or ✗ with the fix). "
        "Changes nothing analysts see. Exit 0 when all pass, 1 otherwise.",
    )
    doctor.add_argument(
        "--time-zone", help="IANA zone the run will use (default: the schema's, UTC for a new schema)"
    )
    for add in (_add_genesys_flags, _add_warehouse_flags, _add_stage_flags):
        add(doctor)
    doctor.set_defaults(handler=_cmd_doctor)

    verify = commands.add_parser(
        "verify",
        help="compare the warehouse with Genesys cell by cell (changes nothing; --fix reloads what differs)",
        description="Re-query Genesys with the bodies a load would send and compare every cell (day, "
        "queue, media type, metric, qualifier, stat) with the warehouse. One line per day, then a total. "
        "Exit 0 when everything matches, 1 when something differs, 2 for bad input.",
    )
    _add_dates(verify, required=True)
    _add_window_flags(verify)
    for add in (_add_genesys_flags, _add_warehouse_flags, _add_stage_flags):
        add(verify)
    verify.add_argument(
        "--fix",
        action="store_true",
        default=None,
        help="reload exactly the days that differ, then verify them again",
    )
    verify.set_defaults(handler=_cmd_verify)

    simulator = commands.add_parser(
        "simulator",
        help="start the bundled Genesys Cloud simulator (see its --help)",
        add_help=False,
    )
    simulator.add_argument("simulator_args", nargs=argparse.REMAINDER)
    simulator.set_defaults(handler=_cmd_simulator)
    for name, command in commands.choices.items():
        if name != "simulator":  # --log-level before or after the subcommand; after wins
            command.add_argument("--log-level", default=argparse.SUPPRESS, help=_LOG_LEVEL_HELP)
    return parser


def _config_values(args: argparse.Namespace, **overrides: Any) -> dict[str, Any]:
    """Collect the config keys the user actually gave (None means: use the default)."""
    skip = {
        "command",
        "handler",
        "log_level",
        "on",
        "job_name",
        "days_per_run",
        "poll_seconds",
        "aws_region",
        "max_concurrent",
    }
    values = {k: v for k, v in vars(args).items() if k not in skip and v is not None}
    values.update(overrides)
    return values


def _load_config(args: argparse.Namespace, env: Mapping[str, str], **overrides: Any) -> Any:
    from genesys_etl.config import Config

    return Config.from_mapping(_config_values(args, **overrides), env)


def _cmd_run(args: argparse.Namespace, env: Mapping[str, str], out: IO[str]) -> int:
    trigger = "manual" if (args.start_date or args.end_date) else "nightly"
    config = _load_config(args, env, trigger=trigger)
    return _run_pipeline(config, out, progress_bar=False)


def _cmd_backfill(args: argparse.Namespace, env: Mapping[str, str], out: IO[str]) -> int:
    if args.on == "glue":
        return _backfill_on_glue(args, env, out)
    config = _load_config(args, env, trigger="backfill")
    return _run_pipeline(config, out, progress_bar=sys.stderr.isatty())


def _run_pipeline(config: Any, out: IO[str], *, progress_bar: bool) -> int:
    from genesys_etl import pipeline
    from genesys_etl.report import format_run_report

    try:  # the bar's length; the pipeline plans again in the schema's zone (same number of days)
        total: int | None = sum(w.day_count for w in config.windows())
    except ConfigError:
        total = None
    progress: Callable[[Any], None] | None = None
    bar = None
    resources = contextlib.ExitStack()
    if progress_bar:
        from tqdm import tqdm
        from tqdm.contrib.logging import logging_redirect_tqdm

        bar = tqdm(total=total, unit="day", desc="backfill", file=sys.stderr)
        done = {"rows": 0, "failed": 0}

        def progress(item: Any) -> None:
            assert bar is not None
            done["rows"] += item.rows
            done["failed"] += item.status != "succeeded"
            bar.update(item.window.day_count)
            bar.set_postfix(rows=done["rows"], failed=done["failed"])  # the run's totals so far

        # Log lines go through the bar (tqdm.write), each on a line of its own above it.
        resources.enter_context(logging_redirect_tqdm())
    try:
        report = pipeline.run(config, progress=progress)
    finally:
        if bar is not None:
            bar.close()
        resources.close()
    # Rerun commands name the zone the run loaded in (the schema's), even when none was given.
    out.write(format_run_report(report, config.with_changes(time_zone=report.time_zone or None)))
    if report.stopped is not None:
        out.flush()
        raise report.stopped  # after the report: main() adds the one error line on stderr
    return report.exit_code


# Flags that configure a local load; a Glue run uses the job's own wiring instead.
_LOCAL_ONLY = ("warehouse", "stage", "keep_staged", "redshift_connection", "redshift_secret_id", "iam_role")


def _backfill_on_glue(args: argparse.Namespace, env: Mapping[str, str], out: IO[str]) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from genesys_etl.glue_backfill import run_glue_backfill
    from genesys_etl.report import GLUE_FORWARDED_FIELDS, backfill_commands, changed_settings

    if not args.job_name:
        raise ConfigError("--job-name", "backfill --on glue needs the Glue job's name (stack output JobName)")
    for name in _LOCAL_ONLY:
        if getattr(args, name, None) is not None:
            flag = "--" + name.replace("_", "-")
            raise ConfigError(flag, "not used with --on glue: the Glue job loads with its own settings")
    # Validate every flag here, before any Glue run starts (a typo would fail each run in AWS).
    config = _load_config(args, env, offline=True, trigger="backfill")
    start, end = config.date_range()
    arguments = {f"--{key}": value for key, value in changed_settings(config, GLUE_FORWARDED_FIELDS).items()}
    try:
        glue = boto3.client("glue", region_name=args.aws_region) if args.aws_region else boto3.client("glue")
        result = run_glue_backfill(
            glue,
            job_name=args.job_name,
            start_date=start,
            end_date=end,
            days_per_run=args.days_per_run,
            arguments=arguments,
            poll_seconds=args.poll_seconds,
            max_concurrent=args.max_concurrent,
            progress=lambda update: print(update.message, file=out, flush=True),
        )
    except (BotoCoreError, ClientError) as err:
        raise EtlError(f"AWS Glue: {err}; check --aws-region, AWS credentials and --job-name") from err
    if result.failed_ranges:
        out.write("failed ranges; rerun them with:\n")
        for command in backfill_commands(result.failed_ranges, config, glue_job=args.job_name):
            out.write(f"  {command}\n")
        return 1
    out.write("all Glue runs succeeded\n")
    return 0


def _cmd_plan(args: argparse.Namespace, env: Mapping[str, str], out: IO[str]) -> int:
    from genesys_etl.query import plan_bodies

    config = _load_config(args, env, offline=True)
    for body in plan_bodies(config):
        out.write(json.dumps(body) + "\n")
    for day in config.skipped_days():
        sys.stderr.write(f"note: {day} does not exist in {config.zone} (its clocks skipped it): not asked\n")
    return 0


def _cmd_lint(args: argparse.Namespace, env: Mapping[str, str], out: IO[str]) -> int:
    del env
    from genesys_etl.lint import format_problems, lint_bytes

    source = "stdin" if args.file == "-" else args.file
    try:
        if args.file == "-":
            data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
        else:
            with open(args.file, "rb") as handle:  # noqa: PTH123
                data = handle.read()
    except OSError as err:
        raise ConfigError("file", f"cannot read {source}: {err.strerror}") from err
    problems = lint_bytes(data)
    if not problems:
        out.write(f"{source}: OK — a valid aggregates query body\n")
        return 0
    out.write(format_problems(problems) + "\n")
    return 1


def _cmd_status(args: argparse.Namespace, env: Mapping[str, str], out: IO[str]) -> int:
    from genesys_etl.report import format_coverage
    from genesys_etl.warehouse import open_warehouse
    from genesys_etl.warehouse.base import resolve_zone
    from genesys_etl.windows import today_in

    # Without dates: the 30 days ending yesterday (the nightly range rule, with a longer lookback).
    defaults = {} if (args.start_date or args.end_date) else {"lookback_days": 30}
    config = _load_config(args, env, offline=True, **defaults)
    warehouse = open_warehouse(config, create=False)  # a read: never creates a warehouse or a table
    try:
        if not warehouse.has_schema():
            msg = (
                f"{config.warehouse} has no genesys-etl tables in schema {config.schema!r}; load some days "
                "first (genesys-etl run) or give the --schema you load into"
            )
            raise ConfigError("--schema", msg)
        binding = warehouse.zone_binding()
        zone = resolve_zone(binding, config.time_zone, schema=config.schema, flag="--time-zone")
        config = config.with_changes(time_zone=zone)
        start, end = config.date_range()
        stored = None if args.settle_days is not None else warehouse.stored_settle_days()
        settle_days = config.settle_days if stored is None else stored
        days = warehouse.coverage(start, end, settle_days=settle_days, today=today_in(zone), time_zone=zone)
    finally:
        warehouse.close()
    out.write(format_coverage(days, config))
    return 0


def _cmd_doctor(args: argparse.Namespace, env: Mapping[str, str], out: IO[str]) -> int:
    from genesys_etl.doctor import run_doctor

    config = _load_config(args, env)
    failed = 0
    for check in run_doctor(config):
        out.write(f"{check}\n")
        out.flush()
        failed += not check.ok
    out.write("all checks passed\n" if not failed else f"{failed} check(s) failed\n")
    return 1 if failed else 0


def _cmd_verify(args: argparse.Namespace, env: Mapping[str, str], out: IO[str]) -> int:
    from genesys_etl.client import GenesysClient
    from genesys_etl.report import merge_ranges
    from genesys_etl.verify import loaded_metrics, verify
    from genesys_etl.warehouse import SqlWarehouse, open_warehouse
    from genesys_etl.warehouse.base import resolve_zone

    fix = bool(args.fix)
    config = _load_config(args, env, trigger="manual")
    warehouse = open_warehouse(config, create=False)
    try:
        if not isinstance(warehouse, SqlWarehouse) or not warehouse.has_schema():
            raise ConfigError(
                "--schema", f"{config.warehouse} has no genesys-etl tables in schema {config.schema!r}"
            )
        warehouse.ensure_schema(store_settings=False)  # the verification tables (migration 004)
        zone = resolve_zone(
            warehouse.zone_binding(), config.time_zone, schema=config.schema, flag="--time-zone"
        )
        config = config.with_changes(time_zone=zone)
        start, end = config.date_range()
        metrics = list(config.metrics) if args.metrics else loaded_metrics(warehouse, start, end)
        if not metrics:
            metrics = list(config.metrics)
        with GenesysClient.from_config(config) as client:
            result = verify(config, warehouse, client, metrics=metrics)
            for day in result.days:
                out.write(f"{day}\n")
            out.write(result.summary() + "\n")
            if not fix or not result.differing_days:
                return 1 if result.differing_days else 0
            from genesys_etl import pipeline

            ranges = merge_ranges((d, d) for d in result.differing_days)
            for first, last in ranges:
                out.write(f"fixing {first}..{last}\n")
                fixing = config.with_changes(start_date=first, end_date=last, metrics=tuple(metrics))
                loaded = pipeline.run(fixing, client=client, warehouse=warehouse)  # guards and audit included
                if not loaded.ok:
                    reason = loaded.failed[0].error if loaded.failed else loaded.queue_error
                    out.write(f"the reload of {first}..{last} failed: {reason}\n")
                    return 1
            again = [
                verify(
                    config.with_changes(start_date=first, end_date=last), warehouse, client, metrics=metrics
                )
                for first, last in ranges
            ]
            out.write("after --fix:\n")
            for part in again:
                for day in part.days:
                    out.write(f"{day}\n")
            return 1 if any(part.differing_days for part in again) else 0
    finally:
        warehouse.close()


def _cmd_simulator(args: argparse.Namespace, env: Mapping[str, str], out: IO[str]) -> int:
    del env, out
    return _start_simulator(args.simulator_args)


def _subcommand_parser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    for action in parser._actions:  # argparse keeps its subparsers only here
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices[command]
            return found
    return parser


def _start_simulator(arguments: Sequence[str]) -> int:
    import genesys_sim

    return int(genesys_sim.main(list(arguments), prog="genesys-etl simulator") or 0)


def main(
    argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None, out: IO[str] | None = None
) -> int:
    """Entry point of the ``genesys-etl`` console script.

    Args:
        argv: arguments after the program name; ``sys.argv[1:]`` when None.
        env: environment for credentials; ``os.environ`` when None.
        out: where user-facing output goes; stdout when None.

    Returns:
        The exit status: 0 success, 1 a window or check failed, 2 bad input.
    """
    arguments = sys.argv[1:] if argv is None else list(argv)
    if arguments[:1] == ["simulator"]:
        # Everything after the word goes to the simulator's own parser (argparse would eat --port).
        return _start_simulator(arguments[1:])
    parser = build_parser()
    args, unknown = parser.parse_known_args(arguments)
    if unknown:
        # Name the subcommand's own --help (argparse would point at the top-level one).
        _subcommand_parser(parser, args.command).error(f"unrecognized arguments: {' '.join(unknown)}")
    level = getattr(logging, str(args.log_level).upper(), None)
    if not isinstance(level, int):
        sys.stderr.write(
            f"genesys-etl: error: --log-level: unknown level {args.log_level!r}; "
            "use DEBUG, INFO, WARNING or ERROR\n"
        )
        return 2
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    handler: Callable[[argparse.Namespace, Mapping[str, str], IO[str]], int] = args.handler
    if argv is None and threading.current_thread() is threading.main_thread():
        from genesys_etl.pipeline import stop_on_signals

        stop_on_signals()  # a real command line: SIGTERM/SIGINT end a run cleanly (exit 143/130)
    try:
        return handler(args, os.environ if env is None else env, sys.stdout if out is None else out)
    except EtlError as err:
        message = " ".join(str(err).split())  # one line, whatever a library put in it
        sys.stderr.write(f"genesys-etl {args.command}: error: {message}\n")
        return err.exit_code
    except RunInterrupted as err:
        sys.stderr.write(
            f"genesys-etl {args.command}: stopped by {err.signal_name}; the window in flight was rolled "
            "back and recorded failed, rerun the days the report lists\n"
        )
        return err.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("genesys-etl: interrupted\n")
        return 130
    except BrokenPipeError:
        # The reader went away (`plan | head -1`): end quietly, and keep Python's exit-time flush of
        # stdout from failing again (https://docs.python.org/3/library/signal.html#note-on-sigpipe).
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports a command ended by a closed pipe


if __name__ == "__main__":
    sys.exit(main())
