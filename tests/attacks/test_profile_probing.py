"""Issue 16 item 10c: the public consumer profile as a probe.

`/items/{gtin}/{serial}/profile` was not rate-limited and showed the sale (retailer, sale
time, last location, event count): a counterfeiter could walk a lot's serials and learn which
were still unsold, the safest to print on fakes. Played against a real gateway over a store
holding the demo journey on a real chain.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.attacks.scan_env import HTML, SERVER, Stack, forwarded, path_of, played_stack, verdict_of

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module")
def stack(w3, deployment, tmp_path_factory) -> Iterator[Stack]:
    yield from played_stack(w3, deployment, tmp_path_factory.mktemp("profile-probing"),
                            days_later=100)


def _profile_path(epc: str) -> str:
    gtin, serial = epc.split("/01/", 1)[1].split("/21/", 1)
    return f"/items/{gtin}/{serial}/profile"


def test_attack_profile_does_not_tell_a_counterfeiter_which_codes_are_unsold(stack):
    client = stack.gateway()
    sold, unsold = stack.scenario.sold_cans()[0], stack.unsold_cans()[0]
    assert stack.scenario.lot_of(sold) is stack.scenario.lot_of(unsold)
    a, b = (client.get(_profile_path(e)).json() for e in (sold, unsold))
    differing = {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)} - {"serial"}
    assert differing == set(), {k: (a.get(k), b.get(k)) for k in differing}
    assert a["manufacturer"] and a["customsDecision"] and a["lot"]  # still a profile
    # The person holding the sold can still sees its sale on the consumer page.
    page = client.get(path_of(sold), params=SERVER, headers=HTML)
    assert verdict_of(page) == "GENUINE" and 'data-stage="sale"' in page.text


def test_attack_profile_enumeration_is_rate_limited(stack):
    client = stack.gateway(scan_burst=3, scan_per_minute=0.01, trusted_proxies="127.0.0.1")
    cans = stack.unsold_cans()
    for epc in cans[:3]:
        assert client.get(_profile_path(epc), headers=forwarded("8.8.8.8")).status_code == 200
    r = client.get(_profile_path(cans[3]), headers=forwarded("8.8.8.8"))
    assert r.status_code == 429 and "retry-after" in r.headers
    assert r.json()["type"] == "urn:zhenzhi:problem:rate-limited"
    # Per client: another address still reads.
    assert client.get(_profile_path(cans[3]), headers=forwarded("1.2.3.4")).status_code == 200
