"""An item's proof bundle, assembled from the store: its events traced through the containers
it travelled in and the transformations that made its lot, each event's capture and anchoring
proofs, the lot registration with the code's proof, customs decisions covering its events, and
its scan history. The resolver (`gateway.routes.resolver`) and `zhenzhi evidence --database`
both call `assemble`, so a bundle exported for arbitration is the bundle consumers were served.

Each piece is a claim the verifier re-checks against the chain (the code proof against the
lot's codesRoot on CodeRegistry, a customs proof against the decision's eventsRoot on
CustomsRelease), so nothing here needs to be trusted. Scans are recorded with the country the
gateway placed the client in (ISO 3166-1 such as "CN") and a salted hash of the client, never an
address; a bundle shows each scan's client as a per-item pseudonym.

`EvidenceCache` keeps assembled bundles (and their JSON) for a gateway that serves the same
items all day; `StoreVersion` tells it when the store changed.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import Engine

from ledger.epcis.gs1 import DigitalLink
from ledger.errors import InvalidInputError
from ledger.evidence.builder import build_bundle
from ledger.evidence.public import public_bundle
from ledger.proofs.bundle import (
    FORMAT,
    VERSION,
    Bundle,
    ChainRef,
    CustomsEvidence,
    Registration,
    ScanRecord,
)
from ledger.proofs.capture import events_tree
from ledger.proofs.codes import codes_tree
from ledger.runtime.freshness import follow
from ledger.runtime.memo import BoundedMemo
from ledger.store.scan_log import scan_pseudonym
from ledger.store.store import commitments_by_id
from ledger.store.tables import codes, events, product_conditions, scans
from ledger.store.trace import Tracer

__all__ = ["CustomsIndex", "EvidenceCache", "FragmentPool", "ItemEvidence", "StoreVersion",
           "assemble", "customs_evidence", "record_scan", "registration",
           "scan_count", "scan_history"]

_NI_RE = re.compile(r"^ni:///sha-256;([0-9a-f]{64})\?ver=CBV2\.0$")
_TREES: BoundedMemo[tuple[str, str, str, int], Any] = BoundedMemo(64)


def registration(engine: Engine, gtin14: str, serial: str) -> Registration | None:
    """The lot the store issued this code in, with the code's proof into the lot's root."""
    with engine.connect() as conn:
        row = conn.execute(select(codes.c.lot).where(codes.c.gtin == gtin14,
                                                     codes.c.serial == serial)).first()
        if row is None or row[0] is None:
            return None
        lot = row[0]
        count = conn.execute(select(func.count()).select_from(codes).where(
            codes.c.gtin == gtin14, codes.c.lot == lot)).scalar_one()
        # Per store: two stores (tests, or a gateway moved to a new database) may hold a lot
        # of the same name and size with other serials.
        key = (engine.url.render_as_string(hide_password=True), gtin14, lot, int(count))
        entry = _TREES.get(key)
        if entry is None:
            serials = [r[0] for r in conn.execute(select(codes.c.serial).where(
                codes.c.gtin == gtin14, codes.c.lot == lot).order_by(codes.c.id))]
            # A lot of 12,000 codes takes ~15 ms to hash; a shelf of scans should not redo it.
            entry = _TREES.put(key, (codes_tree(gtin14, serials),
                                     {s: i for i, s in enumerate(serials)}))
    tree, index = entry
    return Registration(gtin14, lot, tuple(tree.proof(index[serial])))


class CustomsIndex:
    """Customs' signed `inspecting` events in the store, each with the tree of the commitments
    of the events it lists (the decision's eventsRoot on CustomsRelease), read incrementally: only events not
    seen before are parsed, so proving an item's customs cover costs no scan of every
    decision ever recorded."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._seen: set[int] = set()
        # (event time, seq, consignment key, covered ids, tree), in event-time order
        self._decisions: list[tuple[int, int, bytes, tuple[bytes, ...], Any]] = []
        self._covering: dict[bytes, list[int]] = {}  # covered event id → indices in _decisions
        # seq of the decision's event → (covered commitments, their tree), once all are stored
        self._trees: dict[int, tuple[list[bytes], Any]] = {}

    def refresh(self) -> None:
        """Take in inspecting events stored since the last refresh. Their sequence numbers are
        compared as a set, not as "greater than the last": on PostgreSQL a lower number can
        commit after a higher one."""
        with self._lock, self.engine.connect() as conn:
            seqs = [r[0] for r in conn.execute(
                select(events.c.seq).where(events.c.biz_step == "inspecting"))]
            new = [q for q in seqs if q not in self._seen]
            if not new:
                return
            added = []
            for start in range(0, len(new), 500):
                rows = conn.execute(select(events.c.seq, events.c.event_time_ms, events.c.body)
                                    .where(events.c.seq.in_(new[start:start + 500])))
                for seq, ms, body in rows:
                    self._seen.add(seq)
                    parsed = _decision(body)
                    if parsed is not None:
                        added.append((int(ms), int(seq), *parsed))
            if added:
                self._decisions = sorted([*self._decisions, *added], key=lambda d: d[:2])
                covering: dict[bytes, list[int]] = {}
                for i, (_, _, _, ids, _) in enumerate(self._decisions):
                    for e in ids:
                        covering.setdefault(e, []).append(i)
                self._covering = covering

    def evidence(self, item_event_ids: Iterable[bytes]) -> list[CustomsEvidence]:
        """For each decision that covers one of the item's events (in the decisions' event-time
        order), the covered event's commitment and its proof into the decision's events root
        (the tree over the covered events' commitments, built once every covered event is in
        the store; a decision covering an event the store lacks proves nothing here)."""
        wanted = {bytes(e) for e in item_event_ids}
        decisions, covering = self._decisions, self._covering
        hits = sorted({i for e in wanted for i in covering.get(e, ())})
        out: list[CustomsEvidence] = []
        for i in hits:
            _, seq, key, ids, _ = decisions[i]
            built = self._trees.get(seq)
            if built is None:
                found = commitments_by_id(self.engine, ids)
                if any(e not in found for e in ids):
                    continue
                commitments = [found[e] for e in ids]
                built = self._trees[seq] = (commitments, events_tree(commitments))
            commitments, tree = built
            out.extend(CustomsEvidence(key, commitments[j], tuple(tree.proof(j)))
                       for j, e in enumerate(ids) if e in wanted)
        return out


def _decision(body: str) -> tuple[bytes, tuple[bytes, ...], Any] | None:
    ev = json.loads(body)
    key, listed = ev.get("zhenzhi:consignmentKey"), ev.get("zhenzhi:eventIds")
    if not isinstance(key, str) or not re.fullmatch(r"0x[0-9a-fA-F]{64}", key) \
            or not isinstance(listed, list):
        return None
    ids = tuple(bytes.fromhex(m.group(1)) for x in listed
                if isinstance(x, str) and (m := _NI_RE.match(x)))
    if not ids or len(ids) != len(listed):
        return None  # a list the root could not have been built from proves nothing
    return bytes.fromhex(key[2:]), ids, None


def customs_evidence(engine: Engine, item_event_ids: Iterable[bytes]) -> list[CustomsEvidence]:
    """For each customs `inspecting` event in the store that covers one of the item's events,
    the covered event's proof into the decision's events root."""
    index = CustomsIndex(engine)
    index.refresh()
    return index.evidence(item_event_ids)


def client_hash(client: str, salt: str) -> bytes:
    return hashlib.sha256(f"{salt}\0{client}".encode()).digest()


def record_scan(engine: Engine, gtin14: str, serial: str, *, region: str | None,
                client: str, salt: str, verdict: str | None = None,
                now_ms: int | None = None) -> None:
    with engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            conn.execute(insert(scans).values(
                gtin=gtin14, serial=serial, scanned_ms=now_ms or int(time.time() * 1000),
                region=region, client_hash=client_hash(client, salt), verdict=verdict))


def scan_history(engine: Engine, gtin14: str, serial: str, *, limit: int = 500) -> list[ScanRecord]:
    """The latest `limit` scans, oldest first (clone rules look at where and when)."""
    q = (select(scans.c.scanned_ms, scans.c.region, scans.c.client_hash)
         .where(scans.c.gtin == gtin14, scans.c.serial == serial)
         .order_by(scans.c.scanned_ms.desc()).limit(limit))
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    return [ScanRecord(int(ms) // 1000, region or "unknown",
                       scan_pseudonym(bytes(h), gtin14, serial) if h is not None else None)
            for ms, region, h in reversed(rows)]


def scan_count(engine: Engine, gtin14: str, serial: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(scans).where(
            scans.c.gtin == gtin14, scans.c.serial == serial)).scalar_one())


