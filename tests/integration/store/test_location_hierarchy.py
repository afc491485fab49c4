"""WD_readPoint and WD_bizLocation on SQLite and PostgreSQL (the `store` fixture runs each test
on both): a location or any of its descendants, by the hierarchy each event's own signed master
data declares (`children` of its `zhenzhi:masterData` elements); read from the event facts
index, filled at capture and by migration 0023."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from ledger.store import tables as t
from ledger.store.event_facts import MAX_ANCESTORS, master_data_facts
from ledger.store.store import Store
from tests.integration.store.test_master_data_facts import serials
from tests.integration.store.test_store import object_event, signed

SITE = "urn:epc:id:sgln:0614141.00100.0"      # a warehouse
HALL = "urn:epc:id:sgln:0614141.00110.0"      # a hall in it
DOCK = "urn:epc:id:sgln:0614141.00777.0"      # every object_event's readPoint: a dock in the hall
STORE = "urn:epc:id:sgln:0614141.00888.0"     # every object_event's bizLocation
ELSEWHERE = "urn:epc:id:sgln:0614141.00999.0"


def _placed(i: int, master: list[dict[str, Any]] | None, **fields: Any) -> dict[str, Any]:
    ev = object_event(i, minute=i % 60)
    if master is not None:
        ev["zhenzhi:masterData"] = master
    ev.update(fields)
    return ev


@pytest.fixture
def placed(store: Store) -> Store:
    store.accept_capture(signed([
        # 1: its dock is in the hall, the hall in the site (two levels, declared in any order).
        _placed(1, [{"id": HALL, "children": [DOCK]}, {"id": SITE, "children": [HALL]}]),
        # 2: at the same dock, with no master data: the dock itself only.
        _placed(2, None),
        # 3: declares the hall inside the site, but its own dock nowhere: not in either.
        _placed(3, [{"id": SITE, "children": [HALL]}]),
        # 4: at the hall itself (its readPoint), which its master data puts in the site; its
        # bizLocation in ELSEWHERE.
        _placed(4, [{"id": SITE, "name": "Site", "children": [HALL]},
                    {"id": ELSEWHERE, "children": [STORE]}], readPoint={"id": HALL}),
        # 5: a cycle (the dock in the hall, the hall in the dock): both, and nothing more.
        _placed(5, [{"id": HALL, "children": [DOCK]}, {"id": DOCK, "children": [HALL]}]),
    ], nonce=1))
    return store


@pytest.mark.parametrize(("query", "expected"), [
    (f"WD_readPoint={DOCK}", ["1", "2", "3", "5"]),  # the location itself, for every event
    (f"WD_readPoint={HALL}", ["1", "4", "5"]),  # 1 and 5 by their own master data, 4 there
    (f"WD_readPoint={SITE}", ["1", "4"]),  # two levels up; 3's hierarchy leaves its dock out
    (f"WD_readPoint={SITE}|{DOCK}", ["1", "2", "3", "4", "5"]),
    (f"EQ_readPoint={HALL}", ["4"]),  # EQ_ is the location alone
    (f"WD_bizLocation={ELSEWHERE}", ["4"]),
    (f"WD_bizLocation={STORE}", ["1", "2", "3", "4", "5"]),
    (f"WD_readPoint={SITE}&WD_bizLocation={ELSEWHERE}", ["4"]),
    (f"WD_readPoint={SITE}&EQ_bizStep=shipping", ["1", "4"]),
    (f"WD_readPoint={SITE}&EQ_bizStep=receiving", []),
    (f"WD_readPoint={ELSEWHERE}", []),  # 4 put STORE, its bizLocation, there: not its readPoint
])
def test_wd_finds_the_location_and_what_each_events_master_data_puts_inside_it(
        placed: Store, query: str, expected: list[str]) -> None:
    assert serials(placed, query) == expected


def test_attack_anothers_master_data_does_not_move_an_event(store: Store) -> None:
    """A rival's event declaring the victim's dock inside the rival's site puts the rival's own
    event there, never the victim's event at that dock."""
    store.accept_capture(signed([_placed(1, None)], nonce=1))
    store.accept_capture(signed([_placed(2, [{"id": ELSEWHERE, "children": [DOCK]}])],
                                nonce=2))
    assert serials(store, f"WD_readPoint={ELSEWHERE}") == ["2"]


