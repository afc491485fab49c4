"""EPCIS 2.0 top-level resources: `/eventTypes`, `/epcs`, `/bizSteps`, `/bizLocations`,
`/readPoints`, `/dispositions`, each with its sub-resource (`/bizSteps/{bizStep}`: the
`events` collection, for HATEOAS discovery) and the events it leads to
(`/bizSteps/{bizStep}/events`…, the same query as `GET /events` with that filter fixed), and
`OPTIONS` on each.

Listings are what the store holds (`ledger.store.listing`, a loose index scan per page), paged
like events: `perPage`, `nextPageToken`, `Link: <…>; rel="next"`. `/eventTypes` lists the
event types this repository supports, as the binding says: the five standard ones (it
captures no extension event types).

Who may read: exactly who may read `GET /events`, a signed member request
(`gateway.auth.MemberDep`; 401 otherwise). Any member may query every event, so a member may
see every value; the public sees none, so a listing never names an EPC, location or step its
reader could not query. `OPTIONS` names no data and is open.
"""

# No `from __future__ import annotations`: the route factories below annotate with a path
# parameter name from their closure, which FastAPI must evaluate at definition time.

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from gateway.auth import MemberDep
from gateway.deps import ServicesDep, SettingsDep
from gateway.negotiation import FORMAT_HEADERS, VERSION_HEADERS
from gateway.problems import problem_responses
from gateway.responses import JSONLDResponse, OrjsonResponse, XMLResponse
from gateway.routes.discovery import EPCIS_HEADERS, options_headers
from gateway.routes.events import (
    _QUERY_RESPONSES,
    CONTEXT,
    EVENT_TYPES,
    PerPageQ,
    TokenQ,
    next_link,
    run_query,
)
from ledger.errors import NotFoundError
from ledger.store.listing import page_token, token_value
from ledger.store.store import canonical_epc, normalise_cbv

__all__ = ["RESOURCES", "router"]

router = APIRouter(tags=["Top-level"])

# Top-level resource → (path parameter name, query parameter the path stands for, the
# filter of `gateway.services.Services.query_events` it fixes).
RESOURCES: dict[str, tuple[str, str, str]] = {
    "eventTypes": ("eventType", "eventType", "event_types"),
    "epcs": ("epc", "MATCH_anyEPC", "any_epcs"),
    "bizSteps": ("bizStep", "EQ_bizStep", "biz_steps"),
    "bizLocations": ("bizLocation", "EQ_bizLocation", "biz_locations"),
    "readPoints": ("readPoint", "EQ_readPoint", "read_points"),
    "dispositions": ("disposition", "EQ_disposition", "dispositions"),
}


class UnknownResourceError(NotFoundError):
    """EPCIS NoSuchNameException: the store holds no event with this value."""

    slug = "unknown-resource"
    title = "No such resource"


def _collection(members: list[str], headers: dict[str, str]) -> OrjsonResponse:
    return OrjsonResponse({"@context": CONTEXT[0], "type": "Collection", "member": members},
                          headers=headers)


_COLLECTION_SCHEMA = {
    "type": "object", "required": ["@context", "type", "member"],
    "properties": {"@context": {}, "type": {"type": "string", "enum": ["Collection"]},
                   "member": {"type": "array", "items": {"type": "string"},
                              "uniqueItems": True}}}
_LISTING_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "A Collection of the values held, in ascending order.",
          "headers": {"Link": {"schema": {"type": "string"},
                               "description": "`<URL>; rel=\"next\"` while more pages exist"}},
          "content": {"application/json": {"schema": _COLLECTION_SCHEMA}}},
    **problem_responses(400, 401, 406),
}
_SUB_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The sub-resources: `events`.",
          "content": {"application/json": {"schema": _COLLECTION_SCHEMA}}},
    **problem_responses(400, 401, 404, 406),
}


def _listing(resource: str):  # type: ignore[no-untyped-def]
    def listing(request: Request, services: ServicesDep, settings: SettingsDep,
                viewer: MemberDep, perPage: PerPageQ = None,  # noqa: N803
                nextPageToken: TokenQ = None) -> OrjsonResponse:  # noqa: N803
        limit = min(perPage or settings.per_page_default, settings.per_page_max)
        if resource == "eventTypes":
            after = token_value(resource, nextPageToken) if nextPageToken else ""
            rest = [t for t in sorted(EVENT_TYPES) if t > after]
            members, token = rest[:limit], (
                page_token(resource, rest[limit - 1]) if len(rest) > limit else None)
        else:
            members, token = services.list_values(resource, limit, nextPageToken)
        headers = dict(EPCIS_HEADERS)
        if token:
            headers["Link"] = next_link(request, settings, token)
        return _collection(members, headers)

    listing.__name__ = f"list_{resource}"
    return listing


