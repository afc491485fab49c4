"""Codes and labels through the gateway, against anvil and a real store."""

from __future__ import annotations

import io

import pytest
import zxingcpp
from eth_account import Account
from PIL import Image

from ledger.proofs.codes import code_leaf, codes_tree
from tests.integration.traceability_env import gtin, signed

pytestmark = pytest.mark.chain

GTIN = gtin("0017")


def _issue(client, who, lot, count=5, **extra):
    return signed(client, who, "POST", "/codes/lots",
                  json_body={"gtin": GTIN, "lot": lot, "count": count, **extra})


def test_brand_issues_signs_and_relays_a_lot_that_then_verifies_on_chain(trace_stack, client_for):
    client = client_for()
    r = _issue(client, trace_stack.brand, "L-RELAY-1", count=7)
    assert r.status_code == 201, r.text
    lot = r.json()
    serials = lot["serials"]
    assert len(set(serials)) == 7 and all(len(s) == 12 for s in serials)
    assert lot["codesRoot"] == "0x" + codes_tree(GTIN, serials).root.hex()
    assert lot["chain"]["status"] == "unregistered"
    assert lot["digitalLinks"][0].endswith(f"/01/{GTIN}/10/L-RELAY-1/21/{serials[0]}")
    reg = lot["registration"]
    assert reg["signer"] == trace_stack.brand.address
    signature = Account.unsafe_sign_hash(bytes.fromhex(reg["digest"][2:]),
                                         trace_stack.brand.key).signature
    r = signed(client, trace_stack.brand, "POST", f"/codes/lots/{GTIN}/L-RELAY-1/registration",
               json_body={"signer": reg["signer"], "deadline": reg["deadline"],
                          "signature": "0x" + bytes(signature).hex()})
    assert r.status_code == 200, r.text
    assert r.json()["chain"] == {"status": "active", "matchesIssued": True,
                                 "org": trace_stack.brand.org_hex}
    on_chain = trace_stack.chain.lot(GTIN, "L-RELAY-1")
    assert on_chain.org == trace_stack.brand.org and on_chain.count == 7
    tree = codes_tree(GTIN, serials)
    assert trace_stack.chain.verify_code(GTIN, "L-RELAY-1", serials[3], tree.proof(3))
    assert tree.leaves[3] == code_leaf(GTIN, serials[3])


def test_a_relayed_signature_by_someone_else_registers_nothing(trace_stack, client_for):
    client = client_for()
    reg = _issue(client, trace_stack.brand, "L-FORGED").json()["registration"]
    forged = Account.unsafe_sign_hash(bytes.fromhex(reg["digest"][2:]),
                                      trace_stack.other.key).signature
    r = signed(client, trace_stack.brand, "POST", f"/codes/lots/{GTIN}/L-FORGED/registration",
               json_body={"signer": reg["signer"], "deadline": reg["deadline"],
                          "signature": "0x" + bytes(forged).hex()})
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["error"] == "CodeRegistryInvalidSigner"
    assert trace_stack.chain.lot(GTIN, "L-FORGED") is None


def test_brand_may_register_with_its_own_transaction(trace_stack, client_for):
    client = client_for()
    lot = _issue(client, trace_stack.brand, "L-DIRECT", count=3).json()
    trace_stack.chain.register_lot(trace_stack.tx(trace_stack.brand), GTIN, "L-DIRECT",
                                   bytes.fromhex(lot["codesRoot"][2:]), 3)
    r = signed(client, trace_stack.brand, "GET", f"/codes/lots/{GTIN}/L-DIRECT")
    assert r.status_code == 200
    assert r.json()["chain"]["status"] == "active" and r.json()["chain"]["matchesIssued"]


def test_a_member_that_is_not_the_brand_cannot_issue_and_nothing_is_stored(trace_stack, client_for):
    client = client_for()
    r = _issue(client, trace_stack.other, "L-STOLEN")
    assert r.status_code == 403
    assert r.json()["type"] == "urn:zhenzhi:problem:not-prefix-owner"
    r = signed(client, trace_stack.brand, "GET", f"/codes/lots/{GTIN}/L-STOLEN")
    assert r.status_code == 404
    assert r.json()["type"] == "urn:zhenzhi:problem:unknown-lot"


def test_unsigned_and_replayed_requests_are_refused(trace_stack, client_for):
    client = client_for()
    r = client.post("/codes/lots", json={"gtin": GTIN, "lot": "L-ANON", "count": 1})
    assert r.status_code == 401
    assert r.json()["type"] == "urn:zhenzhi:problem:member-access-required"
    import json as _json

    from ledger.proofs.request_signing import sign_request
    body = _json.dumps({"gtin": GTIN, "lot": "L-REPLAY", "count": 1}).encode()
    headers = {**sign_request(trace_stack.brand.key, "POST", "/codes/lots", body,
                              org=trace_stack.brand.org_hex).headers(),
               "Content-Type": "application/json"}
    assert client.post("/codes/lots", content=body, headers=headers).status_code == 201
    again = client.post("/codes/lots", content=body, headers=headers)
    assert again.status_code == 401 and again.json()["reason"] == "replay"
    # A signature by a key of another organisation than the one named is refused too.
    headers = {**sign_request(trace_stack.other.key, "POST", "/codes/lots", body,
                              org=trace_stack.brand.org_hex).headers(),
               "Content-Type": "application/json"}
    r = client.post("/codes/lots", content=body, headers=headers)
    assert r.status_code == 401 and r.json()["reason"] == "unknown-key"


