"""uvicorn's WebSocket protocol, with a malformed handshake refused as a problem.

uvicorn checks a WebSocket upgrade's headers (`Sec-WebSocket-Key`, `-Version`, …) before the
application sees the request, and answers a malformed one in `text/plain`. The EPCIS
binding's subscription endpoint (`GET /queries/{queryName}/events` with `Upgrade: websocket`)
documents its 400 as the standard's exception: here the same check refuses with an RFC 9457
problem (`epcisException: ValidationException`), and everything else is uvicorn's own
(`ws="auto"`'s sans-I/O protocol).
"""

from __future__ import annotations

import email.utils
from http import HTTPStatus

import orjson
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from gateway.problems import problem_instance
from ledger.errors import InvalidInputError

__all__ = ["InvalidWebSocketHandshakeError", "ProblemWebSocketProtocol"]


class InvalidWebSocketHandshakeError(InvalidInputError):
    """An `Upgrade: websocket` request whose handshake headers are missing or malformed."""

    slug = "invalid-websocket-handshake"
    title = "Invalid WebSocket handshake"


class ProblemWebSocketProtocol(WebSocketsSansIOProtocol):
    """`uvicorn.Config(ws=ProblemWebSocketProtocol)`."""

    def handle_connect(self, event: Request) -> None:
        checked = type(self.conn).accept(self.conn, event)
        if checked.status_code != HTTPStatus.SWITCHING_PROTOCOLS:
            checked = self._refusal(event, checked)
        # uvicorn's handler asks the connection to accept: it gets this answer.
        self.conn.accept = lambda _request: checked  # type: ignore[method-assign]
        super().handle_connect(event)

    def _refusal(self, event: Request, refused: Response) -> Response:
        reason = refused.body.decode("utf-8", "replace").strip().splitlines()[0]
        error = InvalidWebSocketHandshakeError(f"not a WebSocket handshake: {reason}")
        raw_path = event.path.partition("?")[0]
        scope = {"type": "websocket", "scheme": self.scheme, "server": self.server,
                 "root_path": self.root_path, "path": raw_path,
                 "raw_path": self.root_path.encode() + raw_path.encode("ascii", "replace"),
                 "query_string": b"",
                 "headers": [(b"host", event.headers.get("Host", "").encode(
                     "latin-1", "replace"))]}
        problem = error.to_problem(instance=problem_instance(scope))
        problem["epcisException"] = "ValidationException"
        body = orjson.dumps(problem)
        status = HTTPStatus.BAD_REQUEST
        return Response(status.value, status.phrase, Headers([
            ("Date", email.utils.formatdate(usegmt=True)), ("Connection", "close"),
            ("Content-Length", str(len(body))), ("Content-Type", "application/problem+json"),
        ]), body)
