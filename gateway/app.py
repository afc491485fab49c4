"""`create_app(settings)`: the FastAPI application of the gateway.

The lifespan opens the runtime (`gateway.services.Services`: store, chain view, intake and,
if configured, the in-process anchoring worker) and closes it on shutdown. Routers come from
`gateway.routes.ROUTER_MODULES`.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from gateway.body_limit import BodyLimitMiddleware
from gateway.problems import install_problem_handler, problem_responses
from gateway.routes import ROUTER_MODULES
from gateway.settings import GatewaySettings, default_settings
from ledger import __version__
from ledger.runtime.recursion import restore_recursion_limit

__all__ = ["OPENAPI_DESCRIPTION", "create_app", "limit_headers", "served_app"]

OPENAPI_DESCRIPTION = """\
Zhenzhi gateway: the **EPCIS 2.0 REST binding** (capture, events, EPCs) with a signed capture.

**Signed capture.** `POST /capture` takes an EPCISDocument (JSON-LD) as the body and the
organisation's EIP-712 capture signature in five headers: `Zhenzhi-Capture-Signature`
(0x r‖s‖v, 65 bytes, low s), `Zhenzhi-Capture-Org` (0x bytes32 organisation id),
`Zhenzhi-Capture-Nonce` (decimal uint64, never reused by the organisation),
`Zhenzhi-Capture-Signed-At` (decimal unix seconds) and `Zhenzhi-Capture-Disclosure-Seed`
(0x bytes32, the secret seed of the events' salted commitments). The typed message is
`Capture(bytes32 eventsRoot,uint32 count,bytes32 org,uint64 nonce,uint64 signedAt)` in the domain
`{name: "Zhenzhi", version: "2", chainId, verifyingContract: Consortium}`; `eventsRoot` and
`count` are recomputed from the body and the seed. See `GET /capture/domain` for the domain.

**Errors** are RFC 9457 `application/problem+json` with a stable `type`
(`urn:zhenzhi:problem:<slug>`) and the EPCIS exception name in `epcisException`.
"""


def limit_headers(settings: GatewaySettings) -> dict[str, str]:
    """The capture limits, advertised on OPTIONS /capture and on every 413."""
    return {
        "GS1-EPCIS-Capture-Limit": str(settings.capture_limit),
        "GS1-EPCIS-Capture-File-Size-Limit": str(settings.max_body_bytes),
    }


def _describe_problems_only(app: FastAPI) -> None:
    """Drop FastAPI's generated 422 responses from the OpenAPI: validation failures answer 400
    problem+json (the binding's status), which every operation already documents."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for ops in schema.get("paths", {}).values():
                for op in ops.values():
                    if isinstance(op, dict):
                        op.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: GatewaySettings | None = None, *, freeze_heap: bool = False
               ) -> FastAPI:
    """Build the gateway app. Nothing connects until the lifespan starts. `freeze_heap`
    (`zhenzhi serve`): once started, freeze the start-up heap (`ledger.runtime.heap`)."""
    settings = settings or default_settings()
    # py_ecc (imported through web3) raised it past what the C stack holds: see the module.
    restore_recursion_limit()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from gateway.services import Services

        services = Services.open(settings)
        app.state.services = services
        if freeze_heap:
            from ledger.runtime.heap import freeze_startup_heap

            freeze_startup_heap()
        try:
            yield
        finally:
            services.close()

    app = FastAPI(
        title="Zhenzhi gateway",
        version=__version__,
        description=OPENAPI_DESCRIPTION,
        lifespan=lifespan,
        responses=problem_responses(400, 404, 405, 413),
    )
    app.state.settings = settings
    app.state.problem_headers = limit_headers(settings)
    install_problem_handler(app)
    for name in ROUTER_MODULES:
        app.include_router(importlib.import_module(name).router)
    _describe_problems_only(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes,
                       max_depth=settings.max_json_depth, headers=limit_headers(settings),
                       own_check_paths=frozenset({"/capture"}))
    # Outermost of ours: a cached proof is answered before the body limit and the routing.
    from gateway.routes.resolver import ResolverFastPath

    app.add_middleware(ResolverFastPath)
    # Outermost: CORS on every resolver answer, the fast path's and the errors' included.
    from gateway.resolver_cors import ResolverCors

    app.add_middleware(ResolverCors)
    return app


def served_app() -> FastAPI:
    """The app of each `zhenzhi serve --workers N` process (a uvicorn factory): settings from
    the environment, start-up heap frozen."""
    return create_app(default_settings(), freeze_heap=True)
