"""The trace index (`ledger.store.trace_index`) against an oracle computed from the base tables
(`events`, `event_epcs`, `captures`) and the journey's organisations: whatever order captures
arrive in, however they are split, repeated or overlap, the index says what the events say."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from ledger.chain.transactor import anvil_dev_key
from ledger.demo import journey as J
from ledger.epcis.event_hash import event_hash
from ledger.proofs.codes import org_id
from ledger.proofs.signing import (
    CaptureDomain,
    build_signed_capture,
    prepare_capture,
    sign_capture,
)
from ledger.store import trace_index
from ledger.store.store import Store
from ledger.store.trace import Tracer
from tests.conftest import make_store_url
from tests.integration.store.head import HEAD

DOMAIN = CaptureDomain(chain_id=31337, verifying_contract="0x" + "33" * 20)
KEY = bytes.fromhex(anvil_dev_key(3)[2:])
JOURNEY = J.build_journey(seed=5, cans=(12, 6), sold_fraction=0.5)
# (organisation, event, @context) in generation order
EVENTS = [(cap.org, e, cap.document["@context"]) for cap in JOURNEY.captures for e in cap.events]
PARTY = {org_id(o.gln): o.id for o in JOURNEY.organisations.values()}
POSSESSING = ("possessing_party", "https://ref.gs1.org/cbv/SDT-possessing_party",
              "urn:epcglobal:cbv:sdt:possessing_party")


class Capturer:
    """Signs runs of journey events as captures, each with a fresh nonce."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.nonce = 0

    def capture(self, positions: list[int]) -> Any:
        org, _e, ctx = EVENTS[positions[0]]
        events = [EVENTS[i][1] for i in positions]
        ids = [event_hash(e, ctx) for e in events]
        self.nonce += 1
        seed, _, root = prepare_capture(events, ids)
        sig = sign_capture(KEY, DOMAIN, root, len(ids), org_id(org.gln),
                           self.nonce, 1_700_000_000 + self.nonce)
        signed = build_signed_capture(events, ctx, ids, sig, DOMAIN, seed=seed)
        self.store.accept_capture(signed)
        return signed


def _runs(order: list[int], size: int) -> Iterator[list[int]]:
    """Consecutive positions of `order` cut at `size` and wherever the organisation changes
    (a capture has one signer)."""
    run: list[int] = []
    for i in order:
        if run and (len(run) == size or EVENTS[i][0] != EVENTS[run[0]][0]):
            yield run
            run = []
        run.append(i)
    if run:
        yield run


# --- oracle --------------------------------------------------------------------------------

