"""The GS1 request headers of a query answer, read as `gateway.negotiation` reads them: the
binding's enum values and versions accepted, 2.0.0 outside the range refused (406), anything
else refused naming the header (400); nothing else ever escapes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.negotiation import (
    HeaderValueError,
    Negotiation,
    VersionNotAcceptableError,
    negotiate,
)
from ledger.epcis.epc_format import EpcFormat
from ledger.epcis.xml_writer import CbvXmlFormat

NAMES = ("GS1-EPC-Format", "GS1-CBV-XML-Format", "GS1-EPCIS-Min", "GS1-EPCIS-Max",
         "GS1-CBV-Min", "GS1-CBV-Max")


def test_no_header_is_no_preference() -> None:
    assert negotiate({}) == Negotiation(EpcFormat.NO_PREFERENCE, CbvXmlFormat.NO_PREFERENCE)


@pytest.mark.parametrize("fmt", list(EpcFormat))
def test_every_epc_format_of_the_binding_is_read(fmt: EpcFormat) -> None:
    assert negotiate({"GS1-EPC-Format": fmt.value}).epc_format is fmt


@pytest.mark.parametrize("fmt", list(CbvXmlFormat))
def test_every_cbv_xml_format_of_the_binding_is_read(fmt: CbvXmlFormat) -> None:
    assert negotiate({"GS1-CBV-XML-Format": fmt.value}).cbv_xml_format is fmt


@pytest.mark.parametrize(("low", "high", "ok"), [
    ("1.0.0", "2.0.0", True), ("2", "2", True), ("2.0.0.0", "2.0.0.0.0", True),
    ("0", None, True), ("1.10", "2.0.0", True), ("2.0.0.1", None, False), ("2.0", None, True), (None, "3.1.4", True),
    ("2.0.1", None, False), (None, "1.2.0", False), ("2.1", "3", False), ("1", "1.9.9", False),
])
def test_a_version_range_is_accepted_only_with_2_0_0_in_it(low: str | None, high: str | None,
                                                           ok: bool) -> None:
    for spec in ("EPCIS", "CBV"):
        headers = {k: v for k, v in ((f"GS1-{spec}-Min", low), (f"GS1-{spec}-Max", high)) if v}
        if ok:
            negotiate(headers)
        else:
            with pytest.raises(VersionNotAcceptableError) as refused:
                negotiate(headers)
            assert refused.value.status == 406


@given(st.sampled_from(NAMES), st.text(max_size=30))
def test_any_value_is_read_or_refused_naming_its_header(name: str, value: str) -> None:
    try:
        negotiate({name: value})
    except HeaderValueError as exc:
        assert exc.status == 400 and exc.fields["header"] == name and name in exc.detail
    except VersionNotAcceptableError as exc:
        assert exc.status == 406 and name in exc.fields["headers"]
