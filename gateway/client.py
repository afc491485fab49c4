"""Who a public request comes from, as the server observes it: the peer address of the
connection, or, only when that peer is a configured trusted proxy, the address the proxy
reports in `X-Forwarded-For`.

Nothing a client sends about itself is believed: not `?region=`, not `X-Client-Region`, not an
`X-Forwarded-For` sent straight to the gateway. uvicorn's own proxy-header handling is off
(`gateway.server`, `zhenzhi serve`), since by default it trusts 127.0.0.1, so anything sharing
the host could speak for any address. Proxies are trusted only through
`ZHENZHI_TRUSTED_PROXIES` (addresses or networks, comma-separated).

`X-Forwarded-For` is read right to left: each trusted proxy appended the address it saw, so the
first address that is not a trusted proxy is the client. Entries left of it were written by the
client and are ignored.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from starlette.requests import Request

__all__ = ["ClientIdentity", "TrustedProxies", "client_address", "forwarded_for"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """The networks whose `X-Forwarded-For` is believed."""

    def __init__(self, networks: Iterable[str] = ()) -> None:
        self.networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(n.strip(), strict=False) for n in networks if n.strip())

    def __contains__(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in n for n in self.networks)


def _valid(address: str) -> str | None:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def client_address(peer: str | None, forwarded_for: Sequence[str],
                   trusted: TrustedProxies) -> str:
    """The client's address: `peer` unless it is a trusted proxy; then the rightmost
    `X-Forwarded-For` hop that is not itself a trusted proxy."""
    address = peer or "unknown"
    if peer is None or peer not in trusted:
        return address
    hops = [h.strip() for header in forwarded_for for h in header.split(",") if h.strip()]
    for hop in reversed(hops):
        valid = _valid(hop)
        if valid is None:
            # Not an address: a trusted proxy never writes that, so the client did. What the
            # proxy saw is all we know.
            return address
        address = valid
        if valid not in trusted:
            return address
    return address


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    """What the server knows of a public client: its address (never stored), the key its rate
    limits use, and its country (None when the address has no public location)."""

    address: str
    country: str | None

    @property
    def key(self) -> str:
        """The rate-limit key: the address, hashed (keys may sit in Redis)."""
        return hashlib.sha256(self.address.encode()).hexdigest()[:32]

    def salted_hash(self, salt: str) -> bytes:
        """What scans and complaints store: a salted hash, never the address."""
        # Of the rate-limit key, as scans were hashed before: one client, one hash.
        return hashlib.sha256(f"{salt}\0{self.key}".encode()).digest()


def forwarded_for(request: Request) -> list[str]:
    return request.headers.getlist("x-forwarded-for")
