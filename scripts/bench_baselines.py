"""Naive baselines for the benchmark: the request patterns and row-by-row loading the job replaces.

Both baselines ask for the same metrics as the job and load the same queue-attributed rows, but the
way most connectors and hand-written scripts do it:

* ``per_day``: one aggregates request per day for all queues (the pattern of an open-source connector);
* ``per_queue``: one request per queue per day with a ``queueId`` filter (most hand-written scripts).

Each response is flattened with ``pandas.json_normalize`` and inserted into DuckDB one row at a time
(``executemany`` of a single-row ``INSERT``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import duckdb
import pandas as pd
import requests

TOKEN_PATH = "/oauth/token"  # noqa: S105 - a URL path, not a password
AGGREGATES_PATH = "/api/v2/analytics/conversations/aggregates/query"
QUEUES_PATH = "/api/v2/routing/queues"
MAX_ATTEMPTS = 5  # per request; a naive script retries 429 and nothing else
MAX_RETRY_AFTER = 65.0
MAX_QUEUE_PAGES = 100
TIMEOUT = 60.0

# json_normalize's column → baseline table column.
STAT_COLUMNS: dict[str, str] = {
    "stats.count": "stat_count",
    "stats.sum": "stat_sum",
    "stats.min": "stat_min",
    "stats.max": "stat_max",
    "stats.ratio": "stat_ratio",
    "stats.numerator": "stat_numerator",
    "stats.denominator": "stat_denominator",
    "stats.target": "stat_target",
}
TABLE_COLUMNS: tuple[str, ...] = (
    "metric_date",
    "queue_id",
    "media_type",
    "metric",
    "qualifier",
    *STAT_COLUMNS.values(),
)
CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS metrics (
    metric_date DATE, queue_id VARCHAR, media_type VARCHAR, metric VARCHAR, qualifier VARCHAR,
    stat_count DOUBLE, stat_sum DOUBLE, stat_min DOUBLE, stat_max DOUBLE, stat_ratio DOUBLE,
    stat_numerator DOUBLE, stat_denominator DOUBLE, stat_target DOUBLE
)
"""
INSERT_ROW = f"INSERT INTO metrics VALUES ({', '.join('?' for _ in TABLE_COLUMNS)})"


