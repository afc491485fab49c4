"""EPCIS XML (2.0 and 1.2): the GS1 event-hash XML vectors, the standard's XML examples against
their JSON twins, XML written by the ledger read back to the same events, and the attacks an
XML parser invites (bombs, external entities, size, depth), each refused with its line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.epcis.document import InvalidDocumentError
from ledger.epcis.event_hash import _document_parts, event_ids, prehashes
from ledger.epcis.xml import InvalidXmlError, parse_xml, parse_xml_document, xml_to_jsonld
from ledger.epcis.xml_writer import CbvXmlFormat, write_document, write_query_document
from ledger.paths import SHARED_DIR

CONFORMANCE = SHARED_DIR / "conformance"
VECTORS = CONFORMANCE / "event-hash"
XML_EXAMPLES = CONFORMANCE / "epcis" / "xml-examples"
JSON_EXAMPLES = CONFORMANCE / "epcis" / "examples"
pytestmark = pytest.mark.skipif(not VECTORS.is_dir(), reason=f"no conformance data at {VECTORS}")


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _xml_vectors() -> list[Path]:
    return sorted(p for p in VECTORS.glob("*.xml") if p.with_suffix(".hashes").exists())


def _read(path: Path) -> dict:
    """The vector as a capture would read it: against the XSD where it is valid. Some published
    vectors are not (1.2 namespace with 2.0 fields, a query document without EPCISBody): those
    are read without the schema, since their hashes are what they check."""
    data = path.read_bytes()
    try:
        return xml_to_jsonld(data)
    except InvalidXmlError as exc:
        assert "XSD" in str(exc), exc
        return xml_to_jsonld(data, validate=False)


def test_every_xml_vector_is_checked() -> None:
    assert len(_xml_vectors()) == len(list(VECTORS.glob("*.xml"))) >= 17
    assert len(list((VECTORS / "expected_equal").glob("*.xml"))) >= 10


@pytest.mark.parametrize("path", _xml_vectors(), ids=lambda p: p.stem)
def test_xml_vector_hashes(path: Path) -> None:
    assert event_ids(_read(path)) == _lines(path.with_suffix(".hashes"))


@pytest.mark.parametrize("path", sorted((VECTORS / "expected_equal").glob("*.xml")),
                         ids=lambda p: p.name)
def test_xml_expected_equal_documents_hash_alike(path: Path) -> None:
    ids = event_ids(_read(path))
    assert len(ids) >= 2
    assert len(set(ids)) == 1


@pytest.mark.parametrize("path", sorted(p for p in VECTORS.glob("*.xml")
                                        if p.with_suffix(".jsonld").exists()),
                         ids=lambda p: p.stem)
def test_xml_and_json_vectors_give_the_same_events(path: Path) -> None:
    """The vectors published in both bindings: the same ids, and the same pre-hash strings."""
    from_json = json.loads(path.with_suffix(".jsonld").read_text(encoding="utf-8"))
    from_xml = _read(path)
    assert prehashes(from_xml) == prehashes(from_json)


def test_the_standards_association_examples_agree_in_xml_and_json() -> None:
    """The one example pair whose XML and JSON state the same events. (The others differ in
    content: the JSON `WithFullCombinationOfFields_*` add certificationInfo and other values,
    `Example_9.6.1` uses another namespace IRI, the error-declaration pair other quantities.)"""
    xml = xml_to_jsonld((XML_EXAMPLES / "AssociationEvent_AssociationEventExamples.xml")
                        .read_bytes())
    from_json: list[str] = []
    for path in sorted(JSON_EXAMPLES.glob("AssociationEvent_*.jsonld")):
        from_json += event_ids(json.loads(path.read_text(encoding="utf-8")))
    assert len(from_json) == 8
    assert sorted(event_ids(xml)) == sorted(from_json)


@pytest.mark.parametrize("path", sorted(p for p in XML_EXAMPLES.glob("*.xml")
                                        if b"EPCISDocument" in p.read_bytes()[:600]
                                        and b"MasterData" not in p.read_bytes()[:600]),
                         ids=lambda p: p.stem)
def test_every_xml_example_of_the_standard_is_a_capture(path: Path) -> None:
    """Each of the standard's XML EPCISDocuments passes the XSD and converts to events."""
    doc = parse_xml_document(path.read_bytes())
    assert doc.events
    assert len(event_ids(doc)) == len(doc.events)


def _json_documents() -> list[Path]:
    return sorted([*JSON_EXAMPLES.glob("*.jsonld"), *VECTORS.glob("*.jsonld")])


