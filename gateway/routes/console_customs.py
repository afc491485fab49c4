"""The customs officer's console page: the queue, ordered by risk, and the decision signed in
the officer's own wallet.

    GET  /console/customs                     the queue (a console session with CUSTOMS)
    GET  /console/customs.js                  its script (verifier/web/src/console_customs.js)
    POST /console/customs/{c}/prepare         {decision, inspection}: what the wallet signs —
                                              the CustomsRelease transaction ({to, data}) and
                                              the EIP-712 Capture of the `inspecting` event
    POST /console/customs/{c}/record          {txHash, document, seed, nonce, signedAt,
                                              signature}: checks the mined transaction and
                                              stores the signed event (the capture intake)

The gateway never holds the officer's key: it builds the transaction's call data and the
event, the wallet signs and sends the transaction itself (`eth_sendTransaction`) and signs the
capture (`eth_signTypedData_v4`). What it then accepts is checked against the chain, not the
page: the transaction was sent by a key of the session's organisation to CustomsRelease for
this consignment and succeeded, CustomsRelease now holds the decision the event states, and the
capture is signed by the session's key (the intake recovers it and checks CUSTOMS again).

The queue is `ledger.trade.customs_queue`: declarations lodged with the officer's office that
CustomsRelease has not settled, each judged by the current risk rules (rules fired, facts).
"""

from __future__ import annotations

import asyncio
import html
import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from gateway.console_access import console_actor, console_language, console_reader
from gateway.deps import ServicesDep, SettingsDep
from gateway.problems import problem_responses
from gateway.routes.customs import assessment
from gateway.routes.scan_page import static_response
from gateway.services import Services
from gateway.sessions import ConsoleSession, current_session, own_origin, session_cookie
from gateway.traceability import RuntimeDep
from ledger.chain.decisions import Decision, Inspection
from ledger.chain.roles import CUSTOMS
from ledger.errors import AuthorizationError, ConflictError, InvalidInputError, NotFoundError

__all__ = ["FACT_NAMES", "RULE_TEXTS", "STRINGS", "keystore_panel", "render_queue", "router"]

router = APIRouter(tags=["Console"])

_NO_STORE = {"Cache-Control": "no-store"}
_ROLES = frozenset({CUSTOMS})
_INSPECTIONS = ("NOT_INSPECTED", "PASSED", "FAILED")

ConsignmentId = Annotated[str, Path(min_length=1, max_length=66)]


class NotInQueueError(NotFoundError):
    slug = "not-in-customs-queue"
    title = "The consignment is not waiting for this customs office"


class WrongStepError(ConflictError):
    slug = "customs-step-mismatch"
    title = "That is not the step this consignment is waiting for"


class TransactionRefused(AuthorizationError):
    slug = "customs-transaction-refused"
    title = "The transaction is not this officer's decision on CustomsRelease"


class EventMismatchError(InvalidInputError):
    slug = "customs-event-mismatch"
    title = "The signed event does not state what CustomsRelease holds"


class ReplayedRecordError(ConflictError):
    slug = "customs-record-replayed"
    title = "This signed event was recorded already"


class PrepareBody(BaseModel):
    decision: Annotated[str, Field(pattern="^(DIRECT_RELEASE|NORMAL_CONTROL|IMMEDIATE_CONTROL)$")]
    inspection: Annotated[str, Field(pattern="^(NOT_INSPECTED|PASSED|FAILED)$")]


class RecordBody(BaseModel):
    txHash: Annotated[str, Field(pattern="^0x[0-9a-fA-F]{64}$")]
    document: dict[str, Any]
    seed: Annotated[str, Field(pattern="^0x[0-9a-fA-F]{64}$")]
    nonce: Annotated[int, Field(ge=0, lt=2**64)]
    signedAt: Annotated[int, Field(ge=0, lt=2**63)]
    signature: Annotated[str, Field(pattern="^0x[0-9a-fA-F]{130}$")]


# --- the queue --------------------------------------------------------------------------------

