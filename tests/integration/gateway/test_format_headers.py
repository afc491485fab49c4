"""The EPCIS 2.0 request headers that shape a query answer, against a live gateway (real anvil,
real SQLite store): `GS1-EPC-Format` (GS1 keys as Digital Links, as EPC URNs with the company
prefix the consortium registered, or as captured), `GS1-CBV-XML-Format` (CBV values in XML
answers), `GS1-EPCIS-Min`/`-Max` and `GS1-CBV-Min`/`-Max` (406 when 2.0.0 is excluded), and
400 for a value the binding does not define. Whatever the format, the answer re-hashes to the
same event id, and the stored event is never rewritten."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest

from ledger.epcis.event_hash import event_ids
from ledger.epcis.xml import parse_xml
from ledger.proofs.codes import check_digit
from tests.integration.gateway.test_query import _events, _get
from tests.integration.gateway_env import GatewayStack, document

pytestmark = [pytest.mark.chain]

PREFIX = "9528710"  # registered to the enterprise member by this module (prefix-free of others)
UNKNOWN = "9528799"  # registered to nobody
CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]


def _key(body: str) -> str:
    return body + str(check_digit(body))


GTIN = _key("0" + PREFIX + "12345")
SERIAL_DL = f"https://id.gs1.org/01/{GTIN}/21/hdr-1"
SERIAL_URN = f"urn:epc:id:sgtin:{PREFIX}.012345.hdr-1"
LOT_DL = f"https://id.gs1.org/01/{GTIN}/10/LOT9"
LOT_URN = f"urn:epc:class:lgtin:{PREFIX}.012345.LOT9"
SSCC = _key("3" + PREFIX + "123456789")
SSCC_DL = f"https://id.gs1.org/00/{SSCC}"
SSCC_URN = f"urn:epc:id:sscc:{PREFIX}.3123456789"
SITE = _key(PREFIX + "00042")
SITE_DL = f"https://id.gs1.org/414/{SITE}"
SITE_URN = f"urn:epc:id:sgln:{PREFIX}.00042.0"
PARTY = _key(PREFIX + "00007")
PARTY_DL = f"https://id.gs1.org/417/{PARTY}"
PARTY_URN = f"urn:epc:id:pgln:{PREFIX}.00007"
OTHER_URN = "urn:epc:id:sgtin:0614141.107346.hdr-2"  # a URN captured as such
OTHER_DL = "https://id.gs1.org/01/10614141073464/21/hdr-2"
STRANGER_DL = f"https://id.gs1.org/01/{_key('0' + UNKNOWN + '12345')}/21/hdr-3"
PRIVATE = "https://example.com/zhenzhi-test/assets/hdr-4"  # not a GS1 key


@pytest.fixture(scope="module")
def captured(gateway_stack: GatewayStack, w3: Any, deployment: Any) -> dict[str, Any]:
    """Two events captured with a mix of URNs and Digital Links: one whose every GS1 key's
    company prefix is registered, one naming a key of an unregistered prefix."""
    from eth_account import Account

    from ledger.chain.client import Chain
    from ledger.chain.transactor import Transactor, anvil_dev_key

    chain = Chain(w3, deployment)
    if chain.prefix_owner(PREFIX) is None:
        admin = Transactor(w3, Account.from_key(anvil_dev_key(0)))
        proposal = chain.propose_assign_prefix(admin, gateway_stack.enterprise.org, PREFIX)
        chain.execute(admin, proposal.event("ProposalCreated")["id"])
    doc = document(2, action="OBSERVE", bizStep="shipping", disposition="in_transit")
    first, second = doc["epcisBody"]["eventList"]
    first.update(epcList=[SERIAL_DL, OTHER_URN, SSCC_DL, PRIVATE],
                 quantityList=[{"epcClass": LOT_DL, "quantity": 2.0, "uom": "KGM"}],
                 readPoint={"id": SITE_DL}, bizLocation={"id": SITE_URN},
                 sourceList=[{"type": "owning_party", "source": PARTY_DL}],
                 destinationList=[{"type": "owning_party", "destination": PARTY_URN}])
    second.update(epcList=[STRANGER_DL, OTHER_URN])
    sig = gateway_stack.sign(doc, gateway_stack.enterprise)
    with gateway_stack.client() as client:
        response = client.post("/capture", content=json.dumps(doc).encode(),
                               headers=gateway_stack.headers(sig))
    assert response.status_code == 202, response.text
    return {"doc": doc, "ids": event_ids(doc), "first": first, "second": second}


def _one(stack: GatewayStack, event_id: str, **headers: str) -> Any:
    with stack.client() as client:
        return _get(client, stack.customs, "/events/" + urllib.parse.quote(event_id, safe=""),
                    headers=headers)


def _rehash(event: dict[str, Any]) -> str:
    """The id of an answered event, computed afresh from its content."""
    return event_ids({"@context": CONTEXT, "type": "EPCISDocument", "schemaVersion": "2.0",
                      "creationDate": "2024-01-01T00:00:00Z",
                      "epcisBody": {"eventList": [event]}})[0]


def test_always_epc_urn_writes_every_registered_gs1_key_as_its_urn(
        gateway_stack: GatewayStack, captured: dict[str, Any]) -> None:
    response = _one(gateway_stack, captured["ids"][0], **{"GS1-EPC-Format": "Always_EPC_URN"})
    [event] = _events(response)
    assert response.headers["GS1-EPC-Format"] == "Always_EPC_URN"
    assert event["epcList"] == [SERIAL_URN, OTHER_URN, SSCC_URN, PRIVATE]
    assert event["quantityList"][0]["epcClass"] == LOT_URN
    assert event["readPoint"]["id"] == SITE_URN and event["bizLocation"]["id"] == SITE_URN
    assert event["sourceList"][0]["source"] == PARTY_URN
    assert event["destinationList"][0]["destination"] == PARTY_URN
    assert _rehash(event) == event["eventID"] == captured["ids"][0]


def test_always_digital_link_writes_every_gs1_key_as_a_digital_link(
        gateway_stack: GatewayStack, captured: dict[str, Any]) -> None:
    response = _one(gateway_stack, captured["ids"][0],
                    **{"GS1-EPC-Format": "Always_GS1_Digital_Link"})
    [event] = _events(response)
    assert response.headers["GS1-EPC-Format"] == "Always_GS1_Digital_Link"
    assert event["epcList"] == [SERIAL_DL, OTHER_DL, SSCC_DL, PRIVATE]
    assert event["quantityList"][0]["epcClass"] == LOT_DL
    assert event["readPoint"]["id"] == SITE_DL and event["bizLocation"]["id"] == SITE_DL
    assert event["destinationList"][0]["destination"] == PARTY_DL
    assert _rehash(event) == captured["ids"][0]


@pytest.mark.parametrize("asked", [None, "No_Preference", "Never_Translates"])
def test_no_preference_never_translates_and_no_header_answer_as_captured(
        gateway_stack: GatewayStack, captured: dict[str, Any], asked: str | None) -> None:
    response = _one(gateway_stack, captured["ids"][0],
                    **({"GS1-EPC-Format": asked} if asked else {}))
    [event] = _events(response)
    assert response.headers["GS1-EPC-Format"] == "Never_Translates"
    first = captured["first"]
    for name in ("epcList", "readPoint", "bizLocation", "sourceList", "destinationList"):
        assert event[name] == first[name], name
    assert event["quantityList"][0]["epcClass"] == LOT_DL


def test_the_stored_event_is_not_rewritten_by_a_translated_answer(
        gateway_stack: GatewayStack, captured: dict[str, Any]) -> None:
    _one(gateway_stack, captured["ids"][0], **{"GS1-EPC-Format": "Always_EPC_URN"})
    [event] = _events(_one(gateway_stack, captured["ids"][0]))
    assert event["epcList"] == captured["first"]["epcList"]


def test_a_key_of_an_unregistered_prefix_stays_a_digital_link_and_the_answer_says_so(
        gateway_stack: GatewayStack, captured: dict[str, Any]) -> None:
    response = _one(gateway_stack, captured["ids"][1], **{"GS1-EPC-Format": "Always_EPC_URN"})
    [event] = _events(response)
    assert event["epcList"] == [STRANGER_DL, OTHER_URN]
    assert response.headers["GS1-EPC-Format"] == "No_Preference"
    assert _rehash(event) == captured["ids"][1]


@pytest.mark.parametrize("path", ["/events?{q}", "/epcs/{epc}/events?perPage=5",
                                  "/bizSteps/shipping/events?{q}"])
def test_query_answers_honour_the_epc_format(gateway_stack: GatewayStack,
                                             captured: dict[str, Any], path: str) -> None:
    q = urllib.parse.urlencode({"MATCH_anyEPC": SERIAL_DL, "perPage": "5"})
    url = path.format(q=q, epc=urllib.parse.quote(SERIAL_DL, safe=""))
    if path.startswith("/bizSteps"):
        url = "/bizSteps/shipping/events?" + urllib.parse.urlencode(
            {"MATCH_epc": SERIAL_DL, "perPage": "5"})
    with gateway_stack.client() as client:
        response = _get(client, gateway_stack.customs, url,
                        headers={"GS1-EPC-Format": "Always_EPC_URN"})
    events = _events(response)
    assert [e["eventID"] for e in events] == [captured["ids"][0]]
    assert events[0]["epcList"][0] == SERIAL_URN
    assert response.headers["GS1-EPC-Format"] == "Always_EPC_URN"


def test_a_named_query_answer_honours_the_epc_format(gateway_stack: GatewayStack,
                                                     captured: dict[str, Any]) -> None:
    from ledger.proofs.request_signing import sign_request

    member = gateway_stack.customs
    body = json.dumps({"name": "hdr-format", "query": {"MATCH_anyEPC": [SERIAL_DL]}}).encode()
    with gateway_stack.client() as client:
        signed = sign_request(member.key, "POST", "/queries", body, org="0x" + member.org.hex())
        created = client.post("/queries", content=body, headers={
            **signed.headers(), "Content-Type": "application/json"})
        assert created.status_code in (201, 409), created.text
        response = _get(client, member, "/queries/hdr-format/events",
                        headers={"GS1-EPC-Format": "Always_EPC_URN"})
    [event] = _events(response)
    assert event["epcList"][0] == SERIAL_URN


@pytest.mark.parametrize(("cbv", "step", "disposition"), [
    ("Always_Web_URI", "https://ref.gs1.org/cbv/BizStep-shipping",
     "https://ref.gs1.org/cbv/Disp-in_transit"),
    ("Always_URN", "urn:epcglobal:cbv:bizstep:shipping", "urn:epcglobal:cbv:disp:in_transit"),
    ("Never_Translates", "urn:epcglobal:cbv:bizstep:shipping",
     "urn:epcglobal:cbv:disp:in_transit"),
    (None, "urn:epcglobal:cbv:bizstep:shipping", "urn:epcglobal:cbv:disp:in_transit"),
])
def test_xml_answers_write_cbv_values_as_asked(gateway_stack: GatewayStack,
                                               captured: dict[str, Any], cbv: str | None,
                                               step: str, disposition: str) -> None:
    from lxml import etree

    headers = {"Accept": "application/xml", "GS1-EPC-Format": "Always_EPC_URN"}
    if cbv:
        headers["GS1-CBV-XML-Format"] = cbv
    response = _one(gateway_stack, captured["ids"][0], **headers)
    assert response.status_code == 200, response.text
    assert response.headers["GS1-CBV-XML-Format"] == (cbv or "Never_Translates")
    assert response.headers["GS1-EPC-Format"] == "Always_EPC_URN"
    root = etree.fromstring(response.content)
    assert root.findtext(".//bizStep") == step
    assert root.findtext(".//disposition") == disposition
    assert root.find(".//sourceList/source").get("type").endswith("owning_party")
    assert [e.text for e in root.findall(".//epcList/epc")][0] == SERIAL_URN
    answer = parse_xml(response.content)  # valid against the standard's query XSD
    assert event_ids(answer.jsonld) == [captured["ids"][0]]


def test_the_cbv_xml_format_says_always_web_uri_for_sources_too(
        gateway_stack: GatewayStack, captured: dict[str, Any]) -> None:
    from lxml import etree

    response = _one(gateway_stack, captured["ids"][0], Accept="application/xml",
                    **{"GS1-CBV-XML-Format": "Always_Web_URI"})
    root = etree.fromstring(response.content)
    assert root.find(".//sourceList/source").get("type") == \
        "https://ref.gs1.org/cbv/SDT-owning_party"


@pytest.mark.parametrize(("header", "value"), [
    ("GS1-EPC-Format", "Always_URN"), ("GS1-EPC-Format", "always_epc_urn"),
    ("GS1-CBV-XML-Format", "Always_EPC_URN"), ("GS1-EPCIS-Min", "two"),
    ("GS1-EPCIS-Max", "2.0.0-beta"), ("GS1-CBV-Min", ""), ("GS1-CBV-Max", "2..0"),
])
def test_a_value_the_binding_does_not_define_is_refused_naming_the_header(
        gateway_stack: GatewayStack, captured: dict[str, Any], header: str, value: str) -> None:
    for response in (_one(gateway_stack, captured["ids"][0], **{header: value}),
                     _list(gateway_stack, **{header: value})):
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["type"] == "urn:zhenzhi:problem:invalid-header"
        assert problem["header"] == header and header in problem["detail"]
        assert problem["epcisException"] == "ValidationException"


def _list(stack: GatewayStack, **headers: str) -> Any:
    with stack.client() as client:
        return _get(client, stack.customs, "/events?" + urllib.parse.urlencode(
            {"MATCH_anyEPC": SERIAL_DL}), headers=headers)


@pytest.mark.parametrize("headers", [
    {"GS1-EPCIS-Min": "2.1"}, {"GS1-EPCIS-Max": "1.2.0"},
    {"GS1-EPCIS-Min": "1.0", "GS1-EPCIS-Max": "1.2"}, {"GS1-CBV-Min": "2.0.1"},
    {"GS1-CBV-Max": "1.2.0"},
])
def test_a_version_range_without_2_0_0_is_not_acceptable(
        gateway_stack: GatewayStack, captured: dict[str, Any], headers: dict[str, str]) -> None:
    for response in (_one(gateway_stack, captured["ids"][0], **headers),
                     _list(gateway_stack, **headers)):
        assert response.status_code == 406, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["epcisException"] == "NotAcceptableException"
        assert problem["supported"] == "2.0.0"


@pytest.mark.parametrize("headers", [
    {"GS1-EPCIS-Min": "1.0.0", "GS1-EPCIS-Max": "2.0.0"}, {"GS1-EPCIS-Min": "2"},
    {"GS1-EPCIS-Max": "3.1"}, {"GS1-CBV-Min": "1.2.0", "GS1-CBV-Max": "2.0.0"},
])
def test_a_version_range_with_2_0_0_is_answered(
        gateway_stack: GatewayStack, captured: dict[str, Any], headers: dict[str, str]) -> None:
    [event] = _events(_one(gateway_stack, captured["ids"][0], **headers))
    assert event["eventID"] == captured["ids"][0]


@pytest.mark.parametrize("path", ["/", "/capture", "/eventTypes", "/epcs", "/bizSteps/shipping",
                                  "/queries", "/queries/hdr-format/subscriptions"])
def test_every_epcis_read_checks_the_version_range(gateway_stack: GatewayStack,
                                                   captured: dict[str, Any], path: str) -> None:
    """The binding puts GS1-EPCIS-Min/Max (and the CBV pair) on each of its GET operations."""
    with gateway_stack.client() as client:
        for headers, status, kind in (
                ({"GS1-EPCIS-Min": "2.1"}, 406, "NotAcceptableException"),
                ({"GS1-CBV-Max": "1.2"}, 406, "NotAcceptableException"),
                ({"GS1-EPCIS-Max": "latest"}, 400, "ValidationException")):
            response = _get(client, gateway_stack.customs, path, headers=headers)
            assert response.status_code == status, (path, headers, response.text)
            assert response.json()["epcisException"] == kind
        assert _get(client, gateway_stack.customs, path,
                    headers={"GS1-EPCIS-Min": "1.0", "GS1-EPCIS-Max": "2.0"}).status_code in (
            200, 404)  # 404: the customs member made no such query
        # Checked before the signature: unsigned, the refusal is the same.
        assert client.get(path, headers={"GS1-EPCIS-Min": "2.1"}).status_code == 406
