"""The customs officer's day in the console, in a real Chromium against the demo's anvil and
gateway: log in with a wallet, open the queue, decide a fresh declaration and record the
inspection outcome of the consignment the demo left under immediate control. The wallet is a
test EIP-1193 provider (`window.ethereum`) backed by the customs officer's devnet key: it
signs in Python what the page asks it to (`personal_sign`, `eth_sendTransaction`,
`eth_signTypedData_v4`), as a browser wallet would; the gateway never sees the key.

What is asserted comes from CustomsRelease, not from the page's claims. Screenshots go to
test-artifacts/e2e/.
"""
# ruff: noqa: F811 - `stack` and `browser` are test_journey's fixtures, imported to be used here

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.e2e.test_journey import ARTIFACTS, Stack, browser, stack  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser


def _passphrase(stack: Stack) -> str:
    return (stack.var / "keys" / ".passphrase").read_text(encoding="utf-8").strip()


def _account(stack: Stack, who: str) -> Any:
    """`var/keys/<who>.json`'s key; for "operator", the devnet deployer's (it has no file)."""
    from eth_account import Account

    from ledger.chain.transactor import anvil_dev_key
    from ledger.proofs.keystore import load_key

    if who == "operator":
        return Account.from_key(anvil_dev_key(0))
    return load_key(stack.var / "keys" / f"{who}.json", _passphrase(stack))


def _chain(stack: Stack) -> Any:
    from ledger.chain.client import Chain
    from ledger.chain.deployment import Deployment

    return Chain(stack.anvil.web3(), Deployment.load(stack.manifest))


def _declare(stack: Stack, ref: str) -> None:
    """The platform declares a new consignment of the brand's goods to Nansha customs (a
    signed `customs_declaring` capture, as its own system would send it)."""
    import httpx

    from ledger.epcis.document import parse_document
    from ledger.epcis.event_hash import event_hashes
    from ledger.proofs.signing import (
        CaptureDomain,
        prepare_capture,
        sign_capture,
        signature_to_headers,
    )
    from ledger.trade.customs import (
        DECLARING,
        Declaration,
        border_event,
        declaration_fields,
        inspecting_document,
    )

    chain = _chain(stack)
    platform = _account(stack, "platform")
    office = chain.org_of_key(_account(stack, "customs").address)
    brand = chain.org_of_key(_account(stack, "manufacturer").address)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    event = border_event(DECLARING, event_time=now, epcs=[], offset="+00:00")
    event.update(declaration_fields(Declaration(ref, brand, "NZ", "190110"), office))
    document = inspecting_document(event, created=now)
    ids = event_hashes(document)
    seed, _, root = prepare_capture(parse_document(document).events, ids)
    domain = CaptureDomain(chain.deployment.chainId, chain.deployment.address("Consortium"))
    sig = sign_capture(bytes(platform.key), domain, root, len(ids),
                       chain.org_of_key(platform.address), time.time_ns() // 1000,
                       int(time.time()))
    r = httpx.post(stack.url + "/capture", content=json.dumps(document).encode(), timeout=60,
                   headers={**signature_to_headers(sig, seed),
                            "Content-Type": "application/ld+json"})
    assert r.status_code == 202, r.text


def _wallet_page(stack: Stack, browser: Any, who: str) -> tuple[Any, list[str]]:
    """A page whose `window.ethereum` is `who`'s devnet key; logged in to the console."""
    from eth_account import Account
    from eth_account.messages import encode_defunct

    account = _account(stack, who)
    w3 = stack.anvil.web3()
    asked: list[str] = []

    def wallet(method: str, params_json: str) -> Any:
        params = json.loads(params_json)
        asked.append(method)
        if method == "eth_requestAccounts":
            return [account.address.lower()]
        if method == "personal_sign":
            text = bytes.fromhex(params[0][2:]).decode("utf-8")
            return "0x" + Account.sign_message(encode_defunct(text=text), account.key
                                               ).signature.hex().removeprefix("0x")
        if method == "eth_sendTransaction":
            (tx,) = params
            assert tx["from"].lower() == account.address.lower()
            signed = account.sign_transaction({
                "from": account.address, "to": tx["to"], "data": tx["data"],
                "chainId": w3.eth.chain_id, "gas": 500_000, "gasPrice": w3.eth.gas_price,
                "nonce": w3.eth.get_transaction_count(account.address)})
            return "0x" + bytes(w3.eth.send_raw_transaction(signed.raw_transaction)).hex()
        if method == "eth_getTransactionReceipt":
            try:
                receipt = w3.eth.get_transaction_receipt(params[0])
            except Exception:  # not mined yet: a wallet answers null
                return None
            return {"status": hex(receipt["status"]), "blockNumber": hex(receipt["blockNumber"])}
        if method == "eth_signTypedData_v4":
            assert params[0].lower() == account.address.lower()
            signed = Account.sign_typed_data(account.key, full_message=json.loads(params[1]))
            return "0x" + bytes(signed.signature).hex()
        raise ValueError(f"unsupported {method}")

    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en")
    page.expose_function("testWallet", wallet)
    page.add_init_script("""
      window.ethereum = { request: async ({ method, params }) =>
        window.testWallet(method, JSON.stringify(params || [])) };""")
    page.goto(stack.url + "/console/login?lang=en")
    page.click("#wallet-login")
    page.wait_for_url(stack.url + "/console", timeout=120_000)
    return page, asked