def _queue(services: Services, runtime: Any, office: bytes) -> list[tuple[Any, dict[str, Any]]]:
    """Pending items with their assessment, riskiest first (then oldest first)."""
    from ledger.trade.customs import Declaration
    from ledger.trade.customs_queue import pending

    services.chain_view.sync(force=True)
    out = []
    for item in pending(services.store.engine, services.chain_view, office):
        declaration = Declaration(item.consignment, item.enterprise, item.origin_country,
                                  item.category, item.event_ids)
        out.append((item, assessment(declaration, None, services, runtime)))
    out.sort(key=lambda pair: (-int(pair[1]["score"]), pair[0].declared_ms))
    return out


def _find(services: Services, office: bytes, consignment: str) -> Any:
    from ledger.trade.customs_queue import pending

    services.chain_view.sync(force=True)
    for item in pending(services.store.engine, services.chain_view, office):
        if item.consignment == consignment:
            return item
    raise NotInQueueError(f"consignment {consignment} is not waiting for a decision or an "
                          "inspection outcome at this customs office", consignment=consignment)


@router.get("/console/customs", summary="Customs officer's queue (console session, CUSTOMS)",
            response_class=HTMLResponse, responses=problem_responses(401, 403))
async def customs_page(request: Request, services: ServicesDep, settings: SettingsDep,
                       runtime: RuntimeDep) -> Response:
    origin = own_origin(request, settings)
    if session_cookie(request, origin) is None or await run_in_threadpool(
            current_session, request, services, origin) is None:
        return RedirectResponse("/console/login", status_code=303, headers=_NO_STORE)
    session = await console_reader(request, services, settings, _ROLES)
    lang = console_language(request)
    items = await run_in_threadpool(_queue, services, runtime, session.org)
    names = {}
    for item, _ in items:
        if item.enterprise not in names:
            names[item.enterprise] = services.chain_view.org_name(item.enterprise)
    return HTMLResponse(render_queue(items, session, lang, names), headers=_NO_STORE)


@router.get("/console/customs.js", include_in_schema=False)
async def customs_script(request: Request) -> Response:
    return static_response(request, "console_customs.js")


@router.post("/console/customs/{consignment}/prepare",
             summary="What the officer's wallet signs for a decision (console, CUSTOMS)",
             responses=problem_responses(400, 401, 403, 404, 409))
async def prepare(request: Request, consignment: ConsignmentId, body: PrepareBody,
                  services: ServicesDep, settings: SettingsDep, runtime: RuntimeDep
                  ) -> dict[str, Any]:
    session = await console_actor(request, services, settings, _ROLES)
    return await run_in_threadpool(_prepare, services, runtime, session, consignment, body)


def _prepare(services: Services, runtime: Any, session: ConsoleSession, consignment: str,
             body: PrepareBody) -> dict[str, Any]:
    from ledger.epcis.document import parse_document
    from ledger.epcis.event_hash import event_hashes
    from ledger.proofs.signing import prepare_capture
    from ledger.trade.customs import (
        Declaration,
        consignment_key,
        inspecting_document,
        inspecting_event,
        rules_version_bytes,
    )
    from ledger.trade.risk import load_rules

    item = _find(services, session.org, consignment)
    if item.step == "decide" and body.inspection != "NOT_INSPECTED":
        raise WrongStepError(f"{consignment} waits for a decision; its inspection outcome "
                             "comes after it", consignment=consignment, step=item.step)
    if item.step == "inspect" and (body.decision != item.decision
                                   or body.inspection == "NOT_INSPECTED"):
        raise WrongStepError(f"{consignment} is under {item.decision} and waits for its "
                             "inspection outcome (PASSED or FAILED)", consignment=consignment,
                             step=item.step, decision=item.decision)
    declaration = Declaration(item.consignment, item.enterprise, item.origin_country,
                              item.category, item.event_ids)
    assessed = assessment(declaration, None, services, runtime)
    rules = load_rules(assessed["rulesVersion"])
    root = bytes.fromhex(assessed["eventsRoot"][2:])
    decision = Decision.parse(body.decision)
    chain = runtime.chain(services.chain_view)
    data = chain.customs_release.encode_abi("recordDecision", args=[
        consignment_key(consignment), int(decision), _INSPECTIONS.index(body.inspection), root,
        rules_version_bytes(rules.version), bytes.fromhex(rules.sha256)])
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    event = inspecting_event(declaration, decision, Inspection.parse(body.inspection), rules,
                             event_time=now, epcs=list(item.epcs), root=root)
    event["zhenzhi:riskScore"] = assessed["score"]
    event["zhenzhi:rulesFired"] = [r["id"] for r in assessed["fired"]]
    document = inspecting_document(event, created=now)
    ids = event_hashes(document)
    seed, _, events_root = prepare_capture(parse_document(document).events, ids)
    nonce, signed_at = time.time_ns() // 1000, int(time.time())
    domain = services.chain_view.domain
    return {
        "consignment": consignment, "decision": body.decision, "inspection": body.inspection,
        "suggested": assessed["decision"], "score": assessed["score"],
        "tx": {"from": session.signer, "to": services.chain_view.contracts["CustomsRelease"],
               "data": data, "chainId": hex(services.chain_view.chain_id)},
        "document": document, "seed": "0x" + seed.hex(), "nonce": nonce, "signedAt": signed_at,
        "eventId": f"ni:///sha-256;{ids[0].hex()}?ver=CBV2.0",
        "typedData": {
            "types": {
                "EIP712Domain": [{"name": "name", "type": "string"},
                                 {"name": "version", "type": "string"},
                                 {"name": "chainId", "type": "uint256"},
                                 {"name": "verifyingContract", "type": "address"}],
                "Capture": [{"name": "eventsRoot", "type": "bytes32"},
                            {"name": "count", "type": "uint32"},
                            {"name": "org", "type": "bytes32"},
                            {"name": "nonce", "type": "uint64"},
                            {"name": "signedAt", "type": "uint64"}]},
            "primaryType": "Capture", "domain": domain.to_eip712(),
            "message": {"eventsRoot": "0x" + events_root.hex(), "count": len(ids),
                        "org": session.org_hex, "nonce": str(nonce),
                        "signedAt": str(signed_at)}},
    }


