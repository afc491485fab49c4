"""Cold chain: every sensorReport shape of the GS1 EPCIS 2.0 examples read, units converted,
readings held against ranges, breaches named."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.paths import SHARED_DIR
from ledger.trade.coldchain import (
    MEASUREMENTS,
    PathEvent,
    SensorRange,
    assess_cold_chain,
    canonical_type,
    convert,
    readings,
)

EXAMPLES = SHARED_DIR / "conformance" / "epcis" / "examples"
needs_examples = pytest.mark.skipif(not EXAMPLES.is_dir(),
                                    reason=f"no conformance data at {EXAMPLES}")


def _events(path: Path) -> list[dict]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    body = doc.get("epcisBody", {})
    if "eventList" in body:
        return body["eventList"]
    if "event" in body:
        return [body["event"]]
    return body.get("queryResults", {}).get("resultsBody", {}).get("eventList", [])


def _ms(text: str) -> int:
    return round(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


SENSOR_EXAMPLES = sorted(p for p in EXAMPLES.glob("*.jsonld")
                         if any(e.get("sensorElementList") for e in _events(p)))


@needs_examples
def test_the_standards_examples_with_sensor_data_are_all_here():
    # 18 WithSensorData files (one, Example16, has none in JSON), the five "all possible
    # fields" events, an association and a source/destination example.
    assert len(SENSOR_EXAMPLES) >= 24


@needs_examples
@pytest.mark.parametrize("path", SENSOR_EXAMPLES, ids=lambda p: p.stem)
def test_every_report_of_a_known_type_in_the_standards_examples_is_read_exactly(path):
    """Each statistic (value, minValue, maxValue, meanValue) of each report of a measurement
    type with a convertible unit becomes one reading, with the report's time (its own, the
    element's time, the element's interval, or the event's time); the rest is unreadable."""
    for event in _events(path):
        found, unreadable = readings(event)
        expected, expected_unreadable = [], 0
        for e_i, element in enumerate(event.get("sensorElementList") or []):
            meta = element.get("sensorMetadata") or {}
            for r_i, report in enumerate(element.get("sensorReport") or []):
                kind = canonical_type(report.get("type"))
                if kind is None:
                    continue
                if "time" in report:
                    start = end = _ms(report["time"])
                elif "time" in meta:
                    start = end = _ms(meta["time"])
                elif "startTime" in meta and "endTime" in meta:
                    start, end = _ms(meta["startTime"]), _ms(meta["endTime"])
                else:
                    start = end = _ms(event["eventTime"])
                stats = [s for s in ("value", "minValue", "maxValue", "meanValue") if s in report]
                values = [(s, convert(kind, report[s], report.get("uom", ""))) for s in stats]
                values = [(s, v) for s, v in values if v is not None]
                if not values:
                    expected_unreadable += 1
                for stat, value in values:
                    expected.append((kind, stat, value, start, end, e_i, r_i))
        assert [(r.type, r.stat, r.value, r.start_ms, r.end_ms, r.element, r.report)
                for r in found] == expected
        assert unreadable == expected_unreadable


@needs_examples
def test_shapes_single_value_time_series_and_aggregates_from_the_standard():
    ex1 = _events(EXAMPLES / "WithSensorData_SensorDataExample1.jsonld")[0]
    temps = [r for r in readings(ex1)[0] if r.type == "Temperature"]
    # three elements, each with its time: a series of single values
    assert [(r.value, r.stat) for r in temps] == [(26.0, "value"), (26.1, "value"), (26.2, "value")]
    assert temps[0].start_ms == _ms("2019-04-02T14:05:00.000+01:00")
    ex5 = _events(EXAMPLES / "WithSensorData_SensorDataExample5.jsonld")[0]
    series = readings(ex5)[0]
    assert len(series) == 6 and len({r.start_ms for r in series}) == 6  # times per report
    ex2 = _events(EXAMPLES / "WithSensorData_SensorDataExample2.jsonld")[0]
    agg = [r for r in readings(ex2)[0] if r.type == "Temperature"]
    assert {r.stat for r in agg} == {"minValue", "maxValue", "meanValue"}
    assert all(r.end_ms > r.start_ms for r in agg)  # the element's interval
    ex9 = _events(EXAMPLES / "WithSensorData_SensorDataExample9.jsonld")[0]
    assert readings(ex9) == ([], 2)  # a temperature and a humidity with no number


