"""The journey generator: deterministic by seed, valid EPCIS 2.0, real GS1 keys, unguessable
serials, and aggregation that a replay of the events finds consistent with the ground truth."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.demo import journey as J
from ledger.epcis.event_hash import event_ids
from ledger.trade.serials import SERIAL_ALPHABET

SCHEMA_PATH = Path("/work/shared/conformance/epcis/schema/EPCIS-JSON-Schema.json")
CBV_STEPS = {"commissioning", "packing", "shipping", "receiving", "departing", "transporting",
             "arriving", "inspecting", "unpacking", "retail_selling"}
DL_KEY = re.compile(r"^https://id\.gs1\.org/(01|00|414|417|253)/(\d+)(?:/(21|10|254)/([^/]+))?$")


def _gs1_valid(key: str) -> bool:
    """Independent of `check_digit`: weights 3,1,3,… from the right over all digits, check
    digit included, must sum to a multiple of ten."""
    weights = [3 if i % 2 else 1 for i in range(len(key))]
    return sum(w * int(d) for w, d in zip(weights, reversed(key), strict=True)) % 10 == 0


def _all_ids(event: dict) -> list[str]:
    out = list(event.get("epcList", [])) + list(event.get("childEPCs", []))
    out += [event["parentID"]] if "parentID" in event else []
    for q in ("quantityList", "inputQuantityList", "outputQuantityList"):
        out += [x["epcClass"] for x in event.get(q, [])]
    for where in ("readPoint", "bizLocation"):
        if where in event:
            out.append(event[where]["id"])
    out += [s["source"] for s in event.get("sourceList", [])]
    out += [d["destination"] for d in event.get("destinationList", [])]
    out += [b["bizTransaction"] for b in event.get("bizTransactionList", [])]
    return out


@pytest.fixture(scope="module")
def journey() -> J.Journey:
    return J.build_journey(seed=11)


@pytest.fixture(scope="module")
def schema_validator():
    schema = json.loads(SCHEMA_PATH.read_text())
    return jsonschema.validators.validator_for(schema)(schema)


def _digest(docs) -> str:
    return hashlib.sha256(json.dumps(list(docs), sort_keys=False).encode()).hexdigest()


# --- determinism -------------------------------------------------------------------------------

def test_same_seed_gives_identical_documents() -> None:
    assert _digest(J.build_journey(5).documents) == _digest(J.build_journey(5).documents)
    assert _digest(J.generate(3_000, 5)) == _digest(J.generate(3_000, 5))


def test_other_seed_gives_other_serials_and_containers() -> None:
    a, b = J.build_journey(1), J.build_journey(2)
    assert not set(a.lots[2].items) & set(b.lots[2].items)
    assert not {c.epc for c in a.containers} & {c.epc for c in b.containers}


@pytest.mark.parametrize("n", [0, 1, 499, 500, 501, 7_777])
def test_generate_yields_exactly_n_events_in_documents_of_at_most_500(n: int) -> None:
    docs = list(J.generate(n, seed=3))
    sizes = [len(d["epcisBody"]["eventList"]) for d in docs]
    assert sum(sizes) == n
    assert all(1 <= s <= 500 for s in sizes)


def test_every_document_has_one_sender_who_captured_all_its_events() -> None:
    # one capture = one signer; customs events must come from customs, sales from the platform
    steps_of: dict[str, set[str]] = {}
    for cap in J.generate_captures(20_000, seed=4):
        assert cap.document["sender"] == cap.org.id
        steps_of.setdefault(cap.org.key, set()).update(e["bizStep"] for e in cap.events)
    assert steps_of["customs"] == {"inspecting"}
    assert steps_of["platform"] == {"retail_selling"}
    assert "inspecting" not in set().union(*(v for k, v in steps_of.items() if k != "customs"))


# --- EPCIS validity ----------------------------------------------------------------------------

def test_journey_documents_match_the_official_epcis_json_schema(journey, schema_validator) -> None:
    for doc in journey.documents:
        errors = [e.message for e in schema_validator.iter_errors(doc)]
        assert errors == []


def test_bulk_documents_match_the_official_epcis_json_schema(schema_validator) -> None:
    for doc in J.generate(1_500, seed=9):
        assert [e.message for e in schema_validator.iter_errors(doc)] == []


def test_schema_check_is_not_vacuous(journey, schema_validator) -> None:
    doc = json.loads(json.dumps(journey.documents[0]))
    doc["epcisBody"]["eventList"][0]["action"] = "MOVE"
    assert list(schema_validator.iter_errors(doc))


def test_documents_parse_with_the_ledger_validator(journey) -> None:
    epcis = pytest.importorskip("ledger.epcis.document", reason="ledger.epcis.document is not in the tree yet")
    for doc in journey.documents + list(J.generate(3_000, seed=2)):
        parsed = epcis.parse_document(doc)
        assert parsed is not None


def test_journey_uses_the_cbv_steps_of_an_import_journey(journey) -> None:
    steps = {e["bizStep"] for e in journey.events}
    assert steps == CBV_STEPS
    types = Counter(e["type"] for e in journey.events)
    assert types["TransformationEvent"] == 2
    assert types["AggregationEvent"] > 0 and types["ObjectEvent"] > 0


def test_event_ids_are_all_distinct(journey) -> None:
    ids = [i for doc in journey.documents for i in event_ids(doc)]
    assert len(ids) == len(journey.events) == len(set(ids))


def test_every_identifier_is_digital_link_with_a_valid_check_digit(journey) -> None:
    seen = 0
    for event in journey.events:
        for ident in _all_ids(event):
            m = DL_KEY.match(ident)
            assert m, ident
            key, body = m.group(1), m.group(2)
            if key == "253":  # GDTI: 13 digits with check, then the serial
                body = body[:13]
            assert len(body) == {"01": 14, "00": 18, "414": 13, "417": 13, "253": 13}[key]
            assert _gs1_valid(body), ident
            seen += 1
    assert seen > 500


def test_gtins_belong_to_the_manufacturers_company_prefix(journey) -> None:
    prefix = journey.organisations["manufacturer"].company_prefix
    for p in journey.products.values():
        assert p.gtin[1:1 + len(prefix)] == prefix and _gs1_valid(p.gtin)
    for lot in journey.lots:
        assert all(can.startswith(f"https://id.gs1.org/01/{lot.ref.gtin}/21/") for can in lot.items)


def test_lots_carry_ilmd_and_new_zealand_origin(journey) -> None:
    lots_seen = set()
    for e in journey.events:
        if "ilmd" in e:
            ilmd = e["ilmd"]
            assert ilmd["cbvmda:countryOfOrigin"] == "NZ"
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", ilmd["cbvmda:bestBeforeDate"])
            assert ilmd["cbvmda:bestBeforeDate"] > e["eventTime"][:10]
            lots_seen.add(ilmd["cbvmda:lotNumber"])
    assert lots_seen == {lot.ref.lot for lot in journey.lots}


@given(st.text(alphabet="0123456789", min_size=7, max_size=17), st.data())
def test_check_digit_makes_a_valid_key_and_catches_any_single_digit_error(body, data) -> None:
    key = body + J.check_digit(body)
    assert _gs1_valid(key)
    i = data.draw(st.integers(0, len(key) - 1))
    wrong = data.draw(st.sampled_from([d for d in "0123456789" if d != key[i]]))
    assert not _gs1_valid(key[:i] + wrong + key[i + 1:])


def test_check_digit_matches_published_examples() -> None:
    # GS1 General Specifications' worked example and a retail GTIN-13 from a can label
    assert J.check_digit("629104150021") == "3"
    assert J.check_digit("0614141123452"[:-1]) == "2"


# --- serials -----------------------------------------------------------------------------------

def test_serials_have_at_least_64_bits_and_use_the_ai21_subset() -> None:
    assert J.SERIAL_BITS >= 64
    assert J.SERIAL_BITS == pytest.approx(J.SERIAL_LENGTH * math.log2(len(SERIAL_ALPHABET)))
    serials = [can.rsplit("/", 1)[1] for d in J.generate(20_000, 1) for e in
               d["epcisBody"]["eventList"] if e["bizStep"] == "commissioning"
               for can in e.get("epcList", [])]
    assert len(serials) > 10_000
    assert len(set(serials)) == len(serials)
    assert all(len(s) == J.SERIAL_LENGTH and set(s) <= set(SERIAL_ALPHABET) for s in serials)


def test_serial_symbols_are_uniform() -> None:
    # Chi-square over the 57 symbols: a modulo bias (b % 57 over all 256 bytes) would put the
    # first 28 symbols ~12% above the others and fail this by a wide margin.
    journey = J.build_journey(0, cans=(6_000, 6_000))
    serials = "".join(can.rsplit("/", 1)[1] for lot in journey.lots for can in lot.items)
    assert len(serials) == 12_000 * J.SERIAL_LENGTH
    counts = Counter(serials)
    expected = len(serials) / len(SERIAL_ALPHABET)
    chi2 = sum((counts[c] - expected) ** 2 / expected for c in SERIAL_ALPHABET)
    assert len(counts) == len(SERIAL_ALPHABET)
    assert chi2 < 110  # 56 degrees of freedom: p ≈ 1e-5


# --- aggregation and the ground truth ----------------------------------------------------------

def test_replaying_the_events_is_consistent_with_the_ground_truth(journey) -> None:
    commissioned: set[str] = set()
    parent_of: dict[str, str] = {}
    packed: dict[str, tuple[str, ...]] = {}
    unpacked: dict[str, str] = {}
    sold: dict[str, str] = {}
    for e in sorted(journey.events, key=lambda e: e["eventTime"]):
        if e["bizStep"] == "commissioning" and e["type"] == "ObjectEvent":
            new = set(e.get("epcList", []))
            assert not new & commissioned
            commissioned |= new
        elif e["type"] == "AggregationEvent" and e["action"] == "ADD":
            kids = e["childEPCs"]
            assert all(k in commissioned and k not in parent_of for k in kids)
            assert e["parentID"] not in commissioned
            commissioned.add(e["parentID"])
            parent_of.update(dict.fromkeys(kids, e["parentID"]))
            packed[e["parentID"]] = tuple(kids)
        elif e["type"] == "AggregationEvent" and e["action"] == "DELETE":
            assert all(parent_of.pop(k) == e["parentID"] for k in e["childEPCs"])
            assert tuple(e["childEPCs"]) == packed[e["parentID"]]
            unpacked[e["parentID"]] = e["eventTime"]
        elif e["bizStep"] == "retail_selling":
            for can in e["epcList"]:
                assert can in commissioned and can not in parent_of and can not in sold
                sold[can] = e["eventTime"]
        else:  # observations are of things that exist and are not inside something else
            assert all(x in commissioned and x not in parent_of or e["bizStep"] == "inspecting"
                       for x in e.get("epcList", []))
    truth = {c.epc: c for c in journey.containers}
    assert packed == {k: c.children for k, c in truth.items()}
    assert unpacked == {k: c.unpacked_at for k, c in truth.items() if c.unpacked_at}
    assert sold == journey.sold
    assert {can for lot in journey.lots for can in lot.items} | set(truth) == commissioned


def test_ground_truth_shape(journey) -> None:
    base = {lot.ref: lot for lot in journey.lots if not lot.inputs}
    finished = [lot for lot in journey.lots if lot.inputs]
    assert len(base) == 2 and len(finished) == 2
    assert [len(lot.items) for lot in finished] == [90, 60]
    wmp = J.products()["wmp"].gtin
    assert all(any(r.gtin == wmp for r in lot.inputs) for lot in finished)
    cases = [c for c in journey.containers if c.kind == "case"]
    pallets = [c for c in journey.containers if c.kind == "pallet"]
    assert sum(len(c.children) for c in cases) == 150 and all(len(c.children) <= 6 for c in cases)
    assert sorted(x for p in pallets for x in p.children) == sorted(c.epc for c in cases)
    assert 0 < len(journey.sold) < 150


def test_bulk_run_holds_the_recall_lot_with_over_ten_thousand_descendants() -> None:
    events = [e for d in J.generate(12_000, seed=8) for e in d["epcisBody"]["eventList"]]
    made_from_it = {q["epcClass"] for e in events
                    if J.RECALL_LOT.epc_class in [i["epcClass"] for i in
                                                  e.get("inputQuantityList", [])]
                    for q in e["outputQuantityList"]}
    assert len(made_from_it) == 2
    cans: set[str] = set()
    parents: dict[str, set[str]] = {}
    for e in events:
        if e["bizStep"] == "commissioning" and "epcList" in e:
            gtin = e["epcList"][0].split("/")[4]
            if J.lot_class(gtin, e["ilmd"]["cbvmda:lotNumber"]) in made_from_it:
                cans.update(e["epcList"])
        if e["type"] == "AggregationEvent" and e["action"] == "ADD":
            parents.setdefault(e["parentID"], set()).update(e["childEPCs"])
    cases = {p for p, kids in parents.items() if kids & cans}
    pallets = {p for p, kids in parents.items() if kids & cases}
    assert len(cans) == 2 * J.RECALL_LOT_CANS
    assert len(cans) + len(cases) + len(pallets) >= 10_000


def test_new_zealand_offsets_follow_daylight_time() -> None:
    auckland = ZoneInfo("Pacific/Auckland")
    for iso in ["2025-04-05T13:59:59Z", "2025-04-05T14:00:00Z", "2025-09-27T13:59:59Z",
                "2025-09-27T14:00:00Z", "2026-01-15T00:00:00Z", "2026-07-01T12:00:00Z"]:
        dt = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC)
        ms = int(dt.timestamp() * 1000)
        offset = dt.astimezone(auckland).utcoffset()
        assert offset is not None
        expected = f"+{int(offset.total_seconds()) // 3600:02d}:00"
        assert J._nz_offset(ms) == expected, iso


def test_the_consignment_carries_the_trade_documents_a_bank_sees(journey) -> None:
    """Purchase order, despatch advice and commercial invoice on the export shipping, the
    carrier's bill of lading on the voyage and at the bonded warehouse's receipt (issue 20)."""
    def types(org: str, step: str) -> list[str]:
        found = [ev for cap in journey.captures if cap.org.key == org for ev in cap.events
                 if ev["bizStep"] == step]
        assert found, (org, step)
        return [b["type"] for ev in found for b in ev.get("bizTransactionList", [])]

    exports = [t for t in types("exporter", "shipping")]
    assert {"po", "desadv", "inv"} <= set(exports)
    assert types("carrier", "departing") == ["bol"] == types("carrier", "arriving")
    assert set(types("warehouse", "receiving")) == {"po", "bol"}
    bols = {b["bizTransaction"] for cap in journey.captures for ev in cap.events
            for b in ev.get("bizTransactionList", []) if b["type"] == "bol"}
    assert len(bols) == 1  # one bill of lading names the voyage, end to end
    (bol,) = bols
    assert bol.startswith("https://id.gs1.org/253/" + journey.organisations["carrier"].company_prefix)
