"""EPCIS XML over HTTP against a real chain and store: `POST /capture` takes an XML
EPCISDocument signed over the events it converts to (the same ids as its JSON form), queries
answer XSD-valid XML when asked, and every bad XML is a 4xx problem that stores nothing."""

from __future__ import annotations

import re
import urllib.parse

import httpx
import pytest

from ledger.epcis.event_hash import event_ids
from ledger.epcis.xml import parse_xml, parse_xml_document
from ledger.epcis.xml_writer import write_document
from ledger.proofs.request_signing import sign_request
from ledger.store.store import Store
from tests.integration.gateway_env import (  # noqa: F401 - fixtures
    MAX_BODY,
    GatewayStack,
    document,
)

pytestmark = [pytest.mark.chain]
PROBLEM = "urn:zhenzhi:problem:"


def _xml_of(doc: dict) -> bytes:
    return write_document(doc["epcisBody"]["eventList"], context=doc.get("@context"),
                          creation_date="2024-01-01T00:00:00Z")


def _post_xml(stack: GatewayStack, body: bytes, signed_over: dict | None = None,
              content_type: str = "application/xml") -> httpx.Response:
    """POST an XML body, signed over the JSON-LD events it converts to (or over
    `signed_over`, for bodies that do not convert)."""
    target = signed_over if signed_over is not None else parse_xml_document(body).raw
    sig = stack.sign(target, stack.enterprise)
    with stack.client() as client:
        return client.post("/capture", content=body,
                           headers=stack.headers(sig, **{"Content-Type": content_type}))


def _count(stack: GatewayStack) -> int:
    store = Store(stack.database_url)
    try:
        return store.count_events()
    finally:
        store.close()


def _member_get(stack: GatewayStack, path: str, **headers: str) -> httpx.Response:
    wire = httpx.URL(path).raw_path.decode("ascii")
    auth = sign_request(stack.enterprise.key, "GET", wire, b"",
                        org="0x" + stack.enterprise.org.hex()).headers()
    with stack.client() as client:
        return client.get(path, headers={**auth, **headers})


@pytest.mark.parametrize("content_type", ["application/xml", "text/xml; charset=utf-8"])
def test_xml_capture_is_stored_under_the_ids_of_its_json_form(gateway_stack: GatewayStack,
                                                              content_type: str) -> None:
    doc = document(2)
    response = _post_xml(gateway_stack, _xml_of(doc), content_type=content_type)
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["eventIDs"] == event_ids(doc)  # the JSON form's ids
    for event_id in job["eventIDs"]:
        got = _member_get(gateway_stack, "/events/" + urllib.parse.quote(event_id, safe=""))
        assert got.status_code == 200, got.text


def test_query_answers_xsd_valid_xml_when_asked(gateway_stack: GatewayStack) -> None:
    doc = document(2)
    accepted = _post_xml(gateway_stack, _xml_of(doc))
    assert accepted.status_code == 202, accepted.text
    epc = doc["epcisBody"]["eventList"][0]["epcList"][0]
    path = "/events?" + urllib.parse.urlencode({"MATCH_anyEPC": epc})
    as_xml = _member_get(gateway_stack, path, Accept="application/xml")
    assert as_xml.status_code == 200, as_xml.text
    assert as_xml.headers["content-type"].startswith("application/xml")
    answer = parse_xml(as_xml.content)  # validates against the EPCIS 2.0 query XSD
    assert answer.kind == "EPCISQueryDocument"
    as_json = _member_get(gateway_stack, path)
    assert as_json.headers["content-type"].startswith("application/json")
    json_ids = [e["eventID"] for e in
                as_json.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]]
    assert event_ids(answer.jsonld) == json_ids
    assert event_ids(doc)[0] in json_ids
    one = _member_get(gateway_stack, "/events/" + urllib.parse.quote(json_ids[0], safe=""),
                      Accept="text/xml, application/json;q=0.5")
    assert one.headers["content-type"].startswith("application/xml")
    assert event_ids(parse_xml(one.content).jsonld) == [json_ids[0]]


def _refused(stack: GatewayStack, response: httpx.Response, status: int, slug: str,
             before: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == PROBLEM + slug, body
    assert body["epcisException"]
    assert _count(stack) == before
    return body


def test_xml_failing_the_xsd_is_a_validation_exception_naming_its_line(
        gateway_stack: GatewayStack) -> None:
    doc = document(1)
    xml = re.sub(rb"<action>[A-Z]+</action>", b"\n\n<action>WATCH</action>", _xml_of(doc))
    assert xml != _xml_of(doc)
    before = _count(gateway_stack)
    body = _refused(gateway_stack, _post_xml(gateway_stack, xml, signed_over=doc), 400,
                    "invalid-epcis-xml", before)
    assert body["epcisException"] == "ValidationException"
    line = xml[:xml.index(b"<action>WATCH")].count(b"\n") + 1
    assert line == 4
    assert body["line"] == line
    assert f"line {line}" in body["detail"]


def test_attack_xml_with_entities_is_refused_and_stores_nothing(
        gateway_stack: GatewayStack) -> None:
    doc = document(1)
    xml = _xml_of(doc)
    declaration_end = xml.index(b"?>") + 2
    bomb = (xml[:declaration_end] + b'\n<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b '
            b'"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>' + xml[declaration_end:])
    before = _count(gateway_stack)
    _refused(gateway_stack, _post_xml(gateway_stack, bomb, signed_over=doc), 400,
             "invalid-epcis-xml", before)
    external = (xml[:declaration_end] + b'\n<!DOCTYPE x SYSTEM "file:///etc/passwd">'
                + xml[declaration_end:])
    _refused(gateway_stack, _post_xml(gateway_stack, external, signed_over=doc), 400,
             "invalid-epcis-xml", before)


def test_attack_oversized_xml_is_refused_before_it_is_read(gateway_stack: GatewayStack) -> None:
    doc = document(1)
    xml = _xml_of(doc)
    big = xml.replace(b"<EPCISBody>", b"<!--" + b"x" * (MAX_BODY + 1) + b"--><EPCISBody>")
    before = _count(gateway_stack)
    _refused(gateway_stack, _post_xml(gateway_stack, big, signed_over=doc), 413,
             "body-too-large", before)


def test_other_media_types_are_415(gateway_stack: GatewayStack) -> None:
    doc = document(1)
    before = _count(gateway_stack)
    _refused(gateway_stack, _post_xml(gateway_stack, _xml_of(doc), signed_over=doc,
                                      content_type="text/plain"), 415,
             "unsupported-media-type", before)