@pytest.mark.parametrize(("uom", "value", "celsius"), [
    ("CEL", 4.0, 4.0), ("FAH", 39.2, 4.0), ("KEL", 277.15, 4.0), ("FAH", -40.0, -40.0),
    ("KEL", 0.0, -273.15)])
def test_temperatures_in_any_unit_are_compared_in_celsius(uom, value, celsius):
    assert convert("Temperature", value, uom) == pytest.approx(celsius)


def test_units_that_are_not_a_temperature_are_not_guessed():
    assert convert("Temperature", 40.0, "FAR") is None  # FAR is the farad
    event = {"eventTime": "2026-01-01T00:00:00Z", "sensorElementList": [{"sensorReport": [
        {"type": "Temperature", "value": 40.0, "uom": "FAR"}]}]}
    assert readings(event) == ([], 1)
    assert convert("Acceleration", 2.0, "K40") == pytest.approx(19.6133)
    assert canonical_type("gs1:Temperature") == canonical_type(
        "https://gs1.org/voc/Temperature") == "Temperature"
    assert canonical_type("Speed") is None


@given(st.floats(min_value=-200, max_value=200, allow_nan=False))
def test_fahrenheit_and_kelvin_round_trip_through_celsius(celsius):
    fah = celsius * 9 / 5 + 32
    assert convert("Temperature", fah, "FAH") == pytest.approx(celsius, abs=1e-9)
    assert convert("Temperature", celsius + 273.15, "KEL") == pytest.approx(celsius, abs=1e-9)


# --- holding readings against ranges ---------------------------------------------------------

CHILLED = SensorRange("Temperature", "CEL", 0.0, 4.0, 30)


def _series(ref: str, start: str, values: list[float], *, minutes: int = 10, uom: str = "CEL",
            signer: str = "0xcarrier") -> PathEvent:
    t0 = datetime.fromisoformat(start)
    reports = [{"type": "Temperature", "uom": uom, "value": v,
                "time": datetime.fromtimestamp(t0.timestamp() + i * minutes * 60,
                                               t0.tzinfo).isoformat()}
               for i, v in enumerate(values)]
    return PathEvent({"eventTime": start, "sensorElementList": [{"sensorReport": reports}]},
                     ref, signer)


def test_kept_in_range_says_how_long_and_between_what():
    report = assess_cold_chain("0", 1, [CHILLED], [
        _series("e1", "2026-03-01T00:00:00+00:00", [2.0, 3.0, 3.5]),
        _series("e2", "2026-03-24T00:00:00+00:00", [0.5, 1.0], uom="CEL")])
    (r,) = report.ranges
    assert not report.breached and report.to_json()["status"] == "kept"
    assert (r.lowest, r.highest, r.readings, r.events) == (0.5, 3.5, 5, 2)
    assert r.to_json()["days"] == pytest.approx(23.0, abs=0.02)


def test_a_short_excursion_within_the_allowed_minutes_is_no_breach():
    report = assess_cold_chain("0", 1, [CHILLED], [
        _series("e1", "2026-03-01T00:00:00+00:00", [3.0, 6.0, 5.0, 3.0])])  # 20 minutes out
    (r,) = report.ranges
    assert r.minutes_outside == pytest.approx(20) and len(r.excursions) == 1
    assert not report.breached


