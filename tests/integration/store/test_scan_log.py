"""`ledger.store.scan_log.ScanLog` on SQLite and PostgreSQL: the history a resolver serves is
the stored scans plus this process's unwritten ones, newest `limit`, each scan once, and one
item's history never holds another's."""

from __future__ import annotations

from ledger.store.scan_log import ScanLog, scan_pseudonym

GTIN = "09506000134352"


def test_history_is_stored_plus_pending_scans_once_each_and_only_the_items_own(store) -> None:
    log = ScanLog(store.engine, max_staleness=0.0, limit=3, flush_interval=3600)
    try:
        for n, region in enumerate(("CN", "FR", "DE")):
            log.record(GTIN, "A1", region=region, client_hash=bytes([n]) * 32, now_ms=1000 * (n + 1))
        log.record(GTIN, "B2", region="JP", client_hash=b"\x09" * 32, now_ms=500)
        log.flush()  # the three of A1 and the one of B2 are stored
        log.record(GTIN, "A1", region=None, client_hash=b"\x07" * 32, now_ms=9000)  # pending
        history = log.history(GTIN, "A1")
        # The newest three, oldest first: the stored FR and DE, then the pending one.
        assert [(h.at, h.region) for h in history] == [(2, "FR"), (3, "DE"), (9, "unknown")]
        assert history[-1].client == scan_pseudonym(b"\x07" * 32, GTIN, "A1")
        assert [h.region for h in log.history(GTIN, "B2")] == ["JP"]
        assert log.history(GTIN, "C3") == []
        log.flush()
        # Written now: read again from the database, the pending scan is not counted twice.
        assert [(h.at, h.region) for h in log.history(GTIN, "A1")] == [
            (2, "FR"), (3, "DE"), (9, "unknown")]
    finally:
        log.close()


# --- the follower (SQLite): kept histories brought up to date without per-item reads ---------

class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _second_process(store_url: str):
    """The same database through another engine: another gateway process."""
    from ledger.store.store import Store

    return Store(store_url)


def test_a_kept_history_gets_another_process_scans_from_the_follower_not_a_reread(
        store, store_url: str) -> None:
    clock = _Clock()
    other_store = _second_process(store_url)
    a = ScanLog(store.engine, max_staleness=1.0, flush_interval=3600, clock=clock)
    b = ScanLog(other_store.engine, max_staleness=1.0, flush_interval=3600)
    reads: list[str] = []
    read = a._read_history
    a._read_history = lambda g, s: (reads.append(s), read(g, s))[1]  # count the per-item reads
    try:
        a.record(GTIN, "A1", region="CN", client_hash=b"\x01" * 32, now_ms=1000)
        assert [h.region for h in a.history(GTIN, "A1")] == ["CN"]
        b.record(GTIN, "A1", region="BR", client_hash=b"\x02" * 32, now_ms=2000)  # a clone abroad
        b.flush()
        a.flush()
        clock.now += 0.6
        following = store.engine.dialect.name == "sqlite"
        # Both stored scans are read by the follower; only B's is new to the kept history.
        assert a.follow() == (2 if following else 0)
        clock.now += 0.6  # past max_staleness since the history was read
        history = a.history(GTIN, "A1")
        assert [(h.at, h.region) for h in history] == [(1, "CN"), (2, "BR")]
        # SQLite: one read, ever; PostgreSQL (no follower): read again once stale.
        assert reads == (["A1"] if following else ["A1", "A1"])
    finally:
        a.close()
        b.close()
        other_store.close()


def test_kept_histories_equal_what_the_database_holds_through_any_interleaving(
        store, store_url: str) -> None:
    """Two processes scanning the same items, flushing, following and reading in a random
    order: after each checkpoint A's kept history is exactly the stored scans plus A's own
    pending ones, each once (a scan counted twice makes a genuine can look cloned, one
    missed hides a clone)."""
    import random

    rng = random.Random(20261206)
    clock = _Clock()
    other_store = _second_process(store_url)
    a = ScanLog(store.engine, max_staleness=1.0, flush_interval=3600, clock=clock)
    b = ScanLog(other_store.engine, max_staleness=1.0, flush_interval=3600)
    following = store.engine.dialect.name == "sqlite"
    items = ["S1", "S2", "S3"]
    made: dict[str, list[tuple[int, str]]] = {s: [] for s in items}  # by A, or by B and flushed
    b_pending: dict[str, list[tuple[int, str]]] = {s: [] for s in items}
    used: set[int] = set()
    try:
        for step in range(600):
            op = rng.random()
            item = rng.choice(items)
            # Unique seconds, one in five older than scans already made (clocks, buffers).
            at = 10 * step + 1000 - (rng.randrange(1, 60) if rng.random() < 0.2 else 0)
            while at in used:
                at += 1
            used.add(at)
            ms = at * 1000
            region = rng.choice(["CN", "FR", "BR", None])
            client = bytes([rng.randrange(4)]) * 32
            if op < 0.35:
                a.record(GTIN, item, region=region, client_hash=client, now_ms=ms)
                made[item].append((ms, region or "unknown"))
            elif op < 0.6:
                b.record(GTIN, item, region=region, client_hash=client, now_ms=ms)
                b_pending[item].append((ms, region or "unknown"))
            elif op < 0.7:
                a.flush()
            elif op < 0.8:
                b.flush()
                for s in items:
                    made[s].extend(b_pending[s])
                    b_pending[s].clear()
            elif op < 0.9:
                a.history(GTIN, item)  # keep (or use) the history
            else:
                # Checkpoint: what B stored is read by the follower (SQLite) or by a re-read
                # once stale (PostgreSQL); A's history then holds exactly the truth.
                if following:
                    a.follow()
                else:
                    clock.now += 1.5
                got = sorted((h.at * 1000, h.region) for h in a.history(GTIN, item))
                assert got == sorted(made[item]), f"step {step}, {item}"
    finally:
        a.close()
        b.close()
        other_store.close()


def test_the_follower_thread_brings_another_process_scan_within_the_staleness_bound(
        store, store_url: str) -> None:
    import time

    if store.engine.dialect.name != "sqlite":
        import pytest

        pytest.skip("the follower runs on SQLite; PostgreSQL re-reads (tested above)")
    other_store = _second_process(store_url)
    a = ScanLog(store.engine, max_staleness=0.2, flush_interval=0.02)
    b = ScanLog(other_store.engine, max_staleness=0.2, flush_interval=0.02)
    try:
        a.history(GTIN, "T1")
        b.record(GTIN, "T1", region="BR", client_hash=b"\x05" * 32)
        deadline = time.monotonic() + 20  # generous: the bound is 0.2 s + 0.02 s on an idle machine
        while time.monotonic() < deadline:
            # cached_history never reads the database: only the follower can have added it.
            kept = a.cached_history(GTIN, "T1")
            if kept and [h.region for h in kept] == ["BR"]:
                break
            time.sleep(0.01)
        else:
            raise AssertionError(f"the follower never brought B's scan: {a.cached_history(GTIN, 'T1')}")
    finally:
        a.close()
        b.close()
        other_store.close()
