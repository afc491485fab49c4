"""ProxySettings: where the gateway is and how long to wait for it. The key is not a setting:
the CLI unlocks it and hands the `Signer` to `create_app`."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ProxySettings"]


class ProxySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZHENZHI_PROXY_", frozen=True)

    gateway_url: str = Field(description="the gateway's root URL, e.g. https://gw.example")
    gateway_aliases: tuple[str, ...] = Field(
        default=(), description="other root URLs the gateway writes into Link/Location headers "
                                "(its ZHENZHI_PUBLIC_URL, if not gateway_url): rewritten too")
    host_names: tuple[str, ...] = Field(
        default=(), description="names the proxy is reached by besides IP addresses and "
                                "localhost (its --host, if a name; --allow-host): a request "
                                "addressed to another name is refused (DNS rebinding)")
    timeout_s: float = Field(default=30.0, gt=0, le=600,
                             description="seconds to wait for the gateway's answer")

    @field_validator("gateway_url")
    @classmethod
    def _root(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("the gateway URL must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("host_names")
    @classmethod
    def _names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(v.strip().lower() for v in value if v.strip())  # as `browsers.hostname`

    @field_validator("gateway_aliases")
    @classmethod
    def _roots(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(v.rstrip("/") for v in value if v)
