"""Lighter event rows: event_epcs names its event by `events.seq` instead of
`events.event_id`; events.capture_id loses an index no query uses; the indexes of optional
fields cover only the events that have them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

An event id is a hash: keyed by it, every EPC row of a capture went to a random page of the
table's b-tree, and at a few hundred thousand events each commit rewrote most of them. `seq` only
grows, so new rows append. The rows are copied across (joined to `events` on the old key), the
`(epc, role)` index is rebuilt under its old name, and downgrade copies them back.

`ix_events_capture_id` was written on every insert and read by nothing: queries join events to
their capture, never the reverse (a capture's events are found by id from captures.event_ids).

bizStep, disposition, readPoint, bizLocation and lot are optional, and every query on them
asks for values (`=`, `IN`), which both databases know cannot match NULL: their indexes become
partial (`WHERE col IS NOT NULL`), so an event without the field adds no entry to them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _swap(key: sa.Column, fk: sa.ForeignKeyConstraint, copy: str) -> None:
    """Replace event_epcs by a table keyed by (`key`, role, epc) filled by `copy`, which reads
    the old table as `event_epcs_old`."""
    op.drop_index(op.f("ix_event_epcs_epc_role"), table_name="event_epcs")
    op.rename_table("event_epcs", "event_epcs_old")
    if op.get_bind().dialect.name == "postgresql":
        # The primary key's index name is schema-wide on PostgreSQL: free it for the new table.
        op.execute("ALTER TABLE event_epcs_old RENAME CONSTRAINT pk_event_epcs "
                   "TO pk_event_epcs_old")
    op.create_table(
        "event_epcs",
        key,
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("epc", sa.String(length=512), nullable=False),
        fk,
        sa.PrimaryKeyConstraint(key.name, "role", "epc", name=op.f("pk_event_epcs")),
        sqlite_with_rowid=False,
    )
    op.execute(copy)
    op.drop_table("event_epcs_old")
    op.create_index(op.f("ix_event_epcs_epc_role"), "event_epcs", ["epc", "role"], unique=False)


# index name → its columns; the last column is the one that may be NULL
_OPTIONAL = {"ix_events_biz_step": ["biz_step"], "ix_events_disposition": ["disposition"],
             "ix_events_read_point": ["read_point"], "ix_events_biz_location": ["biz_location"],
             "ix_events_gtin_lot": ["gtin", "lot"]}


def _optional_indexes(partial: bool) -> None:
    for name, cols in _OPTIONAL.items():
        op.drop_index(name, table_name="events")
        where = sa.text(f"{cols[-1]} IS NOT NULL") if partial else None
        op.create_index(name, "events", cols, unique=False, sqlite_where=where,
                        postgresql_where=where)


def upgrade() -> None:
    op.drop_index(op.f("ix_events_capture_id"), table_name="events")
    _optional_indexes(partial=True)
    _swap(sa.Column("seq", _SERIAL, nullable=False),
          sa.ForeignKeyConstraint(["seq"], ["events.seq"],
                                  name=op.f("fk_event_epcs_seq_events")),
          "INSERT INTO event_epcs (seq, role, epc) SELECT e.seq, x.role, x.epc "
          "FROM event_epcs_old x JOIN events e ON e.event_id = x.event_id")


def downgrade() -> None:
    _optional_indexes(partial=False)
    _swap(sa.Column("event_id", sa.LargeBinary(length=32), nullable=False),
          sa.ForeignKeyConstraint(["event_id"], ["events.event_id"],
                                  name=op.f("fk_event_epcs_event_id_events")),
          "INSERT INTO event_epcs (event_id, role, epc) SELECT e.event_id, x.role, x.epc "
          "FROM event_epcs_old x JOIN events e ON e.seq = x.seq")
    op.create_index(op.f("ix_events_capture_id"), "events", ["capture_id"], unique=False)
