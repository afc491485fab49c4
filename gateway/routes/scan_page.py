"""The shopper's page: a static shell and script that verify an item in the browser.

The resolver answers a browser's scan (`Accept: text/html`) with `verifier/static/scan.html`,
the same bytes for every item, cache-validated (ETag; a conditional GET gets 304). The page's
script (`/verifier/verify.js`, built at set-up by esbuild from `verifier/web/`) fetches the
item's public proof from the same URL as JSON and checks it against the chain by its own
JSON-RPC calls to the node named in `/verifier/config.json`. The gateway never sends the page a
verdict; `?verdict=server` on an item URL asks for the server-rendered page instead, labelled
as the gateway's word (the `<noscript>` fallback links to it).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response

from gateway.deps import ServicesDep, SettingsDep
from ledger.errors import NotFoundError

__all__ = ["STATIC_DIR", "router", "static_response"]

STATIC_DIR = Path(__file__).resolve().parents[2] / "verifier" / "static"
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".json": "application/json",
          ".svg": "image/svg+xml", ".map": "application/json"}

router = APIRouter(tags=["consumer"])


class StaticNotBuiltError(NotFoundError):
    slug = "page-not-built"
    title = "The shopper's page is not built"


@lru_cache(maxsize=32)
def _file(name: str, mtime_ns: int) -> tuple[bytes, str]:
    body = (STATIC_DIR / name).read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def static_response(request: Request, name: str) -> Response:
    """A file of verifier/static with a strong ETag; 304 when the client holds it already."""
    path = STATIC_DIR / name
    if path.suffix not in _TYPES or path.parent != STATIC_DIR or not path.is_file():
        raise StaticNotBuiltError(
            f"{name} is not there: run scripts/run or scripts/test once to build the page",
            file=name)
    body, etag = _file(name, path.stat().st_mtime_ns)
    headers = {"ETag": etag, "Cache-Control": "no-cache", "Vary": "Accept"}
    if etag in (request.headers.get("if-none-match") or ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=_TYPES[path.suffix], headers=headers)


def page_config(services: Any, settings: Any) -> dict[str, Any]:
    view = services.chain_view
    return {"rpcUrl": settings.public_rpc_url or settings.rpc_url, "chainId": view.chain_id,
            "contracts": dict(view.contracts)}


@router.get("/verifier/config.json", summary="Where the shopper's page reads the chain")
async def config(services: ServicesDep, settings: SettingsDep) -> Response:
    import orjson

    return Response(orjson.dumps(page_config(services, settings)), media_type="application/json",
                    headers={"Cache-Control": "no-cache"})


@router.get("/verifier/{name}", summary="The shopper's page: static files")
async def static(request: Request, name: str) -> Response:
    return static_response(request, name)
