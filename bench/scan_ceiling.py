"""The scan benchmark's ceiling: a bare FastAPI app that answers each resolver path with bytes
captured from the gateway, under uvicorn with the same settings as `zhenzhi serve` (one
worker, default loop and HTTP implementation, access log off, no proxy headers). What is left
between its rate and the gateway's is the gateway's own work per scan.

    .venv/bin/python -m bench.scan_ceiling BODIES PORT [LOG_LEVEL]

BODIES is a pickle (written by `bench.scan`) mapping a request path to
`(body, content type, headers)`.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response


def create(bodies: dict[str, tuple[bytes, str, dict[str, str]]]) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/01/{gtin}/21/{serial}")
    async def resolve(request: Request, gtin: str, serial: str) -> Response:
        body, media_type, headers = bodies[request.url.path]
        return Response(body, media_type=media_type, headers=headers)

    @app.get("/capture/domain")  # bench.wire.wait_ready asks for it
    async def ready() -> Response:
        return Response(b"{}", media_type="application/json")

    return app


def load(path: Path) -> dict[str, tuple[bytes, str, dict[str, str]]]:
    with path.open("rb") as f:
        return pickle.load(f)  # noqa: S301 - written by bench.scan in this run


def main(argv: list[str]) -> int:
    import uvicorn

    bodies, port = Path(argv[0]), int(argv[1])
    log_level = argv[2] if len(argv) > 2 else "warning"
    # As gateway.commands.serve runs one worker: an app object, workers=1, access log off,
    # proxy headers off, uvicorn's default loop and HTTP implementation.
    uvicorn.run(create(load(bodies)), host="127.0.0.1", port=port, log_level=log_level,
                access_log=False, workers=1, proxy_headers=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
