"""The scan path as a consumer gets it (issue 17 item 5): the resolver over many distinct codes,
against the ceiling of a bare app serving the same bytes under the same server.

A throwaway devnet gets the contracts and one `ledger.demo.scenario` journey scaled up to
`codes` cans (both finished lots; real signed captures through the intake, lots on
CodeRegistry, anchoring by the AnchorWorker, a customs decision). Every can is a distinct code
with its own proof. `zhenzhi serve` (one uvicorn worker, SQLite store) then answers
`GET /01/{gtin}/21/{serial}` over `concurrency` keep-alive connections in a closed loop
(`bench.wire`), the load generator in this process on the same cores:

- `scan_proof_cold_*`: the first pass over every code with `Accept: application/json` (each
  proof assembled from the store);
- `scan_proof_per_s`, `scan_proof_p50_ms`, `scan_proof_p99_ms`: then `passes` more passes over
  every code, what a gateway serving all day does; latency is request start to last byte;
- `scan_ceiling_per_s`: `bench.scan_ceiling`, a bare FastAPI app answering each path with the
  bytes the gateway gave for it (same content type and Vary), under uvicorn with the settings
  of `zhenzhi serve`, the same request sequence; `scan_proof_vs_ceiling` the ratio;
- `scan_page_per_s`: the consumer page (`Accept: text/html`, at `/pip/…`: the Digital Link
  itself answers a browser with a 307 to it) over the first `page_codes` codes, one pass;
  `scan_page_validator` / `scan_page_cache_validated`: whether the page carries an ETag or
  Last-Modified and a conditional GET of it answers 304.

- `browser_verify_ms`: the shopper's page in headless Chromium (390×844, the gateway's shell,
  `verify.js` and config): the median over `browser_runs` sold cans of the time the page's own
  verification took (`zhenzhiResult.ms`: disclosures, Merkle paths, signatures and every chain
  read, batched, against the devnet node), each can on a fresh page; `browser_verify_events`
  the events its proof holds, `browser_page_ms` navigation to verdict shown (median), and
  `browser_verify_ms_per_probe_s` the median over the CPU probe of the moment, for comparing
  machines. Needs Chromium (`ZHENZHI_CHROMIUM`, else /usr/bin/chromium): without, None.

`scan_speed_probe_s` is `bench.run.speed_probe` before and after the section.

    .venv/bin/python -m bench.scan [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.wire import closed_loop, cpu_seconds, free_port, percentile, run, wait_ready

__all__ = ["measure"]


async def _pass(url: str, paths: list[str], accept: str, concurrency: int,
                keep: dict[str, bytes] | None = None) -> tuple[float, list[float]]:
    """One closed-loop run over `paths`; `keep` gets each path's last body."""
    host_port = url.split("://", 1)[1]
    wire = [f"GET {p} HTTP/1.1\r\nhost: {host_port}\r\naccept: {accept}\r\n\r\n".encode()
            for p in paths]
    latencies: list[float] = []

    def check(start: float, status: int, body: bytes) -> None:
        latencies.append(time.perf_counter() - start)
        if status != 200:
            raise RuntimeError(f"{url} answered {status}: {body[:200]!r}")

    bodies: dict[bytes, bytes] | None = None if keep is None else {}
    start = time.perf_counter()
    await closed_loop(url, wire, concurrency, check, bodies=bodies)
    elapsed = time.perf_counter() - start
    if keep is not None and bodies is not None:
        keep.update((p, bodies[raw]) for raw, p in zip(wire, paths, strict=True))
    return elapsed, latencies


def _figures(prefix: str, n: int, elapsed: float, lat: list[float]) -> dict[str, Any]:
    return {f"{prefix}_per_s": round(n / elapsed, 1),
            f"{prefix}_p50_ms": round((percentile(lat, 0.50) or 0.0) * 1000, 2),
            f"{prefix}_p99_ms": round((percentile(lat, 0.99) or 0.0) * 1000, 2)}


