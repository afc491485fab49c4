"""`zhenzhi hash FILE`: the CBV 2.0 event id of every event of an EPCIS 2.0 JSON-LD document."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ledger.cli.output import fail
from ledger.errors import LedgerError


def _read(file: str) -> bytes:
    if file == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(file).read_bytes()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")


def register(app: typer.Typer) -> None:
    @app.command("hash")
    def hash_cmd(
        file: Annotated[str, typer.Argument(help="EPCIS 2.0 JSON-LD document or event; - for stdin")],
    ) -> None:
        """Print one event id (ni:///sha-256;…?ver=CBV2.0) per event, in document order."""
        from ledger.epcis import document as epcis
        from ledger.epcis.event_hash import event_ids

        data = _read(file)
        try:
            raw = epcis._load(data, epcis.DEFAULT_MAX_BYTES)
            if isinstance(raw, dict) and raw.get("type") == "EPCISQueryDocument":
                # a query result is not a capture, but its events have ids all the same
                problem = epcis._first_problem(epcis._compiled().document, raw)
                if problem is not None:
                    raise problem
                ids = event_ids(raw)
            else:
                ids = event_ids(epcis.parse_document(raw))
        except LedgerError as exc:
            fail(f"{file}: {exc}")
        sys.stdout.write("".join(i + "\n" for i in ids))
