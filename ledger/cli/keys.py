"""`zhenzhi keys new|show` and `zhenzhi sign`: enterprise keys and signed captures.

The passphrase of a key file comes from `--passphrase-file`, else the environment variable
ZHENZHI_KEY_PASSPHRASE (for automation), else a hidden prompt; never from a command-line
argument, which other users of the machine could read in the process list.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.cli.chain_options import DEFAULT_MANIFEST
from ledger.cli.output import err_console, fail
from ledger.errors import InvalidInputError, LedgerError

PASSPHRASE_ENV = "ZHENZHI_KEY_PASSPHRASE"  # noqa: S105 - the variable name, not a secret

PassphraseFileOption = Annotated[
    Path | None,
    typer.Option("--passphrase-file", help=f"read the passphrase from this file's first line "
                                           f"(else ${PASSPHRASE_ENV}, else a prompt)"),
]


def register(app: typer.Typer) -> None:
    keys = typer.Typer(help="Enterprise signing keys, kept in encrypted key files.",
                       no_args_is_help=True)

    @keys.command("new")
    def new_cmd(
        out: Annotated[Path, typer.Option("--out", "-o", help="key file to create (never overwritten)")],
        passphrase_file: PassphraseFileOption = None,
        scrypt_n: Annotated[int | None, typer.Option(hidden=True, help="scrypt cost; tests only")] = None,
    ) -> None:
        """Create a signing key, write it encrypted (mode 0600) and print its address."""
        from ledger.proofs.keystore import DEFAULT_SCRYPT_N, new_key

        try:
            passphrase = _passphrase(passphrase_file, confirm=True)
            address = new_key(out, passphrase, scrypt_n=scrypt_n or DEFAULT_SCRYPT_N)
        except LedgerError as exc:
            fail(str(exc))
        print(address)
        err_console.print(f"wrote encrypted key file {out}; register {address} for your org "
                          "on Consortium. Without the passphrase the key cannot be recovered.")

    @keys.command("show")
    def show_cmd(file: Annotated[Path, typer.Argument(help="key file")]) -> None:
        """Print the address a key file declares (no passphrase needed)."""
        from ledger.proofs.keystore import keystore_address

        try:
            print(keystore_address(file))
        except LedgerError as exc:
            fail(str(exc))

    app.add_typer(keys, name="keys")

    @app.command("sign")
    def sign_cmd(
        doc: Annotated[Path, typer.Argument(help="EPCIS 2.0 document (JSON-LD, or XML: 2.0 or 1.2)")],
        key: Annotated[Path, typer.Option("--key", help="encrypted key file (`zhenzhi keys new`)")],
        org: Annotated[str, typer.Option("--org", help="organisation: its 13-digit GLN or 0x + 32-byte hex id")],
        nonce: Annotated[int | None, typer.Option(help="unique per org; default: microseconds since 1970")] = None,
        chain_id: Annotated[int | None, typer.Option("--chain-id", help="chain id (with --consortium)")] = None,
        consortium: Annotated[str | None, typer.Option(help="Consortium contract address (with --chain-id)")] = None,
        manifest: Annotated[Path | None, typer.Option(
            "--manifest", envvar="ZHENZHI_MANIFEST",
            help="deployment manifest instead of --chain-id/--consortium "
                 f"(default: {DEFAULT_MANIFEST} if it exists)")] = None,
        signed_at: Annotated[int | None, typer.Option("--signed-at", help="unix seconds; default: now")] = None,
        out: Annotated[Path | None, typer.Option("--out", "-o", help="signed capture file; default: stdout")] = None,
        passphrase_file: PassphraseFileOption = None,
    ) -> None:
        """Sign an EPCIS document: write {"document": ..., "capture": {...signature...}}
        ({"xmlDocument": "<…>", "capture": …} for an XML document, signed over its events)."""
        try:
            _sign(doc, key, org, nonce, chain_id, consortium, manifest, signed_at, out,
                  passphrase_file)
        except LedgerError as exc:
            fail(str(exc))


def _passphrase(passphrase_file: Path | None, *, confirm: bool) -> str:
    if passphrase_file is not None:
        try:
            text = passphrase_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInputError(f"cannot read {passphrase_file}: {exc.strerror}") from None
        # The first line, without its line ending: files written by `echo` end in a newline
        # that is not part of the passphrase.
        return text.splitlines()[0] if text else ""
    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env:
        return from_env
    # Prompts go to stderr so that stdout carries only the result (an address, a capture).
    return typer.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm, err=True)


def org_bytes(text: str) -> bytes:
    """An org id as bytes32: a 13-digit GLN (`ledger.proofs.codes.org_id`) or 0x + 64 hex digits."""
    if text[:2] in ("0x", "0X") and len(text) == 66:
        try:
            return bytes.fromhex(text[2:])
        except ValueError:
            pass
    elif len(text) == 13 and text.isascii() and text.isdigit():
        from ledger.proofs.codes import org_id

        return org_id(text)  # checks the GLN's check digit
    raise InvalidInputError(f"--org must be a 13-digit GLN or 0x + 64 hex digits, got {text!r}",
                            field="org")


def _domain(chain_id: int | None, consortium: str | None, manifest: Path | None):
    from ledger.proofs.signing import CaptureDomain

    if chain_id is not None or consortium is not None:
        if chain_id is None or consortium is None:
            raise InvalidInputError("--chain-id and --consortium go together")
        if manifest is not None:
            raise InvalidInputError("give --manifest or --chain-id/--consortium, not both")
        return CaptureDomain(chain_id, consortium)
    if manifest is None:
        if not DEFAULT_MANIFEST.exists():
            raise InvalidInputError("say which chain to sign for: --chain-id and --consortium, "
                                    "or --manifest")
        manifest = DEFAULT_MANIFEST
    from ledger.chain.deployment import Deployment

    deployment = Deployment.load(manifest)
    return CaptureDomain(deployment.chainId, deployment.address("Consortium"))


def _sign(doc_path: Path, key: Path, org: str, nonce: int | None, chain_id: int | None,
          consortium: str | None, manifest: Path | None, signed_at: int | None,
          out: Path | None, passphrase_file: Path | None) -> None:
    from ledger.proofs.keystore import load_key
    from ledger.proofs.signing import (
        build_signed_capture,
        prepare_capture,
        sign_capture,
        signature_to_json,
    )

    org_id = org_bytes(org)
    domain = _domain(chain_id, consortium, manifest)

    from ledger.epcis.document import parse_document
    from ledger.epcis.event_hash import event_hashes
    from ledger.epcis.xml import is_xml, parse_xml_document
    try:
        raw = doc_path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {doc_path}: {exc.strerror}") from None
    xml_text: str | None = None
    if is_xml(raw):
        # signed over the events the gateway will convert it to (gateway/README.md)
        parsed = parse_xml_document(raw)
        xml_text = raw.decode("utf-8", errors="strict") if raw else ""
        document: Any = None
    else:
        try:
            document = json.loads(raw)
        except ValueError as exc:
            raise InvalidInputError(f"{doc_path} is not JSON or XML: {exc}") from None
        parsed = parse_document(document)
    # The document-level call, not one event_hash per event: it honours the document's
    # ignoreFields, which the gateway will too, so both compute the same ids.
    event_ids = event_hashes(parsed)
    if not event_ids:
        raise InvalidInputError(f"{doc_path} holds no events: there is nothing to sign")
    account = load_key(key, _passphrase(passphrase_file, confirm=False))
    nonce = time.time_ns() // 1000 if nonce is None else nonce
    signed_at = int(time.time()) if signed_at is None else signed_at
    seed, commitments, root = prepare_capture(parsed.events, event_ids)
    sig = sign_capture(account.key, domain, root, len(event_ids), org_id, nonce, signed_at)
    # Check the result the way the gateway will before handing it out.
    build_signed_capture(parsed.events, parsed.context, event_ids, sig, domain, seed=seed,
                         expected_signer=account.address)
    body = {"xmlDocument": xml_text} if xml_text is not None else {"document": document}
    text = json.dumps({**body, "capture": signature_to_json(domain, sig, seed)},
                      ensure_ascii=False, indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
    err_console.print(f"signed {len(event_ids)} event(s) as {account.address} "
                      f"(nonce {nonce}, chain {domain.chain_id})"
                      + (f" → {out}" if out else ""))
