"""Trace query speed on a store loaded with the journey generator's bulk stream.

Loads `n_events` events into a fresh SQLite store the way the gateway does (one signed capture
per 500-event document: hash every event, sign the root once, recover the signer, accept), then
measures:
- `trace_p95_ms`: item history (through cases, pallets and the lot transformation) of ≥200
  random cans, cases and pallets, 95th percentile (goal ≤ 50 ms at 1,000,000 events);
- `recall_scope_s`: recall scope of `ledger.journey.RECALL_LOT`, whose descendants are 12,000
  cans, 2,000 cases and 40 pallets (goal ≤ 1 s).

    .venv/bin/python -m bench.queries [--quick] [--events N] [--keep DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

from ledger import journey as J
from ledger.capture import events_tree
from ledger.codes import org_id
from ledger.event_hash import event_hash
from ledger.signing import CaptureDomain, build_signed_capture, sign_capture
from ledger.store import Store
from ledger.trace import Tracer

__all__ = ["load", "measure"]

_KEY = bytes.fromhex("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
_DOMAIN = CaptureDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
_SAMPLES = 240


def load(store: Store, n_events: int, seed: int, *, samples: int = _SAMPLES
         ) -> dict[str, Any]:
    """Generate, hash, sign and accept `n_events`; reservoir-sample items to trace."""
    rng = random.Random(seed + 1)  # noqa: S311 - picks benchmark samples, not secrets
    picked: list[str] = []
    seen = 0
    t_gen = t_hash = t_sign = t_accept = 0.0
    t0 = time.perf_counter()
    stream = J.generate_captures(n_events, seed)
    nonce = 0
    while True:
        a = time.perf_counter()
        cap = next(stream, None)
        b = time.perf_counter()
        t_gen += b - a
        if cap is None:
            break
        ctx = cap.document["@context"]
        ids = [event_hash(e, ctx) for e in cap.events]
        c = time.perf_counter()
        nonce += 1
        sig = sign_capture(_KEY, _DOMAIN, events_tree(ids).root, len(ids), org_id(cap.org.gln),
                           nonce, 1_740_000_000 + nonce)
        signed = build_signed_capture(cap.events, ctx, ids, sig, _DOMAIN)
        d = time.perf_counter()
        store.accept_capture(signed)
        e = time.perf_counter()
        t_hash += c - b
        t_sign += d - c
        t_accept += e - d
        for ev in cap.events:  # cans at commissioning, cases and pallets at packing
            for epc in ev.get("epcList", ()) if ev["bizStep"] == "commissioning" else (
                    [ev["parentID"]] if ev["type"] == "AggregationEvent"
                    and ev["action"] == "ADD" else ()):
                seen += 1
                if len(picked) < samples:
                    picked.append(epc)
                elif (k := rng.randrange(seen)) < samples:
                    picked[k] = epc
    total = time.perf_counter() - t0
    return {"load_s": round(total, 2), "load_events_per_s": round(n_events / total),
            "generate_s": round(t_gen, 2), "hash_s": round(t_hash, 2),
            "sign_and_recover_s": round(t_sign, 2), "accept_s": round(t_accept, 2),
            "captures": nonce, "samples": picked}


def measure(n_events: int = 1_000_000, quick: bool = False, *, seed: int = 7,
            keep: Path | None = None) -> dict[str, Any]:
    """Build a store of `n_events` (100,000 when `quick`) and time the trace queries."""
    if quick:
        n_events = 100_000
    with tempfile.TemporaryDirectory(prefix="zz-bench-queries-") as tmp:
        path = (keep or Path(tmp)) / f"queries-{n_events}.db"
        path.unlink(missing_ok=True)
        store = Store(f"sqlite:///{path}")
        store.migrate()
        try:
            loaded = load(store, n_events, seed)
            samples = loaded.pop("samples")
            t = time.perf_counter()
            with store.engine.connect() as conn:
                # Planner statistics: without them SQLite may scan by the low-selectivity
                # role column instead of seeking by EPC. A real deployment runs this after
                # bulk loads (or `PRAGMA optimize` on close).
                conn.exec_driver_sql("ANALYZE")
                conn.commit()
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
            t = time.perf_counter()
            scope = tracer.recall_scope(J.RECALL_LOT.gtin, J.RECALL_LOT.lot)
            recall_s = time.perf_counter() - t
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
                "recall_scope_s": round(recall_s, 3),
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
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args.events, args.quick, keep=args.keep)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:24} {value}")
    ok = result["trace_p95_ms"] <= 50 and result["recall_scope_s"] <= 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
