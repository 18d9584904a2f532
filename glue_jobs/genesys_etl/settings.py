"""Constants as data: metrics, regions, retry policy, table and column contracts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

# Default metrics of the nightly job (issue #3). All are in aggregates_enums.json["metrics"].
DEFAULT_METRICS: tuple[str, ...] = (
    "nOffered",
    "nConnected",
    "nTransferred",
    "nBlindTransferred",
    "nConsultTransferred",
    "nOverSla",
    "nOutbound",
    "oServiceLevel",
    "tAcd",
    "tAcw",
    "tAbandon",
    "tShortAbandon",
    "tAlert",
    "tAnswered",
    "tHandle",
    "tHeldComplete",
    "tTalkComplete",
    "tWait",
    "tFlowOut",
    "tVoicemail",
)

DEFAULT_GROUP_BY: tuple[str, ...] = ("queueId", "mediaType")
DEFAULT_GRANULARITY = "P1D"
DEFAULT_TIME_ZONE = "UTC"
DEFAULT_LOOKBACK_DAYS = 7
DEFAULT_DAYS_PER_QUERY = 7
# Genesys publishes no maximum interval for aggregates; a peer reports a 400 above 7 days
# (reference/genesys-analytics-api.md "Limits"): the setting may be raised, never by default.
MAX_DAYS_PER_QUERY = 7
DEFAULT_SETTLE_DAYS = 3
# Shrink guard: a reload may remove at most this share of the rows its cells (days × metrics) hold.
# Genesys corrections move counts by a few percent; losing more than half of a window's rows is an
# empty or partial answer (an outage, an OAuth role that lost a division), not a correction.
DEFAULT_SHRINK_LIMIT = 0.5
# Nightly self-check: after the load, verify the days just older than the lookback against Genesys.
# 7 days are one more aggregates call a night (a week is one window); corrections Genesys makes
# after the lookback (reference/genesys-analytics-api.md "Data changes after the fact") are then
# caught within a week of landing instead of never.
DEFAULT_VERIFY_DAYS = 7
DEFAULT_SCHEMA = "genesys"

# Transport policy (reference/genesys-analytics-api.md "Errors and rate limits").
DEFAULT_REQUESTS_PER_MINUTE = 300
# Windows fetched at once. Genesys publishes a per-minute budget, not a concurrency limit, for
# aggregates; 4 queries in flight hide the latency of a slow answer (an all-queue week of a big org
# takes seconds) while the job's own CPU work (two cores locally, G.1X's four vCPUs on Glue) stays
# the floor, and they keep memory at four answers' bodies plus one decoded answer. A backfill of a
# year is 53 requests, a sixth of one minute's budget, however many fly at once.
DEFAULT_MAX_CONCURRENT_QUERIES = 4
MAX_CONCURRENT_QUERIES = 32
DEFAULT_MAX_RETRY_WAIT_SECONDS = 180.0  # the .NET SDK gives up past a 3-minute Retry-After
DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_TIMEOUT_SECONDS = 60.0
# The .NET SDK retries 429/502/503/504. We add 500: the aggregates query and the queue listing are
# reads, a 500 from Genesys is usually transient, and attempts stay bounded by DEFAULT_MAX_ATTEMPTS.
RETRY_STATUSES: frozenset[int] = frozenset({429, 500, 502, 503, 504})
TOKEN_REFRESH_MARGIN_SECONDS = 300.0
QUEUE_PAGE_SIZE = 100

AGGREGATES_QUERY_PATH = "/api/v2/analytics/conversations/aggregates/query"
QUEUES_PATH = "/api/v2/routing/queues"
TOKEN_PATH = "/oauth/token"  # noqa: S105 - a URL path, not a password

# Genesys Cloud regions: name → API domain (reference/genesys-analytics-api.md "OAuth and regions").
# API host is https://api.<domain>, login host https://login.<domain>.
REGIONS: dict[str, str] = {
    "us-east-1": "mypurecloud.com",
    "eu-west-1": "mypurecloud.ie",
    "eu-central-1": "mypurecloud.de",
    "ap-northeast-1": "mypurecloud.jp",
    "ap-southeast-2": "mypurecloud.com.au",
    "us-west-2": "usw2.pure.cloud",
    "ca-central-1": "cac1.pure.cloud",
    "ap-northeast-2": "apne2.pure.cloud",
    "eu-west-2": "euw2.pure.cloud",
    "ap-south-1": "aps1.pure.cloud",
    "us-east-2": "use2.us-gov-pure.cloud",
    "sa-east-1": "sae1.pure.cloud",
    "me-central-1": "mec1.pure.cloud",
    "ap-northeast-3": "apne3.pure.cloud",
    "eu-central-2": "euc2.pure.cloud",
    "mx-central-1": "mxc1.pure.cloud",
    "ap-southeast-1": "apse1.pure.cloud",
    "eu-east-1": "edee1.eusc-pure.cloud",
}

# Stats fields Genesys documents (StatisticalSummary); the ones stored have a column below.
KNOWN_STATS: frozenset[str] = frozenset(
    {
        "max",
        "min",
        "count",
        "countNegative",
        "countPositive",
        "sum",
        "current",
        "ratio",
        "numerator",
        "denominator",
        "target",
        "p95",
        "p99",
        "calculatedMetricValue",
    }
)


@dataclass(frozen=True)
class Column:
    """One column of ``queue_metrics_daily``: the single source of the Parquet schema and both DDLs.

    Attributes:
        name: column name in every warehouse.
        arrow: pyarrow type name, read by ``transform.arrow_schema`` (``string``, ``int64``,
            ``float64``, ``date32``, ``timestamp_utc``).
        duckdb: DuckDB type.
        redshift: Redshift type.
        stat: the Genesys ``stats`` key stored in this column, if any.
    """

    name: str
    arrow: str
    duckdb: str
    redshift: str
    stat: str | None = None


FACT_TABLE = "queue_metrics_daily"
QUEUES_TABLE = "queues"
LOAD_RUNS_TABLE = "load_runs"
KPI_VIEW = "v_queue_daily_kpis"

# Warehouse contract (DESIGN.md): grain (metric_date, queue_id, media_type, metric, qualifier).
FACT_COLUMNS: tuple[Column, ...] = (
    Column("metric_date", "date32", "DATE", "DATE"),
    Column("interval_start", "timestamp_utc", "TIMESTAMPTZ", "TIMESTAMPTZ"),
    Column("interval_end", "timestamp_utc", "TIMESTAMPTZ", "TIMESTAMPTZ"),
    Column("time_zone", "string", "VARCHAR", "VARCHAR(64)"),
    Column("queue_id", "string", "VARCHAR", "VARCHAR(64)"),
    Column("media_type", "string", "VARCHAR", "VARCHAR(32)"),
    Column("metric", "string", "VARCHAR", "VARCHAR(64)"),
    Column("qualifier", "string", "VARCHAR", "VARCHAR(256)"),
    Column("stat_count", "int64", "BIGINT", "BIGINT", "count"),
    Column("stat_sum", "float64", "DOUBLE", "DOUBLE PRECISION", "sum"),
    Column("stat_min", "float64", "DOUBLE", "DOUBLE PRECISION", "min"),
    Column("stat_max", "float64", "DOUBLE", "DOUBLE PRECISION", "max"),
    Column("stat_ratio", "float64", "DOUBLE", "DOUBLE PRECISION", "ratio"),
    Column("stat_numerator", "float64", "DOUBLE", "DOUBLE PRECISION", "numerator"),
    Column("stat_denominator", "float64", "DOUBLE", "DOUBLE PRECISION", "denominator"),
    Column("stat_target", "float64", "DOUBLE", "DOUBLE PRECISION", "target"),
    Column("stat_current", "float64", "DOUBLE", "DOUBLE PRECISION", "current"),
    Column("load_id", "string", "VARCHAR", "VARCHAR(64)"),
    Column("loaded_at", "timestamp_utc", "TIMESTAMPTZ", "TIMESTAMPTZ"),
    # The local date (in time_zone) of loaded_at, computed in Python at load time: the view's
    # is_provisional needs it, and Redshift documents AT TIME ZONE / CONVERT_TIMEZONE with literal
    # zones only (Redshift SQL reference, "AT TIME ZONE function"). Added by migration 003.
    Column("loaded_date", "date32", "DATE", "DATE"),
)
FACT_KEY: tuple[str, ...] = ("metric_date", "queue_id", "media_type", "metric", "qualifier")
STAT_COLUMNS: dict[str, str] = {c.stat: c.name for c in FACT_COLUMNS if c.stat is not None}


@cache
def allowed_values() -> dict[str, Any]:
    """Allowed values of the aggregates query, verbatim from the Genesys SDKs (aggregates_enums.json).

    Returns:
        The parsed JSON: keys ``metrics``, ``groupBy``, ``filter_dimensions``, ``operators``, …
    """
    text = resources.files(__package__).joinpath("aggregates_enums.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data
