"""Product conditions: the ranges a brand allows its goods in transit, signed as master data.

The organisation that owns a GTIN's GS1 company prefix on Consortium (the brand) states, per
GTIN, the allowed range of each measurement (temperature, humidity, shock: CBV measurement
types `Temperature`, `RelativeHumidity` / `AbsoluteHumidity`, `Acceleration`), each with a
min and/or max in a UN/ECE unit and the minutes the goods may spend outside it. The statement
is a JSON text:

    {"type": "ProductConditions", "gtin": "09412345000017", "version": 2,
     "ranges": [{"type": "Temperature", "uom": "CEL", "min": 0, "max": 4,
                 "allowedMinutesOutside": 30}]}

and the brand signs its exact bytes with EIP-712, in the domain captures use (`Zhenzhi`, "2",
chain id, Consortium):

    ProductConditions(bytes32 conditionsHash,bytes32 org,uint64 signedAt)

with `conditionsHash = keccak256(text)`. Nobody re-serialises the text, so a verifier in any
language needs only keccak256, a JSON parser and ecrecover. A statement counts when the
signature recovers a key that Consortium lists for `org` and that was valid at `signedAt`,
and `org` owns the GTIN's company prefix: a member that is not the brand cannot set another
brand's ranges.

Versions are like the risk rules': each version of a GTIN's conditions is immutable once
stored, a new one must carry a higher number, and a cold-chain judgement names the version
it was made under, so an old one can be made again.

**Registered on chain.** A signature proves the brand said it, not that it is still what the
brand says: a gateway holding versions 1 (0-25 °C) and 2 (0-4 °C) could serve 1 and make a
breach disappear, or keep 2 to itself. So the brand also registers each version's
`conditionsHash` on CodeRegistry (`registerConditions(gtin, version, hash)`, prefix owner
only, versions strictly increasing, each with its block time). A verifier judges an item by
the version `in_force` names: the latest registered at or before the item's last reading
(the first registered when every reading is older, since conditions describe the product and
a later version cannot loosen them after the fact), and accepts a served text only when its
keccak256 is that registration's hash.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from ledger.errors import AuthorizationError, ConflictError, InvalidInputError, NotFoundError
from ledger.proofs.codes import validate_gtin14
from ledger.proofs.merkle import keccak256
from ledger.proofs.signing import CaptureDomain, InvalidSignatureError, _recover, sign_digest
from ledger.store.tables import product_conditions
from ledger.trade.coldchain import MEASUREMENTS, SensorRange

__all__ = [
    "CONDITIONS_TYPE", "MAX_TEXT_BYTES", "ConditionsNotPrefixOwnerError", "ConditionsSignatureError", "ConditionsVersionError",
    "InvalidConditionsError", "ProductConditions", "SignedConditions", "UnknownConditionsError",
    "accept_conditions", "check_authority", "conditions_digest", "conditions_text", "in_force",
    "latest_conditions",
    "parse_conditions", "recover_conditions_signer", "sign_conditions", "stored_conditions",
]

CONDITIONS_TYPE = "ProductConditions(bytes32 conditionsHash,bytes32 org,uint64 signedAt)"
_TYPEHASH = keccak256(CONDITIONS_TYPE.encode())
MAX_TEXT_BYTES = 4096
MAX_RANGES = 8
MAX_ALLOWED_MINUTES = 366 * 24 * 60
_UINT32 = 1 << 32
_UINT64 = 1 << 64


class InvalidConditionsError(InvalidInputError):
    slug = "invalid-product-conditions"
    title = "Invalid product conditions"


class ConditionsNotPrefixOwnerError(AuthorizationError):
    slug = "conditions-not-prefix-owner"
    title = "Only the GTIN's brand owner may set its conditions"


class ConditionsSignatureError(AuthorizationError):
    slug = "invalid-conditions-signature"
    title = "Invalid product conditions signature"


class ConditionsVersionError(ConflictError):
    slug = "product-conditions-version"
    title = "Product conditions version already stored or superseded"


class UnknownConditionsError(NotFoundError):
    slug = "unknown-product-conditions"
    title = "No product conditions for this GTIN"


@dataclass(frozen=True, slots=True)
class ProductConditions:
    gtin: str
    version: int
    ranges: tuple[SensorRange, ...]

    def range_for(self, kind: str) -> SensorRange | None:
        return next((r for r in self.ranges if r.type == kind), None)


def _number(value: Any, what: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise InvalidConditionsError(f"{what} must be a finite number", field=what)
    return float(value)


def _range(raw: Any, n: int) -> SensorRange:
    where = f"ranges[{n}]"
    if not isinstance(raw, Mapping):
        raise InvalidConditionsError(f"{where} must be an object", field=where)
    unknown = set(raw) - {"type", "uom", "min", "max", "allowedMinutesOutside"}
    if unknown:
        raise InvalidConditionsError(f"{where} has unknown field(s) {sorted(unknown)}", field=where)
    kind, uom = raw.get("type"), raw.get("uom")
    if kind not in MEASUREMENTS:
        raise InvalidConditionsError(
            f"{where}.type must be one of {', '.join(sorted(MEASUREMENTS))}", field=where)
    if uom not in MEASUREMENTS[kind][1]:
        raise InvalidConditionsError(
            f"{where}.uom for {kind} must be one of {', '.join(sorted(MEASUREMENTS[kind][1]))}",
            field=where)
    lo = None if raw.get("min") is None else _number(raw["min"], f"{where}.min")
    hi = None if raw.get("max") is None else _number(raw["max"], f"{where}.max")
    if lo is None and hi is None:
        raise InvalidConditionsError(f"{where} needs a min or a max", field=where)
    if lo is not None and hi is not None and lo > hi:
        raise InvalidConditionsError(f"{where}: min {lo} is above max {hi}", field=where)
    allowed = raw.get("allowedMinutesOutside", 0)
    if (not isinstance(allowed, int) or isinstance(allowed, bool)
            or not 0 <= allowed <= MAX_ALLOWED_MINUTES):
        raise InvalidConditionsError(
            f"{where}.allowedMinutesOutside must be an integer 0-{MAX_ALLOWED_MINUTES}", field=where)
    return SensorRange(kind, uom, lo, hi, allowed)


def parse_conditions(text: str | bytes) -> ProductConditions:
    """The conditions a signed text states; anything malformed is refused."""
    raw_bytes = text.encode() if isinstance(text, str) else bytes(text)
    if len(raw_bytes) > MAX_TEXT_BYTES:
        raise InvalidConditionsError(f"a conditions text is at most {MAX_TEXT_BYTES} bytes")
    try:
        raw = orjson.loads(raw_bytes)
    except orjson.JSONDecodeError:
        raise InvalidConditionsError("the conditions text is not JSON") from None
    if not isinstance(raw, dict) or raw.get("type") != "ProductConditions":
        raise InvalidConditionsError('a conditions text is an object with "type": "ProductConditions"')
    unknown = set(raw) - {"type", "gtin", "version", "ranges"}
    if unknown:
        raise InvalidConditionsError(f"unknown field(s) {sorted(unknown)}", field="conditions")
    gtin = raw.get("gtin")
    if not isinstance(gtin, str):
        raise InvalidConditionsError("gtin must be a GTIN-14 string", field="gtin")
    try:
        gtin = validate_gtin14(gtin)
    except InvalidInputError as exc:
        raise InvalidConditionsError(str(exc), field="gtin") from None
    version = raw.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version < _UINT32:
        raise InvalidConditionsError("version must be an integer from 1", field="version")
    ranges = raw.get("ranges")
    if not isinstance(ranges, list) or not 1 <= len(ranges) <= MAX_RANGES:
        raise InvalidConditionsError(f"ranges must be a list of 1-{MAX_RANGES}", field="ranges")
    parsed = tuple(_range(r, n) for n, r in enumerate(ranges))
    if len({r.type for r in parsed}) != len(parsed):
        raise InvalidConditionsError("one range per measurement type", field="ranges")
    return ProductConditions(gtin, version, parsed)


def conditions_text(gtin: str, version: int, ranges: list[dict[str, Any]]) -> str:
    """A conditions text as the brand's tooling writes it (any valid JSON text may be signed)."""
    text = orjson.dumps({"type": "ProductConditions", "gtin": gtin, "version": version,
                         "ranges": ranges}).decode()
    parse_conditions(text)
    return text


