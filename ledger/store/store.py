"""The durable store: signed captures, their events, the anchoring outbox and batches.

`Store(url)` works on SQLite (the embedded default, WAL) and PostgreSQL with the same code. The
schema is `ledger.store.tables`, created and upgraded by Alembic (`Store.migrate()`).

Accepting a capture is one transaction: the capture row (signature fields and ordered event
ids, so every event's proof into the signed root can be rebuilt), the events not stored before
(idempotent by event id: the first capture that brought an event owns it), their EPC index rows
and an outbox row that queues the capture for anchoring. The same capture twice is one capture;
the same (org, nonce) with another digest is a replay and is refused.

The anchoring worker (`ledger.pipeline.anchoring`) drives batches through the `*_batch` methods; readers
see an event as `pending` until its capture's batch is `anchored`.

Leader election for the worker (`try_anchor_lease`): PostgreSQL takes a session advisory lock on
a dedicated connection; SQLite takes an exclusive `flock` on `<database file>.anchor-lock`. Both
are released by the operating system or the server when the holder dies (even by SIGKILL), so a
crashed leader never blocks its successor. An in-memory SQLite store is private to one process,
so its lease is a process-local lock.
"""

from __future__ import annotations

import base64
import fcntl
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import orjson
from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    false,
    func,
    insert,
    or_,
    select,
    text,
    union,
    update,
)
from sqlalchemy.exc import DataError as sqlalchemy_DataError
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.pool import StaticPool

from ledger.epcis.document import event_epcs
from ledger.epcis.master_data import MASTER_DATA
from ledger.epcis.measurements import MEASUREMENTS
from ledger.errors import ConflictError, InvalidInputError, LedgerError, NotFoundError
from ledger.proofs.capture import SignedCapture, events_tree
from ledger.proofs.merkle import MerkleTree, keccak256
from ledger.store import field_order, trace_index
from ledger.store import tables as t
from ledger.store.event_facts import (
    TEXT_LIMIT,
    FactFilter,
    declaration_facts,
    fact_rows,
    master_data_facts,
)
from ledger.store.sensor_index import (
    TYPE_LIMIT,
    UOM_LIMIT,
    SensorFilter,
    bare_type,
    sensor_facts,
    sensor_rows,
    unit_kind,
)

__all__ = [
    "AcceptResult", "AlreadyDeclaredError", "AnchorLease", "AnchorStatus", "BatchRecord",
    "CaptureRecord", "EventQuery", "INT64_MAX", "InvalidPageTokenError", "NonceReplayError",
    "PreparedCapture", "QueryTooLargeError", "Store", "StoredEvent", "UnknownEventError", "ValueOutOfRangeError",
    "canonical_epc", "commitments_by_id", "correction_rows", "declarations_by_id",
    "normalise_cbv",
    "normalise_reason", "page_token_after", "prepare_capture", "split_proof",
]

log = logging.getLogger("zhenzhi.store")

AnchorState = Literal["pending", "anchored"]

# Rows per executemany chunk and ids per IN (...): well under SQLite's variable limit.
_CHUNK = 500
_PG_LOCK_KEY = 0x7A68656E7A686901  # "zhenzhi" + 1: the anchoring leader's advisory lock
# The largest value of an integer column (SQLite INTEGER, PostgreSQL BIGINT). A signed uint64
# such as signedAt may exceed it: it is refused before it reaches a shared transaction.
INT64_MAX = 2**63 - 1


class NonceReplayError(ConflictError):
    """The organisation already used this nonce for a different capture."""

    slug = "nonce-replay"
    title = "Capture nonce already used"


class ValueOutOfRangeError(InvalidInputError):
    """A capture holds a value that its column cannot store (too large, too long)."""

    slug = "value-out-of-range"
    title = "A value does not fit the store"


class UnknownEventError(NotFoundError):
    slug = "unknown-event"
    title = "Unknown event"


class AlreadyDeclaredError(ConflictError):
    """A declared event was declared erroneous again, otherwise: the first declaration stands.
    The intake refuses it before the write; the store checks it again under its write lock,
    where two declarations captured at once meet."""

    slug = "already-declared"
    title = "The event was declared erroneous before, otherwise"


class InvalidPageTokenError(InvalidInputError):
    slug = "invalid-page-token"
    title = "Invalid page token"


class QueryTooLargeError(LedgerError):
    """EPCIS QueryTooLargeException: more events match than the query's `maxEventCount`
    allows (413, as the REST binding answers it)."""

    slug = "query-too-large"
    title = "Query result too large"
    status = 413

    def __init__(self, detail: str, **fields: Any) -> None:
        super().__init__(detail, **{"epcisException": "QueryTooLargeException", **fields})


# ---------------------------------------------------------------------------------------------
# Value objects


@dataclass(frozen=True, slots=True)
class AcceptResult:
    capture_id: str  # hex of the capture's EIP-712 digest
    new_event_ids: tuple[bytes, ...]
    duplicate_event_ids: tuple[bytes, ...]  # already stored (from this or another capture)
    duplicate: bool  # the very same capture was accepted before; nothing was written
    # events this capture declares erroneous (its events carrying `errorDeclaration`)
    declared_event_ids: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class CaptureRecord:
    """A stored capture as its capture job reports it."""

    capture_id: str
    signer: str
    org: bytes
    nonce: str  # uint64 as decimal text
    received_ms: int
    event_ids: tuple[bytes, ...]  # every signed id, in document order
    # signed ids stored neither by this capture nor an earlier one: what `proceed` left out
    left_out: tuple[bytes, ...]
    anchored: bool


@dataclass(frozen=True, slots=True)
class StoredEvent:
    event_id: bytes
    event: dict[str, Any]  # as captured
    capture_id: str
    record_time_ms: int
    anchor_state: AnchorState
    seq: int
    # the event's error declaration as captured (`error_declarations`), None if not declared
    error_declaration: dict[str, Any] | None = None

    @property
    def record_time(self) -> str:
        return _iso_ms(self.record_time_ms)

    def as_epcis(self) -> dict[str, Any]:
        """The event as a repository returns it: `recordTime` added, `eventID` its hash
        (whatever id its body names: the hash is the id, and the hash ignores `eventID`), and
        its `errorDeclaration` once one was accepted."""
        out = dict(self.event)
        out["eventID"] = f"ni:///sha-256;{self.event_id.hex()}?ver=CBV2.0"
        out["recordTime"] = self.record_time
        if self.error_declaration is not None:
            out["errorDeclaration"] = self.error_declaration
        return out


@dataclass(frozen=True, slots=True)
class AnchorStatus:
    """Everything a verifier needs for one event: event ∈ capture (signed), capture ∈ batch
    root (on chain). Proofs are sorted-pair sibling lists (`ledger.proofs.merkle.verify_proof`)."""

    event_id: bytes
    state: AnchorState
    capture_id: str
    # the signed capture: EIP-712 fields, the signature and who signed it
    digest: bytes
    signer: str
    org: bytes
    nonce: int
    signed_at: int
    events_root: bytes
    event_count: int
    signature: bytes
    event_index: int
    event_proof: list[bytes]  # event_leaf(commitment) ▶ events_root
    capture_leaf: bytes
    # the batch; None while pending (the batch may be built but not yet anchored)
    batch_root: bytes | None = None
    batch_index: int | None = None
    leaf_count: int | None = None
    capture_proof: list[bytes] = field(default_factory=list)  # capture_leaf ▶ batch_root
    tx_hash: bytes | None = None
    block_number: int | None = None
    anchored_at: int | None = None  # block timestamp, unix seconds
    # the event's disclosure commitment, the leaf's preimage (None: stored before 0006)
    commitment: bytes | None = None


@dataclass(frozen=True, slots=True)
class BatchRecord:
    id: int
    root: bytes
    leaf_count: int
    event_count: int
    meta_hash: bytes
    state: str
    tx_hash: bytes | None
    tx_nonce: int | None
    block_number: int | None
    anchored_at: int | None
    send_count: int


@dataclass(frozen=True)
class EventQuery:
    """EPCIS 2.0 simple-event-query parameters the gateway offers. Several values in one field
    mean any of them; fields combine with AND. Times are timezone-aware datetimes. EPC values
    match exactly, or by prefix when they end in `*`."""

    event_types: tuple[str, ...] = ()
    ge_event_time: datetime | None = None
    lt_event_time: datetime | None = None
    ge_record_time: datetime | None = None
    lt_record_time: datetime | None = None
    eq_biz_step: tuple[str, ...] = ()
    eq_disposition: tuple[str, ...] = ()
    eq_read_point: tuple[str, ...] = ()
    eq_biz_location: tuple[str, ...] = ()
    match_epc: tuple[str, ...] = ()  # epcList and childEPCs
    match_any_epc: tuple[str, ...] = ()  # any role but quantity classes
    match_parent_id: tuple[str, ...] = ()
    match_input_epc: tuple[str, ...] = ()
    match_output_epc: tuple[str, ...] = ()
    match_epc_class: tuple[str, ...] = ()
    eq_lot: tuple[str, ...] = ()
    eq_error_reason: tuple[str, ...] = ()  # declared with one of these reasons
    exists_error_declaration: bool = False  # declared erroneous
    # Sensor reports (`ledger.store.sensor_index`): a measurement type among `eq_type`, and
    # for each filter a report whose statistic compares so; with `eq_type`, of those types.
    eq_type: tuple[str, ...] = ()
    sensor: tuple[SensorFilter, ...] = ()
    # Inclusive/exclusive bounds the simple query language adds to GE_/LT_.
    gt_event_time: datetime | None = None
    le_event_time: datetime | None = None
    gt_record_time: datetime | None = None
    le_record_time: datetime | None = None
    # WD_readPoint / WD_bizLocation: the location or a descendant, by the hierarchy the event's
    # own signed master data declares (`event_facts.master_data_facts`, `within.<field>`).
    wd_read_point: tuple[str, ...] = ()
    wd_biz_location: tuple[str, ...] = ()
    match_input_epc_class: tuple[str, ...] = ()
    match_output_epc_class: tuple[str, ...] = ()
    match_any_epc_class: tuple[str, ...] = ()
    # EPCIS eventIDs: the CBV 2.0 hash this store keys events by (`ni:///sha-256;…`), or the
    # `eventID` an event was captured with.
    eq_event_id: tuple[str, ...] = ()
    ge_error_declaration_time: datetime | None = None
    lt_error_declaration_time: datetime | None = None
    eq_corrective_event_id: tuple[str, ...] = ()
    # Conditions on the event facts index (`ledger.store.event_facts`), ANDed.
    facts: tuple[FactFilter, ...] = ()
    # Order: by seq (insert order) when None; "eventTime", "recordTime" or a top-level
    # extension field (`example:temperature`, `ledger.store.field_order`), ascending or not.
    order_by: str | None = None
    order_desc: bool = True
    event_count_limit: int | None = None  # the first N matches in that order, then no more
    max_event_count: int | None = None  # more matches than this: QueryTooLargeError


class AnchorLease:
    """The anchoring leader's lock; `release()` it, or let process death release it."""

    def __init__(self, release: Any) -> None:
        self._release = release

    def release(self) -> None:
        if self._release is not None:
            self._release()
            self._release = None


# ---------------------------------------------------------------------------------------------
# Event fields


def _same(value: Any) -> Any:
    return value


def _bind_nulls_and_blobs_directly() -> None:
    """Python's sqlite3 binds int, float and str as they are, but sends every other parameter
    through its adapter lookup first, which for None and bytes finds nothing after three
    failed lookups: ~0.8 µs a parameter, ~5 µs of every stored event (its id, its absent
    fields, its trace rows). Registered identity adapters answer the first lookup. Nothing
    is bound differently (None is NULL, bytes a BLOB); the registry is process-wide, which
    is why the adapters change nothing."""
    import sqlite3

    for kind in (type(None), bytes):
        if sqlite3.adapters.get((kind, sqlite3.PrepareProtocol)) is None:
            sqlite3.register_adapter(kind, _same)


_LOGIN_NONCE = "siwe:"  # member-request nonces start with "0x<org>:"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _ms(dt: datetime) -> int:
    if dt.tzinfo is None:
        raise InvalidInputError("query times must carry a time zone", value=dt.isoformat())
    return int(dt.timestamp() * 1000)


_TIME_CACHE: dict[str, int] = {}


def _time_ms(value: Any, field_name: str) -> int:
    if not isinstance(value, str):
        raise InvalidInputError(f"{field_name} must be a date-time string", field=field_name)
    cached = _TIME_CACHE.get(value)
    if cached is not None:
        return cached
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInputError(f"{field_name} {value!r} is not an ISO 8601 date-time",
                                field=field_name) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)  # as ledger.epcis.event_hash reads it: no offset means UTC
    ms = int(dt.timestamp() * 1000)
    if len(_TIME_CACHE) < 100_000:  # event times repeat within a capture; bound the memo
        _TIME_CACHE[value] = ms
    return ms


