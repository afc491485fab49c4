"""Running the demo: find or play the journey in `var/`, serve it with the gateway (and its
anchoring worker) in this process, and the `zhenzhi demo` command."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.demo.story import DEMO_RECORD, DemoResult, Keyring, Player, play
from gateway.demo.summary import print_summary
from ledger.cli.chain_options import DEFAULT_MANIFEST, DEFAULT_RPC, ManifestOption, RpcOption
from ledger.errors import InvalidInputError, LedgerError

__all__ = ["DemoStateError", "PortInUseError", "check_port", "demo_gateway", "register",
           "run_demo"]


class PortInUseError(InvalidInputError):
    slug = "port-in-use"
    title = "Port in use"


class DemoStateError(InvalidInputError):
    slug = "demo-state"
    title = "The demo's var/ directory does not match the chain"


def _admin_key(chain_id: int) -> str:
    key = os.environ.get("ZHENZHI_DEPLOYER_KEY")
    if key:
        return key
    if chain_id != 31337:
        raise InvalidInputError(f"chain {chain_id} is not the local devnet: set "
                                "ZHENZHI_DEPLOYER_KEY to the consortium admin's key")
    from ledger.chain.transactor import anvil_dev_key

    return anvil_dev_key(0)


def _fund_relayer(w3: Any, deployment: Any, keyring: Keyring) -> None:
    """Gas money for the console's lot-registration relayer (a plain value transfer)."""
    from eth_account import Account

    from gateway.demo.story import FUNDING_WEI
    from ledger.chain.transactor import Transactor

    address = keyring.account("operator-relayer").address
    if w3.eth.get_balance(address) < FUNDING_WEI // 2:
        Transactor(w3, Account.from_key(_admin_key(deployment.chainId))).send(
            to=address, value=FUNDING_WEI)


def check_port(host: str, port: int) -> None:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            raise PortInUseError(f"port {port} on {host} is in use (another gateway?): "
                                 "stop it or pass --port P") from None


@contextmanager
def _gateway(var: Path, rpc_url: str, manifest: Path, keyring: Keyring, host: str,
             port: int) -> Iterator[Any]:
    from gateway.app import create_app
    from gateway.server import ThreadedServer
    from gateway.settings import GatewaySettings
    from gateway.traceability import TraceabilitySettings

    base = f"http://{host}:{port}"
    settings = GatewaySettings(
        database_url=f"sqlite:///{var / 'zhenzhi.db'}", rpc_url=rpc_url, manifest=manifest,
        run_anchor_worker=True, anchor_keyfile=keyring.path("operator-anchorer"),
        anchor_passphrase=keyring.passphrase, anchor_interval_s=0.5, public_url=base)
    app = create_app(settings)
    # Labels encode this gateway's resolver, so a phone on this machine's network can scan.
    # The demo's consumers reach it from loopback with the X-Forwarded-For of a public address
    # in their city (a stand-in for a reverse proxy): demo only, a real gateway trusts only
    # the proxies it is configured with.
    # The relayer pays gas for lot registrations brands sign in the console's wallet; it
    # holds no authority (CodeRegistry checks the brand's signature). Funded by the caller.
    app.state.traceability_settings = TraceabilitySettings(
        resolver_base_url=base, trusted_proxies=("127.0.0.1", "::1"),
        relayer_key="0x" + bytes(keyring.account("operator-relayer").key).hex())
    server = ThreadedServer(app, host=host, port=port).start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def demo_gateway(var: Path, *, rpc_url: str, manifest: Path, port: int = 8000,
                 host: str = "127.0.0.1", console: Any = None
                 ) -> Iterator[tuple[DemoResult, str]]:
    """Play the demo into `var` (or find it there) and yield the record and the URL of the
    gateway serving it; the gateway stops when the block ends."""
    import httpx
    from rich.console import Console
    from web3 import Web3

    from ledger.chain.client import Chain
    from ledger.chain.deployment import Deployment

    console = console or Console(stderr=True)
    var = var.resolve()
    var.mkdir(parents=True, exist_ok=True)
    check_port(host, port)
    deployment = Deployment.load(manifest)
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 60}))
    if not w3.is_connected():
        raise InvalidInputError(f"no chain answers at {rpc_url}; start it (scripts/run does)")
    record_path = var / DEMO_RECORD
    keyring = Keyring(var / "keys")
    result: DemoResult | None = None
    if record_path.exists():
        result = DemoResult.from_json(json.loads(record_path.read_text(encoding="utf-8")))
        chain = Chain(w3, deployment)
        anchorer = keyring.account("operator-anchorer")
        if (result.consortium != deployment.address("Consortium")
                or chain.org_of_key(anchorer.address) is None):
            raise DemoStateError(
                f"{record_path} was played on another chain or deployment than "
                f"{deployment.address('Consortium')} at {rpc_url}; start fresh with "
                "`scripts/run --reset`")
        result.reused = True
    elif (var / "zhenzhi.db").exists() or any((var / "keys").glob("*.json")):
        raise DemoStateError(f"{var} holds an unfinished demo run (no {DEMO_RECORD}); start "
                             "fresh with `scripts/run --reset`")
    else:
        # The gateway's anchoring key must be on chain before the gateway's worker starts.
        from ledger.chain.deployment import DEFAULT_OPERATOR_GLN
        from ledger.proofs.codes import org_id

        bootstrap = Player(w3, deployment, _admin_key(deployment.chainId), keyring, None, var,
                           lambda _: None)
        with console.status("admitting the operator's anchoring key"):
            bootstrap._admit(org_id(DEFAULT_OPERATOR_GLN), "", ("ANCHORER",),
                             keyring.account("operator-anchorer").address)

    _fund_relayer(w3, deployment, keyring)
    with _gateway(var, rpc_url, manifest, keyring, host, port) as server, \
            httpx.Client(base_url=server.url, timeout=120.0) as http:
        if result is None:
            started = time.monotonic()
            player = Player(w3, deployment, _admin_key(deployment.chainId), keyring, http, var,
                            lambda line: console.print(f"  [green]✓[/] {line}"))

            def wait_anchored() -> None:
                # Capture jobs are member reads: the manufacturer signs each poll.
                _wait_anchored(lambda c: player.request("manufacturer", "GET",
                                                        f"/capture/{c}").json(),
                               player.captures, console)

            console.rule("[bold]Zhenzhi demo: NZ infant formula → Nansha → Chinese consumers")
            result = play(player, wait_anchored=wait_anchored)
            result.counts["seconds"] = round(time.monotonic() - started)
            tmp = record_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
            tmp.replace(record_path)
        yield result, server.url


