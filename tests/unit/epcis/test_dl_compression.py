"""GS1 Digital Link compression against the test strings of GS1's reference implementation
(the GS1DigitalLinkCompressionPrototype toolkit, as reproduced by its .NET port's feature tests:
`compressGS1DigitalLink` without optimisation codes), both ways."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.epcis.dl_compression import CompressionError, compress, decompress

# (uncompressed path, compressed segment), from GS1's toolkit.
GS1_TEST_STRINGS = [
    ("00/998440410914660971", "AN2yxDhfaiaw"),
    ("01/05412345000013", "AQnYUc1gmg"),
    ("01/05412345000013/10/ABC123", "AQnYUc1gmiCNV4JG"),
    ("01/05412345000013/10/ABC123/21/72292641703", "AQnYUc1gmiCNV4JGQhcNT6K6c"),
    ("01/05412345000013/22/AJY3095721P49/10/ABC123/21/72292641703",
     "AQnYUc1gmiCNV4JGQhcNT6K6cibQCWN9Pee9tT-PQ"),
    ("01/05412345000013/22/AJY3095721P49/10/ABC123", "AQnYUc1gmiCNV4JGRNoBLG-nvPe2p_Ho"),
    ("01/05412345000013/235/8TFV883a904GH&3", "AQnYUc1gmkax7ipGrOHDPC5YNI8hMz"),
    ("01/05412345000013/21/72292641703", "AQnYUc1gmkIXDU-iun"),
    ("01/05412345000013/22/AJY3095721P49/21/72292641703", "AQnYUc1gmkIXDU-iunIm0AljfT3nvbU_j0"),
    ("01/05412345000013/22/AJY3095721P49", "AQnYUc1gmkTaASxvp7z3tqfx6"),
    ("414/5060917510004", "QUSaVjC_dA"),
    ("414/5060917510004/254/RP56J920471", "JUa0T-eifdtOO9UFEmlYwv3Q"),
    ("414/5060917510004/7040/5KFX", "QUSaVjC_dHBAVlCrg"),
    ("417/5060917510004", "QXSaVjC_dA"),
    ("417/5060917510004/7040/5KFX", "QXSaVjC_dHBAVlCrg"),
]
# Partly compressed: the qualifiers after an uncompressed key (same toolkit).
GS1_PARTIAL = [
    ("10/ABC123", "EEarwSM"), ("10/ABC123/21/72292641703", "EEarwSMhC4an0V04"),
    ("22/AJY3095721P49", "Im0AljfT3nvbU_j0"), ("21/72292641703", "IQuGp9FdO"),
    ("235/8TFV883a904GH&3", "I1j3FSNWcOGeFywaR5CZm"), ("7040/5KFX", "cEBWUKu"),
    ("254/RP56J920471", "JUa0T-eifdtOO9Q"),
]


def _pairs(path: str) -> list[tuple[str, str]]:
    parts = path.split("/")
    return list(zip(parts[::2], parts[1::2], strict=True))


@pytest.mark.parametrize(("path", "compressed"), GS1_TEST_STRINGS + GS1_PARTIAL)
def test_compresses_as_gs1s_toolkit_does(path, compressed):
    assert compress(_pairs(path)) == compressed


@pytest.mark.parametrize(("path", "compressed"), GS1_TEST_STRINGS + GS1_PARTIAL)
def test_decompresses_gs1s_test_strings(path, compressed):
    assert sorted(decompress(compressed)) == sorted(_pairs(path))


def test_optimisation_codes_decode_to_their_ais():
    """GS1's resolver test suite compresses with optimisation codes: 0C stands for 01 then 21."""
    plain = compress([("01", "05412345000013"), ("21", "72292641703")])
    bits = "".join(format("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                          .index(c), "06b") for c in plain)
    gtin_end = 8 + 47
    # 0x0C replaces the AI 01 nibbles; the AI 21 nibbles after the GTIN go.
    optimised = "00001100" + bits[8:gtin_end] + bits[gtin_end + 8:]
    optimised += "0" * (-len(optimised) % 6)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    segment = "".join(alphabet[int(optimised[i:i + 6], 2)] for i in range(0, len(optimised), 6))
    assert decompress(segment) == [("01", "05412345000013"), ("21", "72292641703")]


@pytest.mark.parametrize(("segment", "reason"), [
    ("AQnYUc1gm", "truncated"),          # a GTIN cut short
    ("AQnYUc1gmg.", "illegal-character"),
    ("_____", "unsupported-ai"),          # FF: neither an AI nor a code
    ("AQnYUc1gmh", "trailing-bits"),       # a 1 in the padding
])
def test_malformed_compressed_strings_are_refused_with_a_reason(segment, reason):
    with pytest.raises(CompressionError) as err:
        decompress(segment)
    assert err.value.fields["reason"] == reason


serials = st.text(alphabet="!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz",
                  min_size=1, max_size=20)


@given(serial=serials, lot=serials)
def test_any_gtin_lot_serial_round_trips(serial, lot):
    pairs = [("01", "09506000134352"), ("10", lot), ("21", serial)]
    assert decompress(compress(pairs)) == sorted(pairs)
