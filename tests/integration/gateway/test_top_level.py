"""EPCIS 2.0 top-level resources over HTTP, driven as an EPCIS client drives them: `GET /`,
the listings (`/eventTypes`, `/epcs`, `/bizSteps`, `/bizLocations`, `/readPoints`,
`/dispositions`) followed page by page through `Link` headers, their sub-resources and the
events they lead to, OPTIONS on each; answers checked against the standard's own schemas.
Who may list: exactly who may query events (signed members); the public gets 401."""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any

import pytest

from gateway.routes.discovery import TOP_LEVEL
from ledger.epcis.event_hash import event_hashes, format_event_id
from ledger.store.store import canonical_epc
from tests.integration.gateway.epcis_spec import validate
from tests.integration.gateway.test_query import _events, _get
from tests.integration.gateway_env import GatewayStack, document

pytestmark = [pytest.mark.chain]

STEP = "https://example.com/zhenzhi-test/steps/top-level"  # unique to this module
READ_POINT = "https://id.gs1.org/414/9506000999951"  # unique to this module
BIZ_LOCATION = "https://id.gs1.org/414/9506000999971"
DISPOSITION = "https://example.com/zhenzhi-test/dispositions/top-level"
LISTING_SCHEMA = {"eventTypes": "EventTypeCollection", "epcs": "UriCollection",
                  "bizSteps": "BizStepCollection", "bizLocations": "UriCollection",
                  "readPoints": "UriCollection", "dispositions": "DispositionCollection"}


@pytest.fixture(scope="module")
def held(gateway_stack: GatewayStack) -> dict[str, Any]:
    """Three events under this module's own bizStep, readPoint, bizLocation, disposition."""
    doc = document(3)
    events = doc["epcisBody"]["eventList"]
    for event in events:
        event.update(bizStep=STEP, readPoint={"id": READ_POINT},
                     bizLocation={"id": BIZ_LOCATION}, disposition=DISPOSITION)
    sig = gateway_stack.sign(doc, gateway_stack.enterprise)
    with gateway_stack.client() as client:
        response = client.post("/capture", content=json.dumps(doc).encode(),
                               headers=gateway_stack.headers(sig))
    assert response.status_code == 202, response.text
    return {"doc": doc, "ids": [format_event_id(h) for h in event_hashes(doc)],
            "epcs": [e["epcList"][0] for e in events]}


def _follow(stack: GatewayStack, path: str, per_page: int) -> tuple[list[str], int]:
    """Every member of a listing, following `Link: rel="next"`; each page checked against
    the standard's schema."""
    resource = path.strip("/")
    url = f"{path}?perPage={per_page}"
    members: list[str] = []
    pages = 0
    with stack.client() as client:
        while url:
            response = _get(client, stack.customs, url)
            assert response.status_code == 200, response.text
            assert response.headers["GS1-EPCIS-Version"] == "2.0.0"
            body = response.json()
            validate(LISTING_SCHEMA[resource], body)
            assert len(body["member"]) <= per_page
            members += body["member"]
            pages += 1
            link = response.headers.get("link")
            url = None
            if link:
                match = re.fullmatch(r'<([^>]+)>; rel="next"', link)
                assert match, link
                url = match.group(1)
    return members, pages


