"""The brand's console page: its lots and codes, issuing a lot's codes, its label sheets.

    GET  /console/brand                                   the page (a console session, ENTERPRISE)
    GET  /console/brand.js                                its script (verifier/web/src/console_brand.js)
    POST /console/brand/lots                              issue a lot's serials; answers the
                                                          EIP-712 `RegisterLot` to sign
    POST /console/brand/lots/{gtin}/{lot}/registration    relay the wallet's RegisterLot signature
    GET  /console/brand/lots/{gtin}/{lot}/labels.pdf      the lot's label sheet
    POST /console/brand/complaints/{id}/replies           a reply signed in the wallet (EIP-712
                                                          `ComplaintReply`), stored with its
                                                          signature

The brand is the organisation that owns the GTIN's company prefix on Consortium. The lot's
registration on CodeRegistry is signed in the officer's wallet (`eth_signTypedData_v4`) and
relayed by the gateway's relayer, which pays gas and gains no authority: the gateway checks
that the signature recovers to the session's own key (a signature by any other key, or one
replayed after its nonce was used, is refused before anything is sent) and CodeRegistry checks
it again with the prefix. The gateway never holds the officer's key.
"""

from __future__ import annotations

import html
import json
import time
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from gateway.console_access import console_language
from gateway.console_actions import (
    ConsoleActorDep,
    ConsoleReaderDep,
    as_viewer,
    require_roles,
)
from gateway.deps import ServicesDep, SettingsDep, get_services
from gateway.problems import problem_responses
from gateway.routes import codes as code_routes
from gateway.routes.scan_page import static_response
from gateway.sessions import ConsoleSession, current_session, own_origin, session_cookie
from gateway.traceability import RuntimeDep
from ledger.chain.roles import ENTERPRISE
from ledger.errors import AuthorizationError, ConflictError
from ledger.proofs.codes import validate_gtin14, validate_lot
from ledger.proofs.signing import InvalidSignatureError, _recover
from ledger.store.tables import codes as codes_table
from ledger.trade import issuance
from ledger.trade.serials import MAX_BATCH, new_serials

__all__ = ["router"]

router = APIRouter(tags=["Console: brand"])

_NO_STORE = {"Cache-Control": "no-store"}
Gtin = Annotated[str, Path(pattern=r"^[0-9]{14}$", description="GTIN-14")]
Lot = Annotated[str, Path(min_length=1, max_length=20, description="lot (AI 10)")]


class SignatureNotFromSession(AuthorizationError):
    slug = "signature-not-from-session-key"
    title = "The signature is not the logged-in key's, for this lot now"


class LotAlreadyRegistered(ConflictError):
    slug = "lot-already-registered"
    title = "The lot is already registered on CodeRegistry"


class ConsoleIssueRequest(BaseModel):
    gtin: str = Field(pattern=r"^[0-9]{14}$", description="GTIN-14 whose company prefix you own")
    lot: str = Field(min_length=1, max_length=20, description="lot number (AI 10)")
    count: int = Field(ge=1, le=MAX_BATCH, description="how many serials")


class ConsoleRegistration(BaseModel):
    deadline: int = Field(ge=0, description="the deadline of the RegisterLot signed")
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$",
                           description="EIP-712 signature r‖s‖v by the session's key")


REGISTER_LOT_TYPES = {
    "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                     {"name": "chainId", "type": "uint256"},
                     {"name": "verifyingContract", "type": "address"}],
    "RegisterLot": [{"name": "gtin", "type": "string"}, {"name": "lot", "type": "string"},
                    {"name": "codesRoot", "type": "bytes32"}, {"name": "count", "type": "uint32"},
                    {"name": "nonce", "type": "uint256"}, {"name": "deadline", "type": "uint256"}],
}


def _brand(session: ConsoleSession, services: Any, gtin: str) -> None:
    require_roles(session, ENTERPRISE)
    code_routes._require_owner(as_viewer(session), services, gtin)


