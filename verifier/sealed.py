"""Sealed evidence, built online and checked offline with the verifier's own rules.

`seal` runs `verify` once against a node through a `PinnedView` (every read at one block,
recorded), proves what those reads touched (`collect_witness`), and checks the result offline
before handing it back, so a bundle that would not verify offline is never written.

`check_sealed` needs no network: it parses the canonical file (`SealedEvidence.loads`, which
also checks the header against the pinned block hash), checks every state proof against the
header's stateRoot (`ProvenView`), and runs the same `verify` over the proven state at the
pinned block, judging at the block's time (never the checker's "now"): a recall after the
block is a later fact the bundle does not contain. What it proves is conditional on two facts
no file can prove about itself: that the block hash is the consortium chain's, and that the
contract addresses are the consortium's. With `trust` (the hash, confirmed on a node the
reader trusts) and `manifest` (a trusted deployment manifest) both matching, the verdict
stands; otherwise the report is UNVERIFIED and says what to confirm.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ledger.chain.proven import PinnedView, ProvenView, UnprovenReadError, collect_witness
from ledger.errors import ChainError, LedgerError
from ledger.evidence.consignment import ConsignmentBundle
from ledger.evidence.sealed import (
    READ_CONTRACTS,
    SealedEvidence,
    SealedEvidenceError,
    seal_bundle,
    seal_consignment,
)
from ledger.proofs.bundle import Bundle
from ledger.proofs.capture import event_leaf
from ledger.proofs.merkle import process_proof
from ledger.proofs.signing import CaptureDomain
from ledger.proofs.state_proof import StateProofError
from verifier.consignment import ConsignmentVerdict, verify_consignment
from verifier.verdict import Check, Outcome, Verdict, VerdictKind
from verifier.verify import VerifyOptions, _recover, verify

__all__ = ["SealedReport", "check_sealed", "consignment_lines", "parse_hash", "seal"]

# Evidence that a checker never sees (and so the report lists as not checked).
NOT_CARRIED = ("scan history (the gateway's observations, not signed by anyone)",
               "when and by which gateway the bundle was assembled")
NOT_CARRIED_CONSIGNMENT = (
    "events the gateway did not put in the bundle (a gateway can withhold, never forge)",
    "when and by which gateway the bundle was assembled")
NOT_DISCLOSED_TRADE = (
    "the events' other fields (quantities, other goods, the parties' other business): "
    "withheld by selective disclosure, each proven present under its signature",
    "the goods' lots and their status (the trade view discloses no lot)",
    "which events customs' decision covers beyond those shown (their ids stay hidden)")


@dataclass(frozen=True, slots=True)
class SealedReport:
    """What a sealed bundle proves, or where it was refused."""

    kind: str  # a VerdictKind, or "REFUSED"
    reason: str
    place: str | None = None  # where a refused bundle failed (a JSON path)
    verdict: Verdict | None = None  # the verifier's verdict over the proven state
    sealed: SealedEvidence | None = None
    block_confirmed: bool | None = None  # None: no --trust given
    deployment_confirmed: bool | None = None  # None: no manifest given
    to_confirm: tuple[str, ...] = ()
    not_checked: tuple[str, ...] = NOT_CARRIED
    failures: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    consignment: ConsignmentVerdict | None = None  # a consignment's story, decisions, lots

    @property
    def refused(self) -> bool:
        return self.kind == "REFUSED"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"result": self.kind, "reason": self.reason}
        if self.place is not None:
            out["place"] = self.place
        s = self.sealed
        if s is not None:
            out["block"] = {"number": s.witness.header.number,
                            "hash": "0x" + s.block_hash.hex(),
                            "timestamp": s.witness.header.timestamp,
                            "time": _iso(s.witness.header.timestamp),
                            "confirmed": self.block_confirmed}
            out["deployment"] = {"chainId": s.chain_id, "contracts": s.contracts,
                                 "confirmed": self.deployment_confirmed}
        if self.consignment is not None:
            out["verdict"] = self.consignment.to_json()
            out["kind"] = "consignment"
        elif self.verdict is not None:
            out["verdict"] = self.verdict.to_json()
        out["failures"] = list(self.failures)
        out["toConfirm"] = list(self.to_confirm)
        out["notChecked"] = list(self.not_checked)
        return out

    def lines(self) -> list[str]:
        """A human-readable report: what was proven, by whom, when, at which block, and what
        could not be checked."""
        if self.refused:
            return [f"REFUSED at {self.place}: {self.reason}"]
        s, v = self.sealed, self.verdict
        assert s is not None and v is not None
        h = s.witness.header
        what = f"item {s.bundle.code}"
        if self.consignment is not None:
            what = f"consignment {s.bundle.code} (" + {
                "trade": "a bank's view: trade documents, stages, times, places, parties",
                "full": "members' view: full events"}[s.bundle.disclosure] + ")"  # type: ignore[union-attr]
        out = [f"{self.kind}: {self.reason}",
               what,
               f"proven against block {h.number} (hash 0x{s.block_hash.hex()}) of chain "
               f"{s.chain_id}, mined {_iso(h.timestamp)}; judged at that time",
               "contracts: " + ", ".join(f"{n} {a}" for n, a in sorted(s.contracts.items()))]
        out.append("block hash: " + {True: "matches the hash you trust",
                                    False: "is NOT the hash you trust",
                                    None: "not confirmed (pass --trust after checking it on a "
                                          "consortium node)"}[self.block_confirmed])
        out.append("deployment: " + {True: "matches your manifest",
                                    False: "does NOT match your manifest",
                                    None: "not confirmed (pass --manifest with the consortium's "
                                          "deployment)"}[self.deployment_confirmed])
        out.append(f"verdict over the proven state: {v.kind} ({v.reason})")
        if self.consignment is not None:
            out.extend(consignment_lines(self.consignment))
            out.append("checks:")
        for c in v.checks:
            mark = {"PASS": "✓", "FAIL": "✗", "MISSING": "?", "SKIPPED": "-"}[str(c.outcome)]
            who = f" [{c.subject}]" if c.subject else ""
            out.append(f"  {mark} {c.name:18} {c.reason}{who}")
        for f in self.failures:
            out.append(f"  failed at {f['place']}: {f['reason']}")
        if self.to_confirm:
            out.append("to confirm on a consortium node you trust:")
            out.extend(f"  - {c}" for c in self.to_confirm)
        out.append("not checked (not in the bundle):")
        out.extend(f"  - {n}" for n in self.not_checked)
        return out


# --- building (online) -----------------------------------------------------------------------

def seal(bundle: Bundle | ConsignmentBundle, w3: Any, deployment: Any, *, block: int | None = None,
         options: VerifyOptions = VerifyOptions()) -> SealedEvidence:  # noqa: B008 - frozen
    """The sealed evidence for `bundle` at `block` (default: the node's head), checked offline
    before it is returned: it gives the verdict the node gives at that block."""
    block = int(w3.eth.block_number) if block is None else block
    timestamp = int(w3.eth.get_block(block)["timestamp"])
    contracts = {name: deployment.address(name) for name in READ_CONTRACTS}
    pinned = PinnedView(w3, deployment, block)
    stripped: Bundle | ConsignmentBundle
    if isinstance(bundle, ConsignmentBundle):
        stripped = seal_consignment(bundle, contracts, block)
        online = verify_consignment(stripped, pinned, now=timestamp, options=options).verdict
    else:
        stripped = seal_bundle(bundle, contracts, block)
        online = verify(stripped.code, stripped, pinned, scans=(), now=timestamp,
                        options=options)
    unused = _unused_evidence(stripped, pinned)  # reads what the check will read, too
    if unused is not None:
        raise ChainError(f"the bundle holds evidence that does not check: {unused[0]}: "
                         f"{unused[1]}")
    sealed = SealedEvidence(stripped, collect_witness(w3, pinned.calls, block))
    report = check_sealed(sealed.dumps(), trust=sealed.block_hash, options=options)
    if report.verdict is None or report.verdict.kind is not online.kind:
        raise ChainError(f"the sealed evidence does not check offline as it does online "
                         f"({report.kind} at {report.place}: {report.reason}; online "
                         f"{online.kind})")
    return sealed


# --- checking (offline) ----------------------------------------------------------------------

def check_sealed(raw: bytes, *, trust: bytes | None = None, manifest: Any | None = None,
                 options: VerifyOptions = VerifyOptions()) -> SealedReport:  # noqa: B008 - frozen
    """Check a sealed bundle with no network. `trust` is the block hash the reader confirmed
    on a node it trusts; `manifest` the consortium's deployment (a `Deployment`)."""
    try:
        sealed = SealedEvidence.loads(raw)
    except SealedEvidenceError as exc:
        return SealedReport("REFUSED", exc.detail.split(": ", 1)[-1], place=exc.place)
    try:
        view = ProvenView(sealed.witness, chain_id=sealed.chain_id, contracts=sealed.contracts)
    except StateProofError as exc:
        return SealedReport("REFUSED", exc.detail, place=exc.place, sealed=sealed)
    b = sealed.bundle
    consignment: ConsignmentVerdict | None = None
    try:
        if isinstance(b, ConsignmentBundle):
            consignment = verify_consignment(b, view, now=sealed.witness.header.timestamp,
                                             options=options)
            verdict = consignment.verdict
        else:
            verdict = verify(b.code, b, view, scans=(), now=sealed.witness.header.timestamp,
                             options=options)
        unused = _unused_evidence(b, view)
    except UnprovenReadError as exc:
        return SealedReport("REFUSED", exc.detail, place=_place_of_read(sealed, exc),
                            sealed=sealed)
    except LedgerError as exc:
        return SealedReport("REFUSED", str(exc), place="evidence", sealed=sealed)
    if unused is not None:
        return SealedReport("REFUSED", unused[1], place=unused[0], sealed=sealed)

    failures = tuple({"place": _place_of_check(sealed, c), "check": str(c.name),
                      "reason": c.reason} for c in verdict.checks
                     if c.outcome not in (Outcome.PASS, Outcome.SKIPPED))
    block_ok = None if trust is None else bytes(trust) == sealed.block_hash
    deployment_ok, deployment_why = _deployment(sealed, manifest)
    h = sealed.witness.header
    to_confirm = []
    if block_ok is None:
        to_confirm.append(f"block {h.number} of chain {sealed.chain_id} has hash "
                          f"0x{sealed.block_hash.hex()}")
    if deployment_ok is None:
        to_confirm.append(f"the consortium's Consortium contract on chain {sealed.chain_id} is "
                          f"{sealed.contracts['Consortium']} (and its TraceAnchor, CodeRegistry "
                          f"and CustomsRelease are the addresses listed)")
    kind, reason = str(verdict.kind), verdict.reason
    if block_ok is False:
        kind, reason = str(VerdictKind.UNVERIFIED), (
            f"unproven: the bundle is proven against block 0x{sealed.block_hash.hex()}, not "
            f"against the block you trust (0x{bytes(trust or b'').hex()})")
    elif deployment_ok is False:
        kind, reason = str(VerdictKind.UNVERIFIED), f"unproven: {deployment_why}"
    elif block_ok is None or deployment_ok is None:
        kind, reason = str(VerdictKind.UNVERIFIED), (
            f"unproven until confirmed: {verdict.kind} if block {h.number} (hash "
            f"0x{sealed.block_hash.hex()}) and the Consortium address "
            f"{sealed.contracts['Consortium']} on chain {sealed.chain_id} are confirmed on any "
            f"consortium node")
    not_checked: tuple[str, ...] = NOT_CARRIED
    if consignment is not None:
        not_checked = NOT_CARRIED_CONSIGNMENT + (
            NOT_DISCLOSED_TRADE if b.disclosure == "trade" else ())  # type: ignore[union-attr]
    return SealedReport(kind, reason, verdict=verdict, sealed=sealed, block_confirmed=block_ok,
                        deployment_confirmed=deployment_ok, to_confirm=tuple(to_confirm),
                        not_checked=not_checked, failures=failures, consignment=consignment)


def _unused_evidence(bundle: Bundle | ConsignmentBundle, view: Any) -> tuple[str, str] | None:
    """The first piece of evidence that the verdict did not need and that does not check on its
    own, as (place, why). The verifier accepts an item once one customs decision covers it;
    a sealed bundle holds only evidence that checks, so each decision it cites must."""
    ids = {e.commitment for e in bundle.events}
    for i, claim in enumerate(bundle.customs):
        if claim.commitment not in ids:
            return f"evidence.customs[{i}].commitment", "names no event of the bundle"
        record = view.customs(claim.consignment)
        if record is None:
            return f"evidence.customs[{i}].consignment", "no decision on CustomsRelease"
        if process_proof(event_leaf(claim.commitment), claim.proof) != record.events_root:
            return f"evidence.customs[{i}].proof", "does not lead to the decision's eventsRoot"
    return None


def _deployment(sealed: SealedEvidence, manifest: Any | None) -> tuple[bool | None, str]:
    if manifest is None:
        return None, ""
    if manifest.chainId != sealed.chain_id:
        return False, (f"the bundle is for chain {sealed.chain_id}, the manifest for chain "
                       f"{manifest.chainId}")
    for name, address in sorted(sealed.contracts.items()):
        theirs = manifest.contracts.get(name)
        if theirs is None or theirs.address.lower() != address.lower():
            return False, (f"the bundle's {name} is {address}, the manifest's is "
                           f"{None if theirs is None else theirs.address}: another deployment")
    return True, ""


def _place_of_read(sealed: SealedEvidence, exc: UnprovenReadError) -> str:
    """The part of the evidence that made the verifier ask what the witness does not prove."""
    b, read = sealed.bundle, exc.read
    contract = exc.fields.get("contract")
    names = {a.lower(): n for n, a in sealed.contracts.items()}
    if contract and contract.lower() not in {a.address.lower() for a in sealed.witness.accounts}:
        return f"chain.contracts.{names.get(contract.lower(), contract)}"
    if read is None:
        return "state"
    if read.method in ("keyInfo", "wasValidSigner"):
        signer = read.args[0] if read.method == "keyInfo" else read.args[1]
        domain = CaptureDomain(sealed.chain_id, sealed.contracts["Consortium"])
        for i, c in enumerate(b.captures):
            if _recover(domain, c.signature)[0] == signer:
                return f"evidence.captures[{i}]"
    if read.method == "anchorOf":
        for i, c in enumerate(b.captures):
            if c.anchor is not None and c.anchor.batch_root == read.args[0]:
                return f"evidence.captures[{i}].anchor.batchRoot"
    if read.method == "organisation":
        for i, c in enumerate(b.captures):
            if c.signature.org == read.args[0]:
                return f"evidence.captures[{i}].org"
        return "evidence.events"
    if isinstance(b, ConsignmentBundle):
        if read.method in ("decisionCount", "latestDecision", "decisionAt"):
            return "evidence.consignment.key"
        if read.method in ("lotOf", "gtinOwner"):
            return "evidence.events"
    if read.method in ("decisionCount", "latestDecision"):
        for i, claim in enumerate(b.customs):
            if claim.consignment == read.args[0]:
                return f"evidence.customs[{i}].consignment"
    if read.method == "lotOf":
        return "evidence.registration.lot"
    if read.method in ("gtinOwner", "conditionsCount", "conditionsAt"):
        return "evidence.code"
    return f"state ({read.method})"


def _place_of_check(sealed: SealedEvidence, check: Check) -> str:
    b, subject = sealed.bundle, check.subject or ""
    if subject.startswith("ni:///sha-256;"):
        claimed = subject.removeprefix("ni:///sha-256;")
        for i, e in enumerate(b.events):
            if e.event_id is not None and e.event_id.hex() == claimed:
                return f"evidence.events[{i}]"
    if subject.startswith("event 0x"):
        claimed = subject.removeprefix("event 0x")
        for i, e in enumerate(b.events):
            if e.commitment.hex() == claimed:
                return f"evidence.events[{i}]"
    if subject.startswith("capture "):
        return f"evidence.{subject.replace('capture ', 'captures[')}]"
    if subject.startswith("customs "):
        return f"evidence.{subject.replace('customs ', 'customs[')}]"
    if isinstance(b, ConsignmentBundle):
        return {"consignment.id": "evidence.consignment", "bundle.chain": "chain",
                "customs.decision": "evidence.consignment.key",
                "customs.cover": "evidence.customs", "customs.record": "evidence.events"
                }.get(str(check.name), "evidence.events")
    return {"code.format": "evidence.code", "bundle.code": "evidence.code",
            "code.registered": "evidence.registration", "code.prefix_owner": "evidence.registration",
            "lot.status": "evidence.registration.lot", "customs.decision": "evidence.customs",
            "journey.complete": "evidence.events"}.get(str(check.name), "evidence")


def _iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def consignment_lines(c: ConsignmentVerdict) -> list[str]:
    """What a consignment's evidence proves, by whom and when, in plain lines."""
    out = ["customs decisions on CustomsRelease (oldest first):"]
    if not c.decisions:
        out.append("  none")
    for d in c.decisions:
        state = "released" if d.released else "refused" if d.refused else "not released"
        out.append(f"  #{d.sequence} {d.decision}, inspection {d.inspection}: {state}; recorded "
                   f"{_iso(d.decided_at)} by {d.recorder}")
    out.append(f"the story ({len(c.story)} events, each signed, its key, membership and role "
               "valid when it signed, and anchored):")
    for s in c.story:
        who = s.org_name or s.org
        doc = "".join(f" [{k} {v.rsplit('/', 1)[-1]}]" for k, v in s.documents)
        cover = " (covered by the customs decision)" if s.covered else ""
        out.append(f"  {s.event_time} {s.bizstep or '-'} ({s.disposition or '-'}) at "
                   f"{s.place or '-'}: signed by {who} at {_iso(s.signed_at)}, anchored in "
                   f"block {s.anchored_block}{cover}{doc}")
    docs = c.documents()
    if docs:
        out.append("trade documents named by the signed events:")
        for kind, ids in docs.items():
            out.append(f"  {kind}: {', '.join(ids)}")
    if c.lots:
        out.append("lots of the goods, at the pinned block:")
        for lot in c.lots:
            out.append(f"  {lot.gtin} lot {lot.lot}: {lot.status or 'NOT REGISTERED'}"
                       + (f", registered by {lot.owner_name or lot.owner} ({lot.count} codes)"
                          if lot.owner else ""))
    if c.names:
        out.append("organisations (names as admitted on Consortium):")
        out.extend(f"  {org} {name}" for org, name in sorted(c.names.items()))
    return out


def parse_hash(text: str) -> bytes:
    """A 32-byte hash given as 0x-hex (`--trust`)."""
    try:
        raw = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise SealedEvidenceError("must be a 32-byte block hash as 0x-hex", place="--trust")
    return raw

