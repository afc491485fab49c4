# ruff: noqa: F811 - the fixtures `stack` and `browser` are imported from test_journey
"""The brand's and the operator's console work end to end in Chromium, each logged in with a test
EIP-1193 wallet backed by a devnet key: the brand (the demo's manufacturer) issues a lot's codes,
signs its RegisterLot in the wallet and finds the lot on CodeRegistry, then its label sheet; the
operator (the deployer's key, ADMIN) proposes a role grant on Consortium and executes it, each
transaction signed and sent in the wallet. Screenshots to test-artifacts/e2e/.

The wallet (window.ethereum) does in Python what a wallet would with what the page hands it:
`personal_sign` the SIWE message, `eth_signTypedData_v4` the typed data, and
`eth_sendTransaction` (nonce, gas, fees from the chain, signed, sent to anvil).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.test_journey import ARTIFACTS, Stack, browser, stack  # noqa: F401, F811 - fixtures

pytestmark = pytest.mark.browser


def _wallet_page(stack: Stack, browser: Any, who: str, *, lang: str) -> tuple[Any, Any, list]:
    """A page with a test EIP-1193 provider holding `var/keys/<who>.json` (or, for
    "operator", the devnet deployer's key), logged in."""
    from eth_account import Account
    from eth_account.messages import encode_defunct, encode_typed_data

    from ledger.chain.transactor import anvil_dev_key
    from ledger.proofs.keystore import load_key
    from tests.console_wallet import wallet_send

    if who == "operator":
        account = Account.from_key(anvil_dev_key(0))
    else:
        passphrase = (stack.var / "keys" / ".passphrase").read_text(encoding="utf-8").strip()
        account = load_key(stack.var / "keys" / f"{who}.json", passphrase)
    typed_shown: list[dict[str, Any]] = []
    w3 = stack.anvil.web3()

    def send_transaction(tx: dict[str, Any]) -> str:
        return wallet_send(w3, account.key, tx)

    def personal_sign(hex_message: str, address: str) -> str:
        assert address.lower() == account.address.lower()
        text = bytes.fromhex(hex_message[2:]).decode("utf-8")
        return "0x" + bytes(Account.sign_message(encode_defunct(text=text), account.key
                                                 ).signature).hex()

    def sign_typed(address: str, data: str) -> str:
        assert address.lower() == account.address.lower()
        typed = json.loads(data)
        typed_shown.append(typed)
        return "0x" + bytes(Account.sign_message(encode_typed_data(full_message=typed),
                                                 account.key).signature).hex()

    page = browser.new_page(viewport={"width": 1280, "height": 900},
                            locale="zh-CN" if lang == "zh-Hans" else "en")
    page.expose_function("walletSign", personal_sign)
    page.expose_function("walletSignTyped", sign_typed)
    page.expose_function("walletSend", send_transaction)
    page.add_init_script(f"""
      window.ethereum = {{ request: async ({{ method, params }}) => {{
        if (method === 'eth_requestAccounts' || method === 'eth_accounts')
          return ['{account.address.lower()}'];
        if (method === 'personal_sign') return window.walletSign(params[0], params[1]);
        if (method === 'eth_signTypedData_v4') return window.walletSignTyped(params[0], params[1]);
        if (method === 'eth_sendTransaction') return window.walletSend(params[0]);
        throw new Error('unsupported ' + method);
      }} }};""")
    page.goto(stack.url + f"/console/login?lang={lang}")
    page.click("#wallet-login")
    page.wait_for_url(stack.url + "/console", timeout=60_000)
    return page, account, typed_shown


def test_brand_issues_a_lot_in_the_page_and_it_is_registered_on_code_registry(
        stack: Stack, browser: Any) -> None:
    from ledger.chain.client import Chain
    from ledger.chain.deployment import Deployment
    from ledger.proofs.codes import codes_tree, org_id
    from ledger.store.store import Store
    from ledger.trade.issuance import lot_serials

    page, account, typed_shown = _wallet_page(stack, browser, "manufacturer", lang="en")
    page.click("#role-pages a[href='/console/brand']")
    page.wait_for_url(stack.url + "/console/brand", timeout=60_000)
    page.goto(stack.url + "/console/brand?lang=en")
    assert page.locator("#issue-button").inner_text() == "Issue, sign and register"
    gtin = next(iter(stack.result.items.values()))["gtin"]
    lot = "E2E-CONSOLE-1"
    page.fill("#gtin", gtin)
    page.fill("#lot", lot)
    page.fill("#count", "6")
    page.click("#issue-button")
    page.wait_for_selector(f"body[data-registered='{gtin}/{lot}']", timeout=120_000)
    assert "Registered on CodeRegistry" in page.locator("#status").inner_text()

    # What the wallet signed is the lot the page issued, for CodeRegistry on this chain.
    (typed,) = typed_shown
    deployment = Deployment.load(stack.manifest)
    assert typed["primaryType"] == "RegisterLot"
    assert typed["domain"]["verifyingContract"] == deployment.address("CodeRegistry")
    assert typed["message"]["gtin"] == gtin and typed["message"]["lot"] == lot

    # On chain: the lot, by the brand's organisation, committing to the codes the store holds.
    chain = Chain(stack.anvil.web3(), deployment)
    on_chain = chain.lot(gtin, lot)
    assert on_chain is not None and on_chain.status == "ACTIVE"
    brand_gln = next(m["gln"] for m in stack.result.members if m["key"] == "manufacturer")
    assert on_chain.org == org_id(brand_gln)
    store = Store(f"sqlite:///{stack.var / 'zhenzhi.db'}")
    try:
        issued = lot_serials(store.engine, gtin, lot)
    finally:
        store.close()
    assert on_chain.count == 6 == issued.count
    assert on_chain.codes_root == codes_tree(gtin, list(issued.serials)).root

    # The page lists it as registered, with its label sheet.
    row = page.locator(f"#lots-table tr[data-lot='{lot}']")
    row.wait_for(timeout=60_000)
    assert row.locator("td.status").inner_text() == "registered"
    href = row.locator("a.labels").get_attribute("href")
    pdf = page.request.get(stack.url + href)
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")
    # The cloned code (scanned in four countries within days) is among the clone alerts; the
    # scan map counts the brand's scans by country, as a table drawn by ECharts.
    clone = stack.result.items["clone"]
    alert = page.locator(f"#clone-alerts tr[data-serial='{clone['serial']}']")
    assert alert.count() == 1
    assert len(alert.locator("td.places").inner_text().split(", ")) >= 4
    assert page.locator("#clone-alerts tbody tr").count() == 1  # the genuine items are quiet
    page.wait_for_selector("body[data-charts=drawn]", timeout=60_000)
    regions = page.locator("#chart-brand-regions table tbody th").all_inner_texts()
    assert {"CN", "SG", "MY", "TH"} <= set(regions)
    assert page.locator("#chart-brand-regions .echart svg path").count() >= 4
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "console-brand.png"), full_page=True)

    # The same page in Chinese.
    page.goto(stack.url + "/console/brand?lang=zh-Hans")
    assert page.locator("#issue-button").inner_text() == "发码、签名并登记"
    assert page.locator(f"#lots-table tr[data-lot='{lot}'] td.status").inner_text() == "已登记"
    page.screenshot(path=str(ARTIFACTS / "console-brand-zh.png"), full_page=True)

    # A reply to a complaint about its product, signed in the wallet (EIP-712), kept with its
    # signature, shown under the complaint.
    complaints = page.locator("#brand-complaints tbody tr[data-complaint]")
    assert complaints.count() == stack.result.counts["complaints"]
    first = complaints.first
    complaint_id = int(first.get_attribute("data-complaint"))
    reply = "已收到，请将商品寄回，我们将全额退款。We will refund in full."
    first.locator("textarea").fill(reply)
    first.locator("form.reply-form button").click()
    page.wait_for_selector(f"body[data-replied='{complaint_id}']", timeout=120_000)
    (signed,) = [t for t in typed_shown if t["primaryType"] == "ComplaintReply"]
    assert signed["message"]["text"] == reply and signed["message"]["complaint"] == complaint_id
    row = page.locator(f"#brand-complaints tr[data-complaint='{complaint_id}'] li.reply")
    row.wait_for(timeout=60_000)
    assert reply in row.inner_text() and account.address in row.inner_text()
    page.screenshot(path=str(ARTIFACTS / "console-brand-reply.png"), full_page=True)
    page.close()


