"""CORS on the resolver: a retail app or another site's page may read what a scan resolves to.

Every answer to a Digital Link path (`ledger.epcis.digital_link.is_link_path`) and to
`/.well-known/gs1resolver`, errors included, carries `Access-Control-Allow-Origin: *` and
exposes `Link`, `Location` and `Content-Type`; an OPTIONS preflight on those paths is answered
here (204, the methods and any requested headers). Nothing the resolver answers depends on
cookies or credentials, so `*` gives a page no more than a script could fetch itself.

Only these paths: the rest of the gateway (member reads, the console and its log-in) is not
opened to other origins.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger.epcis.digital_link import is_link_path

__all__ = ["CORS_HEADERS", "ResolverCors"]

_METHODS = "GET, HEAD, OPTIONS"
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Link, Location, Content-Type, Content-Length, ETag, Vary",
}


class ResolverCors:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    @staticmethod
    def _applies(path: str) -> bool:
        return path == "/.well-known/gs1resolver" or is_link_path(path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._applies(scope["path"]):
            await self.app(scope, receive, send)
            return
        request_headers = Headers(scope=scope)
        if scope["method"] == "OPTIONS" and "access-control-request-method" in request_headers:
            asked = request_headers.get("access-control-request-headers")
            headers = {**CORS_HEADERS, "Access-Control-Allow-Methods": _METHODS,
                       "Access-Control-Max-Age": "86400", "Allow": _METHODS,
                       "Vary": "Access-Control-Request-Headers"}
            if asked:
                headers["Access-Control-Allow-Headers"] = asked[:1000]
            await send({"type": "http.response.start", "status": 204,
                        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in CORS_HEADERS.items():
                    headers[name] = value
                headers["Access-Control-Allow-Methods"] = _METHODS
            await send(message)

        await self.app(scope, receive, send_with_cors)
