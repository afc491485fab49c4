"""Product conditions: a brand's signed allowed ranges per GTIN (cold chain master data).

    POST /conditions                       store a brand's signed conditions (member relay)
    GET  /conditions/{gtin}                the latest version (public)
    GET  /conditions/{gtin}/versions/{v}   one version (public)

The authority is the brand's EIP-712 signature over the conditions text
(`ledger.trade.conditions`), not the request: any member may relay it, and it is stored only
when the signer's organisation owns the GTIN's company prefix on Consortium. Conditions are
public, like the risk rules: the shopper's page and anyone else may check the ranges an item
was judged against.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field

from gateway.auth import MemberDep
from gateway.deps import ServicesDep
from gateway.problems import problem_responses
from ledger.proofs.merkle import keccak256
from ledger.trade.conditions import (
    MAX_TEXT_BYTES,
    SignedConditions,
    accept_conditions,
    parse_conditions,
    stored_conditions,
)

__all__ = ["router"]

router = APIRouter(tags=["Product conditions"])

Gtin = Annotated[str, Path(pattern=r"^[0-9]{14}$", description="GTIN-14")]


class SignedConditionsIn(BaseModel):
    text: str = Field(max_length=MAX_TEXT_BYTES, description=(
        'the exact JSON text the brand signed: {"type": "ProductConditions", "gtin", '
        '"version", "ranges": [{"type", "uom", "min", "max", "allowedMinutesOutside"}]}'))
    org: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$", description="the brand's organisation id")
    signedAt: int = Field(ge=0, lt=1 << 64, description="unix seconds, as signed")
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$", description=(
        "EIP-712 ProductConditions(bytes32 conditionsHash,bytes32 org,uint64 signedAt), "
        "r‖s‖v, low s, in the capture domain (Zhenzhi, 2, chain id, Consortium)"))


def _out(signed: SignedConditions) -> dict[str, Any]:
    conditions = parse_conditions(signed.text)
    return {"gtin": conditions.gtin, "version": conditions.version,
            "ranges": [r.to_json() for r in conditions.ranges],
            "conditionsHash": "0x" + keccak256(signed.text.encode()).hex(),
            "signed": signed.to_json()}


@router.post("/conditions", status_code=201, summary="Store a brand's signed product conditions",
             responses=problem_responses(400, 401, 403, 409))
def post_conditions(body: SignedConditionsIn, viewer: MemberDep, services: ServicesDep,
                    response: Response) -> dict[str, Any]:
    """Stores the conditions when the signature recovers a key of `org` valid at `signedAt`
    and `org` owns the GTIN's company prefix (403 otherwise). A version is immutable: the same
    text again answers 200, another text under a stored or lower version 409."""
    signed = SignedConditions(body.text, bytes.fromhex(body.org[2:]), body.signedAt,
                              bytes.fromhex(body.signature[2:]))
    view = services.chain_view
    view.sync(force=True)
    _, signer, new = accept_conditions(services.store.engine, view.domain, signed, view)
    if not new:
        response.status_code = 200
    return {**_out(signed), "signer": signer}


@router.get("/conditions/{gtin}", summary="A GTIN's latest product conditions (public)",
            responses=problem_responses(404))
def latest(gtin: Gtin, services: ServicesDep) -> dict[str, Any]:
    return _out(stored_conditions(services.store.engine, gtin))


@router.get("/conditions/{gtin}/versions/{version}", summary="One version of a GTIN's conditions",
            responses=problem_responses(404))
def one_version(gtin: Gtin, version: Annotated[int, Path(ge=1, lt=1 << 32)],
                services: ServicesDep) -> dict[str, Any]:
    return _out(stored_conditions(services.store.engine, gtin, version))
