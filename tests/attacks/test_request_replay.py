"""Attack class: a signed member request used more than once.

A member's signed read carries a nonce that the gateway remembers for twice the allowed clock
skew. Without Redis the nonces were kept in each process's memory, so two `zhenzhi serve`
processes on one store (two ports, a load balancer in front) accepted the same captured
request once each. Without Redis they are now kept in the store that the processes share.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.proofs.request_signing import sign_request
from tests.integration.gateway_env import GatewayStack

pytestmark = [pytest.mark.chain]


def _serve(stack: GatewayStack, database_url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ZHENZHI_DATABASE_URL": database_url,
           "ZHENZHI_RPC_URL": stack.rpc_url, "ZHENZHI_MANIFEST": str(stack.manifest)}
    env.pop("ZHENZHI_REDIS_URL", None)  # the attack: no Redis to share nonces through
    return subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--port", str(port),
                             "--log-level", "warning"], env=env)


def _wait_ready(server: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + 90
    while True:
        assert server.poll() is None, "zhenzhi serve exited"
        try:
            if httpx.get(url + "/capture/domain", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "zhenzhi serve did not start"
        time.sleep(0.2)


@pytest.fixture
def two_gateways(gateway_stack: GatewayStack, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two `zhenzhi serve` processes on one SQLite store, no Redis."""
    from tests.conftest import free_port

    database_url = f"sqlite:///{tmp_path / 'shared.db'}"
    servers: list[subprocess.Popen[bytes]] = []
    urls = []
    try:
        for _ in range(2):  # one after the other: the first migrates the store
            port = free_port()
            urls.append(f"http://127.0.0.1:{port}")
            servers.append(_serve(gateway_stack, database_url, port))
            _wait_ready(servers[-1], urls[-1])
        yield urls[0], urls[1]
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)


def test_attack_member_read_replayed_to_a_second_gateway_process_is_refused(
        two_gateways: tuple[str, str], gateway_stack: GatewayStack) -> None:
    first, second = two_gateways
    member = gateway_stack.enterprise
    path = "/events/" + "ab" * 32
    headers = sign_request(member.key, "GET", path, b"", org="0x" + member.org.hex()).headers()

    answered = httpx.get(first + path, headers=headers, timeout=30)
    assert answered.status_code == 404, answered.text  # signature accepted; no such event
    for url in (second, first):
        replay = httpx.get(url + path, headers=headers, timeout=30)
        assert replay.status_code == 401, replay.text
        body: Any = replay.json()
        assert body["type"] == "urn:zhenzhi:problem:invalid-request-signature"
        assert body["reason"] == "replay"
