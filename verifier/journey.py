"""The item's journey read from its (already authenticated) events: stages for the timeline,
when it was sold, whether it was imported, and whether the story has a hole in it.

A gateway can withhold events but not forge them, so the one thing left to catch here is a
dropped event. Goods do not teleport: after an event at location L they are at L, after a
shipping event with destination D they are on their way to D. The next event that names a
location must be there; if it is somewhere else, the events in between were withheld (customs
and sale steps are not judged: they say where the inspector or seller was, see
`_NOT_WHERE_GOODS_ARE`). And
every journey starts where the goods were made: a commissioning event. (Withholding the *last*
events cannot be detected this way, only that the story stops early: that is why the timeline
shows the last known stage.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

from ledger.chain.roles import bizstep_name

__all__ = [
    "Stage", "Step", "continuity_gap", "event_time", "imported_origin", "sale_time", "steps",
]


class Stage(StrEnum):
    ORIGIN = "origin"
    EXPORT = "export"
    SHIPPING = "shipping"
    PORT_OF_ENTRY = "port_of_entry"
    CUSTOMS = "customs"
    WAREHOUSE = "warehouse"
    PLATFORM = "platform"
    SALE = "sale"
    OTHER = "other"


_ORIGIN = {"commissioning", "encoding", "creating_class_instance", "assembling", "packing",
           "labelling"}
_SHIPPING = {"departing", "loading", "transporting", "staging_outbound"}
_ARRIVAL = {"arriving", "unloading"}
_CUSTOMS = {"inspecting", "holding", "urn:zhenzhi:bizstep:customs_declaring",
            "urn:zhenzhi:bizstep:customs_holding", "urn:zhenzhi:bizstep:customs_releasing"}
_PLATFORM = {"urn:zhenzhi:bizstep:platform_listing"}
_WAREHOUSE = {"receiving", "accepting", "storing", "stocking", "picking", "unpacking",
              "repackaging"}
_SALE = {"retail_selling", "dispensing"}


@dataclass(frozen=True, slots=True)
class Step:
    """One event as a point on the timeline."""

    stage: Stage
    bizstep: str | None
    time: int  # unix seconds
    time_text: str  # as the event states it (with its own offset)
    location: str | None
    event_id: bytes
    event: Mapping[str, Any]


def event_time(event: Mapping[str, Any]) -> int:
    return _unix(str(event.get("eventTime") or ""))


@lru_cache(maxsize=65_536)
def _unix(text: str) -> int:
    # Memoised: a pure function of the text, and a verifier parses the same times all day.
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def _location(event: Mapping[str, Any]) -> str | None:
    loc = event.get("bizLocation")
    if isinstance(loc, Mapping):
        loc = loc.get("id")
    return loc if isinstance(loc, str) and loc else None


def _destinations(event: Mapping[str, Any]) -> set[str]:
    out = set()
    for d in event.get("destinationList") or ():
        if isinstance(d, Mapping) and d.get("destination"):
            kind = str(d.get("type", ""))
            if kind.endswith("location"):  # "location" / "urn:epcglobal:cbv:sdt:location"
                out.add(str(d["destination"]))
    return out


def steps(events: Iterable[tuple[bytes, Mapping[str, Any]]]) -> list[Step]:
    """Events as timeline steps, in time order; the first shipping is the export."""
    ordered = sorted(events, key=lambda pair: event_time(pair[1]))
    out: list[Step] = []
    shipped = False
    for event_id, event in ordered:
        raw_step = event.get("bizStep")
        step = _bizstep(raw_step) if isinstance(raw_step, str) else None
        if step in _ORIGIN:
            stage = Stage.ORIGIN
        elif step == "shipping":
            stage = Stage.SHIPPING if shipped else Stage.EXPORT
            shipped = True
        elif step in _SHIPPING:
            stage = Stage.SHIPPING
        elif step in _ARRIVAL:
            stage = Stage.PORT_OF_ENTRY
        elif step in _CUSTOMS:
            stage = Stage.CUSTOMS
        elif step in _WAREHOUSE:
            stage = Stage.WAREHOUSE
        elif step in _PLATFORM:
            stage = Stage.PLATFORM
        elif step in _SALE:
            stage = Stage.SALE
        else:
            stage = Stage.OTHER
        out.append(Step(stage, step, event_time(event), str(event.get("eventTime") or ""),
                        _location(event), event_id, event))
    return out


# Steps whose location says where the *actor* was, not where the goods came to rest: customs
# inspects goods in transit at the border (they stay bound for their destination), and a sale
# or listing is recorded at the seller's site while the goods wait in the (bonded) warehouse,
# as in `ledger.demo.journey`'s cross-border sales. Judging them would call an honest journey holed.
_NOT_WHERE_GOODS_ARE = frozenset({Stage.CUSTOMS, Stage.SALE, Stage.PLATFORM})


_bizstep = lru_cache(maxsize=4096)(bizstep_name)


def continuity_gap(journey: Sequence[Step]) -> str | None:
    """A one-line description of the first hole in the journey, or None if it is whole."""
    if not journey:
        return "the gateway sent no events for this item"
    if journey[0].bizstep != "commissioning":
        return (f"the journey does not start with commissioning (first step: "
                f"{journey[0].bizstep or 'none'}): earlier events are missing")
    here: str | None = None
    bound_for: set[str] = set()
    for step in journey:
        if step.stage in _NOT_WHERE_GOODS_ARE:
            continue
        loc = step.location
        if loc is not None:
            if bound_for and loc not in bound_for:
                return (f"goods shipped to {', '.join(sorted(bound_for))} next appear at {loc}: "
                        "events in between are missing")
            if not bound_for and here is not None and loc != here:
                return f"goods at {here} next appear at {loc} with no shipping event between"
            here = loc
            bound_for = set()
        dest = _destinations(step.event)
        if dest:
            bound_for = dest
    return None


def sale_time(journey: Sequence[Step]) -> int | None:
    for step in journey:
        if step.stage is Stage.SALE:
            return step.time
    return None


def imported_origin(journey: Sequence[Step], market: str) -> str | None:
    """The country of origin if the goods were made outside `market`, else None.

    Read from the commissioning event's ILMD (`countryOfOrigin`, as CBV master data spells it)
    that the brand signed; a journey with a customs step counts as imported whatever it says.
    """
    for step in journey:
        if step.stage is Stage.CUSTOMS:
            return _country(journey) or "?"
    country = _country(journey)
    if country and country.upper() != market.upper():
        return country.upper()
    return None


def _country(journey: Sequence[Step]) -> str | None:
    for step in journey:
        if step.bizstep == "commissioning":
            ilmd = step.event.get("ilmd")
            if isinstance(ilmd, Mapping):
                for key, value in ilmd.items():
                    if key.split(":")[-1] == "countryOfOrigin" and isinstance(value, str):
                        return value
    return None