@router.post("/console/customs/{consignment}/record",
             summary="Store the officer's signed inspecting event after its transaction",
             responses=problem_responses(400, 401, 403, 404, 409))
async def record(request: Request, consignment: ConsignmentId, body: RecordBody,
                 services: ServicesDep, settings: SettingsDep) -> dict[str, Any]:
    session = await console_actor(request, services, settings, _ROLES)
    checked = await run_in_threadpool(_check_record, services, session, consignment, body)
    stored = await asyncio.wrap_future(services.intake.submit(checked))
    result = checked.result(stored)
    return {"consignment": consignment, "txHash": body.txHash,
            "captureID": result.capture_id,
            "eventIDs": [f"ni:///sha-256;{e.hex()}?ver=CBV2.0"
                         for e in result.capture.event_ids]}


def _check_record(services: Services, session: ConsoleSession, consignment: str,
                  body: RecordBody) -> Any:
    from ledger.proofs.signing import (
        HEADER_NONCE,
        HEADER_ORG,
        HEADER_SEED,
        HEADER_SIGNATURE,
        HEADER_SIGNED_AT,
    )
    from ledger.trade.customs import consignment_key

    view = services.chain_view
    w3 = view.w3
    key = consignment_key(consignment)
    try:
        receipt = w3.eth.get_transaction_receipt(body.txHash)
        tx = w3.eth.get_transaction(body.txHash)
    except Exception as exc:  # web3's TransactionNotFound and friends: not mined here
        raise TransactionRefused(f"transaction {body.txHash} is not mined on this chain",
                                 txHash=body.txHash) from exc
    sender = str(tx["from"])
    to = str(tx.get("to") or "")
    if view.key_org(sender) != session.org:
        raise TransactionRefused(f"transaction {body.txHash} was sent by {sender}, not by a key "
                                 f"of {session.org_hex}", txHash=body.txHash, sender=sender)
    if to.lower() != view.contracts["CustomsRelease"].lower() or receipt["status"] != 1:
        raise TransactionRefused(f"transaction {body.txHash} is not a successful call of "
                                 "CustomsRelease", txHash=body.txHash)
    calldata = bytes(tx["input"])
    if len(calldata) < 36 or calldata[4:36] != key:
        raise TransactionRefused(f"transaction {body.txHash} records no decision for "
                                 f"{consignment}", txHash=body.txHash)
    view.sync(force=True)
    on_chain = view.customs(key)
    events = body.document.get("epcisBody", {}).get("eventList") \
        if isinstance(body.document.get("epcisBody"), dict) else None
    if not isinstance(events, list) or len(events) != 1 or not isinstance(events[0], dict):
        raise EventMismatchError("the document holds one inspecting event", field="document")
    event = events[0]
    if (on_chain is None or event.get("bizStep") != "inspecting"
            or event.get("zhenzhi:consignment") != consignment
            or event.get("zhenzhi:decision") != on_chain.decision
            or event.get("zhenzhi:inspection") != on_chain.inspection
            or event.get("zhenzhi:eventsRoot") != "0x" + on_chain.events_root.hex()):
        raise EventMismatchError(
            f"the event does not state what CustomsRelease holds for {consignment} now",
            field="document", consignment=consignment)
    headers = {HEADER_SIGNATURE: body.signature, HEADER_ORG: session.org_hex,
               HEADER_NONCE: str(body.nonce), HEADER_SIGNED_AT: str(body.signedAt),
               HEADER_SEED: body.seed}
    checked = services.intake.check(json.dumps(body.document).encode(), headers,
                                    expected_signer=session.signer)
    # The capture intake takes a re-sent capture as a harmless re-delivery; a console record
    # sent twice is a replay of the officer's signature, and is refused as one.
    capture_id = checked.capture.digest.hex()
    if services.store.get_capture(capture_id) is not None:
        raise ReplayedRecordError(f"capture {capture_id} is stored already: a signed "
                                  "inspecting event is recorded once", captureID=capture_id)
    return checked


