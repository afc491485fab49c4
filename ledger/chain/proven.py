"""Chain reads proven by state proofs at one block: the same `ChainView` the verifier always
uses, built once online and then answered offline, with no node at all.

Online (`PinnedView`, `collect_witness`): a view pinned to one block records every `eth_call`
the verifier makes; `eth_createAccessList` names the storage slots each call reads; then
`eth_getProof` proves those slots and each contract's account into the block's stateRoot, and
`eth_getCode` fetches the code. That is a `StateWitness`.

Offline (`ProvenView`): every proof is checked against the header (`ledger.proofs.state_proof`),
and only then are the proven trie nodes and code put into a node database keyed by their
keccak256 hashes, under the header's stateRoot. Each call the verifier makes runs in a local
EVM (py-evm, the fork the header belongs to) over that database. A read of any account or slot
whose trie path is not in the witness finds no node and raises `UnprovenReadError`: a witness
cannot make a read return zero by leaving its proof out, and every value a call returns is
committed to by the stateRoot. The block number and timestamp come from the header, so what the
contracts say is what they said at that block.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_hash.auto import keccak
from eth_utils import (
    function_abi_to_4byte_selector,
    get_abi_input_types,
    get_abi_output_types,
    to_canonical_address,
    to_checksum_address,
)

from ledger.chain.compiler import load_artifact
from ledger.chain.view import ChainView, Read, call_target
from ledger.errors import ChainError, LedgerError
from ledger.paths import ARTIFACTS_DIR
from ledger.proofs.signing import CaptureDomain
from ledger.proofs.state_proof import (
    BlockHeader,
    StateProofError,
    prove_account,
    prove_storage,
)

__all__ = ["AccountWitness", "PinnedView", "ProvenView", "SlotWitness", "StateWitness",
           "UnprovenReadError", "collect_witness", "proven_nodes"]

_ZERO = b"\x00" * 20


class UnprovenReadError(LedgerError):
    """A call read state that the witness does not prove (or the call itself failed)."""

    slug = "unproven-chain-read"
    title = "Chain read not proven by the evidence"
    status = 422
    read: Read | None = None


@dataclass(frozen=True, slots=True)
class SlotWitness:
    slot: int
    value: int
    proof: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class AccountWitness:
    address: str  # checksummed
    proof: tuple[bytes, ...]
    code: bytes
    storage: tuple[SlotWitness, ...]


@dataclass(frozen=True, slots=True)
class StateWitness:
    header: BlockHeader
    accounts: tuple[AccountWitness, ...]


# --- online: record the calls, prove what they read -------------------------------------------

class PinnedView(ChainView):
    """A ChainView that reads at one given block (never the head) and records each call's
    target and calldata."""

    def __init__(self, w3: Any, deployment: Any, block: int, **kwargs: Any) -> None:
        super().__init__(w3, deployment, **kwargs)
        self._block = block
        self.calls: list[tuple[str, bytes]] = []

    def sync(self, *, force: bool = False) -> int:
        return self._block  # type: ignore[return-value]

    def _call(self, calls: list[tuple[dict[str, Any], list[str]]], block: int) -> list[Any]:
        self.calls.extend((tx["to"], bytes.fromhex(str(tx["data"]).removeprefix("0x")))
                          for tx, _ in calls)
        return super()._call(calls, block)


def collect_witness(w3: Any, calls: Iterable[tuple[str, bytes]], block: int) -> StateWitness:
    """Header, account proofs, code and storage proofs for everything `calls` read at `block`."""
    slots: dict[str, set[int]] = {}
    for to, data in dict.fromkeys(calls):
        slots.setdefault(to_checksum_address(to), set())
        answer = _rpc(w3, "eth_createAccessList",
                      {"to": to_checksum_address(to), "data": "0x" + data.hex()}, hex(block))
        if answer.get("error"):
            raise ChainError(f"eth_createAccessList failed at block {block}: {answer['error']}")
        for entry in answer["accessList"]:
            slots.setdefault(to_checksum_address(entry["address"]), set()).update(
                int(k, 16) for k in entry["storageKeys"])
    raw_block = w3.eth.get_block(block)
    header = BlockHeader.encode(dict(raw_block))
    if header.hash != bytes(raw_block["hash"]):
        raise ChainError(f"block {block}'s fields do not hash to its hash: the node's header "
                         f"has fields this code does not know")
    accounts = []
    for address in sorted(slots, key=str.lower):
        keys = ["0x" + slot.to_bytes(32, "big").hex() for slot in sorted(slots[address])]
        proof = _rpc(w3, "eth_getProof", address, keys, hex(block))
        code = _unhex(_rpc(w3, "eth_getCode", address, hex(block)))
        accounts.append(AccountWitness(
            address, tuple(_unhex(n) for n in proof["accountProof"]), code,
            tuple(SlotWitness(int(s["key"], 16), int(s["value"], 16),
                              tuple(_unhex(n) for n in s["proof"]))
                  for s in sorted(proof["storageProof"], key=lambda s: int(s["key"], 16)))))
    return StateWitness(header, tuple(accounts))


def _rpc(w3: Any, method: str, *params: Any) -> Any:
    answer = w3.provider.make_request(method, list(params))
    if "error" in answer:
        raise ChainError(f"{method} failed: {answer['error']}")
    return answer["result"]


def _unhex(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))


# --- offline: check the proofs, run the calls --------------------------------------------------

def proven_nodes(witness: StateWitness, *, place: str = "state") -> dict[bytes, bytes]:
    """Check every account, code and storage proof of `witness` against its header's stateRoot,
    and return the trie nodes and code, keyed by their keccak256 (py-evm's node database)."""
    root = witness.header.state_root
    nodes: dict[bytes, bytes] = {}
    for i, acct in enumerate(witness.accounts):
        at = f"{place}[{i}]"
        account = prove_account(root, to_canonical_address(acct.address), acct.proof,
                                place=f"{at}.accountProof")
        if keccak(acct.code) != account.code_hash:
            raise StateProofError(f"{at}.code does not hash to the codeHash that {at}.accountProof "
                                  f"proves for {acct.address}", place=f"{at}.code")
        for j, s in enumerate(acct.storage):
            value = prove_storage(account.storage_root, s.slot, s.proof,
                                  place=f"{at}.storage[{j}].proof")
            if value != s.value:
                raise StateProofError(f"{at}.storage[{j}].value is {s.value:#x}, but its proof "
                                      f"proves {value:#x}", place=f"{at}.storage[{j}].value")
            nodes.update((keccak(n), n) for n in s.proof)
        nodes.update((keccak(n), n) for n in acct.proof)
        nodes[keccak(acct.code)] = acct.code
    return nodes


def _state_class(fork: str, listed: Mapping[bytes, frozenset[int]]) -> type:
    """py-evm's state for `fork`, reading only the accounts and slots `listed` (address →
    slots): any other read raises, even one the trie nodes at hand could answer, so every
    value a call sees is one the witness names and proves."""
    from eth.vm.forks import BerlinVM, CancunVM, LondonVM, PragueVM, ShanghaiVM

    vm = {"prague": PragueVM, "cancun": CancunVM, "shanghai": ShanghaiVM, "london": LondonVM,
          "berlin": BerlinVM}[fork]
    base = vm._state_class
    db_base: Any = base.account_db_class

    def get_storage(self: Any, address: bytes, slot: int, from_journal: bool = True) -> int:
        if slot not in listed.get(bytes(address), ()):
            raise UnprovenReadError(
                f"the evidence does not prove storage slot {slot:#x} of "
                f"{to_checksum_address(address)}", contract=to_checksum_address(address),
                slot=hex(slot))
        return db_base.get_storage(self, address, slot, from_journal)

    def get_encoded_account(self: Any, address: bytes, from_journal: bool = True) -> bytes:
        if bytes(address) not in listed:
            raise UnprovenReadError(
                f"the evidence does not prove the account {to_checksum_address(address)}",
                contract=to_checksum_address(address))
        return db_base._get_encoded_account(self, address, from_journal)

    account_db = type(f"Proven{db_base.__name__}", (db_base,), {
        "get_storage": get_storage, "_get_encoded_account": get_encoded_account})
    # System contracts (beacon roots, block history) are written at state creation by py-evm;
    # the proven state is read-only and holds only what the witness proves.
    return type(f"Proven{base.__name__}", (base,), {"set_system_contracts": lambda self: None,
                                                     "account_db_class": account_db})


class ProvenView(ChainView):
    """A ChainView with no node: every read is a call executed in a local EVM over a state that
    holds only what the witness proves at its header's block. Construction checks every proof
    (`proven_nodes`); a bad one raises `StateProofError` naming it."""

    def __init__(self, witness: StateWitness, *, chain_id: int, contracts: Mapping[str, str],
                 artifacts_dir: Any = ARTIFACTS_DIR, place: str = "state") -> None:
        # No `super().__init__`: that builds web3 contract objects, and this view has no web3.
        self.w3 = None
        self.witness = witness
        self.header = witness.header
        self._chain_id = chain_id
        self._addresses = {name: to_checksum_address(a) for name, a in contracts.items()}
        self._nodes = proven_nodes(witness, place=place)
        self._state_class = _state_class(witness.header.fork, {
            to_canonical_address(a.address): frozenset(s.slot for s in a.storage)
            for a in witness.accounts})
        self._abis = {name: load_artifact(name, artifacts_dir)["abi"] for name in self._addresses}
        self.domain = CaptureDomain(chain_id, self._addresses["Consortium"])
        self._block = witness.header.number
        self._checked_at = float("inf")
        self._failed_at = float("-inf")
        self.max_staleness = float("inf")
        self.stale_if_error = 0.0
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._cache: dict[Read, Any] = {}
        self._derived: dict[Any, Any] = {}
        self.hits = 0
        self.misses = 0
        self.reads: list[Read] = []

    @property
    def chain_id(self) -> int:
        return self._chain_id

    @property
    def contracts(self) -> dict[str, str]:
        return dict(self._addresses)

    def sync(self, *, force: bool = False) -> int:
        return self.header.number

    def fresh_block(self) -> int | None:
        return self.header.number

    def follow(self, stop: Any, interval: float | None = None) -> None:
        raise ChainError("a proven view does not follow a chain")

    def _function(self, read: Read) -> tuple[dict[str, Any], list[str]]:
        contract_name, args = call_target(read)
        abi = next((f for f in self._abis[contract_name]
                    if f.get("type") == "function" and f["name"] == read.method), None)
        if abi is None:
            raise ChainError(f"{contract_name} has no function {read.method}")
        data = function_abi_to_4byte_selector(abi) + abi_encode(
            list(get_abi_input_types(abi)), list(args))
        self.reads.append(read)
        return ({"to": self._addresses[contract_name], "data": data},
                list(get_abi_output_types(abi)))

    def _call(self, calls: list[tuple[dict[str, Any], list[str]]], block: int) -> list[Any]:
        # `_function` was called for these reads just before, in this order.
        reads = self.reads[len(self.reads) - len(calls):]
        out = []
        for read, (tx, _) in zip(reads, calls, strict=True):
            try:
                out.append(self.execute(tx["to"], tx["data"]))
            except UnprovenReadError as exc:
                exc.read = read  # which of the verifier's questions went unproven
                raise
        return out

    def execute(self, to: str, data: bytes) -> bytes:
        """Run one read-only call at the header's block; raise if it reads unproven state or
        reverts."""
        from eth.db.atomic import AtomicDB
        from eth.db.backends.memory import MemoryDB
        from eth.vm.execution_context import ExecutionContext
        from eth.vm.interrupt import EVMMissingData
        from eth.vm.message import Message
        from trie.exceptions import MissingTrieNode

        h = self.header
        state_class = self._state_class
        context = ExecutionContext(
            coinbase=bytes(h.get("miner")),  # type: ignore[arg-type]
            timestamp=h.timestamp, block_number=h.number,  # type: ignore[arg-type]
            difficulty=int(h.get("difficulty") or 0),  # type: ignore[arg-type]
            mix_hash=bytes(h.get("mixHash")),  # type: ignore[arg-type]
            gas_limit=int(h.get("gasLimit")),  # type: ignore[arg-type]
            prev_hashes=(), chain_id=self._chain_id,
            base_fee_per_gas=h.get("baseFeePerGas"),  # type: ignore[arg-type]
            excess_blob_gas=h.get("excessBlobGas"))  # type: ignore[arg-type]
        target = to_canonical_address(to)
        try:
            state = state_class(AtomicDB(MemoryDB(dict(self._nodes))), context, h.state_root)
            message = Message(gas=int(h.get("gasLimit")),  # type: ignore[arg-type]
                              to=target, sender=_ZERO,  # type: ignore[arg-type]
                              value=0, data=bytes(data),
                              code=state.get_code(target))
            tx_context = state.get_transaction_context_class()(gas_price=0, origin=_ZERO)
            computation = state.computation_class.apply_message(state, message, tx_context)
        except UnprovenReadError:
            raise
        except (EVMMissingData, MissingTrieNode) as exc:
            raise UnprovenReadError(
                f"the evidence does not prove state that a call to {to_checksum_address(to)} "
                f"reads at block {h.number} ({type(exc).__name__})",
                contract=to_checksum_address(to)) from None
        if computation.is_error:
            err = computation.error
            if isinstance(err, (EVMMissingData, MissingTrieNode)):
                raise UnprovenReadError(
                    f"the evidence does not prove state that a call to "
                    f"{to_checksum_address(to)} reads at block {h.number}",
                    contract=to_checksum_address(to))
            raise UnprovenReadError(f"a call to {to_checksum_address(to)} failed in the offline "
                                    f"EVM: {type(err).__name__}", contract=to_checksum_address(to))
        return bytes(computation.output)

