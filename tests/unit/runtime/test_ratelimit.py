"""Token buckets: one behaviour suite run against the in-memory and the Redis backend."""

from __future__ import annotations

import os
import threading
import time
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.runtime.ratelimit import (
    MemoryRateLimiter,
    RateLimitedError,
    RateLimiterUnavailable,
    RedisRateLimiter,
    limit,
    refund,
)

REDIS_URL = os.environ.get("ZHENZHI_TEST_REDIS_URL")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _memory(capacity, rate):
    return MemoryRateLimiter(capacity, rate)


def _redis(capacity, rate):
    if not REDIS_URL:
        pytest.skip("set ZHENZHI_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/0) to test Redis")
    # A fresh prefix per limiter: tests never see each other's buckets, even in parallel.
    return RedisRateLimiter.from_url(REDIS_URL, capacity, rate,
                                     prefix=f"zhenzhi-test:{uuid.uuid4().hex}:")


@pytest.fixture(params=[
    pytest.param(_memory, id="memory"),
    pytest.param(_redis, id="redis", marks=pytest.mark.redis),
])
def make(request):
    return request.param


def test_burst_up_to_capacity_then_refused_with_a_wait(make) -> None:
    limiter = make(3, 0.5)
    assert [limiter.take("k").allowed for _ in range(4)] == [True, True, True, False]
    refused = limiter.take("k")
    assert not refused.allowed
    assert 0 < refused.retry_after <= 2.0  # one token at 0.5/s


def test_buckets_are_per_key(make) -> None:
    limiter = make(1, 0.01)
    assert limiter.take("a").allowed
    assert not limiter.take("a").allowed
    assert limiter.take("b").allowed


def test_tokens_come_back_at_the_refill_rate(make) -> None:
    limiter = make(2, 20)  # a token every 50 ms
    assert limiter.take("k").allowed and limiter.take("k").allowed
    assert not limiter.take("k").allowed
    time.sleep(0.12)
    assert limiter.take("k").allowed


def test_limit_raises_429_problem_with_whole_seconds(make) -> None:
    limiter = make(1, 0.1)
    limit(limiter, "k")
    with pytest.raises(RateLimitedError) as info:
        limit(limiter, "k")
    problem = info.value.to_problem()
    assert problem["status"] == 429
    assert problem["type"] == "urn:zhenzhi:problem:rate-limited"
    assert problem["retryAfter"] == 10
    assert info.value.headers == {"Retry-After": "10"}


def test_concurrent_takers_never_get_more_than_capacity(make) -> None:
    limiter = make(25, 0.001)
    allowed = []

    def worker() -> None:
        for _ in range(10):
            allowed.append(limiter.take("shared").allowed)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 25


@given(st.lists(st.tuples(st.floats(0, 30), st.integers(0, 4)), max_size=60))
def test_memory_bucket_never_exceeds_capacity_nor_goes_negative(steps) -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(5, 0.5, clock=clock)
    granted = 0
    for dt, takes in steps:
        clock.now += dt
        for _ in range(takes):
            d = limiter.take("k")
            granted += d.allowed
            assert 0 <= d.remaining <= 5
    # Over any run, grants are bounded by the initial burst plus what was refilled.
    elapsed = sum(dt for dt, _ in steps)
    assert granted <= 5 + elapsed * 0.5 + 1e-9


def test_memory_limiter_stays_bounded_under_key_rotation() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(2, 1, clock=clock, max_keys=100)
    limiter.take("victim")
    limiter.take("victim")
    for i in range(1000):
        limiter.take(f"attacker-{i}")
    assert len(limiter._buckets) <= 100
    # The victim's bucket was the emptiest, so it is among those remembered.
    assert not limiter.take("victim").allowed


def test_unreachable_redis_fails_closed() -> None:
    limiter = RedisRateLimiter.from_url("redis://127.0.0.1:1/0", 5, 1)
    with pytest.raises(RateLimiterUnavailable) as info:
        limiter.take("k")
    assert info.value.status == 503



def test_refund_gives_a_deposit_back_up_to_the_capacity(make) -> None:
    limiter = make(4, 0.01)
    for _ in range(100):  # deposits that are given back: free
        limit(limiter, "k", 3)
        refund(limiter, "k", 3)
    limit(limiter, "k", 3)  # kept: one token left
    with pytest.raises(RateLimitedError) as refused:
        limit(limiter, "k", 3)
    assert refused.value.fields["retryAfter"] >= 150  # two more tokens at 0.01/s
    refund(limiter, "k", 100)  # never more than the capacity
    assert [limiter.take("k").allowed for _ in range(5)] == [True] * 4 + [False]
    limit(limiter, "other", 4)  # per key