def _validated(url: str, path: str) -> dict[str, Any]:
    """Does the page carry a validator, and does a conditional GET of it answer 304?"""
    import httpx

    headers = {"accept": "text/html"}
    first = httpx.get(url + path, headers=headers, timeout=30)
    etag, modified = first.headers.get("etag"), first.headers.get("last-modified")
    out: dict[str, Any] = {"scan_page_status": first.status_code,
                           "scan_page_validator": "ETag" if etag else
                           "Last-Modified" if modified else None,
                           "scan_page_cache_control": first.headers.get("cache-control")}
    status = None
    if etag or modified:
        cond = dict(headers)
        if etag:
            cond["if-none-match"] = etag
        if modified:
            cond["if-modified-since"] = modified
        status = httpx.get(url + path, headers=cond, timeout=30).status_code
    out["scan_page_conditional_status"] = status
    out["scan_page_cache_validated"] = status == 304
    return out


def _serve(argv: list[str], env: dict[str, str], url: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv, env=env)
    try:
        wait_ready(url, proc)
    except BaseException:
        proc.terminate()
        proc.wait(timeout=30)
        raise
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _js_hot(profiles: list[dict[str, Any]], top: int = 30) -> dict[str, list[tuple[float, str]]]:
    """The functions that took the most of the pages' time, in ms summed over the pages, from
    CDP CPU profiles (`Profiler.stop`): `self` (in the function itself) and `total` (with
    what it called)."""
    own: dict[str, float] = {}
    total: dict[str, float] = {}
    for prof in profiles:
        nodes = {n["id"]: n for n in prof["nodes"]}
        parent = {c: n["id"] for n in prof["nodes"] for c in n.get("children", ())}

        def name(node_id: int, nodes: dict[int, Any] = nodes) -> str:
            frame = nodes[node_id]["callFrame"]
            return (f"{frame['functionName'] or '(anonymous)'} "
                    f"{frame['url'].rsplit('/', 1)[-1]}:{frame['lineNumber'] + 1}")

        deltas = prof.get("timeDeltas") or []
        for sample, delta in zip(prof.get("samples") or [], deltas[1:] + [0], strict=False):
            ms = delta / 1000
            own[name(sample)] = own.get(name(sample), 0.0) + ms
            seen, node = set(), sample
            while node is not None:  # each function once per sample, however deep it recurses
                seen.add(name(node))
                node = parent.get(node)
            for key in seen:
                total[key] = total.get(key, 0.0) + ms

    def ranked(spent: dict[str, float]) -> list[tuple[float, str]]:
        return sorted(((round(ms, 1), key) for key, ms in spent.items()), reverse=True)[:top]

    return {"self": ranked(own), "total": ranked(total)}


def _browser_verify(url: str, paths: list[str], runs: int,
                    js_profile: bool = False) -> dict[str, Any]:
    """The shopper's page verifying proofs in headless Chromium (see the module docstring).
    `js_profile`: also take a CPU profile of each timed page and report the hottest functions
    under `browser_js_hot` (the profiler slows the pages: figures of such a run are not the
    bench's)."""
    from statistics import median

    from bench.run import speed_probe

    chromium = os.environ.get("ZHENZHI_CHROMIUM") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        return {"browser_verify_ms": None, "browser_verify_note": f"no Chromium at {chromium}"}
    from playwright.sync_api import sync_playwright

    probe = speed_probe()
    verify_ms, page_ms, events, verdicts = [], [], [], set()
    profiles: list[dict[str, Any]] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            # One page first, untimed: the browser's own start-up and first compile.
            for n, path in enumerate([paths[0], *paths[:runs]]):
                page = browser.new_page(viewport={"width": 390, "height": 844})
                cdp = None
                if js_profile and n:
                    cdp = page.context.new_cdp_session(page)
                    cdp.send("Profiler.enable")
                    cdp.send("Profiler.setSamplingInterval", {"interval": 100})
                    cdp.send("Profiler.start")
                start = time.perf_counter()
                page.goto(url + path, wait_until="load")
                page.wait_for_selector("body[data-state=done]", timeout=60_000)
                shown = (time.perf_counter() - start) * 1000
                if cdp is not None:
                    profiles.append(cdp.send("Profiler.stop")["profile"])
                result = page.evaluate("""() => ({ms: window.zhenzhiResult.ms,
                    verdict: window.zhenzhiResult.verdict,
                    events: window.zhenzhiResult.profile ? window.zhenzhiResult.profile.eventCount : 0})""")
                page.close()
                if n == 0:
                    continue
                verify_ms.append(result["ms"])
                page_ms.append(shown)
                events.append(result["events"])
                verdicts.add(result["verdict"])
        finally:
            browser.close()
    out = {"browser_verify_ms": round(median(verify_ms), 1),
           "browser_verify_ms_max": round(max(verify_ms), 1),
           "browser_page_ms": round(median(page_ms), 1),
           "browser_verify_runs": len(verify_ms),
           "browser_verify_events": int(median(events)),
           "browser_verify_verdicts": sorted(verdicts),
           "browser_speed_probe_s": probe}
    out["browser_verify_ms_per_probe_s"] = round(out["browser_verify_ms"] / probe, 1)
    if profiles:
        out["browser_js_hot"] = _js_hot(profiles)
    return out