def _held(services: Any, resource: str, value: str) -> bool:
    if resource == "eventTypes":
        return value in EVENT_TYPES
    if resource == "epcs":
        value = canonical_epc(value)
    elif resource in ("bizSteps", "dispositions"):
        value = normalise_cbv(value) or value
    return bool(services.holds_value(resource, [value]))


def _sub_resource(resource: str, name: str):  # type: ignore[no-untyped-def]
    def sub_resource(services: ServicesDep, viewer: MemberDep,
                     value: Annotated[str, Path(alias=name)]) -> OrjsonResponse:
        if not _held(services, resource, value):
            raise UnknownResourceError(f"this repository holds no {name} {value!r}",
                                       **{name: value})
        return _collection(["events"], dict(EPCIS_HEADERS))

    sub_resource.__name__ = f"get_{name}"
    return sub_resource


def _events(resource: str, name: str, own: str, field: str):  # type: ignore[no-untyped-def]
    def events(request: Request, services: ServicesDep, settings: SettingsDep,
               viewer: MemberDep, value: Annotated[str, Path(alias=name)],
               perPage: PerPageQ = None,  # noqa: N803
               nextPageToken: TokenQ = None) -> JSONLDResponse | XMLResponse:  # noqa: N803
        if resource == "eventTypes" and value not in EVENT_TYPES:
            raise UnknownResourceError(f"no event type {value!r}: this repository holds "
                                       f"{', '.join(EVENT_TYPES)}", eventType=value)
        return run_query(request, services, settings, per_page=perPage, token=nextPageToken,
                         fixed={field: [value]}, own=frozenset({own}))

    events.__name__ = f"{name}_events"
    return events


def _options(allow: str, name: str | None = None, **extra: Any):  # type: ignore[no-untyped-def]
    async def options() -> Response:
        return Response(status_code=204, headers={**options_headers(**extra), "Allow": allow})

    if name is None:
        return options

    # The path parameter is declared so that the OpenAPI describes the path (its value is
    # not needed: OPTIONS names no data).
    async def options_of(value: Annotated[str, Path(alias=name)]) -> Response:
        return await options()

    return options_of


_QUERY_DOC = ("The query parameters of `GET /events` apply too, but for the one this path "
              "stands for (refused: 400).")

for _resource, (_name, _own, _field) in RESOURCES.items():
    _plain = f"/{_resource}"
    _one = f"/{_resource}/{{{_name}:path}}"
    # EPCs in a listing are the store's canonical form (GS1 Digital Link for GS1 keys), other
    # values as stored; the events paths honour the request's GS1-EPC-Format.
    _listing_format = "Always_GS1_Digital_Link" if _resource == "epcs" else "Never_Translates"
    if _resource != "epcs":  # `/epcs/{epc}/events` is `gateway.routes.events`'
        router.add_api_route(
            f"{_one}/events", _events(_resource, _name, _own, _field), methods=["GET"],
            summary=f"Events by {_name} (EPCIS simple query parameters)",
            description=_QUERY_DOC, response_model=None, responses=_QUERY_RESPONSES,
            tags=["Events"], dependencies=FORMAT_HEADERS)
    router.add_api_route(f"{_one}/events", _options("OPTIONS, GET", _name, answers_events=True),
                         methods=["OPTIONS"],
                         status_code=204, response_class=Response, tags=["Discovery"],
                         summary=f"Discovery headers of the events of one {_name}")
    router.add_api_route(
        _one, _sub_resource(_resource, _name), methods=["GET"], response_model=None,
        summary=f"Sub-resources of one {_name} (`events`); 404 if the store holds none",
        responses=_SUB_RESPONSES, dependencies=VERSION_HEADERS)
    router.add_api_route(_one, _options("OPTIONS, GET", _name), methods=["OPTIONS"], status_code=204,
                         response_class=Response, tags=["Discovery"],
                         summary=f"Discovery headers of one {_name}")
    router.add_api_route(
        _plain, _listing(_resource), methods=["GET"], response_model=None,
        summary=(f"The {_resource} this repository supports" if _resource == "eventTypes"
                 else f"The {_resource} the store holds, paged"),
        responses=_LISTING_RESPONSES, dependencies=VERSION_HEADERS)
    router.add_api_route(_plain, _options("OPTIONS, GET", epc_format=_listing_format),
                         methods=["OPTIONS"], status_code=204, response_class=Response,
                         tags=["Discovery"], summary=f"Discovery headers of {_resource}")
