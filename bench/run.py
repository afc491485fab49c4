"""`scripts/bench`: run every benchmark in one go and write bench/results.json + bench/RESULTS.md.

Each section is one module's `measure(...)`; a section that fails is recorded with its error and
the run goes on, so one broken part never hides the others' figures. Targets come from the
issues; the table says for each figure whether it met its target on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from importlib import import_module, metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent

# figure -> (comparison, target, unit, what it measures)
TARGETS: dict[str, tuple[str, float, str, str]] = {
    "hash_events_per_s": (">=", 0, "events/s", "CBV 2.0 event ids, one core"),
    "hash_speedup_vs_gs1_reference": (">=", 10, "×", "vs epcis-event-hash-generator, same events"),
    "validate_hash_verify_500_events_per_s": (">=", 20_000, "events/s", "signed 500-event capture, one core"),
    "xml_capture_500_events_per_s": (">=", 0, "events/s",
                                     "XML 500-event capture: XSD, convert, hash, commit, recover"),
    "xml_vs_json_capture_ratio": (">=", 0, "×", "XML capture ÷ JSON capture, same events, same run"),
    "capture_single_events_per_s": (">=", 1_000, "events/s", "HTTP single-event signed captures"),
    "capture_single_p99_ms": ("<=", 50, "ms", "p99 of those"),
    "capture_batch_events_per_s": (">=", 15_000, "events/s", "HTTP 500-event captures"),
    "anchor_events_per_s": (">=", 20_000, "events/s", "anchored on anvil, sustained"),
    "anchor_gas_per_event_1024": ("<=", 100, "gas", "per event, 1,024-event batches"),
    "anchor_gas_per_event_4096": ("<=", 30, "gas", "per event, 4,096-event batches"),
    "anchored_vs_naive_speedup": (">=", 50, "×", "vs one transaction per event, same run"),
    "verify_lib_per_s": (">=", 2_000, "/s", "8-event journey, warm cache, one core"),
    "verify_http_per_s": (">=", 1_000, "/s", "resolver JSON + verification"),
    "verify_http_p99_ms": ("<=", 25, "ms", "p99 of those"),
    "scan_proof_per_s": (">=", 0, "/s", "resolver proof JSON, ≥10,000 distinct codes, warm"),
    "scan_proof_p99_ms": ("<=", 25, "ms", "p99 of those"),
    "scan_ceiling_per_s": (">=", 0, "/s", "bare FastAPI app, same bytes, same uvicorn"),
    "scan_proof_vs_ceiling": (">=", 0.5, "×", "proof JSON rate / ceiling rate"),
    "scan_page_per_s": (">=", 0, "/s", "consumer page (text/html)"),
    "scan_page_cache_validated": ("==", 0, "", "page has a validator and answers 304"),
    "browser_verify_ms": ("<=", 300, "ms", "shopper's page in Chromium: verification, chain reads incl."),
    "trace_p95_ms": ("<=", 50, "ms", "item history p95"),
    "recall_scope_s": ("<=", 1, "s", "recall scope, lot with ≥10,000 descendants"),
    "events_in_store": (">=", 0, "events", "store size for the query figures"),
    "sensor_events_in_store": (">=", 0, "events", "store size for the sensor query figures"),
    "sensor_query_page_p50_ms": ("<=", 0, "ms", "EQ_type + GE_value_CEL, first 100 events"),
    "sensor_vs_bizstep_page_ratio": ("<=", 0, "×", "÷ EQ_bizStep first page, same match count"),
    "sensor_query_all_ms": ("<=", 0, "ms", "EQ_type + GE_value_CEL, every match"),
    "sensor_vs_bizstep_all_ratio": ("<=", 0, "×", "÷ EQ_bizStep, every match"),
    "params_worst_vs_bizstep": ("<=", 2, "×", "slowest GET /events parameter family ÷ EQ_bizStep "
                                "(page p95, or reading the matches at bizStep's match count)"),
    "params_worst_page_p95_ms": ("<=", 50, "ms", "slowest family's first page (30 events), p95"),
    "params_bizstep_page_p95_ms": ("<=", 0, "ms", "EQ_bizStep first page (30 events), p95"),
    "params_events_in_store": (">=", 0, "events", "store size for the parameter figures"),
    "evidence_bundle_bytes": ("<=", 0, "bytes", "sealed evidence, 40-event consignment"),
    "evidence_verify_ms": ("<=", 0, "ms", "its offline check (proofs, EVM, verifier)"),
}

Section = Callable[[bool], dict[str, Any]]


def _hashing(quick: bool) -> dict[str, Any]:
    return import_module("bench.hashing").measure(repeat=3 if quick else 7)


def _signing(quick: bool) -> dict[str, Any]:
    return import_module("bench.signing").measure(recoveries=500 if quick else 2000,
                                                  intake_rounds=5 if quick else 20)


class _LocalChain:
    """One throwaway anvil + deployment shared by the sections that need a chain directly."""

    def __init__(self) -> None:
        self.proc: Any = None
        self.w3: Any = None
        self.deployment: Any = None
        self.manifest: Path | None = None

    def get(self) -> tuple[Any, Any]:
        if self.proc is None:
            import tempfile

            from eth_account import Account

            from ledger.chain.deployment import deploy
            from ledger.chain.transactor import Transactor, anvil_dev_key
            from tests.conftest import AnvilProcess, free_port

            self.proc = AnvilProcess(Path(tempfile.mkdtemp(prefix="zhenzhi-bench-")), free_port())
            self.proc.up()
            self.w3 = self.proc.web3()
            self.deployment = deploy(Transactor(self.w3, Account.from_key(anvil_dev_key(0))))
            self.manifest = self.proc.dir / "deployment.json"
            self.deployment.save(self.manifest)
        return self.w3, self.deployment

    def close(self) -> None:
        if self.proc is not None:
            self.proc.down()
            self.proc = None


_chain = _LocalChain()
_CHAIN_SECTIONS = {"gas", "anchoring"}  # the sections that use `_chain`


def _gas(quick: bool) -> dict[str, Any]:
    result = import_module("bench.gas").measure(*_chain.get())
    flat: dict[str, Any] = {"gas": result}
    for n, row in result["anchor"].items():
        flat[f"anchor_gas_per_event_{n}"] = round(row["per_event"], 1)
    flat["register_lot_10000_gas"] = result["register_lot"]["gas"]
    flat["customs_decision_gas"] = result["customs"]["gas"]
    return flat


def _anchoring(quick: bool) -> dict[str, Any]:
    w3, deployment = _chain.get()
    kwargs = {"events": 60_000, "seconds": 20.0, "naive_seconds": 5.0} if quick else {}
    return import_module("bench.anchoring").measure(w3, deployment, _chain.proc.url,
                                                    _chain.manifest, **kwargs)


def _gateway(quick: bool) -> dict[str, Any]:
    """The production layout (`zhenzhi serve --workers <cores>` when Redis is there); the full
    run adds one process's figures under `one_worker`."""
    mod = import_module("bench.gateway")
    workers = mod.default_workers()
    if quick:
        return mod.measure(single=1500, batches=8, workers=workers)
    out = mod.measure(workers=workers)
    if workers > 1:
        one = mod.measure(workers=1)
        out["one_worker"] = {k: v for k, v in one.items()
                             if k.startswith("capture_") and not k.endswith("_non_202")}
    return out


