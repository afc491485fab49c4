"""EPCIS 2.0 named queries: `POST /queries`, `GET /queries`, `GET /queries/{queryName}`,
`DELETE /queries/{queryName}`, `GET /queries/{queryName}/events`, and OPTIONS on each.

A named query is a query of the standard's query language (`{"name": …, "query": {…}}`,
checked against the binding's `query-schema.json`: `ledger.epcis.query`) that the gateway
keeps and answers on `GET /queries/{queryName}/events` exactly as `GET /events` answers the
same parameters in its query string (paged the same way). A parameter `GET /events` does not
implement is refused when the query is created (400), never ignored when it runs.

Who: members only, as every full-event read (`gateway.auth.MemberDep`). Queries are kept per
organisation (`ledger.store.named_queries`): a member lists, reads, runs and deletes only its
own organisation's, and another organisation's query of the same name is not found (404), so
names do not leak; two organisations may use the same name.

`GET /queries/{queryName}` answers a one-element array `[{"name", "query"}]`: the schema the
binding gives that response (its example shows a bare object; the schema is what clients are
generated from).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, cast

import orjson
from fastapi import APIRouter, Path, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams

from gateway.auth import MemberAccessRequired, MemberDep, Viewer
from gateway.deps import ServicesDep, SettingsDep
from gateway.negotiation import FORMAT_HEADERS, VERSION_HEADERS
from gateway.problems import UnsupportedMediaTypeError, problem_responses
from gateway.responses import JSONLDResponse, OrjsonResponse, XMLResponse
from gateway.routes.discovery import EPCIS_HEADERS, options_headers
from gateway.routes.events import (
    _QUERY_RESPONSES,
    PerPageQ,
    TokenQ,
    next_link,
    query_filters,
    run_query,
)
from ledger.epcis.query import InvalidQueryError, query_parameters
from ledger.epcis.query_schedule import FIELDS, SubscriptionControlsError
from ledger.store.named_queries import (
    create_query,
    delete_query,
    get_query,
    list_queries,
)

__all__ = ["QUERY_NAME", "router"]

router = APIRouter(tags=["Queries"])

# A name goes into a URL path: unreserved characters only (RFC 3986), at most 128.
QUERY_NAME = re.compile(r"[A-Za-z0-9._~-]{1,128}")
_PAGING = frozenset({"perPage", "nextPageToken"})
# The binding's WebSocket subscription parameters (`GET /queries/{queryName}/events` with an
# upgrade): the schedule, `stream`, `reportIfEmpty` and `initialRecordTime`.
_SUBSCRIPTION_CONTROLS = frozenset({*FIELDS, "stream", "reportIfEmpty", "initialRecordTime"})

QueryNameP = Annotated[str, Path(alias="queryName", max_length=128,
                                 description="the query's name (letters, digits, `._~-`)")]

_DEFINITION_SCHEMA = {
    "type": "object", "required": ["name", "query"],
    "properties": {"name": {"type": "string", "pattern": QUERY_NAME.pattern},
                   "query": {"type": "object",
                             "description": "the EPCIS query language (query-schema.json)"}}}


def _definition(name: str, query: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "query": query}


def _org(viewer: Viewer) -> bytes:
    """The member's organisation: the key every named query is kept under."""
    if viewer.org is None:  # MemberDep admits members only; a member has an organisation
        raise MemberAccessRequired("sign this request with a member organisation's key")
    return viewer.org


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not QUERY_NAME.fullmatch(name):
        raise InvalidQueryError("name must be 1-128 letters, digits or ._~-",
                                pointer="/name")
    return name


@router.post("/queries", status_code=201, response_class=Response,
             summary="Create a named query (EPCIS query language)",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": _DEFINITION_SCHEMA}}}},
             responses={201: {"description": "Created; `Location: /queries/{name}`",
                              "headers": {"Location": {"schema": {"type": "string"}}}},
                        **problem_responses(400, 401, 409, 415)})
async def create(request: Request, services: ServicesDep, viewer: MemberDep) -> Response:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in ("application/json", "application/ld+json"):
        raise UnsupportedMediaTypeError(f"send the query as application/json, not {media!r}",
                                        contentType=media)
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise InvalidQueryError(f"the body is not JSON: {exc}", pointer="") from None
    if not isinstance(body, dict):
        raise InvalidQueryError("the body must be {\"name\": …, \"query\": {…}}", pointer="")
    name = _check_name(body.get("name"))
    query = body.get("query")
    # Both checks before anything is stored: the standard's schema, then what this gateway
    # answers (the same check `GET /events` makes of its query string).
    query_filters(QueryParams(query_parameters(query)), _PAGING)
    # query_parameters refused anything but a JSON object.
    await run_in_threadpool(create_query, services.store.engine, _org(viewer), name,
                            cast(dict[str, Any], query))
    return Response(status_code=201, headers={**EPCIS_HEADERS, "Location": f"/queries/{name}"})


