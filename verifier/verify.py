"""`verify(code, bundle, chain_view) -> Verdict`: check a scanned code against the chain.

Nothing in the bundle is believed: event ids are recomputed from the events, proofs re-hashed,
signers recovered, and every root, key, role, lot, prefix and customs decision is read from the
chain through the injected `ChainView` (pinned to one block, so one verification sees one
state). The order follows DESIGN.md "Verifier"; each step adds `Check`s, and
`verifier.verdict.decide` turns them into the verdict.

Pure functions of their inputs are memoised (signature recovery by digest and signature, event
hashes by the event's exact JSON): a gateway serves the same few hundred journeys all day, and
recomputing a result from identical bytes cannot give a different answer.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import orjson

from ledger.chain.roles import required_role
from ledger.epcis.document import event_epcs
from ledger.epcis.entitlement import (
    AUTHORITY_ROLES,
    MAX_CONTAINER_DEPTH,
    containers_of,
    not_entitled,
    owner_key,
    receiver_keys,
    receivers,
    subjects,
)
from ledger.epcis.event_hash import event_hash
from ledger.epcis.gs1 import DigitalLink
from ledger.errors import LedgerError
from ledger.evidence.public import item_path, names_path
from ledger.proofs.bundle import Bundle, CaptureEvidence, ScanRecord
from ledger.proofs.capture import capture_leaf, event_leaf
from ledger.proofs.codes import lot_key
from ledger.proofs.disclosure import Disclosed, DisclosureError, check_full, read_disclosed
from ledger.proofs.merkle import process_proof
from ledger.proofs.signing import CaptureDomain, capture_digest, recover_signer
from ledger.trade.profile import ConsumerProfile, ProfileEvent, consumer_profile
from verifier import journey as journey_mod
from verifier.clone import ClonePolicy, check_scans
from verifier.coldchain import cold_chain_section
from verifier.verdict import Check, CheckName, Outcome, Verdict, VerdictKind, decide

__all__ = ["VerifyOptions", "verify"]

RECALLED = VerdictKind.RECALLED
MISSING = Outcome.MISSING
PASS = Outcome.PASS
FAIL = Outcome.FAIL
SKIPPED = Outcome.SKIPPED


@dataclass(frozen=True, slots=True)
class VerifyOptions:
    """The verifier's side of the rules written once in gateway/README.md: "When a signature
    counts" (`skew_s`, `anchor_grace_s`) and "Who may speak about an item"."""

    # The market the verifier serves: goods whose brand declares another country of origin
    # are imported and need a customs decision.
    market: str = "CN"
    # How long a capture may wait between signing and anchoring: the signing key must still
    # have been valid this long before the anchor. Without it, a thief holding a revoked key
    # could sign with a back-dated `signedAt` that falls inside the key's old window.
    anchor_grace_s: int = 3600
    # Clock skew tolerated between the signer's clock and the chain's.
    skew_s: int = 300
    clone: ClonePolicy = ClonePolicy()


