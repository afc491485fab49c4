"""Group commit for captures: many concurrent requests, one database transaction.

A commit costs about the same for one capture as for fifty (SQLite appends the WAL once; a
PostgreSQL round trip and flush once), so under load the per-capture price of a commit is what
limits capture rate. `CaptureCommitter` owns one writer thread. Callers `submit()` a checked
capture and get a `concurrent.futures.Future`; the thread takes every capture waiting at that
moment (up to `max_group`), hands them to `Store.accept_captures` and only then settles each
future, with that capture's own result or error.

So nothing is acknowledged before it is committed: a future resolves after the transaction that
holds its capture has committed, and never if the process dies first. There is no timer: an
idle committer commits a lone capture at once, and groups form only from captures that arrive
while the previous group is being written, which adds no latency that waiting for the lock
would not have added anyway.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Collection
from concurrent.futures import Future
from typing import Any

from ledger.errors import LedgerError
from ledger.proofs.capture import SignedCapture
from ledger.store.store import PreparedCapture

__all__ = ["CaptureCommitter", "CommitterClosedError"]

log = logging.getLogger("zhenzhi.committer")

_STOP = object()


class CommitterClosedError(LedgerError):
    slug = "capture-committer-closed"
    title = "The gateway is shutting down"
    status = 503


class CaptureCommitter:
    """`committer.submit(capture, keep).result()` is `store.accept_capture(capture, keep=keep)`,
    committed together with whatever other captures were waiting."""

    def __init__(self, store: Any, *, max_group: int = 256, name: str = "capture-committer"
                 ) -> None:
        self.store = store
        self.max_group = max_group
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self.groups = 0  # committed transactions, for the benchmarks and tests
        self.captures = 0
        self._submitted = 0
        self._settled = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, capture: SignedCapture | PreparedCapture,
               keep: Collection[int] | None = None) -> Future[Any]:
        """Queue a capture (or a `prepare_capture` result, whose `keep` is already applied)."""
        future: Future[Any] = Future()
        with self._lock:
            if self._closed:
                raise CommitterClosedError("the capture committer is closed")
            self._queue.put((capture, keep, future))
            self._submitted += 1
        return future

    @property
    def pending(self) -> int:
        """Captures submitted and not yet settled (queued, or in the group being written)."""
        return self._submitted - self._settled

    def close(self, timeout: float = 30.0) -> None:
        """Commit everything already submitted, then stop the writer thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join(timeout)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            group = [first]
            while len(group) < self.max_group:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True  # commit this last group first
                    break
                group.append(item)
            self._commit(group)

    def _commit(self, group: list[tuple[SignedCapture, Any, Future[Any]]]) -> None:
        try:
            self._commit_group(group)
        finally:
            self._settled += len(group)

    def _commit_group(self, group: list[tuple[SignedCapture, Any, Future[Any]]]) -> None:
        live = [g for g in group if g[2].set_running_or_notify_cancel()]
        try:
            outcomes = self.store.accept_captures([(c, keep) for c, keep, _f in live])
        except Exception:  # noqa: BLE001 - split the group: one capture's fault is its own
            # The store reports each capture's own error as its outcome; should the group
            # fail anyway, no member pays for another's capture: each is committed alone and
            # hears only its own outcome.
            log.exception("group commit of %d captures failed; committing each alone",
                          len(live))
            outcomes = [self._accept_alone(c, keep) for c, keep, _f in live]
        except BaseException as exc:  # noqa: BLE001 - every waiting caller must hear of it
            log.exception("group commit of %d captures failed", len(live))
            for _c, _k, future in live:
                future.set_exception(exc)
            return
        self.groups += 1
        self.captures += len(live)
        for (_c, _k, future), outcome in zip(live, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    def _accept_alone(self, capture: Any, keep: Any) -> Any:
        try:
            (outcome,) = self.store.accept_captures([(capture, keep)])
        except Exception as exc:  # noqa: BLE001 - this capture's outcome
            return exc
        return outcome
