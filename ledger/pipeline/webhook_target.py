"""Where a webhook may point: http(s) only, and (unless allowed) no private address.

A subscription's `dest` is a URL the gateway will POST to from inside its network, so a member
could otherwise aim it at the gateway's own services (SSRF): the database, Redis, the chain
node's RPC, a cloud metadata endpoint. Refused unless `allow_private`: loopback, private
(RFC 1918, fc00::/7), link-local (169.254/16 and fe80::/10, where metadata services live),
shared (100.64/10), multicast, reserved and unspecified addresses, whether the URL names them
or its host name resolves to one. Checked when the subscription is made and again before every
attempt (a name may resolve elsewhere later). Limit: the HTTP client resolves the name once
more when it connects, so a name whose answer changes between the two (DNS rebinding) is not
fully prevented; pointing a resolver at public addresses only closes that.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from ledger.epcis.query_schedule import SubscriptionControlsError

__all__ = ["WebhookTargetError", "check_target"]


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


def check_target(url: object, *, allow_private: bool) -> str:
    """Return `url` if the gateway may POST to it, else raise WebhookTargetError."""
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
        return url
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
    return url
