"""`POST /events`: one event captured, signed as a one-event capture (the same
`Zhenzhi-Capture-*` headers), answered 201 with the event's Location as the binding says;
every refusal the standard's exception in problem+json, and nothing stored."""

from __future__ import annotations

import copy
import json
import urllib.parse
from typing import Any

import httpx
import pytest

from ledger.epcis.event_hash import event_hashes, format_event_id
from tests.integration.gateway.test_query import _events, _get
from tests.integration.gateway_env import GatewayStack, document

pytestmark = [pytest.mark.chain]


def _one(stack: GatewayStack, doc: dict[str, Any], member: Any = None,
         ) -> tuple[bytes, dict[str, str], str]:
    """The body of POST /events (the document's one event, with its @context) and the
    headers of the same event signed as a one-event capture."""
    sig = stack.sign(doc, member or stack.enterprise)
    event = {"@context": doc["@context"], **doc["epcisBody"]["eventList"][0]}
    return (json.dumps(event).encode(), stack.headers(sig),
            format_event_id(event_hashes(doc)[0]))


def _post(client: httpx.Client, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return client.post("/events", content=body, headers=headers)


def test_one_signed_event_is_captured_and_found_at_its_location(
        gateway_stack: GatewayStack) -> None:
    doc = document(1)
    body, headers, event_id = _one(gateway_stack, doc)
    with gateway_stack.client() as client:
        response = _post(client, body, headers)
        assert response.status_code == 201, response.text
        location = response.headers["Location"]
        assert location == "/events/" + urllib.parse.quote(event_id, safe="")
        assert response.json()["eventID"] == event_id
        assert response.headers["GS1-EPCIS-Version"] == "2.0.0"
        found = _events(_get(client, gateway_stack.enterprise, location))
        assert [e["eventID"] for e in found] == [event_id]
        job = response.headers["Link"].split(">", 1)[0].lstrip("<")
        got = _get(client, gateway_stack.enterprise, job)
        assert got.status_code == 200 and got.json()["eventIDs"] == [event_id]
        # The same event signed again is the same capture: the same answer, one job.
        again = _post(client, body, headers)
        assert again.status_code == 201 and again.headers["Location"] == location
        assert client.options("/events").headers["Allow"] == "OPTIONS, GET, POST"


def test_attack_the_signature_covers_the_event(gateway_stack: GatewayStack) -> None:
    """A signed event with one field changed is refused, and nothing is stored."""
    doc = document(1)
    body, headers, _ = _one(gateway_stack, doc)
    forged = copy.deepcopy(doc)
    forged["epcisBody"]["eventList"][0]["bizStep"] = "receiving"
    forged_id = format_event_id(event_hashes(forged)[0])
    event = {"@context": doc["@context"], **forged["epcisBody"]["eventList"][0]}
    with gateway_stack.client() as client:
        response = _post(client, json.dumps(event).encode(), headers)
        assert response.status_code in (400, 403), response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["epcisException"]
        assert _get(client, gateway_stack.enterprise,
                    "/events/" + urllib.parse.quote(forged_id, safe="")).status_code == 404


def test_attack_an_unsigned_event_is_refused(gateway_stack: GatewayStack) -> None:
    doc = document(1)
    event = {"@context": doc["@context"], **doc["epcisBody"]["eventList"][0]}
    with gateway_stack.client() as client:
        response = client.post("/events", content=json.dumps(event).encode(),
                               headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    problem = response.json()
    assert problem["epcisException"] == "ValidationException"
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(("body", "status", "slug"), [
    (b"[1, 2]", 400, "not-an-event"),
    (b'{"epcList": []}', 400, "not-an-event"),
    (b'"ObjectEvent"', 400, "not-an-event"),
    (b'{"type": "EPCISDocument"}', 400, "not-an-event"),
])
def test_what_is_not_one_event_is_refused_before_anything_is_stored(
        gateway_stack: GatewayStack, body: bytes, status: int, slug: str) -> None:
    doc = document(1)
    _, headers, _ = _one(gateway_stack, doc)
    with gateway_stack.client() as client:
        response = _post(client, body, headers)
    assert response.status_code == status, response.text
    assert response.json()["type"] == f"urn:zhenzhi:problem:{slug}"
    assert response.json()["epcisException"] == "ValidationException"


def test_xml_is_refused_with_415(gateway_stack: GatewayStack) -> None:
    doc = document(1)
    body, headers, _ = _one(gateway_stack, doc)
    with gateway_stack.client() as client:
        response = _post(client, body, {**headers, "Content-Type": "application/xml"})
    assert response.status_code == 415


def test_attack_an_event_the_signer_may_not_sign_is_refused(
        gateway_stack: GatewayStack) -> None:
    """An enterprise may not sign a customs inspection: 403, nothing stored."""
    doc = document(1, bizStep="inspecting")
    body, headers, event_id = _one(gateway_stack, doc)
    with gateway_stack.client() as client:
        response = _post(client, body, headers)
        assert response.status_code == 403, response.text
        assert response.json()["epcisException"]
        assert _get(client, gateway_stack.customs,
                    "/events/" + urllib.parse.quote(event_id, safe="")).status_code == 404
