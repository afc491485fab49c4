"""The store's tables (SQLAlchemy Core): one schema for SQLite and PostgreSQL.

Conventions, so that every query reads the same on both databases:
- ids that are hashes are raw bytes (`LargeBinary`: BLOB / bytea), 32 bytes unless noted;
- times are integer milliseconds since the Unix epoch, UTC (`*_ms`): sortable, no time-zone
  handling differences between the two dialects; chain times are the block's unix seconds;
- uint64 values that may exceed a signed BIGINT (a capture nonce) are decimal text;
- proofs are the concatenated 32-byte siblings (`b"".join(proof)`), leaf to root.

Tables and who writes them:
    organisations   cache of Consortium organisations (names, roles) read from the chain
    captures        one row per signed capture: signature fields, ordered event ids, batch proof
    events          one row per event id (first capture wins), JSON + every indexed column
    event_epcs      one row per (event, role, epc) for EPC queries; role in EPC_ROLES; the
                    event is named by `events.seq`
    outbox          captures accepted but not yet anchored (deleted when anchored)
    batches         Merkle batches of captures and their anchoring transaction
    codes, scans, complaints   item codes and consumer-facing records (minimal for now)
    request_nonces  nonces of signed member requests until they expire, shared by every
                    gateway process (when no Redis holds them)
    brand_links     links a GTIN's brand owner registered for the resolver (its own pages,
                    certificates…), one per (GTIN, link type, target)
    product_conditions  brands' signed allowed ranges per GTIN and version (cold chain)
    error_declarations  one row per event declared erroneous: the signed capture that carries
                    the declaration (the event again, with its `errorDeclaration`), first wins
    sensor_readings one row per statistic of each sensorReport of an event, for the EPCIS
                    sensor query parameters (EQ_type, GE_value_<uom>…)
    event_facts     one row per (event, field key, value) for the EPCIS query parameters no
                    column answers (EQ_action, EQ_ILMD_…, EQ_bizTransaction_<type>…)
    declaration_corrections  the correctiveEventIDs of each error declaration
    named_queries   EPCIS named queries (`POST /queries`) per organisation: the query as sent
    complaint_transitions  complaint status changes in the regulator's console: who, when
    regulator_reasons   reason texts of grade and blacklist transactions, by transaction
    subscriptions   webhook subscriptions to named queries (stream or scheduled), with the
                    position (`last_seq`) up to which events were considered
    webhook_outbox  webhook deliveries not yet acknowledged: the exact signed body, attempts
                    and when to try next (deleted once the receiver answers 2xx)
    console_sessions    console log-ins (Sign-In with Ethereum): the SHA-256 of the random
                    session id (never the id), the organisation and key that signed in, expiry

Once committed, table and column names are an interface: the trace queries build on them, and a
change needs a new migration in `ledger/store/migrations/versions/`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

__all__ = [
    "BATCH_STATES", "EPC_ROLES", "batches", "brand_links", "captures", "codes",
    "complaint_replies", "complaint_transitions", "complaints",
    "console_sessions", "error_declarations", "event_epcs",
    "events", "metadata", "named_queries", "organisations", "outbox", "regulator_reasons",
    "request_nonces", "scans", "sensor_readings", "subscriptions", "webhook_outbox",
]

# Explicit constraint names keep migrations reproducible on both dialects.
metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid); PostgreSQL gets BIGINT.
_SERIAL = BigInteger().with_variant(Integer(), "sqlite")

# Roles of an EPC in an event (keys of `ledger.epcis.document.event_epcs`).
EPC_ROLES = ("epc", "parent", "child", "input", "output", "class")

# built: persisted before sending; sent: a transaction is out; anchored: receipt stored.
BATCH_STATES = ("built", "sent", "anchored")

organisations = Table(
    "organisations", metadata,
    Column("org", LargeBinary(32), primary_key=True),
    Column("name", String(256), nullable=False, server_default=""),
    Column("roles", String(256), nullable=False, server_default=""),  # comma-separated names
    Column("active", Integer, nullable=False, server_default="1"),
    Column("block_number", BigInteger, nullable=True),  # chain block the cache was read at
    Column("updated_ms", BigInteger, nullable=False),
)

batches = Table(
    "batches", metadata,
    Column("id", _SERIAL, primary_key=True, autoincrement=True),
    Column("root", LargeBinary(32), nullable=False, unique=True),
    Column("leaf_count", Integer, nullable=False),
    Column("event_count", Integer, nullable=False),
    Column("meta_hash", LargeBinary(32), nullable=False),
    Column("state", String(16), nullable=False, index=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("tx_hash", LargeBinary(32), nullable=True),  # last transaction sent for this root
    Column("tx_nonce", BigInteger, nullable=True),
    Column("sent_ms", BigInteger, nullable=True),
    Column("send_count", Integer, nullable=False, server_default="0"),
    Column("block_number", BigInteger, nullable=True, index=True),
    Column("block_hash", LargeBinary(32), nullable=True),
    Column("anchored_at", BigInteger, nullable=True),  # block timestamp, unix seconds
    Column("anchored_ms", BigInteger, nullable=True),  # when the store learnt it
)

captures = Table(
    "captures", metadata,
    Column("id", String(64), primary_key=True),  # hex of the EIP-712 digest
    Column("digest", LargeBinary(32), nullable=False, unique=True),
    Column("signer", String(42), nullable=False),
    Column("org", LargeBinary(32), nullable=False),
    Column("nonce", String(20), nullable=False),  # uint64 as decimal text
    Column("events_root", LargeBinary(32), nullable=False),
    Column("event_count", Integer, nullable=False),  # the signed count
    Column("signed_at", BigInteger, nullable=False),
    Column("signature", LargeBinary(65), nullable=False),
    Column("leaf", LargeBinary(32), nullable=False, index=True),  # capture_leaf(digest, signer)
    Column("event_ids", LargeBinary, nullable=False),  # all signed ids, 32 bytes each, in order
    Column("context", Text, nullable=True),  # the document's @context as JSON
    # The disclosure seed (secret) and each event's commitment, 32 bytes each, in document
    # order: eventsRoot is the tree over these (ledger.proofs.disclosure). NULL before 0006.
    Column("disclosure_seed", LargeBinary(32), nullable=True),
    Column("commitments", LargeBinary, nullable=True),
    Column("received_ms", BigInteger, nullable=False),
    Column("batch_id", ForeignKey("batches.id"), nullable=True, index=True),
    Column("batch_index", Integer, nullable=True),  # leaf index in the batch tree
    Column("batch_proof", LargeBinary, nullable=True),  # siblings to the batch root
    UniqueConstraint("org", "nonce"),
    Index(None, "org", "received_ms", "id"),  # an organisation's capture jobs, paged (0015)
)

# The events columns queried by equality (eventType, EQ_bizStep, EQ_disposition, EQ_readPoint,
# EQ_bizLocation); all but event_type optional.
_EQUALITY_FIELDS = ("event_type", "biz_step", "disposition", "read_point", "biz_location")


def _present(field: str) -> dict[str, Any]:
    """A partial index's condition: rows where `field` is present (none for event_type)."""
    if field == "event_type":
        return {}
    return {"sqlite_where": text(f"{field} IS NOT NULL"),
            "postgresql_where": text(f"{field} IS NOT NULL")}


