"""Runtime of the traceability extensions (codes, customs, recalls, complaints, resolver, member
reads): their settings, rate limiters and nonce memory, built once per app from its settings.

`TraceabilitySettings` reads `ZHENZHI_*` variables like `GatewaySettings` (the Redis URL is the
gateway's). Tests set `app.state.traceability_settings` (an override of
`get_traceability_settings` works too, but the resolver's fast path stands aside while any
override is set). The runtime is created on first use and kept on `app.state`, so an app that never serves these
routes never opens a Redis connection.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from gateway.deps import SettingsDep
from ledger.errors import LedgerError
from ledger.runtime.ratelimit import (
    MemoryRateLimiter,
    RateLimiter,
    RateLimiterUnavailable,
    RedisRateLimiter,
)

__all__ = [
    "NonceMemory", "RuntimeDep", "TraceabilityRuntime", "TraceabilitySettings",
    "TraceabilitySettingsDep", "get_runtime", "get_traceability_settings",
]


class TraceabilitySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZHENZHI_", extra="ignore", frozen=True)

    # Public endpoints: per client address. A burst lets a family scan a shelf; the rate stops
    # a script from flooding complaints or scan history.
    complaint_burst: int = Field(default=5, ge=1)
    complaint_per_minute: float = Field(default=2.0, gt=0)
    complaint_max_chars: int = Field(default=2000, ge=10, le=20_000)
    # Each capture leaves a deposit from its client address's budget while it is checked, 1
    # token plus 1 per 64 KiB of body (a 2 MB body: 33), given back when it passes and kept
    # when it fails (bad document, signature, key or role). A client without the deposit gets
    # 429 before its body is parsed. The burst bounds what one address has in checking at once.
    capture_failure_burst: int = Field(default=64, ge=1)
    capture_failure_per_minute: float = Field(default=60.0, gt=0)
    scan_burst: int = Field(default=60, ge=1)
    scan_per_minute: float = Field(default=120.0, gt=0)
    redis_prefix: str = Field(default="zhenzhi:", description="key prefix in the shared Redis")
    # Member request signatures: accepted clock skew; nonces are remembered twice as long.
    member_max_skew_s: int = Field(default=300, ge=5, le=3600)
    # Digital Link base for labels (the resolver's public address).
    resolver_base_url: str = Field(default="https://id.zhenzhi.example",
                                   description="base URL printed in label QR codes")
    risk_rules_version: str = Field(default="v2", description="risk rule set used by default")
    # The account that relays enterprises' signed lot registrations (pays gas, gains no
    # authority: CodeRegistry checks the enterprise's signature). Not the anchoring account:
    # two processes tracking one account's nonce would collide.
    relayer_key: SecretStr | None = Field(default=None, description="relayer private key (hex)")
    # Resolver: an assembled bundle is re-used until the store changes; the store is asked
    # whether it changed at most this often, so a new capture or anchor reaches the resolver's
    # answers within this many seconds.
    evidence_max_staleness_s: float = Field(default=0.25, ge=0, le=10)
    # Memory for the resolver's cached proofs: the encoded JSON of as many items as fit (a
    # can's proof is tens of kB), the parsed bundles of the most recent `evidence_cache_items`.
    evidence_cache_mb: int = Field(default=512, ge=1, le=65536)
    evidence_cache_items: int = Field(default=1024, ge=1, le=1_000_000)
    # Scans are written in batches; a scan is in the database at most this long (plus one
    # commit) after the request, and a crash loses at most this window of scans.
    scan_flush_interval_s: float = Field(default=0.05, gt=0, le=5)
    # An item's scan history is re-read from the database at most this often (this process's
    # own scans are added as they happen): scans through other gateway processes reach the
    # clone rules here within this many seconds plus their flush interval.
    scan_history_max_staleness_s: float = Field(default=1.0, ge=0, le=60)
    # Scan records and complaints keep a salted hash of the client address, never the
    # address. Set it (one value for every gateway process, kept across restarts) so one
    # client is one client to the clone and risk rules.
    scan_salt: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_hex(16)))
    # Reverse proxies whose X-Forwarded-For is believed (addresses or networks, comma-separated,
    # e.g. "10.0.0.0/8,127.0.0.1"). Empty: the connection's peer is the client.
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="reverse proxies whose X-Forwarded-For is believed")
    # Customs risk: complaints and scans count once per client and item, and at most this many
    # items per client, so one address cannot move an enterprise's complaint rate.
    complaint_cap_per_client: int = Field(default=3, ge=1)
    scan_cap_per_client: int = Field(default=20, ge=1)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        from gateway.client import TrustedProxies

        TrustedProxies(value)  # refuses what is not an address or network
        return tuple(str(v).strip() for v in value)


def _settings_from_env() -> TraceabilitySettings:
    return TraceabilitySettings()


# The dependencies are `async def` on purpose: FastAPI runs a plain `def` dependency in a
# worker thread, a hop per request for what is an attribute lookup.
async def get_traceability_settings(request: Request) -> TraceabilitySettings:
    settings = getattr(request.app.state, "traceability_settings", None)
    if settings is None:
        settings = request.app.state.traceability_settings = _settings_from_env()
    return settings  # type: ignore[no-any-return]


class NonceMemory:
    """Remembers request nonces for `ttl` seconds: `first_use` is True once per nonce.

    Through Redis (SET NX EX, atomic) when the gateway has a Redis URL; else in the store
    (`Store.first_use_nonce`, a row per nonce until it expires) when the store can be shared
    with other processes: either way a request replayed to another gateway process on the same
    store is refused too. In process memory only for a store no other process can open.
    """

    def __init__(self, ttl: int, redis_client: Any = None, *, store: Any = None,
                 max_entries: int = 1_000_000, prefix: str = "zhenzhi:nonce:") -> None:
        self.ttl = ttl
        self._prefix = prefix
        self._redis = redis_client
        self._store = store if redis_client is None else None
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._max = max_entries

    def first_use(self, nonce: str) -> bool:
        if self._redis is not None:
            import redis

            try:
                return bool(self._redis.set(self._prefix + nonce, b"1", nx=True, ex=self.ttl))
            except redis.RedisError as exc:
                raise RateLimiterUnavailable("nonce store unreachable") from exc
        if self._store is not None:
            from sqlalchemy.exc import SQLAlchemyError

            try:
                return bool(self._store.first_use_nonce(nonce, self.ttl))
            except SQLAlchemyError as exc:
                raise RateLimiterUnavailable("nonce store unreachable") from exc
        now = time.monotonic()
        with self._lock:
            if len(self._seen) >= self._max or len(self._seen) % 4096 == 0:
                self._seen = {n: t for n, t in self._seen.items() if t > now}
            if self._seen.get(nonce, 0) > now:
                return False
            if len(self._seen) >= self._max:
                # Full of live nonces: refuse rather than forget one (forgetting allows replay).
                raise RateLimiterUnavailable("too many signed requests in flight")
            self._seen[nonce] = now + self.ttl
            return True


class RelayerNotConfiguredError(LedgerError):
    slug = "relayer-not-configured"
    title = "This gateway does not relay transactions"
    status = 501


@dataclass
class TraceabilityRuntime:
    settings: TraceabilitySettings
    complaints: RateLimiter
    scans: RateLimiter
    capture_failures: RateLimiter
    nonces: NonceMemory
    _chain: Any = None
    _relayer: Any = None
    _names: dict[bytes, tuple[str | None, float]] = field(default_factory=dict)
    _evidence: Any = None
    _scan_log: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _proxies: Any = None
    _geo: Any = None
    _brand_links: dict[str, tuple[Any, tuple[Any, ...]]] = field(default_factory=dict)

    def client(self, request: Request) -> Any:
        """The `gateway.client.ClientIdentity` of a public request: its address as the server
        observes it (through trusted proxies only) and that address's country."""
        from gateway.client import ClientIdentity, TrustedProxies, client_address, forwarded_for
        from ledger.runtime.geo import Geolocator

        if self._proxies is None:
            self._proxies = TrustedProxies(self.settings.trusted_proxies)
            self._geo = Geolocator()
        peer = request.client.host if request.client else None
        address = client_address(peer, forwarded_for(request), self._proxies)
        return ClientIdentity(address, self._geo.country(address))

    def evidence(self, services: Any) -> Any:
        """The resolver's `ledger.evidence.item.EvidenceCache` over the services' store (built
        once), its store version kept fresh by a follower thread of the services."""
        cache = self._evidence
        if cache is None or cache.store is not services.store:
            from ledger.evidence.item import EvidenceCache

            with self._lock:
                if self._evidence is None or self._evidence.store is not services.store:
                    self._evidence = EvidenceCache(
                        services.store, max_staleness=self.settings.evidence_max_staleness_s,
                        max_items=self.settings.evidence_cache_items,
                        max_bytes=self.settings.evidence_cache_mb * 2**20)
                    services.follow("store-version-follower", self._evidence.version.follow)
                cache = self._evidence
        return cache

    def brand_links(self, services: Any, gtin: str, *, io: bool = True) -> tuple[Any, ...] | None:
        """The brand's own links of a GTIN (`ledger.store.brand_links`), cached while the store
        version is unchanged (a registration changes it). With `io=False`, None unless the
        answer is in memory (the event loop's fast path reads nothing)."""
        version = self.evidence(services).version
        token = version.cached()
        if token is None:
            if not io:
                return None
            token = version.current()
        hit = self._brand_links.get(gtin)
        if hit is not None and hit[0] == token:
            return hit[1]
        if not io:
            return None
        from ledger.store import brand_links

        links = tuple(brand_links.links_for(services.store.engine, gtin))
        if len(self._brand_links) >= 4096:
            self._brand_links.clear()
        self._brand_links[gtin] = (token, links)
        return links

    def forget_brand_links(self, gtin: str) -> None:
        """Drop a GTIN's cached brand links (this process registered one: the brand reads its
        own write at once; other processes see it with the store version)."""
        self._brand_links.pop(gtin, None)

    def scan_log(self, engine: Any) -> Any:
        """The buffered `ledger.store.scan_log.ScanLog` writing scans into `engine` (built once)."""
        log = self._scan_log
        if log is None or log.engine is not engine:
            from ledger.store.scan_log import ScanLog

            with self._lock:
                if self._scan_log is None or self._scan_log.engine is not engine:
                    if self._scan_log is not None:
                        self._scan_log.close()
                    self._scan_log = ScanLog(
                        engine, flush_interval=self.settings.scan_flush_interval_s,
                        max_staleness=self.settings.scan_history_max_staleness_s)
                log = self._scan_log
        return log

    def org_name(self, chain_view: Any, org: bytes, *, ttl: float = 60.0) -> str | None:
        """An organisation's name on Consortium, cached for `ttl` seconds: every page shows
        the names of the same few organisations, and Chain.organisation costs several calls."""
        now = time.monotonic()
        hit = self._names.get(org)
        if hit is not None and hit[1] > now:
            return hit[0]
        record = self.chain(chain_view).organisation(org)
        name = record.name if record else None
        if len(self._names) > 10_000:
            self._names.clear()
        self._names[org] = (name, now + ttl)
        return name

    def chain(self, chain_view: Any) -> Any:
        """A `ledger.chain.client.Chain` over the gateway's web3 client and deployment (built once)."""
        if self._chain is None:
            from ledger.chain.client import Chain

            self._chain = Chain(chain_view.w3, chain_view.deployment,
                                log_block_range=chain_view.log_block_range)
        return self._chain

    def relayer(self, chain_view: Any) -> Any:
        if self._relayer is None:
            if self.settings.relayer_key is None:
                raise RelayerNotConfiguredError(
                    "this gateway relays no registrations (ZHENZHI_RELAYER_KEY is not set); "
                    "register the lot with your own transaction instead")
            from eth_account import Account

            from ledger.chain.transactor import Transactor

            self._relayer = Transactor(chain_view.w3, Account.from_key(
                self.settings.relayer_key.get_secret_value()))
        return self._relayer


    @classmethod
    def build(cls, settings: TraceabilitySettings, redis_url: str | None, *, store: Any = None
              ) -> TraceabilityRuntime:
        """`store`: the gateway's store, which keeps the request nonces when there is no Redis
        and other processes may open it (`Store.shared`)."""
        def limiter(burst: int, per_minute: float, name: str) -> RateLimiter:
            if redis_url:
                return RedisRateLimiter(client, burst, per_minute / 60,
                                        prefix=f"{settings.redis_prefix}rl:{name}:")
            return MemoryRateLimiter(burst, per_minute / 60)

        client = None
        if redis_url:
            import redis

            client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        return cls(
            settings=settings,
            complaints=limiter(settings.complaint_burst, settings.complaint_per_minute, "complaints"),
            scans=limiter(settings.scan_burst, settings.scan_per_minute, "scans"),
            capture_failures=limiter(settings.capture_failure_burst,
                                     settings.capture_failure_per_minute, "capture-failures"),
            nonces=NonceMemory(settings.member_max_skew_s * 2, client,
                               store=store if store is not None and store.shared else None,
                               prefix=f"{settings.redis_prefix}nonce:"),
        )


_build_lock = threading.Lock()


async def get_runtime(request: Request, gateway: SettingsDep,
                settings: Annotated[TraceabilitySettings, Depends(get_traceability_settings)]
                ) -> TraceabilityRuntime:
    runtime = getattr(request.app.state, "traceability_runtime", None)
    if runtime is None or runtime.settings is not settings:
        with _build_lock:
            runtime = getattr(request.app.state, "traceability_runtime", None)
            if runtime is None or runtime.settings is not settings:
                services = getattr(request.app.state, "services", None)
                runtime = TraceabilityRuntime.build(
                    settings, gateway.redis_url,
                    store=services.store if services is not None else None)
                request.app.state.traceability_runtime = runtime
    return runtime  # type: ignore[no-any-return]


TraceabilitySettingsDep = Annotated[TraceabilitySettings, Depends(get_traceability_settings)]
RuntimeDep = Annotated[TraceabilityRuntime, Depends(get_runtime)]
