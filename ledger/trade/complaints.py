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

Counting for the risk rules (`counts`): anyone can file and scan without an account, so raw
totals measure the most persistent address, not the public. Only codes the brand issued
count (a complaint or a scan about a serial that was never issued says nothing about the brand
and is counted apart); each client counts once per item and for at most a capped number of
items.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, case, distinct, exists, func, insert, select, union
from sqlalchemy.engine import Connection, Engine

from ledger.errors import InvalidInputError
from ledger.store.tables import codes, complaints, scans

__all__ = ["CATEGORIES", "Activity", "Complaint", "ComplaintBook", "InvalidComplaintError",
           "clean_text"]

CATEGORIES = ("counterfeit", "quality", "label", "other")


class InvalidComplaintError(InvalidInputError):
    slug = "invalid-complaint"
    title = "Invalid complaint"


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

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "gtin": self.gtin, "serial": self.serial, "lot": self.lot,
                "category": self.category, "text": self.text, "createdMs": self.created_ms,
                "status": self.status}


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
                     r.status)


class ComplaintBook:
    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self._clock = clock

    def file(self, gtin: str, serial: str | None, lot: str | None, text: str, *,
             category: str = "other", max_chars: int = 2000,
             client_hash: bytes | None = None) -> Complaint:
        if category not in CATEGORIES:
            raise InvalidComplaintError(f"unknown complaint category {category!r}; one of "
                                        f"{', '.join(CATEGORIES)}", field="category")
        text = clean_text(text, max_chars)
        now = int(self._clock() * 1000)
        with self.engine.connect() as conn, conn.execution_options(
                sqlite_begin="IMMEDIATE").begin():
            result = conn.execute(insert(complaints).values(
                gtin=gtin, serial=serial, lot=lot, text=f"{category}\n{text}", created_ms=now,
                status="open", client_hash=client_hash))
            (new_id,) = result.inserted_primary_key  # type: ignore[misc]
        return Complaint(int(new_id), gtin, serial, lot, category, text, now, "open")

    def gtins(self, *, with_scans: bool = False) -> list[str]:
        """Every GTIN that has complaints (and scans, if asked): few, one per product."""
        q: Any = select(complaints.c.gtin)
        if with_scans:
            q = union(q, select(scans.c.gtin))
        with self.engine.connect() as conn:
            return sorted({r[0] for r in conn.execute(q) if r[0]})

    def list(self, gtins: Iterable[str] | None = None, *, lot: str | None = None,
             after_id: int = 0, limit: int = 100) -> list[Complaint]:
        """Complaints in filing order, optionally only for `gtins` (None: all)."""
        q = select(complaints).where(complaints.c.id > after_id).order_by(complaints.c.id).limit(limit)
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
