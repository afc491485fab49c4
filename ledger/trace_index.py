"""Trace index: per-EPC facts kept current on insert, so a recall reads one narrow row per EPC
instead of re-ranking every event that ever named it.

Tables (on `ledger.tables.metadata`, created by migration 0002):
    trace_latest   per EPC, the latest event naming it in any role (by event time, then insert
                   order `events.seq`), with what a recall reports about that event: bizStep,
                   disposition, location (bizLocation, else readPoint) and custodian
    trace_holder   per EPC, the latest AggregationEvent naming it as a child, with its parent
                   and action: if not a DELETE, the EPC is (as far as the events say) inside
    trace_links    every (child, parent) pair any event has named: the containment graph that
                   a recall walks upwards from the items of a lot

`index_events` runs inside the store's accept transaction, after the event rows are written.
Upserts keep the maximum by (event_time_ms, seq), so captures may arrive in any order and a
repeat indexes nothing new: the index is a function of the stored events alone (`rebuild`
recomputes it from them, which migration 0002 uses to back-fill an existing store).

Custodian is fixed per event when it is stored: the destination's possessing party if the event
has one in its destinationList, else the organisation that signed the capture that first brought
the event (the owner of `events.capture_id`), as a PGLN when it is GLN-based.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    LargeBinary,
    String,
    Table,
    select,
)

from ledger import tables as t
from ledger.codes import gln_of
from ledger.epcis import event_epcs
from ledger.errors import InvalidInputError

__all__ = ["Indexed", "StoredEvent", "custodian_of", "index_events", "rebuild", "trace_holder",
           "trace_latest", "trace_links"]

_CHUNK = 500

trace_latest = Table(
    "trace_latest", t.metadata,
    Column("epc", String(512), primary_key=True),
    Column("event_time_ms", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("event_id", LargeBinary(32), nullable=False),
    Column("biz_step", String(256), nullable=True),
    Column("disposition", String(256), nullable=True),
    Column("location", String(512), nullable=True),
    Column("custodian", String(512), nullable=False),
    # Read and written by epc only: on SQLite the primary key b-tree is the table, one b-tree
    # to update per EPC instead of a rowid table plus its key index.
    sqlite_with_rowid=False,
)

trace_holder = Table(
    "trace_holder", t.metadata,
    Column("epc", String(512), primary_key=True),
    Column("parent", String(512), nullable=False),
    Column("event_time_ms", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("action", String(8), nullable=True),
    sqlite_with_rowid=False,  # as trace_latest
)

trace_links = Table(
    "trace_links", t.metadata,
    Column("child", String(512), primary_key=True),
    Column("parent", String(512), primary_key=True),
    # Looked up by child, the primary key's prefix; WITHOUT ROWID as trace_latest.
    sqlite_with_rowid=False,
)

# (event_id, capture_id, org of that capture, the event as captured, its `event_epcs` rows
# (event_id, role, epc) as the store writes them)
Indexed = tuple[bytes, str, bytes, Mapping[str, Any], Sequence[tuple[bytes, str, str]]]

_POSSESSING = ("possessing_party", "https://ref.gs1.org/cbv/SDT-possessing_party",
               "urn:epcglobal:cbv:sdt:possessing_party")

_NEWER = ("excluded.event_time_ms > {t}.event_time_ms OR (excluded.event_time_ms = "
          "{t}.event_time_ms AND excluded.seq > {t}.seq)")


@lru_cache(maxsize=4096)  # a handful of organisations sign most events
def _party(org: bytes) -> str:
    try:
        return "https://id.gs1.org/417/" + gln_of(org)
    except InvalidInputError:
        return "org:0x" + org.hex()


def custodian_of(event: Mapping[str, Any], org: bytes) -> str:
    """Who has the goods after `event`: the destination's possessing party, else the
    organisation that signed its capture."""
    for d in event.get("destinationList") or ():
        if isinstance(d, Mapping) and d.get("type") in _POSSESSING:
            dest = d.get("destination")
            if isinstance(dest, str) and dest:
                return dest
    return _party(org)


def _chunks(values: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i:i + size]


def _upsert_sql(table: Table, dialect: str, newer_only: bool) -> str:
    cols = [c.name for c in table.columns]
    keys = [c.name for c in table.primary_key.columns]
    mark = "?" if dialect == "sqlite" else "%s"
    head = (f"INSERT INTO {table.name} ({', '.join(cols)}) "  # noqa: S608 - names from tables
            f"VALUES ({', '.join([mark] * len(cols))}) ON CONFLICT ({', '.join(keys)}) ")
    if not newer_only:
        return head + "DO NOTHING"
    sets = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in keys)
    return head + f"DO UPDATE SET {sets} WHERE " + _NEWER.format(t=table.name)


_STORED = ("SELECT event_id, seq, capture_id, event_time_ms, event_type, action, biz_step, "
           "disposition, read_point, biz_location FROM events WHERE event_id ")


def index_events(cur: Any, dialect: str, events: Iterable[Indexed],
                 stored_rows: Mapping[bytes, StoredEvent] | None = None) -> None:
    """Fold events just written to `events` into the trace index, in the same transaction.

    `cur` is a DB-API cursor on the writing connection (the accept path runs on the driver's
    own cursor). Events whose stored row belongs to another capture (a concurrent writer stored
    it first) are left to that capture's transaction, so custodian follows `events.capture_id`.
    `stored_rows`: the events' rows as stored, when the writer knows them (else read back)."""
    by_id = {eid: (cid, org, ev, rows) for eid, cid, org, ev, rows in events}
    if not by_id:
        return
    latest: dict[str, tuple[Any, ...]] = {}
    holder: dict[str, tuple[Any, ...]] = {}
    links: set[tuple[str, str]] = set()
    for chunk in _chunks(sorted(by_id)):
        if stored_rows is not None:
            found: Iterable[Any] = (stored_rows[eid] for eid in chunk)
        elif dialect == "sqlite":
            cur.execute(_STORED + f"IN ({', '.join('?' * len(chunk))})", list(chunk))
            found = cur.fetchall()
        else:
            cur.execute(_STORED + "= ANY(%s)", [list(chunk)])
            found = cur.fetchall()
        for r in found:
            stored = r if isinstance(r, StoredEvent) else StoredEvent(*r)
            eid = bytes(stored.event_id)
            cid, org, ev, rows = by_id[eid]
            if stored.capture_id != cid:
                continue
            epcs: dict[str, list[str]] = {}
            for _eid, role, epc in rows:
                epcs.setdefault(role, []).append(epc)
            _fold(stored, eid, org, ev, epcs, latest, holder, links)
    _write(cur, dialect, latest, holder, links)


