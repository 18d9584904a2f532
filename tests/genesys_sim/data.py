"""Deterministic, additive synthetic conversation data of the simulated org, aggregated on request."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from genesys_sim.config import SimConfig
from genesys_sim.org import DEFAULT_MEDIA_PROFILE, MEDIA_PROFILES, Queue

Array = npt.NDArray[Any]

SLOT_SECONDS = 900  # the data grain: 15-minute slots (every real UTC offset is a multiple of 15 minutes)
SLOTS_PER_DAY = 86400 // SLOT_SECONDS
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_DATE = date(1970, 1, 1)
INBOUND, OUTBOUND = 0, 1
DIRECTIONS: tuple[str, str] = ("inbound", "outbound")
MIN_SENTINEL = 2_000_000_000  # "no value" of aggregated minimums (above any simulated duration)
_VALUE_CAP = np.float32(MIN_SENTINEL)
_NO_LOW = np.float32(1e30)  # "no conversation" in the per-slot minimum factors
MAX_SLOT_COUNT = 30_000  # per-slot counts are stored as int16
QUIET_DAY_RATE = 0.04  # share of (queue, day) with no activity at all
CLOSED_WEEKENDS_RATE = 0.3  # share of queues closed on Saturdays and Sundays
_DAY_OFFSET = 1_000_000  # keeps seed words non-negative for days before 1970
_STREAM_LAYOUT, _STREAM_VALUES, _STREAM_DELAYS, _STREAM_CORRECTIONS = 0, 1, 2, 3
CORRECTED_SHARE = 0.05  # share of a day's (slot, pair) cells a late correction removes

# Base timers (durations drawn per slot) and the per-slot count each one measures.
BASE_TIMERS: dict[str, str] = {
    "answered": "answered",
    "abandon": "abandoned",
    "short_abandon": "short_abandon",
    "flowout": "flowout",
    "voicemail": "voicemail",
    "alert": "alerted",
    "talk": "handled",
    "held": "held",
    "acw": "handled",
}
# Counts whose timers share one duration shape per slot: queue waiting vs agent handling.
WAITING_GROUPS: tuple[str, ...] = (
    "answered",
    "abandoned",
    "short_abandon",
    "flowout",
    "voicemail",
    "alerted",
)
HANDLING_GROUPS: tuple[str, ...] = ("handled", "held")
SHORT_ABANDON_MS = 10_000


@dataclass(frozen=True)
class Term:
    """A duration extreme of a timer: per slot, the sum of ``means`` times the factor of ``group``.

    Attributes:
        group: the count whose per-slot low/high duration factors apply.
        means: base timers whose mean durations add up.
    """

    group: str
    means: tuple[str, ...]


@dataclass(frozen=True)
class TimerDef:
    """How a ``t*`` metric is computed from the slot arrays.

    Attributes:
        counts: count arrays that add up to its ``count``.
        sums: sum arrays (ms) that add up to its ``sum``.
        low: terms whose minimum is its ``min``.
        high: terms whose maximum is its ``max``.
        cap: an upper bound of ``max`` (ms), if any.
    """

    counts: tuple[str, ...]
    sums: tuple[str, ...]
    low: tuple[Term, ...]
    high: tuple[Term, ...]
    cap: int | None = None


def _base(timer: str, cap: int | None = None) -> TimerDef:
    group = BASE_TIMERS[timer]
    term = (Term(group, (timer,)),)
    return TimerDef(counts=(group,), sums=(f"{timer}.sum",), low=term, high=term, cap=cap)


_WAIT_TERMS = (
    Term("answered", ("answered",)),
    Term("abandoned", ("abandon",)),
    Term("flowout", ("flowout",)),
)
TIMER_DEFS: dict[str, TimerDef] = {
    **{t: _base(t) for t in BASE_TIMERS if t != "short_abandon"},
    "short_abandon": _base("short_abandon", cap=SHORT_ABANDON_MS - 1),
    # Waiting in queue until answered, abandoned or flowed out.
    "wait": TimerDef(("offered",), ("answered.sum", "abandon.sum", "flowout.sum"), _WAIT_TERMS, _WAIT_TERMS),
    # Time in ACD of conversations answered or abandoned there.
    "acd": TimerDef(
        ("answered", "abandoned"), ("answered.sum", "abandon.sum"), _WAIT_TERMS[:2], _WAIT_TERMS[:2]
    ),
    # Handle = talk + hold + after-call work; its extremes are approximations from the same shapes.
    "handle": TimerDef(
        ("handled",),
        ("talk.sum", "held.sum", "acw.sum"),
        (Term("handled", ("talk", "acw")),),
        (Term("handled", ("talk", "acw", "held")),),
    ),
}


@dataclass(frozen=True)
class MetricSpec:
    """A Genesys metric the simulated data have.

    Attributes:
        name: the Genesys metric name.
        family: ``n`` (count), ``t`` (timer: count/sum/min/max ms) or ``o`` (service level).
        direction: INBOUND or OUTBOUND: the ``direction`` of every conversation it counts.
        source: the count array (``n``) or the timer (``t``) it reads.
    """

    name: str
    family: str
    direction: int
    source: str

    def array_keys(self) -> set[str]:
        """Return the slot arrays this metric reads."""
        if self.family == "n":
            return {self.source}
        if self.family == "o":
            return {"sl_num", "sl_den"}
        timer = TIMER_DEFS[self.source]
        terms = timer.low + timer.high
        return {
            *timer.counts,
            *timer.sums,
            *(f"{t.group}.low" for t in terms),
            *(f"{t.group}.high" for t in terms),
        }


def _spec(name: str, source: str, direction: int = INBOUND) -> MetricSpec:
    return MetricSpec(name, name[0], direction, source)


# The metrics with data (the job's 20 defaults); every other valid metric name has no data.
METRICS: dict[str, MetricSpec] = {
    s.name: s
    for s in (
        _spec("nOffered", "offered"),
        _spec("nConnected", "handled"),
        _spec("nTransferred", "transferred"),
        _spec("nBlindTransferred", "blind"),
        _spec("nConsultTransferred", "consult"),
        _spec("nOverSla", "over_sla"),
        _spec("nOutbound", "outbound", OUTBOUND),
        _spec("oServiceLevel", "sl"),
        _spec("tAcd", "acd"),
        _spec("tAcw", "acw"),
        _spec("tAbandon", "abandon"),
        _spec("tShortAbandon", "short_abandon"),
        _spec("tAlert", "alert"),
        _spec("tAnswered", "answered"),
        _spec("tHandle", "handle"),
        _spec("tHeldComplete", "held"),
        _spec("tTalkComplete", "talk"),
        _spec("tWait", "wait"),
        _spec("tFlowOut", "flowout"),
        _spec("tVoicemail", "voicemail"),
    )
}
# How stats combine across buckets and groups.
STAT_KINDS: dict[str, str] = {
    "count": "add",
    "sum": "add",
    "numerator": "add",
    "denominator": "add",
    "min": "min",
    "max": "max",
}
_IDENTITY: dict[str, Any] = {"add": 0, "min": MIN_SENTINEL, "max": 0}


def _key_kind(key: str) -> str:
    if key.endswith(".low"):
        return "min"
    if key.endswith(".high"):
        return "max"
    return "add"


def _key_identity(key: str) -> Any:
    return {"min": _NO_LOW, "max": np.float32(0.0), "add": 0}[_key_kind(key)]


def slot_index(moment: datetime) -> int:
    """Return the index of the first 15-minute slot starting at or after ``moment``.

    Args:
        moment: an aware instant.

    Returns:
        Slots since 1970-01-01T00:00Z; a bucket ``[a, b)`` holds the slots ``slot_index(a)`` to
        ``slot_index(b) - 1``.
    """
    micros = (moment - EPOCH) // timedelta(microseconds=1)
    return -(-micros // (SLOT_SECONDS * 1_000_000))


def _uniforms(rng: np.random.Generator, count: int, shape: tuple[int, ...]) -> Array:
    """Draw ``count`` arrays of uniforms in [0, 1) with 16-bit resolution (four per raw 64-bit draw: fast)."""
    size = count * math.prod(shape)
    raw = rng.bit_generator.random_raw(-(-size // 4))
    bits = np.asarray(raw, dtype=np.uint64).view(np.uint16)[:size]
    return (bits.astype(np.float32) * np.float32(1.0 / 65536.0)).reshape(count, *shape)


def _reduce_rows(values: Array, bounds: Array, kind: str, identity: Any) -> Array:
    """Reduce rows ``[bounds[i], bounds[i+1])`` of ``values``; sums come back as int64.

    A loop of slice reductions is several times faster than ``ufunc.reduceat`` along axis 0 for the
    usual few buckets; many buckets use ``reduceat``.
    """
    ufunc = {"add": np.add, "min": np.minimum, "max": np.maximum}[kind]
    accumulate = (np.int32 if values.dtype == np.int16 else np.int64) if kind == "add" else values.dtype
    starts, ends = bounds[:-1].tolist(), bounds[1:].tolist()
    if len(starts) <= 200:
        rows = [
            ufunc.reduce(values[a:b], axis=0, dtype=accumulate)
            if b > a
            else np.full(values.shape[1], identity, dtype=accumulate)
            for a, b in zip(starts, ends, strict=True)
        ]
        reduced = np.stack(rows)
    else:
        safe = np.minimum(bounds[:-1], len(values) - 1)
        reduced = ufunc.reduceat(values, safe, axis=0, dtype=accumulate)
        reduced[bounds[:-1] >= bounds[1:]] = identity
    return reduced.astype(np.int64) if kind == "add" else reduced


def _business_curve(hours: Array) -> Array:
    """Return the relative intensity of business traffic at local ``hours`` (morning and afternoon peaks)."""
    morning = np.exp(-(((hours - 10.5) / 1.8) ** 2))
    afternoon = 0.85 * np.exp(-(((hours - 14.8) / 2.0) ** 2))
    return np.asarray(morning + afternoon)


@dataclass
class _Day:
    """The settled slot arrays of one UTC day, shape (96, pairs), and (lazily) each slot's delay."""

    arrays: dict[str, Array]
    nbytes: int
    delay: Array | None = None


