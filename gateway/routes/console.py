"""The operators' and regulators' console: one server-rendered page.

    GET /console    members (roles, keys, credit grades, blacklist), anchoring status and lag,
                    customs decisions with the rules that fired, complaints, recalls, and charts
                    (each also a table) of events, decisions, scans and complaints over time
                    and scans by region

Read-only, self-contained (inline CSS; one script, /console/charts.js: Apache ECharts bundled
at set-up and served by the gateway, drawing each chart from the table it carries; no CDN, no
web font). It names
members' complaint records and customs' risk reasons, so it is not public: it needs a console
session (`gateway.sessions`: Sign-In with Ethereum with a key the Consortium lists now). A
client without one, from anywhere, gets the log-in page and nothing else. Which sections a
session sees follows the organisation's roles on chain: customs decisions and their rules to
CUSTOMS, REGULATOR and ADMIN; complaints to REGULATOR and ADMIN; members, anchoring, charts and
recalls to every member.
"""

from __future__ import annotations

import html
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from gateway.console_access import console_language
from gateway.deps import SettingsDep, get_services
from gateway.routes.console_charts import chart
from gateway.services import Services
from gateway.sessions import (
    ConsoleSession,
    clear_cookie,
    cookie_name,
    current_session,
    own_origin,
    session_cookie,
)
from gateway.traceability import RuntimeDep
from ledger.chain.roles import ADMIN, CUSTOMS, REGULATOR
from ledger.trade.console import STAGE_ORDER, ConsoleData, console_data

__all__ = ["STRINGS", "render_console", "router"]

router = APIRouter(tags=["Console"])

_NO_STORE = {"Cache-Control": "no-store"}


_DECISION_ROLES = frozenset({CUSTOMS, REGULATOR, ADMIN})
_COMPLAINT_ROLES = frozenset({REGULATOR, ADMIN})


@router.get("/console", summary="Operators' and regulators' console (a console session)",
            response_class=HTMLResponse,
            responses={200: {"content": {"text/html": {}}},
                       303: {"description": "no session: to the log-in page"}})
async def console(request: Request, settings: SettingsDep, runtime: RuntimeDep) -> Response:
    origin = own_origin(request, settings)
    session = None
    if session_cookie(request, origin) is not None:
        # Looked up only for a client with a cookie: one without costs no store or chain access.
        services: Services = await get_services(request)
        session = await run_in_threadpool(current_session, request, services, origin)
    if session is None:
        # Nothing of the console's data is read for a client without a session.
        response = RedirectResponse("/console/login", status_code=303, headers=_NO_STORE)
        if request.cookies.get(cookie_name(origin)):
            clear_cookie(response, origin)  # expired, revoked or forged: forget it
        return response
    chain = runtime.chain(services.chain_view)
    data = await run_in_threadpool(console_data, services.store.engine, chain,
                                   services.chain_view)
    extra = await run_in_threadpool(chart_data, services.store.engine)
    return HTMLResponse(render_console(data, session, extra, console_language(request)),
                        headers=_NO_STORE)


# --- rendering ------------------------------------------------------------------------------

def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _ago(seconds: float | None, t: dict[str, str]) -> str:
    if seconds is None:
        return t["never"]
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _short(hex_text: str | None, n: int = 10) -> str:
    if not hex_text:
        return "–"
    return f'<code title="{_e(hex_text)}">{_e(hex_text[:n])}…</code>'


