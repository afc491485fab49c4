"""EPCIS 2.0 webhook subscriptions to named queries:
`POST`/`GET /queries/{queryName}/subscriptions`,
`GET`/`DELETE /queries/{queryName}/subscriptions/{subscriptionID}`, and OPTIONS on both.

A member subscribes a webhook (`dest`) to one of its own organisation's named queries, either
as a stream (`"stream": true`: the events each new capture adds that the query matches) or on
a `schedule` (the standard's QuerySchedule, run at most once a minute, UTC:
`ledger.epcis.query_schedule`). Deliveries are EPCISQueryDocuments, signed with the member's
`signatureToken` (`GS1-Signature: sha256=<hex HMAC-SHA256>` over the body) and sent from the
store's outbox with retries (`ledger.pipeline.webhooks`).

Who: members only, like every full-event read; subscriptions are kept per organisation, like
its queries (another organisation's query or subscription is 404, as one nobody made). The
answers never include the secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Request, Response, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from gateway.auth import MemberAccessRequired, MemberDep
from gateway.deps import ServicesDep, SettingsDep
from gateway.negotiation import VERSION_HEADERS, Negotiation, format_headers, negotiate
from gateway.problems import UnsupportedMediaTypeError, problem_instance, problem_responses
from gateway.responses import OrjsonResponse, ProblemResponse
from gateway.routes.discovery import EPCIS_HEADERS, options_headers
from gateway.routes.events import PerPageQ, TokenQ, next_link, with_epc_format
from gateway.routes.queries import QueryNameP, _org
from ledger.epcis.epc_format import EpcFormat
from ledger.epcis.query_schedule import QuerySchedule, SubscriptionControlsError
from ledger.errors import LedgerError
from ledger.pipeline.webhook_target import check_target
from ledger.pipeline.webhooks import query_result
from ledger.proofs.request_signing import SignedRequest
from ledger.store.named_queries import get_query
from ledger.store.subscriptions import (
    Subscription,
    create_subscription,
    delete_subscription,
    get_subscription,
    list_subscriptions,
    newest_seq,
)

__all__ = ["router"]

router = APIRouter(tags=["Subscriptions"])

_FIELDS = frozenset({"dest", "signatureToken", "initialRecordTime", "reportIfEmpty", "stream",
                     "schedule"})
SubscriptionIdP = Annotated[str, Path(alias="subscriptionID", max_length=36,
                                      description="the subscription's id (a UUID)")]

_REQUEST_SCHEMA = {
    "type": "object", "required": ["dest", "signatureToken"],
    "properties": {
        "dest": {"type": "string", "format": "uri",
                 "description": "the webhook URL (http or https; public addresses only)"},
        "signatureToken": {"type": "string", "minLength": 16, "maxLength": 512,
                           "description": "the HMAC-SHA256 key of `GS1-Signature`"},
        "initialRecordTime": {"type": "string", "format": "date-time"},
        "reportIfEmpty": {"type": "boolean"},
        "stream": {"type": "boolean"},
        "schedule": {"type": "object"},
    }}
_RESPONSE_SCHEMA = {
    "type": "object", "required": ["subscriptionID", "dest", "createdAt"],
    "properties": {"subscriptionID": {"type": "string"}, "queryName": {"type": "string"},
                   "dest": {"type": "string"}, "createdAt": {"type": "string"},
                   "initialRecordTime": {"type": "string"},
                   "lastNotifiedAt": {"type": "string"}, "stream": {"type": "boolean"},
                   "schedule": {"type": "object"}, "reportIfEmpty": {"type": "boolean"}}}


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _answer(s: Subscription) -> dict[str, Any]:
    out: dict[str, Any] = {"subscriptionID": s.id, "queryName": s.query_name, "dest": s.dest,
                           "createdAt": _iso(s.created_ms),
                           "initialRecordTime": _iso(s.initial_record_ms)}
    if s.last_notified_ms is not None:
        out["lastNotifiedAt"] = _iso(s.last_notified_ms)
    if s.stream:
        out["stream"] = True
    else:
        out["schedule"] = s.schedule
        out["reportIfEmpty"] = s.report_if_empty
    return out


def _controls(body: Any, allow_private: bool) -> dict[str, Any]:
    """The subscription's controls, checked; SubscriptionControlsError (400) naming the first
    thing wrong, before anything is stored."""
    if not isinstance(body, dict):
        raise SubscriptionControlsError("the body must be a JSON object", pointer="")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise SubscriptionControlsError(f"unknown subscription fields: {', '.join(unknown)}",
                                        pointer=f"/{unknown[0]}")
    dest = check_target(body.get("dest"), allow_private=allow_private)
    token = body.get("signatureToken")
    if not isinstance(token, str) or not 16 <= len(token) <= 512:
        raise SubscriptionControlsError(
            "signatureToken is required, 16-512 characters: every delivery is signed with it "
            "(GS1-Signature)", pointer="/signatureToken")
    stream = body.get("stream", False)
    schedule = body.get("schedule")
    report_if_empty = body.get("reportIfEmpty", False)
    for name, value in (("stream", stream), ("reportIfEmpty", report_if_empty)):
        if not isinstance(value, bool):
            raise SubscriptionControlsError(f"{name} must be true or false", pointer=f"/{name}")
    if stream == (schedule is not None):
        raise SubscriptionControlsError(
            "give exactly one of `\"stream\": true` and `schedule`: the server must know when "
            "to notify", pointer="/schedule")
    next_run = None
    if schedule is not None:
        following = QuerySchedule.parse(schedule).next_run(datetime.now(UTC))
        next_run = int(following.timestamp() * 1000) if following else None
    elif report_if_empty:
        raise SubscriptionControlsError("reportIfEmpty applies to a scheduled subscription",
                                        pointer="/reportIfEmpty")
    initial = body.get("initialRecordTime")
    initial_ms = None
    if initial is not None:
        try:
            parsed = datetime.fromisoformat(str(initial).replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise SubscriptionControlsError(
                "initialRecordTime must be an ISO 8601 date-time with a time zone",
                pointer="/initialRecordTime")
        initial_ms = int(parsed.timestamp() * 1000)
    return {"dest": dest, "secret": token, "stream": stream, "schedule": schedule,
            "report_if_empty": report_if_empty, "initial_record_ms": initial_ms,
            "next_run_ms": next_run}


@router.post("/queries/{queryName}/subscriptions", status_code=201, response_model=None,
             summary="Subscribe a webhook to a named query (stream or scheduled)",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": _REQUEST_SCHEMA}}}},
             responses={201: {"description": "Subscribed; `Location` names the subscription",
                              "headers": {"Location": {"schema": {"type": "string"}}},
                              "content": {"application/json": {"schema": _RESPONSE_SCHEMA}}},
                        **problem_responses(400, 401, 404, 406, 415)})
async def subscribe(request: Request, services: ServicesDep, settings: SettingsDep,
                    viewer: MemberDep, name: QueryNameP,
                    asked: Annotated[Negotiation, Depends(format_headers)]) -> OrjsonResponse:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in ("application/json", "application/ld+json"):
        raise UnsupportedMediaTypeError(f"send the subscription as application/json, not "
                                        f"{media!r}", contentType=media)
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise SubscriptionControlsError(f"the body is not JSON: {exc}", pointer="") from None
    org = _org(viewer)
    controls = await run_in_threadpool(_controls, body, settings.webhook_allow_private)
    created = await run_in_threadpool(
        lambda: create_subscription(
            services.store.engine, org=org, query_name=name, signer=viewer.signer or "",
            # GS1-EPC-Format as asked when subscribing (GS1-CBV-XML-Format applies to XML
            # only: deliveries are JSON)
            epc_format=(None if asked.epc_format is EpcFormat.NO_PREFERENCE
                        else asked.epc_format.value), **controls))
    return OrjsonResponse(_answer(created), status_code=201, headers={
        **EPCIS_HEADERS, "Location": f"/queries/{name}/subscriptions/{created.id}"})


@router.get("/queries/{queryName}/subscriptions", response_model=None,
            summary="The subscriptions to a named query, paged",
            responses={200: {"description": "subscriptions, by id",
                             "content": {"application/json": {"schema": {
                                 "type": "array", "items": _RESPONSE_SCHEMA}}}},
                       **problem_responses(400, 401, 404, 406)}, dependencies=VERSION_HEADERS)
def subscriptions(request: Request, services: ServicesDep, settings: SettingsDep,
                  viewer: MemberDep, name: QueryNameP, perPage: PerPageQ = None,  # noqa: N803
                  nextPageToken: TokenQ = None) -> OrjsonResponse:  # noqa: N803
    limit = min(perPage or settings.per_page_default, settings.per_page_max)
    found, token = list_subscriptions(services.store.engine, _org(viewer), name, limit,
                                      nextPageToken)
    headers = dict(EPCIS_HEADERS)
    if token:
        headers["Link"] = next_link(request, settings, token)
    return OrjsonResponse([_answer(s) for s in found], headers=headers)


@router.get("/queries/{queryName}/subscriptions/{subscriptionID}", response_model=None,
            summary="One subscription",
            responses={200: {"description": "the subscription (without its secret)",
                             "content": {"application/json": {"schema": _RESPONSE_SCHEMA}}},
                       **problem_responses(400, 401, 404, 406)}, dependencies=VERSION_HEADERS)
def subscription(services: ServicesDep, viewer: MemberDep, name: QueryNameP,
                 subscription_id: SubscriptionIdP) -> OrjsonResponse:
    found = get_subscription(services.store.engine, _org(viewer), name, subscription_id)
    return OrjsonResponse(_answer(found), headers=EPCIS_HEADERS)


@router.delete("/queries/{queryName}/subscriptions/{subscriptionID}", status_code=204,
               response_class=Response, summary="Unsubscribe (undelivered deliveries go too)",
               responses=problem_responses(401, 404))
def unsubscribe(services: ServicesDep, viewer: MemberDep, name: QueryNameP,
                subscription_id: SubscriptionIdP) -> Response:
    delete_subscription(services.store.engine, _org(viewer), name, subscription_id)
    return Response(status_code=204, headers=EPCIS_HEADERS)


@router.options("/queries/{queryName}/subscriptions", status_code=204,
                response_class=Response, tags=["Discovery"],
                summary="Discovery headers of a named query's subscriptions")
async def subscriptions_options(name: QueryNameP) -> Response:
    return Response(status_code=204,
                    headers={**options_headers(), "Allow": "OPTIONS, GET, POST"})


@router.options("/queries/{queryName}/subscriptions/{subscriptionID}", status_code=204,
                response_class=Response, tags=["Discovery"],
                summary="Discovery headers of one subscription")
async def subscription_options(name: QueryNameP, subscription_id: SubscriptionIdP) -> Response:
    return Response(status_code=204,
                    headers={**options_headers(), "Allow": "OPTIONS, GET, DELETE"})


# -- WebSocket subscriptions (the binding's MAY) ---------------------------------------------

_SCHEDULE_PARAMETERS = ("second", "minute", "hour", "dayOfMonth", "month", "dayOfWeek")
_STREAM_PARAMETERS = frozenset({"stream", "reportIfEmpty", *_SCHEDULE_PARAMETERS})


async def _refuse(websocket: WebSocket, error: LedgerError) -> None:
    """Answer the handshake with the problem (an HTTP response instead of 101)."""
    body = error.to_problem(instance=problem_instance(websocket.scope))
    body.setdefault("epcisException", {400: "SubscriptionControlsException",
                                       401: "SecurityException",
                                       404: "NoSuchNameException",
                                       406: "NotAcceptableException"}.get(error.status))
    await websocket.send_denial_response(ProblemResponse(body, status_code=error.status))


def _stream_controls(params: Any) -> tuple[bool, dict[str, str] | None, bool]:
    """(stream, schedule, reportIfEmpty) of a WebSocket subscription's query string."""
    unknown = sorted(set(params) - _STREAM_PARAMETERS)
    if unknown:
        raise SubscriptionControlsError(
            f"a WebSocket subscription takes stream, reportIfEmpty and the schedule fields, "
            f"not {', '.join(unknown)}", pointer=f"/{unknown[0]}")
    stream = params.get("stream")
    schedule = {k: params[k] for k in _SCHEDULE_PARAMETERS if k in params} or None
    if (stream == "true") == (schedule is not None) or stream not in (None, "true"):
        raise SubscriptionControlsError(
            "give exactly one of stream=true and the schedule fields", pointer="/stream")
    if schedule is not None:
        QuerySchedule.parse(schedule)
    report = params.get("reportIfEmpty", "false")
    if report not in ("true", "false"):
        raise SubscriptionControlsError("reportIfEmpty must be true or false",
                                        pointer="/reportIfEmpty")
    return stream == "true", schedule, report == "true"


