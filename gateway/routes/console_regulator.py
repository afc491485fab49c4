"""The regulator's console page: enterprises with their credit grade, blacklist standing and
history, and setting a grade or the blacklist, signed in the regulator's own wallet.

    GET  /console/regulator              enterprises (a console session with REGULATOR)
    GET  /console/regulator.js           its script (verifier/web/src/console_regulator.js)
    POST /console/regulator/prepare      {action: grade|blacklist|unblacklist, org, grade?,
                                         reason}: the Consortium transaction ({to, data}) the
                                         regulator's wallet sends (`eth_sendTransaction`)
    POST /console/regulator/recall       {gtin, lot, reason}: the CodeRegistry `recallLot`
                                         call, likewise
    GET  /console/regulator/recalls/{gtin}/{lot}            the lot's status and recall scope:
                                         counts, where the goods went (`Tracer.recall_scope`)
    GET  /console/regulator/recalls/{gtin}/{lot}/scope.csv  the scope as CSV
    POST /console/regulator/reasons      {txHash, reason}: after the wallet's grade or blacklist
                                         transaction is mined, keep the reason's text with it
                                         (`ledger.trade.regulator_reasons`)
    POST /console/regulator/complaints/{id}/status   {status, outcome?}: complaint triage,
                                         open → investigating → resolved | rejected
                                         (`ledger.trade.complaint_triage`)

The page (`?status=` filters its complaints) also lists complaints for triage; the outcome of a
resolved or rejected complaint is what the complainant reads with the receipt.

The gateway only builds call data; Consortium itself enforces REGULATOR on `setGrade` and
`setBlacklisted` (an `onlyRole` revert), and this route refuses a session without the role
before building anything. The history is read from Consortium's own logs (`GradeSet`,
`OrganisationBlacklisted`, `OrganisationUnblacklisted`): each row with its transaction.
A blacklisting cites `keccak256(reason)` on chain, as `zhenzhi org blacklist` does; the text
is kept in the store with the transaction once it is mined, and shown in the history only when
it hashes to that reasonHash. A grade has no reason on chain: its text is shown as the gateway's
record. Triage changes are the gateway's record of a session's request (not signed, not on
chain), with the regulator's organisation, key and time, shown in the audit view.
"""

from __future__ import annotations

import html
import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from gateway.console_access import console_actor, console_language, console_reader
from gateway.deps import ServicesDep, SettingsDep
from gateway.problems import problem_responses
from gateway.routes.console_customs import keystore_panel
from gateway.routes.scan_page import static_response
from gateway.services import Services
from gateway.sessions import ConsoleSession, current_session, own_origin, session_cookie
from gateway.traceability import RuntimeDep
from ledger.chain.roles import REGULATOR
from ledger.errors import ConflictError, InvalidInputError, NotFoundError

__all__ = ["STRINGS", "grade_history", "router"]

router = APIRouter(tags=["Console"])

_NO_STORE = {"Cache-Control": "no-store"}
_ROLES = frozenset({REGULATOR})


class UnknownOrganisationError(NotFoundError):
    slug = "unknown-organisation"
    title = "No such organisation on Consortium"


class UndefinedGradeError(InvalidInputError):
    slug = "undefined-grade"
    title = "Not a credit grade the regulator defined"


class BlacklistUnchangedError(ConflictError):
    slug = "blacklist-unchanged"
    title = "The organisation's blacklist standing is that already"


class LotNotActiveError(ConflictError):
    slug = "lot-not-active"
    title = "The lot is not an active lot on CodeRegistry"


class RecallBody(BaseModel):
    gtin: Annotated[str, Field(pattern="^[0-9]{14}$")]
    lot: Annotated[str, Field(min_length=1, max_length=20)]
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class ReasonBody(BaseModel):
    txHash: Annotated[str, Field(pattern="^0x[0-9a-fA-F]{64}$")]
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class TriageBody(BaseModel):
    status: Annotated[str, Field(max_length=16)]
    outcome: Annotated[str | None, Field(max_length=4000)] = None


class ReasonTransactionRefused(InvalidInputError):
    slug = "reason-transaction-refused"
    title = "Not a mined Consortium transaction sent by this session's key"


class PrepareBody(BaseModel):
    action: Annotated[str, Field(pattern="^(grade|blacklist|unblacklist)$")]
    org: Annotated[str, Field(pattern="^0x[0-9a-fA-F]{64}$")]
    grade: Annotated[str | None, Field(max_length=32)] = None
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