# --- assembly ------------------------------------------------------------------------------------

def assemble(store: Any, code: str, *, chain: ChainRef, source: str | None = None,
             scans: Sequence[ScanRecord] | None = None, events: Sequence[Any] | None = None,
             customs: CustomsIndex | None = None, now: int | None = None) -> Bundle:
    """The proof bundle of item `code` (a serial-level Digital Link) from the store.

    Events: the item's history (`ledger.store.trace.Tracer.item_history`: events naming it, its
    containers' events while it was inside, the transformations that made its lot), unless
    `events` are given. Scans: the stored history unless given (`()` for none).
    """

    link = DigitalLink.parse(code)
    if link.serial is None:
        raise InvalidInputError("an item's evidence needs a serial-level code", field="code")
    engine = store.engine
    # Events name the item at serial level; a printed lot is a label detail.
    epc = DigitalLink(link.gtin14, link.serial).canonical_uri()
    history = list(events) if events is not None else Tracer(engine).item_history(epc)
    if customs is None:
        customs = CustomsIndex(engine)
        customs.refresh()
    serial = str(link.serial)
    bundle = build_bundle(
        store, link.canonical_uri(), chain=chain, events=history,
        registration=registration(engine, link.gtin14, serial),
        customs=customs.evidence(h.event_id for h in history),
        scans=scan_history(engine, link.gtin14, serial) if scans is None else scans,
        source=source, now=now)
    versions = stored_conditions(engine, link.gtin14)
    if not versions:
        return bundle
    return replace(bundle, conditions=versions[-1], earlier_conditions=tuple(versions[:-1]))


