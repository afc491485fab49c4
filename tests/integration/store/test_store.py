"""The store on SQLite and PostgreSQL (the `store` fixture runs every test on both)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from ledger.chain.transactor import anvil_dev_key
from ledger.epcis.document import event_epcs
from ledger.epcis.event_hash import event_hash
from ledger.errors import InvalidInputError
from ledger.paths import SHARED_DIR
from ledger.pipeline.committer import CaptureCommitter
from ledger.proofs.capture import event_leaf
from ledger.proofs.merkle import keccak256, verify_proof
from ledger.proofs.signing import (
    CaptureDomain,
    build_signed_capture,
    prepare_capture,
    sign_capture,
)
from ledger.store import tables as t
from ledger.store.store import (
    EventQuery,
    InvalidPageTokenError,
    NonceReplayError,
    Store,
    normalise_cbv,
)

EXAMPLES = SHARED_DIR / "conformance" / "epcis" / "examples"
DOMAIN = CaptureDomain(chain_id=31337, verifying_contract="0x" + "11" * 20)
KEY = bytes.fromhex(anvil_dev_key(1)[2:])
ORG = keccak256(b"org:brand")


def signed(events: list[dict[str, Any]], *, nonce: int, org: bytes = ORG, context: Any = None):
    ids = [event_hash(e, context) for e in events]
    seed, _, root = prepare_capture(events, ids)
    sig = sign_capture(KEY, DOMAIN, root, len(ids), org, nonce, 1_700_000_000)
    return build_signed_capture(events, context, ids, sig, DOMAIN, seed=seed)


def object_event(i: int, *, biz_step: str = "shipping", lot: str = "L1",
                 minute: int = 0) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventTime": f"2024-03-01T10:{minute:02d}:00.000+08:00",
        "eventTimeZoneOffset": "+08:00",
        "epcList": [f"urn:epc:id:sgtin:0614141.107346.{i}"],
        "action": "OBSERVE",
        "bizStep": biz_step,
        "disposition": "in_transit",
        "readPoint": {"id": "urn:epc:id:sgln:0614141.00777.0"},
        "bizLocation": {"id": "urn:epc:id:sgln:0614141.00888.0"},
        "ilmd": {"cbvmda:lotNumber": lot},
    }


def example_documents() -> list[tuple[str, Any, list[dict[str, Any]]]]:
    docs = []
    for path in sorted(EXAMPLES.glob("*.jsonld")):
        doc = json.loads(path.read_text())
        events = doc.get("epcisBody", {}).get("eventList")
        if events:
            docs.append((path.name, doc.get("@context"), events))
    return docs


def test_migrate_from_empty_matches_the_tables(store_url: str) -> None:
    s = Store(store_url)
    try:
        assert s.schema_revision() is None
        s.migrate()
        s.migrate()  # idempotent
        assert s.schema_revision() == s.head_revision()
        with s.engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), t.metadata)
        assert diffs == []
    finally:
        s.close()


def test_migration_0005_keeps_complaints_and_scans_and_clears_declared_regions(
        store: Store) -> None:
    from sqlalchemy import insert, select

    store.migrate("0003")
    with store.engine.begin() as conn:
        # Only the columns revision 0003 has.
        conn.execute(insert(t.complaints).values(gtin="09421902960055", serial="S1",
                                                 text="other\nold", created_ms=1))
        conn.execute(insert(t.scans).values(gtin="09421902960055", serial="S1", scanned_ms=2,
                                            region="CN-31", client_hash=b"h" * 32))
    store.migrate()
    assert store.schema_revision() == store.head_revision()
    with store.engine.connect() as conn:
        rows = conn.execute(select(t.complaints.c.text, t.complaints.c.client_hash)).all()
        assert [tuple(r) for r in rows] == [("other\nold", None)]
        scans = conn.execute(select(t.scans.c.scanned_ms, t.scans.c.region,
                                    t.scans.c.client_hash)).all()
        assert [tuple(r) for r in scans] == [(2, None, b"h" * 32)]
    store.migrate("0003")
    with store.engine.connect() as conn:
        assert conn.execute(select(t.complaints.c.text)).scalar_one() == "other\nold"
    store.migrate()
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), t.metadata) == []


def _epc_rows(store: Store, key: str) -> set[tuple[bytes, str, str]]:
    """event_epcs as (event id, role, epc), whichever column (`key`) names the event."""
    from sqlalchemy import text

    with store.engine.connect() as conn:
        return {(bytes(r[0]), r[1], r[2]) for r in conn.execute(text(
            f"SELECT e.event_id, x.role, x.epc FROM event_epcs x "  # noqa: S608 - a constant
            f"JOIN events e ON e.{key} = x.{key}"))}


def test_migration_0003_rekeys_event_epcs_by_seq_and_back(store: Store) -> None:
    for n, (_name, context, events) in enumerate(example_documents()):
        store.accept_capture(signed(events, nonce=700 + n, context=context))
    rows = _epc_rows(store, "seq")
    assert {role for _e, role, _epc in rows} == set(t.EPC_ROLES)  # the examples use every role
    stored, _token = store.query_events(EventQuery(), per_page=10_000)
    assert len(rows) == sum(len(v) for e in stored for v in event_epcs(e.event).values())
    child = min(epc for _e, role, epc in rows if role == "child")
    history = store.events_for_epc(child)
    assert history
    store.migrate("0002")
    assert _epc_rows(store, "event_id") == rows
    store.migrate("0003")
    assert store.schema_revision() == "0003"
    assert _epc_rows(store, "seq") == rows
    store.migrate()  # the store's reads need the head schema (0009 joins error_declarations)
    # Going below 0009 drops the error declarations (the GS1 examples hold some).
    assert store.events_for_epc(child) == [replace(e, error_declaration=None) for e in history]
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), t.metadata) == []


def test_migration_0004_adds_request_nonces_and_takes_them_away(store: Store) -> None:
    from sqlalchemy import inspect

    assert store.first_use_nonce("0xorg:nonce-before-downgrade", 60)
    store.migrate("0003")
    with store.engine.connect() as conn:
        assert "request_nonces" not in inspect(conn).get_table_names()
    store.migrate()
    assert store.schema_revision() == store.head_revision()
    assert store.first_use_nonce("0xorg:nonce-before-downgrade", 60)  # a fresh table
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), t.metadata) == []


def test_migration_0006_keeps_seed_and_commitments_and_takes_them_away(store: Store) -> None:
    from sqlalchemy import inspect, select

    cap = signed([object_event(i) for i in range(3)], nonce=60)
    store.accept_capture(cap)
    with store.engine.connect() as conn:
        row = conn.execute(select(t.captures.c.disclosure_seed, t.captures.c.commitments)
                           .where(t.captures.c.id == cap.digest.hex())).one()
    assert bytes(row.disclosure_seed) == cap.seed
    assert bytes(row.commitments) == b"".join(cap.commitments)
    store.migrate("0005")
    with store.engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("captures")}
    assert not {"disclosure_seed", "commitments"} & columns
    with store.engine.connect() as conn:
        assert conn.execute(select(t.events.c.seq).where(
            t.events.c.event_id == cap.event_ids[0])).first() is not None
    store.migrate()
    assert store.get_event(cap.event_ids[0]) is not None
    assert store.schema_revision() == store.head_revision()
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), t.metadata) == []
    # A capture kept from before the seed: its events are still proved, over its ids.
    status = store.anchor_status(cap.event_ids[1])
    assert status is not None and status.commitment is None
    assert store.commitments_of(cap.event_ids) == {}


def test_a_request_nonce_is_first_used_once_until_it_expires(store: Store) -> None:
    from sqlalchemy import func, select

    assert store.first_use_nonce("0xaa:n1", 60) is True
    assert store.first_use_nonce("0xaa:n1", 60) is False
    assert store.first_use_nonce("0xbb:n1", 60) is True  # another org's nonce
    # Two processes' views of one store: a second Store on the same database refuses it too.
    other = Store(store.url)
    try:
        assert other.first_use_nonce("0xaa:n1", 60) is False
    finally:
        other.close()
    # Expired rows go as new ones come in: the table holds only the live window.
    assert store.first_use_nonce("0xcc:short", 0) is True
    assert store.first_use_nonce("0xdd:next", 60) is True
    with store.engine.connect() as conn:
        live = conn.execute(select(func.count()).select_from(t.request_nonces)).scalar_one()
    assert live == 3  # 0xaa:n1, 0xbb:n1, 0xdd:next; 0xcc:short expired and was deleted


def test_accepted_event_is_stored_pending_with_a_proof_into_the_signed_root(store: Store) -> None:
    events = [object_event(i) for i in range(5)]
    cap = signed(events, nonce=1)
    result = store.accept_capture(cap)
    assert result.capture_id == cap.digest.hex()
    assert result.new_event_ids == cap.event_ids and not result.duplicate
    got = store.get_event(cap.event_ids[3])
    assert got is not None and got.event == events[3] and got.anchor_state == "pending"
    assert got.as_epcis()["recordTime"].endswith("Z")
    status = store.anchor_status(cap.event_ids[3])
    assert status is not None and status.state == "pending" and status.batch_root is None
    assert status.signer == cap.signer and status.signature == cap.signature.signature
    assert verify_proof(cap.signature.events_root, event_leaf(cap.commitments[3]),
                        status.event_proof)
    assert status.commitment == cap.commitments[3]
    assert store.commitments_of([cap.event_ids[3], b"\x00" * 32]) == {
        cap.event_ids[3]: cap.commitments[3]}
    assert store.get_event(b"\x00" * 32) is None
    assert store.pending_count() == (1, 5)


def test_same_capture_twice_is_one_capture(store: Store) -> None:
    cap = signed([object_event(i) for i in range(3)], nonce=7)
    first = store.accept_capture(cap)
    again = store.accept_capture(cap)
    assert again.duplicate and again.new_event_ids == ()
    assert set(again.duplicate_event_ids) == set(first.new_event_ids)
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.captures)).scalar() == 1
        assert conn.execute(select(func.count()).select_from(t.outbox)).scalar() == 1
        assert conn.execute(select(func.count()).select_from(t.events)).scalar() == 3


def test_RevertIf_nonce_reused_for_another_capture(store: Store) -> None:
    store.accept_capture(signed([object_event(1)], nonce=42))
    with pytest.raises(NonceReplayError) as err:
        store.accept_capture(signed([object_event(2)], nonce=42))
    assert err.value.status == 409 and err.value.fields["nonce"] == 42
    # Another org may use the same number; nothing of the refused capture was stored.
    store.accept_capture(signed([object_event(3)], nonce=42, org=keccak256(b"org:other")))
    assert store.count_events() == 2


def test_event_from_another_capture_is_stored_once(store: Store) -> None:
    shared = object_event(1)
    a = store.accept_capture(signed([shared, object_event(2)], nonce=1))
    b_cap = signed([object_event(3), shared, shared], nonce=2)
    b = store.accept_capture(b_cap)
    assert not b.duplicate
    assert b.new_event_ids == (b_cap.event_ids[0],)
    assert b.duplicate_event_ids == (b_cap.event_ids[1], b_cap.event_ids[2])
    assert store.count_events() == 3
    owner = store.get_event(b_cap.event_ids[1])
    assert owner is not None and owner.capture_id == a.capture_id
    assert store.pending_count() == (2, 5)  # both captures are anchored (a fact each)


def test_partial_capture_keeps_every_signed_id_for_the_proofs(store: Store) -> None:
    cap = signed([object_event(i) for i in range(4)], nonce=3)
    result = store.accept_capture(cap, keep=[1, 3])
    assert result.new_event_ids == (cap.event_ids[1], cap.event_ids[3])
    assert store.get_event(cap.event_ids[0]) is None
    status = store.anchor_status(cap.event_ids[3])
    assert status is not None and status.event_index == 3
    assert verify_proof(cap.signature.events_root, event_leaf(cap.commitments[3]),
                        status.event_proof)


def test_indexed_columns_lot_gtin_and_cbv_spelling(store: Store) -> None:
    ev = object_event(9, biz_step="urn:epcglobal:cbv:bizstep:receiving", lot="LOT-77")
    lgtin = {**object_event(10), "epcList": [], "quantityList": [
        {"epcClass": "urn:epc:class:lgtin:4012345.012345.998877", "quantity": 3}]}
    del lgtin["ilmd"]
    cap = signed([ev, lgtin], nonce=5)
    store.accept_capture(cap)
    with store.engine.connect() as conn:
        rows = {bytes(r.event_id): r for r in conn.execute(select(t.events))}
    assert rows[cap.event_ids[0]].biz_step == "receiving"
    assert rows[cap.event_ids[0]].lot == "LOT-77"
    assert rows[cap.event_ids[0]].gtin == "10614141073464"
    assert rows[cap.event_ids[1]].lot == "998877"
    assert rows[cap.event_ids[1]].gtin == "04012345123456"
    assert normalise_cbv("https://ref.gs1.org/cbv/BizStep-receiving") == "receiving"
    assert [e.event_id for e in store.query_events(EventQuery(eq_biz_step=(
        "https://ref.gs1.org/cbv/BizStep-receiving",)))[0]] == [cap.event_ids[0]]
    assert [e.event_id for e in store.query_events(EventQuery(eq_lot=("998877",)))[0]] == [
        cap.event_ids[1]]


def test_query_filters_over_the_gs1_examples(store: Store) -> None:
    stored: list[tuple[bytes, dict[str, Any]]] = []
    for nonce, (_name, context, events) in enumerate(example_documents(), start=1):
        cap = signed(events, nonce=nonce, context=context)
        result = store.accept_capture(cap)
        stored += [(eid, ev) for eid, ev in zip(cap.event_ids, events, strict=True)
                   if eid in result.new_event_ids]
    assert len(stored) > 30

    def ids(q: EventQuery) -> set[bytes]:
        found, token = store.query_events(q, per_page=1000)
        assert token is None
        return {e.event_id for e in found}

    def expect(pred) -> set[bytes]:
        return {eid for eid, ev in stored if pred(ev)}

    assert ids(EventQuery()) == expect(lambda ev: True)
    agg = expect(lambda ev: ev["type"] == "AggregationEvent")
    assert agg and ids(EventQuery(event_types=("AggregationEvent",))) == agg
    receiving = expect(lambda ev: normalise_cbv(ev.get("bizStep")) == "receiving")
    assert receiving and ids(EventQuery(eq_biz_step=("receiving",))) == receiving
    in_progress = expect(lambda ev: normalise_cbv(ev.get("disposition")) == "in_progress")
    assert in_progress and ids(EventQuery(eq_disposition=("in_progress",))) == in_progress
    rp = "urn:epc:id:sgln:0614141.00777.0"
    at_rp = expect(lambda ev: (ev.get("readPoint") or {}).get("id") == rp)
    assert at_rp and ids(EventQuery(eq_read_point=(rp,))) == at_rp
    loc = "urn:epc:id:sgln:0614141.00888.0"
    at_loc = expect(lambda ev: (ev.get("bizLocation") or {}).get("id") == loc)
    assert at_loc and ids(EventQuery(eq_biz_location=(loc,))) == at_loc
    assert ids(EventQuery(eq_biz_step=("receiving",), eq_read_point=(rp,))) == receiving & at_rp

    epc = "urn:epc:id:sgtin:0614141.107346.2018"
    with_epc = expect(lambda ev: epc in (ev.get("epcList") or []) + (ev.get("childEPCs") or []))
    assert with_epc and ids(EventQuery(match_epc=(epc,))) == with_epc
    sscc = "urn:epc:id:sscc:0614141.1234567890"
    parented = expect(lambda ev: ev.get("parentID") == sscc)
    assert parented and ids(EventQuery(match_any_epc=(sscc,))) >= parented
    assert ids(EventQuery(match_epc=(sscc,))).isdisjoint(parented - with_epc)
    prefix = "urn:epc:id:sgtin:0614141.107346."

    def any_epc(ev: dict[str, Any]) -> list[str]:
        vals = [ev.get("parentID")] if ev.get("parentID") else []
        for key in ("epcList", "childEPCs", "inputEPCList", "outputEPCList"):
            vals += ev.get(key) or []
        return vals

    link = "https://id.gs1.org/01/10614141073464/21/"  # the same GTIN as a Digital Link
    wild = expect(lambda ev: any(v.startswith((prefix, link)) for v in any_epc(ev)))
    assert wild and ids(EventQuery(match_any_epc=(prefix + "*",))) == wild
    assert ids(EventQuery(match_any_epc=("urn:epc:idpat:sgtin:0614141.107346.*",))) == wild

    cut = datetime(2015, 1, 1, tzinfo=UTC)

    def when(ev: dict[str, Any]) -> datetime:
        return datetime.fromisoformat(ev["eventTime"]).astimezone(UTC)

    before, after = expect(lambda ev: when(ev) < cut), expect(lambda ev: when(ev) >= cut)
    assert before and after
    assert ids(EventQuery(lt_event_time=cut)) == before
    assert ids(EventQuery(ge_event_time=cut)) == after
    future = datetime(2100, 1, 1, tzinfo=UTC)
    assert ids(EventQuery(ge_record_time=future)) == set()
    assert ids(EventQuery(lt_record_time=future)) == expect(lambda ev: True)


def test_keyset_paging_walks_every_event_once(store: Store) -> None:
    for n in range(5):
        store.accept_capture(signed([object_event(n * 10 + i, minute=i) for i in range(5)],
                                    nonce=100 + n))
    seen: list[bytes] = []
    token = None
    pages = 0
    while True:
        page, token = store.query_events(EventQuery(event_types=("ObjectEvent",)), per_page=7,
                                         page_token=token)
        seen += [e.event_id for e in page]
        pages += 1
        if token is None:
            break
    assert pages == 4 and len(seen) == 25 and len(set(seen)) == 25
    everything, _ = store.query_events(EventQuery(), per_page=100)
    assert seen == [e.event_id for e in everything]  # insert order
    with pytest.raises(InvalidPageTokenError):
        store.query_events(EventQuery(), page_token="not-a-token")


def test_events_for_epc_in_event_time_order(store: Store) -> None:
    late = {**object_event(1, minute=30)}
    early = {**object_event(1, minute=5, biz_step="receiving")}
    cap = signed([late, early], nonce=9)
    store.accept_capture(cap)
    found = store.events_for_epc("urn:epc:id:sgtin:0614141.107346.1")
    assert [e.event_id for e in found] == [cap.event_ids[1], cap.event_ids[0]]
    assert store.events_for_epc("urn:epc:id:sgtin:0614141.107346.1", roles=["parent"]) == []


def test_only_one_anchoring_leader(store: Store) -> None:
    first = store.try_anchor_lease()
    assert first is not None
    assert store.try_anchor_lease() is None
    first.release()
    again = store.try_anchor_lease()
    assert again is not None
    again.release()


def test_accepting_several_500_event_captures_keeps_every_event(store: Store) -> None:
    # Speed is measured by bench/anchoring.py and bench/gateway.py, not here: a timed bound
    # in the suite fails on a loaded CI machine and proves nothing about the target.
    caps = [signed([object_event(c * 1000 + i, minute=i % 60) for i in range(500)], nonce=c)
            for c in range(1, 5)]
    results = [store.accept_capture(cap) for cap in caps]
    assert [len(r.new_event_ids) for r in results] == [500] * 4
    assert store.count_events() == 2000


def test_file_lease_is_per_database_file(tmp_path: Path) -> None:
    a = Store(f"sqlite:///{tmp_path / 'a.db'}")
    b = Store(f"sqlite:///{tmp_path / 'b.db'}")
    la, lb = a.try_anchor_lease(), b.try_anchor_lease()
    assert la is not None and lb is not None
    la.release()
    lb.release()


# --- group commit -----------------------------------------------------------------------------


def _poison(store: Store) -> dict[str, Any]:
    """An event this database refuses at insert time, for real: PostgreSQL enforces the 512
    characters of `read_point`; SQLite does not, so there a trigger refuses a marked lot."""
    if store.dialect == "sqlite":
        with store.engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.lot = 'POISON' "
                "BEGIN SELECT RAISE(ABORT, 'poisoned lot'); END")
        return object_event(900, lot="POISON")
    return {**object_event(900), "readPoint": {"id": "urn:example:rp:" + "x" * 600}}


def test_group_commit_gives_each_capture_its_own_outcome(store: Store) -> None:
    stored_before = signed([object_event(1)], nonce=1)
    store.accept_capture(stored_before)
    good = signed([object_event(2), object_event(3)], nonce=2)
    replay_of_stored = signed([object_event(4)], nonce=1)
    # What a gateway whose checks were bypassed could hand the store.
    not_an_object = replace(signed([object_event(7)], nonce=3),
                            events=("not an event",))  # type: ignore[arg-type]
    shares_an_event = signed([object_event(3), object_event(5)], nonce=4)
    replay_in_group = signed([object_event(6)], nonce=4)
    out = store.accept_captures([good, replay_of_stored, not_an_object, shares_an_event,
                                 good, (replay_in_group, None)])
    assert [type(o).__name__ for o in out] == [
        "AcceptResult", "NonceReplayError", "InvalidInputError", "AcceptResult",
        "AcceptResult", "NonceReplayError"]
    assert out[0].new_event_ids == good.event_ids and not out[0].duplicate
    assert out[1].fields["capture_id"] == stored_before.digest.hex()
    # The event both captures bring belongs to the first; the second records it as a duplicate.
    assert out[3].new_event_ids == (shares_an_event.event_ids[1],)
    assert out[3].duplicate_event_ids == (shares_an_event.event_ids[0],)
    owner = store.get_event(good.event_ids[1])
    assert owner is not None and owner.capture_id == good.digest.hex()
    assert out[4].duplicate and out[4].new_event_ids == ()
    assert out[5].fields["capture_id"] == shares_an_event.digest.hex()
    assert store.count_events() == 4
    assert store.pending_count() == (3, 5)


def test_group_commit_survives_a_capture_the_database_refuses(store: Store) -> None:
    bad_event = _poison(store)
    first, last = signed([object_event(1)], nonce=1), signed([object_event(2)], nonce=3)
    bad = signed([object_event(7), bad_event], nonce=2)
    out = store.accept_captures([first, bad, last])
    assert out[0].new_event_ids == first.event_ids
    assert out[2].new_event_ids == last.event_ids
    assert isinstance(out[1], Exception) and not hasattr(out[1], "new_event_ids")
    # Nothing of the refused capture is stored, not even its first (acceptable) event.
    assert store.get_event(bad.event_ids[0]) is None and store.get_capture(
        bad.digest.hex()) is None
    assert store.count_events() == 2 and store.pending_count() == (2, 2)
    with pytest.raises(type(out[1])):
        store.accept_capture(bad)


def test_get_capture_names_what_proceed_left_out(store: Store) -> None:
    cap = signed([object_event(i) for i in range(3)], nonce=11)
    store.accept_capture(cap, keep=[0, 2])
    record = store.get_capture(cap.digest.hex())
    assert record is not None
    assert record.event_ids == cap.event_ids and record.left_out == (cap.event_ids[1],)
    assert record.signer == cap.signer and record.org == ORG and record.nonce == "11"
    assert not record.anchored
    assert store.get_capture("00" * 32) is None
    with pytest.raises(InvalidInputError):
        store.accept_capture(signed([object_event(5)], nonce=12), keep=[1])


def test_committer_acknowledges_each_capture_only_once_committed(store_url: str) -> None:
    """Many threads submit at once, some replaying a nonce another thread uses: every future
    resolves only once its capture is visible to a separate connection, exactly one capture per
    contested nonce wins, and concurrent captures share commits."""
    writer, reader = Store(store_url), Store(store_url)
    writer.migrate()
    committer = CaptureCommitter(writer)
    threads, per_thread = 12, 15
    caps = {(t_, i): signed([object_event(t_ * 1000 + i)], nonce=t_ * 1000 + i)
            for t_ in range(threads) for i in range(per_thread)}
    # Thread t also sends another document under thread (t+1)'s first nonce.
    rivals = {t_: signed([object_event(50_000 + t_)], nonce=(t_ + 1) % threads * 1000)
              for t_ in range(threads)}
    errors: list[BaseException] = []
    replays: list[bytes] = []
    barrier = threading.Barrier(threads)

    def work(t_: int) -> None:
        try:
            barrier.wait()
            mine = [caps[(t_, i)] for i in range(per_thread)]
            for cap in mine[:1] + [rivals[t_]] + mine[1:]:
                try:
                    result = committer.submit(cap).result(timeout=60)
                except NonceReplayError:
                    replays.append(cap.digest)
                    continue
                assert result.capture_id == cap.digest.hex()
                assert reader.get_capture(result.capture_id) is not None  # committed
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(t_,)) for t_ in range(threads)]
    try:
        for th in pool:
            th.start()
        for th in pool:
            th.join(120)
        assert not errors, errors
        assert len(replays) == threads
        for t_ in range(threads):
            contested = (caps[((t_ + 1) % threads, 0)], rivals[t_])
            kept = [c for c in contested if reader.get_capture(c.digest.hex()) is not None]
            assert len(kept) == 1 and kept[0].digest not in replays
        assert reader.count_events() == threads * per_thread
        assert committer.captures == threads * (per_thread + 1)
        assert committer.groups < committer.captures  # concurrent captures shared commits
    finally:
        committer.close()
        writer.close()
        reader.close()


def test_background_checkpoint_keeps_the_wal_short_and_loses_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bg.db'}"
    s = Store(url, background_checkpoint=True)
    s.migrate()
    for n in range(1, 21):
        s.accept_capture(signed([object_event(n * 100 + i) for i in range(50)], nonce=n))
    checkpointer = s._checkpointer  # noqa: SLF001 - what the thread itself did
    assert checkpointer is not None
    deadline = time.monotonic() + 10
    while checkpointer.frames_checkpointed == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    # The thread's own checkpoints copied the WAL (commits do not: autocheckpoint is off).
    assert checkpointer.frames_checkpointed > 0
    with s.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    s.close()
    again = Store(url)
    try:
        assert again.count_events() == 1000 and again.pending_count() == (20, 1000)
    finally:
        again.close()


def test_the_wal_stays_bounded_under_back_to_back_commits(tmp_path: Path) -> None:
    """Passive checkpoints alone never shorten the WAL while commits follow each other (the
    newest frames are never all copied, so no writer starts it over): it grew past 1.7 GB
    beside a 70 MB database. The checkpointer restarts it once it passes its threshold, and
    should the thread fall behind (a busy machine: it once reached 104 MiB here), the writer
    itself truncates it past its hard cap (80 MiB), so the bound holds however the threads
    are scheduled: the cap plus one commit's frames (~2 MiB for 500 events)."""
    import os

    path = tmp_path / "busy.db"
    s = Store(f"sqlite:///{path}", background_checkpoint=True)
    s.migrate()
    captures = [signed([object_event(n * 1000 + i) for i in range(500)], nonce=n)
                for n in range(1, 81)]
    biggest = 0
    try:
        for cap in captures:  # no pause between commits, as a loaded committer
            s.accept_capture(cap)
            biggest = max(biggest, os.path.getsize(f"{path}-wal"))
        checkpointer = s._checkpointer  # noqa: SLF001 - what the thread itself did
        # 80 captures write ~170 MB of frames: the WAL started over at least once, by the
        # thread or, if it fell behind, by the writer.
        assert checkpointer is not None and checkpointer.restarts + s.wal_truncations >= 1
        assert biggest < 96 * 2**20, f"WAL reached {biggest / 2**20:.0f} MiB"
        assert s.count_events() == 40_000
    finally:
        s.close()


