"""The console's charts: each a figure with its data as a table (what screen readers and the
tests read, and what the page shows without script) and an Apache ECharts drawing of the same
data (verifier/console-web/src/console_charts.js, bundled at set-up, served from the gateway;
no CDN). The drawing reads the table, so the two cannot disagree.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.routes.scan_page import static_response

__all__ = ["PALETTE", "chart", "router"]

router = APIRouter(tags=["Console"])


@router.get("/console/charts.js", include_in_schema=False)
async def charts_script(request: Request) -> Response:
    return static_response(request, "console_charts.js")

PALETTE = {
    "made": "#4e79a7", "packed": "#76b7b2", "shipped": "#f28e2b", "arrived": "#edc948",
    "customs": "#e15759", "warehouse": "#59a14f", "sold": "#b07aa1", "other": "#bab0ac",
    "DIRECT_RELEASE": "#59a14f", "NORMAL_CONTROL": "#edc948", "IMMEDIATE_CONTROL": "#e15759",
    "GENUINE": "#59a14f", "RECALLED": "#e15759", "CLONE_SUSPECTED": "#f28e2b",
    "open": "#edc948", "investigating": "#f28e2b", "resolved": "#59a14f", "rejected": "#bab0ac",
}


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def chart(chart_id: str, title_en: str, title_zh: str, rows: Sequence[tuple[str, dict[str, int]]],
          keys: Sequence[str] | None = None, *, axis_en: str = "day", axis_zh: str = "日期",
          kind: str = "bar") -> str:
    """A stacked bar chart of `rows` (label, {series: count}) and its table."""
    if keys is None:
        seen: dict[str, None] = {}
        for _, counts in rows:
            for k in counts:
                seen.setdefault(k, None)
        keys = list(seen)
    used = [k for k in keys if any(c.get(k) for _, c in rows)]
    caption = (f'<figcaption><span lang="en">{_e(title_en)}</span> · '
               f'<span lang="zh-Hans">{_e(title_zh)}</span></figcaption>')
    if not rows:
        return (f'<figure id="{chart_id}" class="chart">{caption}'
                '<p class="empty">nothing yet · 暂无</p></figure>')
    head = "".join(f'<th scope="col" data-series="{_e(k)}" data-color="{PALETTE.get(k, "")}">'
                   f"{_e(k)}</th>" for k in used)
    body = "".join(
        f'<tr><th scope="row">{_e(label)}</th>'
        + "".join(f"<td>{counts.get(k, 0)}</td>" for k in used)
        + f"<td>{sum(counts.values())}</td></tr>" for label, counts in rows)
    return (f'<figure id="{chart_id}" class="chart" data-kind="{_e(kind)}">{caption}'
            '<div class="echart" aria-hidden="true"></div>'
            f'<table class="chart-table"><thead><tr><th scope="col">{_e(axis_en)} · '
            f'{_e(axis_zh)}</th>{head}<th scope="col">total · 合计</th></tr></thead>'
            f"<tbody>{body}</tbody></table></figure>")
