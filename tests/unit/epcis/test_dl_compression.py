"""GS1 Digital Link compression against the test strings of GS1's reference implementation
(the GS1DigitalLinkCompressionPrototype toolkit, as reproduced by its .NET port's feature tests:
`compressGS1DigitalLink` without optimisation codes; and the digital-link.js tests, which use
optimisation codes), both ways; and round trips of every AI GS1 defines."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ledger.epcis.application_identifiers import lookup
from ledger.epcis.dl_compression import (
    OPTIMISATION_CODES,
    CompressionError,
    compress,
    decompress,
)
from ledger.proofs.codes import check_digit

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
    # The other primary keys GS1's toolkit tests, and their qualifiers.
    ("253/3060077601309", "JTLIetaiHYA"), ("255/5678409730535", "JVUqG5hJ5wA"),
    ("401/0541234537290A41&GHpp33", "QBl2DVoxZM2jVm3ZOWEFoxTR5HDgzZg"),
    ("402/21173492661712079", "QCJZyW9mC6Z4"),
    ("410/5060917510004", "QQSaVjC_dA"), ("411/5060917510004", "QRSaVjC_dA"),
    ("412/5060917510004", "QSSaVjC_dA"), ("413/5060917510004", "QTSaVjC_dA"),
    ("415/5060917510004", "QVSaVjC_dA"), ("416/5060917510004", "QWSaVjC_dA"),
    ("8003/04965031954585", "gAMJCAXukTMA"),
    ("8004/0541234537290A41&GHpp33", "gASXYNWjFkzaNWbdk5YQWjFNHkcODNm"),
    ("8004/0541234537290A41&GHpp33/7040/7BVR", "cEB2CqjAAkuwatGLJm0as27JywgtGKaPI4cGbM"),
    ("8006/054123450000130201", "gAYMBI_bNGwJk"),
    ("8006/054123450000130201/10/ABC123", "EEarwSOABgwEj9s0bAmQ"),
    ("8006/054123450000130201/22/AJY3095721P49/10/ABC123/21/72292641703",
     "EEarwSMhC4an0V05E2gEsb6e897an8ewAMGAkftmjYEy"),
    ("8006/054123450000130201/21/72292641703", "IQuGp9FdPAAwYCR-2aNgTI"),
    ("8010/0541234537290A41#GH33", "gBCVYNWjFkzaNWbdk5YQWjFHHkM2Y"),
    ("8010/0541234537290A41#GH33/8011/6639047221", "gBCVYNWjFkzaNWbdk5YQWjFHHkM2cAI0xdvpGo"),
    ("8013/5060917511473062B98T", "gBN05060917511473062B98T"),
    ("8017/817019610850151481", "gBe1ajAd9ATDk"),
    ("8017/817019610850151481/8019/4003812", "gBe1ajAd9ATDmAGXPRfk"),
    ("8018/411369833821910265/8019/4003812", "gBhbV6rzBENPmAGXPRfk"),
    # A data attribute (17, expiry) after the key and qualifiers (the port's AdditionalUriContent
    # feature: /01/05412345000013/10/ABC123?17=290331).
    ("01/05412345000013/10/ABC123/17/290331", "AQnYUc1gmiCNV4JGLo3DY"),
    ("01/09780345418913/21/43786", "ARHKVAdpQkIKqwo"),   # digital-link.js, no optimisation
]
# Partly compressed: the qualifiers after an uncompressed key (same toolkit).
GS1_PARTIAL = [
    ("10/ABC123", "EEarwSM"), ("10/ABC123/21/72292641703", "EEarwSMhC4an0V04"),
    ("22/AJY3095721P49", "Im0AljfT3nvbU_j0"), ("21/72292641703", "IQuGp9FdO"),
    ("235/8TFV883a904GH&3", "I1j3FSNWcOGeFywaR5CZm"), ("7040/5KFX", "cEBWUKu"),
    ("254/RP56J920471", "JUa0T-eifdtOO9Q"),
    ("8011/6639047221", "gBGmLt9I1"), ("8019/4003812", "gBlz0X5A"), ("7040/7BVR", "cEB2Cqi"),
    ("10/ABC123/17/290331", "EEarwSMXRuGw"),
]
# Compressed with optimisation codes by digital-link.js (GS1's toolkit inside): 1F stands for
# 01, 10, 15 (here followed by 21) and 0C for 01, 21. The first is the published form of
# /01/09780345418913/10/231/21/345345?15=120820.
GS1_OPTIMISED = [
    ("HxHKVAdpQgZzjr-hCDKigI", "01/09780345418913/10/231/21/345345/15/120820"),
    ("DBHKVAdpQgowOQ", "01/09780345418913/21/12345"),
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


@pytest.mark.parametrize(("compressed", "path"), GS1_OPTIMISED)
def test_decompresses_gs1s_optimised_strings(compressed, path):
    assert sorted(decompress(compressed)) == sorted(_pairs(path))


def test_the_optimisation_table_is_gs1s():
    """GS1's table: 0A-0F, 1A-1F, 2A-2F (01 + 310n), 3A-3F (01 + 320n), 9A-9D, A0-A9
    (01 + 392n), C0-CD (255 + 390n / 394n); no code is also a run of AI digits."""
    assert len(OPTIMISATION_CODES) == 52
    assert OPTIMISATION_CODES["1A"] == ("01", "10", "21", "17")
    assert OPTIMISATION_CODES["2D"] == ("01", "3103")
    assert OPTIMISATION_CODES["CD"] == ("255", "3943")
    assert not [code for code in OPTIMISATION_CODES if code.isdigit()]
    assert all(lookup(ai) for ais in OPTIMISATION_CODES.values() for ai in ais)


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


# --- every AI GS1 defines ---------------------------------------------------------------------

ALL_AIS = [code for code in (f"{n:0{w}d}" for w in (2, 3, 4) for n in range(10 ** w))
           if lookup(code)]


def test_gs1s_table_is_all_there():
    """biip's table (GS1's Barcode Syntax Dictionary): hundreds of AIs, each with components."""
    assert len(ALL_AIS) > 500
    assert {"3103", "3202", "7003", "8008", "422", "8200", "7007", "4330"} <= set(ALL_AIS)
    assert all(lookup(ai).components for ai in ALL_AIS)


# Data attributes with formats beyond the key's: weights with their decimal-position digit,
# dates, date-times, an optional second part, countries, URLs, a fixed+variable number.
ATTRIBUTES = [
    ("3100", "000125"), ("3103", "001250"), ("3105", "999999"), ("3202", "004400"),
    ("3205", "000001"), ("11", "260131"), ("13", "251231"), ("15", "270100"), ("17", "291231"),
    ("7003", "2612311430"), ("8008", "26123114"), ("8008", "2612311430"),
    ("8008", "261231143059"), ("422", "276"), ("8200", "https://brand.example/p?x=1"),
    ("7007", "261201"), ("7007", "261201261215"), ("3922", "1999"), ("3932", "9781999"),
    ("421", "27610115"), ("7230", "EMCERT-1"), ("4330", "001234-"), ("4330", "001234"),
    ("255", "56784097305351234"), ("253", "3060077601309ABC"), ("91", "A" * 90),
    ("30", "12345678"), ("7040", "1ABC"), ("8030", "abc-_XYZ09"),
]


@pytest.mark.parametrize(("ai", "value"), ATTRIBUTES)
def test_data_attributes_round_trip_after_a_key(ai, value):
    pairs = [("01", "05412345000013"), ("10", "ABC123"), (ai, value)]
    assert decompress(compress(pairs)) == sorted(pairs)


def _with_check_digit(ai: str, value: str) -> str:
    span = lookup(ai).check_digits
    if not span:
        return value
    return value[:span - 1] + str(check_digit(value[:span - 1])) + value[span:]


@st.composite
def _elements(draw):
    ai = draw(st.sampled_from(ALL_AIS))
    entry = lookup(ai)
    text = draw(st.from_regex(entry.pattern, fullmatch=True,
                              alphabet=st.characters(codec="ascii")))
    value = _with_check_digit(ai, text[len(ai):])
    # The percent-encoded AIs (4300…) count an escape pair as one character: compression
    # has room for the maximum in characters only (refused, tested below).
    assume(len(value) <= entry.longest)
    return ai, value


@settings(max_examples=400)
@given(element=_elements())
def test_any_value_of_any_ai_round_trips(element):
    """Values drawn from GS1's own expression for each AI, compressed alone and after a GTIN."""
    assert decompress(compress([element])) == [element]
    pairs = [("01", "09506000134352"), element]
    if element[0] != "01":
        assert decompress(compress(pairs)) == sorted(pairs)


