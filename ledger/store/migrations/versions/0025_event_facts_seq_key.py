"""event_facts: a (seq, key) index, for orderBy an extension field.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07

`orderBy=<prefix:field>` walks the (key, num, seq) and (key, text, seq) indexes in order; of
each event it meets it must ask whether the event has another value of the field that comes
first (a list), and of each event after the values whether it has any value of the field at
all. Neither index answers "this event's rows of this key": each probe was a read of every
row of the key. With (seq, key) each is a seek. Its entries grow with seq, so captures append
to its end rather than write all over it.
"""

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_event_facts_seq_key"), "event_facts", ["seq", "key"],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_event_facts_seq_key"), table_name="event_facts")
