"""Member request signatures: bound to method, path, body, time, nonce and org."""

from __future__ import annotations

import pytest
from eth_account import Account

from ledger.proofs.request_signing import (
    HEADER_NONCE,
    InvalidRequestAuthError,
    SignedRequest,
    recover_request_signer,
    sign_request,
)

KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
ADDR = Account.from_key(KEY).address
ORG = "0x" + "ab" * 32


def test_round_trip_through_headers() -> None:
    req = sign_request(KEY, "GET", "/events?limit=5", org=ORG, timestamp=1_700_000_000)
    parsed = SignedRequest.from_headers(req.headers())
    assert recover_request_signer(parsed, "GET", "/events?limit=5", b"", now=1_700_000_010,
                                  max_skew=60) == ADDR


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/events?limit=5", b""), ("GET", "/events?limit=6", b""), ("GET", "/events?limit=5", b"x"),
])
def test_any_change_to_the_request_changes_the_signer(method, path, body) -> None:
    req = sign_request(KEY, "GET", "/events?limit=5", org=ORG, timestamp=100)
    assert recover_request_signer(req, method, path, body, now=100, max_skew=60) != ADDR


def test_stale_requests_are_refused() -> None:
    req = sign_request(KEY, "GET", "/x", org=ORG, timestamp=100)
    with pytest.raises(InvalidRequestAuthError) as info:
        recover_request_signer(req, "GET", "/x", b"", now=1000, max_skew=300)
    assert info.value.status == 401 and info.value.fields["reason"] == "stale"


def test_missing_and_malformed_headers() -> None:
    assert SignedRequest.from_headers({}) is None
    good = sign_request(KEY, "GET", "/x", org=ORG).headers()
    with pytest.raises(InvalidRequestAuthError, match="all four"):
        SignedRequest.from_headers({k: v for k, v in good.items() if k != HEADER_NONCE})
    with pytest.raises(InvalidRequestAuthError, match="malformed"):
        SignedRequest.from_headers({**good, HEADER_NONCE: "short"})


def test_high_s_twin_is_refused() -> None:
    req = sign_request(KEY, "GET", "/x", org=ORG, timestamp=100)
    raw = bytearray(bytes.fromhex(req.signature[2:]))
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    s = int.from_bytes(raw[32:64], "big")
    raw[32:64] = (n - s).to_bytes(32, "big")
    raw[64] = 55 - raw[64]  # 27 <-> 28
    twin = SignedRequest("0x" + raw.hex(), 100, req.nonce, ORG)
    with pytest.raises(InvalidRequestAuthError, match="upper half"):
        recover_request_signer(twin, "GET", "/x", b"", now=100, max_skew=60)