def grade_history(chain: Any) -> dict[bytes, list[dict[str, Any]]]:
    """Every grade and blacklist change per organisation, oldest first, from Consortium's logs."""
    def text(raw: bytes) -> str | None:
        return bytes(raw).rstrip(b"\0").decode("utf-8", "replace") or None

    out: dict[bytes, list[dict[str, Any]]] = {}
    for event, kind in (("GradeSet", "grade"), ("OrganisationBlacklisted", "blacklisted"),
                        ("OrganisationUnblacklisted", "unblacklisted")):
        for log in chain.event_logs("Consortium", event):
            args = log["args"]
            row = {"kind": kind, "block": int(log["blockNumber"]),
                   "index": int(log["logIndex"]),
                   "tx": "0x" + bytes(log["transactionHash"]).hex()}
            if kind == "grade":
                row["previous"], row["grade"] = text(args["previous"]), text(args["grade"])
            else:
                row["reasonHash"] = "0x" + bytes(args["reasonHash"]).hex()
            out.setdefault(bytes(args["org"]), []).append(row)
    for rows in out.values():
        rows.sort(key=lambda r: (r["block"], r["index"]))
    return out


def with_reasons(history: dict[bytes, list[dict[str, Any]]], engine: Any
                 ) -> dict[bytes, list[dict[str, Any]]]:
    """The history with each change's kept reason (`reason`, `reasonStatus`): a blacklist
    reason's text only when it hashes to the reasonHash on chain."""
    from ledger.trade.regulator_reasons import ReasonBook, checked

    kept = ReasonBook(engine).by_tx()
    for rows in history.values():
        for r in rows:
            record = kept.get(bytes.fromhex(r["tx"][2:]))
            if record is None:
                continue
            on_chain = bytes.fromhex(r["reasonHash"][2:]) if "reasonHash" in r else None
            shown = checked(record, on_chain)
            r["reason"], r["reasonStatus"] = shown.text, shown.status
    return history


def _page_data(services: Services, runtime: Any, status: str | None
               ) -> tuple[list[Any], list[str], dict[bytes, list[dict[str, Any]]], list[Any],
                          dict[int, list[Any]]]:
    from ledger.trade.complaint_triage import ComplaintTriage
    from ledger.trade.complaints import ComplaintBook
    from ledger.trade.console import members

    chain = runtime.chain(services.chain_view)
    services.chain_view.sync(force=True)
    engine = services.store.engine
    complaints = list(reversed(ComplaintBook(engine).list(limit=100_000, status=status)))[:200]
    changes: dict[int, list[Any]] = {}
    for change in ComplaintTriage(engine).history():
        changes.setdefault(change.complaint_id, []).append(change)
    return (members(chain, services.chain_view), chain.grade_levels(),
            with_reasons(grade_history(chain), engine), complaints, changes)


@router.get("/console/regulator", summary="Regulator's enterprises page (console, REGULATOR)",
            response_class=HTMLResponse, responses=problem_responses(401, 403))
async def regulator_page(
        request: Request, services: ServicesDep, settings: SettingsDep, runtime: RuntimeDep,
        status: Annotated[str | None, Query(pattern="^(open|investigating|resolved|rejected)?$")]
        = None) -> Response:
    origin = own_origin(request, settings)
    if session_cookie(request, origin) is None or await run_in_threadpool(
            current_session, request, services, origin) is None:
        return RedirectResponse("/console/login", status_code=303, headers=_NO_STORE)
    session = await console_reader(request, services, settings, _ROLES)
    rows, grades, history, complaints, changes = await run_in_threadpool(
        _page_data, services, runtime, status or None)
    return HTMLResponse(render(rows, grades, history, session, console_language(request),
                               complaints=complaints, changes=changes,
                               status=status or "", names=_names(services, changes)),
                        headers=_NO_STORE)


def _names(services: Services, changes: dict[int, list[Any]]) -> dict[bytes, str | None]:
    orgs = {c.org for rows in changes.values() for c in rows}
    return {o: services.chain_view.org_name(o) for o in orgs}


@router.post("/console/regulator/complaints/{complaint_id}/status",
             summary="Complaint triage: move a complaint to its next status (console, REGULATOR)",
             responses=problem_responses(400, 401, 403, 404, 409))
