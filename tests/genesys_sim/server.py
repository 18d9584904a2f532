"""The simulator's HTTP server: OAuth, aggregates, queue listing, rate limits, faults and counters."""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import hmac
import json
import logging
import math
import random
import secrets
import socket
import sys
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from genesys_sim.answer import answer_frame, render_answer
from genesys_sim.config import FaultConfig, SimConfig
from genesys_sim.data import DIRECTIONS, METRICS, Array, DataEngine
from genesys_sim.org import build_queues
from genesys_sim.validation import (
    INTERVAL_EXAMPLE,
    Problem,
    QueryError,
    error_body,
    evaluate_filter,
    local_midnight,
    parse_query,
    summarize,
)

log = logging.getLogger(__name__)

TOKEN_PATH = "/oauth/token"
AGGREGATES_PATH = "/api/v2/analytics/conversations/aggregates/query"
QUEUES_PATH = "/api/v2/routing/queues"
RATE_WINDOW_SECONDS = 60.0
MAX_PAGE_SIZE = 500
MAX_TOKENS = 10_000
_ANSWERED_FAULTS = frozenset(
    {"ok", "slow", "malformed", "empty"}
)  # faults that still answer the request  # expired tokens are forgotten beyond this many
GROUND_TRUTH_CHUNK_DAYS = 28  # bounds the memory of long ground-truth ranges
DEFAULT_PAGE_SIZE = 25
_STATUS_CODES = {
    500: ("internal.server.error", "The server encountered an internal error."),
    503: ("service.unavailable", "The service is currently unavailable; please try again later."),
}
# Gateways in front of the API answer 502/504 with HTML, not the JSON error body.
_GATEWAY_PAGES = {
    status: f"<html><head><title>{status} {text}</title></head><body><h1>{status} {text}</h1></body></html>"
    for status, text in ((502, "Bad Gateway"), (504, "Gateway Time-out"))
}


