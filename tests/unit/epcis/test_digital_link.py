"""GS1 Digital Link URI syntax (1.2+) as the resolver checks it: valid links in every form the
standard allows, and invalid ones refused with the reason a client can act on."""

from __future__ import annotations

import pytest

from ledger.epcis.digital_link import DigitalLinkSyntaxError, is_link_path, parse_path

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
