"""Signed member requests: how an organisation's key authenticates one HTTP request.

Members read full event data without accounts or sessions: each request carries a signature,
by one of the organisation's registered signing keys, over

    Zhenzhi-Request-v1 \\n METHOD \\n path?query \\n sha256(body) hex \\n timestamp \\n nonce \\n org

(path and query exactly as sent on the wire, percent-encoding included)
as an EIP-191 personal message (so a hardware wallet or MetaMask can sign it too). The
timestamp bounds how long a captured request stays usable; the nonce, remembered by the gateway
for that long, makes each request usable once; the org binds the signature to the organisation
whose rights it claims. The gateway then checks on chain that the key is the org's and valid now.

Headers: `HEADER_SIGNATURE` (0x, 65 bytes), `HEADER_TIMESTAMP` (unix s), `HEADER_NONCE`
(16–64 URL-safe characters), `HEADER_ORG` (0x bytes32 organisation id).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

from eth_account import Account
from eth_account.messages import encode_defunct

from ledger.errors import AuthorizationError, InvalidInputError

__all__ = [
    "HEADER_NONCE", "HEADER_ORG", "HEADER_SIGNATURE", "HEADER_TIMESTAMP", "InvalidRequestAuthError",
    "SignedRequest", "request_message", "recover_request_signer", "sign_request",
]

HEADER_SIGNATURE = "Zhenzhi-Auth-Signature"
HEADER_TIMESTAMP = "Zhenzhi-Auth-Timestamp"
HEADER_NONCE = "Zhenzhi-Auth-Nonce"
HEADER_ORG = "Zhenzhi-Auth-Org"
_NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_ORG_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")
_SIG_RE = re.compile(r"^0x[0-9a-fA-F]{130}$")
_HALF_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141 // 2


class InvalidRequestAuthError(AuthorizationError):
    """The request's member signature headers are missing, malformed, stale or replayed."""

    slug = "invalid-request-signature"
    title = "Invalid member request signature"
    status = 401


@dataclass(frozen=True, slots=True)
class SignedRequest:
    signature: str
    timestamp: int
    nonce: str
    org: str  # 0x bytes32, lower case

    def headers(self) -> dict[str, str]:
        return {HEADER_SIGNATURE: self.signature, HEADER_TIMESTAMP: str(self.timestamp),
                HEADER_NONCE: self.nonce, HEADER_ORG: self.org}

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> SignedRequest | None:
        """The signed-request headers, None if none were sent, an error if some are bad."""
        sig, ts, nonce, org = (headers.get(h) or "" for h in
                               (HEADER_SIGNATURE, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_ORG))
        if not (sig or ts or nonce or org):
            return None
        if not (sig and ts and nonce and org):
            raise InvalidRequestAuthError("a signed request needs all four Zhenzhi-Auth-* headers",
                                          reason="incomplete")
        if not _SIG_RE.match(sig) or not _ORG_RE.match(org) or not _NONCE_RE.match(nonce):
            raise InvalidRequestAuthError("malformed Zhenzhi-Auth-* header", reason="malformed")
        if not ts.isdigit() or len(ts) > 12:
            raise InvalidRequestAuthError("Zhenzhi-Auth-Timestamp must be unix seconds",
                                          reason="malformed")
        return cls(sig.lower(), int(ts), nonce, org.lower())


def request_message(method: str, path: str, body: bytes, timestamp: int, nonce: str, org: str) -> str:
    return "\n".join(("Zhenzhi-Request-v1", method.upper(), path,
                      hashlib.sha256(body).hexdigest(), str(timestamp), nonce, org.lower()))


def sign_request(private_key: str | bytes, method: str, path: str, body: bytes = b"", *,
                 org: str, timestamp: int | None = None, nonce: str | None = None) -> SignedRequest:
    """Client side: sign one request (path includes the query string, as sent)."""
    if not _ORG_RE.match(org):
        raise InvalidInputError("org must be a 0x bytes32 organisation id", field="org")
    timestamp = int(time.time()) if timestamp is None else timestamp
    nonce = nonce or secrets.token_urlsafe(18)
    message = request_message(method, path, body, timestamp, nonce, org)
    signed = Account.sign_message(encode_defunct(text=message), private_key)
    return SignedRequest("0x" + bytes(signed.signature).hex(), timestamp, nonce, org.lower())


def recover_request_signer(req: SignedRequest, method: str, path: str, body: bytes, *,
                           now: int, max_skew: int) -> str:
    """Server side: the checksummed address that signed, after the freshness check.

    Replay (a nonce seen before) is the caller's check: it needs shared state.
    """
    if abs(now - req.timestamp) > max_skew:
        raise InvalidRequestAuthError(
            f"request timestamp is {now - req.timestamp} s from the gateway's clock; "
            f"at most {max_skew} s allowed", reason="stale")
    raw = bytes.fromhex(req.signature[2:])
    if int.from_bytes(raw[32:64], "big") > _HALF_N:
        raise InvalidRequestAuthError("signature s is in the upper half of the curve order",
                                      reason="high-s")
    message = request_message(method, path, body, req.timestamp, req.nonce, req.org)
    try:
        return str(Account.recover_message(encode_defunct(text=message), signature=raw))
    except Exception as exc:  # noqa: BLE001 - every recovery failure means the same: not signed
        raise InvalidRequestAuthError("request signature does not recover",
                                      reason="unrecoverable") from exc
