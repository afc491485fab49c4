"""Gas of the contract operations that scale: anchoring batches, registering a lot, a customs
decision.

    python -m bench.gas            # starts a throwaway devnet, deploys, prints the table

`measure(w3, deployment)` runs against any deployment whose deployer key (dev account 0 on
anvil) holds ADMIN and ANCHORER; it admits a bench enterprise and customs organisation first.
One root stands for a whole batch, so anchoring costs the same for 1 or 4,096 leaves and the
cost per event falls as the batch grows. Goals: <= 100 gas per anchored event at 1,024 leaves,
<= 30 at 4,096.
"""

from __future__ import annotations

import secrets
import sys
from typing import Any

from eth_account import Account
from web3 import Web3

from ledger.chain.client import Chain
from ledger.chain.deployment import Deployment
from ledger.chain.transactor import Transactor, anvil_dev_key
from ledger.proofs.capture import event_leaf
from ledger.proofs.codes import check_digit, codes_tree
from ledger.proofs.merkle import MerkleTree

__all__ = ["BATCH_SIZES", "GOALS", "LOT_SIZE", "measure"]

BATCH_SIZES = (1, 256, 1024, 4096)
LOT_SIZE = 10_000
GOALS = {1024: 100, 4096: 30}  # max gas per anchored event


def _fund(w3: Web3, payer: Transactor, address: str) -> None:
    payer.send(to=address, value=10**18)


def measure(w3: Web3, deployment: Deployment, *, operator_key: str | None = None) -> dict[str, Any]:
    """Gas used per operation: {"anchor": {n: {"gas", "per_event"}}, "register_lot", "customs"}."""
    chain = Chain(w3, deployment)
    operator = Transactor(w3, Account.from_key(operator_key or anvil_dev_key(0)))
    enterprise = Transactor(w3, Account.create())
    customs = Transactor(w3, Account.create())
    for t in (enterprise, customs):
        _fund(w3, operator, t.address)
    tag = secrets.randbelow(10**6)
    orgs = []
    for i, (role, t) in enumerate((("ENTERPRISE", enterprise), ("CUSTOMS", customs))):
        body = f"97{tag:06d}{i:04d}"
        gln = body + str(check_digit(body))
        pid = chain.propose_admit(operator, gln, f"bench {role.lower()}", [role],
                                  [t.address]).event("ProposalCreated")["id"]
        chain.execute(operator, pid)
        orgs.append(gln)
    prefix = f"97{tag:06d}"
    pid = chain.propose_assign_prefix(operator, orgs[0], prefix).event("ProposalCreated")["id"]
    chain.execute(operator, pid)

    anchors: dict[int, dict[str, float]] = {}
    for n in BATCH_SIZES:
        tree = MerkleTree.build([event_leaf(secrets.token_bytes(32)) for _ in range(n)])
        gas = chain.anchor(operator, tree.root, n, secrets.token_bytes(32)).gas_used
        anchors[n] = {"gas": gas, "per_event": gas / n}

    body = "1" + prefix + "0001"
    gtin = body + str(check_digit(body))
    lot = codes_tree(gtin, [secrets.token_hex(8) for _ in range(LOT_SIZE)])
    register = chain.register_lot(enterprise, gtin, f"B{tag}", lot.root, LOT_SIZE).gas_used
    first = chain.record_decision(customs, secrets.token_bytes(32), "NORMAL_CONTROL", "NOT_INSPECTED",
                                  secrets.token_bytes(32), "v1", secrets.token_bytes(32)).gas_used
    return {"anchor": anchors, "register_lot": {"codes": LOT_SIZE, "gas": register,
                                                 "per_code": register / LOT_SIZE},
            "customs": {"gas": first}}


def table(result: dict[str, Any]) -> str:
    lines = [f"{'operation':38} {'gas':>9} {'gas/item':>9}"]
    for n, row in result["anchor"].items():
        goal = f"  (goal <= {GOALS[n]})" if n in GOALS else ""
        lines.append(f"{f'anchor a batch of {n:,} leaves':38} {row['gas']:>9,} "
                     f"{row['per_event']:>9.1f}{goal}")
    reg = result["register_lot"]
    label = f"register a lot of {reg['codes']:,} codes"
    lines.append(f"{label:38} {reg['gas']:>9,} "
                 f"{reg['per_code']:>9.2f}")
    lines.append(f"{'customs decision':38} {result['customs']['gas']:>9,}")
    return "\n".join(lines)


def main() -> int:  # pragma: no cover - a manual benchmark
    import tempfile
    from pathlib import Path

    from ledger.chain.deployment import deploy
    from tests.conftest import AnvilProcess, free_port

    proc = AnvilProcess(Path(tempfile.mkdtemp(prefix="zhenzhi-gas-")), free_port())
    proc.up()
    try:
        w3 = proc.web3()
        deployment = deploy(Transactor(w3, Account.from_key(anvil_dev_key(0))))
        result = measure(w3, deployment)
    finally:
        proc.down()
    print(table(result))
    ok = all(result["anchor"][n]["per_event"] <= g for n, g in GOALS.items())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