def stored_conditions(engine: Engine, gtin14: str) -> list[dict[str, Any]]:
    """Every stored version of the brand's signed conditions for the GTIN, oldest first
    (`ledger.trade.conditions` checked each signature and the brand's authority when it stored
    them; verifiers check again, and pick the version the brand's registration on chain puts in
    force)."""
    pc = product_conditions
    with engine.connect() as conn:
        rows = conn.execute(select(pc.c.text, pc.c.org, pc.c.signed_at, pc.c.signature)
                            .where(pc.c.gtin == gtin14).order_by(pc.c.version)).all()
    return [{"text": row.text, "org": "0x" + bytes(row.org).hex(),
             "signedAt": int(row.signed_at), "signature": "0x" + bytes(row.signature).hex()}
            for row in rows]


# --- caching for a gateway -----------------------------------------------------------------------

_VERSION_SQL = text(
    "SELECT (SELECT max(seq) FROM events), (SELECT max(id) FROM codes), "
    "(SELECT count(*) FROM batches WHERE state = 'anchored'), "
    "(SELECT max(anchored_ms) FROM batches WHERE state = 'anchored'), "
    "(SELECT max(id) FROM product_conditions), (SELECT max(id) FROM brand_links)")


class StoreVersion:
    """A token that changes whenever anything an item's bundle is made of changes: a new event
    (captures, customs decisions), new codes, a batch anchored or reopened (and a brand link
    registered: the resolver's `Link` headers are cached by it). Read at most once
    per `max_staleness` seconds, which bounds how long a change can go unseen."""

    def __init__(self, engine: Engine, *, max_staleness: float = 0.25,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.max_staleness = max_staleness
        self._clock = clock
        self._token: tuple[Any, ...] | None = None
        self._checked_at = float("-inf")
        self._read_lock = threading.Lock()  # one version read in flight at a time

    def cached(self) -> tuple[Any, ...] | None:
        """The token if it was read less than `max_staleness` ago (no I/O), else None."""
        if self._token is None or self._clock() - self._checked_at >= self.max_staleness:
            return None
        return self._token

    def current(self, *, force: bool = False) -> tuple[Any, ...]:
        """The token, read again if it may be stale. When it is, one caller reads and
        concurrent callers wait for its answer: a herd of request threads each reading would
        stall a busy resolver every `max_staleness`."""
        asked = self._clock()
        if force or self._token is None or asked - self._checked_at >= self.max_staleness:
            with self._read_lock:
                if self._token is None or self._checked_at < asked:  # else: read meanwhile
                    now = self._clock()
                    with self.engine.connect() as conn:
                        # A reopened batch lowers the count; a batch anchored (again) raises
                        # the latest anchored_ms, which is when the store learnt it and only
                        # grows.
                        self._token = tuple(conn.execute(_VERSION_SQL).one())
                    self._checked_at = now
        assert self._token is not None
        return self._token

    def follow(self, stop: threading.Event, interval: float | None = None) -> None:
        """Re-read the token every `interval` seconds (default: half of `max_staleness`)
        until `stop` is set, on a thread of its own (`ledger.runtime.freshness.follow`)."""
        every = self.max_staleness / 2 if interval is None else interval
        follow(lambda: self.current(force=True), stop, every, what="the store version")


@dataclass(frozen=True, slots=True)
class ItemEvidence:
    """An item's bundle without the parts that change with every request (scans, when, who
    serves it, the block), and the JSON of its public cut (`ledger.evidence.public`: what a
    shopper's scan is answered with), encoded once. A *slim* copy (`slim()`) keeps the JSON
    only: enough to answer a proof request (`dumps`), a fraction of the memory of the parsed
    bundle."""

    bundle: Bundle | None  # full (members, the server's own verdict); None in a slim copy
    newest_anchor_block: int
    # Each part the encoded JSON of one value, or (for the lists) one per element: elements
    # are what items share (a pallet's shipping, its capture), and `FragmentPool` keeps one
    # copy of each however many cached items hold it.
    _parts: dict[str, bytes | tuple[bytes, ...]]
    # `_parts` as orjson fragments (pointing at the same bytes), built once, not per request
    _fragments: dict[str, Any]
    code: str = ""
    size: int = 0  # bytes of encoded JSON (shared elements counted in full)

    @classmethod
    def of(cls, bundle: Bundle) -> ItemEvidence:
        doc = public_bundle(bundle).to_json()
        parts: dict[str, bytes | tuple[bytes, ...]] = {}
        for k in ("registration", "captures", "events", "customs", "conditions",
                  "earlierConditions"):
            if k in doc:
                value = doc[k]
                parts[k] = (tuple(orjson.dumps(v) for v in value) if isinstance(value, list)
                            else orjson.dumps(value))
        newest = max((c.anchor.block_number or 0 for c in bundle.captures if c.anchor),
                      default=0)
        return cls(bundle, newest, parts, _as_fragments(parts), bundle.code,
                   sum(map(len, _pieces(parts))))

    def pieces(self) -> list[bytes]:
        """Every encoded piece, in order."""
        return _pieces(self._parts)

    def slim(self) -> ItemEvidence:
        return replace(self, bundle=None)

    def complete(self, *, chain: ChainRef, scans: Sequence[ScanRecord], source: str | None,
                 generated_at: int | None = None) -> Bundle:
        if self.bundle is None:
            raise ValueError("a slim ItemEvidence has no bundle (EvidenceCache.get has)")
        return replace(self.bundle, chain=chain, scans=tuple(scans), source=source,
                       generated_at=int(time.time()) if generated_at is None else generated_at)

    def dumps(self, *, chain: ChainRef, scans: Sequence[ScanRecord], source: str | None,
              generated_at: int | None = None) -> bytes:
        """The public proof: the same JSON as `public_bundle(complete(...)).to_json()`,
        without re-encoding the events."""
        return orjson.dumps({
            "format": FORMAT, "version": VERSION, "code": self.code,
            "generatedAt": int(time.time()) if generated_at is None else generated_at,
            "source": source,
            "chain": {"chainId": chain.chain_id, "blockNumber": chain.block_number,
                      "contracts": dict(chain.contracts)},
            **self._fragments,
            "scans": [s.to_json() for s in scans],
        })


def _as_fragments(parts: dict[str, bytes | tuple[bytes, ...]]) -> dict[str, Any]:
    return {k: ([orjson.Fragment(e) for e in v] if isinstance(v, tuple) else orjson.Fragment(v))
            for k, v in parts.items()}


def _pieces(parts: dict[str, bytes | tuple[bytes, ...]]) -> list[bytes]:
    return [p for v in parts.values() for p in (v if isinstance(v, tuple) else (v,))]


class FragmentPool:
    """Encoded JSON pieces shared by the items an `EvidenceCache` holds: each distinct piece
    is kept once (items point at the pool's copy) and counted once in `bytes`, with the
    number of items holding it. The cans of one pallet share most of their proof (the
    pallet's and the consignment's events, their captures), so the cache holds several
    times more items in the same memory. Not thread-safe: the cache calls it under its lock."""

    def __init__(self) -> None:
        self._pieces: dict[bytes, list[Any]] = {}  # piece → [the pool's copy, holders]
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._pieces)

    def take(self, item: ItemEvidence) -> ItemEvidence:
        """`item` pointing at the pool's copies, each counted as held once more."""
        def shared(piece: bytes) -> bytes:
            entry = self._pieces.get(piece)
            if entry is None:
                entry = self._pieces[piece] = [piece, 0]
                self.bytes += len(piece)
            entry[1] += 1
            return entry[0]  # type: ignore[no-any-return]

        parts = {k: (tuple(shared(e) for e in v) if isinstance(v, tuple) else shared(v))
                 for k, v in item._parts.items()}
        return replace(item, _parts=parts, _fragments=_as_fragments(parts))

    def release(self, item: ItemEvidence) -> None:
        for piece in item.pieces():
            entry = self._pieces[piece]
            entry[1] -= 1
            if entry[1] == 0:
                del self._pieces[piece]
                self.bytes -= len(piece)


