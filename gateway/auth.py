"""Who is asking: the public, a member organisation, or a regulator.

There are no accounts. A request without `Zhenzhi-Auth-*` headers is public. A request with
them must be signed (see `ledger.request_signing`) by a key that the named organisation holds
on Consortium *now*; its nonce must be new (remembered for twice the allowed clock skew, in
Redis when configured, so a replay to another gateway process fails too). The organisation's
roles come from the chain, never from the request.

`ViewerDep` resolves the viewer (public if unsigned); `MemberDep` and `RegulatorDep` insist.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import IntEnum
from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.concurrency import run_in_threadpool

from gateway.deps import ServicesDep
from gateway.services import Services
from gateway.traceability import RuntimeDep, TraceabilityRuntime
from ledger.errors import AuthorizationError
from ledger.request_signing import (
    HEADER_NONCE,
    HEADER_ORG,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    InvalidRequestAuthError,
    SignedRequest,
    recover_request_signer,
)
from ledger.roles import CUSTOMS, ENTERPRISE, REGULATOR

__all__ = ["Access", "MemberDep", "RegulatorDep", "Viewer", "ViewerDep", "require"]


class Access(IntEnum):
    PUBLIC = 0
    MEMBER = 1
    REGULATOR = 2


@dataclass(frozen=True, slots=True)
class Viewer:
    access: Access
    org: bytes | None = None  # 32-byte organisation id, for members
    signer: str | None = None
    roles: frozenset[str] = frozenset()

    @property
    def org_hex(self) -> str | None:
        return None if self.org is None else "0x" + self.org.hex()


class MemberAccessRequired(AuthorizationError):
    slug = "member-access-required"
    title = "A signed member request is required"
    status = 401


class RoleRequired(AuthorizationError):
    slug = "role-required"
    title = "The organisation lacks the role this needs"


PUBLIC = Viewer(Access.PUBLIC)


_H = "Part of a signed member request (see ledger.request_signing); omit all four to read as the public."


async def get_viewer(
    request: Request, services: ServicesDep, runtime: RuntimeDep,
    # Declared so that OpenAPI documents them; the values are re-read from the raw headers.
    _sig: Annotated[str | None, Header(alias=HEADER_SIGNATURE, description=_H)] = None,
    _ts: Annotated[str | None, Header(alias=HEADER_TIMESTAMP, description="unix seconds")] = None,
    _nonce: Annotated[str | None, Header(alias=HEADER_NONCE, description="16-64 URL-safe chars, once")] = None,
    _org: Annotated[str | None, Header(alias=HEADER_ORG, description="0x bytes32 organisation id")] = None,
) -> Viewer:
    signed = SignedRequest.from_headers(request.headers)
    if signed is None:
        return PUBLIC
    body = await request.body()
    # The path as sent (percent-encoding intact): the client signed those bytes.
    raw = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string") or b""
    path = raw.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")
    # Recovery and chain reads block: keep them off the event loop.
    return await run_in_threadpool(_check, signed, request.method, path, body, services, runtime)


def _check(signed: SignedRequest, method: str, path: str, body: bytes, services: Services,
           runtime: TraceabilityRuntime) -> Viewer:
    now = int(time.time())
    signer = recover_request_signer(signed, method, path, body, now=now,
                                    max_skew=runtime.settings.member_max_skew_s)
    org = bytes.fromhex(signed.org[2:])
    view = services.chain_view
    view.sync()
    verdict = view.key_verdict(org, signer, now)
    if verdict != "valid":
        raise InvalidRequestAuthError(
            f"key {signer} is not a currently valid key of organisation {signed.org} ({verdict})",
            reason="unknown-key", signer=signer, org=signed.org)
    # Only after the signature checks out: a forged request must not burn someone's nonce.
    if not runtime.nonces.first_use(f"{signed.org}:{signed.nonce}"):
        raise InvalidRequestAuthError("request nonce already used (replay)", reason="replay")
    roles = frozenset(r for r in (ENTERPRISE, CUSTOMS, REGULATOR)
                      if view.was_valid_signer(org, signer, r, now))
    access = Access.REGULATOR if REGULATOR in roles else Access.MEMBER
    return Viewer(access, org, signer, roles)


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


def require(viewer: Viewer, access: Access, *roles: str) -> Viewer:
    """Raise unless the viewer has at least `access` (and, if given, one of `roles`)."""
    if viewer.access < access:
        raise MemberAccessRequired(
            "sign this request with a member organisation's key (Zhenzhi-Auth-* headers)",
            needed=access.name.lower())
    if roles and not (viewer.roles & set(roles)):
        raise RoleRequired(f"organisation {viewer.org_hex} holds none of {', '.join(roles)}",
                           org=viewer.org_hex, roles=list(roles))
    return viewer


def _member(viewer: ViewerDep) -> Viewer:
    return require(viewer, Access.MEMBER)


def _regulator(viewer: ViewerDep) -> Viewer:
    return require(viewer, Access.REGULATOR)


MemberDep = Annotated[Viewer, Depends(_member)]
RegulatorDep = Annotated[Viewer, Depends(_regulator)]
