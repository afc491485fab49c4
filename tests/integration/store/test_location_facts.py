"""The extension fields of an event's readPoint and bizLocation (`EQ_readPoint_<prefix:field>`,
`EQ_INNER_readPoint_<prefix:field>`, bizLocation alike), on SQLite and PostgreSQL (the `store`
fixture runs each test on both), read from the query string as the gateway reads it: each finds
the event that has the value where the parameter looks, and not the one with the value
elsewhere (the event's own extension field, the other location, nested instead of a field of
its own); from the event facts index (the events' JSON is not read), filled at capture and by
migration 0024."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from starlette.datastructures import QueryParams

from gateway.routes.events import query_filters
from gateway.services import Services
from ledger.store import tables as t
from ledger.store.store import Store
from tests.integration.store.test_master_data_facts import serials
from tests.integration.store.test_store import object_event, plan_text, query_plans, signed

DOCK = "urn:epc:id:sgln:0614141.00777.0"  # every object_event's readPoint
STORE = "urn:epc:id:sgln:0614141.00888.0"  # and bizLocation
# The fact keys migration 0024 writes.
NEW_KEYS = ("readPoint:", "inner_readPoint:", "bizLocation:", "inner_bizLocation:")


def _located(i: int, read_point: dict[str, Any] | None = None,
             biz_location: dict[str, Any] | None = None) -> dict[str, Any]:
    ev = object_event(i, minute=i)
    ev["readPoint"] = {"id": DOCK, **(read_point or {})}
    ev["bizLocation"] = {"id": STORE, **(biz_location or {})}
    return ev


def _one() -> dict[str, Any]:
    return _located(1, {"example:dock": "D7", "example:gate": {"example:lane": 3,
                                                               "example:opened":
                                                               "2024-03-01T08:00:00Z"},
                        "example:tags": ["cold", "bonded"]},
                    {"example:zone": "Z1", "example:temp": 4.5})


def _two() -> dict[str, Any]:
    """Event 1's values one step beside, or in the other place."""
    return _located(2, {"example:dock": "D8", "example:gate": {"example:lane": 4},
                        "example:zone": "Z1"},
                    {"example:dock": "D7", "example:temp": 4.6,
                     "example:yard": {"example:row": {"example:lane": 3}}})


def _misplaced() -> dict[str, Any]:
    """Event 1's values as the event's own extension fields and ILMD: not its readPoint's."""
    ev = object_event(3, minute=3)
    ev["example:dock"] = "D7"
    ev["example:gate"] = {"example:lane": 3}
    ev["ilmd"] = {"example:zone": "Z1"}
    return ev


@pytest.fixture
def places(store: Store) -> Store:
    store.accept_capture(signed([_one(), _two(), _misplaced()], nonce=1))
    return store


@pytest.mark.parametrize(("query", "expected"), [
    ("EQ_readPoint_example:dock=D7", ["1"]),  # not 2's bizLocation, nor 3's own field
    ("EQ_readPoint_example:dock=D7|D8", ["1", "2"]),
    ("EQ_readPoint_example:dock=D", []),
    ("EQ_bizLocation_example:dock=D7", ["2"]),
    ("EQ_readPoint_example:zone=Z1", ["2"]),
    ("EQ_bizLocation_example:zone=Z1", ["1"]),  # not 3's ILMD
    ("EQ_readPoint_example:tags=bonded", ["1"]),  # one element of a list
    ("EQ_bizLocation_example:temp=4.5", ["1"]),  # the number
    ("EQ_bizLocation_example:temp=4.50", ["1"]),
    ("EQ_bizLocation_example:temp=4.6|5", ["2"]),
    ("EQ_readPoint_example:lane=3", []),  # nested: INNER_
    ("EQ_INNER_readPoint_example:lane=3", ["1"]),  # not 3's own, nor 2's bizLocation's
    ("EQ_INNER_readPoint_example:lane=3|4", ["1", "2"]),
    ("EQ_INNER_bizLocation_example:lane=3", ["2"]),  # at any depth
    ("EQ_INNER_bizLocation_example:row=3", []),  # an object, no value
    ("EQ_INNER_readPoint_example:dock=D7", []),  # a field of its own, not nested
    ("EQ_INNER_readPoint_example:opened=2024-03-01T16:00:00%2B08:00", ["1"]),  # the instant
    ("EQ_INNER_example:lane=3", ["3"]),  # the event's own field, as before
    ("EQ_readPoint_example:dock=D7&EQ_bizLocation_example:zone=Z1", ["1"]),
    ("EQ_readPoint_example:dock=D7&EQ_bizLocation_example:dock=D7", []),
])
def test_each_parameter_finds_its_event_and_not_the_near_miss(
        places: Store, query: str, expected: list[str]) -> None:
    assert serials(places, query) == expected