@router.get("/queries", response_model=None, summary="The organisation's named queries, paged",
            responses={200: {"description": "`[{name, query}]`, by name",
                             "content": {"application/json": {"schema": {
                                 "type": "array", "items": _DEFINITION_SCHEMA}}}},
                       **problem_responses(400, 401, 406)}, dependencies=VERSION_HEADERS)
def list_all(request: Request, services: ServicesDep, settings: SettingsDep,
             viewer: MemberDep, perPage: PerPageQ = None,  # noqa: N803
             nextPageToken: TokenQ = None) -> OrjsonResponse:  # noqa: N803
    limit = min(perPage or settings.per_page_default, settings.per_page_max)
    queries, token = list_queries(services.store.engine, _org(viewer), limit, nextPageToken)
    headers = dict(EPCIS_HEADERS)
    if token:
        headers["Link"] = next_link(request, settings, token)
    return OrjsonResponse([_definition(q.name, q.query) for q in queries], headers=headers)


@router.get("/queries/{queryName}", response_model=None, summary="A named query's definition",
            responses={200: {"description": "`[{name, query}]` (the binding's schema)",
                             "content": {"application/json": {"schema": {
                                 "type": "array", "items": _DEFINITION_SCHEMA}}}},
                       **problem_responses(400, 401, 404, 406)}, dependencies=VERSION_HEADERS)
def get_one(services: ServicesDep, viewer: MemberDep, name: QueryNameP) -> OrjsonResponse:
    found = get_query(services.store.engine, _org(viewer), name)
    return OrjsonResponse([_definition(found.name, found.query)], headers=EPCIS_HEADERS)


@router.delete("/queries/{queryName}", status_code=204, response_class=Response,
               summary="Delete a named query", responses=problem_responses(401, 404))
def delete(services: ServicesDep, viewer: MemberDep, name: QueryNameP) -> Response:
    delete_query(services.store.engine, _org(viewer), name)
    return Response(status_code=204, headers=EPCIS_HEADERS)


@router.get("/queries/{queryName}/events", response_model=None,
            summary="The events a named query finds (paged like GET /events)",
            responses=_QUERY_RESPONSES, dependencies=FORMAT_HEADERS)
def events(request: Request, services: ServicesDep, settings: SettingsDep, viewer: MemberDep,
           name: QueryNameP, perPage: PerPageQ = None,  # noqa: N803
           nextPageToken: TokenQ = None) -> JSONLDResponse | XMLResponse:  # noqa: N803
    extra = sorted(set(request.query_params) - _PAGING)
    controls = [name for name in extra if name in _SUBSCRIPTION_CONTROLS]
    if controls:
        # GS1's binding answers these with its 400SubscriptionIssues: they are the
        # controls of a WebSocket subscription, which this plain GET (no upgrade) is not.
        raise SubscriptionControlsError(
            f"{', '.join(controls)} subscribe over a WebSocket (Upgrade: websocket); a "
            f"plain GET of a named query's events takes only perPage and nextPageToken",
            parameters=controls)
    if extra:
        raise InvalidQueryError(f"a named query takes only perPage and nextPageToken, not "
                                f"{', '.join(extra)}", parameters=extra)
    found = get_query(services.store.engine, _org(viewer), name)
    return run_query(request, services, settings, per_page=perPage, token=nextPageToken,
                     params=QueryParams(query_parameters(found.query)), own=_PAGING)


@router.options("/queries", status_code=204, response_class=Response, tags=["Discovery"],
                summary="Discovery headers of the named queries")
async def queries_options() -> Response:
    return Response(status_code=204, headers={**options_headers(), "Allow": "OPTIONS, GET, POST"})


@router.options("/queries/{queryName}", status_code=204, response_class=Response,
                tags=["Discovery"], summary="Discovery headers of one named query")
async def query_options(name: QueryNameP) -> Response:
    return Response(status_code=204,
                    headers={**options_headers(), "Allow": "OPTIONS, GET, DELETE"})


@router.options("/queries/{queryName}/events", status_code=204, response_class=Response,
                tags=["Discovery"], summary="Discovery headers of a named query's events")
async def query_events_options(name: QueryNameP) -> Response:
    return Response(status_code=204, headers={**options_headers(answers_events=True),
                                              "Allow": "OPTIONS, GET"})
