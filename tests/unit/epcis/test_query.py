"""`ledger.epcis.query`: a named query's JSON checked against the standard's query schema and
flattened to the query-string form `GET /events` reads."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.epcis.query import QUERY_SCHEMA_FILE, InvalidQueryError, query_parameters
from ledger.paths import SHARED_DIR

CONFORMANCE = SHARED_DIR / "conformance" / "epcis" / "query-schema.json"


@pytest.mark.skipif(not CONFORMANCE.is_file(), reason=f"no conformance data at {CONFORMANCE}")
def test_the_vendored_schema_is_the_standards() -> None:
    assert QUERY_SCHEMA_FILE.read_bytes() == CONFORMANCE.read_bytes()


def test_lists_join_with_pipes_and_exists_needs_no_value() -> None:
    assert query_parameters({
        "eventType": ["ObjectEvent", "AggregationEvent"], "EQ_bizStep": ["shipping"],
        "GE_eventTime": "2024-01-01T00:00:00Z", "EXISTS_errorDeclaration": 1,
        "GE_value_CEL": 8,
    }) == [("eventType", "ObjectEvent|AggregationEvent"), ("EQ_bizStep", "shipping"),
           ("GE_eventTime", "2024-01-01T00:00:00Z"), ("EXISTS_errorDeclaration", ""),
           ("GE_value_CEL", "8")]


def test_the_sensor_parameters_flatten_to_what_get_events_reads() -> None:
    # EQ_booleanValue is a JSON boolean in the query schema, `true`/`false` in a query string.
    assert query_parameters({
        "EQ_booleanValue": False, "EQ_deviceID": ["urn:epc:id:giai:4000001.111"],
        "GE_percRank": 50, "LT_time": "2024-01-01T00:00:00Z",
    }) == [("EQ_booleanValue", "false"), ("EQ_deviceID", "urn:epc:id:giai:4000001.111"),
           ("GE_percRank", "50"), ("LT_time", "2024-01-01T00:00:00Z")]
    assert query_parameters({"EQ_booleanValue": True}) == [("EQ_booleanValue", "true")]


@pytest.mark.parametrize("name", [
    "EQ_ILMD_example:size", "GE_INNER_ILMD_example:grams", "EXISTS_example:note",
    "EQ_SENSORREPORT_example:probe", "LT_SENSORELEMENT_example:depth",
    "EQ_ERROR_DECLARATION_example:ticket", "EQ_ATTR_readPoint_name",
])
def test_the_schemas_patterned_names_are_the_query_language(name: str) -> None:
    """GS1's schema escapes its `patternProperties` names twice (a regex asking for a literal
    backslash before the `:`): read as written, each of these names was refused in a named
    query although `GET /events` takes it."""
    value, flat = {"EQ": (["x"], "x"), "EX": (1, ""), "GE": (5, "5"), "LT": (5, "5")}[name[:2]]
    assert query_parameters({name: value}) == [(name, flat)]


@pytest.mark.parametrize(("query", "pointer"), [
    ({"EQ_example\\:size": ["x"]}, "/query"),  # what the schema's escaped pattern asked for
    ({"eventType": "ObjectEvent"}, "/query/eventType"),
    ({"GE_eventTime": "not a time"}, "/query/GE_eventTime"),
    ({"unknownParameter": ["x"]}, "/query"),
    ({"EQ_bizStep": []}, "/query/EQ_bizStep"),
    ({"EQ_readPoint": ["https://example.com/a|b"]}, "/query/EQ_readPoint/0"),
    (["not", "an", "object"], "/query"),
])
def test_what_is_not_the_query_language_is_refused_with_a_pointer(query: object,
                                                                   pointer: str) -> None:
    with pytest.raises(InvalidQueryError) as caught:
        query_parameters(query)
    assert caught.value.fields["pointer"] == pointer


@given(st.lists(st.sampled_from(["shipping", "receiving", "packing", "storing"]), min_size=1,
                max_size=4, unique=True))
def test_flattening_keeps_every_value_in_order(steps: list[str]) -> None:
    ((name, value),) = query_parameters({"EQ_bizStep": steps})
    assert name == "EQ_bizStep" and value.split("|") == steps
