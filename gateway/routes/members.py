"""Read access to an item, by who is asking.

    GET /items/{gtin}/{serial}/profile   anyone: the consumer profile (~20 traceability fields)
    GET /items/{gtin}/{serial}/events    the full EPCIS events of the item's history, for
                                         members that are party to it (signed one of its
                                         events, or own the GTIN's prefix) and for regulators

Full events name trading partners, quantities and business transactions: the parties to an
item's supply chain share them with each other and with regulators; the public sees the profile
derived from them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool

from gateway.auth import Access, MemberDep
from gateway.deps import ServicesDep
from gateway.problems import problem_responses
from gateway.routes.resolver import _customs_record, assemble, profile_of
from gateway.traceability import RuntimeDep
from ledger.epcis.gs1 import DigitalLink
from ledger.errors import AuthorizationError
from ledger.runtime.ratelimit import limit
from ledger.store.store import declarations_by_id
from ledger.store.trace import Tracer

__all__ = ["router"]

router = APIRouter(tags=["Items"])


class NotAPartyError(AuthorizationError):
    slug = "not-a-party"
    title = "Not a party to this item's supply chain"


def _signers(engine: Any, event_ids: list[bytes]) -> set[bytes]:
    """Organisations whose signed captures hold any of the events."""
    from sqlalchemy import select

    from ledger.store.tables import captures, events

    if not event_ids:
        return set()
    q = (select(captures.c.org).join(events, events.c.capture_id == captures.c.id)
         .where(events.c.event_id.in_(event_ids)).distinct())
    with engine.connect() as conn:
        return {bytes(r[0]) for r in conn.execute(q)}

Gtin = Annotated[str, Path(pattern=r"^[0-9]{8,14}$")]
Serial = Annotated[str, Path(min_length=1, max_length=20)]


def _link(gtin: str, serial: str) -> DigitalLink:
    from urllib.parse import quote

    return DigitalLink.parse(f"https://id.gs1.org/01/{gtin}/21/{quote(serial, safe='')}")


@router.get("/items/{gtin}/{serial}/profile", summary="Consumer profile of an item (public)",
            responses=problem_responses(400, 429))
async def item_profile(request: Request, gtin: Gtin, serial: Serial, services: ServicesDep,
                       runtime: RuntimeDep) -> dict[str, Any]:
    """Product, origin and journey milestones up to the shelf; not whether the item was sold
    (`ledger.trade.profile.SALE_FIELDS`: the consumer page shows that). Rate-limited per
    client with the same bucket as resolutions, so probing codes costs the same either way."""
    limit(runtime.scans, runtime.client(request).key)
    link = _link(gtin, serial)

    def work() -> dict[str, Any]:
        bundle = assemble(services, runtime, link, source=None, scans=[])
        profile = profile_of(services, runtime, link, bundle,
                             customs=_customs_record(services, bundle))
        return dict(profile.public_json())

    return await run_in_threadpool(work)


@router.get("/items/{gtin}/{serial}/events", summary="Full EPCIS events of an item (members)",
            responses=problem_responses(400, 401, 403))
async def item_events(gtin: Gtin, serial: Serial, viewer: MemberDep,
                      services: ServicesDep) -> dict[str, Any]:
    link = _link(gtin, serial)

    def work() -> dict[str, Any]:
        history = Tracer(services.store.engine).item_history(link.canonical_uri())
        if viewer.access is not Access.REGULATOR:
            parties = _signers(services.store.engine, [h.event_id for h in history])
            view = services.chain_view
            view.sync()
            if viewer.org not in parties and view.prefix_owner(link.gtin14) != viewer.org:
                raise NotAPartyError(
                    f"organisation {viewer.org_hex} signed none of this item's events and does "
                    "not own its GTIN", org=viewer.org_hex)
        # An event declared erroneous is shown as the standard's queries show it: with its
        # accepted errorDeclaration (gateway/README.md, "Error declarations").
        declared = declarations_by_id(services.store.engine, [h.event_id for h in history])
        return {
            "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            "type": "EPCISQueryDocument",
            "schemaVersion": "2.0",
            "epcisBody": {"queryResults": {
                "queryName": "ItemHistory",
                "resultsBody": {"eventList": [
                    {**h.event, "eventID": f"ni:///sha-256;{h.event_id.hex()}?ver=CBV2.0",
                     **({"errorDeclaration": declared[h.event_id]}
                        if h.event_id in declared else {})}
                    for h in history]}}},
            "zhenzhi:relations": [{"eventID": f"ni:///sha-256;{h.event_id.hex()}?ver=CBV2.0",
                                   "relation": h.relation, "via": h.via} for h in history],
            "zhenzhi:viewer": {"org": viewer.org_hex, "access": viewer.access.name},
        }

    return await run_in_threadpool(work)
