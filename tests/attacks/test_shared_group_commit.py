"""Attack class: one member's input fails other members' captures.

Concurrent captures share one database transaction (`ledger.pipeline.committer`). A capture
carrying a value its column cannot hold (a `signedAt` of 2**63 is a valid EIP-712 uint64 but no
signed 64-bit integer) used to fail that whole transaction, and every member whose capture was
in it got a 500. Each capture is now checked against its columns before it joins a group (a
400 for the sender alone), and a group the database refuses anyway is split so that only the
capture at fault fails.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from ledger.store.store import AcceptResult, Store, prepare_capture
from tests import capture_seeds
from tests.integration.gateway_env import GatewayStack, Member, _member, document

pytestmark = [pytest.mark.chain]

INT64_MAX = 2**63 - 1


@dataclasses.dataclass
class Gateway:
    url: str
    database_url: str
    app: Any


@pytest.fixture(scope="module")
def members(w3: Any, deployment: Any, gateway_stack: GatewayStack) -> list[Member]:
    """Four signing organisations: the stack's enterprise and three more."""
    return [gateway_stack.enterprise,
            *(_member(w3, deployment, gln, ["ENTERPRISE"])
              for gln in ("9506000150017", "9506000150024", "9506000150031"))]


@pytest.fixture
def gateway(gateway_stack: GatewayStack, tmp_path: Any) -> Iterator[Gateway]:
    """A gateway of its own (the real app under uvicorn) over a fresh SQLite store."""
    from gateway.app import create_app
    from gateway.server import ThreadedServer
    from gateway.settings import GatewaySettings

    database_url = f"sqlite:///{tmp_path / 'shared.db'}"
    from gateway.traceability import TraceabilitySettings

    app = create_app(GatewaySettings(database_url=database_url, rpc_url=gateway_stack.rpc_url,
                                     manifest=gateway_stack.manifest))
    # Two hundred members' captures arrive here from one test address: its per-client capture
    # deposit (64 tokens by default) must not be what refuses them.
    app.state.traceability_settings = TraceabilitySettings(capture_failure_burst=1000)
    with ThreadedServer(app) as server:
        yield Gateway(server.url, database_url, app)


class WriteTurnHeld:
    """Hold the store's write turn (the flock every SQLite writer queues on), so that captures
    sent meanwhile wait in the committer's queue and are committed as one group on release."""

    def __init__(self, database_url: str) -> None:
        self.path = database_url.removeprefix("sqlite:///") + ".write-turn"

    def __enter__(self) -> WriteTurnHeld:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *_exc: Any) -> None:
        os.close(self.fd)


def _wait_until(condition: Any, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.01)


def test_attack_member_with_out_of_range_signed_at_cannot_fail_other_members_captures(
        gateway: Gateway, gateway_stack: GatewayStack, members: list[Member]) -> None:
    """200 captures of four members and one with signedAt = 2**63 wait for the same group
    commit: the four members' captures are all stored (202), the bad one alone is refused as
    input (400), and nothing of it is stored."""
    stack = gateway_stack
    good = []
    for i in range(200):
        doc = document(1)
        good.append((doc, stack.sign(doc, members[i % len(members)])))
    bad_doc = document(1)
    bad = (bad_doc, stack.sign(bad_doc, members[1], signed_at=2**63))
    committer = gateway.app.state.services.intake.committer

    async def send_all() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=300, max_keepalive_connections=300)
        async with httpx.AsyncClient(base_url=gateway.url, timeout=300, limits=limits) as client:
            sends = [client.post("/capture", content=json.dumps(doc).encode(),
                                 headers=stack.headers(sig))
                     for doc, sig in [*good[:100], bad, *good[100:]]]
            return await asyncio.gather(*sends)

    with ThreadPoolExecutor(1) as pool, WriteTurnHeld(gateway.database_url):
        sent = pool.submit(asyncio.run, send_all())
        # Every capture that passed its checks is now waiting behind the held turn (a refused
        # one never joins them). Before the fix, the bad capture waited with them.
        _wait_until(lambda: committer.pending >= 200 or sent.done(), "the captures to queue")
    responses = sent.result()

    statuses = [r.status_code for r in responses]
    bad_response = responses[100]
    others = statuses[:100] + statuses[101:]
    assert others == [202] * 200, {s: others.count(s) for s in set(others)}
    assert bad_response.status_code == 400, bad_response.text
    assert bad_response.headers["content-type"] == "application/problem+json"
    # Refused as input, by the signedAt window from its headers or the int64 range after them.
    assert bad_response.json()["type"] in ("urn:zhenzhi:problem:signed-at-out-of-window",
                                           "urn:zhenzhi:problem:invalid-capture")
    store = Store(gateway.database_url)
    try:
        assert store.count_events() == 200
    finally:
        store.close()


def test_attack_capture_the_database_refuses_fails_alone_in_its_group(
        store: Store, gateway_stack: GatewayStack, members: list[Member]) -> None:
    """Should a value slip past the checks, the database's refusal costs its capture alone:
    one transaction of 50 captures, one of which carries signedAt = 2**63 (built past the
    checks), stores the 49 others and reports the error for that one (SQLite and PostgreSQL)."""
    from ledger.epcis.event_hash import event_hashes
    from ledger.proofs.signing import build_signed_capture

    stack = gateway_stack
    prepared = []
    for i in range(50):
        doc = document(1)
        sig = stack.sign(doc, members[i % len(members)])
        events = doc["epcisBody"]["eventList"]
        capture = build_signed_capture(events, doc["@context"], event_hashes(doc), sig,
                                       stack.domain, seed=capture_seeds.seed_of(sig))
        prepared.append(prepare_capture(capture))
    victim = prepared[17]
    forged_sig = dataclasses.replace(victim.capture.signature, signed_at=2**63)
    prepared[17] = dataclasses.replace(
        victim, capture=dataclasses.replace(victim.capture, signature=forged_sig))

    outcomes = store.accept_captures(prepared)

    assert isinstance(outcomes[17], Exception)
    assert all(isinstance(o, AcceptResult) and not o.duplicate and len(o.new_event_ids) == 1
               for i, o in enumerate(outcomes) if i != 17), outcomes
    assert store.count_events() == 49
    assert store.get_capture(prepared[17].capture_id) is None


def test_attack_overlong_field_is_refused_alone_on_both_databases(
        store: Store, gateway_stack: GatewayStack, members: list[Member]) -> None:
    """A readPoint longer than its column (which PostgreSQL refuses and SQLite would store) is
    refused as that capture's input error (400) on both databases, before its group's
    transaction; the other captures of the group are stored."""
    from ledger.epcis.event_hash import event_hashes
    from ledger.proofs.signing import build_signed_capture
    from ledger.store.store import ValueOutOfRangeError

    stack = gateway_stack
    captures = []
    for i in range(10):
        doc = document(1)
        if i == 4:
            doc["epcisBody"]["eventList"][0]["readPoint"] = {"id": "urn:x:" + "r" * 600}
        sig = stack.sign(doc, members[i % len(members)])
        captures.append(build_signed_capture(doc["epcisBody"]["eventList"], doc["@context"],
                                             event_hashes(doc), sig, stack.domain,
                                             seed=capture_seeds.seed_of(sig)))

    outcomes = store.accept_captures(captures)

    assert isinstance(outcomes[4], ValueOutOfRangeError), outcomes[4]
    assert outcomes[4].status == 400 and outcomes[4].fields["field"] == "readPoint"
    assert all(isinstance(o, AcceptResult) for i, o in enumerate(outcomes) if i != 4), outcomes
    assert store.count_events() == 9
