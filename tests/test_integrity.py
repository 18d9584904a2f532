"""Warehouse integrity: no operator action, odd time zone or bad answer silently loses or mixes data.

Each test is a case that lost or mixed loaded data with exit status 0 before: a metric subset that
wiped the day's other metrics, a reload in another zone, an empty answer, a day whose midnight the
zone skips, SIGTERM mid-load, and read commands that created what they read.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import signal
import subprocess
import zoneinfo
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from fixtures.jobs import (
    assert_equals_ground_truth,
    duckdb_facts,
    duckdb_load_runs,
    python_command,
    sim_env,
    wait_until,
)
from fixtures.simulator import api_session, post_query, query_ok
from genesys_etl import cli, settings
from genesys_etl.config import Config
from genesys_etl.lint import lint_body
from genesys_etl.query import build_query
from genesys_etl.windows import day_exists, local_midnight, midnight_exists, plan_windows
from genesys_sim import FaultConfig, SimConfig, SimulatorServer

TODAY = date(2026, 11, 26)
NY = "America/New_York"


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimConfig(seed=5, queues=6, today=TODAY)) as server:
        yield server


def _cli(
    sim: SimulatorServer, db: Path, *args: str, capsys: pytest.CaptureFixture[str] | None = None
) -> tuple[int, str, str]:
    """Run the CLI on the test's DuckDB file and stage; return (status, stdout, stderr)."""
    if capsys is not None:
        capsys.readouterr()
    out = io.StringIO()
    argv = [
        *args,
        "--api-url",
        sim.base_url,
        "--warehouse",
        f"duckdb:{db}",
        "--stage",
        str(db.parent / "stage"),
    ]
    status = cli.main(argv, env=sim_env(sim), out=out)
    err = capsys.readouterr().err if capsys is not None else ""
    return status, out.getvalue(), err


