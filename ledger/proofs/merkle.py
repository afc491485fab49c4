"""Merkle trees with sorted-pair keccak256, the scheme OpenZeppelin `MerkleProof` verifies.

A parent is keccak256(min(a, b) ‖ max(a, b)), so a proof is just the list of siblings, with no
left/right flags. Levels pair neighbours; an odd node out is carried up unchanged. Leaves are
32-byte values chosen by the caller: hash (or double-hash) the leaf data before it goes in, so
that a leaf can never be mistaken for an inner node (OpenZeppelin's advice).

keccak256 comes from `safe-pysha3` (a C extension: ~1 µs a call) when it is installed, else from
pycryptodome (ctypes, ~6 µs a call). Both are exact Keccak-256 (the pre-NIST padding Ethereum
uses); `KECCAK_BACKEND` names the one in use so a benchmark can report it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ledger.errors import InvalidInputError

__all__ = [
    "KECCAK_BACKEND", "EmptyTreeError", "MerkleTree", "hash_pair", "keccak256", "process_proof",
    "verify_proof",
]

try:
    from sha3 import keccak_256 as _keccak_256  # safe-pysha3

    KECCAK_BACKEND = "safe-pysha3"
except ImportError:  # pragma: no cover - exercised only where safe-pysha3 is not installed
    from Crypto.Hash import keccak as _cryptodome_keccak

    def _keccak_256(data: bytes = b""):  # type: ignore[no-redef]
        return _cryptodome_keccak.new(data=data, digest_bits=256)

    KECCAK_BACKEND = "pycryptodome"


def keccak256(data: bytes) -> bytes:
    return _keccak_256(data).digest()


def hash_pair(a: bytes, b: bytes) -> bytes:
    return _keccak_256(a + b if a < b else b + a).digest()


class EmptyTreeError(InvalidInputError):
    slug = "empty-merkle-tree"
    title = "A Merkle tree needs at least one leaf"


@dataclass(frozen=True, slots=True)
class MerkleTree:
    """All levels of a tree, leaves first; `levels[-1][0]` is the root."""

    levels: tuple[tuple[bytes, ...], ...]

    @classmethod
    def build(cls, leaves: Sequence[bytes]) -> MerkleTree:
        if not leaves:
            raise EmptyTreeError("cannot build a Merkle tree of zero leaves")
        level = tuple(leaves)
        # One pass over the lengths in C instead of a Python loop: at 100k leaves the check
        # otherwise costs as much as a tenth of the build.
        if set(map(len, level)) != {32}:
            bad = next(leaf for leaf in level if len(leaf) != 32)
            raise InvalidInputError(f"a Merkle leaf must be 32 bytes, got {len(bad)}")
        levels = [level]
        kec = _keccak_256
        while len(level) > 1:
            # zip over the two strided halves keeps the whole level in one comprehension: the
            # per-pair cost is then little more than the keccak call itself.
            nxt = [kec(a + b if a < b else b + a).digest()
                   for a, b in zip(level[0::2], level[1::2], strict=False)]
            if len(level) % 2:
                nxt.append(level[-1])
            level = tuple(nxt)
            levels.append(level)
        return cls(tuple(levels))

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    @property
    def leaves(self) -> tuple[bytes, ...]:
        return self.levels[0]

    def __len__(self) -> int:
        return len(self.levels[0])

    def proof(self, index: int) -> list[bytes]:
        """Siblings from the leaf at `index` up to the root."""
        if not 0 <= index < len(self):
            raise InvalidInputError(f"leaf index {index} outside a tree of {len(self)} leaves")
        out = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                out.append(level[sibling])
            index //= 2
        return out


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node


def verify_proof(root: bytes, leaf: bytes, proof: Sequence[bytes]) -> bool:
    return process_proof(leaf, proof) == root
