"""The client address as the server observes it: X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

from gateway.client import ClientIdentity, TrustedProxies, client_address

PROXIES = TrustedProxies(["127.0.0.1", "10.0.0.0/8"])


def test_no_trusted_proxy_means_the_peer_is_the_client() -> None:
    assert client_address("203.0.113.7", ["1.2.3.4"], TrustedProxies()) == "203.0.113.7"
    assert client_address("127.0.0.1", ["1.2.3.4"], TrustedProxies()) == "127.0.0.1"
    # An untrusted peer's header is not read, even with proxies configured.
    assert client_address("203.0.113.7", ["1.2.3.4"], PROXIES) == "203.0.113.7"


def test_the_rightmost_untrusted_hop_is_the_client() -> None:
    # The client wrote "6.6.6.6" itself; the proxies appended what they saw.
    hops = ["6.6.6.6, 1.2.3.4", "10.1.2.3"]
    assert client_address("127.0.0.1", hops, PROXIES) == "1.2.3.4"
    assert client_address("127.0.0.1", ["8.8.8.8"], PROXIES) == "8.8.8.8"
    assert client_address("127.0.0.1", [], PROXIES) == "127.0.0.1"
    assert client_address("127.0.0.1", ["10.0.0.2"], PROXIES) == "10.0.0.2"  # all trusted


def test_garbage_in_the_header_falls_back_to_what_a_proxy_saw() -> None:
    assert client_address("127.0.0.1", ["1.2.3.4, not-an-ip"], PROXIES) == "127.0.0.1"
    assert client_address("127.0.0.1", ["not-an-ip, 10.0.0.9"], PROXIES) == "10.0.0.9"
    assert client_address(None, ["1.2.3.4"], PROXIES) == "unknown"


def test_one_client_one_key_one_hash() -> None:
    a, b = ClientIdentity("1.2.3.4", "AU"), ClientIdentity("1.2.3.4", None)
    assert a.key == b.key and a.salted_hash("s") == b.salted_hash("s") != a.salted_hash("t")
    assert ClientIdentity("1.2.3.5", "AU").key != a.key
