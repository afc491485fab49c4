"""`GET /events` over HTTP with the parameters the event facts index answers (issue 19, item 2),
orderBy / eventCountLimit / maxEventCount with Link paging, and `GS1-Extensions`."""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

import httpx
import pytest

from tests.integration.gateway.test_query import _events, _get, captured_corpus
from tests.integration.gateway_env import GatewayStack, document

pytestmark = [pytest.mark.chain]

CLASS = "urn:epc:class:lgtin:4012345.012345.998877"


@pytest.fixture(scope="module")
def corpus(gateway_stack: GatewayStack) -> dict[str, Any]:
    """Four events under a readPoint unique to this module; event 0 carries the fields."""
    marker = "https://id.gs1.org/414/9506000999975"
    doc = document(4)
    doc["@context"] = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
                       {"example": "https://ns.example.com/epcis/"}]
    events = doc["epcisBody"]["eventList"]
    for i, event in enumerate(events):
        event["readPoint"] = {"id": marker}
        event["eventTime"] = f"2032-0{4 - i}-01T08:00:00.000+08:00"  # later captured, earlier
    first = events[0]
    first["action"] = "ADD"
    first["bizTransactionList"] = [{"type": "po", "bizTransaction": "urn:epc:id:gdti:0614141.00001.7"}]
    first["quantityList"] = [{"epcClass": CLASS, "quantity": 12.5, "uom": "KGM"}]
    first["ilmd"] = {"example:bestBeforeDate": "2033-01-01T00:00:00Z"}
    first["example:zone"] = "frozen"
    return captured_corpus(gateway_stack, doc, marker)


def _ids(stack: GatewayStack, corpus: dict[str, Any], **params: str) -> list[str]:
    with stack.client() as client:
        got = _events(_get(client, stack.enterprise, "/events",
                           params={"EQ_readPoint": corpus["marker"], **params}))
    return [e["eventID"] for e in got]


@pytest.mark.parametrize("params", [
    {"EQ_action": "ADD"},
    {"EQ_bizTransaction_po": "urn:epc:id:gdti:0614141.00001.7"},
    {"MATCH_epcClass": CLASS},
    {"MATCH_anyEPCClass": CLASS},
    {"GT_quantity": "12"},
    {"EQ_quantity_KGM": "12.5"},
    {"EQ_ILMD_example:bestBeforeDate": "2033-01-01T00:00:00Z"},
    {"LT_ILMD_example:bestBeforeDate": "2033-06-01T00:00:00+08:00"},
    {"EQ_example:zone": "frozen|chilled"},
    {"EXISTS_example:zone": ""},
    {"EXISTS_ILMD_example:bestBeforeDate": ""},
    {"EXISTS_quantityList": ""},
    {"WD_readPoint": "https://id.gs1.org/414/9506000999975"},
])
def test_a_parameter_finds_the_event_that_has_it_and_only_that(
        gateway_stack: GatewayStack, corpus: dict[str, Any], params: dict[str, str]) -> None:
    expected = [corpus["ids"][0]]
    if "WD_readPoint" in params:
        expected = corpus["ids"]
    assert _ids(gateway_stack, corpus, **params) == expected


@pytest.mark.parametrize("params", [
    {"EQ_action": "DELETE"},
    {"EQ_bizTransaction_inv": "urn:epc:id:gdti:0614141.00001.7"},
    {"MATCH_inputEPCClass": CLASS},
    {"LT_quantity_KGM": "12.5"},
    {"GT_ILMD_example:bestBeforeDate": "2033-01-01T00:00:00Z"},
    {"EQ_example:zone": "chilled"},
    {"EXISTS_INNER_example:zone": ""},
    {"EQ_eventID": "urn:uuid:3e7d4a5e-0000-4000-8000-000000000000"},
])
def test_a_parameter_the_events_do_not_satisfy_finds_none(
        gateway_stack: GatewayStack, corpus: dict[str, Any], params: dict[str, str]) -> None:
    assert _ids(gateway_stack, corpus, **params) == []


