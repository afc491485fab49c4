"""The offline evidence page (verifier/static/evidence.html, one self-contained file built from
verifier/web by `build-evidence.mjs`): a real headless Chromium opens it from file:// with the
network off (an offline context, every non-file request aborted and recorded, and the page's
own CSP), loads sealed bundles built on anvil (`tests/integration/sealed_env.py`), and must
give the same result as the Python `check_sealed` on each: genuine, recalled, unproven without
or with a wrong trusted hash, another chain or deployment, and one altered byte in an event, a
proof node, the header, the block hash or a signature (refused, naming the same place)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ledger.evidence.sealed import canonical_json
from ledger.proofs.merkle import keccak256
from tests.integration.sealed_env import check, network_off, sealed  # noqa: F401 - fixtures
from verifier.sealed import NOT_CARRIED

pytestmark = [pytest.mark.browser, pytest.mark.chain]

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "verifier" / "static" / "evidence.html"
CHROMIUM = os.environ.get("ZHENZHI_CHROMIUM") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
if CHROMIUM is None:
    pytest.skip("no Chromium: set ZHENZHI_CHROMIUM or `apt-get install chromium`",
                allow_module_level=True)
ARTIFACTS = ROOT / "test-artifacts" / "offline-evidence"


def _page_built() -> None:
    """evidence.html is generated (scripts/bootstrap setup_web); build it if the tools are there."""
    if PAGE.exists():
        return
    if not (ROOT / "verifier" / "web" / "node_modules" / "esbuild").exists():
        pytest.skip("verifier/static/evidence.html is not built: run scripts/test (setup_web)")
    subprocess.run(["bash", "-c", f"source '{ROOT}/scripts/bootstrap' && setup_web"], check=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    _page_built()
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                               args=["--no-sandbox", "--disable-gpu",
                                     "--disable-background-networking"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(browser: Any) -> Iterator[Any]:
    """The page opened from file:// in an offline context where any other request fails."""
    ctx = browser.new_context(offline=True, locale="en", viewport={"width": 900, "height": 1200})
    requests: list[str] = []

    def guard(route: Any) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            requests.append(route.request.url)
            route.abort()

    ctx.route("**/*", guard)
    p = ctx.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.goto(PAGE.as_uri() + "?lang=en")
    p.wait_for_selector("body[data-state=waiting]")
    p.requests, p.errors = requests, errors
    yield p
    assert not requests, f"the offline page tried the network: {requests}"
    assert not errors, errors
    ctx.close()


def _in_browser(page: Any, raw: bytes, *, trust: bytes | None, manifest: Path | None,
                chain_id: int | None = None) -> dict[str, Any]:
    m = None if manifest is None else json.loads(manifest.read_text())
    if m is not None and chain_id is not None:
        m["chainId"] = chain_id
    return page.evaluate(
        """async ([b64, trust, manifest]) => {
             const raw = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
             return JSON.parse(JSON.stringify(await window.zhenzhiCheckSealed(raw, {trust, manifest}),
                                              (k, v) => (typeof v === 'bigint' ? Number(v) : v)));
           }""",
        [base64.b64encode(raw).decode(), None if trust is None else "0x" + trust.hex(), m])


def _place(report: Any) -> str | None:
    """Where a report says the evidence failed (Python SealedReport or the page's JSON)."""
    if isinstance(report, dict):
        return report.get("place") or (report["failures"][0]["place"] if report["failures"] else None)
    return report.place or (report.failures[0]["place"] if report.failures else None)


def _flip_hex(raw: bytes, needle: str, offset: int) -> bytes:
    at = raw.index(needle.encode()) + offset
    digit = chr(raw[at])
    assert digit in "0123456789abcdef", (needle, digit)
    out = bytearray(raw)
    out[at] = ord("1" if digit != "1" else "2")
    return bytes(out)


