"""A lean HTTP/1.1 keep-alive client on asyncio streams, for load generators.

On a 2-core machine the load generator shares the CPU with the gateway, and httpx's
per-request cost (~0.5 ms, more than some of the work measured) would be counted as the
gateway's. Requests are pre-serialised bytes; answers are read by Content-Length.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of one response (Content-Length bodies only)."""
    status = int((await reader.readline()).split(b" ", 2)[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
        elif name.strip().lower() == b"transfer-encoding":
            raise RuntimeError("the gateway answered chunked; this client reads "
                               "Content-Length bodies only")
    return status, await reader.readexactly(length)


async def closed_loop(url: str, wire: Iterable[bytes], concurrency: int,
                      on_response: Callable[[float, int, bytes], Awaitable[None] | None]) -> None:
    """`concurrency` keep-alive connections, each sending its next request as soon as the
    previous answer is read in full; `on_response(start, status, body)` sees every answer
    (`start`: `time.perf_counter()` when the request was sent)."""
    host_port = url.split("://", 1)[1]
    host, port = host_port.rsplit(":", 1)
    queue = iter(wire)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for raw in queue:
                start = time.perf_counter()  # uvloop's loop.time() ticks in whole ms
                writer.write(raw)
                status, body = await read_response(reader)
                result: Any = on_response(start, status, body)
                if asyncio.iscoroutine(result):
                    await result
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def run(coro: Any) -> Any:
    """Run on uvloop when it is there (uvicorn[standard] brings it), else plain asyncio."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(coro)
    return uvloop.run(coro)
