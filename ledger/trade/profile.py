"""The consumer profile of an item: the traceability facts the import platforms publish, each
from a signed event (or the chain) and each naming who said it.

Full EPCIS events name trading partners, quantities and business transactions that members
share with each other, not with the public. The profile keeps only what a label could carry
anyway plus the journey's milestones: product (name, brand, GTIN, serial, lot, dates, origin,
product record number 备案号), who made, exported, carried, declared, inspected, released,
stored and sold it, where and when.

Every field is `{"value", "by", ...}`: `by` is the organisation id (0x-hex, as captures name
it) of the signer of the event it was read from, or the contract it was read from
(`CodeRegistry`, `CustomsRelease`). Parties and places are shown by the names and countries
of their *master data*, which organisations sign inside their events (`ledger.epcis.master_data`), never as
raw `https://id.gs1.org/414/…` links. The browser verifier computes the same profile from the
same public disclosures (`verifier/web/src/profile.js`; the proof vectors compare both).

Where CBV 2.0 has no word for a step (a customs declaration or release, a platform listing)
Zhenzhi uses `urn:zhenzhi:bizstep:*`, as `ledger.chain.roles` does. Pure: the caller supplies
the (verified) events, in any order, and the chain facts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from ledger.chain.roles import bizstep_name
from ledger.epcis.master_data import MASTER_DATA, SELLER

__all__ = [
    "FIELDS", "MASTER_DATA", "SALE_FIELDS", "SELLER", "ConsumerProfile", "ProfileEvent",
    "consumer_profile", "local_time", "party_uri", "place_of",
]


# Display order; the page shows the fields that are present.
FIELDS = (
    "productName", "brand", "gtin", "serial", "lot", "productionDate", "expiryDate",
    "originCountry", "manufacturer", "productRecordNumber", "exporter", "carrier", "logistics",
    "portOfEntry", "declaringEnterprise", "declarationTime", "inspectionTime",
    "customsDecision", "releaseTime", "warehouse", "platform", "seller", "saleTime",
    "lotStatus",
)

# What tells whether an item was sold (when, by whom, where it was last, how many events it
# has): the consumer page shows it to whoever holds the item, as that scan is recorded and
# judged; the public profile endpoint does not, or it would tell a counterfeiter which serials
# are still unsold and so safest to print on fakes.
SALE_FIELDS = ("platform", "seller", "saleTime", "lastSeenAt", "eventCount")

_ORIGIN = {"commissioning", "encoding", "creating_class_instance", "assembling", "packing",
           "labelling"}
_CARRIER = {"departing", "loading", "transporting", "staging_outbound", "arriving", "unloading"}
_ARRIVAL = {"arriving", "unloading"}
_BORDER = {"arriving", "unloading", "inspecting", "holding",
           "urn:zhenzhi:bizstep:customs_declaring", "urn:zhenzhi:bizstep:customs_holding",
           "urn:zhenzhi:bizstep:customs_releasing"}
_DECLARING = "urn:zhenzhi:bizstep:customs_declaring"
_RELEASING = "urn:zhenzhi:bizstep:customs_releasing"
_WAREHOUSE = {"receiving", "accepting", "storing", "stocking", "picking", "unpacking",
              "repackaging"}
_PLATFORM = {"urn:zhenzhi:bizstep:platform_listing"}
_SALE = {"retail_selling", "dispensing"}

# ILMD attribute names (CBV master data or GS1 Web Vocabulary; any prefix or full IRI).
_NAME_KEYS = ("productName", "tradeItemDescription", "descriptionShort", "regulatedProductName")
_PRODUCTION_KEYS = ("productionDate", "manufacturingDate")
_EXPIRY_KEYS = ("itemExpirationDate", "bestBeforeDate", "sellByDate")
_GLN_ORG = re.compile(r"^0x((?:3[0-9]){13})(?:00){19}$")


@dataclass(frozen=True, slots=True)
class ProfileEvent:
    """An item's event as a verifier accepted it, and the organisation (0x-hex id) that signed
    it. `org_name` is for callers that still want a name beside it (not used by the profile)."""

    event: Mapping[str, Any]
    org_id: str | None = None
    org_name: str | None = None


@dataclass(frozen=True, slots=True)
class ConsumerProfile:
    gtin: str
    serial: str
    fields: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    lastSeenAt: str | None = None
    eventCount: int = 0

    def get(self, name: str) -> Any:
        """The value of field `name`, or None."""
        f = self.fields.get(name)
        return None if f is None else f.get("value")

    def orgs(self) -> list[str]:
        """The organisation ids the fields are attributed to (to look their names up)."""
        seen: list[str] = []
        for f in self.fields.values():
            by = f.get("by")
            if isinstance(by, str) and by.startswith("0x") and by not in seen:
                seen.append(by)
        return seen

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: dict(self.fields[k]) for k in FIELDS if k in self.fields}
        out["lastSeenAt"] = self.lastSeenAt
        out["eventCount"] = self.eventCount
        return out

    def public_json(self) -> dict[str, Any]:
        """The profile without `SALE_FIELDS`: what anyone may read about any code."""
        return {k: v for k, v in self.to_json().items() if k not in SALE_FIELDS}


# --- reading events ---------------------------------------------------------------------------

def _unix(event: Mapping[str, Any]) -> float:
    try:
        return datetime.fromisoformat(str(event.get("eventTime", "")).replace("Z", "+00:00")
                                      ).timestamp()
    except ValueError:
        return 0.0


def _ilmd(event: Mapping[str, Any], *names: str) -> str | None:
    ilmd = event.get("ilmd")
    if not isinstance(ilmd, Mapping):
        return None
    for name in names:
        for key, value in ilmd.items():
            if re.split(r"[:/#]", str(key))[-1] == name and _is_text(value):
                return value
    return None


def _is_text(value: Any) -> bool:
    """A string, or a language map of strings ({"en": …, "zh-Hans": …})."""
    return isinstance(value, str) or (isinstance(value, Mapping) and bool(value) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()))


def _place_id(event: Mapping[str, Any]) -> str | None:
    for key in ("bizLocation", "readPoint"):
        loc = event.get(key)
        if isinstance(loc, Mapping):
            loc = loc.get("id")
        if isinstance(loc, str) and loc:
            return loc
    return None


def party_uri(org: str | None) -> str | None:
    """The party identifier (`https://id.gs1.org/417/<GLN>`) of an organisation id that is a
    GLN (13 ASCII digits, zero-padded to 32 bytes), or None."""
    m = _GLN_ORG.match(org or "")
    if m is None:
        return None
    return "https://id.gs1.org/417/" + bytes.fromhex(m.group(1)).decode("ascii")


def _elements(event: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    items = event.get(MASTER_DATA)
    for el in items if isinstance(items, list) else ():
        if isinstance(el, Mapping) and isinstance(el.get("id"), str) and el["id"] not in out:
            out[el["id"]] = el
    return out


class _MasterData:
    """Names and countries of identifiers, from the signed master data of the events: the
    event's own first, then the earliest event describing it."""

    def __init__(self, ordered: list[ProfileEvent]) -> None:
        self.own = [_elements(e.event) for e in ordered]
        self.index = {id(e.event): i for i, e in enumerate(ordered)}

    def describe(self, identifier: str | None, event: Mapping[str, Any]) -> dict[str, Any]:
        if not identifier:
            return {}
        el = self.own[self.index[id(event)]].get(identifier)
        if el is None:
            el = next((m[identifier] for m in self.own if identifier in m), None)
        if el is None:
            return {}
        out: dict[str, Any] = {}
        if _is_text(el.get("name")):
            out["value"] = el["name"]
        if isinstance(el.get("countryCode"), str):
            out["country"] = el["countryCode"]
        return out


