"""The one module that speaks HTTP to Genesys Cloud: OAuth, pacing, retries, aggregates and queues."""

from __future__ import annotations

import base64
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self, TypeVar
from urllib.parse import urlsplit

import orjson
import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase, HTTPBasicAuth
from urllib3.exceptions import MaxRetryError, NameResolutionError, NewConnectionError
from urllib3.util.retry import Retry

from genesys_etl import __version__, settings
from genesys_etl.config import check_base_url
from genesys_etl.errors import (
    GenesysApiError,
    GenesysAuthError,
    GenesysUnreachableError,
    ResponseShapeError,
    RetryBudgetExceededError,
)
from genesys_etl.ratelimit import RATE_PERIOD_SECONDS, RateLimiter

if TYPE_CHECKING:
    from types import TracebackType

    from urllib3.connectionpool import ConnectionPool
    from urllib3.response import BaseHTTPResponse

    from genesys_etl.config import Config

logger = logging.getLogger(__name__)

USER_AGENT = f"genesys-etl/{__version__}"
# Backoff between retries without Retry-After: 0 s, then 0.5 × 2^(n-1) s capped (urllib3 Retry semantics).
_BACKOFF_FACTOR = 0.5
_BACKOFF_MAX_SECONDS = 30.0
_BACKOFF_JITTER_SECONDS = 0.25
# A token lives `expires_in` seconds; refresh TOKEN_REFRESH_MARGIN_SECONDS before, but never more than
# this fraction of a short lifetime ahead (a 60 s token is refreshed after 48 s, not immediately).
_REFRESH_MARGIN_FRACTION = 0.2
# A 200 whose body does not parse (truncated by a proxy, empty, an HTML page) is retried this many times.
_UNPARSEABLE_BODY_RETRIES = 3
# Queue listing stop rules: Genesys orgs have at most a few thousand queues.
_MAX_QUEUE_PAGES = 1000
_MAX_ERROR_MESSAGE = 300
_RETRY_METHODS = frozenset({"GET", "POST"})  # the aggregates POST is a read: safe to repeat
# A host whose name does not resolve, or that refuses the connection, is retried once (a DNS or
# restart blip), not max_attempts times: a typo in --api-url/--region would otherwise cost minutes.
_UNREACHABLE_RETRIES = 1


def _unreachable_kind(error: BaseException | None) -> str | None:
    """``"dns"`` or ``"refused"`` for urllib3's connection errors that retrying will not fix, else None."""
    if isinstance(error, NameResolutionError):
        return "dns"
    if isinstance(error, NewConnectionError) and isinstance(error.__cause__, ConnectionRefusedError):
        return "refused"
    return None