def _queries(quick: bool) -> dict[str, Any]:
    mod = import_module("bench.queries")
    return mod.measure(quick=quick)


def _sensor(quick: bool) -> dict[str, Any]:
    return import_module("bench.sensor").measure(quick=quick)


def _params(quick: bool) -> dict[str, Any]:
    return import_module("bench.params").measure(quick=quick)


def _listing(quick: bool) -> dict[str, Any]:
    return import_module("bench.listing").measure(100_000 if quick else 1_000_000)


def _verify(quick: bool) -> dict[str, Any]:
    return import_module("bench.verify").measure(quick=quick)


def _scan(quick: bool) -> dict[str, Any]:
    return import_module("bench.scan").measure(quick=quick)


def _xml(quick: bool) -> dict[str, Any]:
    return import_module("bench.xml_capture").measure(rounds=4 if quick else 12)


def _evidence(quick: bool) -> dict[str, Any]:
    return import_module("bench.evidence").measure(rounds=3 if quick else 7)


SECTIONS: dict[str, Section] = {
    "hashing": _hashing,
    "signing": _signing,
    "gas": _gas,
    "anchoring": _anchoring,
    "gateway": _gateway,
    "verify": _verify,
    "scan": _scan,
    "evidence": _evidence,
    "queries": _queries,
    "sensor": _sensor,
    "params": _params,
    "listing": _listing,
    "xml": _xml,
}