def run_demo(var: Path, *, rpc_url: str, manifest: Path, port: int = 8000,
             host: str = "127.0.0.1", serve: bool = True, console: Any = None) -> DemoResult:
    """Play the demo into `var` (or reuse what is there), print the summary and, with `serve`,
    keep the gateway running until Ctrl-C. Returns the record (also in `var/demo.json`)."""
    from rich.console import Console

    console = console or Console(stderr=True)
    with demo_gateway(var, rpc_url=rpc_url, manifest=manifest, port=port, host=host,
                      console=console) as (result, url):
        print_summary(console, result, url, var.resolve())
        if serve:
            console.print(f"\nServing on [bold]{url}[/] — Ctrl-C to stop.")
            try:
                while True:
                    time.sleep(0.5)
            except KeyboardInterrupt:
                console.print("stopping the gateway (the chain keeps running)")
    return result


def _wait_anchored(job_of: Callable[[str], dict[str, Any]], capture_ids: Sequence[str],
                   console: Any, timeout: float = 120.0) -> None:
    """Wait until every capture's job says anchored; `job_of(capture_id)` reads one job."""
    deadline = time.monotonic() + timeout
    pending = list(capture_ids)
    with console.status("waiting for the anchoring worker") as status:
        while pending:
            job = job_of(pending[-1])
            if job.get("anchored"):
                pending = [c for c in pending[:-1] if not job_of(c)["anchored"]]
                continue
            if time.monotonic() > deadline:
                raise InvalidInputError(f"{len(pending)} captures not anchored after {timeout}s")
            status.update(f"waiting for the anchoring worker ({len(pending)} captures pending)")
            time.sleep(0.3)


def register(app: Any) -> None:
    """Add `zhenzhi demo` to the CLI."""
    @app.command("demo")
    def demo_cmd(
        var: Annotated[Path, typer.Option("--var", help="state directory (keys, database, "
                                          "labels, demo.json)")] = Path("var"),
        port: Annotated[int, typer.Option(help="gateway port (loopback)")] = 8000,
        no_serve: Annotated[bool, typer.Option("--no-serve", help="play (or reuse) the "
                                               "journey, print the summary and exit")] = False,
        rpc: RpcOption = DEFAULT_RPC, manifest: ManifestOption = DEFAULT_MANIFEST,
    ) -> None:
        """The main job: play a cross-border journey (consortium, codes, signed events,
        customs, consumers, a clone and a recall) and serve it until Ctrl-C."""
        try:
            run_demo(var, rpc_url=rpc, manifest=Path(manifest), port=port, serve=not no_serve)
        except PortInUseError as exc:
            print(f"zhenzhi demo: {exc}", file=sys.stderr)
            raise typer.Exit(2) from None
        except LedgerError as exc:
            print(f"zhenzhi demo: {exc}", file=sys.stderr)
            raise typer.Exit(1) from None