def test_the_query_reads_the_index_not_the_events_json(places: Store) -> None:
    with places.engine.begin() as conn:
        conn.execute(update(t.events).where(t.events.c.seq == 1)
                     .values(body=json.dumps(object_event(1, minute=1))))
    assert serials(places, "EQ_readPoint_example:dock=D7") == ["1"]
    with places.engine.begin() as conn:
        conn.execute(delete(t.event_facts).where(t.event_facts.c.seq == 1,
                                                 t.event_facts.c.key.like("readPoint:%")))
    assert serials(places, "EQ_readPoint_example:dock=D7") == []


def _facts(store: Store) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(select(t.event_facts)).all())


def _added(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [r for r in rows if str(r[1]).startswith(NEW_KEYS)]


def test_the_same_event_captured_again_adds_no_facts(places: Store) -> None:
    before = _facts(places)
    places.accept_capture(signed([_one(), _two()], nonce=2))
    assert _facts(places) == before


def test_migration_0024_indexes_what_was_stored_before_it(places: Store) -> None:
    before = _facts(places)
    added = _added(before)
    # 1: 4 readPoint rows (2 tags), 2 nested, 2 bizLocation rows; 2: 3 readPoint rows, 1
    # nested, 3 bizLocation rows, 2 nested (`row`, an object, and `lane`).
    assert len(added) == 8 + 9, added
    places.migrate("0023")
    assert _added(_facts(places)) == []
    assert len(_facts(places)) == len(before) - len(added)
    places.migrate()
    assert places.schema_revision() == places.head_revision()
    assert _facts(places) == before


def test_migration_0024_replaces_rows_an_earlier_backfill_wrote(places: Store) -> None:
    """From before 0017, 0017's backfill (`fact_rows` as it is now) already writes the readPoint
    and bizLocation rows: 0024 writes each row once all the same."""
    before = _facts(places)
    places.migrate("0016")
    places.migrate()
    assert _facts(places) == before


def test_a_location_parameter_is_a_search_of_the_facts_index(tmp_path: Any) -> None:
    """The statement `query_events` sends is planned as a search of (key, text, seq) or
    (key, num, seq), never a scan of the events or the facts."""
    s = Store(f"sqlite:///{tmp_path / 'plan.db'}")
    s.migrate()
    try:
        for n in range(5):
            s.accept_capture(signed([(_one() if i % 2 else _two()) | {"epcList": [
                f"urn:epc:id:sgtin:0614141.107346.{n * 100 + i}"]} for i in range(100)],
                nonce=n))
        s.optimize()
        for query, index in (("EQ_readPoint_example:dock=D7", "ix_event_facts_key_text_seq"),
                             ("EQ_INNER_readPoint_example:lane=3", "ix_event_facts_key_num_seq"),
                             ("EQ_bizLocation_example:temp=4.5", "ix_event_facts_key_num_seq")):
            asked = Services.event_query(query_filters(QueryParams(query)))
            (page, _), plans = query_plans(
                s, lambda: s.query_events(asked, per_page=30))  # noqa: B023 - called at once
            plan = plan_text(plans[0])
            assert index in plan, plan
            assert "SCAN event_facts" not in plan and "SCAN events" not in plan, plan
            assert len(page) == 30
    finally:
        s.close()