# --- the page ---------------------------------------------------------------------------------

STRINGS: dict[str, dict[str, str]] = {
    "zh-Hans": {
        "title": "海关查验队列", "console": "控制台", "logout": "退出",
        "intro": "已向本关申报、尚未放行或尚待查验结果的货物，按风险从高到低排列。"
                 "决定由您的钱包签名：CustomsRelease 交易和“查验”事件。",
        "empty": "没有待处理的货物。", "consignment": "货物编号", "declared": "申报时间",
        "enterprise": "申报企业", "origin": "原产国", "category": "商品编码",
        "covered": "涵盖事件", "score": "风险分", "suggested": "建议",
        "rules": "触发的规则", "facts": "事实", "rule": "规则", "weight": "权重",
        "why": "说明", "fact": "事实", "actual": "实际值", "none": "无",
        "decide": "决定", "inspect": "查验结果", "record": "在钱包中签名并记录",
        "waitingDecision": "待决定", "waitingInspection": "待查验结果（当前：{decision}）",
        "DIRECT_RELEASE": "直接放行", "NORMAL_CONTROL": "正常布控",
        "IMMEDIATE_CONTROL": "即决布控", "PASSED": "查验合格", "FAILED": "查验不合格",
        "NOT_INSPECTED": "未查验",
        "sPreparing": "准备中…", "sTx": "请在钱包中确认 CustomsRelease 交易…",
        "sMined": "交易已上链：{tx}。请在钱包中签名查验事件…",
        "sDone": "已记录：{decision}，交易 {tx}，事件 {event}", "sError": "失败：{detail}",
        "sWrongAccount": "钱包账户 {account} 不是本次登录的密钥 {signer}",
        "sNoWallet": "未找到浏览器钱包（EIP-1193）",
    },
    "en": {
        "title": "Customs queue", "console": "Console", "logout": "Log out",
        "intro": "Consignments declared to this office and not yet released or still waiting "
                 "for their inspection outcome, riskiest first. Your wallet signs the decision: "
                 "the CustomsRelease transaction and the inspecting event.",
        "empty": "Nothing is waiting.", "consignment": "Consignment", "declared": "Declared",
        "enterprise": "Declaring enterprise", "origin": "Origin", "category": "HS code",
        "covered": "Events covered", "score": "Risk score", "suggested": "Suggested",
        "rules": "Rules that fired", "facts": "Facts", "rule": "Rule", "weight": "Weight",
        "why": "Why", "fact": "Fact", "actual": "Actual", "none": "none",
        "decide": "Decision", "inspect": "Inspection outcome",
        "record": "Sign in wallet and record",
        "waitingDecision": "waiting for a decision",
        "waitingInspection": "waiting for the inspection outcome (now: {decision})",
        "DIRECT_RELEASE": "Direct release", "NORMAL_CONTROL": "Normal control",
        "IMMEDIATE_CONTROL": "Immediate control", "PASSED": "Passed", "FAILED": "Failed",
        "NOT_INSPECTED": "Not inspected",
        "sPreparing": "Preparing…", "sTx": "Confirm the CustomsRelease transaction in your wallet…",
        "sMined": "Transaction mined: {tx}. Sign the inspecting event in your wallet…",
        "sDone": "Recorded: {decision}, transaction {tx}, event {event}",
        "sError": "Failed: {detail}",
        "sWrongAccount": "The wallet's account {account} is not the key logged in ({signer})",
        "sNoWallet": "No browser wallet (EIP-1193) found",
    },
}


