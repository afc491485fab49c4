"""Complaint triage: the regulator moves a complaint open → investigating → resolved | rejected.

Only those transitions (`TRANSITIONS`); resolving or rejecting needs an outcome text, which the
complainant reads with the receipt (`ComplaintBook.for_receipt`). Each change is a
compare-and-set on the complaint's current status, so two regulators acting at once cannot both
move it from the same state, and it is kept with who made it (the organisation and the key of
the console session) and when, in `complaint_transitions`. The transition is the gateway's
record of a session-authenticated request: it is not signed by the key, nor on chain.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from ledger.errors import ConflictError
from ledger.store.tables import complaint_transitions, complaints
from ledger.trade.complaints import (
    STATUSES,
    Complaint,
    ComplaintBook,
    InvalidComplaintError,
    UnknownComplaintError,
    clean_text,
)

__all__ = ["FINAL", "TRANSITIONS", "ComplaintTriage", "IllegalTransitionError", "Transition"]

TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"investigating"}),
    "investigating": frozenset({"resolved", "rejected"}),
    "resolved": frozenset(),
    "rejected": frozenset(),
}
FINAL = frozenset({"resolved", "rejected"})  # need an outcome text


class IllegalTransitionError(ConflictError):
    slug = "illegal-complaint-transition"
    title = "The complaint cannot move to that status from where it is"


@dataclass(frozen=True, slots=True)
class Transition:
    complaint_id: int
    from_status: str
    to_status: str
    outcome: str | None
    org: bytes
    signer: str
    at_ms: int


class ComplaintTriage:
    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self._clock = clock

    def move(self, complaint_id: int, to: str, *, outcome: str | None, org: bytes,
             signer: str, max_chars: int = 2000) -> Complaint:
        """Move the complaint to `to`; raises `IllegalTransitionError` (409) unless `TRANSITIONS`
        allows it from the status it has now, `InvalidComplaintError` (400) for an unknown
        status or a final status without an outcome, `UnknownComplaintError` (404)."""
        if to not in STATUSES:
            raise InvalidComplaintError(f"unknown status {to!r}; one of {', '.join(STATUSES)}",
                                        field="status")
        text: str | None = None
        if to in FINAL:
            if not outcome or not outcome.strip():
                raise InvalidComplaintError(f"moving a complaint to {to} needs an outcome text",
                                            field="outcome")
            text = clean_text(outcome, max_chars)
        elif outcome and outcome.strip():
            raise InvalidComplaintError(f"an outcome is given only when resolving or rejecting, "
                                        f"not for {to}", field="outcome")
        now = int(self._clock() * 1000)
        with self.engine.connect() as conn, conn.execution_options(
                sqlite_begin="IMMEDIATE").begin():
            current = conn.execute(select(complaints.c.status).where(
                complaints.c.id == complaint_id)).scalar_one_or_none()
            if current is None:
                raise UnknownComplaintError(f"no complaint {complaint_id}",
                                            complaint=complaint_id)
            if to not in TRANSITIONS.get(current, frozenset()):
                raise IllegalTransitionError(
                    f"complaint {complaint_id} is {current}; from {current} it may go to "
                    f"{', '.join(sorted(TRANSITIONS.get(current, ()))) or 'nothing'}",
                    complaint=complaint_id, status=current, to=to,
                    allowed=sorted(TRANSITIONS.get(current, ())))
            changed = conn.execute(update(complaints).where(
                complaints.c.id == complaint_id, complaints.c.status == current).values(
                status=to, outcome=text, updated_ms=now)).rowcount
            if changed != 1:  # another request moved it first (PostgreSQL: no table lock)
                raise IllegalTransitionError(f"complaint {complaint_id} changed meanwhile",
                                             complaint=complaint_id, to=to)
            conn.execute(insert(complaint_transitions).values(
                complaint_id=complaint_id, from_status=current, to_status=to, outcome=text,
                org=org, signer=signer, at_ms=now))
        return ComplaintBook(self.engine).get(complaint_id)

    def history(self, complaint_id: int | None = None) -> list[Transition]:
        """Status changes, oldest first (of one complaint, or all)."""
        q = select(complaint_transitions).order_by(complaint_transitions.c.id)
        if complaint_id is not None:
            q = q.where(complaint_transitions.c.complaint_id == complaint_id)
        with self.engine.connect() as conn:
            return [Transition(int(r.complaint_id), r.from_status, r.to_status, r.outcome,
                               bytes(r.org), r.signer, int(r.at_ms)) for r in conn.execute(q)]