@pytest.mark.parametrize("path", _json_documents(), ids=lambda p: p.stem)
def test_json_written_as_xml_is_valid_and_reads_back_to_the_same_events(path: Path) -> None:
    context, events, ignore = _document_parts(json.loads(path.read_text(encoding="utf-8")))
    original = {"@context": context, "type": "EPCISDocument",
                "epcisBody": {"eventList": events}}
    written = write_document(events, context=context, creation_date="2024-01-01T00:00:00Z")
    back = parse_xml(written)  # validates against the XSD
    assert back.version == "2.0"
    assert prehashes(back.jsonld) == prehashes(original)
    query = parse_xml(write_query_document(events, context=context,
                                           creation_date="2024-01-01T00:00:00Z"))
    assert query.kind == "EPCISQueryDocument"
    assert event_ids(query.jsonld) == event_ids(original)


@pytest.mark.parametrize("fmt", list(CbvXmlFormat))
def test_every_cbv_xml_format_is_valid_and_reads_back_to_the_same_events(
        fmt: CbvXmlFormat) -> None:
    """GS1-CBV-XML-Format changes how CBV values are spelt, never what they mean."""
    for path in _json_documents():
        context, events, _ = _document_parts(json.loads(path.read_text(encoding="utf-8")))
        original = {"@context": context, "type": "EPCISDocument",
                    "epcisBody": {"eventList": events}}
        written = write_query_document(events, context=context, cbv_format=fmt,
                                       creation_date="2024-01-01T00:00:00Z")
        assert event_ids(parse_xml(written).jsonld) == event_ids(original), path.name


@pytest.mark.parametrize(("fmt", "step", "reason", "kind"), [
    (CbvXmlFormat.ALWAYS_URN, "urn:epcglobal:cbv:bizstep:shipping",
     "urn:epcglobal:cbv:er:incorrect_data", "urn:epcglobal:cbv:btt:po"),
    (CbvXmlFormat.ALWAYS_WEB_URI, "https://ref.gs1.org/cbv/BizStep-shipping",
     "https://ref.gs1.org/cbv/ER-incorrect_data", "https://ref.gs1.org/cbv/BTT-po"),
    (CbvXmlFormat.NEVER_TRANSLATES, "https://ref.gs1.org/cbv/BizStep-shipping",
     "urn:epcglobal:cbv:er:incorrect_data", "urn:epcglobal:cbv:btt:po"),
    (CbvXmlFormat.NO_PREFERENCE, "https://ref.gs1.org/cbv/BizStep-shipping",
     "urn:epcglobal:cbv:er:incorrect_data", "urn:epcglobal:cbv:btt:po"),
])
def test_cbv_xml_format_spells_each_term(fmt: CbvXmlFormat, step: str, reason: str,
                                         kind: str) -> None:
    """Always_*: every CBV term in that form, whatever form it came in; otherwise a URI is kept
    as captured and a bare term is written as the binding's URN."""
    from lxml import etree

    event = {"type": "ObjectEvent", "eventTime": "2024-01-01T00:00:00Z",
             "eventTimeZoneOffset": "+00:00", "epcList": [], "action": "OBSERVE",
             "bizStep": "https://ref.gs1.org/cbv/BizStep-shipping",
             "disposition": "urn:epcglobal:cbv:disp:in_transit",
             "bizTransactionList": [{"type": "po", "bizTransaction": "urn:epc:id:gdti:0614141.00001.1"}],
             "errorDeclaration": {"declarationTime": "2024-01-02T00:00:00Z",
                                  "reason": "incorrect_data"},
             "example:other": "shipping"}
    root = etree.fromstring(write_query_document([event], creation_date="2024-01-01T00:00:00Z",
                                                 cbv_format=fmt))
    assert root.findtext(".//bizStep") == step
    assert root.findtext(".//reason") == reason
    assert root.find(".//bizTransactionList/bizTransaction").get("type") == kind
    web = fmt is CbvXmlFormat.ALWAYS_WEB_URI
    assert root.findtext(".//disposition") == (
        "https://ref.gs1.org/cbv/Disp-in_transit" if web else "urn:epcglobal:cbv:disp:in_transit")


