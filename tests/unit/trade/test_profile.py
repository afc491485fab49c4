"""The consumer profile: milestones from an imported item's journey, nothing more."""

from __future__ import annotations

import random

from ledger.trade.profile import SALE_FIELDS, ProfileEvent, consumer_profile


def ev(step: str, time: str, loc: str | None = None, **extra) -> dict:
    e = {"type": "ObjectEvent", "action": "OBSERVE", "eventTime": time,
         "eventTimeZoneOffset": "+00:00", "bizStep": step,
         "epcList": ["https://id.gs1.org/01/09506000134352/21/X1"], **extra}
    if loc:
        e["bizLocation"] = {"id": loc}
    return e


JOURNEY = [
    ProfileEvent(ev("commissioning", "2024-03-01T08:00:00Z", "urn:epc:id:sgln:4012345.00001.0",
                    action="ADD", ilmd={"cbvmda:countryOfOrigin": "DE",
                                        "cbvmda:lotNumber": "L7",
                                        "cbvmda:itemExpirationDate": "2026-03-01",
                                        "https://ref.gs1.org/cbv/countryOfExport": "NL",
                                        "example:productName": "Infant formula 800 g"}),
                 "0x01", "Milchwerk GmbH"),
    ProfileEvent(ev("urn:epcglobal:cbv:bizstep:shipping", "2024-03-02T08:00:00Z",
                    "urn:epc:id:sgln:4012345.00001.0"), "0x02", "NL Export BV"),
    ProfileEvent(ev("departing", "2024-03-03T08:00:00Z"), "0x03", "Ocean Carrier Ltd"),
    ProfileEvent(ev("arriving", "2024-04-01T08:00:00Z", "urn:epc:id:sgln:6901234.00002.0"),
                 "0x03", "Ocean Carrier Ltd"),
    ProfileEvent(ev("urn:zhenzhi:bizstep:customs_declaring", "2024-04-01T09:00:00Z"),
                 "0x04", "Shanghai Import Co"),
    ProfileEvent(ev("inspecting", "2024-04-02T08:00:00Z", "urn:epc:id:sgln:6901234.00003.0"),
                 "0x05", "Shanghai Customs"),
    ProfileEvent(ev("urn:zhenzhi:bizstep:customs_releasing", "2024-04-02T12:00:00+08:00"),
                 "0x05", "Shanghai Customs"),
    ProfileEvent(ev("receiving", "2024-04-05T08:00:00Z", "urn:epc:id:sgln:6901234.00009.0"),
                 "0x06", "Bonded Warehouse 3"),
    ProfileEvent(ev("urn:zhenzhi:bizstep:platform_listing", "2024-04-06T08:00:00Z"),
                 "0x07", "ShopPlatform"),
    ProfileEvent(ev("retail_selling", "2024-04-10T08:00:00Z", "urn:epc:id:sgln:6901234.00010.0"),
                 "0x08", None),
]


def test_profile_of_an_imported_item_in_any_event_order() -> None:
    shuffled = JOURNEY[:]
    random.Random(7).shuffle(shuffled)
    p = consumer_profile("09506000134352", "X1", shuffled, brand_owner="Milchwerk GmbH",
                         lot_status="active", customs_decision="NORMAL_CONTROL")
    assert p.to_json() == {
        "gtin": "09506000134352", "serial": "X1", "lot": "L7",
        "productName": "Infant formula 800 g",
        "productionDate": "2024-03-01T08:00:00Z", "expiryDate": "2026-03-01",
        "originCountry": "DE", "manufacturer": "Milchwerk GmbH", "brandOwner": "Milchwerk GmbH",
        "exporter": "NL Export BV", "exportCountry": "NL", "exportTime": "2024-03-02T08:00:00Z",
        "carrier": "Ocean Carrier Ltd", "portOfEntry": "urn:epc:id:sgln:6901234.00003.0",
        "arrivalTime": "2024-04-01T08:00:00Z",
        "declaringEnterprise": "Shanghai Import Co", "declarationTime": "2024-04-01T09:00:00Z",
        "customsDecision": "NORMAL_CONTROL", "releaseTime": "2024-04-02T12:00:00+08:00",
        "warehouse": "Bonded Warehouse 3", "platform": "ShopPlatform",
        "retailer": "0x08",  # no name known: the org id stands in
        "saleTime": "2024-04-10T08:00:00Z", "lotStatus": "active",
        "lastSeenAt": "urn:epc:id:sgln:6901234.00010.0", "eventCount": 10,
    }


def test_profile_never_leaks_event_fields_beyond_its_own() -> None:
    secret = ev("shipping", "2024-03-02T08:00:00Z",
                bizTransactionList=[{"type": "po", "bizTransaction": "urn:secret:po:1"}])
    p = consumer_profile("09506000134352", "X1", [ProfileEvent(secret, "0x02", "Exporter")])
    assert "urn:secret" not in repr(p.to_json())
    assert p.exporter == "Exporter" and p.manufacturer is None


def test_empty_journey_gives_an_empty_profile() -> None:
    p = consumer_profile("09506000134352", "X1", [])
    assert p.eventCount == 0 and p.lastSeenAt is None and p.originCountry is None


def test_the_public_profile_of_a_sold_and_an_unsold_item_look_alike() -> None:
    sold = consumer_profile("09506000134352", "X1", JOURNEY).public_json()
    unsold = consumer_profile("09506000134352", "X1", JOURNEY[:-1]).public_json()
    assert sold == unsold
    assert not set(SALE_FIELDS) & sold.keys()
