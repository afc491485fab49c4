"""Cached readings kept fresh off the request path: one read per stale moment (not one per
waiting request), and follower threads that re-read on a schedule, survive a failing source and
stop when told."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from sqlalchemy import create_engine, event, text
from web3.exceptions import Web3RPCError

from ledger.chain.deployment import ContractRecord, Deployment
from ledger.chain.view import ChainView, Read
from ledger.evidence.item import StoreVersion
from ledger.runtime.freshness import follow

_NAMES = ("Consortium", "TraceAnchor", "CodeRegistry", "CustomsRelease")


class _SlowEth:
    """`eth.block_number` that takes a while and counts its calls (a node under load)."""

    def __init__(self, delay: float = 0.05) -> None:
        self.delay = delay
        self.calls = 0
        self.head = 100
        self.fail = False
        self.calls_at: list[int] = []
        self.on_call: object = None
        self._lock = threading.Lock()

    @property
    def block_number(self) -> int:
        with self._lock:
            self.calls += 1
        if self.fail:
            raise ConnectionError("node unreachable")
        time.sleep(self.delay)
        return self.head

    def contract(self, address: str, abi: object) -> object:
        return _Contract(address)

    def call(self, tx: dict, block: int) -> bytes:
        self.calls_at.append(block)
        if self.on_call is not None:
            self.on_call()
        if block > self.head:
            raise Web3RPCError(f"BlockOutOfRangeError: block height is {self.head} but "
                               f"requested was {block}")
        return (7).to_bytes(32, "big")  # decisionCount 7, say


class _Fn:
    abi = {"type": "function", "name": "decisionCount", "outputs": [{"type": "uint256"}],
           "inputs": [{"type": "bytes32"}]}

    def _encode_transaction_data(self) -> str:
        return "0x"


class _Contract:
    def __init__(self, address: str) -> None:
        self.address = address
        self.functions = self

    def __getattr__(self, name: str) -> object:
        return lambda *args: _Fn()


class _W3:
    def __init__(self, eth: _SlowEth) -> None:
        self.eth = eth


def _view(eth: _SlowEth, clock: object = time.monotonic, staleness: float = 0.25) -> ChainView:
    deployment = Deployment(
        chainId=31337, deployer="0x" + "11" * 20, deployBlock=1, deployedAt="2026-01-01T00:00:00Z",
        solcVersion="0.8.37",
        contracts={name: ContractRecord("0x" + f"{i + 1:040x}", "00" * 32, "0x" + "00" * 32, 1)
                   for i, name in enumerate(_NAMES)})
    return ChainView(_W3(eth), deployment, max_staleness=staleness, clock=clock)  # type: ignore[arg-type]


def _together(n: int, fn: object) -> list[object]:
    """Call `fn()` from `n` threads released at the same moment; their results."""
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        results[i] = fn()  # type: ignore[operator]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return results


def test_a_stale_chain_head_is_read_once_for_a_herd_of_callers() -> None:
    eth = _SlowEth()
    view = _view(eth)
    assert view.sync() == 100 and eth.calls == 1
    eth.head = 101
    now = [time.monotonic() + 1.0]  # every caller finds the head stale
    view._clock = lambda: now[0]  # noqa: SLF001
    assert _together(16, view.sync) == [101] * 16
    assert eth.calls == 2  # one read for sixteen stale callers, not sixteen


def test_force_still_reads_a_newer_head() -> None:
    eth = _SlowEth(delay=0)
    view = _view(eth)
    view.sync()
    eth.head = 105
    assert view.sync() == 100  # fresh enough: no call
    assert view.sync(force=True) == 105
    assert eth.calls == 2


def test_the_chain_follower_keeps_the_head_fresh_and_stops() -> None:
    eth = _SlowEth(delay=0)
    view = _view(eth, staleness=0.1)
    view.sync()
    stop = threading.Event()
    thread = threading.Thread(target=view.follow, args=(stop,))
    thread.start()
    try:
        eth.head = 107
        deadline = time.monotonic() + 5
        while view.fresh_block() != 107 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert view.fresh_block() == 107  # seen without any caller asking
        time.sleep(0.3)
        assert view.fresh_block() == 107  # still fresh, long after max_staleness
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    calls = eth.calls
    time.sleep(0.2)
    assert eth.calls == calls  # stopped means stopped


def test_a_follower_survives_a_failing_source_and_says_so_once(
        caplog: pytest.LogCaptureFixture) -> None:
    outcomes = iter([ConnectionError("down")] * 5 + [None] * 1000)
    calls: list[float] = []
    recovered = threading.Event()

    def refresh() -> None:
        calls.append(time.monotonic())
        outcome = next(outcomes)
        if outcome is not None:
            raise outcome
        recovered.set()

    stop = threading.Event()
    with caplog.at_level(logging.INFO, logger="zhenzhi.freshness"):
        thread = threading.Thread(target=follow, args=(refresh, stop, 0.01),
                                  kwargs={"what": "the thing"})
        thread.start()
        assert recovered.wait(5)
        stop.set()
        thread.join(5)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "cannot read the thing" in warnings[0].getMessage()
    assert any("readable again" in r.getMessage() for r in caplog.records)
    assert len(calls) >= 6


def test_a_zero_interval_does_not_spin() -> None:
    calls = []
    follow(lambda: calls.append(1), threading.Event(), 0, what="x")  # returns at once
    assert calls == []


def test_a_stale_store_version_is_read_once_for_a_herd_of_callers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = create_engine(f"sqlite:///{tmp_path / 'v.db'}")
    with engine.begin() as conn:
        for ddl in ("CREATE TABLE events (seq INTEGER)", "CREATE TABLE codes (id INTEGER)",
                    "CREATE TABLE batches (state TEXT, anchored_ms INTEGER)",
                    "CREATE TABLE product_conditions (id INTEGER)",
                    "CREATE TABLE brand_links (id INTEGER)"):
            conn.execute(text(ddl))
    reads = []

    @event.listens_for(engine, "before_cursor_execute")
    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if "max(seq)" in statement:
            reads.append(statement)
            time.sleep(0.05)  # a busy database

    now = [1000.0]
    version = StoreVersion(engine, max_staleness=0.25, clock=lambda: now[0])
    first = version.current()
    assert len(reads) == 1
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO events VALUES (41)"))
    assert version.current() == first  # within max_staleness: no read
    now[0] += 1.0
    tokens = _together(16, version.current)
    assert len(reads) == 2  # one read for sixteen stale callers
    assert all(t == tokens[0] for t in tokens) and tokens[0] != first and tokens[0][0] == 41
    engine.dispose()


def test_while_the_node_is_down_the_pinned_block_serves_for_a_while_then_fails() -> None:
    eth = _SlowEth(delay=0)
    now = [1000.0]
    view = _view(eth, clock=lambda: now[0])
    assert view.sync() == 100
    eth.fail = True
    now[0] += 1.0  # stale: the view asks, the node does not answer
    assert view.sync() == 100  # the block it had, 1 s old
    calls = eth.calls
    now[0] += 0.1
    assert view.sync() == 100 and eth.calls == calls  # failed a moment ago: not asked again
    with pytest.raises(ConnectionError):
        view.sync(force=True)  # a caller that must see a newer block is told
    now[0] += 40.0  # past stale_if_error since the last good read
    with pytest.raises(ConnectionError):
        view.sync()
    eth.fail = False
    eth.head = 120
    assert view.sync() == 120  # back, and the cache moved on


def test_a_view_without_stale_if_error_fails_at_once() -> None:
    eth = _SlowEth(delay=0)
    deployment_view = _view(eth)
    strict = ChainView(deployment_view.w3, deployment_view.deployment, max_staleness=0,
                       stale_if_error=0)
    assert strict.sync() == 100
    eth.fail = True
    with pytest.raises(ConnectionError):
        strict.sync()


def test_a_read_survives_the_follower_moving_the_block_under_it() -> None:
    eth = _SlowEth(delay=0)
    view = _view(eth)
    view.sync()

    def follower_moves_on() -> None:  # what the follower thread does at any moment
        eth.on_call = None
        eth.head += 1
        view.sync(force=True)

    eth.on_call = follower_moves_on
    assert view._read(Read("decisionCount", (bytes(32),))) == 7  # noqa: SLF001
    assert view.block_number == 101


def test_a_chain_restarted_from_older_state_is_read_at_its_own_head() -> None:
    eth = _SlowEth(delay=0)
    view = _view(eth)
    assert view.sync() == 100
    eth.head = 90  # anvil restarted from its state file: the last blocks are gone
    assert view._read(Read("decisionCount", (bytes(32),))) == 7  # noqa: SLF001
    assert eth.calls_at == [100, 90] and view.block_number == 90