async def triage(request: Request, complaint_id: Annotated[int, PathParam(ge=1, le=2**62)],
                 body: TriageBody, services: ServicesDep, settings: SettingsDep
                 ) -> dict[str, Any]:
    """Only open → investigating → resolved | rejected (409 otherwise); resolving or rejecting
    needs an outcome, which the complainant reads with the receipt."""
    from ledger.trade.complaint_triage import ComplaintTriage

    session = await console_actor(request, services, settings, _ROLES)
    moved = await run_in_threadpool(
        lambda: ComplaintTriage(services.store.engine).move(
            complaint_id, body.status, outcome=body.outcome, org=session.org,
            signer=session.signer))
    return {"complaint": moved.to_json(), "by": session.signer, "org": session.org_hex}


@router.post("/console/regulator/reasons", status_code=201,
             summary="Keep a grade or blacklist reason with its mined transaction (console)",
             responses=problem_responses(400, 401, 403, 409))
async def keep_reason(request: Request, body: ReasonBody, services: ServicesDep,
                      settings: SettingsDep, runtime: RuntimeDep) -> dict[str, Any]:
    session = await console_actor(request, services, settings, _ROLES)
    return await run_in_threadpool(_keep_reason, services, runtime, session, body)


def _keep_reason(services: Services, runtime: Any, session: ConsoleSession, body: ReasonBody
                 ) -> dict[str, Any]:
    from ledger.trade.regulator_reasons import ReasonBook, applied_change

    view = services.chain_view
    w3 = view.w3
    try:
        receipt = w3.eth.get_transaction_receipt(body.txHash)
        tx = w3.eth.get_transaction(body.txHash)
    except Exception as exc:  # web3's TransactionNotFound and friends: not mined here
        raise ReasonTransactionRefused(f"transaction {body.txHash} is not mined on this chain",
                                       txHash=body.txHash) from exc
    sender, to = str(tx["from"]), str(tx.get("to") or "")
    if sender.lower() != session.signer.lower():
        raise ReasonTransactionRefused(
            f"transaction {body.txHash} was sent by {sender}, not by this session's key "
            f"{session.signer}", txHash=body.txHash, sender=sender)
    if to.lower() != view.contracts["Consortium"].lower() or receipt["status"] != 1:
        raise ReasonTransactionRefused(f"transaction {body.txHash} is not a successful call "
                                       "of Consortium", txHash=body.txHash)
    chain = runtime.chain(view)
    change = applied_change(chain.contracts["Consortium"], receipt)
    kept = ReasonBook(services.store.engine).record(
        bytes.fromhex(body.txHash[2:]), change, body.reason, by_org=session.org,
        signer=session.signer)
    return {"txHash": body.txHash, "org": "0x" + kept.org.hex(), "action": kept.action,
            "grade": kept.grade, "checked": "chain" if change.reason_hash else "gateway-record"}


@router.get("/console/regulator.js", include_in_schema=False)
async def regulator_script(request: Request) -> Response:
    return static_response(request, "console_regulator.js")


@router.post("/console/regulator/prepare",
             summary="The Consortium transaction the regulator's wallet sends (console)",
             responses=problem_responses(400, 401, 403, 404, 409))
async def prepare(request: Request, body: PrepareBody, services: ServicesDep,
                  settings: SettingsDep, runtime: RuntimeDep) -> dict[str, Any]:
    session = await console_actor(request, services, settings, _ROLES)
    return await run_in_threadpool(_prepare, services, runtime, session, body)


def _prepare(services: Services, runtime: Any, session: ConsoleSession, body: PrepareBody
             ) -> dict[str, Any]:
    from ledger.proofs.merkle import keccak256

    chain = runtime.chain(services.chain_view)
    org = bytes.fromhex(body.org[2:])
    record = chain.organisation(org)
    if record is None:
        raise UnknownOrganisationError(f"organisation {body.org} is not on Consortium",
                                       org=body.org)
    consortium = chain.contracts["Consortium"]
    reason_hash = keccak256(body.reason.encode("utf-8"))
    if body.action == "grade":
        levels = chain.grade_levels()
        if body.grade is None or body.grade not in levels:
            raise UndefinedGradeError(f"grade {body.grade!r} is not one of {', '.join(levels)}",
                                      field="grade", grades=levels)
        data = consortium.encode_abi("setGrade", args=[
            org, body.grade.encode("utf-8").ljust(32, b"\0")])
    else:
        on = body.action == "blacklist"
        if record.blacklisted == on:
            raise BlacklistUnchangedError(
                f"organisation {body.org} is {'already' if on else 'not'} on the blacklist",
                org=body.org, blacklisted=record.blacklisted)
        data = consortium.encode_abi("setBlacklisted", args=[org, on, reason_hash])
    return {"action": body.action, "org": body.org, "grade": body.grade,
            "reasonHash": "0x" + reason_hash.hex(), "from": session.signer,
            "tx": {"to": consortium.address, "data": data,
                   "chainId": hex(services.chain_view.chain_id)}}


