"""webhook_outbox.epc_format: a delivery says how its GS1 keys are written (GS1-EPC-Format).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07

A subscription's deliveries were translated as it asked (0020) but sent without the header a
query answer carries, so a receiver could not tell an incomplete translation (a Digital Link no
member's company prefix makes a URN) from a complete one. Deliveries waiting when this runs
keep NULL and are sent without the header, as before.
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("webhook_outbox", sa.Column("epc_format", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_outbox") as batch:
        batch.drop_column("epc_format")
