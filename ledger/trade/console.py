"""What the operators' and regulators' console shows, as plain data: members and their standing,
anchoring health, customs decisions, complaints, recalls, and counts over time for the charts.

Chain facts come from `ledger.chain.client.Chain` reads memoised on the gateway's `ChainView` for the
pinned block (the console is reloaded often; membership changes rarely); everything else is
SQL over the store. No web framework here: `gateway.routes.console` renders it.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Engine

from ledger.store.tables import batches, captures, codes, events, outbox, scans
from ledger.trade.complaints import Complaint, ComplaintBook
from ledger.trade.customs import consignment_key

__all__ = [
    "AnchoringStatus", "ConsoleData", "DecisionRow", "MemberRow", "RecallRow", "console_data",
]

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class MemberRow:
    org: str  # 0x bytes32
    gln: str
    name: str
    roles: tuple[str, ...]
    grade: str | None
    blacklisted: bool
    member: bool
    keys: tuple[tuple[str, bool], ...]  # (address, active now)
    prefixes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AnchoringStatus:
    captures: int
    events: int
    pending_captures: int
    pending_events: int
    oldest_pending_ms: int | None
    batches_anchored: int
    last_root: str | None
    last_block: int | None
    last_tx: str | None
    last_anchored_ms: int | None
    last_event_count: int | None
    now_ms: int

    @property
    def lag_s(self) -> float:
        """How long the oldest capture not yet anchored has waited (0: none waits)."""
        if self.oldest_pending_ms is None:
            return 0.0
        return max(0.0, (self.now_ms - self.oldest_pending_ms) / 1000)

    @property
    def last_age_s(self) -> float | None:
        if self.last_anchored_ms is None:
            return None
        return max(0.0, (self.now_ms - self.last_anchored_ms) / 1000)


@dataclass(frozen=True, slots=True)
class DecisionRow:
    """One decision as customs signed it (its `inspecting` event), with the chain's latest."""

    consignment: str
    decision: str
    inspection: str
    event_time_ms: int
    score: int | None
    rules_fired: tuple[str, ...]
    rules_version: str | None
    events_covered: int
    on_chain: str | None  # "DECISION / INSPECTION" in force on CustomsRelease now
    released: bool | None


@dataclass(frozen=True, slots=True)
class RecallRow:
    gtin: str
    lot: str
    codes: int
    scans: int
    reason_hash: str | None


@dataclass
class ConsoleData:
    block: int
    chain_id: int
    members: list[MemberRow]
    anchoring: AnchoringStatus
    decisions: list[DecisionRow]
    complaints: list[Complaint]
    recalls: list[RecallRow]
    events_per_day: list[tuple[str, dict[str, int]]]  # (YYYY-MM-DD, {stage: count})
    decisions_per_day: list[tuple[str, dict[str, int]]]  # (YYYY-MM-DD, {decision: count})
    scans_by_verdict: dict[str, int] = field(default_factory=dict)


