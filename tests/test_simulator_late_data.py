"""Late-arriving data: young days grow between clock moves and settle after the horizon."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd

from fixtures.simulator import api_session, flatten_answer, query_ok
from genesys_etl.settings import DEFAULT_METRICS

DAY = date(2026, 11, 20)


def day_body(day: date) -> dict[str, Any]:
    return {
        "interval": f"{day}T00:00:00.000Z/{day + timedelta(days=1)}T00:00:00.000Z",
        "granularity": "P1D",
        "groupBy": ["queueId", "mediaType"],
        "metrics": list(DEFAULT_METRICS),
    }


def offered(payload: dict[str, Any]) -> int:
    return sum(s["count"] for (_, _, metric), s in flatten_answer(payload).items() if metric == "nOffered")


def test_young_days_grow_then_settle(fresh_simulator: Any) -> None:
    settled_sim = fresh_simulator(seed=5)
    late_sim = fresh_simulator(seed=5, late_data=True, late_data_horizon_days=3, today=DAY)
    api = api_session(late_sim)
    settled = query_ok(api_session(settled_sim), settled_sim, day_body(DAY))

    seen = []
    for age in range(5):
        late_sim.set_today(DAY + timedelta(days=age))
        payload = query_ok(api, late_sim, day_body(DAY))
        seen.append(offered(payload))
        truth = late_sim.ground_truth(DAY, DAY, "UTC")
        assert truth.loc[truth["metric"] == "nOffered", "count"].sum() == seen[-1]  # ground truth = now
        if age >= 3:
            assert payload == settled
    assert seen[0] < seen[1] < seen[2] < seen[3] == seen[4] == offered(settled)


def test_ground_truth_follows_the_clock_exactly(fresh_simulator: Any) -> None:
    sim = fresh_simulator(late_data=True, today=DAY + timedelta(days=1))
    payload = query_ok(api_session(sim), sim, day_body(DAY))
    truth = sim.ground_truth(DAY, DAY, "UTC")
    served = {
        (dict(group)["queueId"], dict(group)["mediaType"], metric): stats
        for (_, group, metric), stats in flatten_answer(payload).items()
        if "queueId" in dict(group)
    }
    assert len(served) == len(truth)
    for row in truth.itertuples(index=False):
        stats = served[(row.queue_id, row.media_type, row.metric)]
        for name, value in stats.items():
            assert getattr(row, name) == value


def test_days_after_today_are_empty_until_the_clock_reaches_them(fresh_simulator: Any) -> None:
    sim = fresh_simulator(today=DAY - timedelta(days=1))
    api = api_session(sim)
    assert query_ok(api, sim, day_body(DAY)) == {}
    empty = sim.ground_truth(DAY, DAY, "UTC")
    assert isinstance(empty, pd.DataFrame)
    assert empty.empty
    sim.set_today(DAY)
    assert offered(query_ok(api, sim, day_body(DAY))) > 0
