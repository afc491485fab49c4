"""The shopper's proof reveals what concerns the one item and nothing else (issue 17)."""

from __future__ import annotations

import hashlib
import json

from ledger.evidence.public import item_path, public_bundle
from ledger.proofs.bundle import Bundle, CaptureEvidence, ChainRef, CustomsEvidence, EventEvidence
from ledger.proofs.capture import CaptureSignature, events_tree
from ledger.proofs.disclosure import Disclosed, commit_document, new_seed, read_disclosed

GTIN = "09521234500018"
ITEM = f"https://id.gs1.org/01/{GTIN}/21/SECRETSERIAL0001"
OTHERS = [f"https://id.gs1.org/01/{GTIN}/21/OTHERSERIAL{i:04d}" for i in range(3)]
CASE = "https://id.gs1.org/00/195212345000000017"
PO = "urn:epcglobal:cbv:bt:9521234500006:PO-4711"

EVENTS = [
    {"type": "ObjectEvent", "eventTime": "2026-01-01T00:00:00Z", "eventTimeZoneOffset": "+00:00",
     "action": "ADD", "bizStep": "commissioning", "epcList": [ITEM, *OTHERS],
     "bizLocation": {"id": "https://id.gs1.org/414/9521234500013"},
     "ilmd": {"cbvmda:lotNumber": "L1", "cbvmda:countryOfOrigin": "NZ",
              "example:costPrice": "12.30"}},
    {"type": "AggregationEvent", "eventTime": "2026-01-01T01:00:00Z",
     "eventTimeZoneOffset": "+00:00", "action": "ADD", "bizStep": "packing",
     "parentID": CASE, "childEPCs": [ITEM, OTHERS[0]]},
    {"type": "ObjectEvent", "eventTime": "2026-01-02T00:00:00Z", "eventTimeZoneOffset": "+00:00",
     "action": "OBSERVE", "bizStep": "shipping", "epcList": [CASE],
     "bizTransactionList": [{"type": "po", "bizTransaction": PO}],
     "sourceList": [{"type": "owning_party", "source": "https://id.gs1.org/417/9521234500006"}],
     "destinationList": [{"type": "owning_party",
                          "destination": "https://id.gs1.org/417/6901234500003"}]},
    {"type": "ObjectEvent", "eventTime": "2026-01-03T00:00:00Z", "eventTimeZoneOffset": "+00:00",
     "action": "OBSERVE", "bizStep": "retail_selling", "epcList": [OTHERS[1]]},
]


def _full_bundle() -> Bundle:
    ids = [hashlib.sha256(str(i).encode()).digest() for i in range(len(EVENTS))]
    committed = commit_document(EVENTS, ids, new_seed())
    tree = events_tree([c.commitment for c in committed])
    sig = CaptureSignature(tree.root, len(EVENTS), b"\x01" * 32, 1, 1, b"\x00" * 65)
    events = tuple(EventEvidence(c.commitment, 0, tuple(tree.proof(i)),
                                 tuple(Disclosed(t) for t in c.texts), EVENTS[i], ids[i], None)
                   for i, c in enumerate(committed))
    customs = tuple(CustomsEvidence(b"\x07" * 32, c.commitment, ()) for c in committed)
    return Bundle(ITEM, ChainRef(31337, {"Consortium": "0x" + "11" * 20}), None,
                  (CaptureEvidence(sig, None, None),), events, customs)


def test_the_path_is_the_item_and_its_containers():
    assert item_path(ITEM, EVENTS) == {ITEM, CASE}


def test_a_public_proof_names_no_other_serial_no_transaction_no_party_source_no_id():
    full = _full_bundle()
    public = public_bundle(full)
    text = json.dumps(public.to_json(), ensure_ascii=False)
    assert ITEM in text and CASE in text
    for hidden in (*OTHERS, PO, "PO-4711", "sourceList", "costPrice", "12.30", "ni:///",
                   "eventId", *(e.event_id.hex() for e in full.events)):
        assert hidden not in text, hidden
    # The other item's sale is not about this one: left out, and its customs entry with it.
    assert len(public.events) == 3 and len(public.customs) == 3


