"""What the demo prints when it has played: what it did, and the URLs and files to open."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.demo.story import DemoResult

__all__ = ["print_summary"]


def print_summary(console: Any, result: DemoResult, base: str, var: Path) -> None:
    from rich.panel import Panel
    from rich.table import Table

    c = result.counts
    what = Table.grid(padding=(0, 2))
    what.add_row("consortium", f"{c.get('members', 0)} organisations admitted on Consortium "
                               f"(keys: {var / 'keys'}, passphrase in keys/.passphrase, 0600)")
    what.add_row("events", f"{c.get('events', 0)} signed EPCIS events in {c.get('captures', 0)} "
                           "captures, all anchored on TraceAnchor")
    what.add_row("codes", f"{c.get('codes', 0)} item codes in {c.get('lots', 0)} lots on "
                          "CodeRegistry")
    for k in result.consignments:
        fate = ("released" if k.get("released") else "held at the port")
        rules = f"rules: {', '.join(k['rules'])}; " if k.get("rules") else ""
        what.add_row("customs", f"{k['ref']}: {k['decision']} (score {k.get('score')}, "
                                f"{rules}inspection {k['inspection']}) → {fate}")
    what.add_row("consumers", f"{c.get('scans', 0)} scans, {c.get('complaints', 0)} complaints, "
                              f"{c.get('recalls', 0)} recall")
    if c.get("seconds") is not None:
        what.add_row("time", f"{c['seconds']} s")
    title = "reused from var/demo.json" if result.reused else "what it did"
    console.print(Panel(what, title=f"[bold]Zhenzhi demo — {title}", expand=False))

    # URLs whole, one per line: a table would wrap or truncate them, and they are for copying.
    items = result.items
    rows = [
        ("genuine can", base + items["genuine"]["path"],
         f"{items['genuine']['verdict']}: its journey NZ → Nansha customs → bonded warehouse → "
         "sale, and every check the verifier made"),
        ("cloned code", base + items["clone"]["path"],
         f"{items['clone']['verdict']}: the same code scanned in 4 countries after its sale"),
        ("recalled can", base + items["recalled"]["path"],
         f"{items['recalled']['verdict']}: the recall banner for its lot"),
        *([("chilled butter", base + items["chilled"]["path"],
            f"{items['chilled']['verdict']}: its cold-chain section — the brand's 0–4 °C and the "
            "reefer's four hours at 9 °C at the Nansha berth, from the carrier's signed log")]
          if "chilled" in items else []),
        ("console", base + "/console",
         "members, credit grades, anchoring lag, customs decisions, complaints, recalls, "
         f"charts. Log in with a key file: {var / 'keys'}/regulator.json (regulator), "
         "customs.json (customs), or any organisation's, and the passphrase in "
         "keys/.passphrase; or a wallet holding a member's key"),
        ("brand console", base + "/console/brand",
         f"log in as the brand with {var / 'keys'}/manufacturer.json and keys/.passphrase "
         "(or a wallet holding that key), unlock the same file on the page: issue a lot's codes, "
         "sign its registration, print labels, see clone alerts, reply to complaints"),
        ("operator", base + "/console/operator",
         "log in as the consortium operator with a wallet holding the devnet deployer's key "
         "(anvil account 0): members, keys, proposals (propose / approve / execute), anchoring"),
        ("customs", base + "/console/customs",
         f"log in with {var / 'keys'}/customs.json (or a wallet holding its key): the queue by "
         "risk; decide and record inspections, signed with that key (unlock it in the page)"),
        ("regulator", base + "/console/regulator",
         f"log in with {var / 'keys'}/regulator.json: grades, blacklist, recall a lot and its "
         "scope, signed with that key"),
        ("API docs", base + "/docs", "the EPCIS 2.0 REST binding and the traceability API"),
    ]
    console.print("[bold]Open:[/]")
    for name, url, what in rows:
        console.print(f"  [bold]{name:<14}[/] {url}", soft_wrap=True)
        console.print(f"  {'':<14} [dim]{what}[/]")
    sheets = [p for p in result.labels if p.endswith(".pdf")]
    console.print(f"QR labels: {var / 'labels'} ({len(sheets)} lot sheets as PDF; the "
                  f"{len(items)} items above as PNG and SVG, e.g. item-genuine.png)")
    console.print("Stop: Ctrl-C (the chain keeps running: hardhat-free-devnet/devnet down "
                  "--dir var/devnet). Start over: scripts/run --reset")
