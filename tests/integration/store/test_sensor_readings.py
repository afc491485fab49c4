"""The sensor readings index and the EPCIS sensor query parameters, on SQLite and PostgreSQL
(the `store` fixture runs each test on both): filled at capture, backfilled by migration 0009,
compared across units, and answered from the index (the events' JSON is not read)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from ledger.errors import InvalidInputError
from ledger.store import tables as t
from ledger.store.sensor_index import SensorFilter, sensor_rows
from ledger.store.store import EventQuery, Store
from tests.integration.store.head import HEAD
from tests.integration.store.test_store import EXAMPLES, object_event, signed


def reefer_event(i: int, temps: list[float], *, uom: str = "CEL", kind: str = "Temperature",
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
    ev = object_event(i, minute=i)
    ev["sensorElementList"] = [{"sensorReport": [
        {"type": kind, "value": v, "uom": uom, "time": f"2024-03-01T0{n % 10}:00:00.000Z"}
        for n, v in enumerate(temps)]}]
    if extra:
        ev["sensorElementList"][0]["sensorReport"].append(extra)
    return ev


def _ids(store: Store, query: EventQuery) -> list[str]:
    events, token = store.query_events(query, 100)
    assert token is None
    return [e.event["epcList"][0].rsplit(".", 1)[1] for e in events]


@pytest.fixture
def reefers(store: Store) -> Store:
    store.accept_capture(signed([
        reefer_event(1, [2.0, 3.5, 9.0]),  # a breach at 9 °C
        reefer_event(2, [2.0, 3.0]),  # kept cold
        reefer_event(3, [35.6, 37.4], uom="FAH"),  # 2 °C and 3 °C, reported in Fahrenheit
        reefer_event(4, [48.2], uom="FAH"),  # 9 °C in Fahrenheit
        reefer_event(5, [40.0, 95.0], uom="P1", kind="gs1:RelativeHumidity"),
        reefer_event(6, [1200.0], uom="LUX", kind="Illuminance"),
        reefer_event(7, [], extra={"type": "Temperature", "minValue": -1.0, "maxValue": 6.5,
                                   "meanValue": 2.5, "uom": "CEL"}),
        object_event(8, minute=8),  # no sensor data
    ], nonce=1))
    return store


def test_every_reading_of_the_capture_is_indexed(reefers: Store) -> None:
    with reefers.engine.connect() as conn:
        rows = conn.execute(select(t.sensor_readings.c.type, func.count())
                            .group_by(t.sensor_readings.c.type)
                            .order_by(t.sensor_readings.c.type)).all()
    assert [tuple(r) for r in rows] == [("Illuminance", 1), ("RelativeHumidity", 2),
                                        ("Temperature", 11)]


def test_eq_type_finds_events_with_a_report_of_that_type(reefers: Store) -> None:
    assert _ids(reefers, EventQuery(eq_type=("Temperature",))) == ["1", "2", "3", "4", "7"]
    assert _ids(reefers, EventQuery(eq_type=("gs1:RelativeHumidity", "Illuminance"))) == [
        "5", "6"]
    assert _ids(reefers, EventQuery(eq_type=("https://gs1.org/voc/Temperature",))) == [
        "1", "2", "3", "4", "7"]
    assert _ids(reefers, EventQuery(eq_type=("Speed",))) == []


def test_a_bound_finds_the_breach_whatever_unit_it_was_reported_in(reefers: Store) -> None:
    above = EventQuery(sensor=(SensorFilter("GT", "value", "CEL", 4.0),))
    assert _ids(reefers, above) == ["1", "4"]  # 9 °C, and 48.2 °F = 9 °C
    in_f = EventQuery(sensor=(SensorFilter("GE", "value", "FAH", 46.4),))  # 8 °C
    assert _ids(reefers, in_f) == ["1", "4"]
    in_k = EventQuery(sensor=(SensorFilter("LT", "value", "KEL", 275.65),))  # < 2.5 °C
    assert _ids(reefers, in_k) == ["1", "2", "3"]
    exact = EventQuery(sensor=(SensorFilter("EQ", "value", "CEL", 3.0),))
    assert _ids(reefers, exact) == ["2", "3"]  # 3.0 °C, and 37.4 °F converted


def test_bounds_combine_and_apply_to_the_statistic_named(reefers: Store) -> None:
    both = EventQuery(sensor=(SensorFilter("GE", "value", "CEL", 3.5),
                              SensorFilter("LE", "value", "CEL", 3.5)))
    assert _ids(reefers, both) == ["1"]
    assert _ids(reefers, EventQuery(sensor=(SensorFilter("GT", "maxValue", "CEL", 4),))) == ["7"]
    assert _ids(reefers, EventQuery(sensor=(SensorFilter("LT", "minValue", "CEL", 0),))) == ["7"]
    assert _ids(reefers, EventQuery(sensor=(SensorFilter("GT", "value", "CEL", 100),))) == []


def test_a_unit_no_one_converts_matches_as_reported_only(reefers: Store) -> None:
    assert _ids(reefers, EventQuery(sensor=(SensorFilter("GE", "value", "LUX", 1000),))) == ["6"]
    assert _ids(reefers, EventQuery(sensor=(SensorFilter("GE", "value", "LX", 1000),))) == []
    # A relative humidity bound is not a temperature: the type comes with the unit.
    assert _ids(reefers, EventQuery(sensor=(SensorFilter("GT", "value", "P1", 90),))) == ["5"]
    # EQ_type with a bound: a report of that type must compare so.
    assert _ids(reefers, EventQuery(eq_type=("Illuminance",),
                                    sensor=(SensorFilter("GT", "value", "CEL", 4),))) == []


def test_the_query_reads_the_index_not_the_events_json(reefers: Store) -> None:
    # Rewrite an event's stored JSON behind the index's back: the answer follows the index.
    with reefers.engine.begin() as conn:
        conn.execute(update(t.events).where(t.events.c.seq == 2)
                     .values(body=json.dumps(object_event(2, minute=2))))
    assert _ids(reefers, EventQuery(eq_type=("Temperature",))) == ["1", "2", "3", "4", "7"]
    with reefers.engine.begin() as conn:
        conn.execute(delete(t.sensor_readings).where(t.sensor_readings.c.seq == 1))
    assert _ids(reefers, EventQuery(sensor=(SensorFilter("GT", "value", "CEL", 4.0),))) == ["4"]


def test_the_same_event_captured_twice_is_indexed_once(reefers: Store) -> None:
    reefers.accept_capture(signed([reefer_event(1, [2.0, 3.5, 9.0]), reefer_event(9, [1.0])],
                                  nonce=2))
    with reefers.engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(t.sensor_readings)
                         .where(t.sensor_readings.c.seq == 1)).scalar_one()
    assert n == 3
    assert _ids(reefers, EventQuery(sensor=(SensorFilter("LT", "value", "CEL", 1.5),))) == ["9"]


def test_an_overlong_type_is_refused_with_the_capture_not_stored_half(store: Store) -> None:
    ev = reefer_event(1, [2.0], kind="x" * 129)
    with pytest.raises(InvalidInputError, match="too long"):
        store.accept_capture(signed([ev], nonce=1))
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.events)).scalar_one() == 0


def test_the_standards_sensor_examples_are_indexed_row_for_row(store: Store) -> None:
    expected = 0
    nonce = 0
    for path in sorted(EXAMPLES.glob("WithSensorData_*.jsonld")):
        doc = json.loads(path.read_text())
        events = doc["epcisBody"]["eventList"]
        nonce += 1
        store.accept_capture(signed(events, nonce=nonce, context=doc.get("@context")))
    with store.engine.connect() as conn:
        for body in conn.execute(select(t.events.c.body)).scalars():
            expected += len(sensor_rows(json.loads(body)))
        indexed = conn.execute(select(func.count()).select_from(t.sensor_readings)).scalar_one()
    assert indexed == expected > 50
    # Example 1's 26 °C … 26.2 °C office readings, and nothing at 27 °C or more.
    assert store.query_events(EventQuery(sensor=(SensorFilter("GE", "value", "CEL", 26.15),)),
                              100)[0]
    assert not store.query_events(EventQuery(eq_type=("Temperature",), sensor=(
        SensorFilter("GE", "value", "CEL", 1000),)), 100)[0]


def test_migration_0010_indexes_the_events_stored_before_it(reefers: Store) -> None:
    with reefers.engine.connect() as conn:
        before = sorted(tuple(r) for r in conn.execute(select(t.sensor_readings)).all())
    reefers.migrate("0009")
    reefers.migrate()
    assert reefers.schema_revision() == HEAD
    with reefers.engine.connect() as conn:
        after = sorted(tuple(r) for r in conn.execute(select(t.sensor_readings)).all())
    assert after == before and len(after) == 14
