"""Complaints: filed by anyone (rate- and size-limited), read by the brand owner and regulators,
counted by the customs risk rules. The Redis-shared limit is tested against a real Redis."""

from __future__ import annotations

import os
import uuid

import pytest

from tests.integration.traceability_env import gtin, signed

pytestmark = pytest.mark.chain

GTIN = gtin("0031")
OTHER_GTIN = "09506000134352"  # a GTIN whose prefix the brand does not own
REDIS_URL = os.environ.get("ZHENZHI_TEST_REDIS_URL")


def code(serial: str, gt: str = GTIN) -> str:
    return f"https://id.zhenzhi.example/01/{gt}/10/L1/21/{serial}"


def test_anyone_files_and_only_the_brand_and_regulators_read(trace_stack, client_for):
    client = client_for()
    r = client.post("/complaints", json={"code": code("AAA222BBB333"), "category": "quality",
                                         "message": "tastes\x00 odd\n"})
    assert r.status_code == 201, r.text
    receipt = r.json()["receipt"]
    assert r.json() | {"id": 0} == {"id": 0, "gtin": GTIN, "serial": "AAA222BBB333", "lot": "L1",
                                    "category": "quality", "status": "open", "receipt": receipt,
                                    "statusUrl": f"/complaints/{r.json()['id']}?receipt={receipt}"}
    assert client.get(r.json()["statusUrl"]).json()["text"] == "tastes odd"
    assert client.post("/complaints", json={"code": code("X2", OTHER_GTIN),
                                            "message": "fake?"}).status_code == 201
    mine = signed(client, trace_stack.brand, "GET", "/complaints").json()["complaints"]
    assert [(c["gtin"], c["text"], c["category"]) for c in mine] == [(GTIN, "tastes odd", "quality")]
    assert signed(client, trace_stack.other, "GET", "/complaints").json()["complaints"] == []
    everything = signed(client, trace_stack.regulator, "GET", "/complaints").json()["complaints"]
    assert {c["gtin"] for c in everything} == {GTIN, OTHER_GTIN}
    assert client.get("/complaints").status_code == 401


