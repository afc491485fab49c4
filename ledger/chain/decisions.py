"""Customs decisions and inspection outcomes as CustomsRelease stores them (`uint8`, in this
order): the risk engine suggests a decision, customs records it and the inspection's outcome on
chain, the verifier reads both back."""

from __future__ import annotations

from enum import IntEnum

from ledger.errors import InvalidInputError

__all__ = ["Decision", "Inspection"]


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


class Inspection(IntEnum):
    """Same order as CustomsRelease.Inspection."""

    NOT_INSPECTED = 0
    PASSED = 1
    FAILED = 2

    @classmethod
    def parse(cls, name: str) -> Inspection:
        try:
            return cls[name.upper().replace("-", "_")]
        except KeyError:
            raise InvalidInputError(f"unknown inspection outcome {name!r}; one of "
                                    f"{', '.join(i.name for i in cls)}", field="inspection") from None