_CBV_PREFIXES = (
    "urn:epcglobal:cbv:bizstep:", "urn:epcglobal:cbv:disp:",
    "https://ref.gs1.org/cbv/BizStep-", "https://ref.gs1.org/cbv/Disp-",
    "https://gs1.org/voc/BizStep-", "https://gs1.org/voc/Disp-",
)


def normalise_cbv(value: str | None) -> str | None:
    """A CBV bizStep or disposition as its bare term (`shipping`), however it was spelled;
    anything else (a user vocabulary IRI) unchanged. Queries go through the same function."""
    if value is None or ":" not in value:  # a bare term already (or no value)
        return value
    for prefix in _CBV_PREFIXES:
        if value.startswith(prefix):
            return value[len(prefix):]
    return value


_REASON_PREFIXES = ("urn:epcglobal:cbv:er:", "https://ref.gs1.org/cbv/ER-",
                    "http://ref.gs1.org/cbv/ER-", "https://gs1.org/voc/ER-", "gs1:ER-", "cbv:ER-")


def normalise_reason(value: str | None) -> str | None:
    """A CBV error reason as its bare term (`incorrect_data`), however it was spelled; a user
    vocabulary IRI unchanged. EQ_errorReason goes through the same function."""
    if value is None or ":" not in value:
        return value
    for prefix in _REASON_PREFIXES:
        if value.startswith(prefix):
            return value[len(prefix):]
    return value


def canonical_epc(value: str) -> str:
    """An EPC as the store indexes it (canonical Digital Link for GS1 keys, as `event_epcs`)."""
    found = event_epcs({"epcList": [value]})["epc"]
    return found[0] if found else value


def _epc_prefixes(pattern: str) -> list[tuple[str, str]]:
    """(kind, value) conditions for one MATCH_ value: ('eq', epc) or ('prefix', start).

    EPCs are stored canonical, so a query value is canonicalised the same way. A trailing `*`
    matches a prefix of what was written before it, in both spellings: an EPC pattern URN
    (`urn:epc:idpat:sgtin:0614141.107346.*`) names a GTIN, whose Digital Link then prefixes
    every serial; a URN or link cut short (`...107346.*`, `.../21/*`) prefixes its link."""
    if not pattern.endswith("*"):
        return [("eq", canonical_epc(pattern))]
    raw = pattern[:-1]
    out = [("prefix", raw)] if raw else []
    canon = canonical_epc(pattern)
    for star in ("%2A", "*"):
        if canon.endswith(star):
            out.append(("prefix", canon[:-len(star)]))
            break
    else:
        if canon != pattern:  # a class-level pattern: the key itself and everything below
            out += [("eq", canon), ("prefix", canon + "/")]
    return out


@lru_cache(maxsize=65536)
def _gtin14(body13: str) -> str:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body13)))
    return body13 + str((10 - total % 10) % 10)


_LGTIN = re.compile(r"urn:epc:class:lgtin:(\d+)\.(\d+)\.(.+)")
_SGTIN = re.compile(r"urn:epc:id:sgtin:(\d+)\.(\d+)\.")
_DL_GTIN = re.compile(r"https?://[^/]+(?:/.*?)?/01/(\d{14})(?:/10/([^/?#]+))?")


_ID_GTIN = "https://id.gs1.org/01/"


def _lot_end(link: str, start: int) -> int:
    """Where the lot that starts at `start` in a link ends: the next '/', '?' or '#'."""
    ends = [i for i in (link.find("/", start), link.find("?", start), link.find("#", start))
            if i >= 0]
    return min(ends) if ends else len(link)


def _gtin_lot(event: Mapping[str, Any], epcs: Mapping[str, list[str]]) -> tuple[str | None, str | None]:
    """(GTIN-14, lot) of an event: lot from ILMD lotNumber, an LGTIN class or a Digital Link
    /10/; GTIN from the same key or the first SGTIN / Digital Link EPC."""
    gtin = lot = None
    ilmd = event.get("ilmd")
    if isinstance(ilmd, Mapping):
        for key, value in ilmd.items():
            if (key == "lotNumber" or key.endswith(":lotNumber")) and isinstance(value, str):
                lot = value
                break
    for role in ("class", "output", "epc", "child", "input"):
        for epc in epcs.get(role, ()):
            if epc.startswith(_ID_GTIN) and epc[22:36].isdigit():
                # A canonical GTIN link (what `event_epcs` makes of SGTINs and LGTINs), read
                # as _DL_GTIN reads it, without the regular expression.
                gtin = gtin or epc[22:36]
                if epc.startswith("/10/", 36) and (end := _lot_end(epc, 40)) > 40:
                    lot = lot or epc[40:end]
            elif m := _LGTIN.match(epc):
                cp, ref, lot_part = m.groups()
                gtin = gtin or _gtin14(ref[:1] + cp + ref[1:])
                lot = lot or lot_part
            elif m := _DL_GTIN.match(epc):
                gtin = gtin or m.group(1)
                if m.group(2):
                    lot = lot or m.group(2)
            elif m := _SGTIN.match(epc):
                cp, ref = m.groups()
                gtin = gtin or _gtin14(ref[:1] + cp + ref[1:])
            if gtin and lot:
                return gtin, lot[:64]
    return gtin, lot[:64] if lot else None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _id_of(value: Any) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) else None


def declarations_by_id(engine: Engine, event_ids: Collection[bytes]) -> dict[bytes, dict[str, Any]]:
    """The accepted error declaration of each declared event among `event_ids`, by event id."""
    d = t.error_declarations
    out: dict[bytes, dict[str, Any]] = {}
    with engine.connect() as conn:
        for chunk in _chunks(sorted({bytes(i) for i in event_ids})):
            for r in conn.execute(select(d.c.event_id, d.c.body).where(d.c.event_id.in_(chunk))):
                out[bytes(r.event_id)] = orjson.loads(r.body)
    return out


def commitments_by_id(engine: Engine, event_ids: Collection[bytes]) -> dict[bytes, bytes]:
    """Each stored event's disclosure commitment (the preimage of its leaf in its capture's
    signed eventsRoot), by event id; unknown events, and events stored before revision 0006,
    are left out."""
    e, c = t.events, t.captures
    out: dict[bytes, bytes] = {}
    wanted = sorted({bytes(i) for i in event_ids})
    with engine.connect() as conn:
        for chunk in _chunks(wanted):
            for r in conn.execute(select(e.c.event_id, e.c.event_index, c.c.commitments)
                                  .select_from(e.join(c, c.c.id == e.c.capture_id))
                                  .where(e.c.event_id.in_(chunk))):
                if r.commitments:
                    at = 32 * r.event_index
                    out[bytes(r.event_id)] = bytes(r.commitments[at:at + 32])
    return out


def _event_ms(event: Mapping[str, Any]) -> int:
    try:
        return _time_ms(event.get("eventTime"), "eventTime")
    except InvalidInputError:  # a stored event was validated; order it first if not
        return 0


def split_proof(blob: bytes | None) -> list[bytes]:
    if not blob:
        return []
    return [bytes(blob[i:i + 32]) for i in range(0, len(blob), 32)]


def _chunks(seq: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i:i + size]


def batch_meta_hash(event_count: int) -> bytes:
    """`metaHash` anchored with a batch: commits to the number of events it covers."""
    return keccak256(b"zhenzhi.batch.v1" + event_count.to_bytes(8, "big"))


# ---------------------------------------------------------------------------------------------