@router.post("/console/regulator/recall",
             summary="The CodeRegistry recall the regulator's wallet sends (console)",
             responses=problem_responses(400, 401, 403, 409))
async def prepare_recall(request: Request, body: RecallBody, services: ServicesDep,
                         settings: SettingsDep, runtime: RuntimeDep) -> dict[str, Any]:
    await console_actor(request, services, settings, _ROLES)
    return await run_in_threadpool(_prepare_recall, services, runtime, body)


def _prepare_recall(services: Services, runtime: Any, body: RecallBody) -> dict[str, Any]:
    import hashlib

    from ledger.proofs.codes import validate_gtin14, validate_lot

    gtin, lot = validate_gtin14(body.gtin), validate_lot(body.lot)
    chain = runtime.chain(services.chain_view)
    record = chain.lot(gtin, lot)
    if record is None or record.status.lower() != "active":
        raise LotNotActiveError(f"lot {lot} of {gtin} is "
                                f"{record.status.lower() if record else 'not registered'} on "
                                "CodeRegistry",
                                gtin=gtin, lot=lot,
                                status=record.status.lower() if record else "unregistered")
    # As `zhenzhi recall` does: the SHA-256 of the notice's text goes on chain.
    reason_hash = hashlib.sha256(body.reason.encode("utf-8")).digest()
    registry = chain.contracts["CodeRegistry"]
    return {"gtin": gtin, "lot": lot, "reasonHash": "0x" + reason_hash.hex(),
            "scope": f"/console/regulator/recalls/{gtin}/{lot}",
            "tx": {"to": registry.address, "chainId": hex(services.chain_view.chain_id),
                   "data": registry.encode_abi("recallLot", args=[gtin, lot, reason_hash])}}


def _regulator_viewer(session: ConsoleSession) -> Any:
    from gateway.auth import Access, Viewer

    return Viewer(Access.REGULATOR, session.org, session.signer, session.roles)


@router.get("/console/regulator/recalls/{gtin}/{lot}", response_class=HTMLResponse,
            summary="A lot's recall status and scope (console, REGULATOR)",
            responses=problem_responses(400, 401, 403))
async def recall_page(request: Request, gtin: Annotated[str, PathParam(pattern="^[0-9]{14}$")],
                      lot: Annotated[str, PathParam(min_length=1, max_length=20)],
                      services: ServicesDep, settings: SettingsDep,
                      runtime: RuntimeDep) -> Response:
    from gateway.routes.recalls import recall_scope_of

    session = await console_reader(request, services, settings, _ROLES)
    on_chain, scope = await run_in_threadpool(recall_scope_of, _regulator_viewer(session),
                                              services, runtime, gtin, lot)
    return HTMLResponse(render_scope(on_chain, scope, console_language(request)),
                        headers=_NO_STORE)


@router.get("/console/regulator/recalls/{gtin}/{lot}/scope.csv",
            summary="A lot's recall scope as CSV (console, REGULATOR)",
            responses={200: {"content": {"text/csv": {}}}, **problem_responses(400, 401, 403)})
async def recall_csv(request: Request, gtin: Annotated[str, PathParam(pattern="^[0-9]{14}$")],
                     lot: Annotated[str, PathParam(min_length=1, max_length=20)],
                     services: ServicesDep, settings: SettingsDep,
                     runtime: RuntimeDep) -> Response:
    from gateway.routes.recalls import recall_scope_of, scope_csv_response

    session = await console_reader(request, services, settings, _ROLES)
    _, scope = await run_in_threadpool(recall_scope_of, _regulator_viewer(session), services,
                                       runtime, gtin, lot)
    return scope_csv_response(scope)


# --- the page ---------------------------------------------------------------------------------

