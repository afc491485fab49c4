"""The whole journey on chains set up as consortium operators run them, not only anvil's
defaults: each hardfork we build for (london, shanghai, cancun) and a zero-gas-price,
zero-base-fee chain (Besu `--min-gas-price=0`, GoQuorum).

On each: a fresh anvil, `deploy` picking the bytecode by asking the chain which opcodes it runs,
then the NZ → Nansha journey through the real intake, the real anchoring worker, the brand's
lot registration, customs' decision on CustomsRelease, the verifier's GENUINE, and a recall
that turns the same can RECALLED.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

from ledger.chain.deployment import deploy, detect_evm_version
from ledger.chain.transactor import Transactor, anvil_dev_key
from ledger.chain.view import ChainView
from ledger.errors import ChainError, InvalidInputError
from tests.conftest import RawAnvil
from tests.integration.chain.chains import scenario_on
from verifier.verdict import VerdictKind
from verifier.verify import verify

pytestmark = [pytest.mark.chain, pytest.mark.slow]

# name: (anvil flags, the EVM version deploy must pick)
CHAINS = {
    "london": (("--hardfork", "london"), "london"),
    "shanghai": (("--hardfork", "shanghai"), "shanghai"),
    "cancun": (("--hardfork", "cancun"), "cancun"),
    "zero-gas": (("--gas-price", "0", "--base-fee", "0"), "cancun"),
}


@pytest.fixture(params=sorted(CHAINS))
def chain(request: pytest.FixtureRequest) -> Iterator[tuple[str, RawAnvil]]:
    node = RawAnvil(*CHAINS[request.param][0])
    try:
        yield request.param, node
    finally:
        node.stop()


def test_the_journey_passes_on_each_chain_setting(chain: tuple[str, RawAnvil],
                                                  tmp_path: Path) -> None:
    name, node = chain
    w3 = node.web3()
    assert detect_evm_version(w3) == CHAINS[name][1]
    with scenario_on(node, tmp_path / "store.db", seed=3) as sc:
        deployment = sc.deployment
        assert deployment.evmVersion == CHAINS[name][1]
        if name == "zero-gas":
            # Priced at the chain's zero base fee with no tip: gas costs nothing.
            assert w3.eth.get_block("latest")["baseFeePerGas"] == 0
            receipt = w3.eth.get_transaction_receipt(deployment.contracts["Consortium"].txHash)
            assert receipt["effectiveGasPrice"] == 0
        sc.play()
        assert sc.store.pending_count()[0] == 0
        code = sc.sold_cans()[0]
        verdict = verify(code, sc.bundle(code), ChainView(w3, deployment, max_staleness=0))
        assert verdict.kind is VerdictKind.GENUINE, verdict.to_json()

        lot = sc.lot_of(code)
        sc.chain.recall_lot(sc.parties["manufacturer"].tx, lot.ref.gtin, lot.ref.lot)
        verdict = verify(code, sc.bundle(code), ChainView(w3, deployment, max_staleness=0))
        assert verdict.kind is VerdictKind.RECALLED, verdict.to_json()


@pytest.fixture
def london() -> Iterator[Transactor]:
    node = RawAnvil("--hardfork", "london")
    try:
        yield Transactor(node.web3(), Account.from_key(anvil_dev_key(0)))
    finally:
        node.stop()


def test_deploy_refuses_an_evm_version_it_has_no_build_for(london: Transactor) -> None:
    with pytest.raises(InvalidInputError, match="unknown EVM version 'paris'"):
        deploy(london, evm_version="paris")


def test_cancun_bytecode_does_not_deploy_on_a_london_chain(london: Transactor) -> None:
    """Why the choice matters: the default artifacts use PUSH0, which London rejects."""
    with pytest.raises(ChainError, match="deploy with --evm london"):
        deploy(london, evm_version="cancun")