class Store:
    """The store over one database URL (`sqlite:///path.db`, `postgresql+psycopg://...`)."""

    def __init__(self, url: str, *, echo: bool = False, background_checkpoint: bool = False,
                 checkpoint_interval: float = 0.2, wal_cap_bytes: int = 80 * 2**20) -> None:
        """`background_checkpoint` (file SQLite only): WAL checkpoints run on a thread of their
        own (every `checkpoint_interval` seconds) instead of inside whichever commit crosses
        SQLite's threshold. A checkpoint copies the WAL into the database and fsyncs it; in a
        commit it stalls that commit (and every capture waiting on it) for tens of
        milliseconds. For a long-lived writer such as the gateway; `close()` stops the thread.

        `wal_cap_bytes` (file SQLite): the hard cap on the WAL, held by the accept path itself
        (`_cap_wal`), whatever the scheduler does with the checkpoint thread. Above the
        thread's own restart threshold (64 MiB), so that normally the thread keeps the WAL
        short and the cap never costs a commit anything but a stat."""
        self.url = url
        self.dialect = url.split(":", 1)[0].split("+", 1)[0]
        self._memory = self.dialect == "sqlite" and (url in ("sqlite://", "sqlite:///:memory:")
                                                    or "mode=memory" in url)
        kwargs: dict[str, Any] = {"echo": echo}
        if self._memory:
            # One shared connection, or every checkout would see its own empty database.
            kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        elif self.dialect == "sqlite":
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs.update(pool_pre_ping=True)
        self.engine: Engine = create_engine(url, **kwargs)
        self._checkpointer: _Checkpointer | None = None
        if self.dialect == "sqlite":
            background_checkpoint = background_checkpoint and not self._memory
            self._configure_sqlite(self.engine, auto_checkpoint=not background_checkpoint)
            if background_checkpoint:
                self._checkpointer = _Checkpointer(self.engine.url.database,
                                                   turn=self._write_turn,
                                                   interval=checkpoint_interval)
        self._sql = _Sql(self.dialect)
        dbapi = self.engine.dialect.dbapi
        # The accept path runs on the driver's own cursor, whose errors SQLAlchemy does not
        # wrap: both spellings of each error are caught.
        self._integrity_errors = (IntegrityError, dbapi.IntegrityError)
        self._db_errors = (DBAPIError, dbapi.Error)
        # A value its column cannot hold: the driver's DataError (PostgreSQL: a number out of
        # range, a string too long) or, binding an integer past 64 bits, sqlite3's OverflowError.
        self._range_errors = (OverflowError, dbapi.DataError, sqlalchemy_DataError)
        self._memory_lock = threading.Lock()
        self._writer_lock = threading.Lock()
        self._writer: Any = None  # SQLite file stores: the accept path's own connection
        self._turn_path = (f"{self.engine.url.database}.write-turn"
                           if self.dialect == "sqlite" and not self._memory else None)
        self._wal_path = (f"{self.engine.url.database}-wal"
                          if self.dialect == "sqlite" and not self._memory else None)
        self._wal_cap = wal_cap_bytes
        self._wal_next_check = wal_cap_bytes  # raised after a truncation readers blocked
        self.wal_truncations = 0  # times the writer itself cut the WAL back (for the tests)

    @staticmethod
    def _configure_sqlite(engine: Engine, *, auto_checkpoint: bool = True) -> None:
        _bind_nulls_and_blobs_directly()
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # pysqlite's own transaction handling begins lazily at the first write, so two
            # writers that both read first deadlock (SQLITE_BUSY on upgrade). Take control:
            # autocommit at the driver, and BEGIN ourselves in `_on_begin`.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a power cut may lose the last commits but never corrupts; a
            # process crash (the fault tests' SIGKILL) loses nothing.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            # Page cache of 64 MiB (negative: KiB) and reads through a memory map: the event
            # indexes of a busy store stay in memory, so an insert touches no cold page.
            cur.execute("PRAGMA cache_size=-65536")
            cur.execute("PRAGMA mmap_size=268435456")
            cur.execute("PRAGMA temp_store=MEMORY")
            # A WAL that a burst grew past 256 MiB is cut back when it next starts over
            # (`_Checkpointer` restarts it from 64 MiB on, reusing the file).
            cur.execute("PRAGMA journal_size_limit=268435456")
            if not auto_checkpoint:
                cur.execute("PRAGMA wal_autocheckpoint=0")  # the `_Checkpointer` does it
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            # Writers take the write lock up front (IMMEDIATE) so they queue on busy_timeout
            # instead of failing mid-transaction; readers begin deferred and never block.
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._write_turn(), self.engine.connect() as conn:
            if self.dialect == "sqlite":
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    @contextmanager
    def _write_turn(self) -> Iterator[None]:
        """SQLite file stores: wait for the write lock in the kernel, not in SQLite's busy loop.

        SQLite's busy handler sleeps and polls (up to 100 ms a try). Against a writer that
        commits back to back (the gateway's committer under load) a polling process rarely
        finds the lock free: the anchoring worker's three short transactions per batch then
        waited seconds while captures kept coming. An exclusive `flock` taken around every
        write transaction by every Store is a queue instead: a blocked process is woken the
        moment the lock is released, while the committer is still preparing its next group.
        The SQLite lock is still what guarantees exclusion; this only orders the waiters. The
        OS drops the flock when a process dies, so a crash cannot leave it held."""
        if self._turn_path is None:
            yield
            return
        # A descriptor per turn: flock excludes per open file, so threads of one process
        # queue too.
        fd = os.open(self._turn_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the flock

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def close(self) -> None:
        with self._writer_lock:
            if self._writer is not None:
                self._writer.close()  # back to the pool, which dispose() then closes
                self._writer = None
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        self.engine.dispose()

    def optimize(self) -> None:
        """Refresh the planner's statistics, e.g. after a bulk load (`ANALYZE`). Without fresh
        statistics the planner may pick a low-selectivity index (biz_step) over a selective
        one (event_id, epc) once tables have grown from empty."""
        with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                # ANALYZE itself, sampled (analysis_limit: about that many rows per index) so
                # it stays quick on a large store. Not `PRAGMA optimize`: before SQLite 3.46 it
                # only analyses tables this very connection has queried, so on a fresh one
                # it does nothing.
                conn.exec_driver_sql("PRAGMA analysis_limit=1000")
                conn.exec_driver_sql("ANALYZE")
            else:
                # The store's own tables (in the search_path's schema), not the whole database:
                # one ANALYZE locks every relation it reads, and a database-wide one in a
                # database of many schemas (the tests': one per test) ran out of lock slots.
                quote = self.engine.dialect.identifier_preparer.quote
                names = ", ".join(quote(name) for name in t.metadata.tables)
                conn.exec_driver_sql(f"ANALYZE {names}")
            conn.commit()

    # -- schema --------------------------------------------------------------------------------

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema to `revision` with Alembic (default: the newest), creating it or
        upgrading, or downgrading when `revision` is older than the store's (idempotent)."""
        from alembic import command
        from alembic.config import Config
        from alembic.migration import MigrationContext
        from alembic.script import ScriptDirectory

        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        with self.engine.connect() as conn:
            cfg.attributes["connection"] = conn
            current = MigrationContext.configure(conn).get_current_revision()
            older = ({r.revision for r in ScriptDirectory.from_config(cfg)
                      .iterate_revisions(current, "base")} - {current} if current else set())
            if revision in older:
                command.downgrade(cfg, revision)
            else:
                command.upgrade(cfg, revision)
            conn.commit()

    @staticmethod
    def head_revision() -> str:
        """The newest schema revision this code knows (what `migrate()` brings a store to)."""
        from alembic.config import Config
        from alembic.script import ScriptDirectory

        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        return ScriptDirectory.from_config(cfg).get_current_head()

    def schema_revision(self) -> str | None:
        from alembic.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    # -- capture -------------------------------------------------------------------------------

    def accept_capture(self, capture: SignedCapture, *,
                       keep: Collection[int] | None = None) -> AcceptResult:
        """Store a signed capture and queue it for anchoring, in one transaction.

        `keep` (indices into `capture.event_ids`) stores only those events (the intake's
        `proceed` behaviour); the capture still records every signed id, so each kept event's
        proof into the signed root can be rebuilt. Raises `NonceReplayError` if the org already
        used the nonce for another capture."""
        (outcome,) = self.accept_captures([(capture, keep)])
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def accept_captures(self, items: Sequence[SignedCapture | PreparedCapture | tuple[
                            SignedCapture, Collection[int] | None]]
                        ) -> list[AcceptResult | Exception]:
        """Group commit: store many captures in one transaction, each as `accept_capture` would.

        `items` are captures, `(capture, keep)` pairs or `prepare_capture` results. Returns one outcome per item, in order:
        its `AcceptResult` once the transaction holding it has committed, or the exception that
        capture alone raised (`NonceReplayError`, `InvalidInputError`, ...). One bad capture
        never costs the others: input errors are found before the transaction and leave that
        capture out, and if the database refuses the group (a concurrent writer on PostgreSQL,
        say) every capture is retried in a transaction of its own.

        Within a group, captures are taken in order: the same capture twice is stored once
        (the second a `duplicate`), a second use of an (org, nonce) with another digest is a
        replay, and an event brought by two captures belongs to the first."""
        pending: list[PreparedCapture | Exception] = []
        for item in items:
            capture, keep = item if isinstance(item, tuple) else (item, None)  # type: ignore[misc]
            try:
                pending.append(capture if isinstance(capture, PreparedCapture)
                               else prepare_capture(capture, keep))
            except Exception as exc:  # noqa: BLE001 - it is this capture's outcome, not the group's
                pending.append(exc)
        outcomes: list[AcceptResult | Exception] = [p for p in pending]  # errors stay in place
        todo = [i for i, p in enumerate(pending) if isinstance(p, PreparedCapture)]
        if not todo:
            return outcomes
        try:
            done = self._accept_group([pending[i] for i in todo])  # type: ignore[misc]
        except Exception:  # noqa: BLE001 - the group's failure must not become each capture's
            # The group's transaction rolled back (a database error, or a value the driver
            # could not bind: SQLite raises OverflowError, not a database error). Which capture
            # the database objected to is not worth finding out in one go: each one again, in
            # a transaction of its own, gets its own verdict (and an IntegrityError its
            # retries), so one member's bad capture never fails the others'.
            if len(todo) > 1:
                log.warning("group commit of %d captures failed; committing each alone",
                            len(todo), exc_info=True)
            done = [self._accept_alone(pending[i]) for i in todo]  # type: ignore[arg-type]
        for i, outcome in zip(todo, done, strict=True):
            outcomes[i] = outcome
        return outcomes

    def _accept_alone(self, p: PreparedCapture) -> AcceptResult | Exception:
        for _attempt in range(3):
            try:
                return self._accept_group([p])[0]
            except self._integrity_errors:
                # A concurrent writer (PostgreSQL) stored the same capture or nonce between
                # our check and our insert: run again, and the check will see it.
                continue
            except self._range_errors as exc:
                # What `prepare_capture` checks should leave none; if a value still does not
                # fit (a column it does not know of), it is the sender's input, not our fault.
                return ValueOutOfRangeError(
                    f"capture {p.capture_id} holds a value the store cannot hold ({exc})",
                    capture_id=p.capture_id)
            except Exception as exc:  # noqa: BLE001 - this capture's own outcome
                return exc
        return ConflictError("capture kept conflicting with concurrent writes",
                             capture_id=p.capture_id)

    def _accept_group(self, group: Sequence[PreparedCapture]) -> list[AcceptResult | Exception]:
        """One transaction for `group` (prepared captures). Raises the database's error for
        the whole group; returns each capture's outcome once committed."""
        now = _now_ms()
        sqlite = self.dialect == "sqlite"
        # Rows, trace facts and outcomes as if every capture were new: work that needs no
        # database, done before taking the write lock that every writer queues for.
        plan = _plan(group, now, fold=sqlite)
        if sqlite and not self._memory:
            return self._accept_on_writer(group, now, plan)
        with self.engine.connect() as sa_conn:
            if sqlite:
                sa_conn = sa_conn.execution_options(sqlite_begin="IMMEDIATE")
            with sa_conn.begin():
                # The driver's own cursor, inside SQLAlchemy's transaction: the statements are
                # fixed strings (prepared once and cached by the driver), with none of
                # SQLAlchemy's per-statement compilation or per-row parameter processing.
                cur = sa_conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
                try:
                    return self._write_group(cur, group, now, plan)
                finally:
                    cur.close()

    def _accept_on_writer(self, group: Sequence[PreparedCapture], now: int, plan: _Plan
                          ) -> list[AcceptResult | Exception]:
        """SQLite: the group on this store's one writer connection, kept open.

        SQLite allows one writer at a time anyway, so a lock costs no concurrency here, and a
        connection of its own skips the pool checkout and SQLAlchemy's transaction bookkeeping
        (a third of a small group's cost)."""
        with self._writer_lock, self._write_turn():
            if self._writer is None:
                self._writer = self.engine.raw_connection()  # pragmas from `_on_connect`
            conn = self._writer.driver_connection
            cur = conn.cursor()
            try:
                cur.execute("BEGIN IMMEDIATE")
                try:
                    outcomes = self._write_group(cur, group, now, plan)
                    cur.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        cur.execute("ROLLBACK")
                    raise
                self._cap_wal(cur)
            finally:
                cur.close()
            return outcomes

    def _cap_wal(self, cur: Any) -> None:
        """Past `wal_cap_bytes`, cut the WAL back to nothing, here, on the writer.

        The checkpoint thread keeps the WAL short only if it is scheduled: on a busy machine
        commits can outrun it, and the WAL then grows with every commit. So after each commit
        the writer, still holding the write turn (no writer of any process can start), looks
        at the WAL's size, and past the cap checkpoints it with TRUNCATE: every frame copied,
        the file cut to zero. The WAL can then never be larger than the cap plus one commit's
        frames, by construction. A stat per commit is all it costs until then; the truncation
        (a few hundred ms) only happens when the thread fell behind.

        TRUNCATE waits for readers still on older snapshots and for a checkpoint in progress:
        a second, then once more up to ten. If that is still not enough (a reader holding an
        old snapshot that long), the cap is retried once the WAL has grown by another quarter
        of it, not at every commit."""
        try:
            size = os.stat(self._wal_path).st_size  # type: ignore[arg-type]
        except OSError:
            return
        if size <= self._wal_next_check:
            return
        busy = 1
        # First with a short wait; then, once, long enough for the checkpoint thread's own
        # passive checkpoint of a large WAL to finish on a slow machine (it holds the
        # checkpoint lock meanwhile, and was what kept the cap from holding in CI).
        for wait_ms in (1000, 10_000):
            cur.execute(f"PRAGMA busy_timeout={wait_ms}")
            try:
                busy, _frames, _copied = cur.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            finally:
                cur.execute("PRAGMA busy_timeout=30000")
            if not busy:
                break
        if busy:
            log.warning("WAL at %d MiB, past its cap, could not be truncated: a reader holds "
                        "an old snapshot", size >> 20)
            self._wal_next_check = size + self._wal_cap // 4
        else:
            self.wal_truncations += 1
            self._wal_next_check = self._wal_cap

    def _write_group(self, cur: Any, group: Sequence[PreparedCapture], now: int,
                     plan: _Plan | None = None) -> list[AcceptResult | Exception]:
        sql = self._sql
        # Captures already stored, by digest or by (org, nonce). Superset by org × nonce,
        # narrowed here: both columns lead the unique index, so this is index lookups only.
        digests = list({p.capture.digest for p in group})
        known_digest: dict[bytes, str] = {}
        used_nonce: dict[tuple[bytes, str], tuple[str, bytes]] = {}
        for chunk in _chunks(digests):
            cur.execute(sql.in_("SELECT id, digest, org, nonce FROM captures WHERE digest", chunk),
                        sql.in_args(chunk))
            for cid, digest, org, nonce in cur.fetchall():
                known_digest[bytes(digest)] = cid
                used_nonce[(bytes(org), nonce)] = (cid, bytes(digest))
        orgs = list({p.capture.signature.org for p in group})
        nonces = list({p.nonce for p in group})
        for org_chunk in _chunks(orgs, 50):
            for nonce_chunk in _chunks(nonces, 400):
                cur.execute(sql.in2("SELECT id, digest, org, nonce FROM captures WHERE org",
                                    org_chunk, "nonce", nonce_chunk),
                            sql.in_args(org_chunk) + sql.in_args(nonce_chunk))
                for cid, digest, org, nonce in cur.fetchall():
                    used_nonce[(bytes(org), nonce)] = (cid, bytes(digest))

        # Declarations already stored for the events this group declares erroneous.
        declared: dict[bytes, Any] = {}
        targets = list({row[0] for p in group for row in p.declarations})
        for chunk in _chunks(targets):
            cur.execute(sql.in_("SELECT event_id, body FROM error_declarations WHERE event_id",
                                chunk), sql.in_args(chunk))
            declared.update((bytes(eid), orjson.loads(body)) for eid, body in cur.fetchall())
        stored_before = set(declared)

        outcomes: list[AcceptResult | Exception] = []
        fresh: list[PreparedCapture] = []
        for p in group:
            cap, sig = p.capture, p.capture.signature
            owner = used_nonce.get((sig.org, p.nonce))
            if owner is not None and owner[1] != cap.digest:
                outcomes.append(NonceReplayError(
                    f"organisation 0x{sig.org.hex()} already used nonce {sig.nonce} for "
                    f"capture {owner[0]}", org="0x" + sig.org.hex(), nonce=sig.nonce,
                    capture_id=owner[0]))
                continue
            if cap.digest in known_digest:
                outcomes.append(AcceptResult(p.capture_id, (), tuple(p.wanted), True))
                continue
            mine = [(row[0], orjson.loads(row[6])) for row in p.declarations]
            clash = next(((eid, declared[eid]) for eid, body in mine
                          if eid in declared and declared[eid] != body), None)
            if clash is not None:
                outcomes.append(AlreadyDeclaredError(
                    f"event ni:///sha-256;{clash[0].hex()}?ver=CBV2.0 was declared erroneous "
                    "before, otherwise; the first declaration stands",
                    eventID=f"ni:///sha-256;{clash[0].hex()}?ver=CBV2.0",
                    errorDeclaration=clash[1]))
                continue
            for eid, body in mine:
                declared.setdefault(eid, body)
            # Later captures of this group see this one as stored.
            known_digest[cap.digest] = p.capture_id
            used_nonce[(sig.org, p.nonce)] = (p.capture_id, cap.digest)
            fresh.append(p)
            outcomes.append(None)  # type: ignore[arg-type]  # filled in below
        if not fresh:
            return outcomes

        # Every event of the fresh captures once (the first capture of the group to bring it
        # offers it), inserted with ON CONFLICT DO NOTHING: an event stored before, or by a
        # concurrent writer on PostgreSQL, stays its first writer's. Which rows went in is
        # learnt afterwards, not asked before: on SQLite a full insert says so itself, and
        # then the plan made before the lock holds as it is.
        if plan is None or plan.capture_ids != [p.capture_id for p in fresh]:
            plan = _plan(fresh, now, fold=False)  # some were stored already: plan again
        # Parents first: events name their capture, EPC rows their event.
        cur.executemany(sql.insert_captures, plan.capture_rows)
        if plan.declaration_rows:
            # First declaration of an event wins (the intake refuses a different second one).
            cur.executemany(sql.insert_declarations, plan.declaration_rows)
            if plan.correction_rows:
                cur.executemany(sql.insert_corrections, plan.correction_rows)
        results = plan.results
        if plan.event_rows:
            base = self._max_seq(cur) if sql.sqlite else None
            cur.executemany(sql.insert_events, plan.event_rows)
            if base is not None and self._all_inserted(cur, base, len(plan.event_rows)):
                # Every offered event is this transaction's, at seq base + its position.
                cur.executemany(sql.insert_epcs, [(base + pos, role, epc)
                                                  for pos, role, epc in plan.epc_rows])
                if plan.reading_rows:
                    cur.executemany(sql.insert_readings, [(base + pos, *rest)
                                                          for pos, *rest in plan.reading_rows])
                if plan.fact_rows:
                    cur.executemany(sql.insert_facts, [(base + pos, *rest)
                                                       for pos, *rest in plan.fact_rows])
                folded = (plan.folded if plan.folded is not None
                          else trace_index.fold(_at_positions(plan)))
                trace_index.write(cur, self.dialect, folded, seq_base=base)
            else:
                rows = trace_index.stored_events(cur, self.dialect,
                                                 [r[0] for r in plan.event_rows])
                # A row of this transaction carries the capture that offered it; one stored
                # before carries another (a capture already stored never gets this far).
                mine = {pos: (ix, rows[ix[0]]) for pos, ix in enumerate(plan.offered, 1)
                        if ix[0] in rows and rows[ix[0]].capture_id == ix[1]}
                cur.executemany(sql.insert_epcs, [(mine[pos][1].seq, role, epc)
                                                  for pos, role, epc in plan.epc_rows
                                                  if pos in mine])
                readings = [(mine[pos][1].seq, *rest) for pos, *rest in plan.reading_rows
                            if pos in mine]
                if readings:
                    cur.executemany(sql.insert_readings, readings)
                facts = [(mine[pos][1].seq, *rest) for pos, *rest in plan.fact_rows
                         if pos in mine]
                if facts:
                    cur.executemany(sql.insert_facts, facts)
                trace_index.index_events(cur, self.dialect, mine.values())  # same transaction
                results = _results(fresh, {ix[0] for ix, _row in mine.values()})
        if plan.declaration_rows:
            # After the events: a declaration's facts go under its event's seq, and the event
            # may be one this very group stores.
            self._write_declaration_facts(cur, sql, plan.declaration_rows, stored_before)
        cur.executemany(sql.insert_outbox, plan.outbox_rows)
        it = iter(results)
        return [o if o is not None else next(it) for o in outcomes]

    @staticmethod
    def _write_declaration_facts(cur: Any, sql: _Sql, rows: Sequence[tuple[Any, ...]],
                                 stored_before: set[bytes]) -> None:
        """The event facts of the declarations among `rows` that this transaction stored (the
        first of an event not declared before), under their declared events' seqs: the
        `<op>_[INNER_]ERROR_DECLARATION_<field>` parameters read them. A declaration of an
        event not stored has none (the intake refuses those)."""
        facts: dict[bytes, list[Any]] = {}
        for row in rows:
            eid = row[0]
            if eid not in stored_before and eid not in facts:
                facts[eid] = declaration_facts(orjson.loads(row[6]))
        wanted = [eid for eid, found in facts.items() if found]
        out: list[tuple[Any, ...]] = []
        for chunk in _chunks(wanted):
            cur.execute(sql.in_("SELECT seq, event_id FROM events WHERE event_id", chunk),
                        sql.in_args(chunk))
            for seq, eid in cur.fetchall():
                out.extend((seq, *fact) for fact in facts[bytes(eid)])
        if out:
            cur.executemany(sql.insert_facts, out)

    @staticmethod
    def _max_seq(cur: Any) -> int:
        cur.execute("SELECT coalesce(max(seq), 0) FROM events")
        return int(cur.fetchone()[0])

    def _all_inserted(self, cur: Any, base: int, n: int) -> bool:
        """SQLite, under the write lock, after inserting `n` event rows when the largest seq
        was `base`: did every row go in, at base+1 … base+n in insertion order? Yes if the
        insert counted `n` rows and the largest seq grew by exactly `n` (SQLite gives a new row
        the largest rowid plus one). Anything else (a conflict skipped a row): no, and the
        caller reads back what it stored."""
        return bool(cur.rowcount == n and self._max_seq(cur) == base + n)

    # -- reads ---------------------------------------------------------------------------------

    def _event_select(self) -> Any:
        e, c, b, d = t.events, t.captures, t.batches, t.error_declarations
        anchored = and_(b.c.id.is_not(None), b.c.state == "anchored")
        return (select(e.c.seq, e.c.event_id, e.c.body, e.c.capture_id, e.c.record_time_ms,
                       e.c.event_time_ms, anchored.label("anchored"), d.c.body.label("declaration"))
                .select_from(e.join(c, c.c.id == e.c.capture_id)
                             .outerjoin(b, b.c.id == c.c.batch_id)
                             .outerjoin(d, d.c.event_id == e.c.event_id)))

    @staticmethod
    def _stored(row: Any) -> StoredEvent:
        return StoredEvent(event_id=bytes(row.event_id), event=orjson.loads(row.body),
                           capture_id=row.capture_id, record_time_ms=row.record_time_ms,
                           anchor_state="anchored" if row.anchored else "pending", seq=row.seq,
                           error_declaration=(orjson.loads(row.declaration)
                                              if row.declaration is not None else None))

    def declaration_targets(self, event_ids: Collection[bytes]
                            ) -> dict[bytes, tuple[bytes, dict[str, Any] | None]]:
        """For each stored event among `event_ids`: the organisation that signed the capture
        storing it, and its error declaration if one was accepted (None if not)."""
        e, c, d = t.events, t.captures, t.error_declarations
        found: dict[bytes, tuple[bytes, dict[str, Any] | None]] = {}
        with self._read() as conn:
            for chunk in _chunks(list(dict.fromkeys(bytes(i) for i in event_ids))):
                for r in conn.execute(
                        select(e.c.event_id, c.c.org, d.c.body)
                        .select_from(e.join(c, c.c.id == e.c.capture_id)
                                     .outerjoin(d, d.c.event_id == e.c.event_id))
                        .where(e.c.event_id.in_(chunk))):
                    found[bytes(r[0])] = (bytes(r[1]),
                                          orjson.loads(r[2]) if r[2] is not None else None)
        return found

    def get_capture(self, capture_id: str) -> CaptureRecord | None:
        """A stored capture and what became of its events (None: no such capture)."""
        c, e, b = t.captures, t.events, t.batches
        with self._read() as conn:
            row = conn.execute(
                select(c.c.signer, c.c.org, c.c.nonce, c.c.event_ids, c.c.received_ms,
                       b.c.state)
                .select_from(c.outerjoin(b, b.c.id == c.c.batch_id))
                .where(c.c.id == capture_id)).first()
            if row is None:
                return None
            ids = tuple(split_proof(row.event_ids))
            found: set[bytes] = set()
            for chunk in _chunks(ids):
                found.update(bytes(r[0]) for r in conn.execute(
                    select(e.c.event_id).where(e.c.event_id.in_(chunk))))
        return CaptureRecord(
            capture_id=capture_id, signer=row.signer, org=bytes(row.org), nonce=row.nonce,
            received_ms=row.received_ms, event_ids=ids,
            left_out=tuple(i for i in dict.fromkeys(ids) if i not in found),
            anchored=row.state == "anchored")

    def get_event(self, event_id: bytes) -> StoredEvent | None:
        with self._read() as conn:
            row = conn.execute(self._event_select().where(t.events.c.event_id == event_id)).first()
        return self._stored(row) if row else None

    def commitments_of(self, event_ids: Collection[bytes]) -> dict[bytes, bytes]:
        """`commitments_by_id` in this store."""
        return commitments_by_id(self.engine, event_ids)

    def count_events(self) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(t.events)).scalar_one())

    def events_for_epc(self, epc: str, roles: Collection[str] | None = None) -> list[StoredEvent]:
        """Every event naming `epc` (a trailing `*` matches a prefix) in any of `roles` (default:
        all), in event-time order."""
        cond = self._epc_condition([epc], tuple(roles) if roles else t.EPC_ROLES)
        with self._read() as conn:
            rows = conn.execute(self._event_select().where(cond)
                                .order_by(t.events.c.event_time_ms, t.events.c.seq)).all()
        return [self._stored(r) for r in rows]

    def events_for_epcs(self, epcs: Collection[str], roles: Collection[str] | None = None
                        ) -> list[StoredEvent]:
        """Every event naming any of `epcs` (exact identifiers) in any of `roles`, in
        event-time order, each once; a few hundred identifiers per query."""
        roles_ = tuple(roles) if roles else t.EPC_ROLES
        found: dict[int, Any] = {}
        with self._read() as conn:
            for chunk in _chunks(sorted(set(epcs)), 200):
                for r in conn.execute(self._event_select().where(
                        self._epc_condition(list(chunk), roles_))):
                    found[r.seq] = r
        return sorted((self._stored(r) for r in found.values()),
                      key=lambda e: (_event_ms(e.event), e.seq))

    def events_with_ids(self, event_ids: Collection[bytes]) -> list[StoredEvent]:
        """The stored events among `event_ids`, in the order given (absent ones left out)."""
        found: dict[bytes, StoredEvent] = {}
        with self._read() as conn:
            for chunk in _chunks(list(dict.fromkeys(bytes(i) for i in event_ids))):
                for r in conn.execute(self._event_select().where(t.events.c.event_id.in_(chunk))):
                    found[bytes(r.event_id)] = self._stored(r)
        return [found[bytes(i)] for i in dict.fromkeys(event_ids) if bytes(i) in found]

    @staticmethod
    def _epc_condition(values: Sequence[str], roles: Sequence[str]) -> Any:
        ee = t.event_epcs
        matches = []
        for value in values:
            for kind, epc in _epc_prefixes(value):
                if kind == "eq":
                    matches.append(ee.c.epc == epc)
                else:
                    # A range, not LIKE: both databases then use the (epc, role) index, and
                    # no LIKE metacharacter in an EPC can widen the match.
                    matches.append(and_(ee.c.epc >= epc, ee.c.epc < epc + "\U0010ffff"))
        # An uncorrelated `seq IN (...)`: the planner reads the matching EPC rows from their
        # index first and fetches each event by seq. The correlated EXISTS it replaces was
        # planned as a scan of every event with a probe each (27 ms at 20,000 events, and
        # linear: over a second per call at 1,000,000).
        return t.events.c.seq.in_(select(ee.c.seq).where(ee.c.role.in_(list(roles)),
                                                         or_(*matches)))

    def query_events(self, filters: EventQuery, per_page: int = 100,
                     page_token: str | None = None) -> tuple[list[StoredEvent], str | None]:
        """Events matching `filters`, `per_page` at a time, in insert order (≈ recordTime) or
        in `filters.order_by` order; pass the returned token for the next page (None: no
        more). QueryTooLargeError when more than `filters.max_event_count` events match."""
        if not 1 <= per_page <= 10_000:
            raise InvalidInputError("per_page must be between 1 and 10000", per_page=per_page)
        e = t.events
        f = filters
        conds = self._conditions(f)
        order = _ORDER.get(f.order_by or "")
        by_field = f.order_by is not None and order is None
        if by_field and not field_order.is_field(f.order_by or ""):
            raise InvalidInputError(
                f"orderBy {f.order_by!r}: eventTime, recordTime or an extension field "
                f"prefix:name of at most {field_order.FIELD_LIMIT} characters",
                orderBy=(f.order_by or "")[:300])
        driver = _driver(f.facts) if f.order_by is None else None
        if f.max_event_count is not None:
            # Counted up to one past the bound: the index entries read stop there.
            over = select(e.c.seq).where(*conds).limit(f.max_event_count + 1).subquery()
            with self._read() as conn:
                n = conn.execute(select(func.count()).select_from(over)).scalar_one()
            if n > f.max_event_count:
                raise QueryTooLargeError(
                    f"more than maxEventCount={f.max_event_count} events match the query",
                    maxEventCount=f.max_event_count)
        # In insert order, an equality on the facts index reads that index in seq order and
        # stops after a page, however many events match (EQ_action=OBSERVE is most of them):
        # as `seq IN (…)` the database would list every match first.
        x = t.event_facts.alias("driver")
        seq = x.c.seq if driver is not None else e.c.seq
        if driver is not None:
            conds = self._conditions(f, skip=driver)
            conds.append(x.c.key == driver.key)
            # `has:` rows have no text: `IS NULL` makes it an equality the index is in seq
            # order under.
            conds.append(x.c.text == driver.texts[0] if driver.op == "EQ"
                         else x.c.text.is_(None))
        desc = f.order_desc and f.order_by is not None
        served = 0
        after: field_order.FieldPosition | None = None
        if page_token:
            position = _decode_token(page_token)
            if (position.order, position.desc) != (f.order_by, desc):
                raise InvalidPageTokenError("the page token belongs to a query in another "
                                            "order", token=page_token[:100])
            served = position.served
            if by_field:
                after = position.field
            elif order is None:
                conds.append(seq > position.seq)
            else:
                column = e.c[order]
                if desc:
                    conds.append(or_(column < position.key, and_(
                        column == position.key, e.c.seq < position.seq)))
                else:
                    conds.append(or_(column > position.key, and_(
                        column == position.key, e.c.seq > position.seq)))
        limit = per_page
        if f.event_count_limit is not None:
            limit = min(per_page, f.event_count_limit - served)
            if limit <= 0:
                return [], None
        if by_field:
            return self._page_by_field(f, conds, after, served, limit)
        if order is None:
            keys: list[Any] = [e.c.seq]
        elif desc:
            keys = [e.c[order].desc(), e.c.seq.desc()]
        else:
            keys = [e.c[order], e.c.seq]
        page_keys = [seq] if order is None else keys
        # The page's seqs first, then its events: a filter whose index is not in seq order (an
        # eventTime window) sorts its matches before the LIMIT applies, and sorting whole
        # events (bodies included) made a 20,000-match window's first page 37 ms at 1,000,000
        # events (bench.params), sorting their seqs alone a few.
        page = (select(seq).select_from(x.join(e, e.c.seq == x.c.seq) if driver is not None
                                        else e)
                .where(*conds).order_by(*page_keys).limit(limit + 1))
        stmt = self._event_select().where(e.c.seq.in_(page.scalar_subquery())
                                          ).order_by(*keys)
        with self._read() as conn:
            rows = conn.execute(stmt).all()
        more = len(rows) > limit
        rows = rows[:limit]
        served += len(rows)
        if f.event_count_limit is not None and served >= f.event_count_limit:
            more = False
        token = None
        if more:
            last = rows[-1]
            token = (_encode_token(last.seq) if order is None else
                     _encode_position(f.order_by or "", desc, getattr(last, order), last.seq,
                                      served))
        return [self._stored(r) for r in rows], token

    def _within(self, column: Any, key: str, wanted: tuple[str, ...]) -> Any:
        """WD_: the location itself, or a descendant by the event's own signed master data
        (`within.<field>` facts name its ancestors). Where no event places anything inside the
        locations asked (one probe of the facts index), that is the column's equality, which
        reads its index in seq order and stops at a page. Otherwise the union of the two index
        reads: every match is listed before the page is cut (as `OR`, SQLite scanned events)."""
        x = t.event_facts.c
        inside = select(x.seq).where(x.key == key, x.text.in_(wanted))
        with self._read() as conn:
            nested = conn.execute(inside.limit(1)).first() is not None
        if not nested:
            return column.in_(wanted)
        return t.events.c.seq.in_(union(select(t.events.c.seq).where(column.in_(wanted)),
                                        inside))

    def _page_by_field(self, f: EventQuery, conds: list[Any],
                       after: field_order.FieldPosition | None, served: int, limit: int
                       ) -> tuple[list[StoredEvent], str | None]:
        """A page of `query_events` in the order of the extension field `f.order_by`: the
        positions from the facts index (`ledger.store.field_order`), then those events."""
        with self._read() as conn:
            if self.dialect == "postgresql":
                # The page is a range of an index in its own order. PostgreSQL's planner takes
                # the field's key and `num IS NOT NULL` as independent and so may expect a
                # few dozen rows where there are thousands: it then read them all, probed
                # each, and sorted them (13 ms at 2,000 values, linear). This transaction only.
                conn.exec_driver_sql("SET LOCAL enable_sort = off")
            walked = field_order.page(conn, f.order_by or "", f.order_desc, conds, after,
                                      limit + 1, self._code_point)
            found: dict[int, Any] = {}
            for chunk in _chunks([w.seq for w in walked[:limit]]):
                for r in conn.execute(self._event_select().where(t.events.c.seq.in_(chunk))):
                    found[r.seq] = r
        rows = [found[w.seq] for w in walked[:limit]]
        served += len(rows)
        more = len(walked) > limit
        if f.event_count_limit is not None and served >= f.event_count_limit:
            more = False
        token = (_encode_field_position(f.order_by or "", f.order_desc, walked[limit - 1],
                                        served) if more else None)
        return [self._stored(r) for r in rows], token

    def _code_point(self, column: Any) -> Any:
        """`column` compared by code point, as EPCIS orders strings: SQLite's own (BINARY) on
        UTF-8; PostgreSQL's database collation may be a language's, so "C" is named."""
        return column if self.dialect == "sqlite" else column.collate("C")

    def _conditions(self, f: EventQuery, skip: FactFilter | None = None) -> list[Any]:
        """The WHERE conditions of `f` on `events`: columns of events, or `seq IN (…)` /
        `event_id IN (…)` over an index table (EPCs, sensor readings, facts, declarations)."""
        e = t.events
        conds: list[Any] = []
        if f.event_types:
            conds.append(e.c.event_type.in_(f.event_types))
        for column, bound, op in ((e.c.event_time_ms, f.ge_event_time, "GE"),
                                  (e.c.event_time_ms, f.gt_event_time, "GT"),
                                  (e.c.event_time_ms, f.lt_event_time, "LT"),
                                  (e.c.event_time_ms, f.le_event_time, "LE"),
                                  (e.c.record_time_ms, f.ge_record_time, "GE"),
                                  (e.c.record_time_ms, f.gt_record_time, "GT"),
                                  (e.c.record_time_ms, f.lt_record_time, "LT"),
                                  (e.c.record_time_ms, f.le_record_time, "LE")):
            if bound is not None:
                conds.append(_compare(column, op, _ms(bound)))
        if f.eq_biz_step:
            conds.append(e.c.biz_step.in_([normalise_cbv(v) for v in f.eq_biz_step]))
        if f.eq_disposition:
            conds.append(e.c.disposition.in_([normalise_cbv(v) for v in f.eq_disposition]))
        if f.eq_read_point:
            conds.append(e.c.read_point.in_(f.eq_read_point))
        if f.eq_biz_location:
            conds.append(e.c.biz_location.in_(f.eq_biz_location))
        for column, wanted, key in ((e.c.read_point, f.wd_read_point, "within.readPoint"),
                                    (e.c.biz_location, f.wd_biz_location, "within.bizLocation")):
            if wanted:
                conds.append(self._within(column, key, wanted))
        if f.eq_lot:
            conds.append(e.c.lot.in_(f.eq_lot))
        d = t.error_declarations
        if f.eq_error_reason or f.exists_error_declaration:
            declared = select(d.c.event_id)
            if f.eq_error_reason:
                declared = declared.where(d.c.reason.in_(
                    [normalise_reason(v) for v in f.eq_error_reason]))
            conds.append(e.c.event_id.in_(declared))
        for bound, op in ((f.ge_error_declaration_time, "GE"),
                          (f.lt_error_declaration_time, "LT")):
            if bound is not None:
                conds.append(e.c.event_id.in_(select(d.c.event_id).where(
                    _compare(d.c.declaration_time_ms, op, _ms(bound)))))
        if f.eq_corrective_event_id:
            dc = t.declaration_corrections
            conds.append(e.c.event_id.in_(select(dc.c.event_id).where(
                dc.c.corrective_id.in_(f.eq_corrective_event_id))))
        if f.eq_event_id:
            conds.append(_event_id_condition(f.eq_event_id))
        if f.eq_type or f.sensor:
            conds.extend(_sensor_conditions(f.eq_type, f.sensor))
        for values, roles in ((f.match_epc, ("epc", "child")),
                              (f.match_any_epc, ("epc", "child", "parent", "input", "output")),
                              (f.match_parent_id, ("parent",)),
                              (f.match_input_epc, ("input",)),
                              (f.match_output_epc, ("output",)),
                              (f.match_any_epc_class, ("class",))):
            if values:
                conds.append(self._epc_condition(values, roles))
        for values, key in ((f.match_epc_class, "epcClass"),
                            (f.match_input_epc_class, "inputEPCClass"),
                            (f.match_output_epc_class, "outputEPCClass")):
            if values:
                conds.append(_fact_epc_condition(key, values))
        conds.extend(_fact_condition(x) for x in f.facts if x is not skip)
        return conds

    # -- anchoring status ----------------------------------------------------------------------

    def anchor_status(self, event_id: bytes) -> AnchorStatus | None:
        """Proofs and anchoring facts for one stored event; None if the event is unknown."""
        e, c, b = t.events, t.captures, t.batches
        stmt = (select(e.c.event_index, c, b.c.root, b.c.state, b.c.leaf_count, b.c.tx_hash,
                       b.c.block_number, b.c.anchored_at)
                .select_from(e.join(c, c.c.id == e.c.capture_id)
                             .outerjoin(b, b.c.id == c.c.batch_id))
                .where(e.c.event_id == event_id))
        with self._read() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            return None
        # Signed over commitments since 0006; a capture stored before, over its bare ids.
        leaves = split_proof(row.commitments if row.commitments else row.event_ids)
        anchored = row.state == "anchored"
        return AnchorStatus(
            event_id=event_id, state="anchored" if anchored else "pending",
            capture_id=row.id, digest=bytes(row.digest), signer=row.signer, org=bytes(row.org),
            nonce=int(row.nonce), signed_at=row.signed_at, events_root=bytes(row.events_root),
            event_count=row.event_count, signature=bytes(row.signature),
            event_index=row.event_index, event_proof=events_tree(leaves).proof(row.event_index),
            capture_leaf=bytes(row.leaf),
            batch_root=bytes(row.root) if anchored else None,
            batch_index=row.batch_index if anchored else None,
            leaf_count=row.leaf_count if anchored else None,
            capture_proof=split_proof(row.batch_proof) if anchored else [],
            tx_hash=bytes(row.tx_hash) if anchored else None,
            block_number=row.block_number if anchored else None,
            anchored_at=row.anchored_at if anchored else None,
            commitment=leaves[row.event_index] if row.commitments else None,
        )

    def require_anchor_status(self, event_id: bytes) -> AnchorStatus:
        status = self.anchor_status(event_id)
        if status is None:
            raise UnknownEventError(f"no event 0x{event_id.hex()}", event_id="0x" + event_id.hex())
        return status

    def pending_count(self) -> tuple[int, int]:
        """(captures, events) accepted but not yet anchored."""
        with self._read() as conn:
            row = conn.execute(select(func.count(), func.coalesce(func.sum(
                t.outbox.c.event_count), 0))).first()
        return int(row[0]), int(row[1])

    # -- anchoring worker API ------------------------------------------------------------------

    def oldest_pending_ms(self) -> int | None:
        """When the oldest capture not yet in a batch was queued (None: none waiting)."""
        with self._read() as conn:
            return conn.execute(select(func.min(t.outbox.c.enqueued_ms))
                                .where(t.outbox.c.batch_id.is_(None))).scalar()

    def unbatched_count(self) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(t.outbox)
                                    .where(t.outbox.c.batch_id.is_(None))).scalar_one())

    def build_batch(self, max_captures: int) -> BatchRecord | None:
        """Cut the next batch from the outbox, oldest first, and persist it ('built') with every
        capture's leaf index and proof, in one transaction. A capture enters one batch only."""
        o, c = t.outbox, t.captures
        with self._write() as conn:
            rows = conn.execute(
                select(o.c.capture_id, o.c.event_count, c.c.leaf)
                .join(c, c.c.id == o.c.capture_id)
                .where(o.c.batch_id.is_(None)).order_by(o.c.seq).limit(max_captures)).all()
            if not rows:
                return None
            tree = MerkleTree.build([bytes(r.leaf) for r in rows])
            events = sum(r.event_count for r in rows)
            meta = batch_meta_hash(events)
            batch_id = conn.execute(insert(t.batches).values(
                root=tree.root, leaf_count=len(rows), event_count=events, meta_hash=meta,
                state="built", created_ms=_now_ms()).returning(t.batches.c.id)).scalar_one()
            ids = [r.capture_id for r in rows]
            for chunk in _chunks(ids):
                conn.execute(update(o).where(o.c.capture_id.in_(chunk)).values(batch_id=batch_id))
            # Proofs are fixed by the tree, so they are written now; readers still see the
            # captures as pending until the batch row says 'anchored'.
            conn.execute(
                update(c).where(c.c.id == bindparam("cid"))
                .values(batch_id=batch_id, batch_index=bindparam("idx"), batch_proof=bindparam("proof")),
                [{"cid": cid, "idx": i, "proof": b"".join(tree.proof(i))}
                 for i, cid in enumerate(ids)])
        return BatchRecord(batch_id, tree.root, len(rows), events, meta, "built", None, None,
                           None, None, 0)

    def open_batches(self) -> list[BatchRecord]:
        """Batches built or sent but not yet anchored, oldest first."""
        return self._batches(t.batches.c.state != "anchored")

    def batches_anchored_since(self, block_number: int) -> list[BatchRecord]:
        return self._batches(and_(t.batches.c.state == "anchored",
                                  t.batches.c.block_number >= block_number))

    def batch(self, batch_id: int) -> BatchRecord:
        found = self._batches(t.batches.c.id == batch_id)
        if not found:
            raise NotFoundError(f"no batch {batch_id}", batch_id=batch_id)
        return found[0]

    def batches(self) -> list[BatchRecord]:
        return self._batches(None)

    def _batches(self, cond: Any) -> list[BatchRecord]:
        b = t.batches
        stmt = select(b.c.id, b.c.root, b.c.leaf_count, b.c.event_count, b.c.meta_hash,
                      b.c.state, b.c.tx_hash, b.c.tx_nonce, b.c.block_number, b.c.anchored_at,
                      b.c.send_count).order_by(b.c.id)
        if cond is not None:
            stmt = stmt.where(cond)
        with self._read() as conn:
            rows = conn.execute(stmt).all()
        return [BatchRecord(r.id, bytes(r.root), r.leaf_count, r.event_count,
                            bytes(r.meta_hash), r.state,
                            bytes(r.tx_hash) if r.tx_hash is not None else None, r.tx_nonce,
                            r.block_number, r.anchored_at, r.send_count) for r in rows]

    def batch_leaves(self, batch_id: int) -> list[bytes]:
        c = t.captures
        with self._read() as conn:
            rows = conn.execute(select(c.c.leaf).where(c.c.batch_id == batch_id)
                                .order_by(c.c.batch_index)).all()
        return [bytes(r.leaf) for r in rows]

    def mark_batch_sent(self, batch_id: int, tx_hash: bytes, tx_nonce: int | None = None) -> None:
        b = t.batches
        with self._write() as conn:
            conn.execute(update(b).where(b.c.id == batch_id, b.c.state != "anchored").values(
                state="sent", tx_hash=tx_hash, tx_nonce=tx_nonce, sent_ms=_now_ms(),
                send_count=b.c.send_count + 1))

    def mark_batch_anchored(self, batch_id: int, *, tx_hash: bytes, block_number: int,
                            block_hash: bytes | None, anchored_at: int) -> None:
        """Record the anchoring transaction and drop the batch's captures from the outbox."""
        b = t.batches
        with self._write() as conn:
            conn.execute(update(b).where(b.c.id == batch_id).values(
                state="anchored", tx_hash=tx_hash, block_number=block_number,
                block_hash=block_hash, anchored_at=anchored_at, anchored_ms=_now_ms()))
            conn.execute(delete(t.outbox).where(t.outbox.c.batch_id == batch_id))

    def reopen_batch(self, batch_id: int) -> None:
        """The chain no longer holds this batch's root (it restarted from an older state):
        make it pending again, to be sent anew. The tree, and so every proof, stays."""
        b = t.batches
        with self._write() as conn:
            conn.execute(update(b).where(b.c.id == batch_id).values(
                state="built", tx_hash=None, tx_nonce=None, block_number=None, block_hash=None,
                anchored_at=None, anchored_ms=None))
            # Back into the outbox: the queue again lists everything not yet anchored.
            rows = conn.execute(select(t.captures.c.id, t.captures.c.event_count)
                                .where(t.captures.c.batch_id == batch_id)).all()
            have = {r[0] for r in conn.execute(select(t.outbox.c.capture_id)
                                               .where(t.outbox.c.batch_id == batch_id))}
            missing = [{"capture_id": r.id, "event_count": r.event_count,
                        "enqueued_ms": _now_ms(), "batch_id": batch_id}
                       for r in rows if r.id not in have]
            if missing:
                conn.execute(insert(t.outbox), missing)

    # -- leader lease --------------------------------------------------------------------------

    # -- request nonces --------------------------------------------------------------------

    @property
    def shared(self) -> bool:
        """Whether other processes can open this store (a file or a server, not `:memory:`)."""
        return not self._memory

    def first_use_nonce(self, nonce: str, ttl: float) -> bool:
        """True the first time `nonce` is offered within `ttl` seconds, by any process on this
        store; False for a replay. Atomic: the row is inserted in a write transaction
        (`ON CONFLICT DO NOTHING`), so of two processes offering one nonce at once exactly one
        wins. Expired rows are deleted in the same transaction (an index range on expires_ms),
        so the table holds at most the nonces of the last `ttl` seconds."""
        if len(nonce) > t.request_nonces.c.nonce.type.length:
            raise InvalidInputError("request nonce too long", field="nonce")
        now = _now_ms()
        with self._write() as conn:
            conn.execute(delete(t.request_nonces).where(t.request_nonces.c.expires_ms <= now))
            inserted = conn.execute(text(
                "INSERT INTO request_nonces (nonce, expires_ms) VALUES (:nonce, :expires) "
                "ON CONFLICT DO NOTHING"),
                {"nonce": nonce, "expires": now + int(ttl * 1000)}).rowcount
        return inserted == 1

    # -- console log-ins (Sign-In with Ethereum) -------------------------------------------

    def issue_login_nonce(self, nonce: str, ttl: float) -> None:
        """Remember a nonce the gateway issued for a SIWE log-in, for `ttl` seconds (a row of
        `request_nonces`, under a prefix no member-request nonce can take)."""
        now = _now_ms()
        with self._write() as conn:
            conn.execute(delete(t.request_nonces).where(t.request_nonces.c.expires_ms <= now))
            conn.execute(insert(t.request_nonces).values(
                nonce=_LOGIN_NONCE + nonce, expires_ms=now + int(ttl * 1000)))

    def consume_login_nonce(self, nonce: str) -> bool:
        """True once for a nonce this store issued and that has not expired, by any process:
        the row is deleted in the same statement that finds it, so a replay finds nothing."""
        if len(_LOGIN_NONCE + nonce) > t.request_nonces.c.nonce.type.length:
            return False
        with self._write() as conn:
            return conn.execute(delete(t.request_nonces).where(
                t.request_nonces.c.nonce == _LOGIN_NONCE + nonce,
                t.request_nonces.c.expires_ms > _now_ms())).rowcount == 1

    def open_session(self, id_hash: bytes, org: bytes, signer: str, expires_ms: int) -> None:
        now = _now_ms()
        with self._write() as conn:
            conn.execute(delete(t.console_sessions).where(t.console_sessions.c.expires_ms <= now))
            conn.execute(insert(t.console_sessions).values(
                id_hash=id_hash, org=org, signer=signer, created_ms=now, expires_ms=expires_ms))

    def session(self, id_hash: bytes) -> tuple[bytes, str, int, int] | None:
        """(org, signer, created_ms, expires_ms) of a live session, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(
                t.console_sessions.c.org, t.console_sessions.c.signer,
                t.console_sessions.c.created_ms, t.console_sessions.c.expires_ms).where(
                t.console_sessions.c.id_hash == id_hash,
                t.console_sessions.c.expires_ms > _now_ms())).first()
        return None if row is None else (bytes(row[0]), row[1], int(row[2]), int(row[3]))

    def close_session(self, id_hash: bytes) -> bool:
        with self._write() as conn:
            return conn.execute(delete(t.console_sessions).where(
                t.console_sessions.c.id_hash == id_hash)).rowcount == 1

    def try_anchor_lease(self) -> AnchorLease | None:
        """Become the one anchoring worker, or None if another process already is."""
        if self.dialect == "postgresql":
            conn = self.engine.connect()
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _PG_LOCK_KEY}).scalar()
            conn.commit()
            if not got:
                conn.close()
                return None

            def release_pg() -> None:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                    conn.commit()
                finally:
                    conn.close()

            return AnchorLease(release_pg)
        if self._memory:
            if not self._memory_lock.acquire(blocking=False):
                return None
            return AnchorLease(self._memory_lock.release)
        path = self.engine.url.database
        fd = os.open(f"{path}.anchor-lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None

        def release_file() -> None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

        return AnchorLease(release_file)


# Ordered as `_event_row` builds them; record_time_ms last: the committing group stamps it.
_EVENT_COLUMNS = (
    "event_id", "capture_id", "event_index", "event_type", "action", "event_time_ms",
    "event_time_zone_offset", "biz_step", "disposition", "read_point", "biz_location", "gtin",
    "lot", "body", "record_time_ms",
)
_CAPTURE_COLUMNS = (
    "id", "digest", "signer", "org", "nonce", "events_root", "event_count", "signed_at",
    "signature", "leaf", "event_ids", "context", "received_ms", "disclosure_seed", "commitments",
)
_OUTBOX_COLUMNS = ("capture_id", "event_count", "enqueued_ms")
# Ordered as `_declaration_row` builds them; received_ms last: the committing group stamps it.
_DECLARATION_COLUMNS = ("event_id", "capture_id", "event_index", "org", "declaration_time_ms",
                        "reason", "body", "received_ms")
# (position in `_event_row`'s row, the EPCIS field, its column's length) of the string columns
# an event's own values go to unshortened; an EPC goes to event_epcs and the trace tables.
_EVENT_LIMITS = tuple(
    (_EVENT_COLUMNS.index(column), field, t.events.c[column].type.length)
    for column, field in (("action", "action"), ("biz_step", "bizStep"),
                          ("disposition", "disposition"), ("read_point", "readPoint"),
                          ("biz_location", "bizLocation")))
_EPC_LIMIT = min(t.event_epcs.c.epc.type.length, trace_index.trace_latest.c.epc.type.length)
_EPC_COLUMNS = ("seq", "role", "epc")
_READING_COLUMNS = ("seq", "element", "report", "stat", "type", "uom", "value", "canonical")
_FACT_COLUMNS = ("seq", "key", "text", "num")
_CORRECTION_COLUMNS = ("corrective_id", "event_id")


def _event_row(ev: Mapping[str, Any], eid: bytes, capture_id: str, index: int
               ) -> tuple[tuple[Any, ...], dict[str, list[str]]]:
    """The `events` row of one event (without record_time_ms) and its EPCs by role."""
    if not isinstance(ev, Mapping):
        raise InvalidInputError("an EPCIS event must be a JSON object", index=index)
    epcs = event_epcs(ev)
    gtin, lot = _gtin_lot(ev, epcs)
    get = ev.get
    action, offset = get("action"), get("eventTimeZoneOffset")
    row = (
        eid, capture_id, index, str(get("type", ""))[:32],
        action if isinstance(action, str) else None,
        _time_ms(get("eventTime"), "eventTime"),
        str(offset)[:8] if offset else None,
        normalise_cbv(_str_or_none(get("bizStep"))),
        normalise_cbv(_str_or_none(get("disposition"))),
        _id_of(get("readPoint")), _id_of(get("bizLocation")),
        gtin, lot, orjson.dumps(ev).decode(),
    )
    # Every value must fit its column before the capture joins a group commit: on PostgreSQL
    # a string too long fails the transaction (SQLite stores it, but the store must behave the
    # same on both). Bounded here, so the sender alone hears of it.
    for position, name, limit in _EVENT_LIMITS:
        value = row[position]
        if value is not None and len(value) > limit:
            raise ValueOutOfRangeError(
                f"event {index}: {name} is {len(value)} characters; at most {limit} are stored",
                index=index, field=name, limit=limit)
    if "sensorElementList" in ev:
        for reading in sensor_rows(ev):
            kind, uom = reading[3], reading[4]
            if len(kind) > TYPE_LIMIT or (uom is not None and len(uom) > UOM_LIMIT):
                raise ValueOutOfRangeError(
                    f"event {index}: a sensorReport type or uom is too long (at most "
                    f"{TYPE_LIMIT} and {UOM_LIMIT} characters are stored)", index=index,
                    field="sensorReport", limit=TYPE_LIMIT)
    for values in epcs.values():
        for epc in values:
            if len(epc) > _EPC_LIMIT:
                raise ValueOutOfRangeError(
                    f"event {index}: an EPC of {len(epc)} characters; at most {_EPC_LIMIT} "
                    "are stored", index=index, field="epc", limit=_EPC_LIMIT)
    return row, epcs


@dataclass(slots=True)
class PreparedCapture:
    """A capture made ready for a group commit (`prepare_capture`): rows built, nothing
    written. Picklable, so it may be made in another process."""

    capture: SignedCapture
    capture_id: str
    nonce: str  # uint64 as the column stores it
    wanted: list[bytes]  # the kept event ids, in order (duplicates included)
    rows: list[tuple[bytes, tuple[Any, ...], dict[str, list[str]]]]  # id, row, EPCs by role
    context: str | None
    # `error_declarations` rows (without received_ms) of the events carrying `errorDeclaration`
    declarations: list[tuple[Any, ...]] = field(default_factory=list)


@dataclass(slots=True)
class _Plan:
    """What a group commit writes if every capture in it is new and every event it offers
    goes in: made before the write lock is taken (`_plan`), used as it is under the lock when
    the database agrees (the common case), made again there when it does not.

    `offered[i]` is the event of `event_rows[i]`; its EPC rows and trace facts carry
    position i + 1 where the seq goes, and become seqs by adding the largest seq before the
    insert (`_all_inserted` checks the rows took exactly those)."""

    capture_ids: list[str]
    capture_rows: list[tuple[Any, ...]]
    event_rows: list[tuple[Any, ...]]
    outbox_rows: list[tuple[Any, ...]]
    declaration_rows: list[tuple[Any, ...]]
    offered: list[trace_index.Indexed]
    epc_rows: list[tuple[int, str, str]]  # (position + 1, role, epc)
    reading_rows: list[tuple[Any, ...]]  # (position + 1, *sensor_index.sensor_rows row)
    fact_rows: list[tuple[Any, ...]]  # (position + 1, *event_facts.fact_rows row)
    correction_rows: list[tuple[str, bytes]]  # declaration_corrections rows
    folded: trace_index.Folded | None  # None: not folded yet
    results: list[AcceptResult]  # each capture's outcome if all it offered went in


def _plan(fresh: Sequence[PreparedCapture], now: int, *, fold: bool) -> _Plan:
    """The group's rows, each event offered by the first capture bringing it."""
    capture_rows, event_rows, outbox_rows, epc_rows = [], [], [], []
    declaration_rows: list[tuple[Any, ...]] = []
    reading_rows: list[tuple[Any, ...]] = []
    facts: list[tuple[Any, ...]] = []
    offered: list[trace_index.Indexed] = []
    seen: set[bytes] = set()
    for p in fresh:
        cap, sig = p.capture, p.capture.signature
        capture_rows.append((
            p.capture_id, cap.digest, cap.signer, sig.org, p.nonce, sig.events_root,
            sig.count, sig.signed_at, sig.signature, cap.leaf, b"".join(cap.event_ids),
            p.context, now, cap.seed, b"".join(cap.commitments)))
        for eid, row, epcs in p.rows:
            if eid not in seen:
                seen.add(eid)
                event_rows.append((*row, now))
                offered.append((eid, p.capture_id, sig.org, cap.events[row[2]], epcs))
                position = len(event_rows)
                for role, values in epcs.items():
                    for epc in values:
                        epc_rows.append((position, role, epc))
                event = cap.events[row[2]]
                facts.extend((position, *r) for r in fact_rows(event, normalise_cbv))
                if MASTER_DATA in event:
                    facts.extend((position, *r) for r in master_data_facts(event))
                if "sensorElementList" in event:
                    reading_rows.extend((position, *r) for r in sensor_rows(event))
                    facts.extend((position, *r) for r in sensor_facts(event))
        outbox_rows.append((p.capture_id, len(cap.event_ids), now))
        declaration_rows.extend((*row, now) for row in p.declarations)
    corrections = list(dict.fromkeys(
        c for row in declaration_rows for c in correction_rows(row[0], orjson.loads(row[6]))))
    plan = _Plan([p.capture_id for p in fresh], capture_rows, event_rows, outbox_rows,
                 declaration_rows, offered, epc_rows, reading_rows, facts, corrections, None,
                 _results(fresh, seen))
    if fold:
        plan.folded = trace_index.fold(_at_positions(plan))
    return plan


