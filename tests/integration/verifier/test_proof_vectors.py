"""The shared proof vectors (tests/proof_vectors.py) through the Python verifier: every vector
gets exactly its verdict, decided by its check. The browser verifier runs the same list in
headless Chromium (tests/e2e/test_browser_vectors.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.evidence.public import item_epc
from ledger.proofs.bundle import Bundle
from tests.proof_vectors import Vector, build_vectors
from tests.scenarios import played_journey
from verifier.verify import verify

NAMES_AT_LEAST = 30


@pytest.fixture(scope="module")
def vectors(w3, deployment, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[object, list[Vector]]]:
    db = tmp_path_factory.mktemp("vectors") / "store.db"
    with played_journey(w3, deployment, db, seed=41, day=191) as sc:
        built = build_vectors(sc)
        out = Path(os.environ.get("ZHENZHI_ARTIFACTS", "test-artifacts")) / "proof-vectors.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps([v.__dict__ for v in built], indent=1, ensure_ascii=False))
        yield sc, built


def test_there_are_enough_distinct_vectors(vectors) -> None:
    _, built = vectors
    names = [v.name for v in built]
    assert len(set(names)) == len(names) >= NAMES_AT_LEAST
    assert {v.verdict for v in built} == {"GENUINE", "UNVERIFIED", "RECALLED",
                                          "SUSPECTED_CLONE", "COUNTERFEIT"}


def test_the_python_verifier_gives_every_vector_its_verdict(vectors) -> None:
    sc, built = vectors
    wrong = []
    for v in built:
        verdict = verify(v.code, Bundle.from_json(v.proof), sc.view)
        deciding = None if verdict.deciding is None else str(verdict.deciding.name)
        if str(verdict.kind) != v.verdict or deciding != v.deciding:
            wrong.append((v.name, str(verdict.kind), deciding, verdict.reason))
    assert not wrong, "\n".join(map(str, wrong))


def test_no_public_vector_names_another_serial_or_a_business_transaction(vectors) -> None:
    sc, built = vectors
    for v in built:
        if not v.name.startswith("genuine"):
            continue
        mine = item_epc(v.code)
        text = json.dumps(v.proof)
        assert mine in text
        assert "bizTransaction" not in text and "ni:///" not in text and "quantity" not in text
        others = [e for lot in sc.journey.lots for e in lot.items if e != mine and e in text]
        assert not others, (v.name, others[:3])
