"""A consignment's cold chain, for the customs risk rules: the readings on its goods' paths held
against their brands' signed conditions.

A customs decision covers events by id. The goods are what those events name, every container
they name was packed with (down through AggregationEvents, to the items) and every container
those were put into (up: the reefer the pallets travelled in). Every stored event that names
one of them and carries sensor readings is held against the stored conditions of each GTIN
among the items (`ledger.trade.conditions`), from the time the first of those items was seen
(a reefer's earlier cargo is not this consignment's). Each breach names the event, the reading,
the signing organisation and the time outside (`ledger.trade.coldchain`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from ledger.epcis.document import _canonical_epc
from ledger.proofs.merkle import keccak256
from ledger.trade.coldchain import ColdChainReport, PathEvent, assess_cold_chain, readings
from ledger.trade.conditions import (
    UnknownConditionsError,
    in_force,
    latest_conditions,
    parse_conditions,
    stored_conditions,
)

__all__ = ["MAX_GOODS", "consignment_cold_chain"]

MAX_GOODS = 20_000  # EPCs followed per consignment: bounds the work one assessment can cause
_SGTIN = re.compile(r"^https://id\.gs1\.org/01/([0-9]{14})/21/")


def _canon(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return _canonical_epc(value.strip())
    except Exception:  # noqa: BLE001 - not an EPC: nothing to follow
        return None


def _named(event: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for f in ("epcList", "childEPCs", "inputEPCList", "outputEPCList"):
        out.update(c for v in event.get(f) or () if (c := _canon(v)))
    if (parent := _canon(event.get("parentID"))) is not None:
        out.add(parent)
    return out


def _ms(text: Any) -> int | None:
    try:
        return round(datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def _goods(store: Any, start: Iterable[str]) -> set[str]:
    goods = set(start)
    frontier = list(goods)
    while frontier and len(goods) < MAX_GOODS:
        epc = frontier.pop()
        found: set[str] = set()
        for stored in store.events_for_epc(epc, ("parent", "child")):
            event = stored.event
            if event.get("type") != "AggregationEvent" or event.get("action") == "DELETE":
                continue
            parent = _canon(event.get("parentID"))
            children = {c for v in event.get("childEPCs") or () if (c := _canon(v))}
            if parent == epc:
                found |= children  # what it was packed with
            elif epc in children and parent is not None:
                found.add(parent)  # what it was put into
        for f in found - goods:
            goods.add(f)
            frontier.append(f)
    return goods


def _in_force(store: Any, view: Any | None, gtin: str, last_ms: int | None) -> Any | None:
    latest = latest_conditions(store.engine, gtin)
    if view is None or latest is None:
        return latest
    record = in_force(view.conditions_history(gtin), last_ms)
    if record is None:
        return latest
    try:
        signed = stored_conditions(store.engine, gtin, record.version)
    except UnknownConditionsError:
        return latest
    return signed if keccak256(signed.text.encode()) == record.conditions_hash else latest


def consignment_cold_chain(store: Any, event_ids: Sequence[bytes],
                           view: Any | None = None) -> list[ColdChainReport]:
    """One report per GTIN of the consignment's goods that has stored conditions. `store` is
    a `ledger.store.store.Store`; with `view` (a `ledger.chain.view.ChainView`) each GTIN is
    judged by the version its brand registered on CodeRegistry for the readings, as the
    verifiers judge it (`ledger.trade.conditions.in_force`), when the store holds that version;
    otherwise by the latest stored."""
    start: set[str] = set()
    for eid in event_ids:
        stored = store.get_event(bytes(eid))
        if stored is not None:
            start |= _named(stored.event)
    if not start:
        return []
    goods = _goods(store, start)
    by_gtin: dict[str, list[str]] = {}
    for epc in goods:
        if (m := _SGTIN.match(epc)) is not None:
            by_gtin.setdefault(m.group(1), []).append(epc)
    events: dict[bytes, Any] = {}
    for epc in sorted(goods):
        for stored in store.events_for_epc(epc):
            events.setdefault(stored.event_id, stored)
    ends = [r.end_ms for s in events.values() for r in readings(s.event)[0]]
    conditions = {}
    for gtin in sorted(by_gtin):
        signed = _in_force(store, view, gtin, max(ends) if ends else None)
        if signed is not None:
            conditions[gtin] = parse_conditions(signed.text)
    if not conditions:
        return []
    orgs: dict[str, str | None] = {}

    def signer(capture_id: str) -> str | None:
        if capture_id not in orgs:
            record = store.get_capture(capture_id)
            orgs[capture_id] = None if record is None else "0x" + record.org.hex()
        return orgs[capture_id]

    path = [PathEvent(s.event, f"ni:///sha-256;{eid.hex()}?ver=CBV2.0", signer(s.capture_id))
            for eid, s in sorted(events.items(), key=lambda kv: kv[1].seq)
            if s.event.get("sensorElementList")]
    reports = []
    for gtin, c in conditions.items():
        items = set(by_gtin[gtin])
        seen = [t for s in events.values() if _named(s.event) & items
                if (t := _ms(s.event.get("eventTime"))) is not None]
        reports.append(assess_cold_chain(gtin, c.version, c.ranges, path,
                                         since_ms=min(seen) if seen else None))
    return reports
