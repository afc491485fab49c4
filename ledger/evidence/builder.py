"""Building a proof bundle (`ledger.proofs.bundle`) from the store: each event with its capture's
signature and Merkle path, and each capture's anchoring proof, read in a few queries.

Events are given full (members' evidence): the event, its id and @context, its commitment
and every disclosure text, recomputed from the stored event, the capture's disclosure seed
and the event's index (`disclosure.commit_event`), and checked against the commitment the
capture signed."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from ledger.epcis.gs1 import DigitalLink
from ledger.errors import LedgerError
from ledger.proofs.bundle import (
    AnchorEvidence,
    Bundle,
    CaptureEvidence,
    ChainRef,
    CustomsEvidence,
    EventEvidence,
    Registration,
    ScanRecord,
)
from ledger.proofs.capture import CaptureSignature, events_tree
from ledger.proofs.disclosure import Disclosed, commit_event
from ledger.runtime.memo import BoundedMemo
from ledger.store import tables as t
from ledger.store.store import UnknownEventError

__all__ = ["UncommittedEventError", "build_bundle", "proof_parts"]

log = logging.getLogger("zhenzhi.evidence")


def build_bundle(store: Any, code: str, *, chain: ChainRef, events: Sequence[Any] | None = None,
                 registration: Registration | None = None,
                 customs: Sequence[CustomsEvidence] = (), scans: Sequence[ScanRecord] = (),
                 source: str | None = None, now: int | None = None) -> Bundle:
    """The bundle for one item code from the store's events and anchoring proofs.

    `events` are the item's stored events (e.g. traced through aggregation and
    transformation); by default the events that name the code's EPC. `registration`,
    `customs` and `scans` come from the tables that hold them. Captures are shared between
    the events they signed, so each signature travels once.
    """
    link = DigitalLink.parse(code)
    uri = link.canonical_uri()
    # Events name the item at serial level (a printed lot is a label detail, not part of the EPC).
    epc = DigitalLink(link.gtin14, link.serial).canonical_uri() if link.serial else uri
    stored = list(events) if events is not None else store.events_for_epc(epc)
    captures, out_events = proof_parts(store, stored)
    return Bundle(code=uri, chain=chain, registration=registration, captures=captures,
                  events=out_events, customs=tuple(customs), scans=tuple(scans),
                  generated_at=int(time.time()) if now is None else now, source=source)


def proof_parts(store: Any, stored: Sequence[Any]
                ) -> tuple[tuple[CaptureEvidence, ...], tuple[EventEvidence, ...]]:
    """The stored events as full evidence, in the order given, with the captures that signed
    them (each once, in order of first use)."""
    # Anything with `event_id` and `event` will do (StoredEvent, a trace's HistoryEntry).
    rows = _proof_rows(store.engine, [bytes(ev.event_id) for ev in stored])
    captures: list[CaptureEvidence] = []
    index_of: dict[str, int] = {}
    trees: dict[str, Any] = {}
    contexts: dict[str, Any] = {}
    out_events: list[EventEvidence] = []
    for ev in stored:
        row = rows.get(bytes(ev.event_id))
        if row is None:

            raise UnknownEventError(f"no event 0x{bytes(ev.event_id).hex()}",
                                    event_id="0x" + bytes(ev.event_id).hex())
        cid = row.id
        if cid not in index_of:
            index_of[cid] = len(captures)
            anchored = row.state == "anchored"
            anchor = AnchorEvidence(bytes(row.root), tuple(_split(row.batch_proof)),
                                    None if row.tx_hash is None else bytes(row.tx_hash),
                                    row.block_number) if anchored else None
            captures.append(CaptureEvidence(
                CaptureSignature(bytes(row.events_root), row.event_count, bytes(row.org),
                                 int(row.nonce), row.signed_at, bytes(row.signature)),
                row.signer, anchor))
            # One tree per capture, however many of its events the item has (a capture
            # document may hold hundreds).

            if not row.commitments or row.disclosure_seed is None:
                raise UncommittedEventError(
                    f"event 0x{bytes(ev.event_id).hex()} was stored before captures kept "
                    "their disclosure commitments: no evidence of format 2 can name it",
                    event_id="0x" + bytes(ev.event_id).hex())
            trees[cid] = _events_tree(bytes(row.commitments))
            if row.context is not None:
                contexts[cid] = json.loads(row.context)
        commitment = bytes(row.commitments[32 * row.event_index:32 * row.event_index + 32])
        texts = _texts(cid, row.event_index, bytes(ev.event_id), commitment,
                       bytes(row.disclosure_seed), ev.event)
        out_events.append(EventEvidence(
            commitment, index_of[cid], tuple(trees[cid].proof(row.event_index)),
            tuple(Disclosed(x) for x in texts), ev.event, bytes(ev.event_id),
            contexts.get(cid)))
    return tuple(captures), tuple(out_events)


# A capture's events tree by its commitments (what it is built from): every item of a lot
# needs the trees of the same captures, hundreds of events each.
_TREES: BoundedMemo[bytes, Any] = BoundedMemo(1024)


def _events_tree(commitments: bytes) -> Any:
    tree = _TREES.get(commitments)
    return tree if tree is not None else _TREES.put(commitments,
                                                    events_tree(_split(commitments)))


class UncommittedEventError(LedgerError):
    """A stored event has no disclosure commitment (stored before revision 0006)."""

    slug = "uncommitted-event"
    title = "Event without its disclosure commitment"
    status = 500


# (capture id, event index) → the event's disclosure texts, checked against its commitment:
# an item page is built again on every scan, and committing an event costs a keccak per field.
_TEXTS: BoundedMemo[tuple[str, int], tuple[str, ...]] = BoundedMemo(65_536)


def _texts(cid: str, index: int, event_id: bytes, commitment: bytes, seed: bytes,
           event: Any) -> tuple[str, ...]:
    found = _TEXTS.get((cid, index))
    if found is not None:
        return found
    committed = commit_event(event, event_id, seed, index)
    if committed.commitment != commitment:
        # The stored event is not the event as captured (or the seed is not the signed one):
        # the store was altered. The evidence says what the store holds, and every verifier
        # fails the event (it does not lead to the signed commitment); nothing is cached.
        log.warning("event 0x%s of capture %s does not lead to the commitment its capture "
                    "signed: the stored event was altered", event_id.hex(), cid)
        return committed.texts
    return _TEXTS.put((cid, index), committed.texts)


def _split(blob: bytes | None) -> list[bytes]:
    return [] if not blob else [bytes(blob[i:i + 32]) for i in range(0, len(blob), 32)]


def _proof_rows(engine: Any, event_ids: list[bytes]) -> dict[bytes, Any]:
    """Each event's capture (signature, signed ids, @context) and batch (root, proof, tx), in
    one query per 500 events: a journey's bundle needs them all, and a query per event made
    assembling a bundle cost a round trip per event."""
    e, c, b = t.events, t.captures, t.batches
    out: dict[bytes, Any] = {}
    ids = sorted(set(event_ids))
    with engine.connect() as conn, conn.begin():  # one snapshot for every chunk
        for start in range(0, len(ids), 500):
            stmt = (select(e.c.event_id, e.c.event_index, c.c.id, c.c.signer, c.c.org,
                           c.c.nonce, c.c.signed_at, c.c.events_root, c.c.event_count,
                           c.c.signature, c.c.commitments, c.c.disclosure_seed, c.c.context,
                           c.c.batch_proof,
                           b.c.root, b.c.state, b.c.tx_hash, b.c.block_number)
                    .select_from(e.join(c, c.c.id == e.c.capture_id)
                                 .outerjoin(b, b.c.id == c.c.batch_id))
                    .where(e.c.event_id.in_(ids[start:start + 500])))
            out.update({bytes(r.event_id): r for r in conn.execute(stmt)})
    return out
