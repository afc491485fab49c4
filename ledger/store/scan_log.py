"""Scans written off the request path: a buffered writer that commits many scans per
transaction, and reads that include this process's scans not yet written.

A scan used to be one write transaction inside the resolver request: under load, requests
queued on the store's write lock. Here `record` only appends to a buffer; a writer thread
commits the buffer every `flush_interval` seconds (default 0.05) or as soon as `max_batch`
scans wait, whichever comes first. So a scan is durable at most `flush_interval` plus one
commit after it was made; a crash loses at most that window of scans (never evidence: scans
feed the clone rules and the console, and every event and anchor is written elsewhere).
`close()` (and interpreter exit) writes what is left.

`history` reads the stored scans and adds those still buffered or being written by this
process, so a consumer's second scan sees the first at once. It reads the database at most
once per `max_staleness` seconds (default 1) per item and adds this process's later scans as
they are recorded: scans through another gateway process reach this one's answers within
`max_staleness` plus that process's flush interval.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, select
from sqlalchemy.engine import Engine

from ledger.proofs.bundle import ScanRecord
from ledger.store.tables import scans

__all__ = ["ScanLog", "scan_pseudonym"]

log = logging.getLogger("zhenzhi.scans")

# Built once: a resolver reads an item's history on most scans of a code not scanned in the
# last `max_staleness`, and building the statement cost more than running it on SQLite.
_HISTORY = (select(scans.c.scanned_ms, scans.c.region, scans.c.client_hash)
            .where(scans.c.gtin == bindparam("gtin"), scans.c.serial == bindparam("serial"))
            .order_by(scans.c.scanned_ms.desc()).limit(bindparam("limit")))


@dataclass(frozen=True, slots=True)
class _Scan:
    gtin: str
    serial: str
    scanned_ms: int
    region: str | None
    client_hash: bytes
    verdict: str | None

    def row(self) -> dict[str, object]:
        return {"gtin": self.gtin, "serial": self.serial, "scanned_ms": self.scanned_ms,
                "region": self.region, "client_hash": self.client_hash, "verdict": self.verdict}


class ScanLog:
    """Buffered scan writes and read-your-writes scan history for one store."""

    def __init__(self, engine: Engine, *, flush_interval: float = 0.05, max_batch: int = 512,
                 max_buffer: int = 100_000, max_staleness: float = 1.0, limit: int = 500,
                 max_items: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.flush_interval = flush_interval
        self.max_batch = max_batch
        self.max_buffer = max_buffer
        self.max_staleness = max_staleness
        self.limit = limit
        self.max_items = max_items
        self._clock = clock
        # item → (when read from the database, rows (ms, region, client hash) oldest first)
        self._recent: dict[tuple[str, str], tuple[float, list[tuple[int, str | None, bytes | None]]]] = {}
        self._cond = threading.Condition()
        self._buffer: list[_Scan] = []
        self._writing: list[_Scan] = []  # taken from the buffer, commit not yet confirmed
        # The same scans by item: a history read takes an item's pending scans without
        # walking the whole buffer (hundreds of scans at a few thousand a second).
        self._buffer_by_item: dict[tuple[str, str], list[_Scan]] = {}
        self._writing_by_item: dict[tuple[str, str], list[_Scan]] = {}
        self._closed = False
        self._flushing = 0  # flush() calls waiting
        # The history read as the driver's own SQL, run on a raw pooled connection: for one
        # indexed read SQLAlchemy's connection and result bookkeeping cost ~85 µs of the
        # ~100 µs a read took (SQLite), and a resolver makes it on most scans of a code.
        compiled = _HISTORY.compile(dialect=engine.dialect)
        self._history_sql = str(compiled)
        self._history_defaults = dict(compiled.params)
        self._history_order: tuple[str, ...] | None = (
            tuple(compiled.positiontup) if compiled.positiontup else None)
        self._thread = threading.Thread(target=self._run, name="zhenzhi-scan-writer", daemon=True)
        self._thread.start()
        # A daemon thread dies with the interpreter: write the tail first.
        ref = weakref.ref(self)
        atexit.register(lambda: (s := ref()) is not None and s.close())

    def record(self, gtin: str, serial: str, *, region: str | None, client_hash: bytes,
               verdict: str | None = None, now_ms: int | None = None) -> None:
        scan = _Scan(gtin, serial, now_ms or int(time.time() * 1000), region, client_hash, verdict)
        with self._cond:
            if self._closed:
                raise RuntimeError("the scan log is closed")
            cached = self._recent.get((gtin, serial))
            if cached is not None:
                cached[1].append((scan.scanned_ms, scan.region, scan.client_hash))
            if len(self._buffer) < self.max_buffer:
                self._buffer.append(scan)
                self._buffer_by_item.setdefault((gtin, serial), []).append(scan)
                # No wake-up per scan (it costs the request a thread switch): the writer looks
                # every interval, and is woken only for a full batch.
                if len(self._buffer) >= self.max_batch:
                    self._cond.notify()
                return
        # The database is not keeping up (or is down): write this one in the caller's time
        # rather than let the buffer grow without bound.
        self._write([scan])

    def cached_history(self, gtin: str, serial: str) -> list[ScanRecord] | None:
        """The item's history if this process read it less than `max_staleness` ago (no I/O),
        else None."""
        hit = self._recent.get((gtin, serial))
        if hit is None or self._clock() - hit[0] >= self.max_staleness:
            return None
        return _records(hit[1], self.limit, gtin, serial)

    def history(self, gtin: str, serial: str) -> list[ScanRecord]:
        """The latest `limit` scans of the item, oldest first, with this process's unwritten
        ones. Read from the database at most every `max_staleness` seconds per item; scans
        made through this process in between are added as they are recorded."""
        cached = self.cached_history(gtin, serial)
        if cached is not None:
            return cached
        with self._cond:
            mine = [*self._writing_by_item.get((gtin, serial), ()),
                    *self._buffer_by_item.get((gtin, serial), ())]
        loaded_at = self._clock()
        rows = [(int(ms), region, bytes(h) if h is not None else None)
                for ms, region, h in self._read_history(gtin, serial)]
        rows.reverse()
        # A batch may have committed between taking `mine` and the read: the rows it wrote
        # are then in both. Each stored row cancels one identical pending scan.
        stored = Counter(rows)
        for s in mine:
            k = (s.scanned_ms, s.region, s.client_hash)
            if stored[k] > 0:
                stored[k] -= 1
            else:
                rows.append(k)
        rows.sort(key=lambda r: r[0])
        with self._cond:
            # Scans recorded from here on are appended by `record` (under this lock), so none
            # falls between the read and the cache. Bounded: a scan history, not a log.
            if len(self._recent) >= self.max_items:
                self._recent.clear()
            self._recent[(gtin, serial)] = (loaded_at, rows[-self.limit:])
        return _records(rows, self.limit, gtin, serial)

    def _read_history(self, gtin: str, serial: str) -> list[tuple[object, ...]]:
        values = {**self._history_defaults, "gtin": gtin, "serial": serial, "limit": self.limit}
        params: object = (values if self._history_order is None
                          else tuple(values[k] for k in self._history_order))
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            try:
                cur.execute(self._history_sql, params)
                return cur.fetchall()
            finally:
                cur.close()
        finally:
            raw.close()  # back to the pool, which rolls back what a driver opened

    def flush(self) -> None:
        """Write everything recorded so far (tests, shutdown)."""
        with self._cond:
            self._flushing += 1  # the writer stops gathering a batch while this waits
            try:
                while self._buffer or self._writing:
                    self._cond.notify_all()
                    self._cond.wait(0.05)
            finally:
                self._flushing -= 1

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=30)

    # --- writer thread ----------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                # Let a batch gather, but never hold a scan longer than the interval.
                deadline = time.monotonic() + self.flush_interval
                while (len(self._buffer) < self.max_batch and not self._closed
                       and not self._flushing):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                batch, self._buffer = self._buffer, []
                self._writing = batch
                self._writing_by_item, self._buffer_by_item = self._buffer_by_item, {}
                closed = self._closed
            if batch:
                try:
                    self._write(batch)
                except Exception:  # noqa: BLE001 - keep the scans and the thread; retry next round
                    log.exception("writing %d scans failed; retrying", len(batch))
                    with self._cond:
                        self._buffer = batch + self._buffer
                        self._writing = []
                        self._writing_by_item = {}
                        self._buffer_by_item = _by_item(self._buffer)
                    if closed:
                        return
                    time.sleep(self.flush_interval)
                    continue
            with self._cond:
                self._writing = []
                self._writing_by_item = {}
                self._cond.notify_all()
                if closed and not self._buffer:
                    return

    def _write(self, batch: list[_Scan]) -> None:
        with self.engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                conn.execute(insert(scans), [s.row() for s in batch])


def _by_item(pending: list[_Scan]) -> dict[tuple[str, str], list[_Scan]]:
    out: dict[tuple[str, str], list[_Scan]] = {}
    for s in pending:
        out.setdefault((s.gtin, s.serial), []).append(s)
    return out


def scan_pseudonym(client_hash: bytes, gtin: str, serial: str) -> str:
    """The client as a bundle shows it: stable for one item (the clone rules count distinct
    clients), unlinkable across items (a public bundle must not let anyone follow a phone)."""
    return hashlib.sha256(client_hash + f"\0{gtin}\0{serial}".encode()).hexdigest()[:16]


def _records(rows: list[tuple[int, str | None, bytes | None]], limit: int, gtin: str,
             serial: str) -> list[ScanRecord]:
    return [ScanRecord(ms // 1000, region or "unknown",
                       scan_pseudonym(h, gtin, serial) if h is not None else None)
            for ms, region, h in rows[-limit:]]
