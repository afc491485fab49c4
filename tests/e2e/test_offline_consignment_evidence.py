"""The offline evidence page checks sealed CONSIGNMENTS (zhenzhi-sealed-consignment v1), in the
members' view and a bank's (`--for bank`), as `zhenzhi verify-evidence` does.

A real headless Chromium opens verifier/static/evidence.html from file:// in an offline context
(every non-file request aborted and recorded); the bundles are built on anvil by the CLI and by
`verifier.sealed.seal` (`tests/integration/sealed_env.py`, the anvil stopped before any check).
The page's report must equal the Python checker's on the same bytes: the result, every check
(name, outcome, reason, subject, details), customs' decisions, the signed story, the trade
documents, the lots and the organisations; a recall after clearance is a later fact; an
untrusted block or another deployment is unproven; one altered byte is refused, or reported
as not genuine, at the place the Python checker names.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ledger.evidence.sealed import canonical_json
from ledger.proofs.merkle import keccak256
from tests.e2e.test_offline_evidence import (  # noqa: F401 - fixtures
    ARTIFACTS,
    PAGE,
    _context_flips,
    _flip_hex,
    _in_browser,
    _place,
    _respelt,
    browser,
    page,
)
from tests.integration.sealed_env import check, network_off, sealed_consignment  # noqa: F401
from verifier.sealed import NOT_CARRIED_CONSIGNMENT, NOT_DISCLOSED_TRADE

pytestmark = [pytest.mark.browser, pytest.mark.chain]

# The page's keys for what it could not check, and the Python checker's words for them.
NOT_CHECKED = dict(zip(("withheld", "assembled", "tradeFields", "tradeLots", "tradeCovered"),
                       NOT_CARRIED_CONSIGNMENT + NOT_DISCLOSED_TRADE, strict=True))
VERDICT_PARTS = ("verdict", "reason", "code", "chainId", "blockNumber", "checkedAt", "checks",
                 "decisions", "lots", "story", "documents", "organisations")


def _agrees(got: dict[str, Any], python: Any) -> bool:
    """The page's refusal says what the Python checker's says: the same result at the same
    place, or one known refinement, still a refusal: where Python's bundle reader names only
    the evidence or a field of it ("evidence", "evidence (disclosure.proof)"), the page names
    the exact element ("evidence.events[13].disclosures[14].proof[4]")."""
    page_place, python_place = _place(got), _place(python)
    if got["result"] == python.kind and page_place == python_place:
        return True
    if python.kind == "REFUSED" and got["result"] == "REFUSED" and (page_place or "").startswith(
            "evidence.") and re.fullmatch(r"evidence( \(.+\))?", python_place or ""):
        field = re.fullmatch(r"evidence(?: \((.+)\))?", python_place or "").group(1)  # type: ignore[union-attr]
        parts = [re.sub(r"\[\d+\]", "", x) for x in page_place.split(".")]  # type: ignore[union-attr]
        return field is None or field.split(".")[-1] in parts
    return False


def _views(s: dict) -> dict[str, tuple[bytes, bytes]]:
    return {"full": (s["raw"], s["hash"]), "trade": (s["trade"], s["trade_hash"])}


def _same_report(got: dict[str, Any], python: Any) -> None:
    """The page's report says what the Python checker's says, part by part."""
    want = python.to_json()
    assert got["result"] == want["result"], (got["reason"], want["reason"])
    assert got["reason"] == want["reason"]
    assert got["kind"] == want["kind"] == "consignment"
    for part in VERDICT_PARTS:
        assert got["verdict"][part] == want["verdict"][part], part
    assert got["failures"] == want["failures"]
    assert [NOT_CHECKED[k] for k in got["notChecked"]] == want["notChecked"]
    assert got["block"]["hash"] == want["block"]["hash"]
    assert got["block"]["number"] == want["block"]["number"]
    assert got["block"]["confirmed"] == want["block"]["confirmed"]
    assert got["deployment"]["contracts"] == want["deployment"]["contracts"]


@pytest.mark.parametrize("view", ["full", "trade"])
def test_consignment_evidence_is_genuine_offline_with_the_python_report(
        page: Any, sealed_consignment: dict, view: str) -> None:  # noqa: F811
    raw, trust = _views(sealed_consignment)[view]
    python = check(raw, sealed_consignment, trust=trust)
    got = _in_browser(page, raw, trust=trust, manifest=sealed_consignment["manifest"])
    assert python.kind == "GENUINE" and got["result"] == "GENUINE", got["reason"]
    _same_report(got, python)
    assert got["disclosure"] == view
    v = got["verdict"]
    assert v["decisions"] and v["decisions"][-1]["released"] is True
    assert {"po", "inv", "bol"} <= set(v["documents"])  # the documents a bank sees
    assert (v["lots"] != []) is (view == "full")  # a bank's view discloses no lot
    assert got["calls"] > 0
    events = len(json.loads(raw)["evidence"]["events"])
    print(f"\noffline page: a {view} consignment of {events} events, {len(raw)} bytes, checked "
          f"in {got['ms']:.0f} ms ({got['calls']} calls in the page's EVM)")


def test_recall_after_clearance_is_a_later_fact_not_a_rewrite(
        page: Any, sealed_consignment: dict) -> None:  # noqa: F811
    s = sealed_consignment
    after, again = s["after"], s["again"]
    python = check(after.dumps(), s, trust=after.block_hash)
    got = _in_browser(page, after.dumps(), trust=after.block_hash, manifest=s["manifest"])
    assert got["result"] == python.kind == "RECALLED"
    _same_report(got, python)
    recalled = [x for x in got["verdict"]["lots"] if x["status"] == "recalled"]
    assert [x["lot"] for x in recalled] == [s["lot"].ref.lot]
    # The signed story and customs' decision stand as recorded.
    assert got["verdict"]["story"] == check(again.dumps(), s, trust=again.block_hash).to_json()[
        "verdict"]["story"]
    python = check(again.dumps(), s, trust=again.block_hash)
    got = _in_browser(page, again.dumps(), trust=again.block_hash, manifest=s["manifest"])
    assert got["result"] == python.kind == "GENUINE"
    _same_report(got, python)


@pytest.mark.parametrize("view", ["full", "trade"])
def test_untrusted_block_or_another_deployment_is_unproven(
        page: Any, sealed_consignment: dict, view: str) -> None:  # noqa: F811
    s = sealed_consignment
    raw, trust = _views(s)[view]
    none = _in_browser(page, raw, trust=None, manifest=s["manifest"])
    python = check(raw, s, trust=None)
    assert none["result"] == python.kind == "UNVERIFIED"
    assert none["reason"] == python.reason
    assert none["unproven"] == "unconfirmed-block" and none["verdict"]["verdict"] == "GENUINE"
    wrong = keccak256(b"another block")
    got = _in_browser(page, raw, trust=wrong, manifest=s["manifest"])
    python = check(raw, s, trust=wrong)
    assert got["result"] == python.kind == "UNVERIFIED" and got["reason"] == python.reason
    dep = s["dep"]
    got = _in_browser(page, raw, trust=trust, manifest=s["manifest"], chain_id=dep.chainId + 1)
    python = check(raw, s, trust=trust, manifest=replace(dep, chainId=dep.chainId + 1))
    assert got["result"] == python.kind == "UNVERIFIED" and got["reason"] == python.reason
    assert f"the bundle is for chain {dep.chainId}" in got["reason"]


def _regions(doc: dict[str, Any]) -> dict[str, tuple[str, int]]:
    ev = doc["evidence"]
    full = "event" in ev["events"][0]
    with_proof = next(i for i, e in enumerate(ev["events"]) if e["proof"])
    claim = next(c for c in ev["customs"] if c["proof"])
    acct = next(i for i, a in enumerate(doc["state"]) if a["storage"])
    storage = doc["state"][acct]["storage"]
    nonzero = next(j for j, s in enumerate(storage) if int(s["value"], 16))
    salt = json.loads(ev["events"][1]["disclosures"][2]["text"])[0]
    out = {
        "event field": (ev["events"][0]["event"]["eventTime"], 3) if full else (salt, 6),
        "disclosure salt": (salt, 4),
        "event proof node": (ev["events"][with_proof]["proof"][0], 10),
        "customs proof node": (claim["proof"][0], 10),
        "consignment key": (ev["consignment"]["key"], 20),
        "anchor proof node": (ev["captures"][0]["anchor"]["proof"][0], 12),
        "signature": (ev["captures"][0]["signature"], 40),
        "header": (doc["block"]["header"], 200),
        "block hash": (doc["block"]["hash"], 10),
        "account proof node": (doc["state"][acct]["accountProof"][1], 80),
        "storage proof node": (storage[0]["proof"][0], 80),
        "storage value": (storage[nonzero]["value"], 65),
        "code": (doc["state"][acct]["code"], 300),
    }
    if not full:  # a bank's view: a disclosed trade document's text
        text = next(d["text"] for e in ev["events"] for d in e["disclosures"]
                    if '"bizTransactionList"' in d["text"])
        out["trade document"] = (json.loads(text)[0], 8)
    return out


REGIONS = ["event field", "disclosure salt", "event proof node", "customs proof node",
           "consignment key", "anchor proof node", "signature", "header", "block hash",
           "account proof node", "storage proof node", "storage value", "code"]


@pytest.mark.parametrize("view,region", [("full", r) for r in REGIONS]
                         + [("trade", r) for r in [*REGIONS, "trade document"]])
def test_attack_one_altered_byte_is_refused_at_the_place_python_names(
        page: Any, sealed_consignment: dict, view: str, region: str) -> None:  # noqa: F811
    s = sealed_consignment
    raw, trust = _views(s)[view]
    needle, offset = _regions(json.loads(raw))[region]
    tampered = _flip_hex(raw, needle, offset)
    python = check(tampered, s, trust=trust)
    got = _in_browser(page, tampered, trust=trust, manifest=s["manifest"])
    assert python.kind != "GENUINE" and got["result"] != "GENUINE", (region, python.reason)
    assert got["result"] == python.kind, (region, got["reason"], python.reason)
    assert _place(got) == _place(python), (region, _place(got), _place(python), got["reason"])


@pytest.mark.parametrize("view", ["full", "trade"])
def test_attack_single_byte_changes_across_the_file_agree_with_python(
        page: Any, sealed_consignment: dict, view: str) -> None:  # noqa: F811
    """One-bit changes spread over the whole file: never GENUINE, always the Python result."""
    s = sealed_consignment
    raw, trust = _views(s)[view]
    for i in range(7, len(raw), len(raw) // 24):
        tampered = bytearray(raw)
        tampered[i] ^= 0x01
        got = _in_browser(page, bytes(tampered), trust=trust, manifest=s["manifest"])
        python = check(bytes(tampered), s, trust=trust)
        assert got["result"] != "GENUINE", (i, raw[max(0, i - 30):i + 10])
        assert _agrees(got, python), (i, got["result"], _place(got), got["reason"],
                                      python.kind, _place(python), python.reason)


@pytest.mark.parametrize("flip", ["namespace IRI", "namespace prefix"])
def test_attack_one_character_of_an_event_context_is_refused_at_the_place_python_names(
        page: Any, sealed_consignment: dict, flip: str) -> None:  # noqa: F811
    """A members' view: an event's context (e.g. "https://ns.zhenzhi.example/epcis/") is bound
    only through its CBV event hash, which the page recomputes as Python does."""
    s = sealed_consignment
    tampered, place = _context_flips(s["raw"])[flip]
    python = check(tampered, s, trust=s["hash"])
    got = _in_browser(page, tampered, trust=s["hash"], manifest=s["manifest"])
    assert python.kind != "GENUINE" and _place(python) == place, (python.kind, python.reason)
    assert got["result"] == python.kind, (got["result"], got["reason"], python.reason)
    assert _place(got) == place, (_place(got), got["reason"])


def test_attack_another_spelling_of_an_events_key_is_refused_as_in_python(
        page: Any, sealed_consignment: dict) -> None:  # noqa: F811
    s = sealed_consignment
    tampered, place = _respelt(s["raw"])
    python = check(tampered, s, trust=s["hash"])
    got = _in_browser(page, tampered, trust=s["hash"], manifest=s["manifest"])
    assert python.kind == got["result"] == "REFUSED"
    assert python.place == got["place"] == place
    assert got["reason"] == python.reason


def test_attack_relabelled_views_and_a_borrowed_key_are_refused(
        page: Any, sealed_consignment: dict) -> None:  # noqa: F811
    s = sealed_consignment
    doc = json.loads(s["raw"])
    doc["evidence"]["disclosure"] = "trade"  # full events sold as a bank's view: lots unread
    for raw in (canonical_json(doc),):
        python = check(raw, s)
        got = _in_browser(page, raw, trust=s["hash"], manifest=s["manifest"])
        assert got["result"] == python.kind == "REFUSED"
        assert got["place"] == python.place == "evidence (disclosure)"
    # Another consignment's key under this reference: consignment.id fails.
    doc = json.loads(s["raw"])
    doc["evidence"]["consignment"]["key"] = "0x" + keccak256(b"another").hex()
    raw = canonical_json(doc)
    python = check(raw, s)
    got = _in_browser(page, raw, trust=s["hash"], manifest=s["manifest"])
    assert python.kind != "GENUINE" and got["result"] == python.kind
    assert _place(got) == _place(python)


@pytest.mark.parametrize("lang,title,decisions,bol", [
    ("en", "Genuine", "Customs decisions", "Bill of lading"),
    ("zh-Hans", "正品", "海关在 CustomsRelease 上的决定", "提单"),
])
def test_a_bank_drops_its_view_on_the_page_and_reads_the_report(
        browser: Any, sealed_consignment: dict, tmp_path: Path, lang: str, title: str,  # noqa: F811
        decisions: str, bol: str) -> None:
    s = sealed_consignment
    bundle = tmp_path / "bank.json"
    bundle.write_bytes(s["trade"])
    ctx = browser.new_context(offline=True, viewport={"width": 900, "height": 1400})
    outside: list[str] = []
    ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file://")
              else (outside.append(r.request.url), r.abort()))
    p = ctx.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.goto(PAGE.as_uri() + f"?lang={lang}")
    p.set_input_files("#bundle", str(bundle))
    p.wait_for_selector("body[data-state=done]")
    assert p.locator("#verdict").get_attribute("data-result") == "UNVERIFIED"
    p.fill("#trust", "0x" + s["trade_hash"].hex())
    p.set_input_files("#manifest", str(s["manifest"]))
    p.wait_for_selector("#verdict[data-result=GENUINE]")
    assert p.locator("#verdict h1").inner_text().strip() == title
    assert p.locator("#what .view").get_attribute("data-disclosure") == "trade"
    assert decisions in p.locator("#decisions h2").inner_text()
    assert p.locator("#decisions li[data-released=true]").count() == 1
    python = check(s["trade"], s, trust=s["trade_hash"]).consignment
    assert python is not None
    assert p.locator("#story li").count() == len(python.story)
    assert bol in p.locator("#documents").inner_text()
    assert p.locator("#lots").count() == 0  # a bank's view discloses no lot
    assert p.locator("#not-checked li").count() == len(NOT_CARRIED_CONSIGNMENT + NOT_DISCLOSED_TRADE)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    p.screenshot(path=str(ARTIFACTS / f"consignment-bank-{lang}.png"), full_page=True)
    assert not outside, outside
    assert not errors, errors
    ctx.close()
