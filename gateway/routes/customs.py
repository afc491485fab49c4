"""Customs: explainable risk assessment of a consignment, and its recorded decision.

    POST /consignments/{id}/risk     the rules that fired, their weights, the suggested decision
    GET  /consignments/{id}/decision the decision in force on CustomsRelease (public)
    GET  /risk-rules/{version}       a published rule set (public: anyone may check the rules)
    GET  /consignments/{id}/evidence the consignment's proof bundle (members that are party to
                                     it, customs, regulators); `?disclose=trade` the bank's
                                     view; `?sealed=true` sealed with state proofs at the head

The assessment reveals an enterprise's complaint and inspection record, so it is for customs
and regulators (signed member requests). The decision itself is recorded by the customs node
with its own key (`zhenzhi customs decide`), never by the gateway.

The decision route is public on purpose (issue 16): it answers exactly the CustomsRelease
record, which is chain state that anyone who reads the chain sees without the gateway, and
which the verifier and the consumer page read for imported goods. Hiding it here would hide
nothing. It carries no event, no enterprise facts and none of the assessment's reasons.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from gateway.auth import Access, MemberDep, require
from gateway.deps import ServicesDep
from gateway.problems import problem_responses
from gateway.traceability import RuntimeDep
from ledger.chain.roles import CUSTOMS, REGULATOR
from ledger.errors import AuthorizationError, InvalidInputError, NotFoundError
from ledger.proofs.bundle import ChainRef
from ledger.proofs.codes import org_id
from ledger.proofs.signing import checksum_address
from ledger.trade.consignment_coldchain import consignment_cold_chain
from ledger.trade.customs import (
    Declaration,
    consignment_key,
    covered_commitments,
    events_root,
    gather_facts,
)
from ledger.trade.risk import RULES_DIR, assess, load_rules

__all__ = ["assessment", "parse_event_id", "parse_org", "router"]

router = APIRouter(tags=["Customs"])

ConsignmentId = Annotated[str, Path(min_length=1, max_length=66,
                                    description="customs reference or 0x bytes32 key")]
_NI_RE = re.compile(r"^ni:///sha-256;([0-9a-fA-F]{64})\?ver=CBV2\.0$")


class UnknownDecisionError(NotFoundError):
    slug = "no-customs-decision"
    title = "No customs decision recorded"


class RiskRequest(BaseModel):
    enterprise: str = Field(description="declaring enterprise: GLN (13 digits) or 0x bytes32 org id")
    originCountry: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    category: str | None = Field(default=None, pattern=r"^[0-9]{2,10}$", description="HS code")
    eventIds: list[str] = Field(default_factory=list, max_length=10_000,
                                description="ni:///sha-256;…?ver=CBV2.0 ids the decision covers")
    rulesVersion: str | None = Field(default=None, description="default: the gateway's current set")


def parse_org(text: str) -> bytes:
    if re.fullmatch(r"0x[0-9a-fA-F]{64}", text):
        return bytes.fromhex(text[2:])
    return org_id(text)


def parse_event_id(text: str) -> bytes:
    m = _NI_RE.match(text) if isinstance(text, str) else None
    if not m:
        raise InvalidInputError(f"not an event id (ni:///sha-256;<64 hex>?ver=CBV2.0): {text!r}",
                                field="eventIds")
    return bytes.fromhex(m.group(1))


@router.post("/consignments/{consignment}/risk", summary="Explainable risk assessment",
             responses=problem_responses(400, 401, 403, 404))
def risk(consignment: ConsignmentId, body: RiskRequest, viewer: MemberDep,
         services: ServicesDep, runtime: RuntimeDep) -> dict[str, Any]:
    """Judges the consignment with the versioned rule set: every rule that fired, with its
    weight and why, the score, and the suggested decision (DIRECT_RELEASE, NORMAL_CONTROL or
    IMMEDIATE_CONTROL). Adding a firing rule can never lower the decision. From rule set v2,
    cold-chain breaches on the consignment's goods are a fact (`coldChain` lists each GTIN's
    readings held against its brand's signed conditions)."""
    require(viewer, Access.MEMBER, CUSTOMS, REGULATOR)
    declaration = Declaration(
        consignment=consignment, enterprise=parse_org(body.enterprise),
        origin_country=body.originCountry, category=body.category,
        event_ids=tuple(parse_event_id(e) for e in body.eventIds))
    return assessment(declaration, body.rulesVersion, services, runtime)


