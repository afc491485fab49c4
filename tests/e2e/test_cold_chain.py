"""Cold chain end to end, on the session chain: the brand signs its can's allowed temperature
range, the carrier's reefer logs the pallets' temperature on the voyage and one consignment
rises to 9 °C for hours. The breach in the pallets' reefer reaches the can's page (Python
verifier and the browser verifier in Chromium, the same section from the same verified facts,
screenshots in three languages) and the consignment's customs risk assessment (rules v2).

The brand registers each version's hash on CodeRegistry; a gateway that serves a version the
chain does not put in force for the readings (a later, looser one; a brand-signed but
unregistered one; none at all) leaves the section unverified in both verifiers (attacks).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from ledger.chain.transactor import anvil_dev_key
from ledger.demo.journey import _DAY, _START_MS, build_journey
from ledger.demo.scenario import Scenario
from ledger.evidence.item import assemble
from ledger.evidence.public import public_bundle
from ledger.proofs.merkle import keccak256
from ledger.store.store import Store
from ledger.trade.conditions import accept_conditions, conditions_text, sign_conditions
from ledger.trade.consignment_coldchain import consignment_cold_chain
from ledger.trade.risk import RiskFacts, assess, load_rules
from tests.e2e.test_browser_verifier import (
    ARTIFACTS,
    _bundle_built,
    _open,
    _path,
    _Site,
    browser,  # noqa: F401 - the fixture
)
from verifier.coldchain import describe
from verifier.verify import verify

pytestmark = [pytest.mark.browser, pytest.mark.chain]

RANGES = [{"type": "Temperature", "uom": "CEL", "min": 0, "max": 4, "allowedMinutesOutside": 60}]


def _reefer_log(sc: Scenario, *, breach: bool) -> dict[str, Any]:
    """The carrier's reefer log of the pallets for the last day of the voyage (every 30
    minutes), as an EPCIS document: 2-3.5 °C, or 9 °C for four hours when `breach`."""
    journey = sc.journey
    carrier = next(c for c in journey.captures for e in c.events
                   if c.org.key == "carrier" and e.get("bizStep") == "transporting")
    voyage = next(e for e in carrier.events if e.get("bizStep") == "transporting")
    arrival = next(e for c in journey.captures for e in c.events if e.get("bizStep") == "arriving")
    at = datetime.fromisoformat(arrival["eventTime"].replace("Z", "+00:00")) - timedelta(hours=1)
    reports = []
    for i in range(48):
        t = at - timedelta(minutes=30 * (47 - i))
        value = 9.0 if breach and 20 <= i < 28 else 2.0 + (i % 4) * 0.5
        reports.append({"type": "Temperature", "value": value, "uom": "CEL",
                        "time": t.isoformat(timespec="milliseconds")})
    event = copy.deepcopy(voyage)
    event["eventTime"] = at.isoformat(timespec="milliseconds")
    event["sensorElementList"] = [{"sensorReport": reports}]
    doc = copy.deepcopy(carrier.document)
    doc["epcisBody"]["eventList"] = [event]
    return doc


@pytest.fixture(scope="module")
def cold(w3, deployment, anvil, tmp_path_factory) -> Iterator[dict[str, Any]]:
    _bundle_built()
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('cold') / 'store.db'}")
    store.migrate()
    try:
        journey = build_journey(223, start_ms=_START_MS + 223 * _DAY)
        sc = Scenario(w3, deployment, store, admin_key=anvil_dev_key(0), journey=journey)
        sc.admin.reset_nonce()
        sc.enrol()
        for c_index, cap in enumerate(journey.captures):
            result = sc.capture(sc.parties[cap.org.key], cap.document)
            for e_index, event_id in enumerate(result.capture.event_ids):
                sc.played.ids[(c_index, e_index)] = event_id
        reefer = sc.capture(sc.parties["carrier"], _reefer_log(sc, breach=True))
        brand = sc.parties["manufacturer"]
        can = sc.sold_cans()[0]
        gtin = can.split("/01/")[1][:14]
        signed = sign_conditions(brand.private_key, sc.domain, conditions_text(gtin, 1, RANGES),
                                 brand.org_id)
        accept_conditions(store.engine, sc.domain, signed, sc.view)
        sc.chain.register_conditions(brand.tx, gtin, 1, keccak256(signed.text.encode()))
        sc.register_lots()
        sc.record_customs()
        sc.anchor_pending()
        site = _Site()
        site.config = {"rpcUrl": anvil.url, "chainId": deployment.chainId,
                       "contracts": {n: r.address for n, r in deployment.contracts.items()}}
        yield {"sc": sc, "can": can, "gtin": gtin, "site": site,
               "reefer": "ni:///sha-256;" + reefer.capture.event_ids[0].hex() + "?ver=CBV2.0",
               "carrier": "0x" + sc.parties["carrier"].org_id.hex(), "v1": signed}
        site.close()
    finally:
        store.close()


def _public(cold: dict[str, Any]) -> Any:
    sc = cold["sc"]
    return public_bundle(assemble(sc.store, cold["can"], chain=sc.chain_ref(), scans=()))


def test_the_breach_in_the_pallets_reefer_reaches_the_consignments_risk_assessment(cold):
    sc = cold["sc"]
    reports = consignment_cold_chain(sc.store, sc.played.customs_ids)
    (report,) = reports
    assert report.gtin == cold["gtin"] and report.breached
    (breach,) = report.breaches()
    assert breach.event == cold["reefer"] and breach.signer == cold["carrier"]
    assert breach.worst.value == 9.0 and breach.minutes == 240
    facts = RiskFacts(enterprise="0x01", credit_grade="A", past_inspections=2,
                      cold_chain_breaches=tuple({"gtin": report.gtin, **x.to_json()}
                                                for x in report.breaches()))
    v2 = assess(facts, load_rules("v2"))
    assert [f.id for f in v2.fired] == ["cold-chain-breach"]
    assert v2.decision.name == "NORMAL_CONTROL"
    assert v2.to_json()["fired"][0]["evidence"][0]["event"] == cold["reefer"]
    assert assess(facts, load_rules("v1")).decision.name == "DIRECT_RELEASE"  # as it was


def test_the_breach_reaches_the_cans_public_proof_and_the_python_verifier(cold):
    bundle = _public(cold)
    assert bundle.conditions is not None
    texts = [d.text for e in bundle.events for d in e.disclosed]
    assert any('"sensorElementList"' in t for t in texts)  # the readings, disclosed
    verdict = verify(cold["can"], bundle, cold["sc"].view)
    assert verdict.genuine, verdict.reason
    section = verdict.cold_chain
    assert section["status"] == "breach" and section["conditionsVersion"] == 1
    (breach,) = section["breaches"]
    assert breach["signer"] == cold["carrier"] and breach["reading"]["value"] == 9.0
    assert breach["minutesOutside"] == 240
    assert section["conditions"]["org"] == "0x" + cold["sc"].parties["manufacturer"].org_id.hex()
    en = describe(section, "en")
    assert en[0].startswith("Breach: outside 0–4 °C for 240 minutes (allowed 60). 9 °C at ")
    assert describe(section, "zh-Hans")[0].startswith("超标：超出 0–4 °C 共 240 分钟")
    assert describe(section, "zh-Hant")[0].startswith("超標：超出 0–4 °C 共 240 分鐘")


def test_conditions_signed_by_someone_else_leave_the_section_unverified(cold):
    from dataclasses import replace

    sc = cold["sc"]
    carrier = sc.parties["carrier"]
    forged = sign_conditions(carrier.private_key, sc.domain,
                             conditions_text(cold["gtin"], 9, [{**RANGES[0], "max": 25}]),
                             carrier.org_id)
    bundle = replace(_public(cold), conditions=forged.to_json())
    verdict = verify(cold["can"], bundle, sc.view)
    assert verdict.genuine  # the facts beside the verdict never decide it
    assert verdict.cold_chain["status"] == "unverified"
    assert "does not carry version 1" in verdict.cold_chain["reason"]


def _looser_v2(cold: dict[str, Any]) -> Any:
    """The brand's version 2 (0-25 °C), signed and registered on chain after the voyage."""
    sc = cold["sc"]
    brand = sc.parties["manufacturer"]
    v2 = sign_conditions(brand.private_key, sc.domain,
                         conditions_text(cold["gtin"], 2, [{**RANGES[0], "max": 25}]),
                         brand.org_id)
    if len(sc.chain.conditions_history(cold["gtin"])) < 2:
        sc.chain.register_conditions(brand.tx, cold["gtin"], 2, keccak256(v2.text.encode()))
    sc.view.sync(force=True)
    return v2


