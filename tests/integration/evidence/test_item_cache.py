"""The resolver's evidence cache (`ledger.evidence.item.EvidenceCache`): a proof served from
a slim entry (JSON only) is the proof a full entry gives, memory stays within its bounds, and
a store change is seen at the next version read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from ledger.epcis.gs1 import DigitalLink
from ledger.evidence.item import EvidenceCache, ItemEvidence, assemble
from ledger.proofs.bundle import ChainRef, ScanRecord
from tests.scenarios import played_journey

pytestmark = [pytest.mark.chain]


@pytest.fixture(scope="module")
def scenario(w3: Any, deployment: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    db = Path(tmp_path_factory.mktemp("item-cache")) / "store.db"
    with played_journey(w3, deployment, db, seed=47, day=233) as sc:
        yield sc


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _chain(sc: Any) -> ChainRef:
    return sc.chain_ref()


def _served(item: ItemEvidence, chain: ChainRef) -> bytes:
    scans = [ScanRecord(1_700_000_000, "CN", "c0ffee")]
    return item.dumps(chain=chain, scans=scans, source="https://gw.example", generated_at=7)


def test_slim_entry_serves_the_same_proof(scenario: Any) -> None:
    cans = scenario.sold_cans()
    a, b = DigitalLink.parse(cans[0]), DigitalLink.parse(cans[1])
    chain = _chain(scenario)
    # A stopped clock: `peek` answers only while the store version read is fresh, and on a
    # busy machine assembling `b` alone can take longer than the 0.25 s it stays fresh.
    cache = EvidenceCache(scenario.store, max_items=1, clock=lambda: 0.0)
    full = cache.get(a, chain)
    cache.get(b, chain)  # `a` keeps its JSON, drops its bundle
    slim = cache.peek(a)
    assert slim is not None and slim.bundle is None and full.bundle is not None
    assert _served(slim, chain) == _served(full, chain)
    # ... which is the public cut of the completed bundle, and the fresh assembly's
    fresh = ItemEvidence.of(assemble(scenario.store, a.canonical_uri(), chain=chain, scans=(),
                                     now=0))
    assert _served(slim, chain) == _served(fresh, chain)
    scans = [ScanRecord(1_700_000_000, "CN", "c0ffee")]
    completed = full.complete(chain=chain, scans=scans, source="https://gw.example",
                              generated_at=7)
    from ledger.evidence.public import public_bundle

    assert orjson.loads(_served(slim, chain)) == orjson.loads(
        orjson.dumps(public_bundle(completed).to_json()))
    with pytest.raises(ValueError):
        slim.complete(chain=chain, scans=[], source=None)


def test_get_gives_a_bundle_unless_json_will_do(scenario: Any) -> None:
    cans = scenario.sold_cans()
    a, b = DigitalLink.parse(cans[0]), DigitalLink.parse(cans[1])
    chain = _chain(scenario)
    cache = EvidenceCache(scenario.store, max_items=1)
    cache.get(a, chain)
    cache.get(b, chain)
    misses = cache.misses
    assert cache.get(a, chain, bundle=False).bundle is None
    assert cache.misses == misses  # served from the slim entry
    again = cache.get(a, chain)
    assert again.bundle is not None and cache.misses == misses + 1  # assembled again
    assert _served(again, chain) == _served(cache.get(a, chain, bundle=False), chain)


def test_memory_bounds(scenario: Any) -> None:
    cans = [DigitalLink.parse(c) for c in scenario.sold_cans()[:6]]
    chain = _chain(scenario)
    probe = EvidenceCache(scenario.store, clock=lambda: 0.0)
    one = probe.get(cans[0], chain).size
    probe.get(cans[1], chain)
    step = probe.bytes_held - one  # what a second can of the journey adds (pieces shared)
    assert one > 1000 and 0 < step < one
    budget = one + 2 * step + step // 2
    cache = EvidenceCache(scenario.store, max_items=2, max_bytes=budget, clock=lambda: 0.0)
    for link in cans:
        cache.get(link, chain)
        assert cache.bytes_held <= budget or len(cache) == 1
    assert 2 <= len(cache) <= 4  # proofs of one journey differ a little
    assert sum(1 for _, (_, e) in cache._items.items() if e.bundle is not None) <= 2
    assert cache.peek(cans[-1]) is not None  # the newest kept
    assert cache.peek(cans[0]) is None  # the oldest forgotten


def test_a_store_change_is_seen_at_the_next_version_read(scenario: Any) -> None:
    # The can that customs' decision will cover: any sold can went through the pallets.
    link = DigitalLink.parse(scenario.sold_cans()[2])
    chain = _chain(scenario)
    clock = Clock()
    cache = EvidenceCache(scenario.store, max_staleness=0.25, clock=clock)
    before = cache.get(link, chain)
    assert cache.peek(link) is before
    scenario.record_customs(ref="CN-NS-CACHE-TEST")  # a new signed event on the can's path
    # Within max_staleness the cached version stands (the documented bound) ...
    assert cache.peek(link) is before
    clock.now += 0.3
    # ... after it, the version must be read again: nothing is served from memory,
    assert cache.peek(link) is None
    after = cache.get(link, chain)
    assert after is not before
    assert len(after.bundle.customs) > len(before.bundle.customs)  # type: ignore[union-attr]
    assert _served(after, chain) != _served(before, chain)
    fresh = ItemEvidence.of(assemble(scenario.store, link.canonical_uri(), chain=chain,
                                     scans=(), now=0))
    assert _served(after, chain) == _served(fresh, chain)
    assert cache.peek(link) is after


def test_cans_share_the_pieces_of_their_proofs_in_memory(scenario: Any) -> None:
    """The cans of one journey share events (their pallet's shipping, customs) and captures:
    the cache holds each piece once, counts it once, and frees it with its last holder."""
    cans = [DigitalLink.parse(c) for c in scenario.sold_cans()[:6]]
    chain = _chain(scenario)
    cache = EvidenceCache(scenario.store, clock=lambda: 0.0)
    items = [cache.get(link, chain) for link in cans]
    total = sum(i.size for i in items)
    assert cache.bytes_held < total * 0.6, (cache.bytes_held, total)
    # One copy in memory: the same event text in two cans' entries is one object.
    shared = set(map(id, items[0].pieces())) & set(map(id, items[1].pieces()))
    assert shared
    for link, item in zip(cans, items, strict=True):
        assert _served(cache.peek(link), chain) == _served(  # type: ignore[arg-type]
            ItemEvidence.of(item.bundle), chain)  # type: ignore[arg-type]
    # Evicting every item frees every piece.
    small = EvidenceCache(scenario.store, max_bytes=1, clock=lambda: 0.0)
    for link in cans:
        small.get(link, chain)
    assert len(small) == 1 and small.bytes_held == small.peek(cans[-1]).size  # type: ignore[union-attr]
    assert len(small._pool) == len(set(small.peek(cans[-1]).pieces()))  # type: ignore[union-attr]
