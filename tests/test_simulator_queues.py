"""The simulator's queue listing: paging, fields, deleted queues."""

from __future__ import annotations

import math

import pytest
import requests

from fixtures.simulator import QUEUES_PATH, api_session
from genesys_sim import SimulatorServer


@pytest.fixture
def api(simulator: SimulatorServer) -> requests.Session:
    return api_session(simulator)


def get_page(api: requests.Session, sim: SimulatorServer, **params: object) -> requests.Response:
    return api.get(f"{sim.base_url}{QUEUES_PATH}", params=params, timeout=10)


def test_pages_cover_every_listed_queue_once(simulator: SimulatorServer, api: requests.Session) -> None:
    pages = []
    number = 1
    while True:
        page = get_page(api, simulator, pageSize=5, pageNumber=number).json()
        pages.append(page)
        if page["pageNumber"] >= page["pageCount"]:
            break
        number += 1
    assert len(pages) == 4
    assert [p["pageCount"] for p in pages] == [4] * 4
    assert [p["total"] for p in pages] == [18] * 4
    ids = [q["id"] for p in pages for q in p["entities"]]
    assert len(ids) == len(set(ids)) == 18
    names = [q["name"] for p in pages for q in p["entities"]]
    assert names == sorted(names)
    assert [("nextUri" in p) for p in pages] == [True, True, True, False]
    assert pages[0]["nextUri"] == f"{QUEUES_PATH}?pageSize=5&pageNumber=2"
    assert pages[1]["previousUri"] == f"{QUEUES_PATH}?pageSize=5&pageNumber=1"
    assert {p["firstUri"] for p in pages} == {f"{QUEUES_PATH}?pageSize=5&pageNumber=1"}
    assert {p["lastUri"] for p in pages} == {f"{QUEUES_PATH}?pageSize=5&pageNumber=4"}
    assert pages[2]["selfUri"] == f"{QUEUES_PATH}?pageSize=5&pageNumber=3"
    assert len(pages[-1]["entities"]) == 3


def test_default_page_size_is_25(simulator: SimulatorServer, api: requests.Session) -> None:
    page = get_page(api, simulator).json()
    assert page["pageSize"] == 25
    assert page["pageNumber"] == 1
    assert page["pageCount"] == math.ceil(18 / 25)
    assert len(page["entities"]) == 18
    assert "nextUri" not in page


def test_a_page_past_the_end_is_empty(simulator: SimulatorServer, api: requests.Session) -> None:
    page = get_page(api, simulator, pageSize=10, pageNumber=3).json()
    assert page["entities"] == []
    assert page["pageCount"] == 2


def test_entities_have_the_reference_fields(simulator: SimulatorServer, api: requests.Session) -> None:
    queue = get_page(api, simulator, pageSize=1).json()["entities"][0]
    assert {
        "id",
        "name",
        "description",
        "division",
        "dateCreated",
        "dateModified",
        "memberCount",
        "mediaSettings",
        "selfUri",
    } <= set(queue)
    assert set(queue["division"]) == {"id", "name", "selfUri"}
    assert queue["dateCreated"].endswith("Z")
    assert queue["dateCreated"] <= queue["dateModified"]
    assert set(queue["mediaSettings"]) == {"call", "chat", "email", "callback", "message"}
    service_level = queue["mediaSettings"]["call"]["serviceLevel"]
    assert 0 < service_level["percentage"] <= 1
    assert service_level["durationMs"] == 20_000
    single = api.get(f"{simulator.base_url}{QUEUES_PATH}/{queue['id']}", timeout=10)
    assert single.json() == queue


def test_deleted_queues_are_absent_from_the_listing(
    simulator: SimulatorServer, api: requests.Session
) -> None:
    listed = {q["id"] for q in get_page(api, simulator, pageSize=100).json()["entities"]}
    everything = set(simulator.queue_ids(include_deleted=True))
    deleted = everything - listed
    assert len(deleted) == 2
    assert listed == set(simulator.queue_ids(include_deleted=False))
    for queue_id in deleted:
        missing = api.get(f"{simulator.base_url}{QUEUES_PATH}/{queue_id}", timeout=10)
        assert missing.status_code == 404
        assert missing.json()["code"] == "not.found"


@pytest.mark.parametrize(
    ("name", "value"), [("pageSize", 0), ("pageSize", 501), ("pageSize", "ten"), ("pageNumber", 0)]
)
def test_invalid_paging_is_a_400(
    simulator: SimulatorServer, api: requests.Session, name: str, value: object
) -> None:
    answer = get_page(api, simulator, **{name: value})
    assert answer.status_code == 400
    assert name in answer.json()["message"]
    assert answer.json()["code"] == "invalid.value"


def test_listing_size_follows_the_config(fresh_simulator: object) -> None:
    sim = fresh_simulator(queues=230, deleted_queues=5)  # type: ignore[operator]
    page = get_page(api_session(sim), sim, pageSize=100, pageNumber=3).json()
    assert page["total"] == 225
    assert page["pageCount"] == 3
    assert len(page["entities"]) == 25
    names = [q["name"] for q in sim.queues()]
    assert len(set(names)) == 225