def test_attack_a_gateway_serving_a_later_looser_version_is_caught(cold):
    from dataclasses import replace

    sc = cold["sc"]
    v2 = _looser_v2(cold)
    # The gateway keeps version 1 to itself and serves the brand's genuine, registered v2:
    # under it the 9 °C hours would be no breach. The chain says v1 was in force.
    bundle = replace(_public(cold), conditions=v2.to_json(), earlier_conditions=())
    verdict = verify(cold["can"], bundle, sc.view)
    assert verdict.genuine
    section = verdict.cold_chain
    assert section["status"] == "unverified" and section["registeredVersion"] == 1
    assert "does not carry version 1" in section["reason"]
    assert describe(section, "en")[0].startswith("The brand's storage conditions could not be")
    # An honest gateway serves every stored version: the verifier picks v1, the breach stands.
    honest = replace(_public(cold), conditions=v2.to_json(),
                     earlier_conditions=(cold["v1"].to_json(),))
    judged = verify(cold["can"], honest, sc.view).cold_chain
    assert judged["status"] == "breach" and judged["conditionsVersion"] == 1
    assert judged["conditions"]["conditionsHash"] == "0x" + keccak256(
        cold["v1"].text.encode()).hex()


def test_attack_an_altered_or_unregistered_version_is_caught(cold):
    from dataclasses import replace

    sc = cold["sc"]
    brand = sc.parties["manufacturer"]
    # Signed by the brand's own key (say, a draft), never registered: not the brand's word.
    draft = sign_conditions(brand.private_key, sc.domain,
                            conditions_text(cold["gtin"], 1, [{**RANGES[0], "max": 25}]),
                            brand.org_id)
    bundle = replace(_public(cold), conditions=draft.to_json(), earlier_conditions=())
    section = verify(cold["can"], bundle, sc.view).cold_chain
    assert section["status"] == "unverified" and "does not carry version 1" in section["reason"]
    altered = cold["v1"].to_json() | {"text": cold["v1"].text.replace('"max":4', '"max":25')}
    bundle = replace(_public(cold), conditions=altered, earlier_conditions=())
    assert verify(cold["can"], bundle, sc.view).cold_chain["status"] == "unverified"


