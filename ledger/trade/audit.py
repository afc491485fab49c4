"""Who did what and when: the audit trail, from the chain and the store.

Every action is already on chain (a transaction to Consortium, CustomsRelease or CodeRegistry,
which emitted an event) or in a signed capture (the store keeps its signer, organisation and
signature). This module only reads them back into one list of `AuditEntry`, each with its
proof: the transaction hash (and log index) of a chain event, the capture id and event ids of
a signed capture. The actor of a chain entry is the transaction's sender, and its organisation
the one Consortium lists for that key; the actor of a capture is its recovered signer.

Two records are the gateway's own, not signed: a grade's or blacklisting's reason text, kept
with its transaction (`ledger.trade.regulator_reasons`: added to that chain entry's details, a
blacklist reason only if it hashes to the reasonHash on chain), and complaint triage changes
(`ledger.trade.complaint_triage`: store entries `complaint.<status>`, the actor the console
session's key, the proof the complaint's id).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from ledger.errors import InvalidInputError
from ledger.store.tables import captures
from ledger.trade.complaint_triage import ComplaintTriage
from ledger.trade.regulator_reasons import ReasonBook, checked

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
    proof_kind: str  # "tx", "capture" or "complaint"
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


_REASONED = {"Consortium.GradeSet", "Consortium.OrganisationBlacklisted",
             "Consortium.OrganisationUnblacklisted"}


def _with_reasons(entries: list[AuditEntry], engine: Engine) -> list[AuditEntry]:
    kept = ReasonBook(engine).by_tx()
    out = []
    for e in entries:
        record = kept.get(bytes.fromhex(e.proof[2:])) if e.action in _REASONED else None
        if record is not None:
            on_chain = e.details.get("reasonHash")
            shown = checked(record, bytes.fromhex(on_chain[2:]) if isinstance(on_chain, str)
                            and on_chain.startswith("0x") else None)
            e = replace(e, details={**e.details, "reason": shown.text,
                                    "reasonStatus": shown.status})
        out.append(e)
    return out


def _triage_entries(engine: Engine) -> list[AuditEntry]:
    return [AuditEntry(c.at_ms // 1000, "store", c.org, c.signer, f"complaint.{c.to_status}",
                       {"complaint": c.complaint_id, "from": c.from_status, "to": c.to_status,
                        **({"outcome": c.outcome} if c.outcome else {})},
                       str(c.complaint_id), "complaint")
            for c in ComplaintTriage(engine).history()]


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
    entries = (_with_reasons(_chain_entries(chain, view), engine) + _store_entries(engine)
               + _triage_entries(engine))

    def keep(e: AuditEntry) -> bool:
        if since is not None and e.at < since:
            return False
        if until is not None and e.at >= until:
            return False
        if org is not None:
            named = e.details.get("org")
            # An organisation id is its GLN padded with zeros, which `_plain` shows as the GLN.
            return e.org == org or named in ("0x" + org.hex(), _plain(org))
        return True

    return sorted((e for e in entries if keep(e)),
                  key=lambda e: (e.at, e.block or 0, e.log_index or 0), reverse=True)
