"""Secrets appear in no log, output, staged file or table; TLS is always verified; http on loopback only."""

from __future__ import annotations

import base64
import io
import logging
import os
import re
import secrets
import ssl
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from fixtures.jobs import (
    PROJECT_DIR,
    Canned,
    ProxyStub,
    StubRequest,
    genesys_etl_command,
    process_logging,
    sim_env,
)
from genesys_etl import cli
from genesys_etl.client import GenesysClient
from genesys_etl.config import Config
from genesys_etl.errors import ConfigError, EtlError
from genesys_sim import FaultConfig, SimConfig, SimulatorServer

TODAY = date(2026, 11, 26)
AGGREGATES = "/api/v2/analytics/conversations/aggregates/query"
# An Authorization header written out, e.g. "Authorization: Bearer ..." or {'Authorization': 'Basic ...'}.
HEADER_DUMP = re.compile(
    r"authorization['\"]?\s*[:=]\s*['\"]?\s*(bearer|basic)\s+(?!\*\*\*)\S", re.IGNORECASE
)


class _RecordingSimulator(SimulatorServer):
    """The simulator, keeping every access token it issues (the values a leak would show)."""

    def __init__(self, config: SimConfig) -> None:
        super().__init__(config)
        self.issued: list[str] = []

    def issue_token(self) -> str:
        token = super().issue_token()
        self.issued.append(token)
        return token


