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

__all__ = ["render_console", "router"]

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
    return HTMLResponse(render_console(data, session, extra), headers=_NO_STORE)


# --- rendering ------------------------------------------------------------------------------

def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _short(hex_text: str | None, n: int = 10) -> str:
    if not hex_text:
        return "–"
    return f'<code title="{_e(hex_text)}">{_e(hex_text[:n])}…</code>'


def _members(data: ConsoleData) -> str:
    rows = []
    for m in data.members:
        keys = "<br>".join(f'{_short(a, 12)} {"" if ok else "<s>revoked</s>"}'
                           for a, ok in m.keys) or "–"
        standing = "blacklisted" if m.blacklisted else ("member" if m.member else "removed")
        rows.append(
            f'<tr class="{"bad" if m.blacklisted or not m.member else ""}">'
            f"<td>{_e(m.name) or '<i>unnamed</i>'}<br><small>GLN {_e(m.gln)}</small></td>"
            f"<td>{_e(', '.join(m.roles))}</td>"
            f'<td class="grade g-{_e(m.grade or "none")}">{_e(m.grade or "–")}</td>'
            f"<td>{standing}</td><td>{_e(', '.join(m.prefixes) or '–')}</td><td>{keys}</td></tr>")
    return ('<table id="members-table"><thead><tr><th>organisation</th><th>roles</th>'
            "<th>credit grade</th><th>standing</th><th>GS1 prefixes</th><th>signing keys</th>"
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _anchoring(data: ConsoleData) -> str:
    a = data.anchoring
    state = "ok" if a.pending_captures == 0 or a.lag_s < 60 else "late"
    return (
        f'<dl class="stats {state}">'
        f"<div><dt>events stored</dt><dd>{a.events}</dd></div>"
        f"<div><dt>captures</dt><dd>{a.captures}</dd></div>"
        f'<div><dt>waiting to be anchored</dt><dd id="pending">{a.pending_events} events '
        f"({a.pending_captures} captures)</dd></div>"
        f'<div><dt>anchoring lag</dt><dd id="lag">{_ago(a.lag_s)}</dd></div>'
        f"<div><dt>batches anchored</dt><dd>{a.batches_anchored}</dd></div>"
        f"<div><dt>last batch</dt><dd>{_short(a.last_root)} block {_e(a.last_block or '–')}, "
        f"{_e(a.last_event_count or 0)} events, {_ago(a.last_age_s)} ago</dd></div>"
        "</dl>")


def _decisions(data: ConsoleData) -> str:
    rows = []
    for d in data.decisions:
        released = {True: "released", False: "held", None: "–"}[d.released]
        rows.append(
            f'<tr><td>{_e(d.consignment)}</td><td>{time.strftime("%Y-%m-%d %H:%M", time.gmtime(d.event_time_ms // 1000))}</td>'
            f'<td><b class="d d-{_e(d.decision)}">{_e(d.decision)}</b></td>'
            f"<td>{_e(d.inspection)}</td><td>{_e(d.score if d.score is not None else '–')}</td>"
            f"<td>{_e(', '.join(d.rules_fired) or '–')}</td><td>{_e(d.rules_version)}</td>"
            f"<td>{d.events_covered}</td><td>{_e(d.on_chain or 'not on chain')}</td>"
            f"<td>{released}</td></tr>")
    return ('<table id="decisions-table"><thead><tr><th>consignment</th><th>decided</th>'
            "<th>decision</th><th>inspection</th><th>risk score</th><th>rules fired</th>"
            "<th>rules</th><th>events covered</th><th>on CustomsRelease now</th><th></th></tr>"
            f"</thead><tbody>{''.join(rows) or '<tr><td colspan=10>none</td></tr>'}</tbody>"
            "</table>")


def _complaints(data: ConsoleData) -> str:
    rows = [f"<tr><td>{time.strftime('%Y-%m-%d %H:%M', time.gmtime(c.created_ms // 1000))}</td>"
            f"<td>{_e(c.category)}</td><td><code>{_e(c.gtin)}</code> {_e(c.serial or '')}</td>"
            f"<td>{_e(c.text)}</td><td>{_e(c.status)}</td></tr>" for c in data.complaints]
    return ('<table id="complaints-table"><thead><tr><th>filed</th><th>category</th>'
            "<th>code</th><th>text</th><th>status</th></tr></thead>"
            f"<tbody>{''.join(rows) or '<tr><td colspan=5>none</td></tr>'}</tbody></table>")


def _recalls(data: ConsoleData) -> str:
    rows = [f"<tr><td><code>{_e(r.gtin)}</code></td><td>{_e(r.lot)}</td><td>{r.codes}</td>"
            f"<td>{r.scans}</td><td>{_short(r.reason_hash)}</td></tr>" for r in data.recalls]
    return ('<table id="recalls-table"><thead><tr><th>GTIN</th><th>lot</th><th>codes</th>'
            "<th>scans of its codes</th><th>notice hash</th></tr></thead>"
            f"<tbody>{''.join(rows) or '<tr><td colspan=5>none</td></tr>'}</tbody></table>")


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


def _forbidden(section: str, roles: frozenset[str]) -> str:
    return (f'<p class="empty" data-needs="{_e(section)}">Needs one of the roles '
            f"{_e(', '.join(sorted(roles)))}.</p>")


def chart_data(engine: Any) -> dict[str, list[tuple[str, dict[str, int]]]]:
    from ledger.trade.console_charts import complaints_per_day, scans_by_region, scans_per_day

    return {"scans": scans_per_day(engine), "regions": scans_by_region(engine),
            "complaints": complaints_per_day(engine)}


def _charts(data: ConsoleData, extra: dict[str, Any], see_decisions: bool,
            see_complaints: bool) -> str:
    parts = [chart("chart-events", "Events per day (business time), by stage",
                   "每日事件（业务时间），按环节", data.events_per_day, STAGE_ORDER),
             chart("chart-scans", "Consumer scans per day, by verdict", "每日消费者扫码，按结论",
                   extra.get("scans", [])),
             chart("chart-regions", "Consumer scans by region, by verdict",
                   "各地区消费者扫码，按结论", extra.get("regions", []), axis_en="region",
                   axis_zh="地区")]
    if see_decisions:
        parts.insert(1, chart("chart-decisions", "Customs decisions per day", "每日海关布控决定",
                              data.decisions_per_day,
                              ("DIRECT_RELEASE", "NORMAL_CONTROL", "IMMEDIATE_CONTROL")))
    if see_complaints:
        parts.append(chart("chart-complaints", "Complaints per day, by status",
                           "每日投诉，按状态", extra.get("complaints", []),
                           ("open", "investigating", "resolved", "rejected")))
    return "\n".join(parts)


def render_console(data: ConsoleData, session: ConsoleSession,
                   extra: dict[str, Any] | None = None) -> str:
    """The page for one session: private sections only for the roles that may read them."""
    see_decisions = bool(session.roles & _DECISION_ROLES)
    see_complaints = bool(session.roles & _COMPLAINT_ROLES)
    decisions = (_decisions(data) if see_decisions
                 else _forbidden("decisions", _DECISION_ROLES))
    complaints = (_complaints(data) if see_complaints
                  else _forbidden("complaints", _COMPLAINT_ROLES))
    n_decisions = len(data.decisions) if see_decisions else "–"
    n_complaints = len(data.complaints) if see_complaints else "–"
    who = (f'<span id="session-org">{_e(session.name or session.org_hex)}</span> · '
           f'<span id="session-roles">{_e(", ".join(sorted(session.roles)))}</span> · '
           f'<code id="session-signer">{_e(session.signer)}</code>')
    verdicts = ", ".join(f"{k}: {v}" for k, v in sorted(data.scans_by_verdict.items())) or "none"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Zhenzhi console</title><style>{CSS}</style></head>
<body><header><form method="post" action="/console/logout" id="logout" class="logout">
<button type="submit">Log out · 退出</button></form>
<nav id="role-pages"><a href="/console/brand" style="color:#fff">Brand · 品牌</a> <a href="/console/operator" style="color:#fff">Operator · 运营</a></nav>
<h1>Zhenzhi 真知 — operators' and regulators' console</h1>
<p>{who}</p>
<p id="console-nav">{'<a href="/console/customs" style="color:#fff">海关查验队列 · Customs queue</a>' if CUSTOMS in session.roles else ""}
{'<a href="/console/regulator" style="color:#fff">企业信用与黑名单 · Grades and blacklist</a>' if REGULATOR in session.roles else ""}
{'<a href="/console/audit" style="color:#fff">审计记录 · Audit trail</a>' if session.roles & {REGULATOR, ADMIN} else ""}</p>
<p>chain {data.chain_id}, block {data.block} · read-only</p></header>
<main>
<section id="members"><h2>Members ({len(data.members)})</h2>{_members(data)}</section>
<section id="anchoring"><h2>Anchoring</h2>{_anchoring(data)}</section>
<section id="charts"><h2>Over time · 趋势</h2><div class="charts">
{_charts(data, extra or {}, see_decisions, see_complaints)}
</div><p><small>Consumer scans by verdict · 扫码结论: {_e(verdicts)}</small></p></section>
<section id="decisions"><h2>Customs risk decisions ({n_decisions})</h2>
{decisions}</section>
<section id="complaints"><h2>Complaints ({n_complaints})</h2>{complaints}</section>
<section id="recalls"><h2>Recalls ({len(data.recalls)})</h2>{_recalls(data)}</section>
</main><script src="/console/charts.js"></script></body></html>
"""