def assessment(declaration: Declaration, rules_version: str | None, services: Any,
               runtime: Any) -> dict[str, Any]:
    """The risk route's answer for a declaration (also the customs console's)."""
    consignment = declaration.consignment
    rules = load_rules(rules_version or runtime.settings.risk_rules_version)
    services.chain_view.sync()
    cold = consignment_cold_chain(services.store, declaration.event_ids, services.chain_view)
    facts = gather_facts(declaration, chain=runtime.chain(services.chain_view),
                         engine=services.store.engine,
                         complaint_cap=runtime.settings.complaint_cap_per_client,
                         scan_cap=runtime.settings.scan_cap_per_client,
                         cold_chain_breaches=[
                             {"gtin": r.gtin, "conditionsVersion": r.version, **x.to_json()}
                             for r in cold for x in r.breaches()])
    result = assess(facts, rules).to_json()
    result["coldChain"] = [r.to_json() for r in cold]
    # The root customs records on CustomsRelease: over the covered events' commitments (the
    # leaves of their signed captures), which only the gateway holds.
    result["eventsRoot"] = "0x" + events_root(
        covered_commitments(services.store.engine, declaration.event_ids)).hex()
    result["consignment"] = consignment
    result["consignmentKey"] = "0x" + consignment_key(consignment).hex()
    return result


@router.get("/consignments/{consignment}/decision", summary="Customs decision on chain",
            responses=problem_responses(400, 404))
def decision(consignment: ConsignmentId, services: ServicesDep) -> dict[str, Any]:
    key = consignment_key(consignment)
    view = services.chain_view
    # Forced: whoever asks has usually just recorded it; one eth_blockNumber is cheap here.
    view.sync(force=True)
    record = view.customs(key)
    if record is None:
        raise UnknownDecisionError(f"no customs decision recorded for {consignment}",
                                   consignment=consignment)
    return {"consignment": consignment, "consignmentKey": "0x" + key.hex(),
            "decision": record.decision, "inspection": record.inspection,
            "eventsRoot": "0x" + record.events_root.hex(), "decidedAt": record.decided_at,
            "recorder": checksum_address(record.recorder), "decisions": record.count,
            "released": record.released, "refused": record.refused}


class NotAPartyToConsignmentError(AuthorizationError):
    slug = "not-a-party"
    title = "Not a party to this consignment"


@router.get("/consignments/{consignment}/evidence", summary="Consignment evidence (members)",
            responses=problem_responses(400, 401, 403, 404))
async def consignment_evidence(
        consignment: ConsignmentId, viewer: MemberDep, services: ServicesDep,
        disclose: Annotated[str, Query(pattern="^(full|trade)$", description=(
            "full: every event whole (members); trade: a bank's view, each event cut down to "
            "its trade documents, stage, time, place, parties and the consignment's EPCs"))] = "full",
        sealed: Annotated[bool, Query(description=(
            "seal it with Ethereum state proofs at the node's head, for `zhenzhi "
            "verify-evidence` with no node (verifier/README.md, \"Sealed evidence\")"))] = False,
) -> Response:
    """What customs decided on: its decisions, the events they cover (with proofs into the
    decision's root on CustomsRelease), the events naming its pallets, and in the full view
    the goods' packing and commissioning; each event with its capture signature and anchoring
    proof. For a member organisation that signed one of its events, and for customs and
    regulators; anyone else gets 403, the public 401."""
    from ledger.evidence.consignment import assemble_consignment, trade_bundle
    from ledger.evidence.sealed import canonical_json

    def work() -> bytes:
        view = services.chain_view
        block = view.sync(force=True)
        full = assemble_consignment(services.store, consignment,
                                    chain=ChainRef(view.chain_id, view.contracts, block))
        if viewer.access is not Access.REGULATOR and CUSTOMS not in viewer.roles:
            parties = {c.signature.org for c in full.captures}
            if viewer.org not in parties:
                raise NotAPartyToConsignmentError(
                    f"organisation {viewer.org_hex} signed none of consignment {consignment}'s "
                    "events", org=viewer.org_hex, consignment=consignment)
        bundle = trade_bundle(full) if disclose == "trade" else full
        if sealed:
            from verifier.sealed import seal

            return seal(bundle, view.w3, view.deployment).dumps()
        return canonical_json(bundle.to_json())

    return Response(await run_in_threadpool(work), media_type="application/json")


@router.get("/risk-rules/{version}", summary="A published risk rule set",
            responses=problem_responses(404))
def rules_file(version: Annotated[str, Path(pattern=r"^v[0-9]{1,4}$")]) -> dict[str, Any]:
    import json

    rules = load_rules(version)  # validates and 404s for unknown versions
    raw = json.loads((RULES_DIR / f"{version}.json").read_text(encoding="utf-8"))
    raw["sha256"] = rules.sha256
    return dict(raw)
