"""The capture: one signed EPCIS document, the unit that enterprises sign and the gateway anchors.

Leaves are double-hashed (keccak256(keccak256(x))) so that no leaf can be read as an inner node
of the sorted-pair trees (see `ledger.proofs.merkle`):
- a document's `eventsRoot` is the Merkle root of `event_leaf(commitment)` over its events'
  disclosure commitments (`ledger.proofs.disclosure`: the root of the event's salted fields, its
  CBV event id among them), in document order;
- a batch root on TraceAnchor is the Merkle root of `capture_leaf(digest, signer)` over the
  captures in the batch, where `digest` is the capture's EIP-712 digest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ledger.proofs.merkle import MerkleTree, keccak256

__all__ = ["CaptureSignature", "SignedCapture", "capture_leaf", "event_leaf", "events_tree"]


def event_leaf(commitment: bytes) -> bytes:
    """Leaf of one event: its 32-byte disclosure commitment. Never the bare CBV event id: that
    is a plain hash of the event, against which anyone could confirm a guess of a hidden field
    (a purchase-order number, a trading partner)."""
    return keccak256(keccak256(commitment))


def capture_leaf(digest: bytes, signer: str) -> bytes:
    """Leaf of one capture in a batch: its EIP-712 digest bound to the recovered signer."""
    return keccak256(keccak256(digest + bytes(12) + bytes.fromhex(signer[2:])))


def events_tree(commitments: Sequence[bytes]) -> MerkleTree:
    return MerkleTree.build([event_leaf(c) for c in commitments])


@dataclass(frozen=True, slots=True)
class CaptureSignature:
    """What the enterprise signed (EIP-712 `Capture`) and the signature over it."""

    events_root: bytes  # 32 bytes
    count: int  # uint32
    org: bytes  # 32 bytes, the organisation id registered on Consortium
    nonce: int  # uint64, unique per org: stops replay
    signed_at: int  # uint64, unix seconds: judged against the key's validity window
    signature: bytes  # 65 bytes r ‖ s ‖ v, low-s


@dataclass(frozen=True, slots=True)
class SignedCapture:
    """A capture after validation, hashing and signature recovery: what the store accepts."""

    signature: CaptureSignature
    signer: str  # checksummed address recovered from the signature
    digest: bytes  # the EIP-712 digest that was signed
    event_ids: tuple[bytes, ...]  # in document order
    events: tuple[dict[str, Any], ...]  # the EPCIS events as captured (JSON-LD objects)
    context: Any = None  # the document's @context, kept to re-serialise events faithfully
    # The capture's disclosure seed (`ledger.proofs.disclosure`): secret, kept by the gateway.
    seed: bytes = bytes(32)
    commitments: tuple[bytes, ...] = ()  # each event's disclosure commitment, document order

    @property
    def leaf(self) -> bytes:
        return capture_leaf(self.digest, self.signer)