def test_a_customs_officer_does_not_get_the_brand_page(stack: Stack, browser: Any) -> None:
    page, _, _ = _wallet_page(stack, browser, "customs", lang="en")
    response = page.goto(stack.url + "/console/brand?lang=en")
    assert response is not None and response.status == 403
    assert "ENTERPRISE" in page.locator("[data-needs]").inner_text()
    assert page.locator("#issue-form").count() == 0
    page.close()


def test_operator_proposes_and_executes_a_role_grant_in_the_wallet(stack: Stack,
                                                                  browser: Any) -> None:
    from ledger.chain.client import Chain
    from ledger.chain.deployment import Deployment

    chain = Chain(stack.anvil.web3(), Deployment.load(stack.manifest))
    platform = next(m for m in stack.result.members if m["key"] == "platform")
    assert "CUSTOMS" not in chain.organisation(platform["gln"]).roles
    before = chain.proposal_count()

    page, _, _ = _wallet_page(stack, browser, "operator", lang="en")
    page.click("#role-pages a[href='/console/operator']")
    page.wait_for_url(stack.url + "/console/operator", timeout=60_000)
    page.goto(stack.url + "/console/operator?lang=en")
    assert "ADMIN" in page.locator("#session-roles").inner_text()
    assert page.locator("#operator-members tbody tr").count() == len(stack.result.members) + 1
    assert page.locator("#batches").inner_text() != "0"  # the demo's captures were anchored
    page.select_option("#kind", "GRANT_ROLE")
    page.fill("#gln", platform["gln"])
    page.select_option("#role", "CUSTOMS")
    page.click("#propose-button")
    page.wait_for_selector("body[data-sent]", timeout=120_000)
    assert chain.proposal_count() == before + 1
    proposal = chain.proposal(before)
    assert proposal.kind == "GRANT_ROLE" and proposal.args["role"] == "CUSTOMS"

    row = page.locator(f"#proposals-table tr[data-id='{before}']")
    row.wait_for(timeout=60_000)  # after the page's reload
    assert row.get_attribute("data-state") == "open"
    assert row.locator("td.approvals").inner_text() == "1 / 1"
    page.screenshot(path=str(ARTIFACTS / "console-operator-proposed.png"), full_page=True)
    row.locator("button.execute").click()
    page.wait_for_selector(f"#proposals-table tr[data-id='{before}'][data-state='executed']",
                           timeout=120_000)
    assert chain.proposal(before).executed
    assert "CUSTOMS" in chain.organisation(platform["gln"]).roles
    page.goto(stack.url + "/console/operator?lang=zh-Hans")
    assert page.locator(f"#proposals-table tr[data-id='{before}'] td.state").inner_text() == \
        "已执行"
    page.screenshot(path=str(ARTIFACTS / "console-operator.png"), full_page=True)
    page.close()