def _typed_data(services: Any, gtin: str, lot: str, root_hex: str, count: int, nonce: int,
                deadline: int) -> dict[str, Any]:
    """What `eth_signTypedData_v4` is given: the wallet shows these fields and hashes them."""
    view = services.chain_view
    return {"types": REGISTER_LOT_TYPES, "primaryType": "RegisterLot",
            "domain": {"name": "Zhenzhi CodeRegistry", "version": "1", "chainId": view.chain_id,
                       "verifyingContract": view.deployment.address("CodeRegistry")},
            "message": {"gtin": gtin, "lot": lot, "codesRoot": root_hex, "count": count,
                        "nonce": nonce, "deadline": deadline}}


@router.post("/console/brand/lots", status_code=201, summary="Brand: issue a lot's codes",
             responses=problem_responses(400, 401, 403, 409))
def issue_lot(body: ConsoleIssueRequest, session: ConsoleActorDep, services: ServicesDep,
              runtime: RuntimeDep) -> dict[str, Any]:
    """Stores `count` new unguessable serials for the lot and answers the EIP-712 typed data of
    its `RegisterLot` for the wallet to sign (`eth_signTypedData_v4`)."""
    gtin, lot = validate_gtin14(body.gtin), validate_lot(body.lot)
    _brand(session, services, gtin)
    issued = issuance.store_lot(services.store.engine, gtin, lot, new_serials(body.count))
    chain = runtime.chain(services.chain_view)
    nonce = chain.lot_nonce(session.signer)
    deadline = int(time.time()) + 3600
    root = "0x" + issued.codes_root.hex()
    return {"gtin": gtin, "lot": lot, "count": issued.count, "codesRoot": root,
            "signer": session.signer,
            "typedData": _typed_data(services, gtin, lot, root, issued.count, nonce, deadline)}


@router.post("/console/brand/lots/{gtin}/{lot}/registration",
             summary="Brand: relay the wallet's RegisterLot signature to CodeRegistry",
             responses=problem_responses(400, 401, 403, 404, 409, 501))
def register_lot(gtin: Gtin, lot: Lot, body: ConsoleRegistration, session: ConsoleActorDep,
                 services: ServicesDep, runtime: RuntimeDep) -> dict[str, Any]:
    gtin, lot = validate_gtin14(gtin), validate_lot(lot)
    _brand(session, services, gtin)
    issued = issuance.lot_serials(services.store.engine, gtin, lot)
    chain = runtime.chain(services.chain_view)
    if chain.lot(gtin, lot) is not None:
        raise LotAlreadyRegistered(f"lot {lot} of GTIN {gtin} is already on CodeRegistry",
                                   gtin=gtin, lot=lot)
    # The digest with the session key's nonce now: a signature made for an earlier nonce (a
    # replay) or by another key recovers some other address.
    nonce = chain.lot_nonce(session.signer)
    digest = chain.register_lot_digest(gtin, lot, issued.codes_root, issued.count, nonce,
                                       body.deadline)
    signature = bytes.fromhex(body.signature[2:])
    try:
        recovered = _recover(digest, signature)
    except InvalidSignatureError as exc:
        raise SignatureNotFromSession(str(exc), reason="malformed") from None
    if recovered.lower() != session.signer.lower():
        raise SignatureNotFromSession(
            f"the signature recovers to {recovered}, not the session's key {session.signer}, "
            f"for lot {lot} at nonce {nonce} (replayed, altered or someone else's)",
            reason="not-session-key", recovered=recovered, signer=session.signer, nonce=nonce)
    outcome = chain.register_lot_with_sig(runtime.relayer(services.chain_view), gtin, lot,
                                          issued.codes_root, issued.count, session.signer,
                                          body.deadline, signature)
    services.chain_view.sync(force=True)
    on_chain = chain.lot(gtin, lot)
    return {"gtin": gtin, "lot": lot, "txHash": outcome.tx_hash,
            "chain": {"status": on_chain.status.lower() if on_chain else "unregistered",
                      "matchesIssued": bool(on_chain and on_chain.codes_root
                                            == issued.codes_root)}}


