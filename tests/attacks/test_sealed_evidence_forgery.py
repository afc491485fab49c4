"""Attacks on sealed evidence (issue 20): a file altered after it was sealed, a proof against a
block the reader does not trust, a copy of the contracts deployed elsewhere, a witness that
leaves out or renames a storage slot. Each is checked with no node (`sealed_env`): the anvil the
evidence was sealed on is stopped and every socket refused."""

from __future__ import annotations

import json
import random
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from eth_utils import to_canonical_address
from typer.testing import CliRunner

from gateway.cli import app as cli
from ledger.chain.deployment import ContractRecord, Deployment
from ledger.evidence.sealed import canonical_json
from ledger.proofs.merkle import keccak256
from ledger.proofs.state_proof import StateProofError, prove_account, prove_storage
from tests.integration.sealed_env import check

pytestmark = [pytest.mark.chain, pytest.mark.usefixtures("network_off")]


def _verify_cli(path: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["verify-evidence", str(path), *args])


def _flip_hex(raw: bytes, needle: str, offset: int) -> bytes:
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
    storage = doc["state"][acct]["storage"]
    nonzero = next(j for j, s in enumerate(storage) if int(s["value"], 16))
    return {
        "event field": (ev["events"][0]["event"]["eventTime"], 3, "evidence.events[0]"),
        "event proof node": (ev["events"][with_proof]["proof"][0], 10,
                             f"evidence.events[{with_proof}]"),
        "signature": (ev["captures"][0]["signature"], 40, "evidence.captures[0]"),
        "header": (doc["block"]["header"], 200, "block.header"),
        "block hash": (doc["block"]["hash"], 10, "block.header"),
        "account proof node": (doc["state"][acct]["accountProof"][1], 80,
                               f"state[{acct}].accountProof"),
        "storage proof node": (storage[0]["proof"][0], 80, f"state[{acct}].storage[0].proof"),
        "storage value": (storage[nonzero]["value"], 65, f"state[{acct}].storage[{nonzero}].value"),
        "code": (doc["state"][acct]["code"], 300, f"state[{acct}].code"),
    }


@pytest.mark.parametrize("region", ["event field", "event proof node", "signature", "header",
                                    "block hash", "account proof node", "storage proof node",
                                    "storage value", "code"])
def test_attack_one_altered_byte_in_sealed_evidence_is_refused_naming_the_place(
        sealed: dict[str, Any], region: str) -> None:
    raw = sealed["raw"]
    needle, offset, place = _regions(json.loads(raw))[region]
    report = check(_flip_hex(raw, needle, offset), sealed)
    assert report.kind != "GENUINE"
    where = report.place or report.failures[0]["place"]
    assert where.startswith(place), (region, where, report.reason)


def test_attack_any_single_byte_change_across_the_file_is_refused(sealed: dict[str, Any]) -> None:
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
        report = check(bytes(tampered), sealed)
        assert report.kind != "GENUINE", (i, raw[max(0, i - 30):i + 10])
        assert report.place or report.failures, i
    assert time.monotonic() - started < 120


def test_attack_proof_against_a_block_the_reader_does_not_trust_is_unproven(
        sealed: dict[str, Any], tmp_path: Path) -> None:
    wrong = keccak256(b"another block")
    report = check(sealed["raw"], sealed, trust=wrong)
    assert report.kind == "UNVERIFIED" and report.block_confirmed is False
    assert report.verdict.kind == "GENUINE"  # what it would be, were the block trusted
    assert "not against the block you trust" in report.reason
    path = tmp_path / "s.json"
    path.write_bytes(sealed["raw"])
    run = _verify_cli(path, "--trust", "0x" + wrong.hex(), "--manifest", str(sealed["manifest"]))
    assert run.exit_code == 2 and "NOT the hash you trust" in run.output


def test_attack_evidence_from_another_chain_or_deployment_says_so(sealed: dict[str, Any]) -> None:
    dep: Deployment = sealed["dep"]
    report = check(sealed["raw"], sealed, manifest=replace(dep, chainId=dep.chainId + 1))
    assert report.kind == "UNVERIFIED" and f"the bundle is for chain {dep.chainId}" in report.reason
    # The reader's manifest names other contracts: the file proves facts of a copy.
    elsewhere = dict(dep.contracts)
    elsewhere["Consortium"] = ContractRecord("0x" + "11" * 20, "", "", 0)
    report = check(sealed["raw"], sealed, manifest=replace(dep, contracts=elsewhere))
    assert report.kind == "UNVERIFIED" and "another deployment" in report.reason