def verify(code: str, bundle: Bundle | None, chain_view: Any, *,
           scans: Sequence[ScanRecord] | None = None, now: int | None = None,
           options: VerifyOptions = VerifyOptions(), witnesses: Sequence[Any] = ()) -> Verdict:
    """Judge one scanned code (a Digital Link URI) with a gateway's bundle (or None).

    `witnesses` are other nodes' web3 clients: each must hold the very block the verifier
    reads at (same number, same hash), or the verdict cannot be GENUINE: one node could be
    lying or on a diverged fork, and a verifier cannot tell which."""
    checked_at = int(time.time()) if now is None else now
    block = chain_view.sync()
    chain_id = chain_view.chain_id
    agreement = [_node_agreement(chain_view, block, w) for w in witnesses]

    def done(checks: list[Check], key: str) -> Verdict:
        return decide(key, [*agreement, *checks], chain_id=chain_id, block_number=block,
                      checked_at=checked_at)

    checks: list[Check] = []
    try:
        link = _parse_link(code)
    except LedgerError as exc:
        checks.append(Check(CheckName.CODE_FORMAT, FAIL,
                            f"not a valid GS1 Digital Link item code: {exc}"))
        return done(checks, code)
    key = link.key()
    if link.serial is None:
        checks.append(Check(CheckName.CODE_FORMAT, FAIL,
                            "the code names a product but no serial: it identifies no item"))
        return done(checks, key)
    checks.append(Check(CheckName.CODE_FORMAT, PASS, f"GTIN {link.gtin14}, serial {link.serial}"))

    if bundle is None:
        checks.append(Check(CheckName.BUNDLE_CODE, MISSING, "no evidence was available for this code"))
        return done(checks, key)
    try:
        bundle_key = _parse_link(bundle.code).key()
    except LedgerError:
        bundle_key = None
    if bundle_key != key:
        checks.append(Check(CheckName.BUNDLE_CODE, MISSING,
                            f"the evidence is for another code ({bundle.code})"))
        return done(checks, key)
    if bundle.chain.chain_id != chain_id or not _same_contracts(bundle.chain.contracts,
                                                                  chain_view.contracts):
        checks.append(Check(CheckName.BUNDLE_CHAIN, MISSING,
                            f"the evidence names chain {bundle.chain.chain_id} or contracts "
                            f"this verifier does not read (chain {chain_id})"))
        return done(checks, key)
    checks.append(Check(CheckName.BUNDLE_CHAIN, PASS, f"evidence for chain {chain_id}"))

    facts = _facts(bundle)
    memo = getattr(chain_view, "memo", _no_memo)
    # Conclusions drawn from bytes and the pinned block only: kept for the block's lifetime.
    memo(("prefetch", link, bundle.registration, bundle.captures, tuple(facts), bundle.customs),
         lambda: _prefetch(chain_view, link, bundle, facts))
    checks.extend(memo(("registration", link, bundle.registration),
                       lambda: tuple(_registration(link, bundle, chain_view))))
    verified, event_checks, signers = _events(bundle, facts, chain_view, options,
                                              _item_epc(link))
    checks.extend(event_checks)
    steps, gap = _journey(tuple(verified), link)
    checks.append(Check(CheckName.JOURNEY_COMPLETE, MISSING, gap, fails_as=VerdictKind.UNVERIFIED)
                  if gap else
                  Check(CheckName.JOURNEY_COMPLETE, PASS,
                        f"{len(steps)} events from origin, with no gap in where the goods were"))
    checks.append(memo(("customs", tuple(verified), bundle.customs, options.market),
                       lambda: _customs(steps, bundle, chain_view, options)))
    checks.append(check_scans(bundle.scans if scans is None else scans,
                              journey_mod.sale_time(steps), policy=options.clone, now=checked_at))
    verdict = done(checks, key)
    return replace(verdict, profile=_profile(link, verified, signers, verdict).to_json(),
                   cold_chain=_cold_chain(link, bundle, facts, verified, chain_view))


def _cold_chain(link: Any, bundle: Bundle, facts: Sequence[_EventFacts | None],
                verified: Sequence[_EventFacts], view: Any) -> dict[str, Any] | None:
    """The cold-chain section from the verified events only (`verifier.coldchain`); asked
    even when the bundle carries no conditions, since the brand may have registered some."""
    index = {id(f): i for i, f in enumerate(facts) if f is not None}
    kept = []
    for f in verified:
        i = index.get(id(f))
        if i is None or f.actual is None:
            continue
        org = bundle.captures[bundle.events[i].capture].signature.org
        kept.append((f.event, "0x" + f.actual.hex(), "0x" + org.hex()))
    return cold_chain_section(link.gtin14, _item_epc(link), bundle.conditions, kept, view,
                              bundle.earlier_conditions)


def _profile(link: Any, verified: Sequence[_EventFacts], signers: Sequence[bytes],
             verdict: Verdict) -> ConsumerProfile:
    """The consumer profile from the events that passed every check and the chain facts the
    checks read (registration, lot status, customs decision)."""
    facts: dict[str, Any] = {}
    for c in verdict.checks:
        if c.name == CheckName.CODE_REGISTERED and c.outcome is PASS:
            facts["lot"], facts["registrant"] = c.details.get("lot"), c.details.get("owner")
        elif c.name == CheckName.LOT_STATUS:
            facts["lot_status"] = "active" if c.outcome is PASS else c.details.get("status")
        elif c.name == CheckName.CUSTOMS_DECISION and c.details.get("decision"):
            facts["customs_decision"] = str(c.details["decision"])
            facts["customs_inspection"] = str(c.details.get("inspection") or "") or None
    events = [ProfileEvent(f.event, "0x" + org.hex()) for f, org in zip(verified, signers,
                                                                          strict=True)]
    return consumer_profile(link.gtin14, str(link.serial), events, **facts)


