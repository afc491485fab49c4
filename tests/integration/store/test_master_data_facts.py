"""HASATTR_ and EQ_ATTR_ on readPoint and bizLocation, and HASATTR_ on an extension field
(`HASATTR_zhenzhi:seller`), on SQLite and PostgreSQL (the `store` fixture runs each test on
both), from each event's own signed master data (`zhenzhi:masterData`): the event whose place
or party is so described is found, and not the one whose master data describes another, or
whose place or party another event describes; read from the event facts index, filled at
capture and by migrations 0019 (readPoint, bizLocation) and 0024 (extension fields)."""

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


def serials(store: Store, query: str) -> list[str]:
    """The serials of the events a query string finds, as the gateway parses it, in one page."""
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
    assert serials(places, query) == expected


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


SELLER = "urn:epc:id:pgln:0614141.00001"


def _sold(i: int, master: list[dict[str, Any]], seller: Any = SELLER) -> dict[str, Any]:
    ev = _described(i, master)
    ev["zhenzhi:seller"] = seller
    return ev


@pytest.fixture
def sellers(store: Store) -> Store:
    store.accept_capture(signed([
        # 1: its seller described by its own master data, in two languages.
        _sold(1, [{"id": SELLER, "name": {"en": "Shop", "zh-Hans": "商店"}, "countryCode": "CN"}]),
        # 2: its master data describes another party, and its readPoint by the seller's id.
        _sold(2, [{"id": "urn:epc:id:pgln:0614141.00002", "name": "Shop 2"},
                  {"id": DOCK, "countryCode": "NZ"}]),
        # 3: the same seller, no master data of its own.
        object_event(3, minute=3) | {"zhenzhi:seller": SELLER},
        # 4: sellers in a list, one described; and an extension field 1 describes nothing by.
        _sold(4, [{"id": SELLER, "address": "1 Quay St"}], ["urn:x", SELLER])
        | {"example:carrier": "urn:epc:id:pgln:0614141.00003"},
        # 5: an object, not a vocabulary element: its `id` is no value of the field.
        _sold(5, [{"id": SELLER, "name": "Shop 5"}], {"id": SELLER}),
    ], nonce=1))
    return store


@pytest.mark.parametrize(("query", "expected"), [
    ("HASATTR_zhenzhi:seller=name", ["1"]),  # not 2's other party, nor 3's, nor 5's object
    ("HASATTR_zhenzhi:seller=urn:epcglobal:cbv:mda%23countryCode", ["1"]),
    ("HASATTR_zhenzhi:seller=address", ["4"]),
    ("HASATTR_zhenzhi:seller=name|address", ["1", "4"]),
    ("HASATTR_zhenzhi:seller=id", []),  # the element's id is no attribute
    ("HASATTR_zhenzhi:seller=vatNumber", []),
    ("HASATTR_example:carrier=name", []),
    ("HASATTR_zhenzhi:masterData=name", []),  # the master data itself names no element
    ("HASATTR_readPoint=countryCode", ["2"]),  # as before, beside the extension fields
])
def test_hasattr_of_an_extension_field_finds_the_event_whose_own_master_data_describes_it(
        sellers: Store, query: str, expected: list[str]) -> None:
    assert serials(sellers, query) == expected


def _hasattr_of_fields(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [r for r in rows if str(r[1]).startswith("hasattr.") and ":" in str(r[1])]


def test_migration_0024_indexes_hasattr_of_what_was_stored_before_it(sellers: Store) -> None:
    def facts() -> list[tuple[Any, ...]]:
        with sellers.engine.connect() as conn:
            return sorted(tuple(r) for r in conn.execute(select(t.event_facts)).all())

    before = facts()
    added = _hasattr_of_fields(before)
    assert sorted(r[2] for r in added) == ["address", "countryCode", "name"]
    sellers.migrate("0023")
    assert _hasattr_of_fields(facts()) == []
    assert len(facts()) == len(before) - len(added)
    sellers.migrate()
    assert facts() == before
    sellers.migrate("0018")  # from before 0019, whose backfill writes them too: each once
    sellers.migrate()
    assert facts() == before


SHIPPER = "urn:epc:id:pgln:0614141.00010"
CONSIGNEE = "urn:epc:id:pgln:0614141.00020"
OWNING = "urn:epcglobal:cbv:sdt:owning_party"


def _shipped(i: int, master: list[dict[str, Any]] | None, sources: list[str],
             destinations: list[str]) -> dict[str, Any]:
    ev = object_event(i, minute=i)
    if master is not None:
        ev["zhenzhi:masterData"] = master
    ev["sourceList"] = [{"type": OWNING, "source": s} for s in sources]
    ev["destinationList"] = [{"type": OWNING, "destination": d} for d in destinations]
    return ev


@pytest.fixture
def parties(store: Store) -> Store:
    store.accept_capture(signed([
        # 1: its shipper and consignee described by its own master data.
        _shipped(1, [{"id": SHIPPER, "name": "Acme Export", "countryCode": "NZ"},
                     {"id": CONSIGNEE, "name": {"en": "Zhenzhi Imports", "zh-Hans": "真知进口"}}],
                 [SHIPPER], [CONSIGNEE]),
        # 2: the same parties, no master data of its own.
        _shipped(2, None, [SHIPPER], [CONSIGNEE]),
        # 3: its master data describes the shipper, who is its destination here.
        _shipped(3, [{"id": SHIPPER, "name": "Acme Export"}], [CONSIGNEE], [SHIPPER]),
    ], nonce=1))
    return store


@pytest.mark.parametrize(("query", "expected"), [
    ("HASATTR_source=name", ["1"]),
    ("HASATTR_source=countryCode", ["1"]),
    ("HASATTR_destination=name", ["1", "3"]),
    ("HASATTR_destination=countryCode", []),
    ("EQ_ATTR_source_name=Acme Export", ["1"]),  # not 3's: there Acme is the destination
    ("EQ_ATTR_destination_name=Acme Export", ["3"]),
    ("EQ_ATTR_destination_name=真知进口", ["1"]),
    ("EQ_ATTR_source_countryCode=NZ&EQ_ATTR_destination_name=Zhenzhi Imports", ["1"]),
])
def test_source_and_destination_parties_are_found_by_the_events_own_master_data(
        parties: Store, query: str, expected: list[str]) -> None:
    assert serials(parties, query) == expected


def _party_rows(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [r for r in rows if str(r[1]).startswith(
        ("attr.source.", "attr.destination.", "hasattr.source", "hasattr.destination"))]


def test_migration_0026_indexes_the_parties_of_what_was_stored_before_it(
        parties: Store) -> None:
    def facts() -> list[tuple[Any, ...]]:
        with parties.engine.connect() as conn:  # (a party's type row has no text: sort as text)
            return sorted((tuple(r) for r in conn.execute(select(t.event_facts)).all()),
                          key=lambda r: tuple(map(str, r)))

    before = facts()
    added = _party_rows(before)
    # 1: hasattr.source ×2, attr.source ×2, hasattr.destination, attr.destination ×2;
    # 3: hasattr.destination, attr.destination.
    assert len(added) == 9, added
    parties.migrate("0025")
    assert _party_rows(facts()) == []
    parties.migrate()
    assert facts() == before
    parties.migrate("0018")  # from before 0019, whose backfill writes them too: each once
    parties.migrate()
    assert facts() == before
