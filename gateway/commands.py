"""`zhenzhi serve` (run the gateway) and `zhenzhi capture` (sign and submit a document)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.cli.output import err_console, fail
from ledger.errors import InvalidInputError, LedgerError

__all__ = ["register"]

GatewayOption = Annotated[str, typer.Option("--gateway", envvar="ZHENZHI_GATEWAY_URL",
                                            help="base URL of a Zhenzhi gateway")]


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve_cmd(
        host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port")] = 8000,
        anchor: Annotated[bool | None, typer.Option(
            "--anchor/--no-anchor",
            help="run the anchoring worker in this process (default: ZHENZHI_RUN_ANCHOR_WORKER)")
        ] = None,
        log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
        access_log: Annotated[bool, typer.Option(help="log every request")] = False,
        workers: Annotated[int, typer.Option(
            min=1, max=64,
            help="gateway processes sharing the port (one per core); more than one needs "
                 "ZHENZHI_REDIS_URL, where they share request nonces and rate limits")] = 1,
    ) -> None:
        """Serve the gateway (EPCIS 2.0 REST binding + extensions) with uvicorn.

        Configuration comes from ZHENZHI_* variables (see gateway/README.md): database URL,
        RPC URL, deployment manifest, anchoring key, limits. uvicorn's proxy headers are off:
        behind a reverse proxy, name it in ZHENZHI_TRUSTED_PROXIES.
        """
        import os

        import uvicorn

        from gateway.app import create_app
        from gateway.settings import GatewaySettings
        from gateway.websocket_handshake import ProblemWebSocketProtocol

        overrides: dict[str, Any] = {}
        if anchor is not None:
            overrides["run_anchor_worker"] = anchor
        try:
            settings = GatewaySettings(**overrides)
        except ValueError as exc:
            fail(f"bad gateway settings: {exc}")
        if workers == 1:
            uvicorn.run(create_app(settings, freeze_heap=True), host=host, port=port,
                        log_level=log_level, access_log=access_log, workers=1,
                        proxy_headers=False, ws=ProblemWebSocketProtocol)
            return
        # Several processes, each a whole gateway (store, committer, chain view): the store's
        # write lock orders their commits, and its nonce and capture checks run inside the
        # write transaction, so a capture replayed to another process is still refused. What
        # a process keeps in memory must be shared instead: a member request's nonce seen by
        # one process and replayed to another would pass.
        if not settings.redis_url:
            fail("--workers > 1 needs ZHENZHI_REDIS_URL: the processes share request nonces "
                 "and rate limits there")
        if not os.environ.get("ZHENZHI_SCAN_SALT"):
            # Each process would draw its own salt, and one client would count as several to
            # the clone and risk rules, which count distinct clients: one salt for this run
            # (set ZHENZHI_SCAN_SALT to keep it across restarts).
            import secrets

            os.environ["ZHENZHI_SCAN_SALT"] = secrets.token_hex(16)
        if settings.migrate_on_start:
            # Once, here, before the processes start: concurrent migrations would race.
            from ledger.store.store import Store

            store = Store(settings.database_url)
            try:
                store.migrate()
            finally:
                store.close()
        os.environ["ZHENZHI_MIGRATE_ON_START"] = "false"
        # The anchoring worker's leader lease already keeps it one across processes.
        if anchor is not None:
            os.environ["ZHENZHI_RUN_ANCHOR_WORKER"] = "true" if anchor else "false"
        uvicorn.run("gateway.app:served_app", factory=True, host=host, port=port,
                    log_level=log_level, access_log=access_log, workers=workers,
                    proxy_headers=False, ws=ProblemWebSocketProtocol)

    @app.command("capture")
    def capture_cmd(
        doc: Annotated[Path, typer.Argument(help="EPCIS 2.0 document (JSON-LD, or XML: 2.0 or "
                                                 "1.2), or a signed capture file written by "
                                                 "`zhenzhi sign`")],
        gateway: GatewayOption = "http://127.0.0.1:8000",
        key: Annotated[Path | None, typer.Option(
            "--key", help="encrypted key file (needed unless DOC is already signed)")] = None,
        org: Annotated[str | None, typer.Option(
            "--org", help="organisation (13-digit GLN or 0x + 64 hex); default: the org the "
                          "chain lists for the key")] = None,
        nonce: Annotated[int | None, typer.Option(
            help="unique per org; default: microseconds since 1970")] = None,
        wait: Annotated[bool, typer.Option("--wait", help="return once every event is anchored")
                        ] = False,
        timeout: Annotated[float, typer.Option(help="seconds to wait with --wait")] = 120.0,
        proceed: Annotated[bool, typer.Option(
            "--proceed", help="GS1-Capture-Error-Behaviour: proceed (default rollback)")] = False,
        passphrase_file: Annotated[Path | None, typer.Option(
            "--passphrase-file", help="passphrase file (else $ZHENZHI_KEY_PASSPHRASE, "
                                      "else a prompt)")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print the capture job as JSON")
                           ] = False,
    ) -> None:
        """Sign (if needed) and submit a capture; print its event ids (and anchor tx with --wait)."""
        try:
            code = _capture(doc, gateway.rstrip("/"), key, org, nonce, wait, timeout, proceed,
                            passphrase_file, as_json)
        except LedgerError as exc:
            fail(str(exc))
        if code:
            raise typer.Exit(code)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise InvalidInputError(f"{path} is not JSON: {exc}") from None


def _problem_line(response: Any) -> str:
    try:
        body = response.json()
        return f"{response.status_code} {body.get('type')}: {body.get('detail')}"
    except ValueError:
        return f"{response.status_code} {response.text[:200]}"


def _capture(doc_path: Path, base: str, key: Path | None, org: str | None, nonce: int | None,
             wait: bool, timeout: float, proceed: bool, passphrase_file: Path | None,
             as_json: bool) -> int:
    import httpx

    from ledger.epcis.xml import is_xml
    from ledger.proofs.signing import (
        CaptureDomain,
        prepare_capture,
        sign_capture,
        signature_from_json,
        signature_to_headers,
    )

    try:
        raw = doc_path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {doc_path}: {exc.strerror}") from None
    xml_body: bytes | None = raw if is_xml(raw) else None
    data = None if xml_body is not None else _read_json(doc_path)
    if wait and key is None:
        # The capture job is a member read: waiting on it means signing each poll.
        raise InvalidInputError("--wait reads the capture job, which members only may read: "
                                "pass --key KEYFILE to sign those reads")
    client = httpx.Client(base_url=base, timeout=30.0)
    try:
        domain_info = client.get("/capture/domain")
    except httpx.HTTPError as exc:
        raise InvalidInputError(f"cannot reach the gateway at {base}: {exc}") from None
    if domain_info.status_code != 200:
        raise InvalidInputError(f"gateway {base} did not give its signing domain: "
                                f"{_problem_line(domain_info)}")
    info = domain_info.json()
    domain = CaptureDomain(int(info["chainId"]), info["verifyingContract"])

    if isinstance(data, dict) and "capture" in data and ("document" in data
                                                         or "xmlDocument" in data):
        parsed = signature_from_json(data["capture"])
        if parsed.domain != domain:
            raise InvalidInputError(
                f"{doc_path} is signed for chain {parsed.domain.chain_id} / "
                f"{parsed.domain.verifying_contract}, but the gateway checks chain "
                f"{domain.chain_id} / {domain.verifying_contract}")
        document, sig, seed = data.get("document"), parsed.signature, parsed.seed
        if "xmlDocument" in data:
            xml_body = str(data["xmlDocument"]).encode("utf-8")
        account = None
        if wait:
            from ledger.cli.keys import _passphrase
            from ledger.proofs.keystore import load_key

            account = load_key(key, _passphrase(passphrase_file, confirm=False))
    else:
        if key is None:
            raise InvalidInputError(f"{doc_path} is not signed: pass --key KEYFILE")
        from ledger.cli.keys import _passphrase, org_bytes
        from ledger.epcis.document import parse_document
        from ledger.epcis.event_hash import event_hash
        from ledger.proofs.keystore import load_key

        if xml_body is not None:
            from ledger.epcis.xml import parse_xml_document

            # signed over the events the gateway converts the XML to
            parsed_doc = parse_xml_document(xml_body)
        else:
            parsed_doc = parse_document(data)
        event_ids = [event_hash(e, parsed_doc.context) for e in parsed_doc.events]
        if not event_ids:
            raise InvalidInputError(f"{doc_path} holds no events: there is nothing to capture")
        account = load_key(key, _passphrase(passphrase_file, confirm=False))
        if org is None:
            found = client.get("/capture/domain", params={"signer": account.address}).json()
            if not found.get("org"):
                raise InvalidInputError(f"the chain lists no organisation for {account.address}; "
                                        "register the key or pass --org")
            org_id = bytes.fromhex(found["org"][2:])
        else:
            org_id = org_bytes(org)
        seed, _, root = prepare_capture(parsed_doc.events, event_ids)
        sig = sign_capture(account.key, domain, root, len(event_ids), org_id, time.time_ns() // 1000 if nonce is None else nonce,
                           int(time.time()))
        document = data

    headers = {**signature_to_headers(sig, seed),
               "Content-Type": "application/xml" if xml_body is not None
               else "application/ld+json"}
    if proceed:
        headers["GS1-Capture-Error-Behaviour"] = "proceed"
    body = xml_body if xml_body is not None else json.dumps(document, ensure_ascii=False).encode()
    response = client.post("/capture", content=body, headers=headers)
    if response.status_code != 202:
        raise InvalidInputError(f"capture refused: {_problem_line(response)}")
    job = response.json()
    location = response.headers.get("location", f"/capture/{job['captureID']}")
    if wait:
        from ledger.proofs.request_signing import sign_request

        path = httpx.URL(location + "?anchors=true").raw_path.decode("ascii")
        deadline = time.monotonic() + timeout
        while True:
            # A fresh signature (and nonce) per poll: the gateway takes each one once.
            auth = sign_request(account.key, "GET", path, b"",  # type: ignore[union-attr]
                                org="0x" + sig.org.hex()).headers()
            got = client.get(path, headers=auth)
            if got.status_code == 200:
                job = got.json()
                if job.get("anchored"):
                    break
            elif got.status_code in (401, 403):
                raise InvalidInputError(f"cannot read the capture job: {_problem_line(got)}")
            if time.monotonic() > deadline:
                err_console.print(f"not anchored after {timeout:.0f}s (is an anchoring worker "
                                  "running?)")
                _print_job(job, as_json)
                return 2
            time.sleep(0.25)
    _print_job(job, as_json)
    return 0


def _print_job(job: dict[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(job, indent=2, sort_keys=True) + "\n")
        return
    err_console.print(f"capture {job['captureID']} accepted: {len(job.get('eventIDs', []))} "
                      f"event(s), signer {job.get('signer')}")
    anchors = {a["eventID"]: a for a in job.get("anchors") or []}
    for event_id in job.get("eventIDs", []):
        anchor = anchors.get(event_id)
        if anchor and anchor.get("anchored"):
            print(f"{event_id}  anchored tx {anchor.get('txHash')} block {anchor.get('blockNumber')}")
        else:
            print(event_id)
    for problem in job.get("errors", []):
        err_console.print(f"rejected: {problem.get('detail')}")
