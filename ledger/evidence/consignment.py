"""A consignment's proof bundle: what customs decided on, with the evidence to re-check it.

A consignment is named by its customs reference (`ledger.trade.customs.consignment_key`). Its
evidence, assembled from the store (`assemble_consignment`), holds:

- customs' signed `inspecting` events that name the consignment (`zhenzhi:consignmentKey`):
  the declaration's decisions, each listing the events it covers;
- the covered events (the export shipping, the voyage, customs' own inspections), each with its
  proof into the decision's events root on CustomsRelease (`customs`);
- every other event that names the consignment's EPCs (the pallets the decisions name): their
  packing, the domestic leg, the bonded warehouse's receipt and breakdown;
- in the members' view (`disclosure="full"`), the goods: the packing of those pallets' cases
  and cases' cans, and the commissioning events that give each can its lot (so a checker
  reads each lot's status on CodeRegistry);
- each event's capture signature and Merkle path, and each capture's anchoring proof.

The bank's view (`disclosure="trade"`, `trade_bundle`) keeps the consignment's own events (not
the goods' packing and commissioning) and, in each, only the disclosures that say what
happened, when, where, between which parties, under which trade documents
(`bizTransactionList`: purchase order, invoice, despatch advice, bill of lading) and to which of
the consignment's EPCs; customs' decision fields stay, the covered events' ids do not. Every
disclosure keeps its path to the signed commitment, so the cut can leave things out, never
change them.

JSON (`FORMAT` version `VERSION`; bytes are 0x-hex; captures, events and customs entries as in
`ledger.proofs.bundle`):

    {"format": "zhenzhi-consignment-evidence", "version": 1,
     "consignment": {"ref": "CN-NS-000001" | null, "key": "0x…32 bytes"},
     "disclosure": "full" | "trade",
     "generatedAt": <unix s> | null, "source": "<gateway>" | null,
     "chain": {"chainId": n, "blockNumber": n | null, "contracts": {name: address}},
     "captures": [...], "events": [...], "customs": [...]}
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import orjson

from ledger.epcis.document import _canonical_epc
from ledger.errors import InvalidInputError, NotFoundError
from ledger.evidence.builder import proof_parts
from ledger.evidence.public import PUBLIC_FIELDS
from ledger.proofs.bundle import (
    CaptureEvidence,
    ChainRef,
    CustomsEvidence,
    EventEvidence,
    InvalidBundleError,
    capture_json,
    customs_json,
    event_json,
    parse_captures,
    parse_customs,
    parse_events,
)
from ledger.proofs.capture import events_tree
from ledger.proofs.consignment_key import NAMESPACE, consignment_key
from ledger.proofs.disclosure import EVENT_ID, Disclosed, disclosure_leaf
from ledger.proofs.merkle import MerkleTree
from ledger.store.store import commitments_by_id

__all__ = ["DISCLOSURES", "FORMAT", "TRADE_FIELDS", "VERSION", "ConsignmentBundle",
           "UnknownConsignmentError", "assemble_consignment", "consignment_epcs",
           "decision_fields", "goods_closure", "named_epcs", "trade_bundle"]

FORMAT = "zhenzhi-consignment-evidence"
VERSION = 1
DISCLOSURES = ("full", "trade")
# What a bank sees of each event, beside the consignment's own EPCs: what happened, when,
# where, between whom, under which trade documents.
TRADE_FIELDS = PUBLIC_FIELDS | frozenset(("bizTransactionList", "sourceList", "destinationList"))
# Customs' decision fields a bank sees (its covered event ids stay hidden: a bare CBV id lets
# anyone confirm a guess of an event's hidden fields).
_DECISION_FIELDS = ("consignment", "consignmentKey", "enterprise", "decision", "inspection",
                    "rulesVersion", "eventsRoot")
_EPC_FIELDS = frozenset(("epcList", "childEPCs", "inputEPCList", "outputEPCList"))


class UnknownConsignmentError(NotFoundError):
    slug = "unknown-consignment"
    title = "No customs decision names this consignment"


def decision_fields(event: Mapping[str, Any]) -> dict[str, Any]:
    """Customs' decision extension fields of an event, by local name (`consignmentKey`, …),
    whether written with the `zhenzhi:` prefix or the namespace IRI."""
    out: dict[str, Any] = {}
    for k, v in event.items():
        for p in ("zhenzhi:", NAMESPACE):
            if isinstance(k, str) and k.startswith(p):
                out[k[len(p):]] = v
    return out


def _is_decision_of(event: Mapping[str, Any], key: bytes) -> bool:
    found = decision_fields(event).get("consignmentKey")
    return (event.get("bizStep") == "inspecting" and isinstance(found, str)
            and found.lower() == "0x" + key.hex())


def _canon(value: Any) -> str | None:
    return _canonical_epc(value.strip()) if isinstance(value, str) else None


def named_epcs(event: Mapping[str, Any]) -> set[str]:
    out = {c for f in _EPC_FIELDS for v in event.get(f) or () if (c := _canon(v))}
    if (p := _canon(event.get("parentID"))) is not None:
        out.add(p)
    return out


def consignment_epcs(events: Iterable[Mapping[str, Any]], key: bytes) -> frozenset[str]:
    """The consignment's EPCs: those its customs decisions name."""
    return frozenset(e for ev in events if _is_decision_of(ev, key)
                     for e in (_canon(v) for v in ev.get("epcList") or ()) if e)


