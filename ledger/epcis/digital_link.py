"""GS1 Digital Link request paths: the syntax check a conformant resolver runs first.

    /{primary key AI}/{value}[/{qualifier AI}/{value}]...[/{compressed}]   or   /{compressed}

`parse_path` reads the path of a request URI (numeric AIs or the short names, uncompressed,
partly or wholly compressed: `ledger.epcis.dl_compression`) into a `LinkPath`, or refuses it
with `DigitalLinkSyntaxError`, whose `reason` says what is wrong: `check-digit`,
`qualifier-order`, `illegal-character`, `unknown-ai`, `not-a-qualifier`, `bad-length`,
`bad-value`, `missing-value`, `repeated-ai` or a compression reason. `query_attributes` reads
the data attributes of a query string (`?17=291231&3103=001250`) the same way. The resolver
answers those with 400.

Every AI value, key, qualifier or data attribute, is checked against GS1's own syntax for its AI
(`ledger.epcis.application_identifiers`: GS1's AI table, with its expression per AI and the
check digits), on top of the key-specific rules here (GTIN-8/12/13 padded to GTIN-14). An AI
GS1 does not define is `unknown-ai`.

Key qualifiers follow GS1 Digital Link URI Syntax 1.2+: each primary key has an ordered list of
qualifier levels (GTIN: CPV 22, then lot 10, then serial 21 or TPX 235), and a path may skip
levels but never go back up. A trailing slash is tolerated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote

from ledger.epcis.application_identifiers import InvalidAIValueError, check_value, lookup
from ledger.epcis.dl_compression import CompressionError, decompress, looks_compressed
from ledger.epcis.gs1 import DigitalLink, check_digit
from ledger.errors import InvalidInputError

__all__ = ["PRIMARY_KEYS", "SERVED_KEYS", "DigitalLinkSyntaxError", "LinkPath", "is_link_path",
           "parse_path", "query_attributes"]


class DigitalLinkSyntaxError(InvalidInputError):
    slug = "invalid-digital-link"
    title = "Invalid GS1 Digital Link"


# GS1 character set 82 (General Specifications §7.11) and set 39 (GIAI, CPID…).
_CSET82 = re.compile(r"[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]*")
_CSET39 = re.compile(r"[#\-/0-9A-Z]*")


@dataclass(frozen=True, slots=True)
class _Format:
    """A value's syntax: digits (fixed lengths) or a character set up to a maximum."""

    lengths: tuple[int, ...] = ()       # numeric: the allowed lengths
    maximum: int = 0                    # alphanumeric: the longest value
    charset: re.Pattern[str] = _CSET82
    check_digit: bool = False           # numeric keys: last digit is a mod-10 check digit
    prefix_digits: int = 0              # N1+X3 style (7040): leading digits before the text


_N13C = _Format(lengths=(13,), check_digit=True)
_N18C = _Format(lengths=(18,), check_digit=True)
_X20 = _Format(maximum=20)

# Primary keys: their value syntax and ordered qualifier levels (each level: the AIs allowed
# there). GS1 Digital Link URI Syntax 1.2+ §4 and the GS1 General Specifications.
PRIMARY_KEYS: dict[str, tuple[_Format, tuple[tuple[str, ...], ...]]] = {
    "01": (_Format(lengths=(8, 12, 13, 14), check_digit=True), (("22",), ("10",), ("21", "235"))),
    "00": (_N18C, ()),
    "414": (_N13C, (("254", "7040"),)),
    "417": (_N13C, (("7040",),)),
    "8006": (_Format(lengths=(18,)), (("22",), ("10",), ("21",))),
    "8010": (_Format(maximum=30, charset=_CSET39), (("8011",),)),
    "8013": (_Format(maximum=30), ()),
    "8017": (_N18C, (("8019",),)), "8018": (_N18C, (("8019",),)),
    "410": (_N13C, ()), "411": (_N13C, ()), "412": (_N13C, ()), "413": (_N13C, ()),
    "415": (_N13C, ()), "416": (_N13C, ()),
    "253": (_Format(maximum=30), ()), "255": (_Format(maximum=25), ()),
    "401": (_Format(maximum=30), ()), "402": (_Format(lengths=(17,), check_digit=True), ()),
    "8003": (_Format(maximum=30), ()), "8004": (_Format(maximum=30), (("7040",),)),
}
# The keys this ledger holds data about (the resolver answers the others 404).
SERVED_KEYS = frozenset(("01", "00", "414"))

