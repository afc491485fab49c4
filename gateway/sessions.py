"""Console sessions: Sign-In with Ethereum (EIP-4361) with a key the Consortium lists.

No accounts and no passwords. The gateway issues a nonce (random, single use, short-lived,
kept in the store like the request nonces); the browser signs a SIWE message with a member's
key (a wallet's `personal_sign`, or the CLI's keystore file unlocked in the page); the gateway
checks that the message is for this origin, this chain and that nonce, not expired, and that
its signer is a key the named organisation holds on Consortium now. Then it opens a session: a
random 256-bit id in an HttpOnly, SameSite=Strict cookie (Secure, with the `__Host-` prefix,
when the gateway is reached over https), its SHA-256 in the store.

Every request with the cookie re-checks the key against the chain view (cached per block), so a
key revoked on chain, or an organisation removed, ends the session at the next block. The
organisation's roles are read from the chain the same way, never kept in the session.

State-changing console requests (log-in, log-out) must carry an `Origin` equal to the
gateway's own: with SameSite=Strict that leaves cross-site forms and scripts nothing to ride.
"""

from __future__ import annotations

import hashlib
import secrets
import string
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request, Response

from gateway.services import Services
from gateway.settings import GatewaySettings
from ledger.chain.roles import ROLES
from ledger.errors import AuthorizationError, InvalidInputError

__all__ = [
    "ConsoleSession", "CrossOriginRefused", "LoginRefused", "Origin", "clear_cookie",
    "cookie_name", "current_session", "issue_nonce", "log_in", "log_out", "own_origin",
    "require_same_origin", "session_cookie", "set_cookie",
]

STATEMENT = "Log in to the Zhenzhi console."  # EIP-4361 statements are ASCII only
_NONCE_ALPHABET = string.ascii_letters + string.digits


class LoginRefused(AuthorizationError):
    slug = "login-refused"
    title = "The log-in was refused"
    status = 401


class CrossOriginRefused(AuthorizationError):
    slug = "cross-origin-request"
    title = "The request did not come from the console's own page"


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str  # host[:port], as SIWE's `domain` names it

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def secure(self) -> bool:
        return self.scheme == "https"


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    org: bytes
    signer: str
    roles: frozenset[str]
    name: str | None
    expires_ms: int

    @property
    def org_hex(self) -> str:
        return "0x" + self.org.hex()


def own_origin(request: Request, settings: GatewaySettings) -> Origin:
    """The gateway's origin: `public_url` when set (behind a TLS proxy), else the request's.
    The `Host` header is the client's word, but a message signed for a host the browser did not
    reach is no use to anyone else: the signer's wallet shows it the domain it signs for."""
    base = settings.public_url or str(request.base_url)
    parts = urlsplit(base)
    return Origin(parts.scheme, parts.netloc)


def cookie_name(origin: Origin) -> str:
    # `__Host-` makes the browser refuse the cookie unless Secure, path / and host-only.
    return "__Host-zhenzhi-console" if origin.secure else "zhenzhi-console"


def require_same_origin(request: Request, origin: Origin) -> None:
    """Refuse a state-changing request whose `Origin` is absent or another site's."""
    sent = request.headers.get("origin")
    if sent != origin.url:
        raise CrossOriginRefused(
            f"Origin {sent or '(none)'} is not this console's ({origin.url})",
            origin=sent, expected=origin.url)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def issue_nonce(services: Services, origin: Origin, settings: GatewaySettings) -> dict[str, Any]:
    """A fresh log-in nonce and what the message must say around it."""
    nonce = "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(20))  # 119 bits
    ttl = settings.console_login_ttl_s
    services.store.issue_login_nonce(nonce, ttl)
    now = time.time()
    return {"nonce": nonce, "domain": origin.host, "uri": origin.url + "/console",
            "chainId": services.chain_view.deployment.chainId, "statement": STATEMENT,
            "version": "1", "issuedAt": _iso(now), "expirationTime": _iso(now + ttl)}


def _hash(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode()).digest()


def _chain_now(services: Services) -> int:
    return max(int(time.time()), services.chain_view.head_time())


def _key_valid(services: Services, org: bytes, signer: str, now: int) -> bool:
    """A key of `org` now. A revocation is never in the future: a revocation block whose
    timestamp is ahead of this machine's clock still counts."""
    view = services.chain_view
    return view.key_verdict(org, signer, now) == "valid" and view.revoked_at(signer) == 0


def _roles(services: Services, org: bytes, signer: str, now: int) -> frozenset[str]:
    view = services.chain_view
    return frozenset(r for r in ROLES if view.was_valid_signer(org, signer, r, now))