@router.websocket("/queries/{queryName}/events")
async def events_socket(websocket: WebSocket,
                        name: Annotated[str, Path(alias="queryName", max_length=128)]) -> None:
    """A WebSocket subscription to a named query: `?stream=true`, or the schedule fields
    (`?minute=5&hour=1`, optional `reportIfEmpty=true`). The handshake is a signed member
    request (the same `Zhenzhi-Auth-*` headers over `GET` and the path with its query);
    refused with the problem instead of 101. Each message is an EPCISQueryDocument, its GS1
    keys written as the handshake's `GS1-EPC-Format` asks (the 101 says which: a Digital Link
    of an unregistered company prefix stays one, as in `GET`). Nothing
    is kept for a closed connection: events captured while no socket is open are not sent
    later (webhooks are the durable kind)."""
    from gateway.auth import check_signed_request
    from gateway.traceability import get_runtime, get_traceability_settings

    services = websocket.app.state.services
    settings = websocket.app.state.settings
    try:
        asked = negotiate(websocket.headers)
        signed = SignedRequest.from_headers(websocket.headers)
        if signed is None:
            raise MemberAccessRequired(
                "sign the handshake with a member organisation's key (Zhenzhi-Auth-* headers)")
        runtime = await get_runtime(websocket, settings,  # type: ignore[arg-type]
                                    await get_traceability_settings(websocket))  # type: ignore[arg-type]
        raw = websocket.scope.get("raw_path") or websocket.url.path.encode()
        query = websocket.scope.get("query_string") or b""
        path = raw.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")
        viewer = await run_in_threadpool(check_signed_request, signed, "GET", path, b"", services, runtime)
        org = _org(viewer)
        stream, schedule, report_if_empty = _stream_controls(websocket.query_params)
        await run_in_threadpool(get_query, services.store.engine, org, name)
    except LedgerError as exc:
        await _refuse(websocket, exc)
        return
    _, epc_format = with_epc_format(services, [], asked.epc_format)
    await websocket.accept(headers=[(b"gs1-epc-format", epc_format.encode())])
    now = int(time.time() * 1000)
    last = await run_in_threadpool(newest_seq, services.store.engine)
    plan = QuerySchedule.parse(schedule) if schedule else None

    def next_run(after_ms: int) -> int | None:
        if plan is None:
            return None
        found = plan.next_run(datetime.fromtimestamp(after_ms / 1000, UTC))
        return int(found.timestamp() * 1000) if found else None

    subscription = Subscription(
        id=f"ws-{uuid.uuid4()}", org=org, query_name=name, signer=viewer.signer or "",
        dest="websocket", secret="", stream=stream, schedule=schedule,
        report_if_empty=report_if_empty, initial_record_ms=now, last_seq=last,
        next_run_ms=next_run(now), created_ms=now, last_notified_ms=None,
        epc_format=asked.epc_format.value)  # keys written as the handshake asked
    closed = asyncio.Event()

    async def watch() -> None:  # the client's close ends the subscription
        try:
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass
        finally:
            closed.set()

    watcher = asyncio.create_task(watch())
    try:
        while not closed.is_set():
            now = int(time.time() * 1000)
            due = subscription.next_run_ms
            if subscription.stream or (due is not None and due <= now):
                if not await run_in_threadpool(services.may_read, org, subscription.signer):
                    await websocket.close(code=1008, reason="the subscribing key is no longer "
                                                            "valid for its organisation")
                    return
                high = await run_in_threadpool(newest_seq, services.store.engine)
                sent = 0
                more = True
                while more:
                    found, more, _ = await run_in_threadpool(
                        services.subscription_events, subscription, last, 100)
                    if not found:
                        break
                    await websocket.send_bytes(
                        query_result(subscription, [e for _, e in found], now))
                    sent += 1
                    last = found[-1][0]
                if not subscription.stream and sent == 0 and subscription.report_if_empty:
                    await websocket.send_bytes(query_result(subscription, [], now))
                last = max(last, high)
                subscription = replace(subscription, last_seq=last, next_run_ms=next_run(now))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closed.wait(), settings.webhook_interval_s)
    except WebSocketDisconnect:
        pass
    finally:
        watcher.cancel()
