"""Customs risk assessment: facts about a consignment in, an explained decision out.

Rules are data (`ledger/trade/risk_rules/<version>.json`), not code, so customs can publish a new rule
set without a release, and every decision on CustomsRelease names the version it was made under.
A rule compares one fact with a value; when it fires it adds its weight to the score and may
set a floor (the least decision it forces, e.g. a blacklisted enterprise is always
IMMEDIATE_CONTROL). The decision is the larger of the score's band and the highest floor.

Weights are never negative and floors only raise, so adding a firing rule never lowers the
decision (monotone): a rule set cannot be written that rewards a bad fact. `load_rules` refuses
a file that breaks this.

Pure: no chain, no store. The gateway gathers `RiskFacts`; `assess` decides.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ledger.chain.decisions import Decision
from ledger.errors import InvalidInputError, NotFoundError

__all__ = [
    "DEFAULT_RULES_VERSION", "FiredRule", "InvalidRulesError", "RiskAssessment",
    "RiskFacts", "Rule", "RuleSet", "UnknownRulesVersionError", "assess", "decide", "load_rules",
]

RULES_DIR = Path(__file__).with_name("risk_rules")
DEFAULT_RULES_VERSION = "v2"
_VERSION_RE = re.compile(r"^v[0-9]{1,4}$")


class InvalidRulesError(InvalidInputError):
    slug = "invalid-risk-rules"
    title = "Invalid risk rule set"


class UnknownRulesVersionError(NotFoundError):
    slug = "unknown-risk-rules-version"
    title = "Unknown risk rule set version"


@dataclass(frozen=True, slots=True)
class RiskFacts:
    """What is known about a consignment and its declaring enterprise when customs assesses it."""

    enterprise: str  # organisation id (GLN/PGLN) of the declaring enterprise
    credit_grade: str | None = None
    blacklisted: bool = False
    complaint_count: int = 0  # per client, issued codes only (`ComplaintBook.counts`)
    scan_count: int = 0
    # About codes the enterprise never issued: counted apart, since anyone can invent a serial.
    # No v1 rule reads them (fakes of a brand's goods are not the brand's fault).
    unissued_complaint_count: int = 0
    unissued_scan_count: int = 0
    past_inspections: int = 0
    failed_inspections: int = 0
    origin_country: str | None = None  # ISO 3166-1 alpha-2
    category: str | None = None  # HS code, digits only
    # Cold-chain breaches on the consignment's goods (`ledger.trade.consignment_coldchain`):
    # each names the event, the reading, the signer and the time outside. Read from v2 on.
    cold_chain_breaches: tuple[dict[str, Any], ...] = ()

    @property
    def complaint_rate(self) -> float:
        # A brand nobody has scanned yet still has a rate: complaints count as if scanned once.
        return self.complaint_count / max(self.scan_count, 1)

    def value(self, fact: str) -> Any:
        return {
            "creditGrade": self.credit_grade,
            "blacklisted": self.blacklisted,
            "complaintCount": self.complaint_count,
            "scanCount": self.scan_count,
            "unissuedComplaintCount": self.unissued_complaint_count,
            "unissuedScanCount": self.unissued_scan_count,
            "complaintRate": self.complaint_rate,
            "pastInspections": self.past_inspections,
            "failedInspections": self.failed_inspections,
            "originCountry": self.origin_country,
            "category": self.category,
            "coldChainBreaches": len(self.cold_chain_breaches),
        }[fact]

    def evidence(self, fact: str) -> tuple[dict[str, Any], ...]:
        """The facts behind a counted fact (the breaches behind `coldChainBreaches`)."""
        return self.cold_chain_breaches if fact == "coldChainBreaches" else ()

    def to_json(self) -> dict[str, Any]:
        return ({name: self.value(name) for name in _FACT_TYPES}
                | {"enterprise": self.enterprise,
                   "coldChainBreachFacts": list(self.cold_chain_breaches)})


# fact name -> the operators that make sense for it
_FACT_TYPES: dict[str, frozenset[str]] = {
    "creditGrade": frozenset({"in"}),
    "blacklisted": frozenset({"is"}),
    "complaintCount": frozenset({">=", ">", "<=", "<"}),
    "scanCount": frozenset({">=", ">", "<=", "<"}),
    "unissuedComplaintCount": frozenset({">=", ">", "<=", "<"}),
    "unissuedScanCount": frozenset({">=", ">", "<=", "<"}),
    "complaintRate": frozenset({">=", ">", "<=", "<"}),
    "pastInspections": frozenset({">=", ">", "<=", "<"}),
    "failedInspections": frozenset({">=", ">", "<=", "<"}),
    "originCountry": frozenset({"in"}),
    "category": frozenset({"in", "prefix"}),
    "coldChainBreaches": frozenset({">=", ">", "<=", "<"}),
}


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    fact: str
    op: str
    value: Any
    weight: int
    explanation: str
    floor: Decision = Decision.DIRECT_RELEASE

    def fires(self, facts: RiskFacts) -> bool:
        actual = facts.value(self.fact)
        match self.op:
            case "is":
                return bool(actual is self.value)
            case "in":
                return actual in self.value
            case "prefix":
                return actual is not None and any(str(actual).startswith(p) for p in self.value)
            case ">=":
                return bool(actual >= self.value)
            case ">":
                return bool(actual > self.value)
            case "<=":
                return bool(actual <= self.value)
            case "<":
                return bool(actual < self.value)
        raise AssertionError(f"operator {self.op} passed validation")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class RuleSet:
    version: str
    thresholds: dict[Decision, int]  # least score for each decision above DIRECT_RELEASE
    rules: tuple[Rule, ...]
    sha256: str = ""  # of the file's bytes, so a caller can pin exactly what it assessed under

    def band(self, score: int) -> Decision:
        best = Decision.DIRECT_RELEASE
        for decision, least in self.thresholds.items():
            if score >= least and decision > best:
                best = decision
        return best


@dataclass(frozen=True, slots=True)
class FiredRule:
    id: str
    weight: int
    explanation: str
    fact: str
    actual: Any
    floor: Decision
    evidence: tuple[dict[str, Any], ...] = ()  # the facts the count is of, when it is one

    def to_json(self) -> dict[str, Any]:
        out = {"id": self.id, "weight": self.weight, "explanation": self.explanation,
               "fact": self.fact, "actual": self.actual, "floor": self.floor.name}
        if self.evidence:
            out["evidence"] = list(self.evidence)
        return out


@dataclass(frozen=True, slots=True)
class RiskAssessment:
    facts: RiskFacts
    rules_version: str
    rules_sha256: str
    fired: tuple[FiredRule, ...]
    score: int
    decision: Decision
    thresholds: dict[Decision, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "rulesVersion": self.rules_version,
            "rulesSha256": self.rules_sha256,
            "score": self.score,
            "decision": self.decision.name,
            "thresholds": {d.name: v for d, v in self.thresholds.items()},
            "fired": [f.to_json() for f in self.fired],
            "facts": self.facts.to_json(),
        }


def decide(rules: RuleSet, fired: Iterable[Rule]) -> tuple[int, Decision]:
    """Score and decision for a set of fired rules (the monotone core, tested on its own)."""
    fired = list(fired)
    score = sum(r.weight for r in fired)
    floor = max((r.floor for r in fired), default=Decision.DIRECT_RELEASE)
    return score, max(rules.band(score), floor)


def assess(facts: RiskFacts, rules: RuleSet) -> RiskAssessment:
    fired = [r for r in rules.rules if r.fires(facts)]
    score, decision = decide(rules, fired)
    return RiskAssessment(
        facts=facts, rules_version=rules.version, rules_sha256=rules.sha256,
        fired=tuple(FiredRule(r.id, r.weight, r.explanation, r.fact, facts.value(r.fact), r.floor,
                              facts.evidence(r.fact)) for r in fired),
        score=score, decision=decision, thresholds=dict(rules.thresholds))


def parse_rules(raw: Any, *, sha256: str = "") -> RuleSet:
    """Validate a decoded rule file; every breach of the format or of monotonicity is refused."""
    if not isinstance(raw, dict):
        raise InvalidRulesError("a rule set is a JSON object")
    version = raw.get("version")
    if not isinstance(version, str) or not _VERSION_RE.match(version):
        raise InvalidRulesError(f"rule set version {version!r} is not like 'v1'")
    thresholds: dict[Decision, int] = {}
    for name, least in (raw.get("thresholds") or {}).items():
        decision = _decision(name)
        if decision is Decision.DIRECT_RELEASE or not isinstance(least, int) or least < 0:
            raise InvalidRulesError(f"threshold {name}={least!r} must be a non-negative integer "
                                    "for a decision above DIRECT_RELEASE")
        thresholds[decision] = least
    ordered = [thresholds[d] for d in sorted(thresholds)]
    if ordered != sorted(ordered):
        # A severer decision reachable at a lower score than a milder one would make the band
        # non-monotone in the score.
        raise InvalidRulesError("thresholds must not decrease with severity")
    rules: list[Rule] = []
    seen: set[str] = set()
    for item in raw.get("rules") or []:
        rule = _rule(item)
        if rule.id in seen:
            raise InvalidRulesError(f"rule id {rule.id} appears twice")
        seen.add(rule.id)
        rules.append(rule)
    return RuleSet(version=version, thresholds=thresholds, rules=tuple(rules), sha256=sha256)


def _decision(name: Any) -> Decision:
    if not isinstance(name, str) or name not in Decision.__members__:
        raise InvalidRulesError(f"unknown decision {name!r}")
    return Decision[name]


def _rule(item: Any) -> Rule:
    if not isinstance(item, dict):
        raise InvalidRulesError("each rule is a JSON object")
    rid, fact, op = item.get("id"), item.get("fact"), item.get("op")
    if not isinstance(rid, str) or not rid:
        raise InvalidRulesError("a rule needs a non-empty string id")
    if fact not in _FACT_TYPES:
        raise InvalidRulesError(f"rule {rid}: unknown fact {fact!r}")
    if op not in _FACT_TYPES[fact]:
        raise InvalidRulesError(f"rule {rid}: operator {op!r} does not apply to {fact}")
    weight = item.get("weight")
    if not isinstance(weight, int) or isinstance(weight, bool) or weight < 0:
        # Negative weights are what would let a firing rule lower a decision.
        raise InvalidRulesError(f"rule {rid}: weight must be a non-negative integer")
    value = item.get("value")
    if op in ("in", "prefix"):
        if not isinstance(value, list):
            raise InvalidRulesError(f"rule {rid}: {op} takes a list")
        value = tuple(value)
    elif op == "is":
        if not isinstance(value, bool):
            raise InvalidRulesError(f"rule {rid}: is takes true or false")
    elif not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidRulesError(f"rule {rid}: {op} takes a number")
    floor = _decision(item.get("floor", "DIRECT_RELEASE"))
    return Rule(id=rid, fact=fact, op=op, value=value, weight=weight,
                explanation=str(item.get("explanation", "")), floor=floor)


@cache
def load_rules(version: str = DEFAULT_RULES_VERSION, directory: Path = RULES_DIR) -> RuleSet:
    """The published rule set `version` (cached: the files are immutable once published)."""
    import hashlib

    if not _VERSION_RE.match(version):
        # Checked before touching the file system: the version comes from requests.
        raise UnknownRulesVersionError(f"no risk rule set {version!r}", version=version)
    path = directory / f"{version}.json"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UnknownRulesVersionError(f"no risk rule set {version!r}", version=version) from None
    try:
        raw = json.loads(data)
    except ValueError as exc:
        raise InvalidRulesError(f"{path.name} is not JSON: {exc}") from exc
    rules = parse_rules(raw, sha256=hashlib.sha256(data).hexdigest())
    if rules.version != version:
        raise InvalidRulesError(f"{path.name} declares version {rules.version}")
    return rules
