"""What the verifier concludes: a verdict, and every check that led to it.

A check that does not pass says what its failure *means* (`fails_as`): a failed signature means
the item is counterfeit, a recalled lot means recalled, a clone rule means suspected clone.
A check that could not be made (`MISSING`: not anchored yet, a gateway that withheld data)
always means UNVERIFIED: absence of proof is not proof of forgery. The verdict is the most
severe meaning among the checks that did not pass, in `SEVERITY` order; with none, GENUINE.

Pure: no chain, no I/O. `verifier.verify` produces the checks; `decide` judges them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["SEVERITY", "Check", "CheckName", "Outcome", "Verdict", "VerdictKind", "decide"]


class VerdictKind(StrEnum):
    GENUINE = "GENUINE"
    UNVERIFIED = "UNVERIFIED"
    RECALLED = "RECALLED"
    SUSPECTED_CLONE = "SUSPECTED_CLONE"
    COUNTERFEIT = "COUNTERFEIT"


# Most severe first. A forged item is counterfeit even if its (real) lot was recalled; the page
# still shows the recall banner from the lot check whatever the verdict.
SEVERITY: tuple[VerdictKind, ...] = (
    VerdictKind.COUNTERFEIT,
    VerdictKind.RECALLED,
    VerdictKind.SUSPECTED_CLONE,
    VerdictKind.UNVERIFIED,
)


class Outcome(StrEnum):
    PASS = "PASS"  # noqa: S105 - an outcome, not a password
    FAIL = "FAIL"  # evidence contradicts the claim
    MISSING = "MISSING"  # the evidence needed is absent: cannot tell
    SKIPPED = "SKIPPED"  # does not apply to this item (e.g. customs for domestic goods)


class CheckName(StrEnum):
    """Stable check identifiers: tests, the JSON output and the page key on these."""

    CODE_FORMAT = "code.format"
    BUNDLE_CHAIN = "bundle.chain"
    BUNDLE_CODE = "bundle.code"
    CODE_REGISTERED = "code.registered"
    CODE_PREFIX_OWNER = "code.prefix_owner"
    LOT_STATUS = "lot.status"
    EVENT_ID = "event.id"
    EVENT_PROOF = "event.proof"
    EVENT_ABOUT = "event.about"
    CAPTURE_SIGNATURE = "capture.signature"
    SIGNER_KEY = "signer.key"
    SIGNER_ROLE = "signer.role"
    SIGNER_ENTITLED = "signer.entitled"
    CAPTURE_ANCHORED = "capture.anchored"
    JOURNEY_COMPLETE = "journey.complete"
    CUSTOMS_DECISION = "customs.decision"
    SCAN_HISTORY = "scan.history"
    NODES_AGREE = "nodes.agree"
    # Consignment evidence (`verifier.consignment`)
    CONSIGNMENT_ID = "consignment.id"
    CUSTOMS_COVER = "customs.cover"
    CUSTOMS_RECORD = "customs.record"


@dataclass(frozen=True, slots=True)
class Check:
    """One check: what was checked, its outcome, a one-line human reason, and what a
    non-pass means. `subject` names the thing checked (an event id, a batch root) when there
    are several of one kind; `details` carries structured facts for the JSON output."""

    name: CheckName
    outcome: Outcome
    reason: str
    fails_as: VerdictKind = VerdictKind.COUNTERFEIT
    subject: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def verdict_if_not_passed(self) -> VerdictKind | None:
        if self.outcome in (Outcome.PASS, Outcome.SKIPPED):
            return None
        if self.outcome is Outcome.MISSING:
            return VerdictKind.UNVERIFIED
        return self.fails_as

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": str(self.name), "outcome": str(self.outcome),
                               "reason": self.reason}
        if self.outcome not in (Outcome.PASS, Outcome.SKIPPED):
            out["meaning"] = str(self.verdict_if_not_passed)
        if self.subject is not None:
            out["subject"] = self.subject
        if self.details:
            out["details"] = dict(self.details)
        return out


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: VerdictKind
    reason: str  # one line: the deciding check's reason, or why it is genuine
    code: str  # the code as verified (canonical Digital Link key) or the raw input if unparsable
    checks: tuple[Check, ...]
    chain_id: int | None = None
    block_number: int | None = None  # the chain state the checks were read at
    checked_at: int | None = None  # unix seconds
    # The cold-chain section (`verifier.coldchain`), when the brand published conditions:
    # facts shown beside the verdict, never a check that decides it.
    cold_chain: Mapping[str, Any] | None = None
    # The consumer profile (`ledger.trade.profile`) read from the events that passed every
    # check and from the chain: what the page may show as fact.
    profile: Mapping[str, Any] | None = None

    @property
    def genuine(self) -> bool:
        return self.kind is VerdictKind.GENUINE

    @property
    def deciding(self) -> Check | None:
        return deciding_check(self.checks)

    def failing(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.verdict_if_not_passed is not None)

    def by_name(self, name: CheckName | str) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.name == name)

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": str(self.kind),
            "reason": self.reason,
            "code": self.code,
            "chainId": self.chain_id,
            "blockNumber": self.block_number,
            "checkedAt": self.checked_at,
            "checks": [c.to_json() for c in self.checks],
            "profile": None if self.profile is None else dict(self.profile),
        } | ({} if self.cold_chain is None else {"coldChain": dict(self.cold_chain)})


_RANK = {kind: rank for rank, kind in enumerate(SEVERITY)}
_NOT_JUDGED = (Outcome.PASS, Outcome.SKIPPED)


def deciding_check(checks: Iterable[Check]) -> Check | None:
    """The first check (in check order) whose meaning is the most severe, or None."""
    best: Check | None = None
    best_rank = len(SEVERITY)
    for check in checks:  # one pass: a verification makes dozens of checks, most of them PASS
        if check.outcome in _NOT_JUDGED:
            continue
        rank = _RANK[VerdictKind.UNVERIFIED if check.outcome is Outcome.MISSING
                     else check.fails_as]
        if rank < best_rank:
            best, best_rank = check, rank
            if rank == 0:
                break
    return best


def decide(code: str, checks: Iterable[Check], *, chain_id: int | None = None,
           block_number: int | None = None, checked_at: int | None = None) -> Verdict:
    checks = tuple(checks)
    worst = deciding_check(checks)
    if worst is None:
        passed = sum(1 for c in checks if c.outcome is Outcome.PASS)
        if passed == 0:
            # Nothing was proven: an empty list of checks must never read as genuine.
            return Verdict(VerdictKind.UNVERIFIED, "nothing could be checked", code, checks,
                           chain_id, block_number, checked_at)
        return Verdict(VerdictKind.GENUINE, f"all {passed} checks passed against the chain",
                       code, checks, chain_id, block_number, checked_at)
    kind = worst.verdict_if_not_passed
    assert kind is not None
    return Verdict(kind, worst.reason, code, checks, chain_id, block_number, checked_at)
