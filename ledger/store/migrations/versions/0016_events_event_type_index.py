"""an index on events (event_type): `eventType` answered from it, not by reading every event.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06

`GET /events?eventType=TransformationEvent` read the events table in insert order until it had
a page: at 1,000,000 journey events, with one TransformationEvent in 2,000, that is every event
for a page (`bench.params`). With the index the first page is a range of it, as for bizStep.
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_events_event_type"), "events", ["event_type"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_events_event_type"), table_name="events")
