"""The proxy's Starlette application: one handler for every path, in four steps.

0. `browsers.refuse_browsers`: a request from a web page (`Origin`, or a `Host` that is not
   the proxy's: DNS rebinding) is refused, 403/421.
1. `binding.classify`: a path and method of the EPCIS 2.0 binding, or refused (404/405).
2. The gateway's facts (domain, limits, the key's organisation), then the body, read up to the
   gateway's size limit (413 past it, without reading further).
3. A capture is parsed by the ledger's parsers and capture-signed over the events parsed (a body
   that does not parse is refused, 400/413/415, and nothing is signed); any other request of the
   binding gets a member request signature over its method, path, query and body.
4. Forwarded; the answer passes back with its status and body unchanged (`upstream` for the
   headers and links). A gateway that does not answer is 502.

WebSocket subscriptions (`GET /queries/{name}/events` with an upgrade) are signed the same way
and relayed (`signproxy.socket`).

Every refusal is problem+json with `refusedBy: zhenzhi-sign-proxy`, so a client can tell the
proxy's answers from the gateway's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from ledger.errors import LedgerError
from signproxy.binding import Kind, classify
from signproxy.browsers import refuse_browsers
from signproxy.capture import parse_capture, parse_event, syntax_of
from signproxy.errors import BodyTooLargeError, problem_of
from signproxy.settings import ProxySettings
from signproxy.signer import Signer
from signproxy.socket import relay
from signproxy.upstream import Gateway

__all__ = ["create_app"]

_METHODS = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError(f"the request body ({declared} bytes) exceeds the gateway's "
                                f"limit of {limit} bytes", limit=limit)
    chunks: list[bytes] = []
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise BodyTooLargeError(f"the request body exceeds the gateway's limit of {limit} "
                                    "bytes", limit=limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _problem(error: LedgerError, request: Request) -> JSONResponse:
    headers = {}
    if error.status == 405 and "allow" in error.fields:
        headers["Allow"] = str(error.fields["allow"])
    return JSONResponse(problem_of(error, request.url.path), status_code=error.status,
                        headers=headers, media_type="application/problem+json")


def create_app(settings: ProxySettings, signer: Signer, *,
               transport: httpx.AsyncBaseTransport | None = None) -> Starlette:
    """The sign-proxy for `signer`'s organisation in front of `settings.gateway_url`.
    `transport`: the HTTP transport to the gateway (httpx's default if None)."""
    gateway = Gateway(settings, transport=transport)

    async def handle(request: Request) -> Response:
        raw_path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
        query = request.scope.get("query_string", b"").decode("latin-1")
        method = request.method.upper()
        try:
            refuse_browsers(request.headers, settings.host_names)
            kind = classify(method, raw_path)
            url = gateway.url(raw_path, query)
            facts = await gateway.facts(signer.address, signer.org)
            body = await _body(request, facts.file_size_limit)
            headers = gateway.forwarded_headers(request.headers)
            if kind is Kind.CAPTURE:
                document = parse_capture(body, syntax_of(headers.get("content-type")),
                                         max_bytes=facts.file_size_limit,
                                         max_events=facts.capture_limit)
                headers.update(signer.capture_headers(document, facts.domain, facts.org))
            elif kind is Kind.EVENT:
                syntax_of(headers.get("content-type"), xml=False)
                document = parse_event(body, max_bytes=facts.file_size_limit)
                headers.update(signer.capture_headers(document, facts.domain, facts.org))
            else:
                headers.update(signer.request_headers(
                    method, url.raw_path.decode("ascii"), body, facts.org))
            answer = await gateway.forward(method, url, headers, body)
        except LedgerError as exc:
            return _problem(exc, request)
        root = str(request.base_url).rstrip("/")
        response = Response(answer.content, status_code=answer.status_code)
        for name, value in gateway.answer_headers(answer, root):
            response.headers.append(name, value)
        return response

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        await gateway.aclose()

    async def socket(websocket: WebSocket) -> None:
        await relay(websocket, gateway, signer, settings)

    app = Starlette(routes=[Route("/{rest:path}", handle, methods=_METHODS),
                            WebSocketRoute("/{rest:path}", socket)], lifespan=lifespan)
    app.state.gateway = gateway
    return app