STRINGS: dict[str, dict[str, str]] = {
    "zh-Hans": {
        "title": "企业信用与黑名单", "console": "控制台",
        "intro": "联盟中的企业、信用等级、黑名单及其变更历史（来自链上 Consortium 合约）。"
                 "修改由您的钱包签名发送。",
        "org": "企业", "roles": "角色", "grade": "信用等级", "standing": "状态",
        "history": "历史", "act": "操作", "blacklisted": "黑名单", "member": "成员",
        "removed": "已移除", "setGrade": "设定等级", "blacklist": "列入黑名单",
        "unblacklist": "移出黑名单", "reason": "理由", "none": "无",
        "hGrade": "等级 {previous} → {grade}", "hBlacklisted": "列入黑名单（理由哈希 {hash}）",
        "hUnblacklisted": "移出黑名单（理由哈希 {hash}）", "block": "区块",
        "sTx": "请在钱包中确认 Consortium 交易…", "sPreparing": "准备中…",
        "sDone": "已上链：交易 {tx}", "sError": "失败：{detail}",
        "sWrongAccount": "钱包账户 {account} 不是本次登录的密钥 {signer}",
        "sNoWallet": "未找到浏览器钱包（EIP-1193）", "sReason": "请填写理由",
        "recallTitle": "召回批次", "gtin": "GTIN", "lot": "批号", "recall": "在钱包中签名并召回",
        "scopeTitle": "召回范围", "status": "CodeRegistry 状态", "items": "涉及的编码",
        "byLevel": "层级（0 单品，1 箱，2 托盘）", "where": "货物去向", "custodian": "最后保管方",
        "location": "最后位置", "count": "数量", "csv": "下载 CSV", "back": "返回企业列表",
        "noScope": "存储中没有该批次货物的事件。",
        "lot_active": "有效", "lot_recalled": "已召回", "lot_withdrawn": "已撤回",
        "lot_unregistered": "未登记",
        "hReason": "理由：{text}", "hReasonGateway": "（网关的记录，链上无此理由）",
        "hReasonMatches": "（与链上理由哈希一致）",
        "hReasonMismatch": "存储的理由文本与链上理由哈希不符，不予显示",
        "complaintsTitle": "投诉处理", "complaintsIntro": "消费者的投诉：开始调查，然后办结或驳回并"
        "写明处理结果。投诉人凭回执在其投诉的页面上看到状态和结果。状态变更是网关对本次登录会话的记录"
        "（未签名，不上链），记录操作人和时间。",
        "filter": "筛选", "allStatuses": "全部", "filed": "提交时间", "category": "类别",
        "code": "商品码", "complaint": "投诉内容", "cstatus": "状态", "outcome": "处理结果",
        "changes": "变更记录", "move": "变更为", "apply": "保存", "noComplaints": "没有投诉。",
        "final": "已结案",
        "st_open": "待处理", "st_investigating": "调查中", "st_resolved": "已办结",
        "st_rejected": "已驳回",
        "cat_counterfeit": "怀疑假货", "cat_quality": "质量问题", "cat_label": "标签或码问题",
        "cat_other": "其他",
        "change": "{when} {from} → {to}，{who}",
        "sOutcome": "办结或驳回须写明处理结果", "sSaved": "已保存：{status}",
        "sReasonKept": "已上链，理由已保存：交易 {tx}",
    },
    "en": {
        "title": "Enterprises: credit grades and blacklist", "console": "Console",
        "intro": "The consortium's enterprises, their credit grades, blacklist standing and "
                 "its history (from the Consortium contract on chain). Your wallet signs and "
                 "sends each change.",
        "org": "Enterprise", "roles": "Roles", "grade": "Credit grade", "standing": "Standing",
        "history": "History", "act": "Action", "blacklisted": "blacklisted",
        "member": "member", "removed": "removed", "setGrade": "Set grade",
        "blacklist": "Blacklist", "unblacklist": "Lift blacklist", "reason": "Reason",
        "none": "none", "hGrade": "grade {previous} → {grade}",
        "hBlacklisted": "blacklisted (reason hash {hash})",
        "hUnblacklisted": "off the blacklist (reason hash {hash})", "block": "block",
        "sTx": "Confirm the Consortium transaction in your wallet…", "sPreparing": "Preparing…",
        "sDone": "On chain: transaction {tx}", "sError": "Failed: {detail}",
        "sWrongAccount": "The wallet's account {account} is not the key logged in ({signer})",
        "sNoWallet": "No browser wallet (EIP-1193) found", "sReason": "Give a reason",
        "recallTitle": "Recall a lot", "gtin": "GTIN", "lot": "Lot", "recall": "Sign in wallet and recall",
        "scopeTitle": "Recall scope", "status": "Status on CodeRegistry", "items": "Codes affected",
        "byLevel": "By level (0 item, 1 case, 2 pallet)", "where": "Where the goods went",
        "custodian": "Last custodian", "location": "Last location", "count": "Count",
        "csv": "Download CSV", "back": "Back to the enterprises", "noScope": "The store holds no event of this lot's goods.",
        "lot_active": "active", "lot_recalled": "recalled", "lot_withdrawn": "withdrawn",
        "lot_unregistered": "unregistered",
        "hReason": "reason: {text}", "hReasonGateway": "(the gateway's record; the chain holds "
        "no reason for a grade)", "hReasonMatches": "(matches the reason hash on chain)",
        "hReasonMismatch": "the stored reason text does not match the reason hash on chain; "
        "not shown",
        "complaintsTitle": "Complaints triage", "complaintsIntro": "Consumers' complaints: start "
        "an investigation, then resolve or reject it with an outcome. The complainant sees the "
        "status and outcome, with the receipt, on the page they complained from. A status change "
        "is the gateway's record of this session's request (not signed, not on chain), with who "
        "made it and when.",
        "filter": "Filter", "allStatuses": "all", "filed": "Filed", "category": "Category",
        "code": "Code", "complaint": "Complaint", "cstatus": "Status", "outcome": "Outcome",
        "changes": "Changes", "move": "Move to", "apply": "Save", "noComplaints": "No complaints.",
        "final": "closed",
        "st_open": "open", "st_investigating": "investigating", "st_resolved": "resolved",
        "st_rejected": "rejected",
        "cat_counterfeit": "suspected fake", "cat_quality": "quality", "cat_label": "label or code",
        "cat_other": "other",
        "change": "{when} {from} → {to}, {who}",
        "sOutcome": "Resolving or rejecting needs an outcome", "sSaved": "Saved: {status}",
        "sReasonKept": "On chain, reason kept: transaction {tx}",
    },
}


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _reason(r: dict[str, Any], t: dict[str, str]) -> str:
    status = r.get("reasonStatus")
    if status is None:
        return ""
    if status == "mismatch":
        return f'<br><span class="reason mismatch" data-reason="mismatch">{_e(t["hReasonMismatch"])}</span>'
    note = t["hReasonGateway"] if status == "gateway-record" else t["hReasonMatches"]
    return (f'<br><span class="reason" data-reason="{_e(status)}">'
            f'{_e(t["hReason"].format(text=r["reason"]))} <small>{_e(note)}</small></span>')