@dataclass(frozen=True)
class Block:
    """One metric of a computed answer: stats arrays of shape (buckets, groups).

    Attributes:
        spec: the metric.
        stats: stats name → array (``ratio`` and ``target`` float; ``target`` NaN where the
            contributing queues' targets differ).
        present: where the metric has data (absent metrics are left out of answers).
    """

    spec: MetricSpec
    stats: dict[str, Array]
    present: Array


@dataclass(frozen=True)
class Answer:
    """A computed aggregate answer, before rendering.

    Attributes:
        groups: each group's dimensions (``queueId``/``mediaType`` as requested and present).
        boundaries: bucket boundaries (UTC), one more than the buckets.
        blocks: one per requested metric the data have (possibly without any data).
        split_direction: whether ``direction`` is a grouping dimension.
    """

    groups: list[dict[str, str]]
    boundaries: tuple[datetime, ...]
    blocks: list[Block]
    split_direction: bool


class DataEngine:
    """Generates, caches and aggregates the org's conversation data.

    Data are drawn per UTC day, per 15-minute slot, for every (queue, media type) pair the queue
    serves — plus, with ``config.unattributed_groups``, one pseudo-pair per media type for
    conversations that reached an agent without a queue — from a numpy generator seeded with
    ``(seed, day)``: any day can be produced alone, in any order, always the same. Every answer is a
    sum, minimum or maximum over slots, so any window, granularity and time zone agree.

    Relations that hold in every slot, hence in every answer: ``nOffered = tAnswered.count +
    tAbandon.count + tFlowOut.count = tWait.count``; ``tAcd.count = tAnswered.count +
    tAbandon.count``; ``tShortAbandon.count <= tAbandon.count`` (and its max < 10 s);
    ``tVoicemail.count <= tFlowOut.count``; ``nOverSla <= tAnswered.count <= tAlert.count``;
    ``nConnected = tHandle.count = tTalkComplete.count = tAcw.count`` (answered, plus unqueued
    conversations in unattributed groups); ``nTransferred = nBlindTransferred +
    nConsultTransferred``; ``tWait.sum = tAnswered.sum + tAbandon.sum + tFlowOut.sum``;
    ``tHandle.sum = tTalkComplete.sum + tHeldComplete.sum + tAcw.sum``; ``oServiceLevel`` numerator =
    answered within the threshold (``tAnswered.count - nOverSla``), denominator = answered +
    abandoned − short abandons; one conversation has ``min = max = sum`` (except tHandle, whose
    extremes are approximations); ``min <= sum / count <= max``.

    Late data: each slot has a delay of 0..horizon days (seeded); a slot of UTC day D is visible once
    ``today - D >= delay``, so young days grow until they settle. UTC days after ``today`` are empty.
    """

    def __init__(self, config: SimConfig, queues: Sequence[Queue]) -> None:
        self.config = config
        self.queues = list(queues)
        self.media_types = tuple(config.media_types)
        self._lock = threading.RLock()
        self._cache: OrderedDict[int, _Day] = OrderedDict()
        self._cache_bytes = 0
        self.days_generated = 0
        self._build_layout()

    # ----------------------------------------------------------------------------- org layout
    def _build_layout(self) -> None:
        config = self.config
        media_index = {m: i for i, m in enumerate(self.media_types)}
        pair_queue: list[int] = []
        pair_media: list[int] = []
        for queue in self.queues:
            for media in self.media_types:
                if media in queue.media:
                    pair_queue.append(queue.index)
                    pair_media.append(media_index[media])
        self.real_pairs = len(pair_queue)
        if config.unattributed_groups:
            for media in self.media_types:
                pair_queue.append(-1)
                pair_media.append(media_index[media])
        self.pair_queue = np.asarray(pair_queue, dtype=np.int64)
        self.pair_media = np.asarray(pair_media, dtype=np.int64)
        self.pairs = len(pair_queue)
        real = self.pair_queue >= 0

        rng = np.random.default_rng([config.seed, _STREAM_LAYOUT])
        queue_count = len(self.queues)
        size = rng.lognormal(0.0, 0.55, queue_count)
        shift_hours = rng.choice(
            np.asarray([-8.0, -6.0, -5.0, -5.0, -5.0, 0.0, 1.0, 1.0, 2.0, 5.5]), queue_count
        )
        closed_weekends = rng.random(queue_count) < CLOSED_WEEKENDS_RATE
        profiles = [MEDIA_PROFILES.get(m, DEFAULT_MEDIA_PROFILE) for m in self.media_types]

        def per_pair(attribute: str) -> Array:
            return np.asarray([getattr(profiles[m], attribute) for m in self.pair_media], dtype=np.float64)

        q = np.where(real, self.pair_queue, 0)
        pair_size = np.where(real, size[q], 0.0)
        org_scale = queue_count / 20.0  # unattributed traffic grows with the org
        self.offered_volume = per_pair("daily_offered") * pair_size
        self.direct_volume = np.where(real, 0.0, per_pair("direct_daily") * org_scale)
        self.outbound_volume = np.where(real, per_pair("outbound_daily") * pair_size, 0.0)

        # Intra-day profile (96, pairs), each column summing to 1: business hours in the queue's own
        # zone (a fixed shift from UTC) mixed with a flat share.
        slot_hours = (np.arange(SLOTS_PER_DAY) + 0.5) * (24.0 / SLOTS_PER_DAY)
        shift = np.where(real, shift_hours[q], 0.0)
        curve = _business_curve((slot_hours[:, None] + shift[None, :]) % 24.0)
        curve = curve / curve.sum(axis=0, keepdims=True)
        business = per_pair("business_share")
        self.profile = (business * curve + (1.0 - business) / SLOTS_PER_DAY).astype(np.float32)

        weekend = per_pair("weekend")
        closed = np.where(real, closed_weekends[q], False)
        weekly = np.ones((self.pairs, 7))
        weekly[:, 0] = 1.12
        weekly[:, 4] = 0.92
        weekly[:, 5] = np.where(closed, 0.0, weekend)
        weekly[:, 6] = np.where(closed, 0.0, weekend * 0.8)
        self.weekly = weekly

        rate_names = (
            "abandon",
            "flowout",
            "short_abandon",
            "voicemail",
            "over_sla",
            "transfer",
            "blind",
            "hold",
            "decline",
        )
        self.rates = {name: per_pair(name) for name in rate_names}
        self.timer_means = {
            timer: np.asarray([profiles[m].timers[timer] for m in self.pair_media], dtype=np.float32)
            for timer in BASE_TIMERS
        }
        targets = [
            self.queues[qi].targets[self.media_types[mi]] if qi >= 0 else math.nan
            for qi, mi in zip(self.pair_queue.tolist(), self.pair_media.tolist(), strict=True)
        ]
        self.pair_target = np.asarray(targets, dtype=np.float64)

    def _term_mean(self, term: Term) -> Array:
        total = self.timer_means[term.means[0]]
        for name in term.means[1:]:
            total = total + self.timer_means[name]
        return total

    # ----------------------------------------------------------------------------- generation
    def _generate(self, day: int) -> _Day:
        """Draw the settled slot arrays of UTC day ``day`` (days since 1970-01-01)."""
        rng = np.random.default_rng([self.config.seed, _STREAM_VALUES, day + _DAY_OFFSET])
        when = EPOCH_DATE + timedelta(days=day)
        real = self.real_pairs

        season = 1.0 + 0.08 * math.sin(2.0 * math.pi * when.timetuple().tm_yday / 365.25)
        holiday = 0.1 if (when.month, when.day) in {(1, 1), (12, 25)} else 1.0
        quiet = rng.random(len(self.queues)) < QUIET_DAY_RATE
        noise = 0.85 + 0.3 * rng.random(self.pairs)
        factor = self.weekly[:, when.weekday()] * season * holiday * noise
        factor[:real] = np.where(quiet[self.pair_queue[:real]], 0.0, factor[:real])
        day_rates = {
            name: np.minimum(values * (0.75 + 0.5 * rng.random(self.pairs)), 0.9).astype(np.float32)
            for name, values in self.rates.items()
        }
        u = _uniforms(rng, 19, (SLOTS_PER_DAY, self.pairs))
        rows = iter(range(len(u)))

        def counts(volume: Array) -> Array:
            """Counts around the expected intensity, spread uniformly with its variance (Poisson-like)."""
            lam = self.profile * (volume * factor).astype(np.float32)
            spread = (u[next(rows)] - np.float32(0.5)) * np.float32(3.4641)
            drawn = np.floor(lam + np.sqrt(lam) * spread + u[next(rows)])
            clipped: Array = np.clip(drawn, 0.0, MAX_SLOT_COUNT).astype(np.int16)
            return clipped

        def portion(total: Array, rate: str) -> Array:
            """Stochastic rounding of total × rate: never above total, additive in expectation."""
            rounded: Array = np.floor(total * day_rates[rate] + u[next(rows)]).astype(np.int16)
            return rounded

        offered = counts(self.offered_volume)
        direct = counts(self.direct_volume)
        outbound = counts(self.outbound_volume)
        abandoned = portion(offered, "abandon")
        remaining = offered - abandoned
        flowout = portion(remaining, "flowout")
        answered = remaining - flowout
        short_abandon = portion(abandoned, "short_abandon")
        voicemail = portion(flowout, "voicemail")
        over_sla = portion(answered, "over_sla")
        handled = answered + direct
        transferred = portion(handled, "transfer")
        blind = portion(transferred, "blind")
        held = portion(handled, "hold")
        alerted = answered + portion(answered, "decline")

        arrays: dict[str, Array] = {
            "offered": offered,
            "handled": handled,
            "transferred": transferred,
            "blind": blind,
            "consult": transferred - blind,
            "over_sla": over_sla,
            "outbound": outbound,
            "sl_num": answered - over_sla,
            "sl_den": answered + abandoned - short_abandon,
            "answered": answered,
            "abandoned": abandoned,
            "short_abandon": short_abandon,
            "flowout": flowout,
            "voicemail": voicemail,
            "alerted": alerted,
            "held": held,
        }
        # Durations: in each slot a timer's average is mean × g, its shortest mean × g × low and its
        # longest mean × g × high, with g (one for waiting, one for handling timers), low and high
        # drawn per slot. The factors g × low and g × high are stored per count ("<count>.low" /
        # ".high"): aggregated extremes are the mean times the extreme factor, exactly the extreme of
        # the per-slot values. One conversation has low = high = g, hence min = max = sum.
        low = np.float32(0.1) + np.float32(0.85) * u[next(rows)]
        high = np.float32(1.1) + np.float32(2.4) * u[next(rows)]
        shapes = {
            "waiting": np.float32(0.7) + np.float32(0.6) * u[next(rows)],
            "handling": np.float32(0.7) + np.float32(0.6) * u[next(rows)],
        }
        floats: dict[str, Array] = {}
        for group in WAITING_GROUPS + HANDLING_GROUPS:
            g = shapes["waiting" if group in WAITING_GROUPS else "handling"]
            count = arrays[group]
            single, none = count == 1, count == 0
            arrays[f"{group}.low"] = np.where(single, g, g * low) + none * _NO_LOW
            arrays[f"{group}.high"] = np.where(single, g, g * high) * ~none
            floats[group] = count.astype(np.float32)
        for timer, group in BASE_TIMERS.items():
            g = shapes["waiting" if group in WAITING_GROUPS else "handling"]
            mean_duration = self.timer_means[timer] * g
            arrays[f"{timer}.sum"] = np.minimum(floats[group] * mean_duration, _VALUE_CAP).astype(np.int32)
        nbytes = sum(a.nbytes for a in {id(a): a for a in arrays.values()}.values())
        return _Day(arrays=arrays, nbytes=nbytes)

    # ----------------------------------------------------------------------------- cache
    def _day(self, day: int) -> _Day:
        cached = self._cache.get(day)
        if cached is not None:
            self._cache.move_to_end(day)
            return cached
        generated = self._generate(day)
        self.days_generated += 1
        self._cache[day] = generated
        self._cache_bytes += generated.nbytes
        budget = self.config.cache_megabytes * 1024 * 1024
        while self._cache_bytes > budget and len(self._cache) > 1:
            _, evicted = self._cache.popitem(last=False)
            self._cache_bytes -= evicted.nbytes
        return generated

    def _delays(self, day: int, data: _Day) -> Array:
        if data.delay is None:
            horizon = self.config.late_data_horizon_days
            weights = np.asarray([2.0**-k for k in range(horizon + 1)])
            cumulative = (np.cumsum(weights) / weights.sum())[:-1]
            rng = np.random.default_rng([self.config.seed, _STREAM_DELAYS, day + _DAY_OFFSET])
            draws = rng.random((SLOTS_PER_DAY, self.pairs))
            data.delay = np.searchsorted(cumulative, draws, side="right").astype(np.int8)
        return data.delay

    def _uncorrected(self, day: int) -> Array:
        """Cells a late correction keeps: a seeded (1 - CORRECTED_SHARE) of the day's (slot, pair) cells."""
        rng = np.random.default_rng([self.config.seed, _STREAM_CORRECTIONS, day + _DAY_OFFSET])
        kept: Array = rng.random((SLOTS_PER_DAY, self.pairs)) >= CORRECTED_SHARE
        return kept

    # ----------------------------------------------------------------------------- aggregation
    def _reduce(self, bounds: Array, keys: Sequence[str], today: date) -> dict[str, Array]:
        """Reduce slot arrays over buckets ``[bounds[i], bounds[i+1])`` (global slot indices) per pair."""
        buckets = len(bounds) - 1
        today_index = (today - EPOCH_DATE).days
        first_day = int(bounds[0]) // SLOTS_PER_DAY
        last_day = (int(bounds[-1]) - 1) // SLOTS_PER_DAY
        out: dict[str, Array] = {}
        if bounds[-1] <= bounds[0] or first_day > today_index:
            for key in keys:
                identity = _key_identity(key)
                out[key] = np.full((buckets, self.pairs), identity, dtype=np.asarray(identity).dtype)
            return out
        late, horizon = self.config.late_data, self.config.late_data_horizon_days
        views: list[tuple[_Day, Array | None] | None] = []
        for day in range(first_day, last_day + 1):
            if day > today_index:
                views.append(None)
                continue
            data = self._day(day)
            age = today_index - day
            visible = self._delays(day, data) <= age if late and age < horizon else None
            correction = self.config.late_correction_days
            if correction is not None and age >= correction:
                kept = self._uncorrected(day)
                visible = kept if visible is None else visible & kept
            views.append((data, visible))
        local = np.asarray(bounds, dtype=np.int64) - first_day * SLOTS_PER_DAY
        template = next(v for v in views if v is not None)[0].arrays
        for key in keys:
            identity = _key_identity(key)
            parts = []
            for view in views:
                if view is None:
                    parts.append(np.full((SLOTS_PER_DAY, self.pairs), identity, dtype=template[key].dtype))
                    continue
                data, visible = view
                values = data.arrays[key]
                parts.append(values if visible is None else np.where(visible, values, identity))
            stacked = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
            out[key] = _reduce_rows(stacked[: int(local[-1])], local, _key_kind(key), identity)
        return out

    def _extreme(self, reduced: dict[str, Array], terms: Sequence[Term], kind: str, cap: int | None) -> Array:
        values = None
        for term in terms:
            factor = reduced[f"{term.group}.{'low' if kind == 'min' else 'high'}"]
            scaled: Array = np.minimum(self._term_mean(term) * factor, _VALUE_CAP).astype(np.int64)
            if values is None:
                values = scaled
            else:
                values = np.minimum(values, scaled) if kind == "min" else np.maximum(values, scaled)
        if values is None:
            msg = "a timer needs at least one term"
            raise ValueError(msg)
        return np.minimum(values, cap) if cap is not None else values

    def _pair_stats(self, spec: MetricSpec, reduced: dict[str, Array]) -> dict[str, Array]:
        """Stats per (bucket, pair) of one metric."""
        if spec.family == "n":
            return {"count": reduced[spec.source]}
        if spec.family == "o":
            return {"numerator": reduced["sl_num"], "denominator": reduced["sl_den"]}
        timer = TIMER_DEFS[spec.source]
        count = sum((reduced[c] for c in timer.counts[1:]), reduced[timer.counts[0]])
        total = sum((reduced[s] for s in timer.sums[1:]), reduced[timer.sums[0]])
        return {
            "count": count,
            "sum": total,
            "min": self._extreme(reduced, timer.low, "min", None),
            "max": self._extreme(reduced, timer.high, "max", timer.cap),
        }

    def compute(
        self,
        *,
        boundaries: Sequence[datetime],
        metrics: Sequence[str],
        group_by: Sequence[str],
        pair_filter: Array | None,
        today: date,
        attributed_only: bool = False,
    ) -> Answer:
        """Aggregate the data over buckets, grouped and filtered as an aggregates query asks.

        Args:
            boundaries: bucket boundaries (aware instants), increasing; one more than buckets.
            metrics: requested metric names (names without data are skipped).
            group_by: requested dimensions; ``queueId``, ``mediaType`` and ``direction`` split the data,
                other dimensions have no value in the simulated data and do not split it.
            pair_filter: boolean array (pairs, 2): which (pair, direction) pass the filter; None: all.
            today: the simulator's current date.
            attributed_only: leave out the unattributed pseudo-pairs (ground truth).

        Returns:
            The computed answer.
        """
        specs = [METRICS[m] for m in metrics if m in METRICS]
        bounds = np.asarray([slot_index(b) for b in boundaries], dtype=np.int64)
        mask = np.ones((self.pairs, 2), dtype=bool) if pair_filter is None else pair_filter.copy()
        if attributed_only:
            mask[self.pair_queue < 0, :] = False

        by_queue, by_media = "queueId" in group_by, "mediaType" in group_by
        queue_key = np.where(self.pair_queue >= 0, self.pair_queue, len(self.queues)) if by_queue else 0
        media_key = self.pair_media if by_media else 0
        codes = np.broadcast_to(np.asarray(queue_key * len(self.media_types) + media_key), (self.pairs,))
        order = np.argsort(codes, kind="stable")
        sorted_codes = codes[order]
        starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
        identity_groups = len(starts) == self.pairs and bool((order == np.arange(self.pairs)).all())
        groups: list[dict[str, str]] = []
        for start in starts.tolist():
            pair = int(order[start])
            key: dict[str, str] = {}
            queue_index = int(self.pair_queue[pair])
            if by_queue and queue_index >= 0:
                key["queueId"] = self.queues[queue_index].id
            if by_media:
                key["mediaType"] = self.media_types[int(self.pair_media[pair])]
            groups.append(key)

        def merge(values: Array, kind: str) -> Array:
            if identity_groups:
                return values
            ufunc = {"add": np.add, "min": np.minimum, "max": np.maximum}[kind]
            return np.asarray(ufunc.reduceat(values[:, order], starts, axis=1))

        keys = sorted({k for spec in specs for k in spec.array_keys()})
        with self._lock:
            reduced = self._reduce(bounds, keys, today) if specs else {}
        blocks = []
        for spec in specs:
            include = mask[:, spec.direction]
            stats: dict[str, Array] = {}
            for stat, values in self._pair_stats(spec, reduced).items():
                kind = STAT_KINDS[stat]
                if not include.all():
                    values = np.where(include, values, _IDENTITY[kind])
                stats[stat] = merge(values, kind)
            if spec.family == "o":
                denominator = stats["denominator"]
                present = denominator > 0
                with np.errstate(divide="ignore", invalid="ignore"):
                    stats["ratio"] = np.where(
                        present, stats["numerator"] / np.maximum(denominator, 1), np.nan
                    )
                contributes = (reduced["sl_den"] > 0) & include
                lowest = merge(np.where(contributes, self.pair_target, np.inf), "min")
                highest = merge(np.where(contributes, self.pair_target, -np.inf), "max")
                stats["target"] = np.where(present & (lowest == highest), lowest, np.nan)
            else:
                present = stats["count"] > 0
            blocks.append(Block(spec=spec, stats=stats, present=present))
        return Answer(
            groups=groups,
            boundaries=tuple(boundaries),
            blocks=blocks,
            split_direction="direction" in group_by,
        )
