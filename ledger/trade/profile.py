"""The consumer profile of an item: the ~20 traceability facts a shopper may see, derived from
the item's events, without the events themselves.

Full EPCIS events name trading partners, quantities and business transactions that members
share with each other, not with the public. The profile keeps only what a label could carry
anyway plus the journey's milestones: product, origin, who made, shipped, declared, released
and sold it, and when. Every value comes from a signed event (or the chain, for lot status and
the customs decision); nothing here is typed in by the gateway.

Where CBV 2.0 has no word for a step (a customs declaration, a platform listing) Zhenzhi uses
`urn:zhenzhi:bizstep:*`, as `ledger.chain.roles` does. Pure: the caller supplies events and names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from ledger.chain.roles import bizstep_name

__all__ = ["SALE_FIELDS", "ConsumerProfile", "ProfileEvent", "consumer_profile"]

# What tells whether an item was sold (when, by whom, where it was last, how many events it
# has): the consumer page shows it to whoever holds the item, as that scan is recorded and
# judged; the public profile does not, or it would tell a counterfeiter which serials are still
# unsold and so safest to print on fakes.
SALE_FIELDS = ("retailer", "saleTime", "lastSeenAt", "eventCount")

_ORIGIN = {"commissioning", "encoding", "creating_class_instance", "assembling", "packing",
           "labelling"}
_CARRIER = {"departing", "loading", "transporting", "staging_outbound", "arriving", "unloading"}
_ARRIVAL = {"arriving", "unloading"}
_DECLARING = {"urn:zhenzhi:bizstep:customs_declaring"}
_CUSTOMS = {"inspecting", "holding", "urn:zhenzhi:bizstep:customs_holding"}
_RELEASING = {"urn:zhenzhi:bizstep:customs_releasing"}
_WAREHOUSE = {"receiving", "accepting", "storing", "stocking", "picking", "unpacking"}
_PLATFORM = {"urn:zhenzhi:bizstep:platform_listing"}
_SALE = {"retail_selling", "dispensing"}

# ILMD keys (JSON-LD compact form and full IRI) for the lot master data the profile reads.
_CBVMDA = ("cbvmda:", "https://ref.gs1.org/cbv/", "urn:epcglobal:cbv:mda:")
_NAME_KEYS = ("productName", "tradeItemDescription", "descriptionShort", "regulatedProductName")


@dataclass(frozen=True, slots=True)
class ProfileEvent:
    """An item's event as the store knows it: the event and the organisation that signed it."""

    event: Mapping[str, Any]
    org_id: str | None = None
    org_name: str | None = None


@dataclass(frozen=True, slots=True)
class ConsumerProfile:
    gtin: str
    serial: str
    lot: str | None = None
    productName: str | None = None
    productionDate: str | None = None
    expiryDate: str | None = None
    originCountry: str | None = None
    manufacturer: str | None = None
    brandOwner: str | None = None
    exporter: str | None = None
    exportCountry: str | None = None
    exportTime: str | None = None
    carrier: str | None = None
    portOfEntry: str | None = None
    arrivalTime: str | None = None
    declaringEnterprise: str | None = None
    declarationTime: str | None = None
    customsDecision: str | None = None
    releaseTime: str | None = None
    warehouse: str | None = None
    platform: str | None = None
    retailer: str | None = None
    saleTime: str | None = None
    lotStatus: str | None = None
    lastSeenAt: str | None = None
    eventCount: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def public_json(self) -> dict[str, Any]:
        """The profile without `SALE_FIELDS`: what anyone may read about any code."""
        return {k: v for k, v in asdict(self).items() if k not in SALE_FIELDS}


def _time(event: Mapping[str, Any]) -> float:
    try:
        return datetime.fromisoformat(str(event.get("eventTime", "")).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _location(event: Mapping[str, Any]) -> str | None:
    for key in ("bizLocation", "readPoint"):
        loc = event.get(key)
        if isinstance(loc, Mapping):
            loc = loc.get("id")
        if isinstance(loc, str) and loc:
            return loc
    return None


def _ilmd(event: Mapping[str, Any], *names: str) -> str | None:
    ilmd = event.get("ilmd")
    if not isinstance(ilmd, Mapping):
        return None
    for name in names:
        for key, value in ilmd.items():
            bare = key
            for prefix in _CBVMDA:
                if key.startswith(prefix):
                    bare = key[len(prefix):]
            if bare.rsplit(":", 1)[-1] == name and isinstance(value, str | int | float):
                return str(value)
    return None


def _who(e: ProfileEvent) -> str | None:
    return e.org_name or e.org_id


def _names(events: Iterable[ProfileEvent]) -> str | None:
    seen: list[str] = []
    for e in events:
        who = _who(e)
        if who and who not in seen:
            seen.append(who)
    return ", ".join(seen) or None


def consumer_profile(gtin: str, serial: str, events: Iterable[ProfileEvent], *,
                     lot: str | None = None, brand_owner: str | None = None,
                     lot_status: str | None = None,
                     customs_decision: str | None = None) -> ConsumerProfile:
    """Derive the profile from the item's events (any order) and chain facts.

    `brand_owner` is the organisation that owns the GTIN's company prefix on Consortium,
    `lot_status` the lot's CodeRegistry status and `customs_decision` the CustomsRelease
    decision covering the item, when the caller knows them.
    """
    ordered = sorted(events, key=lambda e: _time(e.event))

    def with_step(steps: set[str]) -> list[ProfileEvent]:
        return [e for e in ordered if bizstep_name(e.event.get("bizStep")) in steps]

    def first(steps: set[str]) -> ProfileEvent | None:
        found = with_step(steps)
        return found[0] if found else None

    origin = first(_ORIGIN)
    shipping = first({"shipping"})
    arrival = first(_ARRIVAL)
    declaring = first(_DECLARING)
    customs = first(_CUSTOMS)
    releasing = first(_RELEASING)
    platform = first(_PLATFORM)
    sale = first(_SALE)
    last = ordered[-1] if ordered else None

    master = origin.event if origin else {}
    port = customs or arrival
    return ConsumerProfile(
        gtin=gtin, serial=serial,
        lot=lot or _ilmd(master, "lotNumber"),
        productName=_ilmd(master, *_NAME_KEYS),
        productionDate=_ilmd(master, "productionDate", "manufacturingDate")
        or (str(origin.event.get("eventTime")) if origin else None),
        expiryDate=_ilmd(master, "itemExpirationDate", "bestBeforeDate", "sellByDate"),
        originCountry=_ilmd(master, "countryOfOrigin"),
        manufacturer=_who(origin) if origin else None,
        brandOwner=brand_owner,
        exporter=_who(shipping) if shipping else None,
        exportCountry=_ilmd(master, "countryOfExport"),
        exportTime=str(shipping.event.get("eventTime")) if shipping else None,
        carrier=_names(with_step(_CARRIER)),
        portOfEntry=_location(port.event) if port else None,
        arrivalTime=str(arrival.event.get("eventTime")) if arrival else None,
        declaringEnterprise=_who(declaring) if declaring else None,
        declarationTime=str(declaring.event.get("eventTime")) if declaring else None,
        customsDecision=customs_decision,
        releaseTime=str(releasing.event.get("eventTime")) if releasing else None,
        warehouse=_names(with_step(_WAREHOUSE)),
        platform=_who(platform) if platform else None,
        retailer=_who(sale) if sale else None,
        saleTime=str(sale.event.get("eventTime")) if sale else None,
        lotStatus=lot_status,
        lastSeenAt=_location(last.event) if last else None,
        eventCount=len(ordered),
    )