def _at_positions(plan: _Plan) -> Iterator[tuple[trace_index.Indexed, trace_index.StoredEvent]]:
    """Each offered event with its row as stored, seq standing for position + 1."""
    for i, (ix, r) in enumerate(zip(plan.offered, plan.event_rows, strict=True), 1):
        yield ix, trace_index.StoredEvent(r[0], i, r[1], r[5], r[3], r[4], r[7], r[8], r[9],
                                          r[10])


def _results(fresh: Sequence[PreparedCapture], stored: set[bytes]) -> list[AcceptResult]:
    """Each fresh capture's outcome, `stored` the event ids its group's transaction stored:
    a capture's new events are those it offered (an event two captures bring is offered by
    the first); the rest of what it kept are duplicates."""
    results = []
    taken: set[bytes] = set()
    for p in fresh:
        new_ids = [eid for eid, _row, _epcs in p.rows if eid in stored and eid not in taken]
        taken.update(new_ids)
        # Duplicates: kept ids stored before, and second mentions within the document.
        first = set(new_ids)
        dups = []
        for eid in p.wanted:
            if eid in first:
                first.discard(eid)
            else:
                dups.append(eid)
        results.append(AcceptResult(p.capture_id, tuple(new_ids), tuple(dups), False,
                                    tuple(row[0] for row in p.declarations)))
    return results


