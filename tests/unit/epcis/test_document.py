"""EPCIS 2.0 capture documents: every GS1 example accepted, broken ones rejected with a pointer."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from ledger.epcis.document import InvalidDocumentError, event_epcs, parse_document, validate_event
from ledger.epcis.event_hash import event_ids
from ledger.errors import InvalidInputError
from ledger.paths import SHARED_DIR

EXAMPLES = SHARED_DIR / "conformance" / "epcis" / "examples"
pytestmark = pytest.mark.skipif(not EXAMPLES.is_dir(), reason=f"no conformance data at {EXAMPLES}")
CAPTURES = sorted(p for p in EXAMPLES.glob("*.jsonld") if p.name != "EPCISQueryDocument.jsonld")


def _load(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.stem)
def test_every_capture_example_is_accepted(path: Path) -> None:
    document = parse_document(path.read_bytes())
    raw = json.loads(path.read_bytes())
    assert document.events == tuple(raw["epcisBody"].get("eventList") or [raw["epcisBody"]["event"]])
    assert len(event_ids(document)) == len(document.events)
    for event in document.events:
        validate_event(event)


def test_example_inventory_covers_all_event_types_sensors_and_errors() -> None:
    types, sensors, errors = set(), 0, 0
    for path in CAPTURES:
        for event in parse_document(path.read_bytes()).events:
            types.add(event["type"])
            sensors += "sensorElementList" in event
            errors += "errorDeclaration" in event
    assert types == {"ObjectEvent", "AggregationEvent", "TransactionEvent",
                     "TransformationEvent", "AssociationEvent"}
    assert sensors > 0 and errors > 0
    assert len(CAPTURES) >= 40


BASE = "Example_9.6.1-ObjectEvent.jsonld"


def _broken(mutate) -> dict:
    document = copy.deepcopy(_load(BASE))
    mutate(document)
    return document


@pytest.mark.parametrize(("mutate", "pointer"), [
    (lambda d: d["epcisBody"]["eventList"][1].update(action="JUMP"),
     "/epcisBody/eventList/1/action"),
    (lambda d: d["epcisBody"]["eventList"][0].update(eventTime="2020-01-01T10:00:00"),
     "/epcisBody/eventList/0/eventTime"),
    (lambda d: d["epcisBody"]["eventList"][0].pop("eventTime"), "/epcisBody/eventList/0"),
    (lambda d: d["epcisBody"]["eventList"][0].update(epcList="urn:epc:id:sgtin:1.2.3"),
     "/epcisBody/eventList/0/epcList"),
    (lambda d: d.pop("@context"), ""),
    (lambda d: d.update(type="EPCISQueryDocument"), "/type"),
    (lambda d: d.update(type="Spreadsheet"), "/type"),
])
def test_broken_documents_are_rejected_with_a_pointer(mutate, pointer: str) -> None:
    with pytest.raises(InvalidDocumentError) as caught:
        parse_document(_broken(mutate))
    assert caught.value.pointer == pointer
    assert caught.value.detail.startswith(pointer or "the document")
    assert isinstance(caught.value, InvalidInputError)
    assert caught.value.to_problem()["pointer"] == pointer


@pytest.mark.parametrize("text", [b"{", b"[]", b"{\"type\": NaN}", b"\xff\xfe"])
def test_not_json_or_not_an_object(text: bytes) -> None:
    # UTF-16 (\xff\xfe is its byte-order mark) is refused by the pre-parse check of the JSON
    # text (ledger.epcis.json_text.JsonEncodingError), before json.loads would decode it.
    with pytest.raises(InvalidInputError):
        parse_document(text)


def test_size_and_event_count_limits() -> None:
    text = (EXAMPLES / BASE).read_bytes()
    with pytest.raises(InvalidDocumentError, match="bytes"):
        parse_document(text, max_bytes=len(text) - 1)
    assert parse_document(text, max_bytes=len(text)).events
    with pytest.raises(InvalidDocumentError) as caught:
        parse_document(text, max_events=1)
    assert caught.value.pointer == "/epcisBody/eventList"


def test_a_single_event_is_a_document_of_one() -> None:
    document = _load(BASE)
    event = {"@context": document["@context"], **document["epcisBody"]["eventList"][0]}
    parsed = parse_document(json.dumps(event))
    assert len(parsed.events) == 1 and "@context" not in parsed.events[0]
    assert event_ids(parsed) == event_ids(document)[:1]


def test_validate_event_points_inside_the_event() -> None:
    event = copy.deepcopy(_load(BASE)["epcisBody"]["eventList"][0])
    event["action"] = "JUMP"
    with pytest.raises(InvalidDocumentError) as caught:
        validate_event(event, pointer="/epcisBody/eventList/3")
    assert caught.value.pointer == "/epcisBody/eventList/3/action"


def test_event_epcs_by_role_in_canonical_digital_link() -> None:
    event = _load("Example_9.6.3-AggregationEvent.jsonld")["epcisBody"]["eventList"][0]
    epcs = event_epcs(event)
    assert set(epcs) == {"epc", "parent", "child", "input", "output", "class"}
    assert epcs["parent"] == ["https://id.gs1.org/00/106141412345678908"]
    assert "https://id.gs1.org/01/10614141073464/21/2017" in epcs["child"]
    assert epcs["epc"] == []
    urn = {"type": "ObjectEvent", "epcList": ["urn:epc:id:sgtin:0614141.107346.2017",
                                             "https://example.com/01/10614141073464/21/2017",
                                             "urn:example:not-gs1"]}
    assert event_epcs(urn)["epc"] == ["https://id.gs1.org/01/10614141073464/21/2017",
                                      "urn:example:not-gs1"]


def test_vendored_schema_equals_the_official_one() -> None:
    from ledger.epcis.document import SCHEMA_FILE
    from ledger.paths import SHARED_DIR

    official = SHARED_DIR / "conformance" / "epcis" / "schema" / "EPCIS-JSON-Schema.json"
    if not official.exists():
        pytest.skip(f"no conformance folder at {official.parent}")
    assert SCHEMA_FILE.read_bytes() == official.read_bytes()


@pytest.mark.parametrize("epcs", [
    {"epc": ["https://id.gs1.org/01/10614141073464/21/2017"]},
    {"class": ["https://id.gs1.org/01/10614141073464/10/LOT-7"]},
    {"output": ["https://id.gs1.org/01/10614141073464/10/L%2F1/21/9"]},
    {"epc": ["https://id.gs1.org/01/1061414107346/21/short"]},
    {"epc": ["https://id.gs1.org/01/106141410734645/21/long"]},
    {"epc": ["https://id.gs1.org/01/10614141073464/10/"]},
    {"epc": ["https://id.gs1.org/01/10614141073464/10/A?x=1"]},
    {"epc": ["https://example.com/01/10614141073464/10/B"], "class": []},
    {"child": ["urn:epc:id:sgtin:0614141.107346.2017"],
     "input": ["https://id.gs1.org/01/20614141073461/10/C"]},
])
def test_gtin_lot_shortcut_reads_links_as_the_pattern_does(
        epcs: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    from ledger.store import store

    fast = store._gtin_lot({}, epcs)
    monkeypatch.setattr(store, "_ID_GTIN", "\0")  # no link takes the shortcut
    assert fast == store._gtin_lot({}, epcs)
