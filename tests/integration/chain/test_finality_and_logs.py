"""Chains as operators run them: a node that caps eth_getLogs ranges (Besu's
`--rpc-max-logs-range`, 1,000 blocks by default; providers cap lower) and a chain with
probabilistic finality, where an anchor counts only after N confirmations and a reorganisation
before that must re-anchor without losing or duplicating anything.

The capping node is a small JSON-RPC proxy in front of anvil that refuses any eth_getLogs
spanning more than `limit` blocks, as Besu does. Reorganisations are anvil's `anvil_reorg`
(test-only; the production code uses standard JSON-RPC alone).
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from ledger.chain.client import Chain
from ledger.chain.logs import paged_logs
from ledger.demo.scenario import Scenario
from ledger.errors import ChainError
from ledger.pipeline.anchoring import AnchorWorker
from tests.conftest import RawAnvil
from tests.integration.chain.chains import scenario_on

pytestmark = pytest.mark.chain

_REFUSAL = {"code": -32005, "message": "Requested range exceeds maximum RPC range limit"}


class RangeCappingProxy:
    """JSON-RPC in front of `upstream` that refuses eth_getLogs over `limit` blocks."""

    def __init__(self, upstream: str, limit: int) -> None:
        self.limit = limit
        self.refused = 0
        self.log_requests: list[tuple[int, int]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = json.loads(body)
                answer = proxy.judge(request)
                if answer is None:
                    forward = urllib.request.Request(upstream, data=body, headers={
                        "Content-Type": "application/json"})
                    with urllib.request.urlopen(forward, timeout=30) as r:  # noqa: S310
                        answer = r.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def judge(self, request: dict[str, Any]) -> bytes | None:
        if request.get("method") != "eth_getLogs":
            return None
        flt = request["params"][0]
        start, end = (flt.get("fromBlock"), flt.get("toBlock"))
        if not (isinstance(start, str) and start.startswith("0x")
                and isinstance(end, str) and end.startswith("0x")):
            span = None  # "latest", "earliest" or absent: unbounded
        else:
            span = int(end, 16) - int(start, 16) + 1
        if span is not None and span <= self.limit:
            self.log_requests.append((int(start, 16), int(end, 16)))  # the ones answered
            return None
        self.refused += 1
        return json.dumps({"jsonrpc": "2.0", "id": request["id"], "error": _REFUSAL}).encode()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A chain whose organisations were admitted across many blocks (60 empty ones between)."""
    node = RawAnvil()
    try:
        with scenario_on(node, tmp_path_factory.mktemp("logs") / "store.db", seed=5) as sc:
            node.rpc("anvil_mine", hex(60))
            sc.enrol()
            node.rpc("anvil_mine", hex(60))
            yield {"node": node, "w3": sc.w3, "deployment": sc.deployment}
    finally:
        node.stop()


@pytest.mark.parametrize("capped", [25], indirect=True)
def test_logs_are_read_in_ranges_a_capping_node_accepts(
        played: dict[str, Any], capped: tuple[RangeCappingProxy, Web3]) -> None:
    direct = Chain(played["w3"], played["deployment"])
    admitted = direct.event_logs("Consortium", "OrganisationAdmitted")
    assert len(admitted) >= 7  # the operator and the journey's organisations
    proxy, w3 = capped
    # Configured above the node's cap, as a default of 1,000 is above many providers': the
    # first windows are refused and halved until the node takes them.
    through_proxy = Chain(w3, played["deployment"], log_block_range=1000).event_logs(
        "Consortium", "OrganisationAdmitted")
    assert [(log["blockNumber"], log["args"]["org"]) for log in through_proxy] == \
           [(log["blockNumber"], log["args"]["org"]) for log in admitted]
    assert proxy.refused > 0
    assert all(end - start + 1 <= 25 for start, end in proxy.log_requests)
    # Every block from the deployment to the head was asked for, once.
    asked = sorted(proxy.log_requests)
    assert asked[0][0] == played["deployment"].deployBlock
    assert all(a[1] + 1 == b[0] for a, b in zip(asked, asked[1:], strict=False))


@pytest.fixture
def capped(played: dict[str, Any], request: pytest.FixtureRequest
           ) -> Iterator[tuple[RangeCappingProxy, Web3]]:
    proxy = RangeCappingProxy(played["node"].url, limit=request.param)
    try:
        yield proxy, Web3(Web3.HTTPProvider(proxy.url, request_kwargs={"timeout": 30}))
    finally:
        proxy.close()