class _Checkpointer:
    """WAL checkpoints on a thread and a connection of their own (see `Store.__init__`).

    PASSIVE checkpoints never block a writer: every `interval` they copy what the WAL holds
    while commits go on. But they never let the WAL start over: a writer goes back to its
    start only when it finds every frame copied, and under back-to-back commits the newest
    frames never are, so the WAL grows without bound (measured: 1.7 GB of WAL beside a 70 MB
    database after 200,000 events, every insert slowing from 25 to 80 µs an event as page
    lookups crossed it). So past `restart_frames` a RESTART checkpoint takes the store's write
    turn (writers of every process queue behind it instead of racing it), copies the frames
    the passive rounds left and has the next writer start the WAL over. It waits at most
    `restart_wait` for readers still on old snapshots, else it gives up until the next round.

    Writers wait while it runs, so it is made short. Passive rounds first bring what is left
    to copy under `restart_tail` frames; and the WAL file is reused from its start, not
    truncated: measured on this disk, a TRUNCATE under the turn took 150–290 ms (an fsync of
    each file and a 35 ms ftruncate of a 16 MiB WAL; then the file grows again, and fsyncs of
    a growing file flush its size too), 14 µs of every event's accept cost at 200,000 events.
    `journal_size_limit` (set on every connection) trims a WAL that a burst grew far past
    the threshold when it restarts."""

    def __init__(self, path: str | None, *, turn: Callable[[], Any] | None = None,
                 interval: float = 0.2, restart_frames: int = 16384,  # 64 MiB of 4 KiB pages
                 restart_tail: int = 512, restart_wait: float = 0.1) -> None:
        self._path = path or ""
        self._conn: Any = None
        self._turn = turn or nullcontext
        self._interval = interval
        self._restart_frames = restart_frames
        self._restart_tail = restart_tail
        self._restart_wait_ms = int(restart_wait * 1000)
        self._stop = threading.Event()
        self.checkpoints = 0  # rounds that checkpointed at least one frame
        self.frames_checkpointed = 0
        self.restarts = 0  # WAL started over
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def _connect(self) -> Any:
        import sqlite3

        conn = sqlite3.connect(self._path, timeout=30, isolation_level=None,
                               check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout={self._restart_wait_ms}")
        # Opened once the store exists, and WAL named here too: a connection that has not
        # seen the database in WAL mode answers a checkpoint with (0, -1, -1) and does nothing.
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    def _checkpoint(self) -> None:
        if self._conn is None:
            self._conn = self._connect()
        _busy, frames, done = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if frames < 0:  # not in WAL mode (yet): ask again, next round
            self._conn.close()
            self._conn = None
            return
        if done > 0:
            self.checkpoints += 1
            self.frames_checkpointed += done
        if frames > self._restart_frames:
            # Back-to-back passive rounds, each copying what commits added during the last
            # (copying is much faster than commits make frames), until one finds little new:
            # what the RESTART then copies under the turn is about one short round's worth.
            for _round in range(8):
                copied = done
                _busy, frames, done = self._conn.execute(
                    "PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if done - copied <= self._restart_tail:
                    break
            with self._turn():
                busy, _frames, _done = self._conn.execute(
                    "PRAGMA wal_checkpoint(RESTART)").fetchone()
            if not busy:
                self.restarts += 1

    def _run(self) -> None:
        import sqlite3

        while not self._stop.wait(self._interval):
            try:
                self._checkpoint()
            except sqlite3.Error:
                # Busy or locked: another process is checkpointing, or the database is
                # going away. The next round tries again; nothing is lost by skipping one.
                log.debug("checkpoint skipped", exc_info=True)

    def stop(self) -> None:
        import sqlite3

        self._stop.set()
        self._thread.join(timeout=30)
        try:
            # A last checkpoint, so a stopped gateway leaves a short WAL behind.
            self._checkpoint()
        except sqlite3.Error:
            log.debug("last checkpoint skipped", exc_info=True)
        finally:
            if self._conn is not None:
                self._conn.close()


def prepare_capture(capture: SignedCapture, keep: Collection[int] | None = None
                    ) -> PreparedCapture:
    """Everything about accepting a capture that needs no database: the rows of each kept
    event (indexed columns, EPCs, JSON), built outside the write lock (or ahead of time, in
    another process). `Store.accept_captures` takes the result as it takes a capture."""
    ids = capture.event_ids
    if len(capture.events) != len(ids):
        raise InvalidInputError("a capture needs one event per event id",
                                events=len(capture.events), event_ids=len(ids))
    if len(capture.commitments) != len(ids) or len(capture.seed) != 32:
        raise InvalidInputError("a capture needs its disclosure seed and one commitment per "
                                "event", event_ids=len(ids),
                                commitments=len(capture.commitments))
    indices = range(len(ids)) if keep is None else sorted(set(keep))
    if indices and (indices[0] < 0 or indices[-1] >= len(ids)):
        raise InvalidInputError("keep names an event the capture does not hold",
                                keep=[i for i in indices if not 0 <= i < len(ids)][:10])
    capture_id = capture.digest.hex()
    row_of = _event_row
    rows: list[tuple[bytes, tuple[Any, ...], dict[str, list[str]]]] = []
    declarations: list[tuple[Any, ...]] = []
    firsts: set[bytes] = set()
    declared: set[bytes] = set()
    sig = capture.signature
    for i in indices:
        eid = ids[i]
        event = capture.events[i]
        if isinstance(event, Mapping) and "errorDeclaration" in event:
            # A declaration about the event with this id, not an event of its own.
            if eid not in declared:
                declared.add(eid)
                declarations.append(_declaration_row(event, eid, capture_id, i, sig.org))
            continue
        if eid in firsts:  # twice in this very document: the first one is the event
            continue
        firsts.add(eid)
        row, epcs = row_of(event, eid, capture_id, i)
        rows.append((eid, row, epcs))
    wanted = [ids[i] for i in indices
              if not (isinstance(capture.events[i], Mapping)
                      and "errorDeclaration" in capture.events[i])]
    if sig.signed_at > INT64_MAX:
        raise ValueOutOfRangeError(
            f"signedAt {sig.signed_at} is past the largest time the store holds ({INT64_MAX})",
            field="signedAt", limit=INT64_MAX)
    context = (orjson.dumps(capture.context).decode() if capture.context is not None
               else None)
    return PreparedCapture(capture, capture_id, str(sig.nonce), wanted, rows, context,
                           declarations)


def _declaration_row(event: Mapping[str, Any], eid: bytes, capture_id: str, index: int,
                     org: bytes) -> tuple[Any, ...]:
    """The `error_declarations` row of an event carrying `errorDeclaration` (without
    received_ms)."""
    declaration = event["errorDeclaration"]
    if not isinstance(declaration, Mapping):
        raise InvalidInputError("an errorDeclaration must be a JSON object", index=index,
                                pointer=f"/epcisBody/eventList/{index}/errorDeclaration")
    reason = normalise_reason(_str_or_none(declaration.get("reason")))
    limit = t.error_declarations.c.reason.type.length
    if reason is not None and len(reason) > limit:
        raise ValueOutOfRangeError(
            f"event {index}: errorDeclaration reason is {len(reason)} characters; at most "
            f"{limit} are stored", index=index, field="errorDeclaration.reason", limit=limit)
    corrective = declaration.get("correctiveEventIDs")
    for cid in corrective if isinstance(corrective, list) else ():
        if isinstance(cid, str) and len(cid) > _CORRECTIVE_LIMIT:
            raise ValueOutOfRangeError(
                f"event {index}: a correctiveEventID is {len(cid)} characters; at most "
                f"{_CORRECTIVE_LIMIT} are stored", index=index,
                field="errorDeclaration.correctiveEventIDs", limit=_CORRECTIVE_LIMIT)
    return (eid, capture_id, index, org,
            _time_ms(declaration.get("declarationTime"), "errorDeclaration.declarationTime"),
            reason, orjson.dumps(declaration).decode())


def _bucket(n: int) -> int:
    size = 1
    while size < n:
        size *= 2
    return size


class _Sql:
    """The accept path's statements for one dialect, as fixed strings.

    Fixed text is what lets the drivers prepare once and reuse: SQLite's statement cache and
    psycopg's prepared statements both key on it. An `IN` list on SQLite is padded to a power
    of two (repeating a value changes no answer), so a handful of texts cover every size;
    PostgreSQL takes the whole list as one array parameter (`= ANY(%s)`)."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"
        self.insert_captures = _insert_sql(t.captures, _CAPTURE_COLUMNS, dialect, conflict=False)
        self.insert_events = _insert_sql(t.events, _EVENT_COLUMNS, dialect)
        self.insert_epcs = _insert_sql(t.event_epcs, _EPC_COLUMNS, dialect)
        self.insert_readings = _insert_sql(t.sensor_readings, _READING_COLUMNS, dialect)
        # No unique key to conflict on: a fact row goes in with its event, or not at all.
        self.insert_facts = _insert_sql(t.event_facts, _FACT_COLUMNS, dialect, conflict=False)
        self.insert_corrections = _insert_sql(t.declaration_corrections, _CORRECTION_COLUMNS,
                                              dialect)
        self.insert_outbox = _insert_sql(t.outbox, _OUTBOX_COLUMNS, dialect, conflict=False)
        self.insert_declarations = _insert_sql(t.error_declarations, _DECLARATION_COLUMNS,
                                               dialect)

    def in_(self, prefix: str, values: Sequence[Any]) -> str:
        if not self.sqlite:
            return f"{prefix} = ANY(%s)"
        return f"{prefix} IN ({', '.join('?' * _bucket(len(values)))})"

    def in2(self, prefix: str, a: Sequence[Any], column: str, b: Sequence[Any]) -> str:
        return f"{self.in_(prefix, a)} AND {self.in_(column, b)}"

    def in_args(self, values: Sequence[Any]) -> list[Any]:
        if not self.sqlite:
            return [list(values)]
        return [*values, *[values[0]] * (_bucket(len(values)) - len(values))]


def _insert_sql(table: Any, columns: Sequence[str], dialect: str, *, conflict: bool = True
                ) -> str:
    for name in columns:  # a KeyError here, not a database error mid-capture
        table.c[name]  # noqa: B018
    mark = "?" if dialect == "sqlite" else "%s"  # the drivers' paramstyles
    names, marks = ", ".join(columns), ", ".join([mark] * len(columns))
    # Names come from ledger.store.tables (checked above), values are bound: nothing user-made here.
    tail = " ON CONFLICT DO NOTHING" if conflict else ""
    return f"INSERT INTO {table.name} ({names}) VALUES ({marks}){tail}"  # noqa: S608


def _sensor_conditions(types: Sequence[str], filters: Sequence[SensorFilter]) -> list[Any]:
    """`events.seq IN (…)` conditions over the sensor readings index: a report of a type in
    `types`; for each filter a report (of those types, if any) whose statistic compares so.
    A bound in a unit `ledger.epcis.measurements` converts is compared with the readings of
    that unit's measurement type in its canonical unit (whatever unit they were reported in);
    one in another unit with the readings reported in that very unit."""
    r = t.sensor_readings
    kinds = sorted({k for k in (bare_type(v) for v in types) if k is not None})
    out: list[Any] = []
    if kinds and not filters:
        # With a filter the type is one of its conditions: a separate list of every reading
        # of the type (the whole index for `Temperature`) would only cost time (bench.sensor).
        out.append(t.events.c.seq.in_(select(r.c.seq).where(r.c.type.in_(kinds))))
    for f in filters:
        where: list[Any] = [r.c.stat == f.stat]
        if kinds:
            where.append(r.c.type.in_(kinds))
        kind = unit_kind(f.uom)
        if kind is not None:
            factor, offset = MEASUREMENTS[kind][1][f.uom]
            bound = f.value * factor + (0.0 if f.stat == "sDev" else offset)
            column = r.c.canonical
            where.append(r.c.type == kind)
        else:
            bound, column = f.value, r.c.value
            where.append(r.c.uom == f.uom)
        if f.op == "EQ":
            # A converted bound may differ from the stored value in the last bits.
            slack = 1e-9 * max(1.0, abs(bound)) if kind is not None else 0.0
            where.append(column.between(bound - slack, bound + slack))
        else:
            where.append({"GT": column > bound, "GE": column >= bound, "LT": column < bound,
                          "LE": column <= bound}[f.op])
        out.append(t.events.c.seq.in_(select(r.c.seq).where(*where)))
    return out


_ORDER = {"eventTime": "event_time_ms", "recordTime": "record_time_ms"}
_EXISTS_COLUMNS = {"has:bizStep": t.events.c.biz_step, "has:disposition": t.events.c.disposition,
                   "has:readPoint": t.events.c.read_point,
                   "has:bizLocation": t.events.c.biz_location}


def _compare(column: Any, op: str, bound: Any) -> Any:
    return {"EQ": column == bound, "GT": column > bound, "GE": column >= bound,
            "LT": column < bound, "LE": column <= bound}[op]


def _event_id_condition(values: Sequence[str]) -> Any:
    """Events whose CBV 2.0 hash is one of `values` (`ni:///sha-256;…`), or captured with one
    of them as their `eventID` (an id of the capturer's own, as the standard allows)."""
    from ledger.epcis.event_hash import parse_event_id

    hashes = []
    for value in values:
        try:
            hashes.append(parse_event_id(value))
        except InvalidInputError:
            pass
    x = t.event_facts
    named = t.events.c.seq.in_(select(x.c.seq).where(x.c.key == "eventID",
                                                     x.c.text.in_(values)))
    return or_(t.events.c.event_id.in_(hashes), named) if hashes else named


def _fact_epc_condition(key: str, values: Sequence[str]) -> Any:
    """Events with a fact `key` naming one of the EPC classes `values` (a `*` pattern: by
    prefix, as `_epc_condition`)."""
    x = t.event_facts
    matches = []
    for value in values:
        for kind, epc in _epc_prefixes(value):
            matches.append(x.c.text == epc if kind == "eq"
                           else and_(x.c.text >= epc, x.c.text < epc + "\U0010ffff"))
    return t.events.c.seq.in_(select(x.c.seq).where(x.c.key == key, or_(*matches)))


def _driver(facts: Sequence[FactFilter]) -> FactFilter | None:
    """The fact condition a page may read in seq order from the facts index: an equality on
    one text (its (key, text, seq) entries are in seq order), or EXISTS_ of a standard field
    (its `has:` rows have no text). Never `quantity`, whose rows repeat a text (the uom)."""
    for f in facts:
        if (f.op == "EQ" and len(f.texts) == 1 and not f.nums and f.uom is None
                and f.key != "quantity" and len(f.texts[0]) <= TEXT_LIMIT) or \
                (f.op == "EXISTS" and f.key.startswith("has:") and f.key not in _EXISTS_COLUMNS
                 and f.key != "has:action"):
            return f
    return None


def _fact_condition(f: FactFilter) -> Any:
    """`events.seq IN (…)` over the facts index: a row of `f.key` whose value compares so.
    EXISTS_ of a field a column holds reads that column's (partial) index instead."""
    e = t.events
    if f.op == "EXISTS" and f.key in _EXISTS_COLUMNS:
        return _EXISTS_COLUMNS[f.key].is_not(None)
    if f.op == "EXISTS" and f.key == "has:action":
        f = FactFilter("action", "EXISTS")
    x = t.event_facts
    where: list[Any] = [x.c.key == f.key]
    if f.uom is not None:
        where.append(x.c.text == f.uom)
    if f.op == "EQ":
        alternatives = []
        if f.texts:
            alternatives.append(x.c.text.in_([v for v in f.texts if len(v) <= TEXT_LIMIT]))
        if f.nums:
            alternatives.append(x.c.num.in_(f.nums))
        where.append(or_(*alternatives) if alternatives else false())
    elif f.op != "EXISTS":
        where.append(_compare(x.c.num, f.op, f.nums[0]))
    return e.c.seq.in_(select(x.c.seq).where(*where))


def correction_rows(event_id: bytes, declaration: Mapping[str, Any]
                    ) -> list[tuple[str, bytes]]:
    """`declaration_corrections` rows of an error declaration: (corrective event id, event)."""
    ids = declaration.get("correctiveEventIDs")
    if not isinstance(ids, list):
        return []
    return [(cid, event_id) for cid in dict.fromkeys(ids)
            if isinstance(cid, str) and len(cid) <= _CORRECTIVE_LIMIT]


_CORRECTIVE_LIMIT = t.declaration_corrections.c.corrective_id.type.length


@dataclass(frozen=True, slots=True)
class _Position:
    """Where a page token says the next page starts."""

    order: str | None  # None: insert order
    desc: bool
    key: int | None  # the last event's eventTime/recordTime (ms), when ordered by one
    seq: int
    served: int  # events the query answered before (eventCountLimit)
    field: field_order.FieldPosition | None = None  # ordered by an extension field


def _encode_position(order: str, desc: bool, key: int, seq: int, served: int) -> str:
    raw = f"v2:{order}:{'D' if desc else 'A'}:{key}:{seq}:{served}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _encode_field_position(order: str, desc: bool, at: field_order.FieldPosition,
                           served: int) -> str:
    # JSON: a string value may hold any character (a ':' among them).
    raw = b"v3:" + orjson.dumps([order, "D" if desc else "A", field_order.position_key(at),
                                 served])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def page_token_after(seq: int) -> str:
    """The `query_events` page token that starts after the event with this seq."""
    return _encode_token(seq)


def _encode_token(seq: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{seq}".encode()).decode().rstrip("=")


def _decode_token(token: str) -> _Position:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        version, rest = raw.split(":", 1)
        if version == "v1":
            return _Position(None, False, None, int(rest), 0)
        if version == "v3":
            order, direction, at, served = orjson.loads(rest)
            field = field_order.read_position(at)
            if (not isinstance(order, str) or not field_order.is_field(order)
                    or direction not in ("A", "D") or type(served) is not int or served < 0):
                raise ValueError(order)
            return _Position(order, direction == "D", None, field.seq, served, field)
        if version != "v2":
            raise ValueError(version)
        order, direction, key, seq, served = rest.split(":")
        if order not in _ORDER or direction not in ("A", "D"):
            raise ValueError(order)
        return _Position(order, direction == "D", int(key), int(seq), int(served))
    except (ValueError, TypeError, UnicodeDecodeError):
        raise InvalidPageTokenError("the page token is not one this store issued",
                                    token=token[:100]) from None