def _history(rows: list[dict[str, Any]], t: dict[str, str]) -> str:
    items = []
    for r in rows:
        if r["kind"] == "grade":
            text = t["hGrade"].format(previous=r["previous"] or "–", grade=r["grade"] or "–")
        else:
            key = "hBlacklisted" if r["kind"] == "blacklisted" else "hUnblacklisted"
            text = t[key].format(hash=r["reasonHash"][:12] + "…")
        items.append(f'<li data-kind="{_e(r["kind"])}" data-tx="{_e(r["tx"])}">{_e(text)} · '
                     f'{t["block"]} {r["block"]} '
                     f'<code title="{_e(r["tx"])}">{_e(r["tx"][:12])}…</code>{_reason(r, t)}</li>')
    return f'<ul class="history">{"".join(items)}</ul>' if items else t["none"]


def _complaints(complaints: list[Any], changes: dict[int, list[Any]], status: str,
                names: dict[bytes, str | None], t: dict[str, str], lang: str) -> str:
    from ledger.trade.complaint_triage import FINAL, TRANSITIONS
    from ledger.trade.complaints import STATUSES

    def when(ms: int) -> str:
        return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ms // 1000))

    rows = []
    for c in complaints:
        history = "".join(
            f'<li data-to="{_e(h.to_status)}">' + _e(t["change"].format(
                when=when(h.at_ms), **{"from": t["st_" + h.from_status]},
                to=t["st_" + h.to_status], who=names.get(h.org) or "0x" + h.org.hex()))
            + f' <code title="{_e(h.signer)}">{_e(h.signer[:10])}…</code></li>'
            for h in changes.get(c.id, []))
        nexts = sorted(TRANSITIONS.get(c.status, ()))
        if nexts:
            options = "".join(f'<option value="{n}">{_e(t["st_" + n])}</option>' for n in nexts)
            needs = " ".join(n for n in nexts if n in FINAL)
            # The outcome box only where the next step closes the complaint (it needs one).
            outcome = (f'<label>{t["outcome"]} <textarea name="outcome" rows="2" '
                       'maxlength="2000"></textarea></label> ' if needs else "")
            act = (f'<form class="triage" data-final="{needs}"><label>{t["move"]} '
                   f'<select name="status">{options}</select></label> {outcome}'
                   f'<button type="submit">{t["apply"]}</button>'
                   '<p class="status" role="status" aria-live="polite"></p></form>')
        else:
            act = f'<span class="final">{t["final"]}</span>'
        code = f"{c.gtin or ''} {c.lot or ''} {c.serial or ''}".split()
        rows.append(
            f'<tr data-complaint="{c.id}" data-status="{_e(c.status)}"><td>{c.id}<br>'
            f"<small>{when(c.created_ms)}</small></td>"
            f'<td>{_e(t.get("cat_" + c.category, c.category))}</td>'
            f'<td><code>{_e(" · ".join(code))}</code></td><td class="text">{_e(c.text)}</td>'
            f'<td class="cstatus">{_e(t["st_" + c.status] if c.status in STATUSES else c.status)}'
            f'</td><td class="outcome">{_e(c.outcome or "")}</td>'
            f'<td><ul class="history">{history}</ul></td><td>{act}</td></tr>')
    none = f'<tr><td colspan="8">{t["noComplaints"]}</td></tr>'
    filters = f'<option value="">{t["allStatuses"]}</option>' + "".join(
        f'<option value="{s}"{" selected" if s == status else ""}>{_e(t["st_" + s])}</option>'
        for s in STATUSES)
    return (f'<section id="complaints"><h2>{t["complaintsTitle"]}</h2><p>{t["complaintsIntro"]}'
            f'</p><form id="complaint-filter" method="get"><input type="hidden" name="lang" '
            f'value="{lang}"><label>{t["cstatus"]} <select name="status">{filters}</select></label> '
            f'<button type="submit">'
            f'{t["filter"]}</button></form><table id="triage"><thead><tr><th>#</th>'
            f'<th>{t["category"]}</th><th>{t["code"]}</th><th>{t["complaint"]}</th>'
            f'<th>{t["cstatus"]}</th><th>{t["outcome"]}</th><th>{t["changes"]}</th><th></th>'
            f'</tr></thead><tbody>{"".join(rows) or none}'
            "</tbody></table></section>")


