"""product_conditions: brands' signed allowed ranges (temperature, humidity, shock) per GTIN.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-12

One immutable row per GTIN and version (`ledger.trade.conditions`): the exact JSON text the
brand signed, its keccak256, the EIP-712 signature and the signing organisation and key.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "product_conditions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
                  nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("org", sa.LargeBinary(length=32), nullable=False),
        sa.Column("signer", sa.String(length=42), nullable=False),
        sa.Column("signed_at", sa.BigInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("text_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=65), nullable=False),
        sa.Column("received_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_conditions")),
        sa.UniqueConstraint("gtin", "version", name=op.f("uq_product_conditions_gtin_version")),
    )


def downgrade() -> None:
    op.drop_table("product_conditions")