@router.get("/console/brand/lots/{gtin}/{lot}/labels.pdf", summary="Brand: a lot's label sheet",
            response_class=Response, responses={
                200: {"content": {"application/pdf": {}}, "description": "the label sheet"},
                **problem_responses(400, 401, 403, 404)})
async def labels(gtin: Gtin, lot: Lot, session: ConsoleReaderDep, services: ServicesDep,
                 runtime: RuntimeDep) -> Response:
    require_roles(session, ENTERPRISE)
    return await code_routes.lot_labels(gtin, lot, as_viewer(session), services, runtime)


class ReplyReplayed(ConflictError):
    slug = "reply-replayed"
    title = "This signed reply was stored already"


class ConsoleReply(BaseModel):
    text: str = Field(min_length=1, max_length=2000)
    repliedAt: int = Field(ge=0, description="unix seconds, as signed")
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")


REPLY_TYPES = {
    "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                     {"name": "chainId", "type": "uint256"}],
    "ComplaintReply": [{"name": "complaint", "type": "uint256"}, {"name": "gtin", "type": "string"},
                       {"name": "text", "type": "string"},
                       {"name": "repliedAt", "type": "uint256"}],
}
REPLY_SKEW_S = 600


def reply_typed_data(chain_id: int, complaint: int, gtin: str, text: str, at: int
                     ) -> dict[str, Any]:
    """What the wallet signs for a reply (the page builds the same object)."""
    return {"types": REPLY_TYPES, "primaryType": "ComplaintReply",
            "domain": {"name": "Zhenzhi console", "version": "1", "chainId": chain_id},
            "message": {"complaint": complaint, "gtin": gtin, "text": text, "repliedAt": at}}


@router.post("/console/brand/complaints/{complaint_id}/replies", status_code=201,
             summary="Brand: reply to a complaint about its product (signed in the wallet)",
             responses=problem_responses(400, 401, 403, 404, 409))
def reply(complaint_id: Annotated[int, Path(ge=1)], body: ConsoleReply,
          session: ConsoleActorDep, services: ServicesDep) -> dict[str, Any]:
    from eth_account import Account
    from eth_account.messages import encode_typed_data
    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    from ledger.errors import InvalidInputError, NotFoundError
    from ledger.store.tables import complaint_replies, complaints

    require_roles(session, ENTERPRISE)
    with services.store.engine.connect() as conn:
        row = conn.execute(select(complaints.c.gtin).where(complaints.c.id == complaint_id)
                           ).first()
    if row is None or row[0] is None:
        raise NotFoundError(f"no complaint {complaint_id} about a product", complaint=complaint_id)
    gtin = row[0]
    _brand(session, services, gtin)
    if abs(body.repliedAt - time.time()) > REPLY_SKEW_S:
        raise InvalidInputError(f"repliedAt is more than {REPLY_SKEW_S} s from now",
                                field="repliedAt")
    signature = bytes.fromhex(body.signature[2:])
    typed = reply_typed_data(services.chain_view.chain_id, complaint_id, gtin, body.text,
                             body.repliedAt)
    try:
        recovered = Account.recover_message(encode_typed_data(full_message=typed),
                                            signature=signature)
    except Exception:  # noqa: BLE001 - malformed signature bytes
        recovered = "(none)"
    if recovered.lower() != session.signer.lower():
        raise SignatureNotFromSession(
            f"the reply's signature recovers to {recovered}, not the session's key "
            f"{session.signer} (altered, for another complaint, or someone else's)",
            reason="not-session-key", recovered=recovered, signer=session.signer)
    try:
        with services.store.engine.begin() as conn:
            new_id = conn.execute(insert(complaint_replies).values(
                complaint_id=complaint_id, org=session.org, signer=session.signer,
                text=body.text, replied_ms=body.repliedAt * 1000, signature=signature)
            ).inserted_primary_key[0]  # type: ignore[index]
    except IntegrityError:
        raise ReplyReplayed("this signed reply is stored already (a replay)",
                            complaint=complaint_id) from None
    return {"id": int(new_id), "complaint": complaint_id, "signer": session.signer,
            "text": body.text, "repliedAt": body.repliedAt}


