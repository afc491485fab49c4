"""Speed of the EPCIS top-level listings (`ledger.store.listing`) on a loaded store: every page
of `/bizSteps`, `/dispositions`, `/readPoints`, `/bizLocations`, and the first pages of `/epcs`
and pages starting at random EPCs, 30 values a page (the binding's default `perPage`); and the
same first page by `SELECT DISTINCT … ORDER BY … LIMIT`, the plain way, for comparison.

    .venv/bin/python -m bench.listing [--events N] [--keep DIR [--reuse]]
        [--database-url postgresql+psycopg://…] [--json]

The store is the trace benchmark's (`bench.queries.load`: the journey generator's stream).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench.queries import load
from ledger.store.listing import LISTED_FIELDS, list_values, page_token
from ledger.store.store import Store

__all__ = ["measure"]

_PER_PAGE = 30
_RUNS = 200


def _p95(times: list[float]) -> float:
    times = sorted(times)
    return round(times[int(0.95 * (len(times) - 1))], 3)


def _all_pages(store: Store, resource: str) -> tuple[int, int, list[float]]:
    times: list[float] = []
    token, values = None, 0
    while True:
        t = time.perf_counter()
        page, token = list_values(store.engine, resource, _PER_PAGE, token)
        times.append((time.perf_counter() - t) * 1000)
        values += len(page)
        if token is None:
            return values, len(times), times


def measure(n_events: int, *, seed: int = 7, keep: Path | None = None,
            reuse: bool = False, database_url: str | None = None) -> dict[str, Any]:
    """`database_url`: an empty database to load instead of a SQLite file (PostgreSQL)."""
    with tempfile.TemporaryDirectory(prefix="zz-bench-listing-") as tmp:
        path = (keep or Path(tmp)) / f"listing-{n_events}.db"
        store = Store(database_url or f"sqlite:///{path}")
        store.migrate()
        try:
            if not reuse:
                load(store, n_events, seed)
            store.optimize()
            out: dict[str, Any] = {"database": store.dialect,
                                   "events_in_store": store.count_events(),
                                   "per_page": _PER_PAGE}
            for resource in ("bizSteps", "dispositions", "readPoints", "bizLocations"):
                for _ in range(3):  # warm, then keep the last run's figures
                    values, pages, times = _all_pages(store, resource)
                out[resource] = {"values": values, "pages": pages,
                                 "page_p95_ms": _p95(times)}
            firsts = []
            for _ in range(_RUNS):
                t = time.perf_counter()
                list_values(store.engine, "epcs", _PER_PAGE)
                firsts.append((time.perf_counter() - t) * 1000)
            with store.engine.connect() as conn:
                epcs = [r[0] for r in conn.execute(
                    select(LISTED_FIELDS["epcs"]).limit(200_000)).all()]
            rng = random.Random(seed)  # noqa: S311 - benchmark picks
            starts = [rng.choice(epcs) for _ in range(_RUNS)]
            middles = []
            for epc in starts:
                t = time.perf_counter()
                list_values(store.engine, "epcs", _PER_PAGE, page_token("epcs", epc))
                middles.append((time.perf_counter() - t) * 1000)
            column = LISTED_FIELDS["bizSteps"]
            distinct = []
            for _ in range(20):
                t = time.perf_counter()
                with store.engine.connect() as conn:
                    conn.execute(select(column).where(column.is_not(None)).distinct()
                                 .order_by(column).limit(_PER_PAGE + 1)).all()
                distinct.append((time.perf_counter() - t) * 1000)
            out.update({
                "epcs_first_page_p95_ms": _p95(firsts),
                "epcs_random_page_p95_ms": _p95(middles),
                "epcs_page_median_ms": round(statistics.median(middles), 3),
                "bizSteps_select_distinct_median_ms": round(statistics.median(distinct), 2),
            })
            return out
        finally:
            store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--keep", type=Path)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--database-url", help="an empty database instead of SQLite")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args.events, keep=args.keep, reuse=args.reuse,
                     database_url=args.database_url)
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
