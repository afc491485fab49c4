"""The audit view: who did what and when, from the chain and the store (console, REGULATOR or
ADMIN).

    GET /console/audit?org=0x…&from=YYYY-MM-DD&to=YYYY-MM-DD   the trail (`ledger.trade.audit`)
    GET /console/audit/tx/{hash}          a chain entry's proof: the transaction and its logs
    GET /console/audit/capture/{id}       a store entry's proof: the signed capture (signer,
                                          organisation, nonce, event ids, anchoring)
    GET /console/audit/complaint/{id}     a complaint triage entry: the complaint and its status
                                          changes, who and when (the gateway's record, unsigned)

Grade and blacklist rows carry the regulator's reason text when the gateway kept it: a blacklist
reason only when it hashes to the reasonHash on chain (else the row says it does not match).
"""

from __future__ import annotations

import html
import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from gateway.console_access import console_language, console_reader
from gateway.deps import ServicesDep, SettingsDep
from gateway.problems import problem_responses
from gateway.traceability import RuntimeDep
from ledger.chain.roles import ADMIN, REGULATOR
from ledger.errors import NotFoundError

__all__ = ["router"]

router = APIRouter(tags=["Console"])

_NO_STORE = {"Cache-Control": "no-store"}
_ROLES = frozenset({REGULATOR, ADMIN})


class UnknownProofError(NotFoundError):
    slug = "unknown-proof"
    title = "No such transaction or capture"


def _day(text: str | None) -> int | None:
    if not text:
        return None
    return int(datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC).timestamp())


@router.get("/console/audit", summary="Audit trail (console, REGULATOR or ADMIN)",
            response_class=HTMLResponse, responses=problem_responses(400, 401, 403))
async def audit_page(
        request: Request, services: ServicesDep, settings: SettingsDep, runtime: RuntimeDep,
        org: Annotated[str | None, Query(pattern="^(0x[0-9a-fA-F]{64})?$")] = None,
        since: Annotated[str | None, Query(alias="from", pattern=r"^(\d{4}-\d{2}-\d{2})?$")] = None,
        until: Annotated[str | None, Query(alias="to", pattern=r"^(\d{4}-\d{2}-\d{2})?$")] = None,
) -> Response:
    from ledger.trade.audit import audit_trail
    from ledger.trade.console import members

    session = await console_reader(request, services, settings, _ROLES)
    lang = console_language(request)

    def read() -> tuple[list[Any], list[Any]]:
        view = services.chain_view
        view.sync(force=True)
        chain = runtime.chain(view)
        end = _day(until)
        rows = audit_trail(services.store.engine, chain, view,
                           org=bytes.fromhex(org[2:]) if org else None, since=_day(since),
                           until=end + 86_400 if end is not None else None)
        return rows, members(chain, view)

    rows, orgs = await run_in_threadpool(read)
    return HTMLResponse(_render(rows, orgs, org or "", since or "", until or "", lang,
                                session.name or session.org_hex), headers=_NO_STORE)


@router.get("/console/audit/complaint/{complaint_id}",
            summary="An audit entry's complaint and its status changes (the gateway's record)",
            responses=problem_responses(401, 403, 404))
async def complaint_proof(request: Request, complaint_id: Annotated[int, Path(ge=1, le=2**62)],
                          services: ServicesDep, settings: SettingsDep) -> dict[str, Any]:
    from ledger.trade.complaint_triage import ComplaintTriage
    from ledger.trade.complaints import ComplaintBook

    await console_reader(request, services, settings, _ROLES)

    def read() -> dict[str, Any]:
        complaint = ComplaintBook(services.store.engine).get(complaint_id)
        changes = ComplaintTriage(services.store.engine).history(complaint_id)
        return {"complaint": complaint.to_json(), "recordedBy": "gateway",
                "changes": [{"from": c.from_status, "to": c.to_status, "outcome": c.outcome,
                             "org": "0x" + c.org.hex(), "signer": c.signer, "atMs": c.at_ms}
                            for c in changes]}

    return await run_in_threadpool(read)