events = Table(
    "events", metadata,
    Column("seq", _SERIAL, primary_key=True, autoincrement=True),  # insert order: paging key
    Column("event_id", LargeBinary(32), nullable=False, unique=True),
    # Not indexed: every query goes from events to their capture, none the other way (a
    # capture lists its events by id, from captures.event_ids), and captures are never deleted.
    Column("capture_id", ForeignKey("captures.id"), nullable=False),
    Column("event_index", Integer, nullable=False),  # position in the capture's event_ids
    # Indexed although it has five values: without it `eventType=TransformationEvent` (one
    # event in 2,000 of the journey stream) read every event for its first page. Keys are
    # (type, seq), so each insert appends to one of five hot pages. (Indexes below.)
    Column("event_type", String(32), nullable=False),
    Column("action", String(8), nullable=True),
    Column("event_time_ms", BigInteger, nullable=False, index=True),
    Column("event_time_zone_offset", String(8), nullable=True),
    # Indexed (0017): GE_/LT_recordTime and orderBy=recordTime are ranges of it.
    Column("record_time_ms", BigInteger, nullable=False, index=True),
    Column("biz_step", String(256), nullable=True),  # bare CBV term when CBV
    Column("disposition", String(256), nullable=True),
    Column("read_point", String(512), nullable=True),
    Column("biz_location", String(512), nullable=True),
    Column("gtin", String(14), nullable=True),
    Column("lot", String(64), nullable=True),
    Column("body", Text, nullable=False),  # the event JSON as captured
    # Each field a query compares for equality has two indexes (0021): (field, seq) pages its
    # matches in insert order, (field, event_time_ms, seq) with `orderBy=eventTime`, each a
    # range read in the page's order that stops after the page. With the second alone the
    # matches of a frequent value were sorted before the page (a bizStep's first page 51 ms
    # p95 at 200,000 events, `bench.params`). `seq` is named in the first too: given both,
    # SQLite's planner without statistics took the longer index for insert order and sorted.
    # Optional fields are indexed only where present: every query on them asks for values
    # (`=`, `IN`), which both databases know excludes NULL, so an entry for an event without
    # the field would never be read, only written (three of five per shipping event).
    *(Index(None, *cols, **_present(field))
      for field in _EQUALITY_FIELDS for cols in ((field, "seq"), (field, "event_time_ms", "seq"))),
    Index(None, "gtin", "lot", **_present("lot")),
)

