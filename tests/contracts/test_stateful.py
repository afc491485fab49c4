"""Stateful properties (Hypothesis RuleBasedStateMachine) over random sequences of governance,
key, prefix, code and anchoring actions, each example on a fresh deployment with three ADMIN
founders and a 2-of-3 quorum. A Python model predicts the exact outcome of every action,
custom error and arguments included; invariants then compare the whole state:

- a root never changes once anchored, and re-anchoring it reverts;
- a revoked key is never a valid signer from its revocation on, and still is before it;
- only the owner of a GTIN's company prefix registers the GTIN's codes;
- a proposal executes only with approvals from a quorum of organisations that are ADMIN now;
- Merkle proofs built in Python verify on chain, tampered ones do not.
"""

from __future__ import annotations

import pytest
from eth_account import Account
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from ledger.chain.client import Chain, ContractRevertError
from ledger.chain.deployment import Founder, deploy
from ledger.proofs.codes import codes_tree, lot_key, org_id
from ledger.proofs.merkle import MerkleTree
from tests.contracts.conftest import funded, gln, gtin

pytestmark = [pytest.mark.chain, pytest.mark.slow]

ADMINS = ("A", "B", "C")
ENTERPRISES = ("E1", "E2")
ORGS = ADMINS + ENTERPRISES
PREFIXES = ("95111", "95222", "95333")
ROOTS = tuple(bytes([i]) * 32 for i in range(1, 6))


def refusal(exc: ContractRevertError) -> tuple[str, dict]:
    return exc.error, exc.fields["args"]


