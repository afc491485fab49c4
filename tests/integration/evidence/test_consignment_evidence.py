"""Consignment evidence (issue 20): what customs decided on, sealed on anvil by `zhenzhi evidence
consignment … --offline` (members' view, and `--for bank`: the trade view), then checked with
the node stopped and every socket refused (`tests/integration/sealed_env.py`). Forgery attempts
are in `tests/attacks/test_sealed_consignment_forgery.py`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from gateway.cli import app as cli
from ledger.evidence.consignment import TRADE_FIELDS
from ledger.evidence.sealed import SealedEvidence, canonical_json
from tests.integration.sealed_env import check

pytestmark = [pytest.mark.chain, pytest.mark.usefixtures("network_off")]


def _verify_cli(path: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["verify-evidence", str(path), *args])


def _check(sealed_consignment: dict[str, Any], raw: bytes, **kw: Any) -> Any:
    if "trust" not in kw:
        kw["trust"] = SealedEvidence.loads(raw).block_hash
    return check(raw, sealed_consignment, **kw)


def test_members_consignment_evidence_is_proven_with_the_node_gone(
        sealed_consignment: dict[str, Any]) -> None:
    report = _check(sealed_consignment, sealed_consignment["raw"])
    assert report.kind == "GENUINE", report.to_json()["failures"]
    c = report.consignment
    assert c is not None and report.block_confirmed and report.deployment_confirmed
    assert report.verdict.checked_at == report.sealed.witness.header.timestamp
    # What customs decided, read from CustomsRelease at the pinned block.
    assert [(d.decision, d.inspection, d.released) for d in c.decisions] == [
        ("NORMAL_CONTROL", "PASSED", True)]
    steps = [s.bizstep for s in c.story]
    for step in ("commissioning", "packing", "shipping", "departing", "transporting",
                 "arriving", "inspecting", "receiving"):
        assert step in steps, step
    # Every event covered by the decision is proven into its root; sales are not here.
    assert sum(s.covered for s in c.story) >= 6 and "retail_selling" not in steps
    names = set(c.names.values())
    assert {"Nansha Customs, Guangzhou Customs District", "Southern Cross Line Ltd",
            "Tasman Gateway Exports Ltd (Auckland)"} <= names
    assert all(s.org_name for s in c.story) and all(s.anchored_block for s in c.story)
    assert {x.status for x in c.lots} == {"active"} and len(c.lots) == 2
    docs = c.documents()
    assert {"po", "desadv", "inv", "bol"} <= set(docs)
    checked = {str(x.name) for x in report.verdict.checks}
    assert {"consignment.id", "customs.decision", "customs.cover", "customs.record",
            "signer.key", "signer.role", "capture.anchored", "lot.status"} <= checked


def test_cli_report_says_what_by_whom_when_at_which_block_and_what_was_not_checked(
        sealed_consignment: dict[str, Any]) -> None:
    path = sealed_consignment["files"]["full"]
    run = _verify_cli(path, "--trust", "0x" + sealed_consignment["hash"].hex(),
                      "--manifest", str(sealed_consignment["manifest"]))
    assert run.exit_code == 0, run.output
    out = run.output
    assert out.startswith("GENUINE") and f"consignment {sealed_consignment['ref']}" in out
    assert "proven against block" in out and "customs decisions on CustomsRelease" in out
    assert "NORMAL_CONTROL, inspection PASSED: released" in out
    assert "signed by Southern Cross Line Ltd" in out and "bol:" in out and "inv:" in out
    assert "not checked" in out and "withhold" in out
    as_json = _verify_cli(path, "--json")
    assert as_json.exit_code == 2  # neither the block nor the deployment confirmed
    doc = json.loads(as_json.output)
    assert doc["result"] == "UNVERIFIED" and doc["kind"] == "consignment"
    assert doc["verdict"]["verdict"] == "GENUINE" and doc["verdict"]["documents"]["bol"]


def test_bank_view_shows_trade_documents_stages_and_parties_and_nothing_else(
        sealed_consignment: dict[str, Any]) -> None:
    raw = sealed_consignment["trade"]
    report = _check(sealed_consignment, raw, trust=sealed_consignment["trade_hash"])
    assert report.kind == "GENUINE", report.to_json()["failures"]
    c = report.consignment
    assert {"po", "desadv", "inv", "bol"} <= set(c.documents())
    assert [d.released for d in c.decisions] == [True]
    assert {"shipping", "departing", "arriving", "inspecting", "receiving"} <= {
        s.bizstep for s in c.story}
    assert not c.lots  # the trade view discloses no lot
    doc = json.loads(raw)
    events = doc["evidence"]["events"]
    assert events and all("event" not in e and "eventId" not in e for e in events)
    allowed = TRADE_FIELDS | {"epcList", "childEPCs", "parentID"} | {
        f"zhenzhi:{k}" for k in ("consignment", "consignmentKey", "enterprise", "decision",
                                 "inspection", "rulesVersion", "eventsRoot")}
    shown = [orjson.loads(d["text"]) for e in events for d in e["disclosures"]]
    assert {name for _, name, _ in shown} <= allowed
    # None of the goods' identities, quantities, lots or the covered events' ids.
    can = sealed_consignment["lot"].items[0]
    text = raw.decode()
    for secret in (can, "quantity", "ilmd", "lotNumber", "zhenzhi:eventIds", "ni:///sha-256;"):
        assert secret not in text, secret
    epcs = {v for _, name, v in shown if name in ("epcList", "childEPCs", "parentID")}
    assert epcs and all("/00/" in e for e in epcs)  # only the consignment's pallets (SSCCs)
    lines = "\n".join(report.lines())
    assert "a bank's view" in lines and "withheld by selective disclosure" in lines


def test_a_recall_after_clearance_is_a_later_fact_not_a_rewrite(
        sealed_consignment: dict[str, Any]) -> None:
    before, after, again = (sealed_consignment[k] for k in ("before", "after", "again"))
    first = _check(sealed_consignment, before.dumps())
    assert first.kind == "GENUINE"
    later = _check(sealed_consignment, after.dumps())
    assert later.kind == "RECALLED", later.to_json()["failures"]
    lot = sealed_consignment["lot"].ref.lot
    assert [x.status for x in later.consignment.lots if x.lot == lot] == ["recalled"]
    # The clearance and every signed event stand as recorded: the recall adds, never rewrites.
    assert [(d.decision, d.released) for d in later.consignment.decisions] == [
        (d.decision, d.released) for d in first.consignment.decisions]
    assert [s.event_time for s in later.consignment.story] == [
        s.event_time for s in first.consignment.story]
    failing = [c for c in later.verdict.checks if c.outcome != "PASS"]
    assert {str(c.name) for c in failing} == {"lot.status"}
    assert "stand as they were recorded" in failing[0].reason
    # Sealed after the recall, pinned at the block of the clearance: what the chain said then.
    assert again.witness.header.number < after.witness.header.number
    assert _check(sealed_consignment, again.dumps()).kind == "GENUINE"


def test_a_full_bundle_relabelled_as_the_trade_view_is_refused(
        sealed_consignment: dict[str, Any]) -> None:
    doc = json.loads(sealed_consignment["raw"])
    doc["evidence"]["disclosure"] = "trade"  # would skip reading the lots (and a recall)
    report = _check(sealed_consignment, canonical_json(doc),
                    trust=sealed_consignment["hash"])
    assert report.refused and report.place == "evidence (disclosure)"


def test_item_evidence_still_builds_with_the_old_and_the_named_form(
        sealed: dict[str, Any], tmp_path: Path) -> None:
    """`zhenzhi evidence CODE` (as before) and `zhenzhi evidence item CODE` write the same
    sealed item format (`zhenzhi-sealed-evidence` version 1)."""
    doc = json.loads(sealed["cli_file"].read_bytes())
    assert doc["format"] == "zhenzhi-sealed-evidence" and doc["version"] == 1
    run = CliRunner().invoke(cli, ["evidence", "item", "-o", str(tmp_path / "x")])
    assert run.exit_code == 1 and "Digital Link" in run.output
    run = CliRunner().invoke(cli, ["evidence", "parcel", "x", "-o", str(tmp_path / "x")])
    assert run.exit_code == 1 and "item or consignment" in run.output


def test_pdf_report_parses_and_carries_the_bundle_hash_its_qr_and_chinese_text(
        sealed_consignment: dict[str, Any], tmp_path: Path) -> None:
    import hashlib

    import zxingcpp
    from PIL import Image
    from pypdf import PdfReader

    from ledger.trade.labels import qr_matrix

    pdf = tmp_path / "report.pdf"
    path = sealed_consignment["files"]["full"]
    run = _verify_cli(path, "--trust", "0x" + sealed_consignment["hash"].hex(),
                      "--manifest", str(sealed_consignment["manifest"]), "--pdf", str(pdf))
    assert run.exit_code == 0, run.output
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    reader = PdfReader(str(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert digest in text and "GENUINE" in text
    assert "区块链存证核验报告" in text and "已证实" in text
    assert "Southern Cross Line Ltd" in text and sealed_consignment["ref"] in text
    # The QR drawn is the hash's: decode the same matrix as an image.
    matrix = qr_matrix(f"sha256:{digest}")
    n, scale = len(matrix), 8
    img = Image.new("L", ((n + 8) * scale, (n + 8) * scale), 255)
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if dark:
                img.paste(0, ((c + 4) * scale, (r + 4) * scale, (c + 5) * scale, (r + 5) * scale))
    assert zxingcpp.read_barcodes(img)[0].text == f"sha256:{digest}"
    assert b"/Subject" in pdf.read_bytes()
    # A refused file still gets its paper: REFUSED, with the place.
    bad = tmp_path / "bad.json"
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 1
    bad.write_bytes(bytes(raw))
    run = _verify_cli(bad, "--pdf", str(tmp_path / "bad.pdf"))
    assert run.exit_code == 1
    text = PdfReader(str(tmp_path / "bad.pdf")).pages[0].extract_text()
    assert "REFUSED" in text and hashlib.sha256(bytes(raw)).hexdigest() in text
