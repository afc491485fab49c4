"""GS1 identifiers: check digits, GTIN normalisation, GS1 Digital Link, EPC URN ⇄ Digital Link.

Written here rather than taken from `biip`/`python-stdnum`: what the ledger needs is the EPC
URN ⇄ Digital Link mapping of the GS1 Tag Data Standard, which neither library offers, and the
check-digit arithmetic is a few lines. (`biip` is a dependency for GS1's AI table only:
`ledger.epcis.application_identifiers`.) URN → Digital Link uses the same conversion as the event
hash (`ledger.epcis.event_hash`), so an EPC's canonical form is the same everywhere.

Digital Link → URN needs the GS1 Company Prefix length, which the Digital Link does not carry:
callers pass it (it is known per organisation in the consortium registry).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from ledger.epcis.event_hash import _gs1_key_uri
from ledger.errors import InvalidInputError

__all__ = [
    "DigitalLink",
    "InvalidIdentifierError",
    "check_digit",
    "digital_link_to_urn",
    "has_valid_check_digit",
    "normalise_gtin",
    "urn_to_digital_link",
    "validate_gln",
    "validate_serial",
    "validate_sscc",
]


class InvalidIdentifierError(InvalidInputError):
    slug = "invalid-identifier"
    title = "Invalid GS1 identifier"


def check_digit(digits: str) -> str:
    """GS1 mod-10 check digit of a key without its check digit (GTIN, GLN, SSCC, GRAI...)."""
    if not digits.isascii() or not digits.isdigit():
        raise InvalidIdentifierError(f"{digits!r} is not all digits", value=digits)
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str(-total % 10)


def has_valid_check_digit(key: str) -> bool:
    return len(key) >= 2 and key.isascii() and key.isdigit() and check_digit(key[:-1]) == key[-1]


def _require(key: str, lengths: tuple[int, ...], what: str) -> str:
    key = key.strip()
    if not (key.isascii() and key.isdigit()) or len(key) not in lengths:
        raise InvalidIdentifierError(
            f"{key!r} is not a {what} ({' or '.join(map(str, lengths))} digits)", value=key)
    if not has_valid_check_digit(key):
        raise InvalidIdentifierError(f"{what} {key} has a wrong check digit "
                                     f"(expected {check_digit(key[:-1])})", value=key)
    return key


def normalise_gtin(gtin: str) -> str:
    """GTIN-8/12/13/14 → GTIN-14 (left zero-padded), after checking its check digit."""
    return _require(gtin, (8, 12, 13, 14), "GTIN").zfill(14)


def validate_gln(gln: str) -> str:
    return _require(gln, (13,), "GLN")


def validate_sscc(sscc: str) -> str:
    return _require(sscc, (18,), "SSCC")


# GS1 AI encodable character set 82 (General Specifications §7.11), used by AI 10, 21, 22, 254
_CSET82 = re.compile(r"[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]{1,20}")


def validate_serial(serial: str) -> str:
    """AI 21 serial: 1..20 characters of GS1 character set 82."""
    if not isinstance(serial, str) or not _CSET82.fullmatch(serial):
        raise InvalidIdentifierError(
            f"serial {serial!r} must be 1-20 characters of the GS1 AI character set 82",
            value=str(serial)[:40])
    return serial


_SHORT_NAMES = {"gtin": "01", "lot": "10", "ser": "21", "cpv": "22"}
_QUALIFIERS = ("22", "10", "21", "235")


@dataclass(frozen=True, slots=True)
class DigitalLink:
    """A GTIN-based GS1 Digital Link: GTIN-14 with optional CPV (22), lot (10), serial (21)
    and TPX (235). Other hosts and short names (`/gtin/`, `/ser/`) are accepted on parse."""

    gtin14: str
    serial: str | None = None
    lot: str | None = None
    qualifiers: tuple[tuple[str, str], ...] = ()  # other key qualifiers, e.g. (("22", cpv),)

    @classmethod
    def parse(cls, uri: str) -> DigitalLink:
        try:
            parts = urlsplit(uri.strip())
        except ValueError as exc:
            raise InvalidIdentifierError(f"{uri!r} is not a URI", value=uri[:100]) from exc
        if parts.scheme not in ("http", "https"):
            raise InvalidIdentifierError(f"{uri!r} is not an http(s) Digital Link", value=uri[:100])
        segments = [s for s in parts.path.split("/") if s]
        for i, seg in enumerate(segments):
            if _SHORT_NAMES.get(seg, seg) == "01":
                segments = segments[i:]
                break
        else:
            raise InvalidIdentifierError(f"{uri!r} carries no GTIN (AI 01)", value=uri[:100])
        if len(segments) % 2:
            raise InvalidIdentifierError(f"{uri!r}: AI without a value", value=uri[:100])
        values: dict[str, str] = {}
        for ai, value in zip(segments[::2], segments[1::2], strict=True):
            ai = _SHORT_NAMES.get(ai, ai)
            if ai != "01" and ai not in _QUALIFIERS:
                raise InvalidIdentifierError(f"{uri!r}: AI {ai} is not a GTIN qualifier",
                                             value=uri[:100])
            if ai in values:
                raise InvalidIdentifierError(f"{uri!r}: AI {ai} repeated", value=uri[:100])
            values[ai] = unquote(value)
        serial = values.get("21")
        lot = values.get("10")
        if serial is not None:
            validate_serial(serial)
        if lot is not None:
            validate_serial(lot)
        other = tuple((ai, values[ai]) for ai in ("22", "235") if ai in values)
        return cls(normalise_gtin(values["01"]), serial, lot, other)

    def canonical_uri(self) -> str:
        """https://id.gs1.org/01/<gtin14>[/22/..][/10/..][/21/..] (qualifiers in GS1 order)."""
        uri = "https://id.gs1.org/01/" + self.gtin14
        extra = dict(self.qualifiers)
        for ai, value in (("22", extra.get("22")), ("10", self.lot), ("21", self.serial),
                          ("235", extra.get("235"))):
            if value is not None:
                uri += f"/{ai}/" + quote(value, safe="'-._;<=>?\"")
        return uri

    def key(self) -> str:
        """Store key of the finest identification level: "01/<GTIN14>/21/<serial>" (or lot)."""
        if self.serial is not None:
            return f"01/{self.gtin14}/21/{self.serial}"
        if self.lot is not None:
            return f"01/{self.gtin14}/10/{self.lot}"
        return f"01/{self.gtin14}"