@dataclass
class BaselineResult:
    """What one baseline run did.

    Attributes:
        api_calls: aggregates requests sent (retries included).
        other_requests: token and queue-listing requests.
        retries: aggregates requests answered 429 and sent again.
        rows: rows inserted.
        seconds: wall time of the whole run.
        normalize_seconds: time inside ``normalize_results`` and the row preparation.
        insert_seconds: time inside the row-by-row inserts.
        request_seconds: time waiting for HTTP answers (JSON parsing included).
    """

    api_calls: int = 0
    other_requests: int = 0
    retries: int = 0
    rows: int = 0
    seconds: float = 0.0
    normalize_seconds: float = 0.0
    insert_seconds: float = 0.0
    request_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def normalize_results(results: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Flatten aggregate ``results`` the pandas way: one ``json_normalize`` call per response.

    ``meta=[["group", "queueId"]]`` does not work with a two-level ``record_path`` (pandas pulls the
    meta path from the ``data`` level), so the group keys are lifted to the top of each result first.

    Args:
        results: the ``results`` list of one aggregates response.

    Returns:
        One row per metric entry, columns ``metric``, ``qualifier`` (when present), ``stats.*``,
        ``queueId``, ``mediaType``, ``data.interval``.
    """
    lifted = [
        {
            **result,
            "queueId": result.get("group", {}).get("queueId"),
            "mediaType": result.get("group", {}).get("mediaType"),
        }
        for result in results
    ]
    return pd.json_normalize(
        lifted, record_path=["data", "metrics"], meta=["queueId", "mediaType", ["data", "interval"]]
    )


def normalize_per_row(results: Sequence[Mapping[str, Any]], limit: int) -> int:
    """Flatten the way most hand-written scripts do: one ``json_normalize`` call per metric row.

    This is the slow baseline named by issue #4 ("``json_normalize`` per row"). It stops after
    ``limit`` rows (the benchmark extrapolates its rate), since a whole year would take hours.

    Args:
        results: the ``results`` list of one aggregates response.
        limit: how many metric rows to flatten at most.

    Returns:
        The number of rows flattened.
    """
    frames: list[pd.DataFrame] = []
    for result in results:
        group = result.get("group", {})
        for bucket in result.get("data", []):
            for metric in bucket.get("metrics", []):
                if len(frames) >= limit:
                    return len(pd.concat(frames, ignore_index=True))
                row = {**group, "interval": bucket.get("interval"), **metric}
                frames.append(pd.json_normalize(row))
    return len(pd.concat(frames, ignore_index=True)) if frames else 0


def frame_rows(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    """Turn a normalized frame into insertable rows; groups without a queue are dropped.

    Args:
        frame: from ``normalize_results``.

    Returns:
        Tuples in ``TABLE_COLUMNS`` order (the date is the interval's first 10 characters: UTC days).
    """
    if frame.empty:
        return []
    frame = frame[frame["queueId"].notna()]
    out = pd.DataFrame(
        {
            "metric_date": frame["data.interval"].str.slice(0, 10),
            "queue_id": frame["queueId"],
            "media_type": frame["mediaType"],
            "metric": frame["metric"],
            "qualifier": frame.get("qualifier"),
        }
    )
    for source, target in STAT_COLUMNS.items():
        out[target] = frame[source] if source in frame else float("nan")
    out = out.astype(object).where(out.notna(), None)
    return list(out.itertuples(index=False, name=None))


def utc_day_interval(day: date) -> str:
    """Return the aggregates interval of one UTC day, as naive scripts write it.

    Args:
        day: the day.
    """
    return f"{day.isoformat()}T00:00:00.000Z/{(day + timedelta(days=1)).isoformat()}T00:00:00.000Z"


def iterate_days(start: date, end: date) -> Iterator[date]:
    """Yield every day from ``start`` to ``end`` inclusive.

    Args:
        start: first day.
        end: last day.
    """
    for offset in range((end - start).days + 1):
        yield start + timedelta(days=offset)


class NaiveApi:
    """The minimum a script needs: a token, POST with 429 retries, the queue listing."""

    def __init__(self, base_url: str, client_id: str, client_secret: str, result: BaselineResult) -> None:
        self._base = base_url.rstrip("/")
        self._session = requests.Session()
        self._result = result
        answer = self._session.post(
            self._base + TOKEN_PATH,
            data={"grant_type": "client_credentials"},
            auth=(client_id, client_secret),
            timeout=TIMEOUT,
        )
        result.other_requests += 1
        answer.raise_for_status()
        self._session.headers["Authorization"] = "Bearer " + str(answer.json()["access_token"])

    def close(self) -> None:
        self._session.close()

    def query(self, body: Mapping[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            for attempt in range(1, MAX_ATTEMPTS + 1):
                answer = self._session.post(self._base + AGGREGATES_PATH, json=body, timeout=TIMEOUT)
                self._result.api_calls += 1
                if answer.status_code == 429 and attempt < MAX_ATTEMPTS:
                    self._result.retries += 1
                    wait = float(answer.headers.get("Retry-After") or 1)
                    time.sleep(min(wait, MAX_RETRY_AFTER))
                    continue
                answer.raise_for_status()
                payload: dict[str, Any] = answer.json()
                return payload
            msg = f"still rate limited after {MAX_ATTEMPTS} attempts"
            raise RuntimeError(msg)
        finally:
            self._result.request_seconds += time.perf_counter() - started

    def queue_ids(self) -> list[str]:
        ids: list[str] = []
        for page in range(1, MAX_QUEUE_PAGES + 1):
            answer = self._session.get(
                self._base + QUEUES_PATH, params={"pageSize": 100, "pageNumber": page}, timeout=TIMEOUT
            )
            self._result.other_requests += 1
            answer.raise_for_status()
            payload = answer.json()
            ids.extend(str(entity["id"]) for entity in payload.get("entities", []))
            if page >= int(payload.get("pageCount") or 0) or not payload.get("entities"):
                break
        return ids


def _load(connection: duckdb.DuckDBPyConnection, response: Mapping[str, Any], result: BaselineResult) -> None:
    started = time.perf_counter()
    rows = frame_rows(normalize_results(response.get("results") or []))
    inserted = time.perf_counter()
    result.normalize_seconds += inserted - started
    if rows:
        connection.executemany(INSERT_ROW, rows)
    result.insert_seconds += time.perf_counter() - inserted
    result.rows += len(rows)


def run_baseline(
    pattern: str,
    *,
    base_url: str,
    client_id: str,
    client_secret: str,
    start: date,
    end: date,
    metrics: Sequence[str],
    database: str,
) -> BaselineResult:
    """Load ``start..end`` (UTC days) with a naive pattern into a DuckDB file.

    Args:
        pattern: ``per_day`` (one request per day, all queues) or ``per_queue`` (one per queue per day).
        base_url: the simulator's base URL (login and API).
        client_id: OAuth client id.
        client_secret: OAuth client secret.
        start: first day.
        end: last day.
        metrics: metric names to ask for.
        database: DuckDB file to create.

    Returns:
        Counts and timings.
    """
    if pattern not in ("per_day", "per_queue"):
        msg = f"unknown baseline pattern {pattern!r}"
        raise ValueError(msg)
    result = BaselineResult()
    started = time.perf_counter()
    api = NaiveApi(base_url, client_id, client_secret, result)
    connection = duckdb.connect(database)
    try:
        connection.execute(CREATE_TABLE)
        queue_ids = api.queue_ids() if pattern == "per_queue" else [None]
        for day in iterate_days(start, end):
            for queue_id in queue_ids:
                body: dict[str, Any] = {
                    "interval": utc_day_interval(day),
                    "granularity": "P1D",
                    "groupBy": ["queueId", "mediaType"],
                    "metrics": list(metrics),
                }
                if queue_id is not None:
                    body["filter"] = {
                        "type": "and",
                        "predicates": [
                            {
                                "type": "dimension",
                                "dimension": "queueId",
                                "operator": "matches",
                                "value": queue_id,
                            }
                        ],
                    }
                _load(connection, api.query(body), result)
    finally:
        connection.close()
        api.close()
    result.seconds = time.perf_counter() - started
    if pattern == "per_queue":
        result.notes.append("queue ids from the listing: deleted queues (still in the data) are missed")
    return result


def expected_calls(pattern: str, days: int, queues: int) -> int:
    """Return the aggregates requests a pattern needs without retries.

    Args:
        pattern: ``per_day`` or ``per_queue``.
        days: days in the range.
        queues: queues listed.
    """
    return days if pattern == "per_day" else days * queues


def per_row_seconds(seconds: float, rows: int) -> float:
    """Return seconds per row (NaN for no rows).

    Args:
        seconds: total seconds.
        rows: rows processed.
    """
    return seconds / rows if rows else math.nan
