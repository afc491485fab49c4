"""What the proxy refuses from web browsers, before anything is signed.

The proxy signs with the enterprise's key for whoever reaches it, and it listens on loopback so
that only the enterprise's own programs reach it. A web page open in a browser on the same
machine reaches loopback too, in two ways:

- **Cross-site requests** (a form, `fetch` in no-cors mode, a WebSocket, to which browsers apply
  no CORS): the browser sends `Origin` on every one of them but a plain navigation. EPCIS
  clients are programs, not pages, and send none. A request with `Origin` is refused (403
  `browser-origin`).
- **DNS rebinding**: the page re-points its own name at 127.0.0.1, and its scripts then reach
  the proxy same-origin, able to read every answer and sending no cross-site `Origin`. Such a
  request still names the page's host in `Host`. The proxy answers only a `Host` that is an IP
  literal (an address cannot be re-pointed), `localhost`, or a name it was told it is reached by
  (`--host`, `--allow-host`), whatever the port; anything else is 421 `unknown-host`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping

from signproxy.errors import BrowserOriginError, UnknownHostError

__all__ = ["hostname", "is_address", "refuse_browsers"]


def hostname(host: str) -> str:
    """The name or address of a `Host` value, without its port, lower case; IPv6 unbracketed."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_address(name: str) -> bool:
    """Whether `name` is an IP address (v4, or v6 unbracketed), not a name."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def refuse_browsers(headers: Mapping[str, str], names: Collection[str]) -> None:
    """Raise UnknownHostError for a `Host` that is not an IP literal, `localhost` or one of
    `names` (lower case, as `ProxySettings.host_names` keeps them); BrowserOriginError for a
    request that carries `Origin`."""
    name = hostname(headers.get("host", ""))
    if not (is_address(name) or name == "localhost" or name in names):
        raise UnknownHostError(
            f"the proxy is not reached as {name!r}: it answers requests addressed to an IP "
            "address, localhost or a name given with --allow-host (a name it is not told of "
            "is how a web page rebinds its own name to the proxy)", host=name)
    if "origin" in headers:
        raise BrowserOriginError(
            "a request with an Origin header comes from a web page; the proxy signs for EPCIS "
            "clients only", origin=headers["origin"])
