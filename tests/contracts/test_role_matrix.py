"""Every state-changing function × every caller who must not call it reverts with the exact
custom error and arguments.

The matrix is generated: `PRIVILEGES` names, per function, the rows allowed to call it, the
arguments and the error everyone else gets; the first test proves the table covers exactly the
state-changing functions of the ABIs, so a new function without a row here fails the suite.
Calls are `eth_call`s from the caller's address: the same checks a transaction meets, no state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from web3.exceptions import ContractCustomError

from ledger.chain.client import Chain, ContractRevertError, role_id
from ledger.chain.compiler import load_artifact
from ledger.chain.deployment import CONTRACT_NAMES
from ledger.proofs.codes import lot_key, org_id, prefix_bytes
from tests.contracts.conftest import Actor, gln, gtin

pytestmark = pytest.mark.chain

ROWS = ("ADMIN", "ENTERPRISE", "CUSTOMS", "REGULATOR", "ANCHORER", "NONE", "REVOKED")
LIFE = 3600
GTIN = gtin("9501234")
ROOT = b"\x42" * 32
NEW_KEY = "0x000000000000000000000000000000000000dEaD"

Cast = dict[str, Actor]
Args = Callable[[Chain, Cast, Actor], tuple[Any, ...]]
Expected = Callable[[Cast, Actor], tuple[str, dict[str, Any]]]


def missing(role: str) -> Expected:
    return lambda cast, me: ("AccessControlUnauthorizedAccount",
                             {"account": me.address.lower(), "neededRole": role})


def not_org_key(cast: Cast, me: Actor) -> tuple[str, dict[str, Any]]:
    return "ConsortiumNotOrgKey", {"caller": me.address.lower(), "org": cast["TARGET"].gln}


def by_proposal(cast: Cast, me: Actor) -> tuple[str, dict[str, Any]]:
    return "ConsortiumRolesByProposalOnly", {"role": "ADMIN", "account": me.address.lower()}


def not_lot_owner(cast: Cast, me: Actor) -> tuple[str, dict[str, Any]]:
    return "CodeRegistryNotLotOwner", {"caller": me.address.lower(),
                                       "lotKey": "0x" + lot_key(GTIN, "L1").hex()}


def signed_lot(chain: Chain, cast: Cast, me: Actor) -> tuple[Any, ...]:
    sig, _, deadline = chain.sign_register_lot(me.tx.account.key, GTIN, "L2", ROOT, 1)
    return (GTIN, "L2", ROOT, 1, me.address, deadline, sig)


@dataclass(frozen=True)
class Privilege:
    allowed: frozenset[str]
    args: Args
    error: Expected
    sender: str | None = None  # None: the row's own key; else the cast member who relays


def p(allowed: set[str], args: Args, error: Expected, sender: str | None = None) -> Privilege:
    return Privilege(frozenset(allowed), args, error, sender)


ADMIN_ONLY = missing("ADMIN")
PRIVILEGES: dict[tuple[str, str], Privilege] = {
    ("Consortium", "proposeAdmit"): p({"ADMIN"}, lambda c, k, m: (org_id(gln(5000)), "x", [], [], LIFE), ADMIN_ONLY),
    ("Consortium", "proposeRemove"): p({"ADMIN"}, lambda c, k, m: (k["TARGET"].org, LIFE), ADMIN_ONLY),
    ("Consortium", "proposeGrantRole"): p({"ADMIN"}, lambda c, k, m: (k["TARGET"].org, role_id("ENTERPRISE"), LIFE), ADMIN_ONLY),
    ("Consortium", "proposeRevokeRole"): p({"ADMIN"}, lambda c, k, m: (k["ENTERPRISE"].org, role_id("ENTERPRISE"), LIFE), ADMIN_ONLY),
    ("Consortium", "proposeSetQuorum"): p({"ADMIN"}, lambda c, k, m: (1, LIFE), ADMIN_ONLY),
    ("Consortium", "proposeAddKey"): p({"ADMIN"}, lambda c, k, m: (k["TARGET"].org, NEW_KEY, LIFE), ADMIN_ONLY),
    ("Consortium", "proposeAssignPrefix"): p({"ADMIN"}, lambda c, k, m: (k["TARGET"].org, prefix_bytes("9509999"), LIFE), ADMIN_ONLY),
    ("Consortium", "approve"): p({"ADMIN"}, lambda c, k, m: (0,), ADMIN_ONLY),
    ("Consortium", "execute"): p({"ADMIN"}, lambda c, k, m: (0,), ADMIN_ONLY),
    ("Consortium", "addKey"): p(set(), lambda c, k, m: (k["TARGET"].org, NEW_KEY), not_org_key),
    ("Consortium", "revokeKey"): p({"ADMIN"}, lambda c, k, m: (k["TARGET"].address,), not_org_key),
    ("Consortium", "defineGrade"): p({"REGULATOR"}, lambda c, k, m: (b"AAA".ljust(32, b"\0"),), missing("REGULATOR")),
    ("Consortium", "setGrade"): p({"REGULATOR"}, lambda c, k, m: (k["TARGET"].org, bytes(32)), missing("REGULATOR")),
    ("Consortium", "setBlacklisted"): p({"REGULATOR"}, lambda c, k, m: (k["TARGET"].org, True, bytes(32)), missing("REGULATOR")),
    ("Consortium", "grantRole"): p(set(), lambda c, k, m: (role_id("ADMIN"), m.address), by_proposal),
    ("Consortium", "revokeRole"): p(set(), lambda c, k, m: (role_id("ADMIN"), m.address), by_proposal),
    ("Consortium", "renounceRole"): p(set(), lambda c, k, m: (role_id("ADMIN"), m.address), by_proposal),
    ("TraceAnchor", "anchor"): p({"ANCHORER"}, lambda c, k, m: (ROOT, 1, bytes(32)), missing("ANCHORER")),
    ("CodeRegistry", "registerLot"): p({"ENTERPRISE"}, lambda c, k, m: (GTIN, "L2", ROOT, 1), missing("ENTERPRISE")),
    ("CodeRegistry", "registerLotWithSig"): p({"ENTERPRISE"}, signed_lot, missing("ENTERPRISE"), sender="NONE"),
    ("CodeRegistry", "recallLot"): p({"ENTERPRISE", "REGULATOR"}, lambda c, k, m: (GTIN, "L1", bytes(32)), not_lot_owner),
    ("CodeRegistry", "withdrawLot"): p({"ENTERPRISE"}, lambda c, k, m: (GTIN, "L1"), not_lot_owner),
    ("CodeRegistry", "registerConditions"): p({"ENTERPRISE"}, lambda c, k, m: (GTIN, 1, ROOT), missing("ENTERPRISE")),
    ("CustomsRelease", "recordDecision"): p({"CUSTOMS"}, lambda c, k, m: (ROOT, 0, 0, ROOT, b"v1".ljust(32, b"\0"), bytes(32)), missing("CUSTOMS")),
}


def state_changing() -> set[tuple[str, str]]:
    return {(name, item["name"]) for name in CONTRACT_NAMES for item in load_artifact(name)["abi"]
            if item["type"] == "function" and item["stateMutability"] not in ("view", "pure")}


def test_matrix_covers_every_state_changing_function() -> None:
    # renounce/grant/revoke are `pure` overrides (they always revert), so they are added back.
    overridden = {("Consortium", f) for f in ("grantRole", "revokeRole", "renounceRole")}
    assert set(PRIVILEGES) == state_changing() | overridden


CASES = [(contract, fn, row) for (contract, fn), priv in PRIVILEGES.items()
         for row in ROWS if row not in priv.allowed]


def attempt(chain: Chain, cast: Cast, contract: str, fn: str, row: str) -> ContractRevertError | None:
    priv = PRIVILEGES[(contract, fn)]
    me = cast[row]
    sender = cast[priv.sender] if priv.sender else me
    call = getattr(chain.contracts[contract].functions, fn)(*priv.args(chain, cast, me))
    try:
        call.call({"from": sender.address})
    except ContractCustomError as exc:
        err = chain.revert_error(contract, exc)
        assert isinstance(err, ContractRevertError), exc
        return err
    return None


@pytest.mark.parametrize(("contract", "fn", "row"), CASES, ids=[f"{c}.{f}-{r}" for c, f, r in CASES])
def test_revert_if_caller_lacks_authority(chain: Chain, cast: Cast, contract: str, fn: str,
                                          row: str) -> None:
    err = attempt(chain, cast, contract, fn, row)
    assert err is not None, f"{row} called {contract}.{fn} unhindered"
    assert (err.error, err.fields["args"]) == PRIVILEGES[(contract, fn)].error(cast, cast[row])


ALLOWED = [(contract, fn, row) for (contract, fn), priv in PRIVILEGES.items()
           for row in sorted(priv.allowed)]


@pytest.mark.parametrize(("contract", "fn", "row"), ALLOWED, ids=[f"{c}.{f}-{r}" for c, f, r in ALLOWED])
def test_allowed_caller_passes_the_authority_check(chain: Chain, cast: Cast, contract: str,
                                                   fn: str, row: str) -> None:
    # The control group: if every call reverted, the matrix above would prove nothing.
    err = attempt(chain, cast, contract, fn, row)
    expected_refusal = PRIVILEGES[(contract, fn)].error(cast, cast[row])[0]
    assert err is None or err.error != expected_refusal, str(err)
