"""capture jobs by organisation (`GET /capture`).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

An index on captures (org, received_ms, id): `GET /capture` pages an organisation's capture
jobs newest first, from this index alone, however many captures other organisations made.
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_captures_org_received_ms_id"), "captures",
                    ["org", "received_ms", "id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_captures_org_received_ms_id"), table_name="captures")
