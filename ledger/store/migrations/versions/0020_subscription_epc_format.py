"""subscriptions.epc_format: a webhook's deliveries write GS1 keys as its subscription asked.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06

The binding's `POST /queries/{queryName}/subscriptions` takes `GS1-EPC-Format`; the gateway
checked it and forgot it, so every delivery came as captured. Existing subscriptions keep
NULL: no preference, as they were delivered until now.
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("subscriptions", sa.Column("epc_format", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("epc_format")
