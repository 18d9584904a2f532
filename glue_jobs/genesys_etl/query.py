"""Aggregates query bodies: one per window, exactly what the job sends to Genesys."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from genesys_etl import settings
from genesys_etl.windows import Window

if TYPE_CHECKING:
    from genesys_etl.config import Config


def build_query(window: Window, metrics: Sequence[str]) -> dict[str, Any]:
    """Build the ``POST …/aggregates/query`` body of one window.

    The interval is written with the local UTC offset at each end and ``timeZone`` names the zone, so
    ``P1D`` buckets start at local midnight (23 h / 25 h on DST days).

    A day whose local midnight the zone skips (e.g. America/Santiago on 2026-09-06, which starts at
    01:00) is always a window of its own and is sent without ``granularity``: Genesys documents the
    default as one bucket spanning the whole interval, while where it would put ``P1D`` boundaries
    after a skipped midnight is documented nowhere (reference/genesys-analytics-api.md, "The
    aggregate query body").

    Args:
        window: whole local days to ask for.
        metrics: metric names (validated by ``Config``).

    Returns:
        ``{"interval", "granularity", "timeZone", "groupBy", "metrics"}``, e.g. interval
        ``2026-03-08T00:00:00.000-05:00/2026-03-09T00:00:00.000-04:00``.

    Raises:
        ValueError: when no metric is given.
    """
    if not metrics:
        msg = "an aggregates query needs at least one metric"
        raise ValueError(msg)
    body: dict[str, Any] = {"interval": window.interval}
    if not window.starts_after_midnight_gap:
        body["granularity"] = settings.DEFAULT_GRANULARITY
    body.update(
        {"timeZone": window.time_zone, "groupBy": list(settings.DEFAULT_GROUP_BY), "metrics": list(metrics)}
    )
    return body


def plan_bodies(config: Config, now: datetime | None = None) -> list[dict[str, Any]]:
    """Return every request body a run with ``config`` would send, in order; calls nothing.

    Args:
        config: the run's configuration.
        now: an aware instant to use instead of the clock (tests; nightly default range).

    Returns:
        One body per window.
    """
    return [build_query(window, config.metrics) for window in config.windows(now)]
