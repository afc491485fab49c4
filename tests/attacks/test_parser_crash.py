"""Attack class: one request that crashes the gateway process (issue 16, item 1).

A dependency (py_ecc, via web3) raised the recursion limit to 100 000, past what the C stack
holds, so the stdlib JSON parser overflowed the stack on ~200 KB of `[` and the process died;
orjson, used when a capture is stored, gave 500 at 255 levels. Now every JSON body's nesting is
bounded on its raw bytes before any parser sees it (`ledger.epcis.json_text`, in the gateway's
body middleware and in `parse_document`), and every entry point puts the recursion limit back.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ledger.paths import REPO_ROOT
from tests.attacks.stack import GatewayProcess, member, served, subprocess_gateway
from tests.integration.gateway_env import GatewayStack, document

pytestmark = pytest.mark.chain

DEEP = b"[" * 200_000


def forged_headers(org: bytes, signed_at: int) -> dict[str, str]:
    """Well-formed signature headers naming a real member (public on chain) and signed by
    nobody: the body is all the attacker has to get right."""
    return {"Zhenzhi-Capture-Signature": "0x" + "11" * 65,
            "Zhenzhi-Capture-Org": "0x" + org.hex(), "Zhenzhi-Capture-Nonce": "1",
            "Zhenzhi-Capture-Signed-At": str(signed_at),
            "Zhenzhi-Capture-Disclosure-Seed": "0x" + "5e" * 32,
            "Content-Type": "application/ld+json"}


@pytest.fixture(scope="module")
def real_org(w3: Any, deployment: Any) -> bytes:
    return member(w3, deployment, ["ENTERPRISE"], random.Random(os.urandom(8))).org


@pytest.fixture(scope="module")
def gateway_process(anvil: Any, deployment: Any, real_org: bytes,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    # `real_org` first: the member is admitted before the gateway starts, so the gateway's
    # chain view (followed in the background, lagging on a loaded machine) already holds its
    # role when the forged capture names it; otherwise the header check answers 403 first.
    # The forged /capture headers carry the session chain's time, which runs ahead of the wall
    # clock once many blocks were mined: the widest signedAt window keeps the header checks,
    # which run first, from answering before the body's depth check this test is about.
    with subprocess_gateway(anvil, deployment, tmp_path_factory.mktemp("crash"),
                            ZHENZHI_SIGNED_AT_MAX_SKEW_S="3600") as gateway:
        yield gateway


@pytest.fixture(scope="module")
def stack(w3: Any, anvil: Any, deployment: Any, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[GatewayStack]:
    with served(w3, anvil, deployment, tmp_path_factory.mktemp("deep")) as s:
        yield s


def _post(url: str, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response | str:
    try:
        return httpx.post(url + path, content=body, headers=headers, timeout=60)
    except httpx.TransportError as exc:  # the process died under the request
        return f"no answer: {type(exc).__name__}"


@pytest.mark.parametrize(("path", "headers"), [
    ("/complaints", {"Content-Type": "application/json"}),
    ("/capture", None),
    ("/recalls", {}),  # no Content-Type: FastAPI parses the body as JSON all the same
])
def test_attack_nested_brackets_before_authentication_cannot_kill_the_gateway(
        gateway_process: GatewayProcess, real_org: bytes, w3: Any, path: str,
        headers: dict[str, str] | None) -> None:
    # The chain's clock: blocks mined in a hurry run ahead of the wall clock.
    now = int(w3.eth.get_block("latest")["timestamp"])
    answer = _post(gateway_process.url, path, DEEP,
                   forged_headers(real_org, now) if headers is None else headers)
    assert gateway_process.alive(), f"the gateway died: {gateway_process.log.read_text()[-500:]}"
    assert not isinstance(answer, str), answer
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"] == "urn:zhenzhi:problem:json-too-deep"
    # Still serving.
    assert httpx.get(gateway_process.url + "/capture/domain", timeout=30).status_code == 200


def test_attack_the_recursion_limit_is_back_to_what_the_c_stack_holds() -> None:
    # Depth 64 is refused before parsing; a parser that still met deep JSON (a file read by
    # the CLI, a library's own parse) must raise, not overflow: ask a `zhenzhi` process.
    probe = ("import sys, json\n"
             "from gateway.cli import main\n"
             "main(['--help'])\n"
             "try:\n    json.loads('[' * 200000)\nexcept RecursionError:\n"
             "    print('limit', sys.getrecursionlimit())\n")
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, f"exit {out.returncode}: {out.stderr[-500:]}"
    assert out.stdout.strip().splitlines()[-1] == "limit 1000"


def _nest(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"ext:deeper": value}
    return value


def test_attack_deeply_nested_extension_in_a_signed_capture_is_refused_as_input(
        stack: GatewayStack) -> None:
    doc = document(1)
    doc["epcisBody"]["eventList"][0]["ext:payload"] = _nest(500)
    doc["@context"] = [*doc["@context"], {"ext": "https://example.com/ext/"}]
    # The attacker signs on their own machine, where hashing 500 levels may recurse freely.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)
    try:
        sig = stack.sign(doc, stack.enterprise)
    finally:
        sys.setrecursionlimit(limit)
    with stack.client() as client:
        r = client.post("/capture", content=json.dumps(doc).encode(), headers=stack.headers(sig))
        assert r.status_code == 400, r.text
        assert r.json()["type"] == "urn:zhenzhi:problem:json-too-deep"
        assert r.json()["maxDepth"] == 64
        # A document nested as deep as the limit allows is still captured.
        ok = document(1)
        ok["epcisBody"]["eventList"][0]["ext:payload"] = _nest(50)
        ok["@context"] = [*ok["@context"], {"ext": "https://example.com/ext/"}]
        sig = stack.sign(ok, stack.enterprise)
        r = client.post("/capture", content=json.dumps(ok).encode(), headers=stack.headers(sig))
        assert r.status_code == 202, r.text