@pytest.mark.parametrize("capped", [25], indirect=True)
def test_a_configured_range_under_the_cap_is_never_refused(
        played: dict[str, Any], capped: tuple[RangeCappingProxy, Web3]) -> None:
    proxy, w3 = capped
    logs = Chain(w3, played["deployment"], log_block_range=20).event_logs(
        "Consortium", "OrganisationAdmitted")
    assert logs and proxy.refused == 0
    assert max(end - start + 1 for start, end in proxy.log_requests) == 20


@pytest.mark.parametrize("capped", [0], indirect=True)
def test_a_node_that_refuses_even_one_block_is_a_clear_error(
        played: dict[str, Any], capped: tuple[RangeCappingProxy, Web3]) -> None:
    _, w3 = capped
    with pytest.raises(ChainError, match="refuses eth_getLogs even for block"):
        list(paged_logs(w3, {"address": played["deployment"].address("Consortium")}, 0, 40))


# --- finality ------------------------------------------------------------------------------


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[tuple[RawAnvil, Scenario]]:
    node = RawAnvil()
    try:
        with scenario_on(node, tmp_path / "store.db", seed=11) as sc:
            sc.enrol()
            first = sc.journey.captures[0]
            sc.capture(sc.parties[first.org.key], first.document)
            yield node, sc
    finally:
        node.stop()


def _root_anchored_logs(sc: Scenario, root: bytes) -> list[Any]:
    return sc.chain.event_logs("TraceAnchor", "RootAnchored", topics=["0x" + root.hex()])


def test_an_anchor_counts_only_after_its_confirmations(
        fresh: tuple[RawAnvil, Scenario]) -> None:
    node, sc = fresh
    worker = AnchorWorker(sc.store, sc.chain, sc.admin, confirmations=3)
    assert worker.step(flush=True) == 0  # sent and mined, not final
    (batch,) = sc.store.open_batches()
    assert batch.state == "sent" and sc.chain.anchor_of(batch.root) is not None
    node.rpc("anvil_mine", hex(2))
    assert worker.step() == 0 and sc.store.open_batches()  # two blocks on top: not yet
    node.rpc("anvil_mine", hex(1))
    assert worker.step() == 1
    assert sc.store.open_batches() == [] and sc.store.pending_count()[0] == 0
    (done,) = sc.store.batches()
    assert done.state == "anchored" and done.send_count == 1
    assert done.block_number == sc.chain.anchor_of(batch.root).block_number


def test_a_reorg_before_finality_reanchors_once(fresh: tuple[RawAnvil, Scenario]) -> None:
    node, sc = fresh
    worker = AnchorWorker(sc.store, sc.chain, sc.admin, confirmations=3)
    assert worker.step(flush=True) == 0
    (batch,) = sc.store.open_batches()
    mined_in = sc.chain.anchor_of(batch.root).block_number
    node.rpc("anvil_mine", hex(1))
    # The anchoring block and the one on top are replaced: the anchor transaction is gone.
    node.rpc("anvil_reorg", 2, [])
    assert sc.chain.anchor_of(batch.root) is None
    assert worker.step() == 0  # seen gone, sent again with the same root
    again = sc.chain.anchor_of(batch.root)
    assert again is not None
    node.rpc("anvil_mine", hex(3))
    assert worker.step() == 1
    (done,) = sc.store.batches()
    assert done.state == "anchored" and done.root == batch.root and done.send_count == 2
    assert sc.store.pending_count()[0] == 0
    # Exactly one anchoring of the root on the canonical chain, in the block the store names.
    (log,) = _root_anchored_logs(sc, batch.root)
    assert log["blockNumber"] == done.block_number == again.block_number
    assert mined_in <= done.block_number
    # The captured event is anchored at the root now on chain, in the block the store names.
    for event_id in sc.played.ids.values():
        status = sc.store.require_anchor_status(event_id)
        assert status.state == "anchored" and status.batch_root == batch.root
        assert status.block_number == again.block_number


def test_a_reorg_after_a_final_anchor_at_the_same_height_is_seen(
        fresh: tuple[RawAnvil, Scenario]) -> None:
    """With 0 confirmations (instant finality assumed) a reorganisation that keeps the head's
    height still triggers recovery: the batch is reopened and anchored again, once."""
    node, sc = fresh
    worker = AnchorWorker(sc.store, sc.chain, sc.admin)
    worker.recover()
    assert worker.step(flush=True) == 1
    (batch,) = sc.store.batches()
    assert batch.state == "anchored"
    node.rpc("anvil_reorg", 1, [])
    assert sc.chain.anchor_of(batch.root) is None
    assert worker._chain_went_back()
    worker.tx.reset_nonce()
    worker.recover()
    (again,) = sc.store.batches()
    assert again.state == "anchored" and again.send_count == 2
    (log,) = _root_anchored_logs(sc, batch.root)
    assert log["blockNumber"] == again.block_number