_QUALIFIERS: dict[str, _Format] = {
    "22": _X20, "10": _X20, "21": _X20, "235": _Format(maximum=28), "254": _X20,
    "7040": _Format(maximum=4, prefix_digits=1), "8011": _Format(maximum=12, lengths=()),
    "8019": _Format(maximum=10),
}

_SHORT_NAMES = {
    "gtin": "01", "lot": "10", "ser": "21", "cpv": "22", "sscc": "00", "gln": "414",
    "party": "417", "glnx": "254", "itip": "8006", "cpid": "8010", "cpsn": "8011", "gmn": "8013",
    "gsrnp": "8017", "gsrn": "8018", "srin": "8019", "gdti": "253", "gcn": "255",
    "ginc": "401", "gsin": "402", "grai": "8003", "giai": "8004", "shipTo": "410",
    "billTo": "411", "purchasedFrom": "412", "shipFor": "413", "payTo": "415", "glnProd": "416",
}
def _is_ai(token: str) -> bool:
    """An AI GS1 defines (GS1's AI table)."""
    return lookup(token) is not None


def _ai_of(token: str) -> str:
    return _SHORT_NAMES.get(token, token)


def is_link_path(path: str) -> bool:
    """Cheap test: could this request path be a Digital Link (so the resolver should judge it)?
    Its first segment is a primary key's AI or short name, or one compressed segment."""
    segments = [s for s in path.split("/") if s]
    if not segments:
        return False
    first = _ai_of(segments[0])
    if first in PRIMARY_KEYS:
        return True
    if len(segments) != 1 or not looks_compressed(segments[0]):
        return False
    try:
        return any(ai in PRIMARY_KEYS for ai, _ in decompress(segments[0]))
    except CompressionError:
        return False


@dataclass(frozen=True, slots=True)
class LinkPath:
    """A syntactically valid Digital Link path: its primary key and qualifiers, as numeric AIs
    and decoded values, and whether it came compressed."""

    key: str
    value: str
    qualifiers: tuple[tuple[str, str], ...] = ()
    compressed: bool = False
    attributes: tuple[tuple[str, str], ...] = ()  # data attributes a compressed path carried

    def get(self, ai: str) -> str | None:
        return dict(self.qualifiers).get(ai)

    def path(self, qualifiers: tuple[tuple[str, str], ...] | None = None) -> str:
        """The uncompressed, canonical path (numeric AIs, GS1 order, percent-encoded)."""
        parts = [self.key, quote(self.value, safe="")]
        for ai, value in self.qualifiers if qualifiers is None else qualifiers:
            parts += [ai, quote(value, safe="")]
        return "/" + "/".join(parts)

    def uncompressed(self) -> str:
        """The uncompressed URI path of what the request carried: `path()`, then the data
        attributes a compressed path held as the query string (GS1 Digital Link URI Syntax:
        data attributes go in the query string)."""
        if not self.attributes:
            return self.path()
        return self.path() + "?" + "&".join(f"{ai}={quote(value, safe='')}"
                                            for ai, value in self.attributes)

    def up(self) -> LinkPath:
        """The same key one qualifier level up (the last qualifier dropped)."""
        return LinkPath(self.key, self.value, self.qualifiers[:-1])

    def digital_link(self) -> DigitalLink:
        """The GTIN-based link as the rest of the ledger knows it (GTIN keys only)."""
        if self.key != "01":
            raise DigitalLinkSyntaxError(f"AI {self.key} is not a GTIN", reason="not-a-gtin")
        extra = tuple((ai, v) for ai, v in self.qualifiers if ai in ("22", "235"))
        return DigitalLink(self.value, self.get("21"), self.get("10"), extra)


