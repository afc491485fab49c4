"""EPCIS 2.0 capture: `POST /capture`, `GET /capture` (the jobs), `GET /capture/{captureID}`,
and OPTIONS on both.

Capture is synchronous (validate ▶ hash ▶ recover ▶ role check ▶ store + outbox, in
`ledger.pipeline.intake`): when `POST /capture` answers 202 the events are stored (committed, in a group
commit shared with concurrent requests: `ledger.pipeline.committer`) and queued for anchoring, so the
capture job it points to is already finished. The body is read raw and parsed
once by the ledger (no FastAPI body model: that would parse it twice and cost more than the
capture itself).

`GET /capture` lists the member organisation's own capture jobs, newest first, paged like the
other lists (`perPage`, `nextPageToken`, `Link`); another organisation's jobs are not listed.
`GET /capture/{captureID}` is a member read (`gateway.auth.MemberDep`, like `/events`): a job
names the organisation, its signer and nonce, every event id of the capture and what
`proceed` left out, which is no one's business outside the consortium. The 202 answer to the
POST carries the same job to its sender.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool

from gateway.auth import MemberAccessRequired, MemberDep
from gateway.deps import ServicesDep, SettingsDep
from gateway.negotiation import VERSION_HEADERS
from gateway.problems import UnsupportedMediaTypeError, problem_responses
from gateway.responses import OrjsonResponse
from gateway.routes.discovery import EPCIS_HEADERS, options_headers
from gateway.routes.events import PerPageQ, TokenQ, next_link
from gateway.schemas import EPCIS_DOCUMENT_SCHEMA, CaptureDomainOut, CaptureJob
from gateway.traceability import RuntimeDep
from ledger.epcis.event_document import event_document
from ledger.epcis.event_hash import format_event_id
from ledger.errors import InvalidInputError, LedgerError, NotFoundError
from ledger.proofs.signing import (
    HEADER_NONCE,
    HEADER_ORG,
    HEADER_SEED,
    HEADER_SIGNATURE,
    HEADER_SIGNED_AT,
)
from ledger.runtime.ratelimit import limit, refund

__all__ = ["router"]

router = APIRouter(tags=["Capture"])

_JSON_TYPES = ("application/json", "application/ld+json")
_XML_TYPES = ("application/xml", "text/xml")


class UnknownCaptureError(NotFoundError):
    slug = "unknown-capture"
    title = "No such capture job"


class InvalidBehaviourError(InvalidInputError):
    slug = "invalid-capture-error-behaviour"
    title = "Unsupported GS1-Capture-Error-Behaviour"


_SIGNATURE_DOC = (
    "EIP-712 `Capture` signature, 0x-hex r‖s‖v (65 bytes, v 27/28, low s), by a key that the "
    "Consortium lists for the organisation in `Zhenzhi-Capture-Org` and that was valid at "
    "`Zhenzhi-Capture-Signed-At`.")

BEHAVIOUR_HEADER = "GS1-Capture-Error-Behaviour"
_CHARGED_BYTES = 64 * 1024  # a capture's deposit: one token, and one more per this many bytes

# The signature headers: (name, pattern, description). Declared in the OpenAPI below and
# checked by `_signature_headers`, not as FastAPI `Header` parameters: validating five header
# parameters through pydantic cost more per request than parsing and hashing a one-event
# document, on the gateway's hottest path.
_SIGNATURE_HEADERS = (
    (HEADER_SIGNATURE, r"^0[xX][0-9a-fA-F]{130}$", _SIGNATURE_DOC),
    (HEADER_ORG, r"^0[xX][0-9a-fA-F]{64}$",
     "The signing organisation's id on Consortium (bytes32, 0x-hex)."),
    (HEADER_NONCE, r"^[0-9]{1,20}$",
     "Decimal uint64, never reused by the organisation (a replay answers 409)."),
    (HEADER_SIGNED_AT, r"^[0-9]{1,20}$",
     "Decimal unix seconds at signing; judged against the key's validity window."),
    (HEADER_SEED, r"^0[xX][0-9a-fA-F]{64}$",
     "The capture's 32-byte disclosure seed (0x-hex): the salts of the events' committed "
     "fields derive from it, and the signed eventsRoot is over those commitments. Secret: "
     "the gateway keeps it and shows it to no one."),
)
_HEADER_CHECKS = tuple((name, name.lower(), re.compile(pattern), pattern)
                       for name, pattern, _doc in _SIGNATURE_HEADERS)
_HEADER_PARAMETERS = [
    *({"name": name, "in": "header", "required": True, "description": doc,
       "schema": {"type": "string", "pattern": pattern, "title": name}}
      for name, pattern, doc in _SIGNATURE_HEADERS),
    {"name": BEHAVIOUR_HEADER, "in": "header", "required": False,
     "description": "`rollback` (default): all or nothing. `proceed`: store the events the "
                    "signer may capture and report the others in the capture job's `errors`.",
     "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": BEHAVIOUR_HEADER}},
]


def _signature_headers(headers: Any) -> dict[str, str]:
    """The five capture headers, or a RequestValidationError naming every one that is
    missing or malformed (what FastAPI's own header validation reported, field for field)."""
    found: dict[str, str] = {}
    errors: list[dict[str, Any]] = []
    for name, key, regex, pattern in _HEADER_CHECKS:
        value = headers.get(key)
        if value is None:
            errors.append({"type": "missing", "loc": ("header", name), "msg": "Field required",
                           "input": None})
        elif regex.search(value) is None:
            errors.append({"type": "string_pattern_mismatch", "loc": ("header", name),
                           "msg": f"String should match pattern '{pattern}'", "input": value,
                           "ctx": {"pattern": pattern}})
        else:
            found[name] = value
    if errors:
        raise RequestValidationError(errors)
    return found


def _header_location(capture_id: str) -> str:
    return f"/capture/{capture_id}"


@router.options("/capture", status_code=204, response_class=Response,
                summary="Capture limits and behaviours (GS1-EPCIS-Capture-Limit, …)",
                responses={204: {"description": "Capture settings in the headers", "headers": {
                    "GS1-EPCIS-Capture-Limit": {"schema": {"type": "integer"},
                                                "description": "most events per capture"},
                    "GS1-EPCIS-Capture-File-Size-Limit": {"schema": {"type": "integer"},
                                                          "description": "largest body (bytes)"},
                    "GS1-Capture-Error-Behaviour": {"schema": {"type": "string"},
                                                    "description": "`all`: rollback and proceed"},
                }}})
async def capture_options(settings: SettingsDep) -> Response:
    return Response(status_code=204, headers={
        **EPCIS_HEADERS,
        "Allow": "OPTIONS, POST, GET",
        "GS1-EPCIS-Capture-Limit": str(settings.capture_limit),
        "GS1-EPCIS-Capture-File-Size-Limit": str(settings.max_body_bytes),
        "GS1-Capture-Error-Behaviour": "all",
        "GS1-EPCIS-Min": "2.0.0", "GS1-EPCIS-Max": "2.0.0",
        "GS1-CBV-Min": "2.0.0", "GS1-CBV-Max": "2.0.0",
    })


@router.post(
    "/capture",
    status_code=202,
    summary="Capture a signed EPCISDocument",
    description=(
        "Validates the EPCISDocument (JSON-LD; or XML, EPCIS 2.0 or 1.2, against the standard's "
        "XSD, converted to the same events), computes each event's CBV 2.0 event hash, "
        "recovers the capture signature's signer from the `Zhenzhi-Capture-*` headers, checks "
        "on chain that the key was valid for the organisation at signing time and that the "
        "organisation holds the role each event's bizStep needs, then stores the events and "
        "queues them for anchoring in one transaction. Answers 202 with `Location: "
        "/capture/{captureID}`; the job is already finished. The same capture sent twice is "
        "one capture (same captureID); a different document with a used nonce is a replay (409)."
    ),
    response_model=CaptureJob,
    responses={
        202: {"description": "Stored and queued for anchoring; `Location` names the job.",
              "headers": {"Location": {"schema": {"type": "string"},
                                       "description": "/capture/{captureID}"}}},
        **problem_responses(400, 403, 409, 413, 415, 429, 502),
    },
    openapi_extra={"parameters": _HEADER_PARAMETERS, "requestBody": {"required": True, "content": {
        "application/json": {"schema": EPCIS_DOCUMENT_SCHEMA},
        "application/ld+json": {"schema": EPCIS_DOCUMENT_SCHEMA},
        "application/xml": {"schema": {"type": "string", "description":
            "an EPCIS 2.0 (or 1.2) XML EPCISDocument, valid against the standard's XSD"}},
        "text/xml": {"schema": {"type": "string"}},
    }}},
)
async def capture(request: Request, services: ServicesDep, runtime: RuntimeDep
                  ) -> OrjsonResponse:
    # Cheapest first: header formats, then the client's failure budget, then (in
    # `intake.check`, before the parse) whether the organisation named may capture at all.
    headers = _signature_headers(request.headers)
    content_type = request.headers.get("content-type", "application/json")
    media = content_type.split(";", 1)[0].strip().lower()
    if media in _JSON_TYPES:
        syntax = "json"
    elif media in _XML_TYPES:
        syntax = "xml"
    else:
        raise UnsupportedMediaTypeError(
            "capture takes application/json, application/ld+json, application/xml or "
            f"text/xml, not {content_type!r}", contentType=content_type)
    behaviour = request.headers.get(BEHAVIOUR_HEADER.lower())
    mode = (behaviour or "rollback").strip().lower()
    if mode not in ("rollback", "proceed"):
        raise InvalidBehaviourError(
            f"GS1-Capture-Error-Behaviour must be rollback or proceed, not {behaviour!r}",
            value=behaviour)
    result = await _checked_and_stored(request, services, runtime, headers, mode, syntax)
    job = services.capture_job(result.capture_id, result=result)
    return OrjsonResponse(job, status_code=202, headers={
        **EPCIS_HEADERS, "Location": _header_location(result.capture_id)})


async def _checked_and_stored(request: Request, services: Any, runtime: Any,
                              headers: dict[str, str], mode: str, syntax: str,
                              body_of: Callable[[bytes], bytes] | None = None) -> Any:
    """Check a signed capture and store it: the capture path shared by `POST /capture` and
    `POST /events` (`body_of` turns the request body into the EPCISDocument to check)."""
    # A deposit by size from the client's budget, before the body is read: returned if the
    # capture passes, kept if it fails. Taken up front, so concurrent requests cannot all
    # start on a full bucket; a client whose failures emptied it gets 429 at once.
    client = runtime.client(request).key  # the observed address, through trusted proxies
    failures = runtime.capture_failures
    declared = request.headers.get("content-length", "")
    size = int(declared) if declared.isdigit() else services.settings.max_body_bytes
    deposit = min(failures.capacity, 1 + size / _CHARGED_BYTES)
    limit(failures, client, cost=deposit)
    # Bounded in size by BodyLimitMiddleware; its JSON text (depth, values, surrogates) is
    # checked by the intake, before it is parsed.
    body = await request.body()
    # The checks of a small body run here, on the event loop: CPU work a thread hop would only
    # slow (GIL). A large body's take long enough to stall every other request: they run on
    # a capture-check thread, the parse, hash and recovery in a worker process (the events
    # come back only if a key valid for the organisation signed them). Storing goes to
    # the group committer: while its thread writes one group, this loop serves the next
    # requests, whose captures then share the following commit. 202 is sent only once the
    # future says that this capture's transaction has committed.
    try:
        if body_of is not None:
            body = body_of(body)
        if len(body) <= services.settings.capture_inline_bytes or services.capture_checks is None:
            checked = services.intake.check(body, headers, behaviour=mode,
                                            syntax=syntax)
        else:
            checked = await asyncio.wrap_future(services.capture_checks.submit(
                services.intake.check, body, headers, behaviour=mode,
                isolate=services.capture_processes, syntax=syntax))
    except LedgerError as exc:
        if exc.status >= 500:  # not the client's fault (the chain did not answer, say)
            refund(failures, client, deposit)
        raise
    refund(failures, client, deposit)
    stored = await asyncio.wrap_future(services.intake.submit(checked))
    return checked.result(stored)


def _one_event_document(max_depth: int, max_values: int) -> Callable[[bytes], bytes]:
    """`ledger.epcis.event_document` with the gateway's JSON limits."""
    return partial(event_document, max_depth=max_depth, max_values=max_values)


@router.post(
    "/events",
    status_code=201,
    tags=["Capture"],
    summary="Capture one signed EPCIS event",
    description=(
        "One EPCIS event (JSON-LD) as the body, signed exactly as a one-event capture (the "
        "same `Zhenzhi-Capture-*` headers: the signed eventsRoot is over this one event's "
        "commitment). Checked and stored as `POST /capture` does, all or nothing. Answers "
        "201 with `Location: /events/{eventID}` (the stored event, URL-encoded) and the event; "
        "`Link: </capture/{captureID}>; rel=\"related\"` names the capture job."),
    response_model=None,
    responses={
        201: {"description": "Stored and queued for anchoring; `Location` names the event.",
              "headers": {"Location": {"schema": {"type": "string"},
                                       "description": "/events/{eventID}, URL-encoded"}},
              "content": {"application/json": {"schema": {"type": "object"}}}},
        **problem_responses(400, 403, 409, 413, 415, 429, 502),
    },
    openapi_extra={"parameters": _HEADER_PARAMETERS[:-1], "requestBody": {
        "required": True, "content": {
            "application/json": {"schema": {"type": "object", "required": ["type"]}},
            "application/ld+json": {"schema": {"type": "object", "required": ["type"]}}}}},
)
async def capture_event(request: Request, services: ServicesDep, runtime: RuntimeDep
                        ) -> OrjsonResponse:
    headers = _signature_headers(request.headers)
    content_type = request.headers.get("content-type", "application/json")
    if content_type.split(";", 1)[0].strip().lower() not in _JSON_TYPES:
        raise UnsupportedMediaTypeError(
            f"POST /events takes application/json or application/ld+json, not "
            f"{content_type!r}", contentType=content_type)
    settings = services.settings
    result = await _checked_and_stored(
        request, services, runtime, headers, "rollback", "json",
        _one_event_document(settings.max_json_depth, settings.capture_max_json_values))
    event_id = result.capture.event_ids[0]
    event = await run_in_threadpool(services.get_event, event_id)
    if event is None:  # stored as committed above (a declaration: the declared event is)
        raise LedgerError("the captured event is not in the store", captureID=result.capture_id)
    location = "/events/" + quote(format_event_id(event_id), safe="")
    return OrjsonResponse(event, status_code=201, headers={
        **EPCIS_HEADERS, "Location": location,
        "Link": f'<{_header_location(result.capture_id)}>; rel="related"'})


@router.get(
    "/capture/domain",
    summary="The EIP-712 domain and types captures are signed in (Zhenzhi extension)",
    response_model=CaptureDomainOut,
    responses=problem_responses(400, 502),
)
async def capture_domain(services: ServicesDep, settings: SettingsDep,
                   signer: Annotated[str | None, Query(
                       pattern=r"^0[xX][0-9a-fA-F]{40}$",
                       description="a signing key's address: the answer then names its org")
                   ] = None) -> dict[str, Any]:
    from ledger.proofs.signing import checksum_address

    domain = services.domain
    org = None
    if signer is not None:
        found = services.org_of_key(checksum_address(signer.lower()))
        org = "0x" + found.hex() if found else None
    return {
        **domain.to_eip712(),
        "primaryType": "Capture",
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"},
                             {"name": "version", "type": "string"},
                             {"name": "chainId", "type": "uint256"},
                             {"name": "verifyingContract", "type": "address"}],
            "Capture": [{"name": "eventsRoot", "type": "bytes32"},
                        {"name": "count", "type": "uint32"},
                        {"name": "org", "type": "bytes32"},
                        {"name": "nonce", "type": "uint64"},
                        {"name": "signedAt", "type": "uint64"}],
        },
        "captureLimit": settings.capture_limit,
        "fileSizeLimit": settings.max_body_bytes,
        "org": org,
    }