def expected(store: Store) -> dict[str, set[tuple[Any, ...]]]:
    with store.engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT x.epc, x.role, e.event_id, e.seq, e.event_time_ms, e.event_type, e.action,
                   e.biz_step, e.disposition, e.read_point, e.biz_location, e.body, c.org
            FROM event_epcs x JOIN events e ON e.seq = x.seq
            JOIN captures c ON c.id = e.capture_id""")).all()
    parents: dict[bytes, list[str]] = {}
    for r in rows:
        if r.role == "parent":
            parents.setdefault(bytes(r.event_id), []).append(r.epc)
    latest: dict[str, Any] = {}
    holder: dict[str, Any] = {}
    links = set()
    for r in rows:
        key = (r.event_time_ms, r.seq)
        if r.epc not in latest or key > (latest[r.epc].event_time_ms, latest[r.epc].seq):
            latest[r.epc] = r
        if r.role == "child":
            for parent in parents.get(bytes(r.event_id), ()):
                links.add((r.epc, parent))
            if r.event_type == "AggregationEvent" and bytes(r.event_id) in parents and (
                    r.epc not in holder or key > (holder[r.epc].event_time_ms,
                                                  holder[r.epc].seq)):
                holder[r.epc] = r

    def custodian(r: Any) -> str:
        body = orjson.loads(r.body)
        for d in body.get("destinationList", ()):
            if d["type"] in POSSESSING:
                return d["destination"]
        return PARTY[bytes(r.org)]

    return {
        "latest": {(epc, r.event_time_ms, r.seq, bytes(r.event_id), r.biz_step, r.disposition,
                    r.biz_location or r.read_point, custodian(r)) for epc, r in latest.items()},
        "holder": {(epc, parents[bytes(r.event_id)][0], r.event_time_ms, r.seq, r.action)
                   for epc, r in holder.items()},
        "links": links,
    }


def indexed(store: Store) -> dict[str, set[tuple[Any, ...]]]:
    with store.engine.connect() as conn:
        return {
            "latest": {(r.epc, r.event_time_ms, r.seq, bytes(r.event_id), r.biz_step,
                        r.disposition, r.location, r.custodian)
                       for r in conn.execute(trace_index.trace_latest.select())},
            "holder": {tuple(r) for r in conn.execute(
                trace_index.trace_holder.select().with_only_columns(
                    *(trace_index.trace_holder.c[n] for n in (
                        "epc", "parent", "event_time_ms", "seq", "action"))))},
            "links": {tuple(r) for r in conn.execute(trace_index.trace_links.select())},
        }


def assert_consistent(store: Store) -> None:
    want, got = expected(store), indexed(store)
    for table in want:
        assert got[table] == want[table], table
    # the oracle is not vacuous: the journey packs, ships and sells
    assert len(want["links"]) > 18 and len(want["holder"]) > 18
    assert any(c.startswith("https://id.gs1.org/417/") for *_, c in want["latest"])


# --- properties -----------------------------------------------------------------------------

@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(len(EVENTS))), size=st.integers(1, 8),
       repeats=st.lists(st.integers(0, 10_000), max_size=4),
       overlaps=st.lists(st.tuples(st.integers(0, len(EVENTS) - 1), st.integers(1, 5)),
                         max_size=3))
def test_index_matches_the_events_whatever_the_capture_order(
        tmp_path_factory: pytest.TempPathFactory, order: list[int], size: int,
        repeats: list[int], overlaps: list[tuple[int, int]]) -> None:
    path = Path(tmp_path_factory.mktemp("ti")) / "ti.db"
    store = Store(f"sqlite:///{path}")
    store.migrate()
    try:
        capturer = Capturer(store)
        sent = []
        runs = list(_runs(order, size))
        for k, run in enumerate(runs):
            sent.append(capturer.capture(run))
            for r in repeats:  # the very same capture again: a duplicate, nothing written
                if r % len(runs) == k:
                    assert store.accept_capture(sent[-1]).duplicate
            for start, n in overlaps:  # some of the same events in another capture
                if start % len(runs) == k:
                    capturer.capture(next(_runs(order[order.index(start):], n)))
        assert store.count_events() == len(EVENTS)
        assert_consistent(store)
    finally:
        store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def shuffled(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store that received the journey in a shuffled order of small captures, each sent
    twice, and half of them again inside other, overlapping captures."""
    store = Store(make_store_url(request.param, tmp_path, request))
    store.migrate()
    rng = random.Random(11)
    order = list(range(len(EVENTS)))
    rng.shuffle(order)
    capturer = Capturer(store)
    runs = list(_runs(order, 3))
    for run in runs:
        store.accept_capture(capturer.capture(run))
    for run in runs[::2]:
        capturer.capture(run[::-1])
    yield store
    store.close()


def test_index_matches_the_events_after_shuffled_duplicated_captures(shuffled: Store) -> None:
    assert_consistent(shuffled)


def test_rebuild_reproduces_the_index_the_insert_path_kept(shuffled: Store) -> None:
    before = indexed(shuffled)
    with shuffled.engine.connect() as conn, conn.begin():
        assert trace_index.rebuild(conn, shuffled.dialect, batch=7) == len(EVENTS)
    assert indexed(shuffled) == before


def test_migration_back_fills_the_index_of_an_existing_store(shuffled: Store) -> None:
    before = indexed(shuffled)
    shuffled.migrate("0001")
    shuffled.migrate()
    assert shuffled.schema_revision() == HEAD
    assert indexed(shuffled) == before


def test_custodian_is_the_possessing_destination_else_the_signing_organisation() -> None:
    org = org_id(JOURNEY.organisations["carrier"].gln)
    shipped = {"destinationList": [{"type": "owning_party", "destination": "x:owner"},
                                   {"type": POSSESSING[1], "destination": "x:holder"}]}
    assert trace_index.custodian_of(shipped, org) == "x:holder"
    assert trace_index.custodian_of({"destinationList": [
        {"type": "owning_party", "destination": "x:owner"}]}, org) == PARTY[org]
    assert trace_index.custodian_of({}, b"\x01" * 32) == "org:0x" + "01" * 32


def test_recall_from_shuffled_captures_equals_recall_from_captures_in_order(
        shuffled: Store, tmp_path: Path) -> None:
    in_order = Store(f"sqlite:///{tmp_path / 'in-order.db'}")
    in_order.migrate()
    try:
        capturer = Capturer(in_order)
        for run in _runs(list(range(len(EVENTS))), 500):
            capturer.capture(run)
        for lot in (lot for lot in JOURNEY.lots if not lot.inputs):
            want = Tracer(in_order.engine).recall_scope(lot.ref.gtin, lot.ref.lot)
            got = Tracer(shuffled.engine).recall_scope(lot.ref.gtin, lot.ref.lot)
            assert len(want.items) > 12  # cans, their cases and pallets
            assert got.items == want.items and got.lots == want.lots
    finally:
        in_order.close()
