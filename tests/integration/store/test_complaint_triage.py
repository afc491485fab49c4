"""Complaint receipts and triage in the store, on SQLite and PostgreSQL: the receipt is kept
only as its hash, a wrong or missing one reads like an id that does not exist, and the status
moves only open → investigating → resolved | rejected, each change kept with who and when."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from ledger.store import tables as t
from ledger.store.store import Store
from ledger.trade.complaint_triage import ComplaintTriage, IllegalTransitionError
from ledger.trade.complaints import ComplaintBook, InvalidComplaintError, UnknownComplaintError

REGULATOR = bytes.fromhex("aa" * 32)
SIGNER = "0x" + "ab" * 20


def _file(store: Store, text: str = "the seal was broken") -> tuple[int, str]:
    filed = ComplaintBook(store.engine).file("09506000134352", "S1", "L1", text,
                                             category="quality")
    return filed.complaint.id, filed.receipt


def test_the_receipt_is_random_and_only_its_hash_is_stored(store: Store) -> None:
    (a, ra), (b, rb) = _file(store), _file(store)
    assert ra != rb and len(ra) >= 43  # 32 random bytes, base64url
    with store.engine.connect() as conn:
        rows = dict(conn.execute(select(t.complaints.c.id, t.complaints.c.receipt_hash)).all())
    assert rows[a] == hashlib.sha256(ra.encode()).digest()
    assert ra.encode() not in rows[a] and rows[a] != rows[b]
    standing = ComplaintBook(store.engine).for_receipt(a, ra)
    assert (standing.complaint.id, standing.complaint.status, standing.complaint.text) == \
        (a, "open", "the seal was broken")


@pytest.mark.parametrize("receipt", [None, "", "x", "WRONG" * 9, "r" * 201])
def test_attack_a_wrong_receipt_reads_like_no_complaint_at_all(store: Store,
                                                               receipt: str | None) -> None:
    cid, real = _file(store)
    book = ComplaintBook(store.engine)
    with pytest.raises(UnknownComplaintError) as wrong:
        book.for_receipt(cid, receipt)
    with pytest.raises(UnknownComplaintError) as missing:
        book.for_receipt(cid + 1000, real)
    # The same problem, naming nothing but the id asked for.
    assert wrong.value.to_problem() | {"complaint": 0} == missing.value.to_problem() | {
        "complaint": 0}
    assert "seal" not in str(wrong.value.to_problem()) and "open" not in str(
        wrong.value.to_problem())
    # Another complaint's receipt opens only that one.
    other, other_receipt = _file(store, "another")
    with pytest.raises(UnknownComplaintError):
        book.for_receipt(cid, other_receipt)
    assert book.for_receipt(other, other_receipt).complaint.text == "another"


def test_a_complaint_from_before_receipts_opens_for_nobody(store: Store) -> None:
    with store.engine.begin() as conn:
        cid = conn.execute(t.complaints.insert().values(
            gtin="09506000134352", serial="S1", text="other\nold", created_ms=1,
            status="open")).inserted_primary_key[0]
    for guess in ("", hashlib.sha256(b"").hexdigest(), "\0" * 32):
        with pytest.raises(UnknownComplaintError):
            ComplaintBook(store.engine).for_receipt(int(cid), guess)


def test_triage_moves_only_along_the_workflow_and_keeps_who_and_when(store: Store) -> None:
    cid, receipt = _file(store)
    triage = ComplaintTriage(store.engine, clock=lambda: 1_800_000_000.0)
    for to, outcome in (("resolved", "done"), ("rejected", "no"), ("open", None)):
        with pytest.raises(IllegalTransitionError) as refused:
            triage.move(cid, to, outcome=outcome, org=REGULATOR, signer=SIGNER)
        assert refused.value.fields["status"] == "open"
    with pytest.raises(InvalidComplaintError):
        triage.move(cid, "closed", outcome=None, org=REGULATOR, signer=SIGNER)
    with pytest.raises(InvalidComplaintError):  # an outcome only when resolving or rejecting
        triage.move(cid, "investigating", outcome="early", org=REGULATOR, signer=SIGNER)
    assert triage.move(cid, "investigating", outcome=None, org=REGULATOR,
                       signer=SIGNER).status == "investigating"
    with pytest.raises(InvalidComplaintError):  # resolving needs an outcome
        triage.move(cid, "resolved", outcome="  ", org=REGULATOR, signer=SIGNER)
    moved = triage.move(cid, "resolved", outcome="The retailer withdrew the lot.",
                        org=REGULATOR, signer=SIGNER)
    assert (moved.status, moved.outcome, moved.updated_ms) == (
        "resolved", "The retailer withdrew the lot.", 1_800_000_000_000)
    with pytest.raises(IllegalTransitionError):  # final
        triage.move(cid, "rejected", outcome="x", org=REGULATOR, signer=SIGNER)
    assert [(c.from_status, c.to_status, c.org, c.signer, c.at_ms)
            for c in triage.history(cid)] == [
        ("open", "investigating", REGULATOR, SIGNER, 1_800_000_000_000),
        ("investigating", "resolved", REGULATOR, SIGNER, 1_800_000_000_000)]
    standing = ComplaintBook(store.engine).for_receipt(cid, receipt)
    assert (standing.complaint.status, standing.complaint.outcome) == (
        "resolved", "The retailer withdrew the lot.")
    with pytest.raises(UnknownComplaintError):
        triage.move(cid + 1000, "investigating", outcome=None, org=REGULATOR, signer=SIGNER)
    assert [c.id for c in ComplaintBook(store.engine).list(status="resolved")] == [cid]
    assert ComplaintBook(store.engine).list(status="open") == []


@pytest.mark.parametrize("start", ["open", "investigating", "resolved", "rejected"])
def test_every_move_not_in_the_workflow_is_refused_and_changes_nothing(store: Store,
                                                                      start: str) -> None:
    from ledger.trade.complaint_triage import TRANSITIONS
    from ledger.trade.complaints import STATUSES

    for to in STATUSES:
        cid, _ = _file(store)
        with store.engine.begin() as conn:
            conn.execute(t.complaints.update().where(t.complaints.c.id == cid).values(
                status=start))
        triage = ComplaintTriage(store.engine)
        outcome = "checked" if to in ("resolved", "rejected") else None
        if to in TRANSITIONS[start]:
            assert triage.move(cid, to, outcome=outcome, org=REGULATOR,
                               signer=SIGNER).status == to
            assert len(triage.history(cid)) == 1
        else:
            with pytest.raises(IllegalTransitionError):
                triage.move(cid, to, outcome=outcome, org=REGULATOR, signer=SIGNER)
            assert ComplaintBook(store.engine).get(cid).status == start
            assert triage.history(cid) == []
