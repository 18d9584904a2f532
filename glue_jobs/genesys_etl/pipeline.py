"""One run of the job: config → windows → extract → transform → stage → load → queues → report."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from genesys_etl.client import GenesysClient
from genesys_etl.errors import (
    EtlError,
    GenesysAuthError,
    GenesysUnreachableError,
    RequestCancelledError,
    RunInterrupted,
    ShrinkGuardError,
)
from genesys_etl.query import build_query
from genesys_etl.stage import Stage, StagedWindow, open_stage
from genesys_etl.transform import Flattened, flatten_body
from genesys_etl.verify import fetch_genesys
from genesys_etl.warehouse import Warehouse, open_warehouse

if TYPE_CHECKING:
    from genesys_etl.config import Config
    from genesys_etl.windows import Window

log = logging.getLogger(__name__)

NOT_ATTEMPTED = "not attempted"
# Errors every later call of the run would repeat: the run stops at the first one (the later windows
# and the queue listing are reported as not attempted, with the command that reruns them).
_STOPS_RUN = (GenesysAuthError, GenesysUnreachableError)


@dataclass
class WindowReport:
    """What happened to one window.

    Attributes:
        window: the local days loaded.
        status: ``succeeded``, ``failed``, or ``not attempted`` (an earlier window stopped the run).
        api_calls: aggregate requests sent for it, retries included.
        retries: retried requests.
        rows: rows now in the warehouse for the window (0 when failed).
        seconds: wall time spent on it.
        unattributed_rows: metric rows Genesys returned without a queue (kept out of the queue grain).
        error: one-line reason when failed.
        timings: seconds per step (``extract``, ``transform``, ``stage``, ``load``) for the steps that ran.
        shrink: ``(rows before, rows answered)`` when the shrink guard refused the window.
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
    shrink: tuple[int, int] | None = None


