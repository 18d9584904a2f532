"""flatten_body (Arrow's JSON reader over the documented shape) loads exactly what flatten_response loads.

Real answers come from the simulator over loopback HTTP in zones with odd offsets and DST; random
answers, valid and broken, come from hypothesis. For every one, the columnar path either returns
the very table the object path returns, or ends in the object path's own outcome (the same error).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from fixtures.simulator import api_session, fetch_token, post_query
from genesys_etl import settings
from genesys_etl.errors import ResponseShapeError
from genesys_etl.query import build_query
from genesys_etl.transform import Flattened, flatten_body, flatten_response
from genesys_etl.windows import Window, plan_windows
from genesys_sim import SimConfig, SimulatorServer

LOADED_AT = datetime(2026, 11, 26, 6, 0, 1, tzinfo=UTC)
TODAY = date(2026, 11, 26)


def _objects(content: bytes, window: Window) -> Flattened | tuple[type[BaseException], str]:
    try:
        return flatten_response(json.loads(content), window, load_id="l", loaded_at=LOADED_AT)
    except (ResponseShapeError, ValueError) as err:
        return type(err), str(err)


def _columns(
    content: bytes, window: Window, decoded: list[int]
) -> Flattened | tuple[type[BaseException], str]:
    def decode() -> dict[str, Any]:
        decoded.append(1)
        payload: dict[str, Any] = json.loads(content)
        return payload

    try:
        return flatten_body(content, window, load_id="l", loaded_at=LOADED_AT, decode=decode)
    except (ResponseShapeError, ValueError) as err:
        return type(err), str(err)


def _assert_same(left: Flattened | tuple[Any, ...], right: Flattened | tuple[Any, ...]) -> None:
    if isinstance(left, Flattened) and isinstance(right, Flattened):
        assert left.table.schema == right.table.schema
        assert left.table.equals(right.table), (left.table.slice(0, 3), right.table.slice(0, 3))
        assert (left.unattributed_groups, left.unattributed_rows) == (
            right.unattributed_groups,
            right.unattributed_rows,
        )
        assert left.queue_ids == right.queue_ids
    else:
        assert left == right


@pytest.mark.parametrize(
    ("zone", "start", "end"),
    [
        ("UTC", date(2026, 10, 1), date(2026, 10, 14)),
        ("America/New_York", date(2026, 10, 26), date(2026, 11, 8)),  # the fall-back Sunday
        ("Asia/Kolkata", date(2026, 3, 1), date(2026, 3, 7)),  # +05:30: days start at 18:30Z
        ("Australia/Lord_Howe", date(2026, 4, 1), date(2026, 4, 10)),  # a 30-minute DST shift
        ("America/Santiago", date(2026, 9, 1), date(2026, 9, 10)),  # a midnight that does not exist
        ("Pacific/Chatham", date(2026, 9, 20), date(2026, 9, 30)),  # +12:45/+13:45
    ],
)
def test_simulator_answers_take_the_columnar_path_and_give_the_same_table(
    zone: str, start: date, end: date
) -> None:
    with SimulatorServer(SimConfig(seed=11, queues=15, today=TODAY, unattributed_groups=True)) as sim:
        session = api_session(sim, fetch_token(sim))
        checked = 0
        for window in plan_windows(start, end, 7, zone):
            answer = post_query(session, sim, build_query(window, settings.DEFAULT_METRICS))
            assert answer.status_code == 200
            content = answer.content
            decoded: list[int] = []
            columns = _columns(content, window, decoded)
            assert decoded == [], "a documented answer fell back to decoding objects"
            assert isinstance(columns, Flattened)
            _assert_same(columns, _objects(content, window))
            checked += columns.table.num_rows
    assert checked > 1000


# ---- random answers ------------------------------------------------------------------------------

WINDOW = Window(date(2026, 3, 7), date(2026, 3, 9), "America/New_York")  # spans the spring-forward day
INTERVALS = [
    "2026-03-07T05:00:00.000Z/2026-03-08T05:00:00.000Z",
    "2026-03-08T05:00:00.000Z/2026-03-09T04:00:00.000Z",
    "2026-03-09T04:00:00.000Z/2026-03-10T04:00:00.000Z",
    "2026-03-08T05:00:00Z/2026-03-09T04:00:00Z",  # the same day, spelled differently
    "2026-03-10T04:00:00.000Z/2026-03-11T04:00:00.000Z",  # outside the window
    "2026-03-07T00:00:00-05:00/2026-03-08T00:00:00-05:00",  # with an offset
    "not an interval",
]
NUMBER = st.one_of(
    st.integers(min_value=0, max_value=10**6),
    st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.5, 1.0, 2**53, -3]),
)
STAT_KEYS = [*sorted(settings.KNOWN_STATS), "p42"]  # a key no version knows
ODD = st.sampled_from([None, "x", 7, [], {}])


@st.composite
def _stats(draw: st.DrawFn) -> Any:
    keys = draw(st.lists(st.sampled_from(STAT_KEYS), max_size=4, unique=True))
    stats = {key: draw(NUMBER if draw(st.integers(0, 20)) else ODD) for key in keys}
    return draw(st.sampled_from([stats, stats, stats, None, "x"]))


@st.composite
def _metric(draw: st.DrawFn) -> Any:
    entry: dict[str, Any] = {"metric": draw(st.sampled_from(["nOffered", "tHandle", "oServiceLevel", None]))}
    if draw(st.booleans()):
        entry["qualifier"] = draw(st.sampled_from([None, "q1", "q2"]))
    entry["stats"] = draw(_stats())
    if not draw(st.integers(0, 30)):
        entry["extra"] = 1
    return draw(st.sampled_from([entry] * 12 + [None]))


@st.composite
def _bucket(draw: st.DrawFn) -> Any:
    bucket: dict[str, Any] = {"interval": draw(st.sampled_from(INTERVALS[:3] * 4 + INTERVALS[3:] + [None]))}
    if draw(st.integers(0, 10)):
        bucket["metrics"] = draw(st.lists(_metric(), max_size=4))
    return draw(st.sampled_from([bucket] * 15 + [None, 3]))


@st.composite
def _group(draw: st.DrawFn) -> Any:
    group: dict[str, Any] = {}
    queue = draw(st.sampled_from(["q-1", "q-2", "q-3", "", None, "absent", 5]))
    if queue != "absent":
        group["queueId"] = queue
    if draw(st.booleans()):
        group["mediaType"] = draw(st.sampled_from(["voice", "chat", None]))
    result: dict[str, Any] = {"group": group if draw(st.integers(0, 20)) else None}
    if draw(st.integers(0, 10)):
        result["data"] = draw(st.lists(_bucket(), max_size=3))
    return result


@st.composite
def _answer(draw: st.DrawFn) -> bytes:
    body: Any = {"results": draw(st.lists(_group(), max_size=5))}
    shape = draw(st.integers(0, 40))
    if shape == 0:
        body = {}
    elif shape == 1:
        body = {"results": None}
    elif shape == 2:
        body["other"] = True
    elif shape == 3:
        body = [body]
    indent = 2 if draw(st.booleans()) else None
    return json.dumps(body, indent=indent).encode()


@hypothesis_settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=_answer())
def test_any_answer_gives_the_same_table_or_the_same_error_on_both_paths(content: bytes) -> None:
    _assert_same(_columns(content, WINDOW, []), _objects(content, WINDOW))


@st.composite
def _documented_answer(draw: st.DrawFn) -> bytes:
    """Answers of exactly the documented shape, without a repeated key: never decoded as objects."""
    groups = []
    for queue in draw(st.lists(st.sampled_from(["q-1", "q-2", "q-3"]), unique=True, max_size=3)):
        for media in draw(st.lists(st.sampled_from(["voice", "chat"]), unique=True, min_size=1, max_size=2)):
            buckets = []
            for interval in draw(st.lists(st.sampled_from(INTERVALS[:3]), unique=True, max_size=3)):
                names = draw(st.lists(st.sampled_from(["nOffered", "tHandle", "oServiceLevel"]), unique=True))
                metrics = [
                    {
                        "metric": name,
                        "stats": {"count": draw(st.integers(0, 99)), "sum": draw(st.integers(0, 10**9))},
                    }
                    for name in names
                ]
                buckets.append({"interval": interval, "metrics": metrics})
            groups.append({"group": {"queueId": queue, "mediaType": media}, "data": buckets})
    return orjson.dumps({"results": groups})


@hypothesis_settings(max_examples=200, deadline=None)
@given(content=_documented_answer())
def test_documented_answers_never_fall_back_to_objects(content: bytes) -> None:
    decoded: list[int] = []
    columns = _columns(content, WINDOW, decoded)
    assert decoded == []
    _assert_same(columns, _objects(content, WINDOW))


def test_a_body_that_is_not_json_is_handed_to_decode_which_asks_for_it_again() -> None:
    class ResendError(Exception):
        pass

    def decode() -> dict[str, Any]:
        raise ResendError

    for content in (b"", b"<html>502</html>", b'{"results": [', b'{"results": []}{"results": []}', b"  "):
        with pytest.raises(ResendError):
            flatten_body(content, WINDOW, load_id="l", loaded_at=LOADED_AT, decode=decode)