def test_attack_witness_leaving_a_slot_out_is_refused_not_read_as_zero(
        sealed: dict[str, Any]) -> None:
    doc = json.loads(sealed["raw"])
    registry = sealed["dep"].address("CodeRegistry")
    acct = next(a for a in doc["state"] if a["address"] == registry)
    # A slot of the lot's record on CodeRegistry (the first non-zero one: the GTIN's empty
    # conditions count is proven there too)
    acct["storage"].remove(next(s for s in acct["storage"] if int(s["value"], 16)))
    report = check(canonical_json(doc), sealed)
    assert report.refused and "does not prove storage slot" in report.reason
    assert report.place == "evidence.registration.lot"


def test_attack_witness_renaming_a_zero_slot_is_refused(sealed: dict[str, Any]) -> None:
    """A proof that a slot is empty often also proves another key empty (its path leaves the
    same nodes). Renaming such a slot keeps every proof valid; the call that reads the real slot
    must still be refused, not answered from the nodes at hand."""
    doc = json.loads(sealed["raw"])
    root = bytes.fromhex(doc["block"]["header"][2:])
    from ledger.proofs.state_proof import BlockHeader

    state_root = BlockHeader.decode(root).state_root
    for a in doc["state"]:
        account = prove_account(state_root, to_canonical_address(a["address"]),
                                [bytes.fromhex(n[2:]) for n in a["accountProof"]], place="a")
        listed = {int(s["slot"], 16) for s in a["storage"]}
        for s in a["storage"]:
            if int(s["value"], 16):
                continue
            nodes = [bytes.fromhex(n[2:]) for n in s["proof"]]
            for bit in range(256):
                other = int(s["slot"], 16) ^ (1 << bit)
                if other in listed:
                    continue
                try:
                    if prove_storage(account.storage_root, other, nodes, place="s") != 0:
                        continue
                except StateProofError:
                    continue
                s["slot"] = "0x" + other.to_bytes(32, "big").hex()
                a["storage"].sort(key=lambda x: int(x["slot"], 16))
                report = check(canonical_json(doc), sealed)
                assert report.refused, report.to_json()
                assert "does not prove storage slot" in report.reason
                return
    pytest.fail("no proven-empty slot to rename in this witness")


def test_attack_non_canonical_spelling_is_refused_in_one_line(sealed: dict[str, Any],
                                                              tmp_path: Path) -> None:
    pretty = json.dumps(json.loads(sealed["raw"]), indent=1, sort_keys=True).encode()
    report = check(pretty, sealed)
    assert report.refused and report.place.startswith("byte ")
    path = tmp_path / "pretty.json"
    path.write_bytes(pretty)
    run = _verify_cli(path, "--trust", "0x" + sealed["hash"].hex())
    assert run.exit_code == 1
    assert run.output.strip().count("\n") == 0 and "refused: byte" in run.output


@pytest.mark.parametrize("spelling", ["https://example.com/01/{gtin}/21/{serial}",
                                      "https://id.gs1.org/01/{gtin}/21/{serial}/",
                                      "https:./id.gs1.org/01/{gtin}/21/{serial}"])
def test_attack_another_spelling_of_the_items_code_is_refused(sealed: dict[str, Any],
                                                              spelling: str) -> None:
    """The same item under another host or path spelling would verify as the item and show a
    code nobody sealed: a sealed item's code has one spelling, its canonical Digital Link."""
    doc = json.loads(sealed["raw"])
    gtin = doc["evidence"]["registration"]["gtin"]
    serial = doc["evidence"]["code"].rsplit("/", 1)[-1]
    doc["evidence"]["code"] = spelling.format(gtin=gtin, serial=serial)
    report = check(canonical_json(doc), sealed)
    assert report.refused and report.place == "evidence.code", report.reason
    assert "canonical Digital Link" in report.reason


def test_attack_registration_naming_another_gtin_is_not_genuine(sealed: dict[str, Any]) -> None:
    """The registration's GTIN is read nowhere else: it must be the code's."""
    doc = json.loads(sealed["raw"])
    gtin = doc["evidence"]["registration"]["gtin"]
    doc["evidence"]["registration"]["gtin"] = "1" + gtin[1:]
    report = check(canonical_json(doc), sealed)
    assert report.kind == "COUNTERFEIT"
    assert report.failures[0]["place"] == "evidence.registration"
    assert "evidence names GTIN 1" in report.reason