def _node_agreement(chain_view: Any, block: int, witness: Any) -> Check:
    """Whether a second node holds the block this verification reads at."""
    name = getattr(getattr(witness, "provider", None), "endpoint_uri", None) or "a second node"
    try:
        ours = bytes(chain_view.w3.eth.get_block(block)["hash"])
        theirs = bytes(witness.eth.get_block(block)["hash"])
    except Exception as exc:  # noqa: BLE001 - unreachable, lagging or refusing: all unproven
        return Check(CheckName.NODES_AGREE, MISSING,
                     f"{name} could not confirm block {block} ({type(exc).__name__})",
                     fails_as=VerdictKind.UNVERIFIED, subject=str(name))
    if ours != theirs:
        return Check(CheckName.NODES_AGREE, MISSING,
                     f"{name} holds another block {block} (0x{theirs.hex()[:16]}… against "
                     f"0x{ours.hex()[:16]}…): the nodes disagree, so neither is believed",
                     fails_as=VerdictKind.UNVERIFIED, subject=str(name),
                     details={"block": block, "ours": "0x" + ours.hex(),
                              "theirs": "0x" + theirs.hex()})
    return Check(CheckName.NODES_AGREE, PASS, f"{name} holds the same block {block}",
                 subject=str(name), details={"block": block, "hash": "0x" + ours.hex()})


def _no_memo(_key: Any, compute: Any) -> Any:
    return compute()


@lru_cache(maxsize=16_384)
def _journey(verified: tuple[_EventFacts, ...], link: Any
             ) -> tuple[list[journey_mod.Step], str | None]:
    # Keyed by the facts objects, which `_full_facts` and `_public_facts` memoise by bytes.
    steps = journey_mod.steps((f.actual, f.event) for f in verified)
    return steps, journey_mod.continuity_gap(steps) or _not_about(steps, link)


# Pure, and a gateway sees the same codes over and over (failures are not cached: they raise).
_parse_link = lru_cache(maxsize=65_536)(DigitalLink.parse)


# --- registration ---------------------------------------------------------------------------

def _registration(link: Any, bundle: Bundle, view: Any) -> list[Check]:
    reg = bundle.registration
    lot_name = link.lot or (reg.lot if reg else None)
    if reg is None or lot_name is None:
        return [Check(CheckName.CODE_REGISTERED, FAIL,
                      "no registered lot commits to this code: it was never issued by the brand")]
    if link.lot and reg.lot != link.lot:
        return [Check(CheckName.CODE_REGISTERED, FAIL,
                      f"the code is printed with lot {link.lot} but evidence names lot {reg.lot}")]
    if reg.gtin != link.gtin14:
        # The registration's GTIN is read nowhere else: unchecked, it could say anything.
        return [Check(CheckName.CODE_REGISTERED, FAIL,
                      f"the code is GTIN {link.gtin14} but evidence names GTIN {reg.gtin[:20]}")]
    try:
        lot = view.lot(link.gtin14, lot_name)
    except LedgerError:
        # A lot name the contract could never have accepted (not GS1 set 82): never registered.
        return [Check(CheckName.CODE_REGISTERED, FAIL,
                      f"the evidence names lot {lot_name[:40]!r}, which no GS1 lot can be")]
    if lot is None:
        return [Check(CheckName.CODE_REGISTERED, FAIL,
                      f"lot {lot_name} of GTIN {link.gtin14} is not registered on CodeRegistry")]
    leaf = view.code_leaf(link.gtin14, link.serial)
    if process_proof(leaf, reg.code_proof) != lot.codes_root:
        return [Check(CheckName.CODE_REGISTERED, FAIL,
                      f"serial {link.serial} is not among the {lot.count} codes registered "
                      f"for lot {lot_name}", details={"lot": lot_name})]
    out = [Check(CheckName.CODE_REGISTERED, PASS,
                 f"registered in lot {lot_name} ({lot.count} codes) on CodeRegistry",
                 details={"lot": lot_name, "owner": "0x" + lot.owner.hex()})]
    owner = view.prefix_owner(link.gtin14)
    if owner is None or owner != lot.owner:
        out.append(Check(CheckName.CODE_PREFIX_OWNER, FAIL,
                         f"lot registered by 0x{lot.owner.hex()[:12]}…, which does not own the "
                         f"GS1 company prefix of GTIN {link.gtin14}",
                         details={"registrant": "0x" + lot.owner.hex(),
                                  "prefixOwner": None if owner is None else "0x" + owner.hex()}))
    else:
        out.append(Check(CheckName.CODE_PREFIX_OWNER, PASS,
                         "registered by the owner of the GTIN's company prefix"))
    if lot.status == "active":
        out.append(Check(CheckName.LOT_STATUS, PASS, f"lot {lot_name} is active", fails_as=RECALLED))
    else:
        out.append(Check(CheckName.LOT_STATUS, FAIL, f"lot {lot_name} is {lot.status}",
                         fails_as=RECALLED,
                         details={"status": lot.status,
                                  "reasonHash": "0x" + bytes(lot.reason_hash or b"").hex()}))
    return out


