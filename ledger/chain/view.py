"""Read-only, per-block cached view of the contract state that verification needs.

Verifying one scan needs a dozen view calls (a signer's validity per capture, an anchor per
batch root, the lot, the prefix owner, customs decisions); most repeat from one scan to the
next, and none can change until a new block. So every answer is memoised against the block
number it was read at, and the whole cache is dropped when the chain moves on. Reads are made
at that pinned block (`block_identifier`), so one verification sees one consistent state, and
the misses of one verification are sent as one JSON-RPC batch (`prefetch`).

The block number itself is polled at most once per `max_staleness` seconds (default 0.25 s):
that bounds how long a new recall can go unseen, and keeps `eth_blockNumber` off the hot path
of a gateway serving thousands of scans a second. `max_staleness=0` checks on every `sync()`.
When the pinned block goes stale, one caller asks the node and concurrent callers wait for its
answer (a herd of threads each asking would stall a busy gateway for tens of milliseconds every
`max_staleness`), and a long-running server keeps the block fresh with `follow()` on a thread of
its own, so that requests on its event loop find `fresh_block()` set and never wait on the node.

While the node does not answer (restarting, say), `sync()` keeps serving the pinned block for up
to `stale_if_error` seconds (default 30) after the last good read, asking again at most every
`max_staleness`: answers already cached at that block stay usable (a known signer's key, the
roles it holds), so captures and scans go on through a short outage; anything not cached still
needs the node and fails. A scan's verdict never rests on this: the verifier reads the chain
itself.

The gateway's capture path (signature/role checks) and the verifier share this class.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from eth_abi import decode as abi_decode
from eth_utils import get_abi_output_types
from web3.exceptions import Web3RPCError

from ledger.chain.compiler import load_artifact
from ledger.chain.deployment import Deployment
from ledger.chain.logs import DEFAULT_LOG_BLOCK_RANGE
from ledger.chain.roles import ROLES
from ledger.paths import ARTIFACTS_DIR
from ledger.proofs.codes import code_leaf, lot_key
from ledger.proofs.merkle import keccak256
from ledger.proofs.signing import CaptureDomain, checksum_address
from ledger.runtime.freshness import follow

__all__ = ["AnchorRecord", "ChainView", "ConditionsRecord", "CustomsRecord", "LotRecord", "Read",
           "call_target"]

KeyVerdict = Literal["valid", "unknown", "revoked"]
_DECISIONS = ("DIRECT_RELEASE", "NORMAL_CONTROL", "IMMEDIATE_CONTROL")
_INSPECTIONS = ("NOT_INSPECTED", "PASSED", "FAILED")
# CodeRegistry.LotStatus, in enum order (0 = never registered).
_LOT_STATUSES = (None, "active", "recalled", "withdrawn")


@dataclass(frozen=True, slots=True)
class AnchorRecord:
    timestamp: int
    block_number: int
    leaf_count: int
    submitter: str


@dataclass(frozen=True, slots=True)
class LotRecord:
    """A lot on CodeRegistry: the root of its item codes and who registered it."""

    codes_root: bytes
    owner: bytes  # the registering organisation's id (bytes32)
    count: int
    registered_at: int
    status: str  # active | recalled | withdrawn
    reason_hash: bytes | None  # set by a recall


@dataclass(frozen=True, slots=True)
class ConditionsRecord:
    """One version of a GTIN's product conditions registered on CodeRegistry by its brand."""

    conditions_hash: bytes  # keccak256 of the exact text the brand signed
    org: bytes
    version: int
    registered_at: int  # unix seconds, the block's time


@dataclass(frozen=True, slots=True)
class CustomsRecord:
    events_root: bytes
    decision: str  # DIRECT_RELEASE | NORMAL_CONTROL | IMMEDIATE_CONTROL
    inspection: str  # NOT_INSPECTED | PASSED | FAILED
    decided_at: int
    recorder: str
    count: int  # decisions recorded for the consignment (the history length)

    @property
    def released(self) -> bool:
        # Direct release needs no inspection; a controlled consignment is released once its
        # inspection passed.
        return self.inspection == "PASSED" or (self.decision == "DIRECT_RELEASE"
                                               and self.inspection != "FAILED")

    @property
    def refused(self) -> bool:
        return self.inspection == "FAILED"


class Read(NamedTuple):
    """One cacheable view call: `method` of the wrapped chain client with `args`. A tuple, not
    a dataclass: a verification builds dozens and hashes each as a cache key."""

    method: str
    args: tuple[Hashable, ...]