def test_attack_withholding_the_conditions_is_caught(cold):
    from dataclasses import replace

    bundle = replace(_public(cold), conditions=None, earlier_conditions=())
    verdict = verify(cold["can"], bundle, cold["sc"].view)
    assert verdict.genuine
    assert verdict.cold_chain["status"] == "unverified"
    assert "does not carry version 1" in verdict.cold_chain["reason"]
    assert "carries none" in verdict.cold_chain["reason"]


@pytest.mark.parametrize("lang", ["zh-Hans", "zh-Hant", "en"])
def test_the_cans_page_shows_the_breach_in_chromium_as_python_computes_it(browser, cold, lang):  # noqa: F811
    bundle = _public(cold)
    proof = bundle.to_json()
    cold["site"].proofs[_path(cold["can"])] = proof
    python = verify(cold["can"], bundle, cold["sc"].view).cold_chain
    page, result = _open(browser, {"site": cold["site"]}, _path(cold["can"]), lang=lang,
                         shot="cold-chain-breach")
    try:
        assert result["verdict"] == "GENUINE", result["reason"]
        js = result["coldChain"]
        assert js["status"] == python["status"] == "breach"
        assert js["breaches"] == python["breaches"]
        assert js["ranges"] == python["ranges"]
        shown = page.inner_text("#coldchain")
        page.locator("#coldchain").screenshot(path=str(ARTIFACTS / f"cold-chain-section-{lang}.png"))
        assert describe(python, lang)[0] in shown
    finally:
        page.context.close()
    assert (ARTIFACTS / f"cold-chain-breach-{lang}.png").exists()


def test_attack_the_browser_verifier_catches_a_later_looser_version(browser, cold):  # noqa: F811
    from dataclasses import replace

    swapped = replace(_public(cold), conditions=_looser_v2(cold).to_json(), earlier_conditions=())
    cold["site"].proofs[_path(cold["can"])] = swapped.to_json()
    python = verify(cold["can"], swapped, cold["sc"].view).cold_chain
    page, result = _open(browser, {"site": cold["site"]}, _path(cold["can"]), lang="en",
                         shot="cold-chain-swapped-conditions")
    try:
        assert result["verdict"] == "GENUINE", result["reason"]
        js = result["coldChain"]
        assert js["status"] == python["status"] == "unverified"
        assert js["registeredVersion"] == python["registeredVersion"] == 1
        assert js["reason"] == python["reason"]
        assert "could not be verified" in page.inner_text("#coldchain")
    finally:
        page.context.close()
    honest = replace(swapped, earlier_conditions=(cold["v1"].to_json(),))
    cold["site"].proofs[_path(cold["can"])] = honest.to_json()
    page, result = _open(browser, {"site": cold["site"]}, _path(cold["can"]), lang="en",
                         shot="cold-chain-in-force-version")
    try:
        js = result["coldChain"]
        assert js["status"] == "breach" and js["conditionsVersion"] == 1
        assert js["conditions"]["conditionsHash"] == verify(
            cold["can"], honest, cold["sc"].view).cold_chain["conditions"]["conditionsHash"]
    finally:
        page.context.close()


def test_customs_judges_by_the_registered_version_too_not_a_later_looser_one(cold):
    """The brand stores and registers v2 (0-25 °C) after the voyage: the consignment's risk
    assessment still judges the voyage by v1, as the shopper's verifier does."""
    sc = cold["sc"]
    v2 = _looser_v2(cold)
    accept_conditions(sc.store.engine, sc.domain, v2, sc.view)
    (latest,) = consignment_cold_chain(sc.store, sc.played.customs_ids)
    assert latest.version == 2 and not latest.breached  # the store's latest alone would pass it
    (report,) = consignment_cold_chain(sc.store, sc.played.customs_ids, sc.view)
    assert report.version == 1 and report.breached
    assert verify(cold["can"], _public(cold), sc.view).cold_chain["conditionsVersion"] == 1
