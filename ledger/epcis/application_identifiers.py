"""GS1 Application Identifiers, every one GS1 defines, read from `biip`'s table (generated from
GS1's Barcode Syntax Dictionary: each AI's format such as "N2+N14" or "N4+N6[+N4]", its data
title and its regular expression), with what the ledger derives from it:

- `components`: the value's parts as GS1 Digital Link compression encodes them
  (`ledger.epcis.dl_compression`);
- `check_value`: the value against GS1's syntax, refused with `InvalidAIValueError` whose
  `reason` says what is wrong: `illegal-character`, `bad-length`, `check-digit` or `bad-value`
  (right characters and length, but not the AI's syntax: a 13th month, a GRAI not led by 0).

An AI GS1 does not define is `None` from `lookup`, never guessed.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from biip import ParseError
from biip.gs1_application_identifiers import GS1ApplicationIdentifier

from ledger.errors import InvalidInputError

__all__ = ["ApplicationIdentifier", "Component", "InvalidAIValueError", "check_value", "lookup"]


class InvalidAIValueError(InvalidInputError):
    slug = "invalid-ai-value"
    title = "Invalid GS1 Application Identifier value"


@dataclass(frozen=True, slots=True)
class Component:
    """One part of an AI's value: digits or characters, of a fixed length or up to a maximum."""

    numeric: bool
    length: int
    variable: bool


# The character sets of GS1 General Specifications §7.11: X is set 82, Y set 39, Z set 64.
_CHARSETS = {
    "X": re.compile(r"[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]"),
    "Y": re.compile(r"[#\-/0-9A-Z]"),
    "Z": re.compile(r"[-0-9A-Z_a-z=]"),
}
# AIs whose leading digits end in a GS1 mod-10 check digit (GS1 General Specifications; the
# Barcode Syntax Dictionary's `csum` components), with how many digits that is.
_CHECK_DIGITS = {"00": 18, "01": 14, "02": 14, "253": 13, "255": 13, "402": 17,
                 **dict.fromkeys(("410", "411", "412", "413", "414", "415", "416", "417"), 13),
                 "8003": 14, "8006": 14, "8017": 18, "8018": 18, "8026": 14}
_PART = re.compile(r"([NXYZ])(\d*)(?:\.\.[NXYZ]?(\d+))?")


@dataclass(frozen=True, slots=True)
class ApplicationIdentifier:
    ai: str
    title: str
    format: str                    # the value's format, without the AI's own "N2"/"N3"/"N4"
    components: tuple[Component, ...]
    shortest: int
    longest: int
    charset: str                   # "N" (digits only), or the set of its text parts: X, Y or Z
    pattern: re.Pattern[str]       # GS1's expression for AI and value together
    check_digits: int              # leading digits that end in a check digit (0: none)


def _parts(fmt: str) -> list[tuple[str, int, bool, bool]]:
    """(kind, length or maximum, variable, optional) for each part of a format's value."""
    parts = []
    pieces = fmt.split("+")
    for i, piece in enumerate(pieces):
        optional = piece.startswith("[") or (i > 0 and pieces[i - 1].endswith("["))
        text = piece.strip("[]")
        if text == "-":  # "N6+[-]": an optional minus sign after the digits
            parts.append(("X", 1, True, True))
            continue
        match = _PART.fullmatch(text)
        if match is None:
            raise ValueError(f"unreadable GS1 format part {piece!r} in {fmt!r}")
        kind, fixed, maximum = match.groups()
        parts.append((kind, int(maximum or fixed), maximum is not None, optional))
    return parts


def _components(parts: list[tuple[str, int, bool, bool]]) -> tuple[Component, ...]:
    """As GS1's compression encodes them: an optional part is variable-length, adjacent fixed
    numeric parts are one number (8006's N14+N2+N2 is N18), adjacent text parts one text
    (7230's X2+X..28 is X..30)."""
    out: list[Component] = []
    for kind, length, variable, optional in parts:
        numeric, variable = kind == "N", variable or optional
        if out:
            last = out[-1]
            if numeric and last.numeric and not variable and not last.variable:
                out[-1] = Component(True, last.length + length, False)
                continue
            if not numeric and not last.numeric:
                out[-1] = Component(False, last.length + length, True)
                continue
        out.append(Component(numeric, length, variable))
    return tuple(out)


def lookup(ai: str) -> ApplicationIdentifier | None:
    """The AI GS1 defines with exactly this code, or None."""
    if not (2 <= len(ai) <= 4 and ai.isascii() and ai.isdigit()):
        return None  # before the cache: it holds at most the 11,100 codes of 2-4 digits
    return _lookup(ai)


@functools.cache
def _lookup(ai: str) -> ApplicationIdentifier | None:
    try:
        entry = GS1ApplicationIdentifier.extract(ai)
    except ParseError:
        return None
    if entry.ai != ai:  # extract matches an AI that merely starts the string
        return None
    fmt = entry.format.split("+", 1)[1]
    parts = _parts(fmt)
    kinds = {kind for kind, *_ in parts if kind != "N"}
    return ApplicationIdentifier(
        ai=ai, title=entry.data_title, format=fmt, components=_components(parts),
        shortest=sum(0 if optional else 1 if variable else length
                     for _, length, variable, optional in parts),
        longest=sum(length for _, length, _, _ in parts),
        charset=min(kinds) if kinds else "N", pattern=re.compile(entry.pattern),
        check_digits=_CHECK_DIGITS.get(ai, 0))


def _check_digit(digits: str) -> str:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str(-total % 10)


def check_value(ai: str, value: str) -> None:
    """Refuse a value that is not what GS1 defines for its AI, saying what is wrong."""
    entry = lookup(ai)
    if entry is None:
        raise InvalidAIValueError(f"{ai[:10]!r} is not a GS1 Application Identifier",
                                  reason="unknown-ai", ai=ai[:10])
    named = f"AI {ai} ({entry.title}, {entry.format})"
    shown = value[:40]
    if not entry.pattern.fullmatch(ai + value):
        # GS1's expression is the judge; the rest only says what is wrong.
        _explain(entry, named, value)
    if entry.check_digits:
        key = value[:entry.check_digits]
        expected = _check_digit(key[:-1])
        if key[-1] != expected:
            raise InvalidAIValueError(f"{named}: {key} has a wrong check digit (expected "
                                      f"{expected})", reason="check-digit", ai=ai, value=shown)


def _explain(entry: ApplicationIdentifier, named: str, value: str) -> None:
    ai, shown = entry.ai, value[:40]
    if entry.charset == "N":
        bad = next((c for c in value if not ("0" <= c <= "9")), None)
    else:
        allowed = _CHARSETS[entry.charset]
        bad = next((c for c in value if not allowed.fullmatch(c)), None)
    if bad is not None:
        where = "digits only" if entry.charset == "N" else f"GS1 character set {entry.charset}"
        raise InvalidAIValueError(f"{named} takes {where}; {shown!r} contains {bad!r}",
                                  reason="illegal-character", ai=ai, value=shown, character=bad)
    if not entry.shortest <= len(value) <= entry.longest:
        span = (str(entry.longest) if entry.shortest == entry.longest
                else f"{entry.shortest} to {entry.longest}")
        raise InvalidAIValueError(f"{named} takes {span} characters, not {len(value)}",
                                  reason="bad-length", ai=ai, value=shown)
    raise InvalidAIValueError(f"{named}: {shown!r} does not follow GS1's syntax for it",
                              reason="bad-value", ai=ai, value=shown)