# --- the signature -------------------------------------------------------------------------------

def conditions_digest(domain: CaptureDomain, text: str, org: bytes, signed_at: int) -> bytes:
    if len(org) != 32:
        raise InvalidConditionsError("org must be 32 bytes", field="org")
    if not isinstance(signed_at, int) or isinstance(signed_at, bool) or not 0 <= signed_at < _UINT64:
        raise InvalidConditionsError("signedAt must be a uint64", field="signedAt")
    struct = keccak256(_TYPEHASH + keccak256(text.encode()) + bytes(org)
                       + signed_at.to_bytes(32, "big"))
    return keccak256(b"\x19\x01" + domain.separator + struct)


@dataclass(frozen=True, slots=True)
class SignedConditions:
    """A conditions text with the brand's signature over it."""

    text: str
    org: bytes
    signed_at: int
    signature: bytes

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "org": "0x" + self.org.hex(), "signedAt": self.signed_at,
                "signature": "0x" + self.signature.hex()}

    @classmethod
    def from_json(cls, raw: Any) -> SignedConditions:
        if not isinstance(raw, Mapping):
            raise InvalidConditionsError("signed conditions are an object")
        text, org, at, sig = (raw.get("text"), raw.get("org"), raw.get("signedAt"),
                              raw.get("signature"))
        if not isinstance(text, str):
            raise InvalidConditionsError("text must be the signed JSON text", field="text")
        try:
            org_b = bytes.fromhex(org[2:]) if isinstance(org, str) and org[:2] == "0x" else b""
            sig_b = bytes.fromhex(sig[2:]) if isinstance(sig, str) and sig[:2] == "0x" else b""
        except ValueError:
            org_b = sig_b = b""
        if len(org_b) != 32:
            raise InvalidConditionsError("org must be 0x and 64 hex digits", field="org")
        if len(sig_b) != 65:
            raise InvalidConditionsError("signature must be 0x and 130 hex digits", field="signature")
        if not isinstance(at, int) or isinstance(at, bool) or not 0 <= at < _UINT64:
            raise InvalidConditionsError("signedAt must be unix seconds", field="signedAt")
        return cls(text, org_b, at, sig_b)