# --- events, captures, anchors --------------------------------------------------------------

@lru_cache(maxsize=65_536)
def _recover(domain: CaptureDomain, sig: Any) -> tuple[str | None, str]:
    try:
        return recover_signer(domain, sig), ""
    except LedgerError as exc:
        return None, str(exc)


@dataclass(frozen=True, slots=True, eq=False)  # hashed by identity: see `_journey`
class _EventFacts:
    """What an event's bytes alone establish (no chain): its recomputed id, whether its proof
    leads to the root its capture signed, the role its bizStep needs, and the checks saying so."""

    actual: bytes | None
    in_capture: bool
    role: str
    checks: tuple[Check, ...]
    event: Mapping[str, Any]  # this memo's own parsed copy, never the caller's object


@lru_cache(maxsize=65_536)
def _full_facts(event_json: bytes, context_json: bytes, claimed_id: bytes | None,
                texts: tuple[str, ...], claimed: bytes, proof: tuple[bytes, ...],
                events_root: bytes) -> _EventFacts:
    """A member's full event: its id recomputed, its disclosures shown to say exactly what it
    says, their root the commitment its capture signed."""
    event = orjson.loads(event_json)
    role = required_role(event)
    subject = "ni:///sha-256;" + (claimed_id or bytes(32)).hex()
    try:
        actual_id: bytes | None = event_hash(event, orjson.loads(context_json))
    except LedgerError:
        actual_id = None
    if actual_id is None or actual_id != claimed_id:
        return _EventFacts(None, False, role, (Check(
            CheckName.EVENT_ID, FAIL, "an event's content does not hash to its id: it was "
            "altered after capture", subject=subject,
            details={"recomputed": None if actual_id is None else actual_id.hex()}),), event)
    try:
        commitment = check_full(event, actual_id, texts)
    except DisclosureError as exc:
        return _EventFacts(None, False, role, (Check(
            CheckName.EVENT_ID, FAIL, f"an event's disclosures do not match it: {exc}",
            subject=subject),), event)
    return _committed(commitment, claimed, proof, events_root, role, subject, event)


@lru_cache(maxsize=65_536)
def _public_facts(disclosed: tuple[Disclosed, ...], claimed: bytes, proof: tuple[bytes, ...],
                  events_root: bytes) -> _EventFacts:
    """A public event: the disclosed fields, each leading to one commitment."""
    subject = "event 0x" + claimed.hex()
    try:
        commitment, event = read_disclosed(disclosed)
    except DisclosureError as exc:
        return _EventFacts(None, False, "", (Check(
            CheckName.EVENT_ID, FAIL, f"an event's disclosed fields were altered: {exc}",
            subject=subject),), {})
    return _committed(commitment, claimed, proof, events_root, required_role(event), subject,
                      event)


def _committed(commitment: bytes, claimed: bytes, proof: tuple[bytes, ...], events_root: bytes,
               role: str, subject: str, event: Mapping[str, Any]) -> _EventFacts:
    if commitment != claimed:
        return _EventFacts(None, False, role, (Check(
            CheckName.EVENT_ID, FAIL, "an event's fields do not lead to the commitment it "
            "claims: altered after capture", subject=subject,
            details={"recomputed": commitment.hex()}),), event)
    id_ok = Check(CheckName.EVENT_ID, PASS, "event fields match their signed commitment",
                  subject=subject)
    if process_proof(event_leaf(commitment), proof) != events_root:
        return _EventFacts(commitment, False, role, (id_ok, Check(
            CheckName.EVENT_PROOF, FAIL, "the event is not in the signed capture it claims",
            subject=subject)), event)
    return _EventFacts(commitment, True, role, (id_ok, Check(
        CheckName.EVENT_PROOF, PASS, "event is in its signed capture", subject=subject)), event)


