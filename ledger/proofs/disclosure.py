"""Selective disclosure: each event committed as salted leaves, one per field and one per EPC.

A signer commits every event of a capture before signing it. The event is cut into *items*:

- ``eventID``: the event's CBV 2.0 hash as an ``ni:`` URI (the CBV id is committed, never shown
  to the public);
- one item per element of a list field (``LIST_FIELDS``: ``epcList``, ``childEPCs``,
  ``bizTransactionList``, ``quantityList``, ``destinationList``, ...), in list order;
- one item per key of ``ilmd``, as a one-key object;
- one item for every other top-level field, whole (``type``, ``eventTime``, ``bizStep``,
  ``readPoint``, ...); ``recordTime`` is the repository's, not the signer's, and is left out.

Fields are taken in code-point order of their names, ``eventID`` first. Each item is written as a
*disclosure*: the UTF-8 text of the JSON array ``[salt, name, value]`` (compact, object keys
sorted), where ``salt`` is 32 lowercase hex digits (128 bits). Its leaf is ``keccak256(text)``
(hashed once: a verifier only takes a leaf from a text it has parsed as such an array, and no
64-byte pair of inner nodes is one, so no inner node can pass for a leaf) and the event's **commitment** is the sorted-pair Merkle root
(`ledger.proofs.merkle`) of its leaves in item order. A capture's signed ``eventsRoot`` is the
Merkle root of ``event_leaf(commitment)`` over its events in document order
(`ledger.proofs.capture`), so the EIP-712 signature covers every field and the CBV event id.

Salts: a signer draws one 32-byte *seed* per capture from its CSPRNG (`new_seed`). The salts of
event ``i`` are the output of ``SHAKE256("zhenzhi-salts" ‖ seed ‖ uint32_be(i))`` cut into
16-byte pieces, item ``j`` taking piece ``j``: a keyed PRF (the sponge keyed by its secret prefix),
so a salt says nothing of any other salt, and without the seed a hidden item cannot be confirmed
by guessing its value. The gateway receives the seed with the capture and keeps it, members get full events
with all their disclosures, and the public gets only chosen disclosures, each with its Merkle
path to the commitment.

A verifier never re-serialises: it hashes the disclosure texts it is given and parses them to
read the values, so a verifier in any language needs only keccak256 and a JSON parser. A full
event is checked by parsing *all* its disclosures back into an event and comparing values with
the event it is shown (`check_full`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ledger.errors import InvalidInputError
from ledger.proofs.merkle import MerkleTree, keccak256, process_proof

__all__ = [
    "EVENT_ID", "LIST_FIELDS", "SALT_HEX_LEN", "CommittedEvent", "Disclosed", "DisclosureError",
    "check_full", "commit_document", "commit_event", "disclosure_leaf", "items", "new_seed",
    "read_disclosed", "salts",
]

EVENT_ID = "eventID"
UNCOMMITTED = frozenset(("recordTime",))
# EPCIS 2.0 list fields whose elements are disclosed one by one.
LIST_FIELDS = frozenset((
    "epcList", "childEPCs", "inputEPCList", "outputEPCList",
    "quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList",
    "bizTransactionList", "sourceList", "destinationList", "sensorElementList",
))
SPLIT_OBJECTS = frozenset(("ilmd",))
SALT_HEX_LEN = 32
_SALT_RE = re.compile(r"^[0-9a-f]{32}$")
_NI_RE = re.compile(r"^ni:///sha-256;[0-9a-f]{64}\?ver=CBV2\.0$")
MAX_ITEMS = 1 << 20


class DisclosureError(InvalidInputError):
    """A disclosure is malformed, does not lead to its commitment, or contradicts the event."""

    slug = "invalid-disclosure"
    title = "Invalid disclosure"


# --- salts ---------------------------------------------------------------------------------------

def new_seed() -> bytes:
    """A capture's disclosure seed: 32 bytes from the operating system's CSPRNG."""
    return secrets.token_bytes(32)


def salts(seed: bytes, index: int, count: int) -> list[str]:
    """The salts of event `index` of a capture, one per item, as 32 hex digits."""
    if len(seed) != 32:
        raise DisclosureError("a disclosure seed is 32 bytes", field="seed")
    stream = hashlib.shake_256(b"zhenzhi-salts" + seed + index.to_bytes(4, "big")
                               ).hexdigest(16 * count)
    return [stream[j:j + 32] for j in range(0, 32 * count, 32)]


# --- committing ----------------------------------------------------------------------------------

def _ni(event_id: bytes) -> str:
    return f"ni:///sha-256;{event_id.hex()}?ver=CBV2.0"


def items(event: Mapping[str, Any], event_id: bytes) -> list[tuple[str, Any]]:
    """The event's (name, value) items in commitment order."""
    out: list[tuple[str, Any]] = [(EVENT_ID, _ni(event_id))]
    for name in sorted(event):
        if name == EVENT_ID or name in UNCOMMITTED:
            continue
        value = event[name]
        if name in LIST_FIELDS and isinstance(value, list):
            out.extend((name, element) for element in value)
        elif name in SPLIT_OBJECTS and isinstance(value, Mapping) and value:
            out.extend((name, {k: value[k]}) for k in sorted(value))
        else:
            out.append((name, value))
    return out


def _text(salt_hex: str, name: str, value: Any) -> str:
    try:
        return orjson.dumps([salt_hex, name, value], option=orjson.OPT_SORT_KEYS).decode()
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise DisclosureError(f"field {name!r} cannot be committed: {exc}", field=name) from None


