"""Trace queries over the store: item history, backward and forward traces, recall scope.

An item's story is told by more events than the ones that name it:
- **aggregation**: while a can sits in a case on a pallet, events about the pallet (shipping,
  arriving, customs inspection) are events about the can. Membership runs from the
  AggregationEvent that adds (or observes) the child under a parent to the first later DELETE
  that lists it (or lists no children at all, which unpacks everything);
- **transformation**: a lot made by a TransformationEvent descends from the lots and items it
  consumed. An item belongs to a lot when the ObjectEvent ADD that commissioned it (or the
  TransformationEvent that output it) carries that lot in ILMD (the store's `events.lot`).

All queries are set-based SQL over `ledger.store.tables` (the same statements on SQLite and
PostgreSQL): recursive CTEs walk containment inside the database, and transformations, which
are few, are walked level by level. The store records quantity-list classes under one role
(`class`) whatever list they came from, so whether a class was an input or an output of a
TransformationEvent is read from that event's JSON body.

A recall reads the trace index (`ledger.store.trace_index`, kept current as events are stored): per
EPC its latest event and latest aggregation as a child, and the containment pairs ever named,
so its cost follows the size of the scope, not the number of events each EPC has.

Custodian, in a recall: the party that last had the goods. If the last known event ships or
receives them (it has a destinationList), it is the destination's possessing party; otherwise it
is the organisation that signed that event's capture (fixed per event by the trace index).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Connection, Engine, bindparam, text

from ledger.epcis.document import event_epcs
from ledger.errors import InvalidInputError

__all__ = ["Edge", "HistoryEntry", "RecallItem", "RecallScope", "Trace", "Tracer",
           "canonical_epc", "lot_class"]

_FOREVER = 1 << 62
_CHUNK = 500
_MAX_DEPTH = 16  # containment and transformation chains deeper than this are data errors
_DL_LOT = re.compile(r"https://id\.gs1\.org/01/(\d{14})/10/([^/?#]+)$")
_DL_GTIN = re.compile(r"https://id\.gs1\.org/01/(\d{14})/")


def canonical_epc(value: str) -> str:
    """The form the store indexes: canonical Digital Link for GS1 keys (URNs are converted)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError("an EPC is a non-empty string", field="epc")
    return event_epcs({"epcList": [value]})["epc"][0]


def lot_class(gtin: str, lot: str) -> str:
    if not re.fullmatch(r"\d{14}", gtin or ""):
        raise InvalidInputError(f"a GTIN here is 14 digits, got {gtin!r}", field="gtin")
    if not lot:
        raise InvalidInputError("a lot number is required", field="lot")
    return canonical_epc(f"https://id.gs1.org/01/{gtin}/10/{lot}")


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One event in an item's history and how it reaches the item."""

    event_id: bytes
    event_time_ms: int
    event_type: str
    action: str | None
    biz_step: str | None
    disposition: str | None
    read_point: str | None
    biz_location: str | None
    relation: str  # "self" | "container" | "transformation"
    via: str  # the EPC or class the event names: the item, a container, or the item's lot
    event: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Edge:
    src: str
    dst: str
    relation: str  # contained_in | contains | member_of | has_member | made_from | made_into
    event_id: bytes | None = None


@dataclass(frozen=True, slots=True)
class Trace:
    """A backward or forward trace from `start`: every node reached and how."""

    start: str
    edges: tuple[Edge, ...]

    @property
    def nodes(self) -> set[str]:
        return {e.dst for e in self.edges}

    def reached(self, relation: str) -> set[str]:
        return {e.dst for e in self.edges if e.relation == relation}


@dataclass(frozen=True, slots=True)
class RecallItem:
    epc: str
    level: int  # 0: an item of an affected lot; 1: its container; 2: the container's container…
    last_event_id: bytes
    last_event_time_ms: int
    last_biz_step: str | None
    last_disposition: str | None
    location: str | None  # business location of the last known event, else its read point
    custodian: str  # a party id: destination possessing party, or the capture's organisation
    via: str  # the EPC whose event is the last known one: the item or a container holding it


