"""Cheap checks on JSON text before any JSON parser sees it.

Python's `json` C parser recurses once per nesting level and trusts `sys.getrecursionlimit()`
to stop it; a dependency (py_ecc, via web3) raises that limit to 100 000, past what the C stack
holds, so ~200 KB of `[` crashed the process instead of raising. orjson stops at depth 255, but
with an error that was never mapped to a 400. And `json.loads` accepts a lone surrogate escape
(`"\\ud800"`) that no UTF-8 encoder (orjson, the database driver) will take later.

`check_json_text(data, max_depth=...)` refuses all three in linear time, without recursion and
without building any object: escaped backslashes and quotes are dropped, the text is split at
the quotes left (every other piece is outside a string), the brackets of those pieces are kept
with `bytes.translate` and their running depth is summed in C (`itertools.accumulate`). It
costs about a millisecond per 200 KB of EPCIS, and less than `json.loads` on any input.

Only UTF-8 is accepted (RFC 8259 §8.1): the scan works on bytes, and in UTF-16 or UTF-32 a
quote or backslash byte can hide inside another character.
"""

from __future__ import annotations

import re
from itertools import accumulate

from ledger.errors import InvalidInputError, LedgerError

__all__ = [
    "DEFAULT_MAX_JSON_DEPTH", "JsonEncodingError", "JsonTooDeepError", "JsonTooManyValuesError",
    "LoneSurrogateError", "check_json_text", "json_depth", "json_values",
]

DEFAULT_MAX_JSON_DEPTH = 64

# Brackets only, objects and arrays alike: "[" is +1 and "]" is -1 once read as signed bytes.
_KEEP = b"[]{}"
_DROP = bytes(b for b in range(256) if b not in _KEEP)
_SIGNED = bytes.maketrans(b"[]{}", b"\x01\xff\x01\xff")
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
_OTHER_ESCAPE = re.compile(rb"\\[^u]", re.DOTALL)
_LONE_SURROGATE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}")


class JsonTooDeepError(InvalidInputError):
    slug = "json-too-deep"
    title = "JSON nested too deeply"


class JsonTooManyValuesError(LedgerError):
    """More JSON values than the caller will parse: what parsing and hashing cost grows with
    the number of values, not with the bytes (a long string is cheap, `{"a":{"b":...}}` not)."""

    slug = "json-too-many-values"
    title = "Too many JSON values"
    status = 413


class JsonEncodingError(InvalidInputError):
    slug = "json-not-utf8"
    title = "JSON text must be UTF-8"


class LoneSurrogateError(InvalidInputError):
    slug = "json-lone-surrogate"
    title = "JSON string holds a lone surrogate"


def json_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in `data` (0 for a scalar), counted outside
    strings. Text that is not JSON gets a number too; it is an upper bound of how deep any
    parser would go before it fails."""
    brackets = _outside_strings(data).translate(_SIGNED, _DROP)
    if not brackets:
        return 0
    deepest = max(accumulate(memoryview(brackets).cast("b")))
    return max(deepest, 0)


def json_values(data: bytes) -> int:
    """How many values (scalars, arrays, objects; keys not counted) `data` holds, counted
    outside strings: the top one, one per comma and one per array or object (its first
    element; an empty one counts one too many)."""
    outside = _outside_strings(data)
    return 1 + outside.count(b",") + outside.count(b"[") + outside.count(b"{")


def _outside_strings(data: bytes) -> bytes:
    """The text of `data` outside its JSON strings (strings dropped, quotes and all)."""
    # Inside a string a backslash run pairs up from its first backslash, as `replace` pairs
    # it (left to right); after that every backslash left escapes something else, so `\"`
    # is an escaped quote and every other quote opens or closes a string. An unterminated
    # string's text lands in an odd piece and is left out: a parser stops there.
    unescaped = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    return b"".join(unescaped.split(b'"')[::2])


def check_json_text(data: bytes | bytearray | memoryview | str, *,
                    max_depth: int = DEFAULT_MAX_JSON_DEPTH,
                    max_values: int | None = None) -> None:
    """Raise an `InvalidInputError` (400) if `data` nests deeper than `max_depth`, is not
    UTF-8 or escapes a lone surrogate, and `JsonTooManyValuesError` (413) if it holds more
    than `max_values` values; otherwise return, having parsed nothing."""
    if isinstance(data, str):
        raw = data.encode("utf-8", "surrogatepass")
        if _has_surrogate_char(data):
            raise LoneSurrogateError("the JSON text holds a lone surrogate character")
    else:
        raw = bytes(data)
        head = raw[:4]
        if b"\x00" in head or head[:2] in (b"\xff\xfe", b"\xfe\xff"):
            raise JsonEncodingError("JSON text must be encoded in UTF-8 (RFC 8259)")
    if raw.count(b"[") + raw.count(b"{") > max_depth:
        depth = json_depth(raw)
        if depth > max_depth:
            raise JsonTooDeepError(
                f"the JSON text nests {depth} levels deep; at most {max_depth} are accepted",
                depth=depth, maxDepth=max_depth)
    if max_values is not None and raw.count(b",") + raw.count(b"[") + raw.count(b"{") >= max_values:
        values = json_values(raw)
        if values > max_values:
            raise JsonTooManyValuesError(
                f"the JSON text holds {values} values; at most {max_values} are accepted",
                values=values, maxValues=max_values)
    if _SURROGATE.search(raw) is not None:
        # Every other escape becomes one plain byte, so each backslash left starts a \u escape
        # and an escaped backslash cannot pass for the start of one (or join two halves).
        escapes = _OTHER_ESCAPE.sub(b"#", raw)
        if _LONE_SURROGATE.search(escapes) is not None:
            raise LoneSurrogateError(
                "a JSON string escapes a lone surrogate (\\ud800-\\udfff without its pair): "
                "not Unicode text")


def _has_surrogate_char(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
