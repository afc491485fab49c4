"""Shared proof vectors: public proofs (the JSON a shopper's phone is served) built on a real
chain, each with the verdict every verifier must give and the check that must decide it.

`build_vectors(scenario)` plays the attacks onto the scenario's chain and store (a revoked key,
a member without the role, a recall, a capture left unanchored) and cuts each item's evidence
to its public proof (`ledger.evidence.public`); tampered vectors change the JSON the way a
lying gateway could. Both the Python verifier (`verifier.verify`) and the browser verifier
(`verifier/web`, in headless Chromium) are run over the same list and must agree with it.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ledger.demo.journey import EPCIS_CONTEXT
from ledger.evidence.public import public_bundle
from ledger.proofs.bundle import Bundle, ScanRecord
from ledger.proofs.codes import codes_tree
from ledger.proofs.merkle import keccak256

__all__ = ["Vector", "build_vectors"]


@dataclass(frozen=True)
class Vector:
    name: str
    code: str  # what the shopper scanned (the URL the page is opened at)
    proof: dict[str, Any]  # the JSON the gateway serves
    verdict: str  # GENUINE, UNVERIFIED, RECALLED, SUSPECTED_CLONE, COUNTERFEIT
    deciding: str | None  # the check name that decides it (None for GENUINE)


def _doc(*events: dict) -> dict:
    return {"@context": [EPCIS_CONTEXT], "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": max(e["eventTime"] for e in events),
            "epcisBody": {"eventList": list(events)}}


def _later(event: dict, minutes: int) -> dict:
    from datetime import datetime, timedelta

    out = copy.deepcopy(event)
    t = datetime.fromisoformat(out["eventTime"].replace("Z", "+00:00")) + timedelta(minutes=minutes)
    out["eventTime"] = t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
    return out


def _public(sc: Any, epc: str, **kw: Any) -> dict[str, Any]:
    return public_bundle(sc.bundle(epc, **kw)).to_json()


def _edit_text(proof: dict, event: int, field: str, edit: Callable[[list], None]) -> dict:
    """Change the value of one disclosed field, keeping its salt and path (what a gateway that
    rewrites a fact would serve)."""
    out = copy.deepcopy(proof)
    for d in out["events"][event]["disclosures"]:
        item = json.loads(d["text"])
        if item[1] == field:
            edit(item)
            d["text"] = json.dumps(item, separators=(",", ":"), ensure_ascii=False)
            return out
    raise AssertionError(f"event {event} discloses no {field}")


def _event_with(proof: dict, field: str) -> int:
    for i, e in enumerate(proof["events"]):
        if any(json.loads(d["text"])[1] == field for d in e["disclosures"]):
            return i
    raise AssertionError(field)


def _step_index(proof: dict, step: str) -> int:
    for i, e in enumerate(proof["events"]):
        for d in e["disclosures"]:
            _, name, value = json.loads(d["text"])
            if name == "bizStep" and str(value).endswith(step):
                return i
    raise AssertionError(step)


def build_vectors(sc: Any) -> list[Vector]:  # noqa: PLR0915 - one list, read top to bottom
    from eth_account import Account

    cans = sc.sold_cans("stage1")
    out: list[Vector] = []

    def add(name: str, code: str, proof: dict, verdict: str, deciding: str | None = None) -> None:
        out.append(Vector(name, code, proof, verdict, deciding))

    # --- genuine ------------------------------------------------------------------------------
    for i in range(3):
        add(f"genuine-{i}", cans[i], _public(sc, cans[i]), "GENUINE")
    lot = sc.lot_of(cans[3])
    with_lot = cans[3].replace("/21/", f"/10/{lot.ref.lot}/21/")
    add("genuine-code-with-lot", with_lot, _public(sc, cans[3]), "GENUINE")
    now = int(time.time())
    add("genuine-owner-carries-it-home", cans[4],
        _public(sc, cans[4], scans=(ScanRecord(now - 7200, "CN"), ScanRecord(now - 60, "CN"))),
        "GENUINE")
    base = _public(sc, cans[5])

    # --- what the gateway may do: withhold --------------------------------------------------------
    for step in ("commissioning", "shipping"):
        proof = copy.deepcopy(base)
        del proof["events"][_step_index(proof, step)]
        add(f"withheld-{step}", cans[5], proof, "UNVERIFIED",
            "journey.complete" if step == "commissioning" else "signer.entitled")
    proof = copy.deepcopy(base)
    proof["events"], proof["customs"] = [], []
    add("withheld-everything", cans[5], proof, "UNVERIFIED", "journey.complete")
    proof = copy.deepcopy(base)
    proof["customs"] = []
    add("withheld-customs-decision", cans[5], proof, "UNVERIFIED", "customs.decision")
    proof = copy.deepcopy(base)
    proof["events"][0]["disclosures"] = [
        d for d in proof["events"][0]["disclosures"] if json.loads(d["text"])[1] != "bizLocation"]
    add("withheld-one-field", cans[5], proof, "GENUINE")

    # --- what it may not: forge -----------------------------------------------------------------
    i = _step_index(base, "commissioning")
    add("altered-field-bizstep", cans[5],
        _edit_text(base, _step_index(base, "shipping"), "bizStep",
                   lambda item: item.__setitem__(2, "https://ref.gs1.org/cbv/BizStep-receiving")),
        "COUNTERFEIT", "event.id")
    add("altered-field-time", cans[5],
        _edit_text(base, i, "eventTime", lambda item: item.__setitem__(2, "2020-01-01T00:00:00.000Z")),
        "COUNTERFEIT", "event.id")
    add("altered-ilmd-expiry", cans[5],
        _edit_text(base, i, "ilmd", lambda item: item.__setitem__(2, {"cbvmda:lotNumber": "OTHER"})),
        "COUNTERFEIT", "event.id")
    add("swapped-epc", cans[5],
        _edit_text(base, i, "epcList", lambda item: item.__setitem__(2, cans[6])),
        "COUNTERFEIT", "event.id")
    add("salt-altered", cans[5],
        _edit_text(base, i, "epcList", lambda item: item.__setitem__(0, "0" * 32)),
        "COUNTERFEIT", "event.id")
    proof = copy.deepcopy(base)
    j = _step_index(proof, "shipping")
    proof["events"][i]["disclosures"].append(proof["events"][j]["disclosures"][0])
    add("disclosure-from-another-event", cans[5], proof, "COUNTERFEIT", "event.id")
    proof = copy.deepcopy(base)
    proof["events"][i]["disclosures"].append(copy.deepcopy(proof["events"][i]["disclosures"][0]))
    add("field-disclosed-twice", cans[5], proof, "COUNTERFEIT", "event.id")
    proof = copy.deepcopy(base)
    fake = json.dumps(["1" * 32, "bizTransactionList",
                       {"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:0000000000000:PO-1"}])
    proof["events"][i]["disclosures"].append({"text": fake, "proof": []})
    add("hidden-field-invented", cans[5], proof, "COUNTERFEIT", "event.id")
    proof = copy.deepcopy(base)
    proof["events"][i]["commitment"] = "0x" + keccak256(b"another").hex()
    add("commitment-replaced", cans[5], proof, "COUNTERFEIT", "event.id")
    proof = copy.deepcopy(base)
    proof["events"][i]["proof"] = ["0x" + keccak256(b"forged").hex()] + proof["events"][i]["proof"][1:]
    add("event-path-forged", cans[5], proof, "COUNTERFEIT", "event.proof")
    proof = copy.deepcopy(base)
    other = next(k for k in range(len(proof["captures"])) if k != proof["events"][-1]["capture"])
    proof["events"][-1]["capture"] = other
    add("event-moved-to-another-capture", cans[5], proof, "COUNTERFEIT", "event.proof")
    proof = copy.deepcopy(base)
    a, b = proof["captures"][0], proof["captures"][1]
    a["signature"], b["signature"] = b["signature"], a["signature"]
    add("wrong-signer-swapped-signatures", cans[5], proof, "COUNTERFEIT", "capture.signature")
    proof = copy.deepcopy(base)
    sig = proof["captures"][0]["signature"]
    proof["captures"][0]["signature"] = sig[:10] + ("0" if sig[10] != "0" else "1") + sig[11:]
    add("signature-byte-flipped", cans[5], proof, "COUNTERFEIT", "capture.signature")
    proof = copy.deepcopy(base)
    anchor = proof["captures"][0]["anchor"]
    anchor["proof"] = ["0x" + keccak256(b"forged").hex()] + anchor["proof"][1:]
    add("anchor-path-forged", cans[5], proof, "COUNTERFEIT", "capture.anchored")
    proof = copy.deepcopy(base)
    proof["customs"][0]["proof"] = ["0x" + keccak256(b"forged").hex()] + proof["customs"][0]["proof"][1:]
    # One valid decision covering the item is enough: a forged extra claim changes nothing.
    add("one-customs-proof-forged", cans[5], proof, "GENUINE")
    proof = copy.deepcopy(base)
    for claim in proof["customs"]:
        claim["proof"] = ["0x" + keccak256(b"forged").hex()] + claim["proof"][1:]
    add("every-customs-proof-forged", cans[5], proof, "COUNTERFEIT", "customs.decision")

    # --- another item's proof -------------------------------------------------------------------
    add("replayed-for-another-code", cans[6], copy.deepcopy(base), "UNVERIFIED", "bundle.code")
    proof = copy.deepcopy(base)
    proof["code"] = cans[6]
    add("replayed-with-code-rewritten", cans[6], proof, "COUNTERFEIT", "code.registered")
    proof = copy.deepcopy(base)
    proof["code"] = cans[6]
    proof["registration"] = public_bundle(sc.bundle(cans[6])).to_json()["registration"]
    add("replayed-with-real-registration", cans[6], proof, "UNVERIFIED", "journey.complete")
    proof = copy.deepcopy(base)
    sale = _public(sc, cans[7])
    k = _step_index(sale, "retail_selling")
    moved = copy.deepcopy(sale["events"][k])
    moved["capture"] = len(proof["captures"])
    proof["captures"].append(sale["captures"][sale["events"][k]["capture"]])
    proof["events"].append(moved)
    add("another-items-sale-attached", cans[5], proof, "GENUINE")

    # --- the chain --------------------------------------------------------------------------------
    proof = copy.deepcopy(base)
    proof["chain"]["chainId"] = 1
    add("wrong-chain-id", cans[5], proof, "UNVERIFIED", "bundle.chain")
    proof = copy.deepcopy(base)
    proof["chain"]["contracts"]["TraceAnchor"] = "0x" + "12" * 20
    add("wrong-deployment", cans[5], proof, "UNVERIFIED", "bundle.chain")
    gtin = lot.ref.gtin
    fake = f"https://id.gs1.org/01/{gtin}/21/ZZZZZZZZZZZZ"
    proof = copy.deepcopy(base)
    proof.update(code=fake, events=[], customs=[], captures=[], registration=None)
    add("unregistered-code", fake, proof, "COUNTERFEIT", "code.registered")
    proof = copy.deepcopy(base)
    real = sc.registration(cans[5])
    proof.update(code=fake, events=[], customs=[], captures=[], registration={
        "gtin": real.gtin, "lot": real.lot, "codeProof": ["0x" + p.hex() for p in real.code_proof]})
    add("unregistered-code-with-real-proof", fake, proof, "COUNTERFEIT", "code.registered")
    serials = ["FAKE00000001", "FAKE00000002"]
    tree = codes_tree(gtin, serials)
    fake2 = f"https://id.gs1.org/01/{gtin}/21/{serials[0]}"
    proof = copy.deepcopy(base)
    proof.update(code=fake2, events=[], customs=[], captures=[], registration={
        "gtin": gtin, "lot": "FAKE1", "codeProof": ["0x" + p.hex() for p in tree.proof(0)]})
    add("code-registered-by-non-owner", fake2, proof, "COUNTERFEIT", "code.registered")

    # Signed with a key revoked before it signed (a lying gateway stores and anchors it).
    epc = cans[8]
    honest = sc.item_events(epc)
    warehouse = sc.parties["warehouse"]
    stolen = Account.create()
    sc.chain.add_key(warehouse.tx, warehouse.org.gln, stolen.address)
    sc.chain.revoke_key(warehouse.tx, stolen.address)
    unpack = next(e for e in honest if e.event.get("bizStep") == "unpacking"
                  and epc in (e.event.get("childEPCs") or ()))
    forged = sc.capture_unchecked(warehouse, _doc(_later(unpack.event, 3)), signer=stolen)
    # A member without the role signs a customs inspection.
    epc2 = cans[9]
    honest2 = sc.item_events(epc2)
    inspection = next(e for e in honest2 if e.event.get("bizStep") == "inspecting")
    carrier = sc.parties["carrier"]
    forged2 = sc.capture_unchecked(carrier, _doc(_later(inspection.event, 5)))
    sc.anchor_pending()
    add("key-revoked-before-signing", epc,
        _public(sc, epc, events=honest + [sc.store.get_event(forged.event_ids[0])]),
        "COUNTERFEIT", "signer.key")
    add("signer-without-the-role", epc2,
        _public(sc, epc2, events=honest2 + [sc.store.get_event(forged2.event_ids[0])]),
        "COUNTERFEIT", "signer.role")

    # Clones: a sold code scanned in five regions.
    epc3 = cans[10]
    regions = ["CN-44", "CN-31", "CN-11", "CN-51", "CN-33"]
    scans = tuple(ScanRecord(now - 3600 * (n + 1), r) for n, r in enumerate(regions))
    add("clone-scanned-in-five-regions", epc3, _public(sc, epc3, scans=scans),
        "SUSPECTED_CLONE", "scan.history")

    # Recalled: the stage 2 lot (no other vector uses it).
    stage2 = sc.sold_cans("stage2")[0]
    lot2 = sc.lot_of(stage2)
    sc.chain.recall_lot(sc.parties["manufacturer"].tx, lot2.ref.gtin, lot2.ref.lot,
                        keccak256(b"recall notice vectors"))
    add("recalled", stage2, _public(sc, stage2), "RECALLED", "lot.status")

    # Unanchored: last, so that no later anchoring reaches it.
    lot1 = sc.lot_of(cans[0])
    unsold = next(e for e in lot1.items if e not in sc.journey.sold)
    last_sale = next(e for c in sc.journey.captures if c.org.key == "platform" for e in c.events)
    sale = _later(last_sale, 30)
    sale["epcList"] = [unsold]
    result = sc.capture(sc.parties["platform"], _doc(sale))
    events = [*sc.item_events(unsold), sc.store.get_event(result.capture.event_ids[0])]
    add("unanchored", unsold, _public(sc, unsold, events=events), "UNVERIFIED",
        "capture.anchored")
    return out


def as_bundle(vector: Vector) -> Bundle | None:
    try:
        return Bundle.from_json(vector.proof)
    except Exception:  # noqa: BLE001 - a malformed proof is no evidence
        return None


