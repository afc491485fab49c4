"""The regulator's reasons: the text behind a grade or a blacklist change, kept by transaction.

The console's regulator gives a reason with every grade and blacklist change, but the chain
keeps only keccak256(reason) for a blacklisting (`OrganisationBlacklisted.reasonHash`) and
nothing for a grade. Once the regulator's own wallet has sent the Consortium transaction and it
is mined, the gateway reads what the transaction changed from its logs (`applied_change`) and
keeps the text with it (`ReasonBook.record`): the transaction, the organisation concerned, the
action, the regulator's organisation and key.

Shown back (`checked`), the two are not worth the same: a blacklist reason is shown only when
keccak256(text) equals the reasonHash on chain, so a gateway (or a store edited behind it)
cannot put words in the regulator's mouth; a grade's reason has nothing on chain to be checked
against, and is said to be the gateway's record.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from ledger.errors import ConflictError, InvalidInputError
from ledger.proofs.merkle import keccak256
from ledger.store.tables import regulator_reasons

__all__ = ["ACTIONS", "AppliedChange", "NotARegulatorChangeError", "ReasonAlreadyKeptError",
           "ReasonBook", "ReasonCheck", "ReasonMismatchError", "ReasonRecord", "applied_change",
           "checked"]

ACTIONS = ("grade", "blacklist", "unblacklist")
_EVENTS = {"GradeSet": "grade", "OrganisationBlacklisted": "blacklist",
           "OrganisationUnblacklisted": "unblacklist"}


class ReasonMismatchError(ConflictError):
    slug = "reason-mismatch"
    title = "The reason does not match the transaction"


class ReasonAlreadyKeptError(ConflictError):
    slug = "reason-already-kept"
    title = "A reason is kept for this transaction already"


class NotARegulatorChangeError(InvalidInputError):
    slug = "not-a-regulator-change"
    title = "The transaction changed no grade or blacklist standing"


@dataclass(frozen=True, slots=True)
class AppliedChange:
    """What one Consortium transaction's logs say it changed."""

    action: str
    org: bytes
    grade: str | None
    reason_hash: bytes | None  # on chain for a blacklist change; None for a grade


@dataclass(frozen=True, slots=True)
class ReasonRecord:
    tx_hash: bytes
    org: bytes
    action: str
    grade: str | None
    reason: str
    by_org: bytes
    signer: str
    recorded_ms: int


@dataclass(frozen=True, slots=True)
class ReasonCheck:
    """A kept reason as it may be shown: `text` is None when it must not be."""

    text: str | None
    status: str  # "matches-chain", "mismatch" (blacklist) or "gateway-record" (grade)


def applied_change(consortium: Any, receipt: Any) -> AppliedChange:
    """The single grade or blacklist change in a mined Consortium transaction's receipt."""
    from web3.logs import DISCARD

    found: list[AppliedChange] = []
    for event, action in _EVENTS.items():
        for log in getattr(consortium.events, event)().process_receipt(receipt, errors=DISCARD):
            args = log["args"]
            if action == "grade":
                grade = bytes(args["grade"]).rstrip(b"\0").decode("utf-8", "replace") or None
                found.append(AppliedChange(action, bytes(args["org"]), grade, None))
            else:
                found.append(AppliedChange(action, bytes(args["org"]), None,
                                           bytes(args["reasonHash"])))
    if len(found) != 1:
        raise NotARegulatorChangeError(
            f"the transaction made {len(found)} grade or blacklist changes; one is kept "
            "with a reason", changes=len(found))
    return found[0]


def checked(record: ReasonRecord, reason_hash: bytes | None) -> ReasonCheck:
    """How `record` may be shown next to the chain's `reason_hash` for its transaction."""
    if record.action == "grade":
        return ReasonCheck(record.reason, "gateway-record")
    if reason_hash is not None and keccak256(record.reason.encode("utf-8")) == reason_hash:
        return ReasonCheck(record.reason, "matches-chain")
    return ReasonCheck(None, "mismatch")


class ReasonBook:
    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self._clock = clock

    def record(self, tx_hash: bytes, change: AppliedChange, reason: str, *, by_org: bytes,
               signer: str) -> ReasonRecord:
        """Keep `reason` for the mined change; a blacklist reason must hash to the chain's."""
        if change.reason_hash is not None and keccak256(reason.encode("utf-8")) \
                != change.reason_hash:
            raise ReasonMismatchError(
                "keccak256 of this reason is not the reasonHash the transaction put on chain",
                txHash="0x" + tx_hash.hex(), reasonHash="0x" + change.reason_hash.hex())
        row = ReasonRecord(tx_hash, change.org, change.action, change.grade, reason, by_org,
                           signer, int(self._clock() * 1000))
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(regulator_reasons).values(
                    tx_hash=tx_hash, org=row.org, action=row.action, grade=row.grade,
                    reason=reason, by_org=by_org, signer=signer, recorded_ms=row.recorded_ms))
        except IntegrityError:
            raise ReasonAlreadyKeptError("a reason is kept for this transaction already",
                                      txHash="0x" + tx_hash.hex()) from None
        return row

    def by_tx(self, tx_hashes: Iterable[bytes] | None = None) -> dict[bytes, ReasonRecord]:
        q = select(regulator_reasons)
        if tx_hashes is not None:
            q = q.where(regulator_reasons.c.tx_hash.in_(list(tx_hashes)))
        with self.engine.connect() as conn:
            return {bytes(r.tx_hash): ReasonRecord(bytes(r.tx_hash), bytes(r.org), r.action,
                                                   r.grade, r.reason, bytes(r.by_org), r.signer,
                                                   int(r.recorded_ms))
                    for r in conn.execute(q)}
