"""The quick-start demo: simulator → nightly run → 90-day backfill → KPI view → coverage, all local.

Runs the same commands a user would type, as subprocesses, against the bundled Genesys Cloud
simulator and the embedded DuckDB warehouse (``data/warehouse.duckdb``). No AWS account, no Genesys org.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DATA = ROOT / "data"
DATABASE = DATA / "warehouse.duckdb"
CLIENT_ID, CLIENT_SECRET = "demo", "demo-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the simulator exited early with status {process.returncode}")
        try:
            requests.get(f"{url}/_sim/stats", timeout=1).raise_for_status()
        except requests.RequestException:
            time.sleep(0.2)
        else:
            return
    raise SystemExit(f"the simulator did not answer on {url} within {timeout:.0f}s")


def _run(title: str, args: list[str], env: dict[str, str]) -> None:
    print(f"\n=== {title}\n$ {shlex.join(['genesys-etl', *args])}", flush=True)
    result = subprocess.run([str(BIN / "genesys-etl"), *args], env=env, cwd=ROOT, check=False)
    if result.returncode != 0:
        raise SystemExit(f"genesys-etl {args[0]} exited with status {result.returncode}")


def _show_kpis(day_from: str, day_to: str) -> None:
    print(f"\n=== KPI view (v_queue_daily_kpis), voice, a few queues, {day_from}..{day_to}", flush=True)
    with duckdb.connect(str(DATABASE), read_only=True) as con:
        relation = con.sql(
            """
            SELECT metric_date, queue_name, offered, answered, abandoned,
                   round(abandon_rate, 3) AS abandon_rate, round(service_level_pct, 1) AS service_level_pct,
                   round(asa_seconds, 1) AS asa_seconds, round(aht_seconds, 1) AS aht_seconds,
                   transfers, is_provisional
            FROM genesys.v_queue_daily_kpis
            WHERE media_type = 'voice' AND metric_date BETWEEN ? AND ?
              AND queue_id IN (SELECT queue_id FROM genesys.queues WHERE name IS NOT NULL
                               ORDER BY name LIMIT 3)
            ORDER BY queue_name, metric_date
            """,
            params=[day_from, day_to],
        )
        relation.show(max_rows=40, max_width=200)
        totals = con.sql(
            "SELECT count(*) AS fact_rows, count(DISTINCT metric_date) AS days, "
            "count(DISTINCT queue_id) AS queues FROM genesys.queue_metrics_daily"
        )
        totals.show()


def main() -> int:
    """Run the demo end to end and stop the simulator whatever happens."""
    started = time.monotonic()
    DATA.mkdir(exist_ok=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    print(f"=== starting the Genesys Cloud simulator on {url} (20 queues, seed 42, late-arriving data on)")
    simulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "genesys_sim",
            "--port",
            str(port),
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            CLIENT_SECRET,
            "--seed",
            "42",
            "--queues",
            "20",
            "--late-data",
        ],
        cwd=ROOT,
    )
    try:
        _wait_until_up(url, simulator)
        env = {**os.environ, "GENESYS_CLIENT_ID": CLIENT_ID, "GENESYS_CLIENT_SECRET": CLIENT_SECRET}
        connection = ["--api-url", url]
        yesterday = datetime.now(tz=UTC).date() - timedelta(days=1)
        first = yesterday - timedelta(days=89)
        _run("nightly run: the 7 days ending yesterday (UTC)", ["run", *connection], env)
        _run(
            "90-day backfill (progress bar on a terminal; per-window logs hidden here with --log-level)",
            ["--log-level", "WARNING", "backfill", "--start-date", first.isoformat(),
             "--end-date", yesterday.isoformat(), *connection],
            env,
        )  # fmt: skip
        _show_kpis((yesterday - timedelta(days=3)).isoformat(), yesterday.isoformat())
        _run(
            "coverage around the start of the backfill (the days before it were never loaded)",
            ["status", "--start-date", (first - timedelta(days=3)).isoformat(),
             "--end-date", (first + timedelta(days=2)).isoformat()],
            env,
        )  # fmt: skip
        _run(
            "coverage of the last week (recent days are provisional until re-pulled after settling)",
            ["status", "--start-date", (yesterday - timedelta(days=6)).isoformat(), "--end-date",
             yesterday.isoformat()],
            env,
        )  # fmt: skip
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)
    print(f"\n=== done in {time.monotonic() - started:.1f}s; the warehouse is {DATABASE.relative_to(ROOT)}")
    print(
        "    explore it: .venv/bin/python -c \"import duckdb; duckdb.connect('data/warehouse.duckdb').sql("
        "'FROM genesys.v_queue_daily_kpis LIMIT 10').show()\""
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