@router.get("/console/audit/tx/{tx_hash}", summary="An audit entry's transaction and logs",
            responses=problem_responses(401, 403, 404))
async def tx_proof(request: Request, tx_hash: Annotated[str, Path(pattern="^0x[0-9a-fA-F]{64}$")],
                   services: ServicesDep, settings: SettingsDep) -> dict[str, Any]:
    await console_reader(request, services, settings, _ROLES)

    def read() -> dict[str, Any]:
        from web3.exceptions import TransactionNotFound

        w3 = services.chain_view.w3
        try:
            tx, receipt = w3.eth.get_transaction(tx_hash), w3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            raise UnknownProofError(f"no transaction {tx_hash} on this chain",
                                    txHash=tx_hash) from None
        names = {a.lower(): n for n, a in services.chain_view.contracts.items()}
        return {"hash": tx_hash, "from": tx["from"], "to": tx.get("to"),
                "contract": names.get(str(tx.get("to") or "").lower()),
                "block": receipt["blockNumber"], "status": receipt["status"],
                "input": "0x" + bytes(tx["input"]).hex(),
                "logs": [{"address": lg["address"], "logIndex": lg["logIndex"],
                          "topics": ["0x" + bytes(t).hex() for t in lg["topics"]],
                          "data": "0x" + bytes(lg["data"]).hex()} for lg in receipt["logs"]]}

    return await run_in_threadpool(read)


@router.get("/console/audit/capture/{capture_id}", summary="An audit entry's signed capture",
            responses=problem_responses(401, 403, 404))
async def capture_proof(request: Request,
                        capture_id: Annotated[str, Path(pattern="^[0-9a-f]{64}$")],
                        services: ServicesDep, settings: SettingsDep) -> dict[str, Any]:
    from ledger.pipeline.intake import capture_record

    await console_reader(request, services, settings, _ROLES)
    record = await run_in_threadpool(capture_record, services.store, capture_id)
    if record is None:
        raise UnknownProofError(f"no capture {capture_id}", captureID=capture_id)
    return {"captureID": capture_id, "signer": record["signer"],
            "org": "0x" + bytes(record["org"]).hex(), "nonce": record["nonce"],
            "receivedMs": record["received_ms"], "anchored": record["anchored"],
            "eventIDs": [f"ni:///sha-256;{bytes(e).hex()}?ver=CBV2.0"
                         for e in record["event_ids"]]}


_REASON_NOTE = {"matches-chain": "reasonMatches", "gateway-record": "reasonGateway"}

