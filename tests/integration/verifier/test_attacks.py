"""Trying to fool the verifier, on a real chain (anvil, the session deployment) and a real store.

The honest journey is played by `ledger.demo.scenario.Scenario`: organisations admitted through
Consortium proposals with their own keys and prefixes, every document signed with EIP-712 and
taken in by the gateway's `Intake`, lots registered on CodeRegistry by the brand, batches
anchored on TraceAnchor, the customs decision recorded on CustomsRelease by customs. Each attack
then changes one thing, the way an attacker could (a lying gateway edits its database or its
bundle; a thief signs with a revoked key; a member without the role signs a customs step), and
must end in the right verdict *because of* the right check.

Chain state changes here are scoped so the tests stay independent in any order: the recall hits
the stage 2 lot only (the other tests use stage 1 cans), and attack keys are extra keys.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from ledger.chain.client import ContractRevertError
from ledger.chain.transactor import anvil_dev_key
from ledger.demo.journey import EPCIS_CONTEXT, Organisation
from ledger.demo.scenario import Scenario, serial_of
from ledger.evidence.builder import build_bundle
from ledger.pipeline.intake import MissingRoleError, RevokedSigningKeyError
from ledger.proofs.bundle import Bundle, Registration, ScanRecord
from ledger.proofs.codes import codes_tree
from ledger.proofs.merkle import MerkleTree, keccak256
from verifier.verdict import CheckName, Outcome, Verdict, VerdictKind
from verifier.verify import verify

ALL_CHECKS = {CheckName.CODE_FORMAT, CheckName.BUNDLE_CHAIN, CheckName.CODE_REGISTERED,
              CheckName.CODE_PREFIX_OWNER, CheckName.LOT_STATUS, CheckName.EVENT_ID,
              CheckName.EVENT_PROOF, CheckName.CAPTURE_SIGNATURE, CheckName.SIGNER_KEY,
              CheckName.SIGNER_ROLE, CheckName.SIGNER_ENTITLED, CheckName.CAPTURE_ANCHORED,
              CheckName.JOURNEY_COMPLETE,
              CheckName.CUSTOMS_DECISION, CheckName.SCAN_HISTORY}


@pytest.fixture(scope="module")
def scenario(w3, deployment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    """One NZ → Nansha consortium journey played onto the chain and a fresh SQLite store."""
    from ledger.store.store import Store

    store = Store(f"sqlite:///{tmp_path_factory.mktemp('verifier') / 'store.db'}")
    store.migrate()
    sc = Scenario(w3, deployment, store, admin_key=anvil_dev_key(0), seed=7)
    sc.admin.reset_nonce()  # other modules may have sent from the dev account
    sc.play()
    yield sc
    store.close()


def failing(verdict: Verdict) -> set[tuple[str, str]]:
    return {(str(c.name), str(c.outcome)) for c in verdict.failing()}


def can(sc: Scenario, i: int = 0, product: str = "stage1") -> str:
    return sc.sold_cans(product)[i]


def document(*events: dict) -> dict:
    return {"@context": [EPCIS_CONTEXT], "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": max(e["eventTime"] for e in events),
            "epcisBody": {"eventList": list(events)}}


def stored_events(sc: Scenario, epc: str) -> list:
    return sc.item_events(epc)


# --- the honest journey ------------------------------------------------------------------------

def test_honest_journey_is_genuine_with_every_check(scenario: Scenario) -> None:
    epc = can(scenario)
    bundle = scenario.bundle(epc, scans=(ScanRecord(int(time.time()) - 60, "CN-44"),))
    verdict = verify(epc, bundle, scenario.view)
    assert verdict.kind is VerdictKind.GENUINE, verdict.to_json()
    assert {c.name for c in verdict.checks} == ALL_CHECKS
    assert all(c.outcome is Outcome.PASS for c in verdict.checks)
    assert all(c.reason and "\n" not in c.reason for c in verdict.checks)
    # Six organisations captured this can's story, through its case and its pallet; customs
    # three times (its inspections, its decision with the ids it covers, the release), the
    # platform twice (its declaration, the sale).
    assert len(bundle.captures) == 9 and len(bundle.events) >= 15
    assert {c.signature.org for c in bundle.captures} == {p.org_id for p in scenario.parties.values()}
    customs = verdict.by_name(CheckName.CUSTOMS_DECISION)[0]
    assert customs.details["origin"] == "NZ" and customs.details["decision"] == "NORMAL_CONTROL"
    assert verdict.block_number == scenario.w3.eth.block_number


def test_the_exported_bundle_reverifies_offline_from_json(scenario: Scenario) -> None:
    epc = can(scenario, 1)
    again = Bundle.loads(scenario.bundle(epc).dumps(indent=2))
    assert verify(epc, again, scenario.view).kind is VerdictKind.GENUINE


def test_cli_verify_bundle_against_the_node(scenario: Scenario, anvil, tmp_path: Path) -> None:
    # `zhenzhi verify --bundle bundle.json --rpc URL`: arbitration re-checks an exported file
    # against a node of its choosing; exit status 0 only for GENUINE, 3 for a recall, etc.
    from typer.testing import CliRunner

    from gateway.cli import app

    manifest = tmp_path / "deployment.json"
    scenario.deployment.save(manifest)
    bundle_file = tmp_path / "bundle.json"
    bundle_file.write_text(scenario.bundle(can(scenario, 2)).dumps(indent=2))
    run = CliRunner().invoke(app, ["verify", "--bundle", str(bundle_file), "--rpc", anvil.url,
                                   "--manifest", str(manifest), "--json"])
    assert run.exit_code == 0, run.output
    assert json.loads(run.output)["verdict"] == "GENUINE"


# --- attacks on events and signatures -----------------------------------------------------------

def test_event_field_altered_after_capture_is_counterfeit(scenario: Scenario) -> None:
    # A gateway edits the stored JSON of the commissioning event (a later best-before date).
    epc = can(scenario, 3)
    origin = stored_events(scenario, epc)[0]
    body = copy.deepcopy(origin.event)
    body["ilmd"]["cbvmda:bestBeforeDate"] = "2031-01-01"
    engine = scenario.store.engine
    with engine.begin() as conn:
        conn.execute(text("UPDATE events SET body = :b WHERE event_id = :id"),
                     {"b": json.dumps(body), "id": origin.event_id})
    try:
        verdict = verify(epc, scenario.bundle(epc), scenario.view)
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE events SET body = :b WHERE event_id = :id"),
                         {"b": json.dumps(origin.event), "id": origin.event_id})
    assert verdict.kind is VerdictKind.COUNTERFEIT
    assert verdict.deciding.name is CheckName.EVENT_ID
    assert verdict.deciding.subject == f"ni:///sha-256;{origin.event_id.hex()}"


def _with_event(bundle: Bundle, index: int, **changes) -> Bundle:
    events = list(bundle.events)
    events[index] = dataclasses.replace(events[index], **changes)
    return dataclasses.replace(bundle, events=tuple(events))


def _assert_event_id_fails(scenario: Scenario, epc: str, forged: Bundle) -> Verdict:
    verdict = verify(epc, forged, scenario.view)
    assert verdict.kind is VerdictKind.COUNTERFEIT, verdict.to_json()
    assert verdict.deciding.name is CheckName.EVENT_ID
    assert verdict.deciding.outcome is Outcome.FAIL
    return verdict


def test_member_bundle_with_one_disclosure_text_altered_is_counterfeit(
        scenario: Scenario) -> None:
    # A full event's texts must say exactly what the event says, and lead to its commitment.
    epc = can(scenario, 3)
    bundle = scenario.bundle(epc)
    origin = bundle.events[0]
    assert origin.full and len(origin.disclosed) > 3
    n = next(i for i, d in enumerate(origin.disclosed) if json.loads(d.text)[1] == "bizStep")
    salt, name, _ = json.loads(origin.disclosed[n].text)
    # Another value: the texts no longer say what the event says.
    lied = json.dumps([salt, name, "destroying"], separators=(",", ":"))
    texts = list(origin.disclosed)
    texts[n] = dataclasses.replace(texts[n], text=lied)
    verdict = _assert_event_id_fails(scenario, epc, _with_event(bundle, 0, disclosed=tuple(texts)))
    assert "disclosures" in verdict.deciding.reason
    # The same value under another salt: it says what the event says, but leads to another
    # commitment than the one its capture signed.
    resalted = json.dumps([("0" if salt[0] != "0" else "1") + salt[1:], name,
                           json.loads(origin.disclosed[n].text)[2]], separators=(",", ":"))
    texts[n] = dataclasses.replace(texts[n], text=resalted)
    verdict = _assert_event_id_fails(scenario, epc, _with_event(bundle, 0, disclosed=tuple(texts)))
    assert verdict.deciding.details.get("recomputed")
    # A text dropped: the event says more than its disclosures.
    _assert_event_id_fails(scenario, epc, _with_event(bundle, 0,
                                                      disclosed=origin.disclosed[:-1]))


def test_member_bundle_with_the_event_altered_but_not_its_texts_is_counterfeit(
        scenario: Scenario) -> None:
    epc = can(scenario, 3)
    bundle = scenario.bundle(epc)
    origin = bundle.events[0]
    event = copy.deepcopy(dict(origin.event))
    event["bizStep"] = "destroying"
    _assert_event_id_fails(scenario, epc, _with_event(bundle, 0, event=event))
    # Altered under its own new id: the texts still commit the old id and the old field.
    from ledger.epcis.event_hash import event_hash

    new_id = event_hash(event, origin.context)
    verdict = _assert_event_id_fails(scenario, epc, _with_event(bundle, 0, event=event,
                                                                event_id=new_id))
    assert "disclosures" in verdict.deciding.reason


def test_signature_swapped_between_captures_is_counterfeit(scenario: Scenario) -> None:
    epc = can(scenario, 4)
    bundle = scenario.bundle(epc)
    a, b = bundle.captures[0], bundle.captures[1]
    swapped = (dataclasses.replace(a, signature=dataclasses.replace(
                   a.signature, signature=b.signature.signature)),
               dataclasses.replace(b, signature=dataclasses.replace(
                   b.signature, signature=a.signature.signature)))
    forged = dataclasses.replace(bundle, captures=swapped + bundle.captures[2:])
    verdict = verify(epc, forged, scenario.view)
    assert verdict.kind is VerdictKind.COUNTERFEIT
    assert verdict.deciding.name is CheckName.CAPTURE_SIGNATURE
    assert {c.subject for c in verdict.by_name(CheckName.CAPTURE_SIGNATURE)
            if c.outcome is Outcome.FAIL} == {"capture 0", "capture 1"}


def test_event_moved_into_another_signed_capture_is_counterfeit(scenario: Scenario) -> None:
    # The other half of a swap: an event re-attributed to a capture that never signed it.
    epc = can(scenario, 4)
    bundle = scenario.bundle(epc)
    last = bundle.events[-1]
    other = next(i for i in range(len(bundle.captures)) if i != last.capture)
    forged = dataclasses.replace(bundle, events=bundle.events[:-1] + (
        dataclasses.replace(last, capture=other),))
    verdict = verify(epc, forged, scenario.view)
    assert verdict.kind is VerdictKind.COUNTERFEIT
    assert verdict.deciding.name is CheckName.EVENT_PROOF


def _later_copy(event: dict, minutes: int) -> dict:
    from datetime import datetime, timedelta

    out = copy.deepcopy(event)
    t = datetime.fromisoformat(out["eventTime"].replace("Z", "+00:00")) + timedelta(minutes=minutes)
    out["eventTime"] = t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
    return out


def test_key_used_after_its_revocation_is_counterfeit(scenario: Scenario) -> None:
    from eth_account import Account

    epc = can(scenario, 5)
    honest = stored_events(scenario, epc)
    warehouse = scenario.parties["warehouse"]
    stolen = Account.create()
    scenario.chain.add_key(warehouse.tx, warehouse.org.gln, stolen.address)
    scenario.chain.revoke_key(warehouse.tx, stolen.address)
    # The thief records a second unpacking of the can's case, signed after the revocation.
    unpack = next(e for e in honest if e.event.get("bizStep") == "unpacking"
                  and epc in (e.event.get("childEPCs") or ()))
    doc = document(_later_copy(unpack.event, 3))
    _, _, sig = scenario.sign(warehouse, doc, signer=stolen)
    with pytest.raises(RevokedSigningKeyError):
        scenario.intake.accept(doc, sig, seed=scenario.seed_of(sig))  # an honest gateway refuses it at capture
    forged = scenario.capture_unchecked(warehouse, doc, signer=stolen)  # a lying one stores it
    scenario.anchor_pending()
    events = honest + [scenario.store.get_event(forged.event_ids[0])]
    verdict = verify(epc, scenario.bundle(epc, events=events), scenario.view)
    assert verdict.kind is VerdictKind.COUNTERFEIT
    assert verdict.deciding.name is CheckName.SIGNER_KEY
    assert "was not valid" in verdict.deciding.reason


def test_key_of_an_organisation_without_the_role_is_counterfeit(scenario: Scenario) -> None:
    # The carrier (ENTERPRISE only) signs a clean customs inspection of the pallet.
    epc = can(scenario, 6)
    honest = stored_events(scenario, epc)
    inspection = next(e for e in honest if e.event.get("bizStep") == "inspecting")
    carrier = scenario.parties["carrier"]
    doc = document(_later_copy(inspection.event, 5))
    _, _, sig = scenario.sign(carrier, doc)
    with pytest.raises(MissingRoleError):
        scenario.intake.accept(doc, sig, seed=scenario.seed_of(sig))
    forged = scenario.capture_unchecked(carrier, doc)
    scenario.anchor_pending()
    events = honest + [scenario.store.get_event(forged.event_ids[0])]
    verdict = verify(epc, scenario.bundle(epc, events=events), scenario.view)
    assert verdict.kind is VerdictKind.COUNTERFEIT
    assert verdict.deciding.name is CheckName.SIGNER_ROLE
    assert verdict.deciding.details == {"role": "CUSTOMS"}


# --- attacks on the code ------------------------------------------------------------------------

def test_code_never_registered_is_counterfeit(scenario: Scenario) -> None:
    gtin = scenario.lot_of(can(scenario)).ref.gtin
    fake = f"https://id.gs1.org/01/{gtin}/21/ZZZZZZZZZZZZ"
    honest_gateway = build_bundle(scenario.store, fake, chain=scenario.chain_ref(), events=[])
    verdict = verify(fake, honest_gateway, scenario.view)
    assert verdict.kind is VerdictKind.COUNTERFEIT
    assert verdict.deciding.name is CheckName.CODE_REGISTERED
    # A lying gateway cites the real lot with a real can's proof: the proof does not fit.
    real = scenario.registration(can(scenario))
    lying = dataclasses.replace(honest_gateway, registration=real)
    verdict = verify(fake, lying, scenario.view)
    assert verdict.kind is VerdictKind.COUNTERFEIT
    assert verdict.deciding.name is CheckName.CODE_REGISTERED
    assert "not among" in verdict.deciding.reason


def test_registration_by_a_member_not_owning_the_prefix_is_refused(scenario: Scenario) -> None:
    brand_gtin = scenario.lot_of(can(scenario)).ref.gtin
    rival = scenario.enrol_one(Organisation(
        "rival", "Copycat Dairy Ltd", "ENTERPRISE", "CN", "9509999", "70"), ["ENTERPRISE"])
    serials = ["FAKE00000001", "FAKE00000002"]
    tree = codes_tree(brand_gtin, serials)
    with pytest.raises(ContractRevertError) as refused:
        scenario.chain.register_lot(rival.tx, brand_gtin, "FAKE1", tree.root, len(serials))
    assert refused.value.error == "CodeRegistryNotPrefixOwner"
    assert refused.value.args_ == {"org": rival.org.gln, "prefix": "9421902"}
    assert scenario.chain.lot(brand_gtin, "FAKE1") is None  # the refusal holds on chain
    # A bundle claiming that registration anyway fails on the chain read.
    fake = f"https://id.gs1.org/01/{brand_gtin}/21/{serials[0]}"
    claim = build_bundle(scenario.store, fake, chain=scenario.chain_ref(), events=[],
                         registration=Registration(brand_gtin, "FAKE1", tuple(tree.proof(0))))
    verdict = verify(fake, claim, scenario.view)
    assert verdict.kind is VerdictKind.COUNTERFEIT
    assert verdict.deciding.name is CheckName.CODE_REGISTERED
    assert "not registered on CodeRegistry" in verdict.deciding.reason


# --- attacks on anchoring -----------------------------------------------------------------------

def test_unanchored_capture_is_unverified_until_anchored(scenario: Scenario) -> None:
    lot = scenario.lot_of(can(scenario))
    epc = next(e for e in lot.items if e not in scenario.journey.sold)
    platform = scenario.parties["platform"]
    last_sale = next(e for c in scenario.journey.captures if c.org.key == "platform"
                     for e in c.events)
    sale = _later_copy(last_sale, 30)
    sale["epcList"] = [epc]
    result = scenario.capture(platform, document(sale))  # the real intake: it is honest
    events = stored_events(scenario, epc) + [scenario.store.get_event(result.capture.event_ids[0])]
    verdict = verify(epc, scenario.bundle(epc, events=events), scenario.view)
    assert verdict.kind is VerdictKind.UNVERIFIED
    assert verdict.deciding.name is CheckName.CAPTURE_ANCHORED
    assert verdict.deciding.outcome is Outcome.MISSING
    scenario.anchor_pending()
    verdict = verify(epc, scenario.bundle(epc, events=events), scenario.view)
    assert verdict.kind is VerdictKind.GENUINE, verdict.to_json()


@pytest.mark.parametrize("forgery", ["anchor_path", "batch_root", "event_path"])
def test_forged_proof_is_counterfeit(scenario: Scenario, forgery: str) -> None:
    epc = can(scenario, 7)
    bundle = scenario.bundle(epc)
    junk = keccak256(b"forged")
    if forgery == "anchor_path":
        cap = bundle.captures[0]
        anchor = dataclasses.replace(cap.anchor, proof=(junk,) + cap.anchor.proof[1:])
        forged = dataclasses.replace(bundle, captures=(
            dataclasses.replace(cap, anchor=anchor),) + bundle.captures[1:])
        expected = CheckName.CAPTURE_ANCHORED
    elif forgery == "batch_root":
        # A self-consistent tree around the real capture leaf, whose root was never anchored.
        from ledger.proofs.capture import capture_leaf
        from ledger.proofs.signing import capture_digest

        cap = bundle.captures[0]
        s = cap.signature
        leaf = capture_leaf(capture_digest(scenario.domain, s.events_root, s.count, s.org,
                                           s.nonce, s.signed_at), cap.signer)
        tree = MerkleTree.build([leaf, junk])
        anchor = dataclasses.replace(cap.anchor, batch_root=tree.root, proof=tuple(tree.proof(0)))
        forged = dataclasses.replace(bundle, captures=(
            dataclasses.replace(cap, anchor=anchor),) + bundle.captures[1:])
        expected = CheckName.CAPTURE_ANCHORED
    else:
        ev = bundle.events[0]
        forged = dataclasses.replace(bundle, events=(
            dataclasses.replace(ev, proof=(junk,) + ev.proof[1:]),) + bundle.events[1:])
        expected = CheckName.EVENT_PROOF
    verdict = verify(epc, forged, scenario.view)
    assert verdict.kind is VerdictKind.COUNTERFEIT
    assert verdict.deciding.name is expected
    assert verdict.deciding.outcome is Outcome.FAIL


# --- recall, withheld events, clones ------------------------------------------------------------

def test_recalled_lot_is_recalled(scenario: Scenario) -> None:
    epc = can(scenario, 0, "stage2")
    lot = scenario.lot_of(epc)
    brand = scenario.parties["manufacturer"]
    assert verify(epc, scenario.bundle(epc), scenario.view).kind is VerdictKind.GENUINE
    scenario.chain.recall_lot(brand.tx, lot.ref.gtin, lot.ref.lot, keccak256(b"recall notice 1"))
    verdict = verify(epc, scenario.bundle(epc), scenario.view)
    assert verdict.kind is VerdictKind.RECALLED
    assert verdict.deciding.name is CheckName.LOT_STATUS
    assert verdict.deciding.details["status"] == "recalled"
    # The recall reaches that lot only.
    other = can(scenario, 8)
    assert verify(other, scenario.bundle(other), scenario.view).kind is VerdictKind.GENUINE


@pytest.mark.parametrize("dropped", ["shipping", "commissioning"])
def test_gateway_dropping_an_event_is_unverified(scenario: Scenario, dropped: str) -> None:
    epc = can(scenario, 9)
    events = stored_events(scenario, epc)
    if dropped == "shipping":  # the export leg out of the exporter's warehouse
        gone = next(e for e in events if e.event.get("bizStep") == "shipping"
                    and "9425117" in e.event["readPoint"]["id"])
    else:
        gone = events[0]
    kept = [e for e in events if e.event_id != gone.event_id]
    verdict = verify(epc, scenario.bundle(epc, events=kept), scenario.view)
    assert verdict.kind is VerdictKind.UNVERIFIED
    # Without the export shipping nothing names the carrier, the bonded warehouse and the
    # platform as receivers any more: their events cannot be shown entitled (gateway/README.md,
    # "Who may speak about an item"), so they are left out as MISSING, and what is left of the
    # journey has no hole. Without the commissioning, the journey has one.
    missing = {c.name for c in verdict.checks if c.outcome is Outcome.MISSING}
    expected = ({CheckName.SIGNER_ENTITLED} if dropped == "shipping"
                else {CheckName.JOURNEY_COMPLETE})
    assert missing == expected, verdict.to_json()
    assert verdict.deciding.name in expected and verdict.deciding.outcome is Outcome.MISSING
    # Every event that was served still checks out: the gateway withheld, it did not forge.
    # (Without the platform's sale in the journey there is no scan history to judge.)
    assert all(c.outcome in (Outcome.PASS, Outcome.SKIPPED) for c in verdict.checks
               if c.name not in (CheckName.JOURNEY_COMPLETE, CheckName.SIGNER_ENTITLED))


def test_code_scanned_in_many_regions_after_sale_is_a_suspected_clone(scenario: Scenario) -> None:
    epc = can(scenario, 10)
    now = int(time.time())
    regions = ["CN-44", "CN-31", "CN-11", "CN-51", "CN-33"]
    scans = tuple(ScanRecord(now - 3600 * (i + 1), r) for i, r in enumerate(regions))
    verdict = verify(epc, scenario.bundle(epc, scans=scans), scenario.view, now=now)
    assert verdict.kind is VerdictKind.SUSPECTED_CLONE
    assert verdict.deciding.name is CheckName.SCAN_HISTORY
    assert verdict.deciding.details["regions"] == sorted(regions)
    # The owner carrying it home is no clone.
    home = scans[:2]
    assert verify(epc, scenario.bundle(epc, scans=home), scenario.view,
                  now=now).kind is VerdictKind.GENUINE


def test_serials_are_the_registered_ones(scenario: Scenario) -> None:
    # Guards the fixture itself: the codes the bundles prove are the lot's, read back on chain.
    epc = can(scenario)
    lot = scenario.lot_of(epc)
    reg = scenario.registration(epc)
    assert scenario.chain.verify_code(lot.ref.gtin, lot.ref.lot, serial_of(epc), reg.code_proof)
    assert os.path.exists(scenario.store.engine.url.database)


def test_capture_with_a_seed_other_than_the_one_signed_over_is_refused(
        scenario: Scenario) -> None:
    from ledger.proofs.signing import CaptureMismatchError, InvalidCaptureError

    brand = scenario.parties["manufacturer"]
    event = copy.deepcopy(stored_events(scenario, can(scenario, 7))[0].event)
    event["eventTime"] = "2031-01-01T00:00:00.000Z"
    doc = document(event)
    _, _, sig = scenario.sign(brand, doc)
    with pytest.raises(CaptureMismatchError) as exc:
        scenario.intake.accept(doc, sig, seed=bytes(32))
    assert exc.value.fields["field"] == "eventsRoot"
    with pytest.raises(InvalidCaptureError):  # a signed file's root needs its seed
        scenario.intake.accept(doc, sig)
