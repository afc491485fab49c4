"""The console session's cookie and origin rules (`gateway.sessions`), without a server."""

from __future__ import annotations

import pytest
from fastapi import Request, Response

from gateway.sessions import (
    ConsoleSession,
    CrossOriginRefused,
    clear_cookie,
    cookie_name,
    own_origin,
    require_same_origin,
    session_cookie,
    set_cookie,
)
from gateway.settings import GatewaySettings


def _request(url: str = "http://127.0.0.1:8000/console/login", **headers: str) -> Request:
    scheme, rest = url.split("://", 1)
    host, _, path = rest.partition("/")
    raw = [(b"host", host.encode())] + [(k.lower().replace("_", "-").encode(), v.encode())
                                        for k, v in headers.items()]
    return Request({"type": "http", "scheme": scheme, "server": (host.split(":")[0], 80),
                    "path": "/" + path, "root_path": "", "query_string": b"", "headers": raw,
                    "method": "POST"})


_SESSION = ConsoleSession(bytes(32), "0x" + "11" * 20, frozenset({"REGULATOR"}), "R",
                          expires_ms=2**50)


def test_behind_tls_the_cookie_is_secure_host_only_strict_and_httponly() -> None:
    settings = GatewaySettings(public_url="https://console.example.org")
    origin = own_origin(_request(), settings)  # the proxy speaks http to the gateway
    assert origin.url == "https://console.example.org" and origin.host == "console.example.org"
    response = Response()
    set_cookie(response, origin, "id", _SESSION)
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-zhenzhi-console=id;")
    lowered = cookie.lower()
    for part in ("secure", "httponly", "samesite=strict", "path=/"):
        assert part in lowered, cookie
    assert "domain=" not in lowered  # host-only


def test_over_plain_http_the_cookie_is_not_secure_so_the_local_demo_works() -> None:
    origin = own_origin(_request(), GatewaySettings())
    assert origin.url == "http://127.0.0.1:8000" and cookie_name(origin) == "zhenzhi-console"
    response = Response()
    set_cookie(response, origin, "id", _SESSION)
    assert "secure" not in response.headers["set-cookie"].lower()
    cleared = Response()
    clear_cookie(cleared, origin)
    assert "max-age=0" in cleared.headers["set-cookie"].lower()


@pytest.mark.parametrize("sent", [None, "null", "http://127.0.0.1:8000.evil.example",
                                  "https://127.0.0.1:8000", "http://127.0.0.1:8001"])
def test_a_post_from_any_other_origin_is_refused(sent: str | None) -> None:
    origin = own_origin(_request(), GatewaySettings())
    headers = {"origin": sent} if sent is not None else {}
    with pytest.raises(CrossOriginRefused):
        require_same_origin(_request(**headers), origin)
    require_same_origin(_request(origin="http://127.0.0.1:8000"), origin)


def test_an_oversized_cookie_is_no_session() -> None:
    origin = own_origin(_request(), GatewaySettings())
    assert session_cookie(_request(cookie="zhenzhi-console=" + "a" * 101), origin) is None
    assert session_cookie(_request(cookie="zhenzhi-console=abc"), origin) == "abc"
