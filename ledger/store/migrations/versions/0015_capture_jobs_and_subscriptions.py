"""capture jobs by organisation (`GET /capture`); webhook subscriptions and their outbox.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06

- An index on captures (org, received_ms, id): `GET /capture` pages an organisation's capture
  jobs newest first from this index alone, however many captures others made.
- `subscriptions`: webhook subscriptions to an organisation's named queries (stream or
  scheduled), with `last_seq`, the events.seq up to which events were considered.
- `webhook_outbox`: deliveries not yet acknowledged, each the exact signed body, written in
  the same transaction that advances its subscription's `last_seq`, deleted on a 2xx.
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_captures_org_received_ms_id"), "captures",
                    ["org", "received_ms", "id"])
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org", sa.LargeBinary(length=32), nullable=False),
        sa.Column("query_name", sa.String(length=128), nullable=False),
        sa.Column("signer", sa.String(length=42), nullable=False),
        sa.Column("dest", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("stream", sa.Integer(), nullable=False),
        sa.Column("schedule", sa.Text(), nullable=True),
        sa.Column("report_if_empty", sa.Integer(), nullable=False),
        sa.Column("initial_record_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("next_run_ms", sa.BigInteger(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_notified_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
    )
    op.create_index(op.f("ix_subscriptions_org_query_name_id"), "subscriptions",
                    ["org", "query_name", "id"])
    op.create_table(
        "webhook_outbox",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_ms", sa.BigInteger(), nullable=False),
        sa.Column("lease_until_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["subscription_id"], ["subscriptions.id"],
                                name=op.f("fk_webhook_outbox_subscription_id_subscriptions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_outbox")),
    )
    op.create_index(op.f("ix_webhook_outbox_subscription_id"), "webhook_outbox",
                    ["subscription_id"])
    op.create_index(op.f("ix_webhook_outbox_next_attempt_ms"), "webhook_outbox",
                    ["next_attempt_ms"])


def downgrade() -> None:
    op.drop_table("webhook_outbox")
    op.drop_index(op.f("ix_subscriptions_org_query_name_id"), table_name="subscriptions")
    op.drop_table("subscriptions")
    op.drop_index(op.f("ix_captures_org_received_ms_id"), table_name="captures")
