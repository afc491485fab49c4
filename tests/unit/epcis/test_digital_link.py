"""GS1 Digital Link URI syntax (1.2+) as the resolver checks it: valid links in every form the
standard allows, and invalid ones refused with the reason a client can act on."""

from __future__ import annotations

import pytest

from ledger.epcis.digital_link import (
    DigitalLinkSyntaxError,
    is_link_path,
    parse_path,
    query_attributes,
)
from ledger.epcis.dl_compression import compress

GTIN = "05412345000013"


@pytest.mark.parametrize(("path", "key", "value", "qualifiers"), [
    (f"/01/{GTIN}", "01", GTIN, ()),
    ("/01/5412345000013", "01", GTIN, ()),                      # GTIN-13, padded to 14
    ("/01/96385074", "01", "00000096385074", ()),                # GTIN-8
    (f"/01/{GTIN}/", "01", GTIN, ()),                            # trailing slash tolerated
    (f"/gtin/{GTIN}/lot/ABC/ser/X1", "01", GTIN, (("10", "ABC"), ("21", "X1"))),
    (f"/01/{GTIN}/10/ABC/21/X1", "01", GTIN, (("10", "ABC"), ("21", "X1"))),
    (f"/01/{GTIN}/22/V1/10/ABC", "01", GTIN, (("22", "V1"), ("10", "ABC"))),
    (f"/01/{GTIN}/21/X1", "01", GTIN, (("21", "X1"),)),          # a level may be skipped
    (f"/01/{GTIN}/235/8TFV883a904GH%263", "01", GTIN, (("235", "8TFV883a904GH&3"),)),
    (f"/01/{GTIN}/21/A%2FB", "01", GTIN, (("21", "A/B"),)),      # percent-encoded /
    ("/00/998440410914660971", "00", "998440410914660971", ()),
    ("/414/5060917510004/254/RP56", "414", "5060917510004", (("254", "RP56"),)),
    ("/414/5060917510004/7040/5KFX", "414", "5060917510004", (("7040", "5KFX"),)),
    ("/AQnYUc1gmiCNV4JGQhcNT6K6c", "01", GTIN, (("10", "ABC123"), ("21", "72292641703"))),
    (f"/01/{GTIN}/EEarwSMhC4an0V04", "01", GTIN, (("10", "ABC123"), ("21", "72292641703"))),
    ("/JUa0T-eifdtOO9UFEmlYwv3Q", "414", "5060917510004", (("254", "RP56J920471"),)),
])
def test_valid_links_parse(path, key, value, qualifiers):
    link = parse_path(path)
    assert (link.key, link.value, link.qualifiers) == (key, value, qualifiers)
    assert link.compressed == (path in COMPRESSED)


COMPRESSED = {"/AQnYUc1gmiCNV4JGQhcNT6K6c", f"/01/{GTIN}/EEarwSMhC4an0V04",
              "/JUa0T-eifdtOO9UFEmlYwv3Q"}


@pytest.mark.parametrize(("path", "reason"), [
    (f"/01/{GTIN[:-1]}4", "check-digit"),
    ("/00/998440410914660972", "check-digit"),
    ("/414/5060917510005", "check-digit"),
    (f"/01/{GTIN}/21/X1/10/ABC", "qualifier-order"),
    (f"/01/{GTIN}/10/ABC/22/V1", "qualifier-order"),
    (f"/01/{GTIN}/21/A%20B", "illegal-character"),                # space: not in set 82
    (f"/01/{GTIN}/10/%C3%A9", "illegal-character"),               # é
    ("/01/0541234500001X", "illegal-character"),
    (f"/01/{GTIN}/21/{'A' * 21}", "bad-length"),
    ("/01/05412345000", "bad-length"),
    (f"/01/{GTIN}/99/X", "not-a-qualifier"),
    (f"/01/{GTIN}/17/261231", "not-a-qualifier"),                 # a data attribute: query only
    (f"/01/{GTIN}/05/X", "unknown-ai"),
    (f"/01/{GTIN}/2100/X", "unknown-ai"),
    (f"/01/{GTIN}/21", "missing-value"),
    (f"/01/{GTIN}/21/A/21/B", "repeated-ai"),
    ("/10/ABC", "not-a-primary-key"),
    (f"/01/{GTIN}/foo", "unsupported-ai"),                        # neither AI nor compressed
    ("/AQnYUc1gm", "truncated"),
    # GS1's own syntax for each AI (GS1's AI table), beyond the key rules above:
    ("/253/3060077601308", "check-digit"),                         # GDTI's N13 ends in one
    ("/253/306007760130", "bad-length"),
    ("/8006/054123450000140201", "check-digit"),                   # ITIP's GTIN part
    ("/8013/5060917511473062B98%7E", "illegal-character"),
    (f"/01/{GTIN}/3109/123456", "unknown-ai"),                      # 310n has n = 0-5 only
])
def test_invalid_links_are_refused_with_their_reason(path, reason):
    with pytest.raises(DigitalLinkSyntaxError) as err:
        parse_path(path)
    assert err.value.fields["reason"] == reason, err.value.detail
    assert err.value.status == 400


def test_the_path_of_a_parsed_link_is_canonical_and_uncompressed():
    link = parse_path("/gtin/5412345000013/ser/A%2FB/lot/L1".replace("/ser/A%2FB/lot/L1",
                                                                      "/lot/L1/ser/A%2FB"))
    assert link.path() == f"/01/{GTIN}/10/L1/21/A%2FB"
    assert parse_path("/AQnYUc1gmiCNV4JGQhcNT6K6c").path() == \
        f"/01/{GTIN}/10/ABC123/21/72292641703"
    assert link.up().path() == f"/01/{GTIN}/10/L1"