class EvidenceCache:
    """Assembled bundles per item code, valid while the store's `StoreVersion` is unchanged:
    a bundle served is at most `max_staleness` seconds behind committed state.

    Memory is bounded twice: the parsed bundles of the `max_items` items used last (for the
    page and anything that needs a `Bundle`), and the encoded JSON of as many items as fit in
    `max_bytes` (what a proof request is answered with, `peek`). An item past `max_items`
    keeps its JSON and drops its bundle; one past `max_bytes` is forgotten. The JSON is held
    in pieces (one per event, capture, customs entry...) in a `FragmentPool`, and `max_bytes`
    counts each piece once however many items share it. So a gateway
    whose shoppers scan tens of thousands of distinct codes answers them all from memory
    (a can's proof is tens of kB encoded, its parsed bundle several times that)."""

    def __init__(self, store: Any, *, max_staleness: float = 0.25, max_items: int = 1024,
                 max_bytes: int = 512 * 2**20,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.version = StoreVersion(store.engine, max_staleness=max_staleness, clock=clock)
        self.customs = CustomsIndex(store.engine)
        self.max_items = max_items
        self.max_bytes = max_bytes
        # code → (version, evidence, full or slim), least recently stored or used first
        self._items: OrderedDict[str, tuple[tuple[Any, ...], ItemEvidence]] = OrderedDict()
        self._full: OrderedDict[str, None] = OrderedDict()  # codes whose bundle is kept, LRU
        self._pool = FragmentPool()  # the encoded JSON of every item held, shared pieces once
        self._lock = threading.Lock()
        self._customs_at: tuple[Any, ...] | None = None
        self.hits = 0
        self.misses = 0

    @property
    def bytes_held(self) -> int:
        """Bytes of encoded JSON held, each piece shared by several items counted once."""
        return self._pool.bytes

    def __len__(self) -> int:
        return len(self._items)

    def peek(self, link: DigitalLink) -> ItemEvidence | None:
        """The item's evidence (perhaps slim: its JSON only) if it is cached and the version
        is fresh, without any I/O (for callers on an event loop); None means: call `get` off
        the loop."""
        version = self.version.cached()
        hit = self._items.get(link.canonical_uri())
        if version is None or hit is None or hit[0] != version:
            return None
        self.hits += 1
        return hit[1]

    def get(self, link: DigitalLink, chain: ChainRef, *, bundle: bool = True) -> ItemEvidence:
        """The item's evidence, assembled if it is not cached at the current version; with
        its bundle unless `bundle` is False (a slim copy will do for `dumps`)."""
        version = self.version.current()
        key = link.canonical_uri()
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and hit[0] == version and (hit[1].bundle is not None
                                                          or not bundle):
                self._items.move_to_end(key)
                if key in self._full:
                    self._full.move_to_end(key)
                self.hits += 1
                return hit[1]
        self.misses += 1
        if self._customs_at != version:
            self.customs.refresh()
            self._customs_at = version
        # Assembled after the version was read, so never older than the version it is kept
        # under; a change in between shows up at the next version read.
        item = ItemEvidence.of(assemble(self.store, key, chain=chain, scans=(),
                                        customs=self.customs, now=0))
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._pool.release(old[1])
            item = self._pool.take(item)
            self._items[key] = (version, item)
            self._full[key] = None
            self._full.move_to_end(key)
            while len(self._full) > self.max_items:
                code, _ = self._full.popitem(last=False)
                kept = self._items.get(code)
                if kept is not None and kept[1].bundle is not None:
                    self._items[code] = (kept[0], kept[1].slim())  # keeps its LRU place
            while self._pool.bytes > self.max_bytes and len(self._items) > 1:
                code, (_, gone) = self._items.popitem(last=False)
                self._pool.release(gone)
                self._full.pop(code, None)
        return item
