"""GS1 identifiers: check digits, GTIN-14, Digital Link, URN ⇄ Digital Link round trips."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.epcis.gs1 import (
    DigitalLink,
    InvalidIdentifierError,
    check_digit,
    digital_link_to_urn,
    has_valid_check_digit,
    normalise_gtin,
    urn_to_digital_link,
    validate_gln,
    validate_serial,
    validate_sscc,
)
from ledger.errors import InvalidInputError


@pytest.mark.parametrize(("body", "digit"), [
    ("0950600013435", "2"),   # GTIN-14 09506000134352 (GS1 Digital Link standard example)
    ("401234599999", "0"),    # GTIN-13 4012345999990 (event-hash vectors)
    ("401234500011", "5"),    # GLN 4012345000115
    ("10614141234567890", "8"),  # SSCC 106141412345678908
])
def test_check_digit_known_values(body: str, digit: str) -> None:
    assert check_digit(body) == digit


def test_known_keys() -> None:
    assert normalise_gtin("4012345999990") == "04012345999990"
    assert normalise_gtin("09506000134352") == "09506000134352"
    assert normalise_gtin("96385074") == "00000096385074"
    assert validate_gln("4012345000115") == "4012345000115"
    assert validate_sscc("106141412345678908") == "106141412345678908"
    for bad in ("4012345999996", "0950600013435", "abc", "123456789012345"):
        with pytest.raises(InvalidIdentifierError):
            normalise_gtin(bad)
    assert issubclass(InvalidIdentifierError, InvalidInputError)


@given(st.text(alphabet="0123456789", min_size=7, max_size=17))
def test_any_single_digit_change_breaks_the_check_digit(body: str) -> None:
    key = body + check_digit(body)
    assert has_valid_check_digit(key)
    for i in range(len(key)):
        changed = key[:i] + str((int(key[i]) + 1) % 10) + key[i + 1:]
        assert not has_valid_check_digit(changed)


@pytest.mark.parametrize("serial", ["1", "ABC-123", "x" * 20, "a/b", "!\"%&'()*+,-./:;<=>?_"])
def test_serial_alphabet_accepts(serial: str) -> None:
    assert validate_serial(serial) == serial


@pytest.mark.parametrize("serial", ["", "x" * 21, "a b", "é", "#1", "a\n"])
def test_serial_alphabet_rejects(serial: str) -> None:
    with pytest.raises(InvalidIdentifierError):
        validate_serial(serial)


def test_digital_link_parse_and_canonical_form() -> None:
    link = DigitalLink.parse("http://example.com/shop/gtin/9506000134352/lot/A1/ser/S%2F1?x=1")
    assert link == DigitalLink("09506000134352", serial="S/1", lot="A1")
    assert link.canonical_uri() == "https://id.gs1.org/01/09506000134352/10/A1/21/S%2F1"
    assert link.key() == "01/09506000134352/21/S/1"
    for bad in ("urn:epc:id:sgtin:1.2.3", "https://id.gs1.org/01/09506000134353/21/1",
                "https://id.gs1.org/01/09506000134352/21", "https://id.gs1.org/414/4012345000115"):
        with pytest.raises(InvalidIdentifierError):
            DigitalLink.parse(bad)


@pytest.mark.parametrize(("urn", "dl", "cp"), [
    ("urn:epc:id:sgtin:0614141.107346.2017", "https://id.gs1.org/01/10614141073464/21/2017", 7),
    ("urn:epc:class:lgtin:4012345.012345.998877", "https://id.gs1.org/01/04012345123456/10/998877",
     7),
    ("urn:epc:id:sscc:0614141.1234567890", "https://id.gs1.org/00/106141412345678908", 7),
    ("urn:epc:id:sgln:4012345.00011.987", "https://id.gs1.org/414/4012345000115/254/987", 7),
    ("urn:epc:id:sgln:4012345.00011.0", "https://id.gs1.org/414/4012345000115", 7),
    ("urn:epc:id:pgln:4012345.00000", "https://id.gs1.org/417/4012345000009", 7),
    ("urn:epc:id:grai:4012345.55555.7", "https://id.gs1.org/8003/040123455555547", 7),
    ("urn:epc:id:giai:4012345.ABC345", "https://id.gs1.org/8004/4012345ABC345", 7),
])
def test_urn_digital_link_round_trip(urn: str, dl: str, cp: int) -> None:
    assert urn_to_digital_link(urn) == dl
    assert digital_link_to_urn(dl, cp) == urn


serials = st.text(alphabet="ABCXYZabcxyz0123456789-_", min_size=1, max_size=20)


@settings(max_examples=200)
@given(st.integers(6, 12), st.data(), serials)
def test_sgtin_round_trip_property(cp_len: int, data: st.DataObject, serial: str) -> None:
    cp = data.draw(st.text(alphabet="0123456789", min_size=cp_len, max_size=cp_len))
    item = data.draw(st.text(alphabet="0123456789", min_size=13 - cp_len, max_size=13 - cp_len))
    urn = f"urn:epc:id:sgtin:{cp}.{item}.{serial}"
    dl = urn_to_digital_link(urn)
    link = DigitalLink.parse(dl)
    assert link.canonical_uri() == dl
    assert link.serial == serial
    assert digital_link_to_urn(dl, cp_len) == urn


@pytest.mark.parametrize("bad", ["urn:epc:id:sgtin:0614141.10734.2017", "urn:epc:id:nope:1.2",
                                 "https://id.gs1.org/01/10614141073464/21/2017"])
def test_urn_rejects(bad: str) -> None:
    with pytest.raises(InvalidIdentifierError):
        urn_to_digital_link(bad)
