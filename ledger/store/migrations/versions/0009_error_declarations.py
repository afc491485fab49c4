"""error_declarations: EPCIS error declarations, each a signed fact linked to its event.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05

One row per declared event id (first declaration wins): the capture carrying the declaration
(the event again with its `errorDeclaration`), its position there, the declaring organisation,
the declaration time and reason, and the declaration as captured.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "error_declarations",
        sa.Column("event_id", sa.LargeBinary(length=32), nullable=False),
        sa.Column("capture_id", sa.String(length=64), nullable=False),
        sa.Column("event_index", sa.Integer(), nullable=False),
        sa.Column("org", sa.LargeBinary(length=32), nullable=False),
        sa.Column("declaration_time_ms", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=256), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["capture_id"], ["captures.id"],
                                name=op.f("fk_error_declarations_capture_id_captures")),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_error_declarations")),
    )
    op.create_index(op.f("ix_error_declarations_reason"), "error_declarations", ["reason"],
                    sqlite_where=sa.text("reason IS NOT NULL"),
                    postgresql_where=sa.text("reason IS NOT NULL"))


def downgrade() -> None:
    op.drop_index(op.f("ix_error_declarations_reason"), table_name="error_declarations")
    op.drop_table("error_declarations")
