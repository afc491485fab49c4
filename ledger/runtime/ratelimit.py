"""Token-bucket rate limits for public endpoints (complaints, resolver scans).

A bucket per key (e.g. "complaints:<client ip>") holds up to `capacity` tokens and refills at
`rate` tokens a second; a request takes one. Two backends with one interface:

- `MemoryRateLimiter`: in-process, the default for a single gateway process. Bounded: when it
  tracks `max_keys` buckets it forgets the fullest ones, so an attacker rotating addresses can
  exhaust neither memory nor, for long, anyone's budget.
- `RedisRateLimiter`: shared by every gateway process through Redis. The refill-and-take step
  is one Lua script, atomic on the server, and uses the server's clock so processes with
  skewed clocks agree.

`limit(limiter, key)` raises `RateLimitedError` (429 problem+json, `retryAfter` seconds);
`refund(limiter, key, cost)` gives back what a request took once it turns out to deserve it
(the capture route takes a deposit by body size before checking a capture, and returns it when
the capture passes: a budget that only failures spend, which no number of concurrent requests
can overdraw).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ledger.errors import ChainError, LedgerError

__all__ = [
    "MemoryRateLimiter", "RateDecision", "RateLimitedError", "RateLimiter", "RateLimiterUnavailable",
    "RedisRateLimiter", "limit", "refund",
]


class RateLimitedError(LedgerError):
    slug = "rate-limited"
    title = "Too many requests"
    status = 429

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, retryAfter=retry_after)
        # The gateway's problem handler copies an error's `headers` onto the response.
        self.headers = {"Retry-After": str(retry_after)}


class RateLimiterUnavailable(ChainError):
    """The shared limiter's store did not answer (503: try again, nothing was recorded)."""

    slug = "rate-limiter-unavailable"
    title = "Rate limiter unavailable"
    status = 503


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    remaining: float  # tokens left after this request (if allowed) or now (if refused)
    retry_after: float  # seconds until one token is back; 0 when allowed


class RateLimiter(Protocol):
    capacity: float
    rate: float

    def take(self, key: str, cost: float = 1.0) -> RateDecision: ...


def _validate(capacity: float, rate: float) -> None:
    if capacity < 1 or rate <= 0:
        raise ValueError("a token bucket needs capacity >= 1 and a positive refill rate")


class MemoryRateLimiter:
    def __init__(self, capacity: float, rate: float, *, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        _validate(capacity, rate)
        self.capacity = float(capacity)
        self.rate = float(rate)
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str, cost: float = 1.0) -> RateDecision:
        with self._lock:
            now = self._clock()
            tokens, at = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + max(0.0, now - at) * self.rate)
            if tokens >= cost:
                tokens -= cost
                decision = RateDecision(True, tokens, 0.0)
            else:
                decision = RateDecision(False, tokens, (cost - tokens) / self.rate)
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > self._max_keys:
                self._evict(now)
            return decision

    def _evict(self, now: float) -> None:
        # Forget buckets in order of how full they would be now: a full bucket carries no
        # information, so forgetting it is exact; beyond those, the fullest lose the least.
        def level(item: tuple[str, tuple[float, float]]) -> float:
            tokens, at = item[1]
            return min(self.capacity, tokens + (now - at) * self.rate)

        keep = sorted(self._buckets.items(), key=level)[: self._max_keys * 9 // 10]
        self._buckets = dict(keep)


# KEYS[1] bucket; ARGV capacity, rate (tokens/s), cost. Returns {allowed, tokens*1000, wait_ms}.
_TAKE_LUA = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil then tokens = capacity; at = now end
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local allowed = 0
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  wait = (cost - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / rate * 1000) + 1000)
return {allowed, math.floor(tokens * 1000), math.ceil(wait * 1000)}
"""


class RedisRateLimiter:
    """Shared buckets in Redis; `client` is a `redis.Redis` built by the caller."""

    def __init__(self, client: Any, capacity: float, rate: float, *,
                 prefix: str = "zhenzhi:ratelimit:") -> None:
        _validate(capacity, rate)
        self.capacity = float(capacity)
        self.rate = float(rate)
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_TAKE_LUA)

    @classmethod
    def from_url(cls, url: str, capacity: float, rate: float, **kwargs: Any) -> RedisRateLimiter:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        return cls(client, capacity, rate, **kwargs)

    def take(self, key: str, cost: float = 1.0) -> RateDecision:
        import redis

        try:
            allowed, milli_tokens, wait_ms = self._script(
                keys=[self._prefix + key], args=[self.capacity, self.rate, cost])
        except redis.RedisError as exc:
            # Fail closed: an unreachable limiter must not turn into no limit at all.
            raise RateLimiterUnavailable(f"rate limiter store unreachable: {type(exc).__name__}") from exc
        return RateDecision(bool(allowed), int(milli_tokens) / 1000, int(wait_ms) / 1000)


def limit(limiter: RateLimiter, key: str, cost: float = 1.0) -> RateDecision:
    """Take from `key`'s bucket or raise `RateLimitedError` with whole seconds to wait."""
    decision = limiter.take(key, cost)
    if not decision.allowed:
        retry = max(1, math.ceil(decision.retry_after))
        raise RateLimitedError(f"too many requests; retry in {retry} s", retry_after=retry)
    return decision



def refund(limiter: RateLimiter, key: str, cost: float) -> None:
    """Give `cost` back to `key`'s bucket (never above its capacity): a negative take, which
    both backends add and cap at the next take."""
    limiter.take(key, -cost)
