"""A second node's word: the verifier reads at one node's pinned block and asks other nodes
for the same block. Two anvils stand in for two consortium nodes: the second is a fork of the
first (`anvil --fork-url`), so both hold the same history up to the fork; then each mines a
block of its own and they diverge, as a node on a minority fork or a lying node would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from typer.testing import CliRunner

from gateway.cli import app as cli
from ledger.chain.transactor import Transactor, anvil_dev_key
from ledger.chain.view import ChainView
from tests.conftest import RawAnvil
from tests.integration.chain.chains import scenario_on
from verifier.verdict import CheckName, Outcome, VerdictKind
from verifier.verify import verify

pytestmark = [pytest.mark.chain, pytest.mark.slow]


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    first = RawAnvil()
    tmp = tmp_path_factory.mktemp("two-nodes")
    try:
        with scenario_on(first, tmp / "store.db", seed=13) as sc:
            sc.play()
            second = RawAnvil("--fork-url", first.url)
            manifest = tmp / "deployment.json"
            sc.deployment.save(manifest)
            try:
                yield {"first": first, "second": second, "scenario": sc, "manifest": manifest,
                       "code": sc.sold_cans()[0]}
            finally:
                second.stop()
    finally:
        first.stop()


def _verify(nodes: dict[str, Any]):
    sc = nodes["scenario"]
    code = nodes["code"]
    return verify(code, sc.bundle(code), ChainView(sc.w3, sc.deployment, max_staleness=0),
                  witnesses=[nodes["second"].web3()])


def test_two_nodes_that_agree_confirm_a_genuine_item(nodes: dict[str, Any]) -> None:
    verdict = _verify(nodes)
    assert verdict.kind is VerdictKind.GENUINE, verdict.to_json()
    (agree,) = verdict.by_name(CheckName.NODES_AGREE)
    assert agree.outcome is Outcome.PASS and agree.details["block"] == verdict.block_number


def test_nodes_that_disagree_about_the_block_are_never_genuine(nodes: dict[str, Any],
                                                              tmp_path: Path) -> None:
    first, second = nodes["first"], nodes["second"]
    # Each node mines a different transaction into its next block: the histories split.
    for node, value in ((first, 1), (second, 2)):
        tx = Transactor(node.web3(), Account.from_key(anvil_dev_key(5)))
        tx.send(to="0x" + "22" * 20, value=value)
    assert first.web3().eth.block_number == second.web3().eth.block_number
    verdict = _verify(nodes)
    assert verdict.kind is VerdictKind.UNVERIFIED, verdict.to_json()
    (agree,) = verdict.by_name(CheckName.NODES_AGREE)
    assert agree.outcome is Outcome.MISSING and "disagree" in agree.reason
    assert agree.details["ours"] != agree.details["theirs"]
    # Everything else still checks out: only the nodes' disagreement stands in the way.
    assert [c.name for c in verdict.failing()] == [CheckName.NODES_AGREE]

    # The CLI says the same, with its exit code for UNVERIFIED.
    sc = nodes["scenario"]
    bundle_file = tmp_path / "bundle.json"
    bundle_file.write_text(sc.bundle(nodes["code"]).dumps())
    run = CliRunner().invoke(cli, ["verify", "--bundle", str(bundle_file), "--rpc", first.url,
                                   "--manifest", str(nodes["manifest"]),
                                   "--witness-rpc", second.url, "--json"])
    assert run.exit_code == 2, run.output
    assert json.loads(run.output)["verdict"] == "UNVERIFIED"


def test_a_witness_that_does_not_answer_is_not_agreement(nodes: dict[str, Any]) -> None:
    from web3 import Web3

    sc = nodes["scenario"]
    code = nodes["code"]
    gone = Web3(Web3.HTTPProvider("http://127.0.0.1:9", request_kwargs={"timeout": 2}))
    verdict = verify(code, sc.bundle(code), ChainView(sc.w3, sc.deployment, max_staleness=0),
                     witnesses=[gone])
    assert verdict.kind is VerdictKind.UNVERIFIED
    (agree,) = verdict.by_name(CheckName.NODES_AGREE)
    assert agree.outcome is Outcome.MISSING and "could not confirm" in agree.reason