def _facts(bundle: Bundle) -> list[_EventFacts | None]:
    """Facts per bundle event, memoised by the event's exact JSON (keys sorted) or its exact
    disclosures: every result is computed from those bytes, so equal bytes cannot deserve a
    different answer."""
    out: list[_EventFacts | None] = []
    dumps, sort = orjson.dumps, orjson.OPT_SORT_KEYS
    for e in bundle.events:
        root = bundle.captures[e.capture].signature.events_root
        try:
            if e.full:
                out.append(_full_facts(dumps(e.event, option=sort), dumps(e.context, option=sort),
                                       e.event_id, tuple(d.text for d in e.disclosed),
                                       e.commitment, e.proof, root))
            else:
                out.append(_public_facts(e.disclosed, e.commitment, e.proof, root))
        except TypeError:  # not JSON-serialisable: cannot be an EPCIS event
            out.append(None)
    return out


def _prefetch(view: Any, link: Any, bundle: Bundle, facts: Sequence[_EventFacts | None]) -> None:
    """Queue every chain read this verification will make, so misses go in one batch."""
    from ledger.chain.view import Read

    reads = [Read("gtinOwner", (link.gtin14,))]
    # The owners of every identifier the events name (`_entitled`).
    keys = {k for f in facts if f is not None
            for x in subjects(f.event) if (k := owner_key(x)) is not None}
    keys.update(k for f in facts if f is not None for k in receiver_keys(f.event))
    reads.extend(Read("gtinOwner", (k,)) for k in sorted(keys))
    lot_name = link.lot or (bundle.registration.lot if bundle.registration else None)
    if lot_name is not None:
        try:
            reads.append(Read("lotOf", (lot_key(link.gtin14, lot_name),)))
        except LedgerError:
            pass  # `_registration` reports the malformed lot
    domain = view.domain
    roles_by_capture: dict[int, set[str]] = {}
    for e, f in zip(bundle.events, facts, strict=True):
        if f is not None:
            roles_by_capture.setdefault(e.capture, set()).add(f.role)
    for index, c in enumerate(bundle.captures):
        sig = c.signature
        if c.anchor is not None:
            reads.append(Read("anchorOf", (c.anchor.batch_root,)))
        signer, _ = _recover(domain, sig)
        if signer is not None:
            reads.append(Read("keyInfo", (signer,)))
            for role in sorted(roles_by_capture.get(index, ())):
                reads.append(Read("wasValidSigner", (sig.org, signer, role, sig.signed_at)))
    for c in bundle.customs:
        reads.append(Read("decisionCount", (c.consignment,)))
    view.prefetch(reads)


def _events(bundle: Bundle, facts: Sequence[_EventFacts | None], view: Any,
            options: VerifyOptions, epc: str
            ) -> tuple[list[_EventFacts], list[Check], list[bytes]]:
    domain = view.domain
    checks: list[Check] = []
    capture_ok: dict[int, tuple[bool, str | None, int | None]] = {}
    if not bundle.events:
        return [], checks, []
    memo = getattr(view, "memo", _no_memo)
    orgs = tuple(bundle.captures[e.capture].signature.org for e in bundle.events)
    entitled = memo(("entitled", tuple(facts), orgs),
                    lambda: _entitled(facts, orgs, view.prefix_owner))
    ignored = {i for i, f in enumerate(facts)
               if f is not None and f.in_capture and f.actual is not None and i not in entitled}
    off_path = _off_path(bundle, facts, entitled, epc)
    judged = [e for i, e in enumerate(bundle.events) if i not in ignored and i not in off_path]
    for index in sorted({e.capture for e in judged}):
        cap = bundle.captures[index]
        result, cap_checks = memo(("capture", index, cap, options),
                                  lambda cap=cap, index=index: _capture_checked(
                                      index, cap, domain, view, options))
        capture_ok[index] = result
        checks.extend(cap_checks)

    good: list[_EventFacts] = []
    signers: list[bytes] = []
    for i, (e, f) in enumerate(zip(bundle.events, facts, strict=True)):
        if i in off_path:
            assert f is not None
            checks.append(Check(
                CheckName.EVENT_ABOUT, SKIPPED,
                "left out: the fields it discloses name neither this item nor a container "
                "it was put into", subject=f.checks[0].subject))
            continue
        if i in ignored:
            # An event from a party the evidence does not show entitled to speak about these
            # goods proves nothing about them, whatever its signature says: it is left out of
            # the journey and its capture is not judged (a rival cannot make the item
            # counterfeit, moved or sold). It is MISSING, not FAIL: a gateway that withheld
            # the event naming a real receiver leaves that receiver's events here too.
            assert f is not None
            checks.append(Check(
                CheckName.SIGNER_ENTITLED, MISSING,
                f"left out: nothing shows organisation 0x{orgs[i].hex()[:12]}… entitled to "
                "speak about these goods (not their brand, not a receiver named by those who "
                "are, not an authority)", subject=f.checks[0].subject,
                details={"org": "0x" + orgs[i].hex()}))
            continue
        if f is None:
            checks.append(Check(CheckName.EVENT_ID, FAIL, "an event is not JSON: it cannot have "
                                "been captured", subject="event 0x" + e.commitment.hex()))
            continue
        checks.extend(f.checks)
        if not f.in_capture or f.actual is None:
            continue
        ok, signer, _ = capture_ok[e.capture]
        if signer is not None:
            sig = bundle.captures[e.capture].signature
            if view.was_valid_signer(sig.org, signer, f.role, sig.signed_at):
                checks.append(_role_pass(f.role, f.checks[0].subject))
            else:
                step = f.event.get("bizStep") or "none"
                checks.append(Check(CheckName.SIGNER_ROLE, FAIL,
                                    f"bizStep {step} needs role {f.role}, which the signer's "
                                    "organisation does not hold", subject=f.checks[0].subject,
                                    details={"role": f.role}))
                continue
        if ok:
            good.append(f)
            signers.append(orgs[i])
    if good and not ignored:
        checks.append(_ENTITLED_PASS)
    return good, checks, signers