def _context_flips(raw: bytes) -> dict[str, tuple[bytes, str]]:
    """One character changed in the first full event with a context (the namespace declarations
    its extensions use, bound only through its CBV event hash): in the namespace IRI, and in the
    prefix. Each: the file (still canonical) and the place both checkers must name."""
    doc = json.loads(raw)
    i, e = next((i, e) for i, e in enumerate(doc["evidence"]["events"]) if e.get("context"))
    prefix, iri = next(iter(e["context"][0].items()))
    at = iri.index("example")  # "https://ns.zhenzhi.example/epcis/" → "…dxample…"
    e["context"][0][prefix] = iri[:at] + chr(ord(iri[at]) ^ 1) + iri[at + 1:]
    other_iri = canonical_json(doc)
    renamed = prefix[:-1] + chr(ord(prefix[-1]) ^ 1)
    e["context"][0] = {renamed if k == prefix else k: iri if k == prefix else v
                       for k, v in e["context"][0].items()}
    other_prefix = canonical_json(doc)
    return {"namespace IRI": (other_iri, f"evidence.events[{i}]"),
            "namespace prefix": (other_prefix, f"evidence.events[{i}].context")}


def _respelt(raw: bytes) -> tuple[bytes, str]:
    """The first GTIN Digital Link of the first full event written with the short name
    ("/gtin/" for "/01/"): the same key, so the same event hash; only the sealed reader's rule
    that values are spelt as the hash reads them refuses it. The file, and the place."""
    doc = json.loads(raw)
    i, e = next((i, e) for i, e in enumerate(doc["evidence"]["events"]) if e.get("event"))

    def respell(v: Any) -> tuple[Any, bool]:
        if isinstance(v, str) and v.startswith("https://id.gs1.org/01/"):
            return v.replace("/01/", "/gtin/", 1), True
        items = list(v.items()) if isinstance(v, dict) else enumerate(v) if isinstance(
            v, list) else []
        for k, x in items:
            v[k], done = respell(x)
            if done:
                return v, True
        return v, False

    assert respell(e["event"])[1]
    return canonical_json(doc), f"evidence.events[{i}].event"


def _regions(doc: dict[str, Any]) -> dict[str, tuple[str, int]]:
    ev = doc["evidence"]
    with_proof = next(i for i, e in enumerate(ev["events"]) if e["proof"])
    acct = next(i for i, a in enumerate(doc["state"]) if a["storage"])
    storage = doc["state"][acct]["storage"]
    nonzero = next(j for j, s in enumerate(storage) if int(s["value"], 16))
    return {
        "event field": (ev["events"][0]["event"]["eventTime"], 3),
        "event disclosure": (json.loads(ev["events"][1]["disclosures"][2]["text"])[0], 4),
        "event proof node": (ev["events"][with_proof]["proof"][0], 10),
        "anchor proof node": (ev["captures"][0]["anchor"]["proof"][0], 12),
        "signature": (ev["captures"][0]["signature"], 40),
        "header": (doc["block"]["header"], 200),
        "block hash": (doc["block"]["hash"], 10),
        "account proof node": (doc["state"][acct]["accountProof"][1], 80),
        "storage proof node": (storage[0]["proof"][0], 80),
        "storage value": (storage[nonzero]["value"], 65),
        "code": (doc["state"][acct]["code"], 300),
    }


def test_genuine_evidence_is_genuine_offline_as_in_python(page: Any, sealed: dict) -> None:  # noqa: F811
    raw = sealed["raw"]
    python = check(raw, sealed)
    got = _in_browser(page, raw, trust=sealed["hash"], manifest=sealed["manifest"])
    assert python.kind == "GENUINE" and got["result"] == "GENUINE", got["reason"]
    assert got["block"]["confirmed"] is True and got["deployment"]["confirmed"] is True
    assert got["block"]["number"] == sealed["before"].witness.header.number
    # The same checks, in the same order, with the same outcomes, as the Python verifier's.
    assert [(c["name"], c["outcome"]) for c in got["verdict"]["checks"]] == \
        [(str(c.name), str(c.outcome)) for c in python.verdict.checks]
    assert got["calls"] > 0  # the contract reads ran in the page's EVM
    events = len(json.loads(raw)["evidence"]["events"])
    print(f"\noffline page: a {events}-event sealed bundle of {len(raw)} bytes checked in "
          f"{got['ms']:.0f} ms ({got['calls']} calls in the page's EVM)")


