"""Trace index: per-EPC facts kept current on insert, so a recall reads one narrow row per EPC
instead of re-ranking every event that ever named it.

Tables (on `ledger.store.tables.metadata`, created by migration 0002):
    trace_latest   per EPC, the latest event naming it in any role (by event time, then insert
                   order `events.seq`), with what a recall reports about that event: bizStep,
                   disposition, location (bizLocation, else readPoint) and custodian
    trace_holder   per EPC, the latest AggregationEvent naming it as a child, with its parent
                   and action: if not a DELETE, the EPC is (as far as the events say) inside
    trace_links    every (child, parent) pair any event has named: the containment graph that
                   a recall walks upwards from the items of a lot

The store writes the index inside its accept transaction, after the event rows: `fold` the
group's events (before the write lock, positions standing for seqs) and `write` them (under
it, positions made seqs), or `index_events` both at once when it learns under the lock which
events it stored. Upserts keep the maximum by (event_time_ms, seq), so captures may arrive in
any order and a repeat indexes nothing new: the index is a function of the stored events alone
(`rebuild` recomputes it from them, which migration 0002 uses to back-fill an existing store).

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

from ledger.epcis.document import event_epcs
from ledger.errors import InvalidInputError
from ledger.proofs.codes import gln_of
from ledger.store import tables as t

__all__ = ["Folded", "Indexed", "StoredEvent", "custodian_of", "fold", "index_events", "rebuild",
           "stored_events", "trace_holder", "trace_latest", "trace_links", "write"]

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

# (event_id, capture_id, org of that capture, the event as captured, its EPCs by role as the
# store writes them to `event_epcs`: `ledger.epcis.document.event_epcs` of the event)
Indexed = tuple[bytes, str, bytes, Mapping[str, Any], Mapping[str, Sequence[str]]]

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


class StoredEvent(NamedTuple):
    """An `events` row as the index reads it."""

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


_STORED = ("SELECT event_id, seq, capture_id, event_time_ms, event_type, action, biz_step, "
           "disposition, read_point, biz_location FROM events WHERE event_id ")


def stored_events(cur: Any, dialect: str, ids: Sequence[bytes]) -> dict[bytes, StoredEvent]:
    """The `events` rows of `ids` that exist, by event id (`cur`: a DB-API cursor)."""
    out: dict[bytes, StoredEvent] = {}
    for chunk in _chunks(ids):
        if dialect == "sqlite":
            cur.execute(_STORED + f"IN ({', '.join('?' * len(chunk))})", list(chunk))
        else:
            cur.execute(_STORED + "= ANY(%s)", [list(chunk)])
        for r in cur.fetchall():
            row = StoredEvent(bytes(r[0]), *r[1:])
            out[row.event_id] = row
    return out


class Folded(NamedTuple):
    """Trace facts of some events, ready to upsert (`write`): per EPC its latest row and,
    if aggregated, its holder; and every (child, parent) link."""

    latest: dict[str, tuple[Any, ...]]  # epc → (event_time_ms, seq, event_id, biz_step,
    #                                             disposition, location, custodian)
    holder: dict[str, tuple[Any, ...]]  # epc → (event_time_ms, seq, parent, action)
    links: set[tuple[str, str]]


def fold(events: Iterable[tuple[Indexed, Any]]) -> Folded:
    """The trace facts of `events`: each event as the writer had it, paired with its stored
    row (a `StoredEvent`, or anything with its fields). Pure: the store folds a group of
    captures before it takes the write lock, with positions for seqs (`write`'s `seq_base`
    then makes them seqs)."""
    out = Folded({}, {}, set())
    for (eid, _cid, org, ev, epcs), stored in events:
        _fold(stored, eid, org, ev, epcs, out.latest, out.holder, out.links)
    return out


def index_events(cur: Any, dialect: str,
                 events: Iterable[tuple[Indexed, StoredEvent]]) -> None:
    """Fold events just written to `events` into the trace index, in the same transaction.

    `cur` is a DB-API cursor on the writing connection (the accept path runs on the driver's
    own cursor); `events` pairs each event as the writer had it with its row as stored. The
    writer passes only events its own transaction stored: one whose row belongs to another
    capture (a concurrent writer stored it first) is that capture's to index, so custodian
    follows `events.capture_id`."""
    write(cur, dialect, fold(events))


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


def write(cur: Any, dialect: str, folded: Folded, *, seq_base: int = 0) -> None:
    """Upsert `folded` into the trace index (`cur`: a DB-API cursor in the writer's
    transaction), each seq in it plus `seq_base`."""
    latest, holder, links = folded
    # On PostgreSQL, sorted keys: concurrent writers then lock shared rows in the same order
    # and cannot deadlock on each other. SQLite has one writer at a time.
    order: Any = sorted if dialect != "sqlite" else list
    if latest:
        cur.executemany(_upsert_sql(trace_latest, dialect, True),
                        order([(epc, r[0], r[1] + seq_base, *r[2:])
                               for epc, r in latest.items()]))
    if holder:
        cur.executemany(_upsert_sql(trace_holder, dialect, True),
                        order([(epc, h[2], h[0], h[1] + seq_base, h[3])
                               for epc, h in holder.items()]))
    if links:
        cur.executemany(_upsert_sql(trace_links, dialect, False), order(links))


def _stored_as_indexed(rows: Iterable[Any]) -> Iterator[tuple[Indexed, Any]]:
    """`rebuild`'s rows (an events row with its capture's org) as `fold` takes them."""
    for r in rows:
        ev = orjson.loads(r.body)
        yield (bytes(r.event_id), r.capture_id, bytes(r.org), ev, event_epcs(ev)), r


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
        folded = fold(_stored_as_indexed(rows))
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            write(cur, dialect, folded)
        finally:
            cur.close()
        total += len(rows)
        last = rows[-1].seq
