"""master data facts: event facts rows for HASATTR_ and EQ_ATTR_ on readPoint and bizLocation.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06

No new table: `event_facts` gains the rows of `ledger.store.event_facts.master_data_facts`
(`attr.readPoint.<attribute>`, `hasattr.readPoint`, bizLocation alike): the attributes an
event's own signed master data (`zhenzhi:masterData`) gives its readPoint and bizLocation.
Events stored before this revision are indexed from their JSON here, a batch at a time; the
downgrade deletes those rows again.
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_BATCH = 1000
# The keys this revision writes: nothing before it writes keys starting so.
_KEY_PATTERNS = ("attr.%", "hasattr.%")


def upgrade() -> None:
    from ledger.store.event_facts import master_data_facts

    conn = op.get_bind()
    events = sa.table("events", sa.column("seq"), sa.column("body"))
    facts = sa.table("event_facts", *(sa.column(c) for c in ("seq", "key", "text", "num")))
    last = 0
    while True:
        rows = conn.execute(sa.select(events.c.seq, events.c.body)
                            .where(events.c.seq > last,
                                   events.c.body.contains('"zhenzhi:masterData"'))
                            .order_by(events.c.seq).limit(_BATCH)).all()
        if not rows:
            return
        out = [{"seq": seq, "key": key, "text": text, "num": num}
               for seq, body in rows
               for key, text, num in master_data_facts(json.loads(body))]
        if out:
            conn.execute(facts.insert(), out)
        last = rows[-1][0]


def downgrade() -> None:
    facts = sa.table("event_facts", sa.column("key"))
    op.get_bind().execute(facts.delete().where(
        sa.or_(*(facts.c.key.like(p) for p in _KEY_PATTERNS))))