@pytest.mark.parametrize(("pairs", "reason"), [
    ([("01", "05412345000014")], "check-digit"),
    ([("01", "05412345000013"), ("17", "291331")], "bad-value"),        # month 13
    ([("01", "05412345000013"), ("3103", "12345")], "bad-length"),
    ([("01", "05412345000013"), ("3103", "1234A5")], "illegal-character"),
    ([("01", "05412345000013"), ("10", "A B")], "illegal-character"),
    ([("01", "05412345000013"), ("3109", "123456")], "unknown-ai"),     # 310 has 0-5 only
    ([("4300", "%C3%A9" * 18)], "bad-length"),   # 18 by GS1's expression, 108 characters
])
def test_compress_refuses_a_value_gs1_does_not_define(pairs, reason):
    with pytest.raises(CompressionError) as err:
        compress(pairs)
    assert err.value.fields["reason"] == reason, err.value.detail


def test_an_ai_gs1_does_not_define_is_refused_when_decompressing():
    """3109 in nibbles (3, 1, 0, 9) after a GTIN: no such AI, refused with its digits."""
    gtin = compress([("01", "05412345000013")])
    bits = "".join(format("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                          .index(c), "06b") for c in gtin)[:8 + 47]
    bits += "0011000100001001" + "0" * 20
    bits += "0" * (-len(bits) % 6)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    segment = "".join(alphabet[int(bits[i:i + 6], 2)] for i in range(0, len(bits), 6))
    with pytest.raises(CompressionError) as err:
        decompress(segment)
    assert err.value.fields["reason"] == "unknown-ai"
    assert err.value.fields["ai"] == "3109"


def test_lookups_of_what_is_no_ai_are_not_remembered():
    """A path segment reaches the AI lookup; only 2-4 digit codes may be cached, so a flood of
    distinct junk segments cannot grow the cache."""
    from ledger.epcis.application_identifiers import _lookup

    before = _lookup.cache_info().currsize
    for n in range(200):
        assert lookup(f"junk{n}") is None and lookup(f"{n:05d}") is None
    assert _lookup.cache_info().currsize == before
