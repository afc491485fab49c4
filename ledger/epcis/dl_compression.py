"""GS1 Digital Link compression: the binary form of a Digital Link's AIs and values, as
URI-safe base64 (GS1 Digital Link URI Syntax, "Compression"; the resolver standard requires a
resolver to decompress).

The bit string is a sequence of entries, each an AI (one 4-bit nibble per digit, or a 2-nibble
code from the optimisation table standing for a fixed run of AIs) followed by each of its
components' values:

- a fixed-length numeric component: the number, in ceil(L·log2 10) bits;
- a variable-length numeric component: its length, then the number in ceil(n·log2 10) bits;
- an alphanumeric component: a 3-bit encoding (0 numeric, 1 lower hex, 2 upper hex, 3 URI-safe
  base64, 4 ASCII in 7 bits), its length (variable-length components only) and the characters.

The string is padded with zeros to a multiple of 6 bits and written in the URI-safe base64
alphabet. Entries are written in ascending AI order (the order GS1's reference toolkit and its
test strings use), without optimisation codes; decompression reads them too.

Every AI GS1 defines is compressed and decompressed: its components come from GS1's own AI
table (`ledger.epcis.application_identifiers`, from `biip`), where an optional part is
variable-length and adjacent fixed numeric parts, or adjacent text parts, are one component,
as GS1's toolkit encodes them (8006 N14+N2+N2 is N18; 7230 X2+X..28 is X..30). An AI GS1 does
not define is refused with its digits, never guessed; so is a value that does not fit its AI
(`compress` checks each value against GS1's syntax; what `decompress` returns is checked by the
Digital Link parser). The F nibble GS1 reserves for non-GS1 query parameters is refused.

Written from the standard rather than taken from PyPI: the one package there
(`gs1-compression` 0.1.3, 2021) ships top-level `gs1` and `tests` packages and decodes
variable-length numbers in base 2. `tests/unit/epcis/test_dl_compression.py` checks this one
against the test strings of GS1's reference implementation (keys, qualifiers, a date attribute,
optimisation codes) and round-trips data attributes of every kind of format.
"""

from __future__ import annotations

import math
import re

from ledger.epcis.application_identifiers import (
    Component,
    InvalidAIValueError,
    check_value,
    lookup,
)
from ledger.errors import InvalidInputError

__all__ = ["OPTIMISATION_CODES", "CompressionError", "compress", "decompress", "looks_compressed"]

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")


class CompressionError(InvalidInputError):
    slug = "invalid-digital-link"
    title = "Invalid GS1 Digital Link"


# GS1's optimisation codes (code → the AIs it stands for, in encoding order), as in GS1's
# reference toolkit (GS1DigitalLinkCompressionPrototype, `tableOpt`). Each has a nibble above 9,
# so none reads as AI digits; an F nibble is reserved for non-GS1 query parameters.
OPTIMISATION_CODES: dict[str, tuple[str, ...]] = {
    "0A": ("01", "22"), "0B": ("01", "10"), "0C": ("01", "21"), "0D": ("01", "17"),
    "0E": ("01", "7003"), "0F": ("01", "30"), "1A": ("01", "10", "21", "17"),
    "1B": ("01", "15"), "1C": ("01", "11"), "1D": ("01", "16"), "1E": ("01", "91"),
    "1F": ("01", "10", "15"),
    **{f"2{c}": ("01", f"310{n}") for n, c in enumerate("ABCDEF")},
    **{f"3{c}": ("01", f"320{n}") for n, c in enumerate("ABCDEF")},
    "9A": ("8010", "8011"), "9B": ("8017", "8019"), "9C": ("8018", "8019"), "9D": ("414", "254"),
    **{f"A{n}": ("01", f"392{n}") for n in range(10)},
    **{f"C{n}": ("255", f"390{n}") for n in range(10)},
    **{f"C{c}": ("255", f"394{n}") for n, c in enumerate("ABCD")},
}


def _components(ai: str) -> tuple[Component, ...]:
    entry = lookup(ai)
    if entry is None:
        raise CompressionError(f"AI {ai} is not one GS1 defines", ai=ai, reason="unknown-ai")
    return entry.components


def _value_bits(digits: int) -> int:
    return math.ceil(digits * math.log2(10) + 0.01)


def _length_bits(maximum: int) -> int:
    return math.ceil(math.log2(maximum) + 0.01)


def looks_compressed(segment: str) -> bool:
    """Whether a path segment is made of the compression alphabet only."""
    return bool(_B64_SEGMENT.fullmatch(segment))


# --- compress ---------------------------------------------------------------------------------

def _text_bits(text: str) -> str:
    if text.isdigit() and text.isascii():
        return "000" + format(int(text), "b").zfill(_value_bits(len(text))) if text else "000"
    if re.fullmatch(r"[0-9a-f]+", text):
        return "001" + "".join(format(int(c, 16), "04b") for c in text)
    if re.fullmatch(r"[0-9A-F]+", text):
        return "010" + "".join(format(int(c, 16), "04b") for c in text)
    if _B64_SEGMENT.fullmatch(text):
        return "011" + "".join(format(_B64.index(c), "06b") for c in text)
    if not text.isascii():
        raise CompressionError(f"{text!r} has characters outside ASCII", reason="illegal-character")
    return "100" + "".join(format(ord(c), "07b") for c in text)


