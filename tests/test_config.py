"""Config: parsing flag values, every validation error (flag + fix), endpoints, date ranges, secrets."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from typing import Any

import pytest

from genesys_etl import settings
from genesys_etl.config import Config
from genesys_etl.errors import ConfigError

ENV = {"GENESYS_CLIENT_ID": "cid-4f1e", "GENESYS_CLIENT_SECRET": "sec-9d2b-very-secret"}
REDSHIFT = {
    "warehouse": "redshift",
    "stage": "s3://my-bucket/stage",
    "redshift_connection": "redshift-glue-conn",
    "iam_role": "arn:aws:iam::123456789012:role/copy",
}


def make(values: dict[str, Any] | None = None, env: dict[str, str] | None = None) -> Config:
    return Config.from_mapping(values or {}, ENV if env is None else env)


def test_defaults_match_the_design() -> None:
    config = make()
    assert config.time_zone is None  # none given: the schema's zone, once the pipeline has read it
    assert config.zone == "UTC"  # ... and UTC for a new schema (DESIGN.md "Query windows")
    assert config.lookback_days == 7
    assert config.days_per_query == 7
    assert config.metrics == settings.DEFAULT_METRICS
    assert config.settle_days == 3
    assert config.warehouse == "duckdb:data/warehouse.duckdb"
    assert config.duckdb_path == "data/warehouse.duckdb"
    assert config.stage == "data/stage"
    assert config.schema == "genesys"
    assert config.keep_staged is False
    assert (config.region, config.api_url, config.login_url) == (
        "us-east-1",
        "https://api.mypurecloud.com",
        "https://login.mypurecloud.com",
    )
    assert (config.requests_per_minute, config.max_retry_wait, config.max_attempts, config.timeout) == (
        300,
        180.0,
        8,
        60.0,
    )
    assert config.trigger == "nightly"
    assert len(config.run_id) == 32
    assert make().run_id != config.run_id


def test_flag_strings_are_parsed_to_typed_values() -> None:
    config = make(
        {
            "start_date": "2026-03-01",
            "end_date": "2026-03-31",
            "time_zone": "America/New_York",
            "lookback_days": "3",
            "days_per_query": "5",
            "metrics": "nOffered, tHandle,oServiceLevel",
            "settle_days": "2",
            "keep_staged": "true",
            "requests_per_minute": "120",
            "max_retry_wait": "30.5",
            "max_attempts": "4",
            "timeout": "10",
            "schema": "analytics_1",
            "trigger": "backfill",
            "secret_id": "ignored: a Glue argument that is not a config field",
            "log_level": "DEBUG",
            "region": None,
        }
    )
    assert config.start_date == date(2026, 3, 1)
    assert config.end_date == date(2026, 3, 31)
    assert config.lookback_days == 3
    assert config.days_per_query == 5
    assert config.metrics == ("nOffered", "tHandle", "oServiceLevel")
    assert config.settle_days == 2
    assert config.keep_staged is True
    assert config.requests_per_minute == 120
    assert config.max_retry_wait == 30.5
    assert config.max_attempts == 4
    assert config.timeout == 10.0
    assert config.schema == "analytics_1"
    assert config.trigger == "backfill"


def test_typed_values_are_accepted_as_they_are() -> None:
    config = make({"start_date": date(2026, 1, 1), "end_date": date(2026, 1, 2), "metrics": ["nOffered"]})
    assert (config.start_date, config.end_date, config.metrics) == (
        date(2026, 1, 1),
        date(2026, 1, 2),
        ("nOffered",),
    )
    assert config.trigger == "manual"


def _error(values: dict[str, Any], env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        make(values, env)
    return caught.value


BAD_INPUT = [
    ({"start_date": "2026-13-01"}, "--start-date", "YYYY-MM-DD"),
    ({"start_date": "03/08/2026"}, "--start-date", "YYYY-MM-DD"),
    ({"end_date": "yesterday"}, "--end-date", "YYYY-MM-DD"),
    ({"start_date": "1999-12-31"}, "--start-date", "check the year"),
    ({"start_date": "2026-03-10", "end_date": "2026-03-01"}, "--end-date", "swap them"),
    ({"time_zone": "America/NewYork"}, "--time-zone", "'America/New_York'"),
    ({"time_zone": "Mars/Olympus"}, "--time-zone", "IANA name"),
    ({"time_zone": "../../etc/passwd"}, "--time-zone", "IANA name"),
    ({"metrics": "nOffered,tHandel"}, "--metrics", "did you mean 'tHandle'"),
    ({"metrics": "noffered"}, "--metrics", "did you mean 'nOffered'"),
    ({"metrics": ""}, "--metrics", "at least one metric"),
    ({"metrics": "nOffered,nOffered"}, "--metrics", "listed twice"),
    ({"days_per_query": "8"}, "--days-per-query", "1..7"),
    ({"days_per_query": "0"}, "--days-per-query", "1..7"),
    ({"days_per_query": "seven"}, "--days-per-query", "whole number"),
    ({"lookback_days": "0"}, "--lookback-days", "1 or more"),
    ({"settle_days": "-1"}, "--settle-days", "0 or more"),
    ({"region": "mars-1"}, "--region", "us-east-1 (mypurecloud.com)"),
    ({"region": "mypurecloud.fr"}, "--region", "region name or API domain"),
    ({"api_url": "ftp://api.mypurecloud.com"}, "--api-url", "http(s)"),
    ({"api_url": "http://api.mypurecloud.com"}, "--api-url", "only for loopback"),
    ({"api_url": "http://10.0.0.5:8787"}, "--api-url", "only for loopback"),
    ({"api_url": "https://user:pw@api.mypurecloud.com"}, "--api-url", "credentials do not belong"),
    ({"api_url": "https://api.mypurecloud.com/api/v2"}, "--api-url", "base URL only"),
    ({"api_url": "https://genesys.example.com"}, "--login-url", "give --login-url"),
    ({"login_url": "http://login.mypurecloud.com"}, "--login-url", "only for loopback"),
    ({"schema": "Genesys"}, "--schema", "plain identifier"),
    ({"schema": "genesys; drop table x"}, "--schema", "plain identifier"),
    ({"schema": "1abc"}, "--schema", "plain identifier"),
    ({"warehouse": "postgres://x"}, "--warehouse", "duckdb:PATH"),
    ({"warehouse": "duckdb:"}, "--warehouse", "duckdb:PATH"),
    ({**REDSHIFT, "stage": "data/stage"}, "--stage", "s3://bucket/prefix"),
    ({**REDSHIFT, "redshift_connection": None}, "--redshift-connection", "--redshift-secret-id"),
    ({**REDSHIFT, "iam_role": ""}, "--iam-role", "ARN"),
    ({"stage": "s3://my-bucket/stage"}, "--stage", "local folder"),
    ({"stage": "s3://B/x", "warehouse": "redshift"}, "--stage", "s3://bucket/prefix"),
    ({"stage": "gs://bucket/x"}, "--stage", "only local folders"),
    ({"keep_staged": "maybe"}, "--keep-staged", "true or false"),
    ({"requests_per_minute": "0"}, "--requests-per-minute", "at least 1"),
    ({"max_retry_wait": "-1"}, "--max-retry-wait", "out of range"),
    ({"max_retry_wait": "soon"}, "--max-retry-wait", "number of seconds"),
    ({"max_attempts": "0"}, "--max-attempts", "1..100"),
    ({"timeout": "0"}, "--timeout", "out of range"),
    ({"trigger": "cron"}, "--trigger", "nightly, backfill, manual"),
    ({"run_id": "../../etc"}, "--run-id", "letters, digits"),
]


@pytest.mark.parametrize(
    ("values", "flag", "fix"), BAD_INPUT, ids=[f"{c[1]}-{i}" for i, c in enumerate(BAD_INPUT)]
)
def test_invalid_input_names_the_flag_and_the_fix(values: dict[str, Any], flag: str, fix: str) -> None:
    error = _error(values)
    assert error.field == flag
    assert fix in error.message
    assert "\n" not in str(error)
    assert str(error).startswith(f"{flag}: ")
    assert error.exit_code == 2


@pytest.mark.parametrize("missing", ["GENESYS_CLIENT_ID", "GENESYS_CLIENT_SECRET"])
def test_missing_credentials_name_the_environment_variable(missing: str) -> None:
    env = {key: value for key, value in ENV.items() if key != missing}
    error = _error({}, env)
    assert error.field == missing
    assert "GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET" in error.message


def test_offline_config_needs_no_credentials() -> None:
    config = make({"offline": True}, env={})
    assert (config.client_id, config.client_secret) == ("", "")


def test_credentials_from_values_win_over_the_environment() -> None:
    config = make({"client_id": "from-secret", "client_secret": "s3cr3t-from-secret"})
    assert (config.client_id, config.client_secret) == ("from-secret", "s3cr3t-from-secret")


def test_secrets_never_appear_in_repr_or_str() -> None:
    config = make()
    for text in (repr(config), str(config), f"{config}"):
        assert ENV["GENESYS_CLIENT_SECRET"] not in text
        assert ENV["GENESYS_CLIENT_ID"] not in text
    assert "lookback_days=7" in repr(config)


def test_config_is_immutable() -> None:
    config = make()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.time_zone = "America/New_York"  # type: ignore[misc]


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(ConfigError, match="--days-per-query"):
        Config(days_per_query=30, client_id="a", client_secret="b")
    with pytest.raises(ConfigError, match="--metrics"):
        Config(metrics=("nOffered", "bogus"), client_id="a", client_secret="b")
    with pytest.raises(ConfigError, match="--lookback-days"):
        Config(lookback_days=True, client_id="a", client_secret="b")


@pytest.mark.parametrize(
    ("region", "name", "api", "login"),
    [
        ("eu-west-1", "eu-west-1", "https://api.mypurecloud.ie", "https://login.mypurecloud.ie"),
        ("mypurecloud.ie", "eu-west-1", "https://api.mypurecloud.ie", "https://login.mypurecloud.ie"),
        ("api.mypurecloud.de", "eu-central-1", "https://api.mypurecloud.de", "https://login.mypurecloud.de"),
        ("EUW2.PURE.CLOUD", "eu-west-2", "https://api.euw2.pure.cloud", "https://login.euw2.pure.cloud"),
        ("us-east-1", "us-east-1", "https://api.mypurecloud.com", "https://login.mypurecloud.com"),
    ],
)
def test_region_name_or_domain_gives_api_and_login_hosts(
    region: str, name: str, api: str, login: str
) -> None:
    config = make({"region": region})
    assert (config.region, config.api_url, config.login_url) == (name, api, login)


def test_every_known_region_resolves() -> None:
    for name, domain in settings.REGIONS.items():
        config = make({"region": domain})
        assert config.region == name
        assert config.api_url == f"https://api.{domain}"


@pytest.mark.parametrize(
    ("values", "api", "login"),
    [
        ({"api_url": "http://127.0.0.1:8787/"}, "http://127.0.0.1:8787", "http://127.0.0.1:8787"),
        ({"api_url": "http://localhost:9000"}, "http://localhost:9000", "http://localhost:9000"),
        ({"api_url": "http://[::1]:9000"}, "http://[::1]:9000", "http://[::1]:9000"),
        ({"api_url": "http://127.8.9.10:1"}, "http://127.8.9.10:1", "http://127.8.9.10:1"),
        (
            {"api_url": "https://api.mypurecloud.ie"},
            "https://api.mypurecloud.ie",
            "https://login.mypurecloud.ie",
        ),
        (
            {"api_url": "https://gw.example.com", "login_url": "https://auth.example.com"},
            "https://gw.example.com",
            "https://auth.example.com",
        ),
        (
            {"region": "eu-west-1", "api_url": "https://proxy.example.com"},
            "https://proxy.example.com",
            "https://login.mypurecloud.ie",
        ),
        (
            {"region": "eu-west-1", "login_url": "http://127.0.0.1:5000"},
            "https://api.mypurecloud.ie",
            "http://127.0.0.1:5000",
        ),
    ],
)
def test_explicit_urls_override_the_region(values: dict[str, str], api: str, login: str) -> None:
    config = make(values)
    assert (config.api_url, config.login_url) == (api, login)


def test_with_changes_revalidates() -> None:
    config = make({"time_zone": "Europe/London"})
    changed = config.with_changes(days_per_query=3)
    assert changed.days_per_query == 3
    assert changed.run_id == config.run_id
    assert changed.api_url == config.api_url
    with pytest.raises(ConfigError, match="--days-per-query"):
        config.with_changes(days_per_query=9)


NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)  # 2026-11-25 22:00 in New York


def test_nightly_range_is_the_lookback_ending_yesterday_in_the_zone() -> None:
    assert make({"time_zone": "America/New_York"}).date_range(NOW) == (date(2026, 11, 18), date(2026, 11, 24))
    assert make({"lookback_days": "3"}).date_range(NOW) == (date(2026, 11, 23), date(2026, 11, 25))


def test_explicit_dates_win_and_may_include_today() -> None:
    config = make({"start_date": "2026-11-20", "end_date": "2026-11-26"})
    assert config.date_range(NOW) == (date(2026, 11, 20), date(2026, 11, 26))


def test_only_a_start_date_runs_to_yesterday() -> None:
    assert make({"start_date": "2026-11-01"}).date_range(NOW) == (date(2026, 11, 1), date(2026, 11, 25))
    with pytest.raises(ConfigError, match="--end-date") as caught:
        make({"start_date": "2026-11-26"}).date_range(NOW)
    assert caught.value.field == "--start-date"


def test_only_an_end_date_takes_the_lookback_before_it() -> None:
    assert make({"end_date": "2026-03-10", "lookback_days": "4"}).date_range(NOW) == (
        date(2026, 3, 7),
        date(2026, 3, 10),
    )


def test_windows_of_a_year_are_53() -> None:
    config = make({"start_date": "2025-11-26", "end_date": "2026-11-25", "time_zone": "America/New_York"})
    windows = config.windows()
    assert len(windows) == 53
    assert windows[0].start_date == date(2025, 11, 26)
    assert windows[-1].end_date == date(2026, 11, 25)
    assert all(window.time_zone == "America/New_York" for window in windows)


def test_nightly_windows_follow_days_per_query() -> None:
    windows = make({"days_per_query": "3"}).windows(NOW)
    assert [(w.start_date, w.end_date) for w in windows] == [
        (date(2026, 11, 19), date(2026, 11, 21)),
        (date(2026, 11, 22), date(2026, 11, 24)),
        (date(2026, 11, 25), date(2026, 11, 25)),
    ]


def test_redshift_wiring_is_accepted_when_complete() -> None:
    config = make(REDSHIFT)
    assert config.warehouse == "redshift"
    assert config.duckdb_path is None
    secret_variant = make({**REDSHIFT, "redshift_connection": None, "redshift_secret_id": "rs/secret"})
    assert secret_variant.redshift_secret_id == "rs/secret"
