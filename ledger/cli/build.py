"""`zhenzhi contracts build` and `zhenzhi deploy`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ledger.cli.chain_options import (
    DEFAULT_MANIFEST,
    DEFAULT_RPC,
    ManifestOption,
    RpcOption,
    web3_for,
)
from ledger.cli.output import console, fail, print_json
from ledger.errors import LedgerError


def register(app: typer.Typer) -> None:
    contracts = typer.Typer(help="Build the Solidity contracts.", no_args_is_help=True)

    @contracts.command("build")
    def build_cmd(
        check: Annotated[bool, typer.Option(help="only compare a fresh compile with contracts/build")] = False,
    ) -> None:
        """Compile contracts/*.sol for every EVM version (cancun into contracts/build/,
        london and shanghai into contracts/build/<version>/), deterministically."""
        from ledger.chain import compiler

        try:
            if check:
                stale = compiler.check()
                if stale:
                    fail(f"contracts/build is stale ({', '.join(stale)}); run `zhenzhi contracts build`")
                console.print("contracts/build is up to date")
                return
            results = compiler.build()
        except LedgerError as exc:
            fail(str(exc))
        for evm, result in results.items():
            for name in sorted(result.artifacts):
                console.print(f"{evm:9} {name:28} sha256 {result.digest(name)[:16]}…")
        console.print(f"built with solc {next(iter(results.values())).solc_version}")

    app.add_typer(contracts, name="contracts")

    @app.command("deploy")
    def deploy_cmd(
        rpc: RpcOption = DEFAULT_RPC,
        manifest: ManifestOption = DEFAULT_MANIFEST,
        key: Annotated[str | None, typer.Option(envvar="ZHENZHI_DEPLOYER_KEY",
                                                help="deployer private key (hex); default: dev account 0 on a local chain")] = None,
        admin: Annotated[list[str] | None, typer.Option(help="admin address (repeat); default: the deployer")] = None,
        quorum: Annotated[int, typer.Option(help="admin approvals needed (M of N)")] = 1,
        if_needed: Annotated[bool, typer.Option("--if-needed", help="reuse the manifest's deployment if the chain still holds it")] = False,
        evm: Annotated[str | None, typer.Option("--evm", help="EVM version of the bytecode: london, shanghai or cancun; default: the newest the chain runs")] = None,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Deploy the contracts to any JSON-RPC chain and write the deployment manifest."""
        from eth_account import Account

        from ledger.chain.deployment import Deployment, deploy, is_current
        from ledger.chain.transactor import Transactor, anvil_dev_key

        w3 = web3_for(rpc)
        try:
            chain_id = int(w3.eth.chain_id)
        except Exception as exc:  # noqa: BLE001 - any transport failure is the same to the user
            fail(f"cannot reach a chain at {rpc} ({type(exc).__name__}); start one with "
                 "`hardhat-free-devnet/devnet up` or pass --rpc")
        if key is None:
            if chain_id != 31337:
                fail(f"chain {chain_id} is not the local devnet: pass --key or ZHENZHI_DEPLOYER_KEY")
            key = anvil_dev_key(0)
        try:
            if if_needed and Path(manifest).exists():
                existing = Deployment.load(manifest)
                if is_current(w3, existing):
                    _show(existing, manifest, as_json, reused=True)
                    return
            transactor = Transactor(w3, Account.from_key(key))
            deployment = deploy(transactor, admins=admin or None, quorum=quorum, rpc_url=rpc,
                                evm_version=evm)
            deployment.save(manifest)
        except LedgerError as exc:
            fail(str(exc))
        _show(deployment, manifest, as_json, reused=False)


def _show(deployment, manifest: Path, as_json: bool, *, reused: bool) -> None:
    if as_json:
        print_json({"manifest": str(manifest), "reused": reused, **_plain(deployment)})
        return
    verb = "reusing deployment" if reused else "deployed"
    console.print(f"[bold]{verb}[/] on chain {deployment.chainId} (block {deployment.deployBlock}, "
                  f"EVM {deployment.evmVersion}) → {manifest}")
    for name, rec in deployment.contracts.items():
        console.print(f"  {name:15} {rec.address}  artifact {rec.artifactSha256[:12]}…")


def _plain(deployment) -> dict:
    import json

    return json.loads(deployment.to_json())
