"""The anchoring worker against a real anvil chain and TraceAnchor deployment."""

from __future__ import annotations

import pytest
from eth_account import Account

from ledger.chain.client import Chain
from ledger.chain.deployment import DEFAULT_OPERATOR_GLN
from ledger.chain.transactor import Transactor, anvil_dev_key
from ledger.epcis.event_hash import event_hash
from ledger.pipeline.anchoring import AnchorWorker
from ledger.proofs.capture import event_leaf
from ledger.proofs.merkle import keccak256, verify_proof
from ledger.proofs.signing import (
    CaptureDomain,
    build_signed_capture,
    prepare_capture,
    sign_capture,
)
from ledger.store.store import Store

pytestmark = pytest.mark.chain

DOMAIN = CaptureDomain(chain_id=31337, verifying_contract="0x" + "22" * 20)
SIGNER = bytes.fromhex(anvil_dev_key(2)[2:])
ORG = keccak256(b"org:anchoring-tests")
ROOT_ANCHORED = "0x" + keccak256(b"RootAnchored(bytes32,uint32,bytes32,address)").hex()


def capture(n: int, nonce: int, tag: str = "a"):
    events = [{"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "shipping",
               "eventTime": "2024-05-01T08:00:00.000Z", "eventTimeZoneOffset": "+00:00",
               "epcList": [f"urn:epc:id:sgtin:0614141.107346.{tag}{nonce}x{i}"]}
              for i in range(n)]
    ids = [event_hash(e) for e in events]
    seed, _, root = prepare_capture(events, ids)
    sig = sign_capture(SIGNER, DOMAIN, root, n, ORG, nonce, 1_700_000_000)
    return build_signed_capture(events, None, ids, sig, DOMAIN, seed=seed)


@pytest.fixture(scope="module")
def chain(w3, deployment) -> Chain:
    return Chain(w3, deployment)


@pytest.fixture(scope="module")
def anchorer(w3, chain: Chain) -> Transactor:
    """A fresh key of the operator organisation (which holds ANCHORER), so the worker never
    shares an account, and so a nonce, with other tests' transactors."""
    account = Account.create()
    w3.provider.make_request("anvil_setBalance", [account.address, hex(10**21)])
    operator = Transactor(w3, Account.from_key(anvil_dev_key(0)))
    chain.add_key(operator, DEFAULT_OPERATOR_GLN, account.address)
    return Transactor(w3, account)


@pytest.fixture
def sqlite_store(tmp_path) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'anchor.db'}")
    s.migrate()
    yield s
    s.close()


def assert_anchored_on_chain(store: Store, chain: Chain, caps) -> None:
    for cap in caps:
        for eid, commitment in zip(cap.event_ids, cap.commitments, strict=True):
            st = store.anchor_status(eid)
            assert st is not None and st.state == "anchored", eid.hex()
            assert st.commitment == commitment
            assert verify_proof(st.events_root, event_leaf(commitment), st.event_proof)
            assert st.capture_leaf == cap.leaf
            assert chain.verify_anchored(st.batch_root, st.capture_leaf, st.capture_proof)
            on_chain = chain.anchor_of(st.batch_root)
            assert on_chain is not None and on_chain.block_number == st.block_number


def root_anchored_count(chain: Chain, root: bytes) -> int:
    return len(chain.w3.eth.get_logs({"address": chain.trace_anchor.address, "fromBlock": 0,
                                      "topics": [ROOT_ANCHORED, "0x" + root.hex()]}))


def test_worker_anchors_every_pending_capture_in_batches(store: Store, chain: Chain,
                                                        anchorer: Transactor) -> None:
    caps = [capture(n, nonce) for nonce, n in enumerate((3, 1, 5, 2, 4), start=1)]
    for cap in caps:
        store.accept_capture(cap)
    worker = AnchorWorker(store, chain, anchorer, batch_size=2, in_flight=2)
    stats = worker.run(once=True)
    assert (stats.batches, stats.captures, stats.events) == (3, 5, 15)
    assert store.pending_count() == (0, 0)
    assert_anchored_on_chain(store, chain, caps)
    batches = store.batches()
    assert [b.leaf_count for b in batches] == [2, 2, 1]
    assert all(root_anchored_count(chain, b.root) == 1 for b in batches)
    # Nothing left: another run sends nothing.
    nonce = chain.w3.eth.get_transaction_count(anchorer.address)
    assert worker.run(once=True).batches == 3
    assert chain.w3.eth.get_transaction_count(anchorer.address) == nonce


def test_root_already_on_chain_is_recognised_not_resent(sqlite_store: Store, chain: Chain,
                                                        anchorer: Transactor) -> None:
    cap = capture(4, 1, tag="b")
    sqlite_store.accept_capture(cap)
    batch = sqlite_store.build_batch(10)
    # As if the worker died right after sending: on chain, but the store only says 'built'.
    chain.anchor(anchorer, batch.root, batch.leaf_count, batch.meta_hash)
    nonce = chain.w3.eth.get_transaction_count(anchorer.address)
    worker = AnchorWorker(sqlite_store, chain, anchorer)
    stats = worker.run(once=True)
    assert stats.recovered == 1 and stats.batches == 1
    assert chain.w3.eth.get_transaction_count(anchorer.address) == nonce
    assert root_anchored_count(chain, batch.root) == 1
    assert_anchored_on_chain(sqlite_store, chain, [cap])


def test_dropped_transaction_is_sent_again(sqlite_store: Store, chain: Chain,
                                           anchorer: Transactor) -> None:
    cap = capture(2, 1, tag="c")
    sqlite_store.accept_capture(cap)
    batch = sqlite_store.build_batch(10)
    sqlite_store.mark_batch_sent(batch.id, b"\x99" * 32)  # a tx no node knows
    stats = AnchorWorker(sqlite_store, chain, anchorer).run(once=True)
    assert stats.resent == 1 and stats.batches == 1
    assert root_anchored_count(chain, batch.root) == 1
    assert_anchored_on_chain(sqlite_store, chain, [cap])


def test_batch_lost_by_the_chain_is_reopened_with_the_same_root(sqlite_store: Store, chain: Chain,
                                                               anchorer: Transactor) -> None:
    cap = capture(3, 1, tag="d")
    sqlite_store.accept_capture(cap)
    batch = sqlite_store.build_batch(10)
    head = chain.w3.eth.block_number
    # The store believes it anchored in the latest block, but the chain has no such root.
    sqlite_store.mark_batch_anchored(batch.id, tx_hash=b"\x01" * 32, block_number=head,
                                     block_hash=None, anchored_at=0)
    assert sqlite_store.anchor_status(cap.event_ids[0]).state == "anchored"
    stats = AnchorWorker(sqlite_store, chain, anchorer).run(once=True)
    assert stats.reopened == 1 and stats.batches == 1
    assert sqlite_store.batch(batch.id).root == batch.root
    assert_anchored_on_chain(sqlite_store, chain, [cap])


def test_a_second_worker_waits_for_the_leader(sqlite_store: Store, chain: Chain,
                                              anchorer: Transactor) -> None:
    from ledger.pipeline.anchoring import AnchorLeaderBusyError

    lease = sqlite_store.try_anchor_lease()
    try:
        with pytest.raises(AnchorLeaderBusyError):
            AnchorWorker(sqlite_store, chain, anchorer).run(once=True)
    finally:
        lease.release()
