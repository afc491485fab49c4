"""Sealed evidence (issue 20): size and offline check time for a 40-event consignment.

A throwaway anvil gets the contracts and one `ledger.demo.scenario` journey sized so that its
consignment's members' evidence (`ledger.evidence.consignment`: customs' decision, the events
it covers, the pallets' events, the goods' packing and commissioning) holds 40 events. It is
sealed at the chain's head (`verifier.sealed.seal`: state proofs for every chain fact the
verifier reads), then checked offline (`verifier.sealed.check_sealed`, no node).

- `evidence_bundle_bytes`: the sealed consignment file's size (canonical JSON);
- `evidence_verify_ms`: median offline check time over `rounds`, each with the verifier's
  content memos cleared (an arbitrator checks a file once); `evidence_verify_first_ms` is the
  first check in the process, imports of py-evm included;
- `evidence_trade_*`: the same for the bank's view (`--for bank`);
- `evidence_item_*`: a sold can's sealed item evidence from the same chain.

    .venv/bin/python -m bench.evidence
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["measure"]


def _clear_memos() -> None:
    from verifier import verify as v

    for fn in (v._full_facts, v._public_facts, v._recover, v._anchor_root, v._journey,
               v._parse_link, v._role_pass):
        fn.cache_clear()
    v._NAMED.clear()


def _timed(raw: bytes, trust: bytes, deployment: Any, rounds: int) -> tuple[float, float, str]:
    from verifier.sealed import check_sealed

    _clear_memos()
    started = time.perf_counter()
    report = check_sealed(raw, trust=trust, manifest=deployment)
    first_ms = (time.perf_counter() - started) * 1000
    times = []
    for _ in range(rounds):
        _clear_memos()
        started = time.perf_counter()
        check_sealed(raw, trust=trust, manifest=deployment)
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1), round(first_ms, 1), report.kind


def measure(*, events: int = 40, rounds: int = 5) -> dict[str, Any]:
    from eth_account import Account

    from ledger.chain.deployment import deploy
    from ledger.chain.transactor import Transactor, anvil_dev_key
    from ledger.demo.journey import build_journey
    from ledger.demo.scenario import Scenario
    from ledger.evidence.consignment import assemble_consignment
    from ledger.store.store import Store
    from tests.conftest import RawAnvil
    from verifier.sealed import seal

    # 78 + 60 cans: 23 cases on 2 pallets, 3 commissioning runs, 14 events of the pallets'
    # journey and customs' decision: 40 events.
    cans = (78, 60) if events == 40 else (max(6, (events - 17) * 6 - 60), 60)
    node = RawAnvil()
    with tempfile.TemporaryDirectory(prefix="zz-bench-evidence-") as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'store.db'}")
        try:
            w3 = node.web3()
            deployment = deploy(Transactor(w3, Account.from_key(anvil_dev_key(0))))
            store.migrate()
            sc = Scenario(w3, deployment, store, admin_key=anvil_dev_key(0),
                          journey=build_journey(0, cans=cans))
            sc.play()
            chain = sc.chain_ref()
            ref = sc.played.customs_ref
            assert ref is not None
            full = assemble_consignment(store, ref, chain=chain)
            started = time.perf_counter()
            sealed = seal(full, w3, deployment)
            seal_s = time.perf_counter() - started
            trade = seal(assemble_consignment(store, ref, chain=chain, disclosure="trade"), w3, deployment)
            item = seal(sc.bundle(sc.sold_cans()[0]), w3, deployment)
        finally:
            node.stop()
            store.close()
    out: dict[str, Any] = {}
    for prefix, s in (("evidence", sealed), ("evidence_trade", trade), ("evidence_item", item)):
        raw = s.dumps()
        median_ms, first_ms, kind = _timed(raw, s.block_hash, deployment, rounds)
        out.update({f"{prefix}_bundle_bytes": len(raw), f"{prefix}_verify_ms": median_ms,
                    f"{prefix}_verify_first_ms": first_ms,
                    f"{prefix}_events": len(s.bundle.events), f"{prefix}_verdict": kind})
    out["evidence_captures"] = len(sealed.bundle.captures)
    out["evidence_proven_slots"] = sum(len(a.storage) for a in sealed.witness.accounts)
    out["evidence_seal_s"] = round(seal_s, 2)
    return out


def main() -> int:
    json.dump(measure(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