def sign_conditions(private_key: bytes | str, domain: CaptureDomain, text: str, org: bytes,
                    signed_at: int | None = None) -> SignedConditions:
    parse_conditions(text)
    at = int(time.time()) if signed_at is None else signed_at
    raw = bytes.fromhex(private_key[2:] if private_key[:2] == "0x" else private_key) \
        if isinstance(private_key, str) else bytes(private_key)
    return SignedConditions(text, bytes(org), at,
                            sign_digest(raw, conditions_digest(domain, text, org, at)))


def recover_conditions_signer(domain: CaptureDomain, signed: SignedConditions) -> str:
    try:
        return _recover(conditions_digest(domain, signed.text, signed.org, signed.signed_at),
                        signed.signature)
    except InvalidSignatureError as exc:
        raise ConditionsSignatureError(str(exc), reason=exc.fields.get("reason")) from None


def check_authority(domain: CaptureDomain, signed: SignedConditions, view: Any
                    ) -> tuple[ProductConditions, str]:
    """(conditions, signer) when the brand signed them; refused otherwise. `view` is a
    `ledger.chain.view.ChainView` (or anything with `key_verdict` and `prefix_owner`)."""
    conditions = parse_conditions(signed.text)
    signer = recover_conditions_signer(domain, signed)
    org_hex = "0x" + signed.org.hex()
    state = view.key_verdict(signed.org, signer, signed.signed_at)
    if state != "valid":
        raise ConditionsSignatureError(
            f"the signature recovers {signer}, which was not a signing key of organisation "
            f"{org_hex} at {signed.signed_at} ({state})", signer=signer, org=org_hex)
    owner = view.prefix_owner(conditions.gtin)
    if owner is None or bytes(owner) != signed.org:
        raise ConditionsNotPrefixOwnerError(
            f"organisation {org_hex} does not own the company prefix of GTIN {conditions.gtin}",
            gtin=conditions.gtin, org=org_hex,
            owner=None if owner is None else "0x" + bytes(owner).hex())
    return conditions, signer


