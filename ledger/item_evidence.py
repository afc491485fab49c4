"""What the resolver adds to an item's proof bundle from the store: the lot registration and
its code proof, customs decisions covering the item's events, and the scan history.

Each piece is a claim the verifier re-checks against the chain (the code proof against the
lot's codesRoot on CodeRegistry, a customs proof against the decision's eventsRoot on
CustomsRelease), so nothing here needs to be trusted. Scans are recorded with a coarse region
only (ISO 3166-1/-2 such as "CN" or "CN-31") and a salted hash of the client, never an address.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from ledger.capture import events_tree
from ledger.codes import codes_tree
from ledger.errors import InvalidInputError
from ledger.evidence import CustomsEvidence, Registration, ScanRecord
from ledger.tables import codes, events, scans

__all__ = ["REGION_RE", "customs_evidence", "normalise_region", "record_scan", "registration",
           "scan_count", "scan_history"]

REGION_RE = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")
_NI_RE = re.compile(r"^ni:///sha-256;([0-9a-f]{64})\?ver=CBV2\.0$")
_TREES: OrderedDict[tuple[str, str, int], Any] = OrderedDict()
_TREES_MAX = 64


def normalise_region(region: str | None) -> str | None:
    if region is None or region == "":
        return None
    region = region.strip().upper()
    if not REGION_RE.match(region):
        raise InvalidInputError("region is an ISO 3166-1 alpha-2 country or 3166-2 subdivision "
                                "(e.g. CN or CN-31)", field="region")
    return region


def registration(engine: Engine, gtin14: str, serial: str) -> Registration | None:
    """The lot the store issued this code in, with the code's proof into the lot's root."""
    with engine.connect() as conn:
        row = conn.execute(select(codes.c.lot).where(codes.c.gtin == gtin14,
                                                     codes.c.serial == serial)).first()
        if row is None or row[0] is None:
            return None
        lot = row[0]
        count = conn.execute(select(func.count()).select_from(codes).where(
            codes.c.gtin == gtin14, codes.c.lot == lot)).scalar_one()
        key = (gtin14, lot, int(count))
        entry = _TREES.get(key)
        if entry is None:
            serials = [r[0] for r in conn.execute(select(codes.c.serial).where(
                codes.c.gtin == gtin14, codes.c.lot == lot).order_by(codes.c.id))]
            # A lot of 12,000 codes takes ~15 ms to hash; a shelf of scans should not redo it.
            entry = (codes_tree(gtin14, serials), {s: i for i, s in enumerate(serials)})
            _TREES[key] = entry
            while len(_TREES) > _TREES_MAX:
                _TREES.popitem(last=False)
        else:
            _TREES.move_to_end(key)
    tree, index = entry
    return Registration(gtin14, lot, tuple(tree.proof(index[serial])))


def customs_evidence(engine: Engine, item_event_ids: Iterable[bytes]) -> list[CustomsEvidence]:
    """For each customs `inspecting` event in the store that covers one of the item's events,
    the covered event's proof into the decision's events root."""
    wanted = {bytes(e) for e in item_event_ids}
    if not wanted:
        return []
    out: list[CustomsEvidence] = []
    q = select(events.c.body).where(events.c.biz_step == "inspecting").order_by(events.c.event_time_ms)
    with engine.connect() as conn:
        for (body,) in conn.execute(q):
            ev = json.loads(body)
            key, listed = ev.get("zhenzhi:consignmentKey"), ev.get("zhenzhi:eventIds")
            if not isinstance(key, str) or not isinstance(listed, list):
                continue
            ids = [bytes.fromhex(m.group(1)) for x in listed
                   if isinstance(x, str) and (m := _NI_RE.match(x))]
            hits = [i for i, e in enumerate(ids) if e in wanted]
            if not hits or len(ids) != len(listed):
                continue
            tree = events_tree(ids)
            for i in hits:
                out.append(CustomsEvidence(bytes.fromhex(key[2:]), ids[i], tuple(tree.proof(i))))
    return out


def client_hash(client: str, salt: str) -> bytes:
    return hashlib.sha256(f"{salt}\0{client}".encode()).digest()


def record_scan(engine: Engine, gtin14: str, serial: str, *, region: str | None,
                client: str, salt: str, verdict: str | None = None,
                now_ms: int | None = None) -> None:
    with engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            conn.execute(insert(scans).values(
                gtin=gtin14, serial=serial, scanned_ms=now_ms or int(time.time() * 1000),
                region=region, client_hash=client_hash(client, salt), verdict=verdict))


def scan_history(engine: Engine, gtin14: str, serial: str, *, limit: int = 500) -> list[ScanRecord]:
    """The latest `limit` scans, oldest first (clone rules look at where and when)."""
    q = (select(scans.c.scanned_ms, scans.c.region)
         .where(scans.c.gtin == gtin14, scans.c.serial == serial)
         .order_by(scans.c.scanned_ms.desc()).limit(limit))
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    return [ScanRecord(int(ms) // 1000, region or "unknown") for ms, region in reversed(rows)]


def scan_count(engine: Engine, gtin14: str, serial: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(scans).where(
            scans.c.gtin == gtin14, scans.c.serial == serial)).scalar_one())
