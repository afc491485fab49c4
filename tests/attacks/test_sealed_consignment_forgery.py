"""Attacks on sealed consignment evidence (issue 20): one byte altered anywhere (an event, a
disclosure of the bank's view, a customs proof, the consignment key, a signature, the header,
a state proof node, a storage value, contract code), a proof against a block the reader does
not trust, another chain or deployment. Checked with no node (`sealed_env`)."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from typing import Any

import pytest

from ledger.chain.deployment import ContractRecord
from ledger.proofs.merkle import keccak256
from tests.attacks.test_sealed_evidence_forgery import _flip_hex
from tests.integration.sealed_env import check

pytestmark = [pytest.mark.chain, pytest.mark.usefixtures("network_off")]


def _check(sc: dict[str, Any], raw: bytes, trade: bool = False, **kw: Any) -> Any:
    kw.setdefault("trust", sc["trade_hash" if trade else "hash"])
    return check(raw, sc, **kw)


def _regions(doc: dict[str, Any], trade: bool) -> dict[str, tuple[str, int, str]]:
    ev = doc["evidence"]
    acct = next(i for i, a in enumerate(doc["state"]) if a["storage"])
    storage = doc["state"][acct]["storage"]
    nonzero = next(j for j, s in enumerate(storage) if int(s["value"], 16))
    covered = next(i for i, c in enumerate(ev["customs"]) if c["proof"])
    with_proof = next(i for i, e in enumerate(ev["events"]) if e["proof"])
    out = {
        "event proof node": (ev["events"][with_proof]["proof"][0], 10,
                             f"evidence.events[{with_proof}]"),
        "customs proof node": (ev["customs"][covered]["proof"][0], 12,
                               f"evidence.customs[{covered}]"),
        "consignment key": (ev["consignment"]["key"], 20, "evidence.consignment"),
        "signature": (ev["captures"][0]["signature"], 40, "evidence.captures[0]"),
        "header": (doc["block"]["header"], 200, "block.header"),
        "account proof node": (doc["state"][acct]["accountProof"][1], 80,
                               f"state[{acct}].accountProof"),
        "storage proof node": (storage[0]["proof"][0], 80, f"state[{acct}].storage[0].proof"),
        "storage value": (storage[nonzero]["value"], 65,
                          f"state[{acct}].storage[{nonzero}].value"),
        "code": (doc["state"][acct]["code"], 300, f"state[{acct}].code"),
    }
    if trade:
        # A salt digit of a bizTransaction disclosure: the text no longer leads to its root.
        i, text = next((i, d["text"]) for i, e in enumerate(ev["events"])
                       for d in e["disclosures"] if "bizTransactionList" in d["text"])
        out["disclosure"] = (json.loads(text)[0], 4, f"evidence.events[{i}]")
    else:
        out["event field"] = (ev["events"][0]["event"]["eventTime"], 3, "evidence.events[0]")
    return out


REGIONS = ["event proof node", "customs proof node", "consignment key", "signature", "header",
           "account proof node", "storage proof node", "storage value", "code"]


@pytest.mark.parametrize("trade", [False, True], ids=["members", "bank"])
@pytest.mark.parametrize("region", [*REGIONS, "event field or disclosure"])
def test_attack_one_altered_byte_in_consignment_evidence_is_refused_naming_the_place(
        sealed_consignment: dict[str, Any], region: str, trade: bool) -> None:
    raw = sealed_consignment["trade" if trade else "raw"]
    regions = _regions(json.loads(raw), trade)
    key = region if region in regions else ("disclosure" if trade else "event field")
    needle, offset, place = regions[key]
    report = _check(sealed_consignment, _flip_hex(raw, needle, offset), trade)
    assert report.kind != "GENUINE"
    where = report.place or report.failures[0]["place"]
    assert where.startswith(place), (key, where, report.reason)


@pytest.mark.parametrize("trade", [False, True], ids=["members", "bank"])
def test_attack_single_byte_changes_across_the_consignment_file_are_refused(
        sealed_consignment: dict[str, Any], trade: bool) -> None:
    """Evenly across the file, every byte of the consignment's name and key, and more inside
    the evidence; each refused or failed, with a place."""
    raw = sealed_consignment["trade" if trade else "raw"]
    lo, hi = raw.index(b'"evidence":'), raw.index(b'"format":')
    name_lo = raw.index(b'"consignment":{')
    name_hi = raw.index(b"}", name_lo)
    rng = random.Random(2020)
    positions = sorted({*range(0, len(raw), len(raw) // 60), *range(name_lo, name_hi),
                        *(rng.randrange(lo, hi) for _ in range(40))})
    for i in positions:
        tampered = bytearray(raw)
        tampered[i] ^= 0x01
        report = _check(sealed_consignment, bytes(tampered), trade)
        assert report.kind != "GENUINE", (i, raw[max(0, i - 30):i + 10])
        assert report.place or report.failures, i


@pytest.mark.parametrize("trade", [False, True], ids=["members", "bank"])
def test_attack_a_renamed_or_uppercased_element_is_named_where_it_is(
        sealed_consignment: dict[str, Any], trade: bool) -> None:
    """One bit turns `"proof"` into `"proog"` or a hex digit into upper case: the file is no
    longer canonical, and the checker names the element (as the offline page does), not only
    the first differing byte."""
    raw = sealed_consignment["trade" if trade else "raw"]
    doc = json.loads(raw)
    events = doc["evidence"]["events"]
    at = len(events) - 1
    if trade:
        edits = {b'"proof":': f"evidence.events[{at}].disclosures[0]"}
        start = raw.index(b'"disclosures":', raw.index(events[at]["commitment"].encode()))
    else:
        edits = {b'"nonce":': "evidence.captures[0]"}
        start = raw.index(b'"captures":')
    for needle, place in edits.items():
        i = raw.index(needle, start) + len(needle) - 3
        report = _check(sealed_consignment, raw[:i] + bytes([raw[i] ^ 0x01]) + raw[i + 1:], trade)
        assert report.kind == "REFUSED" and report.place == place, (report.place, report.reason)
        assert "unexpected keys" in report.reason
    commitment = events[at]["commitment"].encode()
    # Its last hex letter made upper case (a random commitment has no "a" one time in 60).
    i = raw.index(commitment) + max(k for k, c in enumerate(commitment) if c in b"abcdef")
    report = _check(sealed_consignment, raw[:i] + raw[i:i + 1].upper() + raw[i + 1:], trade)
    assert report.kind == "REFUSED", report.reason
    assert report.place == f"evidence.events[{at}].commitment", (report.place, report.reason)


def test_attack_consignment_proof_against_an_untrusted_block_is_unproven(
        sealed_consignment: dict[str, Any]) -> None:
    report = _check(sealed_consignment, sealed_consignment["raw"],
                    trust=keccak256(b"another block"))
    assert report.kind == "UNVERIFIED" and report.block_confirmed is False
    assert report.verdict.kind == "GENUINE"  # what it would be, were the block trusted
    assert "not against the block you trust" in report.reason
    report = _check(sealed_consignment, sealed_consignment["trade"], trade=True, trust=None)
    assert report.kind == "UNVERIFIED" and "unproven until confirmed" in report.reason


def test_attack_consignment_evidence_from_another_chain_or_deployment_says_so(
        sealed_consignment: dict[str, Any]) -> None:
    dep = sealed_consignment["dep"]
    raw = sealed_consignment["raw"]
    report = _check(sealed_consignment, raw, manifest=replace(dep, chainId=dep.chainId + 1))
    assert report.kind == "UNVERIFIED" and f"the bundle is for chain {dep.chainId}" in report.reason
    elsewhere = dict(dep.contracts)
    elsewhere["CustomsRelease"] = ContractRecord("0x" + "22" * 20, "", "", 0)
    report = _check(sealed_consignment, raw, manifest=replace(dep, contracts=elsewhere))
    assert report.kind == "UNVERIFIED" and "another deployment" in report.reason