def test_every_public_event_still_leads_to_its_signed_commitment():
    full = _full_bundle()
    public = public_bundle(full)
    commitments = {e.commitment for e in full.events}
    for e in public.events:
        root, partial = read_disclosed(e.disclosed)
        assert root == e.commitment and root in commitments
    commissioning = read_disclosed(public.events[0].disclosed)[1]
    assert commissioning["epcList"] == [ITEM]
    assert commissioning["ilmd"] == {"cbvmda:lotNumber": "L1", "cbvmda:countryOfOrigin": "NZ"}
    shipping = read_disclosed(public.events[2].disclosed)[1]
    assert set(shipping) == {"type", "eventTime", "eventTimeZoneOffset", "action", "bizStep",
                             "epcList", "destinationList"}


def test_the_public_json_round_trips():
    public = public_bundle(_full_bundle())
    again = Bundle.loads(public.dumps())
    assert again.to_json() == public.to_json()
    assert all(not e.full for e in again.events)


# --- cold chain: readings are disclosed, devices and links are not -------------------------------

def test_a_sensor_element_is_public_only_when_it_holds_readings_alone():
    from ledger.evidence.public import reading_only

    readings = {"sensorMetadata": {"startTime": "2026-03-01T00:00:00Z",
                                   "endTime": "2026-03-02T00:00:00Z"},
                "sensorReport": [{"type": "Temperature", "uom": "CEL", "minValue": 1.0,
                                  "maxValue": 3.5, "meanValue": 2.1},
                                 {"type": "Temperature", "uom": "FAH", "value": 38.0,
                                  "time": "2026-03-01T06:00:00Z"}]}
    assert reading_only(readings)
    assert reading_only({"sensorReport": [{"type": "Temperature", "value": 2, "uom": "CEL"}]})
    for leak in ({"sensorMetadata": {"deviceID": "urn:epc:id:giai:4000001.111"}},
                 {"sensorMetadata": {"rawData": "https://example.org/raw/1"}},
                 {"sensorMetadata": {"bizRules": "https://example.org/rules"}},
                 {"sensorReport": [{"type": "Temperature", "value": 2, "uom": "CEL",
                                    "deviceID": "urn:epc:id:giai:4000001.111"}]},
                 {"sensorReport": [{"type": "Temperature", "uriValue": "https://id.gs1.org/00/1"}]},
                 {"ext:lot": "other goods"}):
        element = {**readings, **leak}
        if "sensorReport" in leak:
            element["sensorReport"] = leak["sensorReport"]
        assert not reading_only(element), leak


def test_attack_an_altered_disclosure_is_refused_after_the_genuine_event_was_cut():
    """The cut keeps each event's checked disclosure tree, since every can of a pallet cuts
    the pallet's events again. A later event with the same commitment and an altered text
    must not be served that tree: it is refused as before."""
    import pytest

    from ledger.errors import InvalidInputError
    from ledger.evidence.public import public_event

    full = _full_bundle()
    path = item_path(ITEM, EVENTS)
    public_event(full.events[0], path)  # the genuine event's tree is now kept
    genuine = full.events[0]
    texts = [d.text for d in genuine.disclosed]
    at = next(i for i, t in enumerate(texts) if '"bizStep"' in t)
    texts[at] = texts[at].replace("commissioning", "decommissioning")
    assert texts != [d.text for d in genuine.disclosed]
    forged = EventEvidence(genuine.commitment, genuine.capture, genuine.proof,
                           tuple(Disclosed(t) for t in texts), genuine.event, genuine.event_id,
                           None)
    with pytest.raises(InvalidInputError):
        public_event(forged, path)
    # And the genuine one is still cut the same way (served from what was kept).
    assert public_event(genuine, path) == public_event(full.events[0], path)