def test_customs_decides_and_records_inspection_in_the_console(stack: Stack,
                                                              browser: Any) -> None:
    from ledger.trade.customs import consignment_key

    ref = f"CN-NS-CONSOLE-{time.time_ns() % 10**9}"
    _declare(stack, ref)
    chain = _chain(stack)
    officer = _account(stack, "customs").address
    held = next(c for c in stack.result.consignments if c["decision"] == "IMMEDIATE_CONTROL")

    page, asked = _wallet_page(stack, browser, "customs")
    page.click("#console-nav a")
    page.wait_for_url(stack.url + "/console/customs", timeout=60_000)
    page.goto(stack.url + "/console/customs?lang=en")
    fresh = page.locator(f'article[data-consignment="{ref}"]')
    assert fresh.get_attribute("data-step") == "decide"
    waiting = page.locator(f'article[data-consignment="{held["ref"]}"]')
    assert waiting.get_attribute("data-step") == "inspect"
    # Riskiest first: the scores on the page never rise down the queue.
    scores = [int(s) for s in page.locator("article.item").evaluate_all(
        "els => els.map(e => e.dataset.score)")]
    assert scores == sorted(scores, reverse=True) and len(scores) >= 2
    # The held consignment's reasons are shown: the rules that fired, with their facts.
    assert waiting.locator("table.fired tbody tr[data-rule]").count() >= 1
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "console-customs-queue.png"), full_page=True)

    # Decide the fresh declaration: normal control, whatever the suggestion.
    fresh.locator('input[value="NORMAL_CONTROL"]').check()
    fresh.locator("button[type=submit]").click()
    page.wait_for_selector(f'article[data-consignment="{ref}"] .status.done', timeout=120_000)
    decided = chain.latest_decision(consignment_key(ref))
    assert decided is not None and decided.decision.name == "NORMAL_CONTROL"
    assert decided.inspection == "NOT_INSPECTED" and decided.recorder == officer
    assert {"eth_sendTransaction", "eth_signTypedData_v4"} <= set(asked)
    page.screenshot(path=str(ARTIFACTS / "console-customs-decided.png"), full_page=True)

    # The consignment under immediate control: the inspection failed.
    waiting.locator('input[value="FAILED"]').check()
    waiting.locator("button[type=submit]").click()
    page.wait_for_selector(f'article[data-consignment="{held["ref"]}"] .status.done',
                           timeout=120_000)
    outcome = chain.latest_decision(consignment_key(held["ref"]))
    assert outcome is not None and outcome.decision.name == "IMMEDIATE_CONTROL"
    assert outcome.inspection == "FAILED" and outcome.recorder == officer

    page.goto(stack.url + "/console/customs?lang=zh-Hans")
    assert page.locator(f'article[data-consignment="{held["ref"]}"]').count() == 0
    assert page.locator(f'article[data-consignment="{ref}"]').get_attribute(
        "data-step") == "inspect"
    assert "海关查验队列" in page.locator("h1").inner_text()
    page.screenshot(path=str(ARTIFACTS / "console-customs-after.png"), full_page=True)
    page.close()


