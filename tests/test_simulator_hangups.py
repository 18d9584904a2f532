"""The simulator takes clients that hang up early (resets mid-request) without printing a traceback."""

from __future__ import annotations

import socket
import struct
import time
from datetime import date

import pytest

from genesys_sim import SimConfig, SimulatorServer

# What a client sends before it resets the connection: half a request line, headers without the body
# they announce, a whole request whose answer it never reads.
PARTIAL_REQUESTS = {
    "half-a-request-line": b"GET /api/v2/routing/qu",
    "body-never-sent": b"POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\ngrant",
    "answer-never-read": b"GET /_sim/counters HTTP/1.1\r\nHost: x\r\n\r\n" * 50,
}


def _send_and_reset(port: int, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(data)
        time.sleep(0.05)  # let the server start reading
        # SO_LINGER 0: close() sends a RST, as a killed client or a proxy that gives up does.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@pytest.mark.parametrize("data", PARTIAL_REQUESTS.values(), ids=PARTIAL_REQUESTS.keys())
def test_a_client_that_hangs_up_leaves_no_traceback(data: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    with SimulatorServer(SimConfig(seed=1, queues=4, today=date(2026, 11, 26))) as sim:
        for _ in range(3):
            _send_and_reset(sim.port, data)
        time.sleep(0.3)  # the handler threads notice the reset
        with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as conn:  # still serving
            conn.sendall(b"GET /_sim/counters HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert conn.recv(100).startswith(b"HTTP/1.1 200")
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert "Exception occurred" not in captured.err
