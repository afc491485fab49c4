"""Product conditions: the signed text, its EIP-712 digest and who may sign it (pure parts)."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.proofs.codes import org_id
from ledger.proofs.signing import CaptureDomain
from ledger.trade.conditions import (
    ConditionsNotPrefixOwnerError,
    ConditionsSignatureError,
    InvalidConditionsError,
    SignedConditions,
    check_authority,
    conditions_digest,
    conditions_text,
    parse_conditions,
    recover_conditions_signer,
    sign_conditions,
)

DOMAIN = CaptureDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
GTIN = "09421902960017"
BRAND = org_id("9421902960000")
KEY = Account.create()
RANGES = [{"type": "Temperature", "uom": "CEL", "min": 0, "max": 4, "allowedMinutesOutside": 30}]


def test_the_digest_is_eip712_as_wallets_compute_it():
    text = conditions_text(GTIN, 1, RANGES)
    from ledger.proofs.merkle import keccak256

    typed = {
        "types": {"EIP712Domain": [{"name": "name", "type": "string"},
                                   {"name": "version", "type": "string"},
                                   {"name": "chainId", "type": "uint256"},
                                   {"name": "verifyingContract", "type": "address"}],
                  "ProductConditions": [{"name": "conditionsHash", "type": "bytes32"},
                                        {"name": "org", "type": "bytes32"},
                                        {"name": "signedAt", "type": "uint64"}]},
        "primaryType": "ProductConditions", "domain": DOMAIN.to_eip712(),
        "message": {"conditionsHash": keccak256(text.encode()), "org": BRAND,
                    "signedAt": 1_760_000_000}}
    signed = Account.sign_message(encode_typed_data(full_message=typed), KEY.key)
    ours = sign_conditions(bytes(KEY.key), DOMAIN, text, BRAND, 1_760_000_000)
    assert conditions_digest(DOMAIN, text, BRAND, 1_760_000_000) == bytes(signed.message_hash)
    assert recover_conditions_signer(DOMAIN, ours) == KEY.address


def test_a_signature_for_one_text_recovers_someone_else_for_another():
    signed = sign_conditions(bytes(KEY.key), DOMAIN, conditions_text(GTIN, 1, RANGES), BRAND, 1)
    altered = SignedConditions(signed.text.replace('"max":4', '"max":9'), signed.org,
                               signed.signed_at, signed.signature)
    assert recover_conditions_signer(DOMAIN, altered) != KEY.address
    assert SignedConditions.from_json(signed.to_json()) == signed


@pytest.mark.parametrize("text", [
    "not json", "[]", '{"type": "Other"}',
    '{"type": "ProductConditions", "gtin": "09421902960018", "version": 1, "ranges": []}',
    '{"type": "ProductConditions", "gtin": "09421902960017", "version": 0, "ranges": [{}]}',
    '{"type": "ProductConditions", "gtin": "09421902960017", "version": 1, "ranges": '
    '[{"type": "Temperature", "uom": "FAR", "max": 4}]}',
    '{"type": "ProductConditions", "gtin": "09421902960017", "version": 1, "ranges": '
    '[{"type": "Temperature", "uom": "CEL", "min": 5, "max": 4}]}',
    '{"type": "ProductConditions", "gtin": "09421902960017", "version": 1, "ranges": '
    '[{"type": "Temperature", "uom": "CEL"}]}',
    '{"type": "ProductConditions", "gtin": "09421902960017", "version": 1, "ranges": '
    '[{"type": "Temperature", "uom": "CEL", "max": 4}, {"type": "Temperature", "uom": "FAH", "max": 40}]}',
    '{"type": "ProductConditions", "gtin": "09421902960017", "version": 1, "extra": 1, "ranges": '
    '[{"type": "Temperature", "uom": "CEL", "max": 4}]}',
    '{"type": "ProductConditions", "gtin": "09421902960017", "version": 1, "ranges": '
    '[{"type": "Temperature", "uom": "CEL", "max": 4, "allowedMinutesOutside": -1}]}',
])
def test_malformed_conditions_are_refused(text):
    with pytest.raises(InvalidConditionsError):
        parse_conditions(text)


def test_parsed_ranges_keep_their_units_and_allowances():
    c = parse_conditions(conditions_text(GTIN, 3, [*RANGES, {"type": "Acceleration", "uom": "K40",
                                                             "max": 3}]))
    assert (c.gtin, c.version) == (GTIN, 3)
    assert c.range_for("Acceleration").bounds()[1] == pytest.approx(3 * 9.80665)
    assert c.range_for("Temperature").allowed_minutes == 30


class _View:
    def __init__(self, owner, keys):
        self.owner, self.keys = owner, keys

    def key_verdict(self, org, key, at):
        return "valid" if (org, key) in self.keys else "unknown"

    def prefix_owner(self, gtin):
        return self.owner


def test_only_the_prefix_owners_valid_key_has_authority():
    signed = sign_conditions(bytes(KEY.key), DOMAIN, conditions_text(GTIN, 1, RANGES), BRAND, 5)
    assert check_authority(DOMAIN, signed, _View(BRAND, {(BRAND, KEY.address)}))[1] == KEY.address
    with pytest.raises(ConditionsNotPrefixOwnerError):
        check_authority(DOMAIN, signed, _View(org_id("9421902960024"), {(BRAND, KEY.address)}))
    with pytest.raises(ConditionsSignatureError):
        check_authority(DOMAIN, signed, _View(BRAND, set()))


# --- which registered version is in force (in_force) --------------------------------------------

def _reg(version: int, at: int):
    from ledger.chain.view import ConditionsRecord

    return ConditionsRecord(bytes([version]) * 32, b"\x01" * 32, version, at)


def test_the_version_in_force_is_the_latest_registered_by_the_last_reading():
    from ledger.trade.conditions import in_force

    history = (_reg(1, 100), _reg(2, 200), _reg(5, 300))
    assert in_force((), 1_000) is None
    assert in_force(history, None).version == 5  # no reading: the brand's latest
    assert in_force(history, 250_000).version == 2
    assert in_force(history, 200_000).version == 2  # registered in that very second
    assert in_force(history, 10**12).version == 5
    assert in_force(history, 99_999).version == 1  # older than every registration: the first


@settings(max_examples=200, deadline=None)
@given(times=st.lists(st.integers(0, 10**6), min_size=1, max_size=8),
       at=st.integers(0, 10**9))
def test_a_version_registered_after_the_last_reading_never_governs_it(times, at):
    from ledger.trade.conditions import in_force

    history = tuple(_reg(i + 1, t) for i, t in enumerate(sorted(times)))
    chosen = in_force(history, at)
    assert chosen in history
    if chosen.registered_at * 1000 > at:  # only when nothing was registered by then
        assert chosen == history[0] and all(r.registered_at * 1000 > at for r in history)
    else:
        assert all(r.registered_at * 1000 > at for r in history if r.version > chosen.version)