def _fail(reason: str, detail: str, **fields: object) -> DigitalLinkSyntaxError:
    return DigitalLinkSyntaxError(detail, reason=reason, **fields)


def _gs1_syntax(ai: str, value: str) -> str:
    """The value, if it follows GS1's syntax for its AI; its problem as a syntax error if not."""
    try:
        check_value(ai, value)
    except InvalidAIValueError as exc:
        raise DigitalLinkSyntaxError(exc.detail, **exc.fields) from exc
    return value


def _check_value(ai: str, value: str, fmt: _Format) -> str:
    if fmt.lengths and not fmt.maximum:
        if not (value.isascii() and value.isdigit()):
            raise _fail("illegal-character", f"AI {ai} takes digits only, not {value!r}",
                        ai=ai, value=value[:40])
        if len(value) not in fmt.lengths:
            raise _fail("bad-length", f"AI {ai} takes {' or '.join(map(str, fmt.lengths))} "
                        f"digits, not {len(value)}", ai=ai, value=value[:40])
        if fmt.check_digit and check_digit(value[:-1]) != value[-1]:
            raise _fail("check-digit", f"AI {ai} value {value} has a wrong check digit "
                        f"(expected {check_digit(value[:-1])})", ai=ai, value=value)
        return _gs1_syntax(ai, value.zfill(14) if ai == "01" else value)
    if not value or len(value) > fmt.maximum:
        raise _fail("bad-length", f"AI {ai} takes 1 to {fmt.maximum} characters, not "
                    f"{len(value)}", ai=ai, value=value[:40])
    head = value[:fmt.prefix_digits]
    if fmt.prefix_digits and not head.isdigit():
        raise _fail("illegal-character", f"AI {ai} starts with {fmt.prefix_digits} digit(s)",
                    ai=ai, value=value[:40])
    bad = next((c for c in value[fmt.prefix_digits:] if not fmt.charset.fullmatch(c)), None)
    if bad is not None:
        raise _fail("illegal-character", f"AI {ai} value {value[:40]!r} contains {bad!r}, "
                    "outside the GS1 character set", ai=ai, value=value[:40], character=bad)
    return _gs1_syntax(ai, value)


def _pairs(segments: list[str]) -> list[tuple[str, str]]:
    if len(segments) % 2:
        raise _fail("missing-value", f"AI {segments[-1]!r} has no value", ai=segments[-1][:10])
    pairs = []
    for token, raw in zip(segments[::2], segments[1::2], strict=True):
        ai = _ai_of(token)
        if not _is_ai(ai):
            raise _fail("unknown-ai", f"{token[:10]!r} is not a GS1 Application Identifier",
                        ai=token[:10])
        pairs.append((ai, unquote(raw, errors="strict")))
    return pairs


def _build(pairs: list[tuple[str, str]], *, compressed: bool) -> LinkPath:
    (key, raw_value), rest = pairs[0], pairs[1:]
    if key not in PRIMARY_KEYS:
        if key in _QUALIFIERS:
            raise _fail("not-a-primary-key", f"AI {key} qualifies a key; the path must start "
                        "with a primary key", ai=key)
        raise _fail("not-a-primary-key", f"AI {key} is not a GS1 primary key", ai=key)
    fmt, levels = PRIMARY_KEYS[key]
    value = _check_value(key, raw_value, fmt)
    seen: set[str] = {key}
    level = 0
    qualifiers: list[tuple[str, str]] = []
    for ai, raw in rest:
        if ai in seen:
            raise _fail("repeated-ai", f"AI {ai} appears twice", ai=ai)
        seen.add(ai)
        at = next((i for i, allowed in enumerate(levels) if ai in allowed), None)
        if at is None:
            raise _fail("not-a-qualifier", f"AI {ai} is not a key qualifier of AI {key}; data "
                        "attributes go in the query string", ai=ai, key=key)
        if at < level:
            order = " then ".join("/".join(allowed) for allowed in levels)
            raise _fail("qualifier-order", f"AI {ai} comes after {qualifiers[-1][0]}: the "
                        f"qualifiers of AI {key} go in the order {order}", ai=ai, key=key)
        level = at + 1
        qualifiers.append((ai, _check_value(ai, raw, _QUALIFIERS[ai])))
    return LinkPath(key, value, tuple(qualifiers), compressed)