# ------------------------------------------------------------------------------------------
# EPCIS 1.2, as ERPs send it
# ------------------------------------------------------------------------------------------
DOC_12 = b"""<?xml version="1.0" encoding="UTF-8"?>
<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:1" xmlns:ex="https://ex.example/ns/"
    schemaVersion="1.2" creationDate="2024-05-01T10:00:00Z">
  <EPCISBody>
    <EventList>
      <ObjectEvent>
        <eventTime>2024-05-01T12:00:00.000+02:00</eventTime>
        <eventTimeZoneOffset>+02:00</eventTimeZoneOffset>
        <baseExtension>
          <errorDeclaration>
            <declarationTime>2024-05-02T10:00:00Z</declarationTime>
            <reason>urn:epcglobal:cbv:er:incorrect_data</reason>
          </errorDeclaration>
        </baseExtension>
        <epcList><epc>urn:epc:id:sgtin:4012345.011111.1001</epc></epcList>
        <action>OBSERVE</action>
        <bizStep>urn:epcglobal:cbv:bizstep:shipping</bizStep>
        <disposition>urn:epcglobal:cbv:disp:in_transit</disposition>
        <readPoint><id>urn:epc:id:sgln:4012345.00001.0</id></readPoint>
        <bizTransactionList>
          <bizTransaction type="urn:epcglobal:cbv:btt:po">urn:epcglobal:cbv:bt:4012345000009:PO-1</bizTransaction>
        </bizTransactionList>
        <extension>
          <quantityList>
            <quantityElement>
              <epcClass>urn:epc:class:lgtin:4012345.011111.LOT7</epcClass>
              <quantity>12.5</quantity>
              <uom>KGM</uom>
            </quantityElement>
          </quantityList>
          <destinationList>
            <destination type="urn:epcglobal:cbv:sdt:owning_party">urn:epc:id:pgln:4012345.00000</destination>
          </destinationList>
          <ilmd><ex:bestBefore>2025-01-01</ex:bestBefore></ilmd>
        </extension>
        <ex:note>fragile</ex:note>
      </ObjectEvent>
      <extension>
        <TransformationEvent>
          <eventTime>2024-05-01T13:00:00Z</eventTime>
          <eventTimeZoneOffset>+00:00</eventTimeZoneOffset>
          <inputEPCList><epc>urn:epc:id:sgtin:4012345.011111.1001</epc></inputEPCList>
          <outputEPCList><epc>urn:epc:id:sgtin:4012345.022222.2001</epc></outputEPCList>
          <bizStep>urn:epcglobal:cbv:bizstep:commissioning</bizStep>
        </TransformationEvent>
      </extension>
    </EventList>
  </EPCISBody>
</epcis:EPCISDocument>
"""

JSON_OF_DOC_12 = [
    {"type": "ObjectEvent", "eventTime": "2024-05-01T12:00:00.000+02:00",
     "eventTimeZoneOffset": "+02:00",
     "errorDeclaration": {"declarationTime": "2024-05-02T10:00:00Z", "reason": "incorrect_data"},
     "epcList": ["urn:epc:id:sgtin:4012345.011111.1001"], "action": "OBSERVE",
     "bizStep": "shipping", "disposition": "in_transit",
     "readPoint": {"id": "urn:epc:id:sgln:4012345.00001.0"},
     "bizTransactionList": [{"type": "po",
                             "bizTransaction": "urn:epcglobal:cbv:bt:4012345000009:PO-1"}],
     "quantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.011111.LOT7", "quantity": 12.5,
                       "uom": "KGM"}],
     "destinationList": [{"type": "owning_party",
                          "destination": "urn:epc:id:pgln:4012345.00000"}],
     "ilmd": {"ex:bestBefore": "2025-01-01"}, "ex:note": "fragile"},
    {"type": "TransformationEvent", "eventTime": "2024-05-01T13:00:00Z",
     "eventTimeZoneOffset": "+00:00", "inputEPCList": ["urn:epc:id:sgtin:4012345.011111.1001"],
     "outputEPCList": ["urn:epc:id:sgtin:4012345.022222.2001"], "bizStep": "commissioning"},
]


def test_epcis_12_document_is_validated_and_converted_with_its_extension_wrappers() -> None:
    converted = parse_xml(DOC_12)
    assert converted.version == "1.2"
    assert converted.jsonld["epcisBody"]["eventList"] == JSON_OF_DOC_12
    context = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
               {"ex": "https://ex.example/ns/"}]
    as_json = {"@context": context, "type": "EPCISDocument",
               "epcisBody": {"eventList": JSON_OF_DOC_12}}
    assert event_ids(converted.jsonld) == event_ids(as_json)


def test_epcis_12_document_is_held_to_the_12_schema() -> None:
    broken = DOC_12.replace(b"<action>OBSERVE</action>", b"<action>LOOK</action>")
    with pytest.raises(InvalidXmlError, match="EPCIS 1.2 XSD") as caught:
        parse_xml(broken)
    assert caught.value.line == DOC_12[:DOC_12.index(b"<action>")].count(b"\n") + 1


# ------------------------------------------------------------------------------------------
# Bad input: refused with the line, never expanded, never fetched
# ------------------------------------------------------------------------------------------
HEAD = b'<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" schemaVersion="2.0" ' \
       b'creationDate="2024-01-01T00:00:00Z"><EPCISBody><EventList>'
TAIL = b"</EventList></EPCISBody></epcis:EPCISDocument>"


