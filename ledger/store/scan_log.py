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

On SQLite a follower keeps the kept histories current instead, so a history is read from the
database once per item, not once per `max_staleness`: every `max_staleness / 2` it reads the
scans written since its last read (`id > cursor`, one indexed range for all items) and
appends to each kept history the rows it has not seen. A kept history records the highest id
it holds (rows up to it came with its own read) and counts this process's scans it added but
has not yet seen stored (those come back through the follower and are skipped once each).
A kept history is then as fresh as the follower's last read. This relies on SQLite giving
ids in commit order (one writer at a time; scans are never deleted); PostgreSQL assigns ids
at insert and shows them at commit, out of order, so there every history is re-read after
`max_staleness` as before.
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
from typing import Any

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.engine import Engine

from ledger.proofs.bundle import ScanRecord
from ledger.store.tables import scans

__all__ = ["ScanLog", "scan_pseudonym"]

log = logging.getLogger("zhenzhi.scans")

# Built once: a resolver reads an item's history on most scans of a code not scanned in the
# last `max_staleness`, and building the statement cost more than running it on SQLite.
_HISTORY = (select(scans.c.id, scans.c.scanned_ms, scans.c.region, scans.c.client_hash)
            .where(scans.c.gtin == bindparam("gtin"), scans.c.serial == bindparam("serial"))
            .order_by(scans.c.scanned_ms.desc()).limit(bindparam("limit")))
_SINCE = (select(scans.c.id, scans.c.gtin, scans.c.serial, scans.c.scanned_ms, scans.c.region,
                 scans.c.client_hash)
          .where(scans.c.id > bindparam("cursor")).order_by(scans.c.id).limit(bindparam("batch")))
_TOP = select(func.max(scans.c.id))

_Row = tuple[int, str | None, bytes | None]  # (scanned ms, region, client hash)


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


@dataclass(slots=True)
class _Kept:
    """One item's history as this process holds it."""
    loaded_at: float  # clock when read from the database
    rows: list[_Row]  # oldest first
    max_id: int  # the highest stored id among the rows read (rows up to it are in `rows`)
    own: Counter[_Row]  # this process's scans added here, not yet seen by the follower


