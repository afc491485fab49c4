"""JSON-LD events → EPCIS 2.0 XML: the EPCISQueryDocument a query answers with when asked for
XML (`Accept: application/xml`), and the EPCISDocument a client captures.

The mapping is `ledger.epcis.xml`'s, backwards: standard fields in the XSD's element order,
`prefix:local` members as elements in the namespace the @context gives the prefix, sensor
metadata and reports as attributes, and bare CBV terms written as the XML binding writes them
by default (`shipping` → `urn:epcglobal:cbv:bizstep:shipping`). `GS1-CBV-XML-Format` picks
how CBV values are written (`CbvXmlFormat`): `Always_URN` and `Always_Web_URI` write every CBV
term of bizStep, disposition, persistentDisposition, business transaction, source/destination
types and error reasons in that form, whatever form it was captured in; `Never_Translates` and
`No_Preference` keep every URI as captured and write a bare term (JSON-LD's compact form, and
how an XML capture's URN is stored) as the binding's default URN. Reading the output back (`ledger.epcis.xml.parse_xml`) gives events with the
same ids; the output is valid against the standard's XSD (both are tested).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from ledger.epcis.event_hash import _BIZSTEPS, _BTTS, _DISPOSITIONS, _REASONS, _SDTS

__all__ = ["CbvXmlFormat", "write_document", "write_query_document"]


class CbvXmlFormat(StrEnum):
    """The values of `GS1-CBV-XML-Format` (EPCIS 2.0 REST binding, components/schemas)."""

    NO_PREFERENCE = "No_Preference"
    ALWAYS_WEB_URI = "Always_Web_URI"
    ALWAYS_URN = "Always_URN"
    NEVER_TRANSLATES = "Never_Translates"

_EPCIS = "urn:epcglobal:epcis:xsd:2"
_QUERY = "urn:epcglobal:epcis-query:xsd:2"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_BASE = ("eventTime", "recordTime", "eventTimeZoneOffset", "eventID", "errorDeclaration",
         "certificationInfo")
_TAIL = ("readPoint", "bizLocation", "bizTransactionList")
_ORDER = {
    "ObjectEvent": ("epcList", "action", "bizStep", "disposition", *_TAIL, "quantityList",
                    "sourceList", "destinationList", "sensorElementList",
                    "persistentDisposition", "ilmd"),
    "AggregationEvent": ("parentID", "childEPCs", "action", "bizStep", "disposition", *_TAIL,
                         "childQuantityList", "sourceList", "destinationList",
                         "sensorElementList", "persistentDisposition"),
    "TransactionEvent": ("bizTransactionList", "parentID", "epcList", "action", "bizStep",
                         "disposition", "readPoint", "bizLocation", "quantityList",
                         "sourceList", "destinationList", "sensorElementList",
                         "persistentDisposition"),
    "TransformationEvent": ("inputEPCList", "inputQuantityList", "outputEPCList",
                            "outputQuantityList", "transformationID", "bizStep", "disposition",
                            *_TAIL, "sourceList", "destinationList", "sensorElementList",
                            "persistentDisposition", "ilmd"),
    "AssociationEvent": ("parentID", "childEPCs", "childQuantityList", "action", "bizStep",
                         "disposition", *_TAIL, "sourceList", "destinationList",
                         "sensorElementList", "persistentDisposition"),
}
_CBV_URNS = {
    "bizStep": ("urn:epcglobal:cbv:bizstep:", _BIZSTEPS),
    "disposition": ("urn:epcglobal:cbv:disp:", _DISPOSITIONS),
    "bizTransaction": ("urn:epcglobal:cbv:btt:", _BTTS),
    "source": ("urn:epcglobal:cbv:sdt:", _SDTS),
    "destination": ("urn:epcglobal:cbv:sdt:", _SDTS),
    "reason": ("urn:epcglobal:cbv:er:", _REASONS),
}
# Web URI prefixes of the same vocabularies (https://ref.gs1.org/cbv/BizStep-shipping).
_CBV_WEB = {"bizStep": "BizStep-", "disposition": "Disp-", "bizTransaction": "BTT-",
            "source": "SDT-", "destination": "SDT-", "reason": "ER-"}
_TYPED = {"bizTransactionList": "bizTransaction", "sourceList": "source",
          "destinationList": "destination"}
_EPC_LISTS = frozenset(("epcList", "childEPCs", "inputEPCList", "outputEPCList"))
_GS1 = "https://gs1.org/voc/"
_CBV = "https://ref.gs1.org/cbv/"
_NCNAME = re.compile(r"[A-Za-z_][\w.-]*")
# An extension key whose prefix the @context does not declare is kept under this namespace, and
# `ledger.epcis.xml` reads it back as the same undeclared `prefix:local` key.
UNDECLARED = "urn:zhenzhi:undeclared-prefix:"


def _urn(field: str, value: Any, fmt: CbvXmlFormat = CbvXmlFormat.NO_PREFERENCE) -> str:
    """A CBV-typed value as XML text in format `fmt` (a value of no CBV vocabulary as it is)."""
    text = _scalar(value)
    prefix, terms = _CBV_URNS[field]
    web = _CBV + _CBV_WEB[field]
    term = None
    for head in ("", prefix, web, "cbv:" + _CBV_WEB[field]):
        if text.startswith(head) and text[len(head):] in terms:
            term = text[len(head):]
            break
    if term is None:
        return text
    if fmt is CbvXmlFormat.ALWAYS_WEB_URI:
        return web + term
    if fmt is CbvXmlFormat.ALWAYS_URN or text == term:
        return prefix + term
    return text


def _scalar(value: Any) -> str:
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _namespaces(contexts: Iterable[Any]) -> dict[str, str]:
    found: dict[str, str] = {"gs1": _GS1, "cbv": _CBV}
    for context in contexts:
        items = context if isinstance(context, list) else [context]
        for item in items:
            if isinstance(item, Mapping):
                for prefix, iri in item.items():
                    if isinstance(iri, str) and _NCNAME.fullmatch(prefix) and not (
                            prefix.startswith(("epcis", "xsi", "xml"))):
                        found[prefix] = iri
    return found


class _Writer:
    def __init__(self, ns: dict[str, str],
                 cbv_format: CbvXmlFormat = CbvXmlFormat.NO_PREFERENCE) -> None:
        from lxml import etree

        self.etree = etree
        self.ns = ns
        self.cbv_format = cbv_format

    def qname(self, key: str) -> str:
        prefix, sep, local = key.partition(":")
        if sep and prefix in self.ns and local:
            return "{" + self.ns[prefix] + "}" + local
        if sep and _NCNAME.fullmatch(local) and _NCNAME.fullmatch(prefix):
            # a prefix the context does not declare: kept apart in a namespace of its own
            self.ns.setdefault(prefix, UNDECLARED + prefix)
            return "{" + self.ns[prefix] + "}" + local
        return "{urn:zhenzhi:extension}" + "".join(c if c.isalnum() else "_" for c in key)

    def value(self, value: Any) -> str:
        """A value as XML text. A JSON-LD CURIE (`ex:thing`, `ex` declared) is written as its
        IRI: in XML, text is not resolved against namespaces (gs1: and cbv: excepted, which
        both bindings expand)."""
        text = _scalar(value)
        if isinstance(value, str):
            head, sep, tail = text.partition(":")
            iri = self.ns.get(head) if sep else None
            if iri is not None and head not in ("gs1", "cbv") and not iri.startswith(UNDECLARED):
                return iri + tail
        return text

    def sub(self, parent: Any, tag: str, text: Any = None) -> Any:
        element = self.etree.SubElement(parent, tag)
        if text is not None:
            element.text = self.value(text)
        return element

    def extension(self, parent: Any, key: str, value: Any) -> None:
        tag = self.qname(key)
        if isinstance(value, list):
            for item in value:
                self.extension(parent, key, item)
            return
        element = self.etree.SubElement(parent, tag)
        if isinstance(value, Mapping):
            for k, v in value.items():
                if k == "#text":
                    element.text = self.value(v)
                elif not k.startswith("@"):
                    self.extension(element, k, v)
        elif value is not None:
            element.text = self.value(value)

    def event(self, parent: Any, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        order = _ORDER.get(kind)  # type: ignore[arg-type]
        if order is None:
            return
        element = self.etree.SubElement(parent, kind)
        for name in (*_BASE, *order):
            if name in event and event[name] is not None:
                self.field(element, name, event[name])
        known = set(_BASE) | set(order) | {"type", "@context"}
        for key, value in event.items():
            if key not in known and ":" in key:
                self.extension(element, key, value)

    def field(self, parent: Any, name: str, value: Any) -> None:
        if name in _EPC_LISTS:
            holder = self.sub(parent, name)
            for epc in value or ():
                self.sub(holder, "epc", epc)
        elif name.endswith("QuantityList") or name == "quantityList":
            holder = self.sub(parent, name)
            for q in value or ():
                qe = self.sub(holder, "quantityElement")
                for part in ("epcClass", "quantity", "uom"):
                    if part in q:
                        self.sub(qe, part, q[part])
        elif name in _TYPED:
            holder = self.sub(parent, name)
            item = _TYPED[name]
            for entry in value or ():
                child = self.sub(holder, item, entry.get(item))
                if entry.get("type") is not None:
                    child.set("type", _urn(item, entry["type"], self.cbv_format))
        elif name in ("readPoint", "bizLocation"):
            holder = self.sub(parent, name)
            self.sub(holder, "id", value.get("id"))
            for key, v in value.items():
                if key != "id" and ":" in key:
                    self.extension(holder, key, v)
        elif name == "persistentDisposition":
            holder = self.sub(parent, name)
            for part in ("unset", "set"):
                for v in value.get(part) or ():
                    self.sub(holder, part, _urn("disposition", v, self.cbv_format))
        elif name == "errorDeclaration":
            holder = self.sub(parent, name)
            self.sub(holder, "declarationTime", value.get("declarationTime"))
            if value.get("reason") is not None:
                self.sub(holder, "reason", _urn("reason", value["reason"], self.cbv_format))
            if value.get("correctiveEventIDs"):
                ids = self.sub(holder, "correctiveEventIDs")
                for corrective in value["correctiveEventIDs"]:
                    self.sub(ids, "correctiveEventID", corrective)
            for key, v in value.items():
                if ":" in key:
                    self.extension(holder, key, v)
        elif name == "sensorElementList":
            holder = self.sub(parent, name)
            for sensor in value or ():
                element = self.sub(holder, "sensorElement")
                if isinstance(sensor.get("sensorMetadata"), Mapping):
                    self.attributes(self.sub(element, "sensorMetadata"), sensor["sensorMetadata"])
                for report in sensor.get("sensorReport") or ():
                    self.attributes(self.sub(element, "sensorReport"), report)
                for key, v in sensor.items():
                    if ":" in key:
                        self.extension(element, key, v)
        elif name == "ilmd":
            holder = self.sub(parent, name)
            for key, v in value.items():
                self.extension(holder, key, v)
        elif name == "certificationInfo":
            first = value[0] if isinstance(value, list) and value else value
            if isinstance(first, str):
                self.sub(parent, name, first)
        elif name in ("bizStep", "disposition"):
            self.sub(parent, name, _urn(name, value, self.cbv_format))
        else:
            self.sub(parent, name, value)

    def attributes(self, element: Any, values: Mapping[str, Any]) -> None:
        for key, value in values.items():
            if isinstance(value, (str, int, float, bool)):
                element.set(self.qname(key) if ":" in key and not key.startswith(
                    ("http:", "https:", "urn:")) else key, self.value(value))


def _root(tag: str, ns: dict[str, str], creation_date: str) -> Any:
    from lxml import etree

    nsmap = {"epcis": _EPCIS, "epcisq": _QUERY, "xsi": _XSI, **ns}
    root = etree.Element(tag, nsmap=nsmap)
    root.set("schemaVersion", "2.0")
    root.set("creationDate", creation_date)
    return root


def _serialise(root: Any) -> bytes:
    from lxml import etree

    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def write_document(events: Iterable[Mapping[str, Any]], *, context: Any = None,
                   creation_date: str) -> bytes:
    """An EPCIS 2.0 XML EPCISDocument holding `events` (JSON-LD objects)."""
    events = list(events)
    ns = _namespaces([context, *(e.get("@context") for e in events)])
    writer = _Writer(ns)
    root = _root(f"{{{_EPCIS}}}EPCISDocument", ns, creation_date)
    event_list = writer.sub(writer.sub(root, "EPCISBody"), "EventList")
    for event in events:
        writer.event(event_list, event)
    _declare(root, writer.ns)
    return _serialise(root)


def write_query_document(events: Iterable[Mapping[str, Any]], *, context: Any = None,
                         creation_date: str, query_name: str = "SimpleEventQuery",
                         subscription_id: str | None = None,
                         cbv_format: CbvXmlFormat = CbvXmlFormat.NO_PREFERENCE) -> bytes:
    """An EPCIS 2.0 XML EPCISQueryDocument: the answer to a query, `events` in its order, CBV
    values written as `cbv_format` says."""
    events = list(events)
    ns = _namespaces([context, *(e.get("@context") for e in events)])
    writer = _Writer(ns, cbv_format)
    root = _root(f"{{{_QUERY}}}EPCISQueryDocument", ns, creation_date)
    results = writer.sub(writer.sub(root, "EPCISBody"), f"{{{_QUERY}}}QueryResults")
    writer.sub(results, "queryName", query_name)
    if subscription_id:
        writer.sub(results, "subscriptionID", subscription_id)
    event_list = writer.sub(writer.sub(results, "resultsBody"), "EventList")
    for event in events:
        writer.event(event_list, event)
    _declare(root, writer.ns)
    return _serialise(root)


def _declare(root: Any, ns: dict[str, str]) -> None:
    """Prefixes first met while writing (undeclared in the context) are declared on the root,
    so the output names each namespace once."""
    from lxml import etree

    missing = {p: iri for p, iri in ns.items() if root.nsmap.get(p) != iri}
    if missing:
        etree.cleanup_namespaces(root, top_nsmap={**root.nsmap, **missing})