# The rule sets' explanations are English text inside files whose SHA-256 each decision pins
# (`RuleSet.sha256`): the console reads them in Chinese from here, by rule id, and never edits
# the files. A test holds every rule id of every shipped set to an entry in each language.
RULE_TEXTS: dict[str, dict[str, str]] = {
    "zh-Hans": {
        "enterprise-blacklisted": "申报企业在监管部门的黑名单上。",
        "credit-grade-poor": "监管部门给该企业的信用评级为 C 或 D。",
        "credit-grade-missing": "该企业尚无信用等级。",
        "complaints-many": "消费者对该企业的码提交了五次或以上投诉。",
        "complaint-rate-high": "该企业的码每五十次扫码至少有一次投诉。",
        "inspection-failed-before": "该企业的货物曾有一次海关查验不合格。",
        "inspection-failed-repeatedly": "该企业的货物有三次或以上海关查验不合格。",
        "no-inspection-history": "海关从未查验过该企业的货物。",
        "origin-high-risk": "原产国在高风险原产地名单上。",
        "category-high-risk": "商品的 HS 类别（乳品、婴幼儿食品、药品、化妆品）在高风险名单上。",
        "cold-chain-breach": "该货物（或其箱、托盘、集装箱）的签名传感器读数超出品牌签署的允许范围，"
                             "且持续时间超过允许值。",
    },
    "en": {
        "enterprise-blacklisted": "The declaring enterprise is on the regulator's blacklist.",
        "credit-grade-poor": "The regulator graded the enterprise's credit C or D.",
        "credit-grade-missing": "The enterprise has no credit grade yet.",
        "complaints-many": "Consumers filed five or more complaints about the enterprise's "
                           "codes.",
        "complaint-rate-high": "At least one complaint per fifty scans of the enterprise's "
                               "codes.",
        "inspection-failed-before": "A past customs inspection of the enterprise's goods "
                                    "failed.",
        "inspection-failed-repeatedly": "Three or more past customs inspections of the "
                                        "enterprise's goods failed.",
        "no-inspection-history": "Customs has never inspected this enterprise's goods.",
        "origin-high-risk": "The country of origin is on the high-risk origin list.",
        "category-high-risk": "The HS category (dairy, infant food, medicines, cosmetics) is "
                              "on the high-risk list.",
        "cold-chain-breach": "Signed sensor readings on the consignment's goods (their own, "
                             "their cases', pallets' or containers') were outside the brand's "
                             "signed ranges for longer than allowed.",
    },
}

# The facts the rules read (`ledger.trade.risk.Facts`), named for the officer.
FACT_NAMES: dict[str, dict[str, str]] = {
    "zh-Hans": {
        "creditGrade": "信用等级", "blacklisted": "黑名单", "complaintCount": "投诉数",
        "scanCount": "扫码数", "unissuedComplaintCount": "针对未发码的投诉数",
        "unissuedScanCount": "未发码的扫码数", "complaintRate": "投诉率",
        "pastInspections": "以往查验次数", "failedInspections": "查验不合格次数",
        "originCountry": "原产国", "category": "商品编码", "coldChainBreaches": "冷链超限次数",
    },
    "en": {
        "creditGrade": "credit grade", "blacklisted": "blacklisted",
        "complaintCount": "complaints", "scanCount": "scans",
        "unissuedComplaintCount": "complaints about unissued codes",
        "unissuedScanCount": "scans of unissued codes", "complaintRate": "complaint rate",
        "pastInspections": "past inspections", "failedInspections": "failed inspections",
        "originCountry": "origin country", "category": "HS code",
        "coldChainBreaches": "cold-chain breaches",
    },
}


