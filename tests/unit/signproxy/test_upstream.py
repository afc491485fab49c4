"""How the proxy passes the gateway's answers back: only the gateway's own absolute links are
pointed at the proxy; bytes, other hosts and look-alike roots are left as they are."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from signproxy.errors import OutsideBindingError
from signproxy.settings import ProxySettings
from signproxy.upstream import Gateway

PROXY = "http://127.0.0.1:8090"


def _gateway(**kw: object) -> Gateway:
    return Gateway(ProxySettings(gateway_url="https://gw.example:8443/", **kw))  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "bracketed", "expected"), [
    ("/capture/abc", False, "/capture/abc"),
    ("https://gw.example:8443/capture/abc", False, f"{PROXY}/capture/abc"),
    ('<https://gw.example:8443/events?perPage=1&nextPageToken=t>; rel="next"', True,
     f'<{PROXY}/events?perPage=1&nextPageToken=t>; rel="next"'),
    ('</capture/abc>; rel="related"', True, '</capture/abc>; rel="related"'),
    ("https://gw.example:84430/events", False, "https://gw.example:84430/events"),
    ("https://other.example/events", False, "https://other.example/events"),
    ('<https://gw.example:8443.evil/events>; rel="next"', True,
     '<https://gw.example:8443.evil/events>; rel="next"'),
])
def test_only_the_gateways_links_point_at_the_proxy(value: str, bracketed: bool,
                                                    expected: str) -> None:
    assert _gateway().rewrite(value, PROXY, bracketed=bracketed) == expected


def test_an_alias_of_the_gateway_is_rewritten_too() -> None:
    gw = _gateway(gateway_aliases=("https://public.example/",))
    assert gw.rewrite("https://public.example/events/x", PROXY) == f"{PROXY}/events/x"


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_~%", max_size=20))
def test_the_url_sent_is_the_path_checked(segment: str) -> None:
    """Whatever reaches the gateway is exactly the path and query the binding check saw, or it
    is refused: never a path an HTTP library rewrote on the way."""
    gw = _gateway()
    path = f"/events/{segment}"
    try:
        url = gw.url(path, "perPage=1")
    except OutsideBindingError:
        return
    assert url.raw_path == f"{path}?perPage=1".encode()
    assert url.host == "gw.example"


def test_dot_segments_collapsed_by_the_http_library_are_refused() -> None:
    with pytest.raises(OutsideBindingError):
        _gateway().url("/events/../members", "")


def test_headers_the_gateway_hears() -> None:
    got = Gateway.forwarded_headers(httpx.Headers({
        "Content-Type": "application/json", "GS1-EPC-Format": "Always_EPC_URN",
        "Zhenzhi-Capture-Org": "0x11", "Zhenzhi-Auth-Signature": "0x22", "Cookie": "s=1",
        "Authorization": "Bearer x", "X-Forwarded-For": "1.2.3.4"}))
    assert got == {"content-type": "application/json", "gs1-epc-format": "Always_EPC_URN"}