def test_the_wal_stays_under_its_cap_when_the_checkpoint_thread_never_runs(
        tmp_path: Path) -> None:
    """The worst schedule, made certain: a checkpoint thread that never gets to run (its first
    round is an hour away). The writer's own cap is then all that bounds the WAL, and it holds
    it to the cap plus one commit's frames."""
    import os

    path = tmp_path / "starved.db"
    cap = 8 * 2**20
    s = Store(f"sqlite:///{path}", background_checkpoint=True, checkpoint_interval=3600,
              wal_cap_bytes=cap)
    s.migrate()
    captures = [signed([object_event(n * 1000 + i) for i in range(500)], nonce=n)
                for n in range(1, 21)]
    biggest = 0
    try:
        for cap_ in captures:  # ~26 MB of frames in all, ~1.3 MB per commit
            s.accept_capture(cap_)
            biggest = max(biggest, os.path.getsize(f"{path}-wal"))
        assert s._checkpointer is not None and s._checkpointer.checkpoints == 0  # noqa: SLF001
        assert s.wal_truncations >= 2
        assert biggest < cap + 4 * 2**20, f"WAL reached {biggest / 2**20:.1f} MiB"
        assert s.count_events() == 10_000
    finally:
        s.close()


def test_optimize_gives_the_planner_statistics(store: Store) -> None:
    for n in range(1, 4):
        store.accept_capture(signed([object_event(n * 100 + i) for i in range(20)], nonce=n))
    store.optimize()
    with store.engine.connect() as conn:
        if store.dialect == "sqlite":
            analysed = {r[0] for r in conn.exec_driver_sql("SELECT tbl FROM sqlite_stat1")}
        else:
            analysed = {r[0] for r in conn.exec_driver_sql(
                "SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL")}
    assert {"events", "event_epcs"} <= analysed
    assert store.count_events() == 60  # and the store still answers


