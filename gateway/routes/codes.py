"""Item codes and labels: issue serials for a lot, register the lot's commitment with the
enterprise's authority, print labels.

    POST /codes/lots                               issue N serials (owner's members)
    POST /codes/lots/{gtin}/{lot}/registration     relay the owner's signed RegisterLot
    GET  /codes/lots/{gtin}/{lot}                  the lot: serials, root, chain status
    GET  /codes/lots/{gtin}/{lot}/labels.pdf       label sheet
    GET  /codes/{gtin}/{serial}/label.png|.svg     one label

Serials are secret until printed, so every route here needs a signed request from a member of
the organisation that owns the GTIN's company prefix on Consortium (regulators may read).
"""

from __future__ import annotations

import time
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from gateway.auth import Access, MemberDep, Viewer
from gateway.deps import ServicesDep
from gateway.problems import problem_responses
from gateway.traceability import RuntimeDep, TraceabilityRuntime
from ledger.errors import AuthorizationError, InvalidInputError
from ledger.proofs.codes import validate_gtin14, validate_lot
from ledger.trade import issuance
from ledger.trade.labels import Label, label_png, label_svg, labels_pdf
from ledger.trade.serials import DEFAULT_LENGTH, MAX_BATCH, new_serials

__all__ = ["digital_link", "router"]

router = APIRouter(tags=["Codes and labels"])
MAX_LABELS_PER_SHEET_REQUEST = 5000

Gtin = Annotated[str, Path(pattern=r"^[0-9]{14}$", description="GTIN-14")]
Lot = Annotated[str, Path(min_length=1, max_length=20, description="lot (AI 10)")]
Serial = Annotated[str, Path(min_length=1, max_length=20, description="serial (AI 21)")]


class NotPrefixOwnerError(AuthorizationError):
    slug = "not-prefix-owner"
    title = "Only the GTIN's brand owner may do this"


class IssueRequest(BaseModel):
    gtin: str = Field(pattern=r"^[0-9]{14}$", description="GTIN-14 whose company prefix you own")
    lot: str = Field(min_length=1, max_length=20, description="lot number (AI 10)")
    count: int = Field(ge=1, le=MAX_BATCH, description="how many serials")
    serialLength: int = Field(default=DEFAULT_LENGTH, ge=12, le=20,
                              description="characters per serial (12 gives 69.9 bits)")
    deadlineSeconds: int = Field(default=3600, ge=60, le=7 * 86400,
                                 description="validity of the RegisterLot signature asked for")


class RegistrationRequest(BaseModel):
    signer: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    deadline: int = Field(ge=0)
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")


def digital_link(base: str, gtin: str, serial: str, lot: str | None = None) -> str:
    """The item's GS1 Digital Link on the resolver (qualifier order 10 then 21)."""
    path = f"/01/{gtin}"
    if lot:
        path += f"/10/{quote(lot, safe='')}"
    return f"{base.rstrip('/')}{path}/21/{quote(serial, safe='')}"


def _require_owner(viewer: Viewer, services: Any, gtin: str, *, read: bool = False) -> None:
    if read and viewer.access is Access.REGULATOR:
        return
    view = services.chain_view
    view.sync()
    owner = view.prefix_owner(gtin)
    if owner is None or viewer.org != owner:
        raise NotPrefixOwnerError(
            f"organisation {viewer.org_hex} does not own the company prefix of GTIN {gtin}",
            gtin=gtin, org=viewer.org_hex, owner=None if owner is None else "0x" + owner.hex())


def _lot_json(runtime: TraceabilityRuntime, services: Any, issued: issuance.IssuedLot,
              *, with_serials: bool) -> dict[str, Any]:
    on_chain = runtime.chain(services.chain_view).lot(issued.gtin, issued.lot)
    base = runtime.settings.resolver_base_url
    out: dict[str, Any] = {
        "gtin": issued.gtin, "lot": issued.lot, "count": issued.count,
        "codesRoot": "0x" + issued.codes_root.hex(),
        "chain": {"status": on_chain.status.lower() if on_chain else "unregistered",
                  "matchesIssued": bool(on_chain and on_chain.codes_root == issued.codes_root),
                  "org": "0x" + on_chain.org.hex() if on_chain else None},
        "links": {"labelsPdf": f"/codes/lots/{issued.gtin}/{quote(issued.lot, safe='')}/labels.pdf"},
    }
    if with_serials:
        out["serials"] = list(issued.serials)
        out["digitalLinks"] = [digital_link(base, issued.gtin, s, issued.lot) for s in issued.serials]
    return out


@router.post("/codes/lots", status_code=201, summary="Issue unguessable serials for a lot",
             responses=problem_responses(400, 401, 403, 409))
def issue(body: IssueRequest, viewer: MemberDep, services: ServicesDep,
          runtime: RuntimeDep) -> dict[str, Any]:
    """Generates `count` random serials (≥ 64 bits each, GS1 AI 21 characters), stores them and
    returns them with the lot's `codesRoot`. To make the codes verifiable, register the root on
    CodeRegistry with the enterprise's authority: sign the returned EIP-712 `RegisterLot`
    digest and POST it to `/codes/lots/{gtin}/{lot}/registration`, or send `registerLot` from
    your own account."""
    gtin, lot = validate_gtin14(body.gtin), validate_lot(body.lot)
    _require_owner(viewer, services, gtin)
    serials = new_serials(body.count, length=body.serialLength)
    issued = issuance.store_lot(services.store.engine, gtin, lot, serials)
    out = _lot_json(runtime, services, issued, with_serials=True)
    chain = runtime.chain(services.chain_view)
    deadline = int(time.time()) + body.deadlineSeconds
    nonce = chain.lot_nonce(str(viewer.signer))
    digest = chain.register_lot_digest(gtin, lot, issued.codes_root, issued.count, nonce, deadline)
    out["registration"] = {
        "signer": viewer.signer, "nonce": nonce, "deadline": deadline,
        "digest": "0x" + digest.hex(),
        "primaryType": "RegisterLot",
        "domain": {"name": "Zhenzhi CodeRegistry", "version": "1",
                   "chainId": services.chain_view.chain_id,
                   "verifyingContract": services.chain_view.deployment.address("CodeRegistry")},
        "message": {"gtin": gtin, "lot": lot, "codesRoot": out["codesRoot"],
                    "count": issued.count, "nonce": nonce, "deadline": deadline},
    }
    return out


