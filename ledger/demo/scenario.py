"""Play a `ledger.demo.journey` consignment onto a chain and a store, as its real parties would.

Everything goes through the production paths, with no shortcut the verifier could notice:
- each journey organisation is admitted to the Consortium by the operator's ADMIN key through a
  proposal (quorum 1 on a devnet), gets a fresh secp256k1 signing key, and its own GS1 company
  prefix; the manufacturer then owns the product GTINs;
- each EPCIS document is signed by its organisation (`ledger.proofs.signing.sign_capture`, EIP-712
  `Capture`) and taken in by `ledger.pipeline.intake.Intake` (validate, hash, recover, key and role
  checks against the chain, `Store.accept_capture` with its outbox);
- the manufacturer registers each finished lot's item codes on CodeRegistry itself;
- the outbox is anchored on TraceAnchor by `ledger.pipeline.anchoring.AnchorWorker` with the operator's
  ANCHORER key (`anchor_pending`);
- customs records its decision on the consignment on CustomsRelease with its own key, and
  captures it as a signed EPCIS `inspecting` event (`ledger.trade.customs.inspecting_event`) that
  lists the covered event ids: what a real customs node does (`zhenzhi customs decide`), and
  what a gateway proves an item's customs cover from.

`bundle(code)` then builds the evidence a gateway would serve for one can: its events traced
through the case and pallet it travelled in, the code's registration proof and the customs
decision covering it. The end-to-end demo and the verifier's attack tests share this module.

Writes are plain signed transactions (ETH transfers fund the new keys), so a scenario also
plays onto a non-anvil chain. Playing is idempotent per chain for the same journey: members,
prefixes and lots that already exist are reused (a fresh key is added to an existing member).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.chain.client import Chain
from ledger.chain.decisions import Decision, Inspection
from ledger.chain.transactor import Transactor
from ledger.chain.view import ChainView
from ledger.demo.journey import Journey, Organisation, build_journey
from ledger.epcis.document import parse_document
from ledger.epcis.event_hash import event_hashes
from ledger.evidence.builder import build_bundle
from ledger.pipeline.anchoring import AnchorWorker
from ledger.pipeline.intake import Intake, IntakeResult
from ledger.proofs.bundle import Bundle, ChainRef, CustomsEvidence, Registration, ScanRecord
from ledger.proofs.capture import CaptureSignature, SignedCapture, events_tree
from ledger.proofs.codes import codes_tree, org_id
from ledger.proofs.merkle import keccak256
from ledger.proofs.signing import (
    CaptureDomain,
    build_signed_capture,
    prepare_capture,
    sign_capture,
)
from ledger.store.store import StoredEvent
from ledger.trade.customs import (
    Declaration,
    covered_commitments,
    inspecting_document,
    inspecting_event,
)
from ledger.trade.issuance import store_lot
from ledger.trade.risk import load_rules

__all__ = ["Party", "Scenario", "consignment_key", "serial_of"]

_FUNDING_WEI = 10**18  # a devnet ether: thousands of transactions at devnet prices


def consignment_key(ref: str) -> bytes:
    """The CustomsRelease key of a customs reference (as `ledger.trade.customs` derives it)."""
    return keccak256(b"zhenzhi:consignment:" + ref.encode("ascii"))


def serial_of(epc: str) -> str:
    """The serial of a serial-level Digital Link (`…/01/<gtin>/21/<serial>`)."""
    return epc.rsplit("/21/", 1)[1]


@dataclass(frozen=True)
class Party:
    """A journey organisation as a consortium member: its id, a signing key, a transactor."""

    org: Organisation
    org_id: bytes
    account: LocalAccount
    tx: Transactor

    @property
    def private_key(self) -> bytes:
        return bytes(self.account.key)

    @property
    def address(self) -> str:
        return str(self.account.address)


@dataclass
class _Played:
    """What playing wrote, for building bundles: event ids by position, and customs cover."""

    ids: dict[tuple[int, int], bytes] = field(default_factory=dict)  # (capture, index) → id
    customs_ref: str | None = None
    customs_ids: tuple[bytes, ...] = ()
    # customs' signed decision events: (event as captured, its id)
    decisions: list[tuple[dict[str, Any], bytes]] = field(default_factory=list)


class Scenario:
    """One journey played onto a chain (via `Chain`) and a store (via `Intake`)."""

    def __init__(self, w3: Any, deployment: Any, store: Any, *, admin_key: str | bytes,
                 journey: Journey | None = None, seed: int = 0) -> None:
        self.w3 = w3
        self.deployment = deployment
        self.store = store
        self.chain = Chain(w3, deployment)
        self.view = ChainView(w3, deployment, max_staleness=0)
        self.domain: CaptureDomain = self.view.domain
        self.intake = Intake(store, self.view, self.domain)
        self.admin = Transactor(w3, Account.from_key(admin_key))
        self.journey = journey or build_journey(seed)
        self.parties: dict[str, Party] = {}
        self.played = _Played()
        self._nonce = time.time_ns() // 1000  # unique per org across plays into one store
        self._seeds: dict[bytes, bytes] = {}  # signature → the disclosure seed signed over

    # --- consortium -------------------------------------------------------------------------

    def enrol(self) -> dict[str, Party]:
        """Admit every journey organisation (or add a fresh key to it), fund its key and give
        it its company prefix."""
        for key, org in self.journey.organisations.items():
            self.parties[key] = self.enrol_one(org, [org.role])
        return self.parties

    def enrol_one(self, org: Organisation, roles: Sequence[str]) -> Party:
        account = Account.create()
        self.admin.send(to=account.address, value=_FUNDING_WEI)
        if self.chain.organisation(org.gln) is None:
            pid = self.chain.propose_admit(self.admin, org.gln, org.name, list(roles),
                                           [account.address]).event("ProposalCreated")["id"]
        else:
            pid = self.chain.propose_add_key(self.admin, org.gln,
                                             account.address).event("ProposalCreated")["id"]
        self.chain.execute(self.admin, pid)
        if self.chain.prefix_owner(org.company_prefix) is None:
            pid = self.chain.propose_assign_prefix(self.admin, org.gln, org.company_prefix
                                                   ).event("ProposalCreated")["id"]
            self.chain.execute(self.admin, pid)
        return Party(org, org_id(org.gln), account, Transactor(self.w3, account))

    # --- captures ---------------------------------------------------------------------------

    def signed_at(self) -> int:
        """Now, by the later of our clock and the chain's: a key is valid from the block that
        added it, and a devnet's block clock can run ahead of the wall clock."""
        latest = int(self.w3.eth.get_block("latest")["timestamp"])
        return max(int(time.time()), latest)

    def next_nonce(self) -> int:
        self._nonce += 1
        return self._nonce

    def sign(self, party: Party, document: Mapping[str, Any], *, signer: LocalAccount | None = None,
             signed_at: int | None = None) -> tuple[Any, list[bytes], CaptureSignature]:
        """Parse, hash and sign one document as `party` (with `signer`'s key if given)."""
        doc = parse_document(dict(document))
        ids = event_hashes(doc)
        seed, _, root = prepare_capture(doc.events, ids)
        sig = sign_capture(bytes((signer or party.account).key), self.domain,
                           root, len(ids), party.org_id, self.next_nonce(),
                           self.signed_at() if signed_at is None else signed_at)
        self._seeds[bytes(sig.signature)] = seed
        return doc, ids, sig

    def seed_of(self, sig: CaptureSignature) -> bytes:
        """The disclosure seed `sign` drew for `sig` (sent with it, as a signer does)."""
        return self._seeds[bytes(sig.signature)]

    def capture(self, party: Party, document: Mapping[str, Any]) -> IntakeResult:
        """Sign and submit one document through the gateway's intake (all checks applied)."""
        _, _, sig = self.sign(party, document)
        return self.intake.accept(dict(document), sig, seed=self.seed_of(sig))

    def capture_unchecked(self, party: Party, document: Mapping[str, Any], *,
                          signer: LocalAccount | None = None,
                          signed_at: int | None = None) -> SignedCapture:
        """Store a signed document *without* the intake's key and role checks: what a lying
        gateway (or one whose checks were bypassed) can do. The verifier must catch it."""
        doc, ids, sig = self.sign(party, document, signer=signer, signed_at=signed_at)
        signed = build_signed_capture(list(doc.events), doc.context, ids, sig, self.domain,
                                      seed=self.seed_of(sig))
        self.store.accept_capture(signed)
        return signed

    def play(self) -> None:
        """Enrol, capture every document, register the lots, anchor, record customs."""
        if not self.parties:
            self.enrol()
        for c_index, cap in enumerate(self.journey.captures):
            result = self.capture(self.parties[cap.org.key], cap.document)
            for e_index, event_id in enumerate(result.capture.event_ids):
                self.played.ids[(c_index, e_index)] = event_id
        self.register_lots()
        self.declare()
        self.record_customs()
        self.release()
        self.anchor_pending()

    # --- chain facts ------------------------------------------------------------------------

    def register_lots(self) -> None:
        """The brand registers each finished lot's codes (its own transaction, its own key)."""
        brand = self.parties["manufacturer"]
        for lot in self.journey.lots:
            if not lot.items:
                continue  # bulk base powder: weighed, not serialised
            # The gateway's issuance record first (the resolver proves codes from it), then
            # the commitment on chain: the same serials in the same order, so the same root.
            issued = store_lot(self.store.engine, lot.ref.gtin, lot.ref.lot,
                               [serial_of(e) for e in lot.items])
            on_chain = self.chain.lot(lot.ref.gtin, lot.ref.lot)
            if on_chain is not None and on_chain.codes_root == issued.codes_root:
                continue  # played before onto this chain
            self.chain.register_lot(brand.tx, lot.ref.gtin, lot.ref.lot, issued.codes_root,
                                    issued.count)

    def anchor_pending(self) -> int:
        """Anchor everything in the outbox with the real anchoring worker (the operator's
        ANCHORER key), until nothing is pending; returns the captures anchored."""
        worker = AnchorWorker(self.store, self.chain, self.admin)
        return worker.run(once=True).captures

    def record_customs(self, *, ref: str | None = None, decision: str = "NORMAL_CONTROL",
                       inspection: str = "PASSED") -> bytes:
        """Customs records its decision on the consignment (the export shipping, the voyage
        and its own inspections of the pallets, as one events root) on CustomsRelease with its
        own key, then captures the decision as its signed `inspecting` event listing the
        covered ids, through the intake. Call `anchor_pending` afterwards to anchor it."""
        from datetime import datetime, timedelta

        ref = ref or f"CN-NS-{self.journey.seed:06d}"
        covered = self._consignment_event_ids()
        key = consignment_key(ref)
        rules = load_rules("v1")
        commitments = covered_commitments(self.store.engine, covered)
        self.chain.record_decision(self.parties["customs"].tx, key, decision, inspection,
                                   events_tree(commitments).root, rules.version,
                                   bytes.fromhex(rules.sha256))
        # Business time: just after customs' last inspection of the consignment, at the same
        # site, naming the pallets it inspected (so the decision is part of each can's story).
        last = max((ev for cap in self.journey.captures if cap.org.key == "customs"
                    for ev in cap.events if ev.get("bizStep") == "inspecting"),
                   key=lambda ev: datetime.fromisoformat(ev["eventTime"]))
        at = datetime.fromisoformat(last["eventTime"]) + timedelta(minutes=30)
        event_time = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        pallets = [c.epc for c in self.journey.containers if c.kind == "pallet"]
        declaration = Declaration(ref, self.parties["manufacturer"].org_id, "NZ", None,
                                  tuple(covered))
        event = inspecting_event(declaration, Decision.parse(decision), Inspection.parse(inspection),
                                 rules, event_time=event_time, epcs=pallets,
                                 read_point=(last.get("readPoint") or {}).get("id"),
                                 commitments=commitments)
        event["eventTimeZoneOffset"] = last.get("eventTimeZoneOffset", "+00:00")
        result = self.capture(self.parties["customs"],
                              inspecting_document(event, created=event_time))
        self.played.customs_ref, self.played.customs_ids = ref, tuple(covered)
        self.played.decisions.append((event, result.capture.event_ids[0]))
        return key

    def _pallets(self) -> list[str]:
        return [c.epc for c in self.journey.containers if c.kind == "pallet"]

    def _border_time(self, step: str, minutes: int) -> tuple[str, str]:
        """`minutes` after the consignment's last `step` event (its time, its offset)."""
        from datetime import datetime, timedelta

        last = max((ev for ev in self.journey.events if ev.get("bizStep") == step),
                   key=lambda ev: datetime.fromisoformat(ev["eventTime"]))
        at = datetime.fromisoformat(last["eventTime"]) + timedelta(minutes=minutes)
        return (at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                str(last.get("eventTimeZoneOffset", "+00:00")))

    def _border(self, who: str, step: str, after: str, minutes: int, read_point: str) -> None:
        from ledger.demo.journey import signer_master_data
        from ledger.trade.customs import border_event

        org = self.parties[who].org
        event_time, offset = self._border_time(after, minutes)
        event = border_event(step, event_time=event_time, epcs=self._pallets(), offset=offset,
                             read_point=org.read_point(read_point),
                             master_data=signer_master_data(org, read_point))
        result = self.capture(self.parties[who],
                              inspecting_document(event, created=event_time))
        self.played.decisions.append((event, result.capture.event_ids[0]))

    def declare(self) -> None:
        """The platform, which owns the goods from the export on, declares them to customs
        half an hour after the vessel arrives (a signed declaration event)."""
        from ledger.trade.customs import DECLARING

        self._border("platform", DECLARING, "arriving", 30, "customs-desk")

    def release(self) -> None:
        """Customs releases the goods an hour after its last inspection (a signed event)."""
        from ledger.trade.customs import RELEASING

        self._border("customs", RELEASING, "inspecting", 60, "inspection-yard")

    def _consignment_event_ids(self) -> list[bytes]:
        steps = ("departing", "transporting", "arriving", "inspecting")
        out = []
        for (c_index, e_index), event_id in sorted(self.played.ids.items()):
            cap = self.journey.captures[c_index]
            ev = cap.events[e_index]
            export = cap.org.key == "exporter" and ev.get("bizStep") == "shipping"
            if export or ev.get("bizStep") in steps:
                out.append(event_id)
        return out

    # --- what a gateway serves --------------------------------------------------------------

    def item_events(self, epc: str) -> list[StoredEvent]:
        """The stored events of one can: those naming it, its case while it was in the case,
        and the case's pallet while the case was on it, in event-time order."""
        # (EPC, from, until) as eventTimes, which sort as text ("~" sorts after any time).
        spans: list[tuple[str, str, str]] = [(epc, "", "~")]
        for kind in ("case", "pallet"):
            for c in self.journey.containers:
                if c.kind != kind:
                    continue
                for inner, start, until in list(spans):
                    if inner in c.children:
                        lo, hi = max(start, c.packed_at), min(until, c.unpacked_at or "~")
                        if lo <= hi:
                            spans.append((c.epc, lo, hi))
        wanted: list[tuple[str, bytes]] = []
        played = [(self.journey.captures[c].events[e], event_id)
                  for (c, e), event_id in sorted(self.played.ids.items())]
        for ev, event_id in [*played, *self.played.decisions]:
            named = set(ev.get("epcList") or ()) | set(ev.get("childEPCs") or ())
            if ev.get("parentID"):
                named.add(ev["parentID"])
            t = ev["eventTime"]
            if any(s in named and lo <= t <= hi for s, lo, hi in spans):
                wanted.append((t, event_id))
        out = []
        for _, event_id in sorted(wanted):
            stored = self.store.get_event(event_id)
            if stored is not None:
                out.append(stored)
        return out

    def registration(self, epc: str) -> Registration | None:
        for lot in self.journey.lots:
            if epc in lot.items:
                tree = codes_tree(lot.ref.gtin, [serial_of(e) for e in lot.items])
                return Registration(lot.ref.gtin, lot.ref.lot,
                                    tuple(tree.proof(lot.items.index(epc))))
        return None

    def customs_evidence(self, event_ids: Iterable[bytes]) -> list[CustomsEvidence]:
        if self.played.customs_ref is None:
            return []
        covered = list(self.played.customs_ids)
        commitments = covered_commitments(self.store.engine, covered)
        tree = events_tree(commitments)
        key = consignment_key(self.played.customs_ref)
        mine = set(event_ids)
        return [CustomsEvidence(key, commitments[i], tuple(tree.proof(i)))
                for i, e in enumerate(covered) if e in mine]

    def chain_ref(self) -> ChainRef:
        return ChainRef(self.deployment.chainId,
                        {n: r.address for n, r in self.deployment.contracts.items()},
                        int(self.w3.eth.block_number))

    def bundle(self, epc: str, *, events: Sequence[StoredEvent] | None = None,
               scans: Sequence[ScanRecord] = ()) -> Bundle:
        """The evidence bundle a gateway serves for the can `epc` (its Digital Link)."""
        stored = list(events) if events is not None else self.item_events(epc)
        return build_bundle(self.store, epc, chain=self.chain_ref(), events=stored,
                            registration=self.registration(epc),
                            customs=self.customs_evidence(e.event_id for e in stored),
                            scans=scans, source="scenario")

    # --- convenience for callers ------------------------------------------------------------

    def sold_cans(self, product: str = "stage1") -> list[str]:
        """Cans of `product` that were sold, in a stable order."""
        lot = next(lot for lot in self.journey.lots if lot.product == product)
        return [e for e in lot.items if e in self.journey.sold]

    def lot_of(self, epc: str) -> Any:
        return next(lot for lot in self.journey.lots if epc in lot.items)

