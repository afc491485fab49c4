"""What the console's charts count, from the store: consumer scans by day and verdict and by
region (the country the gateway placed the scanning client in, offline), complaints by day and
status. Days are UTC calendar days, as `ledger.trade.console` counts events and decisions."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from ledger.store.tables import complaints, scans
from ledger.trade.console import DAY_MS

__all__ = ["complaints_per_day", "scans_by_region", "scans_per_day"]


def _day(ms: int) -> str:
    import time

    return time.strftime("%Y-%m-%d", time.gmtime(ms // 1000))


def _per_day(engine: Engine, column: Any, key: Any) -> list[tuple[str, dict[str, int]]]:
    day = (column // DAY_MS).label("day")
    per: dict[str, Counter[str]] = defaultdict(Counter)
    with engine.connect() as conn:
        for d, k, n in conn.execute(select(day, key, func.count()).group_by(day, key)):
            per[_day(int(d) * DAY_MS)][str(k or "none")] += int(n)
    return [(d, dict(per[d])) for d in sorted(per)]


def scans_per_day(engine: Engine) -> list[tuple[str, dict[str, int]]]:
    return _per_day(engine, scans.c.scanned_ms, scans.c.verdict)


def complaints_per_day(engine: Engine) -> list[tuple[str, dict[str, int]]]:
    return _per_day(engine, complaints.c.created_ms, complaints.c.status)


def scans_by_region(engine: Engine) -> list[tuple[str, dict[str, int]]]:
    """(region, {verdict: scans}), most scanned first; "unknown" where no country was found."""
    per: dict[str, Counter[str]] = defaultdict(Counter)
    with engine.connect() as conn:
        for region, verdict, n in conn.execute(
                select(scans.c.region, scans.c.verdict, func.count())
                .group_by(scans.c.region, scans.c.verdict)):
            per[str(region or "unknown")][str(verdict or "none")] += int(n)
    return sorted(((r, dict(c)) for r, c in per.items()), key=lambda rc: -sum(rc[1].values()))