def test_recalled_after_the_sale_is_recalled_and_the_earlier_block_is_not(
        page: Any, sealed: dict) -> None:  # noqa: F811
    after, again = sealed["after"], sealed["again"]
    python = check(after.dumps(), sealed, trust=after.block_hash)
    got = _in_browser(page, after.dumps(), trust=after.block_hash, manifest=sealed["manifest"])
    assert python.kind == got["result"] == "RECALLED"
    assert any(f["check"] == "lot.status" for f in got["failures"])
    got = _in_browser(page, again.dumps(), trust=again.block_hash, manifest=sealed["manifest"])
    assert got["result"] == check(again.dumps(), sealed, trust=again.block_hash).kind == "GENUINE"


def test_untrusted_or_wrong_block_hash_is_unproven_not_true(page: Any, sealed: dict) -> None:  # noqa: F811
    raw = sealed["raw"]
    none = _in_browser(page, raw, trust=None, manifest=sealed["manifest"])
    assert none["result"] == check(raw, sealed, trust=None).kind == "UNVERIFIED"
    assert none["unproven"] == "unconfirmed-block" and none["verdict"]["verdict"] == "GENUINE"
    assert none["toConfirm"][0]["hash"] == "0x" + sealed["hash"].hex()
    wrong = keccak256(b"another block")
    got = _in_browser(page, raw, trust=wrong, manifest=sealed["manifest"])
    python = check(raw, sealed, trust=wrong)
    assert got["result"] == python.kind == "UNVERIFIED"
    assert got["block"]["confirmed"] is False and "not against the block you trust" in got["reason"]
    # No manifest: the page shows the addresses and says the reader must confirm them.
    got = _in_browser(page, raw, trust=sealed["hash"], manifest=None)
    assert got["result"] == check(raw, sealed, manifest=None).kind == "UNVERIFIED"
    assert got["unproven"] == "unconfirmed-deployment"


def test_another_chain_or_deployment_says_so(page: Any, sealed: dict) -> None:  # noqa: F811
    raw, dep = sealed["raw"], sealed["dep"]
    got = _in_browser(page, raw, trust=sealed["hash"], manifest=sealed["manifest"],
                      chain_id=dep.chainId + 1)
    python = check(raw, sealed, manifest=replace(dep, chainId=dep.chainId + 1))
    assert got["result"] == python.kind == "UNVERIFIED"
    assert f"the bundle is for chain {dep.chainId}" in got["reason"] == python.reason or \
        f"the bundle is for chain {dep.chainId}" in python.reason
    assert got["reason"] == python.reason
    # The file itself rewritten to claim another chain: its signatures recover other keys.
    doc = json.loads(raw)
    doc["chain"]["chainId"] = dep.chainId + 1
    other = canonical_json(doc)
    got = _in_browser(page, other, trust=sealed["hash"], manifest=sealed["manifest"])
    python = check(other, sealed)
    assert python.kind != "GENUINE" and got["result"] == python.kind
    assert _place(got) == _place(python)


@pytest.mark.parametrize("region", ["event field", "event disclosure", "event proof node",
                                    "anchor proof node", "signature", "header", "block hash",
                                    "account proof node", "storage proof node", "storage value",
                                    "code"])
def test_attack_one_altered_byte_is_refused_at_the_same_place_as_python(
        page: Any, sealed: dict, region: str) -> None:  # noqa: F811
    raw = sealed["raw"]
    needle, offset = _regions(json.loads(raw))[region]
    tampered = _flip_hex(raw, needle, offset)
    python = check(tampered, sealed)
    got = _in_browser(page, tampered, trust=sealed["hash"], manifest=sealed["manifest"])
    assert python.kind != "GENUINE"
    assert got["result"] == python.kind, (region, got["reason"], python.reason)
    assert _place(got) == _place(python), (region, _place(got), _place(python), got["reason"])


