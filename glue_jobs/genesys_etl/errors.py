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


class ResponseShapeError(EtlError):
    """A 200 answer whose body is not the documented shape (empty, HTML, wrong JSON)."""


class WarehouseError(EtlError):
    """The warehouse refused or failed a statement; the window's transaction was rolled back."""


class StageError(EtlError):
    """Staging Parquet failed (unwritable folder, S3 refused)."""
