"""A journey played onto the session chain and a fresh store, as the attack and verifier tests
use it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ledger.chain.transactor import anvil_dev_key
from ledger.demo.journey import _DAY, _START_MS, build_journey
from ledger.demo.scenario import Scenario
from ledger.store.store import Store


@contextmanager
def played_journey(w3: Any, deployment: Any, db: Path, *, seed: int, day: int
                   ) -> Iterator[Scenario]:
    """Journey `seed`, produced `day` days after the demo's start, played by its parties onto
    the chain and a fresh SQLite store at `db`. Lot numbers carry the production date and lots
    register once per chain, so every module playing onto the session chain needs a day of
    its own."""
    store = Store(f"sqlite:///{db}")
    store.migrate()
    try:
        journey = build_journey(seed, start_ms=_START_MS + day * _DAY)
        sc = Scenario(w3, deployment, store, admin_key=anvil_dev_key(0), journey=journey)
        sc.admin.reset_nonce()  # other modules may have sent from the dev account
        sc.play()
        yield sc
    finally:
        store.close()
