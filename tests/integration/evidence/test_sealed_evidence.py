"""Sealed evidence (issue 20): built on anvil, checked with the network off.

One NZ → Nansha journey is played onto an anvil of this module's own; an item's evidence is
sealed at block N (online, `zhenzhi evidence --offline` and `verifier.sealed.seal`), its lot is
then recalled, and the same item is sealed again after the recall and, once more, at block N.
Then the anvil is stopped and every socket refused: each check below runs with no node at all.
"""

from __future__ import annotations

import json
import random
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gateway.cli import app as cli
from ledger.chain.deployment import ContractRecord, Deployment
from ledger.chain.transactor import anvil_dev_key
from ledger.demo.scenario import Scenario
from ledger.evidence.sealed import SealedEvidence, canonical_json
from ledger.proofs.merkle import keccak256
from tests.conftest import RawAnvil
from verifier.sealed import check_sealed

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from eth_account import Account

    from ledger.chain.deployment import deploy
    from ledger.chain.transactor import Transactor
    from ledger.store.store import Store
    from verifier.sealed import seal

    tmp = tmp_path_factory.mktemp("sealed")
    node = RawAnvil()
    store = Store(f"sqlite:///{tmp / 'store.db'}")
    try:
        w3 = node.web3()
        dep = deploy(Transactor(w3, Account.from_key(anvil_dev_key(0))))
        manifest = tmp / "deployment.json"
        dep.save(manifest)
        store.migrate()
        sc = Scenario(w3, dep, store, admin_key=anvil_dev_key(0))
        sc.play()
        code = sc.sold_cans()[0]
        # The CLI's build: from the store, against the node, sealed at its head.
        cli_file = tmp / "cli.json"
        run = CliRunner().invoke(cli, ["evidence", code, "-o", str(cli_file), "--offline",
                                       "--database", f"sqlite:///{tmp / 'store.db'}",
                                       "--rpc", node.url, "--manifest", str(manifest)])
        assert run.exit_code == 0, run.output
        bundle = sc.bundle(code)
        before = seal(bundle, w3, dep)
        block_n = before.witness.header.number
        lot = sc.lot_of(code)
        sc.chain.recall_lot(sc.parties["manufacturer"].tx, lot.ref.gtin, lot.ref.lot,
                            keccak256(b"recall after the sale"))
        after = seal(bundle, w3, dep)
        # Sealed again at block N, after the recall: what the chain said when the goods sold.
        again = seal(bundle, w3, dep, block=block_n)
    finally:
        node.stop()
        store.close()
    yield {"code": code, "dep": dep, "manifest": manifest, "cli_file": cli_file,
           "before": before, "after": after, "again": again, "raw": before.dumps(),
           "hash": before.block_hash}