def _day(ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ms // 1000))


def members(chain: Any, view: Any) -> list[MemberRow]:
    """Every organisation ever admitted (from Consortium's OrganisationAdmitted events), as the
    chain holds it now. Memoised for the view's pinned block."""
    def read() -> list[MemberRow]:
        logs = chain.event_logs("Consortium", "OrganisationAdmitted")
        seen: list[bytes] = []
        for log in logs:
            org = bytes(log["args"]["org"])
            if org not in seen:
                seen.append(org)
        out = []
        for org in seen:
            record = chain.organisation(org)
            if record is None:
                continue
            out.append(MemberRow(
                "0x" + org.hex(), record.gln, record.name, tuple(sorted(record.roles)),
                record.grade, record.blacklisted, record.member,
                tuple((k.key, not k.revoked) for k in record.keys), record.prefixes))
        return out

    view.sync()
    return view.memo(("console.members",), read)  # type: ignore[no-any-return]


def anchoring(engine: Engine, now_ms: int | None = None) -> AnchoringStatus:
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    anchored = batches.c.state == "anchored"
    with engine.connect() as conn:
        n_captures, n_events = conn.execute(
            select(func.count(), func.coalesce(func.sum(captures.c.event_count), 0))).one()
        # Outbox rows leave when their batch is anchored: what is there is waiting.
        p_captures, p_events, oldest = conn.execute(select(
            func.count(), func.coalesce(func.sum(outbox.c.event_count), 0),
            func.min(outbox.c.enqueued_ms))).one()
        n_batches = conn.execute(select(func.count()).select_from(batches).where(anchored)
                                 ).scalar_one()
        last = conn.execute(select(batches.c.root, batches.c.block_number, batches.c.tx_hash,
                                   batches.c.anchored_ms, batches.c.event_count)
                            .where(anchored).order_by(batches.c.id.desc()).limit(1)).first()
    return AnchoringStatus(
        int(n_captures), int(n_events), int(p_captures), int(p_events),
        int(oldest) if oldest is not None else None, int(n_batches),
        "0x" + bytes(last[0]).hex() if last else None, int(last[1]) if last and last[1] else None,
        "0x" + bytes(last[2]).hex() if last and last[2] else None,
        int(last[3]) if last and last[3] else None, int(last[4]) if last else None, now_ms)


def decisions(engine: Engine, view: Any) -> list[DecisionRow]:
    """Customs decisions from customs' signed `inspecting` events (the ones that carry a
    decision), oldest first, each with what CustomsRelease holds for its consignment now."""

    q = (select(events.c.body, events.c.event_time_ms).where(events.c.biz_step == "inspecting")
         .where(events.c.body.contains("zhenzhi:decision")).order_by(events.c.event_time_ms))
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    view.sync()
    out = []
    for body, t in rows:
        ev = json.loads(body)
        ref, decision = ev.get("zhenzhi:consignment"), ev.get("zhenzhi:decision")
        if not isinstance(ref, str) or not isinstance(decision, str):
            continue
        try:
            record = view.customs(consignment_key(ref))
        except ValueError:
            record = None
        score = ev.get("zhenzhi:riskScore")
        fired = ev.get("zhenzhi:rulesFired")
        out.append(DecisionRow(
            ref, decision, str(ev.get("zhenzhi:inspection") or "NOT_INSPECTED"), int(t),
            score if isinstance(score, int) else None,
            tuple(str(r) for r in fired) if isinstance(fired, list) else (),
            ev.get("zhenzhi:rulesVersion"), len(ev.get("zhenzhi:eventIds") or ()),
            f"{record.decision} / {record.inspection}" if record else None,
            record.released if record else None))
    return out


def recalls(engine: Engine, view: Any) -> list[RecallRow]:
    """Issued lots that CodeRegistry says are recalled, with how often their codes were scanned."""
    with engine.connect() as conn:
        lots = conn.execute(select(codes.c.gtin, codes.c.lot, func.count())
                            .where(codes.c.lot.is_not(None))
                            .group_by(codes.c.gtin, codes.c.lot)).all()
        view.sync()
        out = []
        for gtin, lot, n in lots:
            record = view.lot(gtin, lot)
            if record is None or record.status != "recalled":
                continue
            n_scans = conn.execute(
                select(func.count()).select_from(scans).join(
                    codes, and_(codes.c.gtin == scans.c.gtin, codes.c.serial == scans.c.serial))
                .where(codes.c.gtin == gtin, codes.c.lot == lot)).scalar_one()
            out.append(RecallRow(gtin, lot, int(n), int(n_scans),
                                 "0x" + record.reason_hash.hex() if record.reason_hash else None))
    return out


# Business steps grouped as the charts show them (CBV 2.0 bare names).
_STAGES = {
    "commissioning": "made", "packing": "packed",
    "shipping": "shipped", "departing": "shipped", "transporting": "shipped",
    "arriving": "arrived", "inspecting": "customs",
    "receiving": "warehouse", "unpacking": "warehouse", "storing": "warehouse",
    "retail_selling": "sold",
}
STAGE_ORDER = ("made", "packed", "shipped", "arrived", "customs", "warehouse", "sold", "other")


def events_per_day(engine: Engine) -> list[tuple[str, dict[str, int]]]:
    """Events by business day (eventTime, UTC) and stage."""
    day = (events.c.event_time_ms // DAY_MS).label("day")
    q = select(day, events.c.biz_step, func.count()).group_by(day, events.c.biz_step)
    per: dict[str, Counter[str]] = defaultdict(Counter)
    with engine.connect() as conn:
        for d, step, n in conn.execute(q):
            per[_day(int(d) * DAY_MS)][_STAGES.get(step or "", "other")] += int(n)
    return [(d, dict(per[d])) for d in sorted(per)]


def decisions_per_day(rows: list[DecisionRow]) -> list[tuple[str, dict[str, int]]]:
    per: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        per[_day(r.event_time_ms)][r.decision] += 1
    return [(d, dict(per[d])) for d in sorted(per)]


def scans_by_verdict(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {str(v or "none"): int(n) for v, n in conn.execute(
            select(scans.c.verdict, func.count()).group_by(scans.c.verdict))}


def console_data(engine: Engine, chain: Any, view: Any) -> ConsoleData:
    block = view.sync()
    rows = decisions(engine, view)
    return ConsoleData(
        block=block, chain_id=view.chain_id, members=members(chain, view),
        anchoring=anchoring(engine), decisions=rows,
        complaints=list(reversed(ComplaintBook(engine).list(limit=10_000)))[:50],
        recalls=recalls(engine, view), events_per_day=events_per_day(engine),
        decisions_per_day=decisions_per_day(rows), scans_by_verdict=scans_by_verdict(engine))
