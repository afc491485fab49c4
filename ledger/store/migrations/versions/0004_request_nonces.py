"""request_nonces: the nonces of signed member requests, shared by every gateway process.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05

A member's signed request is usable once: the gateway remembers its nonce for twice the allowed
clock skew. Without Redis each process remembered them in its own memory, so a request replayed
to another process on the same store passed. The store is what the processes share; a row lives
until `expires_ms`, and expired rows are deleted as new ones go in (`Store.first_use_nonce`).
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "request_nonces",
        sa.Column("nonce", sa.String(length=160), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_request_nonces")),
    )
    op.create_index(op.f("ix_request_nonces_expires_ms"), "request_nonces", ["expires_ms"],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_request_nonces_expires_ms"), table_name="request_nonces")
    op.drop_table("request_nonces")