def test_regulator_grades_and_blacklists_in_the_console(stack: Stack, browser: Any) -> None:
    """The regulator lowers nothing by hand: it picks a grade and a reason in the page, its
    wallet sends the Consortium transaction, and the grade is read back from the chain."""
    chain = _chain(stack)
    target = chain.org_of_key(_account(stack, "exporter").address)
    before = chain.organisation(target)
    assert before is not None and not before.blacklisted
    grade = "D" if before.grade != "D" else "C"

    page, asked = _wallet_page(stack, browser, "regulator")
    page.click("#console-nav a[href='/console/regulator']")
    page.wait_for_url(stack.url + "/console/regulator", timeout=60_000)
    page.goto(stack.url + "/console/regulator?lang=en")
    row = page.locator(f'#enterprises tr[data-org="0x{target.hex()}"]')
    row.locator("input[name=reason]").fill("Two failed inspections in November")
    row.locator("select[name=grade]").select_option(grade)
    row.locator("button[value=grade]").click()

    def settled(check: Any) -> Any:
        deadline = time.monotonic() + 120
        while not check(record := chain.organisation(target)):
            assert time.monotonic() < deadline, "the wallet's transaction never landed: " + \
                " ".join(page.locator(".status").all_inner_texts())
            # Waits through Playwright, whose dispatcher runs the test wallet's callbacks.
            page.wait_for_timeout(500)
        return record

    # The page reloads itself once the transaction is mined (`done=<tx>` in its URL).
    page.wait_for_url("**/console/regulator?lang=en&done=0x*", timeout=120_000)
    assert settled(lambda r: r.grade == grade).grade == grade
    assert "eth_sendTransaction" in asked
    first = page.url
    row = page.locator(f'#enterprises tr[data-org="0x{target.hex()}"]')
    assert row.locator("td.grade").inner_text() == grade
    assert row.locator('.history li[data-kind="grade"]').count() >= 1

    row.locator("input[name=reason]").fill("Counterfeit labels found at Nansha")
    row.locator("button[value=blacklist]").click()
    page.wait_for_url(lambda url: "done=0x" in url and url != first, timeout=120_000)
    assert settled(lambda r: r.blacklisted).blacklisted
    page.goto(stack.url + "/console/regulator?lang=zh-Hans")
    row = page.locator(f'#enterprises tr[data-org="0x{target.hex()}"]')
    assert row.locator("td.standing").inner_text() == "黑名单"
    assert row.locator('.history li[data-kind="blacklisted"]').count() == 1
    # The reasons, kept by the gateway with each mined transaction: the blacklisting's checked
    # against its reasonHash on chain, the grade's labelled the gateway's record.
    listed = row.locator('.history li[data-kind="blacklisted"] .reason')
    assert listed.get_attribute("data-reason") == "matches-chain"
    assert "Counterfeit labels found at Nansha" in listed.inner_text()
    graded = row.locator('.history li[data-kind="grade"] .reason').last
    assert graded.get_attribute("data-reason") == "gateway-record"
    assert "Two failed inspections in November" in graded.inner_text()
    page.screenshot(path=str(ARTIFACTS / "console-regulator.png"), full_page=True)
    page.close()


def test_regulator_recalls_a_lot_and_sees_its_scope(stack: Stack, browser: Any) -> None:
    """A lot of genuine cans, recalled in the regulator's wallet: CodeRegistry says recalled,
    and the scope page counts the goods and where they went, with the CSV the notice needs."""
    from tests.e2e.test_journey import _lot_of

    chain = _chain(stack)
    item = stack.result.items["genuine"]
    gtin, lot = item["gtin"], _lot_of(stack, item["gtin"], item["serial"])
    assert chain.lot(gtin, lot).status == "ACTIVE"

    page, _ = _wallet_page(stack, browser, "regulator")
    page.goto(stack.url + "/console/regulator?lang=en")
    form = page.locator("#recall-form")
    form.locator("input[name=gtin]").fill(gtin)
    form.locator("input[name=lot]").fill(lot)
    form.locator("input[name=reason]").fill("Melamine found in a sampled can")
    form.locator("button").click()
    # The page goes to the scope once the recall is mined (Playwright's wait runs the wallet).
    page.wait_for_url(f"{stack.url}/console/regulator/recalls/{gtin}/{lot}", timeout=120_000)
    assert chain.lot(gtin, lot).status == "RECALLED"
    assert page.locator("#lot-status").inner_text() == "recalled"
    count = int(page.locator("#scope-count").inner_text())
    assert count > 0
    assert page.locator("#scope-where tbody tr").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "console-recall-scope.png"), full_page=True)
    csv = page.request.get(stack.url + (page.locator("#scope-csv").get_attribute("href") or ""))
    assert csv.status == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text().strip().split("\r\n")
    assert lines[0].startswith("epc,level,via,custodian") and len(lines) == count + 1
    page.close()