def goods_closure(epcs: Iterable[str], events: Iterable[Mapping[str, Any]]) -> frozenset[str]:
    """`epcs` and everything packed into them (AggregationEvent ADD, level by level)."""
    found = set(epcs)
    events = list(events)
    while True:
        grown = set(found)
        for ev in events:
            if ev.get("type") == "AggregationEvent" and ev.get("action") == "ADD" \
                    and _canon(ev.get("parentID")) in found:
                grown.update(c for v in ev.get("childEPCs") or () if (c := _canon(v)))
        if grown == found:
            return frozenset(found)
        found = grown


@dataclass(frozen=True, slots=True)
class ConsignmentBundle:
    consignment: str | None  # the customs reference, when known
    key: bytes  # its CustomsRelease key
    disclosure: str  # "full" (members) or "trade" (a bank's view)
    chain: ChainRef
    captures: tuple[CaptureEvidence, ...]
    events: tuple[EventEvidence, ...]
    customs: tuple[CustomsEvidence, ...] = ()
    generated_at: int | None = None
    source: str | None = None

    @property
    def code(self) -> str:
        """How reports name it: the reference, else the key."""
        return self.consignment or "0x" + self.key.hex()

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "version": VERSION,
            "consignment": {"ref": self.consignment, "key": "0x" + self.key.hex()},
            "disclosure": self.disclosure,
            "generatedAt": self.generated_at, "source": self.source,
            "chain": {"chainId": self.chain.chain_id, "blockNumber": self.chain.block_number,
                      "contracts": dict(self.chain.contracts)},
            "captures": [capture_json(c) for c in self.captures],
            "events": [event_json(e) for e in self.events],
            "customs": [customs_json(c) for c in self.customs],
        }

    def dumps(self, *, indent: int | None = None) -> str:
        return json.dumps(self.to_json(), indent=indent, ensure_ascii=False,
                          sort_keys=indent is not None)

    @classmethod
    def from_json(cls, obj: Any) -> ConsignmentBundle:
        """Parse and shape-check (nothing here is trusted)."""
        try:
            return _parse(obj)
        except InvalidBundleError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise InvalidBundleError(f"malformed consignment evidence: {type(exc).__name__}: "
                                     f"{exc}") from None