class _OwnRetryLogFilter(logging.Filter):
    """Drops urllib3's own "Retrying (...)" warnings: ``_GenesysRetry`` logs each retry once, shorter."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Retrying (")


_RETRY_LOG_FILTER = _OwnRetryLogFilter()


@dataclass(frozen=True)
class ClientStats:
    """Counters of one client, as a snapshot.

    Attributes:
        api_calls: aggregates-query HTTP requests, retries included.
        requests: every HTTP request (API, token), retries included.
        retries: repeated requests (429/5xx/connection errors, 401 refresh, unparseable bodies).
        token_fetches: OAuth tokens fetched.
        wait_seconds: time spent waiting (Retry-After, backoff, pacing).
    """

    api_calls: int = 0
    requests: int = 0
    retries: int = 0
    token_fetches: int = 0
    wait_seconds: float = 0.0


@dataclass
class _RetryState:
    """Mutable bookkeeping of one thread, shared by every copy urllib3 makes of its ``Retry``.

    Attributes:
        holding: this thread's attempt holds a slot of the limiter's in-flight count.
    """

    max_retry_wait: float
    max_attempts: int
    limiter: RateLimiter
    call_retries: int = 0
    call_waited: float = 0.0
    call_unreachable: int = 0
    total_retries: int = 0
    total_waited: float = 0.0
    last_path: str | None = None
    holding: bool = False

    def start_call(self) -> None:
        self.call_retries = 0
        self.call_waited = 0.0
        self.call_unreachable = 0

    def acquire(self) -> float:
        """Wait for the limiter before an attempt; return the seconds waited."""
        if self.holding:  # the previous attempt ended without a word (e.g. a token call's retry)
            self.limiter.release()
        waited = self.limiter.acquire()
        self.holding = True
        return waited

    def attempt_ended(self, headers: Mapping[str, str] | None) -> None:
        """An attempt got an answer (its headers) or failed (None): update the limiter."""
        if headers is not None:
            self.limiter.observe(headers)
        if self.holding:
            self.holding = False
            self.limiter.release()


class _GenesysRetry(Retry):
    """urllib3 ``Retry`` that counts retries and enforces the wait budget instead of sleeping for hours.

    urllib3 sleeps for any ``Retry-After`` (capped at 6 h); Genesys announces hours for daily caps. Here a
    ``Retry-After`` above ``max_retry_wait``, or retry waits adding up past it within one call, raise
    ``RetryBudgetExceededError`` at once.
    """

    RETRY_AFTER_STATUS_CODES = frozenset({429, 503})

    def __init__(self, *args: Any, state: _RetryState | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.state = state

    def new(self, **kw: Any) -> Self:
        """Copy this retry with changed counters, keeping the shared state."""
        kw.setdefault("state", self.state)
        return super().new(**kw)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        """Count one more attempt (raises urllib3's ``MaxRetryError`` when they are exhausted).

        A name that does not resolve or a refused connection is retried at most once.
        """
        unreachable = _unreachable_kind(error) is not None
        if self.state is not None:
            self.state.attempt_ended(response.headers if response is not None else None)
        if unreachable and self.state is not None and self.state.call_unreachable >= _UNREACHABLE_RETRIES:
            raise MaxRetryError(_pool, url, error) from error  # type: ignore[arg-type]
        new_retry = super().increment(method, url, response, error, _pool, _stacktrace)
        if self.state is not None:
            self.state.call_retries += 1
            self.state.total_retries += 1
            self.state.call_unreachable += int(unreachable)
            self.state.last_path = _path_of(url)
            cause = f"HTTP {response.status}" if response is not None else _error_kind(error)
            logger.info(
                "retrying %s %s after %s (attempt %d of %d)",
                method,
                _path_of(url),
                cause,
                self.state.call_retries + 1,
                self.state.max_attempts,
            )
        return new_retry

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        """Wait before the next attempt: ``Retry-After`` when given, else capped backoff, then the pace."""
        retry_after = self._retry_after(response) if self.respect_retry_after_header else None
        wait = retry_after if retry_after else self.get_backoff_time()
        state = self.state
        if state is None:
            if wait > 0:
                time.sleep(wait)
            return
        if retry_after is not None and retry_after > state.max_retry_wait:
            assert response is not None
            msg = (
                f"Genesys asked to wait {retry_after:g} s before retrying (HTTP {response.status}), "
                f"more than the allowed {state.max_retry_wait:g} s (a daily or org limit?); "
                "rerun later or raise --max-retry-wait"
            )
            raise RetryBudgetExceededError(
                msg,
                status=response.status,
                correlation_id=response.headers.get("inin-correlation-id"),
                url_path=state.last_path,
            )
        if state.call_waited + wait > state.max_retry_wait:
            msg = (
                f"retries of one request would wait {state.call_waited + wait:g} s in total, more than the "
                f"allowed {state.max_retry_wait:g} s; Genesys is throttling or failing: rerun later"
            )
            status = response.status if response is not None else None
            raise RetryBudgetExceededError(msg, status=status, url_path=state.last_path)
        if response is not None and response.status == 429:
            # The budget is spent for every thread of this client, not only this one: hold them all;
            # the limiter's acquire below does the waiting.
            state.limiter.pause(wait, f"HTTP 429 with Retry-After {wait:g} s")
        elif wait > 0:
            reason = "Retry-After" if retry_after else "backoff"
            logger.info("waiting %.2f s (%s) before the next attempt", wait, reason)
            state.limiter.sleep(wait)
        waited = state.acquire()
        state.call_waited += wait
        state.total_waited += max(wait, waited)

    def _retry_after(self, response: BaseHTTPResponse | None) -> float | None:
        if response is None:
            return None
        header = response.headers.get("Retry-After")
        if header is None:
            return None
        if header.strip().isdigit():
            return float(header.strip())  # urllib3 would cap it at 6 h; report what Genesys asked for
        try:
            return self.parse_retry_after(header)
        except Exception:  # noqa: BLE001 - an unreadable header means "no hint": fall back to backoff
            logger.warning("ignoring an unreadable Retry-After header %r", header[:40])
            return None


class _BearerAuth(AuthBase):
    """Adds ``Authorization: Bearer …``; holds the token so it never sits in a shared headers dict."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "_BearerAuth(***)"


class _UnparseableBodyError(Exception):
    """A 2xx body that is not JSON (empty, HTML, truncated): possibly transient."""


class _ResendError(Exception):
    """Internal: ``decode()`` found the body unparseable and the query may be sent again."""


T = TypeVar("T")
Decoder = Callable[[], dict[str, Any]]


@dataclass
class _Transport:
    """One thread's HTTP session, retry bookkeeping and counters.

    ``requests.Session`` is not documented as thread-safe, so every thread of a client gets its own.
    """

    session: requests.Session
    state: _RetryState
    api_calls: int = 0
    requests: int = 0
    extra_retries: int = 0
    token_fetches: int = 0
    pace_waited: float = 0.0

    def stats(self) -> ClientStats:
        return ClientStats(
            api_calls=self.api_calls,
            requests=self.requests,
            retries=self.state.total_retries + self.extra_retries,
            token_fetches=self.token_fetches,
            wait_seconds=self.state.total_waited + self.pace_waited,
        )


class GenesysClient:
    """Genesys Cloud API client: OAuth client credentials, a shared request budget, retries.

    Thread-safe: threads share the token and the rate limiter (``ratelimit.RateLimiter``); each
    thread gets its own ``requests.Session``. ``stats`` sums every thread, ``thread_stats`` is the
    calling thread's.

    Args:
        api_url: API base URL, e.g. ``https://api.mypurecloud.com`` (plain http only on loopback).
        login_url: login base URL, e.g. ``https://login.mypurecloud.com``.
        client_id: OAuth client id.
        client_secret: OAuth client secret.
        requests_per_minute: the request budget: at most this many starts in any 60 s.
        max_retry_wait: most seconds to wait for one request (one Retry-After, or all its retries).
        max_attempts: most attempts of one request (first try included).
        timeout: seconds for connect and for read, on every call.
        user_agent: User-Agent header; default ``genesys-etl/<version>``.
        rate_period: the span ``requests_per_minute`` is counted over (Genesys: 60 s; tests shorten it).
    """

    def __init__(
        self,
        *,
        api_url: str,
        login_url: str,
        client_id: str,
        client_secret: str,
        requests_per_minute: int = settings.DEFAULT_REQUESTS_PER_MINUTE,
        max_retry_wait: float = settings.DEFAULT_MAX_RETRY_WAIT_SECONDS,
        max_attempts: int = settings.DEFAULT_MAX_ATTEMPTS,
        timeout: float = settings.DEFAULT_TIMEOUT_SECONDS,
        user_agent: str | None = None,
        rate_period: float = RATE_PERIOD_SECONDS,
    ) -> None:
        self._api_url = check_base_url(api_url, "--api-url")
        self._login_url = check_base_url(login_url, "--login-url")
        if not client_id or not client_secret:
            msg = "client_id and client_secret are required (GENESYS_CLIENT_ID / GENESYS_CLIENT_SECRET)"
            raise ValueError(msg)
        if requests_per_minute < 1 or max_attempts < 1 or timeout <= 0 or max_retry_wait < 0:
            msg = "requests_per_minute and max_attempts must be >= 1, timeout > 0, max_retry_wait >= 0"
            raise ValueError(msg)
        self._client_id = client_id
        self._client_secret = client_secret
        self._timeout = timeout
        self._max_retry_wait = max_retry_wait
        self._max_attempts = max_attempts
        self._user_agent = user_agent or USER_AGENT
        self._limiter = RateLimiter(requests_per_minute, period=rate_period)
        urllib3_log = logging.getLogger("urllib3.connectionpool")
        if _RETRY_LOG_FILTER not in urllib3_log.filters:
            urllib3_log.addFilter(_RETRY_LOG_FILTER)
        self._local = threading.local()
        self._transports: list[_Transport] = []
        self._lock = threading.Lock()  # the transports list
        self._token_lock = threading.Lock()  # one token fetch at a time; the others wait for it
        self._token: str | None = None
        self._token_refresh_at = -math.inf
        # Credentials the login host refused stay refused for this client: the other threads waiting
        # for a token get the same error without asking again.
        self._login_refused: GenesysAuthError | None = None

    def _transport(self) -> _Transport:
        """The calling thread's session and counters (made on first use)."""
        transport: _Transport | None = getattr(self._local, "transport", None)
        if transport is not None:
            return transport
        state = _RetryState(
            max_retry_wait=self._max_retry_wait, max_attempts=self._max_attempts, limiter=self._limiter
        )
        retries = self._max_attempts - 1
        retry = _GenesysRetry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            other=0,
            allowed_methods=_RETRY_METHODS,
            status_forcelist=settings.RETRY_STATUSES,
            backoff_factor=_BACKOFF_FACTOR,
            backoff_max=_BACKOFF_MAX_SECONDS,
            backoff_jitter=_BACKOFF_JITTER_SECONDS,
            respect_retry_after_header=True,
            raise_on_status=False,  # the last 429/5xx comes back as a response: we raise with its details
            state=state,
        )
        session = requests.Session()
        adapter = HTTPAdapter(max_retries=retry)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers.update({"User-Agent": self._user_agent, "Accept": "application/json"})
        transport = _Transport(session=session, state=state)
        with self._lock:
            self._transports.append(transport)
        self._local.transport = transport
        return transport

    @classmethod
    def from_config(cls, config: Config) -> GenesysClient:
        """Build a client from a validated config.

        Args:
            config: the run's configuration.
        """
        return cls(
            api_url=config.api_url,
            login_url=config.login_url,
            client_id=config.client_id,
            client_secret=config.client_secret,
            requests_per_minute=config.requests_per_minute,
            max_retry_wait=config.max_retry_wait,
            max_attempts=config.max_attempts,
            timeout=config.timeout,
        )

    def __repr__(self) -> str:
        return f"GenesysClient(api_url={self._api_url!r}, login_url={self._login_url!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def stats(self) -> ClientStats:
        """A snapshot of the counters of every thread."""
        with self._lock:
            parts = [transport.stats() for transport in self._transports]
        return ClientStats(
            api_calls=sum(p.api_calls for p in parts),
            requests=sum(p.requests for p in parts),
            retries=sum(p.retries for p in parts),
            token_fetches=sum(p.token_fetches for p in parts),
            wait_seconds=sum(p.wait_seconds for p in parts),
        )

    @property
    def thread_stats(self) -> ClientStats:
        """A snapshot of the calling thread's counters (diff two snapshots for one window)."""
        return self._transport().stats()

    @property
    def limiter(self) -> RateLimiter:
        """The request budget every thread of this client shares."""
        return self._limiter

    def cancel(self) -> None:
        """Stop sending: requests waiting for the budget or a retry raise ``RequestCancelledError``.

        A request already on the wire finishes (or times out); the run is stopping.
        """
        self._limiter.cancel()

    def close(self) -> None:
        """Close every thread's HTTP session and forget the token."""
        self._token = None
        with self._lock:
            transports, self._transports = self._transports, []
        for transport in transports:
            transport.session.close()

    # --- public calls ------------------------------------------------------------------------
    def login(self) -> None:
        """Get an OAuth token now (``doctor``'s first check); the calls below get one when needed.

        Raises:
            GenesysAuthError: the login host refused the client credentials.
            GenesysApiError: the login host failed or answered without a token.
        """
        self._current_token()

    def query_aggregates(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST one conversation aggregates query; retries and pacing inside.

        Args:
            body: the query (see ``query.build_query``).

        Returns:
            The response object (``results`` may be absent for an empty org-day).

        Raises:
            GenesysApiError: a non-retryable answer (400, 404, ...), with status, code and correlation id.
            GenesysAuthError: credentials or permissions refused.
            RetryBudgetExceededError: retries exhausted or a wait above ``max_retry_wait`` requested.
            ResponseShapeError: a 200 whose body is not the documented shape.
        """
        return self.query_aggregates_with(body, lambda content, decode: decode())

    def query_aggregates_with(self, body: Mapping[str, Any], parse: Callable[[bytes, Decoder], T]) -> T:
        """POST one aggregates query and hand its body to ``parse`` (the pipeline reads it as columns).

        Args:
            body: the query.
            parse: called with the 2xx body and a ``decode()`` that returns it as JSON objects, its
                ``results`` checked like ``query_aggregates``. When ``decode()`` finds the body
                unparseable (truncated, HTML, empty), the query is sent again (up to 3 times).

        Returns:
            What ``parse`` returns.

        Raises:
            As ``query_aggregates``, plus whatever ``parse`` raises.
        """
        path = settings.AGGREGATES_QUERY_PATH
        for attempt in range(_UNPARSEABLE_BODY_RETRIES + 1):
            response = self._send("POST", path, params=None, body=dict(body), count_api=True)
            self._raise_for_status(response, path)

            def decode(response: requests.Response = response, attempt: int = attempt) -> dict[str, Any]:
                payload = self._decoded_object("POST", path, response, attempt)
                if payload is None:
                    raise _ResendError
                results = payload.get("results", [])
                if not isinstance(results, list) or not all(isinstance(item, Mapping) for item in results):
                    kind = type(results).__name__
                    msg = (
                        f"aggregates answer has 'results' of the wrong shape ({kind}); "
                        "expected a list of groups"
                    )
                    raise ResponseShapeError(msg)
                return payload

            try:
                return parse(response.content, decode)
            except _ResendError:
                continue
        raise AssertionError  # pragma: no cover - the loop returns or raises

    def list_queues(self, page_size: int = settings.QUEUE_PAGE_SIZE) -> Iterator[dict[str, Any]]:
        """Yield every queue entity of the org, page by page.

        Stops when ``pageNumber >= pageCount`` (or on an empty page); refuses to loop on a repeated page,
        on more queues than the listing's ``total``, or past a sane number of pages.

        Args:
            page_size: entities per page (1..100).

        Yields:
            Queue entities (``id``, ``name``, ``division``, ...).

        Raises:
            ResponseShapeError: a page of the wrong shape, a repeated page, or paging that never ends.
            GenesysApiError: as for ``query_aggregates``.
        """
        if not 1 <= page_size <= 100:
            msg = f"page_size must be 1..100, got {page_size}"
            raise ValueError(msg)
        seen_pages: set[tuple[str, ...]] = set()
        page_number = 1
        listed = 0
        while True:
            if page_number > _MAX_QUEUE_PAGES:
                msg = f"the queue listing did not end after {_MAX_QUEUE_PAGES} pages; refusing to loop"
                raise ResponseShapeError(msg)
            params = {"pageSize": page_size, "pageNumber": page_number}
            payload = self._request_json("GET", settings.QUEUES_PATH, params=params)
            entities = payload.get("entities")
            if not isinstance(entities, list) or not all(isinstance(e, Mapping) for e in entities):
                msg = f"queue listing page {page_number} has no 'entities' list"
                raise ResponseShapeError(msg)
            fingerprint = tuple(str(entity.get("id")) for entity in entities)
            if entities and fingerprint in seen_pages:
                msg = f"queue listing page {page_number} repeats an earlier page; refusing to loop"
                raise ResponseShapeError(msg)
            seen_pages.add(fingerprint)
            listed += len(entities)
            total = payload.get("total")
            if isinstance(total, int) and not isinstance(total, bool) and listed > total:
                msg = f"the queue listing returned more than its total of {total} queues; refusing to loop"
                raise ResponseShapeError(msg)
            yield from (dict(entity) for entity in entities)
            page_count = payload.get("pageCount")
            if not entities:
                return
            if isinstance(page_count, int) and not isinstance(page_count, bool):
                if page_number >= page_count:
                    return
            elif len(entities) < page_size:
                return  # no pageCount: a short page is the last one
            page_number += 1

    # --- transport ---------------------------------------------------------------------------
    def _request_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        count_api: bool = False,
    ) -> dict[str, Any]:
        def send() -> requests.Response:
            response = self._send(method, path, params=params, body=body, count_api=count_api)
            self._raise_for_status(response, path)
            return response

        return self._json_object(method, path, send)

    def _json_object(self, method: str, path: str, send: Callable[[], requests.Response]) -> dict[str, Any]:
        """Send (``send`` raises on error statuses) and decode a JSON object; resend unparseable 2xx."""
        for attempt in range(_UNPARSEABLE_BODY_RETRIES + 1):
            payload = self._decoded_object(method, path, send(), attempt)
            if payload is not None:
                return payload
        raise AssertionError  # pragma: no cover - the loop returns or raises

    def _decoded_object(
        self, method: str, path: str, response: requests.Response, attempt: int
    ) -> dict[str, Any] | None:
        """Decode a 2xx body as a JSON object; None when it is unparseable and may be resent."""
        try:
            payload = _decode_json(response)
        except _UnparseableBodyError as err:
            if attempt < _UNPARSEABLE_BODY_RETRIES:
                self._transport().extra_retries += 1
                logger.warning(
                    "%s %s answered 200 with %s; retrying (%d of %d)",
                    method,
                    path,
                    err,
                    attempt + 1,
                    _UNPARSEABLE_BODY_RETRIES,
                )
                return None
            msg = f"{method} {path} answered 200 with {err} {attempt + 1} times; is a proxy in the way?"
            raise ResponseShapeError(msg) from None
        if not isinstance(payload, dict):
            kind = type(payload).__name__
            msg = f"{method} {path} answered 200 with JSON {kind}, expected an object"
            raise ResponseShapeError(msg)
        return payload

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None,
        body: Mapping[str, Any] | None,
        count_api: bool,
    ) -> requests.Response:
        """One logical request: pace, bearer token, urllib3 retries; on 401 a new token and one retry."""
        url = self._api_url + path
        transport = self._transport()
        state = transport.state
        state.start_call()
        response: requests.Response | None = None
        for auth_attempt in (1, 2):
            token = self._current_token()
            transport.pace_waited += state.acquire()
            retries_before = state.call_retries
            started = time.monotonic()
            try:
                response = transport.session.request(
                    method,
                    url,
                    params=params,
                    json=body,
                    auth=_BearerAuth(token),
                    timeout=self._timeout,
                    allow_redirects=False,
                )
            except requests.RequestException as err:
                state.attempt_ended(None)
                raise self._transport_error(method, path, err) from None
            finally:
                sent = 1 + state.call_retries - retries_before
                transport.requests += sent
                if count_api:
                    transport.api_calls += sent
            state.attempt_ended(response.headers)
            logger.debug(
                "%s %s -> %d in %.3f s (attempts %d)",
                method,
                path,
                response.status_code,
                time.monotonic() - started,
                state.call_retries + auth_attempt,
            )
            if response.status_code == 401 and auth_attempt == 1:
                logger.info(
                    "%s %s: token refused (401); fetching a new token and retrying once", method, path
                )
                with self._token_lock:
                    if self._token == token:  # another thread may have fetched a new one already
                        self._token = None
                transport.extra_retries += 1
                continue
            break
        assert response is not None
        return response

    def _transport_error(
        self, method: str, path: str, err: requests.RequestException, *, login: bool = False
    ) -> GenesysApiError | GenesysUnreachableError:
        attempts = self._transport().state.call_retries + 1
        reason = _error_kind(err)
        if isinstance(err, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
            return GenesysApiError(f"invalid URL for {method} {path}", url_path=path)
        cause = err.args[0] if err.args else None
        kind = _unreachable_kind(cause.reason if isinstance(cause, MaxRetryError) else None)
        if kind is not None:
            parts = urlsplit(self._login_url if login else self._api_url)
            separate_login = login and self._login_url != self._api_url
            flags = "--api-url / --login-url / --region" if separate_login else "--api-url / --region"
            tried = f"{method} {path}, {attempts} attempt{'s' if attempts != 1 else ''}"
            if kind == "dns":
                host = parts.hostname or "?"
                msg = (
                    f"cannot resolve the host {host} ({tried}): check {flags} for a typo, and that this "
                    "machine has DNS and internet access (on AWS: a NAT gateway for the job's subnet)"
                )
            else:
                host = parts.netloc
                msg = (
                    f"{host} refused the connection ({tried}): nothing listens there; check {flags} "
                    "(the port; is the simulator or proxy running?)"
                )
            return GenesysUnreachableError(msg, host=host)
        msg = f"{method} {path} failed after {attempts} attempt(s): {reason}; check the network and --api-url"
        return RetryBudgetExceededError(msg, url_path=path)

    def _raise_for_status(self, response: requests.Response, path: str) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        message, code, correlation_id = self._error_details(response)
        if status in settings.RETRY_STATUSES:
            attempts = self._transport().state.call_retries + 1
            msg = f"gave up after {attempts} attempt(s), last answer HTTP {status}: {message}"
            raise RetryBudgetExceededError(
                msg, status=status, code=code, correlation_id=correlation_id, url_path=path
            )
        if status == 401:
            msg = f"a fresh token was refused too ({message}); check the OAuth client and the region"
            raise GenesysAuthError(
                msg, status=status, code=code, correlation_id=correlation_id, url_path=path
            )
        if status == 403:
            msg = (
                f"{message}; give the OAuth client's role analytics:conversationAggregate:view and "
                "routing:queue:view"
            )
            raise GenesysAuthError(
                msg, status=status, code=code, correlation_id=correlation_id, url_path=path
            )
        if 300 <= status < 400:
            msg = f"unexpected redirect (HTTP {status}); check --api-url"
            raise GenesysApiError(msg, status=status, correlation_id=correlation_id, url_path=path)
        raise GenesysApiError(message, status=status, code=code, correlation_id=correlation_id, url_path=path)

    def _error_details(self, response: requests.Response) -> tuple[str, str | None, str | None]:
        """Return (message, Genesys code, correlation id) of an error answer, secrets redacted."""
        message = response.reason or f"HTTP {response.status_code}"
        code: str | None = None
        correlation_id = response.headers.get("inin-correlation-id")
        try:
            payload = json.loads(response.content) if response.content else None
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            if isinstance(payload.get("message"), str) and payload["message"].strip():
                message = payload["message"]
            elif isinstance(payload.get("error_description"), str):  # OAuth errors
                message = payload["error_description"]
            raw_code = payload.get("code") or payload.get("error")
            code = self._redact(str(raw_code)) if raw_code is not None else None
            context = payload.get("contextId")
            if correlation_id is None and isinstance(context, str):
                correlation_id = context
        one_line = " ".join(str(message).split())
        if len(one_line) > _MAX_ERROR_MESSAGE:
            one_line = one_line[: _MAX_ERROR_MESSAGE - 1] + "…"
        return self._redact(one_line), code, correlation_id

    def _redact(self, text: str) -> str:
        basic = base64.b64encode(f"{self._client_id}:{self._client_secret}".encode()).decode("ascii")
        for secret in (self._token, basic, self._client_secret, self._client_id):
            if secret:
                text = text.replace(secret, "***")
        return text

    # --- OAuth -------------------------------------------------------------------------------
    def _current_token(self) -> str:
        with self._token_lock:
            if self._login_refused is not None:
                raise self._login_refused
            if self._token is None or time.monotonic() >= self._token_refresh_at:
                try:
                    self._fetch_token()
                except GenesysAuthError as err:
                    self._login_refused = err
                    raise
            assert self._token is not None
            return self._token

    def _fetch_token(self) -> None:
        # The token call has its own retry budget; the API call that needed it keeps its own.
        state = self._transport().state
        outer = (state.call_retries, state.call_waited)
        state.start_call()
        try:
            self._request_token()
        finally:
            state.call_retries, state.call_waited = outer

    def _request_token(self) -> None:
        """Fetch a token: 429/5xx and dropped connections retried by urllib3, unparseable 200s resent."""
        path = settings.TOKEN_PATH
        started = time.monotonic()
        transport = self._transport()
        transport.token_fetches += 1

        def send() -> requests.Response:
            retries_before = transport.state.call_retries
            try:
                response = transport.session.post(
                    self._login_url + path,
                    data={"grant_type": "client_credentials"},
                    auth=HTTPBasicAuth(self._client_id, self._client_secret),
                    timeout=self._timeout,
                    allow_redirects=False,
                )
            except requests.RequestException as err:
                raise self._transport_error("POST", path, err, login=True) from None
            finally:
                transport.requests += 1 + transport.state.call_retries - retries_before
            logger.debug("POST %s -> %d in %.3f s", path, response.status_code, time.monotonic() - started)
            if response.status_code in (400, 401, 403):
                message, code, correlation_id = self._error_details(response)
                msg = (
                    f"the login host refused the OAuth client credentials ({message}); check "
                    "GENESYS_CLIENT_ID / GENESYS_CLIENT_SECRET and the region"
                )
                raise GenesysAuthError(
                    msg, status=response.status_code, code=code, correlation_id=correlation_id, url_path=path
                )
            self._raise_for_status(response, path)
            return response

        payload = self._json_object("POST", path, send)
        token = payload.get("access_token")
        if not isinstance(token, str) or not token:
            msg = "the login host answered without an access_token; check --login-url"
            raise ResponseShapeError(msg)
        lifetime = payload.get("expires_in", 86400)
        if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
            lifetime = 60.0
        margin = min(settings.TOKEN_REFRESH_MARGIN_SECONDS, float(lifetime) * _REFRESH_MARGIN_FRACTION)
        self._token = token
        self._token_refresh_at = started + float(lifetime) - margin
        logger.info("fetched an OAuth token valid for %d s", int(lifetime))


def _decode_json(response: requests.Response) -> object:
    content = response.content
    if not content or not content.strip():
        raise _UnparseableBodyError("an empty body")
    head = content.lstrip()[:1]
    content_type = response.headers.get("Content-Type", "")
    if head == b"<" or "html" in content_type.lower():
        raise _UnparseableBodyError("an HTML page instead of JSON")
    try:
        # orjson: about 1.3x json's speed on these answers, no str copy of the body; AWS Glue 5.1
        # provides it (infra/glue-5.1-provided.txt).
        return orjson.loads(content)
    except ValueError:
        raise _UnparseableBodyError("a body that is not valid JSON (truncated?)") from None


def _error_kind(error: BaseException | None) -> str:
    """Name an error by its innermost cause, without URLs or headers."""
    if error is None:
        return "an unknown error"
    seen: set[int] = set()
    current: BaseException = error
    while id(current) not in seen:
        seen.add(id(current))
        inner = (
            getattr(current, "reason", None)
            or current.__context__
            or (current.args[0] if current.args else None)
        )
        if not isinstance(inner, BaseException):
            break
        current = inner
    return type(current).__name__


def _path_of(url: str | None) -> str:
    """Path of a request URL without its query string."""
    if not url:
        return "?"
    path = url.split("?", 1)[0]
    if "://" in path:
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    return path
