"""The top-level resources' listings (`ledger.store.listing`) on SQLite and PostgreSQL: every
distinct value once, in order, paged by token; quantity classes are not listed as EPCs; a
token of another listing (or of the events query) is refused; and a page is found by index
probes, not by reading every event."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event as sa_event

from ledger.errors import InvalidInputError
from ledger.store.listing import holds_value, list_values, page_token
from ledger.store.store import EventQuery, Store, canonical_epc
from tests.integration.store.test_store import object_event, signed

STEPS = ["shipping", "receiving", "shipping", "https://example.com/steps/custom", "packing",
         "receiving"]


@pytest.fixture
def held(store: Store) -> Store:
    events: list[dict[str, Any]] = []
    for i, step in enumerate(STEPS):
        ev = object_event(i, biz_step=step, minute=i)
        ev["readPoint"] = {"id": f"urn:epc:id:sgln:0614141.00777.{i % 2}"}
        if i == 5:  # no disposition, no bizLocation
            del ev["disposition"], ev["bizLocation"]
        events.append(ev)
    quantity = object_event(9, minute=9)
    quantity["quantityList"] = [{"epcClass": "urn:epc:class:lgtin:4012345.012345.998877",
                                 "quantity": 20}]
    events.append(quantity)
    agg = {"type": "AggregationEvent", "eventTime": "2024-03-01T11:00:00.000+08:00",
           "eventTimeZoneOffset": "+08:00", "action": "ADD",
           "parentID": "urn:epc:id:sscc:0614141.1234567890",
           "childEPCs": ["urn:epc:id:sgtin:0614141.107346.0"]}
    events.append(agg)
    store.accept_capture(signed(events, nonce=1))
    return store


def _all(store: Store, resource: str, per_page: int) -> tuple[list[str], int]:
    out: list[str] = []
    token = None
    pages = 0
    while True:
        values, token = list_values(store.engine, resource, per_page, token)
        out += values
        pages += 1
        if token is None:
            return out, pages


@pytest.mark.parametrize("per_page", [1, 2, 100])
def test_biz_steps_are_listed_once_each_in_order_over_pages(held: Store, per_page: int) -> None:
    values, pages = _all(held, "bizSteps", per_page)
    expected = sorted({*STEPS, "shipping"})  # the quantity event ships too
    assert values == expected
    assert pages == -(-len(expected) // per_page)  # no empty last page


def test_each_field_lists_what_the_events_hold(held: Store) -> None:
    assert _all(held, "dispositions", 30)[0] == ["in_transit"]
    assert _all(held, "readPoints", 30)[0] == ["urn:epc:id:sgln:0614141.00777.0",
                                               "urn:epc:id:sgln:0614141.00777.1"]
    assert _all(held, "bizLocations", 30)[0] == ["urn:epc:id:sgln:0614141.00888.0"]


def test_epcs_are_canonical_and_leave_out_quantity_classes(held: Store) -> None:
    epcs, _ = _all(held, "epcs", 3)
    expected = sorted({canonical_epc(f"urn:epc:id:sgtin:0614141.107346.{i}")
                       for i in [*range(len(STEPS)), 9]}
                      | {canonical_epc("urn:epc:id:sscc:0614141.1234567890")})
    assert epcs == expected
    lgtin = canonical_epc("urn:epc:class:lgtin:4012345.012345.998877")
    assert lgtin not in epcs and not holds_value(held.engine, "epcs", [lgtin])
    # Every EPC listed leads to events through MATCH_anyEPC (`/epcs/{epc}/events`).
    for epc in epcs:
        events, _ = held.query_events(EventQuery(match_any_epc=(epc,)), 10)
        assert events, epc


def test_holds_value_answers_from_the_index(held: Store) -> None:
    assert holds_value(held.engine, "bizSteps", ["packing"])
    assert not holds_value(held.engine, "bizSteps", ["destroying"])
    assert holds_value(held.engine, "readPoints", ["urn:epc:id:sgln:0614141.00777.1"])


@pytest.mark.parametrize("token", [
    "not-base64!", "bDI6Yml6U3RlcHM6eA",  # "l2:bizSteps:x", an unknown version
    page_token("epcs", "x"),  # another listing's
    "djE6MTA",  # the events query's "v1:10"
])
def test_a_token_of_another_listing_is_refused(held: Store, token: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        list_values(held.engine, "bizSteps", 10, token)
    assert caught.value.slug == "invalid-page-token"


def test_a_page_costs_one_probe_per_value_not_a_scan(held: Store) -> None:
    """A page is one recursive statement of `min(column) WHERE column > ?` probes: nothing
    reads the events' bodies or groups or de-duplicates rows (a scan of every event would)."""
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sa_event.listen(held.engine, "before_cursor_execute", record)
    try:
        values, _ = list_values(held.engine, "bizSteps", 2)
    finally:
        sa_event.remove(held.engine, "before_cursor_execute", record)
    assert len(values) == 2
    queries = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert len(queries) == 1
    (sql,) = (q.lower() for q in queries)
    assert sql.startswith("with recursive") and sql.count("min(biz_step)") == 2
    assert "body" not in sql and "group by" not in sql and "distinct" not in sql
