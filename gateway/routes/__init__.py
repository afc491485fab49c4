"""The gateway's routers. Each module here exposes `router: fastapi.APIRouter`.

To add a router: create the module and add its name to `ROUTER_MODULES` (one line).
"""

from __future__ import annotations

ROUTER_MODULES: tuple[str, ...] = (
    "gateway.routes.discovery",
    "gateway.routes.capture",
    "gateway.routes.events",
    "gateway.routes.resources",
    "gateway.routes.queries",
    "gateway.routes.subscriptions",
    *(f"gateway.routes.{m}" for m in ("codes", "customs", "recalls", "complaints", "members",
                                      "brand_links", "conditions")),
    "gateway.routes.login",
    "gateway.routes.console",
    "gateway.routes.console_brand",
    "gateway.routes.console_operator",
    "gateway.routes.console_charts",
    "gateway.routes.console_customs",
    "gateway.routes.console_regulator",
    "gateway.routes.console_relay",
    "gateway.routes.console_audit",
    "gateway.routes.scan_page",
    # Last: its catch-all route answers every Digital Link path no other route matched.
    "gateway.routes.resolver",
)
