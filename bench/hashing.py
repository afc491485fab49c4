"""Event-id hashing and validate+hash throughput, side by side with the GS1 reference.

    .venv/bin/python -m bench.hashing

The GS1 reference implementation (PyPI `epcis-event-hash-generator`) is imported here only, as
a benchmark peer: both hash the same generated capture, and the ids must be identical.
"""

from __future__ import annotations

import copy
import json
import logging
import random
import time
from typing import Any

from ledger.epcis.document import parse_document
from ledger.epcis.event_hash import event_ids

CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
           {"ex": "https://ns.example.com/epcis/"}]
_PREFIXES = ["4012345", "0614141", "95060001", "401234"]
_STEPS = ["shipping", "receiving", "packing", "commissioning", "inspecting", "storing"]


def _sgtin(rnd: random.Random) -> str:
    cp = rnd.choice(_PREFIXES)
    item = str(rnd.randrange(10 ** (13 - len(cp)))).zfill(13 - len(cp))
    return f"urn:epc:id:sgtin:{cp}.{item}.{rnd.randrange(10 ** 12)}"


def make_events(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """Realistic captures: mostly ObjectEvents, some aggregations and quantity events."""
    rnd = random.Random(seed)  # noqa: S311 -- reproducible test data, not secrets
    events = []
    for i in range(n):
        minute = i % 60
        base: dict[str, Any] = {
            "eventTime": f"2024-05-0{1 + i % 9}T{8 + i % 10:02d}:{minute:02d}:{i % 60:02d}."
                         f"{rnd.randrange(1000):03d}+0{i % 3}:00",
            "eventTimeZoneOffset": f"+0{i % 3}:00",
            "bizStep": rnd.choice(_STEPS),
            "readPoint": {"id": f"urn:epc:id:sgln:4012345.{rnd.randrange(100000):05d}.0"},
        }
        kind = i % 10
        if kind < 7:
            event = {"type": "ObjectEvent", "action": "OBSERVE",
                     "epcList": [_sgtin(rnd) for _ in range(rnd.randint(1, 4))],
                     "disposition": "in_transit", **base,
                     "bizTransactionList": [{"type": "po", "bizTransaction":
                                             f"urn:epcglobal:cbv:bt:4012345000009:{i}"}]}
            if kind == 0:
                event["ex:lotNote"] = f"line {i % 4}"
        elif kind < 9:
            event = {"type": "AggregationEvent", "action": "ADD",
                     "parentID": f"urn:epc:id:sscc:4012345.{rnd.randrange(10 ** 10):010d}",
                     "childEPCs": [_sgtin(rnd) for _ in range(rnd.randint(2, 6))], **base}
        else:
            event = {"type": "ObjectEvent", "action": "ADD", **base,
                     "quantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.012345.L"
                                       f"{rnd.randrange(999)}", "quantity": rnd.randint(1, 500),
                                       "uom": "KGM"}]}
        events.append(event)
    return events


def make_document(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {"@context": CONTEXT, "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": "2024-05-10T10:00:00Z", "epcisBody": {"eventList": events}}


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _reference_ids(document: dict[str, Any]) -> list[str]:
    from epcis_event_hash_generator import hash_generator, json_to_py

    events = json_to_py.event_list_from_epcis_document_json(copy.deepcopy(document))
    return hash_generator.epcis_hashes_from_events(events)


def measure(n_events: int = 500, repeat: int = 5) -> dict[str, Any]:
    """Throughput of ours and of the reference on the same 500-event capture."""
    document = make_document(make_events(n_events))
    body = json.dumps(document).encode()
    ours = event_ids(document)

    hash_s = _best(lambda: event_ids(document), repeat)
    # a fresh parse each time: validation cost is paid per request in the gateway
    validate_hash_s = _best(lambda: event_ids(parse_document(body)), repeat)
    result: dict[str, Any] = {
        "events": n_events,
        "hash_events_per_s": round(n_events / hash_s),
        "validate_hash_events_per_s": round(n_events / validate_hash_s),
    }
    try:
        import epcis_event_hash_generator  # noqa: F401
    except ImportError as exc:
        result.update(reference_events_per_s=None, hash_speedup_vs_gs1_reference=None,
                      identical_output=None,
                      reference_error=f"epcis-event-hash-generator not importable: {exc}")
        return result
    logging.getLogger().setLevel(logging.ERROR)  # the reference logs a warning per bare string
    reference = _reference_ids(document)
    identical = reference == ours
    assert identical, "our event ids differ from the GS1 reference implementation's"
    ref_s = _best(lambda: _reference_ids(document), max(1, repeat // 2))
    result.update(reference_events_per_s=round(n_events / ref_s),
                  hash_speedup_vs_gs1_reference=round(ref_s / hash_s, 1),
                  identical_output=identical)
    return result


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
