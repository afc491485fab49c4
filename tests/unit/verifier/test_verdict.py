"""The pure parts of the verifier: how checks become a verdict, the clone rules, the journey's
continuity, language negotiation and the bundle's JSON form."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.proofs.bundle import (
    AnchorEvidence,
    Bundle,
    CaptureEvidence,
    ChainRef,
    CustomsEvidence,
    EventEvidence,
    InvalidBundleError,
    Registration,
    ScanRecord,
)
from ledger.proofs.capture import CaptureSignature
from ledger.proofs.disclosure import Disclosed
from verifier.clone import ClonePolicy, check_scans
from verifier.journey import continuity_gap, imported_origin, sale_time, steps
from verifier.page import LANGUAGES, negotiate, strings
from verifier.verdict import SEVERITY, Check, CheckName, Outcome, VerdictKind, decide

P, F, M, S = Outcome.PASS, Outcome.FAIL, Outcome.MISSING, Outcome.SKIPPED


def chk(outcome: Outcome, fails_as: VerdictKind = VerdictKind.COUNTERFEIT,
        name: CheckName = CheckName.EVENT_ID) -> Check:
    return Check(name, outcome, f"{name} {outcome}", fails_as=fails_as)


# --- decide ------------------------------------------------------------------------------------

def test_all_passed_is_genuine() -> None:
    v = decide("01/x/21/y", [chk(P), chk(P), chk(S)])
    assert v.kind is VerdictKind.GENUINE and v.genuine
    assert v.reason == "all 2 checks passed against the chain"


def test_no_checks_or_only_skipped_is_never_genuine() -> None:
    assert decide("c", []).kind is VerdictKind.UNVERIFIED
    assert decide("c", [chk(S)]).kind is VerdictKind.UNVERIFIED


def test_missing_means_unverified_whatever_the_failure_meaning() -> None:
    v = decide("c", [chk(P), chk(M, VerdictKind.COUNTERFEIT)])
    assert v.kind is VerdictKind.UNVERIFIED


def test_counterfeit_beats_recall_beats_clone_beats_unverified() -> None:
    checks = [chk(M), chk(F, VerdictKind.SUSPECTED_CLONE, CheckName.SCAN_HISTORY),
              chk(F, VerdictKind.RECALLED, CheckName.LOT_STATUS),
              chk(F, VerdictKind.COUNTERFEIT, CheckName.EVENT_PROOF)]
    v = decide("c", checks)
    assert v.kind is VerdictKind.COUNTERFEIT
    assert v.deciding.name is CheckName.EVENT_PROOF
    assert v.reason == v.deciding.reason
    assert decide("c", checks[:3]).kind is VerdictKind.RECALLED
    assert decide("c", checks[:2]).kind is VerdictKind.SUSPECTED_CLONE


@given(st.lists(st.tuples(st.sampled_from(list(Outcome)), st.sampled_from(list(SEVERITY))),
                max_size=12))
def test_verdict_is_the_most_severe_meaning(spec: list) -> None:
    checks = [chk(o, k) for o, k in spec]
    v = decide("c", checks)
    meanings = {c.verdict_if_not_passed for c in checks} - {None}
    if meanings:
        assert v.kind is next(k for k in SEVERITY if k in meanings)
    elif any(c.outcome is P for c in checks):
        assert v.kind is VerdictKind.GENUINE
    else:
        assert v.kind is VerdictKind.UNVERIFIED
    assert json.loads(json.dumps(v.to_json()))["verdict"] == str(v.kind)


# --- clone rules -------------------------------------------------------------------------------

DAY = 86_400


def test_an_unsold_code_scanned_by_the_public_in_many_places_is_a_clone() -> None:
    # Issue 16: unsold codes used to be skipped, so a serial printed on fakes before its real
    # twin was sold read GENUINE however often it was scanned.
    scans = [ScanRecord(i, c, f"c{i}") for i, c in enumerate(["CN", "US", "DE", "FR", "JP"])]
    c = check_scans(scans, None)
    assert c.outcome is F and c.fails_as is VerdictKind.SUSPECTED_CLONE
    assert check_scans(scans[:3], None).outcome is P  # an import journey's few countries


def test_unknown_places_are_no_place_and_one_client_is_one_client() -> None:
    sold = 10
    nowhere = [ScanRecord(sold + i, "unknown", "c") for i in range(500)]
    assert check_scans(nowhere + [ScanRecord(sold, "CN", "c")], sold).outcome is P
    many = [ScanRecord(sold + i, "CN", f"c{i}") for i in range(51)]
    assert check_scans(many, sold).outcome is F
    assert check_scans(many[:50], sold).outcome is P


def test_many_regions_after_sale_is_a_clone() -> None:
    sold = 1_000_000
    scans = [ScanRecord(sold - 10, "NZ-AUK")] + [
        ScanRecord(sold + i * 3600, r) for i, r in enumerate(["CN-31", "CN-44", "CN-11", "CN-51"])]
    c = check_scans(scans, sold)
    assert c.outcome is F and c.fails_as is VerdictKind.SUSPECTED_CLONE
    assert c.details["regions"] == ["CN-11", "CN-31", "CN-44", "CN-51"]


def test_few_regions_or_regions_spread_over_months_are_fine() -> None:
    sold = 1_000_000
    home = [ScanRecord(sold + i * 60, "CN-31") for i in range(5)] + [ScanRecord(sold + DAY, "CN-32")]
    assert check_scans(home, sold).outcome is P
    slow = [ScanRecord(sold + i * 40 * DAY, f"CN-{i}") for i in range(6)]
    assert check_scans(slow, sold, policy=ClonePolicy(window_s=30 * DAY)).outcome is P


def test_too_many_scans_after_sale_is_a_clone() -> None:
    # Scans of an older bundle name no client: each counts as a client of its own.
    sold = 5
    scans = [ScanRecord(sold + i, "CN-31") for i in range(51)]
    assert check_scans(scans, sold).outcome is F


# --- journey -----------------------------------------------------------------------------------

def ev(step: str, t: int, loc: str | None, dest: str | None = None, **extra) -> tuple[bytes, dict]:
    e = {"type": "ObjectEvent", "eventTime": f"2026-01-{t:02d}T00:00:00Z", "bizStep": step, **extra}
    if loc:
        e["bizLocation"] = {"id": loc}
    if dest:
        e["destinationList"] = [{"type": "location", "destination": dest}]
    return bytes([t]) * 32, e


HONEST = [ev("commissioning", 1, "F", ilmd={"cbvmda:countryOfOrigin": "NZ"}),
          ev("shipping", 2, "F", "PORT"), ev("arriving", 5, "PORT"), ev("inspecting", 6, "PORT"),
          ev("shipping", 7, "PORT", "WH"), ev("receiving", 8, "WH"), ev("shipping", 9, "WH", "SHOP"),
          ev("retail_selling", 10, "SHOP")]


def test_honest_journey_is_whole_and_staged() -> None:
    s = steps(HONEST[::-1])  # any order in, time order out
    assert continuity_gap(s) is None
    assert [x.stage.value for x in s] == ["origin", "export", "port_of_entry", "customs",
                                           "shipping", "warehouse", "shipping", "sale"]
    assert sale_time(s) == s[-1].time
    assert imported_origin(s, "CN") == "NZ"


@pytest.mark.parametrize("dropped", range(len(HONEST)))
def test_dropping_a_move_leaves_a_gap(dropped: int) -> None:
    # Continuity sees moves: dropping the commissioning or any shipping leaves goods appearing
    # where nothing took them. Dropping a step at the same place (an arrival, an inspection,
    # a receipt) or the last step is not visible here: the customs check and the timeline's
    # last stage cover those.
    kept = [e for i, e in enumerate(HONEST) if i != dropped]
    gap = continuity_gap(steps(kept))
    step = HONEST[dropped][1]["bizStep"]
    # The last leg before a sale is the exception: a sale is recorded where the seller is (a
    # cross-border platform sells from the bonded warehouse), so it cannot show a missing move.
    last_leg = dropped + 1 < len(HONEST) and HONEST[dropped + 1][1]["bizStep"] == "retail_selling"
    if step in ("commissioning", "shipping") and not last_leg:
        assert gap is not None
    else:
        assert gap is None


def test_a_location_jump_without_shipping_is_a_gap() -> None:
    assert continuity_gap(steps([ev("commissioning", 1, "F"), ev("receiving", 2, "WH")]))


def test_domestic_goods_need_no_customs() -> None:
    s = steps([ev("commissioning", 1, "F", ilmd={"countryOfOrigin": "CN"})])
    assert imported_origin(s, "CN") is None


# --- language ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("header", "lang"), [
    (None, "zh-Hans"), ("", "zh-Hans"), ("en-US,en;q=0.9", "en"), ("zh-CN,zh;q=0.9", "zh-Hans"),
    ("zh-TW", "zh-Hant"), ("zh-Hant-HK;q=0.8,en;q=0.5", "zh-Hant"), ("zh-HK", "zh-Hant"),
    ("fr-FR,en;q=0.3", "en"), ("de", "zh-Hans"), ("en;q=0.5,zh-SG;q=0.9", "zh-Hans"),
    ("zh-Hans-CN, zh-Hant;q=1", "zh-Hans"), ("en;q=0", "zh-Hans"),
])
def test_negotiate(header: str | None, lang: str) -> None:
    assert negotiate(header) == lang


def test_every_language_has_every_string() -> None:
    table = strings()
    assert set(table) == set(LANGUAGES)
    keys = set(table["en"])
    for lang in LANGUAGES:
        assert set(table[lang]) == keys, lang
        for kind in VerdictKind:
            assert table[lang][f"verdict.{kind}"]


# --- bundle JSON -------------------------------------------------------------------------------

def sample_bundle() -> Bundle:
    sig = CaptureSignature(b"\x01" * 32, 2, b"\x02" * 32, 7, 1_700_000_000, b"\x03" * 65)
    return Bundle(
        code="https://id.gs1.org/01/09421000000017/21/abc",
        chain=ChainRef(31337, {"Consortium": "0x" + "11" * 20}, 12),
        registration=Registration("09421000000017", "L1", (b"\x04" * 32,)),
        captures=(CaptureEvidence(sig, "0x" + "22" * 20,
                                  AnchorEvidence(b"\x05" * 32, (b"\x06" * 32,), b"\x07" * 32, 9)),
                  CaptureEvidence(sig, None, None)),
        events=(EventEvidence(b"\x08" * 32, 1, (b"\x0b" * 32,),
                              (Disclosed('["00000000000000000000000000000000","type","ObjectEvent"]'),
                               Disclosed('["11111111111111111111111111111111","x","真"]')),
                              {"type": "ObjectEvent", "x": "真"}, bytes([8]) + bytes(31), ["c"]),
                EventEvidence(b"\x0c" * 32, 0, (), (Disclosed(
                    '["22222222222222222222222222222222","bizStep","shipping"]',
                    (b"\x0d" * 32, b"\x0e" * 32)),))),
        customs=(CustomsEvidence(b"\x09" * 32, b"\x08" * 32, (b"\x0a" * 32,)),),
        scans=(ScanRecord(5, "CN-31"),), generated_at=3, source="http://gw")


def test_bundle_round_trips_through_json() -> None:
    b = sample_bundle()
    assert Bundle.loads(b.dumps()) == b
    assert Bundle.loads(b.dumps(indent=2)) == b
    out = json.loads(b.dumps())
    assert out["version"] == 2
    full, public = out["events"]
    assert full["eventId"].startswith("ni:///sha-256;0800")
    assert full["commitment"] == "0x" + "08" * 32 and full["disclosures"][1] == {
        "text": '["11111111111111111111111111111111","x","真"]'}
    # A public event: chosen disclosures with their paths, and no event, id or context.
    assert set(public) == {"commitment", "capture", "proof", "disclosures"}
    assert public["disclosures"][0]["proof"] == ["0x" + "0d" * 32, "0x" + "0e" * 32]
    assert out["customs"][0] == {"consignment": "0x" + "09" * 32,
                                 "commitment": "0x" + "08" * 32, "proof": ["0x" + "0a" * 32]}
    parsed = Bundle.loads(b.dumps())
    assert parsed.events[0].full and not parsed.events[1].full


@pytest.mark.parametrize("mutate", [
    lambda d: d.update(version=1),
    lambda d: d.update(version=3),
    lambda d: d["events"][0].update(commitment="0x08"),
    lambda d: d["events"][1]["disclosures"][0].update(text=5),
    lambda d: d["events"][1]["disclosures"][0].update(proof="0x00"),
    lambda d: d["customs"][0].pop("commitment"),
    lambda d: d.update(format="other"),
    lambda d: d["events"][0].update(capture=5),
    lambda d: d["captures"][0].update(signature="0x00"),
    lambda d: d["captures"][0]["anchor"].update(proof=["0x" + "00" * 32] * 65),
    lambda d: d["events"][0].update(eventId="nonsense"),
    lambda d: d.pop("chain"),
])
def test_bundle_refuses_malformed_or_newer_documents(mutate) -> None:
    d = sample_bundle().to_json()
    mutate(d)
    with pytest.raises(InvalidBundleError):
        Bundle.from_json(json.loads(json.dumps(d)))
