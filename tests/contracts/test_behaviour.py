"""Focused contract behaviour: identifiers hash the same in Python and Solidity, the EIP-712
relay path, lot status, customs history, deployment quorum, gas goals."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from web3.exceptions import ContractCustomError

from bench.gas import GOALS, measure
from ledger.chain.client import Chain, ContractRevertError
from ledger.chain.deployment import Founder, deploy
from ledger.errors import InvalidInputError
from ledger.proofs.codes import code_leaf, codes_tree, gln_of, lot_key, org_id
from ledger.proofs.merkle import keccak256
from ledger.proofs.signing import SECP256K1_N, CaptureDomain, sign_capture
from tests.contracts.conftest import Actor, funded, gln, gtin

pytestmark = pytest.mark.chain

GTIN = gtin("9501234")
SERIAL = st.text(st.sampled_from("ABCxyz0189-_/"), min_size=1, max_size=20)


def refused(exc: pytest.ExceptionInfo[ContractRevertError]) -> tuple[str, dict]:
    return exc.value.error, exc.value.fields["args"]


@settings(max_examples=30, deadline=None)
@given(serial=SERIAL, lot=SERIAL)
def test_python_leaves_and_lot_keys_equal_the_contracts(chain: Chain, serial: str, lot: str) -> None:
    reg = chain.code_registry.functions
    assert reg.codeLeaf(GTIN, serial).call() == code_leaf(GTIN, serial)
    assert reg.lotKey(GTIN, lot).call() == lot_key(GTIN, lot)


def test_gtin_owner_finds_the_prefix_inside_a_gtin(chain: Chain, cast: dict[str, Actor]) -> None:
    assert chain.gtin_owner(GTIN) == (cast["ENTERPRISE"].org, "9501234")
    assert chain.gtin_owner(gtin("9507777", 5)) == (cast["RIVAL"].org, "9507777")
    assert chain.gtin_owner(gtin("9599999")) is None


def test_rival_member_cannot_register_another_brands_codes(chain: Chain, cast) -> None:
    with pytest.raises(ContractRevertError) as exc:
        chain.register_lot(cast["RIVAL"].tx, GTIN, "FAKE", b"\x01" * 32, 1)
    assert refused(exc) == ("CodeRegistryNotPrefixOwner", {"org": cast["RIVAL"].gln, "prefix": "9501234"})


def test_signed_registration_is_relayed_once(chain: Chain, cast) -> None:
    me, relay = cast["ENTERPRISE"], cast["NONE"]
    tree = codes_tree(GTIN, ["R1", "R2"])
    sig, nonce, deadline = chain.sign_register_lot(me.tx.account.key, GTIN, "SIG1", tree.root, 2)
    reg = chain.code_registry.functions
    assert reg.registerLotDigest(GTIN, "SIG1", tree.root, 2, nonce, deadline).call() == \
        chain.register_lot_digest(GTIN, "SIG1", tree.root, 2, nonce, deadline)
    # The high-s twin of the same signature recovers the same key; OZ ECDSA must refuse it.
    r, s, v = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64]
    twin = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])
    with pytest.raises(ContractRevertError) as exc:
        chain.register_lot_with_sig(relay.tx, GTIN, "SIG1", tree.root, 2, me.address, deadline, twin)
    assert exc.value.error == "ECDSAInvalidSignatureS"
    out = chain.register_lot_with_sig(relay.tx, GTIN, "SIG1", tree.root, 2, me.address, deadline, sig)
    assert out.event("LotRegistered")["signer"].lower() == me.address.lower()
    assert chain.lot(GTIN, "SIG1").org == me.org and chain.lot_nonce(me.address) == nonce + 1
    with pytest.raises(ContractRevertError) as exc:  # replay: the nonce has moved on
        chain.register_lot_with_sig(relay.tx, GTIN, "SIG1", tree.root, 2, me.address, deadline, sig)
    assert exc.value.error == "CodeRegistryInvalidSigner"
    assert chain.verify_code(GTIN, "SIG1", "R2", tree.proof(1))


def test_lot_recall_by_regulator_then_no_withdrawal(chain: Chain, cast) -> None:
    tree = codes_tree(GTIN, ["X1"])
    chain.register_lot(cast["ENTERPRISE"].tx, GTIN, "REC1", tree.root, 1)
    chain.recall_lot(cast["REGULATOR"].tx, GTIN, "REC1", b"\x09" * 32)
    lot = chain.lot(GTIN, "REC1")
    assert lot.status == "RECALLED" and lot.reason_hash == b"\x09" * 32
    with pytest.raises(ContractRevertError) as exc:
        chain.withdraw_lot(cast["ENTERPRISE"].tx, GTIN, "REC1")
    assert refused(exc) == ("CodeRegistryLotNotActive", {"lotKey": "0x" + lot.lot_key.hex(), "status": 2})
    chain.register_lot(cast["ENTERPRISE"].tx, GTIN, "WD1", tree.root, 1)
    chain.withdraw_lot(cast["ENTERPRISE"].tx, GTIN, "WD1")
    assert chain.lot(GTIN, "WD1").status == "WITHDRAWN"


def test_customs_decisions_supersede_and_keep_history(chain: Chain, cast) -> None:
    c = b"\x33" * 32
    assert chain.latest_decision(c) is None
    chain.record_decision(cast["CUSTOMS"].tx, c, "IMMEDIATE_CONTROL", "NOT_INSPECTED", b"\x01" * 32, "v1")
    out = chain.record_decision(cast["CUSTOMS"].tx, c, "IMMEDIATE_CONTROL", "PASSED", b"\x01" * 32, "v2")
    assert out.event("DecisionSuperseded") == {"consignment": c, "superseded": 0, "by": 1}
    history = chain.decision_history(c)
    assert [(d.inspection, d.rules_version) for d in history] == [("NOT_INSPECTED", "v1"), ("PASSED", "v2")]
    assert chain.latest_decision(c) == history[-1]


def test_wrong_quorum_at_deployment_is_refused(w3) -> None:
    tx = funded(w3)
    with pytest.raises(InvalidInputError):
        deploy(tx, quorum=2)
    # Past the Python check, the constructor refuses on its own.
    lone = Founder(gln(8800), "x", ("ADMIN",), (tx.address,))
    with pytest.raises(ContractCustomError) as exc:
        deploy(tx, constructor_args=lambda name, d: ([lone.as_arg()], 2))
    selector = keccak256(b"ConsortiumInvalidQuorum(uint256,uint256)")[:4]
    assert exc.value.data[:10] == "0x" + selector.hex()


def test_capture_signed_off_chain_checks_on_chain(chain: Chain, cast) -> None:
    me = cast["ENTERPRISE"]
    domain = CaptureDomain(chain.deployment.chainId, chain.deployment.address("Consortium"))
    now = chain.w3.eth.get_block("latest")["timestamp"]
    sig = sign_capture(bytes(me.tx.account.key), domain, b"\x05" * 32, 3, me.org, 1, now)
    check = chain.consortium.functions.captureSigner
    assert check(b"\x05" * 32, 3, me.org, 1, now, sig.signature).call() == [me.address, True]
    # Another org claimed, or a time before the key existed: recovered, but not valid.
    assert check(b"\x05" * 32, 3, cast["RIVAL"].org, 1, now, sig.signature).call()[1] is False
    revoked = cast["REVOKED"]
    info = chain.key_info(revoked.address)
    late = sign_capture(bytes(revoked.tx.account.key), domain, b"\x05" * 32, 3, me.org, 2,
                        info.revoked_at)
    early = sign_capture(bytes(revoked.tx.account.key), domain, b"\x05" * 32, 3, me.org, 2,
                         info.added_at)
    assert check(b"\x05" * 32, 3, me.org, 2, info.revoked_at, late.signature).call()[1] is False
    assert check(b"\x05" * 32, 3, me.org, 2, info.added_at, early.signature).call()[1] is (
        info.added_at < info.revoked_at)


def test_gas_goals_hold(w3, deployment) -> None:
    result = measure(w3, deployment)
    for n, goal in GOALS.items():
        assert result["anchor"][n]["per_event"] <= goal, result
    assert result["anchor"][1]["gas"] == pytest.approx(result["anchor"][4096]["gas"], abs=100)


def test_org_id_round_trip_and_refusals() -> None:
    assert org_id("0614141000005") == b"0614141000005" + bytes(19)
    with pytest.raises(InvalidInputError):
        org_id("0614141000006")
    assert gln_of(org_id("0614141000005")) == "0614141000005"


# --- product conditions registered by the brand (CodeRegistry.registerConditions) ----------------

COND_GTIN = gtin("9501234", 77)


def test_attack_only_the_prefix_owner_registers_a_gtins_conditions(chain: Chain, cast) -> None:
    with pytest.raises(ContractRevertError) as exc:
        chain.register_conditions(cast["RIVAL"].tx, COND_GTIN, 1, b"\x01" * 32)
    assert refused(exc) == ("CodeRegistryNotPrefixOwner", {"org": cast["RIVAL"].gln, "prefix": "9501234"})
    with pytest.raises(ContractRevertError) as exc:
        chain.register_conditions(cast["CUSTOMS"].tx, COND_GTIN, 1, b"\x01" * 32)
    assert refused(exc)[0] == "AccessControlUnauthorizedAccount"
    assert chain.conditions_history(COND_GTIN) == []


def test_attack_a_registered_conditions_version_is_never_overwritten_nor_undercut(chain: Chain, cast) -> None:
    brand = cast["ENTERPRISE"]
    first = chain.register_conditions(brand.tx, COND_GTIN, 2, keccak256(b"v2"))
    event = first.event("ConditionsRegistered")
    assert event["version"] == 2 and event["signer"] == brand.address.lower()
    for version in (2, 1):
        with pytest.raises(ContractRevertError) as exc:
            chain.register_conditions(brand.tx, COND_GTIN, version, keccak256(b"looser"))
        assert refused(exc) == ("CodeRegistryConditionsVersionNotHigher",
                                {"gtin": COND_GTIN, "version": version, "latest": 2})
    with pytest.raises(ContractRevertError) as exc:
        chain.register_conditions(brand.tx, COND_GTIN, 3, bytes(32))
    assert refused(exc)[0] == "CodeRegistryZeroConditionsHash"
    with pytest.raises(ContractRevertError) as exc:
        chain.register_conditions(brand.tx, "12345", 3, keccak256(b"v3"))
    assert refused(exc)[0] == "CodeRegistryInvalidGtin"
    chain.register_conditions(brand.tx, COND_GTIN, 5, keccak256(b"v5"))
    history = chain.conditions_history(COND_GTIN)
    assert [(h, v) for h, _, v, _ in history] == [(keccak256(b"v2"), 2), (keccak256(b"v5"), 5)]
    assert all(org == brand.org for _, org, _, _ in history)
    assert history[0][3] <= history[1][3]  # registration times, in order
    with pytest.raises(ContractCustomError) as raw:
        chain.code_registry.functions.conditionsAt(keccak256(COND_GTIN.encode()), 2).call()
    assert chain.revert_error("CodeRegistry", raw.value).error == "CodeRegistryUnknownConditionsVersion"
