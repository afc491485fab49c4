"""Where a webhook may point: http(s) only, and (unless allowed) no private address.

A subscription's `dest` is a URL the gateway will POST to from inside its network, so a member
could otherwise aim it at the gateway's own services (SSRF): the database, Redis, the chain
node's RPC, a cloud metadata endpoint. Refused unless `allow_private`: loopback, private
(RFC 1918, fc00::/7), link-local (169.254/16 and fe80::/10, where metadata services live),
shared (100.64/10), multicast, reserved and unspecified addresses, whether the URL names them
or its host name resolves to one. Checked when the subscription is made and again before every
attempt (a name may resolve elsewhere later). Each attempt connects to the very address it
checked (`pin_target`: the URL's host replaced by that address, the name kept in `Host` and as
the TLS server name, so the certificate is still checked against the name): a name that
answers a public address to the check and a private one to the connection (DNS rebinding)
never reaches the private one.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

from ledger.epcis.query_schedule import SubscriptionControlsError

__all__ = ["PinnedTarget", "WebhookTargetError", "check_target", "pin_target"]


class WebhookTargetError(SubscriptionControlsError):
    """EPCIS SubscriptionControlsException: the webhook URL is not one this server calls."""

    slug = "webhook-target"
    title = "Webhook URL refused"


def _private(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
            or ip.is_reserved or ip.is_unspecified or not ip.is_global)


@dataclass(frozen=True, slots=True)
class PinnedTarget:
    """Where one attempt connects: `url` names the checked address instead of the host;
    `host` is the `Host` header (the URL's own host and port); `server_name` the TLS server
    name (SNI and certificate check) for https, else None."""

    url: str
    host: str
    server_name: str | None


def check_target(url: object, *, allow_private: bool) -> str:
    """Return `url` if the gateway may POST to it, else raise WebhookTargetError."""
    _checked(url, allow_private=allow_private)
    return url  # type: ignore[return-value]  # _checked refuses anything but a str


def pin_target(url: object, *, allow_private: bool) -> PinnedTarget:
    """`url` checked and pinned to one of the public addresses its host resolved to (with
    `allow_private`, nothing is resolved: the URL as it is)."""
    parts, addresses = _checked(url, allow_private=allow_private)
    if not addresses:
        return PinnedTarget(parts.geturl(), parts.netloc, None)
    address = sorted(addresses)[0]
    literal = f"[{address}]" if ":" in address else address
    port = f":{parts.port}" if parts.port is not None else ""
    pinned = urlunsplit((parts.scheme, literal + port, parts.path, parts.query, ""))
    return PinnedTarget(pinned, parts.netloc,  # no credentials: `_checked` refuses them
                        parts.hostname if parts.scheme == "https" else None)


def _checked(url: object, *, allow_private: bool) -> tuple[SplitResult, set[str]]:
    """The URL's parts and the addresses its host resolved to (none with `allow_private`),
    or WebhookTargetError."""
    if not isinstance(url, str) or not url or len(url) > 2048:
        raise WebhookTargetError("dest must be an http(s) URL of at most 2048 characters",
                                 pointer="/dest")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookTargetError(f"dest is not a URL: {url[:200]!r}", pointer="/dest") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookTargetError("dest must be an http or https URL with a host",
                                 pointer="/dest", scheme=parts.scheme)
    if parts.username is not None or parts.password is not None:
        raise WebhookTargetError("dest must not carry credentials", pointer="/dest")
    if allow_private:
        return parts, set()
    host = parts.hostname
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(
            host, port or (443 if parts.scheme == "https" else 80), proto=socket.IPPROTO_TCP)}
    except (OSError, UnicodeError):
        raise WebhookTargetError(f"dest host {host!r} does not resolve", pointer="/dest",
                                 host=host) from None
    refused = sorted(a for a in addresses if _private(a))
    if refused:
        raise WebhookTargetError(
            f"dest host {host!r} is a private, loopback or link-local address ({refused[0]}); "
            "this gateway calls public addresses only", pointer="/dest", host=host)
    if not addresses:
        raise WebhookTargetError(f"dest host {host!r} does not resolve", pointer="/dest",
                                 host=host)
    return parts, addresses