class StoredEvent(NamedTuple):
    event_id: bytes
    seq: int
    capture_id: str
    event_time_ms: int
    event_type: str
    action: str | None
    biz_step: str | None
    disposition: str | None
    read_point: str | None
    biz_location: str | None


def _fold(r: Any, eid: bytes, org: bytes, ev: Mapping[str, Any],
          epcs: Mapping[str, Sequence[str]], latest: dict[str, tuple[Any, ...]],
          holder: dict[str, tuple[Any, ...]], links: set[tuple[str, str]]) -> None:
    key = (r.event_time_ms, r.seq)
    row = (r.event_time_ms, r.seq, eid, r.biz_step, r.disposition,
           r.biz_location or r.read_point, custodian_of(ev, org))
    for values in epcs.values():
        for epc in values:
            prior = latest.get(epc)
            if prior is None or key > prior[:2]:
                latest[epc] = row
    parents = epcs.get("parent") or ()
    children = epcs.get("child") or ()
    for parent in parents:
        for child in children:
            links.add((child, parent))
    if r.event_type == "AggregationEvent" and parents:
        # EPCIS has one parentID per aggregation; the first stands for it if data has more.
        mark = (r.event_time_ms, r.seq, parents[0], r.action)
        for child in children:
            prior = holder.get(child)
            if prior is None or key > prior[:2]:
                holder[child] = mark


def _write(cur: Any, dialect: str, latest: Mapping[str, tuple[Any, ...]],
           holder: Mapping[str, tuple[Any, ...]], links: set[tuple[str, str]]) -> None:
    # Sorted keys: concurrent PostgreSQL writers then lock shared rows in the same order and
    # cannot deadlock on each other.
    if latest:
        cur.executemany(_upsert_sql(trace_latest, dialect, True),
                             [(epc, *latest[epc]) for epc in sorted(latest)])
    if holder:
        cur.executemany(_upsert_sql(trace_holder, dialect, True),
                             [(epc, h[2], h[0], h[1], h[3]) for epc, h in sorted(holder.items())])
    if links:
        cur.executemany(_upsert_sql(trace_links, dialect, False), sorted(links))


def rebuild(conn: Connection, dialect: str, *, batch: int = 5_000) -> int:
    """Empty the trace index and recompute it from every stored event; returns the number of
    events read. For back-fills and checks: the insert path keeps it current."""
    for table in (trace_latest, trace_holder, trace_links):
        conn.execute(table.delete())
    e, c = t.events, t.captures
    last = -1
    total = 0
    stmt = (select(e.c.seq, e.c.event_id, e.c.capture_id, e.c.event_time_ms, e.c.event_type,
                   e.c.action, e.c.biz_step, e.c.disposition, e.c.read_point,
                   e.c.biz_location, e.c.body, c.c.org)
            .join(c, c.c.id == e.c.capture_id).order_by(e.c.seq))
    while True:
        rows = conn.execute(stmt.where(e.c.seq > last).limit(batch)).all()
        if not rows:
            return total
        latest: dict[str, tuple[Any, ...]] = {}
        holder: dict[str, tuple[Any, ...]] = {}
        links: set[tuple[str, str]] = set()
        for r in rows:
            ev = orjson.loads(r.body)
            _fold(r, bytes(r.event_id), bytes(r.org), ev, event_epcs(ev), latest, holder, links)
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            _write(cur, dialect, latest, holder, links)
        finally:
            cur.close()
        total += len(rows)
        last = rows[-1].seq