def _needles(sim: _RecordingSimulator) -> dict[str, str]:
    """Every secret value and header value that must never be written anywhere."""
    basic = base64.b64encode(f"{sim.client_id}:{sim.client_secret}".encode()).decode()
    found = {"client secret": sim.client_secret, "Basic credentials": basic}
    for number, token in enumerate(sim.issued):
        found[f"token {number}"] = token
        found[f"token {number} (first half)"] = token[: len(token) // 2]
    return found


def _assert_clean(where: str, text: str, needles: dict[str, str]) -> None:
    for name, value in needles.items():
        assert value not in text, f"the {name} appears in {where}"
    match = HEADER_DUMP.search(text)
    assert match is None, f"an Authorization header appears in {where}: {match.group(0) if match else ''}"


def _staged_text(stage: Path) -> dict[str, str]:
    """Every file under the stage: its raw bytes as text, and Parquet decoded (compressed pages hide text)."""
    found: dict[str, str] = {}
    for path in sorted(p for p in stage.rglob("*") if p.is_file()):
        text = path.read_bytes().decode("latin-1")
        if path.suffix == ".parquet":
            text += "\n" + pq.read_table(path).to_pandas().to_csv()
        found[str(path)] = text
    return found


def _warehouse_text(db: Path) -> str:
    """Every row of every table and view in every schema of a DuckDB file, as text, plus its raw bytes."""
    parts: list[str] = []
    with duckdb.connect(str(db), read_only=True) as con:
        tables = con.execute(
            "SELECT table_catalog, table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('information_schema', 'pg_catalog')"
        ).fetchall()
        assert len(tables) >= 4
        for catalog, schema, name in tables:
            for row in con.execute(f'SELECT * FROM "{catalog}"."{schema}"."{name}"').fetchall():
                parts.append(f"{schema}.{name}: {row!r}")
    for path in (db, db.with_name(db.name + ".wal")):
        if path.exists():
            parts.append(path.read_bytes().decode("latin-1"))
    return "\n".join(parts)


# Faults everywhere (429, 5xx, drops, truncated bodies) and a token revoked every 6 requests. The runs
# allow 0.6 s of retry waits per request, so a 429 (Retry-After 1 s) fails its window: the error paths
# log and store their messages too (the sequence makes the first request one of them).
FAULTS = FaultConfig(
    seed=9,
    rate_429=0.1,
    retry_after_seconds=1,
    rate_5xx=0.05,
    rate_drop=0.03,
    rate_malformed=0.03,
    sequence=("429", "503", "drop", "malformed", "ok", "500"),
)


@pytest.fixture
def recording_sim() -> Iterator[_RecordingSimulator]:
    config = SimConfig(
        seed=41,
        queues=6,
        today=TODAY,
        client_id="etl-client-0042",
        client_secret=f"cs-{secrets.token_hex(16)}",
        token_max_uses=6,
        faults=FAULTS,
    )
    server = _RecordingSimulator(config)
    with server:
        yield server


def _args(sim: SimulatorServer, db: Path, stage: Path) -> list[str]:
    return [
        "--log-level", "DEBUG", "backfill",
        "--start-date", "2026-10-01", "--end-date", "2026-10-12", "--days-per-query", "1",
        "--requests-per-minute", "6000", "--max-retry-wait", "0.6", "--api-url", sim.base_url,
        "--warehouse", f"duckdb:{db}", "--stage", str(stage), "--keep-staged",
    ]  # fmt: skip


def test_a_faulty_debug_run_writes_no_secret_anywhere(
    recording_sim: _RecordingSimulator,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim = recording_sim
    caplog.set_level(logging.DEBUG)

    # 1. In-process: every log record of every library at DEBUG (caplog), and what the CLI prints.
    out = io.StringIO()
    status = cli.main(_args(sim, tmp_path / "a.duckdb", tmp_path / "stage-a"), env=sim_env(sim), out=out)
    assert status == 1  # the injected 429s fail some windows; the others load
    tokens_in_process = len(sim.issued)
    captured = capsys.readouterr()

    # 2. The installed console script in its own process, logging at DEBUG to its stderr.
    sim.set_faults(FAULTS)
    process = subprocess.run(
        [*genesys_etl_command(), *_args(sim, tmp_path / "b.duckdb", tmp_path / "stage-b")],
        env={**os.environ, **sim_env(sim)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert process.returncode == 1, process.stderr[-2000:]

    # The runs really were faulty, verbose and long enough to renew the token several times.
    assert tokens_in_process >= 3
    assert len(sim.issued) - tokens_in_process >= 3
    assert sim.request_count("aggregates/query", 401) >= 4
    assert sim.request_count("aggregates/query", "dropped") >= 2
    job_debug = [r for r in caplog.records if r.levelno == logging.DEBUG and r.name.startswith("genesys_etl")]
    assert any(f"POST {AGGREGATES} ->" in r.getMessage() for r in job_debug)
    assert any(r.name.startswith("urllib3") for r in caplog.records)
    assert " DEBUG genesys_etl.client: POST /oauth/token -> 200" in process.stderr
    assert "not valid JSON" in caplog.text

    needles = _needles(sim)
    job_records = [
        r for r in caplog.records if not r.name.startswith("genesys_sim")
    ]  # the simulator is not the job
    handler = logging.Formatter("%(name)s %(levelname)s %(message)s")
    _assert_clean("the log records", "\n".join(handler.format(r) for r in job_records), needles)
    _assert_clean("the log records' arguments", "\n".join(repr(r.args) for r in job_records), needles)
    _assert_clean("the CLI output", out.getvalue(), needles)
    _assert_clean("stdout", captured.out, needles)
    _assert_clean("stderr", captured.err, needles)
    _assert_clean("the process's stdout", process.stdout, needles)
    _assert_clean("the process's stderr", process.stderr, needles)
    for stage in (tmp_path / "stage-a", tmp_path / "stage-b"):
        staged = _staged_text(stage)
        assert len(staged) >= 10  # --keep-staged kept the windows' Parquet
        for path, text in staged.items():
            _assert_clean(path, text, needles)
    for db in (tmp_path / "a.duckdb", tmp_path / "b.duckdb"):
        text = _warehouse_text(db)
        assert "Genesys API error 429" in text  # the failed windows' errors are stored (and clean)
        _assert_clean(str(db), text, needles)


def _echo_bearer(request: StubRequest) -> Canned:
    """A gateway that quotes the request's Authorization header in its error body."""
    message = f"request rejected by the gateway; it had Authorization: {request.headers.get('Authorization')}"
    return Canned.json(400, {"message": message, "code": "bad.request", "status": 400})


def _echo_basic(request: StubRequest) -> Canned:
    """A login host (or proxy) that quotes the Basic credentials it refused."""
    description = f"client rejected; the request had Authorization: {request.headers.get('Authorization')}"
    return Canned.json(401, {"error": "invalid_client", "error_description": description})


def _run_through(proxy: ProxyStub, sim: SimulatorServer, tmp_path: Path) -> tuple[int, str]:
    out = io.StringIO()
    args = [
        "--log-level", "DEBUG", "run", "--start-date", "2026-10-01", "--end-date", "2026-10-02",
        "--api-url", proxy.base_url, "--warehouse", f"duckdb:{tmp_path / 'wh.duckdb'}",
        "--stage", str(tmp_path / "stage"),
    ]  # fmt: skip
    status = cli.main(args, env=sim_env(sim), out=out)
    return status, out.getvalue()


def test_an_error_body_quoting_the_bearer_token_is_redacted(
    recording_sim: _RecordingSimulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    recording_sim.set_faults(FaultConfig())
    caplog.set_level(logging.DEBUG, logger="genesys_etl")
    with ProxyStub(recording_sim.base_url, {AGGREGATES: _echo_bearer}) as proxy:
        status, out = _run_through(proxy, recording_sim, tmp_path)
    assert status == 1
    assert "request rejected by the gateway" in out  # the message itself is kept, the token is not
    needles = _needles(recording_sim)
    assert recording_sim.issued
    _assert_clean("the CLI output", out, needles)
    _assert_clean("the log", caplog.text, needles)
    _assert_clean("the warehouse", _warehouse_text(tmp_path / "wh.duckdb"), needles)


def test_an_error_body_quoting_the_basic_credentials_is_redacted(
    recording_sim: _RecordingSimulator,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    recording_sim.set_faults(FaultConfig())
    caplog.set_level(logging.DEBUG, logger="genesys_etl")
    with ProxyStub(recording_sim.base_url, {"/oauth/token": _echo_basic}) as proxy:
        status, out = _run_through(proxy, recording_sim, tmp_path)
    err = capsys.readouterr().err
    assert status == 1
    assert "client rejected" in err  # refused credentials stop the run with one error line
    needles = _needles(recording_sim)
    _assert_clean("the log", caplog.text, needles)
    _assert_clean("the CLI output", out + err, needles)
    _assert_clean("the warehouse", _warehouse_text(tmp_path / "wh.duckdb"), needles)


# ---- TLS -------------------------------------------------------------------------------------------------

# Ways to switch certificate checks off in requests/urllib3/ssl code.
TLS_OFF = re.compile(
    r"verify\s*=\s*(False|0|None)\b|CERT_NONE|check_hostname\s*=\s*False|_create_unverified_context"
    r"|disable_warnings\s*\(|InsecureRequestWarning|PYTHONHTTPSVERIFY|CURL_CA_BUNDLE"
)


def test_no_code_turns_tls_verification_off() -> None:
    sources = [
        *sorted((PROJECT_DIR / "glue_jobs").rglob("*.py")),
        *sorted((PROJECT_DIR / "scripts").rglob("*.py")),
    ]
    assert any(p.name == "client.py" for p in sources)
    offenders = [
        f"{path.relative_to(PROJECT_DIR)}:{number}: {line.strip()}"
        for path in sources
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if TLS_OFF.search(line)
    ]
    assert offenders == []


def test_the_client_session_verifies_certificates() -> None:
    client = GenesysClient(
        api_url="https://api.mypurecloud.ie",
        login_url="https://login.mypurecloud.ie",
        client_id="i",
        client_secret="s",
    )
    try:
        session = client._transport().session  # the calling thread's (each thread has its own)
        assert session.verify is True
        assert session.cert is None
        merged = session.merge_environment_settings("https://api.mypurecloud.ie/x", {}, None, None, None)
        assert merged["verify"] is not False
    finally:
        client.close()


def _self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (what a man in the middle would present)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(tz=UTC)
    import ipaddress

    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_the_client_refuses_an_untrusted_certificate_before_sending_anything(tmp_path: Path) -> None:
    received: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"access_token": "t", "expires_in": 3600}')

        def log_message(self, format: str, *args: Any) -> None:
            del format, args

    cert, key = _self_signed_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base = f"https://127.0.0.1:{server.server_address[1]}"
    client = GenesysClient(
        api_url=base, login_url=base, client_id="id", client_secret="never-sent", max_attempts=1
    )
    try:
        with pytest.raises(EtlError, match=r"SSL|[Cc]ertificate"):
            client.query_aggregates({"interval": "x"})
    finally:
        client.close()
        server.shutdown()
        server.server_close()
    assert received == []  # the handshake failed: no request, so no credentials, ever reached it


# ---- plain http only on loopback ---------------------------------------------------------------------------

LOOPBACK_HTTP = [
    "http://127.0.0.1:8787",
    "http://127.9.9.9",
    "http://localhost:8787",
    "http://LOCALHOST",
    "http://[::1]:8787",
]
HTTPS = ["https://api.mypurecloud.com", "https://example.com:8443", "https://10.0.0.5"]
REMOTE_HTTP = [
    "http://example.com",
    "http://api.mypurecloud.com",
    "http://10.0.0.5:8787",
    "http://0.0.0.0:8787",
    "http://127.0.0.1.nip.io",
    "http://localhost.example.com",
    "http://[2001:db8::1]",
]


@pytest.mark.parametrize("url", LOOPBACK_HTTP + HTTPS)
@pytest.mark.parametrize("flag", ["api_url", "login_url"])
def test_http_on_loopback_and_https_anywhere_are_accepted(url: str, flag: str) -> None:
    values = {
        "api_url": "https://api.mypurecloud.com",
        "login_url": "https://login.mypurecloud.com",
        flag: url,
    }
    config = Config.from_mapping(values, {"GENESYS_CLIENT_ID": "i", "GENESYS_CLIENT_SECRET": "s"})
    assert getattr(config, flag) == url


@pytest.mark.parametrize("url", REMOTE_HTTP)
@pytest.mark.parametrize("flag", ["api_url", "login_url"])
def test_plain_http_to_any_other_host_is_refused_with_a_clear_error(url: str, flag: str) -> None:
    values = {"api_url": "https://api.mypurecloud.com", flag: url}
    with pytest.raises(ConfigError, match="plain http:// is allowed only for loopback hosts") as caught:
        Config.from_mapping(values, {"GENESYS_CLIENT_ID": "i", "GENESYS_CLIENT_SECRET": "s"})
    assert caught.value.field == "--" + flag.replace("_", "-")
    assert "use https://" in str(caught.value)
    with pytest.raises(ConfigError, match="loopback"):
        GenesysClient(
            api_url=url if flag == "api_url" else "https://api.mypurecloud.com",
            login_url=url if flag == "login_url" else "https://login.mypurecloud.com",
            client_id="i",
            client_secret="s",
        )


def test_the_cli_refuses_plain_http_to_a_remote_host_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with process_logging():
        status = cli.main(
            [
                "run",
                "--start-date",
                "2026-10-01",
                "--end-date",
                "2026-10-01",
                "--api-url",
                "http://example.com",
            ],
            env={"GENESYS_CLIENT_ID": "i", "GENESYS_CLIENT_SECRET": "s"},
        )
    err = capsys.readouterr().err
    assert status == 2
    assert err.strip().splitlines() == [
        "genesys-etl run: error: --api-url: plain http:// is allowed only for loopback hosts "
        "(127.0.0.1, localhost, ::1); use https://example.com"
    ]