def disclosure_leaf(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return keccak256(raw)


@dataclass(frozen=True, slots=True)
class CommittedEvent:
    """One event's disclosures (texts in item order), their tree, and the commitment (root)."""

    texts: tuple[str, ...]
    tree: MerkleTree

    @property
    def commitment(self) -> bytes:
        return self.tree.root

    def names(self) -> list[str]:
        return [orjson.loads(t)[1] for t in self.texts]

    def disclose(self, keep: Callable[[str, Any], bool]) -> list[Disclosed]:
        """The disclosures whose (name, value) `keep` accepts, each with its path."""
        out = []
        for index, text in enumerate(self.texts):
            _, name, value = orjson.loads(text)
            if keep(name, value):
                out.append(Disclosed(text, tuple(self.tree.proof(index))))
        return out


def commit_event(event: Mapping[str, Any], event_id: bytes, seed: bytes,
                 index: int) -> CommittedEvent:
    """Event `index` of a capture committed with salts from the capture's seed."""
    parts = items(event, event_id)
    texts = tuple(_text(s, name, value)
                  for s, (name, value) in zip(salts(seed, index, len(parts)), parts, strict=True))
    return CommittedEvent(texts, MerkleTree.build([keccak256(t.encode()) for t in texts]))


def commit_document(events: Sequence[Mapping[str, Any]], event_ids: Sequence[bytes],
                    seed: bytes) -> list[CommittedEvent]:
    """Every event of a capture committed with salts from the capture's seed."""
    if len(events) != len(event_ids):
        raise DisclosureError(f"{len(event_ids)} event ids for {len(events)} events")
    return [commit_event(e, i, seed, n)
            for n, (e, i) in enumerate(zip(events, event_ids, strict=True))]


# --- reading -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Disclosed:
    """A disclosure text and its Merkle path to the event's commitment."""

    text: str
    proof: tuple[bytes, ...] = ()


def _parse(text: Any, where: str) -> tuple[str, str, Any]:
    if not isinstance(text, str):
        raise DisclosureError(f"{where} is not a string", field=where)
    try:
        item = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise DisclosureError(f"{where} is not JSON", field=where) from None
    if (not isinstance(item, list) or len(item) != 3 or not isinstance(item[0], str)
            or not isinstance(item[1], str)):
        raise DisclosureError(f"{where} is not a [salt, name, value] array", field=where)
    if not _SALT_RE.match(item[0]):
        raise DisclosureError(f"{where} has no 128-bit hex salt", field=where)
    return item[0], item[1], item[2]


def _fold(parsed: Iterable[tuple[str, Any]], where: str) -> dict[str, Any]:
    """Rebuild the (partial) event the items describe; a field given twice is refused."""
    event: dict[str, Any] = {}
    for name, value in parsed:
        if name in LIST_FIELDS:
            event.setdefault(name, []).append(value)
        elif name in SPLIT_OBJECTS and isinstance(value, dict) and len(value) == 1:
            target = event.setdefault(name, {})
            (k, v), = value.items()
            if not isinstance(target, dict) or k in target:
                raise DisclosureError(f"{where}: {name}.{k} is disclosed twice", field=name)
            target[k] = v
        else:
            if name in event:
                raise DisclosureError(f"{where}: field {name} is disclosed twice", field=name)
            event[name] = value
    return event


def read_disclosed(disclosed: Sequence[Disclosed], *, where: str = "event"
                   ) -> tuple[bytes, dict[str, Any]]:
    """(commitment, partial event) from chosen disclosures: every path must lead to one root."""
    if not disclosed:
        raise DisclosureError(f"{where} discloses nothing", field=where)
    root: bytes | None = None
    parsed = []
    for n, d in enumerate(disclosed):
        _, name, value = _parse(d.text, f"{where} disclosure {n}")
        node = process_proof(disclosure_leaf(d.text), d.proof)
        if root is None:
            root = node
        elif node != root:
            raise DisclosureError(f"{where} disclosure {n} ({name}) does not lead to the same "
                                  "commitment as the others: altered", field=name)
        parsed.append((name, value))
    assert root is not None
    return root, _fold(parsed, where)


def check_full(event: Mapping[str, Any], event_id: bytes, texts: Sequence[str], *,
               where: str = "event") -> bytes:
    """The commitment of a full event shown with all its disclosures.

    The disclosures, parsed, must be exactly the event (less `recordTime`; `eventID`, if the
    event names one, and the committed id must both be `event_id`, the id the caller recomputed
    from the event)."""
    if not texts:
        raise DisclosureError(f"{where} has no disclosures", field=where)
    if len(texts) > MAX_ITEMS:
        raise DisclosureError(f"{where} has too many disclosures", field=where)
    parsed = [_parse(t, f"{where} disclosure {n}")[1:] for n, t in enumerate(texts)]
    rebuilt = _fold(parsed, where)
    committed_id = rebuilt.pop(EVENT_ID, None)
    if committed_id != _ni(event_id):
        raise DisclosureError(f"{where}: the committed event id is not the event's hash",
                              field=EVENT_ID)
    shown = {k: v for k, v in event.items() if k != EVENT_ID and k not in UNCOMMITTED}
    # Empty lists and empty ilmd commit nothing per element: compare them as absent.
    for name in list(shown):
        if (name in LIST_FIELDS and shown[name] == []) or (name in SPLIT_OBJECTS
                                                         and shown[name] == {}):
            if name not in rebuilt:
                shown.pop(name)
    if orjson.dumps(rebuilt, option=orjson.OPT_SORT_KEYS) != orjson.dumps(
            shown, option=orjson.OPT_SORT_KEYS):
        raise DisclosureError(f"{where}: its disclosures do not say what the event says",
                              field=where)
    return MerkleTree.build([disclosure_leaf(t) for t in texts]).root