def test_ancestors_are_bounded() -> None:
    """A chain of 100 nested places indexes the nearest MAX_ANCESTORS only."""
    chain = [f"urn:epc:id:sgln:0614141.{i:05d}.0" for i in range(101)]
    master = [{"id": chain[i + 1], "children": [chain[i]]} for i in range(100)]
    rows = [r for r in master_data_facts({"readPoint": {"id": chain[0]},
                                          "zhenzhi:masterData": master})
            if r[0] == "within.readPoint"]
    assert [r[1] for r in rows] == chain[1:MAX_ANCESTORS + 1]


_migration = importlib.import_module(
    "ledger.store.migrations.versions.0023_location_hierarchy_facts")
_place = st.sampled_from([SITE, HALL, DOCK, STORE, ELSEWHERE, 7, None])
_elements = st.lists(st.fixed_dictionaries({
    "id": _place, "children": st.one_of(st.none(), st.lists(_place, max_size=4))}), max_size=6)


@settings(max_examples=300, deadline=None)
@given(master=_elements, read_point=_place, biz_location=_place)
def test_the_migrations_frozen_rule_is_the_live_one(master: list[Any], read_point: Any,
                                                    biz_location: Any) -> None:
    event = {"zhenzhi:masterData": master, "readPoint": {"id": read_point},
             "bizLocation": {"id": biz_location}}
    live = [(k, text) for k, text, _ in master_data_facts(event) if k.startswith("within.")]
    assert _migration.hierarchy_rows(event) == live


def test_migration_0023_indexes_what_was_stored_before_it(placed: Store) -> None:
    def facts() -> list[tuple[Any, ...]]:
        with placed.engine.connect() as conn:
            return sorted(tuple(r) for r in conn.execute(select(t.event_facts)).all())

    before = facts()
    added = [r for r in before if str(r[1]).startswith("within.")]
    assert len(added) == 5  # 1: hall and site; 4: site and ELSEWHERE; 5: hall
    placed.migrate("0022")
    assert len(facts()) == len(before) - len(added)
    placed.migrate()
    assert placed.schema_revision() == placed.head_revision()
    assert facts() == before


def test_a_wd_query_reads_two_indexes_not_every_event(tmp_path: Any) -> None:
    """WD_ is the location's index or the `within.` facts: a rare location among 2,000 events
    is found by searching both, never by reading every event (the OR of the two must not turn
    the plan into a scan of events)."""
    from ledger.store.store import EventQuery
    from tests.integration.store.test_store import plan_text, query_plans

    s = Store(f"sqlite:///{tmp_path / 'plan.db'}")
    s.migrate()
    try:
        for n in range(20):
            s.accept_capture(signed([object_event(n * 100 + i) for i in range(100)], nonce=n))
        s.accept_capture(signed([_placed(5000, [{"id": SITE, "children": [DOCK]}])],
                                nonce=20))
        s.accept_capture(signed([_placed(5001, None, readPoint={"id": SITE})], nonce=21))
        s.optimize()
        (page, token), plans = query_plans(s, lambda: s.query_events(
            EventQuery(wd_read_point=(SITE,)), per_page=30))
        assert [e.event["epcList"][0].rsplit(".", 1)[1] for e in page] == ["5000", "5001"]
        assert token is None
        plan = plan_text(plans[0])
        assert "SCAN events" not in plan, plan
        assert "event_facts" in plan and "read_point" in plan, plan
    finally:
        s.close()
