"""Gateway capture speed, end to end over HTTP: signed captures against a real uvicorn.

Set-up: a fresh anvil (the devnet script), the contracts deployed, one organisation admitted
with ENTERPRISE and a signing key, and `zhenzhi serve` (one uvicorn worker process, SQLite
store, in-process anchoring worker) as a subprocess. This process is the load generator: it
signs every capture before the clock starts, then sends them with httpx/asyncio over
keep-alive connections from a fixed number of concurrent clients (a closed loop), so the
numbers measure the gateway, not the signer.

Reported:
    capture_single_events_per_s   one-event captures per second (each its own signature)
    capture_single_p99_ms         99th percentile latency of those requests
    capture_batch_events_per_s    events per second in 500-event captures

    .venv/bin/python -m bench.gateway [--json] [--anchor]   (--anchor: worker in the gateway)
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

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
    from ledger.compiler import load_artifact

    return w3.eth.contract(address=deployment.address("Consortium"),
                           abi=load_artifact("Consortium")["abi"])


def _admin(w3: Any) -> Any:
    from eth_account import Account

    from ledger.transactor import Transactor, anvil_dev_key

    return Transactor(w3, Account.from_key(anvil_dev_key(0)))


def admit_member(w3: Any, deployment: Any, gln: str, roles: list[str],
                 keys: list[str], admin: Any = None) -> bytes:
    """Admit organisation `gln` with `roles` and signing `keys` (propose + execute, quorum 1)."""
    from ledger.codes import org_id
    from ledger.merkle import keccak256

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

    @staticmethod
    def free_port() -> int:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    def __enter__(self) -> BenchStack:
        from eth_account import Account
        from web3 import Web3

        from ledger.deployment import deploy
        from ledger.paths import DEVNET_DIR
        from ledger.signing import CaptureDomain

        self.rpc_port = self.free_port()
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
        from ledger.transactor import anvil_dev_key

        return {"ZHENZHI_DATABASE_URL": f"sqlite:///{database}",
                "ZHENZHI_RPC_URL": self.rpc_url,
                "ZHENZHI_MANIFEST": str(self.manifest),
                "ZHENZHI_ANCHOR_KEY": anvil_dev_key(0)}

    def __exit__(self, *exc: object) -> None:
        subprocess.run([*self._devnet, "down", "--dir", str(self.directory / "devnet")],
                       capture_output=True)


def _signed_requests(docs: list[dict[str, Any]], key: bytes, org: bytes, domain: Any,
                     first_nonce: int) -> list[tuple[bytes, dict[str, str]]]:
    from ledger.capture import events_tree
    from ledger.event_hash import event_hashes
    from ledger.signing import sign_capture, signature_to_headers

    out = []
    now = int(time.time())
    for n, doc in enumerate(docs):
        ids = event_hashes(doc)
        sig = sign_capture(key, domain, events_tree(ids).root, len(ids), org, first_nonce + n, now)
        headers = {**signature_to_headers(sig), "content-type": "application/ld+json"}
        out.append((orjson.dumps(doc), headers))
    return out


async def _fire(url: str, requests: list[tuple[bytes, dict[str, str]]], concurrency: int
                ) -> tuple[float, list[float], list[int]]:
    latencies: list[float] = []
    statuses: list[int] = []
    queue = iter(requests)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60.0) as client:
        async def worker() -> None:
            for body, headers in queue:
                start = time.perf_counter()
                response = await client.post("/capture", content=body, headers=headers)
                latencies.append(time.perf_counter() - start)
                statuses.append(response.status_code)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return elapsed, latencies, statuses


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the gateway exited during start-up")
        try:
            if httpx.get(url + "/capture/domain", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the gateway did not become ready")


def measure(*, single: int = 4000, batches: int = 16, batch_size: int = 500,
            concurrency: int = 16, batch_concurrency: int = 4,
            anchor_worker: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="zhenzhi-bench-") as tmp, BenchStack(Path(tmp)) as stack:
        port = stack.free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, **stack.gateway_env(Path(tmp) / "bench.db"),
               "ZHENZHI_RUN_ANCHOR_WORKER": "true" if anchor_worker else "false"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port),
             "--log-level", "warning"], env=env)
        try:
            _wait_ready(url, proc)
            domain = stack.domain
            warm = _signed_requests([make_document(1, 900_000 + i) for i in range(200)],
                                    stack.key, stack.org, domain, 10_000_000)
            asyncio.run(_fire(url, warm, concurrency))
            singles = _signed_requests([make_document(1, i) for i in range(single)],
                                       stack.key, stack.org, domain, 20_000_000)
            elapsed, lat, statuses = asyncio.run(_fire(url, singles, concurrency))
            bad = [s for s in statuses if s != 202]
            big = _signed_requests([make_document(batch_size, 500_000 + i) for i in range(batches)],
                                   stack.key, stack.org, domain, 30_000_000)
            b_elapsed, b_lat, b_statuses = asyncio.run(_fire(url, big, batch_concurrency))
            b_bad = [s for s in b_statuses if s != 202]
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return {
        "capture_single_events_per_s": round(single / elapsed, 1),
        "capture_single_p50_ms": round(_percentile(lat, 0.50) * 1000, 2),
        "capture_single_p99_ms": round(_percentile(lat, 0.99) * 1000, 2),
        "capture_single_requests": single,
        "capture_single_non_202": len(bad),
        "capture_batch_events_per_s": round(batches * batch_size / b_elapsed, 1),
        "capture_batch_p99_ms": round(_percentile(b_lat, 0.99) * 1000, 2),
        "capture_batch_requests": batches,
        "capture_batch_non_202": len(b_bad),
        "concurrency": concurrency,
        "anchor_worker_in_process": anchor_worker,
        "cpu_count": os.cpu_count(),
    }


if __name__ == "__main__":
    result = measure(anchor_worker="--anchor" in sys.argv)
    if "--json" in sys.argv:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        for key, value in result.items():
            print(f"{key:32} {value}")
