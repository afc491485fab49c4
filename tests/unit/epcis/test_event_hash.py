"""The CBV 2.0 event hash against the GS1 test vectors, and its invariances as properties."""

from __future__ import annotations

import copy
import hashlib
import json
import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.epcis.event_hash import (
    InvalidEventIdError,
    event_hash,
    event_id,
    event_ids,
    format_event_id,
    parse_event_id,
    prehash,
    prehashes,
)
from ledger.errors import InvalidInputError
from ledger.paths import SHARED_DIR

VECTORS = SHARED_DIR / "conformance" / "event-hash"
pytestmark = pytest.mark.skipif(not VECTORS.is_dir(), reason=f"no conformance data at {VECTORS}")


def _ni(text: str) -> str:
    return "ni:///sha-256;" + hashlib.sha256(text.encode()).hexdigest() + "?ver=CBV2.0"


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _json_vectors() -> list[Path]:
    return sorted(p for p in VECTORS.glob("*.jsonld") if p.with_suffix(".hashes").exists())


def _skipped() -> dict[str, str]:
    """Every vector on disk that no test below checks, with the reason."""
    skipped: dict[str, str] = {}
    for path in sorted(VECTORS.glob("*")):
        if path.suffix not in (".hashes", ".prehashes"):
            continue
        if not path.with_suffix(".jsonld").exists() and not path.with_suffix(".xml").exists():
            skipped.setdefault(path.stem, "expected output without an input document")
    for path in _json_vectors():
        prehash_file = path.with_suffix(".prehashes")
        if not prehash_file.exists():
            continue
        expected = _lines(path.with_suffix(".hashes"))
        for i, line in enumerate(_lines(prehash_file)):
            if i >= len(expected) or _ni(line) != expected[i]:
                skipped[f"{path.stem}.prehashes line {i + 1}"] = (
                    "the published pre-hash does not hash to the published hash (stale upstream "
                    "file); the hash itself is checked")
    return skipped


def test_vector_inventory_reports_what_runs_and_what_is_skipped() -> None:
    checked = _json_vectors()
    skipped = _skipped()
    report = "\n".join(f"  skip {name}: {why}" for name, why in skipped.items())
    # (the XML vectors are checked in test_xml.py)
    print(f"\nevent-hash vectors: {len(checked)} JSON-LD documents checked, "
          f"{sum(len(_lines(p.with_suffix('.hashes'))) for p in checked)} event hashes, "
          f"{len(skipped)} skipped:\n{report}")
    assert len(checked) >= 20
    # only self-inconsistent pre-hash lines and outputs without an input may be skipped
    assert all("stale" in why or "without an input" in why
               for why in skipped.values())


@pytest.mark.parametrize("path", _json_vectors(), ids=lambda p: p.stem)
def test_vector_hashes(path: Path) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    assert event_ids(document) == _lines(path.with_suffix(".hashes"))


def _with_consistent_prehashes() -> list[Path]:
    return [p for p in _json_vectors() if p.with_suffix(".prehashes").exists()
            and any(_ni(line) in _lines(p.with_suffix(".hashes"))
                    for line in _lines(p.with_suffix(".prehashes")))]


@pytest.mark.parametrize("path", _with_consistent_prehashes(), ids=lambda p: p.stem)
def test_vector_prehashes(path: Path) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    ours = prehashes(document)
    hashes = _lines(path.with_suffix(".hashes"))
    published = _lines(path.with_suffix(".prehashes"))
    compared = 0
    for i, line in enumerate(published):
        if i < len(hashes) and _ni(line) == hashes[i]:
            assert ours[i] == line
            compared += 1
    assert compared >= 1


@pytest.mark.parametrize("path", sorted((VECTORS / "expected_equal").glob("*.json*")),
                         ids=lambda p: p.name)
def test_expected_equal_documents_hash_alike(path: Path) -> None:
    ids = event_ids(json.loads(path.read_text(encoding="utf-8")))
    assert len(ids) >= 2
    assert len(set(ids)) == 1


# ------------------------------------------------------------------------------------------
# API
# ------------------------------------------------------------------------------------------
BASE = {
    "type": "ObjectEvent",
    "eventTime": "2024-03-01T10:15:30.250+01:00",
    "eventTimeZoneOffset": "+01:00",
    "epcList": ["urn:epc:id:sgtin:4012345.011111.9876", "urn:epc:id:sgtin:4012345.011111.5432"],
    "action": "OBSERVE",
    "bizStep": "shipping",
    "disposition": "in_transit",
    "readPoint": {"id": "urn:epc:id:sgln:4012345.00001.0"},
    "bizTransactionList": [
        {"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:4012345000009:PO-1"},
        {"type": "desadv", "bizTransaction": "urn:epcglobal:cbv:bt:4012345000009:ASN-7"},
    ],
    "ex:batchNote": "night shift",
}
CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
           {"ex": "https://example.com/epcis/"}]