def _parse(obj: Any) -> ConsignmentBundle:
    if not isinstance(obj, Mapping) or obj.get("format") != FORMAT:
        raise InvalidBundleError(f"not a {FORMAT} document", field="format")
    if obj.get("version") != VERSION:
        raise InvalidBundleError(f"consignment evidence version {obj.get('version')!r} is not "
                                 f"supported (this reader reads version {VERSION})",
                                 field="version")
    c = obj["consignment"]
    ref = c["ref"]
    if ref is not None and not isinstance(ref, str):
        raise InvalidBundleError("consignment.ref must be a string or null", field="consignment.ref")
    key_hex = c["key"]
    if not isinstance(key_hex, str) or not key_hex.startswith("0x") or len(key_hex) != 66:
        raise InvalidBundleError("consignment.key must be 0x and 64 hex digits",
                                 field="consignment.key")
    key = bytes.fromhex(key_hex[2:])
    disclosure = obj["disclosure"]
    if disclosure not in DISCLOSURES:
        raise InvalidBundleError(f"disclosure must be one of {list(DISCLOSURES)}",
                                 field="disclosure")
    chain = obj["chain"]
    contracts = chain["contracts"]
    if not isinstance(contracts, Mapping) or not isinstance(chain["chainId"], int):
        raise InvalidBundleError("chain must name a chainId and contracts", field="chain")
    block = chain.get("blockNumber")
    captures = parse_captures(obj["captures"])
    events = parse_events(obj["events"], len(captures))
    # The label must say what the events are: a full bundle relabelled "trade" would have its
    # lots go unread.
    if any(e.full != (disclosure == "full") for e in events):
        raise InvalidBundleError(f"a {disclosure} consignment bundle holds only "
                                 f"{'full' if disclosure == 'full' else 'disclosed'} events",
                                 field="disclosure")
    return ConsignmentBundle(
        ref, key, disclosure,
        ChainRef(chain["chainId"], {str(k): str(v) for k, v in contracts.items()},
                 block if isinstance(block, int) else None),
        captures, events, parse_customs(obj["customs"]),
        obj.get("generatedAt") if isinstance(obj.get("generatedAt"), int) else None,
        obj.get("source") if isinstance(obj.get("source"), str) else None)


# --- assembly from the store ------------------------------------------------------------------

def assemble_consignment(store: Any, ref: str, *, chain: ChainRef, disclosure: str = "full",
                         source: str | None = None, now: int | None = None) -> ConsignmentBundle:
    """The evidence of consignment `ref` (a customs reference or 0x key) from the store."""
    from sqlalchemy import select

    from ledger.store.tables import events as events_table

    if disclosure not in DISCLOSURES:
        raise InvalidInputError(f"disclosure is one of {', '.join(DISCLOSURES)}",
                                field="disclose")
    key = consignment_key(ref)
    marker = "0x" + key.hex()
    with store.engine.connect() as conn:
        ids = [bytes(r[0]) for r in conn.execute(
            select(events_table.c.event_id).where(events_table.c.biz_step == "inspecting")
            # A cheap prefilter; `_is_decision_of` is the real test.
            .where(events_table.c.body.contains(marker[2:])))]
    decisions = [e for e in store.events_with_ids(ids) if _is_decision_of(e.event, key)]
    if not decisions:
        raise UnknownConsignmentError(f"no customs decision in this store names consignment "
                                      f"{ref}", consignment=ref)
    decisions.sort(key=lambda e: (e.event.get("eventTime", ""), e.seq))
    epcs = consignment_epcs((d.event for d in decisions), key)
    covered_by: list[tuple[bytes, ...]] = [_listed_ids(d.event) for d in decisions]
    covered = list(dict.fromkeys(i for ids_ in covered_by for i in ids_))
    story = {e.event_id: e for e in store.events_for_epcs(epcs)}
    story.update((e.event_id, e) for e in store.events_with_ids(covered))
    story.update((d.event_id, d) for d in decisions)
    if disclosure == "full":
        # The goods: cases onto the pallets, cans into the cases, and the cans' commissioning.
        level = set(epcs)
        for _ in range(4):
            packing = [e for e in store.events_for_epcs(level, ("parent",))
                       if e.event.get("type") == "AggregationEvent"
                       and e.event.get("action") == "ADD"]
            story.update((e.event_id, e) for e in packing)
            level = {c for e in packing for v in e.event.get("childEPCs") or ()
                     if (c := _canon(v)) is not None} - set(level)
            if not level:
                break
        cans = goods_closure(epcs, (e.event for e in story.values())) - set(epcs)
        story.update((e.event_id, e) for e in store.events_for_epcs(cans, ("epc",))
                     if e.event.get("bizStep") == "commissioning")
    ordered = sorted(story.values(), key=lambda e: (e.event.get("eventTime", ""), e.seq))
    captures, events = proof_parts(store, ordered)
    # Proofs into the decision in force (the latest customs signed), for covered events held.
    customs: list[CustomsEvidence] = []
    latest = covered_by[-1]
    found = commitments_by_id(store.engine, latest)
    if latest and all(i in found for i in latest):
        commitments = [found[i] for i in latest]
        tree = events_tree(commitments)
        held = {e.commitment for e in events}
        customs = [CustomsEvidence(key, c, tuple(tree.proof(j)))
                   for j, c in enumerate(commitments) if c in held]
    bundle = ConsignmentBundle(
        ref if not ref.startswith("0x") else None, key, "full", chain, captures, events,
        tuple(customs), int(time.time()) if now is None else now, source)
    return trade_bundle(bundle) if disclosure == "trade" else bundle