@dataclass
class RunReport:
    """The outcome of a run: one entry per window plus the queue refresh.

    Attributes:
        run_id: the run's id.
        trigger: nightly, backfill or manual.
        windows: one report per window, in date order.
        queues_listed: queues in the listing, when it was refreshed.
        queue_error: why the queue refresh failed.
        seconds: wall time.
        stopped: what stopped the run early (refused credentials, unreachable host, SIGTERM/SIGINT).
        time_zone: the zone the run loaded in (the schema's).
        skipped_days: dates of the range that do not exist in the zone (never sent).
        verified: the range the nightly self-check compared with Genesys (``--verify-days``).
        verify_differs: loaded days of that range that no longer equal Genesys.
        verify_error: why the self-check could not run.
    """

    run_id: str
    trigger: str
    windows: list[WindowReport] = field(default_factory=list)
    queues_listed: int | None = None
    queue_error: str | None = None
    seconds: float = 0.0
    stopped: EtlError | RunInterrupted | None = None
    time_zone: str = ""
    skipped_days: list[date] = field(default_factory=list)
    verified: tuple[date, date] | None = None
    verify_differs: list[date] = field(default_factory=list)
    verify_error: str | None = None

    @property
    def failed(self) -> list[WindowReport]:
        """Windows that did not load."""
        return [w for w in self.windows if w.status != "succeeded"]

    @property
    def ok(self) -> bool:
        """True when every window loaded and the queue listing refreshed."""
        return (
            not self.failed
            and self.queue_error is None
            and self.stopped is None
            and not self.verify_differs
            and self.verify_error is None
        )

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
    zone_flag: str = "--time-zone",
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
        zone_flag: how to name the zone option in a refusal (``--time_zone`` for the Glue job).

    Returns:
        The run report. A failed window is recorded in ``load_runs`` and in the report; the others
        still load. Refused credentials or an unreachable Genesys host stop the run instead: the
        report's ``stopped`` holds the error, the later windows are ``not attempted`` and the queue
        listing is skipped.

        SIGTERM or SIGINT (``RunInterrupted``) stops it the same way: the window in flight rolls
        back and is recorded ``failed``.

    Raises:
        EtlError: the warehouse or stage cannot be opened, or the run's zone differs from the
            schema's (``ConfigError``, before any call to Genesys).
    """
    started = time.monotonic()
    report = RunReport(run_id=config.run_id, trigger=config.trigger)
    with ExitStack() as resources:
        if warehouse is None:
            warehouse = open_warehouse(config)
            resources.callback(warehouse.close)
        warehouse.ensure_schema()
        # One reporting zone per schema, settled before any call to Genesys (a refusal exits 2).
        config = config.with_changes(time_zone=warehouse.bind_time_zone(config.time_zone, flag=zone_flag))
        windows = config.windows(now)
        report.time_zone = config.zone
        report.skipped_days = config.skipped_days(now)
        log.info(
            "run %s (%s): %d day(s) %s..%s in %s, %d window(s) of <= %d day(s)",
            config.run_id,
            config.trigger,
            sum(w.day_count for w in windows),
            windows[0].start_date if windows else "-",
            windows[-1].end_date if windows else "-",
            config.zone,
            len(windows),
            config.days_per_query,
        )
        for day in report.skipped_days:
            log.warning("%s does not exist in %s (the clocks skipped it): nothing to load", day, config.zone)
        if client is None:
            client = resources.enter_context(GenesysClient.from_config(config))
        if stage is None:
            stage = open_stage(config.stage, config.run_id)
        plan = None
        if config.trigger == "nightly" and config.verify_days and windows:
            plan = _plan_verify(config, windows[0].start_date, warehouse, report)
        # The queue listing and the self-check's requests do not depend on this run's loads: they are
        # fetched alongside the windows, on two threads of their own.
        side = resources.enter_context(ThreadPoolExecutor(max_workers=2, thread_name_prefix="genesys-side"))
        # A stopped run ends the side requests' waits too (before the executor waits for them).
        resources.callback(lambda: client.cancel() if report.stopped is not None else None)
        fetched: dict[str, Any] = {}

        def alongside() -> None:
            fetched["queues"] = side.submit(lambda: list(client.list_queues()))
            if plan is not None:
                fetched["verify"] = {
                    w: side.submit(fetch_genesys, client, w, config.metrics) for w in plan.config.windows()
                }

        _load_windows(config, windows, client, warehouse, stage, now, report, progress, alongside)
        if report.stopped is None:
            try:
                _refresh_queues(client, warehouse, report, fetched.get("queues"))
                if plan is not None:
                    _verify(plan, client, warehouse, report, fetched.get("verify"))
            except RunInterrupted as stop:
                report.stopped, report.queue_error = stop, f"interrupted: {stop}"
    report.seconds = time.monotonic() - started
    log.info("run %s finished: %s", config.run_id, report.totals())
    return report


def stop_on_signals() -> None:
    """Make SIGTERM and SIGINT raise ``RunInterrupted`` in the main thread, so a run stops cleanly.

    Glue stops a job run (a stop request or its timeout) with SIGTERM (AWS Glue docs, "Stopping a job
    run"); Python's default would end the process at once, with no message and the window's
    ``load_runs`` row left ``running``. Raised instead, the window in flight rolls back and is
    recorded ``failed``, the report is printed, and the process exits 143 (130 for SIGINT).
    """

    def stop(signum: int, frame: object) -> None:
        del frame
        raise RunInterrupted(signal.Signals(signum).name, 128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


@dataclass
class _Fetched:
    """A worker's answer for one window: its report so far and the staged files, or what failed."""

    result: WindowReport
    staged: StagedWindow | None = None
    fatal: EtlError | RunInterrupted | None = None
    cancelled: bool = False  # the run stopped before the request was sent


class _Pending:
    """A window handed to a worker: its load id and the future of its ``_Fetched``."""

    def __init__(self, window: Window, load_id: str | None, future: Future[_Fetched] | None) -> None:
        self.window = window
        self.load_id = load_id
        self.future = future


def _load_windows(
    config: Config,
    windows: list[Window],
    client: GenesysClient,
    warehouse: Warehouse,
    stage: Stage,
    now: datetime | None,
    report: RunReport,
    progress: ProgressCallback | None,
    alongside: Callable[[], None] = lambda: None,
) -> None:
    """Fetch up to ``max_concurrent_queries`` windows at once and load them one by one, in date order.

    Workers extract, flatten and stage. An answer of the documented shape is read as Arrow columns
    (``transform.flatten_body``, outside the GIL, so two cores parse at once); any other is decoded
    as objects, one window at a time (``gate``), so memory holds at most one decoded answer however
    many requests are in flight. This thread owns the
    warehouse: it records each window's start, then loads the windows in date order, each in its
    own transaction, while the next ones are fetched. At most ``max_concurrent_queries + 1`` windows
    are unloaded at any time (one more than in flight, so a load never leaves the API idle).

    The first window goes alone: refused credentials or an unreachable host then stop the run after
    one request, exactly as one window at a time would; the others follow once it has an answer.
    """
    workers = max(1, min(config.max_concurrent_queries, len(windows)))
    gate = threading.Lock()
    planned = deque(windows)
    unloaded: deque[_Pending] = deque()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="genesys-fetch")
    limit = 1  # windows unloaded at once: 1 until the first answer, then workers + 1

    def top_up() -> None:
        while planned and len(unloaded) < limit and report.stopped is None:
            unloaded.append(_submit(config, planned.popleft(), client, warehouse, stage, now, gate, pool))

    top_up()
    alongside()  # they wait for the first window's token like any request: a refused one sends nothing
    try:
        while unloaded or (planned and report.stopped is None):
            top_up()
            # The next window in date order stays in `unloaded` until reported (an interrupt finds it).
            fetched = _wait(unloaded[0], client, report)
            if limit == 1:
                limit = workers + 1
                top_up()  # before this window's load: the others are fetched meanwhile
            result = _finish(config, unloaded[0], fetched, client, warehouse, stage, report)
            unloaded.popleft()
            report.windows.append(result)
            if progress is not None:
                progress(result)
    except (RunInterrupted, KeyboardInterrupt) as err:
        # Outside a window's own handling (waiting for a worker, between steps): stop the same way.
        stop = err if isinstance(err, RunInterrupted) else RunInterrupted("SIGINT", 130)
        report.stopped = report.stopped or stop
        client.cancel()
        reported = {w.window for w in report.windows}
        for pending in unloaded:
            if pending.window not in reported:
                report.windows.append(_abandon(pending, warehouse, stage, report))
        unloaded.clear()
    finally:
        if report.stopped is not None:
            client.cancel()  # queued retries and budget waits end now; requests on the wire finish
        pool.shutdown(wait=True, cancel_futures=True)
    for window in planned:
        report.windows.append(WindowReport(window=window, status=NOT_ATTEMPTED))
    report.windows.sort(key=lambda w: w.window.start_date)


