"""Issue 16 item 5, the client address: who a request comes from is what the server observes.

uvicorn's proxy headers are off (they trusted 127.0.0.1), and `X-Forwarded-For` is believed only
from ZHENZHI_TRUSTED_PROXIES. So a reverse proxy on the gateway's own host that nobody
configured makes every client look like loopback. The console was once served to loopback
clients only, so a relayed request had to be refused; it now needs a console session (Sign-In
with Ethereum, `tests/attacks/test_console_login.py`), and no address, loopback or relayed,
stands in for one: a client without a session gets the log-in page and nothing private.
Played against the real app over ASGI.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest


def _get_console(headers: dict[str, str], **trace_settings) -> httpx.Response:
    from gateway.app import create_app
    from gateway.settings import GatewaySettings
    from gateway.traceability import TraceabilitySettings, get_traceability_settings

    # No lifespan runs here: the app has no store and no chain, so an answer proves the refusal
    # comes before any of the console's data is read.
    app = create_app(GatewaySettings(database_url="sqlite:///:memory:"))
    settings = TraceabilitySettings(**trace_settings)
    app.dependency_overrides[get_traceability_settings] = lambda: settings
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))

    async def get() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
            return await c.get("/console", headers=headers, follow_redirects=False)

    return asyncio.run(get())


@pytest.mark.parametrize("headers", [{"X-Forwarded-For": "203.0.113.7"},
                                     {"Forwarded": "for=203.0.113.7"},
                                     {"X-Real-IP": "203.0.113.7"}])
def test_attack_remote_client_through_an_unconfigured_local_proxy_cannot_open_the_console(
        headers) -> None:
    r = _get_console(headers)
    _assert_sent_to_log_in(r)


def _assert_sent_to_log_in(r: httpx.Response) -> None:
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/console/login"
    assert "members-table" not in r.text and "complaints-table" not in r.text


def test_attack_loopback_client_without_a_session_sees_nothing_private() -> None:
    # The old rule let this machine's user in; a session is now the only way in.
    _assert_sent_to_log_in(_get_console({}))


def test_attack_remote_client_through_a_trusted_proxy_cannot_open_the_console() -> None:
    r = _get_console({"X-Forwarded-For": "8.8.8.8"}, trusted_proxies="127.0.0.1")
    _assert_sent_to_log_in(r)


def test_attack_spoofed_loopback_forwarded_for_from_a_trusted_proxy_hop_is_the_proxy() -> None:
    # The client wrote "127.0.0.1" left of what the proxy appended: the proxy's hop decides.
    r = _get_console({"X-Forwarded-For": "127.0.0.1, 8.8.8.8"}, trusted_proxies="127.0.0.1")
    _assert_sent_to_log_in(r)