def _members(data: ConsoleData, t: dict[str, str]) -> str:
    rows = []
    for m in data.members:
        keys = "<br>".join(f'{_short(a, 12)} {"" if ok else "<s>" + t["revoked"] + "</s>"}'
                           for a, ok in m.keys) or "–"
        standing = t["blacklisted"] if m.blacklisted else (t["member"] if m.member
                                                           else t["removed"])
        rows.append(
            f'<tr class="{"bad" if m.blacklisted or not m.member else ""}">'
            f"<td>{_e(m.name) or '<i>' + t['unnamed'] + '</i>'}<br><small>GLN {_e(m.gln)}</small></td>"
            f"<td>{_e(', '.join(m.roles))}</td>"
            f'<td class="grade g-{_e(m.grade or "none")}">{_e(m.grade or "–")}</td>'
            f"<td>{standing}</td><td>{_e(', '.join(m.prefixes) or '–')}</td><td>{keys}</td></tr>")
    return (f'<table id="members-table"><thead><tr><th>{t["organisation"]}</th>'
            f'<th>{t["roles"]}</th><th>{t["grade"]}</th><th>{t["standing"]}</th>'
            f'<th>{t["prefixes"]}</th><th>{t["keys"]}</th>'
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _anchoring(data: ConsoleData, t: dict[str, str]) -> str:
    a = data.anchoring
    state = "ok" if a.pending_captures == 0 or a.lag_s < 60 else "late"
    last = t["lastBatchText"].format(root=_short(a.last_root), block=_e(a.last_block or "–"),
                                     events=_e(a.last_event_count or 0),
                                     ago=_ago(a.last_age_s, t))
    return (
        f'<dl class="stats {state}">'
        f'<div><dt>{t["eventsStored"]}</dt><dd>{a.events}</dd></div>'
        f'<div><dt>{t["captures"]}</dt><dd>{a.captures}</dd></div>'
        f'<div><dt>{t["pending"]}</dt><dd id="pending">'
        f'{_e(t["pendingText"].format(events=a.pending_events, captures=a.pending_captures))}'
        "</dd></div>"
        f'<div><dt>{t["lag"]}</dt><dd id="lag">{_ago(a.lag_s, t)}</dd></div>'
        f'<div><dt>{t["batches"]}</dt><dd>{a.batches_anchored}</dd></div>'
        f'<div><dt>{t["lastBatch"]}</dt><dd>{last}</dd></div>'
        "</dl>")


def _decisions(data: ConsoleData, t: dict[str, str]) -> str:
    rows = []
    for d in data.decisions:
        released = {True: t["released"], False: t["held"], None: "–"}[d.released]
        rows.append(
            f'<tr><td>{_e(d.consignment)}</td><td>{time.strftime("%Y-%m-%d %H:%M", time.gmtime(d.event_time_ms // 1000))}</td>'
            f'<td><b class="d d-{_e(d.decision)}" title="{_e(t.get(d.decision, d.decision))}">'
            f"{_e(d.decision)}</b></td>"
            f"<td>{_e(d.inspection)}</td><td>{_e(d.score if d.score is not None else '–')}</td>"
            f"<td>{_e(', '.join(d.rules_fired) or '–')}</td><td>{_e(d.rules_version)}</td>"
            f"<td>{d.events_covered}</td><td>{_e(d.on_chain or t['notOnChain'])}</td>"
            f"<td>{released}</td></tr>")
    none = f'<tr><td colspan=10>{t["none"]}</td></tr>'
    return (f'<table id="decisions-table"><thead><tr><th>{t["consignment"]}</th>'
            f'<th>{t["decided"]}</th><th>{t["decision"]}</th><th>{t["inspection"]}</th>'
            f'<th>{t["score"]}</th><th>{t["rulesFired"]}</th><th>{t["rules"]}</th>'
            f'<th>{t["covered"]}</th><th>{t["onChainNow"]}</th><th></th></tr>'
            f"</thead><tbody>{''.join(rows) or none}</tbody></table>")


def _complaints(data: ConsoleData, t: dict[str, str]) -> str:
    rows = [f"<tr><td>{time.strftime('%Y-%m-%d %H:%M', time.gmtime(c.created_ms // 1000))}</td>"
            f"<td>{_e(t.get('cat_' + c.category, c.category))}</td>"
            f"<td><code>{_e(c.gtin)}</code> {_e(c.serial or '')}</td>"
            f"<td>{_e(c.text)}</td><td>{_e(t.get('st_' + c.status, c.status))}</td></tr>"
            for c in data.complaints]
    none = f'<tr><td colspan=5>{t["none"]}</td></tr>'
    return (f'<table id="complaints-table"><thead><tr><th>{t["filed"]}</th>'
            f'<th>{t["category"]}</th><th>{t["code"]}</th><th>{t["text"]}</th>'
            f'<th>{t["status"]}</th></tr></thead>'
            f"<tbody>{''.join(rows) or none}</tbody></table>")


def _recalls(data: ConsoleData, t: dict[str, str]) -> str:
    rows = [f"<tr><td><code>{_e(r.gtin)}</code></td><td>{_e(r.lot)}</td><td>{r.codes}</td>"
            f"<td>{r.scans}</td><td>{_short(r.reason_hash)}</td></tr>" for r in data.recalls]
    none = f'<tr><td colspan=5>{t["none"]}</td></tr>'
    return (f'<table id="recalls-table"><thead><tr><th>GTIN</th><th>{t["lot"]}</th>'
            f'<th>{t["codes"]}</th><th>{t["scansOfCodes"]}</th><th>{t["noticeHash"]}</th>'
            f"</tr></thead><tbody>{''.join(rows) or none}</tbody></table>")


STRINGS: dict[str, dict[str, str]] = {
    "zh-Hans": {
        "title": "真知控制台", "heading": "真知 — 运营与监管控制台", "logout": "退出",
        "brand": "品牌", "operator": "运营", "customsQueue": "海关查验队列",
        "regulatorPage": "企业信用与黑名单", "audit": "审计记录",
        "chainLine": "链 {chain}，区块 {block} · 只读",
        "members": "成员（{n}）", "anchoring": "上链锚定", "overTime": "趋势",
        "decisionsTitle": "海关风险决定（{n}）", "complaintsTitle": "投诉（{n}）",
        "recallsTitle": "召回（{n}）", "scansByVerdict": "消费者扫码结论：{counts}",
        "organisation": "单位", "roles": "角色", "grade": "信用等级", "standing": "状态",
        "prefixes": "GS1 厂商识别代码", "keys": "签名密钥", "revoked": "已撤销",
        "unnamed": "未命名", "blacklisted": "黑名单", "member": "成员", "removed": "已移除",
        "eventsStored": "已存储事件", "captures": "采集", "pending": "待锚定",
        "pendingText": "{events} 条事件（{captures} 次采集）", "lag": "锚定延迟",
        "batches": "已锚定批次", "lastBatch": "最近批次",
        "lastBatchText": "{root} 区块 {block}，{events} 条事件，{ago} 前", "never": "从未",
        "consignment": "货物编号", "decided": "决定时间", "decision": "决定",
        "inspection": "查验", "score": "风险分", "rulesFired": "触发的规则", "rules": "规则版本",
        "covered": "涵盖事件", "onChainNow": "CustomsRelease 现状", "notOnChain": "未上链",
        "released": "已放行", "held": "扣留", "none": "无",
        "DIRECT_RELEASE": "直接放行", "NORMAL_CONTROL": "正常布控",
        "IMMEDIATE_CONTROL": "即决布控",
        "filed": "提交时间", "category": "类别", "code": "商品码", "text": "内容",
        "status": "状态", "lot": "批号", "codes": "码数", "scansOfCodes": "其码的扫码次数",
        "noticeHash": "公告哈希",
        "needsRoles": "需要以下角色之一：{roles}。",
        "cat_counterfeit": "怀疑假货", "cat_quality": "质量问题", "cat_label": "标签或码问题",
        "cat_other": "其他", "st_open": "待处理", "st_investigating": "调查中",
        "st_resolved": "已办结", "st_rejected": "已驳回",
        "chartEvents": "每日事件（业务时间），按环节", "chartScans": "每日消费者扫码，按结论",
        "chartRegions": "各地区消费者扫码，按结论", "chartDecisions": "每日海关布控决定",
        "chartComplaints": "每日投诉，按状态", "axisDay": "日期", "axisRegion": "地区",
        "total": "合计", "empty": "暂无",
        "made": "生产", "packed": "包装", "shipped": "发运", "arrived": "到港",
        "customs": "海关", "warehouse": "仓储", "sold": "售出", "other": "其他",
        "GENUINE": "正品", "RECALLED": "已召回", "CLONE_SUSPECTED": "疑似克隆",
        "SUSPECTED_CLONE": "疑似克隆", "COUNTERFEIT": "假冒", "UNVERIFIED": "未验证",
        "open": "待处理", "investigating": "调查中", "resolved": "已办结", "rejected": "已驳回",
    },
    "en": {
        "title": "Zhenzhi console", "heading": "Zhenzhi 真知 — operators' and regulators' console",
        "logout": "Log out", "brand": "Brand", "operator": "Operator",
        "customsQueue": "Customs queue", "regulatorPage": "Grades and blacklist",
        "audit": "Audit trail", "chainLine": "chain {chain}, block {block} · read-only",
        "members": "Members ({n})", "anchoring": "Anchoring", "overTime": "Over time",
        "decisionsTitle": "Customs risk decisions ({n})", "complaintsTitle": "Complaints ({n})",
        "recallsTitle": "Recalls ({n})", "scansByVerdict": "Consumer scans by verdict: {counts}",
        "organisation": "organisation", "roles": "roles", "grade": "credit grade",
        "standing": "standing", "prefixes": "GS1 prefixes", "keys": "signing keys",
        "revoked": "revoked", "unnamed": "unnamed", "blacklisted": "blacklisted",
        "member": "member", "removed": "removed",
        "eventsStored": "events stored", "captures": "captures",
        "pending": "waiting to be anchored", "pendingText": "{events} events ({captures} captures)",
        "lag": "anchoring lag", "batches": "batches anchored", "lastBatch": "last batch",
        "lastBatchText": "{root} block {block}, {events} events, {ago} ago", "never": "never",
        "consignment": "consignment", "decided": "decided", "decision": "decision",
        "inspection": "inspection", "score": "risk score", "rulesFired": "rules fired",
        "rules": "rules", "covered": "events covered", "onChainNow": "on CustomsRelease now",
        "notOnChain": "not on chain", "released": "released", "held": "held", "none": "none",
        "DIRECT_RELEASE": "Direct release", "NORMAL_CONTROL": "Normal control",
        "IMMEDIATE_CONTROL": "Immediate control",
        "filed": "filed", "category": "category", "code": "code", "text": "text",
        "status": "status", "lot": "lot", "codes": "codes", "scansOfCodes": "scans of its codes",
        "noticeHash": "notice hash",
        "needsRoles": "Needs one of the roles {roles}.",
        "cat_counterfeit": "suspected fake", "cat_quality": "quality",
        "cat_label": "label or code", "cat_other": "other", "st_open": "open",
        "st_investigating": "investigating", "st_resolved": "resolved", "st_rejected": "rejected",
        "chartEvents": "Events per day (business time), by stage",
        "chartScans": "Consumer scans per day, by verdict",
        "chartRegions": "Consumer scans by region, by verdict",
        "chartDecisions": "Customs decisions per day",
        "chartComplaints": "Complaints per day, by status", "axisDay": "day",
        "axisRegion": "region", "total": "total", "empty": "nothing yet",
        "made": "made", "packed": "packed", "shipped": "shipped", "arrived": "arrived",
        "customs": "customs", "warehouse": "warehouse", "sold": "sold", "other": "other",
        "GENUINE": "genuine", "RECALLED": "recalled", "CLONE_SUSPECTED": "suspected clone",
        "SUSPECTED_CLONE": "suspected clone", "COUNTERFEIT": "counterfeit",
        "UNVERIFIED": "unverified",
        "open": "open", "investigating": "investigating", "resolved": "resolved",
        "rejected": "rejected",
    },
}


CSS = """
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Noto Sans CJK SC",
"WenQuanYi Micro Hei",sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{background:#1d2330;color:#fff;padding:.8rem 1.2rem}header h1{margin:0;font-size:1.2rem}
header p{margin:.2rem 0 0;opacity:.75;font-size:.85rem}main{padding:1rem 1.2rem;max-width:1200px}
section{background:#fff;border-radius:8px;padding:.8rem 1rem;margin:0 0 1rem;
box-shadow:0 1px 2px #0001}h2{font-size:1rem;margin:0 0 .6rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .5rem;
border-bottom:1px solid #e6e8ec;vertical-align:top}th{font-weight:600;font-size:.8rem;color:#555}
tr.bad td{background:#fdecec}small{color:#666}code{font-size:.85em}
.grade{font-weight:700}.g-A{color:#2e7d32}.g-B{color:#558b2f}.g-C{color:#ef6c00}.g-D{color:#c62828}
.d{padding:.1rem .35rem;border-radius:4px;font-size:.8rem}.d-DIRECT_RELEASE{background:#e3f1e0}
.d-NORMAL_CONTROL{background:#fbf3d0}.d-IMMEDIATE_CONTROL{background:#fbdcdc}
.stats{display:flex;flex-wrap:wrap;gap:.6rem 2rem;margin:0}.stats dt{font-size:.8rem;color:#666}
.stats dd{margin:0;font-weight:600}.stats.late dd#lag{color:#c62828}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:1rem}
.chart{margin:0}.chart figcaption{font-weight:600;margin-bottom:.3rem}.chart .echart{width:100%;
min-height:240px}.chart-table{font-size:.8rem;margin-top:.3rem}.chart-table td,.chart-table th{
padding:.1rem .4rem}
.legend span{margin-right:.8rem;font-size:.8rem}.legend i{display:inline-block;width:.7rem;
height:.7rem;margin-right:.25rem;border-radius:2px}.empty{color:#888}
.logout{float:right}.logout button{font:inherit;padding:.3rem .7rem;border-radius:6px;border:0}
"""


def _forbidden(section: str, roles: frozenset[str], t: dict[str, str]) -> str:
    return (f'<p class="empty" data-needs="{_e(section)}">'
            f'{_e(t["needsRoles"].format(roles=", ".join(sorted(roles))))}</p>')


def chart_data(engine: Any) -> dict[str, list[tuple[str, dict[str, int]]]]:
    from ledger.trade.console_charts import complaints_per_day, scans_by_region, scans_per_day

    return {"scans": scans_per_day(engine), "regions": scans_by_region(engine),
            "complaints": complaints_per_day(engine)}


def _charts(data: ConsoleData, extra: dict[str, Any], see_decisions: bool,
            see_complaints: bool, t: dict[str, str], lang: str) -> str:
    def one(chart_id: str, title: str, rows: Any, keys: Any = None, axis: str = "axisDay"
            ) -> str:
        return chart(chart_id, t[title], t[title], rows, keys, axis_en=t[axis],
                     axis_zh=t[axis], lang=lang, labels=t)

    parts = [one("chart-events", "chartEvents", data.events_per_day, STAGE_ORDER),
             one("chart-scans", "chartScans", extra.get("scans", [])),
             one("chart-regions", "chartRegions", extra.get("regions", []), axis="axisRegion")]
    if see_decisions:
        parts.insert(1, one("chart-decisions", "chartDecisions", data.decisions_per_day,
                            ("DIRECT_RELEASE", "NORMAL_CONTROL", "IMMEDIATE_CONTROL")))
    if see_complaints:
        parts.append(one("chart-complaints", "chartComplaints", extra.get("complaints", []),
                         ("open", "investigating", "resolved", "rejected")))
    return "\n".join(parts)


def render_console(data: ConsoleData, session: ConsoleSession,
                   extra: dict[str, Any] | None = None, lang: str = "zh-Hans") -> str:
    """The page for one session, in `lang` (zh-Hans or en): private sections only for the
    roles that may read them."""
    t = STRINGS[lang]
    see_decisions = bool(session.roles & _DECISION_ROLES)
    see_complaints = bool(session.roles & _COMPLAINT_ROLES)
    decisions = (_decisions(data, t) if see_decisions
                 else _forbidden("decisions", _DECISION_ROLES, t))
    complaints = (_complaints(data, t) if see_complaints
                  else _forbidden("complaints", _COMPLAINT_ROLES, t))
    n_decisions = len(data.decisions) if see_decisions else "–"
    n_complaints = len(data.complaints) if see_complaints else "–"
    who = (f'<span id="session-org">{_e(session.name or session.org_hex)}</span> · '
           f'<span id="session-roles">{_e(", ".join(sorted(session.roles)))}</span> · '
           f'<code id="session-signer">{_e(session.signer)}</code>')
    verdicts = ", ".join(f"{t.get(k, k)}: {v}" for k, v in sorted(data.scans_by_verdict.items())) \
        or t["none"]
    other = "en" if lang == "zh-Hans" else "zh-Hans"
    links = [(CUSTOMS in session.roles, "/console/customs", "customsQueue"),
             (REGULATOR in session.roles, "/console/regulator", "regulatorPage"),
             (bool(session.roles & {REGULATOR, ADMIN}), "/console/audit", "audit")]
    nav = "\n".join(f'<a href="{href}" style="color:#fff">{t[key]}</a>'
                    for shown, href, key in links if shown)
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{t["title"]}</title><style>{CSS}</style></head>
<body><header><form method="post" action="/console/logout" id="logout" class="logout">
<button type="submit">{t["logout"]}</button></form>
<nav id="role-pages"><a href="/console/brand" style="color:#fff">{t["brand"]}</a> <a href="/console/operator" style="color:#fff">{t["operator"]}</a>
<a id="lang-switch" href="?lang={other}" style="color:#fff">{"English" if other == "en" else "中文"}</a></nav>
<h1>{t["heading"]}</h1>
<p>{who}</p>
<p id="console-nav">{nav}</p>
<p>{_e(t["chainLine"].format(chain=data.chain_id, block=data.block))}</p></header>
<main>
<section id="members"><h2>{_e(t["members"].format(n=len(data.members)))}</h2>{_members(data, t)}</section>
<section id="anchoring"><h2>{t["anchoring"]}</h2>{_anchoring(data, t)}</section>
<section id="charts"><h2>{t["overTime"]}</h2><div class="charts">
{_charts(data, extra or {}, see_decisions, see_complaints, t, lang)}
</div><p><small>{_e(t["scansByVerdict"].format(counts=verdicts))}</small></p></section>
<section id="decisions"><h2>{_e(t["decisionsTitle"].format(n=n_decisions))}</h2>
{decisions}</section>
<section id="complaints"><h2>{_e(t["complaintsTitle"].format(n=n_complaints))}</h2>{complaints}</section>
<section id="recalls"><h2>{_e(t["recallsTitle"].format(n=len(data.recalls)))}</h2>{_recalls(data, t)}</section>
</main><script src="/console/charts.js"></script></body></html>
"""