def _component_bits(kind: str, size: int, text: str) -> str:
    if kind == "N":
        return format(int(text), "b").zfill(_value_bits(size))
    if kind == "N*":
        # An empty value still takes ceil(0·log2 10 + 0.01) = 1 bit, as in GS1's toolkit.
        return format(len(text), "b").zfill(_length_bits(size)) + \
            format(int(text or "0"), "b").zfill(_value_bits(len(text)))
    encoded = _text_bits(text)
    if kind == "X":
        return encoded
    return encoded[:3] + format(len(text), "b").zfill(_length_bits(size)) + encoded[3:]


def _value_to_bits(ai: str, value: str) -> str:
    try:
        check_value(ai, value)
    except InvalidAIValueError as exc:
        raise CompressionError(exc.detail, **exc.fields) from exc
    bits, rest = "", value
    for part in _components(ai):
        text = rest if part.variable else rest[:part.length]
        rest = rest[len(text):]
        if len(text) > part.length:
            # GS1's expression for the percent-encoded AIs (4300…) counts an escape pair as
            # one character; the compressed form has room for the maximum in characters only.
            raise CompressionError(f"AI {ai}: {value[:40]!r} is longer than the {part.length} "
                                   "characters compression has room for", ai=ai,
                                   reason="bad-length")
        kind = ("N" if part.numeric else "X") + ("*" if part.variable else "")
        bits += _component_bits(kind, part.length, text)
    return bits


def compress(elements: list[tuple[str, str]]) -> str:
    """The compressed path segment of AI/value pairs (no optimisation codes, ascending AIs)."""
    bits = ""
    for ai, value in sorted(elements):
        _components(ai)
        bits += "".join(format(int(d), "04b") for d in ai) + _value_to_bits(ai, value)
    bits += "0" * (-len(bits) % 6)
    return "".join(_B64[int(bits[i:i + 6], 2)] for i in range(0, len(bits), 6))


# --- decompress -------------------------------------------------------------------------------

class _Reader:
    def __init__(self, bits: str) -> None:
        self.bits, self.at = bits, 0

    def take(self, n: int) -> str:
        if self.at + n > len(self.bits):
            raise CompressionError("the compressed string ends in the middle of a value",
                                   reason="truncated")
        chunk = self.bits[self.at:self.at + n]
        self.at += n
        return chunk

    def number(self, n: int) -> int:
        return int(self.take(n), 2) if n else 0

    def left(self) -> int:
        return len(self.bits) - self.at


def _read_text(reader: _Reader, encoding: int, count: int) -> str:
    if encoding == 0:
        return str(reader.number(_value_bits(count))).zfill(count) if count else ""
    if encoding in (1, 2):
        text = "".join("0123456789ABCDEF"[reader.number(4)] for _ in range(count))
        return text.lower() if encoding == 1 else text
    if encoding == 3:
        return "".join(_B64[reader.number(6)] for _ in range(count))
    if encoding == 4:
        return "".join(chr(reader.number(7)) for _ in range(count))
    raise CompressionError(f"unknown value encoding {encoding}", reason="bad-encoding")


def _read_value(reader: _Reader, ai: str) -> str:
    return "".join(_read_component(reader, ai, part) for part in _components(ai))


def _read_component(reader: _Reader, ai: str, part: Component) -> str:
    size = part.length
    if part.numeric and not part.variable:
        value = reader.number(_value_bits(size))
        if value >= 10 ** size:
            raise CompressionError(f"AI {ai}: {value} has more than {size} digits", ai=ai,
                                   reason="bad-length")
        return str(value).zfill(size)
    if part.numeric:
        count = reader.number(_length_bits(size))
        if count > size:
            raise CompressionError(f"AI {ai}: length {count} is over its maximum {size}", ai=ai,
                                   reason="bad-length")
        number = reader.number(_value_bits(count))
        if number >= 10 ** count:
            raise CompressionError(f"AI {ai}: {number} has more than {count} digits", ai=ai,
                                   reason="bad-length")
        return str(number).zfill(count) if count else ""
    encoding = reader.number(3)
    count = reader.number(_length_bits(size)) if part.variable else size
    if count > size:
        raise CompressionError(f"AI {ai}: length {count} is over its maximum {size}", ai=ai,
                               reason="bad-length")
    return _read_text(reader, encoding, count)


def decompress(segment: str) -> list[tuple[str, str]]:
    """AI/value pairs of a compressed path segment, in the order they were encoded."""
    if not looks_compressed(segment) or len(segment) > 200:
        raise CompressionError("a compressed Digital Link is 1-200 characters of A-Z a-z 0-9 - _",
                               reason="illegal-character")
    reader = _Reader("".join(format(_B64.index(c), "06b") for c in segment))
    out: list[tuple[str, str]] = []
    # What is left after the last entry is padding: fewer than 6 zero bits (GS1's toolkit stops
    # when 8 or fewer bits remain).
    while reader.left() > 8:
        head = reader.take(8)
        code = format(int(head[:4], 2), "X") + format(int(head[4:], 2), "X")
        if code.isdigit():
            ai = code
            while lookup(ai) is None and len(ai) < 4:
                digit = reader.number(4)
                if digit > 9:
                    raise CompressionError(f"AI {ai}… is not all digits", ai=ai,
                                           reason="unknown-ai")
                ai += str(digit)
            out.append((ai, _read_value(reader, ai)))
        elif code in OPTIMISATION_CODES:
            out.extend((ai, _read_value(reader, ai)) for ai in OPTIMISATION_CODES[code])
        else:
            raise CompressionError(f"{code} is neither an AI nor an optimisation code GS1 "
                                   "defines", reason="unsupported-ai")
    if "1" in reader.bits[reader.at:]:
        raise CompressionError("the compressed string has stray bits after its last value",
                               reason="trailing-bits")
    return out
