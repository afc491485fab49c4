"""Sealed evidence (issue 20): built on anvil, checked with the node stopped and every socket
refused (`tests/integration/sealed_env.py`). Forgery attempts are in
`tests/attacks/test_sealed_evidence_forgery.py`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gateway.cli import app as cli
from ledger.evidence.sealed import SealedEvidence, canonical_json
from tests.integration.sealed_env import check

pytestmark = [pytest.mark.chain, pytest.mark.usefixtures("network_off")]


def _verify_cli(path: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["verify-evidence", str(path), *args])


def test_sealed_evidence_is_genuine_with_the_node_gone(sealed: dict[str, Any]) -> None:
    report = check(sealed["raw"], sealed)
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
    block_hash = SealedEvidence.loads(sealed["cli_file"].read_bytes()).block_hash
    run = _verify_cli(sealed["cli_file"], "--trust", "0x" + block_hash.hex(),
                      "--manifest", str(sealed["manifest"]))
    assert run.exit_code == 0, run.output
    assert run.output.startswith("GENUINE")
    assert "proven against block" in run.output and "not checked" in run.output
    as_json = _verify_cli(sealed["cli_file"], "--json")
    assert as_json.exit_code == 2  # no trusted hash, no manifest: unproven
    assert json.loads(as_json.output)["result"] == "UNVERIFIED"


def test_without_a_trusted_hash_it_is_unproven_and_says_what_to_confirm(
        sealed: dict[str, Any]) -> None:
    report = check(sealed["raw"], sealed, trust=None)
    assert report.kind == "UNVERIFIED" and report.verdict.kind == "GENUINE"
    text = "\n".join(report.lines())
    assert "0x" + sealed["hash"].hex() in text and "confirm" in text
    assert sealed["dep"].address("Consortium") in text


def test_a_recall_after_the_pinned_block_is_a_later_fact_not_a_rewrite(
        sealed: dict[str, Any]) -> None:
    before, after, again = sealed["before"], sealed["after"], sealed["again"]
    assert check(before.dumps(), sealed).kind == "GENUINE"
    recalled = check(after.dumps(), sealed, trust=after.block_hash)
    assert recalled.kind == "RECALLED", recalled.to_json()
    # Built after the recall, pinned to the block of the sale: still what it said then.
    assert again.witness.header.number < after.witness.header.number
    assert check(again.dumps(), sealed, trust=again.block_hash).kind == "GENUINE"
