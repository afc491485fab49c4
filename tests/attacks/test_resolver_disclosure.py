"""Attack class: the resolver's new levels as a probe, and brand links by someone else.

The resolver answers a GTIN, a lot, a case or pallet (SSCC) and a place (GLN) to anyone. A
counterfeiter must not learn valid serials from them (the lot's or the product's answer listing
its items), nor a rival what a case holds; and only the brand that owns a GTIN's company prefix
may add links to what its codes resolve to (a rival member adding a "product page" pointing at
its own site would be phishing under the brand's QR codes). Played against a real gateway over
a store holding the demo journey on a real chain.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.attacks.scan_env import Stack, played_stack
from tests.integration.traceability_env import Org, signed

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module")
def stack(w3, deployment, tmp_path_factory) -> Iterator[Stack]:
    yield from played_stack(w3, deployment, tmp_path_factory.mktemp("resolver-disclosure"),
                            days_later=120)


@pytest.fixture(scope="module")
def gateway(stack):
    return stack.gateway()


def _org(stack: Stack, key: str) -> Org:
    p = stack.scenario.parties[key]
    return Org(p.org.name, p.org.gln, p.org_id, "0x" + p.private_key.hex(), p.address)


def _serials(epcs) -> set[str]:
    return {e.rsplit("/21/", 1)[1] for e in epcs if "/21/" in e}


def _answers(client, path: str) -> list[str]:
    return [client.get(path, headers={"Accept": "application/json"}).text,
            client.get(path, headers={"Accept": "text/html"}).text,
            client.get(path + "?linkType=linkset").text]


def test_attack_lot_and_product_answers_name_no_serial(stack, gateway):
    lot = next(lot for lot in stack.scenario.journey.lots if lot.product == "stage1")
    gtin, number = lot.ref.gtin, lot.ref.lot
    serials = _serials(lot.items)
    assert len(serials) > 10
    for path in (f"/01/{gtin}/10/{number}", f"/01/{gtin}"):
        for text in _answers(gateway, path):
            assert "/21/" not in text, (path, text[:300])
            assert not {s for s in serials if s in text}, path
    assert gateway.get(f"/01/{gtin}/10/{number}",
                       headers={"Accept": "application/json"}).json()["status"] in (
        "active", "recalled")


def test_attack_a_cases_public_answer_does_not_tell_what_it_holds(stack, gateway):
    case = next(c for c in stack.scenario.journey.containers if c.kind == "case")
    path = "/" + case.epc.split("://", 1)[1].split("/", 1)[1]
    assert path.startswith("/00/")
    inside = _serials(case.children)
    assert inside
    for text in _answers(gateway, path):
        assert not {s for s in inside if s in text}, text[:300]
        assert "bizStep" not in text and "eventTime" not in text
    assert gateway.get(path, headers={"Accept": "application/json"}).json()["recordedInEvents"]
    # Its events are one redirect away, for members only.
    events = gateway.get(path + "?linkType=gs1:traceability", follow_redirects=False)
    assert events.status_code == 307
    assert gateway.get(events.headers["location"]).status_code == 401


def test_attack_rival_member_cannot_add_links_to_another_brands_gtin(stack, gateway):
    gtin = next(iter(stack.scenario.journey.products.values())).gtin
    phishing = {"linkType": "gs1:pip", "href": "https://rival.example/login",
                "title": "Official product page"}
    rival = signed(gateway, _org(stack, "exporter"), "POST", f"/brand-links/{gtin}",
                   json_body=phishing)
    assert rival.status_code == 403, rival.text
    assert rival.json()["type"] == "urn:zhenzhi:problem:not-prefix-owner"
    anonymous = gateway.post(f"/brand-links/{gtin}", json=phishing)
    assert anonymous.status_code == 401
    linkset = gateway.get(f"/01/{gtin}?linkType=linkset").text
    assert "rival.example" not in linkset
    # The brand itself may, and its link is served (in the linkset and by its link type).
    own = {"linkType": "https://ref.gs1.org/voc/certificationInfo",
           "href": "https://brand.example/organic.pdf", "title": "Organic certificate",
           "type": "application/pdf", "hreflang": "en"}
    brand = signed(gateway, _org(stack, "manufacturer"), "POST", f"/brand-links/{gtin}",
                   json_body=own)
    assert brand.status_code == 201, brand.text
    (item,) = gateway.get(f"/01/{gtin}?linkType=linkset").json()["linkset"]
    assert item["https://gs1.org/voc/certificationInfo"] == [{
        "href": own["href"], "title": own["title"], "type": "application/pdf",
        "hreflang": ["en"]}]
    r = gateway.get(f"/01/{gtin}?linkType=gs1:certificationInfo", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == own["href"]


@pytest.mark.parametrize("body", [
    {"linkType": "gs1:pip", "href": "https://brand.example/", "title": 'x"; rel="evil'},
    {"linkType": "gs1:pip", "href": "https://brand.example/", "title": "x\r\nSet-Cookie: a=b"},
    {"linkType": "gs1:pip", "href": "javascript:alert(1)", "title": "x"},
    {"linkType": "gs1:verificationService", "href": "https://brand.example/", "title": "x"},
    {"linkType": "https://rival.example/voc/pip", "href": "https://brand.example/", "title": "x"},
])
def test_attack_even_the_brand_cannot_inject_headers_or_take_over_the_ledgers_links(
        stack, gateway, body):
    gtin = next(iter(stack.scenario.journey.products.values())).gtin
    r = signed(gateway, _org(stack, "manufacturer"), "POST", f"/brand-links/{gtin}",
               json_body=body)
    assert r.status_code == 400, r.text
    assert not re.search("evil|Set-Cookie|javascript",
                         gateway.head(f"/01/{gtin}").headers.get("link", ""))