@router.get("/console/brand.js", include_in_schema=False)
async def brand_script(request: Request) -> Response:
    return static_response(request, "console_brand.js")


# --- the page -------------------------------------------------------------------------------

def _brand_lots(services: Any, runtime: Any, org: bytes) -> list[dict[str, Any]]:
    """The issued lots whose GTIN's prefix `org` owns, newest first, with their chain status."""
    with services.store.engine.connect() as conn:
        rows = conn.execute(
            select(codes_table.c.gtin, codes_table.c.lot, func.count(),
                   func.min(codes_table.c.registered_ms))
            .group_by(codes_table.c.gtin, codes_table.c.lot)
            .order_by(func.min(codes_table.c.registered_ms).desc())).all()
    view = services.chain_view
    view.sync()
    owners: dict[str, bytes | None] = {}
    chain = runtime.chain(view)
    out = []
    for gtin, lot, count, issued_ms in rows:
        if gtin not in owners:
            owners[gtin] = view.prefix_owner(gtin)
        if owners[gtin] != org:
            continue
        on_chain = chain.lot(gtin, lot)
        out.append({"gtin": gtin, "lot": lot, "count": int(count), "issuedMs": int(issued_ms),
                    "status": on_chain.status.lower() if on_chain else "unregistered"})
    return out


