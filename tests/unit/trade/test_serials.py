"""Serials: random, distinct, inside the AI 21 character set, at least 64 bits."""

from __future__ import annotations

import itertools
import re

import pytest

from ledger.errors import InvalidInputError
from ledger.trade.serials import MIN_ENTROPY_BITS, SERIAL_ALPHABET, entropy_bits, new_serials

# GS1 General Specifications, figure 7.11-1: the 82 characters of CSET 82 (AI 21's set).
CSET82 = set("!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz")


def test_alphabet_is_uri_safe_cset82_without_lookalikes() -> None:
    assert set(SERIAL_ALPHABET) <= CSET82
    assert re.fullmatch(r"[A-Za-z0-9]+", SERIAL_ALPHABET)
    assert not set("0O1Il") & set(SERIAL_ALPHABET)
    assert len(set(SERIAL_ALPHABET)) == len(SERIAL_ALPHABET)


def test_default_serials_carry_at_least_64_bits_and_are_distinct() -> None:
    serials = new_serials(2000)
    assert len(set(serials)) == 2000
    assert all(len(s) == 12 and set(s) <= set(SERIAL_ALPHABET) for s in serials)
    assert entropy_bits(12) >= MIN_ENTROPY_BITS
    # Every symbol turns up: a generator stuck on part of the alphabet would lose entropy.
    assert set("".join(serials)) == set(SERIAL_ALPHABET)


def test_short_serials_are_refused_rather_than_weakened() -> None:
    with pytest.raises(InvalidInputError, match="bits"):
        new_serials(1, length=10)  # 58 bits
    with pytest.raises(InvalidInputError):
        new_serials(0)


def test_a_repeating_random_source_is_detected_not_looped_on() -> None:
    with pytest.raises(RuntimeError):
        new_serials(3, choice=lambda alphabet: alphabet[0])


def test_duplicates_from_the_source_are_drawn_again() -> None:
    stream = itertools.chain("A" * 12, "A" * 12, "B" * 12)
    assert new_serials(2, choice=lambda _: next(stream)) == ["A" * 12, "B" * 12]