event_epcs = Table(
    "event_epcs", metadata,
    # The event's insert order, not its id: keys grow with every insert, so a capture's EPC
    # rows land at the end of the primary key's b-tree instead of at random pages all over it
    # (an event id is a hash). At 200,000 events that halved the pages each commit rewrites.
    Column("seq", ForeignKey("events.seq"), primary_key=True),
    Column("role", String(8), primary_key=True),
    Column("epc", String(512), primary_key=True),
    Index(None, "epc", "role"),
    # On SQLite the primary key is the table itself (no hidden rowid b-tree): one index fewer
    # to write per EPC, the biggest share of an accepted capture's rows.
    sqlite_with_rowid=False,
)

sensor_readings = Table(
    "sensor_readings", metadata,
    # One row per numeric statistic of each typed sensorReport (`ledger.store.sensor_index`):
    # what the EPCIS sensor query parameters read instead of the events' JSON.
    Column("seq", ForeignKey("events.seq"), primary_key=True),
    Column("element", Integer, primary_key=True, autoincrement=False),
    Column("report", Integer, primary_key=True, autoincrement=False),
    Column("stat", String(16), primary_key=True),
    Column("type", String(128), nullable=False),
    Column("uom", String(16), nullable=True),
    Column("value", Float, nullable=False),
    Column("canonical", Float, nullable=True),  # in the type's canonical unit, if convertible
    Index(None, "type", "stat", "canonical"),
    Index(None, "uom", "stat", "value"),
    sqlite_with_rowid=False,
)

event_facts = Table(
    "event_facts", metadata,
    # One row per (event, field key, value) of `ledger.store.event_facts.fact_rows`: what the
    # EPCIS query parameters without a column of their own read instead of the events' JSON.
    # No primary key: text and num may both be NULL (a fact that only says the field exists).
    Column("seq", ForeignKey("events.seq"), nullable=False),
    Column("key", String(256), nullable=False),
    Column("text", String(512), nullable=True),
    Column("num", Float, nullable=True),
    Index(None, "key", "text", "seq"),
    Index(None, "key", "num", "seq"),
    # One event's rows of one key (0025): `orderBy=<prefix:field>` asks, of each event its
    # walk of the two indexes above meets, whether the event has another value of the field
    # that orders first, and of each event without a value whether it has none. Keys grow with
    # seq, so each capture appends to its end.
    Index(None, "seq", "key"),
)

outbox = Table(
    "outbox", metadata,
    Column("seq", _SERIAL, primary_key=True, autoincrement=True),  # queue order
    Column("capture_id", ForeignKey("captures.id"), nullable=False, unique=True),
    Column("event_count", Integer, nullable=False),
    Column("enqueued_ms", BigInteger, nullable=False),
    Column("batch_id", ForeignKey("batches.id"), nullable=True, index=True),
)

codes = Table(
    "codes", metadata,
    Column("id", _SERIAL, primary_key=True, autoincrement=True),
    Column("gtin", String(14), nullable=False),
    Column("lot", String(64), nullable=True),
    Column("serial", String(64), nullable=False),
    Column("commitment", LargeBinary(32), nullable=False, unique=True),
    Column("registered_ms", BigInteger, nullable=False),
    UniqueConstraint("gtin", "serial"),
    Index(None, "gtin", "lot"),
)

scans = Table(
    "scans", metadata,
    Column("id", _SERIAL, primary_key=True, autoincrement=True),
    Column("gtin", String(14), nullable=False),
    Column("serial", String(64), nullable=True),
    Column("scanned_ms", BigInteger, nullable=False),
    Column("region", String(64), nullable=True),
    Column("client_hash", LargeBinary(32), nullable=True),  # salted hash, never a raw address
    Column("verdict", String(32), nullable=True),
    Index(None, "gtin", "serial", "scanned_ms"),
)

