"""console_sessions: console log-ins by Sign-In with Ethereum (EIP-4361).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05

One row per open session: the SHA-256 of the random id the browser holds in its cookie (a copy
of the table opens no session), the organisation and key that signed in, and when it expires.
The organisation's roles are not stored: they are read from Consortium on every request.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("id_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("org", sa.LargeBinary(length=32), nullable=False),
        sa.Column("signer", sa.String(length=42), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_console_sessions")),
    )
    op.create_index(op.f("ix_console_sessions_expires_ms"), "console_sessions", ["expires_ms"],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_console_sessions_expires_ms"), table_name="console_sessions")
    op.drop_table("console_sessions")
