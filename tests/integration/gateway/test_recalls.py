"""Recalls on chain by the brand owner or a regulator (never another member), and the scope."""

from __future__ import annotations

import pytest

from gateway.cli import main
from tests.integration.traceability_env import gtin, signed

pytestmark = pytest.mark.chain

GTIN = gtin("0055")


def recall(trace_stack, who, lot, monkeypatch, extra=()):
    monkeypatch.setenv("ZHENZHI_SIGNING_KEY", who.key)
    return main(["recall", "--gtin", GTIN, "--lot", lot, "--reason", "notice 7",
                 "--rpc", trace_stack.w3.provider.endpoint_uri,
                 "--manifest", str(trace_stack.manifest), *extra])


def test_regulator_may_recall_another_member_may_not(trace_stack, client_for, monkeypatch,
                                                      capsys):
    client = client_for()
    lot = signed(client, trace_stack.brand, "POST", "/codes/lots",
                 json_body={"gtin": GTIN, "lot": "L-RC", "count": 2}).json()
    trace_stack.chain.register_lot(trace_stack.tx(trace_stack.brand), GTIN, "L-RC",
                                   bytes.fromhex(lot["codesRoot"][2:]), 2)
    assert recall(trace_stack, trace_stack.other, "L-RC", monkeypatch) == 1
    assert "CodeRegistryNotLotOwner" in capsys.readouterr().err
    assert trace_stack.chain.lot(GTIN, "L-RC").status.lower() == "active"
    assert recall(trace_stack, trace_stack.regulator, "L-RC", monkeypatch) == 0
    capsys.readouterr()
    scope = signed(client, trace_stack.brand, "GET", f"/recalls/{GTIN}/L-RC")
    assert scope.status_code == 200
    body = scope.json()
    import hashlib

    assert body["status"] == "recalled" and body["count"] == 0
    assert body["reasonHash"] == "0x" + hashlib.sha256(b"notice 7").hexdigest()
    csv = signed(client, trace_stack.regulator, "GET", f"/recalls/{GTIN}/L-RC/scope.csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines() == [
        "epc,level,via,custodian,location,lastBizStep,lastDisposition,lastEventTime,lastEventId"]


def test_scope_requests_are_checked(trace_stack, client_for):
    client = client_for()
    assert client.get(f"/recalls/{GTIN}/L-RC").status_code == 401
    r = signed(client, trace_stack.regulator, "GET", f"/recalls/{GTIN}/L%20BAD")
    assert r.status_code == 400 and r.json()["type"] == "urn:zhenzhi:problem:invalid-identifier"
