"""`zhenzhi codes issue`, `zhenzhi conditions publish`, `zhenzhi customs decide` and
`zhenzhi recall`.

Each acts with the caller's own key: the chain transactions (lot registration, customs
decision, recall) are signed locally; the gateway is only asked for what it serves (serials,
risk assessments, capture of the signed customs event, recall scope), with signed member
requests. Keys: `--key FILE` (encrypted keystore; passphrase from `--passphrase-file` or
ZHENZHI_PASSPHRASE) or a hex key in ZHENZHI_SIGNING_KEY (automation).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.cli.chain_options import DEFAULT_MANIFEST, DEFAULT_RPC, ManifestOption, RpcOption
from ledger.cli.output import console, fail, print_json
from ledger.errors import InvalidInputError, LedgerError

__all__ = ["register"]

GatewayOption = Annotated[str, typer.Option("--gateway", envvar="ZHENZHI_GATEWAY_URL",
                                            help="base URL of a Zhenzhi gateway")]
KeyOption = Annotated[Path | None, typer.Option("--key", help="encrypted key file (keystore v3)")]
PassphraseOption = Annotated[Path | None, typer.Option("--passphrase-file",
                                                       help="file holding the key's passphrase")]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON")]


class _Context:
    """Key, chain and gateway client for one command."""

    def __init__(self, key: Path | None, passphrase_file: Path | None, rpc: str,
                 manifest: Path, gateway: str | None) -> None:
        from eth_account import Account

        from ledger.chain.client import Chain
        from ledger.chain.deployment import Deployment
        from ledger.chain.transactor import Transactor
        from ledger.cli.chain_options import web3_for

        self.account = Account.from_key(_private_key(key, passphrase_file))
        self.w3 = web3_for(rpc)
        self.deployment = Deployment.load(manifest)
        self.chain = Chain(self.w3, self.deployment)
        self.tx = Transactor(self.w3, self.account)
        org = self.chain.org_of_key(self.account.address)
        if org is None:
            raise InvalidInputError(f"key {self.account.address} belongs to no organisation on "
                                    "Consortium")
        self.org = org
        self.gateway = gateway

    def request(self, method: str, path: str, body: Any = None) -> Any:
        import httpx

        from ledger.proofs.request_signing import sign_request

        raw = b"" if body is None else json.dumps(body).encode()
        # The signature covers the path as sent on the wire (percent-encoded).
        wire = httpx.URL(path).raw_path.decode("ascii")
        headers = sign_request(self.account.key, method, wire, raw,
                               org="0x" + self.org.hex()).headers()
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = httpx.request(method, f"{self.gateway}{path}", content=raw or None,
                                     headers=headers, timeout=120.0)
        except httpx.HTTPError as exc:
            raise InvalidInputError(f"cannot reach the gateway at {self.gateway}: {exc}") from None
        if response.status_code >= 400:
            raise InvalidInputError(f"gateway refused {method} {path}: {_problem_line(response)}")
        return response


def _problem_line(response: Any) -> str:
    try:
        body = response.json()
        return f"{response.status_code} {body.get('type')}: {body.get('detail')}"
    except ValueError:
        return f"{response.status_code} {response.text[:200]}"


def _private_key(key: Path | None, passphrase_file: Path | None) -> str | bytes:
    if key is not None:
        from ledger.proofs.keystore import load_key

        if passphrase_file is not None:
            passphrase = passphrase_file.read_text(encoding="utf-8").rstrip("\n")
        else:
            passphrase = os.environ.get("ZHENZHI_PASSPHRASE") or typer.prompt(
                "passphrase", hide_input=True)
        return bytes(load_key(key, passphrase).key)
    env = os.environ.get("ZHENZHI_SIGNING_KEY")
    if not env:
        raise InvalidInputError("pass --key KEYFILE or set ZHENZHI_SIGNING_KEY")
    return env


def register(app: typer.Typer) -> None:
    codes = typer.Typer(help="Item codes and labels.", no_args_is_help=True)
    customs = typer.Typer(help="Customs decisions.", no_args_is_help=True)

    @codes.command("issue")
    def issue_cmd(
        gtin: Annotated[str, typer.Option(help="GTIN-14 of your company prefix")],
        lot: Annotated[str, typer.Option(help="lot number (AI 10)")],
        count: Annotated[int, typer.Option(help="how many serials")],
        labels: Annotated[Path | None, typer.Option(help="write the label sheet (PDF) here")] = None,
        direct: Annotated[bool, typer.Option(
            "--direct", help="register with your own transaction (you pay gas) instead of "
                             "signing for the gateway's relayer")] = False,
        gateway: GatewayOption = "http://127.0.0.1:8000",
        key: KeyOption = None, passphrase_file: PassphraseOption = None,
        rpc: RpcOption = DEFAULT_RPC, manifest: ManifestOption = DEFAULT_MANIFEST,
        as_json: JsonOption = False,
    ) -> None:
        """Get N unguessable serials for GTIN + lot from the gateway, register the lot's
        commitment on CodeRegistry with your authority, and print the labels."""
        from eth_account import Account
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        try:
            ctx = _Context(key, passphrase_file, rpc, manifest, gateway)
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          console=console, disable=as_json) as progress:
                steps = progress.add_task("issuing", total=3)
                lot_info = ctx.request("POST", "/codes/lots",
                                       {"gtin": gtin, "lot": lot, "count": count}).json()
                progress.update(steps, advance=1, description=f"{count} serials issued")
                root = bytes.fromhex(lot_info["codesRoot"][2:])
                if direct:
                    outcome = ctx.chain.register_lot(ctx.tx, gtin, lot, root, count)
                    tx_hash = outcome.tx_hash
                else:
                    reg = lot_info["registration"]
                    # The digest is recomputed locally: never sign what a gateway hands over
                    # without checking it is the registration of these very codes.
                    digest = ctx.chain.register_lot_digest(gtin, lot, root, count,
                                                           int(reg["nonce"]), int(reg["deadline"]))
                    if "0x" + digest.hex() != reg["digest"]:
                        raise InvalidInputError("the gateway's RegisterLot digest does not match "
                                                "the codes it issued; nothing was signed")
                    sig = Account.unsafe_sign_hash(digest, ctx.account.key).signature
                    relayed = ctx.request("POST", f"/codes/lots/{gtin}/{lot}/registration", {
                        "signer": ctx.account.address, "deadline": int(reg["deadline"]),
                        "signature": "0x" + bytes(sig).hex()}).json()
                    tx_hash = relayed["txHash"]
                progress.update(steps, advance=1, description="lot registered on CodeRegistry")
                on_chain = ctx.chain.lot(gtin, lot)
                if on_chain is None or on_chain.codes_root != root:
                    raise InvalidInputError("the lot on chain does not commit to the issued codes")
                if labels is not None:
                    from ledger.trade.labels import Label, labels_pdf

                    drawn = progress.add_task("labels", total=count)
                    sheet = []
                    for serial, link in zip(lot_info["serials"], lot_info["digitalLinks"],
                                            strict=True):
                        sheet.append(Label(gtin, serial, link, lot))
                        progress.advance(drawn)
                    labels.write_bytes(labels_pdf(sheet, title=f"{gtin} lot {lot}"))
                progress.update(steps, advance=1, description="done")
        except LedgerError as exc:
            fail(str(exc))
        result = {"gtin": gtin, "lot": lot, "count": count, "codesRoot": lot_info["codesRoot"],
                  "txHash": tx_hash, "labels": str(labels) if labels else None}
        if as_json:
            print_json(result)
        else:
            console.print(f"lot {lot} of {gtin}: {count} codes registered (tx {tx_hash})"
                          + (f", labels → {labels}" if labels else ""))

    @customs.command("decide")
    def decide_cmd(
        consignment: Annotated[str, typer.Argument(help="customs reference")],
        enterprise: Annotated[str, typer.Option(help="declaring enterprise: GLN or 0x org id")],
        inspection: Annotated[str, typer.Option(help="NOT_INSPECTED, PASSED or FAILED")],
        decision: Annotated[str | None, typer.Option(
            help="DIRECT_RELEASE, NORMAL_CONTROL or IMMEDIATE_CONTROL; default: the gateway's "
                 "risk assessment suggests it")] = None,
        event_id: Annotated[list[str] | None, typer.Option(
            "--event-id", help="ni:///sha-256;… event covered (repeat)")] = None,
        epc: Annotated[list[str] | None, typer.Option(help="EPC inspected (repeat)")] = None,
        origin: Annotated[str | None, typer.Option(help="country of origin (ISO alpha-2)")] = None,
        category: Annotated[str | None, typer.Option(help="HS code")] = None,
        read_point: Annotated[str | None, typer.Option(help="inspection site (SGLN URN)")] = None,
        rules_version: Annotated[str, typer.Option(help="risk rule set")] = "v1",
        gateway: GatewayOption = "http://127.0.0.1:8000",
        key: KeyOption = None, passphrase_file: PassphraseOption = None,
        rpc: RpcOption = DEFAULT_RPC, manifest: ManifestOption = DEFAULT_MANIFEST,
        as_json: JsonOption = False,
    ) -> None:
        """Record customs' decision on CustomsRelease with your key, and capture it as a signed
        EPCIS `inspecting` event at the gateway."""
        from gateway.routes.customs import parse_event_id, parse_org
        from ledger.chain.decisions import Decision
        from ledger.epcis.event_hash import event_hashes
        from ledger.proofs.signing import (
            CaptureDomain,
            prepare_capture,
            sign_capture,
            signature_to_headers,
        )
        from ledger.trade.customs import (
            Declaration,
            Inspection,
            consignment_key,
            inspecting_document,
            inspecting_event,
        )
        from ledger.trade.risk import load_rules

        try:
            ctx = _Context(key, passphrase_file, rpc, manifest, gateway)
            rules = load_rules(rules_version)
            ids = tuple(parse_event_id(e) for e in event_id or ())
            declaration = Declaration(consignment, parse_org(enterprise), origin, category, ids)
            outcome = Inspection.parse(inspection)
            # Always asked: besides the suggestion, the gateway gives the events root over the
            # covered events' commitments, which only it holds.
            assessed = ctx.request("POST", f"/consignments/{consignment}/risk", {
                "enterprise": enterprise, "originCountry": origin, "category": category,
                "eventIds": list(event_id or ()), "rulesVersion": rules_version}).json()
            assessment = assessed if decision is None else None
            chosen = Decision.parse(assessed["decision"] if decision is None else decision)
            root = bytes.fromhex(assessed["eventsRoot"][2:])
            recorded = ctx.chain.record_decision(
                ctx.tx, consignment_key(consignment), chosen, outcome.name, root,
                rules.version, bytes.fromhex(rules.sha256))
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            event = inspecting_event(declaration, chosen, outcome, rules, event_time=now,
                                     read_point=read_point, epcs=list(epc or ()),
                                     root=root)
            document = inspecting_document(event, created=now)
            hashes = event_hashes(document)
            domain = CaptureDomain(ctx.deployment.chainId, ctx.deployment.address("Consortium"))
            seed, _, root = prepare_capture(document["epcisBody"]["eventList"], hashes)
            sig = sign_capture(ctx.account.key, domain, root, len(hashes),
                               ctx.org, time.time_ns() // 1000, int(time.time()))
            import httpx

            response = httpx.post(f"{gateway}/capture", content=json.dumps(document).encode(),
                                  headers={**signature_to_headers(sig, seed),
                                           "Content-Type": "application/ld+json"}, timeout=60.0)
            if response.status_code != 202:
                raise InvalidInputError("decision recorded on chain (tx "
                                        f"{recorded.tx_hash}) but the gateway refused the "
                                        f"inspecting event: {_problem_line(response)}")
        except LedgerError as exc:
            fail(str(exc))
        result = {"consignment": consignment, "decision": chosen.name,
                  "inspection": outcome.name, "txHash": recorded.tx_hash,
                  "eventID": f"ni:///sha-256;{hashes[0].hex()}?ver=CBV2.0",
                  "suggested": assessment["decision"] if assessment else None}
        if as_json:
            print_json(result)
        else:
            console.print(f"{consignment}: {chosen.name}, inspection {outcome.name} "
                          f"(tx {recorded.tx_hash}); inspecting event {result['eventID']}")

    @app.command("recall")
    def recall_cmd(
        gtin: Annotated[str, typer.Option(help="GTIN-14")],
        lot: Annotated[str, typer.Option(help="lot number")],
        reason: Annotated[str, typer.Option(help="recall notice text (its hash goes on chain)")],
        scope_csv: Annotated[Path | None, typer.Option(
            help="write the recall scope (CSV, from the gateway) here")] = None,
        gateway: GatewayOption = "http://127.0.0.1:8000",
        key: KeyOption = None, passphrase_file: PassphraseOption = None,
        rpc: RpcOption = DEFAULT_RPC, manifest: ManifestOption = DEFAULT_MANIFEST,
        as_json: JsonOption = False,
    ) -> None:
        """Recall a lot on CodeRegistry with your key (the brand owner's or a regulator's)."""
        import hashlib

        try:
            ctx = _Context(key, passphrase_file, rpc, manifest, gateway)
            reason_hash = hashlib.sha256(reason.encode("utf-8")).digest()
            outcome = ctx.chain.recall_lot(ctx.tx, gtin, lot, reason_hash)
            count = None
            if scope_csv is not None:
                scope = ctx.request("GET", f"/recalls/{gtin}/{lot}/scope.csv")
                scope_csv.write_bytes(scope.content)
                count = max(0, scope.text.count("\r\n") - 1)
        except LedgerError as exc:
            fail(str(exc))
        result = {"gtin": gtin, "lot": lot, "txHash": outcome.tx_hash,
                  "reasonHash": "0x" + reason_hash.hex(), "scopeRows": count}
        if as_json:
            print_json(result)
        else:
            console.print(f"lot {lot} of {gtin} recalled (tx {outcome.tx_hash})"
                          + (f"; scope: {count} EPCs → {scope_csv}" if scope_csv else ""))

    conditions = typer.Typer(help="Product conditions (cold chain).", no_args_is_help=True)

    @conditions.command("publish")
    def publish_cmd(
        text_file: Annotated[Path, typer.Argument(help=(
            'the conditions as JSON: {"type": "ProductConditions", "gtin", "version", "ranges"}'),
            exists=True, dir_okay=False)],
        gateway: GatewayOption = "http://127.0.0.1:8000",
        key: KeyOption = None, passphrase_file: PassphraseOption = None,
        rpc: RpcOption = DEFAULT_RPC, manifest: ManifestOption = DEFAULT_MANIFEST,
        as_json: JsonOption = False,
    ) -> None:
        """Sign a version of your GTIN's conditions with your key, give it to the gateway and
        register its hash on CodeRegistry with your own transaction: verifiers judge by the
        version registered on chain, never by what a gateway serves alone."""
        from ledger.proofs.merkle import keccak256
        from ledger.proofs.signing import CaptureDomain
        from ledger.trade.conditions import parse_conditions, sign_conditions

        try:
            text = text_file.read_text(encoding="utf-8")
            parsed = parse_conditions(text)
            ctx = _Context(key, passphrase_file, rpc, manifest, gateway)
            domain = CaptureDomain(ctx.deployment.chainId, ctx.deployment.address("Consortium"))
            signed = sign_conditions(bytes(ctx.account.key), domain, text, ctx.org)
            ctx.request("POST", "/conditions", signed.to_json())
            digest = keccak256(text.encode())
            done = [v for h, _, v, _ in ctx.chain.conditions_history(parsed.gtin)
                    if h == digest and v == parsed.version]
            tx_hash = None if done else ctx.chain.register_conditions(
                ctx.tx, parsed.gtin, parsed.version, digest).tx_hash
        except LedgerError as exc:
            fail(str(exc))
        result = {"gtin": parsed.gtin, "version": parsed.version,
                  "conditionsHash": "0x" + digest.hex(), "txHash": tx_hash}
        if as_json:
            print_json(result)
        else:
            console.print(f"conditions version {parsed.version} of {parsed.gtin} published and "
                          + ("already registered" if tx_hash is None
                             else f"registered (tx {tx_hash})"))

    app.add_typer(codes, name="codes")
    app.add_typer(conditions, name="conditions")
    app.add_typer(customs, name="customs")
