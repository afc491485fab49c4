"""Every parameter GS1's query schema names (`query-schema.json`: its properties, and one name
of each of its `patternProperties`) is answered by `GET /events`, none refused as unsupported.
What the schema names with a pattern that also covers fields this gateway does not index (the
standard fields other than readPoint, bizLocation, source and destination in
`EQ_ATTR_<field>_<attr>`) is answered for the fields it does, refused for the others."""

from __future__ import annotations

import json
import re

import pytest
from starlette.datastructures import QueryParams

from gateway.routes.events import QueryParameterError, query_filters
from ledger.epcis.query import QUERY_SCHEMA_FILE

_QUERY = json.loads(QUERY_SCHEMA_FILE.read_text())["definitions"]["EPCIS-Query"]
# One name a pattern allows, for each kind of part the schema's patterns use (its doubled
# escapes undone first, as `ledger.epcis.query` does).
_PARTS = ((r"[a-z][a-zA-Z0-9]*\:\w+", "example:field"), (r"\w+_\w+", "readPoint_name"),
          (r"[A-Z0-9]{2,4}", "CEL"), (r"[a-z][a-zA-Z0-9_]+", "owning_party"))


def _named(pattern: str) -> str:
    name = pattern.replace("\\\\", "\\").strip("^$")
    for part, example in _PARTS:
        name = name.replace(part, example)
    assert re.fullmatch(r"[A-Za-z0-9_:]+", name), f"an unforeseen pattern: {pattern}"
    return name


NAMES = sorted({*(_named(p) for p in _QUERY["patternProperties"]),
                *(n for n in _QUERY["properties"] if n != "@context")})


def _value(name: str) -> str:
    if name.endswith(("Time", "_time", "_Time")) and not name.startswith("EQ_"):
        return "2024-01-01T00:00:00Z"
    if name in ("orderBy",):
        return "eventTime"
    if name == "orderDirection":
        return "ASC"
    if name == "eventType":
        return "ObjectEvent"
    if name == "EQ_action":
        return "ADD"
    if name == "EQ_booleanValue":
        return "true"
    if name == "EQ_hexBinaryValue":
        return "0aff"
    if name.startswith("EXISTS_"):
        return ""
    if re.match(r"(GT|GE|LT|LE)_", name) or re.match(
            r"EQ_(quantity|value|minValue|maxValue|meanValue|sDev|percValue)", name) \
            or name in ("eventCountLimit", "maxEventCount"):
        return "5"
    return "urn:example:x"


def test_the_schema_was_read_whole() -> None:
    assert len(NAMES) == 168  # 59 properties (and @context) and 109 patterns in GS1 2.0


@pytest.mark.parametrize("name", NAMES)
def test_each_parameter_of_the_query_schema_is_answered(name: str) -> None:
    params = {name: _value(name)}
    if name == "eventCountLimit":
        params["orderBy"] = "eventTime"
    assert query_filters(QueryParams(params))  # neither unsupported nor unread


def test_eq_attr_of_a_field_no_master_data_describes_is_refused() -> None:
    with pytest.raises(QueryParameterError, match="unsupported query parameter"):
        query_filters(QueryParams({"EQ_ATTR_bizStep_name": "x"}))