_KEYSTORE = {
    "zh-Hans": ("没有浏览器钱包？用密钥文件签名", "命令行使用的加密密钥文件（var/keys/*.json）在本页内解锁，"
                "交易在本页签名后由网关转发；密钥不会离开本浏览器。", "密钥文件", "口令", "解锁"),
    "en": ("No browser wallet? Sign with your key file", "The command line's encrypted key file "
           "(var/keys/*.json) is unlocked in this page; transactions are signed here and the "
           "gateway only relays them. The key never leaves this browser.", "Key file",
           "Passphrase", "Unlock"),
}


def keystore_panel(lang: str) -> str:
    """The console pages' key-file wallet (verifier/web/src/console_wallet.js), hidden when the
    browser has a wallet."""
    title, hint, file_label, pass_label, button = _KEYSTORE[lang]
    return (f'<details id="keystore-wallet"><summary>{title}</summary><p><small>{hint}</small>'
            f'</p><form><label>{file_label} <input type="file" accept=".json,application/json" '
            f'required></label> <label>{pass_label} <input type="password" '
            f'autocomplete="current-password" required></label> <button type="submit">{button}'
            '</button><p class="status" role="status"></p></form></details>')


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _item(item: Any, assessed: dict[str, Any], t: dict[str, str], name: str | None,
          lang: str = "en") -> str:
    rules, fact_names = RULE_TEXTS[lang], FACT_NAMES[lang]
    # A rule set shipped later than this table still shows its own (English) explanation.
    fired = "".join(
        f'<tr data-rule="{_e(r["id"])}"><td><code>{_e(r["id"])}</code></td>'
        f'<td>{_e(r["weight"])}</td><td class="why">{_e(rules.get(r["id"], r["explanation"]))}</td>'
        f'<td data-fact="{_e(r["fact"])}">{_e(fact_names.get(r["fact"], r["fact"]))}</td>'
        f'<td>{_e(json.dumps(r["actual"], ensure_ascii=False))}</td></tr>'
        for r in assessed["fired"])
    facts = "".join(f'<div><dt data-fact="{_e(k)}">{_e(fact_names.get(k, k))}</dt>'
                    f"<dd>{_e(json.dumps(v, ensure_ascii=False))}</dd></div>"
                    for k, v in assessed["facts"].items()
                    if k not in ("enterprise", "coldChainBreachFacts"))
    if item.step == "decide":
        waiting = t["waitingDecision"]
        choices = "".join(
            f'<label><input type="radio" name="decision-{_e(item.consignment)}" value="{d}"'
            f'{" checked" if d == assessed["decision"] else ""}> {_e(t[d])}</label>'
            for d in ("DIRECT_RELEASE", "NORMAL_CONTROL", "IMMEDIATE_CONTROL"))
        action = (f'<fieldset class="choice" data-field="decision"><legend>{t["decide"]}</legend>'
                  f'{choices}</fieldset><input type="hidden" name="inspection" '
                  'value="NOT_INSPECTED">')
    else:
        waiting = t["waitingInspection"].format(decision=t[item.decision])
        choices = "".join(
            f'<label><input type="radio" name="inspection-{_e(item.consignment)}" value="{o}"'
            f'{" checked" if o == "PASSED" else ""}> {_e(t[o])}</label>'
            for o in ("PASSED", "FAILED"))
        action = (f'<fieldset class="choice" data-field="inspection"><legend>{t["inspect"]}'
                  f'</legend>{choices}</fieldset><input type="hidden" name="decision" '
                  f'value="{_e(item.decision)}">')
    declared = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(item.declared_ms // 1000))
    return f"""<article class="item d-{_e(assessed['decision'])}" data-consignment="{_e(item.consignment)}" data-step="{_e(item.step)}" data-score="{_e(assessed['score'])}">
<h2><span class="ref">{_e(item.consignment)}</span> <b class="score">{t["score"]} {_e(assessed["score"])}</b>
<span class="suggested">{t["suggested"]}: {_e(t[assessed["decision"]])}</span> <small class="waiting">{_e(waiting)}</small></h2>
<dl class="stats"><div><dt>{t["enterprise"]}</dt><dd>{_e(name or "0x" + item.enterprise.hex())}</dd></div>
<div><dt>{t["declared"]}</dt><dd>{declared}</dd></div>
<div><dt>{t["origin"]}</dt><dd>{_e(item.origin_country or "–")}</dd></div>
<div><dt>{t["category"]}</dt><dd>{_e(item.category or "–")}</dd></div>
<div><dt>{t["covered"]}</dt><dd>{len(item.event_ids)}</dd></div></dl>
<h3>{t["rules"]}</h3><table class="fired"><thead><tr><th>{t["rule"]}</th><th>{t["weight"]}</th><th>{t["why"]}</th><th>{t["fact"]}</th><th>{t["actual"]}</th></tr></thead>
<tbody>{fired or f'<tr><td colspan="5">{t["none"]}</td></tr>'}</tbody></table>
<details><summary>{t["facts"]}</summary><dl class="stats facts">{facts}</dl></details>
<form class="act">{action}<button type="submit">{t["record"]}</button><p class="status" role="status" aria-live="polite"></p></form>
</article>"""


CSS = """
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Noto Sans CJK SC",
"WenQuanYi Micro Hei",sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{background:#1d2330;color:#fff;padding:.8rem 1.2rem}header h1{margin:0;font-size:1.2rem}
header a{color:#fff}header p{margin:.2rem 0 0;opacity:.8;font-size:.85rem}
main{padding:1rem 1.2rem;max-width:1100px}nav{float:right}nav a{margin-left:.6rem}
.item{background:#fff;border-radius:8px;padding:.8rem 1rem;margin:0 0 1rem;
box-shadow:0 1px 2px #0001;border-left:6px solid #bbb}.item h2{font-size:1rem;margin:0 0 .5rem}
.d-IMMEDIATE_CONTROL{border-left-color:#e15759}.d-NORMAL_CONTROL{border-left-color:#edc948}
.d-DIRECT_RELEASE{border-left-color:#59a14f}h3{font-size:.9rem;margin:.6rem 0 .3rem}
.score{margin-left:.6rem}.suggested{margin-left:.6rem;font-weight:400}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.25rem .5rem;
border-bottom:1px solid #e6e8ec;vertical-align:top}th{font-size:.8rem;color:#555}
.stats{display:flex;flex-wrap:wrap;gap:.4rem 2rem;margin:0}.stats dt{font-size:.8rem;color:#666}
.stats dd{margin:0;font-weight:600}fieldset{border:0;padding:0;margin:.6rem 0 0}
fieldset label{margin-right:1rem}button{margin-top:.5rem;padding:.45rem .9rem;font:inherit;
border:0;border-radius:6px;background:#1d2330;color:#fff;cursor:pointer}
button[disabled]{opacity:.5}.status.error{color:#c62828}.status.done{color:#2e7d32}
.empty{color:#888}
"""


def render_queue(items: list[tuple[Any, dict[str, Any]]], session: ConsoleSession, lang: str,
                 names: dict[bytes, str | None]) -> str:
    t = STRINGS[lang]
    body = "".join(_item(i, a, t, names.get(i.enterprise), lang) for i, a in items) \
        or f'<p class="empty" id="queue-empty">{t["empty"]}</p>'
    other = "en" if lang == "zh-Hans" else "zh-Hans"
    script_strings = json.dumps({k: v for k, v in t.items() if k.startswith("s")} |
                                {d: t[d] for d in ("DIRECT_RELEASE", "NORMAL_CONTROL",
                                                   "IMMEDIATE_CONTROL", "PASSED", "FAILED",
                                                   "NOT_INSPECTED")},
                                ensure_ascii=False).replace("<", "\\u003c")
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{t["title"]} · Zhenzhi</title><style>{CSS}</style></head>
<body data-signer="{_e(session.signer)}"><header><nav><a href="/console">{t["console"]}</a>
<a href="?lang={other}">{"English" if other == "en" else "中文"}</a></nav>
<h1>{t["title"]}</h1><p><span id="session-org">{_e(session.name or session.org_hex)}</span> ·
<code id="session-signer">{_e(session.signer)}</code></p></header>
<main><p>{t["intro"]}</p>{keystore_panel(lang)}<div id="queue">{body}</div></main>
<script type="application/json" id="strings">{script_strings}</script>
<script src="/console/customs.js"></script></body></html>
"""
