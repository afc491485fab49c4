"""Product conditions through the gateway, against anvil and a real store: the brand's signed
ranges are stored; anyone else's are refused (attacks first)."""

from __future__ import annotations

import pytest

from ledger.proofs.signing import CaptureDomain
from ledger.trade.conditions import conditions_text, sign_conditions
from tests.integration.traceability_env import gtin, signed

pytestmark = pytest.mark.chain

GTIN = gtin("0023")
RANGES = [{"type": "Temperature", "uom": "CEL", "min": 0, "max": 4, "allowedMinutesOutside": 30}]


def _domain(stack) -> CaptureDomain:
    return CaptureDomain(stack.deployment.chainId, stack.deployment.address("Consortium"))


def _post(client, relayer, statement):
    return signed(client, relayer, "POST", "/conditions", json_body=statement.to_json())


def test_attack_a_member_that_is_not_the_brand_cannot_set_its_ranges(trace_stack, client_for):
    client = client_for()
    text = conditions_text(GTIN, 1, [{**RANGES[0], "max": 25}])
    # `other` signs with its own key under its own organisation: a valid signature, no prefix.
    forged = sign_conditions(trace_stack.other.key, _domain(trace_stack), text,
                             trace_stack.other.org)
    r = _post(client, trace_stack.other, forged)
    assert r.status_code == 403, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == "urn:zhenzhi:problem:conditions-not-prefix-owner"
    assert client.get(f"/conditions/{GTIN}").status_code == 404


def test_attack_signing_in_the_brands_name_with_another_key_is_refused(trace_stack, client_for):
    client = client_for()
    text = conditions_text(GTIN, 1, [{**RANGES[0], "max": 25}])
    forged = sign_conditions(trace_stack.other.key, _domain(trace_stack), text,
                             trace_stack.brand.org)
    r = _post(client, trace_stack.brand, forged)
    assert r.status_code == 403
    assert r.json()["type"] == "urn:zhenzhi:problem:invalid-conditions-signature"
    assert client.get(f"/conditions/{GTIN}").status_code == 404


def test_attack_the_brands_signature_does_not_carry_over_to_other_ranges(trace_stack, client_for):
    client = client_for()
    genuine = sign_conditions(trace_stack.brand.key, _domain(trace_stack),
                              conditions_text(GTIN, 1, RANGES), trace_stack.brand.org)
    body = genuine.to_json()
    body["text"] = body["text"].replace('"max":4', '"max":25')
    r = signed(client, trace_stack.brand, "POST", "/conditions", json_body=body)
    assert r.status_code == 403
    assert r.json()["type"] == "urn:zhenzhi:problem:invalid-conditions-signature"


def test_attack_a_stored_version_cannot_be_rewritten_nor_an_older_one_slipped_in(
        trace_stack, client_for):
    client = client_for()
    domain, brand = _domain(trace_stack), trace_stack.brand
    v2 = sign_conditions(brand.key, domain, conditions_text(GTIN, 2, RANGES), brand.org)
    assert _post(client, brand, v2).status_code == 201
    assert _post(client, brand, v2).status_code == 200  # the same statement again: stored once
    loose = sign_conditions(brand.key, domain,
                            conditions_text(GTIN, 2, [{**RANGES[0], "max": 12}]), brand.org)
    r = _post(client, brand, loose)
    assert r.status_code == 409 and r.json()["type"].endswith("product-conditions-version")
    older = sign_conditions(brand.key, domain,
                            conditions_text(GTIN, 1, [{**RANGES[0], "max": 12}]), brand.org)
    assert _post(client, brand, older).status_code == 409
    assert client.get(f"/conditions/{GTIN}").json()["ranges"][0]["max"] == 4


def test_malformed_conditions_are_a_problem_not_a_crash(trace_stack, client_for):
    client = client_for()
    statement = sign_conditions(trace_stack.brand.key, _domain(trace_stack),
                                conditions_text(GTIN, 1, RANGES), trace_stack.brand.org)
    body = statement.to_json() | {"text": '{"type": "ProductConditions", "gtin": "1"}'}
    r = signed(client, trace_stack.brand, "POST", "/conditions", json_body=body)
    assert r.status_code == 400 and r.json()["type"].endswith("invalid-product-conditions")
    r = client.post("/conditions", json=statement.to_json())  # not a member request
    assert r.status_code == 401


def test_the_brand_publishes_versions_and_anyone_reads_them(trace_stack, client_for):
    client = client_for()
    domain, brand = _domain(trace_stack), trace_stack.brand
    v1 = sign_conditions(brand.key, domain, conditions_text(GTIN, 1, RANGES), brand.org)
    r = _post(client, trace_stack.other, v1)  # any member may relay the brand's statement
    assert r.status_code == 201, r.text
    assert r.json()["signer"] == brand.address
    ranges2 = [*RANGES, {"type": "Acceleration", "uom": "K40", "max": 3}]
    v2 = sign_conditions(brand.key, domain, conditions_text(GTIN, 2, ranges2), brand.org)
    assert _post(client, brand, v2).status_code == 201
    latest = client.get(f"/conditions/{GTIN}").json()
    assert latest["version"] == 2 and latest["ranges"][1] == {
        "type": "Acceleration", "uom": "K40", "max": 3.0, "allowedMinutesOutside": 0}
    assert latest["signed"]["text"] == v2.text
    old = client.get(f"/conditions/{GTIN}/versions/1").json()
    assert old["version"] == 1 and old["signed"]["signature"] == v1.to_json()["signature"]
    assert client.get(f"/conditions/{GTIN}/versions/3").status_code == 404