def _off_path(bundle: Bundle, facts: Sequence[_EventFacts | None], entitled: frozenset[int],
              epc: str) -> frozenset[int]:
    """Public events that say nothing about this item. A public event shows only some fields,
    so it must show the item or a container the item was put into (by an entitled, itself
    on-path AggregationEvent), or it is no evidence about the item: a gateway could otherwise
    attach another item's genuine events (a sale, a customs hold) to this one."""
    public = [i for i, (e, f) in enumerate(zip(bundle.events, facts, strict=True))
              if not e.full and f is not None and f.in_capture and f.actual is not None]
    if not public:
        return frozenset()
    full = [i for i, e in enumerate(bundle.events) if e.full]
    path: frozenset[str] = frozenset((epc,))
    while True:
        on = [i for i in public if i in entitled and names_path(facts[i].event, path)]  # type: ignore[union-attr]
        grown = item_path(epc, [facts[i].event for i in (*on, *full)  # type: ignore[union-attr]
                                if facts[i] is not None and i in entitled])
        if grown == path:
            return frozenset(i for i in public if not names_path(facts[i].event, path))  # type: ignore[union-attr]
        path = grown


_ENTITLED_PASS = Check(CheckName.SIGNER_ENTITLED, PASS,
                       "every event is by a party entitled to speak about these goods")


def _entitled(facts: Sequence[_EventFacts | None], orgs: Sequence[bytes],
              owner_of: Any) -> frozenset[int]:
    """The bundle events whose signers may speak about what they name: the rule of
    `ledger.epcis.entitlement` (gateway/README.md, "Who may speak about an item"), where the
    accepted history is the entitled events themselves, grown from the owners' own events
    until nothing changes. Events whose id or proof failed are judged elsewhere, never here."""
    candidates = [i for i, f in enumerate(facts)
                  if f is not None and f.in_capture and f.actual is not None]
    entitled: set[int] = set()
    while True:
        naming: dict[str, list[Mapping[str, Any]]] = {}
        for i in entitled:
            if facts[i].role in AUTHORITY_ROLES:  # type: ignore[union-attr]
                continue  # an authority speaks about goods, it hands none over
            event = facts[i].event  # type: ignore[union-attr]
            for x in subjects(event):
                naming.setdefault(x, []).append(event)
        custody = _custody_in(naming, owner_of)
        grown = {i for i in candidates if i not in entitled
                 and not not_entitled(facts[i].event, orgs[i],  # type: ignore[union-attr]
                                      facts[i].role, owner_of, custody)}  # type: ignore[union-attr]
        if not grown:
            return frozenset(entitled)
        entitled |= grown


def _custody_in(naming: Mapping[str, Sequence[Mapping[str, Any]]], owner_of: Any) -> Any:
    """`custody(identifier)` over the entitled events `naming` each identifier."""

    def custody(identifier: str) -> set[bytes]:
        found: set[bytes] = set()
        seen, frontier = {identifier}, [identifier]
        for _ in range(MAX_CONTAINER_DEPTH):
            deeper: list[str] = []
            for x in frontier:
                for event in naming.get(x, ()):
                    found |= receivers(event, owner_of)
                    for parent in containers_of(event, x):
                        if parent not in seen:
                            seen.add(parent)
                            deeper.append(parent)
            frontier = deeper
        return found

    return custody


