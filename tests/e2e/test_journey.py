"""The main job end to end, as a new user meets it: `zhenzhi demo` on a fresh anvil (its own,
deployed) and SQLite in a temporary var/, then the pages it prints, in a real headless
Chromium. Screenshots go to test-artifacts/e2e/ (gitignored) for a human to look at.

What is asserted comes from the chain, the store and the pages, not from the demo's own
claims: the verdicts are read off the consumer pages, the customs decisions off
CustomsRelease, the members off the console's table.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.trade.profile import FIELDS
from tests.conftest import AnvilProcess, free_port
from verifier.page import strings

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("ZHENZHI_CHROMIUM") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"


class Stack:
    def __init__(self, anvil: AnvilProcess, var: Path, manifest: Path) -> None:
        self.anvil = anvil
        self.var = var
        self.manifest = manifest
        self.result: Any = None
        self.url = ""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A fresh devnet, the contracts deployed as `scripts/run` does, and the demo played into a
    new var/ with its gateway serving for the module's tests."""
    from eth_account import Account
    from rich.console import Console

    from gateway.demo.serving import demo_gateway
    from ledger.chain.deployment import deploy
    from ledger.chain.transactor import Transactor, anvil_dev_key

    root = tmp_path_factory.mktemp("e2e")
    anvil = AnvilProcess(root / "devnet", free_port())
    anvil.up()
    try:
        var = root / "var"
        manifest = var / "deployment.json"
        deploy(Transactor(anvil.web3(), Account.from_key(anvil_dev_key(0)))).save(manifest)
        s = Stack(anvil, var, manifest)
        console = Console(file=open(os.devnull, "w"), width=120)  # noqa: SIM115 - closed below
        try:
            with demo_gateway(var, rpc_url=anvil.url, manifest=manifest, port=free_port(),
                              console=console) as (result, url):
                s.result, s.url = result, url
                yield s
        finally:
            console.file.close()
    finally:
        anvil.down()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("no Chromium: set ZHENZHI_CHROMIUM or `apt-get install chromium "
                    "fonts-wqy-microhei`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                               args=["--no-sandbox", "--disable-gpu",
                                     "--disable-background-networking"])
        yield b
        b.close()


def _open(browser: Any, url: str, shot: str, *, width: int = 390,
          lang: str | None = None) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport={"width": width, "height": 844}, locale=lang or "zh-CN",
                            extra_http_headers={"Accept-Language": lang or "zh-CN"})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    response = page.goto(url, wait_until="load")
    assert response is not None and response.status == 200, url
    if "/01/" in url:  # the shopper's page: wait for the browser's own verification
        page.wait_for_selector("body[data-state=done]", timeout=60_000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{shot}.png"), full_page=True)
    return page, requests


def _foreign(stack: Stack, requests: list[str]) -> list[str]:
    """Requests to anywhere but the gateway and the consortium node the page was told of."""
    return [u for u in requests if not u.startswith((stack.url, stack.anvil.url))]


SHOPPER_LANGS = {"zh-Hans": "zh-CN", "zh-Hant": "zh-TW", "en": "en"}


def test_the_chain_holds_what_the_journey_did(stack: Stack) -> None:
    """Four consignments, three different customs decisions, read back from CustomsRelease;
    the recalled lot recalled on CodeRegistry; every capture anchored."""
    from ledger.chain.client import Chain
    from ledger.chain.deployment import Deployment
    from ledger.store.store import Store
    from ledger.trade.customs import consignment_key

    chain = Chain(stack.anvil.web3(), Deployment.load(stack.manifest))
    decided = {}
    for k in stack.result.consignments:
        latest = chain.latest_decision(consignment_key(k["ref"]))
        assert latest is not None, k["ref"]
        decided[k["ref"]] = (latest.decision.name, latest.inspection)
    assert sorted(d for d, _ in decided.values()) == [
        "DIRECT_RELEASE", "IMMEDIATE_CONTROL", "NORMAL_CONTROL", "NORMAL_CONTROL"]
    # The chilled butter, graded A with an inspection history, is controlled for the reefer's
    # breach alone (rules v2), inspected and released.
    from gateway.demo.story import CHILLED

    assert decided[CHILLED.ref] == ("NORMAL_CONTROL", "PASSED")
    (chilled,) = [k for k in stack.result.consignments if k["ref"] == CHILLED.ref]
    assert chilled["rules"] == ["cold-chain-breach"] and chilled["coldChainBreaches"] == 1
    assert ("NORMAL_CONTROL", "PASSED") in decided.values()  # controlled, inspected, released
    held = [k for k in stack.result.consignments if not k["released"]]
    assert [decided[k["ref"]][0] for k in held] == ["IMMEDIATE_CONTROL"]

    # The recalled can's lot is recalled on CodeRegistry, and no other lot is.
    recalled = stack.result.items["recalled"]
    recalled_lot = _lot_of(stack, recalled["gtin"], recalled["serial"])
    statuses = {(g, x): chain.lot(g, x).status for g, x in _lots(stack)}
    assert [k for k, v in statuses.items() if v != "ACTIVE"] == [(recalled["gtin"], recalled_lot)]
    assert statuses[(recalled["gtin"], recalled_lot)] == "RECALLED"

    store = Store(f"sqlite:///{stack.var / 'zhenzhi.db'}")
    try:
        with store.engine.connect() as conn:
            from sqlalchemy import func, select

            from ledger.store.tables import captures, outbox

            assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 0
            assert conn.execute(select(func.count()).select_from(captures).where(
                captures.c.batch_id.is_(None))).scalar_one() == 0
    finally:
        store.close()


def _query(stack: Stack, query: Any) -> list[tuple[Any, ...]]:
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{stack.var / 'zhenzhi.db'}")
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(query)]
    finally:
        engine.dispose()