def test_attack_serving_an_older_version_than_the_one_in_force_at_the_readings_is_caught(
        trace_stack):
    """Versions 1 (0-25 °C) and 2 (0-4 °C) registered on chain before the reefer logs 9 °C:
    version 2 judges the readings, so a gateway serving version 1 is caught."""
    from datetime import UTC, datetime, timedelta

    from ledger.chain.view import ChainView
    from ledger.proofs.merkle import keccak256
    from verifier.coldchain import cold_chain_section

    item = f"https://id.gs1.org/01/{gtin('0024')}/21/S1"
    domain, brand, chain = _domain(trace_stack), trace_stack.brand, trace_stack.chain
    v1 = sign_conditions(brand.key, domain, conditions_text(gtin("0024"), 1,
                                                            [{**RANGES[0], "max": 25}]), brand.org)
    v2 = sign_conditions(brand.key, domain, conditions_text(gtin("0024"), 2, RANGES), brand.org)
    for n, v in ((1, v1), (2, v2)):
        chain.register_conditions(trace_stack.tx(brand), gtin("0024"), n,
                                  keccak256(v.text.encode()))
    view = ChainView.of(chain)
    view.sync(force=True)
    later = datetime.fromtimestamp(view.head_time(), UTC) + timedelta(hours=2)
    reports = [{"type": "Temperature", "value": 9.0 if i in (2, 3) else 2.0, "uom": "CEL",
                "time": (later + timedelta(minutes=30 * i)).isoformat(timespec="seconds")}
               for i in range(6)]
    event = {"type": "ObjectEvent", "action": "OBSERVE", "epcList": [item],
             "eventTime": (later + timedelta(hours=3)).isoformat(timespec="seconds"),
             "eventTimeZoneOffset": "+00:00", "sensorElementList": [{"sensorReport": reports}]}
    seen = {"type": "ObjectEvent", "action": "ADD", "epcList": [item],
            "eventTime": later.isoformat(timespec="seconds"), "eventTimeZoneOffset": "+00:00"}
    verified = [(seen, "ni:///sha-256;01?ver=CBV2.0", brand.org_hex),
                (event, "ni:///sha-256;00?ver=CBV2.0", brand.org_hex)]

    older = cold_chain_section(gtin("0024"), item, v1.to_json(), verified, view)
    assert older["status"] == "unverified" and older["registeredVersion"] == 2
    assert "does not carry version 2" in older["reason"]
    judged = cold_chain_section(gtin("0024"), item, v2.to_json(), verified, view,
                                [v1.to_json()])
    assert judged["status"] == "breach" and judged["conditionsVersion"] == 2
    assert judged["conditions"]["registeredVersions"] == 2
    # Readings before any registration are judged by the first version (0-25 °C: no breach).
    early = {**event, "eventTime": "2025-01-01T03:00:00+00:00", "sensorElementList": [
        {"sensorReport": [{**r, "time": f"2025-01-01T0{i}:00:00+00:00"}
                          for i, r in enumerate(reports)]}]}
    first = cold_chain_section(gtin("0024"), item, v2.to_json(),
                               [({**seen, "eventTime": "2025-01-01T00:00:00+00:00"},
                                 verified[0][1], brand.org_hex),
                                (early, verified[1][1], brand.org_hex)], view, [v1.to_json()])
    assert first["status"] == "kept" and first["conditionsVersion"] == 1


def test_cli_conditions_publish_stores_and_registers_on_chain(trace_stack, client_for,
                                                              monkeypatch, capsys, tmp_path):
    import json as _json

    from gateway.cli import main
    from ledger.proofs.merkle import keccak256

    client = client_for()
    text = conditions_text(gtin("0025"), 1, RANGES)
    path = tmp_path / "conditions.json"
    path.write_text(text)
    monkeypatch.setenv("ZHENZHI_SIGNING_KEY", trace_stack.brand.key)
    args = ["conditions", "publish", str(path), "--gateway", str(client.base_url).rstrip("/"),
            "--rpc", trace_stack.w3.provider.endpoint_uri,
            "--manifest", str(trace_stack.manifest), "--json"]
    assert main(args) == 0, capsys.readouterr().err
    out = _json.loads(capsys.readouterr().out)
    assert out["txHash"] and out["conditionsHash"] == "0x" + keccak256(text.encode()).hex()
    ((h, org, version, _),) = trace_stack.chain.conditions_history(gtin("0025"))
    assert (h, org, version) == (keccak256(text.encode()), trace_stack.brand.org, 1)
    assert client.get(f"/conditions/{gtin('0025')}").json()["signed"]["text"] == text
    assert main(args) == 0  # again: stored and registered already, nothing sent
    assert _json.loads(capsys.readouterr().out)["txHash"] is None
    # Another member's key: the gateway refuses it (not the prefix owner), one plain line.
    monkeypatch.setenv("ZHENZHI_SIGNING_KEY", trace_stack.other.key)
    path.write_text(conditions_text(gtin("0025"), 2, RANGES))
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "conditions-not-prefix-owner" in err and len(err.strip().splitlines()) == 1
    assert len(trace_stack.chain.conditions_history(gtin("0025"))) == 1