def _brand_scans(services: Any, org: bytes, now: int | None = None
                 ) -> tuple[list[dict[str, Any]], list[tuple[str, dict[str, int]]]]:
    """Clone alerts (codes of the brand's whose public scans break the scan-history rules of
    `verifier.clone`, judged over every scan: the console does not know each item's sale) and
    its scans by region (the country the gateway placed each client in) and verdict."""
    from collections import Counter, defaultdict

    from ledger.proofs.bundle import ScanRecord
    from ledger.store.tables import scans
    from verifier.clone import check_scans
    from verifier.verdict import Outcome

    view = services.chain_view
    view.sync()
    with services.store.engine.connect() as conn:
        gtins = [g for (g,) in conn.execute(select(scans.c.gtin).distinct())]
        own = [g for g in gtins if view.prefix_owner(g) == org]
        rows = conn.execute(
            select(scans.c.gtin, scans.c.serial, scans.c.scanned_ms, scans.c.region,
                   scans.c.client_hash, scans.c.verdict)
            .where(scans.c.gtin.in_(own)).order_by(scans.c.id)).all() if own else []
    per_item: dict[tuple[str, str], list[ScanRecord]] = defaultdict(list)
    regions: dict[str, Counter[str]] = defaultdict(Counter)
    for gtin, serial, at_ms, region, client, verdict in rows:
        regions[region or "unknown"][verdict or "none"] += 1
        if serial:
            per_item[(gtin, serial)].append(ScanRecord(
                at_ms // 1000, region or "unknown", client.hex() if client else None))
    alerts: list[dict[str, Any]] = []
    for (gtin, serial), records in per_item.items():
        check = check_scans(records, None, now=now)
        if check.outcome is Outcome.FAIL:
            places = sorted({r.region for r in records if r.region != "unknown"})
            alerts.append({"gtin": gtin, "serial": serial, "scans": len(records),
                           "clients": check.details.get("clients"), "places": places,
                           "last": max(r.at for r in records)})
    alerts.sort(key=lambda a: -a["last"])
    by_region = sorted(((r, dict(c)) for r, c in regions.items()),
                       key=lambda rc: -sum(rc[1].values()))
    return alerts, by_region


def _brand_complaints(services: Any, org: bytes) -> list[dict[str, Any]]:
    """Complaints about GTINs whose prefix `org` owns, newest first, with their replies."""
    from ledger.store.tables import complaint_replies
    from ledger.trade.complaints import ComplaintBook

    view = services.chain_view
    book = ComplaintBook(services.store.engine)
    own = [g for g in book.gtins() if view.prefix_owner(g) == org]
    found = list(reversed(book.list(own, limit=500))) if own else []
    replies: dict[int, list[dict[str, Any]]] = {}
    if found:
        with services.store.engine.connect() as conn:
            for r in conn.execute(select(complaint_replies).where(
                    complaint_replies.c.complaint_id.in_([c.id for c in found]))
                    .order_by(complaint_replies.c.id)):
                replies.setdefault(int(r.complaint_id), []).append(
                    {"text": r.text, "at": int(r.replied_ms) // 1000, "signer": r.signer})
    return [{"id": c.id, "gtin": c.gtin, "serial": c.serial, "category": c.category,
             "text": c.text, "created": c.created_ms // 1000, "status": c.status,
             "outcome": c.outcome, "replies": replies.get(c.id, [])} for c in found]


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _complaints(items: list[dict[str, Any]]) -> str:
    rows = []
    for c in items:
        replies = "".join(
            f'<li class="reply"><span>{_e(r["text"])}</span> <small>— '
            f'{time.strftime("%Y-%m-%d %H:%M", time.gmtime(r["at"]))}, '
            f'<code>{_e(r["signer"])}</code></small></li>' for r in c["replies"])
        rows.append(
            f'<tr data-complaint="{c["id"]}"><td>{time.strftime("%Y-%m-%d", time.gmtime(c["created"]))}'
            f'</td><td data-i18n="cat_{_e(c["category"])}">{_e(c["category"])}</td>'
            f'<td><code>{_e(c["gtin"])}</code> '
            f'{_e(c["serial"] or "")}</td><td>{_e(c["text"])}<ul class="replies">{replies}</ul>'
            f'<form class="reply-form" data-id="{c["id"]}" data-gtin="{_e(c["gtin"])}">'
            '<textarea name="text" maxlength="2000" rows="2" required></textarea>'
            '<button type="submit" data-i18n="replyButton">reply</button></form></td>'
            f'<td class="cstatus"><span data-i18n="cstatus_{_e(c["status"])}">{_e(c["status"])}'
            '</span>' + (f'<p class="outcome"><small data-i18n="outcome">outcome</small>: '
                         f'{_e(c["outcome"])}</p>' if c.get("outcome") else "") + '</td></tr>')
    body = "".join(rows) or '<tr class="none"><td colspan="5" data-i18n="noComplaints">–</td></tr>'
    return ('<table id="brand-complaints"><thead><tr><th data-i18n="filed">filed</th>'
            '<th data-i18n="category">category</th><th data-i18n="code">code</th>'
            '<th data-i18n="complaint">complaint</th><th data-i18n="cstatus">status</th></tr>'
            f'</thead><tbody>{body}</tbody></table>')


@router.get("/console/brand", summary="Brand console page (a console session, ENTERPRISE)",
            response_class=HTMLResponse,
            responses={200: {"content": {"text/html": {}}},
                       303: {"description": "no session: to the log-in page"}})
async def brand_page(request: Request, settings: SettingsDep, runtime: RuntimeDep) -> Response:
    origin = own_origin(request, settings)
    session = None
    services = None
    if session_cookie(request, origin) is not None:
        services = await get_services(request)
        session = await run_in_threadpool(current_session, request, services, origin)
    if session is None or services is None:
        return RedirectResponse("/console/login", status_code=303, headers=_NO_STORE)
    if ENTERPRISE not in session.roles:
        return HTMLResponse(render_page(session, [], []), status_code=403, headers=_NO_STORE)
    lots = await run_in_threadpool(_brand_lots, services, runtime, session.org)
    org = await run_in_threadpool(runtime.chain(services.chain_view).organisation, session.org)
    prefixes = list(org.prefixes) if org else []
    alerts, regions = await run_in_threadpool(_brand_scans, services, session.org)
    found = await run_in_threadpool(_brand_complaints, services, session.org)
    return HTMLResponse(render_page(session, lots, prefixes, alerts, regions, found,
                                    services.chain_view.chain_id,
                                    lang=console_language(request)), headers=_NO_STORE)


def _lot_row(lot: dict[str, Any]) -> str:
    issued = time.strftime("%Y-%m-%d %H:%M", time.gmtime(lot["issuedMs"] // 1000))
    pdf = f"/console/brand/lots/{lot['gtin']}/{quote(lot['lot'], safe='')}/labels.pdf"
    return (f'<tr data-gtin="{_e(lot["gtin"])}" data-lot="{_e(lot["lot"])}">'
            f'<td><code>{_e(lot["gtin"])}</code></td><td>{_e(lot["lot"])}</td>'
            f'<td>{lot["count"]}</td><td>{issued}</td>'
            f'<td class="status s-{_e(lot["status"])}" data-i18n="status_{_e(lot["status"])}">'
            f'{_e(lot["status"])}</td>'
            f'<td><a class="labels" href="{_e(pdf)}" data-i18n="labels">labels</a></td></tr>')


CSS = """
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Noto Sans CJK SC",
"WenQuanYi Micro Hei",sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{background:#1d2330;color:#fff;padding:.8rem 1.2rem}header h1{margin:0;font-size:1.2rem}
header p{margin:.2rem 0 0;opacity:.75;font-size:.85rem}header a{color:#fff}
main{padding:1rem 1.2rem;max-width:1100px}section{background:#fff;border-radius:8px;
padding:.8rem 1rem;margin:0 0 1rem;box-shadow:0 1px 2px #0001}h2{font-size:1rem;margin:0 0 .6rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .5rem;
border-bottom:1px solid #e6e8ec}th{font-weight:600;font-size:.8rem;color:#555}
form.issue{display:flex;flex-wrap:wrap;gap:.6rem;align-items:end}form.issue label{display:flex;
flex-direction:column;font-size:.8rem;color:#555}input{font:inherit;padding:.35rem}
button{font:inherit;padding:.45rem .9rem;border:0;border-radius:6px;background:#1d2330;
color:#fff;cursor:pointer}button[disabled]{opacity:.5}#status{min-height:1.4em}
#status.error{color:#c62828}.s-active{color:#2e7d32;font-weight:600}.s-recalled{color:#c62828}
nav.lang{float:right}nav.lang a{margin-left:.6rem}.empty{color:#888}
.chart{margin:0}.chart figcaption{font-weight:600}.chart .echart{width:100%;min-height:240px}
.chart-table{font-size:.8rem}#clone-alerts td.places{color:#c62828}
.reply-form{display:flex;gap:.4rem;margin-top:.3rem}.reply-form textarea{flex:1;font:inherit}
ul.replies{margin:.3rem 0;padding-left:1rem;color:#2e5d32}
"""


def _alerts(alerts: list[dict[str, Any]]) -> str:
    rows = "".join(
        f'<tr data-serial="{_e(a["serial"])}"><td><code>{_e(a["gtin"])}</code></td>'
        f'<td><code>{_e(a["serial"])}</code></td><td>{a["scans"]}</td><td>{_e(a["clients"])}</td>'
        f'<td class="places">{_e(", ".join(a["places"]))}</td>'
        f'<td>{time.strftime("%Y-%m-%d %H:%M", time.gmtime(a["last"]))}</td></tr>'
        for a in alerts) or '<tr class="none"><td colspan="6" data-i18n="noAlerts">–</td></tr>'
    return ('<table id="clone-alerts"><thead><tr><th data-i18n="gtin">GTIN</th>'
            '<th data-i18n="serial">serial</th><th data-i18n="scans">scans</th>'
            '<th data-i18n="clients">clients</th><th data-i18n="places">places</th>'
            '<th data-i18n="lastScan">last scan</th></tr></thead>'
            f'<tbody>{rows}</tbody></table>')


def render_page(session: ConsoleSession, lots: list[dict[str, Any]], prefixes: list[str],
                alerts: list[dict[str, Any]] | None = None,
                regions: list[tuple[str, dict[str, int]]] | None = None,
                complaints: list[dict[str, Any]] | None = None, chain_id: int = 0, *,
                lang: str = "zh-Hans") -> str:
    from gateway.routes.console import STRINGS as CONSOLE_STRINGS
    from gateway.routes.console_charts import chart

    allowed = ENTERPRISE in session.roles
    rows = "".join(_lot_row(lot) for lot in lots) or \
        '<tr class="none"><td colspan="6" data-i18n="noLots">–</td></tr>'
    body = (
        '<section id="issue"><h2 data-i18n="issueTitle">Issue a lot\'s codes</h2>'
        '<form id="issue-form" class="issue">'
        '<label><span data-i18n="gtin">GTIN</span><input id="gtin" name="gtin" required '
        'pattern="[0-9]{14}" inputmode="numeric" size="16"></label>'
        '<label><span data-i18n="lot">lot</span><input id="lot" name="lot" required '
        'maxlength="20" size="12"></label>'
        '<label><span data-i18n="count">codes</span><input id="count" name="count" '
        f'type="number" min="1" max="{MAX_BATCH}" value="10" required></label>'
        '<button id="issue-button" type="submit" data-i18n="issueButton">Issue</button></form>'
        '<p><small data-i18n="issueHint">–</small> '
        f'<small>{_e(", ".join(prefixes))}</small></p>'
        '<form id="keyfile-form" class="issue"><b data-i18n="keyFileTitle">key file</b>'
        '<label><span>keystore</span><input id="keyfile" name="keyfile" type="file" '
        'accept=".json,application/json" required></label>'
        '<label><span data-i18n="passphrase">passphrase</span><input id="passphrase" '
        'name="passphrase" type="password" autocomplete="current-password" required></label>'
        '<button id="keyfile-unlock" type="submit" data-i18n="keyFileButton">unlock</button>'
        '</form>'
        '<p id="status" role="status" aria-live="polite"></p></section>'
        '<section id="lots"><h2 data-i18n="lotsTitle">Lots</h2><table id="lots-table"><thead><tr>'
        '<th data-i18n="gtin">GTIN</th><th data-i18n="lot">lot</th>'
        '<th data-i18n="count">codes</th><th data-i18n="issued">issued</th>'
        '<th data-i18n="chainStatus">CodeRegistry</th><th data-i18n="labelsHead">labels</th>'
        f'</tr></thead><tbody>{rows}</tbody></table></section>'
        '<section id="clones"><h2 data-i18n="clonesTitle">Clone alerts</h2>'
        '<p><small data-i18n="clonesHint">–</small></p>'
        f'{_alerts(alerts or [])}</section>'
        '<section id="scan-map"><h2 data-i18n="mapTitle">Scans by region</h2>'
        + chart("chart-brand-regions", "Scans of your items by region, by verdict",
                "贵品牌商品扫码，按地区与结论", regions or [], axis_en="region", axis_zh="地区",
                lang=lang, labels=CONSOLE_STRINGS[lang])
        + '</section>'
        '<section id="complaints"><h2 data-i18n="complaintsTitle">Complaints</h2>'
        f'{_complaints(complaints or [])}</section>'
    ) if allowed else '<p class="empty" data-needs="ENTERPRISE" data-i18n="needsEnterprise">–</p>'
    who = (f'<span id="session-org">{_e(session.name or session.org_hex)}</span> · '
           f'<span id="session-roles">{_e(", ".join(sorted(session.roles)))}</span> · '
           f'<code id="session-signer">{_e(session.signer)}</code>')
    config = json.dumps({"signer": session.signer, "chainId": chain_id}).replace("<", "\\u003c")
    return f"""<!doctype html>
<html lang="zh-Hans"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>真知 · 品牌</title><style>{CSS}</style></head>
<body><header><nav class="lang"><a href="?lang=zh-Hans">中文</a><a href="?lang=en">English</a>
<a href="/console" data-i18n="back">控制台</a></nav>
<h1 data-i18n="title">真知 · 品牌控制台</h1><p>{who}</p></header>
<main>{body}</main>
<script type="application/json" id="console-config">{config}</script>
<script src="/console/brand.js"></script><script src="/console/charts.js"></script></body></html>
"""
