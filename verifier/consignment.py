"""`verify_consignment(bundle, chain_view) -> ConsignmentVerdict`: check what customs decided on.

The checks are the item verifier's (`verifier.verify`), run over a consignment's events:
each event's fields against its signed commitment, its path into the capture's signed
eventsRoot, the capture's signer recovered and its key, membership and role valid at the
signing time (`Consortium.wasValidSigner`), the capture anchored on TraceAnchor, and who may
speak about the goods (`ledger.epcis.entitlement`). Then the consignment's own:

- `consignment.id`: the CustomsRelease key is the reference's;
- `customs.decision`: the decision in force on CustomsRelease (and the whole history, oldest
  first, read with `decisionAt`), released, refused or pending;
- `customs.cover`: each covered event's path into the decision's eventsRoot;
- `customs.record`: customs' own signed decision events say what the chain says;
- `code.registered`, `code.prefix_owner`, `lot.status`: each lot the goods were commissioned in
  (members' view only: the bank's view discloses no lot).

Events that name none of the consignment's EPCs (nor goods packed into them) and are neither a
decision nor covered are left out (`event.about`, SKIPPED): a gateway cannot lend another
consignment's events. Organisation names come from Consortium at the pinned block. Like
`verify`, nothing here is believed: every fact is recomputed or read from the chain view,
which for sealed evidence is the proven state (`ledger.chain.proven.ProvenView`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.epcis.gs1 import DigitalLink
from ledger.errors import LedgerError
from ledger.evidence.consignment import (
    ConsignmentBundle,
    consignment_epcs,
    decision_fields,
    goods_closure,
    named_epcs,
)
from ledger.proofs.capture import event_leaf
from ledger.proofs.consignment_key import consignment_key
from ledger.proofs.merkle import process_proof
from verifier.verdict import Check, CheckName, Outcome, Verdict, VerdictKind, decide
from verifier.verify import (
    _ENTITLED_PASS,
    VerifyOptions,
    _capture_checked,
    _entitled,
    _EventFacts,
    _facts,
    _recover,
    _role_pass,
    _same_contracts,
)

__all__ = ["ConsignmentVerdict", "Decision", "LotState", "StoryStep", "verify_consignment"]

PASS, FAIL, MISSING, SKIPPED = Outcome.PASS, Outcome.FAIL, Outcome.MISSING, Outcome.SKIPPED


@dataclass(frozen=True, slots=True)
class StoryStep:
    """One verified event, as a report shows it."""

    index: int  # into bundle.events
    event_time: str | None
    offset: str | None
    bizstep: str | None
    disposition: str | None
    place: str | None  # bizLocation, else readPoint
    org: str  # 0x organisation id of the signer
    org_name: str | None
    signer: str | None
    signed_at: int
    anchored_block: int | None
    documents: tuple[tuple[str, str], ...]  # (type, id) of bizTransactions
    epcs: int  # EPCs the event names (as disclosed)
    covered: bool  # proven into the customs decision's events root


@dataclass(frozen=True, slots=True)
class Decision:
    sequence: int
    decision: str
    inspection: str
    decided_at: int
    recorder: str
    events_root: bytes
    released: bool
    refused: bool


@dataclass(frozen=True, slots=True)
class LotState:
    gtin: str
    lot: str
    status: str | None  # active | recalled | withdrawn | None (not registered)
    owner: str | None
    owner_name: str | None
    count: int | None


@dataclass(frozen=True, slots=True)
class ConsignmentVerdict:
    verdict: Verdict
    story: tuple[StoryStep, ...] = ()
    decisions: tuple[Decision, ...] = ()
    lots: tuple[LotState, ...] = ()
    names: Mapping[str, str] = field(default_factory=dict)  # 0x org id → name

    @property
    def kind(self) -> VerdictKind:
        return self.verdict.kind

    def documents(self) -> dict[str, list[str]]:
        """The trade documents the verified events carry, by bizTransaction type."""
        out: dict[str, list[str]] = {}
        for s in self.story:
            for kind, ident in s.documents:
                if ident not in out.setdefault(kind, []):
                    out[kind].append(ident)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            **self.verdict.to_json(),
            "decisions": [{"sequence": d.sequence, "decision": d.decision,
                           "inspection": d.inspection, "decidedAt": d.decided_at,
                           "recorder": d.recorder, "eventsRoot": "0x" + d.events_root.hex(),
                           "released": d.released, "refused": d.refused}
                          for d in self.decisions],
            "lots": [{"gtin": x.gtin, "lot": x.lot, "status": x.status, "owner": x.owner,
                      "ownerName": x.owner_name, "codes": x.count} for x in self.lots],
            "story": [{"event": s.index, "eventTime": s.event_time, "offset": s.offset,
                       "bizStep": s.bizstep, "disposition": s.disposition, "place": s.place,
                       "org": s.org, "orgName": s.org_name, "signer": s.signer,
                       "signedAt": s.signed_at, "anchoredBlock": s.anchored_block,
                       "documents": [{"type": k, "id": v} for k, v in s.documents],
                       "epcs": s.epcs, "covered": s.covered} for s in self.story],
            "documents": self.documents(),
            "organisations": dict(self.names),
        }


def verify_consignment(bundle: ConsignmentBundle, chain_view: Any, *, now: int | None = None,
                       options: VerifyOptions = VerifyOptions()  # noqa: B008 - frozen
                       ) -> ConsignmentVerdict:
    checked_at = int(time.time()) if now is None else now
    block = chain_view.sync()
    chain_id = chain_view.chain_id
    label = bundle.code

    def done(checks: list[Check], **rest: Any) -> ConsignmentVerdict:
        return ConsignmentVerdict(decide(label, checks, chain_id=chain_id, block_number=block,
                                         checked_at=checked_at), **rest)

    checks: list[Check] = []
    if bundle.chain.chain_id != chain_id or not _same_contracts(bundle.chain.contracts,
                                                                  chain_view.contracts):
        checks.append(Check(CheckName.BUNDLE_CHAIN, MISSING,
                            f"the evidence names chain {bundle.chain.chain_id} or contracts "
                            f"this verifier does not read (chain {chain_id})"))
        return done(checks)
    checks.append(Check(CheckName.BUNDLE_CHAIN, PASS, f"evidence for chain {chain_id}"))
    if bundle.consignment is not None:
        try:
            ok = consignment_key(bundle.consignment) == bundle.key
        except LedgerError:
            ok = False
        if not ok:
            checks.append(Check(CheckName.CONSIGNMENT_ID, FAIL,
                                f"key 0x{bundle.key.hex()[:16]}… is not the CustomsRelease key "
                                f"of reference {bundle.consignment[:64]!r}"))
            return done(checks)
        checks.append(Check(CheckName.CONSIGNMENT_ID, PASS,
                            f"consignment {bundle.consignment} is CustomsRelease key "
                            f"0x{bundle.key.hex()}"))

    facts = _facts(bundle)  # type: ignore[arg-type]
    _prefetch(chain_view, bundle, facts)
    orgs = tuple(bundle.captures[e.capture].signature.org for e in bundle.events)
    entitled = _entitled(facts, orgs, chain_view.prefix_owner)
    covered_ok: dict[bytes, bool] = {}

    # The decisions on chain, oldest first.
    history = chain_view.customs_history(bundle.key)
    decisions = tuple(Decision(r.count, r.decision, r.inspection, r.decided_at, r.recorder,
                               r.events_root, r.released, r.refused) for r in history)
    latest = history[-1] if history else None
    for claim in bundle.customs:
        covered_ok[claim.commitment] = (
            claim.consignment == bundle.key and latest is not None
            and process_proof(event_leaf(claim.commitment), claim.proof) == latest.events_root)

    # Which events are about this consignment: its decisions, the events they cover, and the
    # events naming its EPCs or goods packed into them (read from the verified events only).
    good_facts = [(i, f) for i, f in enumerate(facts)
                  if f is not None and f.in_capture and f.actual is not None]
    epcs = consignment_epcs((f.event for i, f in good_facts if i in entitled), bundle.key)
    closure = goods_closure(epcs, (f.event for i, f in good_facts if i in entitled))
    about = {i for i, f in good_facts
             if _is_decision(f.event, bundle.key)
             or covered_ok.get(bundle.events[i].commitment)
             or _names(f.event) & closure}

    capture_ok: dict[int, tuple[bool, str | None, int | None]] = {}
    capture_checks: dict[int, tuple[Check, ...]] = {}
    event_checks: list[Check] = []
    verified: list[int] = []
    ignored = False
    for i, (e, f) in enumerate(zip(bundle.events, facts, strict=True)):
        if f is None:
            event_checks.append(Check(CheckName.EVENT_ID, FAIL, "an event is not JSON: it "
                                      "cannot have been captured",
                                      subject="event 0x" + e.commitment.hex()))
            continue
        if f.in_capture and f.actual is not None and i not in entitled:
            ignored = True
            event_checks.append(Check(
                CheckName.SIGNER_ENTITLED, MISSING,
                f"left out: nothing shows organisation 0x{orgs[i].hex()[:12]}… entitled to "
                "speak about these goods", subject=f.checks[0].subject,
                details={"org": "0x" + orgs[i].hex()}))
            continue
        if f.in_capture and f.actual is not None and i not in about:
            event_checks.append(Check(
                CheckName.EVENT_ABOUT, SKIPPED, "left out: it names none of the consignment's "
                "EPCs and is neither its customs decision nor covered by it",
                subject=f.checks[0].subject))
            continue
        event_checks.extend(f.checks)
        if not f.in_capture or f.actual is None:
            continue
        if e.capture not in capture_ok:
            result, cchecks = _capture_checked(e.capture, bundle.captures[e.capture],
                                               chain_view.domain, chain_view, options)
            capture_ok[e.capture], capture_checks[e.capture] = result, cchecks
        ok, signer, _ = capture_ok[e.capture]
        if signer is not None:
            sig = bundle.captures[e.capture].signature
            if chain_view.was_valid_signer(sig.org, signer, f.role, sig.signed_at):
                event_checks.append(_role_pass(f.role, f.checks[0].subject))
            else:
                event_checks.append(Check(
                    CheckName.SIGNER_ROLE, FAIL, f"bizStep {f.event.get('bizStep') or 'none'} "
                    f"needs role {f.role}, which the signer's organisation did not hold when it "
                    "signed", subject=f.checks[0].subject, details={"role": f.role}))
                continue
        if ok:
            verified.append(i)
    for index in sorted(capture_checks):
        checks.extend(capture_checks[index])
    checks.extend(event_checks)
    if verified and not ignored:
        checks.append(_ENTITLED_PASS)
    if not bundle.events:
        checks.append(Check(CheckName.EVENT_ID, MISSING, "the evidence holds no event"))

    checks.extend(_customs(bundle, facts, verified, decisions, covered_ok))
    lots = _lots(bundle, facts, verified, chain_view)
    for lot in lots:
        checks.extend(_lot_checks(lot, chain_view))

    names = _names_of(chain_view, {bundle.captures[e.capture].signature.org
                                   for e in bundle.events}
                      | {bytes.fromhex(x.owner[2:]) for x in lots if x.owner})
    story = tuple(_step(i, bundle, facts[i], capture_checks.get(bundle.events[i].capture, ()),  # type: ignore[arg-type]
                        capture_ok, names, covered_ok)
                  for i in sorted(verified, key=lambda i: _time_key(facts[i])))
    states = tuple(LotState(x.gtin, x.lot, x.status, x.owner, names.get(x.owner or ""), x.count)
                   for x in lots)
    return done(checks, story=story, decisions=decisions, lots=states, names=names)


# --- pieces ----------------------------------------------------------------------------------

def _is_decision(event: Mapping[str, Any], key: bytes) -> bool:
    found = decision_fields(event).get("consignmentKey")
    return (event.get("bizStep") == "inspecting" and isinstance(found, str)
            and found.lower() == "0x" + key.hex())


def _names(event: Mapping[str, Any]) -> set[str]:
    return named_epcs(event)


def _time_key(f: _EventFacts | None) -> str:
    return str((f.event if f else {}).get("eventTime") or "")


def _prefetch(view: Any, bundle: ConsignmentBundle, facts: Sequence[_EventFacts | None]) -> None:
    from ledger.chain.view import Read

    reads = [Read("decisionCount", (bundle.key,))]
    for c in bundle.captures:
        if c.anchor is not None:
            reads.append(Read("anchorOf", (c.anchor.batch_root,)))
        signer, _ = _recover(view.domain, c.signature)
        if signer is not None:
            reads.append(Read("keyInfo", (signer,)))
    view.prefetch(reads)


def _customs(bundle: ConsignmentBundle, facts: Sequence[_EventFacts | None],
             verified: Sequence[int], decisions: Sequence[Decision],
             covered_ok: Mapping[bytes, bool]) -> list[Check]:
    if not decisions:
        return [Check(CheckName.CUSTOMS_DECISION, MISSING,
                      "no customs decision on CustomsRelease names this consignment")]
    latest = decisions[-1]
    out: list[Check] = []
    held = {bundle.events[i].commitment for i in verified}
    for n, claim in enumerate(bundle.customs):
        subject = f"customs {n}"
        if claim.commitment not in held:
            out.append(Check(CheckName.CUSTOMS_COVER, FAIL, "names no verified event of the "
                             "evidence", subject=subject))
        elif not covered_ok.get(claim.commitment):
            out.append(Check(CheckName.CUSTOMS_COVER, FAIL, "the event's path does not lead to "
                             "the events root of the decision in force", subject=subject))
    covered = sum(1 for i in verified if covered_ok.get(bundle.events[i].commitment))
    if not out:
        out.append(Check(CheckName.CUSTOMS_COVER, PASS if covered else MISSING,
                         f"{covered} events proven covered by the decision in force"
                         if covered else "no event is proven covered by the decision"))
    # Customs' own signed word must agree with the chain's record.
    signed = [decision_fields(facts[i].event) for i in verified  # type: ignore[union-attr]
              if _is_decision(facts[i].event, bundle.key)]  # type: ignore[union-attr]
    roots = {"0x" + d.events_root.hex(): d for d in decisions}
    for fields in signed:
        record = roots.get(str(fields.get("eventsRoot", "")).lower())
        if record is None or fields.get("decision") != record.decision:
            out.append(Check(CheckName.CUSTOMS_RECORD, FAIL,
                             "customs' signed decision event names a root or decision that "
                             "CustomsRelease does not hold for this consignment",
                             details={"signed": {k: fields.get(k) for k in
                                                 ("decision", "inspection", "eventsRoot")}}))
    if signed and not any(c.name == CheckName.CUSTOMS_RECORD for c in out):
        out.append(Check(CheckName.CUSTOMS_RECORD, PASS,
                         f"{len(signed)} decision event(s) signed by customs match the chain"))
    elif not signed:
        out.append(Check(CheckName.CUSTOMS_RECORD, MISSING,
                         "no decision event signed by customs is in the evidence"))
    details = {"consignment": "0x" + bundle.key.hex(), "decision": latest.decision,
               "inspection": latest.inspection, "decidedAt": latest.decided_at,
               "decisions": len(decisions)}
    when = _iso(latest.decided_at)
    if latest.released:
        out.append(Check(CheckName.CUSTOMS_DECISION, PASS,
                         f"released: {latest.decision}, inspection {latest.inspection}, "
                         f"recorded {when}", details=details))
    elif latest.refused:
        out.append(Check(CheckName.CUSTOMS_DECISION, FAIL,
                         f"refused: {latest.decision}, inspection {latest.inspection}, recorded "
                         f"{when}", details=details))
    else:
        out.append(Check(CheckName.CUSTOMS_DECISION, MISSING,
                         f"not released: {latest.decision}, inspection {latest.inspection}, "
                         f"recorded {when}", details=details))
    return out


@dataclass(frozen=True, slots=True)
class _Lot:
    gtin: str
    lot: str
    status: str | None
    owner: str | None
    count: int | None
    record: Any


def _lots(bundle: ConsignmentBundle, facts: Sequence[_EventFacts | None],
          verified: Sequence[int], view: Any) -> list[_Lot]:
    """The lots the goods were commissioned in: (GTIN of the commissioned EPCs, the ILMD lot)."""
    found: dict[tuple[str, str], None] = {}
    for i in verified:
        ev = facts[i].event  # type: ignore[union-attr]
        if ev.get("bizStep") != "commissioning" or not isinstance(ev.get("ilmd"), Mapping):
            continue
        lot = next((v for k, v in ev["ilmd"].items()
                    if str(k).rsplit(":", 1)[-1].rsplit("/", 1)[-1] == "lotNumber"), None)
        if not isinstance(lot, str):
            continue
        for epc in ev.get("epcList") or ():
            try:
                gtin = DigitalLink.parse(epc).gtin14
            except LedgerError:
                continue
            found[(gtin, lot)] = None
    out = []
    for gtin, lot in sorted(found):
        try:
            record = view.lot(gtin, lot)
        except LedgerError:
            record = None
        out.append(_Lot(gtin, lot, None if record is None else record.status,
                        None if record is None else "0x" + record.owner.hex(),
                        None if record is None else record.count, record))
    return out


def _lot_checks(lot: _Lot, view: Any) -> list[Check]:
    subject = f"lot {lot.lot} of GTIN {lot.gtin}"
    if lot.record is None:
        return [Check(CheckName.CODE_REGISTERED, FAIL, f"lot {lot.lot} of GTIN {lot.gtin} is "
                      "not registered on CodeRegistry", subject=subject)]
    out = [Check(CheckName.CODE_REGISTERED, PASS,
                 f"lot {lot.lot} registered on CodeRegistry ({lot.count} codes)", subject=subject)]
    owner = view.prefix_owner(lot.gtin)
    if owner is None or owner != lot.record.owner:
        out.append(Check(CheckName.CODE_PREFIX_OWNER, FAIL,
                         f"lot {lot.lot} was registered by an organisation that does not own "
                         f"the company prefix of GTIN {lot.gtin}", subject=subject))
    else:
        out.append(Check(CheckName.CODE_PREFIX_OWNER, PASS,
                         "registered by the owner of the GTIN's company prefix", subject=subject))
    if lot.status == "active":
        out.append(Check(CheckName.LOT_STATUS, PASS, f"lot {lot.lot} is active at this block",
                         fails_as=VerdictKind.RECALLED, subject=subject))
    else:
        out.append(Check(CheckName.LOT_STATUS, FAIL,
                         f"lot {lot.lot} is {lot.status} as of this block; the signed events "
                         "and customs' decision stand as they were recorded",
                         fails_as=VerdictKind.RECALLED,
                         subject=subject,
                         details={"status": lot.status, "reasonHash": "0x" + bytes(
                             lot.record.reason_hash or b"").hex()}))
    return out


def _names_of(view: Any, orgs: set[bytes]) -> dict[str, str]:
    from ledger.chain.view import Read

    view.prefetch(Read("organisation", (o,)) for o in sorted(orgs))
    out = {}
    for o in sorted(orgs):
        name = view.org_name(o)
        if name is not None:
            out["0x" + o.hex()] = name
    return out


def _step(i: int, bundle: ConsignmentBundle, f: _EventFacts, cchecks: Sequence[Check],
          capture_ok: Mapping[int, tuple[bool, str | None, int | None]],
          names: Mapping[str, str], covered_ok: Mapping[bytes, bool]) -> StoryStep:
    e = bundle.events[i]
    ev = f.event
    sig = bundle.captures[e.capture].signature
    org = "0x" + sig.org.hex()
    block = next((c.details.get("block") for c in cchecks
                  if c.name == CheckName.CAPTURE_ANCHORED and c.outcome is PASS), None)
    place = _id(ev.get("bizLocation")) or _id(ev.get("readPoint"))
    docs = tuple((str(b.get("type")), str(b.get("bizTransaction")))
                 for b in ev.get("bizTransactionList") or () if isinstance(b, Mapping))
    epcs = len(_names(ev) | {x for x in ev.get("epcList") or () if isinstance(x, str)})
    return StoryStep(i, ev.get("eventTime"), ev.get("eventTimeZoneOffset"), ev.get("bizStep"),
                     ev.get("disposition"), place, org, names.get(org),
                     capture_ok.get(e.capture, (False, None, None))[1], sig.signed_at, block,
                     docs, epcs, bool(covered_ok.get(e.commitment)))


def _id(value: Any) -> str | None:
    if isinstance(value, Mapping) and isinstance(value.get("id"), str):
        return value["id"]
    return None


def _iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
