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
