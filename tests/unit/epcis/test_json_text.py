"""`ledger.epcis.json_text`: the pre-parse checks agree with a real parser on every input."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.epcis.json_text import (
    JsonEncodingError,
    JsonTooDeepError,
    JsonTooManyValuesError,
    LoneSurrogateError,
    check_json_text,
    json_depth,
    json_values,
)
from ledger.runtime.recursion import SAFE_RECURSION_LIMIT, restore_recursion_limit

# Strings full of the characters the scan must not be fooled by.
tricky = st.text(alphabet=st.sampled_from('[]{}"\\,:ab\u00e9\u4e2d\U0001f600'), max_size=12)
values = st.recursive(
    st.none() | st.booleans() | st.integers() | tricky,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(tricky, inner, max_size=4),
    max_leaves=40)


def depth_of(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    return 0


@given(values, st.booleans())
def test_depth_is_the_parsed_depth(value: Any, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert json_depth(text.encode()) == depth_of(value)


@given(values, st.integers(min_value=1, max_value=8))
def test_check_refuses_exactly_what_is_deeper_than_the_limit(value: Any, limit: int) -> None:
    text = json.dumps(value)
    if depth_of(value) > limit:
        with pytest.raises(JsonTooDeepError):
            check_json_text(text, max_depth=limit)
    else:
        check_json_text(text.encode(), max_depth=limit)


@pytest.mark.parametrize("text", [
    rb'"\ud800"', rb'"\udc00"', rb'"a\uDBFFb"', rb'"\ud800\ud800\udc00"', rb'"\ud800\\\udc00"',
    rb'"\\\ud800"', rb'{"k\ud83d": 1}',
])
def test_lone_surrogate_escapes_are_refused(text: bytes) -> None:
    json.loads(text)  # the stdlib parser takes them: that is the problem
    with pytest.raises(LoneSurrogateError):
        check_json_text(text)


@pytest.mark.parametrize("text", [
    rb'"\ud83d\ude00"', rb'"\\ud800"', rb'"\\\\ud800"', rb'"\u00e9\ud7ff\ue000"',
])
def test_paired_surrogates_and_escaped_backslashes_pass(text: bytes) -> None:
    check_json_text(text)
    json.loads(text).encode("utf-8")


def test_lone_surrogate_character_in_str_is_refused() -> None:
    with pytest.raises(LoneSurrogateError):
        check_json_text('"\ud800"')


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16", "utf-32-be"])
def test_only_utf8_is_accepted(encoding: str) -> None:
    with pytest.raises(JsonEncodingError):
        check_json_text('["a"]'.encode(encoding))


def test_huge_depth_is_measured_without_recursion() -> None:
    with pytest.raises(JsonTooDeepError) as caught:
        check_json_text(b"[" * 1_000_000)
    assert caught.value.fields["depth"] == 1_000_000


def test_recursion_limit_stays_restored_after_web3_imports() -> None:
    restore_recursion_limit()
    import web3  # noqa: F401 - py_ecc's raise must not come back

    assert sys.getrecursionlimit() == SAFE_RECURSION_LIMIT



def count_values(value: Any) -> tuple[int, int]:
    """(values, empty containers) of a parsed JSON value."""
    if isinstance(value, list):
        inner = [count_values(v) for v in value]
    elif isinstance(value, dict):
        inner = [count_values(v) for v in value.values()]
    else:
        return 1, 0
    return 1 + sum(i[0] for i in inner), (0 if value else 1) + sum(i[1] for i in inner)


@given(values)
def test_values_are_counted_outside_strings(value: Any) -> None:
    counted, empties = count_values(value)
    assert json_values(json.dumps(value).encode()) == counted + empties


def test_too_many_values_are_refused_before_parsing() -> None:
    text = json.dumps({"a": list(range(1000))}).encode()
    check_json_text(text, max_values=1002)
    with pytest.raises(JsonTooManyValuesError):
        check_json_text(text, max_values=1001)
