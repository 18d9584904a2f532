"""README.md's examples are executed: every fenced block carries a ``<!-- readme-test: … -->`` marker.

Markers (the line right before the fence):

- ``skip (reason)``: not run, with the reason (needs AWS, a diagram, ``make`` itself …);
- ``run[; exit=N][; vary=dates,numbers,ids][; setup=NAME]``: run against a simulator this test starts
  on a free loopback port (``http://127.0.0.1:8787`` in the README is replaced by its URL), each
  block in a fresh temporary working directory (so ``data/warehouse.duckdb`` and ``data/stage`` are
  private). In a block of ``$ `` lines each command runs alone and the lines after it are its shown
  stdout, compared line by line: exactly, except that ``…`` stands for anything and the ``vary`` kinds
  (dates, numbers, UUIDs) may differ. ``exit`` is the exit status of the commands that show output
  (default 0). A block without ``$`` runs as one bash script (exit 0); its ``# {…`` comments are the
  shown output of the commands, compared the same way. A ``genesys-etl simulator …`` line (or
  ``make simulator``) starts that simulator for the block, on a free port, and the block talks to it;
- ``sql; setup=NAME``: the query runs on the block's DuckDB warehouse.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest
import requests

from genesys_sim import SimConfig, SimulatorServer

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BIN = ROOT / ".venv" / "bin"
README_URL = "http://127.0.0.1:8787"
README_CWD = "/home/me/genesys-etl"
MARKER = re.compile(r"<!--\s*readme-test:\s*(?P<spec>.*?)\s*-->")
TIMEOUT = 60


@dataclass
class Block:
    """One fenced block of README.md and its marker."""

    line: int
    lines: list[str]
    spec: str
    options: dict[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.spec.split(";")[0].split("(")[0].strip()


def readme_blocks() -> list[Block]:
    """Every fenced block of README.md; a block without a marker fails the test naming its line."""
    text = README.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(text):
        if not text[index].startswith("```"):
            index += 1
            continue
        start = index
        end = start + 1
        while not text[end].startswith("```"):
            end += 1
        previous = next((text[i] for i in range(start - 1, -1, -1) if text[i].strip()), "")
        found = MARKER.fullmatch(previous.strip())
        spec = found.group("spec") if found else ""
        options = {}
        for part in spec.split(";")[1:]:
            key, _, value = part.strip().partition("=")
            options[key] = value
        blocks.append(Block(start + 1, text[start + 1 : end], spec, options))
        index = end + 1
    return blocks


BLOCKS = readme_blocks()


def test_every_block_is_marked() -> None:
    unmarked = [block.line for block in BLOCKS if block.kind not in ("skip", "run", "sql")]
    assert not unmarked, f"README.md blocks at lines {unmarked} have no <!-- readme-test: … --> marker"
    skips = [block for block in BLOCKS if block.kind == "skip"]
    assert all(re.fullmatch(r"skip \(.+\)", block.spec) for block in skips), "a skip names its reason"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def make_simulator() -> Iterator[SimulatorServer]:
    """The simulator of ``make simulator``: default org and the real date (as the README's runs expect)."""
    with SimulatorServer(SimConfig(today=None)) as sim:
        yield sim


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GENESYS_", "AWS_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def _start_cli_simulator(command: str, cwd: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    args = shlex.split(command.split("#")[0].replace("&", " "))
    args = [str(BIN / "genesys-etl"), *args[1:]]
    args[args.index("--port") + 1] = str(port)
    process = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _, err = process.communicate()
            pytest.fail(f"{command!r} exited with {process.returncode}: {err.decode()}")
        try:
            requests.get(f"{url}/_sim/stats", timeout=1).raise_for_status()
        except requests.RequestException:
            time.sleep(0.1)
        else:
            return process, url
    process.kill()
    pytest.fail(f"{command!r} did not answer within 20 s")


def _pattern(expected: str, vary: set[str], *, any_space: bool = False) -> str:
    """A regex for one shown line: ``…`` matches anything; the ``vary`` kinds match any value.

    With ``any_space`` a space matches any whitespace or none (JSON shown wrapped or spaced).
    """
    token = re.compile(
        r"(?P<ellipsis>…)"
        r"|(?P<ids>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
        r"|(?P<dates>\d{4}-\d{2}-\d{2})"
        r"|(?P<numbers>\d[\d,]*(?:\.\d+)?)"
    )
    wildcard = {
        "ellipsis": ".*?",
        "ids": r"[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}",
        "dates": r"\d{4}-\d{2}-\d{2}",
        "numbers": r"\d[\d,]*(?:\.\d+)?",
    }
    parts: list[str] = []
    position = 0
    for found in token.finditer(expected):
        parts.append(re.escape(expected[position : found.start()]))
        kind = found.lastgroup or ""
        parts.append(wildcard[kind] if kind == "ellipsis" or kind in vary else re.escape(found.group()))
        position = found.end()
    parts.append(re.escape(expected[position:]))
    pattern = "".join(parts)
    return pattern.replace(r"\ ", r"\s*") if any_space else pattern


def _normalise(output: str, url: str, cwd: Path) -> str:
    return output.replace(url, README_URL).replace(str(cwd), README_CWD)


def _compare_lines(command: str, shown: list[str], actual: str, vary: set[str]) -> None:
    got = actual.rstrip("\n").split("\n") if actual.strip() else []
    assert len(got) == len(shown), f"{command}: README shows\n" + "\n".join(shown) + "\nit prints\n" + actual
    for expected, line in zip(shown, got, strict=True):
        assert re.fullmatch(_pattern(expected, vary), line, re.DOTALL), (
            f"{command}: README shows\n  {expected}\nit prints\n  {line}"
        )


def _setup(name: str, url: str, cwd: Path) -> None:
    if not name:
        return
    env = {**_env(), "GENESYS_CLIENT_ID": "demo", "GENESYS_CLIENT_SECRET": "demo-secret"}
    load = ["genesys-etl", "run", "--api-url", url, "--start-date", "2026-11-16", "--end-date", "2026-11-22"]
    done = subprocess.run(
        load, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert done.returncode == 0, done.stderr
    if name == "verify-example":  # the README's warehouse: one hand-edited cell and a deleted day
        with duckdb.connect(str(cwd / "data" / "warehouse.duckdb")) as con:
            con.execute(
                "UPDATE genesys.queue_metrics_daily SET stat_count = stat_count + 5 WHERE rowid = ("
                "SELECT min(rowid) FROM genesys.queue_metrics_daily WHERE metric_date = DATE '2026-11-18' "
                "AND metric = 'nOffered' AND media_type = 'voice')"
            )
            con.execute("DELETE FROM genesys.queue_metrics_daily WHERE metric_date = DATE '2026-11-20'")
    else:
        assert name == "loaded", f"unknown setup {name!r}"


def _run_block(block: Block, sim: SimulatorServer, cwd: Path) -> None:
    vary = {kind for kind in block.options.get("vary", "").split(",") if kind}
    exit_status = int(block.options.get("exit", "0"))
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    servers: list[subprocess.Popen[bytes]] = []
    url = sim.base_url
    script: list[str] = []
    try:
        for line in block.lines:
            command = line.removeprefix("$ ").strip()
            if command.startswith("make simulator"):
                expansion = command.partition("# =")[2].strip()
                recipe = expansion.replace(".venv/bin/", "$(VENV)/bin/")
                assert f"\t{recipe}\n" in makefile, f"`make simulator` is not {expansion}"
                command = expansion
            if re.match(r"(\.venv/bin/)?genesys-etl simulator ", command):
                process, url = _start_cli_simulator(command, cwd)
                servers.append(process)
            else:
                script.append(line)
        _setup(block.options.get("setup", ""), url, cwd)
        text = "\n".join(script).replace(README_URL, url).replace(".venv/bin/", "")
        if block.kind == "sql":
            with duckdb.connect(str(cwd / "data" / "warehouse.duckdb"), read_only=True) as con:
                con.sql(text).fetchall()
        elif any(line.startswith("$ ") for line in script):
            _run_dollar_lines(text.split("\n"), url, cwd, exit_status, vary)
        else:
            _run_script(text, url, cwd, vary)
    finally:
        for process in servers:
            process.terminate()
            process.wait(timeout=10)


def _run_dollar_lines(lines: list[str], url: str, cwd: Path, exit_status: int, vary: set[str]) -> None:
    commands: list[tuple[str, list[str]]] = []
    for line in lines:
        if line.startswith("$ "):
            commands.append((line[2:], []))
        elif commands and commands[-1][0].endswith("\\"):
            commands[-1] = (commands[-1][0] + "\n" + line, commands[-1][1])
        elif commands:
            commands[-1][1].append(line)
    for command, shown in commands:
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=cwd,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        expected = exit_status if shown else 0
        assert done.returncode == expected, (
            f"{command}: exit {done.returncode}, not {expected}\n{done.stderr}"
        )
        _compare_lines(command, shown, _normalise(done.stdout, url, cwd), vary)


def _run_script(text: str, url: str, cwd: Path, vary: set[str]) -> None:
    outputs: list[list[str]] = []
    in_output = False
    for line in text.split("\n"):
        comment = line.strip()
        if comment.startswith("# {"):
            outputs.append([comment[2:]])
            in_output = True
        elif in_output and comment.startswith("#  "):
            outputs[-1].append(comment[1:].strip())
        else:
            in_output = False
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", text],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    if outputs:
        pattern = r"\s*".join(
            r"\s*".join(_pattern(piece, vary, any_space=True) for piece in shown) for shown in outputs
        )
        actual = _normalise(done.stdout, url, cwd)
        assert re.fullmatch(pattern + r"\s*", actual, re.DOTALL), (
            "README shows\n" + "\n".join("\n".join(shown) for shown in outputs) + "\nit prints\n" + actual
        )


@pytest.mark.parametrize("block", BLOCKS, ids=[f"line{block.line}" for block in BLOCKS])
def test_readme_block(block: Block, make_simulator: SimulatorServer, tmp_path: Path) -> None:
    if block.kind == "skip":
        pytest.skip(f"README.md line {block.line}: {block.spec}")
    _run_block(block, make_simulator, tmp_path)


def test_simulator_help_names_the_cli() -> None:
    done = subprocess.run(
        [str(BIN / "genesys-etl"), "simulator", "--help"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    assert done.stdout.startswith("usage: genesys-etl simulator "), done.stdout
    assert "python -m genesys_sim" not in README.read_text(encoding="utf-8")
