"""Attack class: cheap requests that cost the gateway seconds (issue 16, item 7).

An unsigned capture of ~2 MB of nested extensions was parsed, validated and hashed on the event
loop before anything asked whether its signature could ever be accepted: about 1-2 s of loop
time each, during which no consumer scan was answered. Now the capture route refuses cheaply
first (header formats; a deposit by body size from the client's budget, kept when the capture
fails, so a client whose failures emptied it gets 429; an organisation that held no role at
`signedAt` gets 403 before the parse) and checks a large body on the capture-check threads, so
the event loop keeps serving.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.attacks.stack import served
from tests.integration.gateway_env import GatewayStack, document

pytestmark = pytest.mark.chain

FAILURE_BURST = 4


@pytest.fixture(scope="module")
def stack(w3: Any, anvil: Any, deployment: Any, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[GatewayStack]:
    # Forged headers carry the chain's time (`chain_now`), which runs ahead of the wall clock
    # once many blocks were mined: the widest signedAt window keeps that from being what
    # refuses them here, where the checks after it are under test.
    with served(w3, anvil, deployment, tmp_path_factory.mktemp("costly"),
                signed_at_max_skew_s=3600,
                traceability={"capture_failure_burst": FAILURE_BURST,
                              "capture_failure_per_minute": 0.5}) as s:
        yield s


def client_from(stack: GatewayStack, address: str) -> httpx.Client:
    """A client on its own loopback address: its own rate-limit bucket."""
    return httpx.Client(base_url=stack.url, timeout=30.0,
                        transport=httpx.HTTPTransport(local_address=address))


def heavy_body(size: int = 200_000) -> bytes:
    """A capture of nested extensions: well-formed JSON, costly to validate and hash."""
    doc = document(1)
    doc["@context"] = [*doc["@context"], {"ext": "https://example.com/ext/"}]
    leaf: Any = "x" * 16
    for i in range(40):
        leaf = {f"ext:n{i}": leaf, "ext:list": [1, 2, 3]}
    event = doc["epcisBody"]["eventList"][0]
    n = 0
    while len(json.dumps(doc)) < size:
        event[f"ext:p{n}"] = leaf
        n += 1
    return json.dumps(doc).encode()


def chain_now(w3: Any) -> int:
    """The chain's clock: blocks mined in a hurry run ahead of the wall clock."""
    return int(w3.eth.get_block("latest")["timestamp"])


def forged_headers(org: bytes, signed_at: int = 1_700_000_000) -> dict[str, str]:
    return {"Zhenzhi-Capture-Signature": "0x" + "1b" * 65,
            "Zhenzhi-Capture-Org": "0x" + org.hex(),
            "Zhenzhi-Capture-Nonce": "7", "Zhenzhi-Capture-Signed-At": str(signed_at),
            "Zhenzhi-Capture-Disclosure-Seed": "0x" + "5e" * 32,
            "Content-Type": "application/ld+json"}


def test_attack_capture_for_an_organisation_without_roles_is_refused_before_its_body_is_parsed(
        stack: GatewayStack) -> None:
    nobody = os.urandom(32)
    # Not even JSON past the first bytes: had it been parsed, the answer would be a 400.
    body = b'{"type": "EPCISDocument", ' + b"x" * 100_000
    with client_from(stack, "127.0.0.21") as client:
        r = client.post("/capture", content=body,
                        headers=forged_headers(nobody, signed_at=int(time.time())))
    assert r.status_code == 403, r.text
    assert r.json()["type"] == "urn:zhenzhi:problem:unknown-organisation"
    assert r.json()["org"] == "0x" + nobody.hex()


def test_attack_failing_captures_from_one_client_are_refused_before_parsing_once_it_has_paid(
        stack: GatewayStack, w3: Any) -> None:
    body = heavy_body()
    headers = forged_headers(stack.enterprise.org, signed_at=chain_now(w3))
    statuses = []
    with client_from(stack, "127.0.0.22") as attacker:
        for _ in range(FAILURE_BURST + 2):
            statuses.append(attacker.post("/capture", content=body, headers=headers))
    codes = [r.status_code for r in statuses]
    # A 200 KB capture leaves a deposit of 1 + ~3 tokens (the whole 4-token bucket) while it
    # is checked; failing, it keeps it, and the next one is refused before it is parsed.
    assert codes[0] in (400, 403), statuses[0].text
    assert codes[-1] == 429, [r.text[:300] for r in statuses]
    refused = statuses[-1]
    assert refused.json()["type"] == "urn:zhenzhi:problem:rate-limited"
    assert int(refused.headers["retry-after"]) >= 1
    # Another client, with a capture that passes, is not affected.
    doc = document(1)
    sig = stack.sign(doc, stack.enterprise)
    with client_from(stack, "127.0.0.23") as member:
        ok = member.post("/capture", content=json.dumps(doc).encode(), headers=stack.headers(sig))
    assert ok.status_code == 202, ok.text


def test_attack_large_capture_being_checked_does_not_hold_the_event_loop(
        stack: GatewayStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check of a large capture is held mid-way; meanwhile another request must be
    answered. On the event loop, holding the check would hold every request."""
    intake = stack.app.state.services.intake  # type: ignore[attr-defined]
    real_check = intake.check
    entered, release = threading.Event(), threading.Event()

    def held_check(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        release.wait(timeout=20)
        return real_check(*args, **kwargs)

    monkeypatch.setattr(intake, "check", held_check)
    doc = document(1)
    doc["epcisBody"]["eventList"][0]["ext:pad"] = "p" * 64_000  # past capture_inline_bytes
    doc["@context"] = [*doc["@context"], {"ext": "https://example.com/ext/"}]
    sig = stack.sign(doc, stack.enterprise)
    answers: list[httpx.Response] = []

    def send() -> None:
        with client_from(stack, "127.0.0.24") as member:
            answers.append(member.post("/capture", content=json.dumps(doc).encode(),
                                       headers=stack.headers(sig)))

    sender = threading.Thread(target=send)
    sender.start()
    try:
        assert entered.wait(timeout=30), "the capture never reached its check"
        with client_from(stack, "127.0.0.25") as consumer:
            try:
                during = consumer.get("/capture/domain", timeout=10)
            except httpx.TimeoutException:
                pytest.fail("no answer while a capture was being checked: the loop was held")
        assert during.status_code == 200
    finally:
        release.set()
        sender.join(timeout=60)
    assert answers and answers[0].status_code == 202, answers and answers[0].text


def test_attack_capture_of_too_many_json_values_is_refused_before_parsing(
        stack: GatewayStack, w3: Any) -> None:
    # Small in bytes, costly to parse and hash: what the check costs grows with the values.
    doc = document(1)
    doc["@context"] = [*doc["@context"], {"ext": "https://example.com/ext/"}]
    doc["epcisBody"]["eventList"][0]["ext:zeros"] = [0] * 110_000
    headers = forged_headers(stack.enterprise.org, signed_at=chain_now(w3))
    with client_from(stack, "127.0.0.26") as client:
        body = json.dumps(doc, separators=(",", ":")).encode()  # 220 KB, under the body limit
        r = client.post("/capture", content=body, headers=headers)
    assert r.status_code == 413, r.text
    assert r.json()["type"] == "urn:zhenzhi:problem:json-too-many-values"
    assert r.json()["maxValues"] == 100_000