def test_the_consumer_page_form_posts_and_returns_to_the_item(client_for):
    client = client_for()
    r = client.post("/complaints", content=(
        f"code={code('FORM22FORM3')}&verdict=GENUINE&lang=en&category=label&message=smudged"
        ).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith(
        f"/pip/01/{GTIN}/10/L1/21/FORM22FORM3?verdict=server&complaint=")
    assert r.headers["referrer-policy"] == "same-origin"
    # The page it lands on, the form's own (no JavaScript): where the complaint stands.
    page = client.get(r.headers["location"],
                      headers={"Accept": "text/html", "Accept-Language": "zh-CN"})
    assert page.status_code == 200 and page.headers["referrer-policy"] == "same-origin"
    assert '<section id="complaint-standing" class="standing" data-status="open">' in page.text
    assert "已收到，尚未处理" in page.text and "smudged" in page.text
    wrong = client.get(r.headers["location"][:-4] + "AAAA",
                       headers={"Accept": "text/html", "Accept-Language": "en"})
    assert 'id="complaint-standing" class="standing" data-status="unknown"' in wrong.text
    assert "smudged" not in wrong.text and "No report matches this receipt." in wrong.text


def test_rate_limit_answers_429_and_stores_nothing_more(trace_stack, client_for):
    client = client_for(complaint_burst=2, complaint_per_minute=0.01)
    for i in range(2):
        assert client.post("/complaints", json={"code": code(f"R{i}"), "message": "x"}
                           ).status_code == 201
    r = client.post("/complaints", json={"code": code("R9"), "message": "x"})
    assert r.status_code == 429
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == "urn:zhenzhi:problem:rate-limited"
    assert int(r.headers["retry-after"]) >= 1
    stored = signed(client, trace_stack.regulator, "GET", "/complaints").json()["complaints"]
    assert len(stored) == 2


@pytest.mark.parametrize(("body", "headers", "status", "type_"), [
    ({"code": code("S1"), "message": "x" * 51}, None, 400, "invalid-complaint"),
    ({"code": code("S1"), "message": "   \x07 "}, None, 400, "invalid-complaint"),
    ({"code": "https://example.com/no-gtin", "message": "x"}, None, 400, "invalid-complaint"),
    ({"code": code("S1"), "message": "x", "category": "rant"}, None, 400, "invalid-complaint"),
    ({"code": code("S1")[:-14] + "09506000134353/21/S1", "message": "x"}, None, 400,
     "invalid-identifier"),
    (None, {"Content-Type": "text/plain"}, 415, "unsupported-media-type"),
])
def test_bad_complaints_are_4xx_and_nothing_is_stored(trace_stack, client_for, body, headers,
                                                      status, type_):
    client = client_for(complaint_max_chars=50)
    if body is None:
        r = client.post("/complaints", content=b"hello", headers=headers)
    else:
        r = client.post("/complaints", json=body)
    assert r.status_code == status, r.text
    assert r.json()["type"] == "urn:zhenzhi:problem:" + type_
    assert signed(client, trace_stack.regulator, "GET", "/complaints").json()["complaints"] == []


def test_complaints_feed_the_customs_risk_rules(trace_stack, client_for):
    # Complaints count for codes the brand issued, once per client (issue 16: complaints
    # about never-issued codes from one address used to count too).
    client = client_for(trusted_proxies="127.0.0.1")
    serials = signed(client, trace_stack.brand, "POST", "/codes/lots",
                     json_body={"gtin": GTIN, "lot": "L1", "count": 5}).json()["serials"]
    for i, serial in enumerate(serials):
        assert client.post("/complaints", json={"code": code(serial), "message": "bad"},
                           headers={"X-Forwarded-For": f"8.8.{i}.8"}).status_code == 201
    r = signed(client, trace_stack.customs, "POST", "/consignments/CN-CMP-1/risk",
               json_body={"enterprise": trace_stack.brand.gln})
    body = r.json()
    assert body["facts"]["complaintCount"] == 5
    fired = {f["id"] for f in body["fired"]}
    assert {"complaints-many", "complaint-rate-high"} <= fired


@pytest.mark.redis
@pytest.mark.skipif(not REDIS_URL, reason="set ZHENZHI_TEST_REDIS_URL (e.g. "
                    "redis://127.0.0.1:6379/0) to test the Redis-shared limits")
def test_two_gateway_processes_share_one_limit_through_redis(client_for):
    shared = {"redis_url": REDIS_URL, "redis_prefix": f"zz-test-{uuid.uuid4().hex}:",
              "complaint_burst": 2, "complaint_per_minute": 0.01}
    first, second = client_for(**shared), client_for(**shared)
    assert first.post("/complaints", json={"code": code("D1"), "message": "x"}).status_code == 201
    assert second.post("/complaints", json={"code": code("D2"), "message": "x"}).status_code == 201
    # The bucket is spent across both: neither gateway lets a third through.
    assert first.post("/complaints", json={"code": code("D3"), "message": "x"}).status_code == 429
    assert second.post("/complaints", json={"code": code("D4"), "message": "x"}).status_code == 429


@pytest.mark.redis
@pytest.mark.skipif(not REDIS_URL, reason="set ZHENZHI_TEST_REDIS_URL to test Redis nonces")
def test_a_signed_request_replayed_to_another_gateway_is_refused_via_redis(trace_stack,
                                                                             client_for):
    from ledger.proofs.request_signing import sign_request

    shared = {"redis_url": REDIS_URL, "redis_prefix": f"zz-test-{uuid.uuid4().hex}:"}
    first, second = client_for(**shared), client_for(**shared)
    headers = sign_request(trace_stack.regulator.key, "GET", "/complaints", b"",
                           org=trace_stack.regulator.org_hex).headers()
    assert first.get("/complaints", headers=headers).status_code == 200
    r = second.get("/complaints", headers=headers)
    assert r.status_code == 401 and r.json()["reason"] == "replay"
