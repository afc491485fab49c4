"""named_queries: EPCIS 2.0 named queries (`POST /queries`), stored per organisation.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

One row per (organisation, query name): the query as the member sent it (JSON text of the
standard's query language), and when it was created. A member reads, runs and deletes only
its own organisation's queries; two organisations may use the same name.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "named_queries",
        sa.Column("org", sa.LargeBinary(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("org", "name", name=op.f("pk_named_queries")),
    )


def downgrade() -> None:
    op.drop_table("named_queries")