@lru_cache(maxsize=65_536)
def _role_pass(role: str, subject: str | None) -> Check:
    # Checks are immutable: one instance per (role, event) serves every scan of the item.
    return Check(CheckName.SIGNER_ROLE, PASS, f"signer's organisation holds {role}",
                 subject=subject)


@lru_cache(maxsize=65_536)
def _anchor_root(domain: CaptureDomain, sig: Any, signer: str, proof: tuple[bytes, ...]) -> bytes:
    """The batch root a capture's anchoring proof leads to (pure; memoised like `_recover`)."""
    digest = capture_digest(domain, sig.events_root, sig.count, sig.org, sig.nonce, sig.signed_at)
    return process_proof(capture_leaf(digest, signer), proof)


def _capture_checked(index: int, cap: CaptureEvidence, domain: CaptureDomain, view: Any,
                     options: VerifyOptions
                     ) -> tuple[tuple[bool, str | None, int | None], tuple[Check, ...]]:
    checks: list[Check] = []
    result = _capture(index, cap, domain, view, options, checks)
    return result, tuple(checks)


def _capture(index: int, cap: CaptureEvidence, domain: CaptureDomain, view: Any,
             options: VerifyOptions, checks: list[Check]) -> tuple[bool, str | None, int | None]:
    """Check one capture's signature, signer key and anchor; return (ok, signer, anchor time)."""
    sig = cap.signature
    subject = f"capture {index}"
    signer, error = _recover(domain, sig)
    if signer is None:
        checks.append(Check(CheckName.CAPTURE_SIGNATURE, FAIL,
                            f"the capture signature is invalid: {error}", subject=subject))
        return False, None, None
    org_hex = "0x" + sig.org.hex()
    state = view.key_verdict(sig.org, signer, sig.signed_at)
    if state == "unknown":
        checks.append(Check(CheckName.CAPTURE_SIGNATURE, FAIL,
                            f"the signature recovers {signer}, which is no key of "
                            f"organisation {org_hex[:14]}…", subject=subject,
                            details={"recovered": signer, "org": org_hex}))
        return False, None, None
    checks.append(Check(CheckName.CAPTURE_SIGNATURE, PASS,
                        f"signed by {signer} of organisation {org_hex[:14]}…", subject=subject,
                        details={"signer": signer, "org": org_hex}))
    if state != "valid":
        checks.append(Check(CheckName.SIGNER_KEY, FAIL,
                            f"key {signer} was not valid (revoked or not yet added) when it "
                            f"signed at {_iso(sig.signed_at)}", subject=subject,
                            details={"signedAt": sig.signed_at}))
        return False, signer, None

    anchor = cap.anchor
    if anchor is None:
        checks.append(Check(CheckName.SIGNER_KEY, PASS, f"key valid at {_iso(sig.signed_at)}",
                            subject=subject))
        checks.append(Check(CheckName.CAPTURE_ANCHORED, MISSING,
                            "a capture is not anchored on the chain yet", subject=subject))
        return False, signer, None
    if _anchor_root(domain, sig, signer, anchor.proof) != anchor.batch_root:
        checks.append(Check(CheckName.SIGNER_KEY, PASS, f"key valid at {_iso(sig.signed_at)}",
                            subject=subject))
        checks.append(Check(CheckName.CAPTURE_ANCHORED, FAIL,
                            "the anchoring proof does not lead to the batch root it names: "
                            "forged", subject=subject))
        return False, signer, None
    record = view.anchored(anchor.batch_root)
    if record is None:
        checks.append(Check(CheckName.SIGNER_KEY, PASS, f"key valid at {_iso(sig.signed_at)}",
                            subject=subject))
        checks.append(Check(CheckName.CAPTURE_ANCHORED, FAIL,
                            "the batch root it claims is not on TraceAnchor", subject=subject,
                            details={"batchRoot": "0x" + anchor.batch_root.hex()}))
        return False, signer, None
    anchored_at = int(record.timestamp)
    if sig.signed_at > anchored_at + options.skew_s:
        checks.append(Check(CheckName.SIGNER_KEY, FAIL,
                            "signed after the batch it is in was anchored: the signing time "
                            "is false", subject=subject))
        return False, signer, anchored_at
    # Back-dating guard: the key must still have been valid shortly before the anchor.
    late = max(sig.signed_at, anchored_at - options.anchor_grace_s)
    if late != sig.signed_at and view.key_verdict(sig.org, signer, late) != "valid":
        checks.append(Check(CheckName.SIGNER_KEY, FAIL,
                            f"key {signer} was revoked before {_iso(late)}, yet this capture "
                            f"was only anchored at {_iso(anchored_at)}: back-dated",
                            subject=subject))
        return False, signer, anchored_at
    checks.append(Check(CheckName.SIGNER_KEY, PASS, f"key valid at {_iso(sig.signed_at)}",
                        subject=subject))
    checks.append(Check(CheckName.CAPTURE_ANCHORED, PASS,
                        f"anchored in block {record.block_number} at {_iso(anchored_at)}",
                        subject=subject,
                        details={"batchRoot": "0x" + anchor.batch_root.hex(),
                                 "block": record.block_number}))
    return True, signer, anchored_at