@dataclass(frozen=True, slots=True)
class RecallScope:
    gtin: str
    lot: str
    lots: tuple[str, ...]  # lot classes affected: the lot and every lot made from it
    items: tuple[RecallItem, ...]
    by_epc: dict[str, RecallItem] = field(repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.by_epc.update({i.epc: i for i in self.items})


def _chunks(values: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i:i + size]


_AGG_AS_CHILD = text("""
    SELECT c.epc AS child, p.epc AS parent, e.event_time_ms, e.seq, e.action
    FROM event_epcs c
    JOIN events e ON e.seq = c.seq
    JOIN event_epcs p ON p.seq = c.seq AND p.role = 'parent'
    WHERE c.role = 'child' AND c.epc IN :epcs AND e.event_type = 'AggregationEvent'
""").bindparams(bindparam("epcs", expanding=True))

# A DELETE that names a parent and no children empties it (EPCIS 2.0, 7.4.3).
_DELETE_ALL = text("""
    SELECT p.epc AS parent, e.event_time_ms, e.seq
    FROM event_epcs p
    JOIN events e ON e.seq = p.seq
    WHERE p.role = 'parent' AND p.epc IN :epcs AND e.event_type = 'AggregationEvent'
      AND e.action = 'DELETE'
      AND NOT EXISTS (SELECT 1 FROM event_epcs c WHERE c.seq = e.seq
                      AND c.role = 'child')
""").bindparams(bindparam("epcs", expanding=True))

_EVENTS_OF = text("""
    SELECT x.epc, x.role, e.event_id, e.seq, e.event_time_ms, e.event_type, e.action,
           e.biz_step, e.disposition, e.read_point, e.biz_location, e.gtin, e.lot, e.body
    FROM event_epcs x JOIN events e ON e.seq = x.seq
    WHERE x.epc IN :epcs
""").bindparams(bindparam("epcs", expanding=True))

_TRANSFORMATIONS_OF_CLASS = text("""
    SELECT x.epc, e.event_id, e.seq, e.event_time_ms, e.event_type, e.action, e.biz_step,
           e.disposition, e.read_point, e.biz_location, e.body
    FROM event_epcs x JOIN events e ON e.seq = x.seq
    WHERE x.role = 'class' AND x.epc IN :epcs AND e.event_type = 'TransformationEvent'
""").bindparams(bindparam("epcs", expanding=True))

# One statement per side: a recall asks this of every item of a lot (12,000 at a time), and
# one index probe per item on its side is half the work of probing both.
_TRANSFORMATIONS_OF_EPC = {side: text(f"""
    SELECT x.epc, x.role, e.event_id, e.body
    FROM event_epcs x JOIN events e ON e.seq = x.seq
    WHERE x.role = '{side}' AND x.epc IN :epcs
      AND e.event_type = 'TransformationEvent'
""").bindparams(bindparam("epcs", expanding=True))  # noqa: S608 - side is one of two constants
    for side in ("input", "output")}

# The lot an item was commissioned in: ILMD on the ObjectEvent ADD, or on the transformation
# that output it.
_LOT_OF = text("""
    SELECT x.epc, e.lot FROM event_epcs x JOIN events e ON e.seq = x.seq
    WHERE x.epc IN :epcs AND e.lot IS NOT NULL
      AND ((x.role = 'epc' AND e.event_type = 'ObjectEvent' AND e.action = 'ADD')
           OR (x.role = 'output' AND e.event_type = 'TransformationEvent'))
""").bindparams(bindparam("epcs", expanding=True))

_MEMBERS = """
    SELECT ee.epc FROM events e JOIN event_epcs ee ON ee.seq = e.seq
    WHERE e.gtin = :g{i} AND e.lot = :l{i}
      AND ((ee.role = 'epc' AND e.event_type = 'ObjectEvent' AND e.action = 'ADD')
           OR (ee.role = 'output' AND e.event_type = 'TransformationEvent'))
"""


class Tracer:
    """Trace queries over a store's database. `engine` is `Store.engine` (injected, not made
    here), so the same code serves SQLite and PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    # -- building blocks -----------------------------------------------------------------------

    @staticmethod
    def _rows(conn: Connection, stmt: Any, values: Iterable[str]) -> list[Any]:
        values = sorted(set(values))
        out: list[Any] = []
        for chunk in _chunks(values):
            out.extend(conn.execute(stmt, {"epcs": list(chunk)}).all())
        return out

    def _containers(self, conn: Connection, epc: str) -> dict[str, list[tuple[int, int]]]:
        """Every container that held `epc`, directly or through other containers, with the
        windows [start, end] (ms) during which `epc` was inside it."""
        windows: dict[str, list[tuple[int, int]]] = {epc: [(-_FOREVER, _FOREVER)]}
        frontier = {epc}
        for _ in range(_MAX_DEPTH):
            if not frontier:
                break
            rows = self._rows(conn, _AGG_AS_CHILD, frontier)
            parents = {r.parent for r in rows}
            empties: dict[str, list[tuple[int, int]]] = {}
            for r in self._rows(conn, _DELETE_ALL, parents):
                empties.setdefault(r.parent, []).append((r.event_time_ms, r.seq))
            spans: dict[tuple[str, str], list[Any]] = {}
            for r in rows:
                spans.setdefault((r.child, r.parent), []).append(
                    (r.event_time_ms, r.seq, r.action))
            nxt: set[str] = set()
            for (child, parent), evs in spans.items():
                evs += [(ms, seq, "DELETE") for ms, seq in empties.get(parent, ())]
                for start, end in _membership(sorted(evs)):
                    for c_start, c_end in windows[child]:
                        lo, hi = max(start, c_start), min(end, c_end)
                        if lo <= hi:
                            windows.setdefault(parent, []).append((lo, hi))
                            nxt.add(parent)
            frontier = nxt - {epc}
        windows.pop(epc)
        return windows

    def _lots_of(self, conn: Connection, epcs: Iterable[str]) -> dict[str, set[str]]:
        """Lot classes of items, from the events that commissioned them."""
        out: dict[str, set[str]] = {}
        for r in self._rows(conn, _LOT_OF, epcs):
            m = _DL_GTIN.match(r.epc)
            if m:
                out.setdefault(r.epc, set()).add(lot_class(m.group(1), r.lot))
        return out

    def _transformations(self, conn: Connection, nodes: Iterable[str], side: str
                         ) -> list[tuple[str, bytes, list[str]]]:
        """(node, event id, other side) for each TransformationEvent that has `node` on `side`
        ("input" or "output"): the other side lists what it was made from / made into."""
        nodes = set(nodes)
        other = "output" if side == "input" else "input"
        found: dict[bytes, Any] = {}
        for r in self._rows(conn, _TRANSFORMATIONS_OF_CLASS, [n for n in nodes if "/10/" in n]):
            found[bytes(r.event_id)] = r.body
        for r in self._rows(conn, _TRANSFORMATIONS_OF_EPC[side], nodes):
            found[bytes(r.event_id)] = r.body
        out = []
        for eid, body in sorted(found.items()):
            sides = _sides(orjson.loads(body))
            for node in sides[side] & nodes:
                out.append((node, eid, sorted(sides[other])))
        return out

    # -- item history --------------------------------------------------------------------------

    def item_history(self, epc: str) -> list[HistoryEntry]:
        """Every event about `epc` in time order: those naming it, those naming a container
        while it was inside, and the TransformationEvents that made or consumed its lot."""
        epc = canonical_epc(epc)
        with self._read() as conn:
            windows = self._containers(conn, epc)
            picked: dict[bytes, HistoryEntry] = {}
            lots: set[str] = set()
            for r in self._rows(conn, _EVENTS_OF, [epc, *windows]):
                eid = bytes(r.event_id)
                if r.epc == epc:
                    relation = "self"
                    if r.lot and (m := _DL_GTIN.match(epc)) and r.event_type in (
                            "ObjectEvent", "TransformationEvent") and (
                            r.role == "epc" and r.action == "ADD" or r.role == "output"):
                        lots.add(lot_class(m.group(1), r.lot))
                elif any(lo <= r.event_time_ms <= hi for lo, hi in windows[r.epc]):
                    relation = "container"
                else:
                    continue
                prior = picked.get(eid)
                if prior is None or (prior.relation != "self" and relation == "self"):
                    picked[eid] = _entry(r, relation, r.epc)
            for r in self._rows(conn, _TRANSFORMATIONS_OF_CLASS, lots):
                eid = bytes(r.event_id)
                if eid not in picked:
                    picked[eid] = _entry(r, "transformation", r.epc)
        return sorted(picked.values(), key=lambda h: (h.event_time_ms, h.event_id))

    # -- backward and forward ------------------------------------------------------------------

    def backward(self, epc: str) -> Trace:
        """Where `epc` came from: the containers it travelled in, its lot, what the lot was
        made from, their lots, and so on up to the raw materials."""
        epc = canonical_epc(epc)
        edges: list[Edge] = []
        with self._read() as conn:
            for parent in sorted(self._containers(conn, epc)):
                edges.append(Edge(epc, parent, "contained_in"))
            seen = {epc}
            frontier = {epc}
            for _ in range(_MAX_DEPTH):
                if not frontier:
                    break
                nxt: set[str] = set()
                items = [n for n in frontier if "/21/" in n or "/10/" not in n]
                for item, lots in sorted(self._lots_of(conn, items).items()):
                    for lot in sorted(lots):
                        edges.append(Edge(item, lot, "member_of"))
                        nxt.add(lot)
                for node, eid, inputs in self._transformations(conn, frontier, "output"):
                    for source in inputs:
                        edges.append(Edge(node, source, "made_from", eid))
                        nxt.add(source)
                frontier = nxt - seen
                seen |= nxt
        return Trace(epc, tuple(dict.fromkeys(edges)))

    def forward(self, epc: str) -> Trace:
        """Where `epc` went: what was packed inside it, what it was made into, the items of
        those lots, and so on down to the last can."""
        epc = canonical_epc(epc)
        edges: list[Edge] = []
        with self._read() as conn:
            seen = {epc}
            frontier = {epc}
            for _ in range(_MAX_DEPTH):
                if not frontier:
                    break
                nxt: set[str] = set()
                for node, eid, outputs in self._transformations(conn, frontier, "input"):
                    for made in outputs:
                        edges.append(Edge(node, made, "made_into", eid))
                        nxt.add(made)
                lots = sorted(n for n in frontier if _DL_LOT.match(n))
                for lot in lots:
                    for member in self._members(conn, [lot]):
                        edges.append(Edge(lot, member, "has_member"))
                        nxt.add(member)
                for parent, child in self._contents(conn, frontier - set(lots)):
                    edges.append(Edge(parent, child, "contains"))
                    nxt.add(child)
                frontier = nxt - seen
                seen |= nxt
        return Trace(epc, tuple(dict.fromkeys(edges)))

    def _members(self, conn: Connection, lots: Sequence[str]) -> list[str]:
        if not lots:
            return []
        sql, params = _members_sql(lots)
        return sorted({r.epc for r in conn.execute(text(sql), params)})

    def _contents(self, conn: Connection, parents: Iterable[str]) -> list[tuple[str, str]]:
        stmt = text("""
            WITH RECURSIVE down(parent, child) AS (
                SELECT p.epc, c.epc FROM event_epcs p
                JOIN event_epcs c ON c.seq = p.seq AND c.role = 'child'
                WHERE p.role = 'parent' AND p.epc IN :epcs
              UNION
                SELECT p.epc, c.epc FROM down
                JOIN event_epcs p ON p.epc = down.child AND p.role = 'parent'
                JOIN event_epcs c ON c.seq = p.seq AND c.role = 'child'
            )
            SELECT parent, child FROM down
        """).bindparams(bindparam("epcs", expanding=True))
        return sorted({(r.parent, r.child) for r in self._rows(conn, stmt, parents)})

    # -- recall --------------------------------------------------------------------------------

    def recall_scope(self, gtin: str, lot: str) -> RecallScope:
        """Everything downstream of a lot: the lots made from it (transitively), their items,
        and every case and pallet that held any of them; each with its last known event,
        location and custodian."""
        start = lot_class(gtin, lot)
        with self._read() as conn:
            lots = self._downstream_lots(conn, start)
            members_sql, params = _members_sql(lots)
            # One pass over the scope, reading the trace index (`ledger.store.trace_index`): each
            # EPC's latest event, and its latest aggregation as a child with that event's
            # parent. If that was not a DELETE, the EPC is still inside, and its container's
            # later events are its own.
            # Plain tuples: 14,000 rows read field by field cost more as SQLAlchemy rows.
            own = {r[0]: _State(*r) for r in conn.execute(
                _scope_sql(members_sql, _STATE), params)}
            emptied: dict[str, int] = {}
            parents = {r.parent for r in own.values()
                       if r.parent is not None and r.action != "DELETE"}
            for r in self._rows(conn, _DELETE_ALL, parents):
                emptied[r.parent] = max(emptied.get(r.parent, -_FOREVER), r.event_time_ms)
            holder = {r.epc: r.parent for r in own.values()
                      if r.parent is not None and r.action != "DELETE"
                      and emptied.get(r.parent, -_FOREVER) < r.held_ms}

        resolved: dict[str, _State] = {}  # a case's answer serves each of its cans

        def last_known(epc: str, depth: int = 0) -> _State:
            if (hit := resolved.get(epc)) is not None:
                return hit
            mine = own[epc]
            parent = holder.get(epc)
            if parent is None or parent not in own or depth > _MAX_DEPTH:
                found = mine
            else:
                theirs = last_known(parent, depth + 1)
                found = theirs if (theirs.event_time_ms, theirs.seq) > (
                    mine.event_time_ms, mine.seq) else mine
            resolved[epc] = found
            return found

        items = []
        for level, epc in sorted((r.level, r.epc) for r in own.values()):
            r = last_known(epc)
            items.append(RecallItem(
                epc=epc, level=level, last_event_id=bytes(r.event_id),
                last_event_time_ms=r.event_time_ms, last_biz_step=r.biz_step,
                last_disposition=r.disposition, location=r.location, custodian=r.custodian,
                via=r.epc))
        return RecallScope(gtin, lot, tuple(lots), tuple(items))

    def _downstream_lots(self, conn: Connection, start: str) -> list[str]:
        lots = [start]
        frontier = {start}
        for _ in range(_MAX_DEPTH):
            if not frontier:
                break
            # Items of these lots can be inputs too (a can opened into a mixed pack): follow
            # them through the transformations that consumed them.
            members = self._members(conn, sorted(frontier))
            nxt: set[str] = set()
            for _node, _eid, outputs in self._transformations(conn, frontier | set(members),
                                                               "input"):
                for out in outputs:
                    if _DL_LOT.match(out):
                        nxt.add(out)
                    else:  # an item-level output: its own lot is downstream
                        nxt.update(*self._lots_of(conn, [out]).values())
            frontier = nxt - set(lots)
            lots.extend(sorted(frontier))
        return lots


_SCOPE = """
    WITH RECURSIVE members(epc) AS ({members}),
    scope(epc, level) AS (
        SELECT epc, 0 FROM members
      UNION
        SELECT l.parent, s.level + 1 FROM scope s
        JOIN trace_links l ON l.child = s.epc
        WHERE s.level < {depth}
    ),
    levels AS (SELECT epc, MIN(level) AS level FROM scope GROUP BY epc)
"""

class _State(NamedTuple):
    """One scope row: an EPC, its level, its latest event, and its latest aggregation."""

    epc: str
    level: int
    event_id: bytes
    event_time_ms: int
    seq: int
    biz_step: str | None
    disposition: str | None
    location: str | None
    custodian: str
    parent: str | None
    action: str | None
    held_ms: int | None


_STATE = """
    SELECT l.epc, l.level, x.event_id, x.event_time_ms, x.seq, x.biz_step, x.disposition,
           x.location, x.custodian, h.parent, h.action, h.event_time_ms AS held_ms
    FROM levels l
    JOIN trace_latest x ON x.epc = l.epc
    LEFT JOIN trace_holder h ON h.epc = l.epc
"""


def _scope_sql(members_sql: str, tail: str) -> Any:
    # Only constant SQL and numbered placeholders (:g0, :l0…) are spliced; values are bound.
    return text(_SCOPE.format(members=members_sql, depth=_MAX_DEPTH) + tail)  # noqa: S608


def _members_sql(lots: Sequence[str]) -> tuple[str, dict[str, str]]:
    """SQL selecting the items of these lot classes (a UNION, one branch per lot, so each
    branch uses the (gtin, lot) index)."""
    parts, params = [], {}
    for i, cls in enumerate(lots):
        m = _DL_LOT.match(cls)
        if not m:
            raise InvalidInputError(f"not a lot class: {cls!r}", field="lot")
        parts.append(_MEMBERS.format(i=i))
        params[f"g{i}"], params[f"l{i}"] = m.group(1), _unescape(m.group(2))
    return " UNION ".join(parts), params


def _unescape(lot: str) -> str:
    from urllib.parse import unquote

    return unquote(lot)


def _membership(evs: Sequence[tuple[int, int, str]]) -> list[tuple[int, int]]:
    """Windows during which a child was in a parent, from that pair's aggregation events in
    (time, seq) order: ADD or OBSERVE opens, DELETE closes (an unclosed window runs on)."""
    out: list[tuple[int, int]] = []
    start: int | None = None
    for ms, _seq, action in evs:
        if action == "DELETE":
            if start is not None:
                out.append((start, ms))
                start = None
        elif start is None:
            start = ms
    if start is not None:
        out.append((start, _FOREVER))
    return out


def _sides(event: dict[str, Any]) -> dict[str, set[str]]:
    """Inputs and outputs of a TransformationEvent (EPCs and classes), canonical."""
    def canon(values: Iterable[Any]) -> set[str]:
        return {canonical_epc(v) for v in values if isinstance(v, str) and v.strip()}

    def classes(key: str) -> list[Any]:
        return [q.get("epcClass") for q in event.get(key) or () if isinstance(q, dict)]

    return {"input": canon([*(event.get("inputEPCList") or ()),
                            *classes("inputQuantityList")]),
            "output": canon([*(event.get("outputEPCList") or ()),
                             *classes("outputQuantityList")])}


def _entry(r: Any, relation: str, via: str) -> HistoryEntry:
    return HistoryEntry(
        event_id=bytes(r.event_id), event_time_ms=r.event_time_ms, event_type=r.event_type,
        action=r.action, biz_step=r.biz_step, disposition=r.disposition,
        read_point=r.read_point, biz_location=r.biz_location, relation=relation, via=via,
        event=orjson.loads(r.body))
