"""Trace queries on a stored journey, on SQLite and PostgreSQL. Expected sets come from the
generator's ground truth (lots, containers with their packing windows, sales) and a plain scan
of the events in memory, never from the store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

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
from ledger.store.store import Store
from ledger.store.trace import Tracer

DOMAIN = CaptureDomain(chain_id=31337, verifying_contract="0x" + "22" * 20)
KEY = bytes.fromhex(anvil_dev_key(2)[2:])


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


@dataclass(frozen=True)
class Ev:
    id: bytes
    ms: int
    org: J.Organisation
    body: dict
    names: frozenset[str]  # every EPC and class it names


def _names(e: dict) -> frozenset[str]:
    out = set(e.get("epcList", [])) | set(e.get("childEPCs", []))
    out |= {e["parentID"]} if "parentID" in e else set()
    for q in ("quantityList", "inputQuantityList", "outputQuantityList"):
        out |= {x["epcClass"] for x in e.get(q, [])}
    return frozenset(out)


@dataclass
class Loaded:
    journey: J.Journey
    tracer: Tracer
    events: list[Ev]


def _load(url: str) -> tuple[Store, Loaded]:
    store = Store(url)
    store.migrate()
    journey = J.build_journey(seed=21, cans=(90, 60), sold_fraction=0.5)
    events: list[Ev] = []
    for nonce, cap in enumerate(journey.captures, start=1):
        ctx = cap.document["@context"]
        ids = [event_hash(e, ctx) for e in cap.events]
        seed, _, root = prepare_capture(cap.events, ids)
        sig = sign_capture(KEY, DOMAIN, root, len(ids), org_id(cap.org.gln),
                           nonce, 1_700_000_000)
        store.accept_capture(build_signed_capture(cap.events, ctx, ids, sig, DOMAIN, seed=seed))
        events += [Ev(i, _ms(e["eventTime"]), cap.org, e, _names(e))
                   for i, e in zip(ids, cap.events, strict=True)]
    return store, Loaded(journey, Tracer(store.engine), events)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql",
                                                                marks=pytest.mark.postgres)])
def loaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Loaded]:
    if request.param == "sqlite":
        url = f"sqlite:///{Path(tmp_path_factory.mktemp('trace')) / 'trace.db'}"
    else:
        from sqlalchemy import create_engine, make_url, text

        base = request.getfixturevalue("pg_database_url")  # skips when the env var is unset
        schema = f"trace_{uuid.uuid4().hex[:12]}"  # our own schema: no clash with other suites
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        url = make_url(base).update_query_dict(
            {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    store, data = _load(url)
    yield data
    store.close()


# --- the oracle: ground truth + a scan of the events in memory ---------------------------------

def _containment(j: J.Journey) -> dict[str, list[tuple[str, int, int]]]:
    """For each EPC, every container that held it (transitively) and the window it was in."""
    end = 1 << 62
    direct: dict[str, tuple[str, int, int]] = {}
    for c in j.containers:
        lo, hi = _ms(c.packed_at), _ms(c.unpacked_at) if c.unpacked_at else end
        for child in c.children:
            direct[child] = (c.epc, lo, hi)
    out: dict[str, list[tuple[str, int, int]]] = {}
    for epc in [*direct]:
        chain, lo, hi, cur = [], -end, end, epc
        while cur in direct:
            parent, p_lo, p_hi = direct[cur]
            lo, hi = max(lo, p_lo), min(hi, p_hi)
            chain.append((parent, lo, hi))
            cur = parent
        out[epc] = chain
    return out


def _lot_of(j: J.Journey, can: str) -> J.Lot:
    return next(lot for lot in j.lots if can in lot.items)


def expected_history(data: Loaded, epc: str) -> set[bytes]:
    j = data.journey
    windows = _containment(j).get(epc, [])
    lot_cls = _lot_of(j, epc).ref.epc_class if "/21/" in epc else None
    out = set()
    for e in data.events:
        if epc in e.names:
            out.add(e.id)
        elif any(c in e.names and lo <= e.ms <= hi for c, lo, hi in windows):
            out.add(e.id)
        elif lot_cls and e.body["type"] == "TransformationEvent" and lot_cls in {
                q["epcClass"] for q in e.body["outputQuantityList"]}:
            out.add(e.id)
    return out


def _some_cans(j: J.Journey) -> list[str]:
    """Cans with different stories: sold, in an opened case, in a case customs sampled, in a
    sealed case, from each lot."""
    cans = [lot.items[0] for lot in j.lots if lot.items]
    cans += [c for c in j.sold][:2]
    sealed = [c for c in j.containers if c.kind == "case" and c.unpacked_at is None]
    cans += [sealed[0].children[0], sealed[-1].children[-1]]
    return cans


# --- item history ------------------------------------------------------------------------------

def test_item_history_follows_cases_pallets_and_the_lot_transformation(loaded: Loaded) -> None:
    for can in _some_cans(loaded.journey):
        history = loaded.tracer.item_history(can)
        assert {h.event_id for h in history} == expected_history(loaded, can), can
        times = [h.event_time_ms for h in history]
        assert times == sorted(times)
        steps = [h.biz_step for h in history]
        # the voyage reached the can only through its pallet
        assert {"shipping", "departing", "arriving", "inspecting"} <= set(steps)
        assert steps[0] == "commissioning" and history[0].relation == "transformation"
        assert all(h.relation == "container" for h in history if h.biz_step == "departing")


def test_item_history_of_a_sold_can_ends_with_its_sale(loaded: Loaded) -> None:
    can, sold_at = next(iter(loaded.journey.sold.items()))
    history = loaded.tracer.item_history(can)
    assert history[-1].biz_step == "retail_selling" and history[-1].relation == "self"
    assert history[-1].event["eventTime"] == sold_at


def test_item_history_accepts_the_urn_spelling(loaded: Loaded) -> None:
    can = loaded.journey.lots[2].items[5]
    gtin, serial = can.split("/")[4], can.split("/")[6]
    prefix = loaded.journey.organisations["manufacturer"].company_prefix
    urn = f"urn:epc:id:sgtin:{prefix}.{gtin[0]}{gtin[1 + len(prefix):13]}.{serial}"
    assert [h.event_id for h in loaded.tracer.item_history(urn)] == [
        h.event_id for h in loaded.tracer.item_history(can)]


def test_history_of_a_container_has_its_own_and_its_pallets_events(loaded: Loaded) -> None:
    case = next(c for c in loaded.journey.containers if c.kind == "case")
    assert {h.event_id for h in loaded.tracer.item_history(case.epc)} == expected_history(
        loaded, case.epc)


def test_unknown_epc_has_no_history(loaded: Loaded) -> None:
    assert loaded.tracer.item_history("https://id.gs1.org/01/09421902200014/21/nope") == []


# --- backward and forward ----------------------------------------------------------------------

def test_backward_trace_reaches_containers_lot_and_base_powders(loaded: Loaded) -> None:
    j = loaded.journey
    for can in _some_cans(j):
        trace = loaded.tracer.backward(can)
        lot = _lot_of(j, can)
        assert trace.reached("contained_in") == {c for c, _, _ in _containment(j)[can]}
        assert trace.reached("member_of") == {lot.ref.epc_class}
        assert trace.reached("made_from") == {r.epc_class for r in lot.inputs}


def test_forward_trace_of_a_base_lot_reaches_every_can_made_from_it(loaded: Loaded) -> None:
    j = loaded.journey
    for base in (lot for lot in j.lots if not lot.inputs):
        made = [lot for lot in j.lots if base.ref in lot.inputs]
        trace = loaded.tracer.forward(base.ref.epc_class)
        assert trace.reached("made_into") == {lot.ref.epc_class for lot in made}
        assert trace.reached("has_member") == {c for lot in made for c in lot.items}
    # the whey lot went into stage 1 only; the milk lot into both
    assert len({lot.ref for lot in j.lots if lot.inputs}) == 2


def test_forward_trace_of_a_pallet_is_its_cases_and_cans(loaded: Loaded) -> None:
    j = loaded.journey
    by_epc = {c.epc: c for c in j.containers}
    pallet = next(c for c in j.containers if c.kind == "pallet")
    expected = set(pallet.children) | {can for case in pallet.children
                                       for can in by_epc[case].children}
    assert loaded.tracer.forward(pallet.epc).reached("contains") == expected


# --- recall ------------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["wpc", "wmp", "stage2"])
def test_recall_scope_is_every_downstream_item_case_and_pallet(loaded: Loaded, which: str
                                                               ) -> None:
    j = loaded.journey
    start = next(lot for lot in j.lots if lot.product == which)
    lots = {start.ref} | {lot.ref for lot in j.lots if start.ref in lot.inputs}
    cans = {c for lot in j.lots if lot.ref in lots for c in lot.items}
    cases = {c.epc for c in j.containers if c.kind == "case" and set(c.children) & cans}
    pallets = {c.epc for c in j.containers if c.kind == "pallet" and set(c.children) & cases}

    scope = loaded.tracer.recall_scope(start.ref.gtin, start.ref.lot)

    assert set(scope.lots) == {r.epc_class for r in lots}
    assert {i.epc for i in scope.items if i.level == 0} == cans
    assert {i.epc for i in scope.items if i.level == 1} == cases
    assert {i.epc for i in scope.items if i.level == 2} == pallets
    assert len(scope.items) == len(cans) + len(cases) + len(pallets)

    events = {e.id: e for e in loaded.events}
    for item in scope.items:
        last_ms = max(events[i].ms for i in expected_history(loaded, item.epc))
        assert item.last_event_time_ms == last_ms, item.epc
        last = events[item.last_event_id]
        if item.epc in j.sold:
            assert last.body["bizStep"] == "retail_selling"
            assert item.custodian == j.organisations["platform"].id
        else:  # still in the bonded warehouse: unpacked from its pallet there
            assert last.body["bizStep"] == "unpacking"
            assert item.custodian == j.organisations["warehouse"].id
        assert item.location == last.body["bizLocation"]["id"]


def test_recall_of_an_unknown_lot_is_empty(loaded: Loaded) -> None:
    scope = loaded.tracer.recall_scope(J.products()["stage1"].gtin, "NO-SUCH-LOT")
    assert scope.items == () and len(scope.lots) == 1
