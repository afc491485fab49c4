"""Attack: a member declares a competitor's event erroneous (issue 19, item 5).

An EPCIS error declaration is the erroneous event captured again with an `errorDeclaration`
(EPCIS 2.0 §7.4.1.4): same content, so the same CBV event id, which the hash computes without
`errorDeclaration`. The store used to drop it silently (the id was taken); a rule is needed
once it takes effect: only the organisation that signed the original event, or a REGULATOR,
may declare it erroneous (gateway/README.md, "Error declarations"). Here the rival is a
receiver the brand's own shipping event names, so it may speak about the goods: the
declaration rule alone must stop it.
"""

from __future__ import annotations

import copy
import json
import urllib.parse
from typing import Any

import httpx
import pytest
from lxml import etree
from sqlalchemy import create_engine, text

from ledger.epcis.event_hash import event_hashes, format_event_id
from ledger.proofs.request_signing import sign_request
from ledger.proofs.signing import signature_to_headers
from tests import capture_seeds
from tests.attacks.speakers_env import Party, Speakers, document, object_event

pytestmark = [pytest.mark.chain]
PROBLEM = "urn:zhenzhi:problem:"


def _count(stack: Speakers, table: str) -> int:
    engine = create_engine(stack.database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608
    finally:
        engine.dispose()


def _declared(event: dict[str, Any], reason: str = "incorrect_data",
              corrective: list[str] | None = None) -> dict[str, Any]:
    out = copy.deepcopy(event)
    out["errorDeclaration"] = {"declarationTime": "2026-01-02T09:00:00.000Z", "reason": reason,
                               **({"correctiveEventIDs": corrective} if corrective else {})}
    return out


def _get_event(stack: Speakers, party: Party, event_id: str) -> dict[str, Any]:
    got = stack.member_get(party, "/events/" + urllib.parse.quote(event_id, safe=""))
    assert got.status_code == 200, got.text
    (event,) = got.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    return event


def _query(stack: Speakers, party: Party, query: str) -> list[str]:
    got = stack.member_get(party, "/events?" + query)
    assert got.status_code == 200, got.text
    return [e["eventID"] for e in got.json()["epcisBody"]["queryResults"]["resultsBody"]
            ["eventList"]]


@pytest.fixture(scope="module")
def shipped(speakers: Speakers) -> dict[str, Any]:
    """The brand ships its own can to the rival (so the rival may speak about it)."""
    brand = speakers.admit("decl-brand", ["ENTERPRISE"], prefix=True)
    rival = speakers.admit("decl-rival", ["ENTERPRISE"], prefix=True)
    regulator = speakers.admit("decl-regulator", ["REGULATOR"])
    can = f"https://id.gs1.org/01/{brand.gtin()}/21/decl-1"
    other = f"https://id.gs1.org/01/{brand.gtin()}/21/decl-2"
    shipping = object_event([can], "shipping", disposition="in_transit",
                            destinationList=[{"type": "owning_party",
                                              "destination": rival.pgln}])
    second = object_event([other], "shipping", when="2026-01-01T09:00:00.000Z",
                          disposition="in_transit")
    response = speakers.capture(document(shipping, second), brand)
    assert response.status_code == 202, response.text
    ids = [format_event_id(i) for i in event_hashes(document(shipping, second))]
    return {"brand": brand, "rival": rival, "regulator": regulator, "can": can,
            "shipping": shipping, "second": second, "ids": ids}


def test_attack_rival_declares_the_competitors_event_erroneous_is_refused(
        speakers: Speakers, shipped: dict[str, Any]) -> None:
    rival, brand = shipped["rival"], shipped["brand"]
    shipping_id = shipped["ids"][0]
    # The rival may speak about the can (it was named its receiver): an event of its own is
    # accepted, so what stops the declaration below is the declaration rule, not custody.
    own = object_event([shipped["can"]], "receiving", when="2026-01-01T10:00:00.000Z")
    assert speakers.capture(document(own), rival).status_code == 202
    captures, declarations = _count(speakers, "captures"), _count(speakers, "error_declarations")
    response = speakers.capture(document(_declared(shipped["shipping"], "did_not_occur")), rival)
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == PROBLEM + "not-declarant"
    assert problem["epcisException"] == "SecurityException"
    assert problem["eventID"] == shipping_id and problem["eventIndex"] == 0
    assert problem["org"] == rival.org_hex and problem["signedBy"] == brand.org_hex
    # Nothing stored: no capture, no declaration, and the event reads as before.
    assert _count(speakers, "captures") == captures
    assert _count(speakers, "error_declarations") == declarations
    assert "errorDeclaration" not in _get_event(speakers, brand, shipping_id)


def test_attack_rival_declaration_is_refused_even_with_proceed(
        speakers: Speakers, shipped: dict[str, Any]) -> None:
    rival = shipped["rival"]
    doc = document(_declared(shipped["shipping"], "did_not_occur"))
    sig = speakers.sign(doc, rival)
    declarations = _count(speakers, "error_declarations")
    with speakers.client() as client:
        response = client.post("/capture", content=json.dumps(doc).encode(), headers={
            **signature_to_headers(sig, capture_seeds.seed_of(sig)),
            "Content-Type": "application/ld+json", "GS1-Capture-Error-Behaviour": "proceed"})
    assert response.status_code == 403, response.text
    assert _count(speakers, "error_declarations") == declarations


def test_declaring_an_event_nobody_stored_is_refused(
        speakers: Speakers, shipped: dict[str, Any]) -> None:
    brand = shipped["brand"]
    ghost = object_event([shipped["can"]], "packing", when="2026-01-01T07:00:00.000Z")
    response = speakers.capture(document(_declared(ghost)), brand)
    assert response.status_code == 404, response.text
    problem = response.json()
    assert problem["type"] == PROBLEM + "declared-event-unknown"
    assert problem["eventID"] == format_event_id(event_hashes(document(ghost))[0])
    got = speakers.member_get(brand, "/events/" + urllib.parse.quote(problem["eventID"], safe=""))
    assert got.status_code == 404


def test_the_original_signer_declares_its_event_erroneous(
        speakers: Speakers, shipped: dict[str, Any]) -> None:
    brand = shipped["brand"]
    shipping_id, second_id = shipped["ids"]
    events_before = _count(speakers, "events")
    doc = document(_declared(shipped["shipping"], "incorrect_data", corrective=[second_id]))
    sig = speakers.sign(doc, brand)
    headers = {**signature_to_headers(sig, capture_seeds.seed_of(sig)),
               "Content-Type": "application/ld+json"}
    with speakers.client() as client:
        first = client.post("/capture", content=json.dumps(doc).encode(), headers=headers)
        assert first.status_code == 202, first.text
        assert first.json()["eventIDs"] == [shipping_id]
        # The same capture again is the same capture: nothing more is stored.
        again = client.post("/capture", content=json.dumps(doc).encode(), headers=headers)
    assert again.status_code == 202, again.text
    assert again.headers["location"] == first.headers["location"]
    assert _count(speakers, "events") == events_before  # a declaration is not a new event
    event = _get_event(speakers, brand, shipping_id)
    assert event["errorDeclaration"] == {"declarationTime": "2026-01-02T09:00:00.000Z",
                                         "reason": "incorrect_data",
                                         "correctiveEventIDs": [second_id]}
    assert event["bizStep"] == "shipping"  # the original event, as it was signed
    # The XML answer carries it too, as the standard's XML binding writes it.
    path = "/events/" + urllib.parse.quote(shipping_id, safe="")
    wire = httpx.URL(path).raw_path.decode("ascii")
    with speakers.client() as client:
        xml = client.get(path, headers={**sign_request(brand.key, "GET", wire, b"",
                                                       org=brand.org_hex).headers(),
                                        "Accept": "application/xml"})
    assert xml.status_code == 200, xml.text
    assert xml.headers["content-type"].startswith("application/xml")
    (declaration,) = etree.fromstring(xml.content).iter("errorDeclaration")
    assert {child.tag: (child.text or "").strip() for child in declaration} | {
        "correctiveEventIDs": [e.text for e in declaration.iter("correctiveEventID")]} == {
        "declarationTime": "2026-01-02T09:00:00.000Z",
        "reason": "urn:epcglobal:cbv:er:incorrect_data",  # the XML binding's CBV spelling
        "correctiveEventIDs": [second_id]}
    # The members' item history shows it too.
    gtin, serial = shipped["can"].split("/01/")[1].split("/21/")
    history = speakers.member_get(brand, f"/items/{gtin}/{serial}/events")
    assert history.status_code == 200, history.text
    by_id = {e["eventID"]: e for e in history.json()["epcisBody"]["queryResults"]
             ["resultsBody"]["eventList"]}
    assert by_id[shipping_id]["errorDeclaration"] == event["errorDeclaration"]
    assert [i for i, e in by_id.items() if "errorDeclaration" in e] == [shipping_id]
    # The standard's query parameters on error declarations.
    declared = _query(speakers, brand, "EXISTS_errorDeclaration=&MATCH_epc="
                      + urllib.parse.quote(shipped["can"], safe=""))
    assert declared == [shipping_id]
    assert _query(speakers, brand, "EQ_errorReason=incorrect_data&MATCH_epc="
                  + urllib.parse.quote(shipped["can"], safe="")) == [shipping_id]
    assert _query(speakers, brand, "EQ_errorReason=did_not_occur&MATCH_epc="
                  + urllib.parse.quote(shipped["can"], safe="")) == []
    assert _query(speakers, brand, "EQ_errorReason="
                  + urllib.parse.quote("https://ref.gs1.org/cbv/ER-incorrect_data", safe="")
                  + "&MATCH_epc=" + urllib.parse.quote(shipped["can"], safe="")
                  ) == [shipping_id]


def test_a_second_declaration_of_a_declared_event_changes_nothing(
        speakers: Speakers, shipped: dict[str, Any]) -> None:
    brand = shipped["brand"]
    shipping_id, second_id = shipped["ids"]
    first = _get_event(speakers, brand, shipping_id)["errorDeclaration"]
    declarations = _count(speakers, "error_declarations")
    # The same declaration in a new capture (a client retrying with a fresh nonce): accepted,
    # and still one declaration.
    same = speakers.capture(document(_declared(shipped["shipping"], "incorrect_data",
                                               corrective=[second_id])), brand)
    assert same.status_code == 202, same.text
    assert _count(speakers, "error_declarations") == declarations
    # Another declaration of the declared event: refused, the first one stands.
    response = speakers.capture(document(_declared(shipped["shipping"], "did_not_occur")), brand)
    assert response.status_code == 409, response.text
    assert response.json()["type"] == PROBLEM + "already-declared"
    assert _get_event(speakers, brand, shipping_id)["errorDeclaration"] == first


def test_a_regulator_declares_a_members_event_erroneous(
        speakers: Speakers, shipped: dict[str, Any]) -> None:
    regulator, brand = shipped["regulator"], shipped["brand"]
    second_id = shipped["ids"][1]
    response = speakers.capture(document(_declared(shipped["second"], "did_not_occur")),
                                regulator)
    assert response.status_code == 202, response.text
    assert _get_event(speakers, brand, second_id)["errorDeclaration"]["reason"] == "did_not_occur"
