"""What a person reads after a run or a status check: summary tables and ready-to-run commands."""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from genesys_etl.config import DEFAULT_REGION

if TYPE_CHECKING:
    from genesys_etl.config import Config
    from genesys_etl.pipeline import RunReport


def format_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Render rows as a plain fixed-width text table.

    Args:
        headers: column titles.
        rows: cell values (rendered with ``str``; None as ``-``).

    Returns:
        The table, one line per row, ending with a newline.
    """
    cells = [[("-" if value is None else str(value)) for value in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells)
    return "\n".join(line.rstrip() for line in lines) + "\n"


def format_run_report(report: RunReport, config: Config, *, glue_job: str | None = None) -> str:
    """Summarise a run: one line per window, the totals, and how to rerun what failed.

    Args:
        report: the pipeline's report.
        config: the run's configuration (for the rerun command).
        glue_job: the Glue job's name when the run was one (the rerun starts Glue runs).

    Returns:
        Text for the terminal.
    """
    rows: list[tuple[Any, ...]] = [
        (
            str(item.window),
            item.window.day_count,
            item.api_calls,
            item.retries,
            item.rows,
            f"{item.seconds:.2f}",
            _short_status(item),
        )
        for item in report.windows
    ]
    totals = report.totals()
    rows.append(
        (
            "total",
            totals["days"],
            totals["api_calls"],
            totals["retries"],
            totals["rows"],
            f"{report.seconds:.2f}",
            "ok" if report.ok else _failed_summary(report),
        )
    )
    text = format_table(("window", "days", "api calls", "retries", "rows", "seconds", "status"), rows)
    # The table keeps one short line per window; the whole reasons follow it (and are in load_runs).
    for item in report.windows:
        if item.error:
            text += f"{item.window}: {' '.join(item.error.split())}\n"
    if totals["unattributed_rows"]:
        text += (
            f"{totals['unattributed_rows']} metric row(s) came back without a queue "
            "(e.g. IVR time before any queue) and were kept out of the queue tables.\n"
        )
    if report.queue_error:
        text += f"queue listing failed: {report.queue_error}\n"
    elif report.queues_listed is not None:
        text += f"queues listed: {report.queues_listed}\n"
    if report.stopped is not None:
        reason = " ".join(str(report.stopped).split())
        skipped = "" if report.queue_error else "; the later windows and the queue listing were not attempted"
        text += f"the run stopped: {reason}{skipped}\n"
    if report.verified is not None:
        first, last = report.verified
        if report.verify_error:
            text += f"verify {first}..{last} could not run: {report.verify_error}\n"
        elif report.verify_differs:
            listed = ", ".join(str(day) for day in report.verify_differs)
            count = len(report.verify_differs)
            text += f"verify {first}..{last}: {count} day(s) no longer equal Genesys: {listed}\n"
            text += "reload exactly those days with:\n"
            text += "".join(
                f"  {command}\n"
                for command in verify_commands(
                    merge_ranges((day, day) for day in report.verify_differs), config
                )
            )
        else:
            text += f"verify {first}..{last}: the loaded days equal Genesys\n"
    for day in report.skipped_days:
        text += f"{day} does not exist in {report.time_zone} (the clocks skipped it): not asked for\n"
    failed = [(item.window.start_date, item.window.end_date) for item in report.failed if item.shrink is None]
    if failed:
        text += "rerun the failed days with:\n"
        text += "".join(
            f"  {command}\n" for command in backfill_commands(merge_ranges(failed), config, glue_job=glue_job)
        )
    shrunk = [(item.window.start_date, item.window.end_date) for item in report.failed if item.shrink]
    if shrunk:
        text += (
            "the shrink guard kept the old rows of these days; once you have checked that Genesys "
            "really has fewer rows now, force the reload with:\n"
        )
        commands = backfill_commands(merge_ranges(shrunk), config, glue_job=glue_job, force_shrink=True)
        text += "".join(f"  {command}\n" for command in commands)
    return text


def _failed_summary(report: RunReport) -> str:
    skipped = sum(1 for item in report.windows if item.status == "not attempted")
    failed = len(report.failed) - skipped
    return f"{failed} window(s) failed" + (f", {skipped} not attempted" if skipped else "")


def _short_status(item: Any) -> str:
    """The status cell of a window: a word or two, never the whole error (that follows the table)."""
    if item.error is None:
        return str(item.status)
    if item.shrink is not None:
        return f"{item.status}: shrink guard"
    head = " ".join(item.error.split())
    return f"{item.status}: {head[:29]}…" if len(head) > 30 else f"{item.status}: {head}"


def merge_ranges(ranges: Iterable[tuple[date, date]]) -> list[tuple[date, date]]:
    """Merge inclusive date ranges that touch or overlap.

    Args:
        ranges: inclusive ``(start, end)`` pairs.

    Returns:
        Sorted, merged ranges.
    """
    merged: list[tuple[date, date]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + timedelta(days=1):
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


# Config fields that change what a rerun loads or where it loads it, as CLI flags (never credentials).
_RERUN_FIELDS: tuple[str, ...] = (
    "time_zone",
    "days_per_query",
    "metrics",
    "settle_days",
    "schema",
    "warehouse",
    "stage",
    "redshift_connection",
    "redshift_secret_id",
    "iam_role",
    "requests_per_minute",
    "max_concurrent_queries",
    "max_retry_wait",
    "allow_shrink",
    "shrink_limit",
)
# Boolean fields: a CLI flag without a value (``--allow-shrink``), ``true`` as a Glue argument.
_SWITCH_FIELDS: frozenset[str] = frozenset({"allow_shrink"})
# The subset a Glue job run accepts (the rest is the job's own wiring).
GLUE_FORWARDED_FIELDS: tuple[str, ...] = (
    "time_zone",
    "days_per_query",
    "metrics",
    "settle_days",
    "schema",
    "requests_per_minute",
    "max_concurrent_queries",
    "max_retry_wait",
    "allow_shrink",
    "shrink_limit",
)


def changed_settings(config: Config, fields: Sequence[str] = _RERUN_FIELDS) -> dict[str, str]:
    """Return the config fields that differ from their defaults, as strings, plus the Genesys endpoint.

    Args:
        config: the run's configuration.
        fields: which fields to consider.

    Returns:
        ``{field: value}`` for every non-default field (metrics comma-joined); ``region`` when it is
        not the default one, or ``api_url``/``login_url`` when explicit base URLs were given.
    """
    defaults = {f.name: f.default for f in dataclasses.fields(config)}
    changed: dict[str, str] = {}
    for name in fields:
        value = getattr(config, name)
        if value is None or value == defaults.get(name):
            continue
        if isinstance(value, bool):
            changed[name] = "true" if value else "false"
        else:
            changed[name] = ",".join(value) if isinstance(value, tuple) else str(value)
    if config.region is None:
        changed["api_url"] = config.api_url
        derived = {config.api_url, config.api_url.replace("://api.", "://login.", 1)}
        if config.login_url not in derived:
            changed["login_url"] = config.login_url
    elif config.region != DEFAULT_REGION:
        changed["region"] = config.region
    return changed


def backfill_commands(
    ranges: Iterable[tuple[date, date]],
    config: Config,
    *,
    glue_job: str | None = None,
    force_shrink: bool = False,
) -> list[str]:
    """Ready-to-run ``genesys-etl backfill`` commands for date ranges, with every flag that matters.

    Args:
        ranges: inclusive date ranges to load.
        config: the configuration whose settings the commands keep (never its credentials).
        glue_job: when the run was a Glue job, the job's name: the commands start Glue runs of it.
        force_shrink: add ``--allow-shrink`` (reloads the shrink guard refused).

    Returns:
        One command line per range.
    """
    if glue_job is not None:
        settings_ = changed_settings(config, GLUE_FORWARDED_FIELDS)
        prefix = f"genesys-etl backfill --on glue --job-name {shlex.quote(glue_job)}"
    else:
        settings_ = changed_settings(config)
        prefix = "genesys-etl backfill"
    if force_shrink:
        settings_["allow_shrink"] = "true"
    extra = "".join(
        f" --{name.replace('_', '-')}" + ("" if name in _SWITCH_FIELDS else f" {shlex.quote(value)}")
        for name, value in settings_.items()
    )
    return [
        f"{prefix} --start-date {start.isoformat()} --end-date {end.isoformat()}{extra}"
        for start, end in ranges
    ]


def verify_commands(ranges: Iterable[tuple[date, date]], config: Config) -> list[str]:
    """Ready-to-run ``genesys-etl verify … --fix`` commands for date ranges, with every setting that matters.

    Args:
        ranges: inclusive date ranges.
        config: the configuration whose settings the commands keep (never its credentials).

    Returns:
        One command line per range.
    """
    return [
        command.replace("genesys-etl backfill", "genesys-etl verify", 1) + " --fix"
        for command in backfill_commands(ranges, config)
    ]


def format_coverage(days: Sequence[Any], config: Config) -> str:
    """Render per-day coverage and end with the backfill command for the missing days.

    Args:
        days: ``DayCoverage`` items (day, status, rows, last_loaded_at).
        config: the configuration (zone, warehouse, schema).

    Returns:
        Text for the terminal.
    """
    zone = config.zone
    mixed = [item for item in days if any(z != zone for z in getattr(item, "zones", ()))]
    rows = [
        (
            item.day.isoformat(),
            "skipped (not a day in this zone)" if item.status == "nonexistent" else item.status,
            item.rows,
            item.last_loaded_at.isoformat(timespec="seconds") if item.last_loaded_at else None,
        )
        for item in days
    ]
    text = f"schema {config.schema}, days local to {zone}\n"
    text += format_table(("day", "status", "rows", "last load (UTC)"), rows)
    counts = {
        status: sum(1 for item in days if item.status == status)
        for status in ("loaded", "provisional", "missing", "nonexistent")
    }
    text += f"{counts['loaded']} loaded, {counts['provisional']} provisional, {counts['missing']} missing"
    text += f", {counts['nonexistent']} not in {zone}\n" if counts["nonexistent"] else "\n"
    if mixed:
        other = sorted({z for item in mixed for z in item.zones if z != zone})
        text += (
            f"{len(mixed)} day(s) hold rows loaded in {', '.join(other)}, not in the schema's zone {zone}: "
            "their totals overlap neighbouring days. Reload them in the schema's zone with:\n"
        )
        ranges = merge_ranges((item.day, item.day) for item in mixed)
        text += "".join(f"  {command}\n" for command in backfill_commands(ranges, config))
    missing = merge_ranges((item.day, item.day) for item in days if item.status == "missing")
    if missing:
        text += "load the missing days with:\n"
        text += "".join(f"  {command}\n" for command in backfill_commands(missing, config))
    return text
