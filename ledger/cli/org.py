"""`zhenzhi org`: operate the Consortium with locally signed transactions.

Every write prints the transaction (hash, block, gas, events) and the state it left; a refusal
by the contract (missing role, not a member, quorum not reached, ...) is one plain line on
stderr and exit code 1. Governance commands propose; with `--execute` they also execute when
the quorum is already met (a 1-of-N consortium acts in one command).
"""

from __future__ import annotations

from typing import Annotated, Any

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

KeyOption = Annotated[str | None, typer.Option(
    "--key", envvar="ZHENZHI_ORG_KEY",
    help="private key (hex) of the acting organisation's key; default: dev account 0 on the local devnet")]
JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable output")]
ExecuteOption = Annotated[bool, typer.Option("--execute/--no-execute",
                                             help="execute at once if the quorum is met")]
LifetimeOption = Annotated[int, typer.Option("--lifetime", help="proposal lifetime in seconds")]


class _Session:
    def __init__(self, rpc: str, manifest: Any, key: str | None) -> None:
        from eth_account import Account

        from ledger.chain.client import Chain
        from ledger.chain.deployment import Deployment
        from ledger.chain.transactor import Transactor, anvil_dev_key

        w3 = web3_for(rpc)
        self.deployment = Deployment.load(manifest)
        if key is None:
            if self.deployment.chainId != 31337:
                fail(f"chain {self.deployment.chainId} is not the local devnet: pass --key or ZHENZHI_ORG_KEY")
            key = anvil_dev_key(0)
        try:
            self.tx = Transactor(w3, Account.from_key(key))
        except (ValueError, TypeError):
            fail("--key is not a valid private key")
        self.chain = Chain(w3, self.deployment)


def _run(rpc: str, manifest: Any, key: str | None, as_json: bool, action) -> None:
    try:
        session = _Session(rpc, manifest, key)
        result = action(session)
    except LedgerError as exc:
        fail(str(exc))
    except (ConnectionError, OSError) as exc:
        fail(f"cannot reach the chain at {rpc} ({type(exc).__name__})")
    if result is not None:
        _show(result, as_json)


def _plain(value: Any) -> Any:
    from dataclasses import asdict, is_dataclass

    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_plain(v) for v in value]
        return sorted(items) if isinstance(value, set | frozenset) else items
    if isinstance(value, bytes):
        text = value.rstrip(b"\0")
        if text and len(value) == 32 and text.isascii() and text.decode().isprintable():
            return text.decode()
        return "0x" + value.hex()
    return value


def _show(result: dict[str, Any], as_json: bool) -> None:
    plain = _plain(result)
    if as_json:
        print_json(plain)
        return
    for title, value in plain.items():
        if title == "transaction":
            console.print(f"[bold]transaction[/] {value['tx_hash']} block {value['block_number']} "
                          f"gas {value['gas_used']}")
            for e in value["events"]:
                args = ", ".join(f"{k}={v}" for k, v in e["args"].items())
                console.print(f"  {e['contract']}.{e['name']}({args})")
        else:
            console.print(f"[bold]{title}[/]")
            for k, v in (value.items() if isinstance(value, dict) else [("", value)]):
                console.print(f"  {k:14} {v}")


def _after_proposal(s: _Session, outcome, execute: bool) -> dict[str, Any]:
    pid = outcome.event("ProposalCreated")["id"]
    result: dict[str, Any] = {"transaction": outcome}
    if execute and s.chain.valid_approvals(pid) >= s.chain.quorum():
        result["executed"] = s.chain.execute(s.tx, pid)
    result["proposal"] = s.chain.proposal(pid)
    return result


