"""The Python client of the Zhenzhi contracts: typed reads, locally signed writes, decoded reverts.

    chain = Chain(w3, deployment)              # w3 built by the caller, never from the environment
    chain.organisation("0614141000005")        # -> Organisation
    chain.was_valid_signer(org, key, "ENTERPRISE", t)
    chain.anchor(transactor, root, leaf_count, meta_hash)   # -> TxOutcome

Identifiers on chain (see `ledger.proofs.codes`): an organisation is bytes32 = its 13-digit GLN in
ASCII, zero-padded (`org_id`, inverse `gln_of`); a role is keccak256 of its name (`role_id`);
a company prefix is its ASCII digits, zero-padded. Every method that takes an organisation
accepts the GLN string or the bytes32 id.

Views used by the verifier and the gateway (Solidity names): `Consortium.orgOfKey(address)`,
`activeOrgOfKey(address)`, `keyInfo(address)`, `wasValidSigner(bytes32 org, address key,
bytes32 role, uint64 t)` (key, membership and role windows all exact: valid from the second they
were granted, invalid from the second they were revoked), `organisation(bytes32)`,
`roleHistory`, `membershipHistory`, `gtinOwner(string gtin14)`, `prefixOwner(bytes32)`,
`captureSigner(...)`; `TraceAnchor.anchorOf(root)`, `verify(root, leaf, proof)`;
`CodeRegistry.lotOf(lotKey)`, `verifyCode`, `verifySerial`; `CustomsRelease.latestDecision`,
`decisionAt`, `decisionCount`.

A revert is re-raised as `ContractRevertError` naming the custom error and its decoded
arguments (organisations as GLNs, roles by name), whichever contract raised it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account import Account
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError

from ledger.chain.compiler import load_artifact
from ledger.chain.decisions import Decision
from ledger.chain.deployment import CONTRACT_NAMES, Deployment
from ledger.chain.logs import DEFAULT_LOG_BLOCK_RANGE, paged_logs
from ledger.chain.transactor import Transactor
from ledger.errors import AuthorizationError, InvalidInputError, NotFoundError
from ledger.paths import ARTIFACTS_DIR
from ledger.proofs.codes import gln_of, lot_key, org_id, prefix_bytes, validate_gtin14, validate_lot
from ledger.proofs.merkle import keccak256

__all__ = [
    "DEFAULT_PROPOSAL_LIFETIME", "INSPECTIONS", "LOT_STATUSES", "PROPOSAL_KINDS", "ROLE_NAMES",
    "Anchor", "Chain", "ChainEvent", "ContractRevertError", "CustomsDecision", "KeyInfo", "Lot",
    "Organisation", "Proposal", "TxOutcome", "gln_of", "org_id", "role_id", "role_name",
]

ROLE_NAMES = ("ADMIN", "ENTERPRISE", "CUSTOMS", "REGULATOR", "ANCHORER")
_ROLE_BY_ID = {keccak256(n.encode()): n for n in ROLE_NAMES}
PROPOSAL_KINDS = ("ADMIT", "REMOVE", "GRANT_ROLE", "REVOKE_ROLE", "SET_QUORUM", "ADD_KEY",
                  "ASSIGN_PREFIX")
INSPECTIONS = ("NOT_INSPECTED", "PASSED", "FAILED")
LOT_STATUSES = ("UNREGISTERED", "ACTIVE", "RECALLED", "WITHDRAWN")
DEFAULT_PROPOSAL_LIFETIME = 7 * 24 * 3600
_ZERO32 = bytes(32)
_ZERO_ADDRESS = "0x" + "00" * 20


def role_id(name: str) -> bytes:
    if name not in ROLE_NAMES:
        raise InvalidInputError(f"unknown role {name!r}; one of {', '.join(ROLE_NAMES)}",
                                field="role")
    return keccak256(name.encode())


def role_name(role: bytes) -> str:
    return _ROLE_BY_ID.get(bytes(role), "0x" + bytes(role).hex())


def _org(org: bytes | str) -> bytes:
    if isinstance(org, str):
        return org_id(org)
    if len(org) != 32:
        raise InvalidInputError("an organisation id is 32 bytes", field="org")
    return bytes(org)


def _ascii32(value: bytes) -> str | None:
    raw = bytes(value).rstrip(b"\0")
    if raw and all(0x20 < b < 0x7F for b in raw) and not any(bytes(value)[len(raw):]):
        return raw.decode("ascii")
    return None


def _label(value: Any, name: str = "") -> Any:
    """A revert or event argument as a person reads it: GLN, role name, prefix digits, hex."""
    if isinstance(value, bytes):
        if len(value) == 32:
            if value in _ROLE_BY_ID:
                return _ROLE_BY_ID[value]
            text = _ascii32(value)
            if text is not None:
                return text
        return "0x" + value.hex()
    if isinstance(value, list | tuple):
        return [_label(v) for v in value]
    return value


class ContractRevertError(AuthorizationError):
    """A contract refused a call or transaction with a custom error.

    `error` is the Solidity error name (e.g. `CodeRegistryNotPrefixOwner`), `args` its
    arguments by name, readable (GLNs, role names, hex).
    """

    slug = "contract-revert"
    title = "The contract refused"

    def __init__(self, contract: str, error: str, args: dict[str, Any]) -> None:
        shown = ", ".join(f"{k}={v}" for k, v in args.items())
        super().__init__(f"{contract} refused: {error}({shown})", contract=contract, error=error,
                         args=args)
        self.contract = contract
        self.error = error
        self.args_ = args


@dataclass(frozen=True, slots=True)
class ChainEvent:
    contract: str
    name: str
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TxOutcome:
    """What a mined transaction did: its hash, block, gas and decoded Zhenzhi events."""

    tx_hash: str
    block_number: int
    gas_used: int
    events: tuple[ChainEvent, ...] = field(default_factory=tuple)

    def event(self, name: str) -> dict[str, Any]:
        for e in self.events:
            if e.name == name:
                return e.args
        raise NotFoundError(f"transaction {self.tx_hash} emitted no {name}", event=name)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    key: str
    org: bytes
    added_at: int
    added_block: int
    revoked_at: int  # 0: not revoked
    revoked_block: int

    @property
    def revoked(self) -> bool:
        return self.revoked_at != 0

    def valid_at(self, timestamp: int) -> bool:
        return self.added_at <= timestamp and (not self.revoked_at or timestamp < self.revoked_at)


@dataclass(frozen=True, slots=True)
class Organisation:
    org: bytes
    gln: str
    name: str
    roles: frozenset[str]
    member: bool
    grade: str | None
    blacklisted: bool
    keys: tuple[KeyInfo, ...]
    prefixes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Proposal:
    id: int
    kind: str  # one of PROPOSAL_KINDS
    org: bytes  # zero for SET_QUORUM
    args: dict[str, Any]  # the decoded payload
    expires_at: int
    executed: bool
    proposer_org: bytes
    approvers: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Anchor:
    root: bytes
    anchored_at: int
    block_number: int
    leaf_count: int
    submitter: str
    meta_hash: bytes


@dataclass(frozen=True, slots=True)
class Lot:
    lot_key: bytes
    codes_root: bytes
    org: bytes
    reason_hash: bytes
    count: int
    registered_at: int
    status: str  # one of LOT_STATUSES


@dataclass(frozen=True, slots=True)
class CustomsDecision:
    consignment: bytes
    sequence: int
    decision: Decision
    inspection: str  # one of INSPECTIONS
    events_root: bytes
    rules_version: str
    rules_hash: bytes
    recorder: str
    decided_at: int


_PAYLOAD_TYPES = {
    "ADMIT": (("name", "string"), ("roles", "bytes32[]"), ("keys", "address[]")),
    "REMOVE": (),
    "GRANT_ROLE": (("role", "bytes32"),),
    "REVOKE_ROLE": (("role", "bytes32"),),
    "SET_QUORUM": (("quorum", "uint256"),),
    "ADD_KEY": (("key", "address"),),
    "ASSIGN_PREFIX": (("prefix", "bytes32"),),
}


def _canonical_type(item: dict[str, Any]) -> str:
    if item["type"].startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in item["components"])
        return f"({inner}){item['type'][5:]}"
    return str(item["type"])


class Chain:
    """Typed access to one deployment of the four contracts through an injected `Web3`."""

    def __init__(self, w3: Web3, deployment: Deployment, *,
                 artifacts_dir: Path = ARTIFACTS_DIR,
                 log_block_range: int = DEFAULT_LOG_BLOCK_RANGE) -> None:
        self.w3 = w3
        self.deployment = deployment
        self.log_block_range = log_block_range
        try:
            # Its only effect on this path is two eth_chainId calls per call.
            w3.middleware_onion.remove("validation")
        except ValueError:
            pass
        self.contracts = {
            name: w3.eth.contract(address=deployment.address(name),
                                  abi=load_artifact(name, artifacts_dir)["abi"])
            for name in CONTRACT_NAMES}
        self._errors: dict[bytes, tuple[str, list[str], list[str]]] = {}
        self._events: dict[bytes, tuple[str, dict[str, Any]]] = {}
        for name, contract in self.contracts.items():
            for item in contract.abi:
                if item["type"] not in ("error", "event"):
                    continue
                types = [_canonical_type(i) for i in item["inputs"]]
                selector = keccak256(f"{item['name']}({','.join(types)})".encode())
                if item["type"] == "error":
                    self._errors[selector[:4]] = (item["name"], [i["name"] for i in item["inputs"]], types)
                else:
                    self._events[selector] = (name, item)

    @property
    def consortium(self) -> Any:
        return self.contracts["Consortium"]

    @property
    def trace_anchor(self) -> Any:
        return self.contracts["TraceAnchor"]

    @property
    def code_registry(self) -> Any:
        return self.contracts["CodeRegistry"]

    @property
    def customs_release(self) -> Any:
        return self.contracts["CustomsRelease"]

    # --- errors and events ---------------------------------------------------------------------

    def revert_error(self, contract: str, exc: Exception) -> Exception:
        """The `ContractRevertError` for a web3 revert, or `exc` itself if it carries no
        custom error this deployment knows."""
        data = getattr(exc, "data", None)
        if isinstance(data, dict):
            data = data.get("data")
        if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
            raw = bytes.fromhex(data[2:])
            known = self._errors.get(raw[:4])
            if known is not None:
                name, names, types = known
                values = abi_decode(types, raw[4:]) if types else ()
                return ContractRevertError(contract, name, {
                    n: _label(v) for n, v in zip(names, values, strict=True)})
        return exc

    def decode_events(self, receipt: Any) -> tuple[ChainEvent, ...]:
        out = []
        for log in receipt["logs"]:
            topics = [bytes(t) for t in log["topics"]]
            if not topics or topics[0] not in self._events:
                continue
            contract, item = self._events[topics[0]]
            indexed = [i for i in item["inputs"] if i["indexed"]]
            plain = [i for i in item["inputs"] if not i["indexed"]]
            args: dict[str, Any] = {}
            for i, topic in zip(indexed, topics[1:], strict=True):
                args[i["name"]] = abi_decode([_canonical_type(i)], topic)[0]
            values = abi_decode([_canonical_type(i) for i in plain], bytes(log["data"]))
            args.update({i["name"]: v for i, v in zip(plain, values, strict=True)})
            out.append(ChainEvent(contract, item["name"], {i["name"]: args[i["name"]]
                                                           for i in item["inputs"]}))
        return tuple(out)

    def event_logs(self, contract: str, event: str, *, from_block: int | None = None,
                   to_block: int | None = None, topics: Sequence[str | None] = ()) -> list[Any]:
        """Decoded logs of one event of one contract (web3 `EventData`), from the deployment
        block (by default) to `to_block` (default: the head), read in block ranges the node
        accepts (`ledger.chain.logs.paged_logs`, at most `log_block_range` blocks a request)."""
        topic = next((t for t, (c, item) in self._events.items()
                      if c == contract and item["name"] == event), None)
        if topic is None:
            raise InvalidInputError(f"{contract} has no event {event}", event=event)
        params = {"address": self.contracts[contract].address,
                  "topics": ["0x" + topic.hex(), *topics]}
        start = self.deployment.deployBlock if from_block is None else from_block
        decode = getattr(self.contracts[contract].events, event)().process_log
        return [decode(log) for log in paged_logs(self.w3, params, start, to_block,
                                                  max_range=self.log_block_range)]

    def _call(self, contract: str, fn: str, *args: Any) -> Any:
        try:
            return getattr(self.contracts[contract].functions, fn)(*args).call()
        except (ContractCustomError, ContractLogicError) as exc:
            raise self.revert_error(contract, exc) from None

    def _send(self, tx: Transactor, contract: str, fn: str, *args: Any) -> TxOutcome:
        call = getattr(self.contracts[contract].functions, fn)(*args)
        try:
            receipt = tx.send(call)
        except (ContractCustomError, ContractLogicError) as exc:
            raise self.revert_error(contract, exc) from None
        return TxOutcome("0x" + bytes(receipt["transactionHash"]).hex(),
                         int(receipt["blockNumber"]), int(receipt["gasUsed"]),
                         self.decode_events(receipt))

    # --- Consortium reads ----------------------------------------------------------------------

    def org_of_key(self, key: str) -> bytes | None:
        org = bytes(self._call("Consortium", "orgOfKey", Web3.to_checksum_address(key)))
        return None if org == _ZERO32 else org

    def active_org_of_key(self, key: str) -> bytes | None:
        org = bytes(self._call("Consortium", "activeOrgOfKey", Web3.to_checksum_address(key)))
        return None if org == _ZERO32 else org

    def key_info(self, key: str) -> KeyInfo | None:
        key = Web3.to_checksum_address(key)
        org, added_at, added_block, revoked_at, revoked_block = self._call(
            "Consortium", "keyInfo", key)
        if bytes(org) == _ZERO32:
            return None
        return KeyInfo(key, bytes(org), added_at, added_block, revoked_at, revoked_block)

    def was_valid_signer(self, org: bytes | str, key: str, role: str, timestamp: int) -> bool:
        return bool(self._call("Consortium", "wasValidSigner", _org(org),
                               Web3.to_checksum_address(key), role_id(role), timestamp))

    def has_role(self, role: str, key: str) -> bool:
        return bool(self._call("Consortium", "hasRole", role_id(role),
                               Web3.to_checksum_address(key)))

    def organisation(self, org: bytes | str) -> Organisation | None:
        """Everything the Consortium holds on `org`, or None if it was never admitted."""
        org = _org(org)
        name, roles, member, grade, blacklisted, exists = self._call(
            "Consortium", "organisation", org)
        if not exists:
            return None
        keys = tuple(k for k in (self.key_info(a) for a in self._call("Consortium", "keysOf", org))
                     if k is not None)
        prefixes = tuple(bytes(p).rstrip(b"\0").decode("ascii")
                         for p in self._call("Consortium", "prefixesOf", org))
        return Organisation(org, gln_of(org), name, frozenset(role_name(r) for r in roles),
                            member, _ascii32(grade) if bytes(grade) != _ZERO32 else None,
                            blacklisted, keys, prefixes)

    def role_history(self, org: bytes | str, role: str) -> list[tuple[int, int]]:
        """(from, until) windows, until 0 while open."""
        return [tuple(w) for w in self._call("Consortium", "roleHistory", _org(org), role_id(role))]

    def membership_history(self, org: bytes | str) -> list[tuple[int, int]]:
        return [tuple(w) for w in self._call("Consortium", "membershipHistory", _org(org))]

    def prefix_owner(self, prefix: str) -> bytes | None:
        org = bytes(self._call("Consortium", "prefixOwner", prefix_bytes(prefix)))
        return None if org == _ZERO32 else org

    def gtin_owner(self, gtin14: str) -> tuple[bytes, str] | None:
        """(owning organisation, company prefix) of a GTIN-14, or None if no prefix matches."""
        org, prefix = self._call("Consortium", "gtinOwner", validate_gtin14(gtin14))
        if bytes(org) == _ZERO32:
            return None
        return bytes(org), bytes(prefix).rstrip(b"\0").decode("ascii")

    def quorum(self) -> int:
        return int(self._call("Consortium", "quorum"))

    def admin_count(self) -> int:
        return int(self._call("Consortium", "adminCount"))

    def grade_levels(self) -> list[str]:
        return [_ascii32(g) or "0x" + bytes(g).hex() for g in self._call("Consortium", "gradeLevels")]

    def proposal_count(self) -> int:
        return int(self._call("Consortium", "proposalCount"))

    def proposal(self, proposal_id: int) -> Proposal:
        kind, expires_at, executed, org, proposer, payload, approvers = self._call(
            "Consortium", "proposal", proposal_id)
        name = PROPOSAL_KINDS[kind]
        spec = _PAYLOAD_TYPES[name]
        values = abi_decode([t for _, t in spec], bytes(payload)) if spec else ()
        args = {k: _label(v) if k != "keys" else list(v)
                for (k, _), v in zip(spec, values, strict=True)}
        return Proposal(proposal_id, name, bytes(org), args, expires_at, executed, bytes(proposer),
                        tuple(bytes(a) for a in approvers))

    def valid_approvals(self, proposal_id: int) -> int:
        return int(self._call("Consortium", "validApprovals", proposal_id))

    # --- Consortium writes ---------------------------------------------------------------------

    def propose_admit(self, tx: Transactor, org: bytes | str, name: str, roles: Sequence[str],
                      keys: Sequence[str], lifetime: int = DEFAULT_PROPOSAL_LIFETIME) -> TxOutcome:
        return self._send(tx, "Consortium", "proposeAdmit", _org(org), name,
                          [role_id(r) for r in roles], [Web3.to_checksum_address(k) for k in keys],
                          lifetime)

    def propose_remove(self, tx: Transactor, org: bytes | str,
                       lifetime: int = DEFAULT_PROPOSAL_LIFETIME) -> TxOutcome:
        return self._send(tx, "Consortium", "proposeRemove", _org(org), lifetime)

    def propose_grant_role(self, tx: Transactor, org: bytes | str, role: str,
                           lifetime: int = DEFAULT_PROPOSAL_LIFETIME) -> TxOutcome:
        return self._send(tx, "Consortium", "proposeGrantRole", _org(org), role_id(role), lifetime)

    def propose_revoke_role(self, tx: Transactor, org: bytes | str, role: str,
                            lifetime: int = DEFAULT_PROPOSAL_LIFETIME) -> TxOutcome:
        return self._send(tx, "Consortium", "proposeRevokeRole", _org(org), role_id(role), lifetime)

    def propose_set_quorum(self, tx: Transactor, quorum: int,
                           lifetime: int = DEFAULT_PROPOSAL_LIFETIME) -> TxOutcome:
        return self._send(tx, "Consortium", "proposeSetQuorum", quorum, lifetime)

    def propose_add_key(self, tx: Transactor, org: bytes | str, key: str,
                        lifetime: int = DEFAULT_PROPOSAL_LIFETIME) -> TxOutcome:
        return self._send(tx, "Consortium", "proposeAddKey", _org(org),
                          Web3.to_checksum_address(key), lifetime)

    def propose_assign_prefix(self, tx: Transactor, org: bytes | str, prefix: str,
                              lifetime: int = DEFAULT_PROPOSAL_LIFETIME) -> TxOutcome:
        return self._send(tx, "Consortium", "proposeAssignPrefix", _org(org), prefix_bytes(prefix),
                          lifetime)

    def approve(self, tx: Transactor, proposal_id: int) -> TxOutcome:
        return self._send(tx, "Consortium", "approve", proposal_id)

    def execute(self, tx: Transactor, proposal_id: int) -> TxOutcome:
        return self._send(tx, "Consortium", "execute", proposal_id)

    def add_key(self, tx: Transactor, org: bytes | str, key: str) -> TxOutcome:
        return self._send(tx, "Consortium", "addKey", _org(org), Web3.to_checksum_address(key))

    def revoke_key(self, tx: Transactor, key: str) -> TxOutcome:
        return self._send(tx, "Consortium", "revokeKey", Web3.to_checksum_address(key))

    def define_grade(self, tx: Transactor, grade: str) -> TxOutcome:
        return self._send(tx, "Consortium", "defineGrade", _grade(grade))

    def set_grade(self, tx: Transactor, org: bytes | str, grade: str | None) -> TxOutcome:
        return self._send(tx, "Consortium", "setGrade", _org(org),
                          _grade(grade) if grade else _ZERO32)

    def set_blacklisted(self, tx: Transactor, org: bytes | str, blacklisted: bool,
                        reason_hash: bytes = _ZERO32) -> TxOutcome:
        return self._send(tx, "Consortium", "setBlacklisted", _org(org), blacklisted,
                          _bytes32(reason_hash, "reason_hash"))

    # --- TraceAnchor ---------------------------------------------------------------------------

    def anchor(self, tx: Transactor, root: bytes, leaf_count: int,
               meta_hash: bytes = _ZERO32) -> TxOutcome:
        return self._send(tx, "TraceAnchor", "anchor", _bytes32(root, "root"), leaf_count,
                          _bytes32(meta_hash, "meta_hash"))

    def anchor_of(self, root: bytes) -> Anchor | None:
        at, block, leaves, submitter, meta = self._call("TraceAnchor", "anchorOf",
                                                        _bytes32(root, "root"))
        if submitter == _ZERO_ADDRESS:
            return None
        return Anchor(bytes(root), at, block, leaves, submitter, bytes(meta))

    def verify_anchored(self, root: bytes, leaf: bytes, proof: Sequence[bytes]) -> bool:
        return bool(self._call("TraceAnchor", "verify", _bytes32(root, "root"),
                               _bytes32(leaf, "leaf"), [bytes(p) for p in proof]))

    # --- CodeRegistry --------------------------------------------------------------------------

    def register_lot(self, tx: Transactor, gtin: str, lot: str, codes_root: bytes,
                     count: int) -> TxOutcome:
        return self._send(tx, "CodeRegistry", "registerLot", gtin, lot,
                          _bytes32(codes_root, "codes_root"), count)

    def register_conditions(self, tx: Transactor, gtin: str, version: int,
                            conditions_hash: bytes) -> TxOutcome:
        """Register version `version` of the GTIN's product conditions (the keccak256 of the
        text the brand signed) as the sender's organisation, which must own the prefix."""
        return self._send(tx, "CodeRegistry", "registerConditions", gtin, version,
                          _bytes32(conditions_hash, "conditions_hash"))

    def conditions_history(self, gtin: str) -> list[tuple[bytes, bytes, int, int]]:
        """(conditionsHash, org, version, registeredAt) of every registered version, oldest
        first."""
        key = Web3.keccak(text=gtin)
        count = int(self._call("CodeRegistry", "conditionsCount", key))
        out = []
        for i in range(count):
            h, org, version, at = self._call("CodeRegistry", "conditionsAt", key, i)
            out.append((bytes(h), bytes(org), int(version), int(at)))
        return out

    def lot_nonce(self, signer: str) -> int:
        return int(self._call("CodeRegistry", "nonces", Web3.to_checksum_address(signer)))

    def register_lot_digest(self, gtin: str, lot: str, codes_root: bytes, count: int, nonce: int,
                            deadline: int) -> bytes:
        """The EIP-712 digest of `RegisterLot`, computed here (no chain call)."""
        domain_type = keccak256(b"EIP712Domain(string name,string version,uint256 chainId,"
                                b"address verifyingContract)")
        domain = keccak256(abi_encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [domain_type, keccak256(b"Zhenzhi CodeRegistry"), keccak256(b"1"),
             self.deployment.chainId, self.deployment.address("CodeRegistry")]))
        type_hash = keccak256(b"RegisterLot(string gtin,string lot,bytes32 codesRoot,uint32 count,"
                              b"uint256 nonce,uint256 deadline)")
        struct = keccak256(abi_encode(
            ["bytes32", "bytes32", "bytes32", "bytes32", "uint32", "uint256", "uint256"],
            [type_hash, keccak256(gtin.encode()), keccak256(lot.encode()),
             _bytes32(codes_root, "codes_root"), count, nonce, deadline]))
        return keccak256(b"\x19\x01" + domain + struct)

    def sign_register_lot(self, private_key: str | bytes, gtin: str, lot: str, codes_root: bytes,
                          count: int, *, deadline: int | None = None,
                          nonce: int | None = None) -> tuple[bytes, int, int]:
        """An enterprise's signature for `register_lot_with_sig`: (signature, nonce, deadline).
        Default deadline: one hour from now."""
        account = Account.from_key(private_key)
        nonce = self.lot_nonce(account.address) if nonce is None else nonce
        deadline = int(time.time()) + 3600 if deadline is None else deadline
        digest = self.register_lot_digest(gtin, lot, codes_root, count, nonce, deadline)
        signed = Account.unsafe_sign_hash(digest, account.key)
        return bytes(signed.signature), nonce, deadline

    def register_lot_with_sig(self, tx: Transactor, gtin: str, lot: str, codes_root: bytes,
                              count: int, signer: str, deadline: int,
                              signature: bytes) -> TxOutcome:
        """Relay an enterprise's signed registration; `tx` pays and gains no authority."""
        return self._send(tx, "CodeRegistry", "registerLotWithSig", gtin, lot,
                          _bytes32(codes_root, "codes_root"), count,
                          Web3.to_checksum_address(signer), deadline, bytes(signature))

    def recall_lot(self, tx: Transactor, gtin: str, lot: str,
                   reason_hash: bytes = _ZERO32) -> TxOutcome:
        return self._send(tx, "CodeRegistry", "recallLot", gtin, lot,
                          _bytes32(reason_hash, "reason_hash"))

    def withdraw_lot(self, tx: Transactor, gtin: str, lot: str) -> TxOutcome:
        return self._send(tx, "CodeRegistry", "withdrawLot", gtin, lot)

    def lot(self, gtin: str, lot: str) -> Lot | None:
        key = lot_key(gtin, validate_lot(lot))
        root, org, reason, count, registered_at, status = self._call("CodeRegistry", "lotOf", key)
        if status == 0:
            return None
        return Lot(key, bytes(root), bytes(org), bytes(reason), count, registered_at,
                   LOT_STATUSES[status])

    def verify_code(self, gtin: str, lot: str, serial: str, proof: Sequence[bytes]) -> bool:
        return bool(self._call("CodeRegistry", "verifySerial", gtin, lot, serial,
                               [bytes(p) for p in proof]))

    def verify_code_leaf(self, lot_key_: bytes, leaf: bytes, proof: Sequence[bytes]) -> bool:
        return bool(self._call("CodeRegistry", "verifyCode", _bytes32(lot_key_, "lot_key"),
                               _bytes32(leaf, "leaf"), [bytes(p) for p in proof]))

    # --- CustomsRelease ------------------------------------------------------------------------

    def record_decision(self, tx: Transactor, consignment: bytes, decision: Decision | str,
                        inspection: str, events_root: bytes, rules_version: str,
                        rules_hash: bytes = _ZERO32) -> TxOutcome:
        d = Decision.parse(decision) if isinstance(decision, str) else Decision(decision)
        if inspection not in INSPECTIONS:
            raise InvalidInputError(f"unknown inspection outcome {inspection!r}; one of "
                                    f"{', '.join(INSPECTIONS)}", field="inspection")
        version = rules_version.encode("ascii")
        if not 0 < len(version) <= 32:
            raise InvalidInputError("rules version must be 1-32 ASCII characters",
                                    field="rules_version")
        return self._send(tx, "CustomsRelease", "recordDecision",
                          _bytes32(consignment, "consignment"), int(d),
                          INSPECTIONS.index(inspection), _bytes32(events_root, "events_root"),
                          version.ljust(32, b"\0"), _bytes32(rules_hash, "rules_hash"))

    def decision_history(self, consignment: bytes) -> list[CustomsDecision]:
        consignment = _bytes32(consignment, "consignment")
        n = int(self._call("CustomsRelease", "decisionCount", consignment))
        return [self._decision(consignment, i,
                               self._call("CustomsRelease", "decisionAt", consignment, i))
                for i in range(n)]

    def latest_decision(self, consignment: bytes) -> CustomsDecision | None:
        consignment = _bytes32(consignment, "consignment")
        n = int(self._call("CustomsRelease", "decisionCount", consignment))
        if n == 0:
            return None
        return self._decision(consignment, n - 1,
                              self._call("CustomsRelease", "latestDecision", consignment))

    @staticmethod
    def _decision(consignment: bytes, sequence: int, rec: Sequence[Any]) -> CustomsDecision:
        root, version, rules_hash, recorder, decided_at, decision, inspection = rec
        return CustomsDecision(consignment, sequence, Decision(decision), INSPECTIONS[inspection],
                               bytes(root), bytes(version).rstrip(b"\0").decode("ascii"),
                               bytes(rules_hash), recorder, decided_at)


def _bytes32(value: bytes, name: str) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != 32:
        raise InvalidInputError(f"{name} must be 32 bytes", field=name)
    return bytes(value)


def _grade(grade: str) -> bytes:
    raw = grade.encode("utf-8")
    if not 0 < len(raw) <= 32:
        raise InvalidInputError("a credit grade is 1-32 bytes of text", field="grade")
    return raw.ljust(32, b"\0")
