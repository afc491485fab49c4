"""Public proofs ("zhenzhi-evidence" version 2, public events) made on a real chain, for the
browser verifier's tests: the demo journey is played onto the chain (`tests.scenarios`), and an
item's stored events are then re-captured the way the selective-disclosure intake will capture
them: each original capture's events of the item committed with `commit_document` (salts from a
fresh seed), signed with the same organisation's key over the EIP-712 domain version the
browser verifier reads (`DOMAIN_VERSION`), anchored in one batch on TraceAnchor, and a customs
decision recorded on CustomsRelease over their commitments. Only chosen disclosures are kept,
each with its path (`CommittedEvent.disclose`).

`PublicProofs.proof(epc)` is the JSON a gateway would serve the public; `python_verdict` runs
the Python verifier over the same JSON on the same chain (for the browser/Python comparison).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.proofs.bundle import Bundle
from ledger.proofs.capture import capture_leaf, events_tree
from ledger.proofs.disclosure import commit_document, new_seed
from ledger.proofs.merkle import MerkleTree
from ledger.proofs.signing import CaptureDomain, capture_digest, recover_signer, sign_capture

# The EIP-712 domain version of verifier/web/src/capture.js (DOMAIN_VERSION).
DOMAIN_VERSION = "2"
# What the public may see of an event: everything but the trading documents.
HIDDEN = frozenset(("bizTransactionList",))


def _hex(b: bytes) -> str:
    return "0x" + bytes(b).hex()


@dataclass
class PublicProofs:
    scenario: Any
    domain: CaptureDomain
    made: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, scenario: Any) -> PublicProofs:
        d = scenario.deployment
        return cls(scenario, CaptureDomain(d.chainId, d.address("Consortium"),
                                           version=DOMAIN_VERSION))

    def config(self, rpc_url: str) -> dict[str, Any]:
        d = self.scenario.deployment
        return {"rpcUrl": rpc_url, "chainId": d.chainId,
                "contracts": {n: r.address for n, r in d.contracts.items()}}

    def proof(self, epc: str, *, keep: Callable[[str, Any], bool] = lambda n, v: n not in HIDDEN,
              scans: Sequence[dict[str, Any]] = (), events: Sequence[Any] | None = None,
              customs: bool = True, big_nonces: bool = False) -> dict[str, Any]:
        """The public proof of the can `epc` (its Digital Link), captured afresh on the chain.
        `big_nonces`: nonces above 2**63 (beyond what a JavaScript number holds exactly)."""
        sc = self.scenario
        stored = list(events) if events is not None else sc.item_events(epc)
        keys = {p.org_id: p for p in sc.parties.values()}
        groups: dict[str, list[Any]] = {}
        for e in stored:
            groups.setdefault(e.capture_id, []).append(e)
        captures, out_events, leaves = [], [], []
        commitments: list[bytes] = []
        for capture_id, evs in groups.items():
            org = self._org_of(capture_id, evs)
            party = keys[org]
            committed = commit_document([e.event for e in evs], [e.event_id for e in evs],
                                        new_seed())
            tree = events_tree([c.commitment for c in committed])
            signed_at = sc.signed_at()
            nonce = sc.next_nonce() + ((1 << 63) if big_nonces else 0)
            sig = sign_capture(party.private_key, self.domain, tree.root, len(evs), org,
                               nonce, signed_at)
            signer = recover_signer(self.domain, sig)
            digest = capture_digest(self.domain, sig.events_root, sig.count, sig.org, sig.nonce,
                                    sig.signed_at)
            leaves.append(capture_leaf(digest, signer))
            index = len(captures)
            captures.append({"eventsRoot": _hex(sig.events_root), "count": sig.count,
                             "org": _hex(sig.org), "nonce": sig.nonce, "signedAt": sig.signed_at,
                             "signature": _hex(sig.signature), "signer": signer, "anchor": None})
            for n, c in enumerate(committed):
                commitments.append(c.commitment)
                out_events.append({
                    "commitment": _hex(c.commitment), "capture": index,
                    "proof": [_hex(p) for p in tree.proof(n)],
                    "disclosures": [{"text": d.text, "proof": [_hex(p) for p in d.proof]}
                                    for d in c.disclose(keep)]})
        batch = MerkleTree.build(leaves)
        sc.chain.anchor(sc.admin, batch.root, len(leaves))
        anchored_in = int(sc.w3.eth.block_number)
        for i, cap in enumerate(captures):
            cap["anchor"] = {"batchRoot": _hex(batch.root),
                             "proof": [_hex(p) for p in batch.proof(i)],
                             "txHash": None, "blockNumber": anchored_in}
        customs_json = []
        if customs:
            customs_json = self._customs(commitments)
        d = sc.deployment
        reg = sc.registration(epc)
        out = {
            "format": "zhenzhi-evidence", "version": 2, "code": epc,
            "generatedAt": int(time.time()), "source": "tests.public_proof",
            "chain": {"chainId": d.chainId, "blockNumber": int(sc.w3.eth.block_number),
                      "contracts": {n: r.address for n, r in d.contracts.items()}},
            "registration": None if reg is None else {
                "gtin": reg.gtin, "lot": reg.lot, "codeProof": [_hex(p) for p in reg.code_proof]},
            "captures": captures, "events": out_events, "customs": customs_json,
            "scans": list(scans),
        }
        self.made[epc] = out
        return out

    def _org_of(self, capture_id: str, evs: Sequence[Any]) -> bytes:
        record = self.scenario.store.get_capture(capture_id)
        assert record is not None, capture_id
        return bytes(record.org)

    def _customs(self, commitments: Sequence[bytes]) -> list[dict[str, Any]]:
        """Customs records a decision over the item's event commitments (as the intake will
        once captures are commitments), released after a passed inspection."""
        from ledger.trade.risk import load_rules

        sc = self.scenario
        rules = load_rules("v1")
        consignment = hashlib.sha256(b"browser-verifier" + commitments[0]
                                     + time.time_ns().to_bytes(8, "big")).digest()
        tree = events_tree(commitments)
        sc.chain.record_decision(sc.parties["customs"].tx, consignment, "NORMAL_CONTROL",
                                 "PASSED", tree.root, rules.version, bytes.fromhex(rules.sha256))
        return [{"consignment": _hex(consignment), "commitment": _hex(c),
                 "proof": [_hex(p) for p in tree.proof(i)]} for i, c in enumerate(commitments)]


def python_verdict(scenario: Any, proof: dict[str, Any], *, code: str | None = None,
                   now: int | None = None) -> Any:
    """The Python verifier's verdict over the same JSON, reading the same chain (its capture
    domain set to the browser verifier's version)."""
    from ledger.chain.view import ChainView
    from verifier.verify import verify

    view = ChainView(scenario.w3, scenario.deployment, max_staleness=0)
    d = scenario.deployment
    view.domain = CaptureDomain(d.chainId, d.address("Consortium"), version=DOMAIN_VERSION)
    try:
        bundle = Bundle.from_json(proof)
    except Exception:  # noqa: BLE001 - a malformed proof: the browser says so, Python refuses it
        return None
    return verify(code or proof["code"], bundle, view, now=now)