@dataclass
class Request:
    """One HTTP request as the simulator sees it.

    Attributes:
        method: HTTP method.
        path: URL path (no query string).
        query: parsed query string.
        headers: request headers (case-insensitive names).
        body: raw body.
        correlation_id: the ``inin-correlation-id`` of the answer.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    correlation_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class Response:
    """What to send back.

    Attributes:
        status: HTTP status.
        body: body bytes.
        headers: extra headers.
        drop: close the connection without answering.
        delay: seconds to wait before answering.
    """

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    delay: float = 0.0


def _json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        status=status,
        body=json.dumps(payload).encode("utf-8"),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


@dataclass
class _Token:
    expires_at: float
    uses: int = 0
    window_start: float = 0.0
    window_count: int = 0


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # listen backlog: concurrent clients must not be refused

    def __init__(self, address: tuple[str, int], simulator: SimulatorServer) -> None:
        self.simulator = simulator
        self.open_connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.open_connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.open_connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (reset, broken pipe, timeout) is normal: log it, print no traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            log.debug("client %s hung up: %s", client_address, type(error).__name__)
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.open_connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real API
    server_version = "GenesysCloudSimulator/1.0"
    timeout = 30  # idle keep-alive connections close after this
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stall
    server: _HTTPServer

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _serve(self) -> None:
        started = time.thread_time()
        simulator = self.server.simulator
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        body = self.rfile.read(length) if length > 0 else b""
        url = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=url.path,
            query=parse_qs(url.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        if length < 0:
            problem = Problem("Content-Length", "the Content-Length header is not a number")
            response = _json_response(
                400, error_body(400, "bad.request", problem.message, request.correlation_id, [problem])
            )
        else:
            response = simulator.handle(request)
        simulator.add_cpu(time.thread_time() - started)
        if response.delay > 0:
            time.sleep(response.delay)
        started = time.thread_time()
        try:
            if response.drop:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.send_response(response.status)
            self.send_header("inin-correlation-id", request.correlation_id)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except OSError:  # the client gave up (timeouts of slow answers)
            self.close_connection = True
        finally:
            simulator.add_cpu(time.thread_time() - started)


class SimulatorServer:
    """A Genesys Cloud org over real HTTP on loopback, started in a background thread.

    Use as a context manager (``with SimulatorServer(SimConfig(...)) as sim:``) or ``start()``/``stop()``.
    """

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self._today = self.config.today
        self._queues = build_queues(self.config)
        self.engine = DataEngine(self.config, self._queues)
        self._lock = threading.Lock()
        self._tokens: dict[str, _Token] = {}
        self._counters: Counter[str] = Counter()
        self._cpu_seconds = 0.0
        self._latency_rng = random.Random(f"latency-{self.config.seed}")
        self._faults = self.config.faults
        self._fault_rng = random.Random(self._faults.seed)
        self._fault_sequence: deque[str] = deque(self._faults.sequence)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._unit_values = self._build_unit_values()

    # ------------------------------------------------------------------------- lifecycle
    def start(self) -> SimulatorServer:
        """Start listening (``config.port`` 0 picks a free port) and serving in a daemon thread.

        Returns:
            self.
        """
        if self._httpd is not None:
            return self
        self._httpd = _HTTPServer((self.config.host, self.config.port), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="genesys-sim", daemon=True
        )
        self._thread.start()
        log.info("Genesys simulator listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and the listening socket."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------------- public API for tests
    @property
    def host(self) -> str:
        """The listening address."""
        return self.config.host

    @property
    def port(self) -> int:
        """The listening port (the real one once started)."""
        if self._httpd is None:
            return self.config.port
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT``: serves ``/oauth/token`` and ``/api/v2/...``."""
        return f"http://{self.host}:{self.port}"

    @property
    def client_id(self) -> str:
        """The accepted OAuth client id."""
        return self.config.client_id

    @property
    def client_secret(self) -> str:
        """The accepted OAuth client secret."""
        return self.config.client_secret

    @property
    def today(self) -> date:
        """The simulator's current date (UTC days after it have no data)."""
        return self._today if self._today is not None else datetime.now(tz=UTC).date()

    def set_today(self, today: date | None) -> None:
        """Move the simulator's clock (None: follow the real UTC date).

        Args:
            today: the new current date.
        """
        self._today = today

    @property
    def faults(self) -> FaultConfig:
        """The faults in force."""
        return self._faults

    def set_faults(self, faults: FaultConfig) -> None:
        """Replace the injected faults (restarting their seeded draws and sequence).

        Args:
            faults: the new fault settings (``FaultConfig()`` for none).
        """
        with self._lock:
            self._faults = faults
            self._fault_rng = random.Random(faults.seed)
            self._fault_sequence = deque(faults.sequence)

    def set_latency(self, seconds: float, jitter_seconds: float = 0.0) -> None:
        """Change the fixed and jittered latency of every request.

        Args:
            seconds: fixed delay.
            jitter_seconds: extra uniform random delay.
        """
        self.config = dataclasses.replace(
            self.config, latency_seconds=seconds, latency_jitter_seconds=jitter_seconds
        )

    def counters(self) -> dict[str, int]:
        """Return request counts keyed ``"METHOD /path STATUS"`` (``dropped`` for dropped connections)."""
        with self._lock:
            return dict(self._counters)

    def request_count(self, path_suffix: str = "", status: int | str | None = None) -> int:
        """Count requests whose path ends with ``path_suffix`` (and answered ``status``, if given).

        Args:
            path_suffix: e.g. ``"aggregates/query"``; empty counts every path.
            status: an HTTP status, ``"dropped"``, or None for any.
        """
        total = 0
        for key, count in self.counters().items():
            _, path, answered = key.split(" ")
            if path.endswith(path_suffix) and (status is None or answered == str(status)):
                total += count
        return total

    def reset_counters(self) -> None:
        """Forget every request counted so far."""
        with self._lock:
            self._counters.clear()

    def cpu_seconds(self) -> float:
        """CPU time spent by the server threads answering requests."""
        with self._lock:
            return self._cpu_seconds

    def add_cpu(self, seconds: float) -> None:
        """Account CPU time of a handler thread (called by the HTTP handler).

        Args:
            seconds: thread CPU seconds.
        """
        with self._lock:
            self._cpu_seconds += seconds

    def queue_ids(self, include_deleted: bool = True) -> list[str]:
        """Return the org's queue ids in data order.

        Args:
            include_deleted: include queues absent from the listing.
        """
        return [q.id for q in self._queues if include_deleted or not q.deleted]

    def queues(self, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Return queue entities as the listing renders them, sorted by name.

        Args:
            include_deleted: also render deleted queues (the listing never does).
        """
        chosen = [q for q in self._queues if include_deleted or not q.deleted]
        return [q.entity(self.config.media_types) for q in sorted(chosen, key=lambda q: q.name)]

    def issue_token(self) -> str:
        """Mint an access token without HTTP (what ``POST /oauth/token`` returns as ``access_token``)."""
        token = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            if len(self._tokens) >= MAX_TOKENS:
                self._tokens = {k: v for k, v in self._tokens.items() if v.expires_at > now}
            self._tokens[token] = _Token(expires_at=now + self.config.token_lifetime_seconds)
        return token

    def ground_truth(
        self,
        start_date: date,
        end_date: date,
        time_zone: str = "UTC",
        metrics: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Return what the API would answer right now for these local days, per queue and media type.

        Args:
            start_date: first local day (inclusive).
            end_date: last local day (inclusive).
            time_zone: IANA zone the days are local to.
            metrics: metrics to include (default: every metric with data, i.e. the job's defaults).

        Returns:
            One row per (metric_date, queue_id, media_type, metric) with data, columns
            ``metric_date, queue_id, media_type, metric, count, sum, min, max, numerator, denominator,
            ratio, target`` (NaN where a stat does not apply); queue-attributed data only, deleted
            queues included, same clock and late-data state as the API.
        """
        if end_date < start_date:
            msg = f"end_date {end_date} is before start_date {start_date}"
            raise ValueError(msg)
        zone = ZoneInfo(time_zone)
        frames = []
        first = start_date
        while first <= end_date:
            last = min(first + timedelta(days=GROUND_TRUTH_CHUNK_DAYS - 1), end_date)
            days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
            boundaries = [local_midnight(d, zone).astimezone(UTC) for d in [*days, last + timedelta(days=1)]]
            answer = self.engine.compute(
                boundaries=boundaries,
                metrics=list(metrics) if metrics is not None else list(METRICS),
                group_by=("queueId", "mediaType"),
                pair_filter=None,
                today=self.today,
                attributed_only=True,
            )
            frames.append(answer_frame(answer, days))
            first = last + timedelta(days=1)
        if len(frames) == 1:
            return frames[0]
        return pd.concat([f for f in frames if not f.empty] or frames[:1], ignore_index=True)

    # ------------------------------------------------------------------------- dispatch
    def handle(self, request: Request) -> Response:
        """Answer one request (called by the HTTP handler thread).

        Args:
            request: the request.

        Returns:
            The response to send (or drop).
        """
        if request.path.startswith("/_sim/"):
            return self._admin(request)
        response = self._public(request)
        config = self.config
        if config.latency_seconds or config.latency_jitter_seconds:
            with self._lock:
                jitter = self._latency_rng.uniform(0.0, config.latency_jitter_seconds)
            response.delay += config.latency_seconds + jitter
        status = "dropped" if response.drop else str(response.status)
        path = request.path
        if path.startswith(QUEUES_PATH + "/"):
            path = QUEUES_PATH + "/{queueId}"
        with self._lock:
            self._counters[f"{request.method} {path} {status}"] += 1
        return response

    def _public(self, request: Request) -> Response:
        path = request.path
        if path == TOKEN_PATH:
            fault = self._draw_fault(path)
            if fault is not None and fault not in _ANSWERED_FAULTS:
                return self._fault_response(fault, request)
            return self._degrade(self._token(request), fault)
        if not path.startswith("/api/"):
            return self._error(404, "not.found", f"No resource at {path}", request)
        token, failure = self._authenticate(request)
        if token is None:
            return failure or self._error(401, "bad.credentials", "Invalid login credentials.", request)
        limited, rate_headers = self._rate_limit(token, request)
        if limited is not None:
            return limited
        fault = self._draw_fault(path)
        if fault is not None and fault not in _ANSWERED_FAULTS:
            response = self._fault_response(fault, request)
        else:
            response = self._degrade(self._route(request), fault)
        if response.status != 429:
            response.headers.update(rate_headers)
        return response

    def _route(self, request: Request) -> Response:
        path = request.path
        if path == AGGREGATES_PATH:
            if request.method != "POST":
                return self._error(
                    405, "method.not.allowed", f"{request.method} is not allowed on {path}: use POST", request
                )
            return self._aggregates(request)
        if path == QUEUES_PATH:
            if request.method != "GET":
                return self._error(
                    405, "method.not.allowed", f"{request.method} is not allowed on {path}: use GET", request
                )
            return self._queue_listing(request)
        if path.startswith(QUEUES_PATH + "/") and request.method == "GET":
            queue_id = path.rsplit("/", 1)[1]
            for queue in self._queues:
                if queue.id == queue_id and not queue.deleted:
                    return _json_response(200, queue.entity(self.config.media_types))
            return self._error(404, "not.found", f"Queue {queue_id} not found", request)
        return self._error(404, "not.found", f"No resource at {request.method} {path}", request)

    # ------------------------------------------------------------------------- errors and faults
    def _error(
        self,
        status: int,
        code: str,
        message: str,
        request: Request,
        problems: Sequence[Problem] = (),
        headers: Mapping[str, str] | None = None,
        limit: Mapping[str, Any] | None = None,
    ) -> Response:
        body = error_body(status, code, message, request.correlation_id, problems, limit)
        return _json_response(status, body, headers)

    def _too_many(self, request: Request, retry_after: int) -> Response:
        return self._error(
            429,
            "too.many.requests.retry.after",
            f"Rate limit exceeded the maximum. Retry the request in [{retry_after}] seconds",
            request,
            headers={"Retry-After": str(retry_after)},
            limit={
                "key": "client.credentials.token.rate.per.minute",
                "namespace": "platform.api",
                "value": self.config.requests_per_minute,
            },
        )

    def _draw_fault(self, path: str) -> str | None:
        with self._lock:
            faults = self._faults
            if not faults.active or not path.startswith(faults.path_prefix):
                return None
            if self._fault_sequence:
                return self._fault_sequence.popleft()
            draw = self._fault_rng.random()
            for kind, rate in (
                ("429", faults.rate_429),
                ("5xx", faults.rate_5xx),
                ("drop", faults.rate_drop),
                ("slow", faults.rate_slow),
                ("malformed", faults.rate_malformed),
            ):
                if draw < rate:
                    if kind == "5xx":
                        return str(self._fault_rng.choice(faults.statuses_5xx))
                    return kind
                draw -= rate
            return None

    def _fault_response(self, kind: str, request: Request) -> Response:
        if kind == "drop":
            return Response(status=0, drop=True)
        if kind == "429":
            return self._too_many(request, self._faults.retry_after_seconds)
        status = int(kind)
        if status in _GATEWAY_PAGES:
            return Response(
                status=status, body=_GATEWAY_PAGES[status].encode(), headers={"Content-Type": "text/html"}
            )
        code, message = _STATUS_CODES.get(
            status, ("internal.server.error", "The server encountered an error.")
        )
        return self._error(status, code, message, request)

    def _degrade(self, response: Response, fault: str | None) -> Response:
        if fault == "slow":
            response.delay += self._faults.slow_seconds
        elif fault == "malformed" and response.status == 200 and len(response.body) > 1:
            response.body = response.body[: max(1, len(response.body) // 2)]
        elif fault == "empty" and response.status == 200:
            # What an outage or an OAuth role that lost its divisions looks like: a valid, empty answer.
            response.body = b"{}"
        return response

    # ------------------------------------------------------------------------- OAuth
    def _token(self, request: Request) -> Response:
        if request.method != "POST":
            return _json_response(
                405, {"error": "invalid_request", "description": "use POST", "error_description": "use POST"}
            )

        def oauth_error(status: int, error: str, description: str) -> Response:
            return _json_response(
                status, {"error": error, "description": description, "error_description": description}
            )

        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic" or not encoded:
            return oauth_error(
                401, "invalid_client", "client credentials are required as HTTP Basic authorization"
            )
        try:
            client_id, _, client_secret = (
                base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            return oauth_error(
                401, "invalid_client", "the Basic authorization header is not base64 of id:secret"
            )
        valid_id = hmac.compare_digest(client_id.encode(), self.config.client_id.encode())
        valid_secret = hmac.compare_digest(client_secret.encode(), self.config.client_secret.encode())
        if not (valid_id and valid_secret):
            return oauth_error(401, "invalid_client", "client not found or wrong secret")
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return oauth_error(
                400,
                "invalid_request",
                "send the form body grant_type=client_credentials "
                "with Content-Type application/x-www-form-urlencoded",
            )
        form = parse_qs(request.body.decode("utf-8", errors="replace"))
        if form.get("grant_type") != ["client_credentials"]:
            return oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
        token = self.issue_token()
        lifetime = self.config.token_lifetime_seconds
        return _json_response(
            200, {"access_token": token, "token_type": "bearer", "expires_in": max(1, math.ceil(lifetime))}
        )

    def _authenticate(self, request: Request) -> tuple[_Token | None, Response | None]:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None, self._error(
                401,
                "bad.credentials",
                "No authentication bearer token specified in authorization header.",
                request,
            )
        now = time.monotonic()
        with self._lock:
            state = self._tokens.get(token.strip())
            if state is None:
                return None, self._error(401, "bad.credentials", "Invalid login credentials.", request)
            if now >= state.expires_at:
                return None, self._error(
                    401,
                    "bad.credentials",
                    "Invalid login credentials: the access token has expired; request a new one.",
                    request,
                )
            limit = self.config.token_max_uses
            if limit is not None and state.uses >= limit:
                return None, self._error(
                    401,
                    "bad.credentials",
                    f"Invalid login credentials: the access token was revoked after {limit} requests; "
                    "request a new one.",
                    request,
                )
            state.uses += 1
        return state, None

    def _rate_limit(self, state: _Token, request: Request) -> tuple[Response | None, dict[str, str]]:
        limit = self.config.requests_per_minute
        now = time.monotonic()
        with self._lock:
            if now - state.window_start >= RATE_WINDOW_SECONDS:
                state.window_start, state.window_count = now, 0
            reset = max(1, math.ceil(state.window_start + RATE_WINDOW_SECONDS - now))
            if state.window_count >= limit:
                return self._too_many(request, reset), {}
            state.window_count += 1
            count = state.window_count
        return None, {
            "inin-ratelimit-allowed": str(limit),
            "inin-ratelimit-count": str(count),
            "inin-ratelimit-reset": str(reset),
        }

    # ------------------------------------------------------------------------- endpoints
    def _aggregates(self, request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        if not content_type.lower().startswith("application/json"):
            return self._error(
                415,
                "unsupported.media.type",
                f"Content-Type {content_type or '(none)'} is not supported: "
                "send the JSON body with Content-Type: application/json",
                request,
            )
        try:
            body = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            problem = Problem(
                "body",
                f"the request body is not valid JSON ({error}): send a JSON object such as "
                f'{{"interval": "{INTERVAL_EXAMPLE}", "metrics": ["nOffered"]}}',
            )
            return self._error(400, "bad.request", problem.message, request, [problem])
        try:
            query = parse_query(body, max_interval_days=self.config.max_interval_days)
        except QueryError as error:
            return self._error(
                400, error.problems[0].code, summarize(error.problems), request, error.problems
            )
        pair_filter = None
        if query.filter is not None:
            pair_filter = evaluate_filter(query.filter, self._values_of)
        answer = self.engine.compute(
            boundaries=query.boundaries,
            metrics=query.metrics,
            group_by=query.group_by,
            pair_filter=pair_filter,
            today=self.today,
        )
        return Response(
            status=200,
            body=render_answer(answer).encode("utf-8"),
            headers={"Content-Type": "application/json"},
        )

    def _queue_listing(self, request: Request) -> Response:
        numbers: dict[str, int] = {}
        for name, default, upper in (("pageSize", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE), ("pageNumber", 1, None)):
            raw = request.query.get(name, [str(default)])[-1]
            try:
                value = int(raw)
            except ValueError:
                value = 0
            if value < 1 or (upper is not None and value > upper):
                bound = f"between 1 and {upper}" if upper else "at least 1"
                message = f"{name} must be an integer {bound} (got {raw!r})"
                return self._error(
                    400, "invalid.value", message, request, [Problem(name, message, "invalid.value")]
                )
            numbers[name] = value
        size, number = numbers["pageSize"], numbers["pageNumber"]
        listed = self.queues()
        total = len(listed)
        page_count = math.ceil(total / size)

        def uri(page: int) -> str:
            return f"{QUEUES_PATH}?pageSize={size}&pageNumber={page}"

        payload: dict[str, Any] = {
            "entities": listed[(number - 1) * size : number * size],
            "pageSize": size,
            "pageNumber": number,
            "total": total,
            "pageCount": page_count,
            "firstUri": uri(1),
            "selfUri": uri(number),
            "lastUri": uri(max(page_count, 1)),
        }
        if number < page_count:
            payload["nextUri"] = uri(number + 1)
        if number > 1:
            payload["previousUri"] = uri(number - 1)
        return _json_response(200, payload)

    # ------------------------------------------------------------------------- filter units
    def _build_unit_values(self) -> dict[str, Array]:
        engine = self.engine
        pairs = engine.pairs
        queue_ids = np.empty((pairs, 2), dtype=object)
        media = np.empty((pairs, 2), dtype=object)
        direction = np.empty((pairs, 2), dtype=object)
        for pair in range(pairs):
            queue_index = int(engine.pair_queue[pair])
            queue_ids[pair, :] = self._queues[queue_index].id if queue_index >= 0 else None
            media[pair, :] = engine.media_types[int(engine.pair_media[pair])]
            direction[pair, :] = DIRECTIONS
        return {"queueId": queue_ids, "mediaType": media, "direction": direction}

    def _values_of(self, dimension: str) -> Array:
        values = self._unit_values.get(dimension)
        if values is None:  # dimensions the simulated data do not carry are absent everywhere
            return np.full((self.engine.pairs, 2), None, dtype=object)
        return values

    # ------------------------------------------------------------------------- admin (no auth)
    def _admin(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path == "/_sim/counters" and method == "GET":
            return _json_response(200, self.counters())
        if path == "/_sim/stats" and method == "GET":
            return _json_response(
                200,
                {
                    "cpu_seconds": self.cpu_seconds(),
                    "process_cpu_seconds": time.process_time(),
                    "requests": sum(self.counters().values()),
                    "days_generated": self.engine.days_generated,
                    "today": self.today.isoformat(),
                },
            )
        if path == "/_sim/reset" and method == "POST":
            self.reset_counters()
            return _json_response(200, {"reset": True})
        try:
            payload = json.loads(request.body or b"{}")
            if path == "/_sim/today" and method == "POST":
                self.set_today(date.fromisoformat(payload["today"]) if payload.get("today") else None)
                return _json_response(200, {"today": self.today.isoformat()})
            if path == "/_sim/faults" and method == "POST":
                for name in ("sequence", "statuses_5xx"):
                    if name in payload:
                        payload[name] = tuple(payload[name])
                self.set_faults(FaultConfig(**payload))
                return _json_response(200, {"faults": dataclasses.asdict(self._faults)})
        except (ValueError, TypeError, KeyError) as error:
            return self._error(400, "bad.request", f"invalid admin request: {error}", request)
        return self._error(404, "not.found", f"No admin resource at {method} {path}", request)
