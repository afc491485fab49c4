"""`orderBy` an extension field (`EventQuery(order_by="example:temp")`) on SQLite and
PostgreSQL: numbers and date-times by value, then strings by code point, then the events
without a value, each event once (a list orders by its first value in the walk), paged by
token across the three without a gap or a repeat, with ties, filters and eventCountLimit."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from ledger.errors import InvalidInputError
from ledger.store.store import EventQuery, InvalidPageTokenError, Store
from tests.integration.store.test_store import object_event, signed

# Event i's `example:temp` (absent where None): ties at 5, a string on a numeric field, a
# list, an object (no value to order by), a date-time (its epoch milliseconds, a number).
TEMPS: list[Any] = [5, 2.5, 5, None, "warm", [7, 1], {"example:x": 1},
                    "2024-01-01T00:00:00Z", "cold", None, 5]
ASC = [5, 1, 0, 2, 10, 7, 8, 4, 3, 6, 9]
DESC = [7, 5, 10, 2, 0, 1, 4, 8, 9, 6, 3]


@pytest.fixture
def held(store: Store) -> Store:
    events = []
    for i, temp in enumerate(TEMPS):
        event = object_event(i, biz_step="shipping" if i % 3 else "receiving", minute=i)
        if temp is not None:
            event["example:temp"] = temp
        events.append(event)
    store.accept_capture(signed(events, nonce=1))
    return store


def _serial(event: Any) -> int:
    return int(event.event["epcList"][0].rsplit(".", 1)[1])


def _walk(store: Store, query: EventQuery, per_page: int) -> list[list[int]]:
    pages: list[list[int]] = []
    token = None
    while True:
        page, token = store.query_events(query, per_page=per_page, page_token=token)
        pages.append([_serial(e) for e in page])
        if token is None:
            return pages


@pytest.mark.parametrize("per_page", [1, 2, 3, 4, 100])
@pytest.mark.parametrize(("desc", "expected"), [(False, ASC), (True, DESC)], ids=["ASC", "DESC"])
def test_pages_give_the_whole_order_once(held: Store, per_page: int, desc: bool,
                                         expected: list[int]) -> None:
    pages = _walk(held, EventQuery(order_by="example:temp", order_desc=desc), per_page)
    assert [s for page in pages for s in page] == expected
    assert all(len(page) == per_page for page in pages[:-1]), pages


@pytest.mark.parametrize("desc", [False, True], ids=["ASC", "DESC"])
def test_event_count_limit_counts_across_pages_and_classes(held: Store, desc: bool) -> None:
    expected = DESC if desc else ASC
    for limit in (1, 6, 8, 9):
        query = EventQuery(order_by="example:temp", order_desc=desc, event_count_limit=limit)
        assert [s for page in _walk(held, query, 2) for s in page] == expected[:limit]


def test_with_a_filter_only_its_matches_in_the_same_order(held: Store) -> None:
    for desc, expected in ((False, ASC), (True, DESC)):
        query = EventQuery(order_by="example:temp", order_desc=desc, eq_biz_step=("shipping",))
        assert [s for page in _walk(held, query, 2) for s in page] == [
            s for s in expected if s % 3]


def test_a_field_no_event_has_is_insert_order(held: Store) -> None:
    query = EventQuery(order_by="example:nothing", order_desc=False)
    assert [s for page in _walk(held, query, 4) for s in page] == list(range(len(TEMPS)))


def test_date_times_order_as_instants_whatever_their_offset(store: Store) -> None:
    times = ["2024-03-01T10:00:00+08:00", "2024-03-01T01:00:00Z", "2024-02-29T22:30:00-05:00",
             "2024-03-01T02:00:00.500Z"]
    events = []
    for i, when in enumerate(times):
        event = object_event(i)
        event["example:sealedAt"] = when
        events.append(event)
    store.accept_capture(signed(events, nonce=2))
    query = EventQuery(order_by="example:sealedAt", order_desc=False)
    # 02:00Z, 01:00Z, 03:30Z, 02:00:00.5Z
    assert [s for page in _walk(store, query, 1) for s in page] == [1, 0, 3, 2]


def test_strings_order_by_code_point(store: Store) -> None:
    labels = ["apple", "Zebra", "Äpfel", "banana", "apples", "Apple"]
    events = []
    for i, label in enumerate(labels):
        event = object_event(i)
        event["example:label"] = label
        events.append(event)
    store.accept_capture(signed(events, nonce=3))
    query = EventQuery(order_by="example:label", order_desc=False)
    got = [labels[s] for page in _walk(store, query, 2) for s in page]
    assert got == sorted(labels) == ["Apple", "Zebra", "apple", "apples", "banana", "Äpfel"]


def test_a_token_of_another_order_or_field_is_refused(held: Store) -> None:
    query = EventQuery(order_by="example:temp", order_desc=False)
    _, token = held.query_events(query, per_page=2)
    assert token is not None
    for other in (replace(query, order_desc=True), replace(query, order_by="example:other"),
                  replace(query, order_by="eventTime"), replace(query, order_by=None)):
        with pytest.raises(InvalidPageTokenError):
            held.query_events(other, per_page=2, page_token=token)


def test_an_order_the_store_cannot_answer_is_refused(held: Store) -> None:
    for order_by in ("temp", "example:" + "x" * 300, "eventTime:x y"):
        with pytest.raises(InvalidInputError):
            held.query_events(EventQuery(order_by=order_by))
