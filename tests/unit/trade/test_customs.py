"""Customs domain pieces that need no chain: ids, declarations, the inspecting event."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.chain.decisions import Decision
from ledger.epcis.document import parse_document
from ledger.errors import InvalidInputError
from ledger.proofs.capture import event_leaf
from ledger.proofs.codes import org_id
from ledger.proofs.merkle import keccak256, process_proof
from ledger.trade.complaints import InvalidComplaintError, clean_text
from ledger.trade.customs import (
    Declaration,
    Inspection,
    InvalidConsignmentError,
    consignment_key,
    events_root,
    inspecting_document,
    inspecting_event,
)
from ledger.trade.risk import load_rules

ORG = org_id("4712345600017")


def test_consignment_keys_are_stable_and_hex_keys_pass_through() -> None:
    assert consignment_key("CN-NS-1") == consignment_key("CN-NS-1") != consignment_key("CN-NS-2")
    raw = "0x" + "ab" * 32
    assert consignment_key(raw) == bytes.fromhex("ab" * 32)
    for bad in ("", "has space", "x" * 65, "0x" + "00" * 32, "../etc"):
        with pytest.raises(InvalidConsignmentError):
            consignment_key(bad)


@pytest.mark.parametrize("kwargs", [
    {"origin_country": "nz"}, {"category": "04.02"}, {"enterprise": bytes(32)},
    {"event_ids": (b"short",)},
])
def test_declarations_refuse_malformed_facts(kwargs) -> None:
    base = {"consignment": "CN-1", "enterprise": ORG}
    with pytest.raises(InvalidConsignmentError):
        Declaration(**(base | kwargs))


@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=20, unique=True),
       st.data())
def test_each_covered_event_proves_into_the_root_the_event_names(ids, data) -> None:
    # The root is over the covered events' commitments (here stand-ins), in the ids' order.
    commitments = [keccak256(b"c" + i) for i in ids]
    d = Declaration("CN-1", ORG, event_ids=tuple(ids))
    event = inspecting_event(d, Decision.NORMAL_CONTROL, Inspection.PASSED, load_rules(),
                             event_time="2024-05-01T00:00:00Z", commitments=commitments)
    root = bytes.fromhex(event["zhenzhi:eventsRoot"][2:])
    assert root == events_root(commitments) != events_root(ids)
    from ledger.proofs.capture import events_tree

    i = data.draw(st.integers(0, len(ids) - 1))
    assert process_proof(event_leaf(commitments[i]), events_tree(commitments).proof(i)) == root
    with pytest.raises(InvalidInputError):  # one commitment per covered event
        inspecting_event(d, Decision.NORMAL_CONTROL, Inspection.PASSED, load_rules(),
                         event_time="2024-05-01T00:00:00Z", commitments=commitments[1:])


def test_inspecting_event_is_valid_epcis_with_the_outcome_as_disposition() -> None:
    d = Declaration("CN-1", ORG, "NZ", "040221")
    for inspection, disposition in ((Inspection.PASSED, "conformant"),
                                    (Inspection.FAILED, "non_conformant"),
                                    (Inspection.NOT_INSPECTED, None)):
        event = inspecting_event(d, Decision.DIRECT_RELEASE, inspection, load_rules(),
                                 event_time="2024-05-01T00:00:00Z",
                                 epcs=["https://id.gs1.org/01/04712345600176/21/A1"])
        doc = parse_document(inspecting_document(event, created="2024-05-01T00:00:00Z"))
        (parsed,) = doc.events
        assert parsed.get("disposition") == disposition
        assert parsed["zhenzhi:enterprise"] == "0x" + ORG.hex()


@given(st.text(max_size=300))
def test_complaint_text_is_never_stored_with_control_characters(text) -> None:
    try:
        cleaned = clean_text(text, 200)
    except InvalidComplaintError:
        return
    assert cleaned and len(cleaned) <= 200 and cleaned == cleaned.strip()
    assert all(c == "\n" or ord(c) >= 32 and not 0x7F <= ord(c) < 0xA0 for c in cleaned)
