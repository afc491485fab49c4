"""Issuing item codes for a lot: serials, their commitment, and its registration on CodeRegistry.

The lot's `codesRoot` is `ledger.proofs.codes.codes_tree` over its serials in issue order (leaf
`code_leaf(gtin, serial)`, the same as CodeRegistry.codeLeaf), so the proof the gateway
puts in an evidence bundle verifies on chain (`verifySerial`) and in the verifier.

Registration keeps the enterprise's authority: either its own transaction
(`Chain.register_lot`) or an EIP-712 `RegisterLot` signature (`Chain.sign_register_lot`) that
anyone relays (`Chain.register_lot_with_sig`); CodeRegistry checks that the signer's
organisation owns the GTIN's prefix either way.
Serials are secret until printed (a cloner with the list could print genuine codes), so the
store keeps them and only the owner's members may read them back.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from ledger.errors import ConflictError, NotFoundError
from ledger.proofs.codes import codes_tree, validate_gtin14, validate_lot
from ledger.store.tables import codes

__all__ = ["IssuedLot", "LotAlreadyIssuedError", "UnknownLotError", "lot_serials", "store_lot"]


class LotAlreadyIssuedError(ConflictError):
    slug = "lot-already-issued"
    title = "Codes were already issued for this lot"


class UnknownLotError(NotFoundError):
    slug = "unknown-lot"
    title = "No such lot"


@dataclass(frozen=True, slots=True)
class IssuedLot:
    gtin: str
    lot: str
    serials: tuple[str, ...]
    codes_root: bytes

    @property
    def count(self) -> int:
        return len(self.serials)


def store_lot(engine: Engine, gtin14: str, lot: str, serials: Sequence[str]) -> IssuedLot:
    """Keep the lot's serials (in issue order) in the store; refused if the lot has codes."""
    validate_gtin14(gtin14)
    validate_lot(lot)
    for s in serials:
        validate_lot(s, "serial")
    tree = codes_tree(gtin14, serials)
    now = int(time.time() * 1000)
    with engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            existing = conn.execute(select(func.count()).select_from(codes).where(
                codes.c.gtin == gtin14, codes.c.lot == lot)).scalar_one()
            if existing:
                raise LotAlreadyIssuedError(f"lot {lot} of GTIN {gtin14} already has {existing} codes",
                                            gtin=gtin14, lot=lot)
            conn.execute(insert(codes), [
                {"gtin": gtin14, "lot": lot, "serial": s, "commitment": leaf, "registered_ms": now}
                for s, leaf in zip(serials, tree.levels[0], strict=True)])
    return IssuedLot(gtin14, lot, tuple(serials), tree.root)


def lot_serials(engine: Engine, gtin14: str, lot: str) -> IssuedLot:
    with engine.connect() as conn:
        rows = conn.execute(select(codes.c.serial).where(codes.c.gtin == gtin14, codes.c.lot == lot)
                            .order_by(codes.c.id)).all()
    if not rows:
        raise UnknownLotError(f"no codes issued for lot {lot} of GTIN {gtin14}", gtin=gtin14, lot=lot)
    serials = tuple(r[0] for r in rows)
    return IssuedLot(gtin14, lot, serials, codes_tree(gtin14, serials).root)