def parse_path(path: str) -> LinkPath:
    """The Digital Link a request path names, checked; `DigitalLinkSyntaxError` otherwise."""
    if len(path) > 2048:
        raise _fail("bad-length", "a Digital Link path is at most 2048 characters")
    segments = [s for s in path.split("/") if s]  # tolerates a trailing (or doubled) slash
    if not segments:
        raise _fail("missing-value", "the path names no GS1 key")
    try:
        last = segments[-1]
        if len(segments) % 2 == 1 and looks_compressed(last) and not _is_ai(_ai_of(last)) and \
                (len(segments) == 1 or _ai_of(segments[0]) in PRIMARY_KEYS):
            # Wholly (one segment) or partly (key, value, compressed rest) compressed.
            head = _pairs(segments[:-1]) if len(segments) > 1 else []
            return _decompressed([*head, *decompress(last)])
        return _build(_pairs(segments), compressed=False)
    except CompressionError as exc:
        raise DigitalLinkSyntaxError(f"{segments[-1][:40]!r} is neither an AI with its value nor "
                                     f"a compressed Digital Link: {exc.detail}",
                                     **exc.fields) from exc
    except UnicodeDecodeError as exc:
        raise _fail("illegal-character", "a percent-escape in the path is not UTF-8") from exc


def _decompressed(pairs: list[tuple[str, str]]) -> LinkPath:
    """The link a compressed path holds. Compression writes AIs in ascending order, which is not
    the qualifier order (10 < 21 < 22; 254 < 414), and may carry data attributes too."""
    keys = [p for p in pairs if p[0] in PRIMARY_KEYS]
    if len(keys) != 1:
        raise _fail("not-a-primary-key", f"a compressed Digital Link holds one primary key, not "
                    f"{len(keys)}", keys=[k for k, _ in keys])
    (primary,) = keys
    levels = PRIMARY_KEYS[primary[0]][1]

    def level(ai: str) -> int | None:
        return next((i for i, allowed in enumerate(levels) if ai in allowed), None)

    qualifiers = sorted((p for p in pairs if level(p[0]) is not None),
                        key=lambda p: level(p[0]) or 0)
    attributes = [p for p in pairs if p is not primary and level(p[0]) is None]
    link = _build([primary, *qualifiers], compressed=True)
    return LinkPath(link.key, link.value, link.qualifiers, True, _attributes(attributes, link))


def _attributes(pairs: list[tuple[str, str]], link: LinkPath) -> tuple[tuple[str, str], ...]:
    seen = {link.key, *(ai for ai, _ in link.qualifiers)}
    out = []
    for ai, value in pairs:
        if ai in seen:
            raise _fail("repeated-ai", f"AI {ai} appears twice", ai=ai)
        if ai in PRIMARY_KEYS:
            raise _fail("not-a-primary-key", f"AI {ai} is a second primary key; a Digital Link "
                        "has one", ai=ai)
        seen.add(ai)
        out.append((ai, _gs1_syntax(ai, value)))
    return tuple(out)


def query_attributes(query: str, link: LinkPath | None = None) -> tuple[tuple[str, str], ...]:
    """The GS1 data attributes of a Digital Link's query string (its all-digit keys), each
    checked against GS1's syntax for its AI; other parameters (`linkType`, non-GS1 keys) are
    not attributes. An all-digit key that is no AI is `unknown-ai`: the standard keeps
    all-digit keys for GS1."""
    try:
        params = parse_qsl(query, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise _fail("illegal-character", "a percent-escape in the query string is not "
                    "UTF-8") from exc
    pairs = []
    for key, value in params:
        if not (key.isascii() and key.isdigit()):
            continue
        if not _is_ai(key):
            raise _fail("unknown-ai", f"{key[:10]!r} is not a GS1 Application Identifier",
                        ai=key[:10])
        pairs.append((key, value))
    if link is None:
        return tuple((ai, _gs1_syntax(ai, value)) for ai, value in pairs)
    return _attributes(pairs, link)