@pytest.mark.parametrize(("path", "expected"), [
    (f"/01/{GTIN}", True), ("/gln/5060917510004", True), ("/AQnYUc1gmg", True),
    ("/events", False), ("/complaints", False), ("/", False), ("/verifier/scan.html", False),
])
def test_is_link_path_tells_resolver_paths_from_the_gateways_others(path, expected):
    assert is_link_path(path) is expected


# Published GS1 forms: the compressed link and the uncompressed one it stands for, data
# attributes in the query string (GS1's toolkit tests, and digital-link.js's, whose first
# string uses optimisation code 1F).
@pytest.mark.parametrize(("path", "uncompressed"), [
    ("/AQnYUc1gmiCNV4JGLo3DY", f"/01/{GTIN}/10/ABC123?17=290331"),
    (f"/01/{GTIN}/EEarwSMXRuGw", f"/01/{GTIN}/10/ABC123?17=290331"),
    ("/HxHKVAdpQgZzjr-hCDKigI", "/01/09780345418913/10/231/21/345345?15=120820"),
    ("/gBCVYNWjFkzaNWbdk5YQWjFHHkM2cAI0xdvpGo", "/8010/0541234537290A41%23GH33/8011/6639047221"),
    ("/gBe1ajAd9ATDmAGXPRfk", "/8017/817019610850151481/8019/4003812"),
])
def test_a_compressed_link_with_data_attributes_gives_gs1s_uncompressed_form(path, uncompressed):
    link = parse_path(path)
    assert link.compressed and link.uncompressed() == uncompressed


def test_data_attributes_of_every_kind_decompress_into_the_query_string():
    packed = compress([("01", GTIN), ("21", "X1"), ("3103", "001250"), ("17", "291231"),
                       ("7003", "2912311430"), ("8008", "29123114"), ("422", "276"),
                       ("8200", "https://brand.example/p")])
    link = parse_path("/" + packed)
    assert link.qualifiers == (("21", "X1"),)
    assert link.uncompressed() == (f"/01/{GTIN}/21/X1?17=291231&3103=001250&422=276"
                                   "&7003=2912311430&8008=29123114"
                                   "&8200=https%3A%2F%2Fbrand.example%2Fp")


def _segment(bits: str) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    bits += "0" * (-len(bits) % 6)
    return "".join(alphabet[int(bits[i:i + 6], 2)] for i in range(0, len(bits), 6))


# A GTIN (entry bits: AI 01 in nibbles, the N14 in 47 bits), then AI 17 (nibbles 1, 7) and a
# six-digit value in 20 bits: compress() refuses bad values, so the attack is built by hand.
_GTIN_BITS = "00000001" + format(int(GTIN), "b").zfill(47)


@pytest.mark.parametrize(("date", "reason"), [
    ("291331", "bad-value"),      # month 13
    ("999999", "bad-value"),
])
def test_attack_a_compressed_attribute_gs1_does_not_define_is_refused(date, reason):
    segment = _segment(_GTIN_BITS + "00010111" + format(int(date), "b").zfill(20))
    with pytest.raises(DigitalLinkSyntaxError) as err:
        parse_path("/" + segment)
    assert err.value.fields["reason"] == reason and err.value.fields["ai"] == "17"
    assert "17" in err.value.detail and date in err.value.detail


@pytest.mark.parametrize(("path", "reason"), [
    (f"/01/{GTIN}/21/X1/" + compress([("21", "X2")]), "repeated-ai"),   # partly compressed
    ("/" + compress([("01", GTIN), ("10", "A"), ("10", "B")]), "repeated-ai"),
    ("/" + _segment(_GTIN_BITS + _GTIN_BITS), "not-a-primary-key"),     # two keys
    ("/" + compress([("01", GTIN), ("00", "998440410914660971")]), "not-a-primary-key"),
])
def test_attack_a_compressed_link_repeating_an_ai_or_a_key_is_refused(path, reason):
    with pytest.raises(DigitalLinkSyntaxError) as err:
        parse_path(path)
    assert err.value.fields["reason"] == reason, err.value.detail


def test_query_string_data_attributes_are_read_and_other_parameters_left_alone():
    assert query_attributes("17=291231&linkType=all&3103=001250&foo=1") == (
        ("17", "291231"), ("3103", "001250"))
    assert query_attributes("") == ()


@pytest.mark.parametrize(("query", "reason"), [
    ("17=291331", "bad-value"),
    ("3103=12.5", "illegal-character"),
    ("3103=1250", "bad-length"),
    ("17=", "bad-length"),
    ("3109=123456", "unknown-ai"),
    ("12345=x", "unknown-ai"),          # all-digit keys are GS1's
    ("02=05412345000014", "check-digit"),
    ("10=A%20B", "illegal-character"),
])
def test_query_string_attribute_gs1_does_not_define_is_refused(query, reason):
    with pytest.raises(DigitalLinkSyntaxError) as err:
        query_attributes(query)
    assert err.value.fields["reason"] == reason, err.value.detail


def test_a_query_attribute_repeating_the_path_is_refused():
    link = parse_path(f"/01/{GTIN}/10/L1")
    assert query_attributes("17=291231", link) == (("17", "291231"),)
    with pytest.raises(DigitalLinkSyntaxError) as err:
        query_attributes("10=L2", link)
    assert err.value.fields["reason"] == "repeated-ai"
