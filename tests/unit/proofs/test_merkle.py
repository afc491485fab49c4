"""ledger.proofs.merkle against a naive reference and OpenZeppelin's MerkleProof algorithm."""

from __future__ import annotations

from itertools import pairwise

import pytest
from Crypto.Hash import keccak as cryptodome_keccak
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import InvalidInputError
from ledger.proofs.merkle import (
    EmptyTreeError,
    MerkleTree,
    hash_pair,
    keccak256,
    process_proof,
    verify_proof,
)

leaf = st.binary(min_size=32, max_size=32)
leaves = st.lists(leaf, min_size=1, max_size=80)


def ref_keccak(data: bytes) -> bytes:
    """pycryptodome: an independent Keccak-256 implementation from the one in use."""
    return cryptodome_keccak.new(data=data, digest_bits=256).digest()


def oz_hash_pair(a: bytes, b: bytes) -> bytes:
    """OpenZeppelin Hashes.commutativeKeccak256: `a < b ? efficientKeccak256(a, b) : (b, a)`,
    comparing the bytes32 values as uint256, which is big-endian, i.e. bytes order."""
    a_int, b_int = int.from_bytes(a, "big"), int.from_bytes(b, "big")
    return ref_keccak(a + b) if a_int < b_int else ref_keccak(b + a)


def oz_process_proof(proof: list[bytes], leaf_: bytes) -> bytes:
    """OpenZeppelin MerkleProof.processProof, line by line."""
    computed = leaf_
    for p in proof:
        computed = oz_hash_pair(computed, p)
    return computed


def naive_root(nodes: list[bytes]) -> bytes:
    """Recursive reference: pair neighbours, carry an odd node up unchanged."""
    if len(nodes) == 1:
        return nodes[0]
    up = [oz_hash_pair(nodes[i], nodes[i + 1]) for i in range(0, len(nodes) - 1, 2)]
    if len(nodes) % 2:
        up.append(nodes[-1])
    return naive_root(up)


def test_keccak256_known_answers():
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert keccak256(b"abc").hex() == "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"


@given(st.binary(max_size=300))
def test_keccak256_equals_reference(data):
    assert keccak256(data) == ref_keccak(data)


@given(leaf, leaf)
def test_hash_pair_is_commutative_and_matches_openzeppelin(a, b):
    assert hash_pair(a, b) == hash_pair(b, a) == oz_hash_pair(a, b)


@given(leaves)
def test_root_equals_naive_reference(ls):
    assert MerkleTree.build(ls).root == naive_root(ls)


@given(leaves, st.data())
def test_every_proof_verifies_with_openzeppelin_algorithm(ls, data):
    tree = MerkleTree.build(ls)
    i = data.draw(st.integers(0, len(ls) - 1))
    proof = tree.proof(i)
    assert verify_proof(tree.root, ls[i], proof)
    assert oz_process_proof(proof, ls[i]) == tree.root == process_proof(ls[i], proof)


def test_all_proofs_of_an_odd_tree_verify():
    ls = [ref_keccak(bytes([i])) for i in range(37)]
    tree = MerkleTree.build(ls)
    for i, x in enumerate(ls):
        assert verify_proof(tree.root, x, tree.proof(i))


@given(leaves, st.data())
def test_tampered_leaf_fails(ls, data):
    tree = MerkleTree.build(ls)
    i = data.draw(st.integers(0, len(ls) - 1))
    other = data.draw(leaf.filter(lambda x: x != ls[i]))
    assert not verify_proof(tree.root, other, tree.proof(i))


@given(st.lists(leaf, min_size=2, max_size=80, unique=True), st.data())
def test_tampered_proof_fails(ls, data):
    tree = MerkleTree.build(ls)
    i = data.draw(st.integers(0, len(ls) - 1))
    proof = tree.proof(i)
    j = data.draw(st.integers(0, len(proof) - 1))
    bit = data.draw(st.integers(0, 255))
    flipped = bytearray(proof[j])
    flipped[bit // 8] ^= 1 << (bit % 8)
    tampered = [*proof[:j], bytes(flipped), *proof[j + 1:]]
    assert not verify_proof(tree.root, ls[i], tampered)
    assert not verify_proof(tree.root, ls[i], proof[:-1])
    assert not verify_proof(tree.root, ls[i], [*proof, ls[i]])


@given(leaves)
def test_levels_shape(ls):
    tree = MerkleTree.build(ls)
    assert tree.leaves == tuple(ls) and len(tree) == len(ls)
    assert [len(level) for level in tree.levels][-1] == 1
    for lower, upper in pairwise(tree.levels):
        assert len(upper) == (len(lower) + 1) // 2


def test_single_leaf_is_its_own_root():
    x = ref_keccak(b"only")
    tree = MerkleTree.build([x])
    assert tree.root == x and tree.proof(0) == []
    assert verify_proof(x, x, [])


def test_build_accepts_any_sequence_and_bytes_like_pairs():
    ls = [ref_keccak(bytes([i])) for i in range(5)]
    assert MerkleTree.build(tuple(ls)).root == MerkleTree.build(ls).root == naive_root(ls)


def test_empty_tree_rejected():
    with pytest.raises(EmptyTreeError) as exc:
        MerkleTree.build([])
    assert exc.value.slug == "empty-merkle-tree" and exc.value.status == 400


@pytest.mark.parametrize("bad", [b"", b"\x00" * 31, b"\x00" * 33])
def test_leaf_of_wrong_length_rejected(bad):
    with pytest.raises(InvalidInputError, match=f"got {len(bad)}"):
        MerkleTree.build([b"\x01" * 32, bad, b"\x02" * 32])


@pytest.mark.parametrize("index", [-1, 3])
def test_proof_index_out_of_range(index):
    tree = MerkleTree.build([b"\x01" * 32] * 3)
    with pytest.raises(InvalidInputError, match="outside a tree of 3"):
        tree.proof(index)


def test_pycryptodome_fallback_gives_the_same_tree():
    """Where safe-pysha3 is not installed the module falls back; the bytes must not change."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['sha3'] = None\n"
        "from ledger.proofs.merkle import KECCAK_BACKEND, MerkleTree, keccak256\n"
        "assert KECCAK_BACKEND == 'pycryptodome', KECCAK_BACKEND\n"
        "ls = [keccak256(bytes([i])) for i in range(11)]\n"
        "print(MerkleTree.build(ls).root.hex())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    ls = [ref_keccak(bytes([i])) for i in range(11)]
    assert out.stdout.strip() == naive_root(ls).hex() == MerkleTree.build(ls).root.hex()