def register(app: typer.Typer) -> None:
    org = typer.Typer(help="Operate the Consortium: governance, keys, prefixes, grades, blacklist.",
                      no_args_is_help=True)
    propose = typer.Typer(help="Propose a governance action (ADMIN organisations only).",
                          no_args_is_help=True)

    @propose.command("admit")
    def admit(gln: Annotated[str, typer.Argument(help="GLN/PGLN of the organisation")],
              name: Annotated[str, typer.Option(help="organisation name")],
              role: Annotated[list[str] | None, typer.Option(help="role (repeat)")] = None,
              add_key: Annotated[list[str] | None, typer.Option("--add-key", help="key address (repeat)")] = None,
              lifetime: LifetimeOption = 7 * 86400, execute: ExecuteOption = True,
              rpc: RpcOption = DEFAULT_RPC, manifest: ManifestOption = DEFAULT_MANIFEST,
              key: KeyOption = None, as_json: JsonOption = False) -> None:
        """Propose admitting an organisation with roles and keys."""
        _run(rpc, manifest, key, as_json, lambda s: _after_proposal(
            s, s.chain.propose_admit(s.tx, gln, name, role or [], add_key or [], lifetime), execute)
            | {"organisation": s.chain.organisation(gln)})

    @propose.command("remove")
    def remove(gln: str, lifetime: LifetimeOption = 7 * 86400, execute: ExecuteOption = True,
               rpc: RpcOption = DEFAULT_RPC, manifest: ManifestOption = DEFAULT_MANIFEST,
               key: KeyOption = None, as_json: JsonOption = False) -> None:
        """Propose removing a member organisation."""
        _run(rpc, manifest, key, as_json, lambda s: _after_proposal(
            s, s.chain.propose_remove(s.tx, gln, lifetime), execute)
            | {"organisation": s.chain.organisation(gln)})

    @propose.command("grant-role")
    def grant_role(gln: str, role: str, lifetime: LifetimeOption = 7 * 86400,
                   execute: ExecuteOption = True, rpc: RpcOption = DEFAULT_RPC,
                   manifest: ManifestOption = DEFAULT_MANIFEST, key: KeyOption = None,
                   as_json: JsonOption = False) -> None:
        """Propose granting a role to a member."""
        _run(rpc, manifest, key, as_json, lambda s: _after_proposal(
            s, s.chain.propose_grant_role(s.tx, gln, role.upper(), lifetime), execute)
            | {"organisation": s.chain.organisation(gln)})

    @propose.command("revoke-role")
    def revoke_role(gln: str, role: str, lifetime: LifetimeOption = 7 * 86400,
                    execute: ExecuteOption = True, rpc: RpcOption = DEFAULT_RPC,
                    manifest: ManifestOption = DEFAULT_MANIFEST, key: KeyOption = None,
                    as_json: JsonOption = False) -> None:
        """Propose revoking a role from a member."""
        _run(rpc, manifest, key, as_json, lambda s: _after_proposal(
            s, s.chain.propose_revoke_role(s.tx, gln, role.upper(), lifetime), execute)
            | {"organisation": s.chain.organisation(gln)})

    @propose.command("set-quorum")
    def set_quorum(quorum: int, lifetime: LifetimeOption = 7 * 86400, execute: ExecuteOption = True,
                   rpc: RpcOption = DEFAULT_RPC, manifest: ManifestOption = DEFAULT_MANIFEST,
                   key: KeyOption = None, as_json: JsonOption = False) -> None:
        """Propose a new quorum (approving ADMIN organisations a proposal needs)."""
        _run(rpc, manifest, key, as_json, lambda s: _after_proposal(
            s, s.chain.propose_set_quorum(s.tx, quorum, lifetime), execute)
            | {"consortium": {"quorum": s.chain.quorum(), "admins": s.chain.admin_count()}})

    @org.command("assign-prefix")
    def assign_prefix(gln: str, prefix: str, lifetime: LifetimeOption = 7 * 86400,
                      execute: ExecuteOption = True, rpc: RpcOption = DEFAULT_RPC,
                      manifest: ManifestOption = DEFAULT_MANIFEST, key: KeyOption = None,
                      as_json: JsonOption = False) -> None:
        """Propose (and, at quorum, execute) assigning a GS1 company prefix to a member."""
        _run(rpc, manifest, key, as_json, lambda s: _after_proposal(
            s, s.chain.propose_assign_prefix(s.tx, gln, prefix, lifetime), execute)
            | {"prefix": {"prefix": prefix, "owner": s.chain.prefix_owner(prefix)}})

    @org.command("approve")
    def approve(proposal: int, execute: ExecuteOption = True, rpc: RpcOption = DEFAULT_RPC,
                manifest: ManifestOption = DEFAULT_MANIFEST, key: KeyOption = None,
                as_json: JsonOption = False) -> None:
        """Approve a proposal for the caller's organisation (and execute it at quorum)."""
        def act(s: _Session) -> dict[str, Any]:
            result: dict[str, Any] = {"transaction": s.chain.approve(s.tx, proposal)}
            if execute and s.chain.valid_approvals(proposal) >= s.chain.quorum():
                result["executed"] = s.chain.execute(s.tx, proposal)
            return result | {"proposal": s.chain.proposal(proposal)}
        _run(rpc, manifest, key, as_json, act)

    @org.command("execute")
    def execute_cmd(proposal: int, rpc: RpcOption = DEFAULT_RPC,
                    manifest: ManifestOption = DEFAULT_MANIFEST, key: KeyOption = None,
                    as_json: JsonOption = False) -> None:
        """Execute a proposal that has reached the quorum."""
        _run(rpc, manifest, key, as_json, lambda s: {
            "transaction": s.chain.execute(s.tx, proposal), "proposal": s.chain.proposal(proposal)})

    @org.command("add-key")
    def add_key(gln: str, address: str, rpc: RpcOption = DEFAULT_RPC,
                manifest: ManifestOption = DEFAULT_MANIFEST, key: KeyOption = None,
                as_json: JsonOption = False) -> None:
        """Add a key to your own organisation (signed with one of its keys)."""
        _run(rpc, manifest, key, as_json, lambda s: {
            "transaction": s.chain.add_key(s.tx, gln, address), "key": s.chain.key_info(address)})

    @org.command("revoke-key")
    def revoke_key(address: str, rpc: RpcOption = DEFAULT_RPC,
                   manifest: ManifestOption = DEFAULT_MANIFEST, key: KeyOption = None,
                   as_json: JsonOption = False) -> None:
        """Revoke a key from now on (your organisation's, or any as ADMIN)."""
        _run(rpc, manifest, key, as_json, lambda s: {
            "transaction": s.chain.revoke_key(s.tx, address), "key": s.chain.key_info(address)})

    @org.command("define-grade")
    def define_grade(grade: str, rpc: RpcOption = DEFAULT_RPC,
                     manifest: ManifestOption = DEFAULT_MANIFEST, key: KeyOption = None,
                     as_json: JsonOption = False) -> None:
        """Append a credit grade level (REGULATOR)."""
        _run(rpc, manifest, key, as_json, lambda s: {
            "transaction": s.chain.define_grade(s.tx, grade),
            "grades": {"levels": s.chain.grade_levels()}})

    @org.command("set-grade")
    def set_grade(gln: str, grade: Annotated[str, typer.Argument(help="grade, or '-' to clear")],
                  rpc: RpcOption = DEFAULT_RPC, manifest: ManifestOption = DEFAULT_MANIFEST,
                  key: KeyOption = None, as_json: JsonOption = False) -> None:
        """Set an organisation's credit grade (REGULATOR)."""
        _run(rpc, manifest, key, as_json, lambda s: {
            "transaction": s.chain.set_grade(s.tx, gln, None if grade == "-" else grade),
            "organisation": s.chain.organisation(gln)})

    @org.command("blacklist")
    def blacklist(gln: str, reason: Annotated[str, typer.Option(help="reason (its keccak256 goes on chain)")] = "",
                  lift: Annotated[bool, typer.Option("--lift", help="take the organisation off the blacklist")] = False,
                  rpc: RpcOption = DEFAULT_RPC, manifest: ManifestOption = DEFAULT_MANIFEST,
                  key: KeyOption = None, as_json: JsonOption = False) -> None:
        """Put an organisation on (or, with --lift, off) the blacklist (REGULATOR)."""
        from ledger.proofs.merkle import keccak256

        reason_hash = keccak256(reason.encode()) if reason else bytes(32)
        _run(rpc, manifest, key, as_json, lambda s: {
            "transaction": s.chain.set_blacklisted(s.tx, gln, not lift, reason_hash),
            "organisation": s.chain.organisation(gln)})

    @org.command("show")
    def show(gln: str, rpc: RpcOption = DEFAULT_RPC, manifest: ManifestOption = DEFAULT_MANIFEST,
             as_json: JsonOption = False) -> None:
        """Show an organisation as the Consortium holds it."""
        def act(s: _Session) -> dict[str, Any]:
            found = s.chain.organisation(gln)
            if found is None:
                fail(f"no organisation {gln} on the Consortium")
            return {"organisation": found}
        _run(rpc, manifest, None, as_json, act)

    org.add_typer(propose, name="propose")
    app.add_typer(org, name="org")