def test_customs_decides_with_its_key_file_and_no_wallet(stack: Stack, browser: Any) -> None:
    """The demo on a machine with no wallet extension: the officer logs in with the key file,
    unlocks it again in the queue page, and the page signs the CustomsRelease transaction
    itself; the gateway only relays it (and refuses any not signed by the session's key)."""
    from ledger.trade.customs import consignment_key
    from tests.e2e.test_journey import _log_in_with_keystore

    ref = f"CN-NS-KEYFILE-{time.time_ns() % 10**9}"
    _declare(stack, ref)
    page, _ = _log_in_with_keystore(stack, browser, "customs", lang="en")
    page.wait_for_url(stack.url + "/console", timeout=120_000)
    assert page.evaluate("() => window.ethereum === undefined")
    page.goto(stack.url + "/console/customs?lang=en")
    panel = page.locator("#keystore-wallet")
    panel.locator("summary").click()
    panel.locator("input[type=file]").set_input_files(str(stack.var / "keys" / "customs.json"))
    panel.locator("input[type=password]").fill(_passphrase(stack))
    panel.locator("button").click()
    page.wait_for_selector("#keystore-wallet[data-unlocked]", timeout=120_000)
    item = page.locator(f'article[data-consignment="{ref}"]')
    item.locator('input[value="DIRECT_RELEASE"]').check()
    item.locator("button[type=submit]").click()
    page.wait_for_selector(f'article[data-consignment="{ref}"] .status.done', timeout=120_000)
    decided = _chain(stack).latest_decision(consignment_key(ref))
    assert decided is not None and decided.decision.name == "DIRECT_RELEASE"
    assert decided.recorder == _account(stack, "customs").address
    page.screenshot(path=str(ARTIFACTS / "console-customs-keyfile.png"), full_page=True)
    page.close()


def test_regulator_reads_the_audit_trail(stack: Stack, browser: Any) -> None:
    """Who did what and when: filtered to customs, every row is its own (a decision on
    CustomsRelease, a signed capture) or a Consortium event that names it (its admission by
    the operator), each linking to its proof."""
    chain = _chain(stack)
    customs = "0x" + chain.org_of_key(_account(stack, "customs").address).hex()
    page, _ = _wallet_page(stack, browser, "regulator")
    page.click("#console-nav a[href='/console/audit']")
    page.wait_for_url(stack.url + "/console/audit", timeout=60_000)
    page.goto(stack.url + "/console/audit?lang=en")
    page.select_option("#audit-filter select[name=org]", customs)
    page.click("#audit-filter button")
    page.wait_for_url(f"**/console/audit?lang=en&org={customs}*", timeout=60_000)
    rows = page.locator("#audit tbody tr")
    actions = set(rows.evaluate_all("rs => rs.map(r => r.dataset.action)"))
    assert "CustomsRelease.DecisionRecorded" in actions and "capture" in actions
    by = rows.evaluate_all("rs => rs.map(r => [r.dataset.org, r.dataset.action])")
    assert customs in {o for o, _ in by}
    # Another organisation's row only where it acted on customs, on Consortium.
    assert all(o == customs or a.startswith("Consortium.") for o, a in by), by
    decisions = len(stack.result.consignments) + sum(
        1 for c in stack.result.consignments if c["inspection"] == "PASSED")
    assert page.locator('#audit tr[data-action="CustomsRelease.DecisionRecorded"]').count() \
        >= decisions
    page.screenshot(path=str(ARTIFACTS / "console-audit.png"), full_page=True)
    proof = page.locator('#audit tr[data-action="CustomsRelease.DecisionRecorded"] a.proof')
    response = page.request.get(stack.url + (proof.first.get_attribute("href") or ""))
    assert response.status == 200 and response.json()["contract"] == "CustomsRelease"
    page.close()


