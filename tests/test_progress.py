"""The terminal view of a run: the progress bar and the log share the screen, the table stays short."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import termios
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from fixtures.jobs import genesys_etl_command, sim_env
from genesys_etl.config import Config
from genesys_etl.pipeline import RunReport, WindowReport
from genesys_etl.report import format_run_report
from genesys_etl.windows import Window
from genesys_sim import SimConfig, SimulatorServer

TODAY = date(2026, 11, 26)


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimConfig(seed=4, queues=4, today=TODAY)) as server:
        yield server


def test_on_a_terminal_log_lines_and_the_bar_never_share_a_line_and_the_bar_ends_on_the_totals(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    # stderr is a real terminal (a pty), as for a person running a backfill; stdout is the report.
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))  # 160 columns
    process = subprocess.Popen(
        [
            *genesys_etl_command(),
            "backfill",
            "--start-date",
            "2026-10-01",
            "--end-date",
            "2026-10-21",
            "--api-url",
            sim.base_url,
            "--warehouse",
            f"duckdb:{tmp_path / 'wh.duckdb'}",
            "--stage",
            str(tmp_path / "stage"),
        ],
        env={**os.environ, **sim_env(sim)},
        stdout=subprocess.PIPE,
        stderr=terminal,
        text=True,
    )
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closed: the process is done with it
            break
        if not chunk:
            break
        chunks.append(chunk)
    out, _ = process.communicate(timeout=60)
    os.close(controller)
    assert process.returncode == 0, out
    err = b"".join(chunks).decode(errors="replace")
    segments = [s for s in re.split(r"[\r\n]", err) if s.strip()]
    logged = [s for s in segments if " INFO " in s]
    assert len(logged) >= 3  # a line per window at least
    for segment in logged:
        assert re.match(r"\d{4}-\d{2}-\d{2} ", segment), f"a log line shares the bar's line: {segment!r}"
    total_rows = re.search(r"total\s+21\s+\d+\s+\d+\s+(\d+)", out)
    assert total_rows is not None, out
    bars = [s for s in segments if "backfill:" in s]
    assert bars, err[-2000:]
    final_bar = bars[-1]
    assert "21/21" in final_bar
    assert f"rows={total_rows.group(1)}" in final_bar
    assert "failed=0" in final_bar


def test_the_failure_table_keeps_one_short_line_per_window_and_the_whole_error_below() -> None:
    window = Window(date(2026, 11, 5), date(2026, 11, 6), "UTC")
    error = "Genesys API error 400 code=bad.request on /api/v2/analytics/conversations/aggregates/query: " + (
        "a long explanation " * 12
    )
    report = RunReport(
        run_id="r",
        trigger="manual",
        windows=[
            WindowReport(window=window, status="failed", error=error),
            WindowReport(
                window=Window(date(2026, 11, 7), date(2026, 11, 7), "UTC"), status="succeeded", rows=9
            ),
        ],
    )
    text = format_run_report(report, Config(offline=True))
    table = text.split("\ntotal")[0].splitlines()
    assert all(len(line) <= 110 for line in table), table
    assert any(
        line.startswith("2026-11-05..2026-11-06") and "failed: Genesys API error 400" in line
        for line in table
    )
    assert f"2026-11-05..2026-11-06: {' '.join(error.split())}" in text
