"""sensor_readings: an index of events' sensor reports for the EPCIS sensor query parameters.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05

One row per numeric statistic of each typed `sensorReport` (`ledger.store.sensor_index`):
type, statistic, value and unit as reported, and the value in the type's canonical unit.
Events stored before this revision are indexed from their JSON here, a batch at a time.
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_BATCH = 1000


def upgrade() -> None:
    op.create_table(
        "sensor_readings",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("element", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("report", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("stat", sa.String(length=16), nullable=False),
        sa.Column("type", sa.String(length=128), nullable=False),
        sa.Column("uom", sa.String(length=16), nullable=True),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("canonical", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["seq"], ["events.seq"],
                                name=op.f("fk_sensor_readings_seq_events")),
        sa.PrimaryKeyConstraint("seq", "element", "report", "stat",
                                name=op.f("pk_sensor_readings")),
        sqlite_with_rowid=False,
    )
    op.create_index(op.f("ix_sensor_readings_type_stat_canonical"), "sensor_readings",
                    ["type", "stat", "canonical"], unique=False)
    op.create_index(op.f("ix_sensor_readings_uom_stat_value"), "sensor_readings",
                    ["uom", "stat", "value"], unique=False)
    _backfill()


def _backfill() -> None:
    from ledger.store.sensor_index import TYPE_LIMIT, UOM_LIMIT, sensor_rows

    conn = op.get_bind()
    events = sa.table("events", sa.column("seq"), sa.column("body"))
    readings = sa.table("sensor_readings", *(sa.column(c) for c in (
        "seq", "element", "report", "stat", "type", "uom", "value", "canonical")))
    last = 0
    while True:
        rows = conn.execute(sa.select(events.c.seq, events.c.body)
                            .where(events.c.seq > last,
                                   events.c.body.contains('"sensorElementList"'))
                            .order_by(events.c.seq).limit(_BATCH)).all()
        if not rows:
            return
        out = []
        for seq, text in rows:
            for e, r, stat, kind, uom, value, canonical in sensor_rows(json.loads(text)):
                if len(kind) <= TYPE_LIMIT and (uom is None or len(uom) <= UOM_LIMIT):
                    out.append({"seq": seq, "element": e, "report": r, "stat": stat,
                                "type": kind, "uom": uom, "value": value,
                                "canonical": canonical})
        if out:
            conn.execute(readings.insert(), out)
        last = rows[-1][0]


def downgrade() -> None:
    op.drop_index(op.f("ix_sensor_readings_uom_stat_value"), table_name="sensor_readings")
    op.drop_index(op.f("ix_sensor_readings_type_stat_canonical"), table_name="sensor_readings")
    op.drop_table("sensor_readings")
