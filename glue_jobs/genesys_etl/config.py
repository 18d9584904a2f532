"""The job's one validated, immutable configuration, built from CLI flags, Glue arguments and env."""

from __future__ import annotations

import difflib
import ipaddress
import re
import uuid
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from genesys_etl import settings
from genesys_etl.errors import ConfigError
from genesys_etl.windows import Window, nightly_range, plan_windows, skipped_days, today_in

CLIENT_ID_ENV = "GENESYS_CLIENT_ID"
CLIENT_SECRET_ENV = "GENESYS_CLIENT_SECRET"  # noqa: S105 - the name of an environment variable
DEFAULT_REGION = "us-east-1"
DEFAULT_WAREHOUSE = "duckdb:data/warehouse.duckdb"
DEFAULT_STAGE = "data/stage"
TRIGGERS: tuple[str, ...] = ("nightly", "backfill", "manual")

# Dates outside this span are typos (Genesys Cloud launched in 2013); it also keeps window arithmetic
# clear of date.min/date.max and of the seconds-precision local mean time offsets before 1900.
_FIRST_YEAR = 2000
_LAST_YEAR = 2199
# A lookback longer than this is a backfill: give --start-date/--end-date instead.
_MAX_LOOKBACK_DAYS = 3660
_SCHEMA_PATTERN = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_S3_BUCKET_PATTERN = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_TRUE = frozenset({"1", "true", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "no", "n", "off", ""})


def flag_name(name: str) -> str:
    """Return the command-line flag of a config field, e.g. ``time_zone`` → ``--time-zone``.

    Args:
        name: a ``Config`` field name.
    """
    return "--" + name.replace("_", "-")


def closest_match(word: str, choices: Sequence[str] | frozenset[str]) -> str | None:
    """Return the allowed value a mistyped ``word`` most likely meant, or None.

    Args:
        word: what was given.
        choices: the allowed values.
    """
    by_lower = {choice.lower(): choice for choice in choices}
    if word.lower() in by_lower:
        return by_lower[word.lower()]
    found = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[found[0]] if found else None


@cache
def _zone_names() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


