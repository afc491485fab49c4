"""Reliability figures (issue 8): faults injected under steady capture load, then an audit.

One run, on a fresh stack in a temporary directory (anvil from the devnet script, contracts
deployed, one ENTERPRISE member admitted, a SQLite store):

    gateway   `zhenzhi serve --anchor` (a subprocess, with the in-process anchoring worker)
    standby   `zhenzhi anchor-worker` (a subprocess): whichever of the two holds the store's
              leader lease anchors, the other waits, so killing either hands anchoring over
    load      asyncio clients in this process sending signed captures all run long; every 202
              is recorded (capture id + event ids)

Phases, the load running through all of them:

1. faults: kill -9 the gateway, the standby worker, or anvil (timed for an open batch when one
   can be caught: "mid-batch") at random moments, and restart it. Clients retry a failed
   request with the very same signed body, sometimes only after later captures ("reordered"),
   re-send captures already acknowledged ("duplicate") and race two copies of one capture
   ("concurrent duplicate"): each must answer 202 with the same capture id.
2. schemathesis over the whole OpenAPI of the live gateway (thousands of cases in a full run).
3. a burst at ten times the public scan rate limit per attacker (each from its own loopback
   address, so each has its own bucket; all of them in a process of their own, as they would
   be on their own machines) while a legitimate client reads.
4. a CPU flood (issue 16): attackers, again from their own addresses and process, send unsigned
   ~1.8 MB captures of nested extensions, just under the JSON-value bound, naming the real
   member's organisation (so they pass every check that needs no parse) and ~200 KB of nested `[` to /capture and /complaints,
   while the legitimate client reads. Its p99 is measured quiet, then under the flood, in the
   same run: `flood.p99_ratio` is attacked / quiet, and the gateway must stay up.

Then the load stops and the audit runs against the store and the chain:

    acknowledged_lost   acknowledged captures with an event missing from the store
    anchored_twice      acknowledged captures whose leaf is in more than one *distinct* batch
                        root anchored on TraceAnchor. The worker re-sends the same root after a
                        chain loses it; that is one root, one anchoring, not two.
    responses_5xx       5xx answers to anyone (load, retries, schemathesis, burst), except
                        the documented refusal while the chain is down (502 chain-unavailable
                        to a request sent or answered during the outage: nothing is stored,
                        the client retries); those are `responses_502_chain_down`
    drain_s             after each recovery (a restarted gateway, worker or chain), the time
                        until every capture acknowledged before it is anchored; the worst one.
                        `drain_final_s`: from the load stopping to an empty outbox
    burst_legit_p99_ms  p99 latency of the legitimate client's reads during the burst
    flood_p99_ratio     the legitimate client's p99 under the CPU flood over its quiet p99
    flood_gateway_alive the gateway process answered after the flood (nested JSON used to kill it)

    .venv/bin/python -m bench.faults [--quick] [--out bench/faults.json] [--keep]

Only 127.0.0.1 is ever contacted (attackers bind other loopback source addresses).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.gateway import BenchStack, make_document
from bench.wire import free_port, percentile

__all__ = ["FaultPlan", "main", "run", "run_plan"]

BENCH_DIR = Path(__file__).resolve().parent
_GATEWAY = [sys.executable, "-m", "gateway.cli"]


@dataclass(frozen=True)
class FaultPlan:
    """What one run injects. `quick()` and `full()` are the two the CLI offers."""

    gateway_kills: int
    worker_kills: int
    chain_kills: int
    clients: int = 3
    capture_interval_s: float = 0.12  # per client, between new captures (~25 captures/s)
    gap_s: tuple[float, float] = (1.5, 5.0)  # between one recovery and the next kill
    duplicate_p: float = 0.06  # re-send an acknowledged capture
    concurrent_p: float = 0.03  # race two copies of a new capture
    reorder_p: float = 0.04  # send A, then B, then A again
    defer_p: float = 0.5  # a failed request is retried only after the next new capture
    schemathesis_examples: int = 0  # per operation; 0 skips the phase
    burst_s: float = 0.0  # 0 skips the phase
    attackers: int = 8
    flood_s: float = 0.0  # 0 skips the CPU-flood phase
    flood_attackers: int = 6
    proof_sample: int = 200
    seed: int = 8

    @classmethod
    def quick(cls) -> FaultPlan:
        return cls(gateway_kills=6, worker_kills=3, chain_kills=3, schemathesis_examples=15,
                   burst_s=15.0, flood_s=15.0)

    @classmethod
    def full(cls) -> FaultPlan:
        return cls(gateway_kills=45, worker_kills=15, chain_kills=12, schemathesis_examples=120,
                   burst_s=30.0, flood_s=30.0, gap_s=(1.0, 4.0))


def _rng(seed: int) -> random.Random:
    # Reproducible schedules and choices from the plan's seed, not secrets.
    return random.Random(seed)  # noqa: S311




# --- what the run observed -------------------------------------------------------------------

@dataclass
class Tally:
    phase: str = "setup"
    chain_down: bool = False
    acked: dict[str, tuple[str, ...]] = field(default_factory=dict)  # captureID -> eventIDs
    statuses: Counter[str] = field(default_factory=Counter)  # "phase:status"
    server_errors: list[dict[str, Any]] = field(default_factory=list)
    transport_errors: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    anomalies: list[str] = field(default_factory=list)
    unacknowledged: int = 0  # captures given up on (never 202): not "acknowledged", not lost
    lock: threading.Lock = field(default_factory=threading.Lock)

    def response(self, method: str, path: str, status: int, body: str = "",
                 phase: str | None = None, sent_while_chain_down: bool = False) -> None:
        phase = phase or self.phase
        chain_down = self.chain_down or sent_while_chain_down
        with self.lock:
            self.statuses[f"{phase}:{status}"] += 1
            if status >= 500:
                kind = ""
                with contextlib.suppress(ValueError, AttributeError):
                    kind = json.loads(body).get("type", "")
                self.server_errors.append({"phase": phase, "status": status, "method": method,
                                           "path": path, "type": kind,
                                           "chain_down": chain_down,
                                           "detail": body[:300], "t": round(time.time(), 3)})

    def anomaly(self, text: str) -> None:
        with self.lock:
            if len(self.anomalies) < 200:
                self.anomalies.append(text)


# --- processes -------------------------------------------------------------------------------

class Proc:
    """A subprocess we start, kill -9 and restart; output appended to a log file."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.cmd, self.env, self.log = name, cmd, env, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            out.write(f"\n===== start {self.starts} at {time.time():.3f}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.starts += 1

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill9()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Devnet:
    """The stack's anvil, driven through the devnet script (the same one BenchStack used)."""

    def __init__(self, directory: Path, port: int) -> None:
        from ledger.paths import DEVNET_DIR

        self.dir = directory
        self.port = port
        self.script = [sys.executable, str(DEVNET_DIR / "devnet")]

    def kill9(self) -> None:
        pid = int((self.dir / "anvil.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        # Not our child (the devnet script started it): wait for it to vanish or be a zombie.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                return
            if ") Z" in stat:
                return
            time.sleep(0.02)

    def up(self) -> None:
        out = subprocess.run([*self.script, "up", "--port", str(self.port), "--dir", str(self.dir)],
                             capture_output=True, text=True, timeout=60)
        if out.returncode:
            raise RuntimeError(f"devnet up failed: {out.stderr.strip() or out.stdout.strip()}")


# --- load --------------------------------------------------------------------------------------

@dataclass
class Signed:
    body: bytes
    headers: dict[str, str]
    event_ids: tuple[str, ...]
    capture_id: str | None = None


class Signer:
    def __init__(self, stack: BenchStack, seed: int) -> None:
        self.stack = stack
        self._seed = seed * 10_000
        self._nonce = seed * 10_000_000
        self._lock = threading.Lock()

    def next(self, rng: random.Random) -> Signed:
        import orjson

        from ledger.epcis.event_hash import event_hashes, format_event_id
        from ledger.proofs.signing import prepare_capture, sign_capture, signature_to_headers

        with self._lock:
            self._seed += 1
            self._nonce += 1
            seed, nonce = self._seed, self._nonce
        doc = make_document(rng.randint(1, 4), seed)
        ids = event_hashes(doc)
        disclosure_seed, _, root = prepare_capture(doc["epcisBody"]["eventList"], ids)
        sig = sign_capture(self.stack.key, self.stack.domain, root, len(ids),
                           self.stack.org, nonce, int(time.time()))
        headers = {**signature_to_headers(sig, disclosure_seed),
                   "content-type": "application/ld+json"}
        return Signed(orjson.dumps(doc), headers, tuple(format_event_id(i) for i in ids))


class Load:
    """Closed-loop capture clients that retry with the same signed body until acknowledged."""

    def __init__(self, url: str, signer: Signer, tally: Tally, plan: FaultPlan) -> None:
        self.url = url
        self.signer = signer
        self.tally = tally
        self.plan = plan
        self.stop = asyncio.Event()
        self.sent = 0

    async def post(self, client: httpx.AsyncClient, req: Signed) -> int | None:
        """One attempt; None if the request never got an answer (connection refused or cut)."""
        self.sent += 1
        chain_down = self.tally.chain_down
        try:
            r = await client.post("/capture", content=req.body, headers=req.headers)
        except httpx.TransportError as exc:
            self.tally.transport_errors[f"{self.tally.phase}:{type(exc).__name__}"] += 1
            return None
        self.tally.response("POST", "/capture", r.status_code,
                            r.text if r.status_code >= 500 else "",
                            sent_while_chain_down=chain_down)
        if r.status_code == 202:
            job = r.json()
            cid = job["captureID"]
            if req.capture_id is not None and cid != req.capture_id:
                self.tally.anomaly(f"same signed body, two capture ids: {req.capture_id} {cid}")
            if tuple(job["eventIDs"]) != req.event_ids:
                self.tally.anomaly(f"capture {cid}: eventIDs differ from the signed ones")
            req.capture_id = cid
            with self.tally.lock:
                self.tally.acked[cid] = req.event_ids
        elif r.status_code < 500:
            self.tally.anomaly(f"capture refused {r.status_code}: {r.text[:200]}")
        return r.status_code

    async def until_acked(self, client: httpx.AsyncClient, req: Signed,
                          deadline_s: float = 180.0) -> bool:
        """Retry (same body) through kills and chain outages; False if given up."""
        end = time.monotonic() + deadline_s
        pause = 0.1
        while time.monotonic() < end:
            status = await self.post(client, req)
            if status == 202:
                return True
            if status is not None and status < 500:
                return False  # refused for good: an anomaly, recorded by post()
            await asyncio.sleep(pause)
            pause = min(2.0, pause * 2)
        self.tally.unacknowledged += 1
        return False

    async def client(self, index: int) -> None:
        rng = _rng(self.plan.seed * 100 + index)
        acked: list[Signed] = []
        deferred: list[Signed] = []
        async with httpx.AsyncClient(base_url=self.url, timeout=10.0) as client:
            while not self.stop.is_set():
                req = self.signer.next(rng)
                status = await self.post(client, req)
                if status != 202:
                    if status is None and rng.random() < self.plan.defer_p:
                        deferred.append(req)  # retried after the next capture: out of order
                    elif await self.until_acked(client, req):
                        acked.append(req)
                else:
                    acked.append(req)
                if deferred and status == 202:
                    for late in deferred:
                        self.tally.faults["reordered_retry"] += 1
                        if await self.until_acked(client, late):
                            acked.append(late)
                    deferred.clear()
                roll = rng.random()
                if roll < self.plan.duplicate_p and acked:
                    self.tally.faults["duplicate_retry"] += 1
                    await self.until_acked(client, rng.choice(acked[-200:]))
                elif roll < self.plan.duplicate_p + self.plan.concurrent_p:
                    twin = self.signer.next(rng)
                    self.tally.faults["concurrent_duplicate"] += 1
                    await asyncio.gather(self.post(client, twin), self.post(client, twin))
                    if await self.until_acked(client, twin):
                        acked.append(twin)
                elif roll < self.plan.duplicate_p + self.plan.concurrent_p + self.plan.reorder_p:
                    a, b = self.signer.next(rng), self.signer.next(rng)
                    self.tally.faults["reordered_retry"] += 1
                    # A, then B (a later nonce), then A's "retry" arriving after B.
                    await self.post(client, a)
                    if await self.until_acked(client, b):
                        acked.append(b)
                    if await self.until_acked(client, a):
                        acked.append(a)
                await asyncio.sleep(self.plan.capture_interval_s * rng.uniform(0.5, 1.5))
            for late in deferred:
                await self.until_acked(client, late)


# --- the stack under test --------------------------------------------------------------------

class Stack:
    def __init__(self, bench: BenchStack, tmp: Path) -> None:
        from ledger.chain.transactor import anvil_dev_key

        self.bench = bench
        self.tmp = tmp
        self.db = tmp / "faults.db"
        self.database_url = f"sqlite:///{self.db}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, **bench.gateway_env(self.db), "ZHENZHI_ANCHOR_INTERVAL_S": "0.5"}
        env.pop("ZHENZHI_FAULT", None)
        self.gateway = Proc("gateway", [*_GATEWAY, "serve", "--port", str(self.port), "--anchor",
                                        "--log-level", "warning"], env, tmp / "gateway.log")
        self.worker = Proc("worker", [*_GATEWAY, "anchor-worker", "--db", self.database_url,
                                      "--rpc", bench.rpc_url, "--manifest", str(bench.manifest),
                                      "--key", anvil_dev_key(0), "--window", "0.5"],
                           env, tmp / "worker.log")
        self.chain = Devnet(bench.directory / "devnet", bench.rpc_port)

    async def gateway_ready(self, timeout: float = 60.0) -> float:
        """Seconds until the restarted gateway answers (its lifespan has finished)."""
        start = time.monotonic()
        async with httpx.AsyncClient(base_url=self.url, timeout=2.0) as client:
            while time.monotonic() - start < timeout:
                if not self.gateway.alive():
                    raise RuntimeError(f"the gateway exited; see {self.gateway.log}")
                try:
                    if (await client.get("/openapi.json")).status_code == 200:
                        return time.monotonic() - start
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        raise RuntimeError("the gateway did not come back")

    def store(self) -> Any:
        from ledger.store.store import Store

        return Store(self.database_url)


async def _wait_open_batch(store: Any, timeout: float) -> bool:
    """Wait (briefly) until a batch is built or sent but not anchored: the chain dies mid-batch."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if await asyncio.to_thread(store.open_batches):
            return True
        await asyncio.sleep(0.01)
    return False


def _unanchored_before(store: Any, ms: int) -> int:
    """Captures received up to `ms` whose batch is not anchored (none yet, or built/sent)."""
    from sqlalchemy import func, select

    from ledger.store import tables as t

    c, b = t.captures, t.batches
    with store.engine.connect() as conn:
        return int(conn.execute(
            select(func.count()).select_from(c.outerjoin(b, b.c.id == c.c.batch_id))
            .where(c.c.received_ms <= ms, (b.c.state.is_(None)) | (b.c.state != "anchored"))
        ).scalar_one())


async def _drained(store: Any, since_ms: int, timeout: float = 120.0) -> float | None:
    """Seconds from `since_ms` (a recovery) until everything received before it is anchored."""
    while time.time() * 1000 - since_ms < timeout * 1000:
        if await asyncio.to_thread(_unanchored_before, store, since_ms) == 0:
            return time.time() - since_ms / 1000
        await asyncio.sleep(0.05)
    return None


async def _inject(stack: Stack, plan: FaultPlan, tally: Tally, rng: random.Random,
                  recovery: dict[str, list[float]]) -> None:
    kinds = (["gateway_kill9"] * plan.gateway_kills + ["worker_kill9"] * plan.worker_kills
             + ["chain_kill9"] * plan.chain_kills)
    rng.shuffle(kinds)
    store = stack.store()
    try:
        for kind in kinds:
            await asyncio.sleep(rng.uniform(*plan.gap_s))
            if kind == "gateway_kill9":
                stack.gateway.kill9()
                tally.faults[kind] += 1
                await asyncio.sleep(rng.uniform(0.0, 0.5))
                stack.gateway.start()
                recovery["gateway_restart_s"].append(await stack.gateway_ready())
            elif kind == "worker_kill9":
                stack.worker.kill9()
                tally.faults[kind] += 1
                await asyncio.sleep(rng.uniform(0.0, 0.5))
                stack.worker.start()
            else:
                if await _wait_open_batch(store, 3.0):
                    tally.faults["chain_kill9_mid_batch"] += 1
                tally.chain_down = True
                stack.chain.kill9()
                tally.faults[kind] += 1
                await asyncio.sleep(rng.uniform(0.3, 2.0))
                t0 = time.monotonic()
                await asyncio.to_thread(stack.chain.up)
                recovery["chain_restart_s"].append(time.monotonic() - t0)
                tally.chain_down = False
            # The backlog after this recovery: what was acknowledged until now, anchored.
            drained = await _drained(store, int(time.time() * 1000))
            if drained is None:
                tally.anomaly(f"backlog not drained 120 s after recovering from {kind}")
            else:
                recovery[f"drain_after_{kind}_s"].append(drained)
    finally:
        store.close()


# --- schemathesis ------------------------------------------------------------------------------

def _schemathesis(url: str, examples: int, tally: Tally) -> dict[str, Any]:
    """Every operation of the live OpenAPI, `examples` generated cases each; 5xx and schema
    violations counted (the load keeps running meanwhile)."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [status_code_conformance, content_type_conformance, response_headers_conformance,
              response_schema_conformance]
    schema = schemathesis.openapi.from_url(url + "/openapi.json")
    cases = 0
    violations: Counter[str] = Counter()
    samples: list[str] = []
    errors = 0
    operations = 0
    def exercise_operation(operation: Any) -> None:
        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, database=None,
                  phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        def exercise(case: Any) -> None:
            nonlocal cases, errors
            try:
                response = case.call(base_url=url, timeout=30)
            except Exception as exc:  # noqa: BLE001 - a transport failure is a figure, not a crash
                errors += 1
                tally.transport_errors[f"schemathesis:{type(exc).__name__}"] += 1
                return
            cases += 1
            tally.response(case.method.upper(), case.path, response.status_code,
                           response.text if response.status_code >= 500 else "",
                           phase="schemathesis")
            try:
                case.validate_response(response, checks=checks)
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - counted, not raised
                # (schemathesis reports failures as a FailureGroup, a BaseExceptionGroup)
                key = f"{operation.label}: {type(exc).__name__}"
                violations[key] += 1
                if len(samples) < 20:
                    samples.append(f"{key}: {str(exc).strip()[:300]}")

        exercise()

    for result in schema.get_all_operations():
        operations += 1
        exercise_operation(result.ok())
    return {"operations": operations, "cases": cases, "transport_errors": errors,
            "schema_violations": sum(violations.values()),
            "violations_by_operation": dict(violations), "violation_samples": samples}


# --- burst -------------------------------------------------------------------------------------

async def _timed(client: httpx.AsyncClient, path: str, headers: dict[str, str],
                 latencies: list[float], tally: Tally, statuses: Counter[int]) -> None:
    start = time.perf_counter()
    try:
        r = await client.get(path, headers=headers)
    except httpx.TransportError as exc:
        tally.transport_errors[f"burst:{type(exc).__name__}"] += 1
        statuses[0] += 1
        return
    latencies.append(time.perf_counter() - start)
    statuses[r.status_code] += 1
    tally.response("GET", path.split("?")[0], r.status_code,
                   r.text if r.status_code >= 500 else "", phase="burst")


async def _legit(url: str, items: list[str], seconds: float, tally: Tally, member: BenchStack
                 ) -> tuple[list[float], Counter[int]]:
    """A consumer and an EPCIS reader on their own address, below every limit: one resolver
    JSON read a second and three event queries a second. Event data is for members only, so
    the reader signs each query with the bench member's key."""
    from ledger.proofs.request_signing import sign_request

    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    async with httpx.AsyncClient(base_url=url, timeout=10.0, transport=transport) as client:
        # Open loop, 4 requests a second: a slow answer must not thin out the samples.
        tasks = []
        start = time.monotonic()
        n = 0
        rng = _rng(2)
        while time.monotonic() - start < seconds:
            if n % 4 == 0:
                path, headers = rng.choice(items), {"accept": "application/json"}
            else:
                path = "/events?perPage=10"
                headers = sign_request(member.key, "GET", path, b"",
                                       org="0x" + member.org.hex()).headers()
            tasks.append(asyncio.create_task(
                _timed(client, path, headers, latencies, tally, statuses)))
            n += 1
            await asyncio.sleep(max(0.0, start + n / 4 - time.monotonic()))
        await asyncio.gather(*tasks)
    return latencies, statuses


async def _attacker(url: str, address: str, items: list[str], rate: float, seconds: float,
                    tally: Tally, statuses: Counter[int]) -> None:
    """Open loop at `rate` requests a second, whatever the answers take."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    limits = httpx.Limits(max_connections=16)
    ignored: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=10.0, transport=transport,
                                 limits=limits) as client:
        tasks = []
        start = time.monotonic()
        n = 0
        rng = _rng(hash(address))
        while time.monotonic() - start < seconds:
            tasks.append(asyncio.create_task(_timed(
                client, rng.choice(items), {"accept": "application/json"}, ignored, tally,
                statuses)))
            n += 1
            await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
        await asyncio.gather(*tasks)


def _attack(url: str, addresses: list[str], items: list[str], rate: float, seconds: float,
            ready: Any, out: Any) -> None:
    """The attackers, in a process of their own (as they would be on their own machines): their
    client-side cost must not slow the legitimate client's event loop and so its figures."""
    tally = Tally(phase="burst")
    statuses: Counter[int] = Counter()

    async def attack() -> None:
        await asyncio.gather(*(_attacker(url, a, items, rate, seconds, tally, statuses)
                               for a in addresses))

    ready.set()
    asyncio.run(attack())
    out.put((dict(statuses), tally.server_errors, dict(tally.transport_errors),
             dict(tally.statuses)))


async def _burst(url: str, items: list[str], seconds: float, attackers: int, tally: Tally,
                 limits: Any, member: BenchStack) -> dict[str, Any]:
    import multiprocessing

    rate = limits.scan_per_minute / 60  # per client address, after its burst allowance
    attack_rate = 10 * rate
    base_lat, base_status = await _legit(url, items, 5.0, tally, member)
    ctx = multiprocessing.get_context("spawn")
    results, ready = ctx.Queue(), ctx.Event()
    attack = ctx.Process(target=_attack, args=(
        url, [f"127.0.0.{10 + i}" for i in range(attackers)], items, attack_rate, seconds,
        ready, results))
    attack.start()
    try:
        if not await asyncio.to_thread(ready.wait, 120):
            raise RuntimeError("the attacking process did not start")
        legit_lat, legit_status = await _legit(url, items, seconds, tally, member)
        statuses, errors, transport, phases = await asyncio.to_thread(
            results.get, True, seconds + 120)
    finally:
        attack.join(timeout=30)
        if attack.is_alive():
            attack.kill()
    attack_status: Counter[int] = Counter({int(k): v for k, v in statuses.items()})
    with tally.lock:
        tally.server_errors.extend(errors)
        tally.transport_errors.update(transport)
        tally.statuses.update(phases)
    p99 = percentile(legit_lat, 0.99)
    base = percentile(base_lat, 0.99)
    return {
        "endpoint": "GET /01/{gtin}/21/{serial} (resolver JSON)",
        "limit_per_client_per_s": rate, "limit_burst": limits.scan_burst,
        "attackers": attackers, "attack_rate_per_attacker_per_s": attack_rate,
        "attack_requests": sum(attack_status.values()),
        "attack_429": attack_status.get(429, 0),
        "attack_statuses": {str(k): v for k, v in sorted(attack_status.items())},
        "legit_requests": sum(legit_status.values()),
        "legit_statuses": {str(k): v for k, v in sorted(legit_status.items())},
        "legit_p99_ms": round(p99 * 1000, 1) if p99 is not None else None,
        "legit_p50_ms": round((percentile(legit_lat, 0.5) or 0) * 1000, 1),
        "baseline_legit_p99_ms": round(base * 1000, 1) if base is not None else None,
    }


# --- CPU flood ---------------------------------------------------------------------------------

NESTED = b"[" * 200_000


def _heavy_capture(size: int = 1_800_000, values: int = 95_000) -> bytes:
    """A capture of nested extensions (40 deep, within the depth limit) holding just under the
    gateway's default JSON-value bound and filling `size` bytes: the costliest document the
    gateway still parses and hashes (hashing costs per value) before it can know that no
    member signed it."""
    from ledger.epcis.json_text import json_values

    doc = make_document(1, 424242)
    doc["@context"] = [*doc["@context"], {"ext": "https://example.com/ext/"}]

    def leaf(pad: int) -> Any:
        node: Any = "x" * pad
        for i in range(40):
            node = {f"ext:n{i}": node, "ext:l": [1, 2, 3]}
        return node

    per_leaf = json_values(json.dumps(leaf(0)).encode())
    count = (values - 50) // per_leaf
    pad = max(0, (size - len(json.dumps(doc))) // count - len(json.dumps(leaf(0))) - 12)
    event = doc["epcisBody"]["eventList"][0]
    for n in range(count):
        event[f"ext:p{n}"] = leaf(pad)
    return json.dumps(doc).encode()


async def _flooder(url: str, address: str, org_hex: str, heavy: bytes, seconds: float,
                   tally: Tally, statuses: Counter[str]) -> None:
    """Open loop: two heavy captures and two nested-JSON requests a second."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    rng = _rng(hash(address))

    async def one(path: str, body: bytes, headers: dict[str, str], kind: str) -> None:
        try:
            r = await client.post(path, content=body, headers=headers)
        except httpx.TransportError as exc:
            tally.transport_errors[f"flood:{type(exc).__name__}"] += 1
            statuses[f"{kind}:0"] += 1
            return
        statuses[f"{kind}:{r.status_code}"] += 1
        tally.response("POST", path, r.status_code, r.text if r.status_code >= 500 else "",
                       phase="flood")

    async with httpx.AsyncClient(base_url=url, timeout=30.0, transport=transport,
                                 limits=httpx.Limits(max_connections=32)) as client:
        tasks = []
        start = time.monotonic()
        n = 0
        while time.monotonic() - start < seconds:
            signature = {"Zhenzhi-Capture-Signature": "0x" + rng.randbytes(64).hex() + "1b",
                         "Zhenzhi-Capture-Org": org_hex,
                         "Zhenzhi-Capture-Nonce": str(rng.randrange(1, 1 << 60)),
                         "Zhenzhi-Capture-Signed-At": str(int(time.time())),
                         "Zhenzhi-Capture-Disclosure-Seed": "0x" + rng.randbytes(32).hex(),
                         "Content-Type": "application/ld+json"}
            if n % 2 == 0:
                tasks.append(asyncio.create_task(one("/capture", heavy, signature, "heavy")))
            elif n % 4 == 1:
                tasks.append(asyncio.create_task(one("/capture", NESTED, signature, "nested")))
            else:
                tasks.append(asyncio.create_task(one(
                    "/complaints", NESTED, {"Content-Type": "application/json"}, "nested")))
            n += 1
            await asyncio.sleep(max(0.0, start + n / 4 - time.monotonic()))
        await asyncio.gather(*tasks)


def _flood_attack(url: str, addresses: list[str], org_hex: str, seconds: float, ready: Any,
                  out: Any) -> None:
    """The flooders, in a process of their own (their JSON building and sending must not
    slow the legitimate client's loop)."""
    tally = Tally(phase="flood")
    statuses: Counter[str] = Counter()
    heavy = _heavy_capture()

    async def attack() -> None:
        await asyncio.gather(*(_flooder(url, a, org_hex, heavy, seconds, tally, statuses)
                               for a in addresses))

    ready.set()
    asyncio.run(attack())
    out.put((dict(statuses), tally.server_errors, dict(tally.transport_errors),
             dict(tally.statuses), len(heavy)))


async def _flood(stack: Stack, items: list[str], seconds: float, attackers: int,
                 tally: Tally) -> dict[str, Any]:
    """The legitimate client's p99 quiet, then under the CPU flood, in one run."""
    import multiprocessing

    member = stack.bench
    quiet_lat, quiet_status = await _legit(stack.url, items, seconds, tally, member)
    ctx = multiprocessing.get_context("spawn")
    results, ready = ctx.Queue(), ctx.Event()
    attack = ctx.Process(target=_flood_attack, args=(
        stack.url, [f"127.0.0.{40 + i}" for i in range(attackers)], "0x" + member.org.hex(),
        seconds, ready, results))
    attack.start()
    try:
        if not await asyncio.to_thread(ready.wait, 120):
            raise RuntimeError("the flooding process did not start")
        legit_lat, legit_status = await _legit(stack.url, items, seconds, tally, member)
        statuses, errors, transport, phases, heavy_bytes = await asyncio.to_thread(
            results.get, True, seconds + 180)
    finally:
        attack.join(timeout=30)
        if attack.is_alive():
            attack.kill()
    with tally.lock:
        tally.server_errors.extend(errors)
        tally.transport_errors.update(transport)
        tally.statuses.update(phases)
    alive = stack.gateway.alive()
    if alive:
        async with httpx.AsyncClient(base_url=stack.url, timeout=10.0) as client:
            try:
                alive = (await client.get("/capture/domain")).status_code == 200
            except httpx.TransportError:
                alive = False
    quiet = percentile(quiet_lat, 0.99)
    attacked = percentile(legit_lat, 0.99)
    return {
        "attack": "unsigned 1.8 MB captures of nested extensions (95k JSON values, just under "
                  "the default bound) naming the member's org + 200 KB of nested '[' to "
                  "/capture and /complaints, 4 requests/s per attacker",
        "attackers": attackers, "heavy_capture_bytes": heavy_bytes,
        "attack_statuses": dict(sorted(statuses.items())),
        "legit_quiet_requests": sum(quiet_status.values()),
        "legit_requests": sum(legit_status.values()),
        "legit_statuses": {str(k): v for k, v in sorted(legit_status.items())},
        "quiet_p99_ms": round(quiet * 1000, 1) if quiet is not None else None,
        "attacked_p99_ms": round(attacked * 1000, 1) if attacked is not None else None,
        "attacked_p50_ms": round((percentile(legit_lat, 0.5) or 0) * 1000, 1),
        "p99_ratio": round(attacked / quiet, 2) if quiet and attacked is not None else None,
        "gateway_alive": alive,
    }


# --- the audit ---------------------------------------------------------------------------------

def _drain(store: Any, timeout: float) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if store.pending_count() == (0, 0) and not store.open_batches():
            return time.monotonic() - start
        time.sleep(0.1)
    return None


def _audit(stack: Stack, tally: Tally, sample: int, rng: random.Random) -> dict[str, Any]:
    """Everything acknowledged is stored and anchored exactly once, and proofs verify on chain."""
    from sqlalchemy import select

    from ledger.chain.client import Chain
    from ledger.epcis.event_hash import parse_event_id
    from ledger.proofs.capture import event_leaf
    from ledger.proofs.merkle import MerkleTree, keccak256, verify_proof
    from ledger.store import tables as t

    store = stack.store()
    chain = Chain(stack.bench.w3, stack.bench.deployment)
    try:
        with store.engine.connect() as conn:
            stored_events = {bytes(r[0]) for r in conn.execute(select(t.events.c.event_id))}
            leaf_of = {r.id: bytes(r.leaf) for r in conn.execute(
                select(t.captures.c.id, t.captures.c.leaf))}
        lost = [cid for cid, ids in tally.acked.items()
                if cid not in leaf_of or any(parse_event_id(e) not in stored_events for e in ids)]

        roots_of_leaf: dict[bytes, set[bytes]] = defaultdict(set)
        store_roots: set[bytes] = set()
        bad_trees = 0
        not_on_chain = 0
        for batch in store.batches():
            leaves = store.batch_leaves(batch.id)
            store_roots.add(batch.root)
            if MerkleTree.build(leaves).root != batch.root:
                bad_trees += 1
            if chain.anchor_of(batch.root) is None:
                not_on_chain += 1
                continue
            for leaf in leaves:
                roots_of_leaf[leaf].add(batch.root)
        topic = "0x" + keccak256(b"RootAnchored(bytes32,uint32,bytes32,address)").hex()
        logs = stack.bench.w3.eth.get_logs({"address": chain.trace_anchor.address,
                                            "fromBlock": 0, "topics": [topic]})
        log_roots = Counter(bytes(entry["topics"][1]) for entry in logs)
        acked_leaves = {cid: leaf_of[cid] for cid in tally.acked if cid in leaf_of}
        twice = [cid for cid, leaf in acked_leaves.items() if len(roots_of_leaf[leaf]) > 1]
        unanchored = [cid for cid, leaf in acked_leaves.items() if not roots_of_leaf[leaf]]

        events = [e for ids in tally.acked.values() for e in ids]
        checked = failed = 0
        for ni in rng.sample(events, min(sample, len(events))):
            status = store.anchor_status(parse_event_id(ni))
            checked += 1
            if (status is None or status.state != "anchored"
                    or status.commitment is None
                    or not verify_proof(status.events_root, event_leaf(status.commitment),
                                        status.event_proof)
                    or not chain.verify_anchored(status.batch_root, status.capture_leaf,
                                                 status.capture_proof)):
                failed += 1
        return {
            "captures_acknowledged": len(tally.acked),
            "events_acknowledged": len(events),
            "acknowledged_lost": len(lost),
            "acknowledged_lost_ids": lost[:20],
            "anchored_twice": len(twice),
            "anchored_twice_ids": twice[:20],
            "acknowledged_not_anchored": len(unanchored),
            "batches": len(store_roots),
            "batches_not_on_chain": not_on_chain,
            "batch_roots_not_matching_leaves": bad_trees,
            "root_anchored_logs": sum(log_roots.values()),
            "roots_logged_more_than_once": sum(1 for n in log_roots.values() if n > 1),
            "roots_on_chain_unknown_to_store": len(set(log_roots) - store_roots),
            "proofs_checked_on_chain": checked,
            "proofs_failed": failed,
        }
    finally:
        store.close()


def _server_error_lines(log: Path, limit: int = 10) -> list[str]:
    """Distinct error lines the gateway logged (the problem handler logs every 5xx)."""
    seen: dict[str, None] = {}
    if log.exists():
        for line in log.read_text(errors="replace").splitlines():
            if ("failed:" in line or "Error" in line) and len(seen) < limit:
                seen.setdefault(line.strip()[:300], None)
    return list(seen)


# --- the run -----------------------------------------------------------------------------------

async def _run_async(stack: Stack, plan: FaultPlan, tally: Tally, result: dict[str, Any]) -> None:
    from gateway.traceability import TraceabilitySettings

    # The public limits, read as the gateway reads them (same ZHENZHI_* environment).
    limits = TraceabilitySettings()
    rng = _rng(plan.seed)
    stack.gateway.start()
    await stack.gateway_ready()
    stack.worker.start()
    signer = Signer(stack.bench, plan.seed)
    load = Load(stack.url, signer, tally, plan)
    clients = [asyncio.create_task(load.client(i)) for i in range(plan.clients)]
    recovery: dict[str, list[float]] = defaultdict(list)
    try:
        tally.phase = "faults"
        t0 = time.monotonic()
        await _inject(stack, plan, tally, rng, recovery)
        result["fault_phase_s"] = round(time.monotonic() - t0, 1)
        for key, values in recovery.items():
            result[f"{key}_max"] = round(max(values), 2)
            result[f"{key}_mean"] = round(sum(values) / len(values), 2)
        drains = [v for key, values in recovery.items() if key.startswith("drain_after_")
                  for v in values]
        result["drain_s"] = round(max(drains), 2) if drains else None
        # A phase that breaks is recorded and the run goes on: the audit must always run.
        if plan.schemathesis_examples:
            tally.phase = "schemathesis"
            t0 = time.monotonic()
            try:
                result["schemathesis"] = await asyncio.to_thread(
                    _schemathesis, stack.url, plan.schemathesis_examples, tally)
                result["schemathesis"]["duration_s"] = round(time.monotonic() - t0, 1)
            except Exception as exc:  # noqa: BLE001
                result.setdefault("phase_errors", {})["schemathesis"] = repr(exc)[:500]
        if plan.burst_s:
            tally.phase = "burst"
            items = [f"/01/{_gtin()}/21/{_serial_of(e)}" for e in _recent_epcs(stack, 50)]
            try:
                result["burst"] = await _burst(stack.url, items, plan.burst_s, plan.attackers,
                                               tally, limits, stack.bench)
            except Exception as exc:  # noqa: BLE001
                result.setdefault("phase_errors", {})["burst"] = repr(exc)[:500]
        if plan.flood_s:
            tally.phase = "flood"
            items = [f"/01/{_gtin()}/21/{_serial_of(e)}" for e in _recent_epcs(stack, 50)]
            try:
                result["flood"] = await _flood(stack, items, plan.flood_s, plan.flood_attackers,
                                               tally)
            except Exception as exc:  # noqa: BLE001
                result.setdefault("phase_errors", {})["flood"] = repr(exc)[:500]
    finally:
        tally.phase = "stopping"
        load.stop.set()
        await asyncio.gather(*clients, return_exceptions=False)
    result["capture_requests_sent"] = load.sent


def _gtin() -> str:
    from bench.gateway import _GTIN

    return _GTIN


def _serial_of(epc: str) -> str:
    return epc.rsplit("/21/", 1)[1]


def _recent_epcs(stack: Stack, n: int) -> list[str]:
    from sqlalchemy import select

    from ledger.store import tables as t

    store = stack.store()
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(select(t.events.c.body).order_by(t.events.c.seq.desc())
                                .limit(n)).all()
    finally:
        store.close()
    return [json.loads(r.body)["epcList"][0] for r in rows]


def run_plan(plan: FaultPlan, *, keep: Path | None = None) -> dict[str, Any]:
    """Run `plan` on a fresh stack; returns the figures (see the module docstring)."""
    started = time.monotonic()
    tally = Tally()
    result: dict[str, Any] = {"plan": {k: v for k, v in vars(plan).items()}}
    with tempfile.TemporaryDirectory(prefix="zhenzhi-faults-") as tmp_name:
        tmp = Path(tmp_name)
        with BenchStack(tmp) as bench:
            # The devnet persists its state once a second: let the deployment and the member's
            # admission reach the state file before anything may kill the chain.
            time.sleep(2.0)
            stack = Stack(bench, tmp)
            try:
                asyncio.run(_run_async(stack, plan, tally, result))
                tally.phase = "drain"
                # Every process up (a kill may have been the last thing that happened).
                if not stack.worker.alive():
                    stack.worker.start()
                store = stack.store()
                try:
                    drain = _drain(store, 300.0)
                finally:
                    store.close()
                result["drain_final_s"] = round(drain, 2) if drain is not None else None
                result.update(_audit(stack, tally, plan.proof_sample, _rng(plan.seed)))
            finally:
                stack.gateway.stop()
                stack.worker.stop()
                result["gateway_log_errors"] = _server_error_lines(stack.gateway.log)
                result["worker_log_errors"] = _server_error_lines(stack.worker.log)
                if keep is not None:
                    keep.mkdir(parents=True, exist_ok=True)
                    for name in ("gateway.log", "worker.log", "faults.db"):
                        if (tmp / name).exists():
                            (keep / name).write_bytes((tmp / name).read_bytes())
    faults = dict(sorted(tally.faults.items()))
    # "mid-batch" qualifies a chain kill already counted; it is not a fault of its own.
    injected = {k: v for k, v in faults.items() if k != "chain_kill9_mid_batch"}
    if plan.burst_s:
        injected["rate_limit_burst"] = 1
    if plan.flood_s:
        injected["cpu_flood"] = 1
    # The documented refusal while the chain is down (502 chain-unavailable, nothing stored,
    # the client retries) is the designed answer, not a server error; anything else is.
    refused = [e for e in tally.server_errors if e["status"] == 502 and e["chain_down"]
               and e["type"] == "urn:zhenzhi:problem:chain-unavailable"]
    five = [e for e in tally.server_errors if e not in refused]
    result.update({
        "faults_injected": sum(injected.values()),
        "faults_by_kind": {**injected, **({"chain_kill9_mid_batch": faults[
            "chain_kill9_mid_batch"]} if "chain_kill9_mid_batch" in faults else {})},
        "responses_5xx": len(five),
        "responses_502_chain_down": len(refused),
        "responses_5xx_by": dict(Counter(f"{e['phase']}:{e['status']}:{e['method']} {e['path']}"
                                         f"{' (chain down)' if e['chain_down'] else ''}"
                                         for e in five)),
        "responses_5xx_samples": five[:10],
        "responses_by_phase_status": dict(sorted(tally.statuses.items())),
        "transport_errors": dict(sorted(tally.transport_errors.items())),
        "captures_unacknowledged": tally.unacknowledged,
        "anomalies": tally.anomalies[:50],
        "anomaly_count": len(tally.anomalies),
        "burst_legit_p99_ms": (result.get("burst") or {}).get("legit_p99_ms"),
        "burst_attack_429": (result.get("burst") or {}).get("attack_429"),
        "flood_quiet_p99_ms": (result.get("flood") or {}).get("quiet_p99_ms"),
        "flood_attacked_p99_ms": (result.get("flood") or {}).get("attacked_p99_ms"),
        "flood_p99_ratio": (result.get("flood") or {}).get("p99_ratio"),
        "flood_gateway_alive": (result.get("flood") or {}).get("gateway_alive"),
        "duration_s": round(time.monotonic() - started, 1),
        "cores": os.cpu_count(),
    })
    return result


def run(quick: bool) -> dict[str, Any]:
    return run_plan(FaultPlan.quick() if quick else FaultPlan.full())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench --faults")
    parser.add_argument("--quick", action="store_true", help="fewer faults, about 3-5 minutes")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "faults.json")
    parser.add_argument("--keep", type=Path, default=None,
                        help="copy the gateway/worker logs and the store here")
    args = parser.parse_args(argv)
    result = run_plan(FaultPlan.quick() if args.quick else FaultPlan.full(), keep=args.keep)
    result["quick"] = args.quick
    result["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n")
    print(json.dumps({k: result.get(k) for k in (
        "faults_injected", "faults_by_kind", "captures_acknowledged", "acknowledged_lost",
        "anchored_twice", "responses_5xx", "drain_s", "burst_legit_p99_ms",
        "flood_quiet_p99_ms", "flood_attacked_p99_ms", "flood_p99_ratio", "flood_gateway_alive",
        "duration_s")},
        indent=2))
    ok = (result["acknowledged_lost"] == 0 and result["anchored_twice"] == 0
          and result["responses_5xx"] == 0 and not result.get("phase_errors")
          and result["flood_gateway_alive"] is not False)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
