"""`zhenzhi sign-proxy --key KEYFILE --gateway URL [--port P] [--host 127.0.0.1]
[--allow-host NAME]…`.

The key file is the encrypted one `zhenzhi keys new` writes; its passphrase comes from
`--passphrase-file`, else $ZHENZHI_KEY_PASSPHRASE, else a hidden prompt, as for `zhenzhi sign`.
It is unlocked once, at start, and stays in this process.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

import typer

from ledger.cli.keys import PassphraseFileOption, _passphrase, org_bytes
from ledger.cli.output import err_console, fail
from ledger.errors import LedgerError
from signproxy.browsers import is_address

__all__ = ["register"]

DEFAULT_PORT = 8090


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def register(app: typer.Typer) -> None:
    @app.command("sign-proxy")
    def sign_proxy_cmd(
        key: Annotated[Path, typer.Option("--key", help="encrypted key file (`zhenzhi keys new`)")],
        gateway: Annotated[str, typer.Option("--gateway", help="the gateway's root URL")],
        port: Annotated[int, typer.Option("--port", help="port to listen on")] = DEFAULT_PORT,
        host: Annotated[str, typer.Option(
            "--host", help="address to listen on; anyone who can reach it signs as your "
                           "organisation, so keep it on loopback")] = "127.0.0.1",
        org: Annotated[str | None, typer.Option(
            "--org", help="organisation (13-digit GLN or 0x + 64 hex); default: the org the "
                          "chain lists for the key")] = None,
        gateway_alias: Annotated[list[str] | None, typer.Option(
            "--gateway-alias", help="another root URL the gateway writes into its links (its "
                                    "ZHENZHI_PUBLIC_URL); repeatable")] = None,
        allow_host: Annotated[list[str] | None, typer.Option(
            "--allow-host", help="a host name clients reach the proxy by, besides IP addresses "
                                 "and localhost (requests naming any other host are refused: "
                                 "DNS rebinding); repeatable")] = None,
        timeout: Annotated[float, typer.Option("--timeout", help="seconds to wait for the gateway")
                           ] = 30.0,
        passphrase_file: PassphraseFileOption = None,
    ) -> None:
        """Sign captures and reads of unmodified EPCIS 2.0 clients with your key, and forward
        them to the gateway (a local service: the key never leaves it)."""
        import uvicorn
        from pydantic import ValidationError

        from ledger.proofs.keystore import load_key
        from signproxy.app import create_app
        from signproxy.settings import ProxySettings
        from signproxy.signer import Signer

        try:
            names = (*(allow_host or ()), *(() if is_address(host) else (host,)))
            settings = ProxySettings(gateway_url=gateway, gateway_aliases=tuple(gateway_alias or ()),
                                     host_names=names, timeout_s=timeout)
        except ValidationError as exc:
            fail(f"sign-proxy: {exc.errors()[0]['msg']}")
        try:
            signer = Signer(load_key(key, _passphrase(passphrase_file, confirm=False)),
                            org=org_bytes(org) if org else None)
        except LedgerError as exc:
            fail(str(exc))
        if not _loopback(host):
            err_console.print(f"warning: listening on {host}: anyone who reaches it signs as "
                              "your organisation")
        err_console.print(f"sign-proxy: {signer.address} → {settings.gateway_url}, listening on "
                          f"http://{host}:{port}")
        uvicorn.run(create_app(settings, signer), host=host, port=port, log_level="warning",
                    access_log=False, proxy_headers=False)