def test_attack_billion_laughs_is_refused_unexpanded() -> None:
    entities = b"".join(b'<!ENTITY l%d "&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;">'
                        % ((i,) + (i - 1,) * 10) for i in range(1, 10))
    bomb = (b'<?xml version="1.0"?>\n<!DOCTYPE epcis:EPCISDocument [<!ENTITY l0 "lol">'
            + entities + b"]>\n" + HEAD + b"<ObjectEvent><eventTime>&l9;</eventTime>"
            b"</ObjectEvent>" + TAIL)
    # libxml2 stops the amplification itself; the DTD rule would refuse it next
    with pytest.raises(InvalidXmlError, match="DTD|entity amplification") as caught:
        parse_xml(bomb)
    assert caught.value.status == 400
    small = (b'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY l0 "lol">]>\n' + HEAD
             + b"<ObjectEvent><eventTime>&l0;</eventTime></ObjectEvent>" + TAIL)
    with pytest.raises(InvalidXmlError, match="DTD"):
        parse_xml(small)


def test_attack_external_entity_is_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE", encoding="utf-8")
    xxe = (b'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "' + secret.as_uri().encode()
           + b'">]>\n' + HEAD + b"<ObjectEvent><eventTime>&x;</eventTime></ObjectEvent>" + TAIL)
    with pytest.raises(InvalidXmlError) as caught:
        parse_xml(xxe, validate=False)
    assert "TOP-SECRET" not in str(caught.value)


def test_attack_external_dtd_is_refused() -> None:
    doc = b'<?xml version="1.0"?>\n<!DOCTYPE d SYSTEM "http://127.0.0.1:9/evil.dtd">\n' + HEAD + TAIL
    with pytest.raises(InvalidXmlError, match="DTD"):
        parse_xml(doc)


def test_a_bare_doctype_as_in_the_standards_examples_is_accepted() -> None:
    doc = parse_xml_document((XML_EXAMPLES / "WithEventHashID_event_with_identical_hash_id_1.xml")
                             .read_bytes())
    assert len(doc.events) >= 1


def test_attack_oversized_document_is_refused_before_parsing() -> None:
    big = HEAD + b"<!--" + b"x" * (2 * 1024 * 1024) + b"-->" + TAIL
    with pytest.raises(InvalidXmlError, match="at most 1048576") as caught:
        parse_xml(big, max_bytes=1024 * 1024)
    assert caught.value.fields["size"] == len(big)


def test_attack_deep_nesting_is_refused() -> None:
    depth = 200
    deep = (HEAD + b'<ObjectEvent xmlns:ex="https://ex.example/"><eventTime>2024-01-01T00:00:00Z'
            b"</eventTime><eventTimeZoneOffset>+00:00</eventTimeZoneOffset><epcList/>"
            b"<action>OBSERVE</action>" + b"<ex:a>" * depth + b"x" + b"</ex:a>" * depth
            + b"</ObjectEvent>" + TAIL)
    with pytest.raises(InvalidXmlError, match="nested deeper"):
        parse_xml(deep)


def test_malformed_xml_names_its_line() -> None:
    doc = HEAD + b"\n\n<ObjectEvent>\n<eventTime>2024</eventTim>\n" + TAIL
    with pytest.raises(InvalidXmlError, match="line 4") as caught:
        parse_xml(doc)
    assert caught.value.line == 4
    assert caught.value.slug == "invalid-epcis-xml"


def test_schema_failure_names_its_line() -> None:
    doc = (HEAD + b"\n<ObjectEvent>\n<eventTime>2024-01-01T00:00:00Z</eventTime>\n"
           b"<eventTimeZoneOffset>+00:00</eventTimeZoneOffset>\n<epcList/>\n"
           b"<action>SOMETIMES</action>\n</ObjectEvent>" + TAIL)
    with pytest.raises(InvalidXmlError, match="EPCIS 2.0 XSD") as caught:
        parse_xml(doc)
    assert caught.value.line == 6


def test_query_document_is_not_a_capture() -> None:
    query = write_query_document(JSON_OF_DOC_12[1:], creation_date="2024-01-01T00:00:00Z")
    with pytest.raises(InvalidDocumentError, match="query result"):
        parse_xml_document(query)


def test_not_an_epcis_root_is_refused() -> None:
    with pytest.raises(InvalidXmlError, match="expected an EPCISDocument"):
        parse_xml(b"<html><body/></html>")


@pytest.mark.parametrize("version", ["2.0", "1.2"])
def test_vendored_xsd_equal_the_conformance_copies(version: str) -> None:
    from ledger.epcis.xml import _SCHEMA_FILES

    vendored = _SCHEMA_FILES[version].parent
    upstream = CONFORMANCE / "epcis" / ("xsd" if version == "2.0" else "xsd-1.2")
    names = sorted(p.name for p in upstream.glob("*.xsd"))
    assert names == sorted(p.name for p in vendored.glob("*.xsd"))
    for name in names:
        assert (vendored / name).read_bytes() == (upstream / name).read_bytes(), name
