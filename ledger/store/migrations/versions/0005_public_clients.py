"""Public clients as the server observes them: complaints remember who filed them (the salted
client hash scans already keep), and scans forget the regions clients declared.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05

The customs risk rules count complaints per distinct client (capped per client), so one
address cannot move an enterprise's complaint rate. A complaint filed before this revision has
no hash and counts as a client of its own. Never the address: a salted hash, like `scans`.

Until now a scan's region was whatever the client sent (`?region=`, `X-Client-Region`); the
clone rules now read it as the country the gateway observed. Declared regions are worthless
as that, and kept they would go on flagging items for the rules' 30-day window: they are
cleared (the scans stay, with no place). Downgrade cannot bring them back.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("complaints", sa.Column("client_hash", sa.LargeBinary(length=32), nullable=True))
    op.execute("UPDATE scans SET region = NULL WHERE region IS NOT NULL")


def downgrade() -> None:
    # SQLite drops a column by rebuilding the table; batch mode does that on both databases.
    with op.batch_alter_table("complaints") as batch:
        batch.drop_column("client_hash")
