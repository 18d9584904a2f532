"""Every exception the job raises on purpose, each with a one-line message a person can act on."""

from __future__ import annotations


class EtlError(Exception):
    """Base of the job's own errors; ``str(err)`` is one line naming the problem and the fix."""

    exit_code = 1


class ConfigError(EtlError):
    """Invalid configuration, found before any network call.

    Args:
        field: the flag or argument at fault, e.g. ``--start-date``.
        message: what is wrong and how to fix it.
    """

    exit_code = 2

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class GenesysApiError(EtlError):
    """A non-retryable answer from Genesys Cloud (or retries exhausted). Never carries a token."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        correlation_id: str | None = None,
        url_path: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.correlation_id = correlation_id
        self.url_path = url_path
        parts = [f"Genesys API error{f' {status}' if status else ''}"]
        if code:
            parts.append(f"code={code}")
        if url_path:
            parts.append(f"on {url_path}")
        if correlation_id:
            parts.append(f"correlation id {correlation_id}")
        self.message = message
        super().__init__(f"{' '.join(parts)}: {message}")


class GenesysAuthError(GenesysApiError):
    """Credentials rejected (401/403) by the login or API host."""


class RetryBudgetExceededError(GenesysApiError):
    """Genesys asked us to wait longer than allowed, or retries ran out."""


class GenesysUnreachableError(EtlError):
    """The host does not resolve or refuses the connection: every later call of the run would too.

    Args:
        message: names the host and what to check.
        host: the host that could not be reached (``host:port`` for a refused connection).
    """

    def __init__(self, message: str, *, host: str) -> None:
        self.host = host
        super().__init__(message)


class ResponseShapeError(EtlError):
    """A 200 answer whose body is not the documented shape (empty, HTML, wrong JSON)."""


class WarehouseError(EtlError):
    """The warehouse refused or failed a statement; the window's transaction was rolled back."""


class StageError(EtlError):
    """Staging Parquet failed (unwritable folder, S3 refused)."""


class ShrinkGuardError(WarehouseError):
    """A reload would remove most of the rows its cells hold; refused unless forced (``--allow-shrink``).

    Args:
        window: the window, as text.
        rows_before: rows the window's cells (days × metrics) hold now.
        rows_after: rows the new answer has for them.
        limit: the largest share of ``rows_before`` a reload may remove (``--shrink-limit``).
    """

    def __init__(self, window: str, *, rows_before: int, rows_after: int, limit: float) -> None:
        self.rows_before = rows_before
        self.rows_after = rows_after
        self.limit = limit
        removed = 1 - rows_after / rows_before if rows_before else 0.0
        super().__init__(
            f"shrink guard: window {window} holds {rows_before} rows but Genesys answered {rows_after} "
            f"(would remove {removed:.0%}, more than --shrink-limit {limit:g} allows); the old rows stay. "
            "An empty or partial answer (an outage, a role that lost a division) looks like this: "
            "check it, then rerun with --allow-shrink if the drop is real"
        )


class RunInterrupted(BaseException):
    """The process was asked to stop (SIGTERM from Glue's stop or timeout, or SIGINT).

    Derives from ``BaseException`` like ``KeyboardInterrupt`` so that no ``except Exception`` swallows it.

    Args:
        signal_name: ``SIGTERM`` or ``SIGINT``.
        exit_code: the conventional status, 128 + the signal number (143 for SIGTERM).
    """

    def __init__(self, signal_name: str, exit_code: int) -> None:
        self.signal_name = signal_name
        self.exit_code = exit_code
        self.report: object | None = None  # the pipeline attaches the run report so far
        super().__init__(f"stopped by {signal_name}")


class RequestCancelledError(EtlError):
    """The run is stopping (an interrupt, or an error that stops it): a queued request was not sent."""

    def __init__(self) -> None:
        super().__init__("the run is stopping: the request was not sent")
