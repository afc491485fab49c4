"""Sealed evidence built on an anvil of the module's own, then checked with the node gone.

One NZ → Nansha journey is played onto a fresh anvil; a sold can's evidence is sealed at block
N (by `zhenzhi evidence --offline` and by `verifier.sealed.seal`), its lot is then recalled,
and the can is sealed again after the recall and, once more, at block N. Then the anvil is
stopped. `network_off` refuses every socket, so a checker that tried to reach a node fails.

`tests/integration/conftest.py` and `tests/attacks/conftest.py` register the fixtures; a test
module turns the network off with `pytest.mark.usefixtures("network_off")`.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from gateway.cli import app as cli
from ledger.chain.transactor import anvil_dev_key
from ledger.demo.scenario import Scenario
from ledger.evidence.sealed import SealedEvidence
from ledger.proofs.merkle import keccak256
from tests.conftest import RawAnvil
from verifier.sealed import SealedReport, check_sealed

__all__ = ["check", "network_off", "sealed", "sealed_consignment"]


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from eth_account import Account

    from ledger.chain.deployment import deploy
    from ledger.chain.transactor import Transactor
    from ledger.store.store import Store
    from verifier.sealed import seal

    tmp = tmp_path_factory.mktemp("sealed")
    node = RawAnvil()
    store = Store(f"sqlite:///{tmp / 'store.db'}")
    try:
        w3 = node.web3()
        dep = deploy(Transactor(w3, Account.from_key(anvil_dev_key(0))))
        manifest = tmp / "deployment.json"
        dep.save(manifest)
        store.migrate()
        sc = Scenario(w3, dep, store, admin_key=anvil_dev_key(0))
        sc.play()
        code = sc.sold_cans()[0]
        # The CLI's build: from the store, against the node, sealed at its head.
        cli_file = tmp / "cli.json"
        run = CliRunner().invoke(cli, ["evidence", code, "-o", str(cli_file), "--offline",
                                       "--database", f"sqlite:///{tmp / 'store.db'}",
                                       "--rpc", node.url, "--manifest", str(manifest)])
        assert run.exit_code == 0, run.output
        bundle = sc.bundle(code)
        before = seal(bundle, w3, dep)
        block_n = before.witness.header.number
        lot = sc.lot_of(code)
        sc.chain.recall_lot(sc.parties["manufacturer"].tx, lot.ref.gtin, lot.ref.lot,
                            keccak256(b"recall after the sale"))
        after = seal(bundle, w3, dep)
        # Sealed again at block N, after the recall: what the chain said when the goods sold.
        again = seal(bundle, w3, dep, block=block_n)
    finally:
        node.stop()
        store.close()
    yield {"code": code, "dep": dep, "manifest": manifest, "cli_file": cli_file,
           "before": before, "after": after, "again": again, "raw": before.dumps(),
           "hash": before.block_hash}


@pytest.fixture(scope="module")
def sealed_consignment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One journey's consignment sealed on a fresh anvil, in the members' view and the bank's
    (both by `zhenzhi evidence consignment … --offline`, the bank's with `--for bank`), before a
    recall of one of its lots, then after it, then again at the first block. The anvil is then
    stopped."""
    from eth_account import Account

    from ledger.chain.deployment import deploy
    from ledger.chain.transactor import Transactor
    from ledger.evidence.consignment import assemble_consignment
    from ledger.store.store import Store
    from verifier.sealed import seal

    tmp = tmp_path_factory.mktemp("sealed-consignment")
    node = RawAnvil()
    db = f"sqlite:///{tmp / 'store.db'}"
    store = Store(db)
    try:
        w3 = node.web3()
        dep = deploy(Transactor(w3, Account.from_key(anvil_dev_key(0))))
        manifest = tmp / "deployment.json"
        dep.save(manifest)
        store.migrate()
        sc = Scenario(w3, dep, store, admin_key=anvil_dev_key(0))
        sc.play()
        ref = sc.played.customs_ref
        files = {}
        for view, extra in (("full", []), ("trade", ["--for", "bank"])):
            files[view] = tmp / f"{view}.json"
            run = CliRunner().invoke(cli, ["evidence", "consignment", ref, "-o", str(files[view]),
                                           "--offline", "--database", db, "--rpc", node.url,
                                           "--manifest", str(manifest), *extra])
            assert run.exit_code == 0, run.output
        full = assemble_consignment(store, ref, chain=sc.chain_ref())
        before = seal(full, w3, dep)
        block_n = before.witness.header.number
        lot = sc.journey.lots[-1]  # a finished lot of the consignment's goods
        sc.chain.recall_lot(sc.parties["manufacturer"].tx, lot.ref.gtin, lot.ref.lot,
                            keccak256(b"recall after clearance"))
        after = seal(full, w3, dep)
        again = seal(full, w3, dep, block=block_n)
    finally:
        node.stop()
        store.close()
    yield {"ref": ref, "dep": dep, "manifest": manifest, "files": files, "lot": lot,
           "before": before, "after": after, "again": again,
           "raw": files["full"].read_bytes(), "trade": files["trade"].read_bytes(),
           "hash": SealedEvidence.loads(files["full"].read_bytes()).block_hash,
           "trade_hash": SealedEvidence.loads(files["trade"].read_bytes()).block_hash}


@pytest.fixture
def network_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """No socket can connect, resolve or be made."""
    def refuse(*_a: Any, **_k: Any) -> Any:
        raise OSError("network is off in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def check(raw: bytes, sealed: dict[str, Any], **kwargs: Any) -> SealedReport:
    """`check_sealed` trusting the sealed block and the real deployment unless told otherwise."""
    kwargs.setdefault("trust", sealed["hash"])
    kwargs.setdefault("manifest", sealed["dep"])
    return check_sealed(raw, **kwargs)
