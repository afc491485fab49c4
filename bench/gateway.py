"""Gateway capture speed, end to end over HTTP: signed captures against a real uvicorn.

Set-up: a fresh anvil (the devnet script), the contracts deployed, one organisation admitted
with ENTERPRISE and a signing key, `zhenzhi serve` (one uvicorn worker process, SQLite store) as
a subprocess and, as in production, `zhenzhi anchor-worker` as another one anchoring what is
accepted while the load runs. This process is the load generator: it signs every capture before
the clock starts, then sends them over keep-alive connections from a fixed number of concurrent
clients (a closed loop), so the numbers measure the gateway, not the signer.

Reported:
    capture_single_events_per_s   one-event captures per second (each its own signature)
    capture_single_p99_ms         99th percentile latency of those requests
    capture_batch_events_per_s    events per second in 500-event captures

    .venv/bin/python -m bench.gateway [--json] [--anchor process|in-process|off]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bench.wire import closed_loop, cpu_seconds, free_port, percentile, run, wait_ready

__all__ = ["BenchStack", "admit_member", "make_document", "measure", "revoke_key"]

_GTIN_PREFIX = "0950600013435"
_SITES = [f"https://id.gs1.org/414/95060001343{i:02d}" for i in range(10)]
_STEPS = ("commissioning", "packing", "shipping", "receiving", "storing")


def _gtin(body13: str) -> str:
    digits = [int(c) for c in body13]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return body13 + str((10 - total % 10) % 10)


_GTIN = _gtin(_GTIN_PREFIX)


def make_document(n_events: int, seed: int) -> dict[str, Any]:
    """An EPCIS 2.0 document of `n_events` ObjectEvents with unique serials (ENTERPRISE steps)."""
    events = []
    for i in range(n_events):
        serial = seed * 1_000_000 + i
        when = 1_700_000_000 + seed * 1_000 + i
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when)) + ".000+08:00"
        events.append({
            "type": "ObjectEvent",
            "eventTime": stamp,
            "eventTimeZoneOffset": "+08:00",
            "epcList": [f"https://id.gs1.org/01/{_GTIN}/21/{serial}"],
            "action": "ADD" if i % 5 == 0 else "OBSERVE",
            "bizStep": _STEPS[i % len(_STEPS)],
            "disposition": "in_progress",
            "readPoint": {"id": _SITES[i % len(_SITES)]},
            "bizLocation": {"id": _SITES[(i + 1) % len(_SITES)]},
        })
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2024-01-01T00:00:00.000Z",
        "epcisBody": {"eventList": events},
    }


# --- consortium set-up (dev account 0 is the operator: ADMIN with quorum 1) -------------------

def _consortium(w3: Any, deployment: Any) -> Any:
    from ledger.chain.compiler import load_artifact

    return w3.eth.contract(address=deployment.address("Consortium"),
                           abi=load_artifact("Consortium")["abi"])


def _admin(w3: Any) -> Any:
    from eth_account import Account

    from ledger.chain.transactor import Transactor, anvil_dev_key

    return Transactor(w3, Account.from_key(anvil_dev_key(0)))


def admit_member(w3: Any, deployment: Any, gln: str, roles: list[str],
                 keys: list[str], admin: Any = None) -> bytes:
    """Admit organisation `gln` with `roles` and signing `keys` (propose + execute, quorum 1)."""
    from ledger.proofs.codes import org_id
    from ledger.proofs.merkle import keccak256

    admin = admin or _admin(w3)
    consortium = _consortium(w3, deployment)
    org = org_id(gln)
    receipt = admin.send(consortium.functions.proposeAdmit(
        org, f"member {gln}", [keccak256(r.encode()) for r in roles], keys, 86_400))
    from web3.logs import DISCARD

    # DISCARD: the receipt also holds ProposalApproved, which is not this event.
    (created,) = consortium.events.ProposalCreated().process_receipt(receipt, errors=DISCARD)
    admin.send(consortium.functions.execute(created["args"]["id"]))
    return org


def revoke_key(w3: Any, deployment: Any, key: str, admin: Any = None) -> None:
    """Revoke a signing key from now on (an ADMIN may revoke any key)."""
    admin = admin or _admin(w3)
    admin.send(_consortium(w3, deployment).functions.revokeKey(key))


class BenchStack:
    """anvil + deployed contracts + one ENTERPRISE member with a signing key, in `directory`."""

    GLN = "9506000134352"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def __enter__(self) -> BenchStack:
        from eth_account import Account
        from web3 import Web3

        from ledger.chain.deployment import deploy
        from ledger.paths import DEVNET_DIR
        from ledger.proofs.signing import CaptureDomain

        self.rpc_port = free_port()
        self.rpc_url = f"http://127.0.0.1:{self.rpc_port}"
        self._devnet = [sys.executable, str(DEVNET_DIR / "devnet")]
        subprocess.run([*self._devnet, "up", "--port", str(self.rpc_port), "--dir",
                        str(self.directory / "devnet")], check=True, capture_output=True)
        self.w3 = Web3(Web3.HTTPProvider(self.rpc_url, request_kwargs={"timeout": 30}))
        admin = _admin(self.w3)
        self.deployment = deploy(admin, rpc_url=self.rpc_url)
        self.manifest = self.directory / "deployment.json"
        self.deployment.save(self.manifest)
        account = Account.create()
        self.key = bytes(account.key)
        self.address = account.address
        self.org = admit_member(self.w3, self.deployment, self.GLN, ["ENTERPRISE"],
                                [account.address], admin)
        self.domain = CaptureDomain(self.deployment.chainId,
                                    self.deployment.address("Consortium"))
        return self

    def gateway_env(self, database: Path) -> dict[str, str]:
        from ledger.chain.transactor import anvil_dev_key

        return {"ZHENZHI_DATABASE_URL": f"sqlite:///{database}",
                "ZHENZHI_RPC_URL": self.rpc_url,
                "ZHENZHI_MANIFEST": str(self.manifest),
                "ZHENZHI_ANCHOR_KEY": anvil_dev_key(0)}

    def __exit__(self, *exc: object) -> None:
        subprocess.run([*self._devnet, "down", "--dir", str(self.directory / "devnet")],
                       capture_output=True)


def _signed_requests(docs: list[dict[str, Any]], key: bytes, org: bytes, domain: Any,
                     first_nonce: int) -> list[tuple[bytes, dict[str, str]]]:
    from ledger.epcis.event_hash import event_hashes
    from ledger.proofs.signing import prepare_capture, sign_capture, signature_to_headers

    out = []
    now = int(time.time())
    for n, doc in enumerate(docs):
        ids = event_hashes(doc)
        seed, _, root = prepare_capture(doc["epcisBody"]["eventList"], ids)
        sig = sign_capture(key, domain, root, len(ids), org, first_nonce + n, now)
        headers = {**signature_to_headers(sig, seed), "content-type": "application/ld+json"}
        out.append((orjson.dumps(doc), headers))
    return out


def _wire(requests: list[tuple[bytes, dict[str, str]]], host: str) -> list[bytes]:
    """Each request as the bytes an HTTP/1.1 client sends, built before the clock starts."""
    out = []
    for body, headers in requests:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        out.append(f"POST /capture HTTP/1.1\r\nhost: {host}\r\ncontent-length: {len(body)}\r\n"
                   f"{head}\r\n".encode() + body)
    return out


async def _fire(url: str, requests: list[tuple[bytes, dict[str, str]]], concurrency: int
                ) -> tuple[float, list[float], list[int]]:
    """A closed loop of `concurrency` keep-alive connections (bench.wire), timing each answer."""
    host_port = url.split("://", 1)[1]
    latencies: list[float] = []
    statuses: list[int] = []

    def record(start: float, status: int, body: bytes) -> None:
        latencies.append(time.perf_counter() - start)
        statuses.append(status)

    start = time.perf_counter()
    await closed_loop(url, _wire(requests, host_port), concurrency, record)
    return time.perf_counter() - start, latencies, statuses






def redis_url() -> str | None:
    """A Redis to share between gateway processes (ZHENZHI_REDIS_URL, else a local one on
    the default port), or None."""
    import socket

    url = os.environ.get("ZHENZHI_REDIS_URL")
    if url:
        return url
    try:
        socket.create_connection(("127.0.0.1", 6379), 1).close()
    except OSError:
        return None
    return "redis://127.0.0.1:6379/14"


def default_workers() -> int:
    """Gateway processes for the benchmark: one per core (`zhenzhi serve --workers`), when a
    Redis is there for them to share; else one."""
    return max(1, os.cpu_count() or 1) if redis_url() else 1


def measure(*, single: int = 4000, batches: int = 48, batch_size: int = 500,
            concurrency: int = 16, batch_concurrency: int = 4,
            anchor: str = "process", workers: int = 1) -> dict[str, Any]:
    """`anchor`: "process" runs `zhenzhi anchor-worker` beside the gateway (the production
    layout: its own GIL, its own SQLite connection), "in-process" the gateway's own worker
    thread, "off" none. `workers`: `zhenzhi serve --workers` (more than one needs Redis)."""
    if anchor not in ("process", "in-process", "off"):
        raise ValueError(f"anchor must be process, in-process or off, not {anchor!r}")
    if workers > 1 and redis_url() is None:
        raise RuntimeError("several gateway workers need a Redis (ZHENZHI_REDIS_URL)")
    with tempfile.TemporaryDirectory(prefix="zhenzhi-bench-") as tmp, BenchStack(Path(tmp)) as stack:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        gateway_env = stack.gateway_env(Path(tmp) / "bench.db")
        env = {**os.environ, **gateway_env,
               "ZHENZHI_RUN_ANCHOR_WORKER": "true" if anchor == "in-process" else "false"}
        if workers > 1:
            env["ZHENZHI_REDIS_URL"] = redis_url()  # type: ignore[assignment]
        log_path = Path(tmp) / "serve.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port),
                 "--workers", str(workers), "--log-level", "info"], env=env, stderr=log)
        worker = None
        try:
            wait_ready(url, proc)  # the gateway migrates the store before it listens
            _wait_started(log_path, workers, proc)  # every process, not just the first
            if anchor == "process":
                worker = subprocess.Popen(
                    [sys.executable, "-m", "gateway.cli", "anchor-worker",
                     "--db", gateway_env["ZHENZHI_DATABASE_URL"], "--rpc", stack.rpc_url,
                     "--manifest", str(stack.manifest), "--key", gateway_env["ZHENZHI_ANCHOR_KEY"],
                     "--window", "1"],
                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            domain = stack.domain
            warm = _signed_requests([make_document(1, 900_000 + i) for i in range(200)],
                                    stack.key, stack.org, domain, 10_000_000)
            run(_fire(url, warm, concurrency))
            singles = _signed_requests([make_document(1, i) for i in range(single)],
                                       stack.key, stack.org, domain, 20_000_000)
            cpu0 = cpu_seconds(proc.pid)
            elapsed, lat, statuses = run(_fire(url, singles, concurrency))
            single_cpu = cpu_seconds(proc.pid) - cpu0
            bad = [s for s in statuses if s != 202]
            big = _signed_requests([make_document(batch_size, 500_000 + i) for i in range(batches)],
                                   stack.key, stack.org, domain, 30_000_000)
            cpu0 = cpu_seconds(proc.pid)
            b_elapsed, b_lat, b_statuses = run(_fire(url, big, batch_concurrency))
            batch_cpu = cpu_seconds(proc.pid) - cpu0
            b_bad = [s for s in b_statuses if s != 202]
            anchored = _anchored_events(gateway_env["ZHENZHI_DATABASE_URL"], anchor)
        finally:
            for p in (worker, proc):
                if p is not None:
                    p.terminate()
                    p.wait(timeout=30)
    return {
        "capture_single_events_per_s": round(single / elapsed, 1),
        "capture_single_p50_ms": round((percentile(lat, 0.50) or 0.0) * 1000, 2),
        "capture_single_p99_ms": round((percentile(lat, 0.99) or 0.0) * 1000, 2),
        "capture_single_requests": single,
        # CPU the gateway spent per request (all its threads and its intake pool processes):
        # its cost whatever else the machine was running meanwhile.
        "capture_single_gateway_cpu_ms": round(single_cpu / single * 1000, 3),
        "capture_single_non_202": len(bad),
        "capture_batch_events_per_s": round(batches * batch_size / b_elapsed, 1),
        "capture_batch_p99_ms": round((percentile(b_lat, 0.99) or 0.0) * 1000, 2),
        "capture_batch_requests": batches,
        "capture_batch_gateway_cpu_ms": round(batch_cpu / batches * 1000, 2),
        "capture_batch_non_202": len(b_bad),
        "concurrency": concurrency,
        "gateway_workers": workers,
        "anchor_worker": anchor,
        "events_anchored_during_run": anchored,
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def _wait_started(log_path: Path, workers: int, proc: subprocess.Popen[bytes],
                  timeout: float = 60.0) -> None:
    """Until each of the `workers` processes has logged that its start-up is complete."""
    deadline = time.monotonic() + timeout
    while log_path.read_bytes().count(b"Application startup complete") < workers:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the gateway's {workers} processes did not all start:\n"
                               + log_path.read_text(errors="replace")[-2000:])
        time.sleep(0.1)




def _anchored_events(database_url: str, anchor: str) -> int | None:
    """Events the worker had anchored when the load stopped: proof that it ran alongside."""
    if anchor == "off":
        return None
    from ledger.store.store import Store

    store = Store(database_url)
    try:
        return sum(b.event_count for b in store.batches() if b.state == "anchored")
    finally:
        store.close()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--anchor", choices=("process", "in-process", "off"), default="process",
                        help="where the anchoring worker runs (default: its own process)")
    parser.add_argument("--single", type=int, default=4000)
    parser.add_argument("--batches", type=int, default=48)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=None,
                        help="gateway processes (default: one per core when Redis is there)")
    args = parser.parse_args()
    result = measure(anchor=args.anchor, single=args.single, batches=args.batches,
                     concurrency=args.concurrency,
                     workers=args.workers if args.workers is not None else default_workers())
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        for key, value in result.items():
            print(f"{key:32} {value}")
