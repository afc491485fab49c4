"""The operators' and regulators' console: one server-rendered page.

    GET /console    members (roles, keys, credit grades, blacklist), anchoring status and lag,
                    customs decisions with the rules that fired, complaints, recalls, and charts
                    of events and decisions over time

Read-only, self-contained (inline CSS and SVG; no script, no CDN, no web font). It names
members' complaint records and customs' risk reasons, so it is not public: this gateway serves
it to loopback clients only (the local demo's operator at the same machine). A deployment that
wants it remotely puts it behind member authentication (`gateway.auth` signed requests from a
REGULATOR or ADMIN organisation) at its proxy; until then, anyone else gets 403.
"""

from __future__ import annotations

import html
import ipaddress
import time
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from gateway.deps import get_services
from gateway.problems import problem_responses
from gateway.services import Services
from gateway.traceability import RuntimeDep, TraceabilityRuntime
from ledger.errors import AuthorizationError
from ledger.trade.console import STAGE_ORDER, ConsoleData, console_data

__all__ = ["render_console", "router"]

router = APIRouter(tags=["Console"])


class ConsoleLoopbackOnlyError(AuthorizationError):
    slug = "console-loopback-only"
    title = "The console is served to this machine only"


_FORWARDING = ("x-forwarded-for", "forwarded", "x-real-ip")


def _is_loopback(request: Request, runtime: TraceabilityRuntime) -> bool:
    """True if the client, as `gateway.client` observes it, is this machine. A loopback peer
    that relays someone else's request (a reverse proxy on this host that is not in
    ZHENZHI_TRUSTED_PROXIES, since uvicorn's proxy headers are off) is not."""
    peer = request.client.host if request.client else ""
    address = runtime.client(request).address
    if address == peer and any(h in request.headers for h in _FORWARDING):
        return False
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # a name, not an address (Starlette's TestClient says "testclient")


@router.get("/console", summary="Operators' and regulators' console (loopback only)",
            response_class=HTMLResponse,
            responses={200: {"content": {"text/html": {}}}, **problem_responses(403)})
async def console(request: Request, runtime: RuntimeDep) -> HTMLResponse:
    if not _is_loopback(request, runtime):
        raise ConsoleLoopbackOnlyError(
            "the console shows members' complaint and risk records; it is served to loopback "
            "clients only")
    # Looked up after the check: a refused client costs no store or chain access.
    services: Services = await get_services(request)
    chain = runtime.chain(services.chain_view)
    data = await run_in_threadpool(console_data, services.store.engine, chain,
                                   services.chain_view)
    return HTMLResponse(render_console(data), headers={"Cache-Control": "no-store"})


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


PALETTE = {
    "made": "#4e79a7", "packed": "#76b7b2", "shipped": "#f28e2b", "arrived": "#edc948",
    "customs": "#e15759", "warehouse": "#59a14f", "sold": "#b07aa1", "other": "#bab0ac",
    "DIRECT_RELEASE": "#59a14f", "NORMAL_CONTROL": "#edc948", "IMMEDIATE_CONTROL": "#e15759",
}


def bar_chart(chart_id: str, title: str, series: Sequence[tuple[str, dict[str, int]]],
              keys: Sequence[str], *, width: int = 720, height: int = 220) -> str:
    """A stacked bar chart as inline SVG: one bar per day, one colour per key, a legend."""
    if not series:
        return f'<figure id="{chart_id}" class="chart"><figcaption>{_e(title)}</figcaption>' \
               '<p class="empty">nothing yet</p></figure>'
    pad_l, pad_b, pad_t = 36, 36, 10
    plot_w, plot_h = width - pad_l - 8, height - pad_b - pad_t
    top = max(sum(v.values()) for _, v in series) or 1
    slot = plot_w / len(series)
    bar = max(2.0, min(28.0, slot * 0.7))
    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}" '
             f'xmlns="http://www.w3.org/2000/svg">']
    # Gridlines at whole counts only: a half of 1 is no count anyone made.
    for frac in (0.0, 0.5, 1.0) if top >= 4 else (0.0, 1.0):
        y = pad_t + plot_h * (1 - frac)
        parts.append(f'<line x1="{pad_l}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" '
                     'class="grid"/>')
        parts.append(f'<text x="{pad_l - 4}" y="{y + 4:.1f}" text-anchor="end">'
                     f'{round(top * frac)}</text>')
    label_every = max(1, len(series) // 8)
    for i, (day, counts) in enumerate(series):
        x = pad_l + i * slot + (slot - bar) / 2
        y = pad_t + plot_h
        for key in keys:
            n = counts.get(key, 0)
            if not n:
                continue
            h = plot_h * n / top
            y -= h
            parts.append(f'<rect class="bar" data-key="{_e(key)}" data-day="{_e(day)}" '
                         f'x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                         f'fill="{PALETTE.get(key, "#888")}"><title>{_e(day)} {_e(key)}: {n}'
                         '</title></rect>')
        if i % label_every == 0:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{height - pad_b + 14}" '
                         f'text-anchor="middle">{_e(day[5:])}</text>')
    parts.append("</svg>")
    used = [k for k in keys if any(c.get(k) for _, c in series)]
    legend = "".join(f'<span><i style="background:{PALETTE.get(k, "#888")}"></i>{_e(k)}</span>'
                     for k in used)
    return (f'<figure id="{chart_id}" class="chart"><figcaption>{_e(title)}</figcaption>'
            f'{"".join(parts)}<div class="legend">{legend}</div></figure>')


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
.chart{margin:0}.chart figcaption{font-weight:600;margin-bottom:.3rem}.chart svg{width:100%;
height:auto}.chart text{font-size:11px;fill:#555}.chart .grid{stroke:#e6e8ec}
.legend span{margin-right:.8rem;font-size:.8rem}.legend i{display:inline-block;width:.7rem;
height:.7rem;margin-right:.25rem;border-radius:2px}.empty{color:#888}
"""


def render_console(data: ConsoleData) -> str:
    decisions_keys = ("DIRECT_RELEASE", "NORMAL_CONTROL", "IMMEDIATE_CONTROL")
    verdicts = ", ".join(f"{k}: {v}" for k, v in sorted(data.scans_by_verdict.items())) or "none"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Zhenzhi console</title><style>{CSS}</style></head>
<body><header><h1>Zhenzhi 真知 — operators' and regulators' console</h1>
<p>chain {data.chain_id}, block {data.block} · read-only · served to this machine only</p></header>
<main>
<section id="members"><h2>Members ({len(data.members)})</h2>{_members(data)}</section>
<section id="anchoring"><h2>Anchoring</h2>{_anchoring(data)}</section>
<section id="charts"><h2>Over time</h2><div class="charts">
{bar_chart("chart-events", "Events per day (business time), by stage", data.events_per_day,
           STAGE_ORDER)}
{bar_chart("chart-decisions", "Customs decisions per day", data.decisions_per_day,
           decisions_keys)}
</div><p><small>Consumer scans by verdict: {_e(verdicts)}</small></p></section>
<section id="decisions"><h2>Customs risk decisions ({len(data.decisions)})</h2>
{_decisions(data)}</section>
<section id="complaints"><h2>Complaints ({len(data.complaints)})</h2>{_complaints(data)}</section>
<section id="recalls"><h2>Recalls ({len(data.recalls)})</h2>{_recalls(data)}</section>
</main></body></html>
"""
