"""Block headers and Merkle-Patricia proofs (`ledger.proofs.state_proof`) against fixed vectors:
Ethereum mainnet's genesis header, and a header with account and storage proofs taken from an
anvil (Prague) node by `eth_getBlockByNumber` / `eth_getProof` (`data/state_proof_vector.json`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_hash.auto import keccak
from eth_utils import to_canonical_address
from hypothesis import given
from hypothesis import strategies as st

from ledger.proofs.state_proof import (
    EMPTY_TRIE_ROOT,
    BlockHeader,
    StateProofError,
    broken_link,
    prove_account,
    prove_storage,
)

VECTOR = json.loads((Path(__file__).parent / "data" / "state_proof_vector.json").read_text())


def _b(h: str) -> bytes:
    return bytes.fromhex(h.removeprefix("0x"))


MAINNET_GENESIS = {
    "parentHash": "0x" + "00" * 32,
    "sha3Uncles": "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347",
    "miner": "0x" + "00" * 20,
    "stateRoot": "0xd7f8974fb5ac78d9ac099b9ad5018bedc2ce0a72dad1827a1709da30580f0544",
    "transactionsRoot": "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421",
    "receiptsRoot": "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421",
    "logsBloom": "0x" + "00" * 256,
    "difficulty": 17179869184, "number": 0, "gasLimit": 5000, "gasUsed": 0, "timestamp": 0,
    "extraData": "0x11bbe8db4e347b4e8c937c1c8370e4b5ed33adb3db69cbdb7a38e1e50b1b82fa",
    "mixHash": "0x" + "00" * 32, "nonce": "0x0000000000000042",
}


def test_mainnet_genesis_header_hashes_to_its_known_hash() -> None:
    header = BlockHeader.encode(MAINNET_GENESIS)
    assert header.hash.hex() == "d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3"
    assert header.fork == "berlin" and header.number == 0


def test_anvil_header_decodes_and_hashes_to_the_block_hash() -> None:
    header = BlockHeader.decode(_b(VECTOR["header"]))
    assert header.hash == _b(VECTOR["blockHash"])
    assert (header.number, header.timestamp, header.fork) == (VECTOR["number"],
                                                              VECTOR["timestamp"], "prague")


@pytest.mark.parametrize("bad", [b"", b"\x80", b"\xc1\x80", bytes.fromhex("c0")])
def test_what_is_not_a_header_is_refused(bad: bytes) -> None:
    with pytest.raises(StateProofError) as exc:
        BlockHeader.decode(bad)
    assert exc.value.place == "header"


def test_account_and_storage_proofs_prove_their_values() -> None:
    root = BlockHeader.decode(_b(VECTOR["header"])).state_root
    nodes = [_b(n) for n in VECTOR["accountProof"]]
    account = prove_account(root, to_canonical_address(VECTOR["address"]), nodes, place="a")
    assert account.code_hash == _b(VECTOR["codeHash"]) and account.exists
    value = prove_storage(account.storage_root, int(VECTOR["slot"], 16),
                          [_b(n) for n in VECTOR["storageProof"]], place="s")
    assert value == int(VECTOR["value"], 16) != 0
    # A slot never written is proven absent: zero.
    assert prove_storage(account.storage_root, int(VECTOR["absentSlot"], 16),
                         [_b(n) for n in VECTOR["absentProof"]], place="s") == 0


def test_an_absent_account_is_proven_empty_and_an_empty_trie_needs_no_nodes() -> None:
    root = BlockHeader.decode(_b(VECTOR["header"])).state_root
    nodes = [_b(n) for n in VECTOR["accountProof"]]
    # Another address's path leaves these nodes where a branch has no child for it: proven
    # absent (the state trie of a devnet is small), never this account.
    other = prove_account(root, b"\x42" * 20, nodes, place="a")
    assert not other.exists and other.storage_root == EMPTY_TRIE_ROOT
    # An address whose path needs a node the proof lacks is refused.
    with pytest.raises(StateProofError):
        prove_account(root, to_canonical_address(VECTOR["address"]), nodes[:-1], place="a")
    assert prove_storage(EMPTY_TRIE_ROOT, 7, [], place="s") == 0


@given(st.data())
def test_any_altered_proof_byte_is_refused_naming_a_node(data: st.DataObject) -> None:
    root = BlockHeader.decode(_b(VECTOR["header"])).state_root
    nodes = [bytearray(_b(n)) for n in VECTOR["accountProof"]]
    i = data.draw(st.integers(0, len(nodes) - 1))
    j = data.draw(st.integers(0, len(nodes[i]) - 1))
    nodes[i][j] ^= data.draw(st.integers(1, 255))
    with pytest.raises(StateProofError) as exc:
        prove_account(root, to_canonical_address(VECTOR["address"]), [bytes(n) for n in nodes],
                      place="p")
    assert exc.value.place == f"p[{i}]"


def test_broken_link_finds_the_first_unreferenced_node() -> None:
    nodes = [_b(n) for n in VECTOR["accountProof"]]
    root = keccak(nodes[0])
    assert broken_link(root, nodes) is None
    assert broken_link(root, [nodes[0], b"\xc0", *nodes[2:]]) == 1
    assert broken_link(b"\x00" * 32, nodes) == 0
