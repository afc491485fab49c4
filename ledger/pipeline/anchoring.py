"""The anchoring worker: outbox ▶ batch ▶ Merkle root ▶ `TraceAnchor.anchor()` ▶ proofs.

At-least-once and idempotent. Each step is durable before the next one starts:

1. **build** (one DB transaction): the oldest pending captures become a batch; its root, the
   ordered capture ids and each capture's proof are written, state `built`. A capture enters
   one batch only, so a root is fixed before anything is sent.
2. **send**: `anchor(root, leafCount, metaHash)` signed locally by the worker's `Transactor`
   (its own nonce; several batches in flight); the tx hash is recorded (`sent`).
3. **finish** after the receipt (one DB transaction): block, tx and time on the batch, outbox
   rows deleted, state `anchored`. Readers see the events anchored from this commit on.

**Finality.** With `confirmations` N > 0 (a chain with probabilistic finality), a batch whose
root is on chain stays `sent` until its block has N blocks on top; each step re-checks those
batches: confirmed ⇒ finished; gone (a reorganisation dropped the block and its transaction)
⇒ sent again with the same root, from a freshly read nonce. N = 0 (QBFT/IBFT, instant finality)
finishes at the receipt. A reorganisation that replaces blocks without lowering the head is
seen by the block hash at the last head height changing, and triggers recovery as well.

Recovery (at start and after any chain or database error) asks the chain, not the log: for every
batch not `anchored`, `anchorOf(root)`; anchored ⇒ finish from the `RootAnchored` log; not
anchored ⇒ wait for the recorded tx if the node still has it, else send the same root again (a
dropped tx, a chain that restarted without it). TraceAnchor refuses a root twice
(`TraceAnchorAlreadyAnchored`), so no interleaving of crashes anchors anything twice. Batches
marked anchored in the last `reorg_depth` blocks are re-checked too: a chain that restarted from
an older state (anvil's state file lags up to a second) may have lost them; they are reopened
and sent again with the same root, so every proof already handed out stays valid.

Fault injection (tests only, off by default): `fault="before_send" | "after_send" |
"after_receipt"` makes the worker SIGKILL its own process at that point, the first time it is
reached. The CLI sets it from `ZHENZHI_FAULT`; library callers never get it implicitly.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    TransactionNotFound,
    Web3Exception,
)

from ledger.chain.client import Chain, ContractRevertError
from ledger.chain.logs import paged_logs
from ledger.chain.transactor import TransactionFailedError, Transactor
from ledger.errors import ConflictError, InvalidInputError, LedgerError
from ledger.proofs.merkle import keccak256
from ledger.store.store import BatchRecord, Store

__all__ = ["FAULT_POINTS", "AnchorLeaderBusyError", "AnchorStats", "AnchorWorker"]

log = logging.getLogger("zhenzhi.anchoring")

FAULT_POINTS = ("before_send", "after_send", "after_receipt")
_ROOT_ANCHORED = keccak256(b"RootAnchored(bytes32,uint32,bytes32,address)")

# What a worker survives by backing off and recovering; anything else is a bug and propagates.
_TRANSIENT = (LedgerError, OSError, Web3Exception, SQLAlchemyError, TimeoutError)


class AnchorLeaderBusyError(ConflictError):
    slug = "anchor-leader-busy"
    title = "Another anchoring worker is running"


@dataclass
class AnchorStats:
    batches: int = 0
    captures: int = 0
    events: int = 0
    resent: int = 0
    recovered: int = 0
    reopened: int = 0
    errors: int = 0


class AnchorWorker:
    """Anchors the store's pending captures on TraceAnchor.

    `batch_size` caps the captures in a batch (leaves of its tree); a batch is cut when that
    many are waiting or the oldest has waited `window` seconds. Up to `in_flight` batches are
    sent before their receipts are awaited."""

    def __init__(self, store: Store, chain: Chain, transactor: Transactor, *,
                 batch_size: int = 1024, window: float = 2.0, in_flight: int = 4,
                 poll: float = 0.2, max_backoff: float = 10.0, reorg_depth: int = 64,
                 confirmations: int = 0, fault: str | None = None,
                 sleep: Callable[[float], Any] = time.sleep) -> None:
        if batch_size < 1 or in_flight < 1:
            raise InvalidInputError("batch_size and in_flight must be at least 1")
        if not 0 <= confirmations <= reorg_depth:
            raise InvalidInputError("confirmations must be between 0 and reorg_depth",
                                    confirmations=confirmations, reorg_depth=reorg_depth)
        if fault is not None and fault not in FAULT_POINTS:
            raise InvalidInputError(f"unknown fault point {fault!r}", allowed=list(FAULT_POINTS))
        self.store = store
        self.chain = chain
        self.tx = transactor
        self.batch_size = batch_size
        self.window = window
        self.in_flight = in_flight
        self.poll = poll
        self.max_backoff = max_backoff
        self.reorg_depth = reorg_depth
        self.confirmations = confirmations
        self.fault = fault
        self.sleep = sleep
        self.stats = AnchorStats()
        self._head = 0
        self._head_hash: bytes | None = None

    # -- the loop ------------------------------------------------------------------------------

    def run(self, *, once: bool = False, stop: threading.Event | None = None) -> AnchorStats:
        """Lead and anchor until `stop` is set; with `once`, until nothing is pending (every
        capture accepted before the call is anchored), ignoring the time window."""
        stop = stop or threading.Event()
        lease = self.store.try_anchor_lease()
        while lease is None:
            if once:
                raise AnchorLeaderBusyError("another anchoring worker holds the leader lock")
            if stop.wait(self.poll * 5):
                return self.stats
            lease = self.store.try_anchor_lease()
        try:
            backoff = 0.0
            recovered = False
            while not stop.is_set():
                try:
                    if not recovered or self._chain_went_back():
                        self.tx.reset_nonce()
                        self.recover()
                        recovered = True
                    done = self.step(flush=once)
                    backoff = 0.0
                except _TRANSIENT as exc:
                    # The chain restarted, a tx was dropped, the database was busy: start again
                    # from what the chain and the store say, after a growing pause.
                    self.stats.errors += 1
                    backoff = min(self.max_backoff, backoff * 2 or 0.2)
                    log.warning("anchoring failed (%s); recovering in %.1fs", exc, backoff)
                    self.tx.reset_nonce()
                    recovered = False
                    if stop.wait(backoff):
                        break
                    continue
                if once and not done and self._idle():
                    break
                if not done:
                    stop.wait(self.poll)
        finally:
            lease.release()
        return self.stats

    def _chain_went_back(self) -> bool:
        """True if the chain's head is below the last one seen (it restarted from an older
        state), or the block at the last head's height is another one (it reorganised):
        perhaps without batches the store holds as anchored or sent."""
        latest = self.chain.w3.eth.get_block("latest")
        head, head_hash = int(latest["number"]), bytes(latest["hash"])
        went_back = head < self._head
        if went_back:
            log.warning("chain head went back from %d to %d; recovering", self._head, head)
        elif self._head_hash is not None and head > self._head:
            seen = bytes(self.chain.w3.eth.get_block(self._head)["hash"])
            if seen != self._head_hash:
                log.warning("block %d was replaced (reorganisation); recovering", self._head)
                went_back = True
        elif self._head_hash is not None and head == self._head and head_hash != self._head_hash:
            log.warning("block %d was replaced (reorganisation); recovering", head)
            went_back = True
        self._head, self._head_hash = head, head_hash
        return went_back

    def _idle(self) -> bool:
        return self.store.pending_count()[0] == 0 and not self.store.open_batches()

    def step(self, *, flush: bool = False) -> int:
        """Cut up to `in_flight` batches, send them all, then finish each; returns the number
        of captures anchored."""
        batches: list[BatchRecord] = []
        while len(batches) < self.in_flight and self._due(flush):
            batch = self.store.build_batch(self.batch_size)
            if batch is None:
                break
            batches.append(batch)
        sent = [(b, self._send(b)) for b in batches]
        done = 0
        for batch, tx_hash in sent:
            done += self._settle(batch, tx_hash)
        if self.confirmations:
            done += self._confirm({b.id for b in batches})
        return done

    def _confirm(self, skip: set[int]) -> int:
        """Finish the sent batches whose anchor now has enough blocks on top; send again those
        whose transaction a reorganisation dropped."""
        done = 0
        for batch in self.store.open_batches():
            if batch.id in skip or batch.state != "sent":
                continue
            if self.chain.anchor_of(batch.root) is not None:
                done += self._finish_from_chain(batch)
            elif batch.tx_hash is None or not self._still_pending(batch.tx_hash):
                log.warning("batch %d (root 0x%s) left the chain before it was final; "
                            "sending it again", batch.id, batch.root.hex())
                self.tx.reset_nonce()
                done += self._settle(batch, self._send(batch))
        return done

    def _due(self, flush: bool) -> bool:
        waiting = self.store.unbatched_count()
        if waiting == 0:
            return False
        if flush or waiting >= self.batch_size:
            return True
        oldest = self.store.oldest_pending_ms()
        return oldest is not None and time.time() * 1000 - oldest >= self.window * 1000

    # -- one batch -----------------------------------------------------------------------------

    def _send(self, batch: BatchRecord) -> bytes | None:
        """Send `anchor(root)`; None if the chain already holds the root (nothing sent)."""
        self._fault_point("before_send")
        call = self.chain.trace_anchor.functions.anchor(batch.root, batch.leaf_count,
                                                        batch.meta_hash)
        try:
            tx = self.tx.build(call)  # estimates gas: reverts here if the root is anchored
        except (ContractCustomError, ContractLogicError) as exc:
            err = self.chain.revert_error("TraceAnchor", exc)
            if isinstance(err, ContractRevertError) and err.error == "TraceAnchorAlreadyAnchored":
                return None
            raise err from None
        tx_hash = self.tx.sign_and_send(tx)
        self._fault_point("after_send")
        self.store.mark_batch_sent(batch.id, tx_hash)
        if batch.send_count:
            self.stats.resent += 1
        return tx_hash

    def _settle(self, batch: BatchRecord, tx_hash: bytes | None) -> int:
        if tx_hash is not None:
            try:
                self.tx.wait(tx_hash)
            except TransactionFailedError:
                # Reverted on chain: most likely another send of the same root got there first.
                # The chain decides below.
                pass
        self._fault_point("after_receipt")
        return self._finish_from_chain(batch)

    def _finish_from_chain(self, batch: BatchRecord) -> int:
        """Write the batch as anchored from what the chain holds; 0 if it holds nothing, or
        holds it in a block with fewer than `confirmations` blocks on top (not final yet)."""
        anchor = self.chain.anchor_of(batch.root)
        if anchor is None:
            return 0
        if self.confirmations and \
                int(self.chain.w3.eth.block_number) - anchor.block_number < self.confirmations:
            return 0
        if anchor.leaf_count != batch.leaf_count:
            raise ConflictError("the chain anchored this root with another leaf count",
                                root="0x" + batch.root.hex(), chain=anchor.leaf_count,
                                store=batch.leaf_count)
        tx_hash, block_hash = self._anchoring_tx(batch.root, anchor.block_number)
        if anchor.block_number >= self._head:
            # Watch the anchoring block itself: replacing it is a reorganisation to recover from.
            self._head, self._head_hash = anchor.block_number, block_hash
        self.store.mark_batch_anchored(batch.id, tx_hash=tx_hash,
                                       block_number=anchor.block_number, block_hash=block_hash,
                                       anchored_at=anchor.anchored_at)
        self.stats.batches += 1
        self.stats.captures += batch.leaf_count
        self.stats.events += batch.event_count
        log.info("anchored batch %d: %d captures, %d events, block %d", batch.id,
                 batch.leaf_count, batch.event_count, anchor.block_number)
        return batch.leaf_count

    def _anchoring_tx(self, root: bytes, block: int) -> tuple[bytes, bytes]:
        logs = list(paged_logs(self.chain.w3, {
            "address": self.chain.trace_anchor.address,
            "topics": ["0x" + _ROOT_ANCHORED.hex(), "0x" + root.hex()]}, block, block))
        if not logs:
            raise LedgerError("anchorOf names a block without its RootAnchored log",
                              root="0x" + root.hex(), block=block)
        return bytes(logs[0]["transactionHash"]), bytes(logs[0]["blockHash"])

    # -- recovery ------------------------------------------------------------------------------

    def recover(self) -> int:
        """Reconcile the store with the chain; returns the captures it finished or re-sent."""
        latest = self.chain.w3.eth.get_block("latest")
        head = self._head = int(latest["number"])
        self._head_hash = bytes(latest["hash"])
        for batch in self.store.batches_anchored_since(max(0, head - self.reorg_depth)):
            anchor = self.chain.anchor_of(batch.root)
            if anchor is None:
                log.warning("batch %d (root 0x%s) is no longer on chain; reopening", batch.id,
                            batch.root.hex())
                self.store.reopen_batch(batch.id)
                self.stats.reopened += 1
            elif anchor.block_number != batch.block_number:
                # Re-included in another block by a reorganisation: record where it is now.
                self._finish_from_chain(batch)
        handled = 0
        pending: list[tuple[BatchRecord, bytes | None]] = []
        for batch in self.store.open_batches():
            if self.chain.anchor_of(batch.root) is not None:
                handled += self._finish_from_chain(batch)
                self.stats.recovered += 1
                continue
            if batch.tx_hash is not None and self._still_pending(batch.tx_hash):
                pending.append((batch, batch.tx_hash))
                continue
            pending.append((batch, self._send(batch)))
        for batch, tx_hash in pending:
            handled += self._settle(batch, tx_hash)
        return handled

    def _still_pending(self, tx_hash: bytes) -> bool:
        try:
            self.chain.w3.eth.get_transaction(tx_hash)
        except TransactionNotFound:
            return False
        return True

    def _fault_point(self, point: str) -> None:
        if self.fault == point:
            log.warning("fault injection: SIGKILL at %s", point)
            logging.shutdown()
            os.kill(os.getpid(), signal.SIGKILL)
