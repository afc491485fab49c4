"""Trace query speed on a store loaded with the journey generator's bulk stream.

Loads `n_events` events into a fresh SQLite store the way the gateway does (one signed capture
per 500-event document: hash every event, sign the root once, recover the signer, accept; a
second process hashes and signs while this one commits eight captures per transaction with the
store's group commit, which also keeps the trace index), then measures:
- `trace_p95_ms`: item history (through cases, pallets and the lot transformation) of ≥200
  random cans, cases and pallets, 95th percentile (goal ≤ 50 ms at 1,000,000 events);
- `recall_scope_s`: recall scope of `ledger.demo.journey.RECALL_LOT` (median of three; the first
  alone is `recall_scope_first_s`), whose descendants are 12,000
  cans, 2,000 cases and 40 pallets (goal ≤ 1 s).

    .venv/bin/python -m bench.queries [--quick] [--events N] [--keep DIR [--reuse]] [--json]

`--reuse` measures the queries again on a store kept by an earlier run (no load figures).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from queue import Empty
from typing import Any

from sqlalchemy import text

from ledger.demo import journey as J
from ledger.epcis.event_hash import event_hash
from ledger.proofs.codes import org_id
from ledger.proofs.signing import (
    CaptureDomain,
    build_signed_capture,
    prepare_capture,
    sign_capture,
)
from ledger.store.store import Store
from ledger.store.trace import Tracer

__all__ = ["load", "measure"]

_KEY = bytes.fromhex("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
_DOMAIN = CaptureDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
_SAMPLES = 240
_GROUP = 8  # captures per accept transaction (4,000 events)


class _Reservoir:
    """A uniform sample of the items to trace: cans at commissioning, cases and pallets at
    packing; seeded, so a store kept by an earlier run gets the same picks again."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.rng = random.Random(seed + 1)  # noqa: S311 - picks benchmark samples, not secrets
        self.picked: list[str] = []
        self.seen = 0

    def offer(self, events: list[dict[str, Any]]) -> None:
        for ev in events:
            for epc in ev.get("epcList", ()) if ev["bizStep"] == "commissioning" else (
                    [ev["parentID"]] if ev["type"] == "AggregationEvent"
                    and ev["action"] == "ADD" else ()):
                self.seen += 1
                if len(self.picked) < self.size:
                    self.picked.append(epc)
                elif (k := self.rng.randrange(self.seen)) < self.size:
                    self.picked[k] = epc


def _sign(cap: J.Capture, nonce: int) -> Any:
    ctx = cap.document["@context"]
    ids = [event_hash(e, ctx) for e in cap.events]
    seed, _, root = prepare_capture(cap.events, ids)
    sig = sign_capture(_KEY, _DOMAIN, root, len(ids), org_id(cap.org.gln),
                       nonce, 1_740_000_000 + nonce)
    return build_signed_capture(cap.events, ctx, ids, sig, _DOMAIN, seed=seed)


def _produce(n_events: int, seed: int, group: int, out: Any) -> None:
    """Producer process: generate, hash and sign captures, `group` to a message, then the
    time it spent (a gateway hashes and verifies requests while its committer writes)."""
    t_gen = t_sign = 0.0
    nonce = 0
    pending: list[Any] = []
    stream = J.generate_captures(n_events, seed)
    while True:
        a = time.perf_counter()
        cap = next(stream, None)
        b = time.perf_counter()
        t_gen += b - a
        if cap is None:
            break
        nonce += 1
        pending.append(_sign(cap, nonce))
        t_sign += time.perf_counter() - b
        if len(pending) == group:
            out.put(pending)
            pending = []
    if pending:
        out.put(pending)
    out.put((t_gen, t_sign))


def load(store: Store, n_events: int, seed: int, *, samples: int = _SAMPLES,
         group: int = _GROUP) -> dict[str, Any]:
    """Generate, hash, sign and accept `n_events`; reservoir-sample items to trace.

    A second process generates, hashes and signs while this one accepts, `group` captures per
    transaction (the store's group commit, as the gateway's committer batches concurrent
    requests). `accept_s` is the store's share; `wait_s` the time it waited for input."""
    reservoir = _Reservoir(samples, seed)
    t_accept = t_wait = 0.0
    captures = 0
    t0 = time.perf_counter()
    ctx = mp.get_context("spawn")  # nothing of this process's open database crosses over
    queue = ctx.Queue(maxsize=4)
    producer = ctx.Process(target=_produce, args=(n_events, seed, group, queue), daemon=True)
    producer.start()
    try:
        while True:
            a = time.perf_counter()
            try:
                batch = queue.get(timeout=5)
            except Empty:
                if not producer.is_alive():
                    raise RuntimeError(f"capture producer died ({producer.exitcode})") from None
                continue
            b = time.perf_counter()
            t_wait += b - a
            if isinstance(batch, tuple):
                t_gen, t_sign = batch
                break
            for outcome in store.accept_captures(batch):
                if isinstance(outcome, BaseException):
                    raise outcome
            t_accept += time.perf_counter() - b
            captures += len(batch)
            for cap in batch:
                reservoir.offer(cap.events)
    finally:
        producer.join(timeout=30)
        if producer.is_alive():
            producer.kill()
    total = time.perf_counter() - t0
    return {"load_s": round(total, 2), "load_events_per_s": round(n_events / total),
            "generate_s": round(t_gen, 2), "hash_sign_recover_s": round(t_sign, 2),
            "accept_s": round(t_accept, 2), "wait_s": round(t_wait, 2), "captures": captures,
            "samples": reservoir.picked}


