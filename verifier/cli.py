"""`zhenzhi verify` and `zhenzhi evidence`: check an item against the chain, export its proofs.

    zhenzhi verify <digital-link-uri | qr-image.png> [--gateway URL] [--rpc URL] [--manifest F] [--json]
    zhenzhi verify --bundle bundle.json --rpc URL          # re-check an exported bundle (arbitration)
    zhenzhi evidence <code> -o bundle.json [--gateway URL | --database URL --rpc URL --manifest F]
    zhenzhi evidence <code> -o sealed.json --offline [--gateway URL | --database URL] --rpc URL --manifest F
    zhenzhi evidence item <code> ...                        # the same, named
    zhenzhi evidence consignment <ref> -o F [--offline] [--for bank] --database URL --rpc URL --manifest F
    zhenzhi verify-evidence sealed.json [--trust BLOCKHASH] [--manifest F] [--json] [--pdf report.pdf]   # no network

`evidence --offline` writes sealed evidence (`ledger.evidence.sealed`): the bundle with an
Ethereum state proof, at one pinned block, for every chain fact the verifier reads, so that
`verify-evidence` checks it with no node at all (it has no --rpc option). Its verdict is judged
at the pinned block's time and is UNVERIFIED until `--trust` (the block hash, confirmed on a
consortium node) and `--manifest` (the consortium's deployment) both match; a refused file
exits 1 with the place that failed.

`evidence --database` assembles the bundle from a store with `ledger.evidence.item.assemble`,
the function the gateway's resolver serves: events traced through containers and
transformations, the lot registration, customs decisions, scans.

The verifier talks to a gateway only over plain HTTP (httpx) and never imports it: the bundle
it gets is evidence to check, not an answer. Exit status: 0 only for GENUINE, so scripts can
gate on it; 2 UNVERIFIED, 3 RECALLED, 4 SUSPECTED_CLONE, 5 COUNTERFEIT, 1 for errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.cli.chain_options import DEFAULT_MANIFEST, DEFAULT_RPC, ManifestOption, RpcOption
from ledger.cli.output import console, fail, print_json
from ledger.errors import LedgerError

EXIT_CODES = {"GENUINE": 0, "UNVERIFIED": 2, "RECALLED": 3, "SUSPECTED_CLONE": 4,
              "COUNTERFEIT": 5}
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp"}
GatewayOption = Annotated[str | None, typer.Option("--gateway", envvar="ZHENZHI_GATEWAY_URL",
                                                   help="gateway base URL to fetch evidence from")]


def decode_image(path: Path) -> str:
    """The text of the first QR / Data Matrix symbol in an image (zxing-cpp)."""
    import zxingcpp
    from PIL import Image

    with Image.open(path) as img:
        found = zxingcpp.read_barcodes(img.convert("L"))
    if not found:
        fail(f"no barcode found in {path}")
    return str(found[0].text)


def fetch_bundle(gateway: str, code: str):
    """The gateway resolver's JSON for `code` (Accept: application/json), as a Bundle."""
    import httpx  # noqa: I001 - ledger.epcis.gs1 is first-party once it lands

    from ledger.proofs.bundle import Bundle
    from ledger.epcis.gs1 import DigitalLink

    link = DigitalLink.parse(code)
    url = f"{gateway.rstrip('/')}/{link.key()}"
    try:
        resp = httpx.get(url, headers={"Accept": "application/json"}, timeout=30)
    except httpx.HTTPError as exc:
        fail(f"cannot reach the gateway at {gateway} ({type(exc).__name__})")
    if resp.status_code == 404:
        return None  # the gateway knows nothing of the code: the verifier decides what that means
    if resp.status_code != 200:
        fail(f"gateway answered {resp.status_code} for {url}")
    body = resp.json()
    # The resolver may wrap the bundle beside its own verdict; only the bundle is evidence.
    return Bundle.from_json(body.get("bundle", body) if isinstance(body, dict) else body)


