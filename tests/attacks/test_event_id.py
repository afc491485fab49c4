"""Attack: a client names its own `eventID`, one that is not the event's hash, and the gateway
stores and serves it as if it were the id (issue 16, item 10b). An event's id is the hash of
its content (`ledger.epcis.event_hash`): a different id is refused with a 400 problem naming
the event and both ids, and nothing is stored."""

from __future__ import annotations

import urllib.parse

import pytest
from sqlalchemy import create_engine, text

from ledger.epcis.event_hash import event_hashes, format_event_id
from tests import capture_seeds
from tests.attacks.speakers_env import Speakers, document, object_event

pytestmark = [pytest.mark.chain]


def _stored(stack: Speakers) -> int:
    engine = create_engine(stack.database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM events")).scalar_one())
    finally:
        engine.dispose()


def test_attack_client_supplied_event_id_that_is_not_the_hash_is_refused(
        speakers: Speakers) -> None:
    brand = speakers.parties.get("brand") or speakers.admit("brand", ["ENTERPRISE"])
    fake = "ni:///sha-256;" + "ab" * 32 + "?ver=CBV2.0"
    honest = object_event(["https://id.gs1.org/01/09506000134352/21/ev-1"], "receiving")
    forged = object_event(["https://id.gs1.org/01/09506000134352/21/ev-2"], "receiving",
                          eventID=fake)
    doc = document(honest, forged)
    computed = format_event_id(event_hashes(doc)[1])
    before = _stored(speakers)
    response = speakers.capture(doc, brand)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:zhenzhi:problem:event-id-mismatch"
    assert problem["eventIndex"] == 1
    assert problem["eventID"] == fake and problem["computedEventID"] == computed
    assert fake in problem["detail"] and computed in problem["detail"]
    assert _stored(speakers) == before
    got = speakers.member_get(brand, "/events/" + urllib.parse.quote(fake, safe=""))
    assert got.status_code == 404


def test_client_supplied_event_id_equal_to_the_hash_is_accepted(speakers: Speakers) -> None:
    brand = speakers.parties.get("brand") or speakers.admit("brand", ["ENTERPRISE"])
    event = object_event(["https://id.gs1.org/01/09506000134352/21/ev-3"], "receiving")
    computed = format_event_id(event_hashes(document(event))[0])
    # The hex in upper case and without the `ver` parameter names the same hash.
    event["eventID"] = computed.split("?")[0].upper().replace("NI:///SHA-256;", "ni:///sha-256;")
    response = speakers.capture(document(event), brand)
    assert response.status_code == 202, response.text
    assert response.json()["eventIDs"] == [computed]


def test_attack_event_stored_with_a_foreign_event_id_is_served_under_its_hash(
        speakers: Speakers) -> None:
    # A store written before the capture check (or by another writer) may hold an event whose
    # body names another id: a repository serves the id that is the event's hash, always.
    from ledger.epcis.document import parse_document
    from ledger.proofs.signing import build_signed_capture
    from ledger.store.store import Store

    brand = speakers.parties.get("brand") or speakers.admit("brand", ["ENTERPRISE"])
    fake = "ni:///sha-256;" + "cd" * 32 + "?ver=CBV2.0"
    doc = document(object_event(["https://id.gs1.org/01/09506000134352/21/ev-4"], "receiving",
                                eventID=fake))
    parsed = parse_document(doc)
    ids = event_hashes(doc)
    sig = speakers.sign(doc, brand)
    signed = build_signed_capture(list(parsed.events), parsed.context, ids, sig,
                                  speakers.domain, seed=capture_seeds.seed_of(sig))
    store = Store(speakers.database_url)
    try:
        store.accept_capture(signed)  # what the intake would refuse
    finally:
        store.close()
    computed = format_event_id(ids[0])
    got = speakers.member_get(brand, "/events/" + urllib.parse.quote(computed, safe=""))
    assert got.status_code == 200, got.text
    (event,) = got.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert event["eventID"] == computed
    assert speakers.member_get(brand, "/events/" + urllib.parse.quote(fake, safe="")
                               ).status_code == 404
