"""XML capture against JSON capture, same events, same run: the intake's CPU path of one signed
500-event document (`ledger.pipeline.intake.recover_capture`: parse and validate, JSON Schema
for JSON or the standard's XSD plus conversion for XML, hash, commit under the disclosure seed,
rebuild the root, recover the signer), one core. Each round signs a fresh document
(`bench.signing.make_document`), written as XML by `ledger.epcis.xml_writer`.

    .venv/bin/python -m bench.xml_capture [--json]
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from eth_account import Account

from bench.signing import _DOMAIN, _KEY, _ORG, make_document
from ledger.epcis.event_hash import event_hashes
from ledger.epcis.xml_writer import write_document
from ledger.pipeline.intake import recover_capture
from ledger.proofs.signing import prepare_capture, sign_capture, signature_to_headers

__all__ = ["measure"]


def _signed(n_events: int, seed: int) -> tuple[bytes, bytes, dict[str, str]]:
    body = make_document(n_events, seed)
    doc = json.loads(body)
    ids = event_hashes(doc)
    capture_seed, _, root = prepare_capture(doc["epcisBody"]["eventList"], ids)
    sig = sign_capture(_KEY, _DOMAIN, root, len(ids), _ORG, seed, int(time.time()))
    xml = write_document(doc["epcisBody"]["eventList"], context=doc.get("@context"),
                         creation_date="2024-01-01T00:00:00Z")
    return body, xml, signature_to_headers(sig, capture_seed)


def measure(n_events: int = 500, rounds: int = 12) -> dict[str, Any]:
    signer = frozenset({Account.from_key(_KEY).address.lower()})
    docs = [_signed(n_events, 9000 + r) for r in range(rounds)]
    limits = {"max_bytes": 64 * 1024 * 1024, "max_events": 10_000, "max_depth": 64,
              "max_values": None}
    # warm both paths (schema compilation, memo tables)
    for syntax, index in (("json", 0), ("xml", 1)):
        recover_capture(docs[0][index], docs[0][2], _DOMAIN, signer, syntax=syntax, **limits)
    timings: dict[str, float] = {"json": 0.0, "xml": 0.0}
    for body, xml, headers in docs[1:]:
        for syntax, data in (("json", body), ("xml", xml)):  # interleaved: same machine state
            start = time.perf_counter()
            out = recover_capture(data, headers, _DOMAIN, signer, syntax=syntax, **limits)
            timings[syntax] += time.perf_counter() - start
            assert not isinstance(out, str), "the capture must recover to its signer"
    events = n_events * (rounds - 1)
    json_rate = events / timings["json"]
    xml_rate = events / timings["xml"]
    return {
        "xml_capture_500_events_per_s": round(xml_rate),
        "json_capture_500_events_per_s_same_run": round(json_rate),
        "xml_vs_json_capture_ratio": round(xml_rate / json_rate, 2),
        "xml_bytes_per_event": round(sum(len(d[1]) for d in docs) / (n_events * rounds)),
        "json_bytes_per_event": round(sum(len(d[0]) for d in docs) / (n_events * rounds)),
    }


if __name__ == "__main__":
    result = measure()
    print(json.dumps(result, indent=2) if "--json" in sys.argv else result)
