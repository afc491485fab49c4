"""complaint_replies: a brand's signed replies to complaints about its products (console).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06


One row per reply: the complaint, the organisation and key that signed it, the text, when, and
the EIP-712 `ComplaintReply` signature over (complaint id, keccak of the text, time) that
anyone can check against the key's validity on Consortium at that time. The signature is
unique: the same signed reply cannot be stored twice (a replay).
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "complaint_replies",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=True, nullable=False),
        sa.Column("complaint_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  nullable=False),
        sa.Column("org", sa.LargeBinary(length=32), nullable=False),
        sa.Column("signer", sa.String(length=42), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("replied_ms", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=65), nullable=False),
        sa.ForeignKeyConstraint(["complaint_id"], ["complaints.id"],
                                name=op.f("fk_complaint_replies_complaint_id_complaints")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint_replies")),
        sa.UniqueConstraint("signature", name=op.f("uq_complaint_replies_signature")),
    )
    op.create_index(op.f("ix_complaint_replies_complaint_id"), "complaint_replies",
                    ["complaint_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_complaint_replies_complaint_id"), table_name="complaint_replies")
    op.drop_table("complaint_replies")
