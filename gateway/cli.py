"""Entry point of the `zhenzhi` command: ledger, verifier and gateway commands in one tree."""

from __future__ import annotations

import sys

import click
import typer

from gateway import commands as gateway_commands
from gateway import trade_commands
from gateway.demo import serving as demo
from ledger.cli import register_all as register_ledger
from ledger.errors import LedgerError
from ledger.runtime.recursion import restore_recursion_limit

app = typer.Typer(
    name="zhenzhi",
    help="Zhenzhi (真知): permissioned traceability ledger for GS1 EPCIS 2.0 events.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
register_ledger(app)
gateway_commands.register(app)
__import__("verifier.cli", fromlist=["register"]).register(app)  # verify, evidence
trade_commands.register(app)  # codes issue, customs decide, recall
demo.register(app)  # demo: the main job
__import__("signproxy.cli", fromlist=["register"]).register(app)  # sign-proxy


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; a domain error becomes one plain line on stderr and a non-zero exit."""
    restore_recursion_limit()  # every command, the anchoring worker included
    try:
        result = app(args=argv, standalone_mode=False)
    except LedgerError as exc:
        print(f"zhenzhi: {exc}", file=sys.stderr)
        return 1
    except click.exceptions.Abort:
        print("zhenzhi: aborted", file=sys.stderr)
        return 130
    except click.exceptions.ClickException as exc:
        exc.show()
        return exc.exit_code
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