def _submit(
    config: Config,
    window: Window,
    client: GenesysClient,
    warehouse: Warehouse,
    stage: Stage,
    now: datetime | None,
    gate: threading.Lock,
    pool: ThreadPoolExecutor,
) -> _Pending:
    """Record the window's start in ``load_runs`` and hand it to a worker."""
    try:
        load_id = warehouse.start_load(run_id=config.run_id, trigger=config.trigger, window=window)
    except EtlError as err:
        failed = WindowReport(window=window, status="failed", error=str(err))
        done: Future[_Fetched] = Future()
        done.set_result(_Fetched(result=failed))
        return _Pending(window, None, done)
    future = pool.submit(_fetch_window, config, window, load_id, client, stage, now, gate)
    return _Pending(window, load_id, future)


def _fetch_window(
    config: Config,
    window: Window,
    load_id: str,
    client: GenesysClient,
    stage: Stage,
    now: datetime | None,
    gate: threading.Lock,
) -> _Fetched:
    """Worker: extract, transform and stage one window; return its failure instead of raising it."""
    started = time.monotonic()
    before = client.thread_stats
    result = WindowReport(window=window, status="failed")
    fetched = _Fetched(result=result)
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now_clock = time.perf_counter()
        result.timings[step] = now_clock - clock
        clock = now_clock

    try:
        loaded_at = now if now is not None else datetime.now(tz=UTC)

        def parse(content: bytes, decode: Callable[[], dict[str, Any]]) -> Flattened:
            lap("extract")
            return flatten_body(
                content, window, load_id=load_id, loaded_at=loaded_at, decode=decode, gate=gate
            )

        flat = client.query_aggregates_with(build_query(window, config.metrics), parse)
        result.unattributed_rows = flat.unattributed_rows
        lap("transform")
        fetched.staged = stage.write_window(flat.table, window)
        del flat  # memory stays bounded by the windows in flight
        pa.default_memory_pool().release_unused()  # Arrow's allocator keeps freed pages otherwise
        lap("stage")
    except _STOPS_RUN as err:
        # Every later call would fail the same way: stop the other workers' queued requests now.
        fetched.fatal = err
        result.error = str(err)
        client.cancel()
    except RequestCancelledError:
        fetched.cancelled = True
    except EtlError as err:
        result.error = str(err)
    except Exception as err:
        log.exception("window %s: unexpected error", window)
        result.error = f"{type(err).__name__}: {err}"
    after = client.thread_stats
    result.api_calls = after.api_calls - before.api_calls
    result.retries = after.retries - before.retries
    result.seconds = time.monotonic() - started
    return fetched


