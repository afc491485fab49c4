"""Attack: time travel with `signedAt` (issue 16, item 3).

`signedAt` is the signer's own claim. The gateway used to judge a key only at that claimed
time, so (a) a capture dated years ahead was stored, and (b) a key revoked today still captured
by back-dating `signedAt` into its old validity window. The rule (gateway/README.md, "When a
signature counts"): the gateway refuses a `signedAt` further than `ZHENZHI_SIGNED_AT_MAX_SKEW_S`
from its own clock, and a key revoked now, whatever `signedAt` says.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from ledger.demo.journey import EPCIS_CONTEXT
from ledger.demo.scenario import Scenario
from ledger.pipeline.intake import RevokedSigningKeyError, SignedAtOutOfWindowError
from tests.attacks.speakers_env import Speakers, document, object_event
from tests.scenarios import played_journey
from verifier.verdict import CheckName, VerdictKind
from verifier.verify import VerifyOptions, verify

pytestmark = [pytest.mark.chain]
PROBLEM = "urn:zhenzhi:problem:"


def _brand(speakers: Speakers):
    return speakers.parties.get("brand") or speakers.admit("brand", ["ENTERPRISE"], prefix=True)


def test_attack_signed_at_ten_years_ahead_is_refused(speakers: Speakers) -> None:
    brand = _brand(speakers)
    doc = document(object_event([f"https://id.gs1.org/01/{brand.gtin('3')}/21/tt-1"], "storing"))
    ahead = speakers.signed_at_now() + 10 * 365 * 86400
    response = speakers.capture(doc, brand, signed_at=ahead)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["type"] == PROBLEM + "signed-at-out-of-window"
    assert problem["signedAt"] == ahead and problem["maxSkewS"] == 300


def test_attack_signed_at_far_in_the_past_is_refused(speakers: Speakers) -> None:
    brand = _brand(speakers)
    doc = document(object_event([f"https://id.gs1.org/01/{brand.gtin('3')}/21/tt-2"], "storing"))
    response = speakers.capture(doc, brand, signed_at=speakers.signed_at_now() - 3600)
    assert response.status_code == 400, response.text
    assert response.json()["type"] == PROBLEM + "signed-at-out-of-window"


def test_signed_at_within_the_window_is_accepted(speakers: Speakers) -> None:
    brand = _brand(speakers)
    doc = document(object_event([f"https://id.gs1.org/01/{brand.gtin('3')}/21/tt-3"], "storing"))
    # A minute ago, or when its key was added if later (the key must be valid at signedAt).
    added = speakers.chain.key_info(brand.address).added_at
    earlier = max(speakers.signed_at_now() - 60, added)
    response = speakers.capture(doc, brand, signed_at=earlier)
    assert response.status_code == 202, response.text


def test_attack_key_revoked_now_back_dates_signed_at_into_its_window(speakers: Speakers) -> None:
    from eth_account import Account

    from ledger.chain.transactor import Transactor

    brand = _brand(speakers)
    thief = speakers.admit("thief-victim", ["ENTERPRISE"])
    valid_then = speakers.chain.key_info(thief.address).added_at
    _after(valid_then)  # so that the key had a window to back-date into
    speakers.chain.revoke_key(Transactor(speakers.w3, Account.from_key(thief.key)), thief.address)
    speakers.until_gateway_sees(thief, reads=False)
    info = speakers.chain.key_info(thief.address)
    assert info is not None and info.revoked and info.valid_at(valid_then)
    # Dated inside the key's old window and inside the gateway's clock window.
    doc = document(object_event([f"https://id.gs1.org/01/{brand.gtin('3')}/21/tt-4"], "storing"))
    response = speakers.capture(doc, thief, signed_at=valid_then)
    assert response.status_code == 403, response.text
    problem = response.json()
    assert problem["type"] == PROBLEM + "revoked-signing-key"
    assert problem["revokedAt"] == info.revoked_at


# --- the verifier's side of the same rule: what a lying gateway stores anyway ---------------------

@pytest.fixture(scope="module")
def scenario(w3: Any, deployment: Any, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Scenario]:
    with played_journey(w3, deployment, tmp_path_factory.mktemp("time-travel") / "store.db",
                        seed=31, day=171) as sc:
        yield sc


def _doc(*events: dict[str, Any]) -> dict[str, Any]:
    return {"@context": [EPCIS_CONTEXT], "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": max(e["eventTime"] for e in events),
            "epcisBody": {"eventList": list(events)}}


def _second_unpacking(sc: Scenario, epc: str, minutes: int) -> tuple[list[Any], dict[str, Any]]:
    """The item's stored events, and a copy of the warehouse's unpacking of its case `minutes`
    later: an event the warehouse (a named receiver) is entitled to sign."""
    honest = sc.item_events(epc)
    unpack = next(e for e in honest if e.event.get("bizStep") == "unpacking"
                  and epc in (e.event.get("childEPCs") or ()))
    event = copy.deepcopy(unpack.event)
    when = datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00")) + timedelta(minutes=minutes)
    event["eventTime"] = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    return honest, event


def _after(moment: int) -> None:
    """Return once the wall clock (which anvil's blocks follow) has passed `moment`: at most a
    second here. The chain's clock is never moved: other modules share the session chain and
    sign with the wall clock."""
    while time.time() < moment + 1:
        time.sleep(0.05)


def test_attack_signed_at_after_its_anchor_is_counterfeit(scenario: Scenario) -> None:
    epc = scenario.sold_cans()[0]
    honest, event = _second_unpacking(scenario, epc, 3)
    warehouse = scenario.parties["warehouse"]
    ahead = int(time.time()) + 10 * 365 * 86400
    _, _, sig = scenario.sign(warehouse, _doc(event), signed_at=ahead)
    with pytest.raises(SignedAtOutOfWindowError):
        scenario.intake.accept(_doc(event), sig, seed=scenario.seed_of(sig))  # the gateway's window
    forged = scenario.capture_unchecked(warehouse, _doc(event), signed_at=ahead)
    scenario.anchor_pending()
    served = honest + [scenario.store.get_event(forged.event_ids[0])]
    verdict = verify(epc, scenario.bundle(epc, events=served), scenario.view)
    # Rule 1 with the anchor as witness: signed more than the skew after its anchor.
    assert verdict.kind is VerdictKind.COUNTERFEIT, verdict.to_json()
    assert verdict.deciding.name is CheckName.SIGNER_KEY
    assert "signed after the batch it is in was anchored" in verdict.deciding.reason


def test_attack_revoked_key_back_dated_and_anchored_late_is_counterfeit(
        scenario: Scenario) -> None:
    from eth_account import Account

    epc = scenario.sold_cans()[1]
    honest, event = _second_unpacking(scenario, epc, 4)
    warehouse = scenario.parties["warehouse"]
    stolen = Account.create()
    scenario.chain.add_key(warehouse.tx, warehouse.org.gln, stolen.address)
    added = scenario.chain.key_info(stolen.address).added_at
    _after(added)
    scenario.chain.revoke_key(warehouse.tx, stolen.address)
    revoked = scenario.chain.key_info(stolen.address).revoked_at
    assert revoked > added
    # The thief signs after the revocation, dated inside the key's old window.
    _, _, sig = scenario.sign(warehouse, _doc(event), signer=stolen, signed_at=added)
    with pytest.raises(RevokedSigningKeyError) as refused:
        scenario.intake.accept(_doc(event), sig, seed=scenario.seed_of(sig))  # rule 3 at the gateway: revoked now
    assert refused.value.fields["revokedAt"] == revoked
    forged = scenario.capture_unchecked(warehouse, _doc(event), signer=stolen, signed_at=added)
    scenario.anchor_pending()  # necessarily after the revocation
    served = honest + [scenario.store.get_event(forged.event_ids[0])]
    # Rule 3 with the anchor as witness: the key must be unrevoked at anchor time − grace. A
    # grace of 0 stands for "anchored later than the grace after the revocation" without
    # moving the shared chain's clock by an hour.
    verdict = verify(epc, scenario.bundle(epc, events=served), scenario.view,
                     options=VerifyOptions(anchor_grace_s=0))
    assert verdict.kind is VerdictKind.COUNTERFEIT, verdict.to_json()
    assert verdict.deciding.name is CheckName.SIGNER_KEY
    assert "back-dated" in verdict.deciding.reason