def test_id_forms_agree() -> None:
    digest = event_hash(BASE, CONTEXT)
    assert len(digest) == 32
    assert event_id(BASE, CONTEXT) == format_event_id(digest)
    assert digest == hashlib.sha256(prehash(BASE, CONTEXT).encode()).digest()
    assert parse_event_id(event_id(BASE, CONTEXT)) == digest
    assert parse_event_id(digest.hex().upper()) == digest


@pytest.mark.parametrize("bad", ["", "ni:///sha-256;abc?ver=CBV2.0", "ni:///sha-256;" + "0" * 64,
                                 "ni:///sha-384;" + "0" * 64 + "?ver=CBV2.0", "0" * 63, "g" * 64])
def test_parse_event_id_rejects(bad: str) -> None:
    with pytest.raises(InvalidEventIdError):
        parse_event_id(bad)


def test_event_hash_does_not_touch_its_input() -> None:
    event = copy.deepcopy(BASE)
    event_id(event, CONTEXT)
    assert event == BASE


def test_single_event_document_and_bare_event_agree() -> None:
    document = {"@context": CONTEXT, "type": "EPCISDocument", "schemaVersion": "2.0",
                "creationDate": "2024-03-01T10:00:00Z", "epcisBody": {"event": BASE}}
    assert event_ids(document) == [event_id(BASE, CONTEXT)]


def test_not_an_object_is_invalid_input() -> None:
    with pytest.raises(InvalidInputError):
        event_id(["not", "an", "event"])  # type: ignore[arg-type]


def test_ignored_fields_do_not_count() -> None:
    changed = {**BASE, "eventID": "urn:uuid:1", "recordTime": "2030-01-01T00:00:00Z",
               "errorDeclaration": {"declarationTime": "2030-01-01T00:00:00Z",
                                    "reason": "incorrect_data"}}
    assert event_id(changed, CONTEXT) == event_id(BASE, CONTEXT)


# ------------------------------------------------------------------------------------------
# Properties: what must not change the id, and what must
# ------------------------------------------------------------------------------------------
def _shuffled(obj, rnd: random.Random):
    if isinstance(obj, dict):
        items = list(obj.items())
        rnd.shuffle(items)
        return {k: _shuffled(v, rnd) for k, v in items}
    if isinstance(obj, list):
        return [_shuffled(v, rnd) for v in obj]
    return obj


gtin_cp = st.sampled_from(["4012345", "0614141", "95060001", "401234"])
serials = st.text(alphabet="ABCXYZabcxyz0123456789-_.", min_size=1, max_size=20)


def _sgtin(cp: str, item: str, serial: str) -> str:
    return f"urn:epc:id:sgtin:{cp}.{item}.{serial}"


def _dl(cp: str, item: str, serial: str) -> str:
    raw = item[0] + cp + item[1:]
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(raw)))
    return f"https://id.gs1.org/01/{raw}{-total % 10}/21/{serial}"


events = st.builds(
    lambda cp, items, serials_, minutes, step, extra: {
        **BASE,
        "epcList": [_sgtin(cp, item.zfill(13 - len(cp)), s) for item, s in zip(items, serials_, strict=False)],
        "eventTime": (datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes))
        .isoformat().replace("+00:00", "Z"),
        "bizStep": step,
        "ex:batchNote": extra,
    },
    gtin_cp,
    st.lists(st.integers(0, 99999).map(str), min_size=1, max_size=5),
    st.lists(serials, min_size=5, max_size=5, unique=True),
    st.integers(0, 10_000_000),
    st.sampled_from(["shipping", "receiving", "packing", "inspecting"]),
    st.text(min_size=1, max_size=30).filter(lambda s: s.strip() == s and s),
)

PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(events, st.randoms(use_true_random=False))
def test_key_order_does_not_matter(event: dict, rnd: random.Random) -> None:
    assert event_id(_shuffled(event, rnd), CONTEXT) == event_id(event, CONTEXT)


@PROPS
@given(events, st.randoms(use_true_random=False))
def test_epc_list_order_does_not_matter(event: dict, rnd: random.Random) -> None:
    shuffled = {**event, "epcList": rnd.sample(event["epcList"], len(event["epcList"]))}
    assert event_id(shuffled, CONTEXT) == event_id(event, CONTEXT)


@PROPS
@given(events, st.integers(-14 * 4, 14 * 4).map(lambda q: timedelta(minutes=15 * q)),
       st.sampled_from(["", ".0", ".000", ".000000"]))
def test_time_zone_spelling_does_not_matter(event: dict, shift: timedelta, zeros: str) -> None:
    utc = datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00"))
    local = utc.astimezone(timezone(shift))
    spelled = local.strftime("%Y-%m-%dT%H:%M:%S") + zeros + local.strftime("%z")[:3] + ":" + \
        local.strftime("%z")[3:]
    assert event_id({**event, "eventTime": spelled}, CONTEXT) == event_id(event, CONTEXT)


@PROPS
@given(events)
def test_urn_and_digital_link_spelling_do_not_matter(event: dict) -> None:
    as_dl = []
    for urn in event["epcList"]:
        cp, item, serial = urn.rsplit(":", 1)[1].split(".", 2)
        as_dl.append(_dl(cp, item, serial))
    assert event_id({**event, "epcList": as_dl}, CONTEXT) == event_id(event, CONTEXT)