def _chain_view(rpc: str, manifest: Path):
    from ledger.chain.deployment import Deployment
    from ledger.chain.view import ChainView
    from ledger.cli.chain_options import web3_for

    w3 = web3_for(rpc)
    deployment = Deployment.load(manifest)
    try:
        actual = int(w3.eth.chain_id)
    except Exception as exc:  # noqa: BLE001 - any transport failure is the same to the user
        fail(f"cannot reach a chain at {rpc} ({type(exc).__name__}); pass --rpc")
    if actual != deployment.chainId:
        fail(f"the chain at {rpc} is chain {actual}, the manifest is for {deployment.chainId}")
    # Every read asks the node, and a node that stops answering fails the verification.
    return ChainView(w3, deployment, max_staleness=0, stale_if_error=0)


def register(app: typer.Typer) -> None:
    @app.command("verify")
    def verify_cmd(
        target: Annotated[str | None, typer.Argument(help="Digital Link URI or a QR image file")] = None,
        bundle_file: Annotated[Path | None, typer.Option("--bundle", help="evidence bundle (JSON) to re-check")] = None,
        gateway: GatewayOption = None,
        rpc: RpcOption = DEFAULT_RPC,
        manifest: ManifestOption = DEFAULT_MANIFEST,
        witness: Annotated[list[str] | None, typer.Option(
            "--witness-rpc", help="another node that must hold the same block (repeat); "
                                  "GENUINE only if every one agrees")] = None,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Verify an item against the chain; exit 0 only if it is GENUINE."""
        from ledger.proofs.bundle import Bundle
        from verifier.verify import verify

        try:
            bundle = None
            if bundle_file is not None:
                if not Path(bundle_file).is_file():
                    fail(f"no evidence bundle at {bundle_file}")
                bundle = Bundle.loads(Path(bundle_file).read_bytes())
            code = target
            if code and Path(code).suffix.lower() in _IMAGE_SUFFIXES and Path(code).exists():
                code = decode_image(Path(code))
            code = code or (bundle.code if bundle else None)
            if not code:
                fail("give a Digital Link URI, a QR image or --bundle")
            if bundle is None and gateway:
                bundle = fetch_bundle(gateway, code)
            from ledger.cli.chain_options import web3_for

            verdict = verify(code, bundle, _chain_view(rpc, manifest),
                             witnesses=[web3_for(url) for url in witness or ()])
        except LedgerError as exc:
            fail(str(exc))
        if as_json:
            print_json(verdict.to_json())
        else:
            style = "green" if verdict.genuine else "red"
            console.print(f"[bold {style}]{verdict.kind}[/] {verdict.code}: {verdict.reason}")
            for c in verdict.checks:
                mark = {"PASS": "✓", "FAIL": "✗", "MISSING": "?", "SKIPPED": "-"}[str(c.outcome)]
                console.print(f"  {mark} {c.name:18} {c.reason}")
        raise typer.Exit(EXIT_CODES[str(verdict.kind)])

    @app.command("evidence")
    def evidence_cmd(
        what: Annotated[str, typer.Argument(
            help="`item`, `consignment`, or an item's Digital Link URI (same as `item URI`)")],
        output: Annotated[Path, typer.Option("-o", "--output", help="where to write the bundle")],
        ident: Annotated[str | None, typer.Argument(
            help="the item's Digital Link URI, or the consignment's customs reference")] = None,
        gateway: GatewayOption = None,
        database: Annotated[str | None, typer.Option("--database", envvar="ZHENZHI_DATABASE_URL",
                                                     help="store URL (instead of a gateway)")] = None,
        rpc: RpcOption = DEFAULT_RPC,
        manifest: ManifestOption = DEFAULT_MANIFEST,
        offline: Annotated[bool, typer.Option(
            "--offline", help="seal it with state proofs at the node's head: checkable with no "
                              "node (zhenzhi verify-evidence)")] = False,
        for_: Annotated[str, typer.Option(
            "--for", help="consignments: `members` (full events) or `bank` (the trade view: "
                          "trade documents, stages, times, places, parties, the consignment's "
                          "EPCs; nothing else)")] = "members",
    ) -> None:
        """Export everything needed to re-verify an item or a consignment against any node (or,
        with --offline, against none)."""
        from ledger.proofs.bundle import ChainRef

        if what in ("item", "consignment"):
            if ident is None:
                fail(f"give the {'Digital Link URI' if what == 'item' else 'customs reference'} "
                     f"after `{what}`")
            kind, target = what, ident
        elif ident is None:
            kind, target = "item", what  # the original form: zhenzhi evidence <uri>
        else:
            fail(f"unknown evidence kind {what!r}: item or consignment")
        if for_ not in ("members", "bank"):
            fail("--for is members or bank")
        bundle: Any
        try:
            if kind == "consignment":
                if not database:
                    fail("consignment evidence is assembled from a store: give --database URL "
                         "(over HTTP it is the member-signed GET /consignments/{id}/evidence)")
                from ledger.evidence.consignment import assemble_consignment
                from ledger.store.store import Store

                view = _chain_view(rpc, manifest)
                store = Store(database)
                try:
                    bundle = assemble_consignment(
                        store, target, chain=ChainRef(view.chain_id, view.contracts, view.sync()),
                        disclosure="trade" if for_ == "bank" else "full")
                finally:
                    store.close()
            elif gateway:
                bundle = fetch_bundle(gateway, target)
                if bundle is None:
                    fail(f"the gateway has no evidence for {target}")
            elif database:
                from ledger.evidence.item import assemble
                from ledger.store.store import Store

                view = _chain_view(rpc, manifest)
                store = Store(database)
                try:
                    # The resolver's own assembly (trace through containers and
                    # transformations, registration, customs, scans): the same bundle.
                    bundle = assemble(store, target,
                                      chain=ChainRef(view.chain_id, view.contracts, view.sync()))
                finally:
                    store.close()
            else:
                fail("give --gateway URL or --database URL")
            if offline:
                from verifier.sealed import seal

                view = _chain_view(rpc, manifest)
                sealed = seal(bundle, view.w3, view.deployment)
        except LedgerError as exc:
            fail(str(exc))
        if offline:
            output.write_bytes(sealed.dumps())
            h = sealed.witness.header
            console.print(f"sealed {len(sealed.bundle.events)} events with "
                          f"{len(sealed.witness.accounts)} proven contracts at block {h.number} "
                          f"(hash 0x{sealed.block_hash.hex()}) → {output}")
            return
        output.write_text(bundle.dumps(indent=2) + "\n", encoding="utf-8")
        console.print(f"wrote {len(bundle.events)} events, {len(bundle.captures)} captures → {output}")

    @app.command("verify-evidence")
    def verify_evidence_cmd(
        sealed_file: Annotated[Path, typer.Argument(help="sealed evidence (zhenzhi evidence --offline)")],
        trust: Annotated[str | None, typer.Option(
            "--trust", help="the block hash you confirmed on a consortium node")] = None,
        manifest: Annotated[Path | None, typer.Option(
            "--manifest", help="the consortium's deployment manifest (trusted)")] = None,
        as_json: Annotated[bool, typer.Option("--json")] = False,
        pdf: Annotated[Path | None, typer.Option(
            "--pdf", help="also write the report as a PDF (with the file's SHA-256 and its QR)")] = None,
    ) -> None:
        """Check sealed evidence with no network; exit 0 only if it is GENUINE at a trusted block
        of the trusted deployment."""
        from ledger.chain.deployment import Deployment
        from verifier.sealed import check_sealed, parse_hash

        try:
            trusted = None if trust is None else parse_hash(trust)
            deployment = None if manifest is None else Deployment.load(manifest)
            if not sealed_file.is_file():
                fail(f"no sealed evidence at {sealed_file}")
            raw = sealed_file.read_bytes()
            report = check_sealed(raw, trust=trusted, manifest=deployment)
            if pdf is not None:
                from verifier.report_pdf import report_pdf

                pdf.write_bytes(report_pdf(report.lines(), report.kind, raw))
        except LedgerError as exc:
            fail(str(exc))
        if as_json:
            print_json(report.to_json())
        elif report.refused:
            fail(f"refused: {report.place}: {report.reason}")
        else:
            for line in report.lines():
                console.print(line, markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1 if report.refused else EXIT_CODES[report.kind])
