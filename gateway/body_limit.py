"""A body size limit enforced on the raw ASGI stream, before anything parses the body.

A declared Content-Length over the limit is refused at once, without reading a byte; a chunked
body is counted as it arrives and refused as soon as it passes the limit, so a client cannot
make the gateway buffer more than `max_bytes` (+ one chunk) of anything.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.problems import BodyTooLargeError
from gateway.responses import ProblemResponse

__all__ = ["BodyLimitMiddleware"]


class BodyLimitMiddleware:
    """Pure ASGI middleware (no per-request task or copy, unlike BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, headers: dict[str, str] | None = None
                 ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.headers = headers or {}

    def _error(self) -> BodyTooLargeError:
        return BodyTooLargeError(f"the request body exceeds {self.max_bytes} bytes",
                                 limit=self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0  # the server rejects a malformed length itself
                if declared > self.max_bytes:
                    problem = self._error().to_problem(instance=scope.get("path"))
                    problem["epcisException"] = "CaptureLimitExceededException"
                    response = ProblemResponse(problem, status_code=413, headers=self.headers)
                    await response(scope, receive, send)
                    return
                break

        seen = 0
        limit = self.max_bytes
        error = self._error

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Raised inside the route's body read: the problem handler answers 413.
                    raise error()
            return message

        await self.app(scope, counting_receive, send)
