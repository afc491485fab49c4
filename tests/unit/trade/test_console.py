"""The console page: its charts are proportional and self-contained, and it sends anyone
without a session to the log-in page before it reads anything."""

from __future__ import annotations

import re

import httpx
import pytest

from gateway.routes.console import bar_chart


def _bars(svg: str) -> dict[tuple[str, str], float]:
    return {(m["day"], m["key"]): float(m["h"]) for m in re.finditer(
        r'data-key="(?P<key>[^"]+)" data-day="(?P<day>[^"]+)" x="[^"]+" y="[^"]+" '
        r'width="[^"]+" height="(?P<h>[^"]+)"', svg)}


def test_bar_heights_are_proportional_to_counts_and_stacked_per_day() -> None:
    series = [("2025-03-02", {"made": 10, "sold": 30}), ("2025-03-03", {"made": 20})]
    svg = bar_chart("c", "events", series, ("made", "sold"))
    bars = _bars(svg)
    assert set(bars) == {("2025-03-02", "made"), ("2025-03-02", "sold"), ("2025-03-03", "made")}
    # the tallest day (40) fills the plot; the others are in proportion
    assert bars[("2025-03-02", "sold")] == pytest.approx(3 * bars[("2025-03-02", "made")], rel=0.01)
    assert bars[("2025-03-03", "made")] == pytest.approx(2 * bars[("2025-03-02", "made")], rel=0.01)
    assert "<script" not in svg and "http://" not in svg.replace("http://www.w3.org/2000/svg", "")


def test_an_empty_series_says_so_instead_of_drawing_nothing() -> None:
    assert "nothing yet" in bar_chart("c", "decisions", [], ("DIRECT_RELEASE",))


def test_labels_are_escaped() -> None:
    svg = bar_chart("c", "<b>x</b>", [("2025-03-02", {"<i>": 1})], ("<i>",))
    assert "<b>" not in svg and "<i>" not in svg.replace("<i style", "")


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
