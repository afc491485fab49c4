"""Customs: explainable risk over real chain facts, and `zhenzhi customs decide` recording on
CustomsRelease and capturing a signed `inspecting` event that later assessments read back."""

from __future__ import annotations

import json

import pytest

from gateway.cli import main
from tests.integration.traceability_env import signed

pytestmark = pytest.mark.chain


_IMPORTER: list = []


@pytest.fixture
def importer(trace_stack):
    # Admitted once per chain (module fixtures would run again if another module imported this).
    if not _IMPORTER:
        _IMPORTER.append(trace_stack.member("Pacific Import Co", "471266660001", ["ENTERPRISE"],
                                            "47126666"))
    return _IMPORTER[0]


def risk(client, who, ref, **body):
    return signed(client, who, "POST", f"/consignments/{ref}/risk", json_body=body)


def fired(response) -> dict[str, int]:
    assert response.status_code == 200, response.text
    return {r["id"]: r["weight"] for r in response.json()["fired"]}


def test_only_customs_and_regulators_may_assess(trace_stack, client_for, importer):
    client = client_for()
    r = risk(client, trace_stack.brand, "CN-NS-1", enterprise=importer.gln)
    assert r.status_code == 403 and r.json()["type"] == "urn:zhenzhi:problem:role-required"
    r = client.post("/consignments/CN-NS-1/risk", json={"enterprise": importer.gln})
    assert r.status_code == 401
    assert risk(client, trace_stack.regulator, "CN-NS-1", enterprise=importer.gln).status_code == 200


def test_new_enterprise_is_explained_and_released_directly(trace_stack, client_for, importer):
    client = client_for()
    r = risk(client, trace_stack.customs, "CN-NS-2", enterprise=importer.gln,
             originCountry="NZ", category="850440")
    assert fired(r) == {"credit-grade-missing": 15, "no-inspection-history": 10}
    body = r.json()
    assert body["score"] == 25 and body["decision"] == "DIRECT_RELEASE"
    assert body["rulesVersion"] == "v2" and len(body["rulesSha256"]) == 64
    assert body["facts"]["enterprise"] == importer.org_hex
    assert all(f["explanation"] for f in body["fired"])


def test_decide_records_on_chain_and_the_next_assessment_counts_it(
        trace_stack, client_for, importer, monkeypatch, capsys):
    client = client_for()
    url = str(client.base_url).rstrip("/")
    # A poor grade from the regulator and a high-risk category: the engine suggests control.
    trace_stack.chain.set_grade(trace_stack.tx(trace_stack.regulator), importer.org, "D")
    r = risk(client, trace_stack.customs, "CN-NS-3", enterprise=importer.gln, category="040221")
    assert fired(r) == {"credit-grade-poor": 35, "category-high-risk": 20,
                        "no-inspection-history": 10}
    assert r.json()["decision"] == "NORMAL_CONTROL"

    monkeypatch.setenv("ZHENZHI_SIGNING_KEY", trace_stack.customs.key)
    # An event the gateway does not hold has no commitment to prove into a root: refused.
    unknown = "ni:///sha-256;" + "ab" * 32 + "?ver=CBV2.0"
    assert risk(client, trace_stack.customs, "CN-NS-3", enterprise=importer.gln,
                eventIds=[unknown]).status_code == 404
    code = main(["customs", "decide", "CN-NS-3", "--enterprise", importer.gln,
                 "--inspection", "FAILED", "--category", "040221",
                 "--epc", "https://id.gs1.org/01/04712666600017/21/X1",
                 "--gateway", url, "--rpc", trace_stack.w3.provider.endpoint_uri,
                 "--manifest", str(trace_stack.manifest), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out = json.loads(captured.out)
    assert out["decision"] == "NORMAL_CONTROL" == out["suggested"]
    assert out["inspection"] == "FAILED"

    on_chain = client.get("/consignments/CN-NS-3/decision").json()
    assert on_chain["decision"] == "NORMAL_CONTROL" and on_chain["inspection"] == "FAILED"
    assert on_chain["recorder"] == trace_stack.customs.address and on_chain["refused"]
    from ledger.trade.customs import events_root

    assert on_chain["eventsRoot"] == "0x" + events_root([]).hex()  # covers no listed events
    # Full events are for members (issue 6): customs reads its own event back, signed.
    stored = signed(client, trace_stack.customs, "GET", f"/events/{out['eventID']}")
    assert stored.status_code == 200
    (event,) = stored.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert event["bizStep"] == "inspecting" and event["disposition"] == "non_conformant"
    assert event["zhenzhi:inspection"] == "FAILED" and event["zhenzhi:enterprise"] == importer.org_hex

    again = fired(risk(client, trace_stack.customs, "CN-NS-4", enterprise=importer.gln))
    assert "no-inspection-history" not in again
    assert again["inspection-failed-before"] == 30


def test_blacklisted_enterprise_gets_immediate_control(trace_stack, client_for):
    rogue = trace_stack.member("Rogue Trading", "471255550001", ["ENTERPRISE"])
    trace_stack.chain.set_grade(trace_stack.tx(trace_stack.regulator), rogue.org, "A")
    trace_stack.chain.set_blacklisted(trace_stack.tx(trace_stack.regulator), rogue.org, True)
    client = client_for()
    r = risk(client, trace_stack.customs, "CN-NS-5", enterprise=rogue.gln)
    assert fired(r) == {"enterprise-blacklisted": 100, "no-inspection-history": 10}
    assert r.json()["decision"] == "IMMEDIATE_CONTROL"


@pytest.mark.parametrize(("ref", "body", "status", "type_"), [
    ("bad id!", {"enterprise": "4712666600017"}, 400, "invalid-consignment"),
    ("CN-1", {"enterprise": "4712666600017", "originCountry": "nz"}, 400, "invalid-request"),
    ("CN-1", {"enterprise": "4712666600017", "rulesVersion": "v99"}, 404,
     "unknown-risk-rules-version"),
    ("CN-1", {"enterprise": "4712666600017", "eventIds": ["sha256:00"]}, 400, "invalid-input"),
    ("CN-1", {"enterprise": "4712345600011"}, 400, "invalid-identifier"),  # bad check digit
    ("CN-1", {"enterprise": "4719999900005"}, 404, "unknown-enterprise"),
])
def test_bad_risk_requests_are_stable_4xx_problems(trace_stack, client_for, importer, ref, body,
                                                   status, type_):
    client = client_for()
    r = risk(client, trace_stack.customs, ref, **body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == "urn:zhenzhi:problem:" + type_


def test_rule_sets_are_public_and_unknown_decisions_404(client_for):
    client = client_for()
    rules = client.get("/risk-rules/v1").json()
    assert rules["version"] == "v1" and len(rules["sha256"]) == 64
    assert {r["id"] for r in rules["rules"]} >= {"enterprise-blacklisted", "credit-grade-poor"}
    r = client.get("/consignments/NEVER-DECIDED/decision")
    assert r.status_code == 404 and r.json()["type"] == "urn:zhenzhi:problem:no-customs-decision"