def _hammer(url: str, ready: Any, stop: Any) -> None:
    """Commit 200-event captures back to back until `stop` (another process, as the gateway is
    to the anchoring worker)."""
    from ledger.store.store import prepare_capture

    # Rows built beforehand, as the intake pool does: the lock is then almost never free.
    caps = [prepare_capture(signed([object_event(n * 1000 + i) for i in range(200)], nonce=n))
            for n in range(1, 101)]
    store = Store(url)
    ready.set()
    try:
        for cap in caps:
            if stop.is_set():
                return
            store.accept_captures([cap])
    finally:
        store.close()


def test_a_second_writer_is_not_starved_by_back_to_back_commits(tmp_path: Path) -> None:
    """The anchoring worker's short transactions get their turn while another process commits
    captures back to back (the write turn queues writers; SQLite's own busy handler sleeps and
    polls, and against a writer that holds the lock nearly all the time it waits seconds)."""
    import multiprocessing

    url = f"sqlite:///{tmp_path / 'turn.db'}"
    other = Store(url)
    other.migrate()
    ctx = multiprocessing.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hammer, args=(url, ready, stop))
    waits: list[float] = []
    try:
        proc.start()
        assert ready.wait(60)
        time.sleep(0.5)  # the hammer is committing by now
        while proc.is_alive() and len(waits) < 20:
            start = time.perf_counter()
            other.reopen_batch(0)  # a write transaction (BEGIN IMMEDIATE) that changes nothing
            waits.append(time.perf_counter() - start)
            time.sleep(0.02)
    finally:
        stop.set()
        proc.join(60)
        other.close()
    assert len(waits) >= 5
    # One capture's transaction takes tens of milliseconds; a starved writer waits seconds.
    print(f"\nwrite waits: max {max(waits):.3f} s, mean {sum(waits) / len(waits):.3f} s")
    assert max(waits) < 0.5, waits


