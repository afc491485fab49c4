"""Options every chain-facing command shares: where the chain is and which manifest to use."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from ledger.paths import REPO_ROOT

DEFAULT_RPC = "http://127.0.0.1:8545"
DEFAULT_MANIFEST = REPO_ROOT / "var" / "deployment.json"

RpcOption = Annotated[str, typer.Option("--rpc", envvar="ZHENZHI_RPC_URL",
                                        help="JSON-RPC URL of the chain")]
ManifestOption = Annotated[Path, typer.Option("--manifest", envvar="ZHENZHI_MANIFEST",
                                              help="deployment manifest (JSON)")]


def web3_for(rpc: str):  # -> Web3, imported lazily: web3 is slow to import
    from web3 import Web3

    return Web3(Web3.HTTPProvider(rpc, request_kwargs={"timeout": 30}))


def key_from_env(var: str) -> str | None:
    return os.environ.get(var)
