"""Test signers' disclosure seeds: `prepare` commits a document's events under a fresh seed
(as a real signer does) and remembers it by the signature it goes with, so that helpers
returning a bare `CaptureSignature` can still send the seed with it (`seed_of`)."""

from __future__ import annotations

import threading
from typing import Any

from ledger.proofs.capture import CaptureSignature, events_tree
from ledger.proofs.disclosure import new_seed
from ledger.proofs.signing import prepare_capture

_SEEDS: dict[bytes, bytes] = {}
_LOCK = threading.Lock()


def document_events(document: Any) -> list[Any]:
    """The events as the gateway reads them from the body (raw, in order)."""
    if not isinstance(document, dict):
        return []
    if document.get("type") not in (None, "EPCISDocument"):
        return [document]
    body = document.get("epcisBody")
    if not isinstance(body, dict):
        return []
    events = body.get("eventList")
    if events is None:
        events = [body["event"]] if "event" in body else []
    return list(events) if isinstance(events, list) else []


def prepare(document: Any, ids: list[bytes]) -> tuple[bytes, bytes]:
    """(seed, eventsRoot) for a document; a document whose events cannot be committed (made
    malformed on purpose) gets a root over its bare ids, which no gateway accepts."""
    events = document_events(document)
    try:
        seed, _, root = prepare_capture(events, ids)
    except Exception:  # noqa: BLE001 - a deliberately broken document: any root will do
        seed, root = new_seed(), events_tree(ids).root
    return seed, root


def remember(sig: CaptureSignature, seed: bytes) -> CaptureSignature:
    with _LOCK:
        _SEEDS[bytes(sig.signature)] = seed
    return sig


def seed_of(sig: CaptureSignature) -> bytes:
    with _LOCK:
        return _SEEDS.get(bytes(sig.signature), bytes(32))
