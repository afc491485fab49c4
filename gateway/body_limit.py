"""Limits enforced on the raw ASGI stream, before anything parses the body.

Size: a declared Content-Length over the limit is refused at once, without reading a byte; a
chunked body is counted as it arrives and refused as soon as it passes the limit, so a client
cannot make the gateway buffer more than `max_bytes` (+ one chunk) of anything.

JSON text: a body that a route may parse as JSON (a JSON media type, or none: FastAPI parses a
body without Content-Type as JSON) is read whole first (it is bounded by the size limit) and
`ledger.epcis.json_text.check_json_text` looks at its bytes: nesting deeper than `max_depth`,
a lone surrogate escape or a non-UTF-8 encoding answer 400 problem+json here, so no JSON
parser, whichever route owns the body, ever sees them. Other media types stream through, and
so do the bodies of `own_check_paths` (`POST /capture`): their route makes cheaper checks
first and the ledger checks the same text before it parses it (`parse_document`).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.problems import BodyTooLargeError, problem_instance
from gateway.responses import ProblemResponse
from ledger.epcis.json_text import DEFAULT_MAX_JSON_DEPTH, check_json_text
from ledger.errors import LedgerError

__all__ = ["BodyLimitMiddleware"]


def _may_be_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return b"json" in value.split(b";", 1)[0].lower()
    return True


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


class BodyLimitMiddleware:
    """Pure ASGI middleware (no per-request task or copy, unlike BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, headers: dict[str, str] | None = None,
                 max_depth: int = DEFAULT_MAX_JSON_DEPTH,
                 own_check_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.own_check_paths = own_check_paths
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self.headers = headers or {}

    def _error(self) -> BodyTooLargeError:
        return BodyTooLargeError(f"the request body exceeds {self.max_bytes} bytes",
                                 limit=self.max_bytes)

    async def _refuse(self, error: LedgerError, scope: Scope, receive: Receive, send: Send
                      ) -> None:
        problem = error.to_problem(instance=problem_instance(scope))
        if error.status == 413:
            problem["epcisException"] = "CaptureLimitExceededException"
            headers = self.headers
        else:
            problem["epcisException"] = "ValidationException"
            headers = {}
        await ProblemResponse(problem, status_code=error.status, headers=headers)(
            scope, receive, send)

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
                    await self._refuse(self._error(), scope, receive, send)
                    return
                break

        if (_has_body(scope) and _may_be_json(scope)
                and scope.get("path") not in self.own_check_paths):
            await self._checked_json(scope, receive, send)
            return

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

    async def _checked_json(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the whole body (at most `max_bytes`), check it, then hand it to the app as one
        message; later receives (the disconnect) go to the server as before."""
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before sending its body: nobody to answer
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.max_bytes:
                await self._refuse(self._error(), scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        try:
            check_json_text(body, max_depth=self.max_depth)
        except LedgerError as exc:
            await self._refuse(exc, scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