def _listed_ids(event: Mapping[str, Any]) -> tuple[bytes, ...]:
    listed = decision_fields(event).get("eventIds") or []
    out = []
    for x in listed if isinstance(listed, list) else []:
        if isinstance(x, str) and x.startswith("ni:///sha-256;") and x.endswith("?ver=CBV2.0"):
            try:
                out.append(bytes.fromhex(x[14:-11]))
            except ValueError:
                continue
    return tuple(out)


# --- the bank's view --------------------------------------------------------------------------

def _trade_keep(epcs: frozenset[str]) -> Any:
    def keep(name: str, value: Any) -> bool:
        if name in TRADE_FIELDS:
            return True
        if name in _EPC_FIELDS or name == "parentID":
            return _canon(value) in epcs
        local = decision_fields({name: value})
        return bool(local) and next(iter(local)) in _DECISION_FIELDS
    return keep


def trade_bundle(bundle: ConsignmentBundle) -> ConsignmentBundle:
    """The bank's view of a full consignment bundle: the consignment's own events (its
    decisions, the events they cover, the events naming its EPCs), each cut down to
    `TRADE_FIELDS`, its EPCs among the consignment's, and customs' decision fields."""
    if bundle.disclosure != "full":
        raise InvalidInputError("only a full consignment bundle can be cut down")
    full = [e for e in bundle.events if e.event is not None]
    epcs = consignment_epcs((e.event for e in full), bundle.key)  # type: ignore[misc]
    covered = {c.commitment for c in bundle.customs}
    keep = _trade_keep(epcs)
    kept: list[EventEvidence] = []
    for e in full:
        ev = e.event
        assert ev is not None
        if not (_is_decision_of(ev, bundle.key) or e.commitment in covered or named_epcs(ev) & epcs):
            continue
        texts = [d.text for d in e.disclosed]
        tree = MerkleTree.build([disclosure_leaf(t) for t in texts])
        if tree.root != e.commitment:
            raise InvalidInputError("an event's disclosures do not lead to its commitment")
        chosen = []
        for index, text in enumerate(texts):
            _, name, value = orjson.loads(text)
            if name != EVENT_ID and keep(name, value):
                chosen.append(Disclosed(text, tuple(tree.proof(index))))
        kept.append(EventEvidence(e.commitment, e.capture, e.proof, tuple(chosen)))
    used = sorted({e.capture for e in kept})
    renumber = {old: new for new, old in enumerate(used)}
    held = {e.commitment for e in kept}
    return replace(bundle, disclosure="trade",
                   captures=tuple(bundle.captures[i] for i in used),
                   events=tuple(replace(e, capture=renumber[e.capture]) for e in kept),
                   customs=tuple(c for c in bundle.customs if c.commitment in held))
