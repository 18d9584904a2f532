"""One run of the job: config → windows → extract → transform → stage → load → queues → report."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from genesys_etl.client import GenesysClient
from genesys_etl.errors import EtlError, GenesysAuthError
from genesys_etl.query import build_query
from genesys_etl.stage import Stage, StagedWindow, open_stage
from genesys_etl.transform import flatten_response
from genesys_etl.warehouse import Warehouse, open_warehouse

if TYPE_CHECKING:
    from genesys_etl.config import Config
    from genesys_etl.windows import Window

log = logging.getLogger(__name__)


@dataclass
class WindowReport:
    """What happened to one window.

    Attributes:
        window: the local days loaded.
        status: ``succeeded`` or ``failed``.
        api_calls: aggregate requests sent for it, retries included.
        retries: retried requests.
        rows: rows now in the warehouse for the window (0 when failed).
        seconds: wall time spent on it.
        unattributed_rows: metric rows Genesys returned without a queue (kept out of the queue grain).
        error: one-line reason when failed.
        timings: seconds per step (``extract``, ``transform``, ``stage``, ``load``) for the steps that ran.
    """

    window: Window
    status: str
    api_calls: int = 0
    retries: int = 0
    rows: int = 0
    seconds: float = 0.0
    unattributed_rows: int = 0
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class RunReport:
    """The outcome of a run: one entry per window plus the queue refresh."""

    run_id: str
    trigger: str
    windows: list[WindowReport] = field(default_factory=list)
    queues_listed: int | None = None
    queue_error: str | None = None
    seconds: float = 0.0

    @property
    def failed(self) -> list[WindowReport]:
        """Windows that did not load."""
        return [w for w in self.windows if w.status != "succeeded"]

    @property
    def ok(self) -> bool:
        """True when every window loaded and the queue listing refreshed."""
        return not self.failed and self.queue_error is None

    @property
    def exit_code(self) -> int:
        """Process exit status for this report: 0 only when everything loaded."""
        return 0 if self.ok else 1

    def totals(self) -> dict[str, float]:
        """Sum of the per-window figures."""
        return {
            "windows": len(self.windows),
            "days": sum(w.window.day_count for w in self.windows),
            "api_calls": sum(w.api_calls for w in self.windows),
            "retries": sum(w.retries for w in self.windows),
            "rows": sum(w.rows for w in self.windows),
            "unattributed_rows": sum(w.unattributed_rows for w in self.windows),
            "failed": len(self.failed),
            "seconds": round(self.seconds, 3),
        }


ProgressCallback = Callable[[WindowReport], None]


def run(
    config: Config,
    *,
    client: GenesysClient | None = None,
    warehouse: Warehouse | None = None,
    stage: Stage | None = None,
    progress: ProgressCallback | None = None,
    now: datetime | None = None,
) -> RunReport:
    """Run the job for the configured dates: every window independently, then the queue refresh.

    Args:
        config: the validated configuration.
        client: a Genesys client to use instead of one built from ``config`` (tests).
        warehouse: a warehouse to use instead of ``open_warehouse(config)`` (Glue, tests).
        stage: a stage to use instead of ``open_stage(config.stage, …)``.
        progress: called after each window with its report.
        now: the run's clock: plans the nightly range and stamps ``loaded_at`` (tests move it); the
            real clock when None.

    Returns:
        The run report. A failed window is recorded in ``load_runs`` and in the report; the others
        still load.

    Raises:
        EtlError: what stops the whole run: the warehouse or stage cannot be opened, or Genesys refuses
            the credentials (``GenesysAuthError``, after recording the window it happened in as failed).
    """
    started = time.monotonic()
    windows = config.windows(now)
    report = RunReport(run_id=config.run_id, trigger=config.trigger)
    log.info(
        "run %s (%s): %d day(s) %s..%s in %s, %d window(s) of <= %d day(s)",
        config.run_id,
        config.trigger,
        sum(w.day_count for w in windows),
        windows[0].start_date if windows else "-",
        windows[-1].end_date if windows else "-",
        config.time_zone,
        len(windows),
        config.days_per_query,
    )
    with ExitStack() as resources:
        if client is None:
            client = resources.enter_context(GenesysClient.from_config(config))
        if warehouse is None:
            warehouse = open_warehouse(config)
            resources.callback(warehouse.close)
        if stage is None:
            stage = open_stage(config.stage, config.run_id)
        warehouse.ensure_schema()
        for window in windows:
            window_report = _load_window(config, window, client, warehouse, stage, now)
            report.windows.append(window_report)
            if progress is not None:
                progress(window_report)
        _refresh_queues(client, warehouse, report)
    report.seconds = time.monotonic() - started
    log.info("run %s finished: %s", config.run_id, report.totals())
    return report


def _load_window(
    config: Config,
    window: Window,
    client: GenesysClient,
    warehouse: Warehouse,
    stage: Stage,
    now: datetime | None,
) -> WindowReport:
    """Extract, transform, stage and load one window; record a failure instead of raising it."""
    started = time.monotonic()
    calls_before, retries_before = client.stats.api_calls, client.stats.retries
    result = WindowReport(window=window, status="failed")
    load_id: str | None = None
    fatal: GenesysAuthError | None = None
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now_clock = time.perf_counter()
        result.timings[step] = now_clock - clock
        clock = now_clock

    try:
        load_id = warehouse.start_load(run_id=config.run_id, trigger=config.trigger, window=window)
        response = client.query_aggregates(build_query(window, config.metrics))
        lap("extract")
        loaded_at = now if now is not None else datetime.now(tz=UTC)
        flat = flatten_response(response, window, load_id=load_id, loaded_at=loaded_at)
        del response  # memory stays bounded by one window's table
        result.unattributed_rows = flat.unattributed_rows
        lap("transform")
        staged = stage.write_window(flat.table, window)
        lap("stage")
        result.api_calls = client.stats.api_calls - calls_before
        result.retries = client.stats.retries - retries_before
        result.rows = warehouse.replace_window(
            load_id=load_id, window=window, staged=staged, api_calls=result.api_calls, retries=result.retries
        )
        lap("load")
        result.status = "succeeded"
    except GenesysAuthError as err:
        # Refused credentials fail every later call too: record this window, then stop the run.
        fatal = err
        result.error = str(err)
    except EtlError as err:
        result.error = str(err)
    except Exception as err:
        log.exception("window %s: unexpected error", window)
        result.error = f"{type(err).__name__}: {err}"
    if result.status == "succeeded" and not config.keep_staged:
        _remove_staged(stage, staged, window)
    result.api_calls = client.stats.api_calls - calls_before
    result.retries = client.stats.retries - retries_before
    result.seconds = time.monotonic() - started
    if result.status == "failed":
        if fatal is None:  # a fatal error is raised below and reported once by the caller
            log.error("window %s failed: %s", window, result.error)
        if load_id is not None:
            _record_failure(warehouse, load_id, result)
        if fatal is not None:
            raise fatal
    else:
        log.info(
            "window %s: %d day(s), %d call(s), %d retr%s, %d rows, %.2fs",
            window,
            window.day_count,
            result.api_calls,
            result.retries,
            "y" if result.retries == 1 else "ies",
            result.rows,
            result.seconds,
        )
    return result


def _remove_staged(stage: Stage, staged: StagedWindow, window: Window) -> None:
    """Remove a loaded window's staged files; the load is committed, so a failure here only warns."""
    try:
        stage.remove(staged)
    except Exception as err:  # noqa: BLE001 - the data is loaded; leftovers expire (S3 lifecycle rule)
        log.warning("window %s: loaded, but its staged files were not removed: %s", window, err)


def _record_failure(warehouse: Warehouse, load_id: str, result: WindowReport) -> None:
    """Mark the window's load_runs row failed; a broken warehouse must not hide the first error."""
    try:
        warehouse.fail_load(
            load_id, error=result.error or "unknown error", api_calls=result.api_calls, retries=result.retries
        )
    except Exception:
        log.warning("window %s: could not record the failure in load_runs", result.window, exc_info=True)


def _refresh_queues(client: GenesysClient, warehouse: Warehouse, report: RunReport) -> None:
    """Refresh the queue dimension from the listing (names, divisions, active flag)."""
    try:
        queues = list(client.list_queues())
        warehouse.refresh_queues(queues, datetime.now(tz=UTC))
        report.queues_listed = len(queues)
        log.info("queues: %d listed", len(queues))
    except GenesysAuthError:
        raise
    except EtlError as err:
        report.queue_error = str(err)
        log.error("queue refresh failed: %s", err)
