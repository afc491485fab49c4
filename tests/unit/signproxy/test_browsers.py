"""`signproxy.browsers`: which requests count as a web page's (refused before signing)."""

from __future__ import annotations

import pytest

from signproxy.browsers import hostname, refuse_browsers
from signproxy.errors import BrowserOriginError, UnknownHostError


@pytest.mark.parametrize(("host", "name"), [
    ("127.0.0.1:8090", "127.0.0.1"), ("LocalHost:1", "localhost"), ("[::1]:8090", "::1"),
    ("[::1]", "::1"), ("::1", "::1"), ("proxy.corp", "proxy.corp"), ("", ""),
])
def test_hostname_drops_the_port_and_case(host, name) -> None:
    assert hostname(host) == name


@pytest.mark.parametrize("host", ["127.0.0.1:8090", "10.1.2.3", "[::1]:1", "localhost:8090",
                                  "erp-gw.corp:8090", "ERP-GW.corp"])
def test_addresses_localhost_and_named_hosts_pass(host) -> None:
    refuse_browsers({"host": host}, ["erp-gw.corp"])


@pytest.mark.parametrize("host", ["evil.example", "erp-gw.corp.evil.example", "localhost.evil",
                                  "", "127.0.0.1.nip.io:8090"])
def test_other_names_are_unknown_hosts(host) -> None:
    with pytest.raises(UnknownHostError) as refused:
        refuse_browsers({"host": host}, ["erp-gw.corp"])
    assert refused.value.status == 421


def test_origin_is_a_browser_whatever_its_value() -> None:
    for origin in ("https://evil.example", "http://127.0.0.1:8090", "null"):
        with pytest.raises(BrowserOriginError):
            refuse_browsers({"host": "127.0.0.1:8090", "origin": origin}, [])


def test_names_given_in_any_case_are_kept_as_hosts_are_compared() -> None:
    from signproxy.settings import ProxySettings

    settings = ProxySettings(gateway_url="http://gw.test", host_names=(" ERP-GW.Corp ", ""))
    assert settings.host_names == ("erp-gw.corp",)
    refuse_browsers({"host": "erp-gw.CORP:8090"}, settings.host_names)
