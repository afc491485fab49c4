"""A kept reason is shown as the regulator's only when the chain vouches for it: a blacklist
reason when keccak256(text) is the reasonHash on chain, a grade's never (it is labelled the
gateway's record)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ledger.proofs.merkle import keccak256
from ledger.trade.regulator_reasons import ReasonRecord, checked


def _record(action: str, reason: str) -> ReasonRecord:
    return ReasonRecord(b"\x01" * 32, b"\x02" * 32, action, "C" if action == "grade" else None,
                        reason, b"\x03" * 32, "0x" + "ab" * 20, 0)


@given(st.text(min_size=1, max_size=200), st.sampled_from(["blacklist", "unblacklist"]))
def test_a_blacklist_reason_is_shown_exactly_when_it_hashes_to_the_chain(text: str,
                                                                         action: str) -> None:
    on_chain = keccak256(text.encode("utf-8"))
    assert checked(_record(action, text), on_chain).text == text
    assert checked(_record(action, text), on_chain).status == "matches-chain"


@given(st.text(min_size=1, max_size=200), st.text(min_size=1, max_size=200),
       st.sampled_from(["blacklist", "unblacklist"]))
def test_any_other_text_is_withheld(kept: str, hashed: str, action: str) -> None:
    shown = checked(_record(action, kept), keccak256(hashed.encode("utf-8")))
    if kept == hashed:
        assert shown.text == kept
    else:
        assert (shown.text, shown.status) == (None, "mismatch")
    assert checked(_record(action, kept), None).status == "mismatch"


@given(st.text(min_size=1, max_size=200))
def test_a_grade_reason_is_always_labelled_the_gateways_record(text: str) -> None:
    shown = checked(_record("grade", text), None)
    assert (shown.text, shown.status) == (text, "gateway-record")