def place_of(event: Mapping[str, Any]) -> dict[str, Any]:
    """The signed name and country of where an event happened (its business location, else its
    read point), from the event's own master data: `{"value", "country"}`, or {} if unnamed."""
    return _MasterData([ProfileEvent(event)]).describe(_place_id(event), event)


def local_time(value: str, offset: str | None) -> tuple[str, str, str] | None:
    """(date, hh:mm, offset) of an eventTime shown in its own time zone offset, or None."""
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
        m = re.fullmatch(r"([+-])(\d\d):(\d\d)", offset or "")
        if m and at.tzinfo is not None:
            sign = -1 if m.group(1) == "-" else 1
            at = at.astimezone(timezone(sign * timedelta(hours=int(m.group(2)),
                                                         minutes=int(m.group(3)))))
            shown = offset or ""
        elif at.tzinfo is not None:
            at, shown = at.astimezone(UTC), "+00:00"
        else:
            shown = ""
    except ValueError:
        return None
    return at.strftime("%Y-%m-%d"), at.strftime("%H:%M"), shown


# --- the profile ------------------------------------------------------------------------------

def consumer_profile(gtin: str, serial: str, events: Iterable[ProfileEvent], *,
                     lot: str | None = None, registrant: str | None = None,
                     lot_status: str | None = None, customs_decision: str | None = None,
                     customs_inspection: str | None = None) -> ConsumerProfile:
    """Derive the profile from the item's verified events (any order) and chain facts.

    `lot` and `registrant` (0x-hex) come from the code's registration on CodeRegistry,
    `lot_status` from the same lot record, `customs_decision` and `customs_inspection` from
    the CustomsRelease record covering the item, when the caller knows them.
    """
    ordered = sorted(events, key=lambda e: _unix(e.event))
    md = _MasterData(ordered)
    steps = [bizstep_name(e.event.get("bizStep")) for e in ordered]
    fields: dict[str, dict[str, Any]] = {}

    def first(match: Any) -> ProfileEvent | None:
        return next((e for e, s in zip(ordered, steps, strict=True) if match(s, e)), None)

    def said(name: str, value: Any, e: ProfileEvent | None, **extra: Any) -> None:
        if value is None:
            return
        fields[name] = {"value": value, "by": e.org_id if e else None, **extra}

    def party(name: str, e: ProfileEvent | None) -> None:
        if e is not None:
            fields[name] = {"value": None, **md.describe(party_uri(e.org_id), e.event),
                            "by": e.org_id}

    def place(name: str, e: ProfileEvent | None) -> None:
        if e is not None:
            described = md.describe(_place_id(e.event), e.event)
            if "value" in described:
                fields[name] = {**described, "by": e.org_id}

    def time(name: str, e: ProfileEvent | None) -> None:
        if e is not None and isinstance(e.event.get("eventTime"), str):
            offset = e.event.get("eventTimeZoneOffset")
            fields[name] = {"value": e.event["eventTime"], "by": e.org_id,
                            **({"offset": offset} if isinstance(offset, str) else {})}

    origin = first(lambda s, e: s in _ORIGIN and isinstance(e.event.get("ilmd"), Mapping))
    label = origin.event if origin else {}
    said("productName", _ilmd(label, *_NAME_KEYS), origin)
    said("brand", _ilmd(label, "brandName"), origin)
    said("gtin", gtin, None, by=registrant)
    said("serial", serial, None, by=registrant)
    if _ilmd(label, "lotNumber") is not None:
        said("lot", _ilmd(label, "lotNumber"), origin)
    else:
        said("lot", lot, None, by="CodeRegistry" if lot else None)
    if _ilmd(label, *_PRODUCTION_KEYS) is not None:
        said("productionDate", _ilmd(label, *_PRODUCTION_KEYS), origin)
    else:
        time("productionDate", origin)
    said("expiryDate", _ilmd(label, *_EXPIRY_KEYS), origin)
    origin_country = _ilmd(label, "countryOfOrigin")
    said("originCountry", origin_country, origin, country=origin_country)
    party("manufacturer", origin)
    said("productRecordNumber", _ilmd(label, "productRecordNumber"), origin)

    # The export: the last shipping before the goods reach the border.
    border = next((i for i, s in enumerate(steps) if s in _BORDER), len(steps))
    exports = [e for e, s in zip(ordered[:border], steps[:border], strict=True) if s == "shipping"]
    party("exporter", exports[-1] if exports else None)

    carried = [e for e, s in zip(ordered, steps, strict=True) if s in _CARRIER]
    party("carrier", carried[0] if carried else None)
    route: list[str] = []
    for e in carried:
        name = md.describe(_place_id(e.event), e.event).get("value")
        if name and (not route or route[-1] != name):
            route.append(name)
    if route and carried:
        # The places the goods were carried through, in order (each a name or language map).
        fields["logistics"] = {"value": route, "by": carried[0].org_id}
    place("portOfEntry", first(lambda s, e: s in _ARRIVAL))

    declaring = first(lambda s, e: s == _DECLARING)
    party("declaringEnterprise", declaring)
    time("declarationTime", declaring)
    # An inspection, not a decision recorded without one: an outcome (disposition) says so.
    time("inspectionTime", first(lambda s, e: s == "inspecting" and bool(e.event.get("disposition"))))
    if customs_decision is not None:
        fields["customsDecision"] = {"value": customs_decision, "by": "CustomsRelease",
                                     **({"inspection": customs_inspection}
                                        if customs_inspection else {})}
    time("releaseTime", first(lambda s, e: s == _RELEASING))
    # The bonded warehouse: the first storage after the border (the exporter's own warehouse
    # before it is not one); the first storage at all for goods that crossed none.
    stored = [e for e, s in zip(ordered[border:], steps[border:], strict=True) if s in _WAREHOUSE]
    warehouse = stored[0] if stored else (None if border < len(steps) else
                                          first(lambda s, e: s in _WAREHOUSE))
    party("warehouse", warehouse)
    if warehouse is not None:
        at = md.describe(_place_id(warehouse.event), warehouse.event).get("value")
        if at:
            fields["warehouse"]["place"] = at

    sale = first(lambda s, e: s in _SALE)
    party("platform", sale or first(lambda s, e: s in _PLATFORM))
    if sale is not None:
        seller = sale.event.get(SELLER)
        described = md.describe(seller if isinstance(seller, str) else None, sale.event)
        if "value" in described:
            fields["seller"] = {**described, "by": sale.org_id}
    time("saleTime", sale)
    if lot_status is not None:
        fields["lotStatus"] = {"value": lot_status, "by": "CodeRegistry"}

    last = ordered[-1] if ordered else None
    last_seen = md.describe(_place_id(last.event), last.event).get("value") if last else None
    return ConsumerProfile(gtin, serial, fields,
                           lastSeenAt=last_seen or (_place_id(last.event) if last else None),
                           eventCount=len(ordered))