def test_a_long_excursion_is_a_breach_naming_event_reading_signer_and_time():
    events = [_series("e1", "2026-03-01T00:00:00+00:00", [3.0, 3.5]),
              _series("reefer", "2026-03-05T10:00:00+00:00", [3.0, 7.0, 9.5, 8.0, 3.9],
                      signer="0xline")]
    # 30 minutes outside: allowed under a range that allows 30, a breach under one of 20
    assert not assess_cold_chain("0", 1, [CHILLED], events).breached
    tight = SensorRange("Temperature", "CEL", 0.0, 4.0, 20)
    report = assess_cold_chain("0", 1, [tight], events)
    assert report.breached
    (breach,) = report.breaches()
    facts = breach.to_json()
    assert facts["event"] == "reefer" and facts["signer"] == "0xline"
    assert facts["reading"]["value"] == 9.5 and facts["bound"] == "max" and facts["limit"] == 4
    assert facts["start"] == "2026-03-05T10:10:00.000Z" and facts["end"] == "2026-03-05T10:40:00.000Z"
    assert facts["minutesOutside"] == 30  # 10:10 → 10:40, the next reading back inside
    assert facts["readings"] == 3 and report.ranges[0].minutes_outside == 30


def test_outside_longer_than_allowed_breaches_and_units_are_converted_first():
    # 39.2 °F is 4 °C (inside); 50 °F is 10 °C (outside) for 40 minutes
    report = assess_cold_chain("0", 1, [CHILLED], [
        _series("e1", "2026-03-01T00:00:00+00:00", [39.2, 50.0, 50.0, 50.0, 50.0, 35.6],
                uom="FAH")])
    (r,) = report.ranges
    assert r.minutes_outside == pytest.approx(40) and report.breached
    assert r.excursions[0].worst.raw_uom == "FAH" and r.excursions[0].worst.value == pytest.approx(10)


def test_an_aggregate_outside_counts_its_whole_interval():
    event = {"eventTime": "2026-03-01T06:00:00Z", "sensorElementList": [{
        "sensorMetadata": {"startTime": "2026-03-01T00:00:00Z", "endTime": "2026-03-01T06:00:00Z"},
        "sensorReport": [{"type": "Temperature", "uom": "CEL", "minValue": 1.0,
                          "maxValue": 4.5, "meanValue": 2.0}]}]}
    report = assess_cold_chain("0", 1, [CHILLED], [PathEvent(event, "agg", "0xa")])
    (r,) = report.ranges
    assert r.minutes_outside == 360 and report.breached
    assert r.excursions[0].worst.stat == "maxValue"


def test_no_minutes_allowed_means_any_reading_outside_breaches():
    strict = SensorRange("Acceleration", "K40", None, 3.0, 0)
    event = {"eventTime": "2026-03-01T06:00:00Z", "sensorElementList": [{"sensorReport": [
        {"type": "Acceleration", "uom": "MSK", "value": 40.0}]}]}
    report = assess_cold_chain("0", 1, [strict], [PathEvent(event, "drop", "0xa")])
    assert report.breached and report.ranges[0].minutes_outside == 0


def test_two_loggers_reporting_the_same_excursion_count_its_minutes_once():
    pallet = _series("pallet", "2026-03-01T00:00:00+00:00", [6.0, 6.0, 6.0, 6.0, 3.0])
    reefer = _series("reefer", "2026-03-01T00:00:00+00:00", [6.5, 6.5, 6.5, 6.5, 3.0])
    report = assess_cold_chain("0", 1, [CHILLED], [pallet, reefer])
    assert report.ranges[0].minutes_outside == pytest.approx(40)  # not 80
    assert {x.event for x in report.breaches()} == {"pallet", "reefer"}


def test_readings_before_the_item_was_seen_are_about_other_goods():
    old = _series("before", "2026-02-01T00:00:00+00:00", [12.0, 12.0, 12.0, 12.0])
    report = assess_cold_chain("0", 1, [CHILLED], [old], since_ms=_ms("2026-03-01T00:00:00Z"))
    assert report.to_json()["status"] == "no-readings"


def test_every_measurement_has_its_canonical_unit_among_its_units():
    for kind, (unit, units) in MEASUREMENTS.items():
        assert units[unit] == (1.0, 0.0), kind
