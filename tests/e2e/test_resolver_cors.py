"""A retail web app on another origin reads the resolver through CORS, in a real headless
Chromium: a tiny HTTP server on another port serves the app's page; the page's script fetches a
scanned item's linkset from the gateway (serving the demo journey on the session's anvil chain),
reads the `Link` header the gateway exposes, and sends a request with a custom header, which
the browser preflights with OPTIONS. Without the resolver's CORS headers the browser refuses
each read (`TypeError: Failed to fetch`)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.attacks.scan_env import Stack, path_of, played_stack

pytestmark = [pytest.mark.browser, pytest.mark.chain]

CHROMIUM = os.environ.get("ZHENZHI_CHROMIUM") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
if CHROMIUM is None:
    pytest.skip("no Chromium: set ZHENZHI_CHROMIUM or `apt-get install chromium`",
                allow_module_level=True)

APP = """<!doctype html><html><head><meta charset="utf-8"><title>retail app</title></head>
<body><pre id="out">running</pre><script>
const item = %(item)s;
(async () => {
  const out = {};
  try {
    const r = await fetch(item, {headers: {"Accept": "application/linkset+json"}});
    out.status = r.status;
    out.type = r.headers.get("Content-Type");
    out.link = r.headers.get("Link");
    out.linkset = await r.json();
    const p = await fetch(item + "?linkType=linkset", {headers: {"X-Retail-App": "1"}});
    out.preflighted = p.status;
    const bad = await fetch(item.replace(/\\/21\\/.*/, "/21/A%%20B"));
    out.problem = (await bad.json()).reason;
  } catch (e) { out.error = String(e); }
  document.getElementById("out").textContent = JSON.stringify(out);
})();
</script></body></html>"""


@pytest.fixture(scope="module")
def stack(w3, deployment, tmp_path_factory) -> Iterator[Stack]:
    yield from played_stack(w3, deployment, tmp_path_factory.mktemp("resolver-cors"),
                            days_later=140)


@pytest.fixture(scope="module")
def app_origin() -> Iterator[dict[str, Any]]:
    """The retail app's own site: another port, so another origin."""
    state: dict[str, Any] = {"page": b""}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(state["page"])))
            self.end_headers()
            self.wfile.write(state["page"])

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}/app.html"
    yield state
    server.shutdown()
    server.server_close()


def test_a_page_on_another_origin_reads_the_linkset_and_its_link_header(stack, app_origin):
    from playwright.sync_api import sync_playwright

    gateway = stack.gateway()
    item = str(gateway.base_url).rstrip("/") + path_of(stack.scenario.sold_cans()[0])
    assert app_origin["url"].split("/")[2] != item.split("/")[2]  # another origin
    app_origin["page"] = (APP % {"item": json.dumps(item)}).encode()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu",
                                           "--disable-background-networking"])
        try:
            page = browser.new_page()
            page.goto(app_origin["url"])
            page.wait_for_function(
                "document.getElementById('out').textContent !== 'running'", timeout=30_000)
            out = json.loads(page.inner_text("#out"))
        finally:
            browser.close()
    assert "error" not in out, out
    assert out["status"] == 200 and out["type"] == "application/linkset+json"
    (links,) = out["linkset"]["linkset"]
    assert links["anchor"] == "https://id.gs1.org" + path_of(stack.scenario.sold_cans()[0])
    assert links["https://gs1.org/voc/verificationService"][0]["href"] == item
    assert 'rel="linkset"' in out["link"]          # an exposed header, readable by the page
    assert out["preflighted"] == 200               # the OPTIONS preflight was answered
    assert out["problem"] == "illegal-character"   # a 400 problem is readable too