def test_operator_signs_in_the_page_with_the_key_file_and_the_gateway_relays_it(
        stack: Stack, browser: Any) -> None:
    """No wallet: the operator's keystore file logs in and, unlocked in the operator page,
    signs the Consortium transaction there (EIP-1559, noble secp256k1); the gateway relays the
    raw bytes. The key never leaves the page."""
    from eth_account import Account

    from ledger.chain.client import Chain
    from ledger.chain.deployment import Deployment
    from ledger.chain.transactor import anvil_dev_key

    passphrase = (stack.var / "keys" / ".passphrase").read_text(encoding="utf-8").strip()
    keyfile = stack.var / "keys" / "operator-devnet.json"
    keyfile.write_text(json.dumps(Account.encrypt(anvil_dev_key(0), passphrase, kdf="scrypt",
                                                  iterations=2**14)), encoding="utf-8")
    chain = Chain(stack.anvil.web3(), Deployment.load(stack.manifest))
    carrier = next(m for m in stack.result.members if m["key"] == "carrier")
    before = chain.proposal_count()

    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(stack.url + "/console/login?lang=en")
    page.set_input_files("#keyfile", str(keyfile))
    page.fill("#passphrase", passphrase)
    page.click("#keystore-login")
    page.wait_for_url(stack.url + "/console", timeout=120_000)
    page.goto(stack.url + "/console/operator?lang=en")
    page.set_input_files("#keyfile", str(keyfile))
    page.fill("#passphrase", passphrase)
    page.click("#keyfile-unlock")
    page.wait_for_selector("body[data-keyfile=unlocked]", timeout=120_000)
    page.select_option("#kind", "GRANT_ROLE")
    page.fill("#gln", carrier["gln"])
    page.select_option("#role", "ANCHORER")
    page.click("#propose-button")
    page.wait_for_selector("body[data-sent]", timeout=120_000)
    assert any(u.endswith("/console/operator/relay") for u in requests)
    assert chain.proposal_count() == before + 1
    proposal = chain.proposal(before)
    assert proposal.kind == "GRANT_ROLE" and proposal.args["role"] == "ANCHORER"
    # Executed from the refreshed table, still with the key in the page (no reload).
    page.locator(f"#proposals-table tr[data-id='{before}'] button.execute").click()
    page.wait_for_selector(f"#proposals-table tr[data-id='{before}'][data-state='executed']",
                           timeout=120_000)
    assert "ANCHORER" in chain.organisation(carrier["gln"]).roles
    assert [u for u in requests if not u.startswith(stack.url)] == []
    page.screenshot(path=str(ARTIFACTS / "console-operator-keyfile.png"), full_page=True)
    page.close()


