"""Gateway configuration: one pydantic-settings class, read from `ZHENZHI_*` variables.

`create_app(settings)` takes an instance; nothing reads the environment at import time.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.paths import REPO_ROOT

__all__ = ["GatewaySettings", "default_settings"]

VAR_DIR = REPO_ROOT / "var"


class GatewaySettings(BaseSettings):
    """Everything the gateway process needs to know; every field has a `ZHENZHI_` variable."""

    model_config = SettingsConfigDict(env_prefix="ZHENZHI_", extra="ignore", frozen=True)

    database_url: str = Field(default=f"sqlite:///{VAR_DIR / 'zhenzhi.db'}",
                              description="SQLAlchemy URL of the store (SQLite or PostgreSQL)")
    rpc_url: str = Field(default="http://127.0.0.1:8545", description="JSON-RPC URL of the chain")
    public_rpc_url: str | None = Field(
        default=None, description="JSON-RPC URL of a consortium node that shoppers' browsers "
                                  "call to verify a scan themselves (default: rpc_url)")
    manifest: Path = Field(default=VAR_DIR / "deployment.json",
                           description="deployment manifest written by `zhenzhi deploy`")
    migrate_on_start: bool = Field(default=True,
                                   description="apply store migrations when the app starts")

    # The in-process anchoring worker (optional: a separate `zhenzhi anchor` process may run it).
    run_anchor_worker: bool = False
    anchor_key: SecretStr | None = Field(default=None, description="anchoring account key (hex)")
    anchor_keyfile: Path | None = Field(default=None, description="anchoring keystore file")
    anchor_passphrase: SecretStr | None = None
    anchor_interval_s: float = Field(default=1.0, gt=0,
                                     description="longest a capture waits before its batch is cut")
    anchor_confirmations: int = Field(
        default=0, ge=0, le=64,
        description="blocks on top of an anchor before it counts as final (0 on QBFT/IBFT)")
    log_block_range: int = Field(
        default=1000, ge=1,
        description="most blocks one eth_getLogs request spans (Besu's default cap is 1000)")

    # Limits. The body limit is enforced on the raw byte stream, before any parsing.
    capture_limit: int = Field(default=500, ge=1, le=100_000,
                               description="most events in one capture (GS1-EPCIS-Capture-Limit)")
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024,
                                description="largest request body (GS1-EPCIS-Capture-File-Size-Limit)")
    signed_at_max_skew_s: int = Field(
        default=300, ge=0, le=3600,
        description="how far a capture's signedAt may be from the gateway's clock, either way")
    max_json_depth: int = Field(default=64, ge=2, le=200,
                                description="deepest nesting of arrays/objects in a JSON body, "
                                            "checked on the raw bytes before any parser")
    # Capture checks of a body larger than this run off the event loop, so one large or crafted
    # capture cannot stall every other request (smaller ones cost less than the hop): on
    # `capture_check_workers` threads, whose parse, hash and signature recovery run in
    # `capture_check_processes` worker processes (0: in the threads, sharing this process's
    # GIL with the event loop).
    capture_inline_bytes: int = Field(default=32 * 1024, ge=0)
    capture_check_workers: int = Field(default=2, ge=1, le=64)
    capture_check_processes: int = Field(default=1, ge=0, le=64)
    # What checking a capture costs grows with its JSON values (hashing ~5 us each), not its
    # bytes: 2 MB of nested extensions held ~600k values and took 3 s to hash. 200 values an
    # event at the default capture limit; refused (413) before parsing.
    capture_max_json_values: int = Field(default=100_000, ge=100)
    per_page_default: int = Field(default=30, ge=1)
    per_page_max: int = Field(default=1000, ge=1)

    # The console's Sign-In with Ethereum sessions (gateway.sessions).
    console_session_ttl_s: int = Field(default=8 * 3600, ge=60, le=7 * 86400,
                                       description="longest a console session lasts")
    console_login_ttl_s: int = Field(default=300, ge=10, le=3600,
                                     description="how long an issued log-in nonce is good for")

    run_webhook_worker: bool = Field(
        default=True, description="deliver webhook subscriptions from this process")
    webhook_allow_private: bool = Field(
        default=False, description="allow webhook URLs on loopback and private addresses "
                                   "(tests, a closed network); off, such URLs are refused")
    webhook_interval_s: float = Field(default=0.5, gt=0, le=60,
                                      description="how often stream subscriptions are run")
    webhook_backoff_base_s: float = Field(default=2.0, gt=0,
                                          description="first retry delay; doubles each time")
    webhook_max_attempts: int = Field(default=12, ge=1, le=100)
    redis_url: str | None = Field(default=None, description="optional Redis (rate limits, caches)")
    public_url: str | None = Field(default=None,
                                   description="external base URL used in Link headers; "
                                               "default: the request's own base URL")


@lru_cache(maxsize=1)
def default_settings() -> GatewaySettings:
    """Settings from the environment, read once per process (for `zhenzhi serve`)."""
    return GatewaySettings()
