"""HASATTR_ and EQ_ATTR_ on readPoint and bizLocation, on SQLite and PostgreSQL (the `store`
fixture runs each test on both), from each event's own signed master data
(`zhenzhi:masterData`): the event whose place is so described is found, and not the one whose
master data describes another place, or whose place another event describes; read from the
event facts index, filled at capture and by migration 0019."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from starlette.datastructures import QueryParams

from gateway.routes.events import query_filters
from gateway.services import Services
from ledger.store import tables as t
from ledger.store.store import Store
from tests.integration.store.test_store import object_event, signed

DOCK = "urn:epc:id:sgln:0614141.00777.0"  # every object_event's readPoint
STORE = "urn:epc:id:sgln:0614141.00888.0"  # and bizLocation


def _described(i: int, master: list[dict[str, Any]]) -> dict[str, Any]:
    ev = object_event(i, minute=i)
    ev["zhenzhi:masterData"] = master
    return ev


@pytest.fixture
def places(store: Store) -> Store:
    store.accept_capture(signed([
        # 1: its readPoint named in two languages, its bizLocation with a country only.
        _described(1, [{"id": DOCK, "name": {"en": "Dock 7", "zh-Hans": "7号码头"},
                        "countryCode": "NZ"},
                       {"id": STORE, "countryCode": "CN"}]),
        # 2: names a place it was not at (a party, another site): describes neither field.
        _described(2, [{"id": "urn:epc:id:sgln:0614141.00999.0", "name": "Dock 7",
                        "countryCode": "NZ"},
                       {"id": "https://id.gs1.org/417/9506000000004", "name": "Store",
                        "countryCode": "CN"}]),
        # 3: at the same places as 1, with no master data of its own.
        object_event(3, minute=3),
        # 4: its bizLocation named "Dock 70" (a near miss) in country "nz".
        _described(4, [{"id": STORE, "name": "Dock 70", "countryCode": "nz"}]),
    ], nonce=1))
    return store


def _ids(store: Store, query: str) -> list[str]:
    events, token = store.query_events(
        Services.event_query(query_filters(QueryParams(query))), 100)
    assert token is None
    return [e.event["epcList"][0].rsplit(".", 1)[1] for e in events]


@pytest.mark.parametrize(("query", "expected"), [
    ("HASATTR_readPoint=name", ["1"]),
    ("HASATTR_readPoint=urn:epcglobal:cbv:mda%23name", ["1"]),  # the attribute's CBV URN
    ("HASATTR_readPoint=countryCode", ["1"]),
    ("HASATTR_bizLocation=name", ["4"]),
    ("HASATTR_bizLocation=name|countryCode", ["1", "4"]),
    ("HASATTR_bizLocation=address", []),
    ("EQ_ATTR_readPoint_name=Dock 7", ["1"]),  # not 2's Dock 7, another place
    ("EQ_ATTR_readPoint_name=7号码头", ["1"]),  # any text of a language map
    ("EQ_ATTR_readPoint_name=Dock", []),
    ("EQ_ATTR_bizLocation_name=Dock 7", []),  # 4's is "Dock 70"
    ("EQ_ATTR_bizLocation_name=Dock 70|Store", ["4"]),  # 2's Store is a party
    ("EQ_ATTR_bizLocation_countryCode=CN", ["1"]),
    ("EQ_ATTR_bizLocation_countryCode=NZ", []),  # 4's is "nz": as written
    ("EQ_ATTR_readPoint_countryCode=NZ&EQ_ATTR_bizLocation_countryCode=CN", ["1"]),
])
def test_each_parameter_finds_the_event_its_own_master_data_describes(
        places: Store, query: str, expected: list[str]) -> None:
    assert _ids(places, query) == expected


def test_migration_0019_indexes_what_was_stored_before_it(places: Store) -> None:
    def facts() -> list[tuple[Any, ...]]:
        with places.engine.connect() as conn:
            return sorted(tuple(r) for r in conn.execute(select(t.event_facts)).all())

    before = facts()
    added = [r for r in before if str(r[1]).startswith(("attr.", "hasattr."))]
    assert len(added) == 11
    places.migrate("0018")
    assert len(facts()) == len(before) - len(added)
    places.migrate()
    assert places.schema_revision() == places.head_revision()
    assert facts() == before
