"""Trace index: trace_latest, trace_holder, trace_links (see `ledger.store.trace_index`), back-filled
from the events already stored.

Revision ID: 0002
Revises: 0001
Create Date: 2025-03-01

The tables are written out in full, like 0001; the back-fill calls `ledger.store.trace_index.rebuild`,
the same fold the insert path uses, so an upgraded store answers exactly as a fresh one would.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trace_latest",
        sa.Column("epc", sa.String(length=512), nullable=False),
        sa.Column("event_time_ms", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.LargeBinary(length=32), nullable=False),
        sa.Column("biz_step", sa.String(length=256), nullable=True),
        sa.Column("disposition", sa.String(length=256), nullable=True),
        sa.Column("location", sa.String(length=512), nullable=True),
        sa.Column("custodian", sa.String(length=512), nullable=False),
        sa.PrimaryKeyConstraint("epc", name=op.f("pk_trace_latest")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "trace_holder",
        sa.Column("epc", sa.String(length=512), nullable=False),
        sa.Column("parent", sa.String(length=512), nullable=False),
        sa.Column("event_time_ms", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=True),
        sa.PrimaryKeyConstraint("epc", name=op.f("pk_trace_holder")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "trace_links",
        sa.Column("child", sa.String(length=512), nullable=False),
        sa.Column("parent", sa.String(length=512), nullable=False),
        sa.PrimaryKeyConstraint("child", "parent", name=op.f("pk_trace_links")),
        sqlite_with_rowid=False,
    )
    from ledger.store.trace_index import rebuild

    bind = op.get_bind()
    rebuild(bind, bind.dialect.name)


def downgrade() -> None:
    op.drop_table("trace_links")
    op.drop_table("trace_holder")
    op.drop_table("trace_latest")