@pytest.mark.parametrize(("body", "field"), [
    ({"gtin": GTIN, "lot": "L-BAD", "count": 0}, "count"),
    ({"gtin": GTIN[:-1] + str((int(GTIN[-1]) + 1) % 10), "lot": "L-BAD", "count": 1}, "gtin"),
    ({"gtin": GTIN, "lot": "L BAD space", "count": 1}, "lot"),
    ({"gtin": GTIN, "lot": "L-BAD", "count": 1, "serialLength": 8}, "serialLength"),
])
def test_bad_issue_requests_are_4xx_problems(trace_stack, client_for, body, field):
    client = client_for()
    r = signed(client, trace_stack.brand, "POST", "/codes/lots", json_body=body)
    assert 400 <= r.status_code < 500
    assert r.headers["content-type"] == "application/problem+json"
    assert field in r.text


def test_issuing_a_lot_twice_conflicts(trace_stack, client_for):
    client = client_for()
    assert _issue(client, trace_stack.brand, "L-TWICE").status_code == 201
    r = _issue(client, trace_stack.brand, "L-TWICE")
    assert r.status_code == 409 and r.json()["type"] == "urn:zhenzhi:problem:lot-already-issued"


def test_labels_carry_the_digital_link(trace_stack, client_for):
    client = client_for()
    lot = _issue(client, trace_stack.brand, "L-LABEL", count=4).json()
    serial, link = lot["serials"][1], lot["digitalLinks"][1]
    png = signed(client, trace_stack.brand, "GET", f"/codes/{GTIN}/{serial}/label.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    decoded = [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))]
    assert decoded == [link]
    svg = signed(client, trace_stack.brand, "GET", f"/codes/{GTIN}/{serial}/label.svg")
    assert svg.status_code == 200 and f"(21) {serial}" in svg.text
    pdf = signed(client, trace_stack.brand, "GET", f"/codes/lots/{GTIN}/L-LABEL/labels.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    # Serials are secret until printed: another member cannot fetch labels.
    r = signed(client, trace_stack.other, "GET", f"/codes/{GTIN}/{serial}/label.png")
    assert r.status_code == 403


@pytest.mark.parametrize("direct", [False, True], ids=["relayed", "own-transaction"])
def test_cli_codes_issue_registers_and_prints_labels(trace_stack, client_for, monkeypatch, capsys,
                                                     tmp_path, direct):
    import json as _json

    from gateway.cli import main

    client = client_for()
    lot = "L-CLI-D" if direct else "L-CLI-R"
    monkeypatch.setenv("ZHENZHI_SIGNING_KEY", trace_stack.brand.key)
    pdf = tmp_path / "labels.pdf"
    code = main(["codes", "issue", "--gtin", GTIN, "--lot", lot, "--count", "4",
                 "--labels", str(pdf), *(["--direct"] if direct else []),
                 "--gateway", str(client.base_url).rstrip("/"),
                 "--rpc", trace_stack.w3.provider.endpoint_uri,
                 "--manifest", str(trace_stack.manifest), *(["--json"] if direct else [])])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    on_chain = trace_stack.chain.lot(GTIN, lot)
    if direct:
        assert "0x" + on_chain.codes_root.hex() == _json.loads(captured.out)["codesRoot"]
    else:  # the human form: progress bar, then one summary line
        assert f"lot {lot} of {GTIN}: 4 codes registered" in captured.out
    assert on_chain.count == 4 and on_chain.org == trace_stack.brand.org
    assert pdf.read_bytes().startswith(b"%PDF-")


def test_cli_refuses_a_key_of_no_organisation(trace_stack, monkeypatch, capsys):
    from gateway.cli import main

    monkeypatch.setenv("ZHENZHI_SIGNING_KEY", "0x" + "11" * 32)
    code = main(["codes", "issue", "--gtin", GTIN, "--lot", "L-NOBODY", "--count", "1",
                 "--rpc", trace_stack.w3.provider.endpoint_uri,
                 "--manifest", str(trace_stack.manifest)])
    assert code == 1 and "belongs to no organisation" in capsys.readouterr().err


def test_openapi_documents_the_extensions_beside_the_core(client_for):
    spec = client_for().get("/openapi.json").json()
    for path in ("/capture", "/codes/lots", "/consignments/{consignment}/risk",
                 "/recalls/{gtin}/{lot}/scope.csv", "/complaints", "/{dl_path}",
                 "/.well-known/gs1resolver", "/brand-links/{gtin}",
                 "/items/{gtin}/{serial}/events"):
        assert path in spec["paths"], path
    params = {p["name"] for p in spec["paths"]["/codes/lots"]["post"]["parameters"]}
    assert {"Zhenzhi-Auth-Signature", "Zhenzhi-Auth-Nonce"} <= params
    responses = spec["paths"]["/complaints"]["post"]["responses"]
    assert "application/problem+json" in responses["429"]["content"]
