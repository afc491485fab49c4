"""WebSocket subscriptions through the proxy: the gateway's `GET /queries/{name}/events`
handshake (`?stream=true`, or the schedule fields), signed as a member read and relayed.

An EPCIS client opens the socket on the proxy as it would on the gateway. The proxy checks the
path (only that operation of the binding: any other path is refused before anything is
signed), signs the handshake with the `Zhenzhi-Auth-*` headers over `GET` and the path with its
query exactly as it goes to the gateway, and opens the gateway's socket with the client's
`GS1-*` and media-type headers. A handshake from a web page is refused before anything is
signed (`signproxy.browsers`: a browser sends `Origin` on every handshake and applies no CORS to
WebSockets; a rebound name shows in `Host`). Then:
- the gateway refuses (its problem instead of 101): the client's handshake gets that answer,
  status and body unchanged;
- the gateway accepts: the client gets 101 with the gateway's `GS1-EPC-Format`, every message
  from the gateway is passed on as sent, and either side's close closes the other (the
  gateway's close code too: 1008 when the subscribing key is no longer valid).
Messages from the client are read and dropped: the subscription's socket is one-way.
"""

from __future__ import annotations

import asyncio
import contextlib
import re

import orjson
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from ledger.errors import LedgerError
from signproxy.binding import classify
from signproxy.browsers import refuse_browsers
from signproxy.errors import GatewayUnreachableError, OutsideBindingError, problem_of
from signproxy.settings import ProxySettings
from signproxy.signer import Signer
from signproxy.upstream import Gateway

__all__ = ["relay"]

_SUBSCRIPTION = re.compile(r"^/queries/[^/]+/events$")
# The gateway's handshake answer headers a client may read (the rest are the connection's).
_ANSWERED = ("gs1-epc-format", "gs1-epcis-version", "gs1-cbv-version", "gs1-extensions")


async def _deny(websocket: WebSocket, status: int, body: bytes, media_type: str) -> None:
    await websocket.send_denial_response(Response(body, status_code=status, media_type=media_type))


async def _open(target: str, headers: dict[str, str], timeout: float,
                root: str) -> ClientConnection:
    """The gateway's socket; its refusal (InvalidStatus) as it came, any other failure to open
    as GatewayUnreachableError."""
    try:
        return await connect(target, additional_headers=headers, open_timeout=timeout,
                             max_size=None, compression=None)
    except InvalidStatus:
        raise
    except (OSError, TimeoutError, WebSocketException) as exc:
        raise GatewayUnreachableError(
            f"the gateway's WebSocket at {root} did not open: {type(exc).__name__}",
            gateway=root) from None


async def relay(websocket: WebSocket, gateway: Gateway, signer: Signer,
                settings: ProxySettings) -> None:
    raw_path = websocket.scope.get("raw_path", b"").decode("latin-1") or websocket.url.path
    query = websocket.scope.get("query_string", b"").decode("latin-1")
    try:
        # A browser sends Origin on every handshake, and applies no CORS to WebSockets:
        # without this any web page the enterprise's staff open could subscribe through the
        # proxy (signed with the enterprise's key) and read what it streams.
        refuse_browsers(websocket.headers, settings.host_names)
        classify("GET", raw_path)
        if not _SUBSCRIPTION.match(raw_path):
            raise OutsideBindingError(
                f"{raw_path!r} is not a WebSocket operation of the binding; subscribe on "
                "/queries/{queryName}/events", path=raw_path)
        url = gateway.url(raw_path, query)
        facts = await gateway.facts(signer.address, signer.org)
        headers = gateway.forwarded_headers(websocket.headers)
        headers.update(signer.request_headers("GET", url.raw_path.decode("ascii"), b"",
                                              facts.org))
        upstream = await _open(str(url.copy_with(scheme="wss" if url.scheme == "https" else "ws")),
                               headers, settings.timeout_s, gateway.root)
    except InvalidStatus as exc:  # the gateway's refusal, passed back as it wrote it
        answer = exc.response
        await _deny(websocket, answer.status_code, bytes(answer.body or b""),
                    answer.headers.get("content-type", "application/problem+json"))
        return
    except LedgerError as exc:
        await _deny(websocket, exc.status, orjson.dumps(problem_of(exc, raw_path)),
                    "application/problem+json")
        return
    async with upstream:
        opened = upstream.response  # the 101: set once connect() returned
        answered = [] if opened is None else [
            (k.encode(), v.encode()) for k, v in opened.headers.raw_items()
            if k.lower() in _ANSWERED]
        await websocket.accept(headers=answered)

        async def down() -> int:
            try:
                async for message in upstream:
                    if isinstance(message, str):
                        await websocket.send_text(message)
                    else:
                        await websocket.send_bytes(message)
            except ConnectionClosed:
                pass
            return upstream.close_code or 1000

        async def up() -> None:
            with contextlib.suppress(WebSocketDisconnect):
                while True:
                    if (await websocket.receive())["type"] == "websocket.disconnect":
                        return

        tasks = {asyncio.create_task(down()), asyncio.create_task(up())}
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for task in done:
            code = task.result()
            if code is not None:  # the gateway closed: close the client with its code
                with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                    await websocket.close(code=code)
