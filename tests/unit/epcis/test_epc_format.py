"""GS1-EPC-Format on the way out (`ledger.epcis.epc_format`): every GS1 key of an answer in the
asked form, the event id unchanged (the hash canonicalises URN and Digital Link alike), the
input never modified, and a key whose company prefix is unknown left as it was."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.epcis.epc_format import EpcFormat, key_probe, translate_event
from ledger.epcis.event_hash import _document_parts, event_ids
from ledger.epcis.gs1 import urn_to_digital_link
from ledger.paths import SHARED_DIR

EXAMPLES = SHARED_DIR / "conformance" / "epcis" / "examples"


def _ids(context: object, events: list[dict]) -> list[str]:
    return event_ids({"@context": context, "type": "EPCISDocument",
                      "epcisBody": {"eventList": events}})


def _any_prefix(probe: str) -> str:
    """A registry that knows a 7-digit prefix for every key: any length gives a valid URN."""
    return probe[1:8]


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason=f"no conformance data at {EXAMPLES}")
@pytest.mark.parametrize("fmt", list(EpcFormat))
def test_the_standards_examples_keep_their_ids_in_every_format(fmt: EpcFormat) -> None:
    checked = 0
    for path in sorted(EXAMPLES.glob("*.jsonld")):
        context, events, _ = _document_parts(json.loads(path.read_text(encoding="utf-8")))
        before = copy.deepcopy(events)
        out = [translate_event(e, fmt, _any_prefix)[0] for e in events]
        assert _ids(context, out) == _ids(context, events), path.name
        assert events == before  # the input, like the stored event, is never rewritten
        checked += len(events)
    assert checked > 20


@pytest.mark.parametrize(("urn", "prefix"), [
    ("urn:epc:id:sgtin:0614141.107346.2018", "0614141"),
    ("urn:epc:id:sgtin:061414112.1073.A%2FB", "061414112"),
    ("urn:epc:class:lgtin:4012345.012345.998877", "4012345"),
    ("urn:epc:idpat:sgtin:4012345.012345.*", "4012345"),
    ("urn:epc:id:sscc:0614141.1234567890", "0614141"),
    ("urn:epc:id:sgln:0614141.07346.1234", "0614141"),
    ("urn:epc:id:sgln:0614141.07346.0", "0614141"),
    ("urn:epc:id:pgln:0614141.07346", "0614141"),
    ("urn:epc:id:grai:0614141.12345.400", "0614141"),
    ("urn:epc:id:giai:0614141.12345ABC", "0614141"),
])
def test_a_digital_link_becomes_the_urn_of_its_registered_prefix(urn: str, prefix: str) -> None:
    dl = urn_to_digital_link(urn)
    probe = key_probe(dl)
    assert probe is not None and probe[1].startswith(prefix)
    event = {"type": "ObjectEvent", "epcList": [dl], "readPoint": {"id": dl}}
    out, complete = translate_event(event, EpcFormat.ALWAYS_EPC_URN,
                                    lambda p: prefix if p == probe[0] else None)
    assert complete and out["epcList"] == [urn] and out["readPoint"]["id"] == urn
    back, complete = translate_event(out, EpcFormat.ALWAYS_GS1_DIGITAL_LINK)
    assert complete and back["epcList"] == [dl]


@pytest.mark.parametrize("registry", [lambda p: None, lambda p: "1234567", lambda p: "95"])
def test_a_key_of_unknown_prefix_stays_as_captured_and_says_so(registry: object) -> None:
    """Nobody registered it, a prefix not within the key, a prefix too short for a URN."""
    dl = "https://id.gs1.org/01/09506000134352/21/7"
    event = {"type": "ObjectEvent", "epcList": [dl, "urn:epc:id:sscc:0614141.1234567890"]}
    out, complete = translate_event(event, EpcFormat.ALWAYS_EPC_URN, registry)  # type: ignore[arg-type]
    assert out["epcList"] == event["epcList"] and not complete


def test_values_that_are_not_gs1_keys_are_left_alone() -> None:
    event = {"type": "ObjectEvent", "epcList": ["https://example.com/things/1", "urn:uuid:x"],
             "readPoint": {"id": "urn:example:site"}, "bizStep": "shipping"}
    for fmt in EpcFormat:
        out, complete = translate_event(event, fmt, _any_prefix)
        assert out == event and complete


def test_a_captured_digital_link_is_kept_as_written_when_links_are_asked_for() -> None:
    """It is a Digital Link already: its host and its qualifiers stay."""
    dl = "https://brand.example/01/09506000134352/22/V2/10/L1"
    out, complete = translate_event({"epcList": [], "quantityList": [{"epcClass": dl}]},
                                    EpcFormat.ALWAYS_GS1_DIGITAL_LINK)
    assert out["quantityList"][0]["epcClass"] == dl and complete


_CP = st.integers(6, 12).flatmap(lambda n: st.tuples(
    st.text("0123456789", min_size=n, max_size=n),
    st.text("0123456789", min_size=13 - n, max_size=13 - n),
    st.text("ABCXYZabc0123456789", min_size=1, max_size=20)))


@settings(max_examples=200, deadline=None)
@given(_CP)
def test_sgtin_urn_to_link_and_back_is_the_same_urn_and_id(parts: tuple[str, str, str]) -> None:
    cp, ref, serial = parts
    urn = f"urn:epc:id:sgtin:{cp}.{ref}.{serial}"
    event = {"type": "ObjectEvent", "eventTime": "2024-01-01T00:00:00Z",
             "eventTimeZoneOffset": "+00:00", "epcList": [urn], "action": "OBSERVE"}
    linked, _ = translate_event(event, EpcFormat.ALWAYS_GS1_DIGITAL_LINK)
    assert linked["epcList"][0].startswith("https://id.gs1.org/01/")
    back, complete = translate_event(linked, EpcFormat.ALWAYS_EPC_URN, lambda p: cp)
    assert complete and back["epcList"] == [urn]
    assert _ids(None, [linked]) == _ids(None, [back]) == _ids(None, [event])
