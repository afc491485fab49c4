"""Events in the order of a top-level extension field: EPCIS 2.0 §8.2.7.1 `orderBy` naming one
(`example:temperature`), answered from the event facts index (`ledger.store.event_facts`, key
`ext:<prefix:name>`), never from the events' JSON.

The standard: the field is one "whose type is Int, Float, Time, or String"; strings sort "by
their case-sensitive lexical ordering, considering UTF-8/ASCII code values of each successive
character"; "events included in the result that lack the specified field altogether may occur
in any position". What it leaves open is decided here:
- ranks, in this order whatever the direction: (1) events with a number or a date-time (a
  string that is an ISO 8601 date-time with a zone: its instant, epoch milliseconds), by that
  number; (2) events with strings only, by code point; (3) events without a value: without the
  field, or whose field holds no number or string (an object, null, a string longer than the
  index keeps). Within a rank, `orderDirection` orders the values, and equal values by insert
  order (DESC: newest first), as eventTime's ties. Events without a value come last either way,
  so that the first N (`eventCountLimit`) always have one. A boolean is indexed as the string
  `true`/`false` and sorts as that string;
- a field with both kinds of values across events (numbers on some, strings on others): each
  event by its own kind, numbers before strings; an event with both (a list) is a number;
- several values (a list): the event comes once, at the value of its that the order meets
  first (ascending its least, descending its greatest: as a sort of sets orders them).

A page is a walk of the (key, num, seq) index, then of (key, text, seq), then of the events in
seq order, each from where the page token says the last page stopped (rank, value, seq): a
range read in the page's own order that stops after the page, never OFFSET. Of each event the
walk meets, the (seq, key) index says whether it has a value that comes before this one (then
it was, or will be, listed there) or, for rank 3, any value. PostgreSQL compares the strings
`COLLATE "C"` (code points, as the standard says; the database's own collation may be a
language's): the (key, text, seq) index, in the database's collation, then no longer gives
their order, and each page of rank 2 sorts the field's strings after the token (never the
events themselves).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, exists, literal, null, or_, select, tuple_

from ledger.store import tables as t
from ledger.store.event_facts import KEY_LIMIT

__all__ = ["FIELD", "FIELD_LIMIT", "NONE", "NUMBER", "TEXT", "FieldPosition", "is_field",
           "page", "position_key", "read_position"]

# An extension field as the `EQ_<prefix:field>` family names it: a namespace prefix, a name.
FIELD = re.compile(r"[a-z][a-zA-Z0-9]*:[\w.-]+")
# Longer names are not indexed (`event_facts.KEY_LIMIT`, key `ext:<name>`).
FIELD_LIMIT = KEY_LIMIT - len("ext:")
NUMBER, TEXT, NONE = 0, 1, 2  # the ranks, in order
# The facts walked, and the same event's other facts. Made once: an alias's columns cost a
# millisecond to set up, a third of a page.
_WALKED = t.event_facts.alias("walked")
_OTHER = t.event_facts.alias("other")


def is_field(name: str) -> bool:
    """Whether `orderBy` may name `name`: an extension field `prefix:name` the index keeps."""
    return len(name) <= FIELD_LIMIT and FIELD.fullmatch(name) is not None


@dataclass(frozen=True, slots=True)
class FieldPosition:
    """Where an event stands in the order: its rank, its value there (None in NONE), its seq."""

    rank: int
    value: float | str | None
    seq: int


def page(conn: Connection, field: str, desc: bool, conds: Sequence[Any],
         after: FieldPosition | None, limit: int,
         code_point: Callable[[Any], Any]) -> list[FieldPosition]:
    """The positions of the next `limit` events matching `conds` (conditions on `events`) in
    `field`'s order, after `after` (None: from the start). `code_point` makes a text column
    compare by code point in this database."""
    out: list[FieldPosition] = []
    for rank in (NUMBER, TEXT, NONE):
        if after is not None and rank < after.rank:
            continue
        if len(out) >= limit:
            break
        start = after if after is not None and after.rank == rank else None
        stmt = _walk(rank, f"ext:{field}", desc, conds, start, limit - len(out), code_point)
        out.extend(FieldPosition(rank, value, seq) for seq, value in conn.execute(stmt))
    return out


def _after(value: Any, seq: Any, start: FieldPosition, desc: bool) -> Any:
    """Past `start` in the walk's order: a later value, or the same value and a later seq. A
    row value, which both databases read as one range of the (key, value, seq) index: as
    `value > v OR (value = v AND seq > s)`, SQLite with statistics read the two branches apart
    and sorted their union, every row of the field after `v`, for each page."""
    row, at = tuple_(value, seq), tuple_(literal(start.value), literal(start.seq))
    return row < at if desc else row > at


def _walk(rank: int, key: str, desc: bool, conds: Sequence[Any], start: FieldPosition | None,
          limit: int, code_point: Callable[[Any], Any]) -> Any:
    e, x, y = t.events, _WALKED, _OTHER
    if rank == NONE:
        valued = exists().where(y.c.seq == e.c.seq, y.c.key == key,
                                or_(y.c.num.is_not(None), y.c.text.is_not(None)))
        where = [~valued, *conds]
        if start is not None:
            where.append(e.c.seq < start.seq if desc else e.c.seq > start.seq)
        return (select(e.c.seq, null()).where(*where)
                .order_by(e.c.seq.desc() if desc else e.c.seq).limit(limit))
    same = (y.c.seq == x.c.seq, y.c.key == key)
    if rank == NUMBER:
        value, shown = x.c.num, x.c.num
        # The row that stands for its event: no row of the event orders before it. Among rows
        # of one number (one instant spelt twice, a number and a date-time), one wins: the one
        # without text, else the least text.
        before = y.c.num > x.c.num if desc else y.c.num < x.c.num
        tie = and_(y.c.num == x.c.num, x.c.text.is_not(None),
                   or_(y.c.text.is_(None), code_point(y.c.text) < code_point(x.c.text)))
        where = [x.c.key == key, x.c.num.is_not(None), ~exists().where(*same, or_(before, tie))]
    else:
        value, shown = code_point(x.c.text), x.c.text
        before = (code_point(y.c.text) > value) if desc else (code_point(y.c.text) < value)
        # An event with a number (or date-time) anywhere in the field is ranked as a number.
        where = [x.c.key == key, x.c.text.is_not(None), x.c.num.is_(None),
                 ~exists().where(*same, or_(y.c.num.is_not(None), before))]
    if start is not None:
        where.append(_after(value, x.c.seq, start, desc))
    stmt = select(x.c.seq, shown)
    if conds:
        stmt = stmt.select_from(x.join(e, e.c.seq == x.c.seq))
    keys = (value.desc(), x.c.seq.desc()) if desc else (value, x.c.seq)
    return stmt.where(*where, *conds).order_by(*keys).limit(limit)


def position_key(position: FieldPosition) -> list[Any]:
    """The position as the page token carries it (JSON: rank, value, seq)."""
    return [position.rank, position.value, position.seq]


def read_position(raw: Any) -> FieldPosition:
    """A position from `position_key`'s form; ValueError if it is not one."""
    if not isinstance(raw, list) or len(raw) != 3:
        raise ValueError(raw)
    rank, value, seq = raw
    kinds = {NUMBER: (int, float), TEXT: (str,), NONE: (type(None),)}
    if (type(rank) is not int or rank not in kinds or type(seq) is not int
            or isinstance(value, bool) or not isinstance(value, kinds[rank])):
        raise ValueError(raw)
    return FieldPosition(rank, float(value) if rank == NUMBER else value, seq)