@router.post("/codes/lots/{gtin}/{lot}/registration", summary="Relay a signed lot registration",
             responses=problem_responses(400, 401, 403, 404, 409, 501))
def register(gtin: Gtin, lot: Lot, body: RegistrationRequest, viewer: MemberDep,
             services: ServicesDep, runtime: RuntimeDep) -> dict[str, Any]:
    """Sends CodeRegistry.registerLotWithSig from the gateway's relayer account. The contract
    checks the enterprise's signature and prefix ownership; the relayer only pays gas."""
    issued = issuance.lot_serials(services.store.engine, validate_gtin14(gtin), validate_lot(lot))
    outcome = runtime.chain(services.chain_view).register_lot_with_sig(
        runtime.relayer(services.chain_view), issued.gtin, issued.lot, issued.codes_root,
        issued.count, body.signer, body.deadline, bytes.fromhex(body.signature[2:]))
    services.chain_view.sync(force=True)
    out = _lot_json(runtime, services, issued, with_serials=False)
    out["txHash"] = outcome.tx_hash
    return out


@router.get("/codes/lots/{gtin}/{lot}", summary="An issued lot and its chain status",
            responses=problem_responses(401, 403, 404))
def get_lot(gtin: Gtin, lot: Lot, viewer: MemberDep, services: ServicesDep,
            runtime: RuntimeDep) -> dict[str, Any]:
    _require_owner(viewer, services, gtin, read=True)
    issued = issuance.lot_serials(services.store.engine, validate_gtin14(gtin), validate_lot(lot))
    return _lot_json(runtime, services, issued, with_serials=True)


@router.get("/codes/lots/{gtin}/{lot}/labels.pdf", summary="Label sheet (A4 PDF) for a lot",
            response_class=Response, responses={
                200: {"content": {"application/pdf": {}}, "description": "the label sheet"},
                **problem_responses(400, 401, 403, 404)})
async def lot_labels(gtin: Gtin, lot: Lot, viewer: MemberDep, services: ServicesDep,
                     runtime: RuntimeDep, columns: int = 3, rows: int = 7) -> Response:
    def render() -> bytes:
        _require_owner(viewer, services, gtin)
        issued = issuance.lot_serials(services.store.engine, validate_gtin14(gtin),
                                      validate_lot(lot))
        if issued.count > MAX_LABELS_PER_SHEET_REQUEST:
            raise InvalidInputError(f"the lot has {issued.count} codes; sheets are generated for "
                                    f"at most {MAX_LABELS_PER_SHEET_REQUEST} (use `zhenzhi codes "
                                    "issue --labels`)", count=issued.count)
        if not (1 <= columns <= 8 and 1 <= rows <= 20):
            raise InvalidInputError("columns 1-8 and rows 1-20", field="columns")
        base = runtime.settings.resolver_base_url
        labels = [Label(gtin, s, digital_link(base, gtin, s, lot), lot) for s in issued.serials]
        return labels_pdf(labels, columns=columns, rows=rows, title=f"{gtin} lot {lot}")

    # Rendering thousands of QR symbols is CPU work: off the event loop.
    pdf = await run_in_threadpool(render)
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="labels-{gtin}-{quote(lot, safe="")}.pdf"'})


def _one_label(gtin: str, serial: str, viewer: Viewer, services: Any,
               runtime: TraceabilityRuntime) -> Label:
    from sqlalchemy import select

    from ledger.store.tables import codes

    _require_owner(viewer, services, validate_gtin14(gtin))
    with services.store.engine.connect() as conn:
        row = conn.execute(select(codes.c.lot).where(codes.c.gtin == gtin,
                                                     codes.c.serial == serial)).first()
    if row is None:
        raise issuance.UnknownLotError(f"no code {serial} issued for GTIN {gtin}", gtin=gtin,
                                       serial=serial)
    link = digital_link(runtime.settings.resolver_base_url, gtin, serial, row[0])
    return Label(gtin, serial, link, row[0])


@router.get("/codes/{gtin}/{serial}/label.png", summary="One label as PNG",
            response_class=Response, responses={
                200: {"content": {"image/png": {}}, "description": "QR + GTIN/serial/lot"},
                **problem_responses(401, 403, 404)})
def label_as_png(gtin: Gtin, serial: Serial, viewer: MemberDep, services: ServicesDep,
                 runtime: RuntimeDep) -> Response:
    return Response(label_png(_one_label(gtin, serial, viewer, services, runtime)),
                    media_type="image/png")


@router.get("/codes/{gtin}/{serial}/label.svg", summary="One label as SVG",
            response_class=Response, responses={
                200: {"content": {"image/svg+xml": {}}, "description": "QR + GTIN/serial/lot"},
                **problem_responses(401, 403, 404)})
def label_as_svg(gtin: Gtin, serial: Serial, viewer: MemberDep, services: ServicesDep,
                 runtime: RuntimeDep) -> Response:
    return Response(label_svg(_one_label(gtin, serial, viewer, services, runtime)),
                    media_type="image/svg+xml")
