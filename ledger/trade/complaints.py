"""Consumer complaints about an item code: filed by anyone, read by the brand owner and
regulators, counted by the customs risk rules.

A complaint names the code (GTIN + serial, lot if known) and says what is wrong in plain text.
No account, so the text is bounded and stripped of control characters before it is stored,
and it is never rendered as HTML by anything here. Who owns the GTIN is not stored with the
complaint: it is read from the chain (Consortium.gtinOwner) when complaints are listed or
counted, so a prefix that changes hands cannot leave complaints with the wrong brand.

Storage: the store's `complaints` table has no category column yet, so the category is the
first line of `text` (always written by `file`, so a user's message cannot forge it). A contact
address, if a consumer offers one, is not stored: no account means no personal data to keep.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, union
from sqlalchemy.engine import Engine

from ledger.errors import InvalidInputError
from ledger.store.tables import complaints, scans

__all__ = ["CATEGORIES", "Complaint", "ComplaintBook", "InvalidComplaintError", "clean_text"]

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
             category: str = "other", max_chars: int = 2000) -> Complaint:
        if category not in CATEGORIES:
            raise InvalidComplaintError(f"unknown complaint category {category!r}; one of "
                                        f"{', '.join(CATEGORIES)}", field="category")
        text = clean_text(text, max_chars)
        now = int(self._clock() * 1000)
        with self.engine.connect() as conn, conn.execution_options(
                sqlite_begin="IMMEDIATE").begin():
            result = conn.execute(insert(complaints).values(
                gtin=gtin, serial=serial, lot=lot, text=f"{category}\n{text}", created_ms=now,
                status="open"))
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

    def counts(self, gtins: Iterable[str]) -> tuple[int, int]:
        """(complaints, scans) over the GTINs: the two numbers behind a complaint rate."""
        gtins = list(gtins)
        if not gtins:
            return 0, 0
        with self.engine.connect() as conn:
            n_complaints = conn.execute(select(func.count()).select_from(complaints)
                                        .where(complaints.c.gtin.in_(gtins))).scalar_one()
            n_scans = conn.execute(select(func.count()).select_from(scans)
                                   .where(scans.c.gtin.in_(gtins))).scalar_one()
        return int(n_complaints), int(n_scans)
