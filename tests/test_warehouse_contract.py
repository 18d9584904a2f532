"""The warehouse contract, run identically on DuckDB and on PostgreSQL standing in for Redshift."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fixtures.postgres import PostgresServer, PostgresStandInWarehouse
from genesys_etl import settings
from genesys_etl.errors import ConfigError, ShrinkGuardError, WarehouseError
from genesys_etl.stage import StagedWindow
from genesys_etl.transform import arrow_schema
from genesys_etl.warehouse import DuckDBWarehouse, SqlWarehouse, base
from genesys_etl.windows import Window, local_midnight

LOADED_AT = datetime(2026, 3, 20, 6, 0, tzinfo=UTC)
MakeWarehouse = Callable[..., SqlWarehouse]


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def make_warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeWarehouse]:
    """Open warehouses on ONE database (DuckDB file or PostgreSQL schema), each with its own connection."""
    opened: list[SqlWarehouse] = []
    if request.param == "duckdb":
        path = str(tmp_path / "warehouse.duckdb")

        def make(**options: Any) -> SqlWarehouse:
            opened.append(DuckDBWarehouse(path, "genesys", **options))
            return opened[-1]
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        schema = f"t_{uuid.uuid4().hex[:12]}"

        def make(**options: Any) -> SqlWarehouse:
            opened.append(PostgresStandInWarehouse(server.connect, schema, **options))
            return opened[-1]

    yield make
    for warehouse in opened:
        warehouse.close()


@pytest.fixture
def wh(make_warehouse: MakeWarehouse) -> SqlWarehouse:
    warehouse = make_warehouse()
    warehouse.ensure_schema()
    return warehouse


def fact_row(
    day: date, queue_id: str, media_type: str, metric: str, *, time_zone: str = "UTC", **values: Any
) -> dict[str, Any]:
    """One queue_metrics_daily row; ``values`` sets stat_* columns, qualifier or loaded_at."""
    row: dict[str, Any] = {c.name: None for c in settings.FACT_COLUMNS}
    row.update(
        metric_date=day,
        interval_start=local_midnight(day, time_zone),
        interval_end=local_midnight(day + timedelta(days=1), time_zone),
        time_zone=time_zone,
        queue_id=queue_id,
        media_type=media_type,
        metric=metric,
        loaded_at=LOADED_AT,
    )
    row.update(values)
    if "loaded_date" not in values:  # what transform stores: loaded_at's local date in time_zone
        row["loaded_date"] = row["loaded_at"].astimezone(ZoneInfo(time_zone)).date()
    return row


def grid(
    window: Window, queues: Sequence[str], media: Sequence[str] = ("voice", "chat")
) -> list[dict[str, Any]]:
    """Rows for every day × queue × media type × three metrics, with distinguishable counts."""
    rows = []
    for n, (day, queue_id, media_type) in enumerate(
        (d, q, m) for d in window.days for q in queues for m in media
    ):
        rows.append(fact_row(day, queue_id, media_type, "nOffered", stat_count=10 + n))
        rows.append(fact_row(day, queue_id, media_type, "tAnswered", stat_count=8, stat_sum=80_000.0))
        rows.append(fact_row(day, queue_id, media_type, "tHandle", stat_count=8, stat_sum=2_400_000.0))
    return rows


def stage_rows(folder: Path, rows: Sequence[dict[str, Any]]) -> StagedWindow:
    """Write rows as the stage does (one Parquet file with the contract schema) and describe them."""
    target = folder / f"window-{uuid.uuid4().hex[:8]}"
    target.mkdir(parents=True)
    path = target / "part-0.parquet"
    pq.write_table(pa.Table.from_pylist(list(rows), schema=arrow_schema()), path)
    return StagedWindow(uri=f"{target}/", files=(str(path),), rows=len(rows))


GRID_METRICS: tuple[str, ...] = ("nOffered", "tAnswered", "tHandle")


def load(
    wh: SqlWarehouse,
    folder: Path,
    window: Window,
    rows: Sequence[dict[str, Any]],
    *,
    api_calls: int = 1,
    metrics: Sequence[str] | None = None,
    shrink_limit: float | None = None,
) -> tuple[str, int]:
    """start_load + stage + replace_window, the way the pipeline calls them; rows get the load id.

    ``metrics`` (the cells' metrics) defaults to the grid's three plus any other metric the rows carry.
    """
    if metrics is None:
        metrics = sorted({*GRID_METRICS, *(row["metric"] for row in rows)})
    load_id = wh.start_load(run_id="run-1", trigger="manual", window=window)
    staged = stage_rows(folder, [{**row, "load_id": load_id} for row in rows])
    return load_id, wh.replace_window(
        load_id=load_id,
        window=window,
        metrics=metrics,
        staged=staged,
        api_calls=api_calls,
        retries=0,
        shrink_limit=shrink_limit,
    )


def fact_count(wh: SqlWarehouse, where: str = "1 = 1", params: Sequence[Any] = ()) -> int:
    rows = wh.fetch(f"SELECT COUNT(*) FROM {wh.qualified(settings.FACT_TABLE)} WHERE {where}", params)
    return int(rows[0][0])


def duplicate_keys(wh: SqlWarehouse) -> list[tuple[Any, ...]]:
    key = ", ".join(settings.FACT_KEY)
    return wh.fetch(
        f"SELECT {key}, COUNT(*) FROM {wh.qualified(settings.FACT_TABLE)} GROUP BY {key} HAVING COUNT(*) > 1"
    )


def load_run(wh: SqlWarehouse, load_id: str) -> dict[str, Any]:
    cols = ["status", "rows_loaded", "api_calls", "retries", "error", "finished_at"]
    rows = wh.fetch(
        f"SELECT {', '.join(cols)} FROM {wh.qualified(settings.LOAD_RUNS_TABLE)} WHERE load_id = ?", [load_id]
    )
    assert len(rows) == 1
    return dict(zip(cols, rows[0], strict=True))


WINDOW = Window(date(2026, 3, 1), date(2026, 3, 3), "UTC")
SHIPPED = ["001_tables", "002_kpi_view", "003_loaded_date", "004_verification"]


def test_ensure_schema_twice_is_a_no_op(wh: SqlWarehouse, make_warehouse: MakeWarehouse) -> None:
    before = wh.fetch(f"SELECT version, applied_at FROM {wh.qualified('schema_migrations')} ORDER BY version")
    assert [v for v, _ in before] == SHIPPED
    other = make_warehouse()
    other.ensure_schema()
    wh.ensure_schema()
    after = wh.fetch(f"SELECT version, applied_at FROM {wh.qualified('schema_migrations')} ORDER BY version")
    assert after == before
    settings_rows = wh.fetch(f"SELECT name, value FROM {wh.qualified('etl_settings')}")
    assert settings_rows == [("settle_days", "3")]


def test_a_new_migration_is_applied_once(wh: SqlWarehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = base.load_migrations(wh.ddl_dialect)
    extra = base.Migration("999_extra", ("CREATE TABLE {schema}.extra_table (x INTEGER)",))
    monkeypatch.setattr(base, "load_migrations", lambda dialect: [*shipped, extra])
    wh.ensure_schema()
    wh.ensure_schema()  # a second CREATE TABLE without IF NOT EXISTS would fail
    versions = wh.fetch(f"SELECT version FROM {wh.qualified('schema_migrations')} ORDER BY version")
    assert versions == [(v,) for v in [*SHIPPED, "999_extra"]]
    assert wh.fetch(f"SELECT COUNT(*) FROM {wh.qualified('extra_table')}") == [(0,)]


def test_a_failing_migration_is_rolled_back_and_not_recorded(
    wh: SqlWarehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = base.load_migrations(wh.ddl_dialect)
    broken = base.Migration(
        "999_broken",
        ("CREATE TABLE {schema}.half_done (x INTEGER)", "SELECT no_such_column FROM {schema}.half_done"),
    )
    monkeypatch.setattr(base, "load_migrations", lambda dialect: [*shipped, broken])
    with pytest.raises(WarehouseError, match="apply schema migrations"):
        wh.ensure_schema()
    versions = wh.fetch(f"SELECT version FROM {wh.qualified('schema_migrations')} ORDER BY version")
    assert versions == [(v,) for v in SHIPPED]
    tables = wh.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [wh.schema, "half_done"],
    )
    assert tables == []


def test_both_backends_expose_the_same_tables_and_view(wh: SqlWarehouse) -> None:
    rows = wh.fetch(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = ? "
        "ORDER BY table_name, ordinal_position",
        [wh.schema],
    )
    columns: dict[str, list[str]] = {}
    for table, column in rows:
        columns.setdefault(table, []).append(column)
    assert columns == {
        "etl_settings": ["name", "value", "updated_at"],
        "load_runs": [
            "load_id", "run_id", "trigger", "window_start_date", "window_end_date", "time_zone", "status",
            "api_calls", "retries", "rows_loaded", "started_at", "finished_at", "error",
        ],
        settings.FACT_TABLE: [c.name for c in settings.FACT_COLUMNS],
        "queues": [
            "queue_id", "name", "division_id", "division_name", "date_created", "date_modified",
            "first_seen_at", "last_seen_at", "is_active",
        ],
        "schema_migrations": ["version", "applied_at"],
        settings.KPI_VIEW: [
            "metric_date", "queue_id", "queue_name", "media_type", "offered", "answered", "abandoned",
            "abandon_rate", "service_level_pct", "asa_seconds", "aht_seconds", "avg_talk_seconds",
            "avg_hold_seconds", "avg_acw_seconds", "transfers", "is_provisional",
        ],
        "verify_runs": [
            "verify_id", "run_id", "window_start_date", "window_end_date", "time_zone", "verified_at",
            "cells_compared", "cells_differing", "days_differing", "api_calls",
        ],
        "verified_days": [
            "verify_id", "metric_date", "verified_at", "matches", "cells_compared", "cells_differing",
        ],
        "v_day_verification": ["metric_date", "last_verified_at", "last_checked_at", "latest_check_matched"],
    }  # fmt: skip


def test_ensure_schema_keeps_loaded_rows(wh: SqlWarehouse, tmp_path: Path) -> None:
    load(wh, tmp_path, WINDOW, grid(WINDOW, ["q1"]))
    wh.ensure_schema()
    assert fact_count(wh) == 3 * 2 * 3


def test_loading_a_window_twice_leaves_one_copy(wh: SqlWarehouse, tmp_path: Path) -> None:
    rows = grid(WINDOW, ["q1", "q2"])
    first_id, first = load(wh, tmp_path, WINDOW, rows)
    second_id, second = load(wh, tmp_path, WINDOW, rows, api_calls=4)

    assert first == second == len(rows) == fact_count(wh)
    assert duplicate_keys(wh) == []
    assert wh.fetch(f"SELECT DISTINCT load_id FROM {wh.qualified(settings.FACT_TABLE)}") == [(second_id,)]
    assert load_run(wh, first_id)["status"] == "succeeded"
    latest = load_run(wh, second_id)
    assert (latest["status"], latest["rows_loaded"], latest["api_calls"]) == ("succeeded", len(rows), 4)
    assert latest["finished_at"] is not None


def test_reloading_with_fewer_queues_removes_vanished_rows(wh: SqlWarehouse, tmp_path: Path) -> None:
    load(wh, tmp_path, WINDOW, grid(WINDOW, ["q1", "q2", "q3"]))
    load(wh, tmp_path, WINDOW, grid(WINDOW, ["q1"]))
    queues = wh.fetch(f"SELECT DISTINCT queue_id FROM {wh.qualified(settings.FACT_TABLE)}")
    assert queues == [("q1",)]
    assert fact_count(wh) == 3 * 2 * 3


def test_replacing_touches_only_the_window_days(wh: SqlWarehouse, tmp_path: Path) -> None:
    before = Window(date(2026, 2, 27), date(2026, 2, 28), "UTC")
    after = Window(date(2026, 3, 4), date(2026, 3, 4), "UTC")
    load(wh, tmp_path, before, grid(before, ["q1"]))
    load(wh, tmp_path, after, grid(after, ["q1"]))
    load(wh, tmp_path, WINDOW, grid(WINDOW, ["q1"]))
    load(wh, tmp_path, WINDOW, [])  # the API now has nothing for those days: they are emptied

    assert fact_count(wh, "metric_date BETWEEN ? AND ?", [WINDOW.start_date, WINDOW.end_date]) == 0
    assert fact_count(wh) == (2 + 1) * 2 * 3


def test_failure_after_the_delete_keeps_the_previous_rows(
    wh: SqlWarehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = grid(WINDOW, ["q1", "q2"])
    good_id, _ = load(wh, tmp_path, WINDOW, rows)
    seen_inside: list[int] = []

    def insert_then_fail(stage: str) -> None:
        # Runs inside the replacing transaction, right after the DELETE of the window's days.
        count = wh._query(
            f"SELECT COUNT(*) FROM {wh.qualified(settings.FACT_TABLE)} WHERE metric_date BETWEEN ? AND ?",
            [WINDOW.start_date, WINDOW.end_date],
        )
        seen_inside.append(int(count[0][0]))
        raise RuntimeError("injected failure after delete")

    monkeypatch.setattr(wh, "_insert_staged", insert_then_fail)
    bad_id = wh.start_load(run_id="run-2", trigger="manual", window=WINDOW)
    staged = stage_rows(tmp_path, [{**row, "load_id": bad_id} for row in grid(WINDOW, ["q9"])])
    with pytest.raises(WarehouseError, match="injected failure after delete") as caught:
        wh.replace_window(
            load_id=bad_id, window=WINDOW, metrics=GRID_METRICS, staged=staged, api_calls=2, retries=1
        )
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert "\n" not in str(caught.value)
    wh.fail_load(bad_id, error=str(caught.value), api_calls=2, retries=1)

    assert seen_inside == [0], "the delete had run when the failure hit"
    assert fact_count(wh) == len(rows)
    assert wh.fetch(f"SELECT DISTINCT load_id FROM {wh.qualified(settings.FACT_TABLE)}") == [(good_id,)]
    assert wh.fetch(f"SELECT queue_id FROM {wh.qualified(settings.QUEUES_TABLE)} WHERE queue_id = 'q9'") == []
    failed = load_run(wh, bad_id)
    assert (failed["status"], failed["api_calls"], failed["retries"]) == ("failed", 2, 1)
    assert "injected failure after delete" in failed["error"]
    assert load_run(wh, good_id)["status"] == "succeeded"


def test_staged_rows_outside_the_window_are_refused(wh: SqlWarehouse, tmp_path: Path) -> None:
    load(wh, tmp_path, WINDOW, grid(WINDOW, ["q1"]))
    stray = [fact_row(date(2026, 3, 9), "q1", "voice", "nOffered", stat_count=1)]
    with pytest.raises(WarehouseError, match="outside its days"):
        load(wh, tmp_path, WINDOW, stray)
    assert fact_count(wh) == 3 * 2 * 3


def test_a_staged_row_count_mismatch_is_refused(wh: SqlWarehouse, tmp_path: Path) -> None:
    load_id = wh.start_load(run_id="run-1", trigger="manual", window=WINDOW)
    staged = stage_rows(tmp_path, grid(WINDOW, ["q1"]))
    short = StagedWindow(uri=staged.uri, files=staged.files, rows=staged.rows + 1)
    with pytest.raises(WarehouseError, match="holds 18 rows, the stage wrote 19"):
        wh.replace_window(
            load_id=load_id, window=WINDOW, metrics=GRID_METRICS, staged=short, api_calls=1, retries=0
        )
    assert fact_count(wh) == 0


def test_concurrent_overlapping_loads_leave_no_duplicates(
    make_warehouse: MakeWarehouse, tmp_path: Path
) -> None:
    make_warehouse().ensure_schema()
    first = Window(date(2026, 2, 1), date(2026, 2, 3), "UTC")
    second = Window(date(2026, 2, 2), date(2026, 2, 4), "UTC")
    queues = [f"q{i}" for i in range(5)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def loader(window: Window) -> None:
        warehouse = make_warehouse()  # its own connection, as two job runs would have
        try:
            barrier.wait()
            for _ in range(3):
                load(warehouse, tmp_path, window, grid(window, queues))
        except BaseException as err:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=loader, args=(w,)) for w in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    check = make_warehouse()
    assert duplicate_keys(check) == []
    per_day = check.fetch(
        f"SELECT metric_date, COUNT(*), COUNT(DISTINCT load_id) FROM {check.qualified(settings.FACT_TABLE)} "
        "GROUP BY metric_date ORDER BY metric_date"
    )
    assert [(d, n, loads) for d, n, loads in per_day] == [
        (date(2026, 2, day), len(queues) * 2 * 3, 1) for day in range(1, 5)
    ]
    statuses = check.fetch(
        f"SELECT status, COUNT(*) FROM {check.qualified(settings.LOAD_RUNS_TABLE)} GROUP BY status"
    )
    assert statuses == [("succeeded", 6)]


def kpis(wh: SqlWarehouse) -> dict[tuple[str, str], dict[str, Any]]:
    columns = [
        "metric_date", "queue_id", "queue_name", "media_type", "offered", "answered", "abandoned",
        "abandon_rate", "service_level_pct", "asa_seconds", "aht_seconds", "avg_talk_seconds",
        "avg_hold_seconds", "avg_acw_seconds", "transfers", "is_provisional",
    ]  # fmt: skip
    rows = wh.fetch(f"SELECT {', '.join(columns)} FROM {wh.qualified(settings.KPI_VIEW)}")
    result = {}
    for row in rows:
        record = dict(zip(columns, row, strict=True))
        result[(record["queue_id"], record["media_type"])] = record
    return result


def test_view_returns_the_documented_formulas(wh: SqlWarehouse, tmp_path: Path) -> None:
    day = date(2026, 3, 1)
    window = Window(day, day, "UTC")
    settled = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)
    young = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)  # 2 days after the day (< 3): still provisional
    # 03:00 UTC on 4 March is 22:00 on 3 March in New York: 2 local days, provisional there (3 in UTC).
    new_york_load = datetime(2026, 3, 4, 3, 0, tzinfo=UTC)
    wh.refresh_queues([{"id": "qa", "name": "Support"}], datetime(2026, 3, 1, tzinfo=UTC))
    rows = [
        fact_row(day, "qa", "voice", "nOffered", stat_count=10, loaded_at=settled),
        fact_row(day, "qa", "voice", "nOffered", stat_count=999, qualifier="other", loaded_at=settled),
        fact_row(day, "qa", "voice", "tAnswered", stat_count=8, stat_sum=80_000.0, loaded_at=settled),
        fact_row(day, "qa", "voice", "tAbandon", stat_count=2, stat_sum=5_000.0, loaded_at=settled),
        fact_row(
            day,
            "qa",
            "voice",
            "oServiceLevel",
            stat_numerator=6.0,
            stat_denominator=8.0,
            stat_ratio=0.75,
            stat_target=0.8,
            loaded_at=settled,
        ),
        fact_row(day, "qa", "voice", "tHandle", stat_count=8, stat_sum=2_400_000.0, loaded_at=settled),
        fact_row(day, "qa", "voice", "tTalkComplete", stat_count=8, stat_sum=1_600_000.0, loaded_at=settled),
        fact_row(day, "qa", "voice", "tHeldComplete", stat_count=2, stat_sum=60_000.0, loaded_at=settled),
        fact_row(day, "qa", "voice", "tAcw", stat_count=8, stat_sum=400_000.0, loaded_at=settled),
        fact_row(day, "qa", "voice", "nTransferred", stat_count=3, loaded_at=settled),
        # zero denominators everywhere: every ratio and average must be NULL, not an error
        fact_row(day, "qb", "chat", "nOffered", stat_count=0, loaded_at=young),
        fact_row(day, "qb", "chat", "tAnswered", stat_count=0, stat_sum=0.0, loaded_at=young),
        fact_row(day, "qb", "chat", "tHandle", stat_count=0, stat_sum=0.0, loaded_at=young),
        fact_row(
            day, "qb", "chat", "oServiceLevel", stat_numerator=0.0, stat_denominator=0.0, loaded_at=young
        ),
        fact_row(
            day,
            "qc",
            "voice",
            "nOffered",
            time_zone="America/New_York",
            stat_count=4,
            loaded_at=new_york_load,
        ),
    ]
    load(wh, tmp_path, window, rows)
    view = kpis(wh)

    a = view[("qa", "voice")]
    assert (a["metric_date"], a["queue_name"]) == (day, "Support")
    assert (a["offered"], a["answered"], a["abandoned"], a["transfers"]) == (10, 8, 2, 3)
    assert a["abandon_rate"] == pytest.approx(0.2)
    assert a["service_level_pct"] == pytest.approx(75.0)
    assert a["asa_seconds"] == pytest.approx(10.0)
    assert a["aht_seconds"] == pytest.approx(300.0)
    assert a["avg_talk_seconds"] == pytest.approx(200.0)
    assert a["avg_hold_seconds"] == pytest.approx(30.0)
    assert a["avg_acw_seconds"] == pytest.approx(50.0)
    assert a["is_provisional"] is False

    b = view[("qb", "chat")]
    assert b["queue_name"] is None
    assert (b["offered"], b["answered"], b["abandoned"], b["transfers"]) == (0, 0, 0, 0)
    for column in (
        "abandon_rate", "service_level_pct", "asa_seconds", "aht_seconds",
        "avg_talk_seconds", "avg_hold_seconds", "avg_acw_seconds",
    ):  # fmt: skip
        assert b[column] is None, column
    assert b["is_provisional"] is True

    c = view[("qc", "voice")]
    assert c["offered"] == 4
    assert c["is_provisional"] is True, "the load date is taken in the row's time zone"


def test_view_provisional_flag_follows_settle_days(make_warehouse: MakeWarehouse, tmp_path: Path) -> None:
    day = date(2026, 3, 1)
    wh = make_warehouse()
    wh.ensure_schema()
    four_days_later = datetime(2026, 3, 5, 1, tzinfo=UTC)
    load(wh, tmp_path, Window(day, day, "UTC"), [
        fact_row(day, "qa", "voice", "nOffered", stat_count=1, loaded_at=four_days_later)
    ])  # fmt: skip
    assert kpis(wh)[("qa", "voice")]["is_provisional"] is False  # 4 days > 3

    longer = make_warehouse(settle_days=5)
    longer.ensure_schema()  # stores the configured settle_days for the view
    assert kpis(longer)[("qa", "voice")]["is_provisional"] is True  # 4 days <= 5


def queue_rows(wh: SqlWarehouse) -> dict[str, dict[str, Any]]:
    columns = [
        "queue_id", "name", "division_id", "division_name", "date_created", "date_modified",
        "first_seen_at", "last_seen_at", "is_active",
    ]  # fmt: skip
    rows = wh.fetch(f"SELECT {', '.join(columns)} FROM {wh.qualified(settings.QUEUES_TABLE)}")
    return {row[0]: dict(zip(columns, row, strict=True)) for row in rows}


def test_queues_keep_history(wh: SqlWarehouse, tmp_path: Path) -> None:
    first_listing = datetime(2026, 3, 1, 6, tzinfo=UTC)
    second_listing = datetime(2026, 3, 2, 6, tzinfo=UTC)
    wh.refresh_queues(
        [
            {
                "id": "q1",
                "name": "Sales",
                "division": {"id": "d1", "name": "Home"},
                "dateCreated": "2024-05-01T10:00:00.000Z",
                "dateModified": "2025-01-02T03:04:05.000Z",
            },
            {"id": "q2", "name": "Billing", "division": {"id": "d1", "name": "Home"}},
        ],
        first_listing,
    )
    load(wh, tmp_path, WINDOW, grid(WINDOW, ["q1", "q3"]))  # q3 exists only in facts
    after_load = queue_rows(wh)
    assert after_load["q3"]["name"] is None
    assert after_load["q3"]["is_active"] is None
    assert after_load["q3"]["first_seen_at"] is not None

    wh.refresh_queues(
        [{"id": "q1", "name": "Sales EMEA", "division": {"id": "d2", "name": "EMEA"}}], second_listing
    )
    queues = queue_rows(wh)

    assert sorted(queues) == ["q1", "q2", "q3"], "queue rows are never deleted"
    q1, q2, q3 = queues["q1"], queues["q2"], queues["q3"]
    assert (q1["name"], q1["division_id"], q1["division_name"], q1["is_active"]) == (
        "Sales EMEA", "d2", "EMEA", True,
    )  # fmt: skip
    assert (q1["first_seen_at"], q1["last_seen_at"]) == (first_listing, second_listing)
    assert (q2["name"], q2["is_active"], q2["first_seen_at"], q2["last_seen_at"]) == (
        "Billing", False, first_listing, first_listing,
    )  # fmt: skip
    assert (q3["name"], q3["is_active"]) == (None, False)
    assert after_load["q1"]["date_created"] == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert after_load["q1"]["date_modified"] == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)

    wh.refresh_queues([{"id": "q2", "name": "Billing"}], second_listing + timedelta(days=1))
    assert queue_rows(wh)["q2"]["is_active"] is True, "a queue back in the listing is active again"
    assert queue_rows(wh)["q2"]["first_seen_at"] == first_listing


def test_coverage_reports_loaded_provisional_and_missing(wh: SqlWarehouse, tmp_path: Path) -> None:
    window = Window(date(2020, 3, 1), date(2020, 3, 5), "UTC")
    loaded_at = datetime(2020, 3, 6, 2, tzinfo=UTC)
    rows = [
        fact_row(day, "q1", media, "nOffered", stat_count=1, loaded_at=loaded_at)
        for day in window.days
        if day != date(2020, 3, 4)  # no traffic that day: loaded, zero rows
        for media in ("voice", "chat")
    ]
    load(wh, tmp_path, window, rows)
    failed = Window(date(2020, 3, 6), date(2020, 3, 7), "UTC")
    failed_id = wh.start_load(run_id="run-1", trigger="manual", window=failed)
    wh.fail_load(failed_id, error="boom", api_calls=1, retries=0)

    days = wh.coverage(date(2020, 2, 28), date(2020, 3, 7), settle_days=3, today=date(2020, 3, 30))

    assert [(d.day.isoformat(), d.status, d.rows) for d in days] == [
        ("2020-02-28", "missing", 0),
        ("2020-02-29", "missing", 0),
        ("2020-03-01", "loaded", 2),  # loaded 5 days after: settled
        ("2020-03-02", "loaded", 2),
        ("2020-03-03", "loaded", 2),  # loaded 3 days after: no longer younger than settle_days
        ("2020-03-04", "loaded", 0),
        ("2020-03-05", "provisional", 2),
        ("2020-03-06", "missing", 0),  # only a failed load
        ("2020-03-07", "missing", 0),
    ]
    loaded = [d for d in days if d.status != "missing"]
    assert all(d.last_loaded_at is not None and d.last_loaded_at.tzinfo is not None for d in loaded)
    assert all(d.last_loaded_at is None for d in days if d.status == "missing")


def test_fetch_binds_parameters(wh: SqlWarehouse, tmp_path: Path) -> None:
    load(wh, tmp_path, WINDOW, grid(WINDOW, ["q_1", "qx1"]))
    rows = wh.fetch(
        f"SELECT DISTINCT queue_id FROM {wh.qualified(settings.FACT_TABLE)} "
        "WHERE queue_id LIKE ? AND metric_date = ? ORDER BY queue_id",
        ["q%1", date(2026, 3, 2)],
    )
    assert rows == [("q_1",), ("qx1",)]
    with pytest.raises(WarehouseError, match="query failed"):
        wh.fetch("SELECT * FROM no_such_table")
    assert wh.fetch("SELECT 1") == [(1,)], "the connection is usable after a failed query"


def test_invalid_schema_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(WarehouseError, match="invalid SQL identifier"):
        DuckDBWarehouse(str(tmp_path / "x.duckdb"), 'genesys"; DROP TABLE x; --')


# ---- cells, shrink guard, zone binding (DuckDB and PostgreSQL alike) -------------------------------


def test_a_reload_of_some_metrics_replaces_only_those_cells(wh: SqlWarehouse, tmp_path: Path) -> None:
    load(wh, tmp_path, WINDOW, grid(WINDOW, ["q1", "q2"]))
    others = fact_count(wh, "metric <> ?", ("nOffered",))
    subset = [{**row, "stat_count": 1} for row in grid(WINDOW, ["q1"]) if row["metric"] == "nOffered"]

    load(wh, tmp_path, WINDOW, subset, metrics=["nOffered"])

    assert fact_count(wh, "metric <> ?", ("nOffered",)) == others  # tAnswered, tHandle of every queue stay
    offered = wh.fetch(
        f"SELECT queue_id, stat_count FROM {wh.qualified('queue_metrics_daily')} WHERE metric = ?",
        ("nOffered",),
    )
    assert sorted({row[0] for row in offered}) == ["q1"]  # q2's nOffered cells were replaced (by nothing)
    assert {row[1] for row in offered} == {1}


def test_staged_rows_of_a_metric_that_was_not_asked_for_are_refused(wh: SqlWarehouse, tmp_path: Path) -> None:
    with pytest.raises(WarehouseError, match="outside its days and metrics"):
        load(wh, tmp_path, WINDOW, grid(WINDOW, ["q1"]), metrics=["nOffered"])
    assert fact_count(wh) == 0


@pytest.mark.parametrize(
    ("kept_share", "refused"),
    [(0.0, True), (0.49, True), (0.5, False), (1.0, False), (2.0, False)],
)
def test_the_shrink_guard_refuses_a_reload_that_removes_more_than_the_limit(
    wh: SqlWarehouse, tmp_path: Path, kept_share: float, refused: bool
) -> None:
    rows = grid(WINDOW, [f"q{n}" for n in range(10)])  # 180 rows
    load(wh, tmp_path, WINDOW, rows)
    before = wh.fetch(f"SELECT * FROM {wh.qualified('queue_metrics_daily')} ORDER BY 1, 5, 6, 7")
    answer = grid(WINDOW, [f"q{n}" for n in range(int(10 * kept_share))])
    if refused:
        with pytest.raises(ShrinkGuardError) as caught:
            load(wh, tmp_path, WINDOW, answer, shrink_limit=0.5)
        assert (caught.value.rows_before, caught.value.rows_after) == (180, len(answer))
        assert wh.fetch(f"SELECT * FROM {wh.qualified('queue_metrics_daily')} ORDER BY 1, 5, 6, 7") == before
        load(wh, tmp_path, WINDOW, answer, shrink_limit=None)  # forced (--allow-shrink)
    else:
        load(wh, tmp_path, WINDOW, answer, shrink_limit=0.5)
    assert fact_count(wh) == len(answer)


def test_the_first_load_records_the_zone_and_a_different_one_is_refused(wh: SqlWarehouse) -> None:
    assert wh.zone_binding().stored is None
    assert wh.bind_time_zone(None) == "UTC"  # a new schema without a zone: UTC, recorded
    assert wh.bind_time_zone("UTC") == "UTC"
    with pytest.raises(ConfigError, match=r"reports in UTC .* asks for Asia/Kolkata"):
        wh.bind_time_zone("Asia/Kolkata")
    assert wh.zone_binding().stored == "UTC"
