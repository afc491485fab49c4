"""Who is asking: the public, a member organisation, or a regulator.

There are no accounts. A request without `Zhenzhi-Auth-*` headers is public. A request with
them must be signed (see `ledger.proofs.request_signing`) by a key that the named organisation holds
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
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool

from gateway.deps import ServicesDep
from gateway.services import Services
from gateway.traceability import RuntimeDep, TraceabilityRuntime
from ledger.chain.roles import CUSTOMS, ENTERPRISE, REGULATOR
from ledger.errors import AuthorizationError
from ledger.proofs.request_signing import (
    HEADER_NONCE,
    HEADER_ORG,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    InvalidRequestAuthError,
    SignedRequest,
    recover_request_signer,
)

__all__ = ["MEMBER_PROBLEM_TYPE", "Access", "MemberDep", "RegulatorDep", "Viewer", "ViewerDep",
           "check_signed_request", "require"]


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


_H = "Part of a signed member request (see ledger.proofs.request_signing); omit all four to read as the public."


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


def check_signed_request(signed: SignedRequest, method: str, path: str, body: bytes,
                         services: Services, runtime: TraceabilityRuntime) -> Viewer:
    """The viewer of a signed request made outside a FastAPI `Request` (a WebSocket
    handshake): the same checks as `get_viewer`. Blocks (chain reads)."""
    return _check(signed, method, path, body, services, runtime)


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


# The OpenAPI security scheme of member-only operations. OpenAPI cannot describe a signature
# over four headers, so the scheme names the signature header and its description the rest;
# the value is checked by `get_viewer`, never by this object (auto_error=False).
_SIGNED_REQUEST = APIKeyHeader(
    name=HEADER_SIGNATURE, scheme_name="MemberSignature", auto_error=False,
    description=(
        "A member organisation's signed request (ledger.proofs.request_signing): "
        f"`{HEADER_SIGNATURE}` (65-byte secp256k1 signature, 0x-hex) over the method, the path "
        f"with its query as sent and the body's hash, with `{HEADER_TIMESTAMP}` (unix seconds, "
        f"within the allowed skew), `{HEADER_NONCE}` (16-64 URL-safe characters, used once: "
        f"a replay is refused) and `{HEADER_ORG}` (0x bytes32 organisation id). The key must "
        "be one the organisation holds on Consortium now. Missing: 401 "
        "`urn:zhenzhi:problem:member-access-required`; invalid, stale or replayed: 401 "
        "`urn:zhenzhi:problem:invalid-request-signature`."))
MEMBER_PROBLEM_TYPE = "urn:zhenzhi:problem:" + MemberAccessRequired.slug


async def _member(viewer: ViewerDep,
                  _scheme: Annotated[str | None, Depends(_SIGNED_REQUEST)] = None) -> Viewer:
    return require(viewer, Access.MEMBER)


async def _regulator(viewer: ViewerDep,
                     _scheme: Annotated[str | None, Depends(_SIGNED_REQUEST)] = None) -> Viewer:
    return require(viewer, Access.REGULATOR)


MemberDep = Annotated[Viewer, Depends(_member)]
RegulatorDep = Annotated[Viewer, Depends(_regulator)]
