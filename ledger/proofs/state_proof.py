"""Ethereum block headers and Merkle-Patricia state proofs (`eth_getProof`), checked offline.

A sealed evidence bundle (`ledger.evidence.sealed`) carries one block header as RLP and, for each
contract the verifier reads, the account's proof into the header's stateRoot and each storage
slot's proof into the account's storageRoot. Everything here is pure: bytes in, proven values
out, or a `StateProofError` naming the node that failed.

- A header's hash is keccak256 of its RLP: the only thing a checker must trust is that hash
  (`BlockHeader.decode` refuses RLP that is not a list of byte strings).
- `prove_account` / `prove_storage` walk a proof with `trie.HexaryTrie.get_from_proof`, after
  `broken_link` has located the first node that is not referenced by the one before it (so a
  refusal says *which* node), and return the value the root commits to (an absent account or
  slot is proven absent, i.e. zero).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import rlp
from eth_hash.auto import keccak
from trie import HexaryTrie
from trie.exceptions import BadTrieProof

from ledger.errors import InvalidInputError

__all__ = ["EMPTY_CODE_HASH", "EMPTY_TRIE_ROOT", "ProvenAccount", "BlockHeader", "StateProofError",
           "broken_link", "prove_account", "prove_storage"]

EMPTY_TRIE_ROOT = keccak(rlp.encode(b""))
EMPTY_CODE_HASH = keccak(b"")

# Header fields in RLP order; those after `nonce` exist from the fork that added them on.
_HEADER_FIELDS = ("parentHash", "sha3Uncles", "miner", "stateRoot", "transactionsRoot",
                  "receiptsRoot", "logsBloom", "difficulty", "number", "gasLimit", "gasUsed",
                  "timestamp", "extraData", "mixHash", "nonce", "baseFeePerGas",
                  "withdrawalsRoot", "blobGasUsed", "excessBlobGas", "parentBeaconBlockRoot",
                  "requestsHash")
_INT_FIELDS = frozenset({"difficulty", "number", "gasLimit", "gasUsed", "timestamp",
                         "baseFeePerGas", "blobGasUsed", "excessBlobGas"})


class StateProofError(InvalidInputError):
    """A header or state proof that does not prove what it claims; `place` names where."""

    slug = "invalid-state-proof"
    title = "Invalid state proof"

    def __init__(self, detail: str, *, place: str, **fields: object) -> None:
        super().__init__(detail, place=place, **fields)
        self.place = place


@dataclass(frozen=True, slots=True)
class BlockHeader:
    """A decoded header: its RLP, hash, and the fields the offline EVM needs."""

    rlp: bytes
    fields: dict[str, bytes | int]

    @property
    def hash(self) -> bytes:
        return keccak(self.rlp)

    @property
    def number(self) -> int:
        return int(self.fields["number"])

    @property
    def timestamp(self) -> int:
        return int(self.fields["timestamp"])

    @property
    def state_root(self) -> bytes:
        return bytes(self.fields["stateRoot"])  # type: ignore[arg-type]

    def get(self, name: str) -> bytes | int | None:
        return self.fields.get(name)

    @property
    def fork(self) -> str:
        """The newest fork whose fields the header has (the EVM rules it was built under)."""
        for name, fork in (("requestsHash", "prague"), ("parentBeaconBlockRoot", "cancun"),
                           ("withdrawalsRoot", "shanghai"), ("baseFeePerGas", "london")):
            if name in self.fields:
                return fork
        return "berlin"

    @classmethod
    def decode(cls, raw: bytes, *, place: str = "header") -> BlockHeader:
        try:
            items = rlp.decode(raw)
        except rlp.exceptions.DecodingError as exc:
            raise StateProofError(f"{place} is not RLP: {exc}", place=place) from None
        if not isinstance(items, list) or not 15 <= len(items) <= len(_HEADER_FIELDS) \
                or not all(isinstance(i, bytes) for i in items):
            raise StateProofError(f"{place} is not a block header (a list of 15 to "
                                  f"{len(_HEADER_FIELDS)} byte strings)", place=place)
        fields: dict[str, bytes | int] = {}
        for name, value in zip(_HEADER_FIELDS, items, strict=False):
            if name in _INT_FIELDS:
                if value[:1] == b"\x00":
                    raise StateProofError(f"{place}.{name} has a leading zero byte",
                                          place=f"{place}.{name}")
                fields[name] = int.from_bytes(value, "big")
            else:
                fields[name] = value
        if len(fields["stateRoot"]) != 32:  # type: ignore[arg-type]
            raise StateProofError(f"{place}.stateRoot is not 32 bytes", place=f"{place}.stateRoot")
        return cls(bytes(raw), fields)

    @classmethod
    def encode(cls, block: dict[str, object]) -> BlockHeader:
        """The header of a JSON-RPC block (`eth_getBlockByNumber`), as RLP; its hash must be the
        block's `hash` (the caller checks)."""
        items: list[bytes] = []
        for name in _HEADER_FIELDS:
            if name not in block or block[name] is None:
                if len(items) >= 15:
                    break
                raise StateProofError(f"the node's block lacks {name}", place=f"block.{name}")
            value = block[name]
            if name in _INT_FIELDS:
                n = int(value)  # type: ignore[call-overload]
                items.append(n.to_bytes((n.bit_length() + 7) // 8, "big"))
            elif isinstance(value, str):
                items.append(bytes.fromhex(value.removeprefix("0x")))
            else:
                items.append(bytes(value))  # type: ignore[call-overload]
        return cls.decode(rlp.encode(items))


@dataclass(frozen=True, slots=True)
class ProvenAccount:
    nonce: int
    balance: int
    storage_root: bytes
    code_hash: bytes

    @property
    def exists(self) -> bool:
        return not (self.nonce == 0 and self.balance == 0 and self.code_hash == EMPTY_CODE_HASH)


def broken_link(root: bytes, nodes: Sequence[bytes]) -> int | None:
    """The index of the first node of a proof path that its parent does not reference (node 0:
    the root), or None when every node hangs from the one before it. Nodes shorter than 32
    bytes are embedded in their parent and never listed on their own."""
    parent = None
    for i, node in enumerate(nodes):
        h = keccak(node)
        if (h != root) if parent is None else (h not in parent):
            return i
        parent = node
    return None


def _walk(root: bytes, key: bytes, nodes: Sequence[bytes], place: str) -> bytes:
    bad = broken_link(root, nodes)
    if bad is not None:
        what = "does not hash to the root" if bad == 0 else "is not referenced by node " + str(bad - 1)
        raise StateProofError(f"{place}[{bad}] {what}", place=f"{place}[{bad}]")
    try:
        decoded = [rlp.decode(n) for n in nodes]
        return bytes(HexaryTrie.get_from_proof(root, key, decoded))
    except (BadTrieProof, rlp.exceptions.DecodingError, ValueError, TypeError,
            IndexError, KeyError) as exc:
        raise StateProofError(f"{place} does not prove its key: {exc}", place=place) from None


def prove_account(state_root: bytes, address: bytes, nodes: Sequence[bytes], *,
                  place: str) -> ProvenAccount:
    """The account at `address` as the state root commits to it (all zero if absent)."""
    raw = _walk(state_root, keccak(address), nodes, place)
    if raw == b"":
        return ProvenAccount(0, 0, EMPTY_TRIE_ROOT, EMPTY_CODE_HASH)
    try:
        nonce, balance, storage_root, code_hash = rlp.decode(raw)
    except (rlp.exceptions.DecodingError, ValueError) as exc:
        raise StateProofError(f"{place} proves a value that is no account: {exc}",
                              place=place) from None
    return ProvenAccount(int.from_bytes(nonce, "big"), int.from_bytes(balance, "big"),
                         bytes(storage_root), bytes(code_hash))


def prove_storage(storage_root: bytes, slot: int, nodes: Sequence[bytes], *, place: str) -> int:
    """The value of storage `slot` as the account's storage root commits to it (0 if absent)."""
    raw = _walk(storage_root, keccak(slot.to_bytes(32, "big")), nodes, place)
    if raw == b"":
        return 0
    try:
        value = rlp.decode(raw)
    except rlp.exceptions.DecodingError as exc:
        raise StateProofError(f"{place} proves a value that is not RLP: {exc}",
                              place=place) from None
    if not isinstance(value, bytes) or value[:1] == b"\x00":
        raise StateProofError(f"{place} proves a malformed storage value", place=place)
    return int.from_bytes(value, "big")
