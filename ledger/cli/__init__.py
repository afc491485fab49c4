"""The `zhenzhi` command line, ledger part. Each module here registers its own commands.

`gateway.cli` assembles the full command (ledger + verifier + gateway commands), since only the
gateway may depend on all three packages.
"""

from __future__ import annotations

import importlib

import typer

__all__ = ["COMMAND_MODULES", "register_all"]

# Modules with a `register(app: typer.Typer) -> None`, in help order.
COMMAND_MODULES = (
    "ledger.cli.anchor",
    "ledger.cli.build",
    "ledger.cli.hash",
    "ledger.cli.keys",
    "ledger.cli.org",
)


def register_all(app: typer.Typer) -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)
