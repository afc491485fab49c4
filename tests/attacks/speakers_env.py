"""A live gateway for the "who may speak about an item, and when" attacks: the session anvil
chain and deployment, a real SQLite store, the real app under uvicorn (in a thread), and
organisations admitted through real Consortium proposals, each with one funded key.

Every stack admits organisations with fresh GLNs and a fresh company prefix, so that modules
importing `speakers` (module-scoped) never collide on the shared chain.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account

from ledger.chain.client import Chain
from ledger.chain.transactor import Transactor, anvil_dev_key
from ledger.epcis.event_hash import event_hashes
from ledger.proofs.codes import check_digit, org_id
from ledger.proofs.request_signing import sign_request
from ledger.proofs.signing import (
    CaptureDomain,
    CaptureSignature,
    sign_capture,
    signature_to_headers,
)
from tests import capture_seeds

CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
_rng = random.Random()  # noqa: S311 - identifiers, not secrets


def gln(body12: str) -> str:
    return body12 + str(check_digit(body12))


@dataclass
class Party:
    name: str
    gln: str
    org: bytes
    key: bytes
    address: str
    prefix: str | None = None

    @property
    def org_hex(self) -> str:
        return "0x" + self.org.hex()

    @property
    def pgln(self) -> str:
        return f"https://id.gs1.org/417/{self.gln}"

    def gtin(self, item_ref: str = "1") -> str:
        """A GTIN-14 under this party's company prefix."""
        assert self.prefix is not None
        body = "0" + self.prefix + item_ref.rjust(12 - len(self.prefix), "0")
        return body + str(check_digit(body))

    def site(self, ref: str = "1") -> str:
        """A location GLN (as a Digital Link) under this party's company prefix."""
        assert self.prefix is not None
        return f"https://id.gs1.org/414/{gln(self.prefix + ref.rjust(12 - len(self.prefix), '0'))}"


@dataclass
class Speakers:
    url: str
    database_url: str
    chain: Chain
    w3: Any
    domain: CaptureDomain
    parties: dict[str, Party] = field(default_factory=dict)
    _nonce: int = 0

    def admin(self) -> Transactor:
        # Fresh per use: other modules send from dev account 0 too, and a transactor caches
        # its nonce.
        return Transactor(self.w3, Account.from_key(anvil_dev_key(0)))

    def admit(self, name: str, roles: list[str], *, prefix: bool = False) -> Party:
        """Admit an organisation through a real Consortium proposal (quorum 1: the operator)."""
        account = Account.create()
        admin = self.admin()
        admin.send(to=account.address, value=10**19)
        g = gln("97" + "".join(_rng.choice("0123456789") for _ in range(10)))
        pid = self.chain.propose_admit(admin, org_id(g), name, roles,
                                       [account.address]).event("ProposalCreated")["id"]
        self.chain.execute(self.admin(), pid)
        company_prefix = None
        if prefix:
            # 9-digit prefixes under 97: prefix-free against everything else on the chain.
            company_prefix = "97" + "".join(_rng.choice("0123456789") for _ in range(7))
            pid = self.chain.propose_assign_prefix(self.admin(), org_id(g), company_prefix
                                                   ).event("ProposalCreated")["id"]
            self.chain.execute(self.admin(), pid)
        party = Party(name, g, org_id(g), bytes(account.key), account.address, company_prefix)
        self.parties[name] = party
        self.until_gateway_sees(party, reads=True)
        return party

    def until_gateway_sees(self, party: Party, *, reads: bool) -> httpx.Response:
        """Wait until the gateway's chain view has caught up with a change of `party`'s key:
        it reads the chain through a per-block cache that may lag the head by its staleness
        bound (0.25 s). A signed read by `party` is the probe: accepted (`reads=True`) or
        refused. Gives up after 30 s and returns the last answer for the caller to assert."""
        deadline = time.monotonic() + 30
        while True:
            read = self.member_get(party, "/events?perPage=1")
            if (read.status_code == 200) == reads or time.monotonic() > deadline:
                return read
            time.sleep(0.05)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60.0)

    def next_nonce(self) -> int:
        self._nonce += 1
        return time.time_ns() // 1000 + self._nonce

    def signed_at_now(self) -> int:
        # The later of our clock and the chain's: a key is valid from the block that added it.
        return max(int(time.time()), int(self.w3.eth.get_block("latest")["timestamp"]))

    def sign(self, document: dict[str, Any], party: Party, *,
             signed_at: int | None = None) -> CaptureSignature:
        ids = event_hashes(document)
        seed, root = capture_seeds.prepare(document, ids)
        return capture_seeds.remember(sign_capture(
            party.key, self.domain, root, len(ids), party.org, self.next_nonce(),
            self.signed_at_now() if signed_at is None else signed_at), seed)

    def capture(self, document: dict[str, Any], party: Party, *,
                signed_at: int | None = None) -> httpx.Response:
        sig = self.sign(document, party, signed_at=signed_at)
        with self.client() as client:
            return client.post("/capture", content=json.dumps(document).encode(),
                               headers={**signature_to_headers(sig, capture_seeds.seed_of(sig)),
                                        "Content-Type": "application/ld+json"})

    def member_get(self, party: Party, path: str) -> httpx.Response:
        wire = httpx.URL(path).raw_path.decode("ascii")
        headers = sign_request(party.key, "GET", wire, b"", org=party.org_hex).headers()
        with self.client() as client:
            return client.get(path, headers=headers)


def document(*events: dict[str, Any]) -> dict[str, Any]:
    return {"@context": [CONTEXT], "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": "2026-01-01T00:00:00.000Z", "epcisBody": {"eventList": list(events)}}


def object_event(epcs: list[str], step: str, *, location: str | None = None,
                 when: str = "2026-01-01T08:00:00.000Z", **extra: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {"type": "ObjectEvent", "eventTime": when, "eventTimeZoneOffset": "+00:00",
                          "epcList": list(epcs), "action": "ADD" if step == "commissioning"
                          else "OBSERVE", "bizStep": step, "disposition": "in_progress"}
    if location:
        ev["readPoint"] = {"id": location}
        ev["bizLocation"] = {"id": location}
    ev.update(extra)
    return ev


@pytest.fixture(scope="module")
def speakers(w3: Any, anvil: Any, deployment: Any,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Speakers]:
    from gateway.app import create_app
    from gateway.server import ThreadedServer
    from gateway.settings import GatewaySettings

    tmp: Path = tmp_path_factory.mktemp("speakers")
    manifest = tmp / "deployment.json"
    deployment.save(manifest)
    database_url = f"sqlite:///{tmp / 'gateway.db'}"
    settings = GatewaySettings(database_url=database_url, rpc_url=anvil.url, manifest=manifest)
    domain = CaptureDomain(deployment.chainId, deployment.address("Consortium"))
    with ThreadedServer(create_app(settings)) as server:
        yield Speakers(server.url, database_url, Chain(w3, deployment), w3, domain)