@pytest.mark.parametrize("flip", ["namespace IRI", "namespace prefix"])
def test_attack_one_character_of_an_event_context_is_refused_at_the_same_place_as_python(
        page: Any, sealed: dict, flip: str) -> None:  # noqa: F811
    """The context is bound only through the event hash: the page recomputes it, so another
    namespace is an altered event (and an undeclared prefix a malformed bundle), as in Python."""
    tampered, place = _context_flips(sealed["raw"])[flip]
    python = check(tampered, sealed)
    got = _in_browser(page, tampered, trust=sealed["hash"], manifest=sealed["manifest"])
    assert python.kind != "GENUINE" and _place(python) == place, (python.kind, python.reason)
    assert got["result"] == python.kind, (got["result"], got["reason"], python.reason)
    assert _place(got) == place, (_place(got), got["reason"])


def test_attack_another_spelling_of_an_events_key_is_refused_as_in_python(
        page: Any, sealed: dict) -> None:  # noqa: F811
    tampered, place = _respelt(sealed["raw"])
    python = check(tampered, sealed)
    got = _in_browser(page, tampered, trust=sealed["hash"], manifest=sealed["manifest"])
    assert python.kind == got["result"] == "REFUSED"
    assert python.place == got["place"] == place
    assert got["reason"] == python.reason


def test_non_canonical_or_broken_files_are_refused(page: Any, sealed: dict) -> None:  # noqa: F811
    raw = sealed["raw"]
    pretty = json.dumps(json.loads(raw), indent=1, sort_keys=True).encode()
    for bad in (pretty, raw[:-1], raw.replace(b'"version":1', b'"version":2'),
                raw[:100] + b"\xff" + raw[101:]):
        got = _in_browser(page, bad, trust=sealed["hash"], manifest=sealed["manifest"])
        python = check(bad, sealed)
        assert got["result"] == python.kind == "REFUSED"
        assert got["place"] == python.place, (got["place"], python.place, got["reason"])


@pytest.mark.parametrize("lang,title,unproven", [
    ("en", "Genuine", "block not trusted"),
    ("zh-Hans", "正品", "区块未获信任"),
    ("zh-Hant", "正品", "區塊未獲信任"),
])
def test_the_page_reports_a_dropped_bundle_in_three_languages(
        browser: Any, sealed: dict, tmp_path: Path, lang: str, title: str, unproven: str) -> None:  # noqa: F811
    bundle = tmp_path / "sealed.json"
    bundle.write_bytes(sealed["raw"])
    ctx = browser.new_context(offline=True, viewport={"width": 900, "height": 1400})
    outside: list[str] = []
    ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file://")
              else (outside.append(r.request.url), r.abort()))
    p = ctx.new_page()
    p.goto(PAGE.as_uri() + f"?lang={lang}")
    p.set_input_files("#bundle", str(bundle))
    p.wait_for_selector("body[data-state=done]")
    # No trusted hash yet: unproven, and it says so.
    assert p.locator("#verdict").get_attribute("data-result") == "UNVERIFIED"
    assert unproven in p.locator("#verdict .unproven").inner_text()
    assert "0x" + sealed["hash"].hex() in p.locator("#confirm").inner_text()
    p.fill("#trust", "0x" + sealed["hash"].hex())
    p.set_input_files("#manifest", str(sealed["manifest"]))
    p.wait_for_selector("#verdict[data-result=GENUINE]")
    assert p.locator("#verdict h1").inner_text().strip() == title
    assert p.locator("#journey li").count() >= 10
    assert p.locator("#signers li").count() >= 3
    assert p.locator("#not-checked li").count() == len(NOT_CARRIED)  # as in Python
    assert p.locator("#what .hash").get_attribute("data-confirmed") == "true"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    p.screenshot(path=str(ARTIFACTS / f"genuine-{lang}.png"), full_page=True)
    tampered = tmp_path / "tampered.json"
    tampered.write_bytes(_flip_hex(sealed["raw"], json.loads(sealed["raw"])["block"]["header"], 200))
    p.set_input_files("#bundle", str(tampered))
    p.wait_for_selector("#verdict[data-result=REFUSED]")
    assert p.locator("#verdict").get_attribute("data-place") == "block.header"
    p.screenshot(path=str(ARTIFACTS / f"refused-{lang}.png"), full_page=True)
    assert not outside, outside
    ctx.close()


