"""The command line's own behaviour: status is a read, errors are one line, flags are exact."""

from __future__ import annotations

import io
import shlex
from datetime import date
from pathlib import Path

import pytest

from genesys_etl import cli
from genesys_etl.config import Config
from genesys_etl.errors import ConfigError
from genesys_etl.report import backfill_commands
from genesys_etl.warehouse import DuckDBWarehouse
from genesys_etl.windows import Window


def _status(tmp_path: Path, *extra: str) -> tuple[int, str]:
    out = io.StringIO()
    argv = ["status", "--warehouse", f"duckdb:{tmp_path / 'wh.duckdb'}", *extra]
    return cli.main(argv, env={}, out=out), out.getvalue()


def test_status_reads_the_stored_settle_days_and_never_changes_them(tmp_path: Path) -> None:
    loader = DuckDBWarehouse(str(tmp_path / "wh.duckdb"), "genesys", settle_days=5)
    loader.ensure_schema()  # a run with --settle-days 5 stored it for the view
    window_start = loader.start_load(
        run_id="r", trigger="manual", window=Window(date(2026, 3, 1), date(2026, 3, 1), "UTC")
    )
    loader.fail_load(window_start, error="x", api_calls=0, retries=0)
    loader.close()

    status, _ = _status(tmp_path, "--start-date", "2026-03-01", "--end-date", "2026-03-02")
    assert status == 0
    reader = DuckDBWarehouse(str(tmp_path / "wh.duckdb"), "genesys")
    try:
        assert reader.stored_settle_days() == 5
    finally:
        reader.close()


def test_status_without_dates_covers_the_30_days_ending_yesterday(tmp_path: Path) -> None:
    DuckDBWarehouse(str(tmp_path / "wh.duckdb"), "genesys").ensure_schema()
    status, out = _status(tmp_path)
    assert status == 0
    assert "0 loaded, 0 provisional, 30 missing" in out


def test_status_with_an_unknown_zone_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _ = _status(tmp_path, "--time-zone", "Mars/Base")
    err = capsys.readouterr().err
    assert status == 2
    assert len(err.strip().splitlines()) == 1
    assert "--time-zone" in err


def test_read_only_commands_need_no_stage_or_copy_role_for_redshift() -> None:
    config = Config.from_mapping({"warehouse": "redshift", "redshift_connection": "rs", "offline": True}, {})
    assert config.warehouse == "redshift"
    with pytest.raises(ConfigError, match="--stage"):
        Config.from_mapping(
            {"warehouse": "redshift", "redshift_connection": "rs"},
            {"GENESYS_CLIENT_ID": "a", "GENESYS_CLIENT_SECRET": "b"},
        )


def test_abbreviated_flags_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["plan", "--start-dat", "2026-01-01"], env={})
    assert exited.value.code == 2
    assert "--start-dat" in capsys.readouterr().err


def test_plan_calls_nothing_and_needs_no_credentials() -> None:
    out = io.StringIO()
    status = cli.main(["plan", "--start-date", "2026-03-08", "--end-date", "2026-03-08",
                       "--time-zone", "America/New_York"], env={}, out=out)  # fmt: skip
    assert status == 0
    assert out.getvalue().count("\n") == 1
    assert '"interval": "2026-03-08T00:00:00.000-05:00/2026-03-09T00:00:00.000-04:00"' in out.getvalue()


def test_rerun_commands_keep_every_setting_that_changes_the_load() -> None:
    values = {
        "start_date": "2026-03-01",
        "end_date": "2026-03-09",
        "time_zone": "Europe/London",
        "region": "eu-west-1",
        "metrics": "nOffered,tHandle",
        "days_per_query": "3",
        "settle_days": "5",
        "schema": "contact_center",
        "warehouse": "duckdb:/srv/cc.duckdb",
        "stage": "/srv/stage",
    }
    env = {"GENESYS_CLIENT_ID": "id-123", "GENESYS_CLIENT_SECRET": "secret-456"}
    config = Config.from_mapping(values, env)
    [command] = backfill_commands([(date(2026, 3, 4), date(2026, 3, 6))], config)
    assert "id-123" not in command
    assert "secret-456" not in command
    # The printed command, run as is, rebuilds the same configuration for those days.
    argv = shlex.split(command)[1:]
    assert argv[:5] == ["backfill", "--start-date", "2026-03-04", "--end-date", "2026-03-06"]
    args = cli.build_parser().parse_args(argv)
    rebuilt = Config.from_mapping({k: v for k, v in vars(args).items() if v is not None}, env)
    for name in (
        "time_zone",
        "region",
        "metrics",
        "days_per_query",
        "settle_days",
        "schema",
        "warehouse",
        "stage",
    ):
        assert getattr(rebuilt, name) == getattr(config, name), name


def test_rerun_commands_for_a_glue_run_start_glue_runs_in_the_same_zone() -> None:
    config = Config.from_mapping(
        {"time_zone": "America/New_York", "metrics": "nOffered", "offline": True}, {}
    )
    [command] = backfill_commands([(date(2026, 3, 8), date(2026, 3, 8))], config, glue_job="genesys-etl-job")
    assert command == (
        "genesys-etl backfill --on glue --job-name genesys-etl-job"
        " --start-date 2026-03-08 --end-date 2026-03-08 --time-zone America/New_York --metrics nOffered"
    )


@pytest.mark.parametrize(
    ("extra", "flag"),
    [
        (["--metrics", "nOfered"], "--metrics"),
        (["--time-zone", "Mars/Base"], "--time-zone"),
        (["--days-per-query", "9"], "--days-per-query"),
        (["--warehouse", "duckdb:x.duckdb"], "--warehouse"),
    ],
)
def test_backfill_on_glue_validates_every_flag_before_calling_aws(
    extra: list[str], flag: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    def no_aws(*args: object, **kwargs: object) -> None:
        raise AssertionError("AWS was called before the flags were validated")

    monkeypatch.setattr(boto3, "client", no_aws)
    argv = [
        "backfill",
        "--on",
        "glue",
        "--job-name",
        "j",
        "--start-date",
        "2026-01-01",
        "--end-date",
        "2026-01-31",
    ]
    status = cli.main([*argv, *extra], env={}, out=io.StringIO())
    err = capsys.readouterr().err
    assert status == 2
    assert flag in err
    assert len(err.strip().splitlines()) == 1