def _not_about(steps: Sequence[journey_mod.Step], link: Any) -> str | None:
    """Why the journey is not this item's, or None. Authentic events of *another* item prove
    nothing about this one: the origin must commission this very code. The origin is the run
    of commissioning steps the journey starts with, since a traced history puts the item's
    lots (ingredients made, blended) before the can itself is commissioned."""
    if not steps or steps[0].bizstep != "commissioning":
        return None  # continuity_gap has said so already
    epc = _item_epc(link)
    for step in steps:
        if step.bizstep != "commissioning":
            break
        if epc in _named_epcs(step.event_id, step.event):
            return None
    return "the journey's origin event does not commission this item: it is another's story"


def _item_epc(link: Any) -> str:
    # The EPC as events name the item: serial level, no lot (canonical Digital Link).
    return f"https://id.gs1.org/01/{link.gtin14}/21/{link.serial}"


_NAMED: dict[tuple[Any, ...], frozenset[str]] = {}


def _named_epcs(event_id: bytes, event: Mapping[str, Any]) -> frozenset[str]:
    # Memoised: canonicalising a commissioning event's sixty EPCs on every scan would cost more
    # than the rest of the verification. Keyed by the commitment *and* the EPCs shown: public
    # proofs of two cans show one commitment with different EPCs disclosed.
    key = (event_id, *(tuple(v) if isinstance(v := event.get(f), list) else v
                       for f in ("epcList", "childEPCs", "outputEPCList")))
    found = _NAMED.get(key)
    if found is None:
        epcs = event_epcs(event)
        found = frozenset(epcs["epc"]) | frozenset(epcs["child"]) | frozenset(epcs["output"])
        if len(_NAMED) >= 65_536:
            _NAMED.clear()
        _NAMED[key] = found
    return found


# --- customs --------------------------------------------------------------------------------

def _customs(steps: Sequence[journey_mod.Step], bundle: Bundle, view: Any,
             options: VerifyOptions) -> Check:
    origin = journey_mod.imported_origin(steps, options.market)
    if origin is None:
        return Check(CheckName.CUSTOMS_DECISION, SKIPPED,
                     f"made in {options.market}: no customs clearance needed")
    item_events = {event_id for event_id, _ in ((s.event_id, s) for s in steps)}
    best: Check | None = None
    for claim in bundle.customs:
        if claim.commitment not in item_events:
            continue
        record = view.customs(claim.consignment)
        if record is None or process_proof(event_leaf(claim.commitment), claim.proof) != record.events_root:
            best = best or Check(CheckName.CUSTOMS_DECISION, FAIL,
                                 "the customs decision it cites is not on CustomsRelease or "
                                 "does not cover this item")
            continue
        details = {"consignment": "0x" + claim.consignment.hex(), "decision": record.decision,
                   "inspection": record.inspection, "origin": origin}
        if record.released:
            return Check(CheckName.CUSTOMS_DECISION, PASS,
                         f"imported from {origin}: customs {record.decision}, "
                         f"inspection {record.inspection}", details=details)
        if record.refused:
            return Check(CheckName.CUSTOMS_DECISION, FAIL,
                         f"imported from {origin}: customs refused the goods "
                         f"({record.decision}, inspection {record.inspection})", details=details)
        best = Check(CheckName.CUSTOMS_DECISION, MISSING,
                     f"imported from {origin}: customs {record.decision}, not released yet",
                     details=details)
    return best or Check(CheckName.CUSTOMS_DECISION, MISSING,
                         f"imported from {origin}, but no customs decision on the chain covers it")


# --- small helpers --------------------------------------------------------------------------

def _same_contracts(claimed: Mapping[str, str], actual: Mapping[str, str]) -> bool:
    return all(claimed.get(name, "").lower() == address.lower()
               for name, address in actual.items())


@lru_cache(maxsize=4096)
def _iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
