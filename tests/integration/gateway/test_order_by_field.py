"""`GET /events?orderBy=<prefix:field>` (EPCIS 2.0 §8.2.7.1: an extension field of type Int,
Float, Time or String) over HTTP, on a gateway over SQLite and one over PostgreSQL: numbers,
strings (by code point) and date-times (as instants) in either direction, events without the
field after the others, Link pages of two that give the whole order once (ties included),
eventCountLimit, EQ_bizStep, named queries, and malformed names refused."""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import make_store_url
from tests.integration.gateway.test_named_queries import _send
from tests.integration.gateway.test_query import _get, captured_corpus
from tests.integration.gateway.test_query_parameters import _follow
from tests.integration.gateway_env import GatewayStack, document

pytestmark = [pytest.mark.chain]

MARKER = "https://id.gs1.org/414/9506000999968"  # readPoint unique to this module
# Event i's fields (None: the event does not have it).
TEMP: list[Any] = [3, 1.5, 3, None, 7, "n/a", 3, None, -2]
LABEL = ["pear", "Apple", "apple", "Äpfel", None, "banana", "pear", "apple", "Zed"]
SEALED = ["2032-01-01T10:00:00+08:00", "2032-01-01T01:00:00Z", None,
          "2032-01-01T03:30:00+01:00", "2032-01-01T00:00:00-02:00", None, None, None, None]
ORDERS = {
    # numbers (ties at 3 in insert order, reversed by DESC), then the string, then the two
    # without the field
    ("example:temp", "ASC"): [8, 1, 0, 2, 6, 4, 5, 3, 7],
    ("example:temp", "DESC"): [4, 6, 2, 0, 1, 8, 5, 7, 3],
    # code points: upper case before lower, "Ä" after "z"
    ("example:label", "ASC"): [1, 8, 2, 7, 5, 0, 6, 3, 4],
    ("example:label", "DESC"): [3, 6, 0, 5, 7, 2, 8, 1, 4],
    # instants: 01:00Z, 02:00Z twice (events 0 and 4), 02:30Z
    ("example:sealedAt", "ASC"): [1, 0, 4, 3, 2, 5, 6, 7, 8],
    ("example:sealedAt", "DESC"): [3, 4, 0, 1, 8, 7, 6, 5, 2],
}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql",
                                                               marks=pytest.mark.postgres)])
def ordered(request: pytest.FixtureRequest, gateway_stack: GatewayStack,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A gateway of its own over `request.param`, holding the nine events of this module."""
    from gateway.app import create_app
    from gateway.server import ThreadedServer
    from gateway.settings import GatewaySettings

    database_url = make_store_url(request.param, tmp_path_factory.mktemp("order"), request)
    settings = GatewaySettings(database_url=database_url, rpc_url=gateway_stack.rpc_url,
                               manifest=gateway_stack.manifest, per_page_max=100)
    with ThreadedServer(create_app(settings)) as server:
        stack = dataclasses.replace(gateway_stack, url=server.url, database_url=database_url)
        doc = document(len(TEMP))
        doc["@context"] = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
                           {"example": "https://ns.example.com/epcis/"}]
        for i, event in enumerate(doc["epcisBody"]["eventList"]):
            event["readPoint"] = {"id": MARKER}
            event["bizStep"] = "shipping" if i % 2 == 0 else "receiving"
            for name, values in (("example:temp", TEMP), ("example:label", LABEL),
                                 ("example:sealedAt", SEALED)):
                if values[i] is not None:
                    event[name] = values[i]
        yield {"stack": stack, **captured_corpus(stack, doc, MARKER)}


def _pages(ordered: dict[str, Any], **params: Any) -> list[list[int]]:
    """The Link pages of GET /events with `params`, as indices into this module's events."""
    stack, ids = ordered["stack"], ordered["ids"]
    query = urllib.parse.urlencode({"EQ_readPoint": MARKER, **params})
    with stack.client() as client:
        pages = _follow(client, stack, "/events?" + query)
    return [[ids.index(i) for i in page] for page in pages]


@pytest.mark.parametrize(("field", "direction"), sorted(ORDERS))
def test_pages_of_two_give_the_whole_order_once(ordered: dict[str, Any], field: str,
                                                direction: str) -> None:
    pages = _pages(ordered, orderBy=field, orderDirection=direction, perPage=2)
    assert [i for page in pages for i in page] == ORDERS[field, direction]
    assert [len(page) for page in pages] == [2, 2, 2, 2, 1]
    # One page of all: the same order.
    assert _pages(ordered, orderBy=field, orderDirection=direction) == [ORDERS[field, direction]]


def test_desc_is_the_default_direction(ordered: dict[str, Any]) -> None:
    assert _pages(ordered, orderBy="example:temp") == [ORDERS["example:temp", "DESC"]]


def test_event_count_limit_takes_the_first_n_across_pages(ordered: dict[str, Any]) -> None:
    assert _pages(ordered, orderBy="example:temp", eventCountLimit=3, perPage=2) == [
        [4, 6], [2]]
    # Past the valued events: the first of those without the field too.
    assert _pages(ordered, orderBy="example:sealedAt", orderDirection="ASC",
                  eventCountLimit=5, perPage=4) == [[1, 0, 4, 3], [2]]


def test_with_eq_biz_step_only_its_events_in_the_order(ordered: dict[str, Any]) -> None:
    for direction in ("ASC", "DESC"):
        pages = _pages(ordered, orderBy="example:temp", orderDirection=direction,
                       EQ_bizStep="shipping", perPage=2)
        assert [i for page in pages for i in page] == [
            i for i in ORDERS["example:temp", direction] if i % 2 == 0]


def test_a_named_query_orders_by_an_extension_field(ordered: dict[str, Any]) -> None:
    stack = ordered["stack"]
    member = stack.enterprise
    with stack.client() as client:
        created = _send(client, member, "POST", "/queries", {"name": "coldest-four", "query": {
            "EQ_readPoint": [MARKER], "orderBy": "example:temp", "orderDirection": "ASC",
            "eventCountLimit": 4}})
        assert created.status_code == 201, created.text
        pages = _follow(client, stack, "/queries/coldest-four/events?perPage=3")
        refused = _send(client, member, "POST", "/queries", {"name": "unordered", "query": {
            "EQ_readPoint": [MARKER], "orderBy": "temp"}})
    assert [[ordered["ids"].index(i) for i in page] for page in pages] == [[8, 1, 0], [2]]
    assert refused.status_code == 400, refused.text
    assert refused.json()["type"] == "urn:zhenzhi:problem:query-parameter"


@pytest.mark.parametrize("value", [
    "temp", "example:", ":temp", "Example:temp", "example:te mp", "example:" + "x" * 253,
    "https://ns.example.com/epcis/temp", "quantity",
])
def test_a_malformed_order_by_is_a_400_query_parameter_problem(ordered: dict[str, Any],
                                                               value: str) -> None:
    stack = ordered["stack"]
    with stack.client() as client:
        response = _get(client, stack.enterprise, "/events", params={"orderBy": value})
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["type"] == "urn:zhenzhi:problem:query-parameter"
    # QueryParameterException, as the REST binding answers it (test_query_parameters.py).
    assert problem["epcisException"] == "ValidationException"
    assert problem["parameter"] == "orderBy"


def test_the_longest_field_name_the_index_keeps_is_accepted(ordered: dict[str, Any]) -> None:
    assert _pages(ordered, orderBy="example:" + "x" * 244, orderDirection="ASC") == [
        list(range(len(TEMP)))]
