"""The traceability extensions against the real stack: anvil with the deployed contracts (the
session `deployment` fixture), a real SQLite store, the real app (lifespan included) through
Starlette's TestClient, and real consortium members with funded keys:

    brand       ENTERPRISE, owns company prefix BRAND_PREFIX
    other       ENTERPRISE, owns nothing (a member, but not the brand)
    customs     CUSTOMS
    regulator   REGULATOR (defines credit grades)

Test modules import the fixtures they use from here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from ledger.proofs.codes import check_digit, org_id
from ledger.proofs.request_signing import sign_request

BRAND_PREFIX = "47123456"


def gln(body12: str) -> str:
    return body12 + str(check_digit(body12))


def gtin(item_ref: str) -> str:
    body = "0" + BRAND_PREFIX + item_ref
    assert len(body) == 13
    return body + str(check_digit(body))


@dataclass
class Org:
    name: str
    gln: str
    org: bytes
    key: str  # 0x private key, funded on anvil
    address: str

    @property
    def org_hex(self) -> str:
        return "0x" + self.org.hex()


@dataclass
class TraceStack:
    brand: Org
    other: Org
    customs: Org
    regulator: Org
    relayer_key: str
    chain: Any
    w3: Any
    deployment: Any
    manifest: Path

    def admin(self) -> Any:
        # A fresh transactor per use: several test helpers send from dev account 0, and a
        # transactor caches its nonce.
        from ledger.chain.transactor import Transactor, anvil_dev_key

        return Transactor(self.w3, Account.from_key(anvil_dev_key(0)))

    def tx(self, who: Org) -> Any:
        from ledger.chain.transactor import Transactor

        return Transactor(self.w3, Account.from_key(who.key))

    def member(self, name: str, body12: str, roles: list[str], prefix: str | None = None) -> Org:
        """Admit a new organisation with one funded key (and a company prefix, if given)."""
        account = Account.create()
        admin = self.admin()
        admin.send(to=account.address, value=10**19)  # gas money for its own transactions
        g = gln(body12)
        outcome = self.chain.propose_admit(admin, org_id(g), name, roles, [account.address])
        self.chain.execute(admin, outcome.event("ProposalCreated")["id"])
        if prefix:
            proposal = self.chain.propose_assign_prefix(admin, org_id(g), prefix)
            self.chain.execute(admin, proposal.event("ProposalCreated")["id"])
        return Org(name, g, org_id(g), "0x" + bytes(account.key).hex(), account.address)


def signed(client: Any, who: Org, method: str, path: str, *, json_body: Any = None,
           **kwargs: Any) -> Any:
    """Send a member-signed request (the signature covers method, path+query and body)."""
    import httpx

    body = b"" if json_body is None else json.dumps(json_body).encode()
    # Sign the path as it goes on the wire (percent-encoded), which is what the gateway checks.
    wire = httpx.URL(path).raw_path.decode("ascii")
    headers = sign_request(who.key, method, wire, body, org=who.org_hex).headers()
    if json_body is not None:
        headers["Content-Type"] = "application/json"
    return client.request(method, path, content=body or None,
                          headers={**headers, **kwargs.pop("headers", {})}, **kwargs)


@pytest.fixture(scope="session")
def trace_stack(w3: Any, deployment: Any, tmp_path_factory: pytest.TempPathFactory) -> TraceStack:
    # Registered once in tests/integration/conftest.py: the organisations can be admitted
    # only once per chain.
    return _build_stack(w3, deployment, tmp_path_factory)


def _build_stack(w3: Any, deployment: Any, tmp_path_factory: pytest.TempPathFactory) -> TraceStack:
    from ledger.chain.client import Chain

    chain = Chain(w3, deployment)
    manifest = tmp_path_factory.mktemp("trace") / "deployment.json"
    deployment.save(manifest)
    stack = TraceStack(None, None, None, None, "", chain, w3, deployment, manifest)  # type: ignore[arg-type]

    stack.brand = stack.member("Kiwi Dairy Ltd", "471234560001", ["ENTERPRISE"], BRAND_PREFIX)
    stack.other = stack.member("Other Trader Co", "471299990001", ["ENTERPRISE"])
    stack.customs = stack.member("Nansha Customs", "471288880001", ["CUSTOMS"])
    stack.regulator = stack.member("Market Regulator", "471277770001", ["REGULATOR"])
    reg = stack.tx(stack.regulator)
    for grade in ("A", "B", "C", "D"):
        if grade not in chain.grade_levels():
            chain.define_grade(reg, grade)
    relayer = Account.create()
    stack.admin().send(to=relayer.address, value=10**19)
    stack.relayer_key = "0x" + bytes(relayer.key).hex()
    return stack


def make_app(stack: TraceStack, database_url: str, **trace_settings: Any) -> Any:
    from gateway.app import create_app
    from gateway.settings import GatewaySettings
    from gateway.traceability import TraceabilitySettings

    rpc = stack.w3.provider.endpoint_uri
    app = create_app(GatewaySettings(database_url=database_url, rpc_url=rpc,
                                     manifest=stack.manifest, redis_url=trace_settings.pop(
                                         "redis_url", None)))
    settings = TraceabilitySettings(relayer_key=stack.relayer_key, **trace_settings)
    # Where the gateway looks for them (`get_traceability_settings`), not a dependency
    # override: with overrides the resolver's in-memory fast path stands aside, and the tests
    # would miss the path every repeated scan takes in production.
    app.state.traceability_settings = settings
    return app


@pytest.fixture
def client_for(trace_stack: TraceStack, tmp_path: Path) -> Iterator[Any]:
    """`client_for(**traceability_settings)` → an httpx client of a real gateway (uvicorn in a
    thread) over a fresh store. The client carries `.database_url` for direct store checks."""
    import httpx

    from gateway.server import ThreadedServer

    opened: list[tuple[Any, Any]] = []

    def make(**trace_settings: Any) -> Any:
        url = f"sqlite:///{tmp_path / f'store{len(opened)}.db'}"
        server = ThreadedServer(make_app(trace_stack, url, **trace_settings)).start()
        client = httpx.Client(base_url=server.url, timeout=60.0)
        client.database_url = url  # type: ignore[attr-defined]
        opened.append((server, client))
        return client

    yield make
    for server, client in opened:
        client.close()
        server.stop()
