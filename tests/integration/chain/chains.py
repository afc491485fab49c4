"""A journey's scenario on a chain of a test's own (`tests.conftest.RawAnvil`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from eth_account import Account

from ledger.chain.deployment import deploy
from ledger.chain.transactor import Transactor, anvil_dev_key
from ledger.demo.scenario import Scenario
from ledger.store.store import Store
from tests.conftest import RawAnvil


@contextmanager
def scenario_on(node: RawAnvil, db: Path, *, seed: int) -> Iterator[Scenario]:
    """The contracts deployed by dev account 0 (the EVM version `deploy` detects), a fresh
    SQLite store at `db`, and a scenario of journey `seed` over both (nothing played yet)."""
    w3 = node.web3()
    deployment = deploy(Transactor(w3, Account.from_key(anvil_dev_key(0))))
    store = Store(f"sqlite:///{db}")
    store.migrate()
    try:
        yield Scenario(w3, deployment, store, admin_key=anvil_dev_key(0), seed=seed)
    finally:
        store.close()