def log_in(services: Services, origin: Origin, settings: GatewaySettings, *, message: str,
           signature: str) -> tuple[str, ConsoleSession]:
    """Check a signed SIWE message; open a session. Returns (session id, session)."""
    from siwe import SiweMessage
    from siwe.siwe import VerificationError

    def refuse(reason: str, detail: str) -> LoginRefused:
        return LoginRefused(detail, reason=reason)

    if len(message) > 4096 or len(signature) > 200:
        raise InvalidInputError("SIWE message or signature too long", field="message")
    try:
        msg = SiweMessage.from_message(message=message)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(f"not an EIP-4361 message: {exc}", field="message") from exc
    if msg.domain != origin.host:
        raise refuse("domain", f"message is for {msg.domain}, this console is {origin.host}")
    if not str(msg.uri).startswith(origin.url + "/"):
        raise refuse("uri", f"message URI {msg.uri} is not under {origin.url}/")
    chain_id = services.chain_view.deployment.chainId
    if int(msg.chain_id) != chain_id:
        raise refuse("chain-id", f"message is for chain {msg.chain_id}, this is chain {chain_id}")
    now = time.time()
    try:
        # Expiry, not-before and the signature (EIP-191 personal_sign, recovered to the address).
        msg.verify(signature, domain=origin.host, nonce=msg.nonce,
                   timestamp=datetime.fromtimestamp(now, UTC))
    except VerificationError as exc:
        name = type(exc).__name__
        reason = {"ExpiredMessage": "expired", "NotYetValidMessage": "not-yet-valid"}.get(
            name, "signature")
        raise refuse(reason, f"SIWE verification failed: {name}") from exc
    except ValueError as exc:
        raise refuse("signature", f"bad signature: {exc}") from exc
    issued = datetime.fromisoformat(str(msg.issued_at).replace("Z", "+00:00")).timestamp()
    if issued > now + 60 or issued < now - settings.console_login_ttl_s - 60:
        raise refuse("issued-at", "message issued outside the nonce's lifetime")
    signer = msg.address
    view = services.chain_view
    # Forced: a key admitted in the last block can log in at once (one call per log-in).
    view.sync(force=True)
    at = _chain_now(services)
    org = view.key_org(signer)
    if org is None or not _key_valid(services, org, signer, at):
        raise refuse("unknown-key",
                     f"{signer} is not a key the Consortium lists for any organisation now")
    roles = _roles(services, org, signer, at)
    if not roles:
        raise refuse("not-a-member", f"the organisation of {signer} holds no role now")
    # Last: a refused message must not burn the nonce a real log-in is waiting to use.
    if not services.store.consume_login_nonce(msg.nonce):
        raise refuse("nonce", "nonce unknown, expired or already used (replay)")
    session_id = secrets.token_urlsafe(32)
    # The message's own expirationTime bounds when it may be used to log in (checked above),
    # not the session: that lasts the configured time, or until the key is revoked.
    expires = int(now * 1000) + settings.console_session_ttl_s * 1000
    services.store.open_session(_hash(session_id), org, signer, expires)
    return session_id, ConsoleSession(org, signer, roles, view.org_name(org), expires)


def set_cookie(response: Response, origin: Origin, session_id: str, session: ConsoleSession
               ) -> None:
    response.set_cookie(
        cookie_name(origin), session_id, max_age=max(0, (session.expires_ms - int(time.time()
        * 1000)) // 1000), path="/", httponly=True, samesite="strict", secure=origin.secure)


def clear_cookie(response: Response, origin: Origin) -> None:
    response.delete_cookie(cookie_name(origin), path="/", httponly=True, samesite="strict",
                           secure=origin.secure)


def session_cookie(request: Request, origin: Origin) -> str | None:
    value = request.cookies.get(cookie_name(origin))
    return value if value and len(value) <= 100 else None


def current_session(request: Request, services: Services, origin: Origin
                    ) -> ConsoleSession | None:
    """The live session the request's cookie names, or None: none, unknown, expired, or its
    key no longer valid on chain at the current block (then the session is closed)."""
    session_id = session_cookie(request, origin)
    if session_id is None:
        return None
    id_hash = _hash(session_id)
    row = services.store.session(id_hash)
    if row is None:
        return None
    org, signer, _, expires_ms = row
    services.chain_view.sync()
    now = _chain_now(services)
    roles = _roles(services, org, signer, now) if _key_valid(services, org, signer, now) \
        else frozenset()
    if not roles:
        services.store.close_session(id_hash)
        return None
    return ConsoleSession(org, signer, roles, services.chain_view.org_name(org), expires_ms)


def log_out(request: Request, services: Services, origin: Origin) -> bool:
    session_id = session_cookie(request, origin)
    return session_id is not None and services.store.close_session(_hash(session_id))
