"""The rule of who may speak about an item (`ledger.epcis.entitlement`), pure: the chain and the
history are plain functions here."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ledger.epcis.entitlement import (
    containers_of,
    not_entitled,
    owner_key,
    receivers,
    subjects,
)
from ledger.epcis.gs1 import check_digit

BRAND = b"brand".ljust(32, b"\0")
OTHER = b"other".ljust(32, b"\0")

prefixes = st.integers(6, 12).flatmap(
    lambda n: st.text("0123456789", min_size=n, max_size=n).filter(lambda p: p[0] != "0"))


def _keyed(body: str) -> str:
    return body + check_digit(body)


@given(prefixes, st.integers(0, 9), st.data())
def test_owner_key_starts_with_the_company_prefix_after_one_digit(prefix: str, indicator: int,
                                                                 data: st.DataObject) -> None:
    # Consortium.gtinOwner reads the prefix from the second character on, whatever its length.
    n = len(prefix)
    ref = data.draw(st.text("0123456789", min_size=12 - n, max_size=12 - n))
    gtin = _keyed(f"{indicator}{prefix}{ref}")
    serial_ref = data.draw(st.text("0123456789", min_size=16 - n, max_size=16 - n))
    sscc = _keyed(f"{indicator}{prefix}{serial_ref}")
    location = data.draw(st.text("0123456789", min_size=12 - n, max_size=12 - n))
    gln = _keyed(prefix + location)
    for uri in (f"https://id.gs1.org/01/{gtin}/21/x1", f"https://id.gs1.org/01/{gtin}/10/L1",
                f"https://id.gs1.org/00/{sscc}", f"https://id.gs1.org/414/{gln}",
                f"https://id.gs1.org/417/{gln}"):
        key = owner_key(uri)
        assert key is not None and len(key) == 14 and key[1:1 + n] == prefix, uri


def test_owner_key_is_none_for_what_no_prefix_owns() -> None:
    assert owner_key("urn:example:thing:1") is None
    assert owner_key("https://id.gs1.org/8004/95212340001") is None  # a GIAI: not covered


def test_subjects_are_canonical_whatever_the_spelling() -> None:
    urn = {"epcList": ["urn:epc:id:sgtin:9521234.012345.abc"]}
    link = {"epcList": ["https://id.gs1.org/01/09521234123453/21/abc"]}
    assert subjects(urn) == subjects(link) == ["https://id.gs1.org/01/09521234123453/21/abc"]


def _owner(key: str) -> bytes | None:
    return {"9521234": BRAND}.get(key[1:8])


CAN = "https://id.gs1.org/01/09521234123453/21/abc"
STRANGER = "https://id.gs1.org/01/09599999000012/21/abc"  # a prefix nobody owns


def _event(*epcs: str, step: str = "storing") -> dict:
    return {"type": "ObjectEvent", "epcList": list(epcs), "bizStep": step}


def test_owner_and_authorities_speak_others_do_not() -> None:
    def nobody(identifier: str) -> set[bytes]:
        return set()

    assert not_entitled(_event(CAN), BRAND, "ENTERPRISE", _owner, nobody) == []
    assert not_entitled(_event(CAN), OTHER, "ENTERPRISE", _owner, nobody) == [CAN]
    assert not_entitled(_event(CAN, step="inspecting"), OTHER, "CUSTOMS", _owner, nobody) == []
    assert not_entitled(_event(STRANGER), OTHER, "ENTERPRISE", _owner, nobody) == []
    assert not_entitled(_event(CAN), OTHER, "ENTERPRISE", _owner, lambda x: {OTHER}) == []


def test_receivers_are_named_parties_and_owners_of_named_locations() -> None:
    other_gln = "9509999000005"
    brand_site = _keyed("952123400001")
    event = {"destinationList": [
        {"type": "owning_party", "destination": f"https://id.gs1.org/417/{other_gln}"},
        {"type": "location", "destination": f"https://id.gs1.org/414/{brand_site}"},
        {"type": "location", "destination": "urn:example:nowhere"}]}
    assert receivers(event, _owner) == {other_gln.encode() + bytes(19), BRAND}
    assert receivers({"destinationList": "not a list"}, _owner) == frozenset()


def test_only_an_aggregation_add_puts_an_item_in_a_container() -> None:
    case = "https://id.gs1.org/00/095212340000000013"
    packed = {"type": "AggregationEvent", "action": "ADD", "parentID": case, "childEPCs": [CAN]}
    assert containers_of(packed, CAN) == [case]
    assert containers_of({**packed, "action": "DELETE"}, CAN) == []
    assert containers_of({**packed, "type": "ObjectEvent"}, CAN) == []
    assert containers_of(packed, STRANGER) == []
