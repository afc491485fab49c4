"""The proxy's signer: capture headers that the gateway's own check accepts for exactly the
parsed events, and capture nonces that never repeat, even from concurrent requests."""

from __future__ import annotations

import threading

import pytest
from eth_account import Account

from bench.gateway import make_document
from ledger.epcis.document import parse_document
from ledger.epcis.event_hash import event_hashes
from ledger.proofs.capture import events_tree
from ledger.proofs.signing import (
    CaptureDomain,
    CaptureMismatchError,
    build_signed_capture,
    capture_commitments,
    seed_from_headers,
    signature_from_headers,
)
from signproxy.signer import Signer

DOMAIN = CaptureDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
ORG = bytes(range(32))


def _check(headers: dict[str, str], doc) -> str:  # type: ignore[no-untyped-def]
    ids = event_hashes(doc)
    seed = seed_from_headers(headers)
    commitments = capture_commitments(doc.events, ids, seed)
    sig = signature_from_headers(headers, events_root=events_tree(commitments).root,
                                 count=len(ids))
    assert sig.org == ORG
    return build_signed_capture(doc.events, doc.context, ids, sig, DOMAIN, seed=seed).signer


def test_capture_headers_recover_the_key_over_the_parsed_events() -> None:
    account = Account.create()
    doc = parse_document(make_document(3, 7))
    headers = Signer(account).capture_headers(doc, DOMAIN, ORG)
    assert _check(headers, doc) == account.address


def test_RevertIf_capture_headers_are_used_for_other_events() -> None:
    """Over other events the signature recovers some other address (the gateway then finds no
    key of the organisation), and over fewer events the count does not match."""
    account = Account.create()
    doc = parse_document(make_document(3, 7))
    headers = Signer(account).capture_headers(doc, DOMAIN, ORG)
    assert _check(headers, parse_document(make_document(3, 8))) != account.address
    with pytest.raises(CaptureMismatchError):
        fewer = parse_document(make_document(2, 7))
        ids = event_hashes(fewer)
        seed = seed_from_headers(headers)
        sig = signature_from_headers(headers, events_root=events_tree(
            capture_commitments(fewer.events, ids, seed)).root, count=3)
        build_signed_capture(fewer.events, fewer.context, ids, sig, DOMAIN, seed=seed)


def test_capture_nonces_never_repeat_across_threads() -> None:
    signer = Signer(Account.create())
    seen: list[int] = []
    lock = threading.Lock()

    def draw() -> None:
        mine = [signer.next_nonce() for _ in range(2000)]
        with lock:
            seen.extend(mine)

    threads = [threading.Thread(target=draw) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen)) == len(seen) == 8000
