"""A lean HTTP/1.1 keep-alive client on asyncio streams, for load generators, and what the
load benchmarks share about the gateway they start (a free port, readiness, its CPU time,
latency percentiles).

On a 2-core machine the load generator shares the CPU with the gateway, and httpx's
per-request cost (~0.5 ms, more than some of the work measured) would be counted as the
gateway's. Requests are pre-serialised bytes; answers are read by Content-Length.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
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
                      on_response: Callable[[float, int, bytes], Awaitable[None] | None],
                      *, bodies: dict[bytes, bytes] | None = None) -> None:
    """`concurrency` keep-alive connections, each sending its next request as soon as the
    previous answer is read in full; `on_response(start, status, body)` sees every answer
    (`start`: `time.perf_counter()` when the request was sent). `bodies`, if given, gets each
    request's (last) answer under the request's bytes."""
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
                if bodies is not None:
                    bodies[raw] = body
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: Sequence[float], q: float) -> float | None:
    """The `q` quantile (nearest rank), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Until the gateway at `url` answers (it migrates the store before it listens)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the gateway exited during start-up")
        try:
            if httpx.get(url + "/capture/domain", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the gateway did not become ready")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process and its live children (a gateway's worker
    processes), from Linux /proc: the gateway's cost, whatever else the machine runs."""
    total = 0.0
    pids = [pid]
    while pids:
        p = pids.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{p}/task").iterdir():
                pids += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited meanwhile
    return total
