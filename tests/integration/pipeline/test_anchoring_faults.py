"""Crash tests: the worker is a real `zhenzhi anchor-worker` process, killed with SIGKILL at each
crash point (its ZHENZHI_FAULT hook), and anvil is killed -9 mid-run. Each ends with every
accepted event anchored exactly once, with proofs that verify on chain.

These tests own their chain (a second anvil on its own port and directory): killing the session
chain would break other tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eth_account import Account

from ledger.chain.client import Chain
from ledger.chain.deployment import deploy
from ledger.chain.transactor import Transactor, anvil_dev_key
from ledger.paths import REPO_ROOT
from ledger.store.store import Store
from tests.conftest import AnvilProcess, free_port
from tests.integration.pipeline.test_anchoring import (
    ROOT_ANCHORED,
    assert_anchored_on_chain,
    capture,
)

pytestmark = [pytest.mark.chain, pytest.mark.slow]

ZHENZHI = [sys.executable, "-m", "gateway.cli"] if not (REPO_ROOT / ".venv/bin/zhenzhi").exists() \
    else [str(REPO_ROOT / ".venv/bin/zhenzhi")]


@pytest.fixture(scope="module")
def own_chain(tmp_path_factory):
    proc = AnvilProcess(tmp_path_factory.mktemp("faultnet"), free_port())
    proc.up()
    w3 = proc.web3()
    deployment = deploy(Transactor(w3, Account.from_key(anvil_dev_key(0))), rpc_url=proc.url)
    manifest = proc.dir / "deployment.json"
    deployment.save(manifest)
    yield proc, Chain(w3, deployment), manifest
    proc.down()


def worker_cmd(db: str, proc: AnvilProcess, manifest: Path, *extra: str) -> list[str]:
    return [*ZHENZHI, "anchor-worker", "--db", db, "--rpc", proc.url, "--manifest", str(manifest),
            "--key", anvil_dev_key(0), "--batch-size", "2", "--in-flight", "2", *extra]


def run_worker(cmd: list[str], fault: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "ZHENZHI_FAULT"}
    if fault:
        env["ZHENZHI_FAULT"] = fault
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


def assert_exactly_once(store: Store, chain: Chain, caps) -> None:
    assert store.pending_count() == (0, 0)
    assert_anchored_on_chain(store, chain, caps)
    logs = chain.w3.eth.get_logs({"address": chain.trace_anchor.address, "fromBlock": 0,
                                  "topics": [ROOT_ANCHORED]})
    on_chain = [bytes(log["topics"][1]) for log in logs]
    batches = store.batches()
    assert all(b.state == "anchored" for b in batches)
    # Each capture leaf is in exactly one batch (the store) and each batch root is anchored
    # exactly once (the chain): so each capture, and each event, is anchored exactly once.
    mine = {b.root for b in batches}
    assert sorted(r for r in on_chain if r in mine) == sorted(mine)
    leaves = [leaf for b in batches for leaf in store.batch_leaves(b.id)]
    assert sorted(leaves) == sorted(cap.leaf for cap in caps)


@pytest.mark.parametrize("fault", ["before_send", "after_send", "after_receipt"])
def test_worker_killed_at_each_crash_point_loses_and_duplicates_nothing(
        own_chain, tmp_path: Path, fault: str) -> None:
    proc, chain, manifest = own_chain
    db = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store(db)
    store.migrate()
    caps = [capture(n, nonce, tag=f"f{fault}") for nonce, n in enumerate((2, 3, 1, 4, 2), 1)]
    for cap in caps:
        store.accept_capture(cap)
    cmd = worker_cmd(db, proc, manifest, "--once")
    crashed = run_worker(cmd, fault)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    assert f"SIGKILL at {fault}" in crashed.stderr
    if fault == "before_send":
        assert all(b.state == "built" for b in store.open_batches())
    assert store.pending_count()[0] > 0  # the crash left work behind
    done = run_worker(cmd)
    assert done.returncode == 0, done.stderr[-2000:]
    assert_exactly_once(store, chain, caps)
    store.close()


def test_chain_killed_and_restarted_mid_run(own_chain, tmp_path: Path) -> None:
    proc, chain, manifest = own_chain
    db = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store(db)
    store.migrate()
    worker = subprocess.Popen(worker_cmd(db, proc, manifest, "--window", "0.1"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    caps = []
    try:
        for i in range(30):
            cap = capture(3, i + 1, tag="k")
            store.accept_capture(cap)
            caps.append(cap)
            if i == 12:
                before = (proc.dir / "anvil.pid").read_text()
                proc.kill9()  # mid-run: batches built, sent, awaiting receipts
                time.sleep(1.0)
                proc.up()
                assert (proc.dir / "anvil.pid").read_text() != before
            time.sleep(0.1)
        deadline = time.monotonic() + 90
        while store.pending_count()[0] and time.monotonic() < deadline:
            time.sleep(0.3)
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err[-3000:]
    assert_exactly_once(store, chain, caps)
    store.close()
