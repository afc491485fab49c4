"""Complaint triage and the regulator's reasons (console, issue 21).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

complaints gain `receipt_hash` (SHA-256 of the random receipt the complainant was given: the
receipt itself is never stored, so a copy of the table opens no complaint), `outcome` (the
regulator's text when resolving or rejecting) and `updated_ms`. Complaints filed before this
revision have no receipt and can be looked up by nobody.

complaint_transitions: one row per status change (open → investigating → resolved | rejected),
with the regulator organisation and the session key that made it, and when.

regulator_reasons: the text of a grade's or blacklisting's reason, kept with the Consortium
transaction that applied it (the chain holds only keccak256(reason) for a blacklisting and
nothing for a grade), the organisation it concerns, and the key that sent it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("complaints", sa.Column("receipt_hash", sa.LargeBinary(length=32),
                                          nullable=True))
    op.add_column("complaints", sa.Column("outcome", sa.Text(), nullable=True))
    op.add_column("complaints", sa.Column("updated_ms", sa.BigInteger(), nullable=True))
    op.create_table(
        "complaint_transitions",
        sa.Column("id", _SERIAL, autoincrement=True, nullable=False),
        sa.Column("complaint_id", _SERIAL, nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=False),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("org", sa.LargeBinary(length=32), nullable=False),
        sa.Column("signer", sa.String(length=42), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["complaint_id"], ["complaints.id"],
                                name=op.f("fk_complaint_transitions_complaint_id_complaints")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint_transitions")),
    )
    op.create_index(op.f("ix_complaint_transitions_complaint_id"), "complaint_transitions",
                    ["complaint_id"], unique=False)
    op.create_table(
        "regulator_reasons",
        sa.Column("tx_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("org", sa.LargeBinary(length=32), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("grade", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("by_org", sa.LargeBinary(length=32), nullable=False),
        sa.Column("signer", sa.String(length=42), nullable=False),
        sa.Column("recorded_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tx_hash", name=op.f("pk_regulator_reasons")),
    )
    op.create_index(op.f("ix_regulator_reasons_org"), "regulator_reasons", ["org"],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_regulator_reasons_org"), table_name="regulator_reasons")
    op.drop_table("regulator_reasons")
    op.drop_index(op.f("ix_complaint_transitions_complaint_id"),
                  table_name="complaint_transitions")
    op.drop_table("complaint_transitions")
    # SQLite drops a column by rebuilding the table; batch mode does that on both databases.
    with op.batch_alter_table("complaints") as batch:
        batch.drop_column("updated_ms")
        batch.drop_column("outcome")
        batch.drop_column("receipt_hash")