def test_epc_queries_start_from_the_epc_index_not_a_scan_of_events(tmp_path: Path) -> None:
    """An EPC filter once read every event (a correlated EXISTS per row): linear in the
    store, over a second a call at 1,000,000 events. It must start from the EPC index."""
    from sqlalchemy.dialects import sqlite

    s = Store(f"sqlite:///{tmp_path / 'plan.db'}")
    s.migrate()
    try:
        for n in range(20):
            s.accept_capture(signed([object_event(n * 100 + i) for i in range(100)], nonce=n))
        s.optimize()  # with statistics, as a running store has them
        cond = s._epc_condition(["urn:epc:id:sgtin:0614141.107346.7"], ("epc", "child"))  # noqa: SLF001
        stmt = s._event_select().where(cond)  # noqa: SLF001
        sql = str(stmt.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
        with s.engine.connect() as conn:
            plan = " | ".join(r[3] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
        assert "SCAN events" not in plan and "SCAN captures" not in plan, plan
        assert "ix_event_epcs_epc_role" in plan, plan
        assert [e.event["epcList"] for e in s.events_for_epc(
            "urn:epc:id:sgtin:0614141.107346.7")] == [["urn:epc:id:sgtin:0614141.107346.7"]]
    finally:
        s.close()


T = TypeVar("T")


def query_plans(store: Store, run: Callable[[], T], reads: str = "FROM events"
                ) -> tuple[T, list[list[tuple[int, str]]]]:
    """What `run()` returns, and SQLite's plan of each statement it sent that reads events
    (that contains `reads`): the rows of EXPLAIN QUERY PLAN as (parent, detail), parent 0 for
    the outermost query."""
    from sqlalchemy import event as sa_event

    sent: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        sent.append((statement, params))

    sa_event.listen(store.engine, "before_cursor_execute", record)
    try:
        out = run()
    finally:
        sa_event.remove(store.engine, "before_cursor_execute", record)
    with store.engine.connect() as conn:
        plans = [[(r[1], r[3]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + q, p)]
                 for q, p in sent if reads in q]
    return out, plans


def plan_text(rows: list[tuple[int, str]]) -> str:
    return " | ".join(detail for _, detail in rows)


def test_an_event_type_query_reads_the_event_type_index_not_every_event(tmp_path: Path) -> None:
    """`eventType=AggregationEvent` once read events in insert order until it had a page: at
    1,000,000 journey events, every event for the rare types (bench.params). The statement
    `query_events` sends must be planned as a search of the event-type index."""
    s = Store(f"sqlite:///{tmp_path / 'plan.db'}")
    s.migrate()
    try:
        for n in range(20):
            s.accept_capture(signed([object_event(n * 100 + i) for i in range(100)], nonce=n))
        packed = {"type": "AggregationEvent", "eventTime": "2024-03-01T11:00:00.000+08:00",
                  "eventTimeZoneOffset": "+08:00", "action": "ADD", "bizStep": "packing",
                  "parentID": "urn:epc:id:sscc:0614141.1234567890",
                  "childEPCs": ["urn:epc:id:sgtin:0614141.107346.7"]}
        s.accept_capture(signed([packed], nonce=20))
        s.optimize()  # with statistics, as a running store has them
        (page, token), plans = query_plans(s, lambda: s.query_events(
            EventQuery(event_types=("AggregationEvent",)), per_page=30))
        assert [e.event["parentID"] for e in page] == [packed["parentID"]] and token is None
        plan = plan_text(plans[0])
        assert "SCAN events" not in plan, plan
        assert "ix_events_event_type" in plan, plan
    finally:
        s.close()


def test_an_event_time_window_sorts_seqs_from_its_index_not_whole_events(tmp_path: Path) -> None:
    """A GE_eventTime/LT_eventTime window's matches are not in seq order in their index, so
    they are sorted before the page's LIMIT: once whole events (bodies included), 37 ms for a
    20,000-match window at 1,000,000 events (bench.params). The sort must read the time index
    alone (covering), and only the page's events be fetched."""
    s = Store(f"sqlite:///{tmp_path / 'plan.db'}")
    s.migrate()
    try:
        for n in range(10):
            s.accept_capture(signed([object_event(n * 100 + i, minute=i % 60)
                                     for i in range(100)], nonce=n))
        s.optimize()
        window = EventQuery(ge_event_time=datetime(2024, 3, 1, 2, 10, tzinfo=UTC),
                            lt_event_time=datetime(2024, 3, 1, 2, 20, tzinfo=UTC))
        (page, token), plans = query_plans(s, lambda: s.query_events(window, per_page=30))
        # Minutes 10-19 (+08:00) come twice in each hundred events: 200 matches, of which
        # the page holds the first 30 in seq order.
        assert [e.event["epcList"][0].rsplit(".", 1)[1] for e in page] == [
            str(n * 100 + i) for n in range(2) for i in (*range(10, 20), *range(70, 80))][:30]
        assert token is not None
        plan = plan_text(plans[0])
        assert "COVERING INDEX ix_events_event_time_ms" in plan, plan
        assert "SCAN events" not in plan, plan
    finally:
        s.close()


@pytest.mark.parametrize("statistics", [False, True], ids=["fresh", "analyzed"])
@pytest.mark.parametrize(("field", "query"), [
    ("event_type", EventQuery(event_types=("ObjectEvent",))),
    ("biz_step", EventQuery(eq_biz_step=("shipping",))),
    ("disposition", EventQuery(eq_disposition=("in_transit",))),
    ("read_point", EventQuery(eq_read_point=("urn:epc:id:sgln:0614141.00777.0",))),
    ("biz_location", EventQuery(eq_biz_location=("urn:epc:id:sgln:0614141.00888.0",))),
])
def test_a_frequent_value_pages_from_its_index_in_either_order(
        tmp_path: Path, field: str, query: EventQuery, statistics: bool) -> None:
    """An equality that most events match, in insert order and with orderBy=eventTime (either
    direction): each page is a range of the field's index in the page's order, never a sort of
    every match (with orderBy=eventTime, a frequent bizStep's first page sorted all its matches:
    51 ms p95 at 200,000 events, bench.params). Also on a store without planner statistics."""
    s = Store(f"sqlite:///{tmp_path / 'plan.db'}")
    s.migrate()
    try:
        for n in range(6):
            s.accept_capture(signed([object_event(n * 100 + i, minute=(i * 7) % 60)
                                     for i in range(100)], nonce=n))
        if statistics:
            s.optimize()
        for order, desc, index in ((None, True, f"ix_events_{field}_seq"),
                                   ("eventTime", True, f"ix_events_{field}_event_time_ms_seq"),
                                   ("eventTime", False, f"ix_events_{field}_event_time_ms_seq")):
            asked = replace(query, order_by=order, order_desc=desc)

            def two_pages(asked: EventQuery = asked) -> list[Any]:
                page, token = s.query_events(asked, per_page=30)
                return page + s.query_events(asked, per_page=30, page_token=token)[0]

            events, plans = query_plans(s, two_pages)
            times = [(e.event["eventTime"], e.seq) for e in events]
            if order is None:
                assert [e.seq for e in events] == sorted(e.seq for e in events)
            else:
                assert times == sorted(times, reverse=desc), times
            assert len(plans) == 2
            for rows in plans:
                # The page's seqs come from the subquery; the outer query then sorts its own
                # page (at most per_page + 1 events) by the same keys: the only sort allowed.
                inner_sorts = [d for parent, d in rows if "TEMP B-TREE" in d and parent != 0]
                assert f"INDEX {index} " in plan_text(rows) and not inner_sorts, (order, rows)
    finally:
        s.close()


@pytest.mark.parametrize("statistics", [False, True], ids=["fresh", "analyzed"])
@pytest.mark.parametrize("desc", [False, True], ids=["ASC", "DESC"])
def test_order_by_a_rare_extension_field_walks_the_facts_index_not_the_events(
        tmp_path: Path, desc: bool, statistics: bool) -> None:
    """orderBy=example:temp where 25 events of 2,000 have the field: each page is a range read
    of the facts index in the page's order ((key, num, seq), then (key, text, seq)), each event
    it meets one seek of (seq, key); no statement sorts (no TEMP B-TREE) or scans the facts,
    and only the last rank (events without a value, after every valued one) walks events."""
    s = Store(f"sqlite:///{tmp_path / 'plan.db'}")
    s.migrate()
    try:
        for n in range(20):
            events = [object_event(n * 100 + i, minute=i % 60) for i in range(100)]
            events[7]["example:temp"] = n
            if n < 5:
                events[8]["example:temp"] = f"t{n}"
            s.accept_capture(signed(events, nonce=n))
        if statistics:
            s.optimize()
        query = EventQuery(order_by="example:temp", order_desc=desc)

        def four_pages() -> list[Any]:
            token, out = None, []
            for _ in range(4):
                page, token = s.query_events(query, per_page=8, page_token=token)
                out += page
            return out

        events, plans = query_plans(s, four_pages, reads="FROM event")
        walked = [e.event.get("example:temp") for e in events]
        numbers, strings = list(range(20)), [f"t{n}" for n in range(5)]
        if desc:
            numbers.reverse()
            strings.reverse()
        assert walked == [*numbers, *strings, *[None] * 7]
        texts = [plan_text(rows) for rows in plans]
        assert any("INDEX ix_event_facts_key_num_seq " in p for p in texts), texts
        assert any("INDEX ix_event_facts_key_text_seq " in p for p in texts), texts
        for p in texts:
            assert "TEMP B-TREE" not in p and "SCAN walked" not in p, p
            assert "SCAN other" not in p and "SCAN event_facts" not in p, p
            if "other" in p:
                assert "SEARCH other USING INDEX ix_event_facts_seq_key (seq=? AND key=?)" in p, p
        assert sum("SCAN events" in p for p in texts) == 1, texts  # the last page's last rank
    finally:
        s.close()


def test_migrations_are_one_numbered_line_ending_at_the_head() -> None:
    # Revisions are named after their files (0001 … NNNN), each down_revision the one before;
    # branches merged in parallel must be renumbered, never left as two heads.
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(t.__file__).parent / "migrations"))
    scripts = ScriptDirectory.from_config(cfg)
    files = sorted(p.name[:4] for p in (Path(t.__file__).parent / "migrations" / "versions").glob("[0-9]*.py"))
    assert scripts.get_heads() == [files[-1]] == [Store.head_revision()]
    chain = [r.revision for r in scripts.walk_revisions()][::-1]
    assert chain == files
