"""The shopper's page verifies the public proof in the browser (verifier/static/scan.html and
the bundle built from verifier/web): a real headless Chromium loads the static page from a tiny
local HTTP server, which also serves the item's public proof and config.json, and the page
checks the proof against the session's anvil chain with its own JSON-RPC calls.

Covered: a genuine proof is GENUINE with every check passed; tampered proofs (a disclosure
text, an event's path, a capture signature) are not, and the failing check is named; a node
that does not answer and a node on another chain are said so, never GENUINE; the in-browser
verification time of a 20-event journey is measured and printed; and `window.zhenzhiVerify`
agrees with the Python verifier (`verifier.verify`) check by check on a set of proof vectors.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.public_proof import PublicProofs, python_verdict
from tests.scenarios import played_journey

pytestmark = [pytest.mark.browser, pytest.mark.chain]

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "verifier" / "static"
CHROMIUM = os.environ.get("ZHENZHI_CHROMIUM") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
if CHROMIUM is None:
    pytest.skip("no Chromium: set ZHENZHI_CHROMIUM or `apt-get install chromium`",
                allow_module_level=True)
ARTIFACTS = ROOT / "test-artifacts" / "browser-verifier"


def _bundle_built() -> None:
    """verify.js is generated (scripts/bootstrap setup_web); build it if the tools are there."""
    if (STATIC / "verify.js").exists():
        return
    if not (ROOT / "verifier" / "web" / "node_modules" / "esbuild").exists():
        pytest.skip("verifier/static/verify.js is not built: run scripts/test (setup_web)")
    subprocess.run(["bash", "-c", f"source '{ROOT}/scripts/bootstrap' && setup_web"], check=True)


class _Site:
    """The gateway's part, played by a tiny server: the static page at any item path, the
    proof at the same path for `Accept: application/json`, and /verifier/config.json."""

    def __init__(self) -> None:
        self.proofs: dict[str, Any] = {}
        self.config: dict[str, Any] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                path = self.path.split("?", 1)[0]
                if path == "/verifier/config.json":
                    return self._send(200, json.dumps(site.config).encode(), "application/json")
                if path.startswith("/verifier/"):
                    f = STATIC / path.removeprefix("/verifier/")
                    if f.is_file() and f.parent == STATIC:
                        kind = {".js": "text/javascript", ".css": "text/css",
                                ".html": "text/html"}.get(f.suffix, "application/octet-stream")
                        return self._send(200, f.read_bytes(), kind + "; charset=utf-8")
                    return self._send(404, b"not found", "text/plain")
                if path.startswith("/01/"):
                    if "application/json" in (self.headers.get("Accept") or ""):
                        proof = site.proofs.get(path)
                        if proof is None:
                            return self._send(404, b'{"title":"no such item"}', "application/json")
                        body = proof if isinstance(proof, bytes) else json.dumps(proof).encode()
                        return self._send(200, body, "application/json")
                    return self._send(200, (STATIC / "scan.html").read_bytes(),
                                      "text/html; charset=utf-8")
                return self._send(404, b"not found", "text/plain")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _path(epc: str) -> str:
    return "/" + epc.split("https://id.gs1.org/", 1)[1]


@pytest.fixture(scope="module")
def world(w3, deployment, anvil, tmp_path_factory) -> Iterator[dict[str, Any]]:
    _bundle_built()
    with played_journey(w3, deployment, tmp_path_factory.mktemp("browser") / "store.db",
                        seed=211, day=211) as sc:
        proofs = PublicProofs.of(sc)
        epc = sc.sold_cans()[0]
        proof = proofs.proof(epc, scans=[{"at": 1, "region": "CN", "client": "a" * 16}])
        site = _Site()
        site.config = proofs.config(anvil.url)
        site.proofs[_path(epc)] = proof
        try:
            yield {"scenario": sc, "proofs": proofs, "epc": epc, "proof": proof, "site": site,
                   "rpc": anvil.url}
        finally:
            site.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                               args=["--no-sandbox", "--disable-gpu",
                                     "--disable-background-networking"])
        yield b
        b.close()


def _open(browser: Any, world: dict[str, Any], path: str, *, lang: str = "en",
          shot: str | None = None) -> tuple[Any, dict[str, Any]]:
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, locale=lang,
                              extra_http_headers={"Accept-Language": lang})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(world["site"].url + path)
    page.wait_for_selector("body[data-state=done]", timeout=30_000)
    assert not errors, errors
    result = page.evaluate("window.zhenzhiResult")
    if shot:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{shot}-{lang}.png"), full_page=True)
    return page, result


def _failing(result: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["name"], c["outcome"]) for c in result["checks"]
            if c["outcome"] in ("FAIL", "MISSING")]


# --- the page -----------------------------------------------------------------------------------

def test_a_genuine_proof_is_genuine_with_every_check_passed(browser, world) -> None:
    page, result = _open(browser, world, _path(world["epc"]), shot="genuine")
    assert result["verdict"] == "GENUINE", _failing(result)
    assert page.locator("#verdict").get_attribute("data-verdict") == "GENUINE"
    assert page.locator("#verdict h1").inner_text().strip() == "Genuine"
    names = {c["name"] for c in result["checks"]}
    for name in ("chain.node", "code.format", "bundle.chain", "code.registered",
                 "code.prefix_owner", "lot.status", "event.id", "event.proof",
                 "capture.signature", "signer.key", "signer.role", "signer.entitled",
                 "capture.anchored", "journey.complete", "customs.decision", "scan.history"):
        assert name in names, name
    assert all(c["outcome"] in ("PASS", "SKIPPED") for c in result["checks"])
    # It says which node it asked and at which block (number and hash).
    node = result["node"]
    assert node["url"] == world["rpc"] and node["chainId"] == 31337
    assert page.locator("#node .url").inner_text() == world["rpc"]
    assert page.locator("#node .block").inner_text() == str(node["block"])
    assert page.locator("#node .hash").inner_text().startswith("0x")
    assert len(node["blockHash"]) == 66
    # Every check is listed with its outcome, and the journey by stage, time, place and org.
    assert page.locator("#checks li").count() == len(result["checks"])
    steps = page.locator("#journey li")
    assert steps.count() == len(world["proof"]["events"])
    assert steps.first.get_attribute("data-stage") == "origin"
    assert "GLN" in steps.first.inner_text()
    # The server's page is offered only as the gateway's word.
    assert "?verdict=server" in page.locator(".server a").get_attribute("href")


@pytest.mark.parametrize("lang,label", [("zh-CN", "正品"), ("zh-TW", "正品"), ("en-GB", "Genuine")])
def test_the_page_speaks_the_readers_language_and_switches(browser, world, lang, label) -> None:
    page, _ = _open(browser, world, _path(world["epc"]), lang=lang, shot="genuine")
    assert page.locator("#verdict h1").inner_text().strip() == label
    want = {"zh-CN": "zh-Hans", "zh-TW": "zh-Hant", "en-GB": "en"}[lang]
    assert page.evaluate("document.documentElement.lang") == want
    page.locator("button[data-lang=zh-Hant]").click()
    assert page.locator("#journey h2").inner_text() == "流通歷程"
    page.locator("button[data-lang=en]").click()
    assert page.locator("#journey h2").inner_text() == "Journey"


def _tampered(world: dict[str, Any], how: str) -> dict[str, Any]:
    proof = copy.deepcopy(world["proof"])
    if how == "disclosure":
        # One disclosed value altered (its salt kept): the bizLocation of the second event.
        ev = proof["events"][1]
        for d in ev["disclosures"]:
            salt, name, value = json.loads(d["text"])
            if name == "bizStep":
                d["text"] = json.dumps([salt, name, "retail_selling"], separators=(",", ":"))
                break
        else:
            raise AssertionError("no bizStep disclosed")
    elif how == "event-proof":
        ev = proof["events"][0]
        ev["proof"][0] = "0x" + ("11" * 32)
    elif how == "signature":
        sig = proof["captures"][0]["signature"]
        proof["captures"][0]["signature"] = sig[:10] + ("0" if sig[10] != "0" else "1") + sig[11:]
    return proof


@pytest.mark.parametrize("how,check,outcome", [
    ("disclosure", "event.id", "FAIL"),
    ("event-proof", "event.proof", "FAIL"),
    ("signature", "capture.signature", "FAIL"),
])
def test_a_tampered_proof_is_not_genuine_and_the_failing_check_is_named(
        browser, world, how, check, outcome) -> None:
    path = _path(world["epc"])
    world["site"].proofs[path] = _tampered(world, how)
    try:
        page, result = _open(browser, world, path, shot=f"tampered-{how}")
    finally:
        world["site"].proofs[path] = world["proof"]
    assert result["verdict"] != "GENUINE"
    assert result["verdict"] == "COUNTERFEIT", _failing(result)
    assert (check, outcome) in _failing(result)
    shown = page.locator(f"#checks li[data-check='{check}'][data-outcome={outcome}]")
    assert shown.count() >= 1
    assert page.locator(".deciding").get_attribute("data-check") == check


def test_a_node_that_does_not_answer_is_never_genuine(browser, world) -> None:
    from tests.conftest import free_port

    good = world["site"].config
    world["site"].config = {**good, "rpcUrl": f"http://127.0.0.1:{free_port()}"}
    try:
        page, result = _open(browser, world, _path(world["epc"]), shot="node-down")
    finally:
        world["site"].config = good
    assert result["verdict"] == "UNVERIFIED"
    node = [c for c in result["checks"] if c["name"] == "chain.node"]
    assert node and node[0]["outcome"] == "MISSING"
    assert "could not be reached" in node[0]["reason"]
    assert page.locator("#verdict").get_attribute("data-verdict") == "UNVERIFIED"
    assert "could not be reached" in page.locator(".deciding").inner_text()


def test_a_node_on_another_chain_is_said_so(browser, world) -> None:
    good = world["site"].config
    world["site"].config = {**good, "chainId": 1}
    try:
        page, result = _open(browser, world, _path(world["epc"]), shot="wrong-chain")
    finally:
        world["site"].config = good
    assert result["verdict"] == "UNVERIFIED"
    assert "is on chain 31337, not chain 1" in page.locator(".deciding").inner_text()


def test_a_malformed_or_missing_proof_is_never_genuine(browser, world) -> None:
    path = _path(world["epc"])
    world["site"].proofs[path] = b"{not json"
    try:
        _, result = _open(browser, world, path)
        assert result["verdict"] == "UNVERIFIED"
        assert ("bundle.format", "MISSING") in _failing(result)
        del world["site"].proofs[path]
        page, result = _open(browser, world, path)
        assert result["verdict"] == "UNVERIFIED"
        assert ("bundle.code", "MISSING") in _failing(result)
        assert "could not be fetched" in page.locator(".error").inner_text()
    finally:
        world["site"].proofs[path] = world["proof"]


def test_uint64_nonces_beyond_2_to_the_53_stay_exact(browser, world) -> None:
    path = _path(world["epc"])
    proof = world["proofs"].proof(world["epc"], big_nonces=True)
    assert proof["captures"][0]["nonce"] > 2 ** 63
    world["site"].proofs[path] = proof
    try:
        _, result = _open(browser, world, path)
    finally:
        world["site"].proofs[path] = world["proof"]
    assert result["verdict"] == "GENUINE", _failing(result)


# --- speed --------------------------------------------------------------------------------------

def test_a_20_event_journey_verifies_in_the_browser_in_time(browser, world) -> None:
    """The issue's goal: at most 300 ms in the browser, chain reads included."""
    sc = world["scenario"]
    epc = world["epc"]
    stored = sc.item_events(epc)
    # 20 events: the item's journey, padded with events of its siblings' journeys that the
    # verifier must still hash, prove, recover and read the chain for (left out as another's).
    others = [e for can in sc.sold_cans()[1:] for e in sc.item_events(can)
              if e.event_id not in {s.event_id for s in stored}]
    twenty = (stored + others)[:20]
    assert len(twenty) == 20
    proof = world["proofs"].proof(epc, events=twenty)
    page, _ = _open(browser, world, _path(epc))
    config = world["site"].config
    times = page.evaluate("""async ([proof, config]) => {
        const out = [];
        for (let i = 0; i < 7; i++) {
            const t0 = performance.now();
            const r = await window.zhenzhiVerify(proof, config);
            out.push([performance.now() - t0, r.verdict, r.node.requests]);
        }
        return out;
    }""", [proof, config])
    ms = sorted(t for t, _, _ in times)
    print(f"\nbrowser verify, 20 events ({len(stored)} of the item's own, verdict "
          f"{times[0][1]}), {len(proof['captures'])} captures, "
          f"{times[0][2]} JSON-RPC round trips: first {times[0][0]:.1f} ms, "
          f"median {ms[len(ms) // 2]:.1f} ms, best {ms[0]:.1f} ms")
    assert ms[len(ms) // 2] <= 300, times


# --- the browser and Python agree ---------------------------------------------------------------

def _vectors(world: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    epc, proof = world["epc"], world["proof"]
    other = world["scenario"].sold_cans()[1]
    v: dict[str, tuple[str, dict[str, Any]]] = {"genuine": (epc, proof)}
    for how in ("disclosure", "event-proof", "signature"):
        v[how] = (epc, _tampered(world, how))
    p = copy.deepcopy(proof)
    p["registration"] = None
    v["no-registration"] = (epc, p)
    p = copy.deepcopy(proof)
    p["registration"]["codeProof"] = p["registration"]["codeProof"][1:]
    v["bad-code-proof"] = (epc, p)
    p = copy.deepcopy(proof)
    del p["events"][len(p["events"]) // 2]
    v["event-withheld"] = (epc, p)
    p = copy.deepcopy(proof)
    p["events"] = p["events"][1:]
    v["origin-withheld"] = (epc, p)
    p = copy.deepcopy(proof)
    p["customs"] = []
    v["no-customs"] = (epc, p)
    p = copy.deepcopy(proof)
    p["captures"][0]["anchor"] = None
    v["not-anchored"] = (epc, p)
    p = copy.deepcopy(proof)
    p["captures"][0]["anchor"]["batchRoot"] = "0x" + "22" * 32
    v["anchor-forged"] = (epc, p)
    p = copy.deepcopy(proof)
    p["scans"] = [{"at": world["now"] - 3600 + i, "region": r, "client": f"{i:016x}"}
                  for i, r in enumerate(["CN", "US", "GB", "AU", "DE"])]
    v["clone"] = (epc, p)
    p = copy.deepcopy(proof)
    p["scans"] = [{"at": world["now"] - 3600 + i, "region": "CN", "client": f"{i:016x}"}
                  for i in range(60)]
    v["clone-clients"] = (epc, p)
    v["another-item"] = (other, proof)
    p = copy.deepcopy(proof)
    p["chain"]["chainId"] = 5
    v["other-chain"] = (epc, p)
    p = copy.deepcopy(proof)
    p["events"][0]["disclosures"] = p["events"][0]["disclosures"][:1]
    v["little-disclosed"] = (epc, p)
    return v


def test_the_browser_and_python_verifiers_agree_check_by_check(browser, world) -> None:
    import time

    page, _ = _open(browser, world, _path(world["epc"]))
    now = world["now"] = int(time.time())
    config = world["site"].config
    vectors = _vectors(world)
    results = page.evaluate("""async ([vectors, config, now]) => {
        const out = {};
        for (const [name, [code, proof]] of Object.entries(vectors)) {
            out[name] = await window.zhenzhiVerify(proof, {...config, code}, {now});
        }
        return out;
    }""", [vectors, config, now])
    disagree = {}
    for name, (code, proof) in vectors.items():
        py = python_verdict(world["scenario"], proof, code=code, now=now)
        js = results[name]
        js_checks = [(c["name"], c["outcome"], c.get("subject")) for c in js["checks"]
                     if c["name"] != "chain.node"]
        py_checks = [(str(c.name), str(c.outcome), c.subject) for c in py.checks]
        py_reason = py.reason
        if py.genuine:  # the browser counts its own chain.node check among those passed
            py_reason = f"all {len(py.checks) + 1} checks passed against the chain"
        if (js["verdict"], js_checks) != (str(py.kind), py_checks) or js["reason"] != py_reason:
            disagree[name] = {"js": (js["verdict"], js["reason"], js_checks),
                              "py": (str(py.kind), py_reason, py_checks)}
    assert not disagree, json.dumps(disagree, indent=1)
    kinds = {name: r["verdict"] for name, r in results.items()}
    print("\nbrowser = python on", kinds)
    assert kinds["genuine"] == "GENUINE"
    assert kinds["clone"] == kinds["clone-clients"] == "SUSPECTED_CLONE"
    assert len(set(kinds.values())) >= 4
