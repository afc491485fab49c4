"""Sensor query speed: `EQ_type` + `GE_value_<uom>` from the sensor_readings index, against the
plain `EQ_bizStep` filter on the same store as its ceiling.

Loads `n_events` signed ObjectEvents into a fresh SQLite store through the store's group commit
(500-event captures, hashed, committed and signed as the gateway's intake does), each event with
one sensor element of four temperature readings (`value`, 1.0-6.0 °C), so the index holds four
rows per event. One event in twenty has a 9 °C reading; another one in twenty, the bizStep
`inspecting`: both queries match the same number of events, so the ratio is the index's cost
over a one-column filter, not a difference in result size. Measured, after the store's
planner statistics are refreshed (`Store.optimize`, as after a bulk load):
- `sensor_query_page_p50_ms` / `bizstep_query_page_p50_ms`: the first page of 100 events,
  median of `rounds` runs, and their ratio `sensor_vs_bizstep_page_ratio`;
- `sensor_query_all_ms` / `bizstep_query_all_ms`: every page of all matches (median of three),
  and `sensor_vs_bizstep_all_ratio`;
- `speed_probe_s`: the CPU probe of `bench.run` just before the queries (figures move with the
  shared machine's speed).

    .venv/bin/python -m bench.sensor [--quick] [--events N] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from ledger.epcis.event_hash import event_hash
from ledger.proofs.codes import org_id
from ledger.proofs.signing import (
    CaptureDomain,
    build_signed_capture,
    prepare_capture,
    sign_capture,
)
from ledger.store.sensor_index import SensorFilter
from ledger.store.store import EventQuery, Store

__all__ = ["load", "measure"]

_KEY = bytes.fromhex("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
_DOMAIN = CaptureDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
_GLN = "4712345000015"
_GTIN = "14712345000173"
_CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]
_STEPS = ("transporting", "storing", "receiving", "shipping")
_PER_CAPTURE = 500
_GROUP = 8
_START = datetime(2025, 6, 1, tzinfo=UTC)


def _event(i: int) -> dict[str, Any]:
    at = _START + timedelta(minutes=i)
    step = "inspecting" if i % 20 == 10 else _STEPS[i % len(_STEPS)]
    values = [1.0 + (i * 7 + k * 3) % 50 / 10 for k in range(4)]
    if i % 20 == 0:
        values[2] = 9.0
    reports = [{"type": "gs1:Temperature", "value": v, "uom": "CEL",
                "time": (at - timedelta(minutes=15 * (3 - k))).isoformat(timespec="seconds")
                .replace("+00:00", "Z")} for k, v in enumerate(values)]
    return {"type": "ObjectEvent", "action": "OBSERVE",
            "eventTime": at.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "eventTimeZoneOffset": "+00:00",
            "epcList": [f"https://id.gs1.org/01/{_GTIN}/21/{i}"],
            "bizStep": step, "readPoint": {"id": f"https://id.gs1.org/414/{_GLN}"},
            "sensorElementList": [{"sensorReport": reports}]}


def _capture(first: int, count: int, nonce: int) -> Any:
    events = [_event(i) for i in range(first, first + count)]
    ids = [event_hash(e, _CONTEXT) for e in events]
    seed, _, root = prepare_capture(events, ids)
    sig = sign_capture(_KEY, _DOMAIN, root, len(ids), org_id(_GLN), nonce, 1_740_000_000 + nonce)
    return build_signed_capture(events, _CONTEXT, ids, sig, _DOMAIN, seed=seed)


def load(store: Store, n_events: int) -> dict[str, Any]:
    """Sign and accept `n_events` sensor events, `_GROUP` captures per transaction."""
    t0 = time.perf_counter()
    t_accept = 0.0
    batch: list[Any] = []
    nonce = 0
    for first in range(0, n_events, _PER_CAPTURE):
        nonce += 1
        batch.append(_capture(first, min(_PER_CAPTURE, n_events - first), nonce))
        if len(batch) == _GROUP or first + _PER_CAPTURE >= n_events:
            a = time.perf_counter()
            for outcome in store.accept_captures(batch):
                if isinstance(outcome, BaseException):
                    raise outcome
            t_accept += time.perf_counter() - a
            batch = []
    total = time.perf_counter() - t0
    return {"load_s": round(total, 2), "accept_s": round(t_accept, 2),
            "load_events_per_s": round(n_events / total)}


def _all(store: Store, q: EventQuery) -> int:
    n, token = 0, None
    while True:
        page, token = store.query_events(q, per_page=1000, page_token=token)
        n += len(page)
        if token is None:
            return n


def _median_ms(run: Any, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        run()
        times.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(times), 2)


def measure(n_events: int = 200_000, quick: bool = False, *, rounds: int = 30) -> dict[str, Any]:
    """Build a store of `n_events` (15,000 when `quick`) and time both queries."""
    from bench.run import speed_probe

    if quick:
        n_events, rounds = 15_000, 15
    sensor = EventQuery(eq_type=("Temperature",), sensor=(SensorFilter("GE", "value", "CEL", 8.0),))
    bizstep = EventQuery(eq_biz_step=("inspecting",))
    with tempfile.TemporaryDirectory(prefix="zz-bench-sensor-") as tmp:
        path = Path(tmp) / "sensor.db"
        store = Store(f"sqlite:///{path}")
        store.migrate()
        try:
            loaded = load(store, n_events)
            store.optimize()
            with store.engine.connect() as conn:
                rows = int(conn.execute(text("SELECT COUNT(*) FROM sensor_readings")).scalar_one())
            matches = {"sensor": _all(store, sensor), "bizstep": _all(store, bizstep)}
            if matches["sensor"] != matches["bizstep"] or not matches["sensor"]:
                raise RuntimeError(f"the two queries should match as many events: {matches}")
            probe = speed_probe()
            s_page = _median_ms(lambda: store.query_events(sensor, per_page=100), rounds)
            b_page = _median_ms(lambda: store.query_events(bizstep, per_page=100), rounds)
            s_all = _median_ms(lambda: _all(store, sensor), 3)
            b_all = _median_ms(lambda: _all(store, bizstep), 3)
            result = {
                "sensor_events_in_store": store.count_events(),
                "sensor_index_rows": rows,
                "sensor_query_matches": matches["sensor"],
                **{f"sensor_{k}": v for k, v in loaded.items()},
                "speed_probe_s": probe,
                "sensor_query_page_p50_ms": s_page,
                "bizstep_query_page_p50_ms": b_page,
                "sensor_vs_bizstep_page_ratio": round(s_page / b_page, 2) if b_page else None,
                "sensor_query_all_ms": s_all,
                "bizstep_query_all_ms": b_all,
                "sensor_vs_bizstep_all_ratio": round(s_all / b_all, 2) if b_all else None,
            }
        finally:
            store.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="15,000 events (< 30 s)")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args.events, args.quick)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:32} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