# --- the registration on chain ------------------------------------------------------------------

def in_force(registered: Sequence[Any], at_ms: int | None) -> Any | None:
    """Of a GTIN's registered versions (`ChainView.conditions_history`, oldest first, each with
    `registered_at` in seconds), the one that governs readings up to `at_ms` (the item's last
    reading): the latest registered by then, else the first; the latest when there is no
    reading; None when the brand registered none."""
    if not registered:
        return None
    if at_ms is None:
        return registered[-1]
    before = [r for r in registered if r.registered_at * 1000 <= at_ms]
    return before[-1] if before else registered[0]


# --- the store -----------------------------------------------------------------------------------

def accept_conditions(engine: Engine, domain: CaptureDomain, signed: SignedConditions,
                      view: Any) -> tuple[ProductConditions, str, bool]:
    """Check and keep a brand's signed conditions: (conditions, signer, newly stored). The same
    statement twice is stored once; another text under a stored or lower version is refused."""
    conditions, signer = check_authority(domain, signed, view)
    digest = keccak256(signed.text.encode())
    with engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            same = conn.execute(select(product_conditions.c.text_hash).where(
                product_conditions.c.gtin == conditions.gtin,
                product_conditions.c.version == conditions.version)).first()
            if same is not None:
                if bytes(same[0]) == digest:
                    return conditions, signer, False
                raise ConditionsVersionError(
                    f"version {conditions.version} of GTIN {conditions.gtin}'s conditions is "
                    "already stored with other ranges: publish a new version",
                    gtin=conditions.gtin, version=conditions.version)
            latest = conn.execute(select(func.max(product_conditions.c.version)).where(
                product_conditions.c.gtin == conditions.gtin)).scalar_one()
            if latest is not None and conditions.version < latest:
                raise ConditionsVersionError(
                    f"GTIN {conditions.gtin} already has conditions version {latest}: a new "
                    "statement needs a higher version", gtin=conditions.gtin,
                    version=conditions.version, latest=latest)
            conn.execute(insert(product_conditions).values(
                gtin=conditions.gtin, version=conditions.version, org=signed.org,
                signer=signer, signed_at=signed.signed_at, text=signed.text, text_hash=digest,
                signature=signed.signature, received_ms=int(time.time() * 1000)))
    return conditions, signer, True


def _row_signed(row: Any) -> SignedConditions:
    return SignedConditions(row.text, bytes(row.org), int(row.signed_at), bytes(row.signature))


def latest_conditions(engine: Engine, gtin: str) -> SignedConditions | None:
    """The highest stored version of the GTIN's conditions, or None."""
    q = (select(product_conditions).where(product_conditions.c.gtin == gtin)
         .order_by(product_conditions.c.version.desc()).limit(1))
    with engine.connect() as conn:
        row = conn.execute(q).first()
    return None if row is None else _row_signed(row)


def stored_conditions(engine: Engine, gtin: str, version: int | None = None) -> SignedConditions:
    """One stored version (the latest when `version` is None); 404 when there is none."""
    if version is None:
        found = latest_conditions(engine, gtin)
    else:
        with engine.connect() as conn:
            row = conn.execute(select(product_conditions).where(
                product_conditions.c.gtin == gtin,
                product_conditions.c.version == version)).first()
        found = None if row is None else _row_signed(row)
    if found is None:
        raise UnknownConditionsError(
            f"no product conditions{'' if version is None else f' version {version}'} for "
            f"GTIN {gtin}", gtin=gtin, version=version)
    return found
