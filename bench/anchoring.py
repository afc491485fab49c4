"""Anchoring throughput: events anchored per second by `AnchorWorker`, against the naive design
(one `TraceAnchor.anchor` transaction per event), side by side on the same anvil in one run.

    python -m bench.anchoring [--rpc URL --manifest FILE] [--events N]

Without --rpc a throwaway devnet is started and the contracts deployed. The worker's figure is
the drain of a backlog of accepted captures (captures of 500 events, batches of up to 1024
captures): acceptance is measured separately (`accept_events_per_s`). The naive figure is a
sample of `naive_sample` one-event transactions, sent and awaited one by one, extrapolated.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from eth_account import Account

from ledger.anchoring import AnchorWorker
from ledger.capture import events_tree
from ledger.chain import Chain
from ledger.deployment import Deployment, deploy
from ledger.merkle import keccak256
from ledger.signing import CaptureDomain, build_signed_capture, sign_capture
from ledger.store import Store
from ledger.transactor import Transactor, anvil_dev_key


def _captures(total: int, per_capture: int) -> list:
    domain = CaptureDomain(chain_id=31337, verifying_contract="0x" + "33" * 20)
    key = bytes.fromhex(anvil_dev_key(3)[2:])
    org = keccak256(b"org:bench")
    caps = []
    for c in range(total // per_capture):
        events = [{"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "shipping",
                   "eventTime": "2024-05-01T08:00:00.000Z", "eventTimeZoneOffset": "+00:00",
                   "epcList": [f"urn:epc:id:sgtin:0614141.107346.{c}x{i}"],
                   "readPoint": {"id": "urn:epc:id:sgln:0614141.00777.0"}}
                  for i in range(per_capture)]
        # Bench ids: sha-256 stand-ins would do for the store, but real event hashes keep the
        # data what production sees; hashing is not part of the timed anchoring.
        from ledger.event_hash import event_hash

        ids = [event_hash(e) for e in events]
        sig = sign_capture(key, domain, events_tree(ids).root, len(ids), org, c + 1, 1_700_000_000)
        caps.append(build_signed_capture(events, None, ids, sig, domain))
    return caps


def measure(w3: Any, deployment: Deployment, *, events: int = 200_000, per_capture: int = 500,
            batch_size: int = 1024, naive_sample: int = 300, db_dir: Path | None = None) -> dict:
    chain = Chain(w3, deployment)
    tx = Transactor(w3, Account.from_key(anvil_dev_key(0)))
    tmp = Path(db_dir or tempfile.mkdtemp(prefix="zz-bench-"))
    store = Store(f"sqlite:///{tmp / 'bench.db'}")
    store.migrate()
    caps = _captures(events, per_capture)
    start = time.perf_counter()
    for cap in caps:
        store.accept_capture(cap)
    accept_s = time.perf_counter() - start
    n_events = len(caps) * per_capture

    worker = AnchorWorker(store, chain, tx, batch_size=batch_size, in_flight=4)
    start = time.perf_counter()
    stats = worker.run(once=True)
    anchor_s = time.perf_counter() - start
    assert stats.events == n_events and store.pending_count() == (0, 0)

    # Naive: every event its own root and transaction, awaited before the next.
    tx.reset_nonce()
    start = time.perf_counter()
    for i in range(naive_sample):
        chain.anchor(tx, keccak256(b"naive" + time.time_ns().to_bytes(8, "big") + bytes([i % 256])), 1)
    naive_s = time.perf_counter() - start
    naive_rate = naive_sample / naive_s
    rate = n_events / anchor_s
    store.close()
    return {
        "events": n_events, "captures": len(caps), "batches": stats.batches,
        "accept_events_per_s": round(n_events / accept_s),
        "anchor_events_per_s": round(rate),
        "naive_events_per_s": round(naive_rate, 1),
        "anchored_vs_naive_speedup": round(rate / naive_rate, 1),
        "targets": {"anchor_events_per_s": 20_000, "anchored_vs_naive_speedup": 50},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rpc")
    parser.add_argument("--manifest", type=Path)
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args(argv)
    from web3 import Web3

    if args.rpc and args.manifest:
        w3 = Web3(Web3.HTTPProvider(args.rpc, request_kwargs={"timeout": 30}))
        result = measure(w3, Deployment.load(args.manifest), events=args.events)
    else:
        from tests.conftest import AnvilProcess, free_port

        proc = AnvilProcess(Path(tempfile.mkdtemp(prefix="zz-bench-net-")), free_port())
        proc.up()
        try:
            w3 = proc.web3()
            deployment = deploy(Transactor(w3, Account.from_key(anvil_dev_key(0))))
            result = measure(w3, deployment, events=args.events)
        finally:
            proc.down()
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