def render(rows: list[Any], grades: list[str], history: dict[bytes, list[dict[str, Any]]],
           session: ConsoleSession, lang: str, *, complaints: list[Any] | None = None,
           changes: dict[int, list[Any]] | None = None, status: str = "",
           names: dict[bytes, str | None] | None = None) -> str:
    t = STRINGS[lang]
    body = []
    for m in rows:
        standing = t["blacklisted"] if m.blacklisted else (t["member"] if m.member
                                                           else t["removed"])
        options = "".join(f'<option value="{_e(g)}"{" selected" if g == m.grade else ""}>'
                          f"{_e(g)}</option>" for g in grades)
        toggle = "unblacklist" if m.blacklisted else "blacklist"
        body.append(
            f'<tr data-org="{_e(m.org)}" class="{"bad" if m.blacklisted else ""}">'
            f"<td>{_e(m.name)}<br><small>GLN {_e(m.gln)}</small></td>"
            f"<td>{_e(', '.join(m.roles))}</td>"
            f'<td class="grade">{_e(m.grade or "–")}</td><td class="standing">{_e(standing)}</td>'
            f"<td>{_history(history.get(bytes.fromhex(m.org[2:]), []), t)}</td>"
            f'<td><form class="act"><label>{t["reason"]} <input name="reason" required '
            f'maxlength="2000"></label><br><select name="grade">{options}</select> '
            f'<button type="submit" name="action" value="grade">{t["setGrade"]}</button> '
            f'<button type="submit" name="action" value="{toggle}">{t[toggle]}</button>'
            f'<p class="status" role="status" aria-live="polite"></p></form></td></tr>')
    other = "en" if lang == "zh-Hans" else "zh-Hans"
    strings = json.dumps({k: v for k, v in t.items() if k.startswith("s")},
                         ensure_ascii=False).replace("<", "\\u003c")
    now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{t["title"]} · Zhenzhi</title><style>{_CSS}</style></head>
