"""Issue 16 item 5: clone flags on demand, and clones that hide.

The clone rules used a region the client declared (`?region=`, `X-Client-Region`), counted
requests rather than clients, and never judged a code before its sale. Each attack below is
played against a real gateway over a store holding the demo journey on a real chain.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger.runtime.geo import Geolocator
from tests.attacks.scan_env import (
    CHINA_IPS,
    COUNTRY_IPS,
    HTML,
    SERVER,
    Stack,
    forwarded,
    path_of,
    played_stack,
    verdict_of,
)

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module")
def stack(w3, deployment, tmp_path_factory) -> Iterator[Stack]:
    yield from played_stack(w3, deployment, tmp_path_factory.mktemp("clone-flags"),
                            days_later=60)


def test_the_test_addresses_are_where_the_tests_say() -> None:
    geo = Geolocator()
    assert {c: geo.country(ip) for c, ip in COUNTRY_IPS.items()} == {c: c for c in COUNTRY_IPS}
    assert {geo.country(ip) for ip in CHINA_IPS} == {"CN"}


def test_attack_one_client_scanning_fifty_one_times_cannot_flag_a_competitors_item(stack):
    client = stack.gateway()
    path = path_of(stack.scenario.sold_cans()[0])
    verdicts = [verdict_of(client.get(path, params=SERVER, headers=HTML)) for _ in range(55)]
    assert verdicts[-1] == "GENUINE", verdicts


def test_attack_client_declared_regions_cannot_flag_a_competitors_item(stack):
    client = stack.gateway()
    path = path_of(stack.scenario.sold_cans()[1])
    for region in ("CN-31", "CN-11", "CN-51", "CN-44", "NZ"):
        verdict = verdict_of(client.get(path, params={"region": region, **SERVER}, headers=HTML))
        verdict = verdict_of(client.get(path, params=SERVER, headers={**HTML, "X-Client-Region": region}))
    assert verdict == "GENUINE"


def test_attack_forwarded_for_sent_straight_to_the_gateway_is_not_believed(stack):
    # No trusted proxy configured: the peer (this test, on loopback) is the client, whatever
    # X-Forwarded-For says; uvicorn's default trust of 127.0.0.1 is off.
    client = stack.gateway()
    path = path_of(stack.scenario.sold_cans()[2])
    for ip in COUNTRY_IPS.values():
        verdict = verdict_of(client.get(path, params=SERVER, headers={**HTML, **forwarded(ip)}))
    assert verdict == "GENUINE"


def test_a_copied_code_scanned_in_many_countries_is_flagged_through_a_trusted_proxy(stack):
    client = stack.gateway(trusted_proxies="127.0.0.1")
    path = path_of(stack.scenario.sold_cans()[3])
    verdicts = [verdict_of(client.get(path, params=SERVER, headers={**HTML, **forwarded(ip)}))
                for ip in list(COUNTRY_IPS.values())[:5]]
    assert verdicts == ["GENUINE"] * 3 + ["SUSPECTED_CLONE"] * 2  # a 4th country in 30 days
    # Many phones in one country are as many clients: one province is not one scanner.
    other = path_of(stack.scenario.sold_cans()[4])
    verdicts = [verdict_of(client.get(other, params=SERVER, headers={**HTML, **forwarded(ip)}))
                for ip in CHINA_IPS]
    assert set(verdicts) == {"GENUINE"}


def test_attack_unsold_serial_printed_on_fakes_does_not_read_genuine_forever(stack):
    client = stack.gateway(trusted_proxies="127.0.0.1")
    path = path_of(stack.unsold_cans()[0])
    first = verdict_of(client.get(path, params=SERVER, headers={**HTML, **forwarded(COUNTRY_IPS["CN"])}))
    assert first == "GENUINE"
    for country in ("US", "GB", "AU", "DE"):
        verdict = verdict_of(client.get(path, params=SERVER, headers={**HTML, **forwarded(COUNTRY_IPS[country])}))
    assert verdict == "SUSPECTED_CLONE"


def test_scans_of_codes_never_issued_are_answered(stack):
    client = stack.gateway(trusted_proxies="127.0.0.1")
    sold = stack.scenario.sold_cans()[0]
    fake = path_of(sold).rsplit("/", 1)[0] + "/NEVERISSUED1"
    assert verdict_of(client.get(fake, params=SERVER, headers={**HTML, **forwarded(COUNTRY_IPS["US"])})) \
        == "COUNTERFEIT"
