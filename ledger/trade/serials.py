"""Unguessable item serials (GS1 AI 21) for a lot.

A cloner who knows one genuine code must not be able to guess another that will verify, so
serials are random, not counters: `length` symbols from `SERIAL_ALPHABET` drawn with `secrets`.
The alphabet is a subset of the GS1 AI 21 character set (CSET 82) that is safe in a URI path
without percent-encoding and drops look-alikes (0/O, 1/I/l) so a serial read aloud or typed from
the label survives. 57 symbols × 12 = 69.9 bits, above the design's 64-bit floor; shorter
serials are refused rather than silently weakened.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable

from ledger.errors import InvalidInputError

__all__ = ["DEFAULT_LENGTH", "MAX_BATCH", "MIN_ENTROPY_BITS", "SERIAL_ALPHABET", "entropy_bits",
           "new_serials"]

SERIAL_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
MIN_ENTROPY_BITS = 64
DEFAULT_LENGTH = 12
MAX_LENGTH = 20  # AI 21 is X..20
MAX_BATCH = 100_000  # one lot registration; bigger runs are several lots


def entropy_bits(length: int, alphabet: str = SERIAL_ALPHABET) -> float:
    return length * math.log2(len(alphabet))


def new_serials(count: int, *, length: int = DEFAULT_LENGTH,
                choice: Callable[[str], str] = secrets.choice) -> list[str]:
    """`count` distinct random serials. `choice` is injectable only so tests can prove the
    duplicate check; production always uses `secrets.choice`."""
    if not 1 <= count <= MAX_BATCH:
        raise InvalidInputError(f"count must be between 1 and {MAX_BATCH}", field="count")
    if not 1 <= length <= MAX_LENGTH or entropy_bits(length) < MIN_ENTROPY_BITS:
        raise InvalidInputError(
            f"serial length {length} gives {entropy_bits(length):.1f} bits; need at least "
            f"{MIN_ENTROPY_BITS} and at most {MAX_LENGTH} characters", field="length")
    out: dict[str, None] = {}  # ordered set
    attempts = 0
    while len(out) < count:
        attempts += 1
        if attempts > count * 2 + 100:
            # At 70 bits a collision is ~never; a stream of them means a broken random source.
            raise RuntimeError("random source keeps repeating serials")
        out["".join(choice(SERIAL_ALPHABET) for _ in range(length))] = None
    return list(out)
