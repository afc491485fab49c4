"""The shopper's proof: an item's evidence cut down to what concerns that one item.

A public scan must not tell a counterfeiter which other serials are valid, nor a rival who
trades with whom and for how much. From the item's full evidence (`ledger.evidence.item`),
`public_bundle` keeps only

- the events that name the item or a container it travelled in (its *path*: the item's EPC,
  then every parent an AggregationEvent put a path member into, level by level);
- in each, the fields that say what happened to it, when and where: `type`, `eventTime`,
  `eventTimeZoneOffset`, `action`, `bizStep`, `disposition`, `readPoint`, `bizLocation`,
  `errorDeclaration`, the path members among its EPCs and parent, its `destinationList` (where
  the goods were sent and to whom: the receivers a verifier needs to judge who may speak about
  them next), the label facts of `ilmd` (`PUBLIC_ILMD`: lot, dates, origin, product name,
  brand, product record number), the signer's master data for the places and parties it
  names (`zhenzhi:masterData`: names and countries, `ledger.trade.profile`) with the seller of
  a retail sale (`zhenzhi:seller`), and the elements of its `sensorElementList` that hold
  readings only (`reading_only`: measurement type, values, unit, times; no device, raw-data
  link, business rule or extension), which the cold-chain section is computed from;
- the customs decisions that cover a kept event, and the scan history.

Everything else stays hidden behind its salted leaf: other items' EPCs, quantities, business
transactions, source lists, sensor elements that carry more than readings, extensions, and
every event's CBV id. Each kept
field is a disclosure with its Merkle path to the event's signed commitment
(`ledger.proofs.disclosure`), so the cut cannot add or change a thing, only leave things out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from functools import lru_cache
from typing import Any

import orjson

from ledger.epcis.document import _canonical_epc
from ledger.epcis.gs1 import DigitalLink
from ledger.epcis.master_data import MASTER_DATA, SELLER
from ledger.errors import InvalidInputError
from ledger.proofs.bundle import Bundle, EventEvidence
from ledger.proofs.disclosure import EVENT_ID, Disclosed, disclosure_leaf
from ledger.proofs.merkle import MerkleTree
from ledger.runtime.memo import BoundedMemo

__all__ = ["PUBLIC_EXTENSIONS", "PUBLIC_FIELDS", "PUBLIC_ILMD", "item_epc", "item_path",
           "names_path", "public_bundle", "public_event", "reading_only"]

PUBLIC_FIELDS = frozenset(("type", "eventTime", "eventTimeZoneOffset", "action", "bizStep",
                           "disposition", "readPoint", "bizLocation", "errorDeclaration"))
_EPC_LISTS = frozenset(("epcList", "childEPCs", "inputEPCList", "outputEPCList"))
# ILMD facts a label carries anyway (CBV master data attribute names, any prefix).
PUBLIC_ILMD = frozenset((
    "lotNumber", "itemExpirationDate", "bestBeforeDate", "sellByDate", "productionDate",
    "countryOfOrigin", "countryOfExport", "productName", "tradeItemDescription",
    "descriptionShort", "regulatedProductName", "brandName", "netContent",
    "manufacturerOfTradeItemPartyName", "productRecordNumber",
))
# Extension fields whose whole value is public: master data (names and countries of places
# and parties, which a signer publishes for shoppers to read) and a sale's seller. Matched by
# the compact key the signer wrote; under any other spelling they stay hidden.
PUBLIC_EXTENSIONS = frozenset((MASTER_DATA, SELLER))


# A sensor element is disclosed whole (it is one committed leaf), so only when all of it is
# readings: a device id, a raw-data link or an extension could say more than the cold chain.
_READING_METADATA = frozenset(("time", "startTime", "endTime"))
_READING_REPORT = frozenset(("type", "value", "minValue", "maxValue", "meanValue", "sDev",
                             "percRank", "percValue", "uom", "time", "exception", "component"))


def reading_only(element: Any) -> bool:
    """Whether a `sensorElementList` element holds nothing but readings and their times."""
    if not isinstance(element, Mapping) or set(element) - {"sensorMetadata", "sensorReport"}:
        return False
    meta = element.get("sensorMetadata", {})
    reports = element.get("sensorReport")
    if not isinstance(meta, Mapping) or set(meta) - _READING_METADATA:
        return False
    if not isinstance(reports, list):
        return False
    return all(isinstance(r, Mapping) and not set(r) - _READING_REPORT for r in reports)


def item_epc(code: str) -> str:
    """The EPC as events name the item: its serial-level Digital Link, without the lot."""
    link = DigitalLink.parse(code)
    if link.serial is None:
        raise InvalidInputError("the code names no serial: it identifies no item")
    return f"https://id.gs1.org/01/{link.gtin14}/21/{link.serial}"


def _canon(value: Any) -> str | None:
    return _canon_str(value) if isinstance(value, str) else None


# The same EPCs come back in every item of a pallet (an AggregationEvent names hundreds), and
# parsing one into its canonical form costs more than the rest of the cut: kept, bounded.
@lru_cache(maxsize=1 << 16)
def _canon_str(value: str) -> str:
    return _canonical_epc(value.strip())


def item_path(epc: str, events: list[Mapping[str, Any]]) -> frozenset[str]:
    """The item and every container it was put into, as canonical identifiers."""
    path = {epc}
    while True:
        grown = set(path)
        for event in events:
            if event.get("type") != "AggregationEvent" or event.get("action") == "DELETE":
                continue
            children = {_canon(c) for c in event.get("childEPCs") or ()}
            parent = _canon(event.get("parentID"))
            if parent is not None and children & path:
                grown.add(parent)
        if grown == path:
            return frozenset(path)
        path = grown


def _keep(path: frozenset[str]) -> Any:
    def keep(name: str, value: Any) -> bool:
        if name in PUBLIC_FIELDS or name in PUBLIC_EXTENSIONS or name == "destinationList":
            return True
        if name == "sensorElementList":
            return reading_only(value)
        if name in _EPC_LISTS or name == "parentID":
            return _canon(value) in path
        if name == "ilmd" and isinstance(value, Mapping) and len(value) == 1:
            (key,) = value
            return str(key).rsplit(":", 1)[-1].rsplit("/", 1)[-1] in PUBLIC_ILMD
        return False
    return keep


def names_path(event: Mapping[str, Any], path: frozenset[str]) -> bool:
    """Whether the event names the item or one of its containers."""
    if _canon(event.get("parentID")) in path:
        return True
    return any(_canon(v) in path for f in _EPC_LISTS for v in event.get(f) or ())


def public_event(e: EventEvidence, path: frozenset[str]) -> EventEvidence:
    """A full event reduced to its public disclosures, each with its path to the commitment."""
    if e.event is None or e.event_id is None:
        raise InvalidInputError("only a full event can be cut down")
    texts = tuple(d.text for d in e.disclosed)
    tree, fields = _committed(e.commitment, texts)
    keep = _keep(path)
    chosen = []
    for index, (text, (name, value)) in enumerate(zip(texts, fields, strict=True)):
        if name != EVENT_ID and keep(name, value):
            chosen.append(Disclosed(text, tuple(tree.proof(index))))
    return EventEvidence(e.commitment, e.capture, e.proof, tuple(chosen))


# commitment → (its disclosures' tree, each disclosure's (name, value)), checked once: every
# item on a pallet cuts the pallet's events again. Keyed by the texts too, so a different
# disclosure list is never served another's tree.
_COMMITTED: BoundedMemo[tuple[bytes, tuple[str, ...]], tuple[MerkleTree, tuple[Any, ...]]] = \
    BoundedMemo(8192)


def _committed(commitment: bytes, texts: tuple[str, ...]) -> tuple[MerkleTree, tuple[Any, ...]]:
    key = (commitment, texts)
    hit = _COMMITTED.get(key)
    if hit is not None:
        return hit
    tree = MerkleTree.build([disclosure_leaf(t) for t in texts])
    if tree.root != commitment:
        raise InvalidInputError("the event's disclosures do not lead to its commitment")
    fields = tuple(tuple(orjson.loads(t)[1:]) for t in texts)
    return _COMMITTED.put(key, (tree, fields))


def public_bundle(bundle: Bundle) -> Bundle:
    """The shopper's proof of `bundle.code` (a full bundle, as members get it)."""
    full = [e for e in bundle.events if e.event is not None]
    path = item_path(item_epc(bundle.code), [e.event for e in full])  # type: ignore[misc]
    kept = [e for e in full if names_path(e.event, path)]  # type: ignore[arg-type]
    captures = sorted({e.capture for e in kept})
    renumber = {old: new for new, old in enumerate(captures)}
    events = tuple(replace(public_event(e, path), capture=renumber[e.capture]) for e in kept)
    commitments = {e.commitment for e in events}
    return replace(bundle, captures=tuple(bundle.captures[i] for i in captures), events=events,
                   customs=tuple(c for c in bundle.customs if c.commitment in commitments))

