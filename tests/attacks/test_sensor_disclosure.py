"""Attack class: a public scan as a window onto other parties' equipment.

A reefer's sensor elements may name the logger (`deviceID`, `deviceMetadata`), link its raw
data (`rawData`) and the carrier's processing (`dataProcessingMethod`): a rival reading them off
a can's public proof learns whose equipment carried what. The shopper's proof shows readings
only (type, value/min/max/mean, unit, time): an element that names more is one committed leaf,
so it stays hidden whole; members entitled to the event see it in full. Played against a real
gateway over a store holding the demo journey on a real chain.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.attacks.scan_env import Stack, path_of, played_stack
from tests.integration.traceability_env import Org, signed
from verifier.verify import verify

pytestmark = pytest.mark.chain

DEVICE = "urn:epc:id:giai:4000001.987654"
RAW = "https://logger.reefer.example/raw/987654.csv"
METHOD = "https://logger.reefer.example/method/average-5min"
LEAKS = (DEVICE, RAW, METHOD, "deviceID", "deviceMetadata", "rawData", "dataProcessingMethod",
         "987654")


def _reefer(sc: Any) -> dict[str, Any]:
    """The carrier's voyage event again, carrying two sensor elements: readings only (3.25 °C),
    and one that names the logger, its raw data and processing (3.75 °C)."""
    carrier = next(c for c in sc.journey.captures for e in c.events
                   if c.org.key == "carrier" and e.get("bizStep") == "transporting")
    voyage = next(e for e in carrier.events if e.get("bizStep") == "transporting")
    event = copy.deepcopy(voyage)
    at = event["eventTime"]
    event["sensorElementList"] = [
        {"sensorReport": [{"type": "Temperature", "value": 3.25, "uom": "CEL", "time": at}]},
        {"sensorMetadata": {"time": at, "deviceID": DEVICE, "deviceMetadata": DEVICE,
                            "rawData": RAW, "dataProcessingMethod": METHOD},
         "sensorReport": [{"type": "Temperature", "value": 3.75, "uom": "CEL",
                           "deviceID": DEVICE, "rawData": RAW,
                           "dataProcessingMethod": METHOD}]},
    ]
    doc = copy.deepcopy(carrier.document)
    doc["epcisBody"]["eventList"] = [event]
    return doc


@pytest.fixture(scope="module")
def stack(w3, deployment, tmp_path_factory) -> Iterator[Stack]:
    yield from played_stack(w3, deployment, tmp_path_factory.mktemp("sensor-disclosure"),
                            days_later=160)


@pytest.fixture(scope="module")
def logged(stack) -> dict[str, Any]:
    sc = stack.scenario
    result = sc.capture(sc.parties["carrier"], _reefer(sc))
    sc.anchor_pending()
    p = sc.parties["carrier"]
    return {"id": "ni:///sha-256;" + result.capture.event_ids[0].hex() + "?ver=CBV2.0",
            "carrier": Org(p.org.name, p.org.gln, p.org_id, "0x" + p.private_key.hex(),
                           p.address),
            "can": sc.sold_cans()[0]}


def test_attack_a_public_scan_shows_no_device_raw_data_or_processing(stack, logged):
    gateway = stack.gateway()
    r = gateway.get(path_of(logged["can"]), headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text[:300]
    for leak in LEAKS:
        assert leak not in r.text, leak
    page = gateway.get(path_of(logged["can"]), headers={"Accept": "text/html"}).text
    assert not [leak for leak in LEAKS if leak in page]
    # The readings-only element is shown, and it still proves against the carrier's signature.
    shown = [d["text"] for e in r.json()["events"] for d in e["disclosures"]
             if '"sensorElementList"' in d["text"]]
    assert any('"value":3.25' in t for t in shown)
    assert not any('"value":3.75' in t for t in shown)  # the device's element is hidden whole
    from ledger.proofs.bundle import Bundle

    verdict = verify(logged["can"], Bundle.from_json(r.json()), stack.scenario.view)
    assert verdict.genuine, verdict.reason


def test_members_see_the_full_sensor_elements(stack, logged):
    gateway = stack.gateway()
    r = signed(gateway, logged["carrier"], "GET", "/events/" + quote(logged["id"], safe=""))
    assert r.status_code == 200, r.text[:300]
    (event,) = r.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    device = event["sensorElementList"][1]
    assert device["sensorMetadata"]["deviceID"] == DEVICE
    assert device["sensorMetadata"]["rawData"] == RAW
    assert device["sensorReport"][0]["dataProcessingMethod"] == METHOD
