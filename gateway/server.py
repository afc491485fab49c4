"""Run the gateway under a real uvicorn server in a background thread (tests, demos, e2e).

`zhenzhi serve` is the production entry; this is for code that needs a live gateway inside its
own process, served over real HTTP, and a clean stop.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn
from fastapi import FastAPI

from gateway.websocket_handshake import ProblemWebSocketProtocol

__all__ = ["ThreadedServer"]


class ThreadedServer:
    """`with ThreadedServer(app) as server: httpx.get(server.url + "/")`."""

    def __init__(self, app: FastAPI, *, host: str = "127.0.0.1", port: int = 0,
                 start_timeout: float = 60.0) -> None:
        if port == 0:
            with socket.socket() as s:
                s.bind((host, 0))
                port = int(s.getsockname()[1])
        self.host = host
        self.port = port
        self.url = f"http://{host}:{port}"
        self.start_timeout = start_timeout
        config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                                ws=ProblemWebSocketProtocol,
                                access_log=False, lifespan="on",
                                # Client addresses come from gateway.client (trusted proxies
                                # only), never from uvicorn's trust of 127.0.0.1.
                                proxy_headers=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"gateway:{port}",
                                       daemon=True)

    def start(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the gateway failed to start (see its log)")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the gateway did not start within {self.start_timeout}s")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
