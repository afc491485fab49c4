"""A webhook receiver for tests: a real HTTP server on loopback that records every POST and
answers each with the next scripted status (then 200)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Receiver:
    """A webhook receiver: records every POST; answers each with the next scripted status
    (then 200)."""

    statuses: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""
    # Set: each POST is answered only once this is set (a receiver that hangs), at most 60 s.
    hold: threading.Event | None = None

    def acknowledged(self) -> list[tuple[dict[str, str], bytes]]:
        with self.lock:
            return [(h, b) for h, b, status in self.received if status == 200]

    def attempts(self) -> list[tuple[dict[str, str], bytes, int]]:
        with self.lock:
            return list(self.received)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from serve_receiver()


@pytest.fixture
def other_receiver() -> Iterator[Receiver]:
    """A second receiver, on another port."""
    yield from serve_receiver()


def serve_receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if state.hold is not None:
                state.hold.wait(60)
            with state.lock:
                status = state.statuses.pop(0) if state.statuses else 200
                state.received.append(({k.lower(): v for k, v in self.headers.items()},
                                       body, status))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield state
    server.shutdown()
    server.server_close()
