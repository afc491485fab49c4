"""EPCIS 2.0 queries over HTTP: the simple query parameters, paging by Link, EPC paths, and
who may ask (signed member requests only; the public gets a 401 problem)."""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any

import httpx
import pytest

from ledger.epcis.event_hash import event_hashes, format_event_id
from ledger.proofs.request_signing import sign_request
from tests.integration.gateway_env import GatewayStack, Member, document

pytestmark = [pytest.mark.chain]


def _get(client: httpx.Client, member: Member, url: str, **kwargs: Any) -> httpx.Response:
    """GET signed by `member` (the signature covers the path and query as sent)."""
    request = client.build_request("GET", url, **kwargs)
    wire = request.url.raw_path.decode("ascii")
    signed = sign_request(member.key, "GET", wire, b"", org="0x" + member.org.hex())
    request.headers.update(signed.headers())
    return client.send(request)


def _events(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "EPCISQueryDocument"
    return body["epcisBody"]["queryResults"]["resultsBody"]["eventList"]


def captured_corpus(stack: GatewayStack, doc: dict[str, Any], marker: str) -> dict[str, Any]:
    """Capture `doc` signed by the stack's enterprise; its readPoint `marker` and event ids."""
    sig = stack.sign(doc, stack.enterprise)
    with stack.client() as client:
        response = client.post("/capture", content=json.dumps(doc).encode(),
                               headers=stack.headers(sig))
    assert response.status_code == 202, response.text
    return {"marker": marker, "ids": [format_event_id(h) for h in event_hashes(doc)]}


@pytest.fixture(scope="module")
def corpus(gateway_stack: GatewayStack) -> dict[str, Any]:
    """Five events with a marker readPoint unique to this module, captured in one document."""
    marker = "https://id.gs1.org/414/9506000999995"
    doc = document(5)
    events = doc["epcisBody"]["eventList"]
    for i, event in enumerate(events):
        event["readPoint"] = {"id": marker}
        event["bizStep"] = ["shipping", "receiving"][i % 2]
        event["disposition"] = ["in_transit", "in_progress"][i % 2]
        event["eventTime"] = f"2031-0{i + 1}-01T08:00:00.000+08:00"
    events[4]["type"] = "AggregationEvent"
    events[4]["parentID"] = "urn:epc:id:sscc:0614141.1234567890"
    events[4]["childEPCs"] = events[4].pop("epcList")
    return {**captured_corpus(gateway_stack, doc, marker), "doc": doc}


def _query(stack: GatewayStack, corpus: dict[str, Any], **params: str) -> list[str]:
    with stack.client() as client:
        got = _events(_get(client, stack.enterprise, "/events",
                                 params={"EQ_readPoint": corpus["marker"], **params}))
    return [e["eventID"] for e in got]


@pytest.mark.parametrize(("params", "indices"), [
    ({}, [0, 1, 2, 3, 4]),
    ({"EQ_bizStep": "shipping"}, [0, 2, 4]),
    ({"EQ_bizStep": "shipping|receiving"}, [0, 1, 2, 3, 4]),
    ({"EQ_bizStep": "https://ref.gs1.org/cbv/BizStep-receiving"}, [1, 3]),
    ({"EQ_disposition": "in_progress"}, [1, 3]),
    ({"eventType": "AggregationEvent"}, [4]),
    ({"eventType": "ObjectEvent|AggregationEvent"}, [0, 1, 2, 3, 4]),
    ({"GE_eventTime": "2031-02-01T00:00:00Z", "LT_eventTime": "2031-04-01T00:00:00Z"}, [1, 2]),
    ({"GE_eventTime": "2031-03-01T08:00:00+08:00"}, [2, 3, 4]),
    ({"EQ_bizLocation": "https://id.gs1.org/414/9506000134300"}, []),
])
def test_simple_query_parameters(gateway_stack: GatewayStack, corpus: dict[str, Any],
                                 params: dict[str, str], indices: list[int]) -> None:
    assert _query(gateway_stack, corpus, **params) == [corpus["ids"][i] for i in indices]


def test_match_epc_and_any_epc(gateway_stack: GatewayStack, corpus: dict[str, Any]) -> None:
    events = corpus["doc"]["epcisBody"]["eventList"]
    first_epc = events[0]["epcList"][0]
    child = events[4]["childEPCs"][0]
    assert _query(gateway_stack, corpus, MATCH_epc=first_epc) == [corpus["ids"][0]]
    assert _query(gateway_stack, corpus, MATCH_epc=child) == [corpus["ids"][4]]
    assert _query(gateway_stack, corpus,
                  MATCH_anyEPC="urn:epc:id:sscc:0614141.1234567890") == [corpus["ids"][4]]


def test_paging_follows_link_headers_to_every_event(gateway_stack: GatewayStack,
                                                    corpus: dict[str, Any]) -> None:
    seen: list[str] = []
    url = "/events?" + urllib.parse.urlencode({"EQ_readPoint": corpus["marker"], "perPage": 2})
    pages = 0
    with gateway_stack.client() as client:
        while url:
            response = _get(client, gateway_stack.enterprise, url)
            seen += [e["eventID"] for e in _events(response)]
            pages += 1
            link = response.headers.get("link")
            if link is None:
                break
            match = re.fullmatch(r'<([^>]+)>; rel="next"', link)
            assert match, link
            url = match.group(1)
    assert seen == corpus["ids"] and pages == 3


@pytest.mark.parametrize("spelling", ["urn", "digital-link"])
def test_epc_path_finds_events_in_either_spelling(gateway_stack: GatewayStack,
                                                  corpus: dict[str, Any], spelling: str) -> None:
    dl = corpus["doc"]["epcisBody"]["eventList"][1]["epcList"][0]  # id.gs1.org/01/<gtin>/21/<s>
    gtin, serial = re.search(r"/01/(\d{14})/21/(.+)$", dl).groups()
    # GS1 company prefix 0950600 (7 digits) for the bench's GTIN 0950600013435x.
    urn = f"urn:epc:id:sgtin:{gtin[1:8]}.{gtin[0]}{gtin[8:13]}.{serial}"
    epc = urn if spelling == "urn" else dl
    with gateway_stack.client() as client:
        got = _events(_get(client, gateway_stack.customs,
                           "/epcs/" + urllib.parse.quote(epc, safe="") + "/events"))
    assert [e["eventID"] for e in got] == [corpus["ids"][1]]


def test_event_by_id_returns_the_event_as_captured(gateway_stack: GatewayStack,
                                                   corpus: dict[str, Any]) -> None:
    event_id = corpus["ids"][2]
    with gateway_stack.client() as client:
        (event,) = _events(_get(client, gateway_stack.enterprise,
                                "/events/" + urllib.parse.quote(event_id, safe="")))
    captured = corpus["doc"]["epcisBody"]["eventList"][2]
    assert {k: v for k, v in event.items() if k not in ("eventID", "recordTime")} == captured
    assert event["eventID"] == event_id


@pytest.mark.parametrize(("query", "slug"), [
    ("EQ_deviceID=urn:x|no%20uri", "query-parameter"),  # a URI list
    ("HASATTR_example:x=", "query-parameter"),  # needs an attribute's name
    ("HASATTR_bizStep=name", "query-parameter"),  # master data describes no bizStep here
    ("EQ_readPoint_example:x=", "query-parameter"),  # needs a value
    ("GT_readPoint_example:x=1", "query-parameter"),  # EQ_ alone, as the query schema names
    ("EQ_action=ADD|TAKE", "query-parameter"),
    ("orderBy=weight", "query-parameter"),  # an extension field has a prefix
    ("eventCountLimit=3", "query-parameter"),  # needs orderBy
    ("orderBy=eventTime&eventCountLimit=3&maxEventCount=3", "query-parameter"),
    ("maxEventCount=0", "query-parameter"),
    ("GT_ILMD_example:weight=heavy", "query-parameter"),
    ("GE_eventTime=yesterday", "query-parameter"),
    ("GE_eventTime=2031-01-01T00:00:00", "query-parameter"),
    ("eventType=Teleport", "query-parameter"),
    ("perPage=0", "invalid-request"),
    ("nextPageToken=%21%21%21", "invalid-page-token"),
    ("GE_value_CEL=warm", "query-parameter"),
    ("GE_value_CEL=nan", "query-parameter"),
    ("GE_value_CEL=1&GE_value_CEL=2", "query-parameter"),
    ("GE_value_cel=1", "query-parameter"),  # a UN/ECE code is upper case
    ("GE_median_CEL=1", "query-parameter"),
])
def test_bad_query_parameters_are_400_problems(gateway_stack: GatewayStack, query: str,
                                               slug: str) -> None:
    with gateway_stack.client() as client:
        response = _get(client, gateway_stack.enterprise, "/events?" + query)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:zhenzhi:problem:" + slug


@pytest.mark.parametrize("path", ["/events", "/events/" + "ab" * 32,
                                  "/epcs/urn%3Aepc%3Aid%3Asscc%3A0614141.1234567890/events"])
def test_the_public_gets_a_401_problem(gateway_stack: GatewayStack, path: str) -> None:
    with gateway_stack.client() as client:
        response = client.get(path)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:zhenzhi:problem:member-access-required"


def test_a_replayed_or_revoked_signature_is_refused(gateway_stack: GatewayStack,
                                                   corpus: dict[str, Any]) -> None:
    url = "/events?" + urllib.parse.urlencode({"EQ_readPoint": corpus["marker"]})
    member = gateway_stack.enterprise
    signed = sign_request(member.key, "GET", url, b"", org="0x" + member.org.hex())
    with gateway_stack.client() as client:
        assert len(_events(client.get(url, headers=signed.headers()))) == 5
        replay = client.get(url, headers=signed.headers())
        assert replay.status_code == 401
        assert replay.json()["type"] == "urn:zhenzhi:problem:invalid-request-signature"
        # Signed for another query: the signature covers the query string.
        other = client.get(url + "&perPage=1", headers=sign_request(
            member.key, "GET", url, b"", org="0x" + member.org.hex()).headers())
        assert other.status_code == 401
        revoked = _get(client, gateway_stack.revoked, url)
        assert revoked.status_code == 401


def test_the_openapi_documents_the_member_signature(gateway_stack: GatewayStack) -> None:
    with gateway_stack.client() as client:
        spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["MemberSignature"]["in"] == "header"
    for path in ("/events", "/events/{eventID}", "/epcs/{epc}/events"):
        op = spec["paths"][path]["get"]
        assert {"MemberSignature": []} in op["security"] and "401" in op["responses"]


@pytest.fixture(scope="module")
def reefer(gateway_stack: GatewayStack) -> dict[str, Any]:
    """Three events with a reefer log, under a readPoint unique to this fixture: 2-3 °C, one
    at 9 °C, one logged in Fahrenheit at 48.2 °F (9 °C)."""
    marker = "https://id.gs1.org/414/9506000999988"
    doc = document(3)
    logs = [([2.0, 3.0], "CEL"), ([2.0, 9.0, 3.0], "CEL"), ([48.2], "FAH")]
    for event, (values, uom) in zip(doc["epcisBody"]["eventList"], logs, strict=True):
        event["readPoint"] = {"id": marker}
        event["sensorElementList"] = [{"sensorReport": [
            {"type": "gs1:Temperature", "value": v, "uom": uom,
             "time": f"2031-01-01T0{n}:00:00.000Z"} for n, v in enumerate(values)]}]
    return captured_corpus(gateway_stack, doc, marker)


@pytest.mark.parametrize(("params", "indices"), [
    ({"EQ_type": "Temperature"}, [0, 1, 2]),
    ({"EQ_type": "RelativeHumidity"}, []),
    ({"GT_value_CEL": "4"}, [1, 2]),
    ({"EQ_type": "Temperature", "GE_value_FAH": "46.4"}, [1, 2]),
    ({"GE_value_CEL": "3", "LT_value_CEL": "3.5"}, [0, 1]),
    ({"LE_maxValue_CEL": "4"}, []),
])
def test_sensor_query_parameters(gateway_stack: GatewayStack, reefer: dict[str, Any],
                                 params: dict[str, str], indices: list[int]) -> None:
    with gateway_stack.client() as client:
        got = _events(_get(client, gateway_stack.enterprise, "/events",
                           params={"EQ_readPoint": reefer["marker"], **params}))
    assert [e["eventID"] for e in got] == [reefer["ids"][i] for i in indices]
    for event in got:  # the events as captured, their sensor data whole
        assert event["sensorElementList"][0]["sensorReport"][0]["type"] == "gs1:Temperature"


def test_deleting_a_page_token_is_501_because_tokens_are_stateless(
        gateway_stack: GatewayStack, corpus: dict[str, Any]) -> None:
    """The binding's optional `DELETE /nextPageToken/{token}`: 204 would say the token was
    invalidated; here page tokens hold no server state, so the answer is 501 and the token
    goes on working (what 204 would have hidden)."""
    with gateway_stack.client() as client:
        first = _get(client, gateway_stack.enterprise, "/events",
                     params={"EQ_readPoint": corpus["marker"], "perPage": "2"})
        link = first.headers["link"]
        token = urllib.parse.parse_qs(urllib.parse.urlsplit(link[1:link.index(">")]).query
                                      )["nextPageToken"][0]
        deleted = client.delete(f"/nextPageToken/{token}")
        assert deleted.status_code == 501
        assert deleted.json()["epcisException"] == "ImplementationException"
        assert deleted.headers["content-type"].startswith("application/problem+json")
        second = _events(_get(client, gateway_stack.enterprise, link[1:link.index(">")]))
    assert [e["eventID"] for e in second] == corpus["ids"][2:4]
