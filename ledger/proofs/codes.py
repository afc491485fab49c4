"""GS1 identifiers as the contracts see them: GLN organisation ids, company prefixes, GTIN-14,
item-code leaves and lot keys.

On chain an identifier is ASCII, as written in a Digital Link, so both sides hash the very same
bytes:
- organisation id: bytes32 = the 13-digit GLN (or PGLN) right-padded with zero bytes;
- company prefix: bytes32 = 4 to 12 ASCII digits right-padded with zero bytes;
- item-code leaf: keccak256(keccak256("01/<GTIN-14>/21/<serial>")), double-hashed like every
  leaf in Zhenzhi (see `ledger.proofs.capture`); serials are random and at least 64 bits, so a leaf
  cannot be inverted by guessing;
- lot key: keccak256("<GTIN-14>/10/<lot>").
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ledger.errors import InvalidInputError
from ledger.proofs.merkle import MerkleTree, keccak256

__all__ = [
    "InvalidIdentifierError", "check_digit", "code_key", "code_leaf", "codes_tree", "gln_of",
    "lot_key", "org_id", "prefix_bytes", "prefix_of", "validate_gtin14", "validate_lot",
]

_DIGITS = re.compile(r"[0-9]+")
# GS1 character set 82, the characters AI 10 (lot) and AI 21 (serial) may use.
_CSET82 = re.compile(r"[!\"%-?A-Z_a-z]{1,20}")


class InvalidIdentifierError(InvalidInputError):
    slug = "invalid-identifier"
    title = "Invalid GS1 identifier"


def check_digit(data: str) -> int:
    """GS1 mod-10 check digit of `data` (the digits before the check digit)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(data)))
    return (10 - total % 10) % 10


def _valid_mod10(digits: str, length: int) -> bool:
    return (len(digits) == length and _DIGITS.fullmatch(digits) is not None
            and check_digit(digits[:-1]) == int(digits[-1]))


def org_id(gln: str) -> bytes:
    """bytes32 organisation id of a 13-digit GLN or PGLN (check digit verified)."""
    if not isinstance(gln, str) or not _valid_mod10(gln, 13):
        raise InvalidIdentifierError(f"not a GLN (13 digits with a valid check digit): {gln!r}",
                                     field="gln")
    return gln.encode("ascii") + bytes(19)


def gln_of(org: bytes) -> str:
    """The GLN inside a bytes32 organisation id; the inverse of `org_id`."""
    raw = bytes(org)
    if len(raw) != 32 or any(raw[13:]):
        raise InvalidIdentifierError(f"not an organisation id: 0x{raw.hex()}", field="org")
    gln = raw[:13].decode("ascii", errors="replace")
    org_id(gln)  # the same checks as the forward direction
    return gln


def prefix_bytes(prefix: str) -> bytes:
    """bytes32 form of a GS1 company prefix (4 to 12 digits as held in a GTIN-14)."""
    if not isinstance(prefix, str) or not 4 <= len(prefix) <= 12 or not _DIGITS.fullmatch(prefix):
        raise InvalidIdentifierError(f"not a GS1 company prefix (4-12 digits): {prefix!r}",
                                     field="prefix")
    return prefix.encode("ascii").ljust(32, b"\0")


def prefix_of(raw: bytes) -> str:
    """The digits of a bytes32 company prefix."""
    return bytes(raw).rstrip(b"\0").decode("ascii")


def validate_gtin14(gtin: str) -> str:
    if not isinstance(gtin, str) or not _valid_mod10(gtin, 14):
        raise InvalidIdentifierError(f"not a GTIN-14 (14 digits with a valid check digit): {gtin!r}",
                                     field="gtin")
    return gtin


def validate_lot(value: str, field: str = "lot") -> str:
    if not isinstance(value, str) or not _CSET82.fullmatch(value):
        raise InvalidIdentifierError(f"{field} must be 1-20 characters of GS1 set 82: {value!r}",
                                     field=field)
    return value


def code_key(gtin: str, serial: str) -> str:
    """The normalised item key `01/<GTIN-14>/21/<serial>`."""
    return f"01/{validate_gtin14(gtin)}/21/{validate_lot(serial, 'serial')}"


def code_leaf(gtin: str, serial: str) -> bytes:
    return keccak256(keccak256(code_key(gtin, serial).encode("ascii")))


def lot_key(gtin: str, lot: str) -> bytes:
    return keccak256(f"{validate_gtin14(gtin)}/10/{validate_lot(lot)}".encode("ascii"))


def codes_tree(gtin: str, serials: Iterable[str]) -> MerkleTree:
    """The tree whose root CodeRegistry stores for a lot: one leaf per serial, in the given order."""
    return MerkleTree.build([code_leaf(gtin, s) for s in serials])