@PROPS
@given(events)
def test_bare_vocabulary_and_iri_agree(event: dict) -> None:
    full = {**event, "bizStep": "https://ref.gs1.org/cbv/BizStep-" + event["bizStep"],
            "disposition": "urn:epcglobal:cbv:disp:in_transit"}
    assert event_id(full, CONTEXT) == event_id(event, CONTEXT)


@PROPS
@given(events, st.sampled_from(["eventTime", "epcList", "bizStep", "action", "readPoint",
                                "ex:batchNote", "bizTransactionList", "drop"]))
def test_any_semantic_change_changes_the_id(event: dict, field: str) -> None:
    changed = copy.deepcopy(event)
    if field == "eventTime":
        changed["eventTime"] = event["eventTime"].replace("Z", ".001Z")
    elif field == "epcList":
        changed["epcList"] = event["epcList"][:-1] + [event["epcList"][-1] + "X"]
    elif field == "bizStep":
        changed["bizStep"] = "receiving" if event["bizStep"] != "receiving" else "shipping"
    elif field == "action":
        changed["action"] = "ADD"
    elif field == "readPoint":
        changed["readPoint"] = {"id": "urn:epc:id:sgln:4012345.00001.1"}
    elif field == "ex:batchNote":
        changed["ex:batchNote"] = event["ex:batchNote"] + "!"
    elif field == "bizTransactionList":
        changed["bizTransactionList"] = event["bizTransactionList"][:1]
    else:
        del changed["disposition"]
    assert event_id(changed, CONTEXT) != event_id(event, CONTEXT)


def test_extension_namespace_prefix_name_does_not_matter() -> None:
    renamed = {k if k != "ex:batchNote" else "other:batchNote": v for k, v in BASE.items()}
    other_context = [CONTEXT[0], {"other": "https://example.com/epcis/"}]
    assert event_id(renamed, other_context) == event_id(BASE, CONTEXT)
    assert event_id(renamed, [CONTEXT[0], {"other": "https://elsewhere.example/"}]) != \
        event_id(BASE, CONTEXT)


EXAMPLES = SHARED_DIR / "conformance" / "epcis" / "examples"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.jsonld")) + _json_vectors(),
                         ids=lambda p: p.stem)
def test_fast_path_writes_what_the_tree_writes(path: Path) -> None:
    from ledger.epcis import event_hash as eh

    document = json.loads(path.read_text(encoding="utf-8"))
    context, events, ignore = eh._document_parts(document)
    ns = eh._namespaces(context)
    for event in events:
        event = {k: v for k, v in event.items() if k not in ignore}
        build = eh._Build(ns, eh._resolver(eh._collect_vocab(event)))
        fast = eh._fast_prehash(event, build)
        if fast is not None:
            assert fast == eh._tree_prehash(event, eh._Build(ns, build.resolve))


_SGTIN_BODIES = [
    "0614141.107346.2017", "0614141.107346.ABC123", "061414112345.1.9", "061414.1234567.x",
    "0614141.107346.12345678901234567890", "0614141.107346.123456789012345678901",
    "0614141.107346.A.B", "0614141.107346.a%2Fb", "0614141.107346.(1)", "0614141.107346.",
    "0614141.10734.1", "06141.1073465.1", "0614141107346.1", "0614141.107346",
    "٠614141.107346.1", "0614141.107346.ü", "0614141.107346.1-2", "0614141.107346._",
    "0614141..107346.1", "x614141.107346.1",
]


@pytest.mark.parametrize("body", _SGTIN_BODIES)
def test_plain_sgtin_shortcut_reads_as_the_pattern_does(body: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from ledger.epcis import event_hash as eh

    fast = eh._plain_sgtin(body)
    monkeypatch.setattr(eh, "_plain_sgtin", lambda _body: None)
    slow = eh._epc_id("sgtin", body)
    assert fast is None or fast == slow  # the shortcut either agrees or leaves it to the regex
    if (body.isascii() and body.split(".")[-1].isalnum() and body.count(".") == 2
            and slow is not None):
        assert fast == slow  # and it takes every plain one


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+14:00", "0001-01-01T13:59:59.999+14:00",
                                  "9999-12-31T23:59:59.9995Z", "9999-12-31T12:00:00-12:00"])
def test_a_time_outside_utc_years_1_to_9999_has_no_hash(when: str) -> None:
    from ledger.epcis.event_hash import UnrepresentableTimeError, event_hash

    event = {"type": "ObjectEvent", "eventTime": when, "eventTimeZoneOffset": "+00:00",
             "action": "OBSERVE", "epcList": ["urn:epc:id:sgtin:0614141.107346.2017"]}
    with pytest.raises(UnrepresentableTimeError):
        event_hash(event)
    event["eventTime"] = "0001-01-01T14:00:00+14:00"  # the first representable instant
    assert len(event_hash(event)) == 32
