"""Verification speed: the library on a warm cache, and through the gateway's resolver over HTTP.

A throwaway devnet gets the contracts and one `ledger.demo.scenario` journey (real signed captures
through the intake, lots on CodeRegistry, anchoring by the AnchorWorker, a customs decision);
the item is a sold stage 1 can, whose journey runs through its case and pallet.

- `verify_lib_per_s`: `verifier.verify` on one core with a warm `ChainView` (chain reads and
  per-block conclusions cached; event hashes and signature recoveries memoised by content),
  the bundle as `ledger.demo.scenario` builds it.
- `verify_http_per_s`, `verify_http_p99_ms`: `GET /01/{gtin}/21/{serial}` with
  Accept: application/json from `zhenzhi serve` (one uvicorn worker), parsed as a bundle and
  verified here (this process: the load comes from outside the gateway), `concurrency`
  requests in flight over keep-alive connections; latency is request start to verdict. The
  requests cycle over every sold can (~450), after one warm-up scan of each
  (`verify_http_cold_pass_per_s`: that first pass, bundles assembled from the store);
  `verify_http_server_cpu_ms_per_request` is the gateway process's CPU per request.

    .venv/bin/python -m bench.verify [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.wire import closed_loop, cpu_seconds, free_port, percentile, run, wait_ready

__all__ = ["measure"]




def _lib(scenario: Any, epc: str, rounds: int) -> dict[str, Any]:
    from ledger.chain.view import ChainView
    from verifier.verify import verify

    bundle = scenario.bundle(epc)
    view = ChainView(scenario.w3, scenario.deployment)  # default staleness: the gateway's
    first = verify(epc, bundle, view)
    start = time.perf_counter()
    for _ in range(rounds):
        verdict = verify(epc, bundle, view)
    elapsed = time.perf_counter() - start
    return {"verify_lib_per_s": round(rounds / elapsed, 1),
            "verify_lib_events": len(bundle.events),
            "verify_lib_captures": len(bundle.captures),
            "verify_lib_verdict": str(verdict.kind), "verify_lib_first_verdict": str(first.kind)}


async def _http(url: str, paths: list[str], view: Any, concurrency: int
                ) -> tuple[float, list[float], list[str]]:
    """A closed loop of `concurrency` keep-alive connections (bench.wire), each sending its next
    GET as soon as the previous bundle is parsed and verified: the time is resolver + verifier."""
    import orjson

    from ledger.proofs.bundle import Bundle
    from verifier.verify import verify

    host_port = url.split("://", 1)[1]
    wire = [f"GET {p} HTTP/1.1\r\nhost: {host_port}\r\naccept: application/json\r\n\r\n".encode()
            for p in paths]
    latencies: list[float] = []
    verdicts: list[str] = []

    def check(start: float, status: int, body: bytes) -> None:
        if status != 200:
            raise RuntimeError(f"the resolver answered {status}: {body[:200]!r}")
        bundle = Bundle.from_json(orjson.loads(body))
        verdicts.append(str(verify(bundle.code, bundle, view).kind))
        latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await closed_loop(url, wire, concurrency, check)
    return time.perf_counter() - start, latencies, verdicts






def measure(*, quick: bool = False, rounds: int | None = None, requests: int | None = None,
            concurrency: int = 16) -> dict[str, Any]:
    from eth_account import Account
    from web3 import Web3

    from ledger.chain.deployment import deploy
    from ledger.chain.transactor import Transactor, anvil_dev_key
    from ledger.chain.view import ChainView
    from ledger.demo.journey import build_journey
    from ledger.demo.scenario import Scenario
    from ledger.paths import DEVNET_DIR
    from ledger.store.store import Store

    rounds = rounds or (2_000 if quick else 20_000)
    # A p99 wants samples: 1,500 even in a quick run (its 15 slowest, not its 5 slowest).
    requests = requests or (1_500 if quick else 3_000)
    devnet = [sys.executable, str(DEVNET_DIR / "devnet")]
    with tempfile.TemporaryDirectory(prefix="zz-bench-verify-") as tmp:
        tmp_path = Path(tmp)
        rpc_port = free_port()
        rpc = f"http://127.0.0.1:{rpc_port}"
        subprocess.run([*devnet, "up", "--port", str(rpc_port), "--dir", str(tmp_path / "net")],
                       check=True, capture_output=True)
        try:
            w3 = Web3(Web3.HTTPProvider(rpc, request_kwargs={"timeout": 30}))
            deployment = deploy(Transactor(w3, Account.from_key(anvil_dev_key(0))), rpc_url=rpc)
            manifest = tmp_path / "deployment.json"
            deployment.save(manifest)
            database = tmp_path / "store.db"
            store = Store(f"sqlite:///{database}")
            store.migrate()
            # 900 stage 1 cans, about 450 sold: 3,000 scans spread over them are a few each,
            # as shoppers scan; 3,000 on a handful of cans would be (rightly) judged clones.
            scenario = Scenario(w3, deployment, store, admin_key=anvil_dev_key(0),
                                journey=build_journey(11, cans=(900, 60)))
            scenario.play()
            cans = scenario.sold_cans()
            out = _lib(scenario, cans[0], rounds)
            store.close()

            port = free_port()
            url = f"http://127.0.0.1:{port}"
            env = {**os.environ, "ZHENZHI_DATABASE_URL": f"sqlite:///{database}",
                   "ZHENZHI_RPC_URL": rpc, "ZHENZHI_MANIFEST": str(manifest),
                   "ZHENZHI_RUN_ANCHOR_WORKER": "false",
                   # One bench client is many shoppers: lift the per-client scan limit.
                   "ZHENZHI_SCAN_BURST": "1000000", "ZHENZHI_SCAN_PER_MINUTE": "100000000"}
            proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--port",
                                     str(port), "--log-level", "warning"], env=env)
            try:
                wait_ready(url, proc)
                distinct = ["/" + c.split("https://id.gs1.org/", 1)[1] for c in cans]
                paths = (distinct * (requests // len(distinct) + 1))[:requests]
                view = ChainView(w3, deployment)
                # Warm both sides with one scan of every can: a gateway serving all day has
                # its items' bundles assembled, the client its per-block chain reads.
                warm_start = time.perf_counter()
                run(_http(url, distinct, view, concurrency))
                warm_s = time.perf_counter() - warm_start
                cpu0 = cpu_seconds(proc.pid)
                elapsed, lat, verdicts = run(_http(url, paths, view, concurrency))
                server_cpu = cpu_seconds(proc.pid) - cpu0
            finally:
                proc.terminate()
                proc.wait(timeout=30)
        finally:
            subprocess.run([*devnet, "down", "--dir", str(tmp_path / "net")], capture_output=True)
    out.update({
        "verify_http_per_s": round(len(paths) / elapsed, 1),
        "verify_http_p50_ms": round((percentile(lat, 0.50) or 0.0) * 1000, 2),
        "verify_http_p99_ms": round((percentile(lat, 0.99) or 0.0) * 1000, 2),
        "verify_http_concurrency": concurrency,
        "verify_http_items": len(cans),
        "verify_http_server_cpu_ms_per_request": round(server_cpu / len(paths) * 1000, 3),
        "verify_http_cold_pass_per_s": round(len(cans) / warm_s, 1),
        "verify_http_verdicts": {v: verdicts.count(v) for v in sorted(set(verdicts))},
    })
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    json.dump(measure(quick=args.quick), sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