complaints = Table(
    "complaints", metadata,
    Column("id", _SERIAL, primary_key=True, autoincrement=True),
    Column("gtin", String(14), nullable=True),
    Column("serial", String(64), nullable=True),
    Column("lot", String(64), nullable=True),
    Column("text", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("status", String(16), nullable=False, server_default="open"),
    Column("client_hash", LargeBinary(32), nullable=True),  # salted hash, never an address
    # SHA-256 of the complainant's receipt (never the receipt); NULL: filed before receipts.
    Column("receipt_hash", LargeBinary(32), nullable=True),
    Column("outcome", Text, nullable=True),  # the regulator's, on resolving or rejecting
    Column("updated_ms", BigInteger, nullable=True),  # last status change
)

# One row per complaint status change in the regulator's console: who (organisation and
# session key) and when (`ledger.trade.complaint_triage`).
complaint_transitions = Table(
    "complaint_transitions", metadata,
    Column("id", _SERIAL, primary_key=True, autoincrement=True),
    Column("complaint_id", ForeignKey("complaints.id"), nullable=False, index=True),
    Column("from_status", String(16), nullable=False),
    Column("to_status", String(16), nullable=False),
    Column("outcome", Text, nullable=True),
    Column("org", LargeBinary(32), nullable=False),
    Column("signer", String(42), nullable=False),
    Column("at_ms", BigInteger, nullable=False),
)

complaint_replies = Table(
    "complaint_replies", metadata,
    Column("id", _SERIAL, primary_key=True, autoincrement=True),
    Column("complaint_id", ForeignKey("complaints.id"), nullable=False, index=True),
    Column("org", LargeBinary(32), nullable=False),
    Column("signer", String(42), nullable=False),  # checksummed address that signed the reply
    Column("text", Text, nullable=False),
    Column("replied_ms", BigInteger, nullable=False),
    Column("signature", LargeBinary(65), nullable=False, unique=True),  # EIP-712 ComplaintReply
)

# The text of a regulator's reason for a grade or blacklist change, with the Consortium
# transaction that made it (`ledger.trade.regulator_reasons`); the chain holds only
# keccak256(reason) for a blacklisting and nothing for a grade.
regulator_reasons = Table(
    "regulator_reasons", metadata,
    Column("tx_hash", LargeBinary(32), primary_key=True),
    Column("org", LargeBinary(32), nullable=False, index=True),  # the organisation concerned
    Column("action", String(16), nullable=False),  # grade, blacklist, unblacklist
    Column("grade", String(32), nullable=True),
    Column("reason", Text, nullable=False),
    Column("by_org", LargeBinary(32), nullable=False),  # the regulator's organisation
    Column("signer", String(42), nullable=False),  # the key that sent the transaction
    Column("recorded_ms", BigInteger, nullable=False),
)

request_nonces = Table(
    "request_nonces", metadata,
    Column("nonce", String(160), primary_key=True),  # "<org 0x-hex>:<nonce>", ≤ 131 characters
    Column("expires_ms", BigInteger, nullable=False, index=True),
)

console_sessions = Table(
    "console_sessions", metadata,
    Column("id_hash", LargeBinary(32), primary_key=True),  # sha256 of the cookie's session id
    Column("org", LargeBinary(32), nullable=False),
    Column("signer", String(42), nullable=False),  # checksummed address that signed in
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False, index=True),
)

named_queries = Table(
    "named_queries", metadata,
    Column("org", LargeBinary(32), primary_key=True),  # the creating member's organisation
    Column("name", String(128), primary_key=True),
    Column("query", Text, nullable=False),  # JSON text of the query language, as sent
    Column("created_ms", BigInteger, nullable=False),
)