def speed_probe() -> float:
    """Seconds this machine takes for 10 million pure-Python additions: the same code's
    figures move with its speed (on these shared 2-core machines it changed by half within an
    hour), so each run records it at its start and end to make runs comparable."""
    start = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return round(time.perf_counter() - start, 2)


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for pkg in ("zhenzhi", "web3", "sqlalchemy", "fastapi", "uvicorn", "coincurve",
                "epcis-event-hash-generator"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    versions["python"] = platform.python_version()
    index = BENCH_DIR.parent / "contracts" / "build" / "index.json"
    if index.exists():
        versions["solc"] = json.loads(index.read_text()).get("solcVersion")
    return {"cores": os.cpu_count(), "cpu_model": cpu, "platform": platform.platform(),
            "versions": versions}


def verdict(key: str, value: Any) -> str:
    if key not in TARGETS or not isinstance(value, int | float) or isinstance(value, bool):
        return ""
    op, target, _, _ = TARGETS[key]
    if target == 0:
        return ""
    ok = value >= target if op == ">=" else value <= target
    return "met" if ok else "MISSED"


def render(results: dict[str, Any]) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"{results['machine']['cores']} cores, {results['machine']['cpu_model']}; "
        f"{'quick' if results['quick'] else 'full'} run of {results['duration_s']} s on "
        f"{results['finished_at']}.",
    ]
    probe = results["machine"].get("speed_probe_s")
    if probe:
        lines.append(f"CPU speed probe (10 million Python additions, lower is faster): "
                     f"{probe['start']} s at the start, {probe['end']} s at the end.")
    lines += [
        "",
        "| figure | value | target | | what |",
        "|---|---|---|---|---|",
    ]
    for key, (op, target, unit, what) in TARGETS.items():
        value = results.get(key)
        shown = ("—" if value is None else str(value).lower() if isinstance(value, bool)
                 else f"{value:,}" if isinstance(value, int | float) else str(value))
        tgt = "" if target == 0 else f"{op} {target:,} {unit}"
        lines.append(f"| `{key}` | {shown} | {tgt} | {verdict(key, value)} | {what} |")
    gateway = results.get("sections", {}).get("gateway")
    if gateway:
        n = gateway.get("gateway_workers", 1)
        lines += ["", f"Capture figures: `zhenzhi serve --workers {n}` ({n} gateway "
                      f"process{'es' if n > 1 else ''}, SQLite store), the anchoring worker in "
                      f"its own process, the load generator a third process on the same "
                      f"{results['machine']['cores']} cores."]
        one = gateway.get("one_worker")
        if one:
            lines.append(
                f"With one gateway process: single {one['capture_single_events_per_s']:,} "
                f"events/s, p99 {one['capture_single_p99_ms']} ms; 500-event captures "
                f"{one['capture_batch_events_per_s']:,} events/s.")
    params = results.get("sections", {}).get("params")
    if params:
        lines += ["", f"`GET /events` parameters on {params['params_events_in_store']:,} journey "
                      f"events (`bench.params`), {params['params_samples']} values each: first "
                      f"page of {params['params_per_page']}, then up to 5,000 matches; × bizStep "
                      f"is the larger of the page p95 ratio and the read ratio at bizStep's "
                      f"match count.", "",
                  "| parameter | page p50 ms | page p95 ms | matches p50 | read p95 ms "
                  "| × bizStep |", "|---|---|---|---|---|---|"]
        for key, parameter in params.items():
            if key.endswith("_parameter"):
                k = key.removesuffix("_parameter")
                lines.append(f"| `{parameter}` | {params[k + '_page_p50_ms']} | "
                             f"{params[k + '_page_p95_ms']} | {params[k + '_matches_p50']:,} | "
                             f"{params[k + '_all_p95_ms']} | {params[k + '_vs_bizstep']} |")
        if params.get("params_absent"):
            lines += ["", "Offered, but the stream holds nothing they match: "
                      + ", ".join(f"`{p}`" for p in params["params_absent"]) + "."]
        lines += ["", "Not offered by the gateway (400), so not timed: "
                  + ", ".join(f"`{p}`" for p in params["params_not_offered"]) + "."]
    errors = results.get("errors", {})
    if errors:
        lines += ["", "Sections that failed:", ""]
        lines += [f"- {name}: {msg}" for name, msg in errors.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, under 5 minutes")
    parser.add_argument("--only", action="append", choices=sorted(SECTIONS), help="run only these")
    parser.add_argument("--out", type=Path, default=BENCH_DIR)
    args = parser.parse_args(argv)

    started = time.monotonic()
    results: dict[str, Any] = {"quick": args.quick, "machine": machine(), "sections": {},
                               "errors": {}}
    probe_start = speed_probe()
    names = args.only or list(SECTIONS)
    for i, name in enumerate(names):
        if not _CHAIN_SECTIONS & set(names[i:]):
            # The shared anvil persists its state every second, and after the anchoring run
            # that state is large: left running it would take CPU from every later section.
            _chain.close()
        print(f"==> {name}", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        try:
            figures = SECTIONS[name](args.quick)
        except Exception as exc:  # noqa: BLE001 - one broken section must not hide the others
            traceback.print_exc()
            results["errors"][name] = f"{type(exc).__name__}: {exc}".splitlines()[0]
            continue
        figures["section_s"] = round(time.monotonic() - t0, 1)
        results["sections"][name] = figures
        for key in TARGETS:
            if key in figures:
                results[key] = figures[key]
        print(f"    {name}: {figures['section_s']} s", file=sys.stderr, flush=True)
    _chain.close()
    results["machine"]["speed_probe_s"] = {"start": probe_start, "end": speed_probe()}
    results["duration_s"] = round(time.monotonic() - started, 1)
    results["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for key in TARGETS:
        results.setdefault(key, None)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    table = render(results)
    (args.out / "RESULTS.md").write_text(table)
    print(table)
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