def _wait(pending: _Pending, client: GenesysClient, report: RunReport) -> _Fetched | None:
    """Wait for a window's worker; None when the run stopped first (an earlier window, a signal)."""
    if report.stopped is not None:
        return None
    assert pending.future is not None
    try:
        fetched = pending.future.result()
    except (RunInterrupted, KeyboardInterrupt) as err:
        report.stopped = err if isinstance(err, RunInterrupted) else RunInterrupted("SIGINT", 130)
        client.cancel()
        return None
    if fetched.fatal is not None:
        report.stopped = fetched.fatal
        client.cancel()
    return fetched


def _finish(
    config: Config,
    pending: _Pending,
    fetched: _Fetched | None,
    client: GenesysClient,
    warehouse: Warehouse,
    stage: Stage,
    report: RunReport,
) -> WindowReport:
    """Load what a window's worker staged (this thread owns the warehouse), or record why not."""
    if fetched is None or fetched.cancelled:
        return _abandon(pending, warehouse, stage, report)
    result = fetched.result
    if fetched.fatal is None and fetched.staged is not None:
        _load_staged(config, pending, fetched.staged, warehouse, result, report)
        if result.status == "succeeded" and not config.keep_staged:
            _remove_staged(stage, fetched.staged, pending.window)
        if report.stopped is not None:
            client.cancel()
    if result.status == "failed":
        if fetched.fatal is None and not isinstance(report.stopped, RunInterrupted):
            log.error("window %s failed: %s", pending.window, result.error)
        if pending.load_id is not None:
            _record_failure(warehouse, pending.load_id, result)
    else:
        log.info(
            "window %s: %d day(s), %d call(s), %d retr%s, %d rows, %.2fs",
            pending.window,
            pending.window.day_count,
            result.api_calls,
            result.retries,
            "y" if result.retries == 1 else "ies",
            result.rows,
            result.seconds,
        )
    return result


def _load_staged(
    config: Config,
    pending: _Pending,
    staged: StagedWindow,
    warehouse: Warehouse,
    result: WindowReport,
    report: RunReport,
) -> None:
    """Replace the window's cells with its staged rows, in one transaction; record what happened."""
    assert pending.load_id is not None
    started = time.perf_counter()
    try:
        result.rows = warehouse.replace_window(
            load_id=pending.load_id,
            window=pending.window,
            metrics=config.metrics,
            staged=staged,
            api_calls=result.api_calls,
            retries=result.retries,
            shrink_limit=None if config.allow_shrink else config.shrink_limit,
        )
        result.status = "succeeded"
    except (RunInterrupted, KeyboardInterrupt) as err:
        # Glue stops a job (stop request, timeout) with SIGTERM: the transaction in flight has rolled
        # back (SqlWarehouse._transaction); record why, then stop the run.
        stop = err if isinstance(err, RunInterrupted) else RunInterrupted("SIGINT", 130)
        report.stopped = stop
        result.error = f"interrupted: {stop} before the window committed; its old rows stay"
    except ShrinkGuardError as err:
        result.shrink = (err.rows_before, err.rows_after)
        result.error = str(err)
    except EtlError as err:
        result.error = str(err)
    except Exception as err:
        log.exception("window %s: unexpected error", pending.window)
        result.error = f"{type(err).__name__}: {err}"
    result.timings["load"] = time.perf_counter() - started
    result.seconds += result.timings["load"]


def _abandon(pending: _Pending, warehouse: Warehouse, stage: Stage, report: RunReport) -> WindowReport:
    """A window the run stopped before loading: its old rows stay, its staged files go.

    A window whose request was never sent is ``not attempted``; one already fetched (or failed) is
    ``failed`` with the reason. Both are recorded failed in ``load_runs`` and in the rerun command.
    """
    future = pending.future
    fetched: _Fetched | None = None
    attempted = future is not None and not future.cancel()
    if future is not None and attempted:
        try:
            fetched = future.result()
        except BaseException:  # noqa: BLE001 - the run is already stopping; this window is not loaded
            fetched = None
    if fetched is not None and fetched.staged is not None:
        _remove_staged(stage, fetched.staged, pending.window)
    if not attempted or (fetched is not None and fetched.cancelled):
        result = WindowReport(window=pending.window, status=NOT_ATTEMPTED)
        if pending.load_id is not None:
            error = f"not attempted: the run stopped ({report.stopped or 'a later window failed'})"
            _record_failure(warehouse, pending.load_id, result, error=error)
        return result
    result = fetched.result if fetched is not None else WindowReport(window=pending.window, status="failed")
    result.status = "failed"
    if result.error is None and isinstance(report.stopped, RunInterrupted):
        result.error = f"interrupted: {report.stopped} before the window committed; its old rows stay"
    elif result.error is None:
        result.error = f"not loaded: the run stopped ({report.stopped}); its old rows stay"
    if pending.load_id is not None:
        _record_failure(warehouse, pending.load_id, result)
    return result


