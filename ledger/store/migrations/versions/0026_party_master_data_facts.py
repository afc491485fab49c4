"""party master data facts: HASATTR_ and EQ_ATTR_ on source and destination.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07

No new table: `event_facts` gains `hasattr.source` (each attribute's name) and
`attr.source.<attribute>` (each value) rows for the parties an event's sourceList names (the
value of each entry, whatever its type), as its own signed master data (`zhenzhi:masterData`)
describes them; destinationList alike. Until now HASATTR_/EQ_ATTR_ answered for readPoint and
bizLocation only.

The rows are computed by this revision's own copy of the rule, frozen here. Revision 0019
computes its rows with the live `master_data_facts`, which now writes these too: this revision
first deletes any rows of its keys, so a database built from scratch ends with one set.
"""

import json
from collections.abc import Iterator, Mapping
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

_BATCH = 1000
_KEY_LIMIT = 256
_TEXT_LIMIT = 512
_LISTS = {"source": "sourceList", "destination": "destinationList"}
_KEY_PATTERNS = ("hasattr.source", "hasattr.destination", "attr.source.%",
                 "attr.destination.%")


def _attributes(element: Mapping[str, Any]) -> Iterator[tuple[str, list[str]]]:
    for name, value in element.items():
        if isinstance(value, str):
            texts = [value]
        elif isinstance(value, Mapping):
            texts = [v for v in value.values() if isinstance(v, str)]
        else:
            texts = []
        if name != "id" and isinstance(name, str) and texts and len(name) <= _TEXT_LIMIT:
            yield name, texts


def party_rows(event: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key, text) rows of one event, as `master_data_facts` writes them at capture."""
    items = event.get("zhenzhi:masterData")
    if not isinstance(items, list):
        return []
    elements: dict[str, list[Mapping[str, Any]]] = {}
    for element in items:
        if isinstance(element, Mapping) and isinstance(element.get("id"), str):
            elements.setdefault(element["id"], []).append(element)
    out: list[tuple[str, str]] = []
    for field, listed in _LISTS.items():
        entries = event.get(listed)
        for entry in entries if isinstance(entries, list) else ():
            named = entry.get(field) if isinstance(entry, Mapping) else None
            for element in elements.get(named, ()) if isinstance(named, str) else ():
                for name, texts in _attributes(element):
                    key = f"attr.{field}.{name}"
                    if len(key) > _KEY_LIMIT:
                        continue
                    out.append((f"hasattr.{field}", name))
                    out.extend((key, text) for text in texts if len(text) <= _TEXT_LIMIT)
    return list(dict.fromkeys(out))


def _ours(column: Any) -> Any:
    return sa.or_(*(column.like(p) if "%" in p else column == p for p in _KEY_PATTERNS))


def upgrade() -> None:
    conn = op.get_bind()
    events = sa.table("events", sa.column("seq"), sa.column("body"))
    facts = sa.table("event_facts", *(sa.column(c) for c in ("seq", "key", "text", "num")))
    conn.execute(facts.delete().where(_ours(facts.c.key)))
    last = 0
    while True:
        rows = conn.execute(sa.select(events.c.seq, events.c.body)
                            .where(events.c.seq > last,
                                   events.c.body.contains('"zhenzhi:masterData"'),
                                   sa.or_(events.c.body.contains('"sourceList"'),
                                          events.c.body.contains('"destinationList"')))
                            .order_by(events.c.seq).limit(_BATCH)).all()
        if not rows:
            return
        out = [{"seq": seq, "key": key, "text": text, "num": None}
               for seq, body in rows for key, text in party_rows(json.loads(body))]
        if out:
            conn.execute(facts.insert(), out)
        last = rows[-1][0]


def downgrade() -> None:
    facts = sa.table("event_facts", sa.column("key"))
    op.get_bind().execute(facts.delete().where(_ours(facts.c.key)))
