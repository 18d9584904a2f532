"""Settings of one simulated Genesys Cloud org: data, auth, limits, latency and injected faults."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

# Kinds a FaultConfig.sequence may name, applied in order to the next matching requests.
FAULT_KINDS: frozenset[str] = frozenset(
    {"ok", "429", "500", "502", "503", "504", "drop", "slow", "malformed", "empty"}
)
DEFAULT_MEDIA_TYPES: tuple[str, ...] = ("voice", "chat", "email", "callback", "message")


def _check_rate(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        msg = f"{name} must be a probability between 0 and 1, got {value!r}"
        raise ValueError(msg)


@dataclass(frozen=True)
class FaultConfig:
    """Seeded fault injection for requests whose path starts with ``path_prefix``.

    Each matching request first consumes the next entry of ``sequence`` (if any is left); after that,
    one seeded draw decides between the rates below, in this order: 429, 5xx, dropped connection,
    slow answer, malformed body. The rates must sum to at most 1.

    Attributes:
        seed: seed of the fault draws (the same seed and request order give the same faults).
        rate_429: share of requests answered 429 with ``Retry-After: retry_after_seconds``.
        retry_after_seconds: the Retry-After of injected 429s (large values test clients giving up).
        rate_5xx: share of requests answered with one of ``statuses_5xx`` (seeded choice).
        statuses_5xx: the 5xx statuses to draw from.
        rate_drop: share of requests whose connection is closed without any response.
        rate_slow: share of requests answered normally after ``slow_seconds``.
        slow_seconds: delay of slow answers.
        rate_malformed: share of requests answered 200 with a truncated JSON body.
        sequence: scripted faults for the next requests, one kind each: ``ok``, ``429``, ``500``,
            ``502``, ``503``, ``504``, ``drop``, ``slow``, ``malformed``, ``empty`` (200 with ``{}``).
        path_prefix: only requests whose path starts with this are subject to faults.
    """

    seed: int = 0
    rate_429: float = 0.0
    retry_after_seconds: int = 1
    rate_5xx: float = 0.0
    statuses_5xx: tuple[int, ...] = (500, 502, 503, 504)
    rate_drop: float = 0.0
    rate_slow: float = 0.0
    slow_seconds: float = 2.0
    rate_malformed: float = 0.0
    sequence: tuple[str, ...] = ()
    path_prefix: str = "/api/v2/"

    def __post_init__(self) -> None:
        rates = {
            "rate_429": self.rate_429,
            "rate_5xx": self.rate_5xx,
            "rate_drop": self.rate_drop,
            "rate_slow": self.rate_slow,
            "rate_malformed": self.rate_malformed,
        }
        for name, value in rates.items():
            _check_rate(name, value)
        if sum(rates.values()) > 1.0 + 1e-9:
            msg = f"fault rates sum to {sum(rates.values()):.3f}; they must sum to at most 1"
            raise ValueError(msg)
        if self.retry_after_seconds < 0:
            msg = f"retry_after_seconds must be >= 0, got {self.retry_after_seconds}"
            raise ValueError(msg)
        if self.slow_seconds < 0:
            msg = f"slow_seconds must be >= 0, got {self.slow_seconds}"
            raise ValueError(msg)
        if not self.statuses_5xx or any(not 500 <= s <= 599 for s in self.statuses_5xx):
            msg = f"statuses_5xx must be non-empty 5xx statuses, got {self.statuses_5xx!r}"
            raise ValueError(msg)
        unknown = [kind for kind in self.sequence if kind not in FAULT_KINDS]
        if unknown:
            msg = f"unknown fault kinds in sequence: {unknown}; use {sorted(FAULT_KINDS)}"
            raise ValueError(msg)

    @property
    def active(self) -> bool:
        """Whether any fault can be injected."""
        rates = self.rate_429 + self.rate_5xx + self.rate_drop + self.rate_slow + self.rate_malformed
        return bool(self.sequence) or rates > 0


@dataclass(frozen=True)
class SimConfig:
    """One simulated org and server.

    Attributes:
        host: address to listen on (loopback by default).
        port: TCP port; 0 picks a free one.
        client_id: the OAuth client id the token endpoint accepts.
        client_secret: the OAuth client secret the token endpoint accepts.
        seed: seed of the org (queues) and of every data value.
        queues: number of queues in the data, deleted ones included.
        deleted_queues: how many of them are deleted (in the data, absent from the listing).
        media_types: media types of the org.
        token_lifetime_seconds: lifetime of access tokens (``expires_in``).
        token_max_uses: API requests a token serves before it is refused with 401 (None: unlimited).
        requests_per_minute: rate limit per token per minute.
        max_interval_days: longest aggregates interval accepted, in days of ``timeZone`` wall time.
        today: the simulator's current date (UTC days after it have no data); None: the real UTC date.
        late_data: whether days younger than ``late_data_horizon_days`` are still filling in.
        late_data_horizon_days: age in days after which a day's data no longer changes.
        late_correction_days: when set, a "late correction": once a UTC day is this many days old,
            a seeded 5 % of its conversations disappear from the data (reprocessed away), long after
            the day had settled; None: data never change once settled.
        latency_seconds: fixed delay added to every request.
        latency_jitter_seconds: extra uniform random delay (seeded) added to every request.
        unattributed_groups: whether queue groupings also return groups without ``queueId``.
        faults: injected faults (replaceable at run time with ``SimulatorServer.set_faults``).
        cache_megabytes: memory bound of the per-UTC-day data cache.
    """

    host: str = "127.0.0.1"
    port: int = 0
    client_id: str = "demo"
    client_secret: str = field(default="demo-secret", repr=False)
    seed: int = 42
    queues: int = 20
    deleted_queues: int = 2
    media_types: tuple[str, ...] = DEFAULT_MEDIA_TYPES
    token_lifetime_seconds: float = 86400.0
    token_max_uses: int | None = None
    requests_per_minute: int = 300
    max_interval_days: int = 7
    today: date | None = None
    late_data: bool = False
    late_data_horizon_days: int = 3
    late_correction_days: int | None = None
    latency_seconds: float = 0.0
    latency_jitter_seconds: float = 0.0
    unattributed_groups: bool = True
    faults: FaultConfig = field(default_factory=FaultConfig)
    cache_megabytes: int = 256

    def __post_init__(self) -> None:
        checks: list[tuple[bool, str]] = [
            (0 <= self.port <= 65535, f"port must be 0..65535, got {self.port}"),
            (self.queues >= 1, f"queues must be >= 1, got {self.queues}"),
            (
                0 <= self.deleted_queues < self.queues,
                f"deleted_queues must be >= 0 and < queues ({self.queues}), got {self.deleted_queues}",
            ),
            (len(self.media_types) >= 1, "media_types must not be empty"),
            (len(set(self.media_types)) == len(self.media_types), "media_types has duplicates"),
            (self.token_lifetime_seconds > 0, "token_lifetime_seconds must be > 0"),
            (
                self.token_max_uses is None or self.token_max_uses >= 1,
                f"token_max_uses must be >= 1 or None, got {self.token_max_uses}",
            ),
            (self.requests_per_minute >= 1, "requests_per_minute must be >= 1"),
            (self.max_interval_days >= 1, "max_interval_days must be >= 1"),
            (self.late_data_horizon_days >= 0, "late_data_horizon_days must be >= 0"),
            (
                self.late_correction_days is None or self.late_correction_days >= 1,
                "late_correction_days must be >= 1 or None",
            ),
            (self.latency_seconds >= 0, "latency_seconds must be >= 0"),
            (self.latency_jitter_seconds >= 0, "latency_jitter_seconds must be >= 0"),
            (self.cache_megabytes >= 1, "cache_megabytes must be >= 1"),
            (bool(self.client_id) and ":" not in self.client_id, "client_id must be non-empty, no ':'"),
            (bool(self.client_secret), "client_secret must be non-empty"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
