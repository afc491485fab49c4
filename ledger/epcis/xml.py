"""EPCIS XML documents (2.0, and 1.2 as ERPs still emit them): read safely, validate against
the standard's XSD, convert to the JSON-LD event model every other part of the ledger uses.

    data ─▶ size cap ─▶ lxml (no DTD, no entities, no network) ─▶ XSD ─▶ JSON-LD document

The conversion follows the standard's XML ↔ JSON-LD mapping, so that an event captured as XML
has the same CBV 2.0 event id as the same event captured as JSON (the GS1 event-hash XML
vectors in `conformance/event-hash/` check it):

- `<epcList><epc>…` → `"epcList": [...]` (likewise childEPCs, inputEPCList, outputEPCList);
  `<quantityElement>` → `{"epcClass", "quantity" (a number), "uom"}`;
- `<bizTransaction type="…">v</bizTransaction>` → `{"type", "bizTransaction": v}`, and the
  same for source and destination;
- `<readPoint><id>` → `{"id"}`; `<sensorMetadata a="…"/>` and `<sensorReport a="…"/>`
  attributes → members (numbers and booleans typed as the JSON schema types them);
- `<persistentDisposition><set>…` → `{"set": [...], "unset": [...]}`; errorDeclaration's
  `<correctiveEventIDs><correctiveEventID>` → `"correctiveEventIDs": [...]`;
- elements in other namespaces (user extensions, in an event, in ilmd, in a sensorElement…)
  → `"prefix:local"` keys, the prefixes declared in the document's `@context`, an element with
  children becoming an object (a repeated child a list), attributes becoming members;
- EPCIS 1.2's `<extension>` and `<baseExtension>` wrappers are transparent (their content
  belongs to the enclosing element, as in 2.0), and 1.2's TransformationEvent inside
  `<EventList><extension>` is an event like the others.

Safety: the document is refused before it is parsed if it is larger than `max_bytes`; the
parser resolves no entity, loads no DTD, reaches no network and keeps libxml2's limits on
tree size and depth (`huge_tree=False`); a document whose DOCTYPE declares anything or names
an external DTD is refused, since every XML bomb and external-entity read starts with one
(a bare `<!DOCTYPE name>` is
let through: some of the standard's own examples carry one, and it declares nothing). Nesting deeper than
`max_depth` elements is refused. Every error names the line (`InvalidXmlError.line`).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.epcis.document import InvalidDocumentError
from ledger.epcis.event_hash import _BIZSTEPS, _BTTS, _DISPOSITIONS, _REASONS, _SDTS

__all__ = [
    "DEFAULT_MAX_XML_BYTES",
    "EPCIS_CONTEXT",
    "InvalidXmlError",
    "XmlDocument",
    "is_xml",
    "parse_xml",
    "parse_xml_document",
    "xml_to_jsonld",
]

DEFAULT_MAX_XML_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_XML_DEPTH = 64
EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
_SCHEMAS = Path(__file__).resolve().parent / "schemas"
NS_EPCIS = {"urn:epcglobal:epcis:xsd:2": "2.0", "urn:epcglobal:epcis:xsd:1": "1.2"}
NS_QUERY = {"urn:epcglobal:epcis-query:xsd:2": "2.0", "urn:epcglobal:epcis-query:xsd:1": "1.2"}
_SCHEMA_FILES = {"2.0": _SCHEMAS / "xsd-2.0" / "EPCglobal-epcis-query-2_0.xsd",
                 "1.2": _SCHEMAS / "xsd-1.2" / "EPCglobal-epcis-query-1_2.xsd"}
_EVENT_TYPES = frozenset(("ObjectEvent", "AggregationEvent", "TransactionEvent",
                          "TransformationEvent", "AssociationEvent"))
# Well-known namespaces keep their usual prefixes (and the JSON-LD context's meaning).
_GS1 = "https://gs1.org/voc/"
_CBV = "https://ref.gs1.org/cbv/"
_KNOWN_PREFIXES = {_GS1: "gs1", _CBV: "cbv"}
_UNDECLARED = "urn:zhenzhi:undeclared-prefix:"


class InvalidXmlError(InvalidDocumentError):
    """The XML is not an acceptable EPCIS document: `line` (1-based, 0 if unknown) says where."""

    slug = "invalid-epcis-xml"
    title = "Invalid EPCIS XML document"

    def __init__(self, detail: str, *, line: int = 0, **fields: Any) -> None:
        where = f"line {line}: " if line else ""
        super().__init__(where + detail, line=line, **fields)
        self.line = line


@dataclass(frozen=True, slots=True)
class XmlDocument:
    """A converted XML document: the JSON-LD form, and which EPCIS version it was written in."""

    jsonld: dict[str, Any]
    version: str  # "2.0" or "1.2"
    kind: str  # "EPCISDocument" or "EPCISQueryDocument"


# --------------------------------------------------------------------------------------------
# Reading: bounded, no DTD, no entities, one compiled schema per version and thread
# --------------------------------------------------------------------------------------------
_local = threading.local()


def _parser() -> Any:
    from lxml import etree

    # One parser per thread: lxml parsers must not be used by two threads at once.
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
            huge_tree=False, remove_comments=True, remove_pis=True)
    return parser


def _schema(version: str) -> Any:
    """The standard's XSD (the query schema, which imports the document schema), compiled once
    per thread: lxml validators are not shared between threads."""
    from lxml import etree

    schemas = getattr(_local, "schemas", None)
    if schemas is None:
        schemas = _local.schemas = {}
    schema = schemas.get(version)
    if schema is None:
        schema = schemas[version] = etree.XMLSchema(
            etree.parse(str(_SCHEMA_FILES[version]), _parser()))
    return schema


_XML_START = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*<")


def is_xml(data: bytes | str) -> bool:
    """Whether a body looks like XML (its first non-blank character is `<`)."""
    if isinstance(data, str):
        return data.lstrip().startswith("<")
    return bool(_XML_START.match(bytes(data[:64])))


def _read(data: bytes | str, max_bytes: int) -> Any:
    from lxml import etree

    if isinstance(data, str):
        data = data.encode("utf-8")  # lxml refuses str that declares an encoding
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidXmlError("an EPCIS XML document must be bytes or text")
    size = len(data)
    if size > max_bytes:
        raise InvalidXmlError(f"the document is {size} bytes; at most {max_bytes} are accepted",
                              size=size, max_bytes=max_bytes)
    try:
        root = etree.fromstring(bytes(data), _parser())
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or 0
        raise InvalidXmlError(f"not well-formed XML: {exc.msg}", line=line) from None
    info = root.getroottree().docinfo
    dtd = info.internalDTD
    if dtd is not None and (info.system_url or info.public_id or dtd.entities()
                            or dtd.elements() or b"[" in _prolog(data, root)):
        # A bare `<!DOCTYPE name>` (some of the standard's own examples have one) declares
        # nothing; anything more (entities, an external DTD) is how XML bombs and external
        # entity reads begin, and no EPCIS document needs it.
        raise InvalidXmlError("a DTD (external, or with declarations) is not accepted in an "
                              "EPCIS document", line=1, reason="dtd")
    return root


def _prolog(data: bytes | bytearray | memoryview, root: Any) -> bytes:
    """The bytes before the root element's line ends: where a DOCTYPE's internal subset is."""
    lines = (root.sourceline or 1)
    end = -1
    raw = bytes(data[:1 << 20])
    for _ in range(lines):
        end = raw.find(b"\n", end + 1)
        if end < 0:
            return raw
    return raw[:end]


def _validate(root: Any, version: str) -> None:
    schema = _schema(version)
    if schema.validate(root):
        return
    error = schema.error_log.last_error
    first = schema.error_log[0] if len(schema.error_log) else error
    message = re.sub(r"\{[^}]*\}", "", first.message)  # Clark names are noise to a reader
    if len(message) > 300:
        message = message[:297] + "..."
    raise InvalidXmlError(f"not valid against the EPCIS {version} XSD: {message}",
                          line=first.line, schemaVersion=version)


def parse_xml(data: bytes | str, *, max_bytes: int = DEFAULT_MAX_XML_BYTES,
              max_depth: int = DEFAULT_MAX_XML_DEPTH, validate: bool = True) -> XmlDocument:
    """Read, bound, validate and convert an EPCIS 2.0 or 1.2 XML document (EPCISDocument or
    EPCISQueryDocument). Raises `InvalidXmlError` (400) naming the line."""
    root = _read(data, max_bytes)
    if not isinstance(root.tag, str):
        raise InvalidXmlError("no root element", line=1)
    ns, local = _split(root.tag)
    if local == "EPCISDocument" and ns in NS_EPCIS:
        version, kind = NS_EPCIS[ns], "EPCISDocument"
    elif local == "EPCISQueryDocument" and ns in NS_QUERY:
        version, kind = NS_QUERY[ns], "EPCISQueryDocument"
    else:
        raise InvalidXmlError(
            f"the root element is {local!r} in namespace {ns!r}: expected an EPCISDocument "
            "(urn:epcglobal:epcis:xsd:2, or :1 for EPCIS 1.2) or an EPCISQueryDocument",
            line=root.sourceline or 1)
    if validate:
        _validate(root, version)
    return XmlDocument(_Converter(max_depth, _value_schemes(root)).document(root, kind),
                       version, kind)


def parse_xml_document(data: bytes | str, *, max_bytes: int = DEFAULT_MAX_XML_BYTES,
                       max_events: int | None = None, validate: bool = True) -> Any:
    """An XML capture as the `ledger.epcis.document.EPCISDocument` a JSON capture gives: the
    same events, so the same ids, commitments and signature. A query document is refused."""
    from ledger.epcis.document import DEFAULT_MAX_EVENTS, parse_document

    converted = parse_xml(data, max_bytes=max_bytes, validate=validate)
    if converted.kind != "EPCISDocument":
        raise InvalidXmlError("an EPCISQueryDocument is a query result, not a capture document",
                              line=1)
    return parse_document(converted.jsonld, max_bytes=max_bytes,
                          max_events=DEFAULT_MAX_EVENTS if max_events is None else max_events,
                          schema=False)


def xml_to_jsonld(data: bytes | str, **options: Any) -> dict[str, Any]:
    """The JSON-LD form of an EPCIS XML document (see `parse_xml` for the options)."""
    return parse_xml(data, **options).jsonld


# --------------------------------------------------------------------------------------------
# Conversion
# --------------------------------------------------------------------------------------------
def _split(tag: str) -> tuple[str, str]:
    if tag[:1] == "{":
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


_EPC_LISTS = frozenset(("epcList", "childEPCs", "inputEPCList", "outputEPCList"))
_QUANTITY_LISTS = frozenset(("quantityList", "childQuantityList", "inputQuantityList",
                             "outputQuantityList"))
_TYPED_LISTS = {"bizTransactionList": "bizTransaction", "sourceList": "source",
                "destinationList": "destination"}
_LOCATIONS = frozenset(("readPoint", "bizLocation"))
_WRAPPERS = frozenset(("extension", "baseExtension"))
_SENSOR_NUMBERS = frozenset(("value", "minValue", "maxValue", "meanValue", "sDev", "percRank",
                             "percValue"))
_INTEGER = re.compile(r"[+-]?\d+")
_SCHEME = re.compile(r"\s*([A-Za-z][A-Za-z0-9+.-]*):")


def _value_schemes(root: Any) -> frozenset[str]:
    """Every `scheme:` that starts a text or attribute value of the document. A JSON-LD prefix
    named like one would turn that value into a CURIE and change its meaning (in XML, text is
    text: `example:x` is not in the namespace bound to `example`), so none is named so."""
    found: set[str] = set()
    match = _SCHEME.match
    for element in root.iter():
        text = element.text
        if text and (m := match(text)):
            found.add(m.group(1))
        for value in element.attrib.values():
            if m := match(value):
                found.add(m.group(1))
    return frozenset(found)


# CBV values as the XML binding writes them by default (URNs) → as JSON-LD writes them (bare
# terms, which the JSON schema requires and the context expands to the same IRIs, so the event
# hash is the same). A URN whose term the CBV does not define is left as it is.
_CBV_URNS = {
    "bizStep": ("urn:epcglobal:cbv:bizstep:", _BIZSTEPS),
    "disposition": ("urn:epcglobal:cbv:disp:", _DISPOSITIONS),
    "set": ("urn:epcglobal:cbv:disp:", _DISPOSITIONS),
    "unset": ("urn:epcglobal:cbv:disp:", _DISPOSITIONS),
    "bizTransaction": ("urn:epcglobal:cbv:btt:", _BTTS),
    "source": ("urn:epcglobal:cbv:sdt:", _SDTS),
    "destination": ("urn:epcglobal:cbv:sdt:", _SDTS),
    "reason": ("urn:epcglobal:cbv:er:", _REASONS),
}


def _cbv_term(field: str, value: str) -> str:
    prefix, terms = _CBV_URNS[field]
    if value.startswith(prefix) and value[len(prefix):] in terms:
        return value[len(prefix):]
    return value


_XSI = "{http://www.w3.org/2001/XMLSchema-instance}"
_XSI_NIL = _XSI + "nil"
_XSI_TYPE = _XSI + "type"
_XSD = "http://www.w3.org/2001/XMLSchema"
_XSD_NUMBERS = frozenset(("integer", "int", "long", "short", "byte", "decimal", "double", "float",
                          "nonNegativeInteger", "positiveInteger", "negativeInteger",
                          "nonPositiveInteger", "unsignedInt", "unsignedLong", "unsignedShort"))


def _typed_text(element: Any) -> Any:
    """An extension element's text, as JSON types it when `xsi:type` names an XSD number or
    boolean (JSON-LD's typed literals), else as a string."""
    text = _text(element)
    declared = element.get(_XSI_TYPE)
    if not declared or not text:
        return text
    prefix, _, local = declared.strip().rpartition(":")
    if (element.nsmap or {}).get(prefix or None) != _XSD:
        return text
    line = element.sourceline or 0
    if local in _XSD_NUMBERS:
        return _number(text, line, local)
    if local == "boolean":
        return _boolean(text, line, local)
    return text


def _nil(element: Any) -> bool:
    return element.get(_XSI_NIL, "").strip() in ("true", "1")


def _text(element: Any) -> str:
    return (element.text or "").strip()


def _number(text: str, line: int, name: str) -> int | float:
    text = text.strip()
    try:
        if _INTEGER.fullmatch(text):
            return int(text)
        value = float(text)
    except ValueError:
        raise InvalidXmlError(f"{name} must be a number, not {text[:40]!r}", line=line) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidXmlError(f"{name} must be a finite number, not {text[:40]!r}", line=line)
    return value


def _boolean(text: str, line: int, name: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise InvalidXmlError(f"{name} must be true or false, not {text[:40]!r}", line=line)


class _Converter:
    """One document's conversion: it keeps the namespace → prefix table the @context lists."""

    def __init__(self, max_depth: int, reserved: frozenset[str] = frozenset()) -> None:
        self.max_depth = max_depth
        self.prefixes: dict[str, str] = {}  # namespace IRI → JSON-LD prefix
        self.used: set[str] = set(_KNOWN_PREFIXES.values()) | reserved

    # -- names --------------------------------------------------------------------------------

    def prefix(self, ns: str, hint: str | None) -> str:
        found = self.prefixes.get(ns) or _KNOWN_PREFIXES.get(ns)
        if found is not None:
            return found
        candidate = hint or "ns"
        if not re.fullmatch(r"[A-Za-z_][\w.-]*", candidate):
            candidate = "ns"
        name, n = candidate, 1
        while name in self.used:
            n += 1
            name = f"{candidate}{n}"
        self.prefixes[ns] = name
        self.used.add(name)
        return name

    def key(self, element: Any) -> str:
        ns, local = _split(element.tag)
        if not ns:
            return local
        if ns.startswith(_UNDECLARED):
            # written by ledger.epcis.xml_writer for a JSON key whose prefix no @context
            # declared: the same undeclared key again
            return ns[len(_UNDECLARED):] + ":" + local
        return self.prefix(ns, element.prefix) + ":" + local

    def attribute_key(self, element: Any, name: str) -> str:
        ns, local = _split(name)
        if not ns:
            return local
        hint = next((p for p, uri in (element.nsmap or {}).items() if uri == ns and p), None)
        return self.prefix(ns, hint) + ":" + local

    def context(self) -> list[Any]:
        # gs1: and cbv: are always declared: XML values such as type="gs1:Temperature" or
        # <bizStep>cbv:BizStep-receiving</bizStep> use them without a namespace declaration
        # that the XML could tell us about (they are text, not names).
        declared = {"gs1": _GS1, "cbv": _CBV}
        declared.update({p: ns for ns, p in self.prefixes.items()})
        return [EPCIS_CONTEXT, declared]

    # -- walking ------------------------------------------------------------------------------

    def children(self, element: Any, depth: int = 0) -> list[Any]:
        """Element children, with 1.2's `<extension>`/`<baseExtension>` wrappers opened."""
        if depth > self.max_depth:
            raise InvalidXmlError(f"elements nested deeper than {self.max_depth}",
                                  line=element.sourceline or 0, max_depth=self.max_depth)
        out = []
        for child in element:
            if not isinstance(child.tag, str):
                continue  # a comment or processing instruction
            if child.tag in _WRAPPERS:
                out.extend(self.children(child, depth + 1))
            else:
                out.append(child)
        return out

    def document(self, root: Any, kind: str) -> dict[str, Any]:
        doc: dict[str, Any] = {"@context": None, "type": kind,
                               "schemaVersion": "2.0",
                               "creationDate": root.get("creationDate", "")}
        ignore: dict[str, list[str]] = {}
        body = None
        for child in self.children(root):
            ns, local = _split(child.tag)
            if local == "EPCISBody" and not ns:
                body = child
            elif local == "ignoreFields" and ns:
                ignore[self.key(child)] = self.field_names(child)
        if body is None and kind == "EPCISQueryDocument":
            # A published query-document vector puts QueryResults' content under the root
            # (invalid against the XSD: read only when validation is off).
            body = root
        if body is None:
            raise InvalidXmlError("no EPCISBody", line=root.sourceline or 1)
        for key, names in ignore.items():
            doc[key] = names
        if kind == "EPCISDocument":
            doc["epcisBody"] = {"eventList": self.event_list(body)}
        else:
            results = next((c for c in self.children(body) if _split(c.tag)[1] == "QueryResults"),
                           body if body is root else None)
            if results is None:
                raise InvalidXmlError("an EPCISQueryDocument needs QueryResults",
                                      line=body.sourceline or 0)
            out: dict[str, Any] = {}
            events: list[dict[str, Any]] = []
            for child in self.children(results):
                ns, local = _split(child.tag)
                if local in ("queryName", "subscriptionID") and not ns:
                    out[local] = _text(child)
                elif local == "resultsBody" and not ns:
                    events = self.event_list(child)
                elif local == "ignoreFields" and ns:
                    out[self.key(child)] = self.field_names(child)
            out["resultsBody"] = {"eventList": events}
            doc["epcisBody"] = {"queryResults": out}
        doc["@context"] = self.context()
        return doc

    def field_names(self, element: Any) -> list[str]:
        return [self.key(c) for c in self.children(element)]

    def event_list(self, body: Any) -> list[dict[str, Any]]:
        event_list = next((c for c in self.children(body) if _split(c.tag)[1] == "EventList"),
                          None)
        if event_list is None:
            return []
        events = []
        for element in self.children(event_list):
            ns, local = _split(element.tag)
            if ns or local not in _EVENT_TYPES:
                raise InvalidXmlError(f"{local!r} is not an EPCIS event type",
                                      line=element.sourceline or 0)
            events.append(self.event(element, local))
        return events

    def event(self, element: Any, kind: str) -> dict[str, Any]:
        event: dict[str, Any] = {"type": kind}
        for child in self.children(element, 1):
            self.field(event, child, 2)
        return _plain(event)

    def field(self, into: dict[str, Any], child: Any, depth: int) -> None:
        """One child of an event (or of an event part holding standard fields)."""
        ns, name = _split(child.tag)
        line = child.sourceline or 0
        if _nil(child):
            return
        if ns:
            self.put(into, self.key(child), self.extension(child, depth + 1))
        elif name in _EPC_LISTS:
            into[name] = [_text(epc) for epc in self.children(child, depth)]
        elif name in _QUANTITY_LISTS:
            into[name] = [self.quantity(q, depth + 1) for q in self.children(child, depth)]
        elif name in _TYPED_LISTS:
            into[name] = [self.typed(e, _TYPED_LISTS[name]) for e in self.children(child, depth)]
        elif name in _LOCATIONS:
            into[name] = self.standard_object(child, depth + 1)
        elif name == "sensorElementList":
            into[name] = [self.sensor_element(e, depth + 1) for e in self.children(child, depth)]
        elif name == "persistentDisposition":
            disposition: dict[str, list[str]] = {}
            for part in self.children(child, depth):
                which = _split(part.tag)[1]
                value = _cbv_term(which, _text(part)) if which in _CBV_URNS else _text(part)
                disposition.setdefault(which, []).append(value)
            into[name] = disposition
        elif name == "errorDeclaration":
            into[name] = self.error_declaration(child, depth + 1)
        elif name == "ilmd":
            into[name] = self.extension_members(child, depth + 1)
        elif len(child):
            raise InvalidXmlError(f"{name!r} is not expected to hold elements here", line=line)
        elif name in ("bizStep", "disposition"):
            into[name] = _cbv_term(name, _text(child))
        else:
            into[name] = _text(child)

    def put(self, into: dict[str, Any], key: str, value: Any) -> None:
        if key in into:
            previous = into[key]
            if isinstance(previous, list) and getattr(previous, "_repeated", False):
                previous.append(value)
            else:
                into[key] = _Repeated((previous, value))
        else:
            into[key] = value

    def standard_object(self, element: Any, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for child in self.children(element, depth):
            ns, name = _split(child.tag)
            if ns:
                self.put(out, self.key(child), self.extension(child, depth + 1))
            else:
                out[name] = _text(child)
        return _plain(out)

    def quantity(self, element: Any, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for child in self.children(element, depth):
            ns, name = _split(child.tag)
            if ns:
                self.put(out, self.key(child), self.extension(child, depth + 1))
            elif _nil(child):
                continue  # xsi:nil="true": the value is absent (a quantity not known)
            elif name == "quantity":
                out[name] = _number(_text(child), child.sourceline or 0, "quantity")
            else:
                out[name] = _text(child)
        return _plain(out)

    def typed(self, element: Any, name: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        kind = element.get("type")
        if kind is not None:
            out["type"] = _cbv_term(name, kind.strip())
        out[name] = _text(element)
        return out

    def sensor_element(self, element: Any, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        reports: list[dict[str, Any]] = []
        for child in self.children(element, depth):
            ns, name = _split(child.tag)
            if ns:
                self.put(out, self.key(child), self.extension(child, depth + 1))
            elif name == "sensorMetadata":
                out[name] = self.attributes(child, depth + 1)
            elif name == "sensorReport":
                reports.append(self.attributes(child, depth + 1))
            else:
                raise InvalidXmlError(f"{name!r} is not expected in a sensorElement",
                                      line=child.sourceline or 0)
        if reports:
            out["sensorReport"] = reports
        return _plain(out)

    def attributes(self, element: Any, depth: int) -> dict[str, Any]:
        """sensorMetadata / sensorReport: attributes (extensions among them) and, in 2.0,
        extension elements inside."""
        line = element.sourceline or 0
        out: dict[str, Any] = {}
        for name, value in element.attrib.items():
            key = self.attribute_key(element, name)
            if key in _SENSOR_NUMBERS:
                out[key] = _number(value, line, key)
            elif key == "booleanValue":
                out[key] = _boolean(value, line, key)
            else:
                out[key] = value.strip()
        for child in self.children(element, depth):
            if _split(child.tag)[0]:
                self.put(out, self.key(child), self.extension(child, depth + 1))
        return _plain(out)

    def error_declaration(self, element: Any, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for child in self.children(element, depth):
            ns, name = _split(child.tag)
            if ns:
                self.put(out, self.key(child), self.extension(child, depth + 1))
            elif name == "reason":
                out[name] = _cbv_term(name, _text(child))
            elif name == "correctiveEventIDs":
                out[name] = [_text(c) for c in self.children(child, depth + 1)]
            else:
                out[name] = _text(child)
        return _plain(out)

    def extension_members(self, element: Any, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for child in self.children(element, depth):
            self.put(out, self.key(child), self.extension(child, depth + 1))
        return _plain(out)

    def extension(self, element: Any, depth: int) -> Any:
        """A user extension element: text (a number or boolean if its `xsi:type` says so), or
        an object of its attributes and children. `xsi:` attributes are typing, not data."""
        kids = self.children(element, depth)
        attributes = [(n, v) for n, v in element.attrib.items() if not n.startswith(_XSI)]
        if not kids and not attributes:
            return _typed_text(element)
        out: dict[str, Any] = {}
        for name, value in attributes:
            out[self.attribute_key(element, name)] = value
        for child in kids:
            self.put(out, self.key(child), self.extension(child, depth + 1))
        text = _text(element)
        if text:
            out["#text"] = text
        return _plain(out)


class _Repeated(list):
    """A member given by several sibling elements: a JSON array."""

    _repeated = True


def _plain(obj: dict[str, Any]) -> dict[str, Any]:
    for key, value in obj.items():
        if isinstance(value, _Repeated):
            obj[key] = list(value)
    return obj
