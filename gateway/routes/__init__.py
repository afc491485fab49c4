"""The gateway's routers. Each module here exposes `router: fastapi.APIRouter`.

To add a router: create the module and add its name to `ROUTER_MODULES` (one line).
"""

from __future__ import annotations

ROUTER_MODULES: tuple[str, ...] = (
    "gateway.routes.discovery",
    "gateway.routes.capture",
    "gateway.routes.events",
    *(f"gateway.routes.{m}" for m in ("codes", "conditions", "customs", "recalls", "complaints", "members", "resolver")),
    "gateway.routes.console",
    "gateway.routes.scan_page",
)
