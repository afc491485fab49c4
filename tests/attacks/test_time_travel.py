"""Attack: time travel with `signedAt` (issue 16, item 3).

`signedAt` is the signer's own claim. The gateway used to judge a key only at that claimed
time, so (a) a capture dated years ahead was stored, and (b) a key revoked today still captured
by back-dating `signedAt` into its old validity window. The rule (gateway/README.md, "When a
signature counts"): the gateway refuses a `signedAt` further than `ZHENZHI_SIGNED_AT_MAX_SKEW_S`
from its own clock, and a key revoked now, whatever `signedAt` says.
"""

from __future__ import annotations

import pytest

from tests.attacks.speakers_env import Speakers, document, object_event, speakers  # noqa: F401

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
    # The revocation lands at least a second after the key was added (anvil may otherwise mine
    # both in one second), so the key had a window to back-date into.
    latest = int(speakers.w3.eth.get_block("latest")["timestamp"])
    speakers.w3.provider.make_request("evm_setNextBlockTimestamp", [max(latest, valid_then) + 1])
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