class ChainView:
    """Memoising, block-pinned reads of Consortium, TraceAnchor, CodeRegistry and
    CustomsRelease."""

    def __init__(self, w3: Any, deployment: Deployment, *, max_staleness: float = 0.25,
                 stale_if_error: float = 30.0, artifacts_dir: Any = ARTIFACTS_DIR,
                 clock: Callable[[], float] = time.monotonic,
                 log_block_range: int = DEFAULT_LOG_BLOCK_RANGE) -> None:
        self.w3 = w3
        self.deployment = deployment
        # For the `Chain` clients built over this view's web3 (their paged log reads).
        self.log_block_range = log_block_range
        self.max_staleness = max_staleness
        self.stale_if_error = stale_if_error
        self._clock = clock
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()  # one eth_blockNumber in flight at a time
        self._block: int | None = None
        self._checked_at = float("-inf")  # the last good read of the head
        self._failed_at = float("-inf")  # the last failed one
        self._cache: dict[Read, Any] = {}
        self._derived: dict[Hashable, Any] = {}
        self._contracts = {
            name: w3.eth.contract(address=rec.address, abi=load_artifact(name, artifacts_dir)["abi"])
            for name, rec in deployment.contracts.items()}
        self.domain = CaptureDomain(deployment.chainId, deployment.address("Consortium"))
        self.hits = 0
        self.misses = 0

    @classmethod
    def of(cls, chain: Any, **kwargs: Any) -> ChainView:
        """A view over a `ledger.chain.client.Chain` (its web3 client and deployment)."""
        return cls(chain.w3, chain.deployment, **kwargs)

    # --- block tracking --------------------------------------------------------------------

    @property
    def chain_id(self) -> int:
        return self.deployment.chainId

    @property
    def contracts(self) -> dict[str, str]:
        return {name: rec.address for name, rec in self.deployment.contracts.items()}

    def sync(self, *, force: bool = False) -> int:
        """The block the cache is pinned to, re-read if it may be stale; a new block drops
        every cached answer."""
        asked = self._clock()
        if force or self._block is None or asked - self._checked_at >= self.max_staleness:
            if not force and self._stale_usable(asked) \
                    and asked - self._failed_at < self.max_staleness:
                return self._block  # type: ignore[return-value]  # the node failed just now
            with self._sync_lock:
                # Whoever held the lock before us asked the node after we decided to: its
                # answer is as fresh as ours would be (for `force` too), so take it.
                if self._block is None or self._checked_at < asked:
                    now = self._clock()
                    try:
                        block = int(self.w3.eth.block_number)
                    except Exception:
                        self._failed_at = self._clock()
                        if force or not self._stale_usable(now):
                            raise
                        return self._block  # type: ignore[return-value]
                    with self._lock:
                        self._checked_at = now
                        if block != self._block:
                            self._block = block
                            self._cache = {}
                            self._derived = {}
        assert self._block is not None
        return self._block

    def _stale_usable(self, now: float) -> bool:
        return self._block is not None and now - self._checked_at < self.stale_if_error

    def follow(self, stop: threading.Event, interval: float | None = None) -> None:
        """Re-read the head every `interval` seconds (default: half of `max_staleness`) until
        `stop` is set, on a thread of its own (`ledger.runtime.freshness.follow`)."""
        every = self.max_staleness / 2 if interval is None else interval
        follow(lambda: self.sync(force=True), stop, every, what="the chain head")

    def fresh_block(self) -> int | None:
        """The pinned block if it was checked less than `max_staleness` ago, else None: what
        `sync()` would return without a call to the node (callers on an event loop use it to
        stay off the network)."""
        block = self._block
        if block is None or self._clock() - self._checked_at >= self.max_staleness:
            return None
        return block

    @property
    def block_number(self) -> int:
        return self._block if self._block is not None else self.sync()

    # --- the reads (each cached per block) ----------------------------------------------------

    def key_verdict(self, org: bytes, key: str, at: int) -> KeyVerdict:
        """Whether `key` was a signing key of `org` at unix time `at` (the intake's question)."""
        k_org, added_at, _, revoked_at, _ = self._read(Read("keyInfo", (key,)))
        if bytes(k_org) != bytes(org) or bytes(org) == bytes(32):
            return "unknown"
        if at < added_at or (revoked_at and at >= revoked_at):
            return "revoked"
        return "valid"

    def head_time(self) -> int:
        """The pinned block's timestamp (read once per block): "now" on the chain, which a
        fast devnet's blocks may put ahead of this machine's clock."""
        block = self.block_number
        return int(self.memo(("head_time", block),
                             lambda: self.w3.eth.get_block(block)["timestamp"]))

    def key_org(self, key: str) -> bytes | None:
        """The organisation `key` was registered to (revoked or not), or None for a stranger."""
        org = bytes(self._read(Read("keyInfo", (key,)))[0])
        return None if org == bytes(32) else org

    def revoked_at(self, key: str) -> int:
        """When `key` was revoked (the revoking block's time), 0 if it is not: revocation is
        never in the future, so a non-zero answer means "revoked now"."""
        return int(self._read(Read("keyInfo", (key,)))[3])

    def signers_at(self, org: bytes, at: int) -> frozenset[str]:
        """The addresses (lower-case hex) that were valid signing keys of `org` at `at`."""
        keys = [checksum_address(str(k).lower())
                for k in self._read(Read("keysOf", (bytes(org),)))]
        self.prefetch(Read("keyInfo", (k,)) for k in keys)
        return frozenset(k.lower() for k in keys if self.key_verdict(org, k, at) == "valid")

    def org_roles(self, org: bytes, at: int | None = None) -> frozenset[str]:
        """The role names `org` holds now, or held at unix time `at`."""
        now = int(time.time()) if at is None else at
        held = set()
        self.prefetch(Read("roleHistory", (bytes(org), r)) for r in ROLES)
        for role in ROLES:
            for start, until in self._read(Read("roleHistory", (bytes(org), role))):
                if start <= now and (until == 0 or now < until):
                    held.add(role)
        return frozenset(held)

    def was_valid_signer(self, org: bytes, key: str, role: str, at: int) -> bool:
        """Consortium.wasValidSigner: key, membership and role all valid at `at`."""
        return bool(self._read(Read("wasValidSigner", (bytes(org), key, role, at))))

    def anchored(self, root: bytes) -> AnchorRecord | None:
        at, block, leaves, submitter, _ = self._read(Read("anchorOf", (bytes(root),)))
        if int(submitter, 16) == 0:
            return None
        return AnchorRecord(int(at), int(block), int(leaves), submitter)

    def prefix_owner(self, gtin14: str) -> bytes | None:
        org, _ = self._read(Read("gtinOwner", (gtin14,)))
        return None if bytes(org) == bytes(32) else bytes(org)

    def company_prefix(self, key14: str) -> str | None:
        """The GS1 Company Prefix assigned on Consortium that follows the first character of
        `key14` (a GTIN-14, or any 14-character probe: `ledger.epcis.epc_format.key_probe`),
        or None if no member holds one."""
        org, prefix = self._read(Read("gtinOwner", (key14,)))
        if bytes(org) == bytes(32):
            return None
        return bytes(prefix).rstrip(b"\0").decode("ascii")

    def lot(self, gtin14: str, lot: str) -> LotRecord | None:
        """Lot `lot` of `gtin14` on CodeRegistry, or None if it was never registered."""
        root, org, reason, count, registered_at, status = self._read(
            Read("lotOf", (lot_key(gtin14, lot),)))
        if status == 0:
            return None
        return LotRecord(bytes(root), bytes(org), int(count), int(registered_at),
                         _LOT_STATUSES[status], bytes(reason) if any(reason) else None)

    @staticmethod
    def code_leaf(gtin14: str, serial: str) -> bytes:
        """The item-code leaf CodeRegistry commits to (pure: no chain read)."""
        return code_leaf(gtin14, serial)

    def conditions_history(self, gtin14: str) -> tuple[ConditionsRecord, ...]:
        """Every version of the GTIN's product conditions its brand registered on
        CodeRegistry, oldest first (none: the brand registered none)."""
        key = keccak256(gtin14.encode())
        count = int(self._read(Read("conditionsCount", (key,))))
        reads = [Read("conditionsAt", (key, i)) for i in range(count)]
        got = self.prefetch(reads)
        return tuple(ConditionsRecord(bytes(h), bytes(org), int(v), int(at))
                     for h, org, v, at in (got[r] for r in reads))

    def customs(self, consignment: bytes) -> CustomsRecord | None:
        count = int(self._read(Read("decisionCount", (bytes(consignment),))))
        if count == 0:
            return None
        rec = self._read(Read("latestDecision", (bytes(consignment),)))
        root, _, _, recorder, decided_at, decision, inspection = rec
        return CustomsRecord(bytes(root), _DECISIONS[decision], _INSPECTIONS[inspection],
                             int(decided_at), recorder, count)

    def customs_history(self, consignment: bytes) -> tuple[CustomsRecord, ...]:
        """Every decision recorded for the consignment, oldest first (each with `count` its
        sequence number plus one): a later decision never rewrites an earlier one."""
        count = int(self._read(Read("decisionCount", (bytes(consignment),))))
        reads = [Read("decisionAt", (bytes(consignment), i)) for i in range(count)]
        got = self.prefetch(reads)
        out = []
        for i, read in enumerate(reads):
            root, _, _, recorder, decided_at, decision, inspection = got[read]
            out.append(CustomsRecord(bytes(root), _DECISIONS[decision], _INSPECTIONS[inspection],
                                     int(decided_at), recorder, i + 1))
        return tuple(out)

    def org_name(self, org: bytes) -> str | None:
        """The name Consortium admitted `org` under, or None for no such organisation."""
        name, _, _, _, _, exists = self._read(Read("organisation", (bytes(org),)))
        return str(name) if exists else None

    def memo(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """A result computed only from pure inputs (named by `key`) and reads at the pinned
        block, kept until the block changes, like the reads themselves. The verifier keeps its
        per-capture and per-lot conclusions here: the same item is scanned many times a block."""
        derived = self._derived
        try:
            return derived[key]
        except KeyError:
            pass
        value = compute()
        if len(derived) >= 100_000:  # bounded: a block's worth of distinct items, at most
            derived.clear()
        derived[key] = value
        return value

    # --- cache and batch --------------------------------------------------------------------

    def _read(self, read: Read) -> Any:
        cache = self._cache
        if read in cache:
            self.hits += 1
            return cache[read]
        return self.prefetch((read,))[read]

    def _pinned(self) -> tuple[int, dict[Read, Any]]:
        """The pinned block and its cache, as one pair (`sync` may replace both at any time
        from another thread: the follower's)."""
        if self._block is None:
            self.sync()
        with self._lock:
            return self._block, self._cache  # type: ignore[return-value]

    def prefetch(self, reads: Iterable[Read]) -> dict[Read, Any]:
        """Load every uncached read at the pinned block, as one JSON-RPC batch; returns the
        value of each read."""
        wanted = list(dict.fromkeys(reads))
        block, cache = self._pinned()
        todo = [r for r in wanted if r not in cache]
        if todo:
            self.misses += len(todo)
            calls = [self._function(r) for r in todo]
            try:
                raw = self._call(calls, block)
            except Web3RPCError as exc:
                if not any(m in str(exc).lower() for m in _UNKNOWN_BLOCK):
                    raise
                # The chain restarted from an older state and no longer has the pinned
                # block: move to its head and read there.
                self.sync(force=True)
                block, cache = self._pinned()
                raw = self._call(calls, block)
            for r, (_, types), data in zip(todo, calls, raw, strict=True):
                values = abi_decode(types, bytes(data))
                cache[r] = values[0] if len(values) == 1 else values
        return {r: cache[r] for r in wanted}

    def _call(self, calls: list[tuple[dict[str, Any], list[str]]], block: int) -> list[Any]:
        if len(calls) == 1:
            return [self.w3.eth.call(calls[0][0], block)]
        with self.w3.batch_requests() as batch:
            for tx, _ in calls:
                batch.add(self.w3.eth.call(tx, block))
            return list(batch.execute())

    def _function(self, read: Read) -> tuple[dict[str, Any], list[str]]:
        contract_name, args = call_target(read)
        fn = getattr(self._contracts[contract_name].functions, read.method)(*args)
        tx = {"to": self._contracts[contract_name].address, "data": fn._encode_transaction_data()}
        return tx, list(get_abi_output_types(fn.abi))


def call_target(read: Read) -> tuple[str, tuple[Any, ...]]:
    """The contract a read calls and its ABI arguments (role names become their keccak ids)."""
    args = read.args
    if read.method == "wasValidSigner":
        org, key, role, at = args
        args = (org, key, keccak256(str(role).encode()), at)
    elif read.method == "roleHistory":
        org, role = args
        args = (org, keccak256(str(role).encode()))
    return _CONTRACT_OF[read.method], args


# How nodes say they do not have a block (anvil, geth, Besu).
_UNKNOWN_BLOCK = ("blockoutofrange", "header not found", "block not found", "unknown block")

_CONTRACT_OF = {
    "keyInfo": "Consortium", "keysOf": "Consortium", "roleHistory": "Consortium", "wasValidSigner": "Consortium",
    "gtinOwner": "Consortium", "anchorOf": "TraceAnchor", "lotOf": "CodeRegistry",
    "conditionsCount": "CodeRegistry", "conditionsAt": "CodeRegistry",
    "decisionCount": "CustomsRelease", "decisionAt": "CustomsRelease",
    "latestDecision": "CustomsRelease", "organisation": "Consortium",
}
