"""Issue 16 item 6: anonymous pressure on customs.

Anyone may scan and complain without an account, and the customs risk rules read the
complaint count and the complaint rate (complaints per scan) of an enterprise's codes. These
attacks used to move them: complaints about codes never issued counted against the brand,
scans of fake serials diluted the rate, one address counted as many consumers. The consumer
page's complaint form could be posted from any site, and its redirect left the site.
Each is played against a real gateway over a store holding the demo journey on a real chain.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest

from tests.attacks.scan_env import HTML, SERVER, Stack, forwarded, path_of, played_stack
from tests.integration.traceability_env import Org, signed

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module")
def stack(w3, deployment, tmp_path_factory) -> Iterator[Stack]:
    yield from played_stack(w3, deployment, tmp_path_factory.mktemp("anonymous-pressure"),
                            days_later=80)


@pytest.fixture(scope="module")
def gateway(stack):
    return stack.gateway(trusted_proxies="127.0.0.1", complaint_burst=1000, scan_burst=10_000)


def _org(stack: Stack, key: str) -> Org:
    p = stack.scenario.parties[key]
    return Org(p.org.name, p.org.gln, p.org_id, "0x" + p.private_key.hex(), p.address)


def facts(stack: Stack, client) -> dict:
    client.flush_scans()  # the risk facts read scans from the database
    r = signed(client, _org(stack, "customs"), "POST", "/consignments/CN-PRESSURE-1/risk",
               json_body={"enterprise": stack.scenario.parties["manufacturer"].org.gln})
    assert r.status_code == 200, r.text
    return r.json()["facts"]


def complain(client, code: str, ip: str, **extra) -> int:
    r = client.post("/complaints", json={"code": code, "message": "fake!", **extra},
                    headers=forwarded(ip))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def fake_code(stack: Stack, serial: str) -> str:
    return stack.scenario.sold_cans()[0].rsplit("/", 1)[0] + "/" + serial


def test_attack_complaints_about_never_issued_codes_do_not_count_against_the_brand(stack, gateway):
    before = facts(stack, gateway)
    for i in range(6):
        complain(gateway, fake_code(stack, f"FAKE{i}"), f"8.8.{i}.8")
    after = facts(stack, gateway)
    assert after["complaintCount"] == before["complaintCount"]
    # Counted apart, where customs can see them.
    assert after["unissuedComplaintCount"] == before["unissuedComplaintCount"] + 6


def test_attack_scans_of_fake_serials_do_not_dilute_the_complaint_rate(stack, gateway):
    before = facts(stack, gateway)
    for i in range(40):
        r = gateway.get(path_of(fake_code(stack, f"DILUTE{i}")),
                        headers={"Accept": "application/json", **forwarded(f"1.2.{i}.4")})
        assert r.status_code == 200  # answered: a consumer holding a fake must learn it
    after = facts(stack, gateway)
    assert after["scanCount"] == before["scanCount"]
    assert after["unissuedScanCount"] == before["unissuedScanCount"] + 40
    # Honest scans of issued codes do count, once per client and code.
    for ip in ("81.2.69.160", "85.214.0.1"):
        for _ in range(3):
            gateway.get(path_of(stack.scenario.sold_cans()[5]), params=SERVER, headers={**HTML, **forwarded(ip)})
    assert facts(stack, gateway)["scanCount"] == before["scanCount"] + 2


def test_attack_one_address_cannot_move_the_complaint_count(stack, gateway):
    before = facts(stack, gateway)["complaintCount"]
    cans = stack.scenario.sold_cans()
    for can in cans[:6]:
        for _ in range(3):
            complain(gateway, can, "133.0.0.1")
    # One client: each code once, and at most 3 codes (ZHENZHI_COMPLAINT_CAP_PER_CLIENT).
    assert facts(stack, gateway)["complaintCount"] == before + 3
    complain(gateway, cans[0], "200.160.0.8")
    assert facts(stack, gateway)["complaintCount"] == before + 4


def _form(code: str) -> bytes:
    return f"code={quote(code, safe='')}&category=counterfeit&message=fake".encode()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_attack_cross_site_form_post_cannot_file_a_complaint(stack, gateway):
    code = stack.scenario.sold_cans()[1]
    before = facts(stack, gateway)["complaintCount"]
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Sec-Fetch-Site": "same-site", "Origin": "https://shop.evil.example"},
                    {"Origin": "null"}):
        r = gateway.post("/complaints", content=_form(code),
                         headers={**FORM, **headers, **forwarded("196.216.2.1")},
                         follow_redirects=False)
        assert r.status_code == 403, (headers, r.text)
        assert r.json()["type"] == "urn:zhenzhi:problem:cross-site-request"
    assert facts(stack, gateway)["complaintCount"] == before
    # The page's own form (same origin) and scripts (no Origin) still file.
    r = gateway.post("/complaints", content=_form(code),
                     headers={**FORM, "Origin": str(gateway.base_url).rstrip("/"),
                              "Sec-Fetch-Site": "same-origin", **forwarded("196.216.2.1")},
                     follow_redirects=False)
    assert r.status_code == 303, r.text
    complain(gateway, code, "196.216.2.2")


def test_attack_complaint_redirect_cannot_leave_the_site(stack, gateway):
    can = stack.scenario.sold_cans()[2]
    gtin_serial = can.split("/01/", 1)[1]
    r = gateway.post("/complaints", content=_form(f"https://x//evil.example/01/{gtin_serial}"),
                     headers={**FORM, **forwarded("1.2.3.4")}, follow_redirects=False)
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    assert location.startswith(f"/pip/01/{gtin_serial}?verdict=server&complaint="), location
    assert not location.startswith("//")


def test_the_complaint_form_asks_for_no_contact_it_would_not_keep(stack, gateway):
    page = gateway.get(path_of(stack.scenario.sold_cans()[3]), params=SERVER, headers=HTML)
    assert page.status_code == 200
    form = page.text[page.text.index("<form"):page.text.index("</form>")]
    assert 'name="message"' in form and 'name="contact"' not in form
