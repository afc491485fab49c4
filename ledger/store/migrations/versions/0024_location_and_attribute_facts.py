"""location and attribute facts: event facts rows for the extension fields of readPoint and
bizLocation, and for HASATTR_ on an extension field.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07

No new table: `event_facts` gains rows under keys of their own (read through its indexes
(key, text, seq) and (key, num, seq), as every facts parameter): `readPoint:<name>` for each
extension field (a name with a namespace prefix) of an event's readPoint object, beside its
`id`, and `inner_readPoint:<name>` for each named field nested at any depth in one;
bizLocation alike. They answer `EQ_readPoint_<prefix:field>`, `EQ_INNER_readPoint_<prefix:field>`
and their bizLocation forms. And `hasattr.<prefix:field>` with the name of each attribute the
event's own signed master data (`zhenzhi:masterData`) gives the vocabulary element an extension
field names (its value, a URI, or each of a list of them): `HASATTR_<prefix:field>`.

Events stored before this revision are indexed from their JSON here, a batch at a time. The
rows are worked out by this module's own copy of what `ledger.store.event_facts` writes at
capture, so that this revision writes the same rows however that module changes later. The
upgrade first deletes any rows of these keys: a database upgraded from before 0017 or 0019 has
them already, from those revisions' backfills (which call `fact_rows` and `master_data_facts`
as they are now). The downgrade deletes them again.
"""

import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

_BATCH = 1000
_KEY_LIMIT = 256
_TEXT_LIMIT = 512
_FIELDS = ("readPoint", "bizLocation")
_MASTER_DATA = "zhenzhi:masterData"
# The keys this revision writes, as LIKE patterns (`_` escaped): nothing before it (but the
# backfills of 0017 and 0019, see above) writes keys so. 0019's `hasattr.readPoint` and
# `hasattr.bizLocation` have no colon.
_KEY_PATTERNS = ("readPoint:%", "inner!_readPoint:%", "bizLocation:%", "inner!_bizLocation:%",
                 "hasattr.%:%")

Fact = tuple[str, str | None, float | None]


def _time_ms(value: str) -> float | None:
    if len(value) < 16 or not value[:4].isdigit() or value[4] != "-" or "T" not in value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return float(round(parsed.timestamp() * 1000))


def _values(key: str, value: Any, out: list[Fact], inner: str) -> None:
    if len(key) > _KEY_LIMIT:
        return
    if isinstance(value, bool):
        out.append((key, "true" if value else "false", None))
    elif isinstance(value, int | float):
        num = float(value)
        out.append((key, None, num if math.isfinite(num) else None))
    elif isinstance(value, str):
        out.append((key, value if len(value) <= _TEXT_LIMIT else None, _time_ms(value)))
    elif isinstance(value, list):
        if not value:
            out.append((key, None, None))
        for item in value:
            _values(key, item, out, inner)
    else:
        out.append((key, None, None))
        if isinstance(value, Mapping):
            _nested(value, out, inner)


def _nested(value: Any, out: list[Fact], inner: str) -> None:
    if isinstance(value, Mapping):
        for name, sub in value.items():
            if isinstance(name, str) and not name.startswith("@") and name != "#text":
                _values(f"{inner}:{name}", sub, out, inner)
    elif isinstance(value, list):
        for item in value:
            _nested(item, out, inner)


def location_facts(event: Mapping[str, Any]) -> list[Fact]:
    """The rows of this revision's keys for `event`, duplicates dropped."""
    out: list[Fact] = []
    for field in _FIELDS:
        where = event.get(field)
        if not isinstance(where, Mapping):
            continue
        for name, value in where.items():
            if isinstance(name, str) and ":" in name and not name.startswith("@"):
                _values(f"{field}:{name}", value, out, f"inner_{field}")
    return list(dict.fromkeys(out))


def _attribute_names(element: Mapping[str, Any]) -> list[str]:
    out = []
    for name, value in element.items():
        has_text = isinstance(value, str) or (
            isinstance(value, Mapping) and any(isinstance(v, str) for v in value.values()))
        if name != "id" and isinstance(name, str) and has_text and len(name) <= _TEXT_LIMIT:
            out.append(name)
    return out


def hasattr_facts(event: Mapping[str, Any]) -> list[Fact]:
    """The `hasattr.<prefix:field>` rows of `event`, duplicates dropped."""
    items = event.get(_MASTER_DATA)
    if not isinstance(items, list):
        return []
    elements: dict[str, list[Mapping[str, Any]]] = {}
    for element in items:
        if isinstance(element, Mapping) and isinstance(element.get("id"), str):
            elements.setdefault(element["id"], []).append(element)
    out: list[Fact] = []
    for field, value in event.items():
        key = f"hasattr.{field}"
        if not isinstance(field, str) or ":" not in field or field == _MASTER_DATA \
                or field.startswith("@") or len(key) > _KEY_LIMIT:
            continue
        for named in value if isinstance(value, list) else (value,):
            for element in elements.get(named, ()) if isinstance(named, str) else ():
                out.extend((key, name, None) for name in _attribute_names(element))
    return list(dict.fromkeys(out))


def _delete(conn: Any) -> None:
    facts = sa.table("event_facts", sa.column("key"))
    conn.execute(facts.delete().where(
        sa.or_(*(facts.c.key.like(p, escape="!") for p in _KEY_PATTERNS))))


def upgrade() -> None:
    conn = op.get_bind()
    _delete(conn)
    events = sa.table("events", sa.column("seq"), sa.column("body"))
    facts = sa.table("event_facts", *(sa.column(c) for c in ("seq", "key", "text", "num")))
    last = 0
    while True:
        rows = conn.execute(sa.select(events.c.seq, events.c.body)
                            .where(events.c.seq > last)
                            .order_by(events.c.seq).limit(_BATCH)).all()
        if not rows:
            return
        out = [{"seq": seq, "key": key, "text": text, "num": num}
               for seq, event in ((seq, json.loads(body)) for seq, body in rows)
               for key, text, num in (*location_facts(event), *hasattr_facts(event))]
        if out:
            conn.execute(facts.insert(), out)
        last = rows[-1][0]


def downgrade() -> None:
    _delete(op.get_bind())
