"""event_facts: an index of events' fields for the EPCIS query parameters no column answers.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06

`event_facts` holds one row per (event, field key, value) (`ledger.store.event_facts`):
EQ_action, EQ_persistentDisposition_set, EQ_transformationID, EQ_eventID, EXISTS_<field>,
MATCH_epcClass/inputEPCClass/outputEPCClass, EQ_bizTransaction_<type>, EQ_source_<type>,
EQ_destination_<type>, the quantity parameters, and the ILMD and extension field parameters,
each one range of (key, text, seq) or (key, num, seq). `declaration_corrections` holds the
correctiveEventIDs of error declarations (EQ_correctiveEventID). Indexes on
events.record_time_ms (GE_/LT_recordTime, orderBy=recordTime) and
error_declarations.declaration_time_ms (GE_/LT_errorDeclarationTime). Events and declarations
stored before this revision are indexed from their JSON here, a batch at a time.
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_BATCH = 1000
_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "event_facts",
        sa.Column("seq", _SEQ, nullable=False),
        sa.Column("key", sa.String(length=256), nullable=False),
        sa.Column("text", sa.String(length=512), nullable=True),
        sa.Column("num", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["seq"], ["events.seq"], name=op.f("fk_event_facts_seq_events")),
    )
    op.create_table(
        "declaration_corrections",
        sa.Column("corrective_id", sa.String(length=512), nullable=False),
        sa.Column("event_id", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("corrective_id", "event_id",
                                name=op.f("pk_declaration_corrections")),
    )
    _backfill()
    # Indexes after the backfill: one sort each instead of a b-tree insert per row.
    op.create_index(op.f("ix_event_facts_key_text_seq"), "event_facts", ["key", "text", "seq"],
                    unique=False)
    op.create_index(op.f("ix_event_facts_key_num_seq"), "event_facts", ["key", "num", "seq"],
                    unique=False)
    op.create_index(op.f("ix_events_record_time_ms"), "events", ["record_time_ms"],
                    unique=False)
    op.create_index(op.f("ix_error_declarations_declaration_time_ms"), "error_declarations",
                    ["declaration_time_ms"], unique=False)


def _backfill() -> None:
    from ledger.store.event_facts import fact_rows
    from ledger.store.store import correction_rows, normalise_cbv

    conn = op.get_bind()
    events = sa.table("events", sa.column("seq"), sa.column("body"))
    facts = sa.table("event_facts", *(sa.column(c) for c in ("seq", "key", "text", "num")))
    last = 0
    while True:
        rows = conn.execute(sa.select(events.c.seq, events.c.body).where(events.c.seq > last)
                            .order_by(events.c.seq).limit(_BATCH)).all()
        if not rows:
            break
        out = [{"seq": seq, "key": key, "text": text, "num": num}
               for seq, body in rows
               for key, text, num in fact_rows(json.loads(body), normalise_cbv)]
        if out:
            conn.execute(facts.insert(), out)
        last = rows[-1][0]
    declarations = sa.table("error_declarations", sa.column("event_id"), sa.column("body"))
    corrections = sa.table("declaration_corrections", sa.column("corrective_id"),
                           sa.column("event_id"))
    out = [{"corrective_id": cid, "event_id": eid}
           for eid, body in conn.execute(sa.select(declarations.c.event_id,
                                                   declarations.c.body))
           for cid, eid in correction_rows(bytes(eid), json.loads(body))]
    if out:
        conn.execute(corrections.insert(), out)


def downgrade() -> None:
    op.drop_index(op.f("ix_error_declarations_declaration_time_ms"),
                  table_name="error_declarations")
    op.drop_index(op.f("ix_events_record_time_ms"), table_name="events")
    op.drop_index(op.f("ix_event_facts_key_num_seq"), table_name="event_facts")
    op.drop_index(op.f("ix_event_facts_key_text_seq"), table_name="event_facts")
    op.drop_table("declaration_corrections")
    op.drop_table("event_facts")
