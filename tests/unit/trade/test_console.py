"""The console page: each chart carries its data as a table (what ECharts draws and screen
readers read), and it sends anyone without a session to the log-in page before it reads
anything."""

from __future__ import annotations

import re

import httpx
import pytest

from gateway.routes.console_charts import chart


def _table(html_text: str) -> list[list[str]]:
    body = html_text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", row) for row in body.split("</tr>") if row]


def test_each_chart_carries_its_data_as_a_table_per_day_and_series() -> None:
    rows = [("2025-03-02", {"made": 10, "sold": 30}), ("2025-03-03", {"made": 20})]
    out = chart("c", "events", "事件", rows, ("made", "sold", "packed"))
    # Series with no count at all are left out; each row sums to its total.
    assert re.findall(r'data-series="([^"]+)"', out) == ["made", "sold"]
    assert _table(out) == [["2025-03-02", "10", "30", "40"], ["2025-03-03", "20", "0", "20"]]
    assert '<div class="echart" aria-hidden="true">' in out  # drawn for the eye, read as a table
    assert '<span lang="en">events</span>' in out and '<span lang="zh-Hans">事件</span>' in out
    assert "<script" not in out and "http" not in out


def test_an_empty_series_says_so_instead_of_drawing_nothing() -> None:
    out = chart("c", "decisions", "决定", [], ("DIRECT_RELEASE",))
    assert "nothing yet" in out and "暂无" in out and "<table" not in out


def test_labels_are_escaped() -> None:
    out = chart("c", "<b>x</b>", "<b>", [("2025-03-02", {"<i>": 1})], ("<i>",))
    assert "<b>" not in out and "<i>" not in out


@pytest.mark.parametrize("client", [("203.0.113.7", 5000), ("10.0.0.2", 5000),
                                    ("127.0.0.1", 50000), ("testclient", 50000)])
def test_clients_without_a_session_get_the_log_in_page_before_any_read(client) -> None:
    from gateway.app import create_app
    from gateway.settings import GatewaySettings

    # No lifespan runs here: the app has no store and no chain, so an answer proves the
    # refusal comes first (loopback included: the machine's user logs in like anyone else).
    app = create_app(GatewaySettings(database_url="sqlite:///:memory:"))
    transport = httpx.ASGITransport(app=app, client=client)

    async def get() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
            return await c.get("/console", follow_redirects=False)

    import asyncio

    r = asyncio.run(get())
    assert r.status_code == 303
    assert r.headers["location"] == "/console/login"
    assert r.headers["cache-control"] == "no-store"
    assert "<table" not in r.text


def test_every_shipped_rule_is_explained_in_each_console_language() -> None:
    """The rule files are pinned by their SHA-256, so the console's Chinese lives beside them:
    every rule id of every shipped set has its text in each language, the English one the
    file's own, and every fact a rule reads has a name."""
    from gateway.routes.console_customs import FACT_NAMES, RULE_TEXTS
    from ledger.trade.risk import RULES_DIR, load_rules

    versions = sorted(p.stem for p in RULES_DIR.glob("v*.json"))
    assert versions
    for version in versions:
        for rule in load_rules(version).rules:
            assert RULE_TEXTS["en"][rule.id] == rule.explanation, (version, rule.id)
            assert RULE_TEXTS["zh-Hans"][rule.id] != rule.explanation, (version, rule.id)
            assert rule.fact in FACT_NAMES["zh-Hans"] and rule.fact in FACT_NAMES["en"]
    assert set(RULE_TEXTS["en"]) == set(RULE_TEXTS["zh-Hans"])
    assert set(FACT_NAMES["en"]) == set(FACT_NAMES["zh-Hans"])


def test_the_console_page_tables_have_the_same_keys_in_both_languages() -> None:
    from gateway.routes import console, console_audit, console_customs, console_regulator

    for module in (console, console_audit, console_customs, console_regulator):
        assert set(module.STRINGS["en"]) == set(module.STRINGS["zh-Hans"]), module.__name__
