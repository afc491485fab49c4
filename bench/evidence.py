"""Sealed evidence (issue 20): size and offline check time for a ~40-event consignment.

A throwaway anvil gets the contracts and one `ledger.demo.scenario` journey; the bundle is a sold
can's own events plus the consignment's other events, up to `events` (40), with their customs
cover. It is sealed at the chain's head (`verifier.sealed.seal`: state proofs for every chain
fact the verifier reads), then checked offline (`verifier.sealed.check_sealed`, no node).

- `evidence_bundle_bytes`: the sealed file's size (canonical JSON).
- `evidence_verify_ms`: median offline check time over `rounds`, each with the verifier's
  content memos cleared (an arbitrator checks a file once); `evidence_verify_first_ms` is the
  first check in the process, imports of py-evm included.

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

    for fn in (v._event_facts, v._recover, v._journey, v._parse_link):
        fn.cache_clear()
    v._NAMED.clear()


def measure(*, events: int = 40, rounds: int = 5) -> dict[str, Any]:
    from eth_account import Account

    from ledger.chain.deployment import deploy
    from ledger.chain.transactor import Transactor, anvil_dev_key
    from ledger.demo.scenario import Scenario
    from ledger.store.store import Store
    from tests.conftest import RawAnvil
    from verifier.sealed import check_sealed, seal

    node = RawAnvil()
    with tempfile.TemporaryDirectory(prefix="zz-bench-evidence-") as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'store.db'}")
        try:
            w3 = node.web3()
            deployment = deploy(Transactor(w3, Account.from_key(anvil_dev_key(0))))
            store.migrate()
            sc = Scenario(w3, deployment, store, admin_key=anvil_dev_key(0))
            sc.play()
            epc = sc.sold_cans()[0]
            own = sc.item_events(epc)
            ids = {e.event_id for e in own}
            others = [store.get_event(event_id) for _, event_id in sorted(sc.played.ids.items())]
            extra = [e for e in others if e is not None and e.event_id not in ids]
            chosen = [*own, *extra[:max(0, events - len(own))]]
            bundle = sc.bundle(epc, events=chosen)
            started = time.perf_counter()
            sealed = seal(bundle, w3, deployment)
            seal_s = time.perf_counter() - started
        finally:
            node.stop()
            store.close()
    raw = sealed.dumps()
    _clear_memos()
    started = time.perf_counter()
    report = check_sealed(raw, trust=sealed.block_hash, manifest=deployment)
    first_ms = (time.perf_counter() - started) * 1000
    times = []
    for _ in range(rounds):
        _clear_memos()
        started = time.perf_counter()
        check_sealed(raw, trust=sealed.block_hash, manifest=deployment)
        times.append((time.perf_counter() - started) * 1000)
    return {
        "evidence_bundle_bytes": len(raw),
        "evidence_verify_ms": round(statistics.median(times), 1),
        "evidence_verify_first_ms": round(first_ms, 1),
        "evidence_events": len(sealed.bundle.events),
        "evidence_captures": len(sealed.bundle.captures),
        "evidence_proven_slots": sum(len(a.storage) for a in sealed.witness.accounts),
        "evidence_seal_s": round(seal_s, 2),
        "evidence_verdict": report.kind,
    }


def main() -> int:
    json.dump(measure(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