def test_eq_event_id_and_record_time(gateway_stack: GatewayStack,
                                     corpus: dict[str, Any]) -> None:
    ids = corpus["ids"]
    assert _ids(gateway_stack, corpus, EQ_eventID=f"{ids[2]}|{ids[3]}") == ids[2:]
    assert _ids(gateway_stack, corpus, GE_recordTime="2020-01-01T00:00:00Z") == ids
    assert _ids(gateway_stack, corpus, LT_recordTime="2020-01-01T00:00:00Z") == []


def _follow(client: httpx.Client, stack: GatewayStack, url: str) -> list[list[str]]:
    pages: list[list[str]] = []
    while url:
        response = _get(client, stack.enterprise, url)
        pages.append([e["eventID"] for e in _events(response)])
        link = response.headers.get("link")
        if link is None:
            break
        match = re.fullmatch(r'<([^>]+)>; rel="next"', link)
        assert match, link
        url = match.group(1)
    return pages


def test_order_by_and_event_count_limit_follow_link_pages(gateway_stack: GatewayStack,
                                                          corpus: dict[str, Any]) -> None:
    ids = corpus["ids"]
    base = {"EQ_readPoint": corpus["marker"], "perPage": 2}
    with gateway_stack.client() as client:
        asc = _follow(client, gateway_stack, "/events?" + urllib.parse.urlencode(
            {**base, "orderBy": "eventTime", "orderDirection": "ASC"}))
        # DESC is the standard's default direction.
        desc = _follow(client, gateway_stack, "/events?" + urllib.parse.urlencode(
            {**base, "orderBy": "eventTime", "eventCountLimit": 3}))
    assert asc == [[ids[3], ids[2]], [ids[1], ids[0]]]
    assert desc == [[ids[0], ids[1]], [ids[2]]]


def test_max_event_count_is_a_413_query_too_large_problem(gateway_stack: GatewayStack,
                                                         corpus: dict[str, Any]) -> None:
    assert len(_ids(gateway_stack, corpus, maxEventCount="4")) == 4
    with gateway_stack.client() as client:
        response = _get(client, gateway_stack.enterprise, "/events", params={
            "EQ_readPoint": corpus["marker"], "maxEventCount": "3"})
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["epcisException"] == "QueryTooLargeException"
    assert problem["type"] == "urn:zhenzhi:problem:query-too-large"


@pytest.mark.parametrize(("value", "status", "slug"), [
    ("example=https://ns.example.com/epcis/", 406, "extensions-not-supported"),
    ("fit=https://ref.gs1.org/fit/, example=https://ns.example.com/epcis/", 406,
     "extensions-not-supported"),
    ("not a pair", 400, "invalid-header"),
])
def test_gs1_extensions_are_refused_as_unsupported(gateway_stack: GatewayStack,
                                                   corpus: dict[str, Any], value: str,
                                                   status: int, slug: str) -> None:
    with gateway_stack.client() as client:
        response = _get(client, gateway_stack.enterprise, "/events",
                        params={"EQ_readPoint": corpus["marker"]},
                        headers={"GS1-Extensions": value})
        empty = _get(client, gateway_stack.enterprise, "/events",
                     params={"EQ_readPoint": corpus["marker"]}, headers={"GS1-Extensions": ""})
    assert response.status_code == status, response.text
    assert response.json()["type"] == "urn:zhenzhi:problem:" + slug
    assert response.json()["epcisException"] in ("NotAcceptableException", "ValidationException")
    assert len(_events(empty)) == 4


def test_the_openapi_describes_the_new_parameters(gateway_stack: GatewayStack) -> None:
    with gateway_stack.client() as client:
        spec = client.get("/openapi.json").json()
    names = {p["name"] for p in spec["paths"]["/events"]["get"]["parameters"]}
    assert {"EQ_action", "MATCH_epcClass", "GE_recordTime", "orderBy", "eventCountLimit",
            "maxEventCount", "EQ_correctiveEventID", "GS1-Extensions"} <= names
    assert "413" in spec["paths"]["/events"]["get"]["responses"]
