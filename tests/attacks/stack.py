"""Gateways for the attack tests, on the session chain (`anvil`, `deployment` fixtures).

Each test module opens its own: a fresh SQLite store and members admitted under fresh GLNs, so
modules neither share state nor admit one organisation twice. `served(...)` runs the gateway
in-process under real uvicorn; `subprocess_gateway(...)` runs `zhenzhi serve` as a process of
its own, for attacks that might crash the process (a segfault in-process would kill pytest).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account

from bench.gateway import admit_member
from ledger.paths import REPO_ROOT
from ledger.proofs.signing import CaptureDomain
from tests.conftest import free_port
from tests.integration.gateway_env import CAPTURE_LIMIT, MAX_BODY, GatewayStack, Member


def fresh_gln(rng: random.Random) -> str:
    """A random 13-digit GLN with a valid GS1 check digit."""
    body = "95" + "".join(str(rng.randrange(10)) for _ in range(10))
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def member(w3: Any, deployment: Any, roles: list[str], rng: random.Random) -> Member:
    account = Account.create()
    org = admit_member(w3, deployment, fresh_gln(rng), roles, [account.address])
    return Member(org, bytes(account.key), account.address)


@contextmanager
def served(w3: Any, anvil: Any, deployment: Any, tmp: Path, *,
           traceability: dict[str, Any] | None = None, **settings: Any
           ) -> Iterator[GatewayStack]:
    """An in-process gateway (real uvicorn) with `GatewaySettings(**settings)` and
    `TraceabilitySettings(**traceability)` overrides; `stack.app` is the app it serves."""
    from gateway.app import create_app
    from gateway.server import ThreadedServer
    from gateway.settings import GatewaySettings
    from gateway.traceability import TraceabilitySettings

    rng = random.Random(os.urandom(8))  # noqa: S311 - identifiers, not secrets
    manifest = tmp / "deployment.json"
    deployment.save(manifest)
    enterprise = member(w3, deployment, ["ENTERPRISE"], rng)
    customs = member(w3, deployment, ["CUSTOMS"], rng)
    database_url = f"sqlite:///{tmp / 'gateway.db'}"
    config = GatewaySettings(**{"database_url": database_url, "rpc_url": anvil.url,
                                "manifest": manifest, "capture_limit": CAPTURE_LIMIT,
                                "max_body_bytes": MAX_BODY, **settings})
    domain = CaptureDomain(deployment.chainId, deployment.address("Consortium"))
    app = create_app(config)
    app.state.traceability_settings = TraceabilitySettings(**(traceability or {}))
    with ThreadedServer(app) as server:
        stack = GatewayStack(server.url, database_url, domain, enterprise, customs, customs,
                             anvil.url, manifest)
        stack.app = app  # type: ignore[attr-defined]
        yield stack


class GatewayProcess:
    """`zhenzhi serve` in a subprocess; `alive()` says whether it is still running."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.proc = proc
        self.url = url
        self.log = log

    def alive(self) -> bool:
        return self.proc.poll() is None


@contextmanager
def subprocess_gateway(anvil: Any, deployment: Any, tmp: Path, **env: str
                       ) -> Iterator[GatewayProcess]:
    manifest = tmp / "deployment.json"
    deployment.save(manifest)
    port = free_port()
    log = tmp / "gateway.log"
    environ = {**os.environ, "ZHENZHI_DATABASE_URL": f"sqlite:///{tmp / 'gateway.db'}",
               "ZHENZHI_RPC_URL": anvil.url, "ZHENZHI_MANIFEST": str(manifest),
               "ZHENZHI_RUN_ANCHOR_WORKER": "false", **env}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port),
             "--log-level", "warning"], cwd=REPO_ROOT, env=environ, stdout=out,
            stderr=subprocess.STDOUT)
    gateway = GatewayProcess(proc, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + 90
        while True:
            if not gateway.alive():
                raise RuntimeError(f"the gateway exited at start: {log.read_text()[-2000:]}")
            try:
                if httpx.get(gateway.url + "/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start within 90 s")
            time.sleep(0.1)
        yield gateway
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
