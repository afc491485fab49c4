"""Anchoring throughput, sustained: captures are accepted and anchored at the same time, and the
naive design (one `TraceAnchor.anchor` transaction per event) is measured on the same chain in
the same run.

    python -m bench.anchoring [--rpc URL --manifest FILE] [--events N] [--seconds S]

Layout, as in production: `zhenzhi anchor-worker` runs as its own process (its own GIL, its own
SQLite connection and leader lease) on the store's file. The accepting side is `--producers`
processes, each standing for one gateway's committer: it prepares and commits its captures
(500 events each) with `Store.accept_captures`, `--group` captures per transaction as a
loaded gateway's committer does (default 4), for `--seconds` or until `--events` are
accepted, whichever comes first. Captures are hashed and signed before the clock starts: that
is the intake's work, which `bench.gateway` measures. The
run ends when every accepted event is anchored; nothing is pre-loaded, so the worker never
drains a backlog that was built while it was not looking.

Reported:
    accept_events_per_s            events accepted per second while the worker ran
    anchor_events_per_s            sustained: all events / (first accept → last one anchored)
    anchored_during_accept         events already anchored when accepting stopped
    lag_p50_s / lag_p99_s / lag_max_s   capture accepted → its batch anchored (from the store)
    naive_events_per_s             one anchor tx per event, best case: sent back to back from
                                   one account with local nonces (pipelined, not awaited one by
                                   one), receipts awaited at the end
    anchored_vs_naive_speedup      anchor_events_per_s / naive_events_per_s
    accept_cpu_us_per_event        the accepting processes' CPU per event (rows, inserts,
                                   commits, their checkpoint threads); with 2 cores, 100 µs
                                   is all there is at 20,000 events/s
    worker_cpu_us_per_event        the anchoring worker's CPU per event
The worker cuts a batch every 0.5 s (`--window`): a capture waits at most that long for a
fuller batch. 20,000 events/s makes 10,000-event batches, one transaction each.
Without --rpc a throwaway devnet is started and the contracts deployed; the store is a
temporary file, removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from eth_account import Account

from bench.wire import cpu_seconds, percentile
from ledger.chain.client import Chain
from ledger.chain.deployment import Deployment, deploy
from ledger.chain.transactor import Transactor, anvil_dev_key
from ledger.epcis.event_hash import event_hash
from ledger.proofs.merkle import keccak256
from ledger.proofs.signing import (
    CaptureDomain,
    build_signed_capture,
    prepare_capture,
    sign_capture,
)
from ledger.runtime.heap import freeze_startup_heap
from ledger.store.store import Store

__all__ = ["measure"]

TARGETS = {"anchor_events_per_s": 20_000, "anchored_vs_naive_speedup": 50}


def _captures(total: int, per_capture: int, tag: int = 0) -> list[Any]:
    domain = CaptureDomain(chain_id=31337, verifying_contract="0x" + "33" * 20)
    key = bytes.fromhex(anvil_dev_key(3)[2:])
    org = keccak256(b"org:bench")
    run = time.time_ns() + tag * 10**9  # unique EPCs and nonces per run and producer
    caps = []
    for c in range(total // per_capture):
        events = [{"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "shipping",
                   "eventTime": "2024-05-01T08:00:00.000Z", "eventTimeZoneOffset": "+00:00",
                   "epcList": [f"urn:epc:id:sgtin:0614141.107346.{run}x{c}x{i}"],
                   "readPoint": {"id": "urn:epc:id:sgln:0614141.00777.0"}}
                  for i in range(per_capture)]
        # Real event hashes keep the data what production sees; hashing is not timed.
        ids = [event_hash(e) for e in events]
        seed, _, root = prepare_capture(events, ids)
        sig = sign_capture(key, domain, root, len(ids), org, run + c, 1_700_000_000)
        caps.append(build_signed_capture(events, None, ids, sig, domain, seed=seed))
    return caps


def _produce(url: str, index: int, producers: int, events: int, per_capture: int,
             group: int, seconds: float, ready: Any, start: Any, accepted: Any,
             finished: Any, cpu: Any) -> None:
    """One accepting process, as one loaded gateway: its share of the captures, hashed and
    signed before `start`, then prepared and committed `group` at a time (`Store.
    accept_captures`, what the gateway's committer runs on the captures waiting for it) until
    `seconds` have passed or its share is done."""
    caps = _captures(events // producers, per_capture, tag=index)
    # The captures are this run's input, held for its length: out of the collector's sight,
    # as a gateway's start-up heap is (`ledger.runtime.heap`), or every full collection walks them.
    freeze_startup_heap()
    store = Store(url, background_checkpoint=True)  # as the gateway opens it
    ready.set()
    start.wait()
    began, cpu_began = time.perf_counter(), time.process_time()
    try:
        for i in range(0, len(caps), group):
            chunk = caps[i:i + group]
            for outcome in store.accept_captures(chunk):
                if isinstance(outcome, Exception):
                    raise outcome
            with accepted.get_lock():
                accepted.value += sum(len(cap.event_ids) for cap in chunk)
            if time.perf_counter() - began >= seconds:
                break
        with finished.get_lock():  # wall clock: comparable with the store's *_ms columns
            finished.value = max(finished.value, time.time())
        with cpu.get_lock():  # this process's CPU while accepting, its checkpoints included
            cpu.value += time.process_time() - cpu_began
    finally:
        store.close()


def _lags(store: Store) -> list[float]:
    """Seconds from each capture's acceptance to its batch's anchoring, from the store."""
    from sqlalchemy import select

    from ledger.store import tables as t

    c, b = t.captures, t.batches
    with store.engine.connect() as conn:
        rows = conn.execute(select(c.c.received_ms, b.c.anchored_ms)
                            .join(b, b.c.id == c.c.batch_id)
                            .where(b.c.state == "anchored")).all()
    return [(r.anchored_ms - r.received_ms) / 1000 for r in rows]


def _anchored_by(store: Store, ms: int) -> int:
    """Events whose batch the store had recorded as anchored at `ms` (unix milliseconds)."""
    from sqlalchemy import func, select

    from ledger.store import tables as t

    b = t.batches
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.sum(b.c.event_count), 0))
                                .where(b.c.state == "anchored", b.c.anchored_ms <= ms))
                   .scalar_one())


def _naive(w3: Any, deployment: Deployment, seconds: float) -> tuple[int, float]:
    """One anchor transaction per event for `seconds`: the best case of that design (gas
    estimated once, nonces local, sends pipelined), every receipt checked at the end."""
    chain = Chain(w3, deployment)
    tx = Transactor(w3, Account.from_key(anvil_dev_key(0)))
    call = chain.trace_anchor.functions.anchor(keccak256(b"naive-probe"), 1, bytes(32))
    template = tx.build(call)
    hashes: list[bytes] = []
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < seconds:
        root = keccak256(b"naive" + time.time_ns().to_bytes(8, "big") + n.to_bytes(8, "big"))
        data = chain.trace_anchor.encode_abi("anchor", args=[root, 1, bytes(32)])
        hashes.append(tx.sign_and_send({**template, "data": data}))
        n += 1
    for h in hashes:
        tx.wait(h)  # raises if any reverted: only anchored events count
    return n, time.perf_counter() - start


def measure(w3: Any, deployment: Deployment, rpc_url: str, manifest: Path, *,
            events: int = 200_000, seconds: float = 60.0, per_capture: int = 500,
            batch_size: int = 1024, window: float = 0.5, naive_seconds: float = 10.0,
            producers: int = 2, group: int = 4, db_dir: Path | None = None) -> dict[str, Any]:
    """`group`: captures per accepting transaction. The gateway's committer stores every
    capture waiting for it in one transaction; 4 is what it sees with four 500-event
    captures in flight (`bench.gateway`'s batch load)."""
    tmp = Path(db_dir or tempfile.mkdtemp(prefix="zz-bench-"))
    try:
        return _measure(w3, deployment, rpc_url, manifest, tmp, events=events,
                        seconds=seconds, per_capture=per_capture, batch_size=batch_size,
                        window=window, naive_seconds=naive_seconds, producers=producers,
                        group=group)
    finally:
        if db_dir is None:  # a few hundred MB a run: not left behind in /tmp
            shutil.rmtree(tmp, ignore_errors=True)


def _measure(w3: Any, deployment: Deployment, rpc_url: str, manifest: Path, tmp: Path, *,
             events: int, seconds: float, per_capture: int, batch_size: int, window: float,
             naive_seconds: float, producers: int, group: int) -> dict[str, Any]:
    url = f"sqlite:///{tmp / 'bench.db'}"
    store = Store(url, background_checkpoint=True)
    store.migrate()
    ctx = get_context("spawn")
    start_event = ctx.Event()
    accepted_count = ctx.Value("q", 0)
    finished = ctx.Value("d", 0.0)
    accept_cpu = ctx.Value("d", 0.0)
    readies = [ctx.Event() for _ in range(producers)]
    procs = [ctx.Process(target=_produce, args=(url, i, producers, events, per_capture, group,
                                                seconds, readies[i], start_event,
                                                accepted_count, finished, accept_cpu))
             for i in range(producers)]
    for proc in procs:
        proc.start()
    worker = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "anchor-worker", "--db", url, "--rpc", rpc_url,
         "--manifest", str(manifest), "--key", anvil_dev_key(0), "--batch-size",
         str(batch_size), "--window", str(window), "--in-flight", "4"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        for ready in readies:  # captures hashed and signed: not part of the clock
            if not ready.wait(600):
                raise RuntimeError("a producer did not get ready")
        time.sleep(2)  # the worker has started, migrated and taken the lease by now
        if worker.poll() is not None:
            raise RuntimeError("the anchoring worker exited at start-up")
        worker_cpu_before = cpu_seconds(worker.pid)
        start, start_wall = time.perf_counter(), time.time()
        start_event.set()
        for proc in procs:
            proc.join()
            if proc.exitcode != 0:
                raise RuntimeError(f"a producer failed (exit {proc.exitcode})")
        accepted = accepted_count.value
        accept_s = finished.value - start_wall
        deadline = time.monotonic() + 300
        while store.pending_count() != (0, 0):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the worker stopped or stalled before anchoring everything")
            time.sleep(0.05)
        total_s = time.perf_counter() - start
        worker_cpu = cpu_seconds(worker.pid) - worker_cpu_before
    finally:
        worker.send_signal(signal.SIGTERM)
        out, _ = worker.communicate(timeout=60)
    stats = json.loads(out[out.index("{"):]) if "{" in out else {}
    batches = [b for b in store.batches() if b.state == "anchored"]
    anchored = sum(b.event_count for b in batches)
    if anchored != accepted:
        raise RuntimeError(f"{accepted} events accepted but {anchored} anchored")
    lags = _lags(store)
    anchored_during = _anchored_by(store, int(finished.value * 1000))
    store.close()
    naive_n, naive_s = _naive(w3, deployment, naive_seconds)
    rate = anchored / total_s
    naive_rate = naive_n / naive_s
    return {
        "events": anchored, "captures": len(lags), "batches": len(batches),
        "accept_seconds": round(accept_s, 1),
        "producers": producers,
        "captures_per_commit": group,
        "accept_events_per_s": round(accepted / accept_s),
        "anchor_events_per_s": round(rate),
        "anchored_during_accept": anchored_during,
        "lag_p50_s": round(percentile(lags, 0.5) or 0.0, 2),
        "lag_p99_s": round(percentile(lags, 0.99) or 0.0, 2),
        "lag_max_s": round(max(lags), 2),
        "worker": {k: stats.get(k) for k in ("batches", "events", "errors", "resent")},
        # CPU per event: where each anchored event's cost goes (2 cores = 100 µs an event at
        # 20,000 events/s). Accepting: the producers' rows, inserts, commits and checkpoints.
        "accept_cpu_us_per_event": round(accept_cpu.value / accepted * 1e6, 1),
        "worker_cpu_us_per_event": round(worker_cpu / anchored * 1e6, 1),
        "naive_txs": naive_n,
        "naive_events_per_s": round(naive_rate, 1),
        "anchored_vs_naive_speedup": round(rate / naive_rate, 1),
        "targets": TARGETS,
        "cpu_count": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rpc")
    parser.add_argument("--manifest", type=Path)
    parser.add_argument("--events", type=int, default=200_000,
                        help="stop accepting after this many events")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="stop accepting after this long")
    parser.add_argument("--naive-seconds", type=float, default=10.0)
    parser.add_argument("--producers", type=int, default=2,
                        help="accepting processes (gateways) writing at the same time")
    parser.add_argument("--group", type=int, default=4,
                        help="captures per accepting transaction (the committer's group)")
    args = parser.parse_args(argv)
    from web3 import Web3

    kwargs = {"events": args.events, "seconds": args.seconds,
              "naive_seconds": args.naive_seconds, "producers": args.producers,
              "group": args.group}
    if args.rpc and args.manifest:
        w3 = Web3(Web3.HTTPProvider(args.rpc, request_kwargs={"timeout": 30}))
        result = measure(w3, Deployment.load(args.manifest), args.rpc, args.manifest, **kwargs)
    else:
        from tests.conftest import AnvilProcess, free_port

        proc = AnvilProcess(Path(tempfile.mkdtemp(prefix="zz-bench-net-")), free_port())
        proc.up()
        try:
            w3 = proc.web3()
            deployment = deploy(Transactor(w3, Account.from_key(anvil_dev_key(0))))
            manifest = proc.dir / "deployment.json"
            deployment.save(manifest)
            result = measure(w3, deployment, proc.url, manifest, **kwargs)
        finally:
            proc.down()
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