@router.get(
    "/capture",
    summary="The organisation's capture jobs, newest first, paged (members)",
    response_model=list[CaptureJob],
    responses={200: {"description": "Capture jobs; `Link: <…>; rel=\"next\"` while more exist",
                     "headers": {"Link": {"schema": {"type": "string"}}}},
               **problem_responses(400, 401, 406)},
    dependencies=VERSION_HEADERS,
)
async def capture_jobs(request: Request, services: ServicesDep, settings: SettingsDep,
                       viewer: MemberDep, perPage: PerPageQ = None,  # noqa: N803
                       nextPageToken: TokenQ = None) -> OrjsonResponse:  # noqa: N803
    if viewer.org is None:  # MemberDep admits members only; a member has an organisation
        raise MemberAccessRequired("sign this request with a member organisation's key")
    limit = min(perPage or settings.per_page_default, settings.per_page_max)
    jobs, token = await run_in_threadpool(services.capture_jobs, viewer.org, limit,
                                          nextPageToken)
    headers = dict(EPCIS_HEADERS)
    if token:
        headers["Link"] = next_link(request, settings, token)
    return OrjsonResponse(jobs, headers=headers)


@router.options("/capture/{captureID}", status_code=204, response_class=Response,
                tags=["Discovery"], summary="Discovery headers of a capture job")
async def capture_job_options(captureID: str) -> Response:  # noqa: N803 - the binding's name
    return Response(status_code=204, headers={**options_headers(), "Allow": "OPTIONS, GET"})


@router.get(
    "/capture/{captureID}",
    summary="A capture job: outcome, per-event errors, event ids and anchoring (members)",
    response_model=CaptureJob,
    responses=problem_responses(400, 401, 404, 406),
    dependencies=VERSION_HEADERS,
)
async def capture_job(
    captureID: str,  # noqa: N803 - the binding's parameter name
    services: ServicesDep,
    _viewer: MemberDep,
    anchors: Annotated[bool, Query(description="include per-event anchoring status")] = False,
) -> OrjsonResponse:
    job = services.capture_job(captureID, with_anchors=anchors)
    if job is None:
        raise UnknownCaptureError(f"no capture job {captureID!r}", captureID=captureID)
    return OrjsonResponse(job, headers=EPCIS_HEADERS)
