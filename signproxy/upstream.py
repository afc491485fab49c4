"""The gateway, as the proxy sees it: its signing domain and limits, the request that goes to
it, and the links of its answers.

Links: the gateway's `Location` headers are relative (`/capture/{id}`, `/events/{id}`) and pass
unchanged: a client resolves them against the proxy and so reads them back through it. Absolute
URLs in `Location`, `Content-Location` and `Link` that start with the gateway's root (or one of
`ProxySettings.gateway_aliases`) are rewritten to the proxy's root, so that a client following
`Link: <…nextPageToken=…>; rel="next"` stays behind the proxy, which signs the next page too.
Bodies are never rewritten: the answer's bytes are the gateway's.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from ledger.errors import AuthorizationError
from ledger.proofs.signing import CaptureDomain
from signproxy.errors import GatewayUnreachableError, OutsideBindingError
from signproxy.settings import ProxySettings

__all__ = ["Gateway", "GatewayFacts", "UnknownSignerError"]

# Not forwarded either way: hop-by-hop headers (RFC 9110 §7.6.1), and the framing and encoding
# that the proxy's own server and client set for their own connection.
_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
                  "trailer", "upgrade", "proxy-authenticate", "proxy-authorization",
                  "content-length", "content-encoding", "server", "date"})
_LINK_HEADERS = ("location", "content-location", "link")
_FORWARDED_REQUEST_HEADERS = ("content-type", "accept", "accept-language")


class UnknownSignerError(AuthorizationError):
    slug = "unknown-signer"
    title = "The key belongs to no organisation"


@dataclass(frozen=True, slots=True)
class GatewayFacts:
    """What the proxy needs to know before it signs anything (`GET /capture/domain`)."""

    domain: CaptureDomain
    capture_limit: int
    file_size_limit: int
    org: bytes


class Gateway:
    def __init__(self, settings: ProxySettings, *,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.root = settings.gateway_url
        self._prefix = httpx.URL(self.root + "/").raw_path.rstrip(b"/")
        self._roots = (self.root, *settings.gateway_aliases)
        self._client = httpx.AsyncClient(timeout=settings.timeout_s, transport=transport,
                                         follow_redirects=False, trust_env=False)
        self._facts: GatewayFacts | None = None
        self._facts_lock = asyncio.Lock()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def facts(self, signer: str, org: bytes | None) -> GatewayFacts:
        """The gateway's domain and limits, and the signer's organisation: asked once, then
        kept (a gateway that did not answer is asked again next time)."""
        if self._facts is not None:
            return self._facts
        async with self._facts_lock:
            if self._facts is None:
                self._facts = await self._fetch_facts(signer, org)
        return self._facts

    async def _fetch_facts(self, signer: str, org: bytes | None) -> GatewayFacts:
        response = await self._send(self._client.build_request(
            "GET", self.root + "/capture/domain", params={"signer": signer}))
        try:
            info = response.json() if response.status_code == 200 else None
            domain = CaptureDomain(int(info["chainId"]), info["verifyingContract"]) if info else None
        except (ValueError, KeyError, TypeError):
            domain = None
        if domain is None or not isinstance(info, dict):
            raise GatewayUnreachableError(
                f"the gateway at {self.root} did not give its signing domain "
                f"(GET /capture/domain answered {response.status_code})",
                gateway=self.root, gatewayStatus=response.status_code)
        if org is None:
            listed = info.get("org")
            if not isinstance(listed, str) or not listed.startswith("0x"):
                raise UnknownSignerError(
                    f"the chain lists no organisation for the proxy's key {signer}: register "
                    "the key on Consortium, or start the proxy with --org", signer=signer)
            org = bytes.fromhex(listed[2:])
        return GatewayFacts(domain, int(info.get("captureLimit") or 1),
                            int(info.get("fileSizeLimit") or 0), org)

    def url(self, raw_path: str, query: str) -> httpx.URL:
        """The gateway URL of `raw_path?query`, refused unless the client library sends it
        exactly so: what is signed and checked is what reaches the gateway."""
        target = raw_path + (f"?{query}" if query else "")
        url = httpx.URL(self.root + target)
        if url.raw_path != self._prefix + target.encode("ascii", "replace"):
            raise OutsideBindingError(
                f"{raw_path!r} would not reach the gateway as sent (its encoding changes on the "
                "way); send it percent-encoded", path=raw_path)
        return url

    @staticmethod
    def forwarded_headers(headers: Mapping[str, str]) -> dict[str, str]:
        """The client's headers that the gateway hears: the media types and the standard's
        `GS1-*` headers. Never the client's `Zhenzhi-*` headers, cookies or credentials."""
        found: dict[str, str] = {}
        for name, value in headers.items():
            key = name.lower()
            if key in _FORWARDED_REQUEST_HEADERS or key.startswith("gs1-"):
                found[key] = value
        return found

    async def forward(self, method: str, url: httpx.URL, headers: dict[str, str],
                      body: bytes) -> httpx.Response:
        # identity: the answer's bytes pass back as the gateway wrote them
        return await self._send(self._client.build_request(
            method, url, headers={**headers, "accept-encoding": "identity"}, content=body))

    async def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._client.send(request)
        except httpx.HTTPError as exc:
            raise GatewayUnreachableError(
                f"the gateway at {self.root} did not answer: {type(exc).__name__}",
                gateway=self.root) from None

    def answer_headers(self, response: httpx.Response, proxy_root: str) -> list[tuple[str, str]]:
        """The gateway's answer headers for the client: hop-by-hop ones dropped, the gateway's
        absolute links pointed at the proxy."""
        out = []
        for name, value in response.headers.multi_items():
            key = name.lower()
            if key in _HOP:
                continue
            if key in _LINK_HEADERS:
                value = self.rewrite(value, proxy_root, bracketed=key == "link")
            out.append((key, value))
        return out

    def rewrite(self, value: str, proxy_root: str, *, bracketed: bool = False) -> str:
        def moved(url: str) -> str:
            for root in self._roots:
                if url == root or url.startswith((root + "/", root + "?")):
                    return proxy_root + url[len(root):]
            return url

        if bracketed:
            return re.sub(r"<([^>]*)>", lambda m: f"<{moved(m.group(1))}>", value)
        return moved(value)