def urn_to_digital_link(urn: str) -> str:
    """EPC URN (id, class, idpat: sgtin, lgtin, sscc, sgln, grai, giai, pgln, ...) → canonical
    Digital Link, as the event hash defines it."""

    if not isinstance(urn, str) or not urn.startswith("urn:epc:"):
        raise InvalidIdentifierError(f"{urn!r} is not an EPC URN", value=str(urn)[:100])
    dl = _gs1_key_uri(urn.strip())
    if dl is None:
        raise InvalidIdentifierError(f"{urn!r} is not a well-formed EPC URN", value=urn[:100])
    return dl


# URN serial escapes of the Tag Data Standard (characters not allowed raw in an EPC URN)
_URN_ESCAPES = {'"': "%22", "%": "%25", "&": "%26", "/": "%2F", "<": "%3C", ">": "%3E",
                "?": "%3F"}


def _urn_escape(value: str) -> str:
    return "".join(_URN_ESCAPES.get(c, c) for c in value)


def digital_link_to_urn(uri: str, company_prefix_length: int) -> str:
    """Digital Link → EPC URN: sgtin (01+21), lgtin class (01+10), sscc (00), sgln (414[+254]),
    pgln (417), grai (8003), giai (8004). The company prefix length is not in the link."""
    if not 6 <= company_prefix_length <= 12:
        raise InvalidIdentifierError("a GS1 Company Prefix has 6 to 12 digits",
                                     value=company_prefix_length)
    n = company_prefix_length
    path = [unquote(s) for s in urlsplit(uri.strip()).path.split("/") if s]
    pairs: dict[str, str] = {}
    for i in range(len(path) - 1):
        if path[i] in ("00", "414", "417", "8003", "8004", "01", "gtin", "sscc", "gln", "party",
                       "grai", "giai"):
            tail = path[i:]
            pairs = {_SHORT_NAMES.get(a, {"sscc": "00", "gln": "414", "party": "417",
                                          "grai": "8003", "giai": "8004"}.get(a, a)): v
                     for a, v in zip(tail[::2], tail[1::2], strict=False)}
            break
    if "01" in pairs:
        link = DigitalLink.parse(uri)
        g = link.gtin14
        body = f"{g[1:1 + n]}.{g[0]}{g[1 + n:13]}"
        if link.serial is not None:
            return f"urn:epc:id:sgtin:{body}.{_urn_escape(link.serial)}"
        if link.lot is not None:
            return f"urn:epc:class:lgtin:{body}.{_urn_escape(link.lot)}"
        return f"urn:epc:idpat:sgtin:{body}.*"
    if "00" in pairs:
        s = validate_sscc(pairs["00"])
        return f"urn:epc:id:sscc:{s[1:1 + n]}.{s[0]}{s[1 + n:17]}"
    if "414" in pairs:
        g = validate_gln(pairs["414"])
        ext = pairs.get("254", "0")
        return f"urn:epc:id:sgln:{g[:n]}.{g[n:12]}.{_urn_escape(ext)}"
    if "417" in pairs:
        g = validate_gln(pairs["417"])
        return f"urn:epc:id:pgln:{g[:n]}.{g[n:12]}"
    if "8003" in pairs:
        v = pairs["8003"]
        key = _require(v[:14], (14,), "GRAI")
        if len(v) < 15:
            raise InvalidIdentifierError(f"GRAI {v} has no serial (EPC needs one)", value=v)
        return f"urn:epc:id:grai:{key[1:1 + n]}.{key[1 + n:13]}.{_urn_escape(v[14:])}"
    if "8004" in pairs:
        v = pairs["8004"]
        return f"urn:epc:id:giai:{v[:n]}.{_urn_escape(v[n:])}"
    raise InvalidIdentifierError(f"{uri!r} has no GS1 key this ledger converts", value=uri[:100])
