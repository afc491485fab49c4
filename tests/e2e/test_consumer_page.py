"""The consumer page in a real headless Chromium: one page per verdict and per language, with
screenshots under test-artifacts/consumer-page/ (gitignored) for a human to look at.

The verdicts here come from `decide` over checks shaped as `verify` makes them; the page must
show the verdict first in the reader's language, the recall banner, the timeline, the fields,
the scan count and a complaint form that posts to the gateway, and CJK must render as glyphs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ledger.proofs.bundle import Bundle, CaptureEvidence, ChainRef, EventEvidence, ScanRecord
from ledger.proofs.capture import CaptureSignature
from ledger.proofs.disclosure import Disclosed, commit_event
from verifier.page import LANGUAGES, render_page, strings
from verifier.verdict import Check, CheckName, Outcome, VerdictKind, decide

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("ZHENZHI_CHROMIUM") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
if CHROMIUM is None:
    pytest.skip("no Chromium: set ZHENZHI_CHROMIUM or `apt-get install chromium "
                "fonts-wqy-microhei`", allow_module_level=True)

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "consumer-page"
CODE = "https://id.gs1.org/01/09421000000017/21/Xk3-pQ9aZ2mB"
P, F, M = Outcome.PASS, Outcome.FAIL, Outcome.MISSING


def _event(step: str, day: int, loc: str, **extra) -> dict:
    return {"type": "ObjectEvent", "eventTime": f"2026-03-{day:02d}T09:30:00.000+12:00",
            "eventTimeZoneOffset": "+12:00", "action": "OBSERVE",
            "epcList": [CODE], "bizStep": step, "bizLocation": {"id": loc}, **extra}


def _bundle() -> Bundle:
    sig = CaptureSignature(b"\x01" * 32, 1, b"\x02" * 32, 1, 1, b"\x03" * 65)
    steps = [("commissioning", 1, "https://id.gs1.org/414/9421000000016"),
             ("shipping", 3, "https://id.gs1.org/414/9421000000016"),
             ("arriving", 12, "https://id.gs1.org/414/6901234000017"),
             ("inspecting", 13, "https://id.gs1.org/414/6901234000017"),
             ("receiving", 15, "https://id.gs1.org/414/6901234000024"),
             ("retail_selling", 20, "https://id.gs1.org/414/6901234000031")]
    events = []
    for i, (s, d, loc) in enumerate(steps):
        event, event_id = _event(s, d, loc), bytes([i]) * 32
        committed = commit_event(event, event_id, b"\x07" * 32, i)
        if i < len(steps) - 1:  # a member's full event
            events.append(EventEvidence(committed.commitment, 0, (),
                                        tuple(Disclosed(t) for t in committed.texts), event,
                                        event_id))
        else:  # a public one: only what the page shows, each field with its path
            events.append(EventEvidence(committed.commitment, 0, (), tuple(committed.disclose(
                lambda name, _: name in ("bizStep", "eventTime", "bizLocation")))))
    events = tuple(events)
    return Bundle(CODE, ChainRef(31337, {}), None, (CaptureEvidence(sig, None, None),), events,
                  scans=(ScanRecord(1, "CN-31"), ScanRecord(2, "CN-31")))


def _checks(kind: VerdictKind) -> list[Check]:
    base = [Check(CheckName.CODE_FORMAT, P, "GTIN 09421000000017, serial Xk3-pQ9aZ2mB"),
            Check(CheckName.CODE_REGISTERED, P, "registered in lot L2026-03",
                  details={"lot": "L2026-03"}),
            Check(CheckName.CAPTURE_ANCHORED, P, "anchored in block 42"),
            Check(CheckName.CUSTOMS_DECISION, P, "imported from NZ: customs DIRECT_RELEASE",
                  details={"decision": "DIRECT_RELEASE", "inspection": "NOT_INSPECTED"})]
    lot = Check(CheckName.LOT_STATUS, P, "lot L2026-03 is active", fails_as=VerdictKind.RECALLED,
                details={"status": "active"})
    extra = {
        VerdictKind.GENUINE: [],
        VerdictKind.UNVERIFIED: [Check(CheckName.CAPTURE_ANCHORED, M,
                                       "a capture is not anchored on the chain yet")],
        VerdictKind.RECALLED: [],
        VerdictKind.SUSPECTED_CLONE: [Check(CheckName.SCAN_HISTORY, F,
                                            "scanned in 5 regions within 30 days after its sale",
                                            fails_as=VerdictKind.SUSPECTED_CLONE)],
        VerdictKind.COUNTERFEIT: [Check(CheckName.EVENT_ID, F, "an event's content does not "
                                        "hash to its id: it was altered after capture")],
    }[kind]
    if kind is VerdictKind.RECALLED:
        lot = Check(CheckName.LOT_STATUS, F, "lot L2026-03 is recalled",
                    fails_as=VerdictKind.RECALLED, details={"status": "recalled"})
    return [*base, lot, *extra]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                               args=["--no-sandbox", "--disable-gpu",
                                     "--disable-background-networking"])
        yield b
        b.close()


def test_a_cjk_font_is_installed() -> None:
    # Without one, Chinese renders as tofu boxes and the screenshots prove nothing.
    if shutil.which("fc-list") is None:
        pytest.skip("fontconfig is not installed")
    out = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, check=True)
    assert out.stdout.strip(), "no font covers Chinese: apt-get install fonts-wqy-microhei"


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("kind", list(VerdictKind))
def test_page_shows_the_verdict_first_in_the_readers_language(browser, kind, lang) -> None:
    verdict = decide(CODE.removeprefix("https://id.gs1.org/"), _checks(kind), chain_id=31337,
                     block_number=42)
    assert verdict.kind is kind
    maker = "0x" + b"9421000000016".hex().ljust(64, "0")
    html = render_page(verdict, _bundle(), {
        "productName": {"value": {"zh-Hans": "婴儿配方奶粉", "en": "Infant formula"}, "by": maker},
        "originCountry": {"value": "NZ", "by": maker, "country": "NZ"}}, lang, scan_count=7,
        complaint_url="/complaints", names={maker: "Kōwhai Valley Nutrition Ltd"})
    requests: list[str] = []
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page.on("request", lambda r: requests.append(r.url))
    page.set_content(html, wait_until="load")
    t = strings()[lang]

    label = page.locator("#verdict h1")
    assert label.inner_text().strip() == t[f"verdict.{kind}"]
    # Verdict first: the banner is the topmost section on screen.
    assert page.locator("main > section").first.get_attribute("id") == "verdict"
    assert label.bounding_box()["y"] < 80
    # Each language's verdict label is real glyphs, not tofu: its rendered width is close to
    # that of the same number of ideographs at that size.
    if lang != "en":
        width = label.bounding_box()["width"]
        size = float(label.evaluate("e => parseFloat(getComputedStyle(e).fontSize)"))
        assert width >= 0.8 * size * len(t[f"verdict.{kind}"])

    banner = page.locator("#recall")
    if kind is VerdictKind.RECALLED:
        assert banner.is_visible() and "L2026-03" in banner.inner_text()
    else:
        assert banner.count() == 0
    stages = page.locator("ol.timeline li").evaluate_all("els => els.map(e => e.dataset.stage)")
    assert stages == ["origin", "export", "port_of_entry", "customs", "customs_decision",
                      "warehouse", "sale"]
    assert t["stage.port_of_entry"] in page.locator("#journey").inner_text()
    fields = page.locator("#fields").inner_text()
    assert t["country.NZ"] in fields and t["field.originCountry"] in fields
    assert ("Infant formula" if lang == "en" else "婴儿配方奶粉") in fields
    assert t["by.org"].format(org="Kōwhai Valley Nutrition Ltd") in fields
    assert "7" in page.locator("#scans").inner_text()
    form = page.locator("#complaint form")
    assert form.get_attribute("method") == "post" and form.get_attribute("action") == "/complaints"
    assert page.locator("#complaint input[name=code]").get_attribute("value") == verdict.code
    # Self-contained: no request leaves the page (no CDN, fonts or scripts).
    assert [u for u in requests if not u.startswith(("about:", "data:"))] == []
    assert page.locator("script").count() == 0

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{kind.value.lower()}-{lang}.png"), full_page=True)
    page.close()