def _remove_staged(stage: Stage, staged: StagedWindow, window: Window) -> None:
    """Remove a loaded window's staged files; the load is committed, so a failure here only warns."""
    try:
        stage.remove(staged)
    except Exception as err:  # noqa: BLE001 - the data is loaded; leftovers expire (S3 lifecycle rule)
        log.warning("window %s: loaded, but its staged files were not removed: %s", window, err)


def _record_failure(
    warehouse: Warehouse, load_id: str, result: WindowReport, error: str | None = None
) -> None:
    """Mark the window's load_runs row failed; a broken warehouse must not hide the first error."""
    try:
        warehouse.fail_load(
            load_id,
            error=error or result.error or "unknown error",
            api_calls=result.api_calls,
            retries=result.retries,
        )
    except Exception:
        log.warning("window %s: could not record the failure in load_runs", result.window, exc_info=True)


@dataclass
class _VerifyPlan:
    """The nightly self-check's range and the loaded days in it."""

    config: Config
    loaded: set[date]


def _plan_verify(
    config: Config, lookback_start: date, warehouse: Warehouse, report: RunReport
) -> _VerifyPlan | None:
    """Nightly self-check: which of the ``verify_days`` days just older than the lookback are loaded.

    Genesys can still correct a day after the nightly lookback stopped re-pulling it; without the check
    the warehouse would keep the old numbers silently. Days never loaded are not differences, and this
    run loads none of these days, so they are known before it starts.
    """
    from genesys_etl.warehouse import SqlWarehouse
    from genesys_etl.windows import today_in

    end = lookback_start - timedelta(days=1)
    start = end - timedelta(days=config.verify_days - 1)
    report.verified = (start, end)
    if not isinstance(warehouse, SqlWarehouse):
        report.verify_error = "this warehouse cannot record verifications"
        return None
    try:
        coverage = warehouse.coverage(
            start, end, settle_days=config.settle_days, today=today_in(config.zone), time_zone=config.zone
        )
    except EtlError as err:
        report.verify_error = str(err)
        log.error("verify %s..%s failed: %s", start, end, err)
        return None
    loaded = {d.day for d in coverage if d.status in ("loaded", "provisional")}
    if not loaded:
        log.info("verify %s..%s: no loaded day to compare", start, end)
        return None
    return _VerifyPlan(config=config.with_changes(start_date=start, end_date=end), loaded=loaded)


def _verify(
    plan: _VerifyPlan,
    client: GenesysClient,
    warehouse: Warehouse,
    report: RunReport,
    prefetched: dict[Window, Future[tuple[pa.Table, int]]] | None,
) -> None:
    """Compare the planned days with Genesys (answers fetched meanwhile when ``prefetched``)."""
    from genesys_etl.verify import verify
    from genesys_etl.warehouse import SqlWarehouse

    assert isinstance(warehouse, SqlWarehouse)
    assert plan.config.start_date is not None
    assert plan.config.end_date is not None
    start, end = plan.config.start_date, plan.config.end_date

    def fetch(window: Window) -> tuple[pa.Table, int]:
        if prefetched is not None and window in prefetched:
            return prefetched[window].result()
        return fetch_genesys(client, window, plan.config.metrics)

    try:
        checked = verify(plan.config, warehouse, client, metrics=plan.config.metrics, fetch=fetch)
    except EtlError as err:
        report.verify_error = str(err)
        log.error("verify %s..%s failed: %s", start, end, err)
        return
    report.verify_differs = [day for day in checked.differing_days if day in plan.loaded]
    if report.verify_differs:
        log.error("verify %s..%s: %d day(s) differ from Genesys", start, end, len(report.verify_differs))
    else:
        log.info("verify %s..%s: %s", start, end, checked.summary())


def _refresh_queues(
    client: GenesysClient,
    warehouse: Warehouse,
    report: RunReport,
    listing: Future[list[dict[str, Any]]] | None = None,
) -> None:
    """Refresh the queue dimension from the listing (names, divisions, active flag).

    ``listing`` is the listing fetched meanwhile; without it the queues are listed now.
    """
    try:
        queues = listing.result() if listing is not None else list(client.list_queues())
        warehouse.refresh_queues(queues, datetime.now(tz=UTC))
        report.queues_listed = len(queues)
        log.info("queues: %d listed", len(queues))
    except EtlError as err:
        report.queue_error = str(err)
        if isinstance(err, _STOPS_RUN):
            report.stopped = err
            return
        log.error("queue refresh failed: %s", err)
