"""One honest item, three ways to its evidence, one verdict: the resolver's JSON over HTTP,
`zhenzhi evidence --database` (the same assembly, `ledger.evidence.item.assemble`, without a
gateway) and `zhenzhi evidence --gateway`, each re-verified against the chain as GENUINE.

The journey is played by `ledger.demo.scenario.Scenario` like its real parties would (customs
records its decision on CustomsRelease and captures its signed `inspecting` event), onto the
session chain and a fresh store that a real gateway (uvicorn in a thread) serves.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from gateway.cli import app as cli
from ledger.chain.transactor import anvil_dev_key
from ledger.demo.scenario import Scenario
from ledger.proofs.bundle import Bundle
from verifier.verdict import CheckName, Outcome, VerdictKind

pytestmark = pytest.mark.chain

_DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def served(w3, deployment, anvil, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from gateway.app import create_app
    from gateway.server import ThreadedServer
    from gateway.settings import GatewaySettings
    from ledger.demo.journey import _START_MS, build_journey
    from ledger.store.store import Store

    tmp = tmp_path_factory.mktemp("evidence")
    url = f"sqlite:///{tmp / 'store.db'}"
    store = Store(url)
    store.migrate()
    # Another production day than the attack tests' journey: lot numbers carry the date, and
    # both journeys share the session chain.
    journey = build_journey(23, start_ms=_START_MS + 40 * _DAY_MS)
    sc = Scenario(w3, deployment, store, admin_key=anvil_dev_key(0), journey=journey)
    sc.admin.reset_nonce()  # other modules may have sent from the dev account
    sc.play()
    manifest = tmp / "deployment.json"
    deployment.save(manifest)
    server = ThreadedServer(create_app(GatewaySettings(
        database_url=url, rpc_url=anvil.url, manifest=manifest))).start()
    try:
        yield {"scenario": sc, "url": server.url, "database": url, "manifest": manifest,
               "rpc": anvil.url, "code": sc.sold_cans()[0]}
    finally:
        server.stop()
        store.close()


def _path(code: str) -> str:
    return "/" + code.split("https://id.gs1.org/", 1)[1]


def _verify_file(served: dict[str, Any], bundle_file: Path) -> dict[str, Any]:
    run = CliRunner().invoke(cli, ["verify", "--bundle", str(bundle_file), "--rpc", served["rpc"],
                                   "--manifest", str(served["manifest"]), "--json"])
    assert run.exit_code == 0, run.output
    return json.loads(run.output)


def _export(served: dict[str, Any], out: Path, *source: str) -> dict[str, Any]:
    run = CliRunner().invoke(cli, ["evidence", served["code"], "-o", str(out), *source,
                                   "--rpc", served["rpc"], "--manifest", str(served["manifest"])])
    assert run.exit_code == 0, run.output
    return json.loads(out.read_text())


def test_resolver_json_of_an_honest_item_verifies_genuine(served: dict[str, Any]) -> None:
    from ledger.chain.view import ChainView
    from verifier.verify import verify

    sc = served["scenario"]
    r = httpx.get(served["url"] + _path(served["code"]), headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    bundle = Bundle.from_json(r.json())
    # Customs' decision reached the bundle through its signed inspecting event.
    # (The public proof names events by commitment only: no event ids to look them up by.)
    assert bundle.customs and {c.consignment for c in bundle.customs} == {
        c.consignment for c in sc.customs_evidence(sc.played.customs_ids)}
    assert {c.commitment for c in bundle.customs} <= {e.commitment for e in bundle.events}
    verdict = verify(bundle.code, bundle, ChainView(sc.w3, sc.deployment, max_staleness=0))
    assert verdict.kind is VerdictKind.GENUINE, verdict.to_json()
    (customs,) = verdict.by_name(CheckName.CUSTOMS_DECISION)
    assert customs.outcome is Outcome.PASS and customs.details["decision"] == "NORMAL_CONTROL"


def test_evidence_from_the_database_is_genuine(served: dict[str, Any], tmp_path: Path) -> None:
    doc = _export(served, tmp_path / "b.json", "--database", served["database"])
    # Traced through the can's case and pallet, not only the events naming the can.
    assert any(e["event"].get("parentID") for e in doc["events"])
    assert doc["registration"] is not None and doc["customs"]
    assert _verify_file(served, tmp_path / "b.json")["verdict"] == "GENUINE"


def test_evidence_from_the_gateway_is_the_resolvers_bundle(served: dict[str, Any],
                                                           tmp_path: Path) -> None:
    # The gateway's resolver serves the public proof: the store's full evidence, cut down.
    from ledger.evidence.public import public_bundle

    via_gateway = _export(served, tmp_path / "g.json", "--gateway", served["url"])
    from_store = public_bundle(Bundle.from_json(
        _export(served, tmp_path / "d.json", "--database", served["database"]))).to_json()
    # Everything but when, by whom, at which block, and the scans (the export is one).
    for doc in (via_gateway, from_store):
        for key in ("generatedAt", "source", "scans"):
            doc.pop(key)
        doc["chain"].pop("blockNumber")
    assert via_gateway == from_store
    assert _verify_file(served, tmp_path / "g.json")["verdict"] == "GENUINE"
