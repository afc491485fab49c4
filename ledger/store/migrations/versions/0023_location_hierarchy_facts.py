"""location hierarchy facts: event facts rows for WD_readPoint and WD_bizLocation.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07

No new table: `event_facts` gains `within.readPoint` / `within.bizLocation` rows, one per
ancestor of the event's readPoint / bizLocation in the hierarchy its own signed master data
(`zhenzhi:masterData`) declares with `children` (`ledger.store.event_facts.master_data_facts`).
Until now WD_ answered as EQ_.

The rows are computed by this revision's own copy of the rule, frozen here, so a later change
to the live code cannot change what this step did. Revision 0019 computes its rows with the
live `master_data_facts`, which now writes these rows too: this revision first deletes any
`within.` rows, so a database built from scratch ends with one set, not two.
"""

import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

_BATCH = 1000
_FIELDS = ("readPoint", "bizLocation")
_MAX_ANCESTORS = 32
_TEXT_LIMIT = 512


def _parents(items: list[Any]) -> dict[str, list[str]]:
    parents: dict[str, list[str]] = {}
    for element in items:
        if not isinstance(element, Mapping) or not isinstance(element.get("id"), str):
            continue
        children = element.get("children")
        for child in children if isinstance(children, list) else ():
            if isinstance(child, str) and child != element["id"]:
                parents.setdefault(child, []).append(element["id"])
    return parents


def _ancestors(location: str, parents: Mapping[str, list[str]]) -> list[str]:
    out: list[str] = []
    seen = {location}
    level = [location]
    while level and len(out) < _MAX_ANCESTORS:
        following = []
        for node in level:
            for parent in parents.get(node, ()):
                if parent not in seen:
                    seen.add(parent)
                    out.append(parent)
                    following.append(parent)
        level = following
    return out[:_MAX_ANCESTORS]


def hierarchy_rows(event: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key, ancestor) rows of one event, as `master_data_facts` writes them at capture."""
    items = event.get("zhenzhi:masterData")
    if not isinstance(items, list):
        return []
    parents = _parents(items)
    out: list[tuple[str, str]] = []
    for field in _FIELDS:
        where = event.get(field)
        location = where.get("id") if isinstance(where, Mapping) else None
        if isinstance(location, str):
            out.extend((f"within.{field}", a) for a in _ancestors(location, parents)
                       if len(a) <= _TEXT_LIMIT)
    return list(dict.fromkeys(out))


def upgrade() -> None:
    conn = op.get_bind()
    events = sa.table("events", sa.column("seq"), sa.column("body"))
    facts = sa.table("event_facts", *(sa.column(c) for c in ("seq", "key", "text", "num")))
    conn.execute(facts.delete().where(facts.c.key.like("within.%")))
    last = 0
    while True:
        rows = conn.execute(sa.select(events.c.seq, events.c.body)
                            .where(events.c.seq > last,
                                   events.c.body.contains('"zhenzhi:masterData"'),
                                   events.c.body.contains('"children"'))
                            .order_by(events.c.seq).limit(_BATCH)).all()
        if not rows:
            return
        out = [{"seq": seq, "key": key, "text": text, "num": None}
               for seq, body in rows for key, text in hierarchy_rows(json.loads(body))]
        if out:
            conn.execute(facts.insert(), out)
        last = rows[-1][0]


def downgrade() -> None:
    facts = sa.table("event_facts", sa.column("key"))
    op.get_bind().execute(facts.delete().where(facts.c.key.like("within.%")))
