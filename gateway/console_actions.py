"""Who acts in the console: the live session behind a console request, and its roles.

Every console action (a POST from a role's page) passes `console_actor`: its `Origin` must be
the console's own (CSRF: with SameSite=Strict cookies that leaves a cross-site form or script
nothing to ride), it must carry a live session (`gateway.sessions.current_session`: the key
still valid on Consortium at the current block, so a revoked key is refused at the next one),
and the organisation must hold, on chain now, one of the roles the action needs. The roles are
read from the chain on every request, never from the session row or the page.

Reads (GET) of a role's page or data need the session and the role, not the Origin check.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from gateway.auth import Access, Viewer
from gateway.deps import ServicesDep, SettingsDep
from gateway.services import Services
from gateway.sessions import ConsoleSession, current_session, own_origin, require_same_origin
from ledger.chain.roles import REGULATOR
from ledger.errors import AuthorizationError

__all__ = ["ConsoleActorDep", "ConsoleReaderDep", "ConsoleSessionRequired",
           "ConsoleRoleRequired", "as_viewer", "require_roles"]


class ConsoleSessionRequired(AuthorizationError):
    slug = "console-session-required"
    title = "Log in to the console first"
    status = 401


class ConsoleRoleRequired(AuthorizationError):
    slug = "console-role-required"
    title = "Your organisation does not hold the role this needs"


def require_roles(session: ConsoleSession, *roles: str) -> ConsoleSession:
    if not session.roles & set(roles):
        raise ConsoleRoleRequired(
            f"organisation {session.org_hex} holds {', '.join(sorted(session.roles))}; this "
            f"needs one of {', '.join(roles)}", org=session.org_hex, roles=list(roles),
            held=sorted(session.roles))
    return session


def as_viewer(session: ConsoleSession) -> Viewer:
    """The session as the member viewer the signed-request routes' checks take."""
    access = Access.REGULATOR if REGULATOR in session.roles else Access.MEMBER
    return Viewer(access, session.org, session.signer, session.roles)


async def _session(request: Request, services: Services, settings: SettingsDep, *,
                   same_origin: bool) -> ConsoleSession:
    origin = own_origin(request, settings)
    if same_origin:
        require_same_origin(request, origin)
    session = await run_in_threadpool(current_session, request, services, origin)
    if session is None:
        raise ConsoleSessionRequired(
            "no live console session: log in at /console/login (a session ends at log-out, "
            "expiry, or when its key is revoked on chain)")
    return session


async def _actor(request: Request, services: ServicesDep, settings: SettingsDep
                 ) -> ConsoleSession:
    return await _session(request, services, settings, same_origin=True)


async def _reader(request: Request, services: ServicesDep, settings: SettingsDep
                  ) -> ConsoleSession:
    return await _session(request, services, settings, same_origin=False)


ConsoleActorDep = Annotated[ConsoleSession, Depends(_actor)]
ConsoleReaderDep = Annotated[ConsoleSession, Depends(_reader)]
