"""`ledger.runtime.memo.BoundedMemo`: at most `max_items` kept, the least recently used first
to go, a `get` counting as a use."""

from ledger.runtime.memo import BoundedMemo


def test_the_least_recently_used_key_goes_first() -> None:
    memo: BoundedMemo[str, int] = BoundedMemo(2)
    assert memo.put("a", 1) == 1
    memo.put("b", 2)
    assert memo.get("a") == 1  # "a" used: "b" is now the oldest
    memo.put("c", 3)
    assert (memo.get("a"), memo.get("b"), memo.get("c")) == (1, None, 3)
    assert len(memo) == 2


def test_put_again_replaces_and_refreshes() -> None:
    memo: BoundedMemo[str, int] = BoundedMemo(2)
    memo.put("a", 1)
    memo.put("b", 2)
    memo.put("a", 10)
    memo.put("c", 3)
    assert (memo.get("a"), memo.get("b")) == (10, None)