def _lots(stack: Stack) -> list[tuple[str, str]]:
    from sqlalchemy import select

    from ledger.store.tables import codes

    return _query(stack, select(codes.c.gtin, codes.c.lot).distinct())  # type: ignore[return-value]


def _lot_of(stack: Stack, gtin: str, serial: str) -> str:
    from sqlalchemy import select

    from ledger.store.tables import codes

    (lot,), = _query(stack, select(codes.c.lot).where(codes.c.gtin == gtin,
                                                      codes.c.serial == serial))
    return str(lot)


def test_each_consumer_saw_the_verdict_at_the_time_of_their_scan(stack: Stack) -> None:
    # Read off the consumer page while the demo played: the recall scan came right after the
    # recall's block, the clone's last scan was its fourth country.
    assert {k: v["verdict"] for k, v in stack.result.items.items()} == {
        "genuine": "GENUINE", "clone": "SUSPECTED_CLONE", "recalled": "RECALLED",
        "chilled": "GENUINE"}


def test_keys_are_encrypted_and_labels_are_printed(stack: Stack) -> None:
    keys = stack.var / "keys"
    passphrase = keys / ".passphrase"
    assert passphrase.stat().st_mode & 0o777 == 0o600
    files = sorted(keys.glob("*.json"))
    # Each member's key, plus the operator's two gas payers: the anchorer and the console's
    # lot-registration relayer.
    assert {f.stem for f in files} == {m["key"] for m in stack.result.members} | {
        "operator-anchorer", "operator-relayer"}
    for f in files:
        assert f.stat().st_mode & 0o777 == 0o600
        assert '"crypto"' in f.read_text() and "privateKey" not in f.read_text()
    sheets = sorted((stack.var / "labels").glob("labels-*.pdf"))
    assert len(sheets) == stack.result.counts["lots"] > 0
    assert all(s.read_bytes().startswith(b"%PDF") for s in sheets)
    for name in ("genuine", "clone", "recalled", "chilled"):
        assert (stack.var / "labels" / f"item-{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in (stack.var / "labels" / f"item-{name}.svg").read_bytes()[:400]


def test_genuine_page_shows_genuine_and_the_whole_journey(stack: Stack, browser: Any) -> None:
    item = stack.result.items["genuine"]
    page, requests = _open(browser, stack.url + item["path"], "genuine")
    verdict = page.locator("#verdict")
    assert verdict.is_visible() and verdict.get_attribute("data-verdict") == "GENUINE"
    stages = page.locator("#journey li").evaluate_all("els => els.map(e => e.dataset.stage)")
    for stage in ("origin", "export", "port_of_entry", "customs", "warehouse", "sale"):
        assert stage in stages, stages
    assert page.locator("#recall").count() == 0
    # Each step says who said it, by the name the consortium admitted it under (read on chain).
    assert "Kōwhai Valley Nutrition" in page.locator("#journey").inner_text()
    # The verdict is the browser's: it asked the node itself, and nothing else anywhere.
    assert any(u.startswith(stack.anvil.url) for u in requests)
    assert _foreign(stack, requests) == []
    page.close()


@pytest.mark.parametrize("name,verdict", [("genuine", "GENUINE"), ("clone", "SUSPECTED_CLONE"),
                                          ("recalled", "RECALLED")])
def test_the_shoppers_page_in_three_languages_at_phone_size(stack: Stack, browser: Any,
                                                           name: str, verdict: str) -> None:
    item = stack.result.items[name]
    for lang, accept in SHOPPER_LANGS.items():
        page, _ = _open(browser, stack.url + item["path"], f"{name}-{lang}", lang=accept)
        assert page.evaluate("document.documentElement.lang") == lang
        assert page.locator("#verdict").get_attribute("data-verdict") == verdict
        # The traceability table: every field the import platforms publish, named in the
        # shopper's language, each with who said it, places and parties by name, not link.
        t = strings()[lang]
        shown = page.locator("#fields dt").evaluate_all("els => els.map(e => e.dataset.field)")
        # A consignment released without inspection has no inspection time (the recalled
        # can's); the genuine can's was inspected at the yard.
        expected = set(FIELDS) - ({"inspectionTime"} if name == "recalled" else set())
        assert set(shown) >= expected, sorted(expected - set(shown))
        assert page.locator("#fields dt").all_inner_texts() == [t["field." + k] for k in shown]
        assert page.locator("#fields dd .by").count() == len(shown)
        table = page.locator("#fields").inner_text()
        assert "https://" not in table and "0x" not in table, table
        assert ("新西兰" if lang == "zh-Hans" else "紐西蘭" if lang == "zh-Hant"
                else "New Zealand") in table
        # The bonded warehouse is the one past the border, not the exporter's in Auckland.
        bonded = page.locator("#fields dd[data-field=warehouse] .value").inner_text()
        assert ("Nansha" if lang == "en" else "南沙") in bonded, bonded
        page.close()


def test_the_chilled_packs_page_shows_the_reefers_breach_in_three_languages(
        stack: Stack, browser: Any) -> None:
    """The chilled butter's page: the browser computes the cold-chain section from the
    verified events (the carrier's signed reefer log on the pallets) and the brand's signed
    conditions, and says what the Python verifier says of the same public proof."""
    from ledger.chain.deployment import Deployment
    from ledger.chain.view import ChainView
    from ledger.proofs.bundle import Bundle
    from verifier.coldchain import describe
    from verifier.verify import verify

    item = stack.result.items["chilled"]
    proof = httpx.get(stack.url + item["path"], headers={"Accept": "application/json"},
                      timeout=30).json()
    view = ChainView(stack.anvil.web3(), Deployment.load(stack.manifest), max_staleness=0.0)
    python = verify(item["code"], Bundle.from_json(proof), view)
    assert python.genuine, python.reason
    section = python.cold_chain
    assert section["status"] == "breach", section
    (breach,) = section["breaches"]
    assert breach["reading"]["value"] == 9.0 and breach["minutesOutside"] == 240
    for lang, accept in SHOPPER_LANGS.items():
        page, _ = _open(browser, stack.url + item["path"], f"chilled-{lang}", lang=accept)
        assert page.locator("#verdict").get_attribute("data-verdict") == "GENUINE"
        cold = page.locator("#coldchain")
        assert cold.is_visible() and cold.get_attribute("data-status") == "breach"
        shown = cold.inner_text()
        assert describe(section, lang)[0] in shown, (lang, shown)
        cold.screenshot(path=str(ARTIFACTS / f"chilled-coldchain-{lang}.png"))
        page.close()
    # A formula can, with no conditions signed for its GTIN, shows no breach.
    page, _ = _open(browser, stack.url + stack.result.items["genuine"]["path"], "genuine-cold")
    assert page.locator("#coldchain[data-status=breach]").count() == 0
    page.close()


def test_cloned_code_is_suspected(stack: Stack, browser: Any) -> None:
    item = stack.result.items["clone"]
    page, _ = _open(browser, stack.url + item["path"], "clone")
    assert page.locator("#verdict").get_attribute("data-verdict") == "SUSPECTED_CLONE"
    page.close()


def test_recalled_can_shows_the_recall_banner(stack: Stack, browser: Any) -> None:
    item = stack.result.items["recalled"]
    page, _ = _open(browser, stack.url + item["path"], "recalled")
    assert page.locator("#verdict").get_attribute("data-verdict") == "RECALLED"
    banner = page.locator("#recall")
    assert banner.is_visible()
    assert _lot_of(stack, item["gtin"], item["serial"]) in banner.inner_text()
    page.close()


def _log_in_with_keystore(stack: Stack, browser: Any, who: str, *, lang: str = "zh-CN",
                          passphrase: str | None = None) -> tuple[Any, list[str]]:
    """Open /console (the log-in page without a session), pick `var/keys/<who>.json` and type
    the demo's passphrase: the page unlocks the key itself and signs the SIWE message."""
    page, requests = _open(browser, stack.url + "/console", f"console-login-{who}",
                           width=1280, lang=lang)
    assert page.url == stack.url + "/console/login"
    page.set_input_files("#keyfile", str(stack.var / "keys" / f"{who}.json"))
    if passphrase is None:
        passphrase = (stack.var / "keys" / ".passphrase").read_text(encoding="utf-8").strip()
    page.fill("#passphrase", passphrase)
    page.click("#keystore-login")
    return page, requests


def test_console_login_page_refuses_a_wrong_passphrase(stack: Stack, browser: Any) -> None:
    page, _ = _log_in_with_keystore(stack, browser, "regulator", lang="en",
                                    passphrase="not the passphrase")
    page.wait_for_selector("#status.error", timeout=120_000)
    assert "Wrong passphrase" in page.locator("#status").inner_text()
    assert page.url == stack.url + "/console/login"
    assert page.context.cookies() == []
    page.close()


def test_console_login_with_an_eip1193_wallet(stack: Stack, browser: Any) -> None:
    """A test EIP-1193 provider in the page (window.ethereum) whose `personal_sign` is the
    customs officer's devnet key, signing in Python as a wallet would: what the wallet is shown
    and signs is the page's SIWE message, byte for byte."""
    from eth_account import Account
    from eth_account.messages import encode_defunct

    from ledger.proofs.keystore import load_key

    passphrase = (stack.var / "keys" / ".passphrase").read_text(encoding="utf-8").strip()
    account = load_key(stack.var / "keys" / "customs.json", passphrase)
    shown: list[str] = []

    def personal_sign(hex_message: str, address: str) -> str:
        assert address.lower() == account.address.lower()
        text = bytes.fromhex(hex_message[2:]).decode("utf-8")
        shown.append(text)
        return "0x" + Account.sign_message(encode_defunct(text=text), account.key
                                           ).signature.hex().removeprefix("0x")

    page = browser.new_page(viewport={"width": 1280, "height": 844}, locale="en")
    page.expose_function("walletSign", personal_sign)
    page.add_init_script(f"""
      window.ethereum = {{ request: async ({{ method, params }}) => {{
        if (method === 'eth_requestAccounts') return ['{account.address.lower()}'];
        if (method === 'personal_sign') return window.walletSign(params[0], params[1]);
        throw new Error('unsupported ' + method);
      }} }};""")
    page.goto(stack.url + "/console/login?lang=en")
    assert page.locator("#wallet-login").inner_text() == "Log in with wallet"
    page.click("#wallet-login")
    page.wait_for_url(stack.url + "/console", timeout=60_000)
    (message,) = shown
    host = stack.url.split("//", 1)[1]
    assert message.startswith(f"{host} wants you to sign in with your Ethereum account:\n"
                              f"{account.address}\n")
    assert f"Chain ID: {stack.result.chain_id}" in message
    assert page.locator("#session-roles").inner_text() == "CUSTOMS"
    assert page.locator("#decisions-table").count() == 1
    assert page.locator("#complaints-table").count() == 0  # not customs' to read
    page.screenshot(path=str(ARTIFACTS / "console-customs.png"), full_page=True)
    page.close()


def test_console_shows_members_decisions_and_charts(stack: Stack, browser: Any) -> None:
    page, requests = _log_in_with_keystore(stack, browser, "regulator")
    page.wait_for_url(stack.url + "/console", timeout=120_000)
    page.wait_for_selector("#members-table")
    page.screenshot(path=str(ARTIFACTS / "console.png"), full_page=True)
    assert page.locator("#session-org").inner_text() == \
        "Guangdong Market Supervision Administration"
    assert page.locator("#session-roles").inner_text() == "REGULATOR"
    cookie, = page.context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    names = page.locator("#members-table tbody tr td:first-child").all_inner_texts()
    for m in stack.result.members:
        assert any(m["name"] in n for n in names), m["name"]
    assert len(names) == len(stack.result.members) + 1  # and the operator
    assert "C" in page.locator("#members-table").inner_text()  # the downgraded brand
    decisions = page.locator("#decisions-table").inner_text()
    for kind in ("DIRECT_RELEASE", "NORMAL_CONTROL", "IMMEDIATE_CONTROL"):
        assert kind in decisions
    assert "credit-grade-poor" in decisions  # the rules fired are shown
    # The charts: each a table (read here, and by screen readers) drawn by ECharts (SVG).
    page.wait_for_selector("body[data-charts=drawn]", timeout=60_000)
    assert page.locator("#chart-events table tbody tr").count() >= 2
    assert page.locator("#chart-events .echart svg path").count() > 5
    decided = page.locator("#chart-decisions table thead th[data-series]")
    assert set(decided.evaluate_all("ths => ths.map(th => th.dataset.series)")) == {
        "DIRECT_RELEASE", "NORMAL_CONTROL", "IMMEDIATE_CONTROL"}
    # Named in the page's language (zh-Hans here: the browser asks for zh-CN).
    assert set(decided.all_inner_texts()) == {"直接放行", "正常布控", "即决布控"}
    assert page.locator("#chart-decisions .echart svg path").count() >= 3
    scans = page.locator("#chart-scans table tbody tr td:last-child").all_inner_texts()
    # At least the demo's own scans (this module's page visits scan too).
    assert sum(int(n) for n in scans) >= stack.result.counts["scans"] > 0
    regions = page.locator("#chart-regions table tbody th").all_inner_texts()
    assert len(regions) >= 4  # the buyer's country and the clone's three
    complaints = page.locator("#chart-complaints table tbody tr td:last-child").all_inner_texts()
    assert sum(int(n) for n in complaints) == stack.result.counts["complaints"]
    assert page.locator("#complaints-table tbody tr").count() == stack.result.counts["complaints"]
    assert page.locator("#recalls-table tbody tr").count() == 1
    assert page.locator("#pending").inner_text().startswith("0 条事件")
    # One script, the gateway's own charts bundle; nothing from anywhere else.
    assert [page.locator("script").nth(i).get_attribute("src")
            for i in range(page.locator("script").count())] == ["/console/charts.js"]
    assert [u for u in requests if not u.startswith(stack.url)] == []
    # Log out: the cookie's session is closed in the store, the console is the log-in again.
    page.click("#logout button")
    page.wait_for_url(stack.url + "/console/login")
    assert page.goto(stack.url + "/console").url == stack.url + "/console/login"
    page.close()


def test_api_docs_are_served(stack: Stack) -> None:
    assert httpx.get(stack.url + "/docs", timeout=30).status_code == 200
    spec = httpx.get(stack.url + "/openapi.json", timeout=30).json()
    assert "/console" in spec["paths"]


def test_a_second_run_on_the_same_var_serves_the_same_journey(stack: Stack) -> None:
    from rich.console import Console

    from gateway.demo.serving import run_demo

    console = Console(file=open(os.devnull, "w"))  # noqa: SIM115
    try:
        again = run_demo(stack.var, rpc_url=stack.anvil.url, manifest=stack.manifest,
                         port=free_port(), serve=False, console=console)
    finally:
        console.file.close()
    assert again.reused
    assert again.items == stack.result.items
    assert again.consignments == stack.result.consignments


def test_a_port_in_use_is_one_clear_error(stack: Stack) -> None:
    from gateway.demo.serving import PortInUseError, run_demo

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"port {port}"):
            run_demo(stack.var, rpc_url=stack.anvil.url, manifest=stack.manifest, port=port,
                     serve=False)