def measure(*, quick: bool = False, codes: int | None = None, passes: int | None = None,
            page_codes: int | None = None, concurrency: int = 16,
            profile: Path | None = None, browser_runs: int | None = None,
            js_profile: bool = False) -> dict[str, Any]:
    """`profile`: run the gateway under cProfile (its event loop thread, where cached proofs
    are served), write the stats there, and measure the proof JSON only."""
    from eth_account import Account
    from web3 import Web3

    from bench.run import speed_probe
    from ledger.chain.deployment import deploy
    from ledger.chain.transactor import Transactor, anvil_dev_key
    from ledger.demo.journey import build_journey
    from ledger.demo.scenario import Scenario
    from ledger.paths import DEVNET_DIR
    from ledger.store.store import Store

    codes = codes or (1_000 if quick else 10_000)
    passes = passes or (3 if quick else 2)
    page_codes = page_codes or (300 if quick else 1_000)
    browser_runs = browser_runs or (5 if quick else 9)
    probe_start = speed_probe()
    out: dict[str, Any] = {}
    devnet = [sys.executable, str(DEVNET_DIR / "devnet")]
    with tempfile.TemporaryDirectory(prefix="zz-bench-scan-") as tmp:
        tmp_path = Path(tmp)
        rpc_port = free_port()
        rpc = f"http://127.0.0.1:{rpc_port}"
        setup_start = time.perf_counter()
        subprocess.run([*devnet, "up", "--port", str(rpc_port), "--dir", str(tmp_path / "net")],
                       check=True, capture_output=True)
        try:
            w3 = Web3(Web3.HTTPProvider(rpc, request_kwargs={"timeout": 60}))
            deployment = deploy(Transactor(w3, Account.from_key(anvil_dev_key(0))), rpc_url=rpc)
            manifest = tmp_path / "deployment.json"
            deployment.save(manifest)
            database = tmp_path / "store.db"
            store = Store(f"sqlite:///{database}")
            store.migrate()
            half = (codes + 1) // 2
            play_start = time.perf_counter()
            journey = build_journey(17, cans=(half, codes - half))
            # Documents are cut per organisation every 500 events: at this size the
            # platform's first sales document fills up before the warehouse's document with
            # the receiving (which names the platform as the goods' owner) does, and the
            # intake rightly refuses sales by an organisation not yet named. Captured in the
            # order their first events happened, as parties capturing live would.
            journey = replace(journey, captures=tuple(sorted(
                journey.captures, key=lambda c: min(datetime.fromisoformat(e["eventTime"])
                                                    for e in c.events))))
            scenario = Scenario(w3, deployment, store, admin_key=anvil_dev_key(0),
                                journey=journey)
            scenario.play()
            out["scan_setup_play_s"] = round(time.perf_counter() - play_start, 1)
            items = [e for lot in scenario.journey.lots for e in lot.items]
            out["scan_codes"] = len(items)
            out["scan_events"] = sum(len(c.events) for c in scenario.journey.captures)
            store.close()
            out["scan_setup_s"] = round(time.perf_counter() - setup_start, 1)

            paths = ["/" + c.split("https://id.gs1.org/", 1)[1] for c in items]
            env = {**os.environ, "ZHENZHI_DATABASE_URL": f"sqlite:///{database}",
                   "ZHENZHI_RPC_URL": rpc, "ZHENZHI_MANIFEST": str(manifest),
                   "ZHENZHI_RUN_ANCHOR_WORKER": "false",
                   # One bench client is many shoppers: lift the per-client scan limit.
                   "ZHENZHI_SCAN_BURST": "1000000", "ZHENZHI_SCAN_PER_MINUTE": "100000000"}
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            python = [sys.executable, *(["-m", "bench.profiled", str(profile)] if profile
                                        else ["-m"])]
            proc = _serve([*python, "gateway.cli", "serve", "--port", str(port),
                           "--log-level", "warning"], env, url)
            bodies: dict[str, bytes] = {}
            warm = paths * passes
            try:
                elapsed, lat = run(_pass(url, paths, "application/json", concurrency))
                out.update(_figures("scan_proof_cold", len(paths), elapsed, lat))
                cpu0 = cpu_seconds(proc.pid)
                elapsed, lat = run(_pass(url, warm, "application/json", concurrency, bodies))
                cpu = cpu_seconds(proc.pid) - cpu0
                out.update(_figures("scan_proof", len(warm), elapsed, lat))
                out["scan_proof_requests"] = len(warm)
                out["scan_proof_server_cpu_ms_per_request"] = round(cpu / len(warm) * 1000, 3)
                out["scan_proof_body_bytes_median"] = sorted(map(len, bodies.values()))[
                    len(bodies) // 2]
                if profile:
                    import signal

                    proc.send_signal(signal.SIGUSR1)  # bench.profiled writes and exits
                    proc.wait(timeout=60)
                    return out
                import httpx

                sample = httpx.get(url + paths[0], headers={"accept": "application/json"},
                                   timeout=30)
                media_type = sample.headers["content-type"]
                headers = {k: v for k, v in sample.headers.items() if k.lower() == "vary"}
                page = ["/pip" + p for p in paths[:page_codes]]
                elapsed, lat = run(_pass(url, page, "text/html", concurrency))
                out.update(_figures("scan_page", len(page), elapsed, lat))
                out.update(_validated(url, page[0]))
                sold = ["/" + c.split("https://id.gs1.org/", 1)[1] for c in items
                        if c in scenario.journey.sold]
                out.update(_browser_verify(url, sold, browser_runs, js_profile))
            finally:
                _stop(proc)

            blob = tmp_path / "bodies.pickle"
            blob.write_bytes(pickle.dumps({p: (b, media_type, headers)
                                           for p, b in bodies.items()}))
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            proc = _serve([sys.executable, "-m", "bench.scan_ceiling", str(blob), str(port),
                           "warning"], env, url)
            try:
                run(_pass(url, paths, "application/json", concurrency))  # same warm-up
                cpu0 = cpu_seconds(proc.pid)
                elapsed, lat = run(_pass(url, warm, "application/json", concurrency))
                cpu = cpu_seconds(proc.pid) - cpu0
                out.update(_figures("scan_ceiling", len(warm), elapsed, lat))
                out["scan_ceiling_server_cpu_ms_per_request"] = round(cpu / len(warm) * 1000, 3)
            finally:
                _stop(proc)
        finally:
            subprocess.run([*devnet, "down", "--dir", str(tmp_path / "net")], capture_output=True)
    out["scan_proof_vs_ceiling"] = round(out["scan_proof_per_s"] / out["scan_ceiling_per_s"], 3)
    out["scan_concurrency"] = concurrency
    out["scan_speed_probe_s"] = {"start": probe_start, "end": speed_probe()}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--codes", type=int)
    parser.add_argument("--profile", type=Path, help="cProfile the gateway; proof JSON only")
    parser.add_argument("--js-profile", action="store_true",
                        help="CPU-profile the browser verification; the hottest functions "
                             "under browser_js_hot")
    args = parser.parse_args(argv)
    json.dump(measure(quick=args.quick, codes=args.codes, profile=args.profile,
                      js_profile=args.js_profile), sys.stdout,
              indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