def measure(n_events: int = 1_000_000, quick: bool = False, *, seed: int = 7,
            keep: Path | None = None, reuse: bool = False) -> dict[str, Any]:
    """Build a store of `n_events` (100,000 when `quick`) and time the trace queries; with
    `reuse`, time them on the store an earlier run kept in `keep`."""
    if reuse and keep is None:
        raise ValueError("reuse needs the directory an earlier run kept its store in")
    if quick:
        n_events = 100_000
    with tempfile.TemporaryDirectory(prefix="zz-bench-queries-") as tmp:
        path = (keep or Path(tmp)) / f"queries-{n_events}.db"
        if not reuse:
            for stale in (path, *(path.with_name(path.name + x) for x in ("-wal", "-shm"))):
                stale.unlink(missing_ok=True)  # an old WAL must not meet a new database
        # SQLite's own checkpoints inside commits. (Store's background_checkpoint let the WAL
        # grow to 13 GB by 500k events, never copied back: reported in var/notes.)
        store = Store(f"sqlite:///{path}")
        store.migrate()
        try:
            if reuse:
                reservoir = _Reservoir(_SAMPLES, seed)
                for cap in J.generate_captures(n_events, seed):
                    reservoir.offer(cap.events)
                loaded, samples = {}, reservoir.picked
            else:
                loaded = load(store, n_events, seed)
                samples = loaded.pop("samples")
            t = time.perf_counter()
            # Planner statistics, as a deployment refreshes them after a bulk load: without
            # them SQLite may scan by the low-selectivity role column instead of seeking by EPC.
            store.optimize()
            analyze_s = time.perf_counter() - t
            tracer = Tracer(store.engine)
            for epc in samples[:10]:  # warm the page cache the way a running gateway has it
                tracer.item_history(epc)
            times, lengths = [], []
            for epc in samples:
                t = time.perf_counter()
                history = tracer.item_history(epc)
                times.append((time.perf_counter() - t) * 1000)
                lengths.append(len(history))
            times.sort()
            # Three runs: the first after the item histories (what a regulator's first request
            # costs), the median as the figure, since one timing on a shared machine is noise.
            recall_runs = []
            for _ in range(3):
                t = time.perf_counter()
                scope = tracer.recall_scope(J.RECALL_LOT.gtin, J.RECALL_LOT.lot)
                recall_runs.append(time.perf_counter() - t)
            with store.engine.connect() as conn:
                epc_rows = conn.execute(text("SELECT COUNT(*) FROM event_epcs")).scalar_one()
            result = {
                "events_in_store": store.count_events(),
                "event_epc_rows": int(epc_rows),
                "db_size_mb": round(sum(p.stat().st_size for p in path.parent.glob(
                    path.name + "*")) / 1e6, 1),
                **loaded,
                "analyze_s": round(analyze_s, 2),
                "trace_samples": len(times),
                "trace_p50_ms": round(statistics.median(times), 2),
                "trace_p95_ms": round(times[int(0.95 * (len(times) - 1))], 2),
                "trace_max_ms": round(times[-1], 2),
                "trace_mean_events": round(statistics.mean(lengths), 1),
                "recall_scope_s": round(statistics.median(recall_runs), 3),
                "recall_scope_first_s": round(recall_runs[0], 3),
                "recall_descendants": sum(1 for i in scope.items),
                "recall_lots": len(scope.lots),
            }
        finally:
            store.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 events (< 2 minutes)")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="directory to keep the store in")
    parser.add_argument("--reuse", action="store_true",
                        help="measure the store an earlier --keep run left (no load)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args.events, args.quick, keep=args.keep, reuse=args.reuse)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:24} {value}")
    ok = result["trace_p95_ms"] <= 50 and result["recall_scope_s"] <= 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
