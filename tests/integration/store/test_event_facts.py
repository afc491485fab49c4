"""The event facts index and the EPCIS query parameters it answers, on SQLite and PostgreSQL
(the `store` fixture runs each test on both): each family finds the event it must and not the
one it must not, from the index (the events' JSON is not read), filled at capture and by
migration 0017; ordering, eventCountLimit and maxEventCount, with paging."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from ledger.epcis.event_hash import format_event_id
from ledger.store import tables as t
from ledger.store.event_facts import FactFilter, fact_rows
from ledger.store.store import (
    EventQuery,
    InvalidPageTokenError,
    QueryTooLargeError,
    Store,
    normalise_cbv,
)
from tests.integration.store.test_store import object_event, plan_text, query_plans, signed

CLASS_A = "urn:epc:class:lgtin:4012345.012345.998877"
CLASS_B = "urn:epc:class:lgtin:4012345.054321.112233"


def _rich(i: int) -> dict[str, Any]:
    """Event 1: every field the families look at; event 2: other values of the same fields."""
    ev = object_event(i, minute=i)
    one = i == 1
    ev["action"] = "ADD" if one else "OBSERVE"
    ev["eventID"] = f"urn:uuid:00000000-0000-4000-8000-00000000000{i}"
    ev["persistentDisposition"] = {"set": ["completeness_verified" if one else "needs_replacement"],
                                   "unset": ["completeness_inferred"]}
    ev["bizTransactionList"] = [{"type": "po" if one else "inv",
                                 "bizTransaction": f"urn:epc:id:gdti:0614141.00001.{i}"}]
    ev["sourceList"] = [{"type": "urn:epcglobal:cbv:sdt:owning_party",
                         "source": f"urn:epc:id:pgln:0614141.0000{i}"}]
    ev["destinationList"] = [{"type": "location",
                              "destination": f"urn:epc:id:sgln:0614141.0000{i}.0"}]
    ev["quantityList"] = [{"epcClass": CLASS_A if one else CLASS_B,
                           "quantity": 200 if one else 5, "uom": "KGM"}]
    ev["ilmd"] = {"cbvmda:lotNumber": f"LOT{i}",
                  "example:bestBeforeDate": f"2025-0{i}-01T00:00:00Z",
                  "example:grading": {"example:grade": "A" if one else "B"}}
    ev["example:temperatureZone"] = "frozen" if one else "chilled"
    ev["example:pallets"] = 3 if one else 7
    if one:
        ev["example:handling"] = {"example:fragile": True}
    return ev


def _transformation(i: int) -> dict[str, Any]:
    return {
        "type": "TransformationEvent",
        "eventTime": f"2024-03-01T11:{i:02d}:00.000+08:00", "eventTimeZoneOffset": "+08:00",
        "inputEPCList": [f"urn:epc:id:sgtin:0614141.107346.{i}"],
        "outputEPCList": [f"urn:epc:id:sgtin:0614141.107347.{i}"],
        "inputQuantityList": [{"epcClass": CLASS_A, "quantity": 10, "uom": "KGM"}],
        "outputQuantityList": [{"epcClass": CLASS_B, "quantity": 9.5, "uom": "KGM"}],
        "transformationID": f"urn:epc:id:gdti:0614141.12345.{i}",
        "bizStep": "commissioning",
    }


def _epcs(store: Store, query: EventQuery) -> list[str]:
    events, token = store.query_events(query, 100)
    assert token is None
    out = []
    for e in events:
        ev = e.event
        epc = (ev.get("epcList") or ev.get("inputEPCList"))[0]
        out.append(epc.rsplit(".", 1)[1] if ev["type"] == "ObjectEvent" else f"T{epc[-2:]}")
    return out


@pytest.fixture
def rich(store: Store) -> Store:
    store.accept_capture(signed([_rich(1), _rich(2), object_event(3, minute=3),
                                 _transformation(40), _transformation(41)], nonce=1))
    return store


def F(key: str, op: str = "EQ", *texts: str, nums: tuple[float, ...] = (),  # noqa: N802
      uom: str | None = None) -> EventQuery:
    return EventQuery(facts=(FactFilter(key, op, texts=texts, nums=nums, uom=uom),))


@pytest.mark.parametrize(("query", "expected"), [
    (F("action", "EQ", "ADD"), ["1"]),
    (F("action", "EQ", "ADD", "OBSERVE"), ["1", "2", "3"]),
    (F("persistentDisposition.set", "EQ", "completeness_verified"), ["1"]),
    (F("persistentDisposition.unset", "EQ", "completeness_inferred"), ["1", "2"]),
    (F("transformationID", "EQ", "urn:epc:id:gdti:0614141.12345.41"), ["T41"]),
    (F("bizTransaction.po", "EQ", "urn:epc:id:gdti:0614141.00001.1"), ["1"]),
    (F("bizTransaction.po", "EQ", "urn:epc:id:gdti:0614141.00001.2"), []),
    (F("source.owning_party", "EQ", "urn:epc:id:pgln:0614141.00002"), ["2"]),
    (F("destination.location", "EQ", "urn:epc:id:sgln:0614141.00001.0"), ["1"]),
    (F("quantity", "GT", nums=(100.0,)), ["1"]),
    (F("quantity", "EQ", nums=(5.0, 9.5)), ["2", "T40", "T41"]),
    (F("quantity", "LE", nums=(10.0,), uom="KGM"), ["2", "T40", "T41"]),
    (F("quantity", "GE", nums=(1.0,), uom="LTR"), []),
    (F("ilmd:cbvmda:lotNumber", "EQ", "LOT2"), ["2"]),
    (F("ilmd:example:bestBeforeDate", "LT",
       nums=(datetime(2025, 1, 15, tzinfo=UTC).timestamp() * 1000,)), ["1"]),
    (F("inner_ilmd:example:grade", "EQ", "B"), ["2"]),
    (F("ext:example:temperatureZone", "EQ", "frozen"), ["1"]),
    (F("ext:example:pallets", "GE", nums=(5.0,)), ["2"]),
    (F("inner:example:fragile", "EQ", "true"), ["1"]),
    (F("ext:example:handling", "EXISTS"), ["1"]),
    (F("ilmd:example:bestBeforeDate", "EXISTS"), ["1", "2"]),
    (F("has:persistentDisposition", "EXISTS"), ["1", "2"]),
    (F("has:transformationID", "EXISTS"), ["T40", "T41"]),
    (F("has:action", "EXISTS"), ["1", "2", "3"]),  # from the action facts
    (F("has:bizLocation", "EXISTS"), ["1", "2", "3"]),  # from the column
    (F("has:bizStep", "EXISTS"), ["1", "2", "3", "T40", "T41"]),
    (EventQuery(match_epc_class=(CLASS_A,)), ["1"]),
    (EventQuery(match_epc_class=("urn:epc:idpat:sgtin:4012345.054321.*",)), ["2"]),
    (EventQuery(match_input_epc_class=(CLASS_A,)), ["T40", "T41"]),
    (EventQuery(match_input_epc_class=(CLASS_B,)), []),
    (EventQuery(match_output_epc_class=(CLASS_B,)), ["T40", "T41"]),
    (EventQuery(match_any_epc_class=(CLASS_B,)), ["2", "T40", "T41"]),
    (EventQuery(match_input_epc=("urn:epc:id:sgtin:0614141.107346.40",)), ["T40"]),
    (EventQuery(match_output_epc=("urn:epc:id:sgtin:0614141.107346.40",)), []),
    (EventQuery(eq_event_id=("urn:uuid:00000000-0000-4000-8000-000000000002",)), ["2"]),
    (EventQuery(wd_read_point=("urn:epc:id:sgln:0614141.00777.0",)), ["1", "2", "3"]),
    (EventQuery(wd_biz_location=("urn:epc:id:sgln:0614141.00999.0",)), []),
])
def test_each_family_finds_its_event_and_not_the_other(rich: Store, query: EventQuery,
                                                       expected: list[str]) -> None:
    assert _epcs(rich, query) == expected


def test_eq_event_id_finds_the_cbv_hash_too(rich: Store) -> None:
    first = rich.query_events(EventQuery(), 100)[0][3]
    eid = format_event_id(first.event_id)
    assert _epcs(rich, EventQuery(eq_event_id=(eid,))) == ["T40"]
    assert _epcs(rich, EventQuery(eq_event_id=("ni:///sha-256;" + "0" * 64 + "?ver=CBV2.0",))) \
        == []


def test_time_bounds_are_inclusive_or_exclusive_as_named(rich: Store) -> None:
    at = datetime.fromisoformat("2024-03-01T10:02:00+08:00")
    assert _epcs(rich, EventQuery(gt_event_time=at, lt_event_time=datetime.fromisoformat(
        "2024-03-01T11:00:00+08:00"))) == ["3"]
    assert _epcs(rich, EventQuery(le_event_time=at)) == ["1", "2"]
    with rich.engine.begin() as conn:
        conn.execute(update(t.events).where(t.events.c.seq == 2).values(record_time_ms=5000))
        conn.execute(update(t.events).where(t.events.c.seq != 2).values(record_time_ms=9000))
    five = datetime.fromtimestamp(5, UTC)
    assert _epcs(rich, EventQuery(le_record_time=five)) == ["2"]
    assert _epcs(rich, EventQuery(gt_record_time=five)) == ["1", "3", "T40", "T41"]
    assert _epcs(rich, EventQuery(ge_record_time=five, lt_record_time=datetime.fromtimestamp(
        9, UTC))) == ["2"]


def test_the_query_reads_the_index_not_the_events_json(rich: Store) -> None:
    with rich.engine.begin() as conn:
        conn.execute(update(t.events).where(t.events.c.seq == 1)
                     .values(body=json.dumps(object_event(1, minute=1))))
    assert _epcs(rich, F("action", "EQ", "ADD")) == ["1"]
    with rich.engine.begin() as conn:
        conn.execute(delete(t.event_facts).where(t.event_facts.c.seq == 1))
    assert _epcs(rich, F("action", "EQ", "ADD")) == []


def test_the_same_event_captured_twice_has_its_facts_once(rich: Store) -> None:
    def count() -> int:
        with rich.engine.connect() as conn:
            return len(conn.execute(select(t.event_facts.c.key)).all())

    before = count()
    rich.accept_capture(signed([_rich(1), object_event(9, minute=9)], nonce=2))
    assert count() == before + len(fact_rows(object_event(9), normalise_cbv))


def test_migration_0017_indexes_the_events_stored_before_it(rich: Store) -> None:
    declared = copy.deepcopy(_rich(2))
    declared["errorDeclaration"] = {"declarationTime": "2024-03-02T10:00:00.000Z",
                                    "correctiveEventIDs": ["urn:uuid:fix-1"]}
    rich.accept_capture(signed([declared], nonce=3))

    def snapshot() -> tuple[list[Any], list[Any]]:
        with rich.engine.connect() as conn:
            facts = sorted(tuple(r) for r in conn.execute(select(t.event_facts)).all())
            fixes = sorted(tuple(r) for r in conn.execute(
                select(t.declaration_corrections)).all())
        return facts, fixes

    before = snapshot()
    rich.migrate("0016")
    rich.migrate()
    assert rich.schema_revision() == rich.head_revision()
    assert snapshot() == before and len(before[0]) > 40 and len(before[1]) == 1


def test_error_declaration_time_and_corrective_event_id(rich: Store) -> None:
    declared = copy.deepcopy(_rich(2))
    declared["errorDeclaration"] = {"declarationTime": "2024-03-02T10:00:00.000Z",
                                    "correctiveEventIDs": ["urn:uuid:fix-1", "urn:uuid:fix-2"]}
    rich.accept_capture(signed([declared], nonce=3))
    assert _epcs(rich, EventQuery(eq_corrective_event_id=("urn:uuid:fix-2",))) == ["2"]
    assert _epcs(rich, EventQuery(eq_corrective_event_id=("urn:uuid:fix-3",))) == []
    day = datetime(2024, 3, 2, tzinfo=UTC)
    assert _epcs(rich, EventQuery(ge_error_declaration_time=day)) == ["2"]
    assert _epcs(rich, EventQuery(lt_error_declaration_time=day)) == []


def _pages(store: Store, query: EventQuery, per_page: int) -> list[list[str]]:
    pages, token = [], None
    while True:
        events, token = store.query_events(query, per_page, token)
        pages.append([e.event["epcList"][0].rsplit(".", 1)[1] for e in events])
        if token is None:
            return pages


@pytest.fixture
def timeline(store: Store) -> Store:
    # Captured in an order unlike their eventTimes; 4 and 5 share one eventTime.
    minutes = {1: 30, 2: 10, 3: 50, 4: 20, 5: 20, 6: 40}
    store.accept_capture(signed([object_event(i, minute=m) for i, m in minutes.items()],
                                nonce=1))
    return store


def test_order_by_event_time_pages_in_that_order_both_ways(timeline: Store) -> None:
    asc = EventQuery(order_by="eventTime", order_desc=False)
    assert _pages(timeline, asc, 2) == [["2", "4"], ["5", "1"], ["6", "3"]]
    desc = EventQuery(order_by="eventTime")
    assert _pages(timeline, desc, 4) == [["3", "6", "1", "5"], ["4", "2"]]
    assert _pages(timeline, EventQuery(order_by="recordTime", order_desc=False), 4) == [
        ["1", "2", "3", "4"], ["5", "6"]]


def test_a_page_token_of_another_order_is_refused(timeline: Store) -> None:
    _, token = timeline.query_events(EventQuery(order_by="eventTime"), 2)
    assert token is not None
    with pytest.raises(InvalidPageTokenError):
        timeline.query_events(EventQuery(order_by="eventTime", order_desc=False), 2, token)
    with pytest.raises(InvalidPageTokenError):
        timeline.query_events(EventQuery(), 2, token)


def test_event_count_limit_stops_after_n_across_pages(timeline: Store) -> None:
    q = EventQuery(order_by="eventTime", order_desc=False, event_count_limit=3)
    assert _pages(timeline, q, 2) == [["2", "4"], ["5"]]
    assert _pages(timeline, q, 10) == [["2", "4", "5"]]
    one = EventQuery(order_by="eventTime", event_count_limit=1)
    assert _pages(timeline, one, 30) == [["3"]]


def test_max_event_count_refuses_a_larger_result_on_every_page(timeline: Store) -> None:
    assert _pages(timeline, EventQuery(max_event_count=6), 4) == [["1", "2", "3", "4"],
                                                                   ["5", "6"]]
    with pytest.raises(QueryTooLargeError) as refused:
        timeline.query_events(EventQuery(max_event_count=5), 2)
    assert refused.value.status == 413
    assert refused.value.fields["epcisException"] == "QueryTooLargeException"
    _, token = timeline.query_events(EventQuery(max_event_count=6), 2)
    timeline.accept_capture(signed([object_event(7, minute=7)], nonce=2))
    with pytest.raises(QueryTooLargeError):
        timeline.query_events(EventQuery(max_event_count=6), 2, token)


def test_a_fact_parameter_is_a_search_of_the_facts_index(tmp_path: Any) -> None:
    """The statement `query_events` sends for a facts parameter is planned as a search of
    (key, text, seq) or (key, num, seq), never a scan of the events or of the facts."""
    s = Store(f"sqlite:///{tmp_path / 'plan.db'}")
    s.migrate()
    try:
        for n in range(5):
            s.accept_capture(signed([_rich(1 + (i % 2)) | {"epcList": [
                f"urn:epc:id:sgtin:0614141.107346.{n * 100 + i}"]} for i in range(100)],
                nonce=n))
        s.optimize()
        for query, index in ((F("bizTransaction.po", "EQ", "urn:epc:id:gdti:0614141.00001.1"),
                              "ix_event_facts_key_text_seq"),
                             (F("quantity", "GT", nums=(100.0,)), "ix_event_facts_key_num_seq"),
                             (EventQuery(facts=(FactFilter("action", "EQ", texts=("ADD",)),
                                                FactFilter("quantity", "GT", nums=(100.0,)))),
                              "ix_event_facts_key_text_seq")):
            (page, _), plans = query_plans(s, lambda: s.query_events(query, per_page=30))  # noqa: B023 - called at once
            assert len(page) == 30
            plan = plan_text(plans[0])
            assert index in plan, plan
            assert "SCAN event_facts" not in plan and "SCAN events" not in plan, plan
            if len(query.facts) == 1 and query.facts[0].texts:
                # An equality on one text is read from the index in seq order, joined to the
                # events: no list of every match first, whatever the match count.
                assert "SEARCH driver USING COVERING INDEX ix_event_facts_key_text_seq" in plan
                assert "TEMP B-TREE" not in plan, plan
    finally:
        s.close()