class ConsortiumMachine(RuleBasedStateMachine):
    w3 = None

    @initialize()
    def deploy_fresh(self) -> None:
        w3 = self.w3
        self.tx = {name: funded(w3) for name in ORGS}
        self.gln = {name: gln(7000 + i) for i, name in enumerate(ORGS)}
        founders = [Founder(self.gln[n], f"org {n}", ("ADMIN", "ANCHORER") if n == "A" else
                            ("ADMIN",) if n in ADMINS else ("ENTERPRISE",), (self.tx[n].address,))
                    for n in ORGS]
        self.chain = Chain(w3, deploy(funded(w3), founders=founders, quorum=2))
        self.admins = set(ADMINS)
        self.quorum = 2
        self.proposals: list[dict] = []
        self.keys: dict[str, dict] = {}  # enterprise keys added during the run
        self.active = {n: [self.tx[n]] for n in ENTERPRISES}
        self.anchored: dict[bytes, tuple] = {}
        self.owner: dict[str, str] = {}
        self.lots = 0

    def org(self, name: str) -> bytes:
        return org_id(self.gln[name])

    def expect(self, fn, *args, error: tuple[str, dict] | None):
        if error is None:
            return fn(*args)
        with pytest.raises(ContractRevertError) as exc:
            fn(*args)
        assert refusal(exc.value) == error
        return None

    def not_admin(self, name: str) -> tuple[str, dict] | None:
        if name in self.admins:
            return None
        return ("AccessControlUnauthorizedAccount",
                {"account": self.tx[name].address.lower(), "neededRole": "ADMIN"})

    # --- governance -----------------------------------------------------------------------

    @rule(proposer=st.sampled_from(ORGS), subject=st.sampled_from(ORGS), grant=st.booleans())
    def propose_admin_change(self, proposer: str, subject: str, grant: bool) -> None:
        target = subject
        error = self.not_admin(proposer) or self.action_error(("ADMIN", grant), target)
        fn = self.chain.propose_grant_role if grant else self.chain.propose_revoke_role
        out = self.expect(fn, self.tx[proposer], self.gln[target], "ADMIN", error=error)
        if out is not None:
            self.proposals.append({"id": out.event("ProposalCreated")["id"], "action": ("ADMIN", grant),
                                   "target": target, "approvers": {proposer}, "executed": False})

    @rule(proposer=st.sampled_from(ORGS), quorum=st.integers(1, 4))
    def propose_quorum(self, proposer: str, quorum: int) -> None:
        error = self.not_admin(proposer) or self.action_error(("QUORUM", quorum), None)
        out = self.expect(self.chain.propose_set_quorum, self.tx[proposer], quorum, error=error)
        if out is not None:
            self.proposals.append({"id": out.event("ProposalCreated")["id"], "action": ("QUORUM", quorum),
                                   "target": None, "approvers": {proposer}, "executed": False})

    @rule(proposer=st.sampled_from(ADMINS), subject=st.sampled_from(ENTERPRISES),
          prefix=st.sampled_from(PREFIXES))
    def propose_prefix(self, proposer: str, subject: str, prefix: str) -> None:
        target = subject
        error = self.not_admin(proposer) or self.action_error(("PREFIX", prefix), target)
        out = self.expect(self.chain.propose_assign_prefix, self.tx[proposer], self.gln[target],
                          prefix, error=error)
        if out is not None:
            self.proposals.append({"id": out.event("ProposalCreated")["id"], "action": ("PREFIX", prefix),
                                   "target": target, "approvers": {proposer}, "executed": False})

    def action_error(self, action: tuple, target: str | None) -> tuple[str, dict] | None:
        kind, value = action
        if kind == "ADMIN":
            org = self.gln[target]
            if value and target in self.admins:
                return "ConsortiumRoleAlreadyGranted", {"org": org, "role": "ADMIN"}
            if not value and target not in self.admins:
                return "ConsortiumRoleNotGranted", {"org": org, "role": "ADMIN"}
            if not value and len(self.admins) - 1 < self.quorum:
                return "ConsortiumQuorumUnreachable", {"adminCountAfter": len(self.admins) - 1,
                                                       "quorum": self.quorum}
        elif kind == "QUORUM":
            if not 1 <= value <= len(self.admins):
                return "ConsortiumInvalidQuorum", {"quorum": value, "adminCount": len(self.admins)}
        elif kind == "PREFIX" and value in self.owner:
            return "ConsortiumPrefixTaken", {"prefix": value, "owner": self.gln[self.owner[value]]}
        return None

    @precondition(lambda self: self.proposals)
    @rule(approver=st.sampled_from(ORGS), data=st.data())
    def approve(self, approver: str, data) -> None:
        p = data.draw(st.sampled_from(self.proposals))
        error = self.not_admin(approver)
        if error is None and p["executed"]:
            error = "ConsortiumProposalAlreadyExecuted", {"id": p["id"]}
        elif error is None and approver in p["approvers"]:
            error = "ConsortiumAlreadyApproved", {"id": p["id"], "org": self.gln[approver]}
        self.expect(self.chain.approve, self.tx[approver], p["id"], error=error)
        if error is None:
            p["approvers"].add(approver)

    @precondition(lambda self: self.proposals)
    @rule(executor=st.sampled_from(ORGS), data=st.data())
    def execute(self, executor: str, data) -> None:
        p = data.draw(st.sampled_from(self.proposals))
        approvals = len(p["approvers"] & self.admins)
        error = self.not_admin(executor)
        if error is None and p["executed"]:
            error = "ConsortiumProposalAlreadyExecuted", {"id": p["id"]}
        elif error is None and approvals < self.quorum:
            error = "ConsortiumQuorumNotReached", {"id": p["id"], "approvals": approvals,
                                                   "quorum": self.quorum}
        elif error is None:
            error = self.action_error(p["action"], p["target"])
        self.expect(self.chain.execute, self.tx[executor], p["id"], error=error)
        if error is not None:
            return
        # Quorum respected: the model let it through only with enough current-admin approvals.
        assert approvals >= self.quorum
        p["executed"] = True
        kind, value = p["action"]
        if kind == "ADMIN":
            (self.admins.add if value else self.admins.discard)(p["target"])
        elif kind == "QUORUM":
            self.quorum = value
        else:
            self.owner[value] = p["target"]

    # --- keys -------------------------------------------------------------------------------

    @rule(org=st.sampled_from(ENTERPRISES))
    def add_key(self, org: str) -> None:
        new = funded(self.w3)
        out = self.chain.add_key(self.active[org][0], self.gln[org], new.address)
        at = self.w3.eth.get_block(out.block_number)["timestamp"]
        self.keys[new.address] = {"org": org, "added_at": at, "revoked_at": 0}
        self.active[org].append(new)

    @precondition(lambda self: any(len(v) > 1 for v in self.active.values()))
    @rule(data=st.data(), by_admin=st.booleans())
    def revoke_key(self, data, by_admin: bool) -> None:
        org = data.draw(st.sampled_from([o for o in ENTERPRISES if len(self.active[o]) > 1]))
        victim = data.draw(st.sampled_from(self.active[org][1:]))
        revoker = self.tx[sorted(self.admins)[0]] if by_admin else self.active[org][0]
        out = self.chain.revoke_key(revoker, victim.address)
        self.keys[victim.address]["revoked_at"] = self.w3.eth.get_block(out.block_number)["timestamp"]
        self.active[org].remove(victim)
        again = ("ConsortiumKeyAlreadyRevoked", {"key": victim.address.lower(),
                                                 "revokedAt": self.keys[victim.address]["revoked_at"]})
        self.expect(self.chain.revoke_key, revoker, victim.address, error=again)

    # --- codes --------------------------------------------------------------------------------

    @rule(org=st.sampled_from(ENTERPRISES), prefix=st.sampled_from(PREFIXES))
    def register_lot(self, org: str, prefix: str) -> None:
        self.lots += 1
        g, lot = gtin(prefix, self.lots), f"LOT{self.lots}"
        tree = codes_tree(g, [f"S{self.lots}-{i}" for i in range(3)])
        owner = self.owner.get(prefix)
        error = None
        if owner is None:
            error = "CodeRegistryUnassignedPrefix", {"gtin": g}
        elif owner != org:
            error = "CodeRegistryNotPrefixOwner", {"org": self.gln[org], "prefix": prefix}
        self.expect(self.chain.register_lot, self.active[org][-1], g, lot, tree.root, 3, error=error)
        got = self.chain.lot(g, lot)
        if error is None:
            assert got is not None and got.org == self.org(org) and got.lot_key == lot_key(g, lot)
            assert self.chain.verify_code(g, lot, f"S{self.lots}-1", tree.proof(1))
            assert not self.chain.verify_code(g, lot, f"S{self.lots}-1", tree.proof(0))
        else:
            assert got is None

    # --- anchoring ------------------------------------------------------------------------------

    @rule(root=st.sampled_from(ROOTS), count=st.integers(1, 2**32 - 1))
    def anchor(self, root: bytes, count: int) -> None:
        error = ("TraceAnchorAlreadyAnchored", {"root": "0x" + root.hex()}) if root in self.anchored else None
        self.expect(self.chain.anchor, self.tx["A"], root, count, b"\x07" * 32, error=error)
        if error is None:
            self.anchored[root] = self.chain.anchor_of(root)
            assert self.anchored[root].leaf_count == count

    @rule(leaves=st.lists(st.binary(min_size=32, max_size=32).filter(any), min_size=1,
                          max_size=40, unique=True),
          data=st.data())
    def anchor_tree(self, leaves: list[bytes], data) -> None:
        tree = MerkleTree.build(leaves)
        i = data.draw(st.integers(0, len(leaves) - 1))
        proof = tree.proof(i)
        if tree.root not in self.anchored:
            assert not self.chain.verify_anchored(tree.root, leaves[i], proof)
            self.chain.anchor(self.tx["A"], tree.root, len(leaves))
            self.anchored[tree.root] = self.chain.anchor_of(tree.root)
        assert self.chain.verify_anchored(tree.root, leaves[i], proof)
        leaf = bytearray(leaves[i])
        leaf[data.draw(st.integers(0, 31))] ^= 1 << data.draw(st.integers(0, 7))
        assert not self.chain.verify_anchored(tree.root, bytes(leaf), proof)
        if proof:
            j = data.draw(st.integers(0, len(proof) - 1))
            bad = [bytes(p) for p in proof]
            bad[j] = bytes([bad[j][0] ^ 0x80]) + bad[j][1:]
            assert not self.chain.verify_anchored(tree.root, leaves[i], bad)

    # --- invariants ---------------------------------------------------------------------------

    @invariant()
    def roots_never_change(self) -> None:
        if getattr(self, "chain", None) is None:
            return
        for root, record in self.anchored.items():
            assert self.chain.anchor_of(root) == record

    @invariant()
    def quorum_and_admins_match(self) -> None:
        if getattr(self, "chain", None) is None:
            return
        assert self.chain.quorum() == self.quorum <= self.chain.admin_count() == len(self.admins)

    @invariant()
    def key_windows_are_exact(self) -> None:
        if getattr(self, "chain", None) is None:
            return
        for key, k in self.keys.items():
            org = self.org(k["org"])
            valid = self.chain.was_valid_signer
            assert valid(org, key, "ENTERPRISE", k["added_at"]) == (
                k["revoked_at"] == 0 or k["added_at"] < k["revoked_at"])
            assert not valid(org, key, "ENTERPRISE", k["added_at"] - 1)
            assert not valid(org, key, "CUSTOMS", k["added_at"])
            if k["revoked_at"]:
                assert not valid(org, key, "ENTERPRISE", k["revoked_at"])
                assert not valid(org, key, "ENTERPRISE", k["revoked_at"] + 10**6)
                if k["revoked_at"] - 1 >= k["added_at"]:
                    assert valid(org, key, "ENTERPRISE", k["revoked_at"] - 1)
            else:
                assert valid(org, key, "ENTERPRISE", k["added_at"] + 10**6)


def test_consortium_state_machine(w3) -> None:
    ConsortiumMachine.w3 = w3
    run_state_machine_as_test(ConsortiumMachine, settings=settings(
        max_examples=25, stateful_step_count=20, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]))


def test_fresh_account_is_not_a_member(w3, chain: Chain) -> None:
    assert chain.org_of_key(Account.create().address) is None
