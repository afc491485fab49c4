"""The reliability run of `scripts/bench --faults`, small: three kill -9s of the gateway, one of
the standby anchoring worker and one of anvil (timed for an open batch when one can be caught),
under steady signed-capture load with duplicate, racing and reordered retries. Nothing
acknowledged may be lost, nothing anchored twice, and nobody may see a 5xx other than the
documented 502 while the chain is down.

The run owns its whole stack (its own anvil, store and `zhenzhi serve` subprocess): killing the
session chain would break other tests."""

from __future__ import annotations

import pytest

from bench.faults import FaultPlan, run_plan

pytestmark = [pytest.mark.chain, pytest.mark.slow]


@pytest.fixture(scope="module")
def figures() -> dict:
    plan = FaultPlan(gateway_kills=3, worker_kills=1, chain_kills=1, gap_s=(1.0, 2.0),
                     proof_sample=100, seed=11)
    return run_plan(plan)


def test_every_fault_was_injected(figures: dict) -> None:
    kinds = figures["faults_by_kind"]
    assert kinds["gateway_kill9"] == 3
    assert kinds["worker_kill9"] == 1
    assert kinds["chain_kill9"] == 1
    # The load really ran through the faults: captures were acknowledged and clients retried.
    assert figures["captures_acknowledged"] >= 50
    assert sum(figures["transport_errors"].values()) > 0
    assert kinds.get("duplicate_retry", 0) + kinds.get("reordered_retry", 0) > 0


def test_no_acknowledged_capture_is_lost(figures: dict) -> None:
    assert figures["acknowledged_lost"] == 0, figures["acknowledged_lost_ids"]
    assert figures["captures_unacknowledged"] == 0
    # Duplicates answered with the same capture id and events, and nothing was refused.
    assert figures["anomaly_count"] == 0, figures["anomalies"]


def test_every_acknowledged_capture_is_anchored_exactly_once(figures: dict) -> None:
    assert figures["drain_s"] is not None, "no backlog drained after a recovery"
    assert figures["drain_final_s"] is not None, "the anchoring backlog never drained"
    assert figures["acknowledged_not_anchored"] == 0
    assert figures["anchored_twice"] == 0, figures["anchored_twice_ids"]
    assert figures["batches_not_on_chain"] == 0
    assert figures["batch_roots_not_matching_leaves"] == 0
    assert figures["roots_on_chain_unknown_to_store"] == 0
    assert figures["proofs_checked_on_chain"] > 0
    assert figures["proofs_failed"] == 0


def test_no_server_errors(figures: dict) -> None:
    assert figures["responses_5xx"] == 0, figures["responses_5xx_by"]
