"""The client-side request budget: bursts within the per-minute limit, never above it, shared by threads.

Genesys counts requests per client-credentials token per minute (300 by default) and answers with
``inin-ratelimit-allowed`` / ``-count`` / ``-reset`` headers, or a 429 with ``Retry-After`` once the
budget is spent (reference/genesys-analytics-api.md "Errors and rate limits"). The old pacer spaced
every request 200 ms apart although a whole backfill fits in one minute's budget. This limiter lets
requests start at once while fewer than ``requests_per_minute`` started in the last 60 seconds (a
sliding log of start times), so no 60-second span, and therefore no window Genesys counts in, ever
holds more than the configured number. It slows down when Genesys says so:

- an answer's headers leave no more room than the requests already in flight: no new request starts
  until the announced reset;
- ``inin-ratelimit-allowed`` below the configured rate lowers the budget to it (never raises it);
- a 429 pauses every thread for its ``Retry-After``, not only the one that got it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

from genesys_etl.errors import RequestCancelledError

logger = logging.getLogger(__name__)

RATE_PERIOD_SECONDS = 60.0  # Genesys counts per minute


class RateLimiter:
    """At most ``requests_per_minute`` request starts in any ``period`` seconds; thread-safe.

    Args:
        requests_per_minute: the budget (the configured ``--requests-per-minute``).
        period: the span the budget is counted over; Genesys' is a minute (tests shorten it).
        clock: monotonic seconds.
    """

    def __init__(
        self,
        requests_per_minute: int,
        *,
        period: float = RATE_PERIOD_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if requests_per_minute < 1 or period <= 0:
            msg = "requests_per_minute must be >= 1 and period > 0"
            raise ValueError(msg)
        self.limit = requests_per_minute
        self.period = period
        self._clock = clock
        self._starts: deque[float] = deque()
        self._paused_until = -math.inf
        self._in_flight = 0
        self._cancelled = False
        self._changed = threading.Condition()

    @property
    def in_flight(self) -> int:
        """Requests started and not yet answered."""
        with self._changed:
            return self._in_flight

    def acquire(self) -> float:
        """Wait until one more request may start, count it as started and in flight.

        Returns:
            Seconds waited.

        Raises:
            RequestCancelledError: ``cancel()`` was called (the run is stopping).
        """
        started = self._clock()
        with self._changed:
            while True:
                if self._cancelled:
                    raise RequestCancelledError
                now = self._clock()
                while self._starts and self._starts[0] <= now - self.period:
                    self._starts.popleft()
                wait = self._paused_until - now
                if wait <= 0 and len(self._starts) >= self.limit:
                    wait = self._starts[len(self._starts) - self.limit] + self.period - now
                if wait <= 0:
                    self._starts.append(now)
                    self._in_flight += 1
                    return now - started
                self._changed.wait(timeout=wait)

    def release(self) -> None:
        """One request started by ``acquire`` got its answer (or failed)."""
        with self._changed:
            self._in_flight = max(0, self._in_flight - 1)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Take Genesys' view of the budget from an answer's ``inin-ratelimit-*`` headers.

        Args:
            headers: the answer's headers (case-insensitive mapping); absent or unreadable ones are ignored.
        """
        allowed = _int_header(headers, "inin-ratelimit-allowed")
        count = _int_header(headers, "inin-ratelimit-count")
        reset = _int_header(headers, "inin-ratelimit-reset")
        if allowed is None or count is None:
            return
        with self._changed:
            if 0 < allowed < self.limit:
                logger.info(
                    "Genesys allows %d requests per minute, fewer than the configured %d: using %d",
                    allowed,
                    self.limit,
                    allowed,
                )
                self.limit = allowed
            # Requests already in flight may be counted after this answer: keep room for them.
            if allowed - count <= self._in_flight - 1 and reset is not None and reset > 0:
                self._pause_locked(float(reset), "the rate-limit headers leave no room")

    def pause(self, seconds: float, reason: str) -> None:
        """Start no request for ``seconds`` (a 429's Retry-After applies to every thread).

        Args:
            seconds: how long to hold off.
            reason: why, for the log.
        """
        with self._changed:
            self._pause_locked(seconds, reason)

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, waking early to raise ``RequestCancelledError`` when cancelled."""
        deadline = self._clock() + seconds
        with self._changed:
            while not self._cancelled:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    return
                self._changed.wait(timeout=remaining)
            raise RequestCancelledError

    def cancel(self) -> None:
        """Make every waiting and later ``acquire``/``sleep`` raise ``RequestCancelledError``."""
        with self._changed:
            self._cancelled = True
            self._changed.notify_all()

    def _pause_locked(self, seconds: float, reason: str) -> None:
        until = self._clock() + seconds
        if until > self._paused_until:
            logger.info("holding new requests for %.1f s: %s", seconds, reason)
            self._paused_until = until
            self._changed.notify_all()


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None
