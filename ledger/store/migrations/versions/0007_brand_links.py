"""brand_links: links a brand owner registers for its GTINs, served by the resolver.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

A GS1-conformant resolver offers the brand's own links (its product page, certificates, …)
beside the ledger's. Only the organisation that owns the GTIN's company prefix on Consortium
may register them (the gateway checks the signed request against the chain); `org` keeps who
did.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "brand_links",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
                  nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("link_type", sa.String(length=200), nullable=False),
        sa.Column("href", sa.String(length=1000), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=True),
        sa.Column("hreflang", sa.String(length=8), nullable=True),
        sa.Column("org", sa.LargeBinary(length=32), nullable=False),
        sa.Column("registered_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_brand_links")),
        sa.UniqueConstraint("gtin", "link_type", "href",
                            name=op.f("uq_brand_links_gtin_link_type_href")),
    )
    op.create_index(op.f("ix_brand_links_gtin"), "brand_links", ["gtin"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_brand_links_gtin"), table_name="brand_links")
    op.drop_table("brand_links")
