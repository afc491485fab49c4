"""A live gateway for the integration tests: real anvil with the deployed contracts (session
`deployment` fixture), a real SQLite store, real uvicorn (in a thread), and consortium members:

    enterprise   ENTERPRISE, key `enterprise_key`
    customs      CUSTOMS, key `customs_key`
    revoked      ENTERPRISE, key `revoked_key` (revoked after admission)

Test modules import the fixtures they use from here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account

from bench.gateway import admit_member, make_document, revoke_key
from ledger.epcis.event_hash import event_hashes
from ledger.proofs.signing import (
    CaptureDomain,
    CaptureSignature,
    sign_capture,
    signature_to_headers,
)
from tests import capture_seeds

CAPTURE_LIMIT = 50
MAX_BODY = 256 * 1024


@dataclass
class Member:
    org: bytes
    key: bytes
    address: str


@dataclass
class GatewayStack:
    url: str
    database_url: str
    domain: CaptureDomain
    enterprise: Member
    customs: Member
    revoked: Member
    rpc_url: str
    manifest: Path
    nonce: int = 1

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0)

    def next_nonce(self) -> int:
        self.nonce += 1
        return int(time.time() * 1000) * 1000 + self.nonce

    def sign(self, document: dict[str, Any], member: Member, *, nonce: int | None = None,
             signed_at: int | None = None, key: bytes | None = None) -> CaptureSignature:
        ids = event_hashes(document)
        seed, root = capture_seeds.prepare(document, ids)
        return capture_seeds.remember(sign_capture(
            key or member.key, self.domain, root, len(ids),
            member.org, self.next_nonce() if nonce is None else nonce,
            int(time.time()) if signed_at is None else signed_at), seed)

    def headers(self, sig: CaptureSignature, **extra: str) -> dict[str, str]:
        return {**signature_to_headers(sig, capture_seeds.seed_of(sig)),
                "Content-Type": "application/ld+json", **extra}


def _member(w3: Any, deployment: Any, gln: str, roles: list[str]) -> Member:
    account = Account.create()
    org = admit_member(w3, deployment, gln, roles, [account.address])
    return Member(org, bytes(account.key), account.address)


@pytest.fixture(scope="session")
def gateway_stack(w3: Any, anvil: Any, deployment: Any,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayStack]:
    from gateway.app import create_app
    from gateway.server import ThreadedServer
    from gateway.settings import GatewaySettings

    tmp = tmp_path_factory.mktemp("gateway")
    manifest = tmp / "deployment.json"
    deployment.save(manifest)
    enterprise = _member(w3, deployment, "9506000134352", ["ENTERPRISE"])
    customs = _member(w3, deployment, "9520123456788", ["CUSTOMS"])
    revoked = _member(w3, deployment, "9501101020917", ["ENTERPRISE"])
    revoke_key(w3, deployment, revoked.address)
    database_url = f"sqlite:///{tmp / 'gateway.db'}"
    settings = GatewaySettings(database_url=database_url, rpc_url=anvil.url, manifest=manifest,
                               capture_limit=CAPTURE_LIMIT, max_body_bytes=MAX_BODY,
                               per_page_max=100)
    domain = CaptureDomain(deployment.chainId, deployment.address("Consortium"))
    with ThreadedServer(create_app(settings)) as server:
        yield GatewayStack(server.url, database_url, domain, enterprise, customs, revoked,
                           anvil.url, manifest)


_seeds = iter(range(int(time.time()) % 100_000 * 5, 10**7))


def document(n: int = 1, seed: int | None = None, **overrides: Any) -> dict[str, Any]:
    """A fresh EPCIS document (unique serials per seed) with fields of its events overridden."""
    doc = make_document(n, seed if seed is not None else next(_seeds))
    for event in doc["epcisBody"]["eventList"]:
        event.update(overrides)
    return doc
