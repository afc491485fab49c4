"""Consumer complaints about an item code: filed by anyone, read by the brand owner and
regulators, counted by the customs risk rules.

A complaint names the code (GTIN + serial, lot if known) and says what is wrong in plain text.
No account, so the text is bounded and stripped of control characters before it is stored,
and it is never rendered as HTML by anything here. Who owns the GTIN is not stored with the
complaint: it is read from the chain (Consortium.gtinOwner) when complaints are listed or
counted, so a prefix that changes hands cannot leave complaints with the wrong brand.

Storage: the store's `complaints` table has no category column yet, so the category is the
first line of `text` (always written by `file`, so a user's message cannot forge it). No contact
address is asked for or stored: no account means no personal data to keep. Who filed it is
kept only as the salted client hash scans keep too, so the risk rules can count clients.

The complainant's receipt (`Filed.receipt`): filing returns a random 256-bit token, and only
its SHA-256 is stored. With the complaint's id and the receipt anyone can read where the
complaint stands (`ComplaintBook.for_receipt`): its status, the regulator's outcome, the brand's
replies. Ids are sequential, so an id alone must tell nothing: a wrong receipt, no receipt and
an id that does not exist give the same `UnknownComplaintError`.

Counting for the risk rules (`counts`): anyone can file and scan without an account, so raw
totals measure the most persistent address, not the public. Only codes the brand issued
count (a complaint or a scan about a serial that was never issued says nothing about the brand
and is counted apart); each client counts once per item and for at most a capped number of
items.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, case, distinct, exists, func, insert, select, union
from sqlalchemy.engine import Connection, Engine

from ledger.errors import InvalidInputError, NotFoundError
from ledger.store.tables import codes, complaint_replies, complaints, scans

__all__ = ["CATEGORIES", "STATUSES", "Activity", "Complaint", "ComplaintBook", "Filed",
           "InvalidComplaintError", "Standing", "UnknownComplaintError", "clean_text",
           "receipt_hash"]

CATEGORIES = ("counterfeit", "quality", "label", "other")
STATUSES = ("open", "investigating", "resolved", "rejected")
_RECEIPT_BYTES = 32  # 256 bits: guessing one is hopeless, so no lock-out is needed


class InvalidComplaintError(InvalidInputError):
    slug = "invalid-complaint"
    title = "Invalid complaint"


class UnknownComplaintError(NotFoundError):
    """No complaint with that id, or not with that receipt: the two are not told apart."""

    slug = "unknown-complaint"
    title = "No such complaint"


def receipt_hash(receipt: str) -> bytes:
    return hashlib.sha256(receipt.encode("utf-8")).digest()


@dataclass(frozen=True, slots=True)
class Complaint:
    id: int
    gtin: str
    serial: str | None
    lot: str | None
    category: str
    text: str
    created_ms: int
    status: str
    outcome: str | None = None
    updated_ms: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "gtin": self.gtin, "serial": self.serial, "lot": self.lot,
                "category": self.category, "text": self.text, "createdMs": self.created_ms,
                "status": self.status, "outcome": self.outcome, "updatedMs": self.updated_ms}


@dataclass(frozen=True, slots=True)
class Filed:
    """A complaint just filed and the receipt only its complainant holds (not stored)."""

    complaint: Complaint
    receipt: str


@dataclass(frozen=True, slots=True)
class Reply:
    org: bytes
    signer: str
    text: str
    replied_ms: int


@dataclass(frozen=True, slots=True)
class Standing:
    """What the complainant may read with the receipt: the complaint, its outcome, replies."""

    complaint: Complaint
    replies: tuple[Reply, ...]


@dataclass(frozen=True, slots=True)
class Activity:
    """The public's activity about an enterprise's GTINs, as the risk rules count it."""

    complaints: int  # per client: distinct issued codes complained about, capped
    scans: int  # per client: distinct issued codes scanned, capped
    unissued_complaints: int  # about codes never issued: rows, apart
    unissued_scans: int


def clean_text(text: str, max_chars: int) -> str:
    """NFC, no control characters except newline, trimmed; refused if empty or too long."""
    if not isinstance(text, str):
        raise InvalidComplaintError("complaint text must be a string", field="text")
    text = unicodedata.normalize("NFC", text)
    text = "".join(c for c in text if c == "\n" or unicodedata.category(c)[0] != "C").strip()
    if not text:
        raise InvalidComplaintError("complaint text is empty", field="text")
    if len(text) > max_chars:
        raise InvalidComplaintError(f"complaint text is {len(text)} characters; at most {max_chars}",
                                    field="text", maxChars=max_chars)
    return text


def _row(r: Any) -> Complaint:
    category, _, text = str(r.text).partition("\n")
    return Complaint(int(r.id), r.gtin, r.serial, r.lot, category, text, int(r.created_ms),
                     r.status, r.outcome, None if r.updated_ms is None else int(r.updated_ms))


class ComplaintBook:
    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self._clock = clock

    def file(self, gtin: str, serial: str | None, lot: str | None, text: str, *,
             category: str = "other", max_chars: int = 2000,
             client_hash: bytes | None = None) -> Filed:
        if category not in CATEGORIES:
            raise InvalidComplaintError(f"unknown complaint category {category!r}; one of "
                                        f"{', '.join(CATEGORIES)}", field="category")
        text = clean_text(text, max_chars)
        now = int(self._clock() * 1000)
        receipt = secrets.token_urlsafe(_RECEIPT_BYTES)
        with self.engine.connect() as conn, conn.execution_options(
                sqlite_begin="IMMEDIATE").begin():
            result = conn.execute(insert(complaints).values(
                gtin=gtin, serial=serial, lot=lot, text=f"{category}\n{text}", created_ms=now,
                status="open", client_hash=client_hash, receipt_hash=receipt_hash(receipt)))
            (new_id,) = result.inserted_primary_key  # type: ignore[misc]
        return Filed(Complaint(int(new_id), gtin, serial, lot, category, text, now, "open"),
                     receipt)

    def get(self, complaint_id: int) -> Complaint:
        with self.engine.connect() as conn:
            row = conn.execute(select(complaints).where(complaints.c.id == complaint_id)).first()
        if row is None:
            raise UnknownComplaintError(f"no complaint {complaint_id}", complaint=complaint_id)
        return _row(row)

    def for_receipt(self, complaint_id: int, receipt: str | None) -> Standing:
        """The complaint and the brand's replies, for the holder of its receipt. Anything else
        (no receipt, a wrong one, an unknown id, a complaint from before receipts) is the same
        `UnknownComplaintError`, which names nothing but the id asked for."""
        refused = UnknownComplaintError(
            "no complaint with that id and receipt", complaint=complaint_id)
        if not receipt or len(receipt) > 200:
            raise refused
        with self.engine.connect() as conn:
            row = conn.execute(select(complaints).where(complaints.c.id == complaint_id)).first()
            stored = bytes(row.receipt_hash) if row is not None and row.receipt_hash else b""
            # Compared in constant time even though only a hash is stored: nothing to time.
            if not hmac.compare_digest(stored or bytes(32), receipt_hash(receipt)) or not stored:
                raise refused
            replies = conn.execute(select(complaint_replies).where(
                complaint_replies.c.complaint_id == complaint_id)
                .order_by(complaint_replies.c.id)).all()
        return Standing(_row(row), tuple(Reply(bytes(r.org), r.signer, r.text,
                                               int(r.replied_ms)) for r in replies))

    def gtins(self, *, with_scans: bool = False) -> list[str]:
        """Every GTIN that has complaints (and scans, if asked): few, one per product."""
        q: Any = select(complaints.c.gtin)
        if with_scans:
            q = union(q, select(scans.c.gtin))
        with self.engine.connect() as conn:
            return sorted({r[0] for r in conn.execute(q) if r[0]})

    def list(self, gtins: Iterable[str] | None = None, *, lot: str | None = None,
             after_id: int = 0, limit: int = 100, status: str | None = None
             ) -> list[Complaint]:
        """Complaints in filing order, optionally only for `gtins` (None: all), in `status`."""
        q = select(complaints).where(complaints.c.id > after_id).order_by(complaints.c.id).limit(limit)
        if status is not None:
            if status not in STATUSES:
                raise InvalidComplaintError(f"unknown status {status!r}; one of "
                                            f"{', '.join(STATUSES)}", field="status")
            q = q.where(complaints.c.status == status)
        if gtins is not None:
            q = q.where(complaints.c.gtin.in_(list(gtins)))
        if lot is not None:
            q = q.where(complaints.c.lot == lot)
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(q)]

    def counts(self, gtins: Iterable[str], *, complaint_cap: int = 3,
               scan_cap: int = 20) -> Activity:
        """The public's activity over the GTINs: complaints and scans of issued codes, each
        client counted once per code and for at most `complaint_cap` (`scan_cap`) codes; and,
        apart, the rows about codes never issued."""
        gtins = list(gtins)
        if not gtins:
            return Activity(0, 0, 0, 0)
        with self.engine.connect() as conn:
            return Activity(
                _per_client(conn, complaints, gtins, complaint_cap),
                _per_client(conn, scans, gtins, scan_cap),
                _unissued(conn, complaints, gtins), _unissued(conn, scans, gtins))


def _issued(table: Table) -> Any:
    return exists().where(codes.c.gtin == table.c.gtin, codes.c.serial == table.c.serial)


def _per_client(conn: Connection, table: Table, gtins: list[str], cap: int) -> int:
    where = (table.c.gtin.in_(gtins), _issued(table))
    per_client = (select(func.count(distinct(table.c.serial)).label("n"))
                  .where(*where, table.c.client_hash.is_not(None))
                  .group_by(table.c.client_hash).subquery())
    capped = conn.execute(select(func.coalesce(func.sum(
        case((per_client.c.n > cap, cap), else_=per_client.c.n)), 0))).scalar_one()
    # Rows from before clients were recorded: each its own client.
    anonymous = conn.execute(select(func.count()).select_from(table).where(
        *where, table.c.client_hash.is_(None))).scalar_one()
    return int(capped) + int(anonymous)


def _unissued(conn: Connection, table: Table, gtins: list[str]) -> int:
    return int(conn.execute(select(func.count()).select_from(table).where(
        table.c.gtin.in_(gtins), ~_issued(table))).scalar_one())