def test_attack_witness_leaving_a_slot_out_is_refused_not_read_as_zero(
        page: Any, sealed: dict) -> None:  # noqa: F811
    doc = json.loads(sealed["raw"])
    registry = sealed["dep"].address("CodeRegistry")
    acct = next(a for a in doc["state"] if a["address"] == registry)
    # A slot of the lot's record on CodeRegistry (the first non-zero one: the GTIN's empty
    # conditions count is proven there too)
    acct["storage"].remove(next(s for s in acct["storage"] if int(s["value"], 16)))
    raw = canonical_json(doc)
    got = _in_browser(page, raw, trust=sealed["hash"], manifest=sealed["manifest"])
    python = check(raw, sealed)
    assert got["result"] == python.kind == "REFUSED"
    assert "does not prove storage slot" in got["reason"]
    assert got["place"] == python.place == "evidence.registration.lot"


def test_attack_witness_leaving_an_account_out_is_refused(page: Any, sealed: dict) -> None:  # noqa: F811
    doc = json.loads(sealed["raw"])
    anchor = sealed["dep"].address("TraceAnchor")
    doc["state"] = [a for a in doc["state"] if a["address"] != anchor]
    raw = canonical_json(doc)
    got = _in_browser(page, raw, trust=sealed["hash"], manifest=sealed["manifest"])
    python = check(raw, sealed)
    assert got["result"] == python.kind == "REFUSED"
    assert got["place"] == python.place == "chain.contracts.TraceAnchor"


def test_attack_single_byte_changes_across_the_file_agree_with_python(
        page: Any, sealed: dict) -> None:  # noqa: F811
    """A sample of one-bit changes spread over the whole file: the page never says GENUINE, and
    gives the Python checker's result."""
    raw = sealed["raw"]
    for i in range(0, len(raw), len(raw) // 24):
        tampered = bytearray(raw)
        tampered[i] ^= 0x01
        got = _in_browser(page, bytes(tampered), trust=sealed["hash"], manifest=sealed["manifest"])
        python = check(bytes(tampered), sealed)
        assert got["result"] != "GENUINE", (i, raw[max(0, i - 30):i + 10])
        assert got["result"] == python.kind, (i, got["result"], got["reason"], python.reason)


def test_attack_another_code_spelling_or_registration_gtin_agrees_with_python(
        page: Any, sealed: dict) -> None:  # noqa: F811
    """Two one-byte changes the every-byte sweep found verifying as genuine (another host in
    the code, another GTIN in the registration): the page refuses or fails them as Python does."""
    doc = json.loads(sealed["raw"])
    other_host = json.loads(sealed["raw"])
    other_host["evidence"]["code"] = doc["evidence"]["code"].replace("id.gs1.org", "id.gs1.orf")
    other_gtin = json.loads(sealed["raw"])
    gtin = doc["evidence"]["registration"]["gtin"]
    other_gtin["evidence"]["registration"]["gtin"] = "1" + gtin[1:]
    for bad, result, place in ((other_host, "REFUSED", "evidence.code"),
                               (other_gtin, "COUNTERFEIT", "evidence.registration")):
        raw = canonical_json(bad)
        python = check(raw, sealed)
        got = _in_browser(page, raw, trust=sealed["hash"], manifest=sealed["manifest"])
        assert got["result"] == python.kind == result, (got["reason"], python.reason)
        assert _place(got) == _place(python) == place
