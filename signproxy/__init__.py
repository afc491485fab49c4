"""The sign-proxy: a small local service an enterprise runs beside its own systems, so that an
unmodified EPCIS 2.0 client can capture to and query a Zhenzhi gateway.

The client speaks the standard REST binding to the proxy; the proxy signs with the enterprise's
key (which never leaves it) and forwards to the gateway: each capture (`POST /capture`, JSON or
XML, and `POST /events`) with a `Zhenzhi-Capture-*` signature over the events it parsed, each
other request of the binding with a member request signature (`Zhenzhi-Auth-*`). Anything it
cannot parse as a capture gets no capture signature; a path outside the binding is refused.

A client of the gateway: it imports `ledger` only, never `gateway` or `verifier`
(tests/unit/test_layering.py), so it works against any gateway that speaks the binding.

    binding   which method and path is which kind of request (capture, one event, read)
    signer    the key, the organisation and the nonces: capture and request signatures
    upstream  the gateway: its signing domain and limits, forwarding, link rewriting
    errors    the proxy's own refusals, as problem+json
    app       the Starlette application (`create_app`)
    settings  ProxySettings
    cli       `zhenzhi sign-proxy`
"""

from __future__ import annotations

from signproxy.app import create_app
from signproxy.settings import ProxySettings
from signproxy.signer import Signer

__all__ = ["ProxySettings", "Signer", "create_app"]
