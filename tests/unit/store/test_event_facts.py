"""`ledger.store.event_facts.fact_rows` (pure) and the query-string reading of the parameters
it serves (`gateway.routes.events.query_filters`)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import QueryParams

from gateway.routes.events import QueryParameterError, query_filters
from ledger.store.event_facts import KEY_LIMIT, TEXT_LIMIT, FactFilter, fact_rows, time_ms

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                 max_size=4),
    max_leaves=20)
_names = st.sampled_from(["action", "ilmd", "quantityList", "inputQuantityList",
                          "bizTransactionList", "sourceList", "persistentDisposition",
                          "example:x", "eventID", "transformationID", "a:" + "b" * 300])


@given(st.dictionaries(_names, _json, max_size=8))
def test_any_json_gives_rows_that_fit_their_columns(event: dict[str, Any]) -> None:
    for key, text, num in fact_rows(event):
        assert len(key) <= KEY_LIMIT
        assert text is None or (isinstance(text, str) and len(text) <= TEXT_LIMIT)
        assert num is None or isinstance(num, float)


@given(st.dictionaries(_names, _json, max_size=8), st.randoms())
def test_the_order_of_fields_does_not_change_the_facts(event: dict[str, Any], rnd: Any) -> None:
    items = list(event.items())
    rnd.shuffle(items)
    assert set(fact_rows(dict(items))) == set(fact_rows(event))


def test_times_compare_across_zones_and_non_times_are_not_numbers() -> None:
    assert time_ms("2024-03-01T10:00:00+08:00") == time_ms("2024-03-01T02:00:00Z")
    assert time_ms("2024-03-01T10:00:00") is None  # no zone: no instant
    assert time_ms("frozen") is None


def _filters(query: str) -> dict[str, Any]:
    return query_filters(QueryParams(query))


def test_the_families_become_fact_filters() -> None:
    got = _filters("EQ_action=ADD|DELETE&GE_quantity_KGM=5&EQ_ILMD_cbvmda:lotNumber=L1"
                   "&EXISTS_INNER_example:grade=&EQ_source_owning_party=urn:x"
                   "&LT_example:when=2024-01-01T00:00:00Z")["facts"]
    assert FactFilter("action", "EQ", texts=("ADD", "DELETE")) in got
    assert FactFilter("quantity", "GE", nums=(5.0,), uom="KGM") in got
    assert FactFilter("ilmd:cbvmda:lotNumber", "EQ", texts=("L1",)) in got
    assert FactFilter("inner:example:grade", "EXISTS") in got
    assert FactFilter("source.owning_party", "EQ", texts=("urn:x",)) in got
    assert FactFilter("ext:example:when", "LT", nums=(time_ms("2024-01-01T00:00:00Z"),)) in got


def test_order_and_limits_are_read_as_the_standard_says() -> None:
    got = _filters("orderBy=recordTime&eventCountLimit=2")
    assert (got["order_by"], got["order_desc"], got["event_count_limit"]) == (
        "recordTime", True, 2)
    assert _filters("orderBy=eventTime&orderDirection=ASC")["order_desc"] is False


@pytest.mark.parametrize("query", [
    "orderBy=quantity", "orderDirection=UP", "eventCountLimit=2",
    "orderBy=eventTime&eventCountLimit=1&maxEventCount=1", "maxEventCount=-1",
    "maxEventCount=1.5", "GE_quantity=many", "EQ_action=TAKE", "EQ_quantity=1|x",
    "LT_ILMD_example:size=big", "EQ_deviceID=urn:x", "EQ_SENSORELEMENT_example:x=1",
    "GE_startTime=2024-01-01T00:00:00Z",
])
def test_refused_with_a_query_parameter_exception(query: str) -> None:
    with pytest.raises(QueryParameterError):
        _filters(query)