def test_regulator_resolves_a_complaint_and_the_complainant_sees_the_outcome(
        stack: Stack, browser: Any) -> None:
    """A shopper complains from the item's page (no account) and is sent back to it with a
    receipt; the regulator moves the complaint open → investigating → resolved with an outcome
    in the console; the shopper's page, opened again with the receipt, shows it, in each of
    the page's languages. Without the receipt the page shows nothing of it."""
    from urllib.parse import parse_qs, urlsplit

    item = stack.result.items["genuine"]
    shopper = browser.new_page(viewport={"width": 390, "height": 844}, locale="zh-CN")
    shopper.goto(stack.url + item["path"] + "?verdict=server")
    shopper.select_option("#category", "quality")
    shopper.fill("#message", "罐底有锈迹，奶粉结块。")
    shopper.click("#complaint button[type=submit]")
    shopper.wait_for_selector("#complaint-standing[data-status=open]", timeout=60_000)
    landed = shopper.url
    query = parse_qs(urlsplit(landed).query)
    cid, receipt = int(query["complaint"][0]), query["receipt"][0]
    assert len(receipt) >= 43 and query["verdict"] == ["server"]  # the form's own page
    assert shopper.locator("#complaint-standing .status").inner_text() == "已收到，尚未处理"
    assert shopper.locator("#complaint-standing .text").inner_text() == "罐底有锈迹，奶粉结块。"
    shopper.screenshot(path=str(ARTIFACTS / "complaint-filed.png"), full_page=True)

    page, _ = _wallet_page(stack, browser, "regulator")
    page.goto(stack.url + "/console/regulator?lang=en&status=open")
    row = page.locator(f'#triage tr[data-complaint="{cid}"]')
    assert row.get_attribute("data-status") == "open"
    assert "罐底有锈迹" in row.locator("td.text").inner_text()
    page.goto(stack.url + "/console/regulator?lang=en")  # every status: the row stays in view
    row = page.locator(f'#triage tr[data-complaint="{cid}"]')
    row.locator("select[name=status]").select_option("investigating")
    row.locator("button[type=submit]").click()
    page.wait_for_selector(f'#triage tr[data-complaint="{cid}"][data-status=investigating]',
                           timeout=60_000)
    page.goto(stack.url + "/console/regulator?lang=en&status=investigating")
    assert page.locator("#triage tbody tr[data-status]").evaluate_all(
        "rs => [...new Set(rs.map(r => r.dataset.status))]") == ["investigating"]
    page.goto(stack.url + "/console/regulator?lang=en")
    row = page.locator(f'#triage tr[data-complaint="{cid}"]')
    row.locator("select[name=status]").select_option("resolved")
    row.locator("button[type=submit]").click()  # no outcome yet: the page asks for one
    assert row.locator(".status.error").inner_text() == "Resolving or rejecting needs an outcome"
    outcome = "抽检确认该批次储存不当，经销商已下架并为消费者退款。"
    row.locator("textarea[name=outcome]").fill(outcome)
    row.locator("button[type=submit]").click()
    page.wait_for_selector(f'#triage tr[data-complaint="{cid}"][data-status=resolved]',
                           timeout=60_000)
    row = page.locator(f'#triage tr[data-complaint="{cid}"]')
    assert row.locator("td.outcome").inner_text() == outcome
    assert row.locator(".history li").count() == 2
    page.screenshot(path=str(ARTIFACTS / "console-complaint-triage.png"), full_page=True)
    page.close()

    shopper.goto(landed)  # the form's page, again
    assert shopper.locator("#complaint-standing").get_attribute("data-status") == "resolved"
    assert shopper.locator("#complaint-standing .outcome").inner_text() == outcome
    # The browser-verified page, with the same receipt, in each of its languages.
    verified = landed.replace("verdict=server&", "")
    for lang, status in (("zh-Hans", "已办结"), ("zh-Hant", "已辦結"), ("en", "Resolved")):
        shopper.goto(f"{verified}&lang={lang}")
        shopper.wait_for_selector("#complaint-standing[data-status=resolved]", timeout=60_000)
        assert shopper.locator("#complaint-standing .status").inner_text() == status
        assert shopper.locator("#complaint-standing .outcome").inner_text() == outcome
        shopper.screenshot(path=str(ARTIFACTS / f"complaint-resolved-{lang}.png"),
                           full_page=True)
    # The same page with another receipt: nothing of the complaint.
    shopper.goto(landed.replace(receipt, receipt[::-1]))
    shopper.wait_for_selector("#complaint-standing[data-status=unknown]", timeout=60_000)
    assert outcome not in shopper.content() and "罐底" not in shopper.content()
    shopper.close()


def _english_only(tables: dict[str, dict[str, str]]) -> list[str]:
    """Every English string of a page's tables that its zh-Hans table does not say in Chinese:
    the texts a zh-Hans page must not show. A table missing a zh-Hans key is a failure too."""
    en, zh = tables["en"], tables["zh-Hans"]
    assert set(en) == set(zh), sorted(set(en) ^ set(zh))
    return [v for k, v in en.items() if v != zh[k] and any(c.isalpha() for c in v)]


