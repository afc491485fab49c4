"""Capture signing and verification speed: recover, sign, Merkle build, full 500-event capture.

`validate_hash_verify_500_events_per_s` is the intake path of one signed document: parse and
validate the EPCIS document, hash every event (CBV 2.0 event hash), commit every event under
the capture's disclosure seed (salted leaves, `ledger.proofs.disclosure`), rebuild the events
root over the commitments, recover the signer. Each round uses a fresh document (new serials and times) so that the event
hasher's value memo sees what it would see in production: repeated locations and vocabularies,
new serials. The per-stage split shows where the time goes.

    .venv/bin/python -m bench.signing [--json]
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from ledger.proofs.capture import events_tree
from ledger.proofs.merkle import KECCAK_BACKEND, MerkleTree
from ledger.proofs.signing import (
    CaptureDomain,
    build_signed_capture,
    capture_commitments,
    prepare_capture,
    recover_signer,
    sign_capture,
)

__all__ = ["make_document", "measure"]

_KEY = bytes.fromhex("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
_DOMAIN = CaptureDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
_ORG = b"0614141000005".ljust(32, b"\0")

_STEPS = ("receiving", "shipping", "commissioning", "packing", "inspecting")
_SITES = [f"urn:epc:id:sgln:0614141.{10000 + i}.0" for i in range(8)]


def make_document(n_events: int, seed: int) -> bytes:
    """A realistic EPCIS 2.0 capture document: object and aggregation events, several
    products and sites, time-zone offsets, a sensor-free extension field."""
    events = []
    for i in range(n_events):
        serial = seed * 1_000_000 + i
        site = _SITES[i % len(_SITES)]
        when = 1_700_000_000 + seed * 10_000 + i
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when)) + ".000+08:00"
        if i % 5 == 4:
            events.append({
                "type": "AggregationEvent",
                "eventTime": stamp,
                "eventTimeZoneOffset": "+08:00",
                "parentID": f"urn:epc:id:sscc:0614141.{serial:010d}",
                "childEPCs": [f"urn:epc:id:sgtin:0614141.{107346 + k % 3}.{serial}{k}"
                              for k in range(4)],
                "action": "ADD",
                "bizStep": "packing",
                "disposition": "in_progress",
                "readPoint": {"id": site},
            })
        else:
            events.append({
                "type": "ObjectEvent",
                "eventTime": stamp,
                "eventTimeZoneOffset": "+08:00",
                "epcList": [f"urn:epc:id:sgtin:0614141.{107346 + i % 3}.{serial}"],
                "action": "OBSERVE",
                "bizStep": _STEPS[i % len(_STEPS)],
                "disposition": "in_transit",
                "readPoint": {"id": site},
                "bizLocation": {"id": _SITES[(i + 1) % len(_SITES)]},
                "example:batchNote": f"line-{i % 4}",
            })
    doc = {
        "@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld",
                     {"example": "https://example.org/epcis/"}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2024-01-01T00:00:00.000Z",
        "epcisBody": {"eventList": events},
    }
    return json.dumps(doc).encode()


def _rate(fn: Callable[[], Any], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - start)


def _best(fn: Callable[[], Any], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _intake(n_events: int, rounds: int) -> dict[str, Any]:
    from ledger.epcis.document import parse_document
    from ledger.epcis.event_hash import event_hashes

    # Signing happens at the enterprise, outside the timed path.
    prepared = []
    for seed in range(rounds + 1):
        body = make_document(n_events, seed)
        parsed = parse_document(body)
        ids = event_hashes(parsed)
        disclosure_seed, _, root = prepare_capture(parsed.events, ids)
        sig = sign_capture(_KEY, _DOMAIN, root, len(ids), _ORG, seed, 1_700_000_000)
        prepared.append((body, sig, disclosure_seed))
    totals = {"parse": 0.0, "hash": 0.0, "commit": 0.0, "root_and_recover": 0.0}
    for i, (body, sig, disclosure_seed) in enumerate(prepared):
        t0 = time.perf_counter()
        doc = parse_document(body)
        t1 = time.perf_counter()
        ids = event_hashes(doc)
        t2 = time.perf_counter()
        commitments = capture_commitments(doc.events, ids, disclosure_seed)
        t3 = time.perf_counter()
        build_signed_capture(doc.events, doc.context, ids, sig, _DOMAIN, seed=disclosure_seed,
                             commitments=commitments)
        t4 = time.perf_counter()
        if i == 0:
            continue  # warm-up: imports, compiled schemas, first-use caches
        totals["parse"] += t1 - t0
        totals["hash"] += t2 - t1
        totals["commit"] += t3 - t2
        totals["root_and_recover"] += t4 - t3
    elapsed = sum(totals.values())
    return {
        "validate_hash_verify_500_events_per_s": round(n_events * rounds / elapsed),
        "intake_share": {k: round(v / elapsed, 3) for k, v in totals.items()},
    }


def measure(*, recoveries: int = 2000, merkle_rounds: int = 3, intake_rounds: int = 10,
            n_events: int = 500) -> dict[str, Any]:
    ids = [os.urandom(32) for _ in range(n_events)]
    events = [{}] * n_events  # only counted here: this line times the root and the recovery
    commitments = [os.urandom(32) for _ in range(n_events)]  # given: committing is not timed
    sig = sign_capture(_KEY, _DOMAIN, events_tree(commitments).root, n_events, _ORG, 1,
                       1_700_000_000)
    leaves = [os.urandom(32) for _ in range(100_000)]
    result: dict[str, Any] = {
        "keccak_backend": KECCAK_BACKEND,
        "recover_per_s": round(_rate(lambda: recover_signer(_DOMAIN, sig), recoveries)),
        "sign_per_s": round(_rate(lambda: sign_capture(
            _KEY, _DOMAIN, sig.events_root, n_events, _ORG, 1, 1_700_000_000), recoveries)),
        "merkle_build_100k_s": round(_best(lambda: MerkleTree.build(leaves), merkle_rounds), 4),
        "events_root_and_recover_500_per_s": round(n_events * _rate(
            lambda: build_signed_capture(events, None, ids, sig, _DOMAIN, seed=bytes(32),
                                         commitments=commitments), 200)),
    }
    result.update(_intake(n_events, intake_rounds))
    return result


if __name__ == "__main__":
    out = measure()
    if "--json" in sys.argv:
        print(json.dumps(out, indent=2))
    else:
        for key, value in out.items():
            print(f"{key:42} {value}")
