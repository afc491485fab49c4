"""Country of an address from geoip2fast's offline table; no country for non-public ones."""

from __future__ import annotations

from ledger.runtime.geo import Geolocator


def test_public_addresses_have_a_country_and_others_none() -> None:
    geo = Geolocator()
    assert geo.country("114.114.114.114") == "CN"
    assert geo.country("8.8.8.8") == "US"
    assert geo.country("240e::1") == "CN"  # IPv6 too
    for address in ("127.0.0.1", "10.1.2.3", "192.168.0.1", "::1", "fe80::1", "203.0.113.9",
                    "not an address", "", None):
        assert geo.country(address) is None, address
