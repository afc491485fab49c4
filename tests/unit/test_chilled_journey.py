"""The demo's chilled consignment (`build_journey(..., chilled=h)`): cultured butter from a
fresh-cream lot, with the reefer's hourly log on the carrier's voyage and arrival events, and
`h` hours at 9 °C at the Nansha berth. The formula journeys carry no sensor data."""

from __future__ import annotations

import pytest

from ledger.demo.journey import CHILLED_RANGES, build_journey, products
from ledger.evidence.public import reading_only
from ledger.trade.coldchain import readings


def _logged(journey):
    return [e for e in journey.events if e.get("sensorElementList")]


def test_the_chilled_consignment_is_butter_logged_by_the_carrier_on_the_pallets():
    j = build_journey(104, chilled=4)
    p = products()
    assert [(lot.ref.gtin, bool(lot.items)) for lot in j.lots] == [
        (p["cream"].gtin, False), (p["butter"].gtin, True)]
    butter = j.lots[1]
    assert butter.ref.lot.startswith("BU") and len(butter.items) == 90
    logged = _logged(j)
    assert [e["bizStep"] for e in logged] == ["transporting", "arriving"]
    pallets = {c.epc for c in j.containers if c.kind == "pallet"}
    for event in logged:
        assert set(event["epcList"]) == pallets
        assert all(reading_only(el) for el in event["sensorElementList"])  # public on the page
        found, unreadable = readings(event)
        assert unreadable == 0 and found
        # every reading falls before the event that reports it, hourly
        assert all(r.start_ms <= readings_time(event) for r in found)
    voyage, arrival = (readings(e)[0] for e in logged)
    assert all(2.0 <= r.value <= 3.5 for r in voyage)
    hot = [r for r in arrival if r.value > CHILLED_RANGES[0]["max"]]
    assert [r.value for r in hot] == [9.0] * 4
    assert hot[-1].start_ms - hot[0].start_ms == 3 * 3_600_000
    assert all(r.value <= 4 for r in arrival[-3:])  # back in range before the arrival scan


def readings_time(event):
    from datetime import datetime

    return int(datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00")).timestamp()
               * 1000)


def test_no_breach_hours_keeps_the_reefer_in_range_and_formula_carries_no_log():
    kept = build_journey(104, chilled=0)
    assert all(r.value <= 4 for e in _logged(kept) for r in readings(e)[0])
    assert _logged(build_journey(101)) == []


def test_negative_breach_hours_are_refused():
    with pytest.raises(ValueError):
        build_journey(104, chilled=-1)
