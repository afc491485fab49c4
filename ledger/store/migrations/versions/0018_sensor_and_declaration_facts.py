"""sensor and error declaration facts: event facts rows for the sensor metadata, sensor report
and error declaration query parameters.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06

No new table: `event_facts` gains rows under keys of its own (read through its indexes
(key, text, seq) and (key, num, seq), as every facts parameter):
- `ledger.store.sensor_index.sensor_facts` of each event with a `sensorElementList`
  (`sensor.<field>`, `[inner_]sensorelement:`/`sensormetadata:`/`sensorreport:<name>`):
  EQ_deviceID … EQ_booleanValue, GE_/LT_time, GE_/LT_startTime, GE_/LT_endTime,
  <op>_percRank and the SENSORELEMENT_/SENSORMETADATA_/SENSORREPORT_ families;
- `ledger.store.event_facts.declaration_facts` of each stored error declaration, under its
  declared event's seq (`decl:`, `inner_decl:<name>`): the ERROR_DECLARATION_ families.
Events and declarations stored before this revision are indexed from their JSON here, a batch
at a time; the downgrade deletes those rows again.
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_BATCH = 1000
# The keys this revision writes, as LIKE patterns (`_` escaped): nothing 0017 writes starts so.
_KEY_PATTERNS = ("sensor%", "inner!_sensor%", "decl:%", "inner!_decl:%")


def upgrade() -> None:
    from ledger.store.event_facts import declaration_facts
    from ledger.store.sensor_index import sensor_facts

    conn = op.get_bind()
    events = sa.table("events", sa.column("seq"), sa.column("event_id"), sa.column("body"))
    facts = sa.table("event_facts", *(sa.column(c) for c in ("seq", "key", "text", "num")))
    last = 0
    while True:
        rows = conn.execute(sa.select(events.c.seq, events.c.body)
                            .where(events.c.seq > last,
                                   events.c.body.contains('"sensorElementList"'))
                            .order_by(events.c.seq).limit(_BATCH)).all()
        if not rows:
            break
        out = [{"seq": seq, "key": key, "text": text, "num": num}
               for seq, body in rows
               for key, text, num in sensor_facts(json.loads(body))]
        if out:
            conn.execute(facts.insert(), out)
        last = rows[-1][0]
    declarations = sa.table("error_declarations", sa.column("event_id"), sa.column("body"))
    out = [{"seq": seq, "key": key, "text": text, "num": num}
           for seq, body in conn.execute(
               sa.select(events.c.seq, declarations.c.body)
               .select_from(declarations.join(events,
                                              events.c.event_id == declarations.c.event_id)))
           for key, text, num in declaration_facts(json.loads(body))]
    if out:
        conn.execute(facts.insert(), out)


def downgrade() -> None:
    facts = sa.table("event_facts", sa.column("key"))
    op.get_bind().execute(facts.delete().where(
        sa.or_(*(facts.c.key.like(p, escape="!") for p in _KEY_PATTERNS))))
