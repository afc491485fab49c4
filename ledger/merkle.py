"""Merkle trees with sorted-pair keccak256, the scheme OpenZeppelin `MerkleProof` verifies.

A parent is keccak256(min(a, b) ‖ max(a, b)), so a proof is just the list of siblings, with no
left/right flags. Levels pair neighbours; an odd node out is carried up unchanged. Leaves are
32-byte values chosen by the caller: hash (or double-hash) the leaf data before it goes in, so
that a leaf can never be mistaken for an inner node (OpenZeppelin's advice).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from Crypto.Hash import keccak as _keccak

from ledger.errors import InvalidInputError

__all__ = ["MerkleTree", "hash_pair", "keccak256", "process_proof", "verify_proof"]


def keccak256(data: bytes) -> bytes:
    return _keccak.new(data=data, digest_bits=256).digest()


def hash_pair(a: bytes, b: bytes) -> bytes:
    return keccak256(a + b) if a < b else keccak256(b + a)


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
        for leaf in leaves:
            if len(leaf) != 32:
                raise InvalidInputError(f"a Merkle leaf must be 32 bytes, got {len(leaf)}")
        level = tuple(leaves)
        levels = [level]
        kec = _keccak.new
        while len(level) > 1:
            nxt = []
            n = len(level)
            for i in range(0, n - 1, 2):
                a, b = level[i], level[i + 1]
                nxt.append(kec(data=a + b if a < b else b + a, digest_bits=256).digest())
            if n % 2:
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
