"""Complaints remember who filed them, as the salted client hash scans already keep.

Revision ID: 0004_complaint_clients
Revises: 0003
Create Date: 2026-12-05

The customs risk rules count complaints per distinct client (capped per client), so one
address cannot move an enterprise's complaint rate. A complaint filed before this revision has
no hash and counts as a client of its own. Never the address: a salted hash, like `scans`.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_complaint_clients"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("complaints", sa.Column("client_hash", sa.LargeBinary(length=32), nullable=True))


def downgrade() -> None:
    # SQLite drops a column by rebuilding the table; batch mode does that on both databases.
    with op.batch_alter_table("complaints") as batch:
        batch.drop_column("client_hash")