@pytest.fixture(autouse=True)
def network_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """No socket can connect, resolve or be made: a checker that tried to reach a node fails."""
    def refuse(*_a: Any, **_k: Any) -> Any:
        raise OSError("network is off in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def _check(raw: bytes, sealed: dict[str, Any], **kwargs: Any):
    kwargs.setdefault("trust", sealed["hash"])
    kwargs.setdefault("manifest", sealed["dep"])
    return check_sealed(raw, **kwargs)


def _verify_cli(path: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["verify-evidence", str(path), *args])


# --- what a sealed bundle proves -----------------------------------------------------------------

def test_sealed_evidence_is_genuine_with_the_node_gone(sealed: dict[str, Any]) -> None:
    report = _check(sealed["raw"], sealed)
    assert report.kind == "GENUINE", report.to_json()
    assert report.block_confirmed is True and report.deployment_confirmed is True
    # The verifier's own checks ran over the proven state, judged at the block's time.
    names = {str(c.name) for c in report.verdict.checks}
    assert {"code.registered", "signer.key", "capture.anchored", "customs.decision"} <= names
    assert report.verdict.checked_at == sealed["before"].witness.header.timestamp
    doc = json.loads(sealed["raw"])
    # Only what the checker verifies: no scans, source or generation time.
    assert not {"scans", "source", "generatedAt"} & set(doc["evidence"])
    assert sealed["raw"] == canonical_json(doc)


def test_cli_builds_and_checks_sealed_evidence_offline(sealed: dict[str, Any]) -> None:
    run = _verify_cli(sealed["cli_file"], "--trust", "0x" + SealedEvidence.loads(
        sealed["cli_file"].read_bytes()).block_hash.hex(), "--manifest", str(sealed["manifest"]))
    assert run.exit_code == 0, run.output
    assert run.output.startswith("GENUINE")
    assert "proven against block" in run.output and "not checked" in run.output
    as_json = _verify_cli(sealed["cli_file"], "--json")
    assert as_json.exit_code == 2  # no trusted hash, no manifest: unproven
    assert json.loads(as_json.output)["result"] == "UNVERIFIED"


def test_without_a_trusted_hash_it_is_unproven_and_says_what_to_confirm(
        sealed: dict[str, Any]) -> None:
    report = _check(sealed["raw"], sealed, trust=None)
    assert report.kind == "UNVERIFIED" and report.verdict.kind == "GENUINE"
    text = "\n".join(report.lines())
    assert "0x" + sealed["hash"].hex() in text and "confirm" in text
    assert sealed["dep"].address("Consortium") in text


def test_a_proof_against_a_block_the_checker_does_not_trust_is_unproven(
        sealed: dict[str, Any], tmp_path: Path) -> None:
    wrong = keccak256(b"another block")
    report = _check(sealed["raw"], sealed, trust=wrong)
    assert report.kind == "UNVERIFIED" and report.block_confirmed is False
    assert "not against the block you trust" in report.reason
    path = tmp_path / "s.json"
    path.write_bytes(sealed["raw"])
    run = _verify_cli(path, "--trust", "0x" + wrong.hex(), "--manifest", str(sealed["manifest"]))
    assert run.exit_code == 2 and "NOT the hash you trust" in run.output


def test_a_bundle_for_another_chain_or_deployment_says_so(sealed: dict[str, Any]) -> None:
    dep: Deployment = sealed["dep"]
    other_chain = replace(dep, chainId=dep.chainId + 1)
    report = _check(sealed["raw"], sealed, manifest=other_chain)
    assert report.kind == "UNVERIFIED" and f"chain {dep.chainId}" in report.reason
    fake = dict(dep.contracts)
    fake["Consortium"] = ContractRecord("0x" + "11" * 20, "", "", 0)
    report = _check(sealed["raw"], sealed, manifest=replace(dep, contracts=fake))
    assert report.kind == "UNVERIFIED" and "another deployment" in report.reason


def test_a_recall_after_the_pinned_block_is_a_later_fact_not_a_rewrite(
        sealed: dict[str, Any]) -> None:
    before, after, again = sealed["before"], sealed["after"], sealed["again"]
    assert _check(before.dumps(), sealed).kind == "GENUINE"
    recalled = _check(after.dumps(), sealed, trust=after.block_hash)
    assert recalled.kind == "RECALLED", recalled.to_json()
    # Built after the recall, pinned to the block of the sale: still what it said then.
    assert again.witness.header.number < after.witness.header.number
    assert _check(again.dumps(), sealed, trust=again.block_hash).kind == "GENUINE"


# --- refusals ----------------------------------------------------------------------------------

def _flip_hex(raw: bytes, needle: str, offset: int = 10) -> bytes:
    """`raw` with one hex digit inside the first occurrence of `needle` changed."""
    at = raw.index(needle.encode()) + offset
    digit = chr(raw[at])
    assert digit in "0123456789abcdef", (needle, digit)
    out = bytearray(raw)
    out[at] = ord("1" if digit != "1" else "2")
    return bytes(out)


def _regions(doc: dict[str, Any]) -> dict[str, tuple[str, int, str]]:
    """For each region: a JSON string value to alter, where in it, and the place expected."""
    ev = doc["evidence"]
    with_proof = next(i for i, e in enumerate(ev["events"]) if e["proof"])
    acct = next(i for i, a in enumerate(doc["state"]) if a["storage"])
    slot = doc["state"][acct]["storage"][0]
    nonzero = next(j for j, s in enumerate(doc["state"][acct]["storage"]) if int(s["value"], 16))
    return {
        "event field": (json.dumps(ev["events"][0]["event"]["eventTime"]), 5,
                        "evidence.events[0]"),
        "event proof node": (ev["events"][with_proof]["proof"][0], 10,
                             f"evidence.events[{with_proof}]"),
        "signature": (ev["captures"][0]["signature"], 40, "evidence.captures[0]"),
        "header": (doc["block"]["header"], 200, "block.header"),
        "block hash": (doc["block"]["hash"], 10, "block.header"),
        "account proof node": (doc["state"][acct]["accountProof"][1], 80,
                               f"state[{acct}].accountProof"),
        "storage proof node": (slot["proof"][0], 80, f"state[{acct}].storage[0].proof"),
        "storage value": (doc["state"][acct]["storage"][nonzero]["value"], 65,
                          f"state[{acct}].storage[{nonzero}].value"),
        "code": (doc["state"][acct]["code"], 300, f"state[{acct}].code"),
    }


@pytest.mark.parametrize("region", ["event field", "event proof node", "signature", "header",
                                    "block hash", "account proof node", "storage proof node",
                                    "storage value", "code"])
def test_one_altered_byte_is_refused_naming_the_place(sealed: dict[str, Any], region: str) -> None:
    raw = sealed["raw"]
    needle, offset, place = _regions(json.loads(raw))[region]
    tampered = _flip_hex(raw, needle.strip('"'), offset)
    report = _check(tampered, sealed)
    assert report.kind != "GENUINE"
    where = report.place or report.failures[0]["place"]
    assert where.startswith(place), (region, where, report.reason)


def test_every_sampled_single_byte_change_is_refused(sealed: dict[str, Any]) -> None:
    raw = sealed["raw"]
    lo, hi = raw.index(b'"evidence":'), raw.index(b'"format":')
    rng = random.Random(20)
    # Evenly across the whole file, plus more inside the evidence (the costlier checks).
    positions = sorted({*range(0, len(raw), len(raw) // 60),
                        *(rng.randrange(lo, hi) for _ in range(30))})
    started = time.monotonic()
    for i in positions:
        tampered = bytearray(raw)
        tampered[i] ^= 0x01
        report = _check(bytes(tampered), sealed)
        assert report.kind != "GENUINE", (i, raw[max(0, i - 30):i + 10])
        assert report.place or report.failures, i
    assert time.monotonic() - started < 120


def test_a_slot_left_out_is_not_read_as_zero(sealed: dict[str, Any]) -> None:
    doc = json.loads(sealed["raw"])
    # The lot's record on CodeRegistry: leave one of its slots out of the witness.
    registry = sealed["dep"].address("CodeRegistry")
    acct = next(a for a in doc["state"] if a["address"] == registry)
    acct["storage"].pop(0)
    report = _check(canonical_json(doc), sealed)
    assert report.refused and "does not prove storage slot" in report.reason
    assert report.place == "evidence.registration.lot"


def test_non_canonical_json_is_refused(sealed: dict[str, Any], tmp_path: Path) -> None:
    pretty = json.dumps(json.loads(sealed["raw"]), indent=1, sort_keys=True).encode()
    report = _check(pretty, sealed)
    assert report.refused and report.place.startswith("byte ")
    path = tmp_path / "pretty.json"
    path.write_bytes(pretty)
    run = _verify_cli(path, "--trust", "0x" + sealed["hash"].hex())
    assert run.exit_code == 1
    assert run.output.strip().count("\n") == 0 and "refused: byte" in run.output