def _status(db: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    out = io.StringIO()
    status = cli.main(["status", *args, "--warehouse", f"duckdb:{db}"], env={}, out=out)
    return status, out.getvalue(), capsys.readouterr().err


def _query(db: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def _kpis(db: Path, day: str) -> list[tuple[Any, ...]]:
    return _query(
        db,
        "SELECT queue_id, media_type, offered, answered, aht_seconds FROM genesys.v_queue_daily_kpis "
        "WHERE metric_date = ? ORDER BY 1, 2",
        [date.fromisoformat(day)],
    )


def _one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if "genesys-etl" in line and "error" in line]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# ---- 1. a load replaces exactly the cells it pulled ---------------------------------------------------


def test_a_metric_subset_reload_keeps_the_days_other_metrics(sim: SimulatorServer, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    day = ("--start-date", "2026-11-05", "--end-date", "2026-11-05")
    assert _cli(sim, db, "run", *day)[0] == 0
    before = _kpis(db, "2026-11-05")
    other_metrics = _query(db, "SELECT count(*) FROM genesys.queue_metrics_daily WHERE metric <> 'nOffered'")
    assert any(row[3] > 0 for row in before)
    assert any(row[4] is not None for row in before)

    assert _cli(sim, db, "run", *day, "--metrics", "nOffered")[0] == 0

    assert _kpis(db, "2026-11-05") == before  # answered and AHT are still there
    assert _query(db, "SELECT count(*) FROM genesys.queue_metrics_daily WHERE metric <> 'nOffered'") == (
        other_metrics
    )
    load_ids = _query(
        db, "SELECT metric = 'nOffered', count(DISTINCT load_id) FROM genesys.queue_metrics_daily GROUP BY 1"
    )
    assert sorted(load_ids) == [(False, 1), (True, 1)]  # nOffered rows come from the second load


# ---- 2. one reporting time zone per schema ------------------------------------------------------------


def test_a_run_in_another_zone_is_refused_before_any_call_and_no_zone_means_the_schemas(
    sim: SimulatorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "wh.duckdb"
    days = ("--start-date", "2026-11-03", "--end-date", "2026-11-04")
    assert _cli(sim, db, "run", *days, "--time-zone", NY)[0] == 0
    before = _query(db, "SELECT count(*), sum(stat_count) FROM genesys.queue_metrics_daily")
    sim.reset_counters()

    for zone in ("UTC", "Europe/Paris"):
        status, out, err = _cli(sim, db, "run", *days, "--time-zone", zone, capsys=capsys)
        assert status == 2
        line = _one_error_line(err)
        assert "--time-zone" in line
        assert NY in line
        assert zone in line
        assert "--schema" in line
        assert out == ""
    assert sim.request_count() == 0  # refused before any call, not even a login
    assert _query(db, "SELECT count(*), sum(stat_count) FROM genesys.queue_metrics_daily") == before

    status, out, _ = _cli(sim, db, "run", *days)  # no zone: the schema's
    assert status == 0, out
    assert {row[0] for row in _query(db, "SELECT DISTINCT time_zone FROM genesys.queue_metrics_daily")} == {
        NY
    }
    assert {row[0] for row in _query(db, "SELECT DISTINCT time_zone FROM genesys.load_runs")} == {NY}

    status, text, _ = _status(db, "--start-date", "2026-11-01", "--end-date", "2026-11-04", capsys=capsys)
    assert status == 0
    assert f"days local to {NY}" in text
    assert f"--time-zone {NY}" in text  # the backfill it suggests for the missing days keeps the zone


def test_a_warehouse_that_already_mixes_zones_is_reported_with_its_repair(
    sim: SimulatorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "wh.duckdb"
    assert (
        _cli(sim, db, "run", "--start-date", "2026-11-03", "--end-date", "2026-11-05", "--time-zone", NY)[0]
        == 0
    )
    # What a warehouse of an earlier version looks like after a UTC reload of 11-04: no recorded
    # zone, and one day's rows in UTC.
    with duckdb.connect(str(db)) as con:
        con.execute("DELETE FROM genesys.etl_settings WHERE name = 'time_zone'")
        con.execute(
            "UPDATE genesys.queue_metrics_daily SET time_zone = 'UTC' WHERE metric_date = '2026-11-04'"
        )
        con.execute("UPDATE genesys.load_runs SET time_zone = 'UTC'")

    status, _, err = _cli(
        sim, db, "run", "--start-date", "2026-11-04", "--end-date", "2026-11-04", capsys=capsys
    )
    assert status == 2
    assert "America/New_York, UTC" in _one_error_line(err)

    status, text, _ = _status(
        db, "--start-date", "2026-11-03", "--end-date", "2026-11-05", "--time-zone", NY, capsys=capsys
    )
    assert status == 0
    assert "1 day(s) hold rows loaded in UTC, not in the schema's zone America/New_York" in text
    repair = [line.strip() for line in text.splitlines() if "--start-date 2026-11-04" in line]
    assert len(repair) == 1
    assert f"--time-zone {NY}" in repair[0]

    args = shlex.split(repair[0])[1:]  # the printed command, as the operator would paste it
    args = [a for a in args if not a.startswith("duckdb:")]
    args = [a for i, a in enumerate(args) if a != "--warehouse"]
    assert _cli(sim, db, *args)[0] == 0
    _, text, _ = _status(db, "--start-date", "2026-11-03", "--end-date", "2026-11-05", capsys=capsys)
    assert "not in the schema's zone" not in text
    truth = sim.ground_truth(date(2026, 11, 3), date(2026, 11, 5), NY)
    assert_equals_ground_truth(truth, duckdb_facts(db, "2026-11-03", "2026-11-05"))


# ---- 3. the shrink guard ------------------------------------------------------------------------------


def test_an_empty_answer_keeps_the_loaded_days_and_the_rerun_command_forces_it(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    db = tmp_path / "wh.duckdb"
    days = ("--start-date", "2026-11-05", "--end-date", "2026-11-06")
    assert _cli(sim, db, "run", *days)[0] == 0
    before = _query(db, "SELECT * FROM genesys.queue_metrics_daily ORDER BY ALL")
    assert len(before) > 100

    sim.set_faults(FaultConfig(sequence=("empty",), path_prefix="/api/v2/analytics"))
    status, out, _ = _cli(sim, db, "run", *days)
    assert status == 1
    assert f"holds {len(before)} rows but Genesys answered 0" in out
    assert _query(db, "SELECT * FROM genesys.queue_metrics_daily ORDER BY ALL") == before
    last = duckdb_load_runs(db)[-1]
    assert last[3] == "failed"
    assert f"holds {len(before)} rows" in str(
        _query(db, "SELECT error FROM genesys.load_runs WHERE status = 'failed'")
    )
    forced = [line.strip() for line in out.splitlines() if line.strip().startswith("genesys-etl backfill")]
    forced = [line for line in forced if "--allow-shrink" in line]
    assert len(forced) == 1
    assert "--start-date 2026-11-05 --end-date 2026-11-06" in forced[0]

    sim.set_faults(FaultConfig(sequence=("empty",), path_prefix="/api/v2/analytics"))
    status, out, _ = _cli(sim, db, "run", *days, "--allow-shrink")
    assert status == 0, out
    assert _query(db, "SELECT count(*) FROM genesys.queue_metrics_daily") == [(0,)]


def test_a_first_load_and_a_day_without_traffic_pass_the_guard(sim: SimulatorServer, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    days = ("--start-date", "2026-11-05", "--end-date", "2026-11-05")
    for _ in range(2):  # an empty first load, then an empty reload of an empty day
        sim.set_faults(FaultConfig(sequence=("empty",), path_prefix="/api/v2/analytics"))
        status, out, _ = _cli(sim, db, "run", *days)
        assert status == 0, out
    assert _cli(sim, db, "run", *days)[0] == 0  # real data now: growing is never refused
    assert _query(db, "SELECT count(*) > 0 FROM genesys.queue_metrics_daily") == [(True,)]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--shrink-limit", "2"), "--shrink-limit: 2 is more than 1"),
        (("--shrink-limit", "-0.1"), "--shrink-limit: -0.1 is out of range"),
        (("--shrink-limit", "half"), "--shrink-limit: 'half' is not a number"),
        (("--end-date", "2199-01-01"), "--end-date: 2199-01-01 is after today"),
        (
            ("--start-date", "2199-01-01", "--end-date", "2199-01-02"),
            "--start-date: 2199-01-01 is after today",
        ),
    ],
)
def test_new_refusals_are_one_line_exit_2_before_any_call(
    sim: SimulatorServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flags: tuple[str, ...],
    message: str,
) -> None:
    status, out, err = _cli(sim, tmp_path / "wh.duckdb", "run", *flags, capsys=capsys)
    assert status == 2
    assert message in _one_error_line(err)
    assert sim.request_count() == 0
    assert out == ""


def test_the_glue_job_takes_the_shrink_settings() -> None:
    from genesys_queue_metrics_job import build_config, parse_arguments

    arguments = parse_arguments(
        [
            "--secret_id",
            "s",
            "--stage",
            "s3://my-bucket/stage",
            "--redshift_connection",
            "c",
            "--iam_role",
            "arn:r",
            "--allow_shrink",
            "true",
            "--shrink_limit",
            "0.25",
            "--JOB_ID",
            "j",
        ]
    )
    config = build_config(arguments, {"client_id": "i", "client_secret": "s"})
    assert (config.allow_shrink, config.shrink_limit) == (True, 0.25)


# ---- 4. days whose midnight the zone skips ------------------------------------------------------------

# The midnight-gap days the issue names (the clocks go from 23:59:59 to 01:00).
NAMED_GAP_DAYS: list[tuple[str, date]] = [
    ("America/Santiago", date(2026, 9, 6)),
    ("America/Havana", date(2026, 3, 8)),
    ("Asia/Beirut", date(2026, 3, 29)),
    ("Africa/Cairo", date(2023, 4, 28)),
    ("America/Asuncion", date(2024, 10, 6)),
    ("Asia/Tehran", date(2021, 3, 22)),
]
_FIRST, _LAST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)


def _offset_changes(zone: zoneinfo.ZoneInfo) -> Iterator[date]:
    """UTC dates around which ``zone`` changes its offset, found by weekly samples (an independent scan).

    tzdata has no zone whose offset changes and changes back within a week, so a weekly sample sees
    every transition between 2000 and 2199; each change yields the 9 dates around it.
    """
    step = timedelta(days=7)
    moment, offset = _FIRST, _FIRST.astimezone(zone).utcoffset()
    while moment < _LAST:
        following = moment + step
        next_offset = following.astimezone(zone).utcoffset()
        if next_offset != offset:
            first = moment.date() - timedelta(days=1)
            yield from (first + timedelta(days=i) for i in range(9))
        moment, offset = following, next_offset


def _midnight_gap_days() -> dict[str, set[date]]:
    """Every (zone, local date) of 2000–2199 whose 00:00 does not exist, every IANA zone."""
    found: dict[str, set[date]] = {}
    for name in sorted(zoneinfo.available_timezones()):
        zone = zoneinfo.ZoneInfo(name)
        for day in _offset_changes(zone):
            naive = datetime(day.year, day.month, day.day)
            roundtrip = naive.replace(tzinfo=zone).astimezone(UTC).astimezone(zone).replace(tzinfo=None)
            if roundtrip != naive:
                found.setdefault(name, set()).add(day)
    return found


@pytest.fixture(scope="module")
def midnight_gap_days() -> dict[str, set[date]]:
    return _midnight_gap_days()


def test_plan_never_emits_a_body_lint_rejects_on_any_midnight_gap_day_2000_2199(
    midnight_gap_days: dict[str, set[date]],
) -> None:
    days = sum(len(found) for found in midnight_gap_days.values())
    # The cases the issue names are among them (and the scan is not vacuous).
    for zone, day in NAMED_GAP_DAYS:
        assert day in midnight_gap_days[zone], (zone, day)
    assert len(midnight_gap_days) > 10
    assert days > 1000
    checked = 0
    for zone, gap_days in midnight_gap_days.items():
        for gap in sorted(gap_days):
            # The week before through the week after, in windows of 7 and of 3 days.
            for per_query in (7, 3):
                windows = list(
                    plan_windows(gap - timedelta(days=7), gap + timedelta(days=7), per_query, zone)
                )
                for window in windows:
                    body = build_query(window, ["nOffered", "tHandle"])
                    problems = lint_body(body, today=date(2200, 1, 1))
                    assert problems == [], (zone, str(window), body, problems)
                    checked += 1
                gap_window = [w for w in windows if w.start_date <= gap <= w.end_date]
                if not day_exists(gap, zone):  # a date-line jump: never sent
                    assert gap_window == []
                    continue
                assert len(gap_window) == 1
                assert gap_window[0].day_count == 1
                assert "granularity" not in build_query(gap_window[0], ["nOffered"])
                # The day starts when the clocks jump: naive midnight read with the offset before it.
                jump = datetime(gap.year, gap.month, gap.day, tzinfo=zoneinfo.ZoneInfo(zone)).astimezone(UTC)
                assert gap_window[0].start == jump
    assert checked > 10_000


@pytest.mark.parametrize(("zone", "day"), NAMED_GAP_DAYS)
def test_a_midnight_gap_day_loads_exactly_the_ground_truth(
    sim: SimulatorServer, tmp_path: Path, zone: str, day: date
) -> None:
    assert not midnight_exists(day, zone)
    db = tmp_path / "wh.duckdb"
    start, end = day - timedelta(days=4), day + timedelta(days=3)
    status, out, _ = _cli(
        sim, db, "backfill", "--start-date", str(start), "--end-date", str(end), "--time-zone", zone
    )
    assert status == 0, out
    # The simulator's own day bounds (genesys_sim.validation.local_midnight), not the job's.
    truth = sim.ground_truth(start, end, zone)
    assert_equals_ground_truth(truth, duckdb_facts(db, str(start), str(end)))
    bounds = _query(
        db,
        "SELECT DISTINCT interval_start, interval_end FROM genesys.queue_metrics_daily WHERE metric_date = ?",
        [day],
    )
    first_instant = local_midnight(day, zone)
    assert bounds == [(first_instant, local_midnight(day + timedelta(days=1), zone))]
    assert first_instant.astimezone(zoneinfo.ZoneInfo(zone)).hour == 1  # the day starts at 01:00


def test_the_simulator_buckets_p1d_like_zoned_date_time_plus_days_across_a_skipped_midnight(
    sim: SimulatorServer,
) -> None:
    """One plausible real behaviour: each bucket is the previous one ``plusDays(1)``, so after the gap
    every boundary drifts to 01:00 and a body ending at a real midnight does not tile (a 400)."""
    session = api_session(sim)
    body = {
        "interval": "2026-09-05T00:00:00.000-04:00/2026-09-08T00:00:00.000-03:00",
        "granularity": "P1D",
        "timeZone": "America/Santiago",
        "groupBy": ["queueId"],
        "metrics": ["nOffered"],
    }
    answer = post_query(session, sim, body)
    assert answer.status_code == 400
    assert "2026-09-08T01:00:00.000-03:00" in answer.json()["message"]  # the drifted boundary
    # The job's body for the gap day alone: no granularity, one bucket, the whole day.
    window = next(w for w in plan_windows(date(2026, 9, 6), date(2026, 9, 6), 7, "America/Santiago"))
    payload = query_ok(session, sim, build_query(window, ["nOffered"]))
    intervals = {bucket["interval"] for result in payload["results"] for bucket in result["data"]}
    assert intervals == {"2026-09-06T04:00:00.000Z/2026-09-07T03:00:00.000Z"}


def test_a_day_the_zone_skipped_is_never_sent_and_plan_report_and_status_say_so(
    sim: SimulatorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zone, skipped = "Pacific/Apia", date(2011, 12, 30)  # Samoa jumped from 29 to 31 December 2011
    assert not day_exists(skipped, zone)
    db = tmp_path / "wh.duckdb"
    days = ("--start-date", "2011-12-28", "--end-date", "2012-01-01", "--time-zone", zone)

    capsys.readouterr()
    out = io.StringIO()
    assert cli.main(["plan", *days], env={}, out=out) == 0
    bodies = [line for line in out.getvalue().splitlines() if line]
    assert all("2011-12-30T" not in body for body in bodies)
    assert "2011-12-30 does not exist in Pacific/Apia" in capsys.readouterr().err

    status, report, _ = _cli(sim, db, "backfill", *days)
    assert status == 0, report
    assert "2011-12-30 does not exist in Pacific/Apia" in report
    assert sim.request_count("aggregates/query", 200) == len(bodies)
    loaded_days = {
        row[0] for row in _query(db, "SELECT DISTINCT metric_date FROM genesys.queue_metrics_daily")
    }
    assert skipped not in loaded_days
    assert date(2011, 12, 31) in loaded_days

    status, text, _ = _status(db, *days[:4], capsys=capsys)
    assert status == 0
    assert re.search(r"2011-12-30\s+skipped \(not a day in this zone\)", text)
    assert "0 missing, 1 not in Pacific/Apia" in text
    assert "load the missing days" not in text


# ---- 5. SIGTERM ---------------------------------------------------------------------------------------


def test_sigterm_mid_load_rolls_back_records_failed_prints_the_report_and_exits_143(tmp_path: Path) -> None:
    db, stage = tmp_path / "wh.duckdb", tmp_path / "stage"
    marker = tmp_path / "inside-transaction"
    with SimulatorServer(SimConfig(seed=29, queues=6, today=TODAY)) as sim:
        base = ["--api-url", sim.base_url, "--warehouse", f"duckdb:{db}", "--stage", str(stage)]
        days = ["--start-date", "2026-09-01", "--end-date", "2026-09-21"]
        assert cli.main(["backfill", *days, *base], env=sim_env(sim), out=io.StringIO()) == 0
        before = _query(db, "SELECT * FROM genesys.queue_metrics_daily ORDER BY ALL")
        # A child freezes in window 2's transaction (after its DELETE and INSERT) with the handlers a
        # real command line installs (stop_on_signals); SIGTERM lands there every time.
        code = (
            "from genesys_etl.pipeline import stop_on_signals; stop_on_signals(); "
            "from fixtures.jobs import run_cli_pausing_in_load as run; "
            "sys.exit(run(sys.argv[1:-2], sys.argv[-2], int(sys.argv[-1])))"
        )
        process = subprocess.Popen(
            [*python_command(code), "backfill", *days, *base, str(marker), "2"],
            env={**os.environ, **sim_env(sim)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert wait_until(marker.exists, timeout=60)
            os.kill(process.pid, signal.SIGTERM)
            out, err = process.communicate(timeout=60)
        finally:
            process.kill()
    assert process.returncode == 143, err
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if "stopped by SIGTERM" in line]) == 1
    assert "the run stopped: stopped by SIGTERM" in out
    assert "--start-date 2026-09-08 --end-date 2026-09-21" in out  # the rerun: window 2 and the rest
    after = _query(db, "SELECT * FROM genesys.queue_metrics_daily ORDER BY ALL")
    window_2 = [row for row in before if date(2026, 9, 8) <= row[0] <= date(2026, 9, 14)]
    assert [row for row in after if date(2026, 9, 8) <= row[0] <= date(2026, 9, 14)] == window_2  # same loads
    numbers = [
        i
        for i, c in enumerate(settings.FACT_COLUMNS)
        if c.name not in ("load_id", "loaded_at", "loaded_date")
    ]
    # Window 1 was reloaded: other load ids, the same numbers.
    assert [[row[i] for i in numbers] for row in after] == [[row[i] for i in numbers] for row in before]
    statuses = [(str(r[1]), r[3]) for r in duckdb_load_runs(db)][3:]
    assert statuses[:2] == [("2026-09-01", "succeeded"), ("2026-09-08", "failed")]
    # Window 3 was fetched meanwhile (windows are fetched concurrently): recorded failed, not loaded.
    assert statuses[2:] in ([], [("2026-09-15", "failed")])
    assert "SIGTERM" in str(_query(db, "SELECT error FROM genesys.load_runs WHERE status = 'failed'"))


# ---- 6. read commands never create --------------------------------------------------------------------


def test_status_on_a_missing_duckdb_file_is_one_line_exit_2_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "nowhere" / "wh.duckdb"
    status, out, err = _status(db, capsys=capsys)
    assert status == 2
    assert "no DuckDB warehouse at" in _one_error_line(err)
    assert out == ""
    assert not db.parent.exists()


def test_status_on_a_file_without_the_schema_is_one_line_exit_2_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "other.duckdb"
    duckdb.connect(str(db)).close()
    status, _, err = _status(db, capsys=capsys)
    assert status == 2
    assert "no genesys-etl tables in schema 'genesys'" in _one_error_line(err)
    assert _query(db, "SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'genesys'") == [
        (0,)
    ]


def test_today_may_be_named_but_not_tomorrow(sim: SimulatorServer, tmp_path: Path) -> None:
    today = datetime.now(tz=UTC).date()
    config = Config(start_date=today, end_date=today, offline=True)
    assert config.date_range() == (today, today)
    with pytest.raises(Exception, match="is after today"):
        Config(start_date=today, end_date=today + timedelta(days=1), offline=True).date_range()
