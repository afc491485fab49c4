"""A consignment's key on CustomsRelease, derived from its customs reference.

Consignment ids are the customs reference as text ("CN-SH-2024-000123"); on chain the key is
keccak256("zhenzhi:consignment:" + ref), or the 32 bytes themselves when given as 0x-hex.
Customs' signed decision events carry their fields under `NAMESPACE` (prefix `zhenzhi`).
Here, below both `ledger.trade` (customs decides) and `ledger.evidence` (a consignment's proofs).
"""

from __future__ import annotations

import re

from ledger.errors import InvalidInputError
from ledger.proofs.merkle import keccak256

__all__ = ["NAMESPACE", "InvalidConsignmentError", "consignment_key"]

NAMESPACE = "https://ns.zhenzhi.example/epcis/"
_REF_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")
_HEX32_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")


class InvalidConsignmentError(InvalidInputError):
    slug = "invalid-consignment"
    title = "Invalid consignment"


def consignment_key(ref: str) -> bytes:
    if _HEX32_RE.match(ref):
        key = bytes.fromhex(ref[2:])
    elif _REF_RE.match(ref):
        key = keccak256(b"zhenzhi:consignment:" + ref.encode())
    else:
        raise InvalidConsignmentError(
            "a consignment id is 1-64 characters of A-Z a-z 0-9 . _ : / - (starting with a "
            "letter or digit), or 0x and 64 hex digits", field="consignment")
    if key == bytes(32):
        raise InvalidConsignmentError("the zero consignment id is reserved", field="consignment")
    return key