subscriptions = Table(
    "subscriptions", metadata,
    Column("id", String(36), primary_key=True),  # a random UUID
    Column("org", LargeBinary(32), nullable=False),
    Column("query_name", String(128), nullable=False),
    Column("signer", String(42), nullable=False),  # the key that subscribed
    Column("dest", Text, nullable=False),  # the webhook URL
    Column("secret", Text, nullable=False),  # signatureToken: HMAC key, never answered
    Column("stream", Integer, nullable=False),  # 1: on capture; 0: on `schedule`
    Column("schedule", Text, nullable=True),  # the QuerySchedule as JSON
    Column("report_if_empty", Integer, nullable=False),
    Column("initial_record_ms", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False),  # events.seq considered up to here
    Column("next_run_ms", BigInteger, nullable=True),  # scheduled: the next matching minute
    Column("created_ms", BigInteger, nullable=False),
    Column("last_notified_ms", BigInteger, nullable=True),  # last 2xx from the receiver
    # GS1-EPC-Format asked at subscription (`ledger.epcis.epc_format.EpcFormat` value; NULL:
    # no preference, deliveries as captured)
    Column("epc_format", String(32), nullable=True),
    Index(None, "org", "query_name", "id"),
)

webhook_outbox = Table(
    "webhook_outbox", metadata,
    Column("id", String(36), primary_key=True),  # the delivery id, the same on every attempt
    Column("subscription_id", ForeignKey("subscriptions.id"), nullable=False, index=True),
    Column("body", LargeBinary, nullable=False),  # the EPCISQueryDocument, as sent
    Column("created_ms", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_ms", BigInteger, nullable=False, index=True),
    Column("lease_until_ms", BigInteger, nullable=True),  # a worker is sending it
    Column("last_error", Text, nullable=True),
    # The GS1-EPC-Format the body's keys are written in, sent as that header (NULL: stored
    # before migration 0022, sent without it)
    Column("epc_format", String(32), nullable=True),
)

brand_links = Table(
    "brand_links", metadata,
    Column("id", _SERIAL, primary_key=True, autoincrement=True),
    Column("gtin", String(14), nullable=False, index=True),
    Column("link_type", String(200), nullable=False),   # full link type URI
    Column("href", String(1000), nullable=False),
    Column("title", String(100), nullable=False),
    Column("media_type", String(100), nullable=True),
    Column("hreflang", String(8), nullable=True),
    Column("org", LargeBinary(32), nullable=False),     # the registering prefix owner
    Column("registered_ms", BigInteger, nullable=False),
    UniqueConstraint("gtin", "link_type", "href"),
)

# A brand's signed product conditions (`ledger.trade.conditions`): one immutable row per GTIN
# and version; `text` is the exact JSON text the brand signed (never re-serialised).
product_conditions = Table(
    "product_conditions", metadata,
    Column("id", _SERIAL, primary_key=True, autoincrement=True),
    Column("gtin", String(14), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("org", LargeBinary(32), nullable=False),
    Column("signer", String(42), nullable=False),
    Column("signed_at", BigInteger, nullable=False),  # unix seconds, as signed
    Column("text", Text, nullable=False),
    Column("text_hash", LargeBinary(32), nullable=False),
    Column("signature", LargeBinary(65), nullable=False),
    Column("received_ms", BigInteger, nullable=False),
    UniqueConstraint("gtin", "version"),
)

# EPCIS error declarations (EPCIS 2.0 §7.4.1.4): the erroneous event captured again with an
# `errorDeclaration`, by its signer's organisation or a REGULATOR (`ledger.pipeline.intake`).
# The event keeps its row in `events`; the declaration is a signed fact of its own, held by the
# capture that carries it (its commitment, anchored with that capture, covers the field).
# Queries join it by event id; `reason` (bare CBV term when CBV) is indexed for EQ_errorReason.
error_declarations = Table(
    "error_declarations", metadata,
    Column("event_id", LargeBinary(32), primary_key=True),  # the declared event
    Column("capture_id", ForeignKey("captures.id"), nullable=False),
    Column("event_index", Integer, nullable=False),  # position in that capture's event_ids
    Column("org", LargeBinary(32), nullable=False),  # the declaring organisation
    Column("declaration_time_ms", BigInteger, nullable=False),
    Column("reason", String(256), nullable=True),
    Column("body", Text, nullable=False),  # the errorDeclaration object as captured
    Column("received_ms", BigInteger, nullable=False),
    Index(None, "reason", sqlite_where=text("reason IS NOT NULL"),
          postgresql_where=text("reason IS NOT NULL")),
    Index(None, "declaration_time_ms"),  # GE_/LT_errorDeclarationTime (0017)
)

declaration_corrections = Table(
    "declaration_corrections", metadata,
    # One row per entry of an error declaration's `correctiveEventIDs` (EQ_correctiveEventID),
    # written with the declaration; the first declaration of an event wins, as there.
    Column("corrective_id", String(512), primary_key=True),
    Column("event_id", LargeBinary(32), primary_key=True),  # the declared event
)