@pytest.mark.parametrize(("path", "value"), [
    ("/bizSteps", STEP), ("/readPoints", READ_POINT), ("/bizLocations", BIZ_LOCATION),
    ("/dispositions", DISPOSITION),
])
def test_a_listing_holds_each_value_once_in_order_over_pages(
        gateway_stack: GatewayStack, held: dict[str, Any], path: str, value: str) -> None:
    members, pages = _follow(gateway_stack, path, 2)
    assert value in members
    assert members == sorted(set(members))
    assert pages == -(-len(members) // 2)


def test_event_types_are_the_five_the_repository_supports(gateway_stack: GatewayStack) -> None:
    members, pages = _follow(gateway_stack, "/eventTypes", 2)
    assert members == sorted(["ObjectEvent", "AggregationEvent", "TransactionEvent",
                              "TransformationEvent", "AssociationEvent"])
    assert pages == 3


def test_every_listed_epc_leads_to_events(gateway_stack: GatewayStack,
                                          held: dict[str, Any]) -> None:
    members, _ = _follow(gateway_stack, "/epcs", 50)
    assert {canonical_epc(e) for e in held["epcs"]} <= set(members)
    with gateway_stack.client() as client:
        for epc in members:
            quoted = urllib.parse.quote(epc, safe="")
            assert _events(_get(client, gateway_stack.enterprise,
                                f"/epcs/{quoted}/events?perPage=1")), epc


@pytest.mark.parametrize(("resource", "value", "indices"), [
    ("bizSteps", STEP, [0, 1, 2]),
    ("readPoints", READ_POINT, [0, 1, 2]),
    ("bizLocations", BIZ_LOCATION, [0, 1, 2]),
    ("dispositions", DISPOSITION, [0, 1, 2]),
])
def test_a_sub_resource_leads_to_its_events(gateway_stack: GatewayStack, held: dict[str, Any],
                                            resource: str, value: str,
                                            indices: list[int]) -> None:
    quoted = urllib.parse.quote(value, safe="")
    with gateway_stack.client() as client:
        sub = _get(client, gateway_stack.enterprise, f"/{resource}/{quoted}")
        assert sub.status_code == 200, sub.text
        validate("ResourceCollection", sub.json())
        assert sub.json()["member"] == ["events"]
        got = _events(_get(client, gateway_stack.enterprise, f"/{resource}/{quoted}/events"))
        # Narrowed further by any other query parameter, paged like /events.
        narrowed = _events(_get(client, gateway_stack.enterprise,
                                f"/{resource}/{quoted}/events?eventType=AggregationEvent"))
    assert [e["eventID"] for e in got] == [held["ids"][i] for i in indices]
    assert narrowed == []


def test_event_type_events_are_those_of_the_type(gateway_stack: GatewayStack,
                                                 held: dict[str, Any]) -> None:
    step = urllib.parse.quote(STEP, safe="")
    with gateway_stack.client() as client:
        objects = _events(_get(client, gateway_stack.enterprise,
                               f"/eventTypes/ObjectEvent/events?EQ_bizStep={step}"))
        aggregations = _events(_get(client, gateway_stack.enterprise,
                                    f"/eventTypes/AggregationEvent/events?EQ_bizStep={step}"))
        sub = _get(client, gateway_stack.enterprise, "/eventTypes/ObjectEvent")
    assert [e["eventID"] for e in objects] == held["ids"]
    assert aggregations == []
    assert sub.json()["member"] == ["events"]


@pytest.mark.parametrize(("url", "status", "slug"), [
    ("/bizSteps/never_used_step", 404, "unknown-resource"),
    ("/epcs/urn%3Aepc%3Aid%3Asgtin%3A0614141.107346.404404404", 404, "unknown-resource"),
    ("/eventTypes/CustomEvent", 404, "unknown-resource"),
    ("/eventTypes/CustomEvent/events", 404, "unknown-resource"),
    ("/bizSteps?nextPageToken=garbage", 400, "invalid-page-token"),
    ("/bizSteps/shipping/events?EQ_bizStep=receiving", 400, "query-parameter"),
    ("/eventTypes/ObjectEvent/events?eventType=AggregationEvent", 400, "query-parameter"),
    ("/readPoints?perPage=0", 400, None),
])
def test_bad_requests_are_problems(gateway_stack: GatewayStack, url: str, status: int,
                                   slug: str | None) -> None:
    with gateway_stack.client() as client:
        response = _get(client, gateway_stack.enterprise, url)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    if slug:
        assert response.json()["type"] == f"urn:zhenzhi:problem:{slug}"


def test_a_token_of_one_listing_is_refused_by_another(gateway_stack: GatewayStack,
                                                      held: dict[str, Any]) -> None:
    with gateway_stack.client() as client:
        first = _get(client, gateway_stack.enterprise, "/eventTypes?perPage=1")
        token = re.search(r"nextPageToken=([^&>]+)", first.headers["link"]).group(1)
        other = _get(client, gateway_stack.enterprise, f"/bizSteps?nextPageToken={token}")
    assert other.status_code == 400
    assert other.json()["type"] == "urn:zhenzhi:problem:invalid-page-token"


@pytest.mark.parametrize("path", [
    "/eventTypes", "/epcs", "/bizSteps", "/bizLocations", "/readPoints", "/dispositions",
    "/bizSteps/shipping", "/bizSteps/shipping/events", "/eventTypes/ObjectEvent/events",
    f"/readPoints/{urllib.parse.quote(READ_POINT, safe='')}",
])
def test_the_public_lists_nothing(gateway_stack: GatewayStack, held: dict[str, Any],
                                  path: str) -> None:
    """Listings name EPCs, locations and trading steps: exactly as members-only as the events
    they come from (`GET /events`)."""
    with gateway_stack.client() as client:
        response = client.get(path)
    assert response.status_code == 401
    assert response.json()["type"] == "urn:zhenzhi:problem:member-access-required"
    assert "member" not in response.json() and "eventList" not in response.text


def test_the_public_cannot_probe_whether_a_value_is_held(gateway_stack: GatewayStack,
                                                         held: dict[str, Any]) -> None:
    """A held and an unheld readPoint answer the public alike (401 before any lookup), so
    the status does not tell which locations the ledger knows."""
    with gateway_stack.client() as client:
        answers = [client.get(f"/readPoints/{urllib.parse.quote(v, safe='')}")
                   for v in (READ_POINT, READ_POINT + "0")]
    assert [a.status_code for a in answers] == [401, 401]
    assert [{k: v for k, v in a.json().items() if k != "instance"} for a in answers] == \
        [{k: v for k, v in answers[1].json().items() if k != "instance"}] * 2


def test_the_root_lists_served_resources_only(gateway_stack: GatewayStack,
                                              held: dict[str, Any]) -> None:
    with gateway_stack.client() as client:
        root = client.get("/")
        assert root.status_code == 200
        members = root.json()["member"]
        assert members == TOP_LEVEL
        for name in members:
            # Each is served: OPTIONS answers 204, and GET is not 404/405 (POST-only
            # `capture` is listed for its POST; its GET is checked by its own tests).
            assert client.options(f"/{name}").status_code == 204, name
            if name != "capture":
                assert _get(client, gateway_stack.enterprise,
                            f"/{name}?perPage=1").status_code == 200, name


@pytest.mark.parametrize(("path", "epc_format"), [
    ("/", "No_Preference"), ("/events", "No_Preference"),
    ("/events/ni%3A%2F%2F%2Fsha-256%3B00%3Fver%3DCBV2.0", "No_Preference"),
    ("/eventTypes", "Never_Translates"), ("/epcs", "Always_GS1_Digital_Link"),
    ("/bizSteps/shipping", "Never_Translates"), ("/bizSteps/shipping/events", "No_Preference"),
    ("/epcs/urn%3Aepc%3Aid%3Asgtin%3A0614141.107346.1/events", "No_Preference"),
    ("/queries/any/events", "No_Preference"),
])
def test_options_advertise_what_is_true(gateway_stack: GatewayStack, held: dict[str, Any],
                                        path: str, epc_format: str) -> None:
    """Event answers honour the request's GS1-EPC-Format and GS1-CBV-XML-Format, so those
    resources have no preference of their own; listings write values as they say."""
    with gateway_stack.client() as client:
        response = client.options(path)
    assert response.status_code == 204
    headers = response.headers
    assert headers["Allow"] == ("OPTIONS, GET, POST" if path == "/events" else "OPTIONS, GET")
    assert headers["GS1-EPCIS-Version"] == headers["GS1-EPCIS-Min"] == \
        headers["GS1-EPCIS-Max"] == "2.0.0"
    assert headers["GS1-EPC-Format"] == epc_format
    # The CBV XML format is announced where XML event answers honour it, and only there.
    assert headers.get("GS1-CBV-XML-Format") == (
        "No_Preference" if epc_format == "No_Preference" else None)
    # Nothing announced that the gateway does not do.
    assert "GS1-Extensions" not in headers


def test_events_are_answered_as_captured_unless_a_format_is_asked(
        gateway_stack: GatewayStack, held: dict[str, Any]) -> None:
    """An EPC captured as a URN comes back a URN (`Never_Translates`), and as a Digital Link
    when the client asks for one."""
    doc = document(1)
    urn = "urn:epc:id:sgtin:0614141.107346.77" + str(len(held["ids"]))
    doc["epcisBody"]["eventList"][0]["epcList"] = [urn]
    sig = gateway_stack.sign(doc, gateway_stack.enterprise)
    path = f"/epcs/{urllib.parse.quote(urn, safe='')}/events"
    with gateway_stack.client() as client:
        assert client.post("/capture", content=json.dumps(doc).encode(),
                           headers=gateway_stack.headers(sig)).status_code == 202
        plain = _get(client, gateway_stack.enterprise, path)
        linked = _get(client, gateway_stack.enterprise, path,
                      headers={"GS1-EPC-Format": "Always_GS1_Digital_Link"})
    assert [e["epcList"] for e in _events(plain)] == [[urn]]
    assert plain.headers["GS1-EPC-Format"] == "Never_Translates"
    assert [e["epcList"] for e in _events(linked)] == [[canonical_epc(urn)]]
    assert linked.headers["GS1-EPC-Format"] == "Always_GS1_Digital_Link"


# What gateway/README.md says is not served: if an operation is added, this list and the README
# change together.
NOT_SERVED: set[str] = set()


def test_the_readme_list_of_served_operations_is_the_standards_minus_these() -> None:
    import yaml

    from gateway.app import create_app
    from gateway.settings import GatewaySettings
    from tests.integration.gateway.epcis_spec import EPCIS_DIR

    standard = yaml.safe_load((EPCIS_DIR / "openapi.yaml").read_text())["paths"]
    ours = create_app(GatewaySettings()).openapi()["paths"]
    operations = {f"{m.upper()} {p}" for p, ops in standard.items() for m in ops
                  if m != "parameters"}
    served = {op for op in operations if op.split(" ", 1)[0].lower() in
              ours.get(op.split(" ", 1)[1], {})}
    assert operations - served == NOT_SERVED
    assert len([op for op in served if not op.startswith("OPTIONS")]) == 35
