"""The enterprise's key, held by the proxy alone: capture signatures over parsed events, and
member request signatures over reads.

Nonces: a capture nonce is never reused by the organisation (the gateway answers 409), so they
are microseconds since 1970, as `zhenzhi sign`/`capture` draw them, made strictly increasing
within the process so two captures in the same microsecond still differ. Two proxies (or a
proxy and the CLI) for one organisation share only the clock: run one proxy per organisation.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from eth_account.signers.local import LocalAccount

from ledger.epcis.event_hash import event_hashes
from ledger.proofs.request_signing import sign_request
from ledger.proofs.signing import (
    CaptureDomain,
    prepare_capture,
    sign_capture,
    signature_to_headers,
)

__all__ = ["Signer"]


class Signer:
    """Signs for one organisation with one unlocked key."""

    def __init__(self, account: LocalAccount, *, org: bytes | None = None) -> None:
        self._account = account
        self.org = org  # None: the organisation the gateway's chain lists for the key
        self._lock = threading.Lock()
        self._last_nonce = 0

    @property
    def address(self) -> str:
        return str(self._account.address)

    def next_nonce(self) -> int:
        with self._lock:
            self._last_nonce = max(self._last_nonce + 1, time.time_ns() // 1000)
            return self._last_nonce

    def capture_headers(self, document: Any, domain: CaptureDomain, org: bytes) -> dict[str, str]:
        """The five `Zhenzhi-Capture-*` headers for a parsed EPCISDocument: a fresh disclosure
        seed, the events' commitments under it, and the EIP-712 signature over their root. The
        ids are the document-level hashes (its ignoreFields honoured), as the gateway's."""
        ids = event_hashes(document)
        seed, _commitments, root = prepare_capture(document.events, ids)
        sig = sign_capture(bytes(self._account.key), domain, root, len(ids), org,
                           self.next_nonce(), int(time.time()))
        return signature_to_headers(sig, seed)

    def request_headers(self, method: str, path: str, body: bytes, org: bytes) -> dict[str, str]:
        """The four `Zhenzhi-Auth-*` headers of a member read (`path` with its query, exactly
        as it goes on the wire)."""
        return sign_request(bytes(self._account.key), method, path, body,
                            org="0x" + org.hex()).headers()