<body data-signer="{_e(session.signer)}"><header><nav><a href="/console">{t["console"]}</a>
<a href="?lang={other}">{"English" if other == "en" else "中文"}</a></nav>
<h1>{t["title"]}</h1><p><span id="session-org">{_e(session.name or session.org_hex)}</span> ·
<code id="session-signer">{_e(session.signer)}</code> · {now}</p></header>
<main><p>{t["intro"]}</p>{keystore_panel(lang)}<table id="enterprises"><thead><tr><th>{t["org"]}</th><th>{t["roles"]}</th>
<th>{t["grade"]}</th><th>{t["standing"]}</th><th>{t["history"]}</th><th>{t["act"]}</th></tr></thead>
<tbody>{"".join(body)}</tbody></table>
<section id="recall"><h2>{t["recallTitle"]}</h2><form id="recall-form">
<label>{t["gtin"]} <input name="gtin" required pattern="[0-9]{{14}}"></label>
<label>{t["lot"]} <input name="lot" required maxlength="20"></label>
<label>{t["reason"]} <input name="reason" required maxlength="2000"></label>
<button type="submit">{t["recall"]}</button><p class="status" role="status" aria-live="polite"></p>
</form></section>
{_complaints(complaints or [], changes or {}, status, names or {}, t, lang)}</main>
<script type="application/json" id="strings">{strings}</script>
<script src="/console/regulator.js"></script></body></html>
"""


def render_scope(on_chain: Any, scope: Any, lang: str) -> str:
    from collections import Counter

    t = STRINGS[lang]
    levels = Counter(i.level for i in scope.items)
    where = Counter((i.custodian, i.location or "–") for i in scope.items)
    rows = "".join(f"<tr><td><code>{_e(c)}</code></td><td><code>{_e(loc)}</code></td>"
                   f"<td>{n}</td></tr>" for (c, loc), n in where.most_common())
    status = on_chain.status.lower() if on_chain else "unregistered"
    base = f"/console/regulator/recalls/{scope.gtin}/{scope.lot}"
    other = "en" if lang == "zh-Hans" else "zh-Hans"
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{t["scopeTitle"]} · {_e(scope.gtin)} {_e(scope.lot)}</title><style>{_CSS}</style></head>
<body><header><nav><a href="/console/regulator">{t["back"]}</a>
<a href="?lang={other}">{"English" if other == "en" else "中文"}</a></nav>
<h1>{t["scopeTitle"]}: {_e(scope.gtin)} · {_e(scope.lot)}</h1></header><main>
<dl class="stats"><div><dt>{t["status"]}</dt><dd id="lot-status" data-status="{_e(status)}">{_e(t.get("lot_" + status, status))}</dd></div>
<div><dt>{t["items"]}</dt><dd id="scope-count">{len(scope.items)}</dd></div>
<div><dt>{t["byLevel"]}</dt><dd>{_e(", ".join(f"{k}: {v}" for k, v in sorted(levels.items())) or "–")}</dd></div>
<div><dt>{t["lot"]}</dt><dd>{_e(", ".join(scope.lots))}</dd></div></dl>
<p><a id="scope-csv" href="{_e(base)}/scope.csv">{t["csv"]}</a></p>
<h2>{t["where"]}</h2>
{f'<table id="scope-where"><thead><tr><th>{t["custodian"]}</th><th>{t["location"]}</th><th>{t["count"]}</th></tr></thead><tbody>{rows}</tbody></table>' if rows else f'<p>{t["noScope"]}</p>'}
</main></body></html>
"""


_CSS = """
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Noto Sans CJK SC",
"WenQuanYi Micro Hei",sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{background:#1d2330;color:#fff;padding:.8rem 1.2rem}header h1{margin:0;font-size:1.2rem}
header a{color:#fff}header p{margin:.2rem 0 0;opacity:.8;font-size:.85rem}nav{float:right}
nav a{margin-left:.6rem}main{padding:1rem 1.2rem;max-width:1300px}
table{border-collapse:collapse;width:100%;background:#fff}th,td{text-align:left;
padding:.35rem .5rem;border-bottom:1px solid #e6e8ec;vertical-align:top}
th{font-size:.8rem;color:#555}tr.bad td{background:#fdecec}.grade{font-weight:700}
.history{margin:0;padding-left:1rem;font-size:.85rem}input{width:14rem}
button{margin-top:.3rem;padding:.3rem .7rem;font:inherit;border:0;border-radius:6px;
background:#1d2330;color:#fff;cursor:pointer}.status.error{color:#c62828}
.status.done{color:#2e7d32}#recall,#complaints{background:#fff;margin-top:1rem;padding:.8rem 1rem}
.reason{font-size:.8rem}.reason.mismatch{color:#c62828}#triage textarea{width:14rem}
#recall label{margin-right:1rem}#recall input{width:10rem}.stats{display:flex;flex-wrap:wrap;
gap:.4rem 2rem}.stats dt{font-size:.8rem;color:#666}.stats dd{margin:0;font-weight:600}
"""
