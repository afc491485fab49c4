"""Customs' work queue: consignments declared to a customs office and not yet settled.

A declaration is the declarant's signed `customs_declaring` event (`customs.border_event`)
that names the customs office it is lodged with (`zhenzhi:customsOffice`, the office's
organisation id on Consortium: the customs of the port of entry) and what the risk rules need
(`zhenzhi:consignment`, `zhenzhi:enterprise`, `zhenzhi:originCountry`, `zhenzhi:category`,
`zhenzhi:eventIds`). Whether it is settled comes from CustomsRelease, never from the store:

    no decision on chain                            → "decide"
    NORMAL_CONTROL / IMMEDIATE_CONTROL, NOT_INSPECTED → "inspect" (the outcome is still due)
    anything else                                    → settled, not in the queue

The latest declaration of a consignment counts (a declarant may correct its declaration).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from ledger.proofs.consignment_key import InvalidConsignmentError, consignment_key
from ledger.store.tables import captures, events

__all__ = ["CUSTOMS_OFFICE", "QueueItem", "declarations", "pending"]

CUSTOMS_OFFICE = "zhenzhi:customsOffice"
_DECLARING = "urn:zhenzhi:bizstep:customs_declaring"


@dataclass(frozen=True, slots=True)
class QueueItem:
    consignment: str
    enterprise: bytes
    origin_country: str | None
    category: str | None
    event_ids: tuple[bytes, ...]
    epcs: tuple[str, ...]
    declared_ms: int
    declarant: bytes  # the organisation that signed the declaration
    declaration_id: bytes  # its event id
    step: str = "decide"  # or "inspect"
    decision: str | None = None  # on chain now, for "inspect"

    @property
    def event_id_texts(self) -> list[str]:
        return [f"ni:///sha-256;{e.hex()}?ver=CBV2.0" for e in self.event_ids]


def _ids(value: Any) -> tuple[bytes, ...] | None:
    if not isinstance(value, list):
        return None
    out = []
    for text in value:
        if not (isinstance(text, str) and text.startswith("ni:///sha-256;")
                and text.endswith("?ver=CBV2.0") and len(text) == 14 + 64 + 11):
            return None
        try:
            out.append(bytes.fromhex(text[14:78]))
        except ValueError:
            return None
    return tuple(out)


def _org(value: Any) -> bytes | None:
    if isinstance(value, str) and len(value) == 66 and value.startswith("0x"):
        try:
            raw = bytes.fromhex(value[2:])
        except ValueError:
            return None
        return raw if raw != bytes(32) else None
    return None


def declarations(engine: Engine, office: bytes) -> list[QueueItem]:
    """The latest declaration of each consignment lodged with `office`, oldest first. A
    declaration missing a field the rules need is not one (it cannot be judged)."""
    marker = "0x" + office.hex()
    q = (select(events.c.body, events.c.event_time_ms, events.c.event_id, captures.c.org)
         .join(captures, captures.c.id == events.c.capture_id)
         .where(events.c.biz_step == _DECLARING)
         .where(events.c.body.contains(marker))  # a prefilter; the JSON check is the real one
         .order_by(events.c.event_time_ms, events.c.seq))
    latest: dict[str, QueueItem] = {}
    with engine.connect() as conn:
        for body, at, event_id, declarant in conn.execute(q):
            ev = json.loads(body)
            ref = ev.get("zhenzhi:consignment")
            enterprise = _org(ev.get("zhenzhi:enterprise"))
            ids = _ids(ev.get("zhenzhi:eventIds", []))
            if ev.get(CUSTOMS_OFFICE) != marker or not isinstance(ref, str) \
                    or enterprise is None or ids is None:
                continue
            try:
                consignment_key(ref)
            except InvalidConsignmentError:
                continue
            origin, category = ev.get("zhenzhi:originCountry"), ev.get("zhenzhi:category")
            latest[ref] = QueueItem(
                ref, enterprise, origin if isinstance(origin, str) else None,
                category if isinstance(category, str) else None, ids,
                tuple(e for e in ev.get("epcList") or () if isinstance(e, str)), int(at),
                bytes(declarant), bytes(event_id))
    return list(latest.values())


def pending(engine: Engine, view: Any, office: bytes) -> list[QueueItem]:
    """The declarations lodged with `office` that still need customs: a decision, or the
    inspection outcome of a controlled consignment. `view` is a `ChainView` (synced by the
    caller)."""
    from dataclasses import replace

    out = []
    for item in declarations(engine, office):
        record = view.customs(consignment_key(item.consignment))
        if record is None:
            out.append(item)
        elif record.decision != "DIRECT_RELEASE" and record.inspection == "NOT_INSPECTED":
            out.append(replace(item, step="inspect", decision=record.decision))
    return out
