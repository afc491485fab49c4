"""A real gateway (uvicorn in a thread) over a store holding the honest demo journey played onto
the session's anvil chain: sold and unsold cans whose pages and bundles the public scans.

A test module makes it its module fixture with `played_stack`;
`Stack.gateway(**traceability_settings)` serves that store (its client's `flush_scans()` waits
for the gateway's buffered scan writes); `forwarded(ip)` is the header a
trusted reverse proxy in front of the gateway would add for a client at `ip`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger.demo.scenario import Scenario
from tests.scenarios import played_journey

# Public addresses and the country geoip2fast's table places them in (checked by a test).
COUNTRY_IPS = {"CN": "114.114.114.114", "US": "8.8.8.8", "GB": "81.2.69.160",
               "AU": "1.2.3.4", "DE": "85.214.0.1", "JP": "133.0.0.1", "BR": "200.160.0.8",
               "ZA": "196.216.2.1"}
CHINA_IPS = ("114.114.114.114", "101.6.6.6", "180.76.76.76", "36.110.0.1", "124.65.0.1",
             "125.69.0.1", "116.228.0.1")

HTML = {"Accept": "text/html", "Accept-Language": "en"}
# The server-rendered page (the no-JavaScript fallback): a scan recorded with the gateway's own
# verdict. Without it a browser gets the static shell, and its script fetches the proof.
SERVER = {"verdict": "server"}


def forwarded(ip: str) -> dict[str, str]:
    return {"X-Forwarded-For": ip}


def verdict_of(page: Any) -> str:
    assert page.status_code == 200, page.text
    marker = 'data-verdict="'
    start = page.text.index(marker) + len(marker)
    return page.text[start:page.text.index('"', start)]


def path_of(epc: str) -> str:
    return "/" + epc.split("://", 1)[1].split("/", 1)[1]


@dataclass
class Stack:
    scenario: Scenario
    database_url: str
    manifest: Path
    rpc_url: str
    servers: list[Any] = field(default_factory=list)

    def gateway(self, **trace_settings: Any) -> Any:
        """An httpx client of a new gateway process over the played store."""
        import httpx

        from gateway.app import create_app
        from gateway.server import ThreadedServer
        from gateway.settings import GatewaySettings
        from gateway.traceability import TraceabilitySettings

        app = create_app(GatewaySettings(database_url=self.database_url, rpc_url=self.rpc_url,
                                         manifest=self.manifest))
        settings = TraceabilitySettings(**{"scan_burst": 10_000, **trace_settings})
        # Not an override: the resolver's fast path (repeated scans) stands aside for those.
        app.state.traceability_settings = settings
        server = ThreadedServer(app).start()
        # As a browser: a Digital Link answers text/html with a 307 to its consumer page.
        client = httpx.Client(base_url=server.url, timeout=60.0, follow_redirects=True)

        def flush_scans() -> None:
            """Wait until the gateway's buffered scans are in the database (they take up to
            the flush interval): what reads the database directly must not race them."""
            runtime = getattr(app.state, "traceability_runtime", None)
            if runtime is not None:
                runtime.scan_log(app.state.services.store.engine).flush()

        client.flush_scans = flush_scans  # type: ignore[attr-defined]
        self.servers.append((server, client))
        return client

    def unsold_cans(self, product: str = "stage1") -> list[str]:
        lot = next(lot for lot in self.scenario.journey.lots if lot.product == product)
        return [e for e in lot.items if e not in self.scenario.journey.sold]


def played_stack(w3: Any, deployment: Any, tmp: Path, *, days_later: int) -> Iterator[Stack]:
    """Play the journey `days_later` days after the demo's start: lot numbers carry the
    production date, and every module playing onto the session chain needs lots of its own
    (tests/integration/verifier plays days 0 and 40)."""
    with played_journey(w3, deployment, tmp / "store.db", seed=days_later,
                        day=days_later) as sc:
        manifest = tmp / "deployment.json"
        deployment.save(manifest)
        stack = Stack(sc, f"sqlite:///{tmp / 'store.db'}", manifest, w3.provider.endpoint_uri)
        yield stack
        for server, client in stack.servers:
            client.close()
            server.stop()
