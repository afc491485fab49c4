"""The console's charts: each a figure with its data as a table (what screen readers and the
tests read, and what the page shows without script) and an Apache ECharts drawing of the same
data (verifier/console-web/src/console_charts.js, bundled at set-up, served from the gateway;
no CDN). The drawing reads the table, so the two cannot disagree.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
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
          kind: str = "bar", lang: str | None = None,
          labels: Mapping[str, str] | None = None) -> str:
    """A stacked bar chart of `rows` (label, {series: count}) and its table. With `lang`
    (zh-Hans or en) it speaks that language only (`title_zh`/`axis_zh` or the `_en` ones),
    and `labels` names each series in it (a series key stays in `data-series`); without, both."""
    if keys is None:
        seen: dict[str, None] = {}
        for _, counts in rows:
            for k in counts:
                seen.setdefault(k, None)
        keys = list(seen)
    used = [k for k in keys if any(c.get(k) for _, c in rows)]
    names = labels or {}
    if lang is None:
        caption = (f'<figcaption><span lang="en">{_e(title_en)}</span> · '
                   f'<span lang="zh-Hans">{_e(title_zh)}</span></figcaption>')
        empty, axis, total = "nothing yet · 暂无", f"{axis_en} · {axis_zh}", "total · 合计"
    else:
        zh = lang == "zh-Hans"
        caption = f"<figcaption>{_e(title_zh if zh else title_en)}</figcaption>"
        empty, axis = ("暂无" if zh else "nothing yet"), (axis_zh if zh else axis_en)
        total = "合计" if zh else "total"
    if not rows:
        return (f'<figure id="{chart_id}" class="chart">{caption}'
                f'<p class="empty">{empty}</p></figure>')
    head = "".join(f'<th scope="col" data-series="{_e(k)}" data-color="{PALETTE.get(k, "")}">'
                   f"{_e(names.get(k, k))}</th>" for k in used)
    body = "".join(
        f'<tr><th scope="row">{_e(label)}</th>'
        + "".join(f"<td>{counts.get(k, 0)}</td>" for k in used)
        + f"<td>{sum(counts.values())}</td></tr>" for label, counts in rows)
    return (f'<figure id="{chart_id}" class="chart" data-kind="{_e(kind)}">{caption}'
            '<div class="echart" aria-hidden="true"></div>'
            f'<table class="chart-table"><thead><tr><th scope="col">{_e(axis)}</th>{head}'
            f'<th scope="col">{_e(total)}</th></tr></thead>'
            f"<tbody>{body}</tbody></table></figure>")
