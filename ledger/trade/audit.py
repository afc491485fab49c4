"""Who did what and when: the audit trail, from the chain and the store.

Every action is already on chain (a transaction to Consortium, CustomsRelease or CodeRegistry,
which emitted an event) or in a signed capture (the store keeps its signer, organisation and
signature). This module only reads them back into one list of `AuditEntry`, each with its
proof: the transaction hash (and log index) of a chain event, the capture id and event ids of
a signed capture. The actor of a chain entry is the transaction's sender, and its organisation
the one Consortium lists for that key; the actor of a capture is its recovered signer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from ledger.errors import InvalidInputError
from ledger.store.tables import captures

__all__ = ["AUDITED_CONTRACTS", "AuditEntry", "audit_trail"]

AUDITED_CONTRACTS = ("Consortium", "CustomsRelease", "CodeRegistry")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: int  # unix seconds: the block's time, or when the gateway received the capture
    source: str  # "chain" or "store"
    org: bytes | None  # the actor's organisation (None: a key no organisation holds)
    actor: str  # the signing key's address
    action: str  # "Consortium.GradeSet", "capture", …
    details: dict[str, Any]
    proof: str  # a transaction hash, or a capture id
    proof_kind: str  # "tx" or "capture"
    block: int | None = None
    log_index: int | None = None


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        raw = bytes(value)
        text = raw.rstrip(b"\0")
        if text and all(0x20 <= b < 0x7F for b in text) and len(raw) == 32:
            return text.decode("ascii")
        return "0x" + raw.hex()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value if isinstance(value, str | int | bool) or value is None else str(value)


def _chain_entries(chain: Any, view: Any) -> list[AuditEntry]:
    w3 = chain.w3
    senders: dict[bytes, str] = {}
    times: dict[int, int] = {}
    out = []
    for contract in AUDITED_CONTRACTS:
        names = [i["name"] for i in chain.contracts[contract].abi if i.get("type") == "event"]
        for name in names:
            try:
                logs = chain.event_logs(contract, name)
            except InvalidInputError:  # an inherited event the client does not index
                continue
            for log in logs:
                tx = bytes(log["transactionHash"])
                if tx not in senders:
                    senders[tx] = str(w3.eth.get_transaction(tx)["from"])
                block = int(log["blockNumber"])
                if block not in times:
                    times[block] = int(w3.eth.get_block(block)["timestamp"])
                actor = senders[tx]
                out.append(AuditEntry(
                    times[block], "chain", view.key_org(actor), actor, f"{contract}.{name}",
                    {k: _plain(v) for k, v in dict(log["args"]).items()}, "0x" + tx.hex(), "tx",
                    block, int(log["logIndex"])))
    return out


def _store_entries(engine: Engine) -> list[AuditEntry]:
    q = select(captures.c.id, captures.c.signer, captures.c.org, captures.c.received_ms,
               captures.c.event_count, captures.c.nonce, captures.c.signed_at)
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    return [AuditEntry(int(received) // 1000, "store", bytes(org), str(signer), "capture",
                       {"events": int(count), "nonce": str(nonce), "signedAt": int(signed_at)},
                       str(cid), "capture")
            for cid, signer, org, received, count, nonce, signed_at in rows]


def audit_trail(engine: Engine, chain: Any, view: Any, *, org: bytes | None = None,
                since: int | None = None, until: int | None = None) -> list[AuditEntry]:
    """Chain events of the audited contracts and the store's signed captures, newest first;
    only `org`'s (as actor, or named by a chain event's `org` argument) and only within
    [since, until) unix seconds when given."""
    entries = _chain_entries(chain, view) + _store_entries(engine)

    def keep(e: AuditEntry) -> bool:
        if since is not None and e.at < since:
            return False
        if until is not None and e.at >= until:
            return False
        if org is not None:
            named = e.details.get("org")
            return e.org == org or named == "0x" + org.hex()
        return True

    return sorted((e for e in entries if keep(e)),
                  key=lambda e: (e.at, e.block or 0, e.log_index or 0), reverse=True)