def check_time_zone(time_zone: object, flag: str = "--time-zone") -> str:
    """Validate an IANA time zone name.

    Args:
        time_zone: the value given.
        flag: the flag to name in the error.

    Returns:
        The zone name.

    Raises:
        ConfigError: when the zone is unknown; the message suggests the closest known name.
    """
    if isinstance(time_zone, str) and time_zone.strip() == time_zone and time_zone:
        try:
            zoneinfo.ZoneInfo(time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
        else:
            return time_zone
    hint = closest_match(str(time_zone), _zone_names())
    suggestion = f"did you mean {hint!r}? " if hint else ""
    example = "an IANA name such as 'America/New_York' or 'UTC'"
    msg = f"unknown time zone {time_zone!r}; {suggestion}give {example}"
    raise ConfigError(flag, msg)


def is_loopback_host(host: str) -> bool:
    """Tell whether a URL host is this machine (127.0.0.0/8, ::1 or localhost).

    Args:
        host: the host part of a URL, without brackets or port.
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(url: object, flag: str) -> str:
    """Validate a Genesys base URL: ``https://host[:port]``, or ``http://`` for a loopback host only.

    Args:
        url: the value given.
        flag: the flag to name in the error.

    Returns:
        The URL without a trailing slash.

    Raises:
        ConfigError: when the URL is not a plain base URL, carries credentials, or uses plain
            ``http://`` for a host that is not loopback.
    """
    example = "e.g. https://api.mypurecloud.com, or http://127.0.0.1:8787 for the simulator"
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(flag, f"a base URL is required ({example})")
    text = url.strip().rstrip("/")
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        _ = parts.port  # raises on a non-numeric port
    except ValueError:
        raise ConfigError(flag, f"{text!r} is not a valid URL ({example})") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ConfigError(flag, f"{text!r} is not an http(s) base URL ({example})")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(flag, "credentials do not belong in a URL; give them in GENESYS_CLIENT_ID/SECRET")
    if parts.query or parts.fragment or parts.path not in ("", "/"):
        raise ConfigError(flag, f"give the base URL only, without a path or query ({example})")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise ConfigError(
            flag,
            f"plain http:// is allowed only for loopback hosts (127.0.0.1, localhost, ::1); use https://{parts.netloc}",
        )
    return text


def resolve_region(region: object) -> tuple[str, str]:
    """Resolve a region name (``eu-west-1``) or API domain (``mypurecloud.ie``).

    Args:
        region: the value of ``--region``.

    Returns:
        ``(region_name, domain)``.

    Raises:
        ConfigError: for an unknown region, listing a few valid ones.
    """
    text = str(region).strip().lower()
    text = re.sub(r"^https?://", "", text).rstrip("/")
    text = text.removeprefix("api.").removeprefix("login.")
    if text in settings.REGIONS:
        return text, settings.REGIONS[text]
    for name, domain in settings.REGIONS.items():
        if text == domain:
            return name, domain
    hint = closest_match(text, [*settings.REGIONS, *settings.REGIONS.values()])
    suggestion = f"did you mean {hint!r}? " if hint else ""
    few = ", ".join(f"{name} ({domain})" for name, domain in list(settings.REGIONS.items())[:4])
    msg = f"unknown region {region!r}; {suggestion}give a region name or API domain, e.g. {few}, ..."
    raise ConfigError("--region", msg)


def _check_date(value: object, flag: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        raise ConfigError(flag, f"give a calendar date YYYY-MM-DD, not a timestamp ({value.isoformat()})")
    if not isinstance(value, date):
        raise ConfigError(flag, f"{value!r} is not a date; give YYYY-MM-DD")
    if not _FIRST_YEAR <= value.year <= _LAST_YEAR:
        msg = f"{value.isoformat()} is outside {_FIRST_YEAR}..{_LAST_YEAR}; check the year"
        raise ConfigError(flag, msg)
    return value


def _check_int(value: object, flag: str, low: int, high: int | None, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(flag, f"{value!r} is not a whole number; {fix}")
    if value < low or (high is not None and value > high):
        if high is None:
            raise ConfigError(flag, f"{value} is too small: at least {low} is needed; {fix}")
        raise ConfigError(flag, f"{value} is outside {low}..{high}; {fix}")
    return value


def _check_positive_float(value: object, flag: str, *, allow_zero: bool, fix: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:  # NaN
        raise ConfigError(flag, f"{value!r} is not a number; {fix}")
    if value < 0 or (value == 0 and not allow_zero) or value == float("inf"):
        raise ConfigError(flag, f"{value} is out of range; {fix}")
    return float(value)


def _check_metrics(metrics: object) -> tuple[str, ...]:
    allowed: list[str] = settings.allowed_values()["metrics"]
    if isinstance(metrics, str) or not isinstance(metrics, Sequence) or not metrics:
        msg = "give at least one metric name, comma-separated, e.g. nOffered,tHandle"
        raise ConfigError("--metrics", msg)
    seen: set[str] = set()
    for metric in metrics:
        if not isinstance(metric, str) or metric not in allowed:
            hint = closest_match(str(metric), allowed)
            fix = f"did you mean {hint!r}?" if hint else "see the allowed names in aggregates_enums.json"
            raise ConfigError("--metrics", f"unknown metric {metric!r}; {fix}")
        if metric in seen:
            raise ConfigError("--metrics", f"metric {metric!r} is listed twice; list it once")
        seen.add(metric)
    return tuple(metrics)


def _check_schema(schema: object) -> str:
    if not isinstance(schema, str) or not _SCHEMA_PATTERN.fullmatch(schema):
        msg = (
            f"{schema!r} is not a plain identifier; use lower-case letters, digits and _ "
            "(starting with a letter or _, at most 63 characters), e.g. genesys"
        )
        raise ConfigError("--schema", msg)
    return schema


def _check_stage(stage: object) -> str:
    if not isinstance(stage, str) or not stage.strip():
        raise ConfigError("--stage", "give a local folder (e.g. data/stage) or s3://bucket/prefix")
    if stage.lower().startswith("s3:"):
        match = re.fullmatch(r"s3://([^/]+)(/.*)?", stage)
        if not match or not _S3_BUCKET_PATTERN.fullmatch(match.group(1)):
            raise ConfigError("--stage", f"{stage!r} is not a valid S3 location; write s3://bucket/prefix")
    elif "://" in stage:
        raise ConfigError("--stage", f"{stage!r}: only local folders and s3://bucket/prefix are supported")
    return stage


def _check_warehouse(warehouse: object) -> str:
    if warehouse == "redshift":
        return warehouse
    if isinstance(warehouse, str) and warehouse.startswith("duckdb:") and warehouse[len("duckdb:") :].strip():
        return warehouse
    msg = f"{warehouse!r} is not a warehouse; give duckdb:PATH (e.g. {DEFAULT_WAREHOUSE}) or redshift"
    raise ConfigError("--warehouse", msg)


def _check_sendable_secret(value: str, name: str) -> None:
    """Refuse a credential HTTP Basic authorization cannot carry; the value itself is never shown."""
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        msg = "contains a control character (a newline or tab pasted with it?); copy the value again"
        raise ConfigError(name, msg)
    try:
        value.encode("latin-1")
    except UnicodeEncodeError as err:
        msg = (
            f"contains a character that cannot be sent (position {err.start + 1}, outside Latin-1); "
            "Genesys client ids and secrets are plain ASCII: copy the value again from the OAuth client"
        )
        raise ConfigError(name, msg) from None


def _optional_text(value: object, flag: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(flag, f"{value!r} is not text")
    return value.strip() or None


@dataclass(frozen=True)
class Config:
    """Everything one run needs, validated on construction (``ConfigError`` names the flag and the fix).

    Genesys endpoints: ``region`` (a name from ``settings.REGIONS`` or an API domain) gives
    ``https://api.<domain>`` and ``https://login.<domain>``; an explicit ``api_url``/``login_url``
    overrides it. With only a loopback ``api_url`` (the simulator) the login URL is the same base URL.
    With neither, the region is ``us-east-1``. The resolved URLs are stored in ``api_url``/``login_url``.

    Attributes:
        start_date: first local date to load (inclusive); None for the nightly default.
        end_date: last local date to load (inclusive); None for the nightly default.
        time_zone: IANA zone the dates are local to; None: the schema's zone (``zone`` until the pipeline
            has read it from the warehouse: UTC).
        lookback_days: nightly default: this many days ending yesterday.
        days_per_query: most days in one aggregates request (1..``settings.MAX_DAYS_PER_QUERY``).
        metrics: metric names to request.
        settle_days: days younger than this are provisional.
        allow_shrink: load a window even when its answer removes more than ``shrink_limit`` of the
            rows its cells hold (the shrink guard is off).
        shrink_limit: the largest share (0..1) of a window's rows a reload may remove (default 0.5).
        verify_days: nightly runs only: after the load, verify this many days just older than the
            lookback against Genesys (0: off); a difference fails the run.
        warehouse: ``duckdb:PATH`` or ``redshift``.
        stage: a local folder or ``s3://bucket/prefix``.
        schema: warehouse schema (a plain lower-case identifier).
        keep_staged: keep staged Parquet after a successful load.
        region: Genesys region name or API domain (resolved to the region name).
        api_url: Genesys API base URL.
        login_url: Genesys login (OAuth) base URL.
        client_id: OAuth client id (never shown in repr).
        client_secret: OAuth client secret (never shown in repr).
        requests_per_minute: the request budget: at most this many requests start in any minute.
        max_concurrent_queries: aggregates queries in flight at once (windows fetched concurrently).
        max_retry_wait: give up when Genesys asks to wait longer than this many seconds.
        max_attempts: most attempts of one request.
        timeout: seconds for every HTTP call.
        redshift_connection: Glue connection name for Redshift.
        redshift_secret_id: Secrets Manager secret with Redshift credentials.
        iam_role: IAM role ARN Redshift's COPY assumes.
        trigger: ``nightly``, ``backfill`` or ``manual``; empty → nightly without dates, else manual.
        run_id: identifies the run (stage prefix, load_runs).
        offline: true for commands that call no Genesys API and load nothing (``plan``, ``status``):
            credentials, an S3 stage and the COPY role are not required.
    """

    start_date: date | None = None
    end_date: date | None = None
    time_zone: str | None = None
    lookback_days: int = settings.DEFAULT_LOOKBACK_DAYS
    days_per_query: int = settings.DEFAULT_DAYS_PER_QUERY
    metrics: tuple[str, ...] = settings.DEFAULT_METRICS
    settle_days: int = settings.DEFAULT_SETTLE_DAYS
    allow_shrink: bool = False
    shrink_limit: float = settings.DEFAULT_SHRINK_LIMIT
    verify_days: int = settings.DEFAULT_VERIFY_DAYS
    warehouse: str = DEFAULT_WAREHOUSE
    stage: str = DEFAULT_STAGE
    schema: str = settings.DEFAULT_SCHEMA
    keep_staged: bool = False
    region: str | None = None
    api_url: str = ""
    login_url: str = ""
    client_id: str = field(default="", repr=False)
    client_secret: str = field(default="", repr=False)
    requests_per_minute: int = settings.DEFAULT_REQUESTS_PER_MINUTE
    max_concurrent_queries: int = settings.DEFAULT_MAX_CONCURRENT_QUERIES
    max_retry_wait: float = settings.DEFAULT_MAX_RETRY_WAIT_SECONDS
    max_attempts: int = settings.DEFAULT_MAX_ATTEMPTS
    timeout: float = settings.DEFAULT_TIMEOUT_SECONDS
    redshift_connection: str | None = None
    redshift_secret_id: str | None = None
    iam_role: str | None = None
    trigger: str = ""
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    offline: bool = False

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalised values are written once, here
        start = _check_date(self.start_date, "--start-date")
        end = _check_date(self.end_date, "--end-date")
        if start is not None and end is not None and end < start:
            msg = f"{end} is before --start-date {start}; swap them (both dates are inclusive)"
            raise ConfigError("--end-date", msg)
        if self.time_zone is not None:
            check_time_zone(self.time_zone)
        _check_int(
            self.lookback_days,
            "--lookback-days",
            1,
            _MAX_LOOKBACK_DAYS,
            "give 1 or more days (default 7); for a longer range give --start-date/--end-date",
        )
        _check_int(
            self.days_per_query,
            "--days-per-query",
            1,
            settings.MAX_DAYS_PER_QUERY,
            f"give 1..{settings.MAX_DAYS_PER_QUERY} days per request (default 7; Genesys refuses "
            f"aggregate intervals over {settings.MAX_DAYS_PER_QUERY} days)",
        )
        set_(self, "metrics", _check_metrics(self.metrics))
        _check_int(self.settle_days, "--settle-days", 0, None, "give 0 or more days (default 3)")
        if not isinstance(self.allow_shrink, bool):
            raise ConfigError("--allow-shrink", f"{self.allow_shrink!r} is not true or false")
        limit = _check_positive_float(
            self.shrink_limit, "--shrink-limit", allow_zero=True, fix="give a share from 0 to 1, e.g. 0.5"
        )
        if limit > 1:
            msg = f"{limit:g} is more than 1; give a share from 0 to 1, e.g. 0.5"
            raise ConfigError("--shrink-limit", msg)
        set_(self, "shrink_limit", limit)
        _check_int(self.verify_days, "--verify-days", 0, 31, "give 0 (off) to 31 days (default 7)")
        _check_warehouse(self.warehouse)
        _check_stage(self.stage)
        _check_schema(self.schema)
        if not isinstance(self.keep_staged, bool):
            raise ConfigError("--keep-staged", f"{self.keep_staged!r} is not true or false")
        self._resolve_endpoints()
        self._check_credentials()
        _check_int(self.requests_per_minute, "--requests-per-minute", 1, None, "give the pace, e.g. 300")
        _check_int(
            self.max_concurrent_queries,
            "--max-concurrent-queries",
            1,
            settings.MAX_CONCURRENT_QUERIES,
            f"give 1..{settings.MAX_CONCURRENT_QUERIES} queries in flight "
            f"(default {settings.DEFAULT_MAX_CONCURRENT_QUERIES}; 1 fetches one window at a time)",
        )
        set_(
            self,
            "max_retry_wait",
            _check_positive_float(self.max_retry_wait, "--max-retry-wait", allow_zero=True, fix="e.g. 180"),
        )
        _check_int(self.max_attempts, "--max-attempts", 1, 100, "give 1..100 attempts, e.g. 8")
        timeout = _check_positive_float(self.timeout, "--timeout", allow_zero=False, fix="e.g. 60")
        set_(self, "timeout", timeout)
        self._check_warehouse_wiring()
        if self.trigger == "":
            set_(self, "trigger", "nightly" if start is None and end is None else "manual")
        if self.trigger not in TRIGGERS:
            raise ConfigError("--trigger", f"{self.trigger!r} is not one of {', '.join(TRIGGERS)}")
        if not isinstance(self.run_id, str) or not _RUN_ID_PATTERN.fullmatch(self.run_id):
            raise ConfigError("--run-id", "use letters, digits, '_', '.', '-' (at most 64), e.g. a uuid hex")

    def _resolve_endpoints(self) -> None:
        set_ = object.__setattr__
        region_name: str | None = None
        domain: str | None = None
        if self.region is not None:
            region_name, domain = resolve_region(self.region)
        elif not self.api_url:
            region_name, domain = DEFAULT_REGION, settings.REGIONS[DEFAULT_REGION]
        api_url = check_base_url(self.api_url, "--api-url") if self.api_url else f"https://api.{domain}"
        if self.login_url:
            login_url = check_base_url(self.login_url, "--login-url")
        elif self.api_url:
            host = urlsplit(api_url).hostname or ""
            if is_loopback_host(host):
                login_url = api_url  # the simulator serves /oauth/token and /api/v2 on one port
            elif host.startswith("api."):
                login_url = api_url.replace("://api.", "://login.", 1)
            elif domain is not None:
                login_url = f"https://login.{domain}"
            else:
                msg = f"cannot derive the login host from --api-url {api_url}; give --login-url too"
                raise ConfigError("--login-url", msg)
        else:
            login_url = f"https://login.{domain}"
        set_(self, "region", region_name)
        set_(self, "api_url", api_url)
        set_(self, "login_url", login_url)

    def _check_credentials(self) -> None:
        if not isinstance(self.offline, bool):
            raise ConfigError("--offline", f"{self.offline!r} is not true or false")
        for value, env in ((self.client_id, CLIENT_ID_ENV), (self.client_secret, CLIENT_SECRET_ENV)):
            if not isinstance(value, str):
                raise ConfigError(env, "must be text")
            if not value.strip() and not self.offline:
                msg = "is not set; export the Genesys OAuth client credentials (client credentials grant)"
                raise ConfigError(env, f"{msg} in {CLIENT_ID_ENV} and {CLIENT_SECRET_ENV}")
            _check_sendable_secret(value, env)

    def _check_warehouse_wiring(self) -> None:
        set_ = object.__setattr__
        for name in ("redshift_connection", "redshift_secret_id", "iam_role"):
            set_(self, name, _optional_text(getattr(self, name), flag_name(name)))
        on_s3 = self.stage.lower().startswith("s3://")
        if self.warehouse == "redshift":
            if not self.redshift_connection and not self.redshift_secret_id:
                msg = "redshift needs --redshift-connection (a Glue connection) or --redshift-secret-id"
                raise ConfigError("--redshift-connection", msg)
            if self.offline:
                return  # read-only commands (status, plan) neither stage nor COPY
            if not on_s3:
                msg = "Redshift loads with COPY from S3; give --stage s3://bucket/prefix"
                raise ConfigError("--stage", msg)
            if not self.iam_role:
                msg = "redshift needs --iam-role: the ARN of the role COPY assumes to read the stage"
                raise ConfigError("--iam-role", msg)
        elif on_s3:
            msg = (
                "the DuckDB warehouse reads a local stage; give a local folder (e.g. data/stage) "
                "or --warehouse redshift"
            )
            raise ConfigError("--stage", msg)

    def __str__(self) -> str:
        return repr(self)

    @property
    def zone(self) -> str:
        """The zone the dates are local to: ``time_zone``, or UTC when none was given (yet)."""
        return self.time_zone or settings.DEFAULT_TIME_ZONE

    @property
    def duckdb_path(self) -> str | None:
        """The DuckDB file of a ``duckdb:PATH`` warehouse, or None for Redshift."""
        return self.warehouse[len("duckdb:") :] if self.warehouse.startswith("duckdb:") else None

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], env: Mapping[str, str]) -> Config:
        """Build a config from flag values (strings or typed) and the environment.

        Keys are the flag names with underscores (``start_date``, ``time_zone``, ...); None values
        and keys that are not fields (e.g. Glue's own ``secret_id``, ``log_level``) are ignored.
        Credentials come from ``client_id``/``client_secret`` when given, else from env
        ``GENESYS_CLIENT_ID``/``GENESYS_CLIENT_SECRET``.

        Args:
            values: flag values.
            env: environment variables (``os.environ``).

        Returns:
            The validated config.

        Raises:
            ConfigError: for any unparseable or invalid value, naming the flag and the fix.
        """
        known = {f.name: f for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for name, raw in values.items():
            if name not in known or raw is None:
                continue
            kwargs[name] = _parse_value(name, raw)
        for name, env_name in (("client_id", CLIENT_ID_ENV), ("client_secret", CLIENT_SECRET_ENV)):
            if not kwargs.get(name):
                kwargs[name] = env.get(env_name, "")
        return cls(**kwargs)

    def with_changes(self, **changes: Any) -> Config:
        """Return a copy with some fields changed, validated again.

        Args:
            **changes: field values.
        """
        return replace(self, **changes)

    def date_range(self, now: datetime | None = None) -> tuple[date, date]:
        """Return the inclusive local dates to load: the explicit ones, or the nightly default.

        Without dates: the ``lookback_days`` days ending yesterday. With only ``start_date``: from it to
        yesterday. With only ``end_date``: the ``lookback_days`` days ending on it.

        Args:
            now: an aware instant to use instead of the clock (tests).

        Returns:
            ``(start_date, end_date)``.

        Raises:
            ConfigError: when only ``start_date`` is given and it is after yesterday, or a date is after
                today (there is nothing to load yet; today itself may be named, it is incomplete).
        """
        today = today_in(self.zone, now)
        for value, flag in ((self.start_date, "--start-date"), (self.end_date, "--end-date")):
            if value is not None and value > today:
                msg = f"{value} is after today ({today} in {self.zone}); Genesys has no data for it yet"
                raise ConfigError(flag, msg)
        if self.start_date is not None and self.end_date is not None:
            return self.start_date, self.end_date
        if self.end_date is not None:
            return self.end_date - timedelta(days=self.lookback_days - 1), self.end_date
        start, yesterday = nightly_range(self.lookback_days, self.zone, now)
        if self.start_date is None:
            return start, yesterday
        if self.start_date > yesterday:
            msg = (
                f"{self.start_date} is after yesterday ({yesterday}); give --end-date to load today or later"
            )
            raise ConfigError("--start-date", msg)
        return self.start_date, yesterday

    def windows(self, now: datetime | None = None) -> list[Window]:
        """Return the query windows of this run, in date order.

        Args:
            now: an aware instant to use instead of the clock (tests).
        """
        start, end = self.date_range(now)
        return list(plan_windows(start, end, self.days_per_query, self.zone))

    def skipped_days(self, now: datetime | None = None) -> list[date]:
        """Return the dates of this run's range that do not exist in its zone (never sent).

        Args:
            now: an aware instant to use instead of the clock (tests).
        """
        start, end = self.date_range(now)
        return skipped_days(start, end, self.zone)


def _parse_value(name: str, raw: Any) -> Any:
    flag = flag_name(name)
    if name in ("start_date", "end_date"):
        if isinstance(raw, str):
            text = raw.strip()
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                raise ConfigError(flag, f"{raw!r} is not a date; write YYYY-MM-DD, e.g. 2026-03-08")
            try:
                return date.fromisoformat(text)
            except ValueError:
                raise ConfigError(flag, f"{raw!r} is not a calendar date; write YYYY-MM-DD") from None
        return raw
    if name in (
        "lookback_days",
        "days_per_query",
        "settle_days",
        "requests_per_minute",
        "max_concurrent_queries",
        "max_attempts",
        "verify_days",
    ):
        if isinstance(raw, str):
            try:
                return int(raw.strip())
            except ValueError:
                raise ConfigError(flag, f"{raw!r} is not a whole number") from None
        return raw
    if name in ("max_retry_wait", "timeout", "shrink_limit"):
        if isinstance(raw, str):
            try:
                return float(raw.strip())
            except ValueError:
                raise ConfigError(flag, f"{raw!r} is not a number of seconds") from None
        return raw
    if name in ("keep_staged", "offline", "allow_shrink"):
        if isinstance(raw, str):
            text = raw.strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ConfigError(flag, f"{raw!r} is not true or false")
        return raw
    if name == "metrics":
        if isinstance(raw, str):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        if isinstance(raw, Sequence):
            return tuple(raw)
        return raw
    if isinstance(raw, str):
        return raw.strip()
    return raw
