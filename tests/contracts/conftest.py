"""Fixtures for the contract tests: a `Chain` over the session deployment, and a cast of
organisations with exactly one role each, admitted once per session through governance.

Test actors use fresh keys funded with `anvil_setBalance` (a test-only cheat), never the dev
accounts other test modules sign with: two Transactors on one account would fight over nonces.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.chain.client import Chain
from ledger.chain.deployment import DEFAULT_OPERATOR_GLN
from ledger.chain.transactor import Transactor, anvil_dev_key
from ledger.proofs.codes import check_digit, codes_tree

ROLE_ROWS = ("ADMIN", "ENTERPRISE", "CUSTOMS", "REGULATOR", "ANCHORER")


def gln(n: int) -> str:
    """A valid GLN numbered `n` (distinct n, distinct GLN)."""
    body = f"95{n:010d}"
    return body + str(check_digit(body))


def gtin(prefix: str, item: int = 1) -> str:
    body = "1" + prefix + str(item).zfill(12 - len(prefix))
    return body + str(check_digit(body))


def funded(w3, account: LocalAccount | None = None) -> Transactor:
    account = account or Account.create()
    w3.provider.make_request("anvil_setBalance", [account.address, hex(10**21)])
    return Transactor(w3, account)


@dataclass
class Actor:
    gln: str
    org: bytes
    tx: Transactor

    @property
    def address(self) -> str:
        return self.tx.address


@pytest.fixture(scope="session")
def chain(w3, deployment) -> Chain:
    return Chain(w3, deployment)


@pytest.fixture(scope="session")
def operator(w3) -> Transactor:
    return Transactor(w3, Account.from_key(anvil_dev_key(0)))


@pytest.fixture(scope="session")
def cast(w3, chain: Chain, operator: Transactor) -> dict[str, Actor]:
    """Organisations "ADMIN", "ENTERPRISE", ... holding only that role, "TARGET" (no role),
    "NONE" (a key of no organisation), "REVOKED" (a revoked ENTERPRISE key) and "RIVAL" (a
    second ENTERPRISE owning another prefix). ENTERPRISE owns prefix 9501234 and lot L1 of
    GTIN `gtin("9501234")`."""
    operator.reset_nonce()
    actors: dict[str, Actor] = {}
    names = (*ROLE_ROWS, "TARGET", "RIVAL")
    for i, name in enumerate(names):
        g = gln(900 + i)
        tx = funded(w3)
        roles = [name] if name in ROLE_ROWS else (["ENTERPRISE"] if name == "RIVAL" else [])
        pid = chain.propose_admit(operator, g, f"test {name}", roles, [tx.address]).event(
            "ProposalCreated")["id"]
        chain.execute(operator, pid)
        actors[name] = Actor(g, chain.org_of_key(tx.address), tx)
    for name, prefix in (("ENTERPRISE", "9501234"), ("RIVAL", "9507777")):
        pid = chain.propose_assign_prefix(operator, actors[name].gln, prefix).event(
            "ProposalCreated")["id"]
        chain.execute(operator, pid)
    revoked = funded(w3)
    chain.add_key(actors["ENTERPRISE"].tx, actors["ENTERPRISE"].gln, revoked.address)
    chain.revoke_key(actors["ENTERPRISE"].tx, revoked.address)
    actors["REVOKED"] = Actor(actors["ENTERPRISE"].gln, actors["ENTERPRISE"].org, revoked)
    actors["NONE"] = Actor("", bytes(32), funded(w3))
    tree = codes_tree(gtin("9501234"), ["S1", "S2", "S3"])
    chain.register_lot(actors["ENTERPRISE"].tx, gtin("9501234"), "L1", tree.root, 3)
    assert chain.organisation(DEFAULT_OPERATOR_GLN).roles == {"ADMIN", "ANCHORER"}
    return actors
