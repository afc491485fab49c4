"""Customs: a consignment's declaration, the facts the risk rules judge, and the decision that
customs records on CustomsRelease (with its own key) and as a signed EPCIS `inspecting` event.

Facts come from where they cannot be made up by the declarant: credit grade and blacklist
from Consortium, complaint and scan counts from the store (for GTINs whose company prefix the
enterprise owns on chain), past inspections from customs' own signed `inspecting` events in
the store. Only origin and category come from the declaration itself.

Consignment ids are the customs reference as text ("CN-SH-2024-000123"); on chain the key is
keccak256("zhenzhi:consignment:" + ref), or the 32 bytes themselves when given as 0x-hex.
The events root on chain is the Merkle root of `capture.event_leaf(commitment)` over the
covered events' disclosure commitments (`ledger.proofs.disclosure`), in the order their ids
are given: the verifier proves an item's event into it with the same leaf as into its signed
capture. Customs names the events by id; the gateway looks their commitments up
(`covered_commitments`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from ledger.chain.decisions import Decision, Inspection
from ledger.errors import InvalidInputError, NotFoundError
from ledger.proofs.capture import events_tree
from ledger.proofs.consignment_key import NAMESPACE, InvalidConsignmentError, consignment_key
from ledger.store.tables import events
from ledger.trade.complaints import ComplaintBook
from ledger.trade.risk import RiskFacts, RuleSet

__all__ = [
    "DECLARING", "NAMESPACE", "RELEASING", "Declaration", "InvalidConsignmentError", "UnknownEnterpriseError",
    "border_event", "consignment_key", "declaration_fields", "covered_commitments", "enterprise_gtins", "events_root", "gather_facts", "inspecting_document", "inspecting_event", "inspection_history", "rules_version_bytes",
]

# Border steps CBV 2.0 has no word for (`ledger.chain.roles`: releasing needs CUSTOMS).
DECLARING = "urn:zhenzhi:bizstep:customs_declaring"
RELEASING = "urn:zhenzhi:bizstep:customs_releasing"
_COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
_HS_RE = re.compile(r"^[0-9]{2,10}$")


class UnknownEnterpriseError(NotFoundError):
    slug = "unknown-enterprise"
    title = "No such organisation on Consortium"


def rules_version_bytes(version: str) -> bytes:
    raw = version.encode("ascii")
    if not raw or len(raw) > 32:
        raise InvalidInputError(f"rules version {version!r} does not fit bytes32")
    return raw.ljust(32, b"\0")


def events_root(commitments: Sequence[bytes]) -> bytes:
    """The CustomsRelease events root over the covered events' commitments (zero when the
    decision covers no listed events)."""
    return events_tree(list(commitments)).root if commitments else bytes(32)


def covered_commitments(engine: Engine, event_ids: Sequence[bytes]) -> tuple[bytes, ...]:
    """The commitments of the covered events, in the order given; an event the store does
    not hold is refused (no root could prove it)."""
    from ledger.store.store import UnknownEventError, commitments_by_id

    found = commitments_by_id(engine, event_ids)
    missing = [e for e in event_ids if bytes(e) not in found]
    if missing:
        raise UnknownEventError(
            f"no stored event ni:///sha-256;{missing[0].hex()}?ver=CBV2.0: a customs decision "
            "covers events the gateway holds", field="eventIds",
            missing=[f"ni:///sha-256;{e.hex()}?ver=CBV2.0" for e in missing[:20]])
    return tuple(found[bytes(e)] for e in event_ids)


@dataclass(frozen=True, slots=True)
class Declaration:
    consignment: str
    enterprise: bytes  # 32-byte organisation id of the declaring enterprise
    origin_country: str | None = None
    category: str | None = None  # HS code, digits only
    event_ids: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        consignment_key(self.consignment)
        if len(self.enterprise) != 32 or self.enterprise == bytes(32):
            raise InvalidConsignmentError("enterprise must be a non-zero 32-byte organisation id",
                                          field="enterprise")
        if self.origin_country is not None and not _COUNTRY_RE.match(self.origin_country):
            raise InvalidConsignmentError("originCountry is an ISO 3166-1 alpha-2 code, e.g. DE",
                                          field="originCountry")
        if self.category is not None and not _HS_RE.match(self.category):
            raise InvalidConsignmentError("category is an HS code: 2-10 digits",
                                          field="category")
        if any(len(e) != 32 for e in self.event_ids):
            raise InvalidConsignmentError("event ids are 32 bytes", field="eventIds")


def _org_hex(org: bytes) -> str:
    return "0x" + org.hex()


def inspection_history(engine: Engine, enterprise: bytes) -> tuple[int, int]:
    """(inspections, failed) of the enterprise's past consignments, from customs' signed
    `inspecting` events in the store; the latest event per consignment counts."""
    marker = _org_hex(enterprise)
    q = (select(events.c.body, events.c.event_time_ms)
         .where(events.c.biz_step == "inspecting")
         # A cheap prefilter; the JSON check below is the real one.
         .where(events.c.body.contains(marker))
         .order_by(events.c.event_time_ms))
    latest: dict[str, str | None] = {}
    with engine.connect() as conn:
        for body, _ in conn.execute(q):
            event = json.loads(body)
            if event.get("zhenzhi:enterprise") != marker:
                continue
            ref = event.get("zhenzhi:consignment")
            inspection = event.get("zhenzhi:inspection")
            if isinstance(ref, str) and inspection in ("PASSED", "FAILED"):
                latest[ref] = inspection
    return len(latest), sum(1 for v in latest.values() if v == "FAILED")


def enterprise_gtins(prefixes: Sequence[str], gtins: Sequence[str]) -> list[str]:
    """The GTINs whose company prefix (the digits after the indicator) is one of `prefixes`."""
    return [g for g in gtins if any(g[1:1 + len(p)] == p for p in prefixes)]


def gather_facts(declaration: Declaration, *, chain: Any, engine: Engine,
                 complaint_cap: int = 3, scan_cap: int = 20,
                 cold_chain_breaches: Sequence[dict[str, Any]] = ()) -> RiskFacts:
    """Facts for the risk rules. `chain` is a `ledger.chain.client.Chain` (credit grade, blacklist and
    the enterprise's company prefixes); the rest comes from the store. Complaints and scans
    count only for codes the enterprise issued, once per client and code, and for at most
    `complaint_cap` (`scan_cap`) codes per client (`ComplaintBook.counts`). Cold-chain
    breaches come from `ledger.trade.consignment_coldchain` (which reads the whole store)."""
    org = declaration.enterprise
    record = chain.organisation(org)
    if record is None:
        raise UnknownEnterpriseError(f"organisation {_org_hex(org)} is not on Consortium",
                                     enterprise=_org_hex(org))
    book = ComplaintBook(engine)
    gtins = enterprise_gtins(record.prefixes, book.gtins(with_scans=True))
    activity = book.counts(gtins, complaint_cap=complaint_cap, scan_cap=scan_cap)
    past, failed = inspection_history(engine, org)
    return RiskFacts(
        enterprise=_org_hex(org), credit_grade=record.grade, blacklisted=record.blacklisted,
        complaint_count=activity.complaints, scan_count=activity.scans,
        unissued_complaint_count=activity.unissued_complaints,
        unissued_scan_count=activity.unissued_scans,
        past_inspections=past, failed_inspections=failed,
        origin_country=declaration.origin_country, category=declaration.category,
        cold_chain_breaches=tuple(cold_chain_breaches))


def inspecting_event(declaration: Declaration, decision: Decision, inspection: Inspection,
                     rules: RuleSet, *, event_time: str, read_point: str | None = None,
                     epcs: Sequence[str] = (), commitments: Sequence[bytes] | None = None,
                     root: bytes | None = None) -> dict[str, Any]:
    """The EPCIS 2.0 `inspecting` ObjectEvent customs signs for its decision.

    Its `zhenzhi:eventsRoot` is the root recorded on CustomsRelease: `root` as the gateway
    gave it, or the tree over `commitments`, the covered events' commitments in the
    declaration's order.

    Its extension fields (namespace `NAMESPACE`, prefix `zhenzhi`) carry what the risk engine
    and the history query read back; the disposition says the outcome in CBV terms.
    """
    if root is None:
        commitments = tuple(commitments or ())
        if len(commitments) != len(declaration.event_ids):
            raise InvalidInputError(f"{len(commitments)} commitments for "
                                    f"{len(declaration.event_ids)} covered events",
                                    field="commitments")
        root = events_root(commitments)
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": event_time,
        "eventTimeZoneOffset": "+00:00",
        "epcList": list(epcs),
        "action": "OBSERVE",
        "bizStep": "inspecting",
        "zhenzhi:consignment": declaration.consignment,
        "zhenzhi:consignmentKey": "0x" + consignment_key(declaration.consignment).hex(),
        "zhenzhi:enterprise": _org_hex(declaration.enterprise),
        "zhenzhi:decision": decision.name,
        "zhenzhi:inspection": inspection.name,
        "zhenzhi:rulesVersion": rules.version,
        "zhenzhi:eventsRoot": "0x" + bytes(root).hex(),
        # The covered ids, in root order: what a gateway needs to prove an item's event into
        # the root (the root alone proves nothing to anyone).
        "zhenzhi:eventIds": [f"ni:///sha-256;{e.hex()}?ver=CBV2.0" for e in declaration.event_ids],
    }
    if inspection is Inspection.PASSED:
        event["disposition"] = "conformant"
    elif inspection is Inspection.FAILED:
        event["disposition"] = "non_conformant"
    if read_point:
        event["readPoint"] = {"id": read_point}
    return event


def border_event(step: str, *, event_time: str, epcs: Sequence[str], read_point: str | None = None,
                 offset: str = "+08:00", master_data: Sequence[Mapping[str, Any]] = ()
                 ) -> dict[str, Any]:
    """A customs declaration (`DECLARING`, by the declaring enterprise) or release
    (`RELEASING`, by customs) of the goods `epcs`, as an EPCIS 2.0 ObjectEvent; `master_data`
    is the signer's master data for the places and parties it names (`zhenzhi:masterData`)."""
    if step not in (DECLARING, RELEASING):
        raise InvalidInputError(f"not a border step: {step}", field="bizStep")
    event: dict[str, Any] = {
        "type": "ObjectEvent", "eventTime": event_time, "eventTimeZoneOffset": offset,
        "epcList": list(epcs), "action": "OBSERVE", "bizStep": step,
    }
    if read_point:
        event["readPoint"] = {"id": read_point}
    if master_data:
        event["zhenzhi:masterData"] = [dict(m) for m in master_data]
    return event


def declaration_fields(declaration: Declaration, office: bytes) -> dict[str, Any]:
    """What a `DECLARING` event carries so that the customs office it is lodged with finds
    it in its queue (`ledger.trade.customs_queue`) and can judge it: the office (its
    organisation id) and the declaration the risk rules read."""
    if len(office) != 32 or office == bytes(32):
        raise InvalidConsignmentError("the customs office is a non-zero 32-byte organisation id",
                                      field="customsOffice")
    fields: dict[str, Any] = {
        "zhenzhi:customsOffice": _org_hex(office),
        "zhenzhi:consignment": declaration.consignment,
        "zhenzhi:enterprise": _org_hex(declaration.enterprise),
        "zhenzhi:eventIds": [f"ni:///sha-256;{e.hex()}?ver=CBV2.0" for e in declaration.event_ids],
    }
    if declaration.origin_country:
        fields["zhenzhi:originCountry"] = declaration.origin_country
    if declaration.category:
        fields["zhenzhi:category"] = declaration.category
    return fields


def inspecting_document(event: dict[str, Any], *, created: str) -> dict[str, Any]:
    """An EPCIS 2.0 document holding the customs event, with the `zhenzhi` namespace declared
    (the event hash expands extension fields through it)."""
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
                     {"zhenzhi": NAMESPACE}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": created,
        "epcisBody": {"eventList": [event]},
    }