STRINGS = {
    "zh-Hans": {"title": "审计记录", "console": "控制台", "intro": "谁在何时做了什么：链上"
                "（Consortium、CustomsRelease、CodeRegistry 的事件）与存储（签名的采集）。"
                "每行链接到其证明。", "org": "单位", "all": "全部", "from": "从", "to": "到",
                "filter": "筛选", "when": "时间", "source": "来源", "actor": "签名密钥",
                "action": "操作", "details": "内容", "proof": "证明", "chain": "链上",
                "store": "存储", "none": "没有记录。", "count": "{n} 条",
                "reason": "理由：{text}", "reasonMatches": "（与链上理由哈希一致）",
                "reasonGateway": "（网关的记录，链上无此理由）",
                "reasonMismatch": "存储的理由文本与链上理由哈希不符，不予显示"},
    "en": {"title": "Audit trail", "console": "Console", "intro": "Who did what and when: the "
           "chain (events of Consortium, CustomsRelease, CodeRegistry) and the store (signed "
           "captures). Each row links to its proof.", "org": "Organisation", "all": "all",
           "from": "From", "to": "To", "filter": "Filter", "when": "When", "source": "Source",
           "actor": "Signing key", "action": "Action", "details": "Details", "proof": "Proof",
           "chain": "chain", "store": "store", "none": "Nothing recorded.", "count": "{n} rows",
           "reason": "reason: {text}", "reasonMatches": "(matches the reason hash on chain)",
           "reasonGateway": "(the gateway's record; the chain holds no reason for a grade)",
           "reasonMismatch": "the stored reason text does not match the reason hash on chain; "
           "not shown"},
}


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _render(rows: list[Any], orgs: list[Any], org: str, since: str, until: str, lang: str,
            who: str) -> str:
    t = STRINGS[lang]
    names = {m.org: m.name for m in orgs}
    options = f'<option value="">{t["all"]}</option>' + "".join(
        f'<option value="{_e(m.org)}"{" selected" if m.org == org else ""}>{_e(m.name)}</option>'
        for m in orgs)
    body = []
    for r in rows:
        org_hex = "0x" + r.org.hex() if r.org else None
        href = {"tx": f"/console/audit/tx/{r.proof}",
                "complaint": f"/console/audit/complaint/{r.proof}"}.get(
            r.proof_kind, f"/console/audit/capture/{r.proof}")
        # Long hex (ids, roots, hashes) cut short: the proof link has them whole.
        details = ", ".join(f"{k}={str(v)[:12] + '…' if str(v).startswith('0x') and len(str(v)) > 42 else v}"
                            for k, v in r.details.items() if k not in ("reason", "reasonStatus"))
        if "reasonStatus" in r.details:
            details += " · " + (t["reasonMismatch"] if r.details["reasonStatus"] == "mismatch"
                                else t["reason"].format(text=r.details["reason"]) + " "
                                + t[_REASON_NOTE[r.details["reasonStatus"]]])
        body.append(
            f'<tr data-source="{r.source}" data-action="{_e(r.action)}" data-org="{_e(org_hex)}">'
            f'<td>{time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r.at))}</td>'
            f'<td>{t[r.source]}</td><td>{_e(names.get(org_hex or "", org_hex or "–"))}</td>'
            f"<td><code>{_e(r.actor)}</code></td><td>{_e(r.action)}</td>"
            f'<td class="details">{_e(details[:300])}</td>'
            f'<td><a class="proof" href="{_e(href)}"><code>{_e(r.proof[:14])}…</code></a></td>'
            "</tr>")
    other = "en" if lang == "zh-Hans" else "zh-Hans"
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{t["title"]} · Zhenzhi</title><style>
*{{box-sizing:border-box}}body{{font:14px/1.45 system-ui,"Noto Sans CJK SC","WenQuanYi Micro Hei",
sans-serif;margin:0;color:#1d2330;background:#f5f6f8}}header{{background:#1d2330;color:#fff;
padding:.8rem 1.2rem}}header h1{{margin:0;font-size:1.2rem}}header a{{color:#fff;margin-left:.6rem}}
nav{{float:right}}main{{padding:1rem 1.2rem}}table{{border-collapse:collapse;width:100%;
background:#fff}}th,td{{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #e6e8ec;
vertical-align:top;font-size:.85rem}}.details{{max-width:32rem;word-break:break-all}}
form label{{margin-right:1rem}}</style></head>
<body><header><nav><a href="/console">{t["console"]}</a><a href="?lang={other}">{"English" if other == "en" else "中文"}</a></nav>
<h1>{t["title"]}</h1><p>{_e(who)}</p></header><main><p>{t["intro"]}</p>
<form id="audit-filter" method="get"><input type="hidden" name="lang" value="{lang}">
<label>{t["org"]} <select name="org">{options}</select></label>
<label>{t["from"]} <input type="date" name="from" value="{_e(since)}"></label>
<label>{t["to"]} <input type="date" name="to" value="{_e(until)}"></label>
<button type="submit">{t["filter"]}</button> <span id="audit-count">{t["count"].format(n=len(rows))}</span></form>
<table id="audit"><thead><tr><th>{t["when"]}</th><th>{t["source"]}</th><th>{t["org"]}</th>
<th>{t["actor"]}</th><th>{t["action"]}</th><th>{t["details"]}</th><th>{t["proof"]}</th></tr></thead>
<tbody>{"".join(body) or f'<tr><td colspan="7">{t["none"]}</td></tr>'}</tbody></table></main></body></html>
"""