class ScanLog:
    """Buffered scan writes and read-your-writes scan history for one store."""

    def __init__(self, engine: Engine, *, flush_interval: float = 0.05, max_batch: int = 512,
                 max_buffer: int = 100_000, max_staleness: float = 1.0, limit: int = 500,
                 max_items: int = 100_000, clock: Callable[[], float] = time.monotonic,
                 follow: bool | None = None, follow_batch: int = 20_000) -> None:
        self.engine = engine
        self.flush_interval = flush_interval
        self.max_batch = max_batch
        self.max_buffer = max_buffer
        self.max_staleness = max_staleness
        self.limit = limit
        self.max_items = max_items
        self._clock = clock
        self._recent: dict[tuple[str, str], _Kept] = {}
        # The follower (see the module's docstring): None = by dialect, SQLite only.
        self._follow = (engine.dialect.name == "sqlite" if follow is None else follow) and max_staleness > 0
        self.follow_batch = follow_batch
        self._cursor = 0  # the highest scan id the follower has read
        self._followed_at = float("-inf")  # clock when its last complete read began
        self._follow_lock = threading.Lock()  # one follow() at a time
        self._stop = threading.Event()
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
        since = _SINCE.compile(dialect=engine.dialect)
        self._since_sql, self._since_defaults = str(since), dict(since.params)
        self._since_order = tuple(since.positiontup) if since.positiontup else None
        self._top_sql = str(_TOP.compile(dialect=engine.dialect))
        self._follower: threading.Thread | None = None
        if self._follow:
            # Where the follower starts, read before any history can be kept: every history
            # read later holds the scans up to here.
            top = self._raw(self._top_sql, {}, None)
            self._cursor = int(top[0][0] or 0)  # MAX over an empty table: NULL
            self._follower = threading.Thread(target=self._follow_loop, name="zhenzhi-scan-follower",
                                              daemon=True)
            self._follower.start()
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
            kept = self._recent.get((gtin, serial))
            if kept is not None:
                row = (scan.scanned_ms, scan.region, scan.client_hash)
                kept.rows.append(row)
                _trim(kept.rows, self.limit)
                if self._follow:
                    kept.own[row] += 1  # the follower will read it back: skip it once then
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
        if hit is None or self._clock() - max(hit.loaded_at, self._followed_at) >= self.max_staleness:
            return None
        return _records(hit.rows, self.limit, gtin, serial)

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
        read = self._read_history(gtin, serial)
        max_id = max((int(r[0]) for r in read), default=0)
        rows: list[_Row] = [(int(ms), region, bytes(h) if h is not None else None)
                            for _, ms, region, h in read]
        rows.reverse()
        # A batch may have committed between taking `mine` and the read: the rows it wrote
        # are then in both. Each stored row cancels one identical pending scan; the others
        # are still to be stored, and the follower will read them back once.
        stored = Counter(rows)
        own: Counter[_Row] = Counter()
        for s in mine:
            k = (s.scanned_ms, s.region, s.client_hash)
            if stored[k] > 0:
                stored[k] -= 1
            else:
                rows.append(k)
                own[k] += 1
        rows.sort(key=lambda r: r[0])
        with self._cond:
            # Scans recorded from here on are appended by `record` (under this lock); one
            # recorded between taking `mine` and here is stored either before the read (and
            # is in it) or after (and the follower, or the next read, brings it). Bounded: a
            # scan history, not a log.
            if len(self._recent) >= self.max_items:
                self._recent.clear()
            self._recent[(gtin, serial)] = _Kept(loaded_at, rows[-self.limit:], max_id,
                                                  own if self._follow else Counter())
        return _records(rows, self.limit, gtin, serial)

    def _read_history(self, gtin: str, serial: str) -> list[tuple[Any, ...]]:
        values = {**self._history_defaults, "gtin": gtin, "serial": serial, "limit": self.limit}
        return self._raw(self._history_sql, values, self._history_order)

    def _raw(self, sql: str, values: dict[str, object],
             order: tuple[str, ...] | None) -> list[tuple[Any, ...]]:
        params: Any = values if order is None else tuple(values[k] for k in order)
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            try:
                cur.execute(sql, params)
                return list(cur.fetchall())
            finally:
                cur.close()
        finally:
            raw.close()  # back to the pool, which rolls back what a driver opened

    # --- follower ---------------------------------------------------------------------------

    def follow(self) -> int:
        """Bring every kept history up to the scans stored so far; the number of stored scans
        read. The follower thread calls it every `max_staleness / 2`; tests call it directly."""
        if not self._follow:
            return 0
        with self._follow_lock:
            began = self._clock()
            read = 0
            while True:
                values = {**self._since_defaults, "cursor": self._cursor, "batch": self.follow_batch}
                batch = self._raw(self._since_sql, values, self._since_order)
                if batch:
                    self._apply(batch)
                    self._cursor = int(batch[-1][0])
                    read += len(batch)
                if len(batch) < self.follow_batch:
                    break
            self._followed_at = began
            return read

    def _apply(self, batch: list[tuple[Any, ...]]) -> None:
        unordered: dict[int, _Kept] = {}
        with self._cond:
            recent = self._recent
            for sid, gtin, serial, ms, region, h in batch:
                kept = recent.get((gtin, serial))
                if kept is None or int(sid) <= kept.max_id:
                    continue  # not kept, or came with the history's own read
                row = (int(ms), region, bytes(h) if h is not None else None)
                if kept.own[row] > 0:  # this process's scan, added when recorded
                    kept.own[row] -= 1
                    if not kept.own[row]:
                        del kept.own[row]
                    continue
                if kept.rows and row[0] < kept.rows[-1][0]:
                    unordered[id(kept)] = kept
                kept.rows.append(row)
                _trim(kept.rows, self.limit)
            # Another process's scan older than one held (clocks, or its buffer): a new sorted
            # list, never an in-place sort, which empties the list while it runs for any
            # request reading it without the lock.
            for kept in unordered.values():
                kept.rows = sorted(kept.rows, key=lambda r: r[0])

    def _follow_loop(self) -> None:
        interval = self.max_staleness / 2
        while not self._stop.wait(interval):
            try:
                self.follow()
            except Exception:  # noqa: BLE001 - histories go stale and are re-read; retry next round
                log.exception("following the scans failed")

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
        self._stop.set()
        if self._follower is not None:
            self._follower.join(timeout=30)
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


def _trim(rows: list[_Row], limit: int) -> None:
    # A kept history is re-read rarely (never, while followed): keep it near `limit` rows.
    if len(rows) > 2 * limit:
        del rows[:-limit]


def _by_item(pending: list[_Scan]) -> dict[tuple[str, str], list[_Scan]]:
    out: dict[tuple[str, str], list[_Scan]] = {}
    for s in pending:
        out.setdefault((s.gtin, s.serial), []).append(s)
    return out


def scan_pseudonym(client_hash: bytes, gtin: str, serial: str) -> str:
    """The client as a bundle shows it: stable for one item (the clone rules count distinct
    clients), unlinkable across items (a public bundle must not let anyone follow a phone)."""
    return hashlib.sha256(client_hash + f"\0{gtin}\0{serial}".encode()).hexdigest()[:16]


def _records(rows: list[_Row], limit: int, gtin: str,
             serial: str) -> list[ScanRecord]:
    return [ScanRecord(ms // 1000, region or "unknown",
                       scan_pseudonym(h, gtin, serial) if h is not None else None)
            for ms, region, h in rows[-limit:]]
