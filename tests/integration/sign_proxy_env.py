"""The sign-proxy in front of the live gateway (`gateway_stack`): an enterprise of its own,
admitted on chain with the key of an encrypted key file, and the proxy serving on loopback with
a transport that records every request it sends to the gateway before sending it on.

    sign_proxy_member   session: the key file, its passphrase, the key's address and org
    sign_proxy          the proxy (real uvicorn, real gateway behind it) and what it sent
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

PASSPHRASE = "correct horse battery staple"  # noqa: S105 - a test key file's
PROXY_GLN = "9506000999906"  # unique to the sign-proxy tests


@dataclass
class ProxyMember:
    key_file: Path
    passphrase: str
    address: str
    org: bytes


class RecordingTransport(httpx.AsyncBaseTransport):
    """httpx's own transport to the real gateway, keeping a copy of each request sent."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.sent: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.sent.append(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class SignProxy:
    url: str
    member: ProxyMember
    recorder: RecordingTransport
    gateway_url: str
    seen: int = field(default=0)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0)

    def sent_since_mark(self) -> list[httpx.Request]:
        return self.recorder.sent[self.seen:]

    def mark(self) -> None:
        self.seen = len(self.recorder.sent)


@pytest.fixture(scope="session")
def sign_proxy_member(w3: Any, deployment: Any, gateway_stack: Any,
                      tmp_path_factory: pytest.TempPathFactory) -> ProxyMember:
    from bench.gateway import admit_member
    from ledger.proofs.keystore import new_key

    key_file = tmp_path_factory.mktemp("sign-proxy") / "enterprise.key.json"
    address = new_key(key_file, PASSPHRASE, scrypt_n=2)
    org = admit_member(w3, deployment, PROXY_GLN, ["ENTERPRISE"], [address])
    return ProxyMember(key_file, PASSPHRASE, address, org)


@pytest.fixture
def sign_proxy(gateway_stack: Any, sign_proxy_member: ProxyMember) -> Iterator[SignProxy]:
    from gateway.server import ThreadedServer
    from ledger.proofs.keystore import load_key
    from signproxy import ProxySettings, Signer, create_app

    recorder = RecordingTransport()
    signer = Signer(load_key(sign_proxy_member.key_file, sign_proxy_member.passphrase))
    app = create_app(ProxySettings(gateway_url=gateway_stack.url), signer, transport=recorder)
    with ThreadedServer(app) as server:  # type: ignore[arg-type]
        yield SignProxy(server.url, sign_proxy_member, recorder, gateway_stack.url)
