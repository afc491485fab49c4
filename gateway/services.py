"""The gateway's runtime: what the lifespan opens and closes.

Routes reach these through `gateway.deps`; the ledger objects here know nothing of HTTP.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from gateway.settings import GatewaySettings

__all__ = ["Services"]

log = logging.getLogger("zhenzhi.gateway")


@dataclass
class Services:
    settings: GatewaySettings
    store: Any
    chain: Any = None
    chain_view: Any = None
    intake: Any = None
    domain: Any = None
    worker: Any = None
    _closers: list[Any] = field(default_factory=list)

    @classmethod
    def open(cls, settings: GatewaySettings) -> Services:
        """Open the store, connect to the chain and start the anchoring worker if configured."""
        raise NotImplementedError("wired up once ledger.store and ledger.chain land")

    def close(self) -> None:
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception:  # noqa: BLE001 - shutdown must close every resource it can
                log.exception("error while closing %r", closer)
