"""Large capture documents checked in worker processes, so a gateway uses more than one core.

One gateway process runs Python on one core at a time (the GIL). For a 500-event document the
checks and the row building (parse, schema, 500 event hashes, the Merkle root, signature
recovery, role checks, indexed columns and EPCs) are pure CPU, about two thirds of what the
capture costs; only the SQLite writes release the GIL. `IntakePool` runs exactly
`Intake.check` and `ledger.store.prepare_capture` in spawned worker processes, each with its own
chain view (the same per-block cache and staleness bound as the gateway's), and hands back the
checked capture and its prepared rows, which the gateway then commits through its committer as
before. Nothing is stored in a worker; the 202 still waits for the gateway's own commit.

Errors come back as the same `LedgerError` (class, detail and fields): a pickled exception
would lose its fields, so they travel as data and are rebuilt here.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from ledger.errors import LedgerError

__all__ = ["IntakePool"]

log = logging.getLogger("zhenzhi.intake_pool")

_intake: Any = None  # the worker process's own Intake, made by `_start` (never in the parent)


def _start(rpc_url: str, manifest: str, max_bytes: int, max_events: int) -> None:
    global _intake  # noqa: PLW0603 - one per worker process, set by its initializer
    from web3 import Web3

    from ledger.chain_view import ChainView
    from ledger.deployment import Deployment
    from ledger.intake import Intake

    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
    view = ChainView(w3, Deployment.load(Path(manifest)))
    # No store: a worker only checks. `submit` is never called here.
    _intake = Intake(None, view, view.domain, max_bytes=max_bytes,  # type: ignore[arg-type]
                     max_events=max_events)


def _check(document: bytes, headers: Mapping[str, str], behaviour: str) -> tuple[Any, ...]:
    from ledger.store import prepare_capture

    try:
        checked = _intake.check(document, headers, behaviour=behaviour)
        return ("ok", checked, prepare_capture(checked.capture, checked.keep))
    except LedgerError as exc:
        return ("error", type(exc), exc.detail, exc.fields)


def _ready() -> bool:
    return _intake is not None


class IntakePool:
    """`await asyncio.wrap_future(pool.check(body, headers, "rollback"))` → `(checked,
    prepared)`, or the `LedgerError` `Intake.check` would have raised."""

    def __init__(self, rpc_url: str, manifest: Path, *, max_bytes: int, max_events: int,
                 processes: int = 2) -> None:
        # spawn, not fork: the parent already runs threads (committer, checkpoints, uvicorn)
        # and a forked child would inherit their locks in whatever state they were.
        self._pool = ProcessPoolExecutor(
            processes, mp_context=multiprocessing.get_context("spawn"), initializer=_start,
            initargs=(rpc_url, str(manifest), max_bytes, max_events))
        self.broken = False  # a worker died: callers check in-process instead
        # Start the workers now (imports take seconds), not on the first large capture.
        self._warm = [self._pool.submit(_ready) for _ in range(processes)]

    def check(self, document: bytes, headers: Mapping[str, str], behaviour: str
              ) -> Future[tuple[Any, Any]]:
        out: Future[tuple[Any, Any]] = Future()
        try:
            inner = self._pool.submit(_check, document, dict(headers), behaviour)
        except BrokenProcessPool as exc:
            self.broken = True
            out.set_exception(exc)
            return out

        def settle(done: Future[tuple[Any, ...]]) -> None:
            try:
                result = done.result()
            except BaseException as exc:  # noqa: BLE001 - the caller decides what it means
                if isinstance(exc, BrokenProcessPool):
                    log.error("intake pool broken (%s); large captures are checked in the "
                              "gateway process from now on", exc)
                    self.broken = True
                out.set_exception(exc)
                return
            if result[0] == "ok":
                out.set_result((result[1], result[2]))
            else:
                cls, detail, fields = result[1:]
                out.set_exception(cls(detail, **fields))

        inner.add_done_callback(settle)
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
