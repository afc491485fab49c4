"""Who may act in the console: a live console session (`gateway.sessions`) whose
organisation holds one of the roles the action needs on Consortium now.

Every console POST checks, in this order: the `Origin` is the console's own (CSRF), a session
is open and its key still valid on chain (revocation ends it within a block), the role. The UI
hides what a role may not do; these checks are what keeps it from being done.
"""

from __future__ import annotations

from collections.abc import Collection

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from gateway.services import Services
from gateway.sessions import ConsoleSession, current_session, own_origin, require_same_origin
from gateway.settings import GatewaySettings
from ledger.errors import AuthorizationError

__all__ = ["ConsoleRoleRequired", "ConsoleSessionRequired", "console_actor", "console_language",
           "console_reader"]


class ConsoleSessionRequired(AuthorizationError):
    slug = "console-session-required"
    title = "A console session is required"
    status = 401


class ConsoleRoleRequired(AuthorizationError):
    slug = "console-role-required"
    title = "The organisation lacks the role this console action needs"


async def console_reader(request: Request, services: Services, settings: GatewaySettings,
                         roles: Collection[str]) -> ConsoleSession:
    """The session of a console read (no Origin check: a GET changes nothing)."""
    origin = own_origin(request, settings)
    session = await run_in_threadpool(current_session, request, services, origin)
    if session is None:
        raise ConsoleSessionRequired(
            "log in to the console first (/console/login); a session ends when its key is "
            "revoked on Consortium")
    if not session.roles & frozenset(roles):
        raise ConsoleRoleRequired(
            f"organisation {session.org_hex} holds {', '.join(sorted(session.roles))}; this "
            f"needs one of {', '.join(sorted(roles))}", org=session.org_hex,
            roles=sorted(session.roles), needs=sorted(roles))
    return session


async def console_actor(request: Request, services: Services, settings: GatewaySettings,
                        roles: Collection[str]) -> ConsoleSession:
    """The session of a state-changing console request: same origin, live session, role."""
    require_same_origin(request, own_origin(request, settings))
    return await console_reader(request, services, settings, roles)


def console_language(request: Request) -> str:
    """zh-Hans or en: `?lang=`, else the browser's Accept-Language (zh-Hans unless it asks
    for English first)."""
    asked = request.query_params.get("lang")
    if asked in ("zh-Hans", "en"):
        return asked
    accept = request.headers.get("accept-language", "").lower()
    return "en" if accept.startswith("en") else "zh-Hans"
