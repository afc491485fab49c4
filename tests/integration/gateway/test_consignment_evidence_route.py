"""`GET /consignments/{id}/evidence` (issue 20): the consignment's evidence for the members that
are party to it, customs and regulators, through a real gateway over a journey played onto an
anvil of the module's own; the public gets 401, other members 403 (problem+json)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ledger.chain.transactor import anvil_dev_key
from ledger.demo.scenario import Scenario
from ledger.proofs.request_signing import sign_request
from tests.attacks.stack import member
from tests.conftest import RawAnvil

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from eth_account import Account

    from gateway.app import create_app
    from gateway.server import ThreadedServer
    from gateway.settings import GatewaySettings
    from ledger.chain.deployment import deploy
    from ledger.chain.transactor import Transactor
    from ledger.store.store import Store

    tmp = tmp_path_factory.mktemp("consignment-route")
    node = RawAnvil()
    db = f"sqlite:///{tmp / 'store.db'}"
    store = Store(db)
    server = None
    try:
        w3 = node.web3()
        dep = deploy(Transactor(w3, Account.from_key(anvil_dev_key(0))))
        manifest = tmp / "deployment.json"
        dep.save(manifest)
        store.migrate()
        sc = Scenario(w3, dep, store, admin_key=anvil_dev_key(0))
        sc.play()
        store.close()
        # A member that signed none of the consignment's events (the demo's platform now
        # declares each consignment at the border, so it is a party).
        outsider = member(w3, dep, ["ENTERPRISE"], random.Random(7))
        server = ThreadedServer(create_app(GatewaySettings(
            database_url=db, rpc_url=node.url, manifest=manifest))).start()
        with httpx.Client(base_url=server.url, timeout=60.0) as client:
            yield {"client": client, "sc": sc, "ref": sc.played.customs_ref, "dep": dep,
                   "outsider": outsider}
    finally:
        if server is not None:
            server.stop()
        node.stop()


def _get(g: dict[str, Any], who: str | None, path: str) -> httpx.Response:
    if who is None:
        return g["client"].get(path)
    if who == "outsider":
        key, org = g["outsider"].key, g["outsider"].org
    else:
        key, org = g["sc"].parties[who].private_key, g["sc"].parties[who].org_id
    headers = sign_request("0x" + key.hex(), "GET", path, b"", org="0x" + org.hex()).headers()
    return g["client"].get(path, headers=headers)


def test_the_public_and_members_not_party_to_it_are_refused_with_problems(gateway) -> None:
    path = f"/consignments/{gateway['ref']}/evidence"
    r = _get(gateway, None, path)
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == "urn:zhenzhi:problem:member-access-required"
    r = _get(gateway, "outsider", path)
    assert r.status_code == 403 and r.json()["type"] == "urn:zhenzhi:problem:not-a-party"
    r = _get(gateway, "carrier", path + "?disclose=everything")
    assert r.status_code in (400, 422)
    assert r.headers["content-type"].startswith("application/problem+json")
    r = _get(gateway, "carrier", "/consignments/CN-NOWHERE-1/evidence")
    assert r.status_code == 404 and r.json()["type"] == "urn:zhenzhi:problem:unknown-consignment"


def test_a_party_gets_full_events_and_the_bank_view_sealed_checks_offline(gateway) -> None:
    from ledger.evidence.consignment import ConsignmentBundle
    from verifier.sealed import check_sealed

    path = f"/consignments/{gateway['ref']}/evidence"
    r = _get(gateway, "carrier", path)
    assert r.status_code == 200, r.text
    full = ConsignmentBundle.from_json(r.json())
    assert full.disclosure == "full" and all(e.full for e in full.events)
    assert full.consignment == gateway["ref"] and len(full.customs) >= 6
    r = _get(gateway, "customs", path + "?disclose=trade&sealed=true")
    assert r.status_code == 200, r.text
    doc = json.loads(r.content)
    assert doc["format"] == "zhenzhi-sealed-consignment"
    assert doc["evidence"]["disclosure"] == "trade"
    report = check_sealed(r.content, trust=bytes.fromhex(doc["block"]["hash"][2:]),
                          manifest=gateway["dep"])
    assert report.kind == "GENUINE", report.to_json()["failures"]
    assert "inv" in report.consignment.documents()
