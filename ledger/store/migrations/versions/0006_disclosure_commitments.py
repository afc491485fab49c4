"""Selective disclosure: each capture keeps its disclosure seed and its events' commitments.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05

A capture's signed eventsRoot is now the Merkle root over its events' disclosure commitments
(`ledger.proofs.disclosure`), not over their bare CBV ids. The store keeps what it needs to
prove an event into that root and to show its disclosures: `disclosure_seed` (the 32-byte
secret the salts derive from) and `commitments` (the 32-byte commitments concatenated in
document order, like `event_ids`; an event's is at its `event_index`). Captures stored before
this revision were signed over their ids (domain version "1") and have neither: both columns
are nullable.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("captures", sa.Column("disclosure_seed", sa.LargeBinary(length=32),
                                        nullable=True))
    op.add_column("captures", sa.Column("commitments", sa.LargeBinary, nullable=True))


def downgrade() -> None:
    # Not batch mode: rebuilding `captures` on SQLite would drop a table that events reference.
    # SQLite (3.35+) drops an unindexed, unconstrained column in place, as PostgreSQL does.
    op.drop_column("captures", "commitments")
    op.drop_column("captures", "disclosure_seed")