_TEXT_NODES = """() => {
  const out = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const n = walk.currentNode;
    const p = n.parentElement;
    if (!p || p.closest('script, style, [hidden], template')) continue;
    const text = n.textContent.replace(/\\s+/g, ' ').trim();
    if (text) out.push(text);
  }
  for (const el of document.querySelectorAll('[placeholder], [title], button, option')) {
    for (const a of ['placeholder', 'title']) if (el.getAttribute(a)) out.push(el.getAttribute(a));
  }
  return out;
}"""


def _leaks(texts: list[str], english: list[str]) -> list[str]:
    """The page texts that are (or hold) one of `english`; a {placeholder} matches anything."""
    import re

    found = []
    for source in english:
        core = source.strip(" :：…")
        pattern = re.compile("^" + ".*".join(re.escape(p) for p in re.split(r"\{\w+\}", core))
                             + "$") if "{" in core else None
        for text in texts:
            if text.strip(" :：…") == core or (pattern and pattern.match(text)) or (
                    " " in core and len(core) >= 10 and core in text):
                found.append(f"{source!r} in {text!r}")
    return found


def test_every_console_page_in_zh_hans_shows_no_english_only_string(stack: Stack,
                                                                    browser: Any) -> None:
    """Each console page, opened in zh-Hans as each role that works in it, compared against
    its own string tables: none of their English-only strings is on the page (text and
    titles). The tables are read from the code (the server-rendered pages' STRINGS) or from
    the page itself (the scripted pages' `zhenzhiConsoleStrings`), never copied here."""
    from gateway.routes import console, console_audit, console_customs, console_regulator
    from tests.e2e.test_journey import _lot_of

    keystore = {lang: dict(enumerate(texts)) for lang, texts in
                console_customs._KEYSTORE.items()}
    customs = {lang: {**console_customs.STRINGS[lang],
                      **{f"rule:{k}": v for k, v in console_customs.RULE_TEXTS[lang].items()},
                      **{f"fact:{k}": v for k, v in console_customs.FACT_NAMES[lang].items()},
                      **{f"ks:{k}": v for k, v in keystore[lang].items()}}
               for lang in ("en", "zh-Hans")}
    regulator = {lang: {**console_regulator.STRINGS[lang],
                        **{f"ks:{k}": v for k, v in keystore[lang].items()}}
                 for lang in ("en", "zh-Hans")}
    item = stack.result.items["recalled"]
    recall = f"/console/regulator/recalls/{item['gtin']}/{_lot_of(stack, item['gtin'], item['serial'])}"
    pages: list[tuple[str, str, dict[str, dict[str, str]] | None]] = [
        ("regulator", "/console", console.STRINGS),
        ("regulator", "/console/regulator", regulator),
        ("regulator", recall, console_regulator.STRINGS),
        ("regulator", "/console/audit", console_audit.STRINGS),
        ("customs", "/console", console.STRINGS),
        ("customs", "/console/customs", customs),
        ("manufacturer", "/console/brand", None),
        ("operator", "/console/operator", None),
    ]
    leaks: dict[str, list[str]] = {}
    for who in ("regulator", "customs", "manufacturer", "operator"):
        page, _ = _wallet_page(stack, browser, who)
        for _, path, tables in (p for p in pages if p[0] == who):
            page.goto(f"{stack.url}{path}?lang=zh-Hans")
            page.wait_for_load_state("load")
            if tables is None:  # a scripted page: its tables are the script's
                page.wait_for_function("() => globalThis.zhenzhiConsoleStrings", timeout=30_000)
                tables = page.evaluate("() => globalThis.zhenzhiConsoleStrings")
            assert page.evaluate("document.documentElement.lang") == "zh-Hans", path
            texts = page.evaluate(_TEXT_NODES)
            assert texts, path
            if found := _leaks(texts, _english_only(tables)):
                leaks[f"{who} {path}"] = found
            page.screenshot(path=str(ARTIFACTS / f"console-zh{path.replace('/', '-')}.png"),
                            full_page=True)
        page.close()
    # The log-in page, without a session.
    login = browser.new_page(locale="zh-CN")
    login.goto(stack.url + "/console/login?lang=zh-Hans")
    login.wait_for_function("() => globalThis.zhenzhiConsoleStrings", timeout=30_000)
    if found := _leaks(login.evaluate(_TEXT_NODES),
                       _english_only(login.evaluate("() => globalThis.zhenzhiConsoleStrings"))):
        leaks["login"] = found
    login.close()
    assert leaks == {}
