"""Customs decisions as CustomsRelease stores them (`uint8`, in this order): the risk engine
suggests one, customs records it on chain, the verifier reads it back."""

from __future__ import annotations

from enum import IntEnum

from ledger.errors import InvalidInputError

__all__ = ["Decision"]


class Decision(IntEnum):
    """Customs decisions, ordered by severity (the order monotonicity is judged in)."""

    DIRECT_RELEASE = 0
    NORMAL_CONTROL = 1
    IMMEDIATE_CONTROL = 2

    @classmethod
    def parse(cls, name: str) -> Decision:
        try:
            return cls[name]
        except KeyError:
            raise InvalidInputError(f"unknown customs decision {name!r}; one of "
                                    f"{', '.join(d.name for d in cls)}", field="decision") from None