def test_brand_signs_in_the_page_with_the_key_file(stack: Stack, browser: Any) -> None:
    """No wallet: the brand's keystore logs in, is unlocked in the brand page and signs the
    lot's RegisterLot and a complaint reply there (EIP-712 hashed in the page)."""
    from ledger.chain.client import Chain
    from ledger.chain.deployment import Deployment

    passphrase = (stack.var / "keys" / ".passphrase").read_text(encoding="utf-8").strip()
    keyfile = stack.var / "keys" / "manufacturer.json"
    chain = Chain(stack.anvil.web3(), Deployment.load(stack.manifest))
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page.goto(stack.url + "/console/login")
    page.set_input_files("#keyfile", str(keyfile))
    page.fill("#passphrase", passphrase)
    page.click("#keystore-login")
    page.wait_for_url(stack.url + "/console", timeout=120_000)
    page.goto(stack.url + "/console/brand")
    page.set_input_files("#keyfile", str(keyfile))
    page.fill("#passphrase", passphrase)
    page.click("#keyfile-unlock")
    page.wait_for_selector("body[data-keyfile=unlocked]", timeout=120_000)
    gtin = next(iter(stack.result.items.values()))["gtin"]
    page.fill("#gtin", gtin)
    page.fill("#lot", "E2E-KEYFILE-1")
    page.fill("#count", "3")
    page.click("#issue-button")
    page.wait_for_selector(f"body[data-registered='{gtin}/E2E-KEYFILE-1']", timeout=120_000)
    on_chain = chain.lot(gtin, "E2E-KEYFILE-1")
    assert on_chain is not None and on_chain.status == "ACTIVE" and on_chain.count == 3
    page.wait_for_selector("#lots-table tr[data-lot='E2E-KEYFILE-1'] td.status", timeout=60_000)
    assert page.locator("#lots-table tr[data-lot='E2E-KEYFILE-1'] td.status").inner_text() == \
        "已登记"
    last = page.locator("#brand-complaints tbody tr[data-complaint]").last
    complaint_id = last.get_attribute("data-complaint")
    last.locator("textarea").fill("密钥文件签名的答复")
    last.locator("form.reply-form button").click()
    page.wait_for_selector(f"body[data-replied='{complaint_id}']", timeout=120_000)
    page.wait_for_selector(f"#brand-complaints tr[data-complaint='{complaint_id}'] li.reply",
                           timeout=60_000)
    assert "密钥文件签名的答复" in page.locator(
        f"#brand-complaints tr[data-complaint='{complaint_id}'] li.reply").inner_text()
    page.screenshot(path=str(ARTIFACTS / "console-brand-keyfile.png"), full_page=True)
    page.close()
