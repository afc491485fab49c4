"""`ledger.store.event_facts.fact_rows` (pure) and the query-string reading of the parameters
it serves (`gateway.routes.events.query_filters`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import QueryParams

from gateway.routes.events import QueryParameterError, query_filters
from ledger.store.event_facts import (
    KEY_LIMIT,
    TEXT_LIMIT,
    FactFilter,
    declaration_facts,
    fact_rows,
    master_data_facts,
    time_ms,
)
from ledger.store.migrations import versions
from ledger.store.sensor_index import sensor_facts

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


def test_the_location_field_parameters_become_fact_filters() -> None:
    got = _filters("EQ_readPoint_example:dock=D7|4&EQ_INNER_bizLocation_example:lane=3"
                   "&EQ_INNER_readPoint_example:at=2024-01-01T08:00:00%2B08:00")["facts"]
    assert set(got) == {
        FactFilter("readPoint:example:dock", "EQ", texts=("D7", "4"), nums=(4.0,)),
        FactFilter("inner_bizLocation:example:lane", "EQ", texts=("3",), nums=(3.0,)),
        FactFilter("inner_readPoint:example:at", "EQ", texts=("2024-01-01T08:00:00+08:00",),
                   nums=(time_ms("2024-01-01T00:00:00Z"),))}


def test_location_facts_are_the_extension_fields_of_read_point_and_biz_location() -> None:
    rows = fact_rows({"readPoint": {"id": "urn:epc:id:sgln:0614141.00777.0",
                                    "example:dock": "D7",
                                    "example:gate": {"example:lane": 3, "@id": "x"}},
                      "bizLocation": {"id": "urn:x", "example:open": True, "plain": "no"},
                      "sourceList": [{"type": "owning_party", "source": "urn:p",
                                      "example:not": "a location"}]})
    assert {r for r in rows if not r[0].startswith("has:")} == {
        ("readPoint:example:dock", "D7", None), ("readPoint:example:gate", None, None),
        ("inner_readPoint:example:lane", None, 3.0), ("bizLocation:example:open", "true", None),
        ("source.owning_party", "urn:p", None)}


_LOCATION_KEYS = ("readPoint:", "inner_readPoint:", "bizLocation:", "inner_bizLocation:")
_location = st.dictionaries(st.sampled_from(["id", "example:x", "example:y", "@id", "plain",
                                             "a:" + "b" * 300]), _json, max_size=4)


@given(st.fixed_dictionaries({}, optional={"readPoint": _location | _json,
                                           "bizLocation": _location | _json}))
def test_migration_0024_writes_the_location_rows_capture_writes(event: dict[str, Any]) -> None:
    """0024 keeps its own copy of the rows (a migration must not change when the code does):
    the copy writes what capture writes today."""
    written = {r for r in fact_rows(event) if r[0].startswith(_LOCATION_KEYS)}
    assert set(_migration("0024_location_and_attribute_facts").location_facts(event)) == written


def _migration(name: str) -> Any:
    path = Path(versions.__file__).parent / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_migration_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_order_and_limits_are_read_as_the_standard_says() -> None:
    got = _filters("orderBy=recordTime&eventCountLimit=2")
    assert (got["order_by"], got["order_desc"], got["event_count_limit"]) == (
        "recordTime", True, 2)
    assert _filters("orderBy=eventTime&orderDirection=ASC")["order_desc"] is False


@pytest.mark.parametrize("query", [
    "orderBy=quantity", "orderDirection=UP", "eventCountLimit=2",
    "orderBy=eventTime&eventCountLimit=1&maxEventCount=1", "maxEventCount=-1",
    "maxEventCount=1.5", "GE_quantity=many", "EQ_action=TAKE", "EQ_quantity=1|x",
    "LT_ILMD_example:size=big",
    # Sensor metadata and report parameters with a value they cannot read.
    "EQ_deviceID=not a uri", "EQ_deviceMetadata=", "EQ_rawData=raw", "EQ_bizRules=urn:x|rules",
    "EQ_dataProcessingMethod=%20", "EQ_microorganism=salmonella", "EQ_chemicalSubstance=CO2",
    "EQ_uriValue=plain words", "EQ_stringValue=", "EQ_hexBinaryValue=0G",
    "EQ_hexBinaryValue=ABC", "EQ_booleanValue=yes", "EQ_booleanValue=true&EQ_booleanValue=false",
    "GE_time=yesterday", "LT_time=2024-01-01T00:00:00", "GE_startTime=2024-13-01T00:00:00Z",
    "LT_startTime=", "GE_endTime=soon", "LT_endTime=2024-01-01", "GT_percRank=high",
    "LE_percRank=nan", "GE_percRank=1&GE_percRank=2",
    "GT_SENSORELEMENT_example:x=big", "LE_INNER_SENSORMETADATA_example:x=2024-01-01T00:00:00",
    "EQ_SENSORREPORT_example:x=", "GE_ERROR_DECLARATION_example:x=many",
    "EQ_INNER_ERROR_DECLARATION_example:x=",
    # readPoint and bizLocation extension fields: EQ_ only, with a value.
    "EQ_readPoint_example:x=", "EQ_INNER_bizLocation_example:x=%20",
    "GT_readPoint_example:x=1", "EXISTS_INNER_bizLocation_example:x=",
    "EQ_readPoint_x=1", "EQ_ILMD_readPoint_example:x=1",
    # Not in the query language: the sensor extension families have no EXISTS_INNER_, percRank
    # no EQ_.
    "EXISTS_INNER_SENSORREPORT_example:x=", "EQ_percRank=50",
    # Master data: of readPoint, bizLocation and extension fields only, and with a value;
    # EQ_ATTR_ of readPoint and bizLocation only (the schema's `\w+` names no prefix:field).
    "HASATTR_example:x=", "EQ_ATTR_example_x=1", "HASATTR_epcList=name", "HASATTR_x=name",
    "HASATTR_INNER_example:x=name", "EQ_ATTR_example:x_name=1",
    "EQ_ATTR_bizStep_name=x", "HASATTR_readPoint=", "EQ_ATTR_bizLocation_name=",
    "EQ_ATTR_readPoint_cbvmda:name=x",
])
def test_refused_with_a_query_parameter_exception(query: str) -> None:
    with pytest.raises(QueryParameterError):
        _filters(query)


_sensor_names = st.sampled_from(["deviceID", "deviceMetadata", "rawData", "bizRules", "time",
                                 "startTime", "endTime", "percRank", "booleanValue",
                                 "hexBinaryValue", "stringValue", "uriValue", "example:x",
                                 "sensorMetadata", "sensorReport", "a:" + "b" * 300])
_sensor_part = st.dictionaries(_sensor_names, _json | st.sampled_from(
    ["2024-03-01T10:00:00Z", "0aFF", "urn:epc:id:giai:4000001.1", "1", "false"]), max_size=6)


@given(st.lists(st.fixed_dictionaries({}, optional={
    "sensorMetadata": _sensor_part, "sensorReport": st.lists(_sensor_part, max_size=3),
    "example:e": _json}) | _json, max_size=3), _json)
def test_any_sensor_list_or_declaration_gives_rows_that_fit_their_columns(
        elements: Any, declaration: Any) -> None:
    for key, text, num in (*sensor_facts({"sensorElementList": elements}),
                           *declaration_facts(declaration)):
        assert len(key) <= KEY_LIMIT
        assert text is None or (isinstance(text, str) and len(text) <= TEXT_LIMIT)
        assert num is None or isinstance(num, float)


def test_sensor_facts_spell_each_field_as_its_parameter_compares_it() -> None:
    rows = sensor_facts({"sensorElementList": [{
        "sensorMetadata": {"time": "2024-03-01T10:00:00+08:00", "deviceID": "urn:d:1",
                           "bizRules": "https://rules.example/r", "startTime": "not a time",
                           "example:batch": {"example:cell": 7}},
        "sensorReport": [{"type": "Temperature", "value": 3, "hexBinaryValue": "0aff",
                          "booleanValue": "0", "percRank": 50, "stringValue": "ok",
                          "deviceID": "urn:d:1", "example:note": "n"}],
        "example:element": True}]})
    assert set(rows) == {
        ("sensor.time", None, time_ms("2024-03-01T02:00:00Z")), ("sensor.deviceID", "urn:d:1", None),
        ("sensor.bizRules", "https://rules.example/r", None),
        ("sensormetadata:example:batch", None, None),
        ("inner_sensormetadata:example:cell", None, 7.0),
        ("sensor.hexBinaryValue", "0AFF", None), ("sensor.booleanValue", "false", None),
        ("sensor.percRank", None, 50.0), ("sensor.stringValue", "ok", None),
        ("sensorreport:example:note", "n", None), ("sensorelement:example:element", "true", None)}
    assert len(rows) == len(set(rows))  # the deviceID of metadata and report: one row


def test_declaration_facts_are_its_extension_fields_only() -> None:
    assert set(declaration_facts({
        "declarationTime": "2024-03-02T10:00:00Z", "reason": "incorrect_data",
        "correctiveEventIDs": ["urn:uuid:1"], "example:ticket": "T-9",
        "example:audit": {"example:by": "QA"}})) == {
        ("decl:example:ticket", "T-9", None), ("decl:example:audit", None, None),
        ("inner_decl:example:by", "QA", None)}
    assert declaration_facts("not an object") == []


def test_the_sensor_and_declaration_parameters_become_fact_filters() -> None:
    got = _filters("EQ_deviceID=urn:d:1|https://d.example/2&EQ_hexBinaryValue=0a|FF"
                   "&EQ_booleanValue=false&GE_time=2024-03-01T10:00:00%2B08:00"
                   "&LT_endTime=2024-03-02T00:00:00Z&GT_percRank=50"
                   "&EQ_stringValue=a b|c&LT_INNER_SENSORMETADATA_example:cell=8"
                   "&EQ_SENSORELEMENT_example:e=true&GE_SENSORREPORT_example:n=2"
                   "&EQ_ERROR_DECLARATION_example:ticket=T-9"
                   "&EXISTS_INNER_ERROR_DECLARATION_example:by="
                   "&EXISTS_SENSORMETADATA_example:batch=")["facts"]
    assert set(got) == {
        FactFilter("sensor.deviceID", "EQ", texts=("urn:d:1", "https://d.example/2")),
        FactFilter("sensor.hexBinaryValue", "EQ", texts=("0A", "FF")),
        FactFilter("sensor.booleanValue", "EQ", texts=("false",)),
        FactFilter("sensor.time", "GE", nums=(time_ms("2024-03-01T02:00:00Z"),)),
        FactFilter("sensor.endTime", "LT", nums=(time_ms("2024-03-02T00:00:00Z"),)),
        FactFilter("sensor.percRank", "GT", nums=(50.0,)),
        FactFilter("sensor.stringValue", "EQ", texts=("a b", "c")),
        FactFilter("inner_sensormetadata:example:cell", "LT", nums=(8.0,)),
        FactFilter("sensorelement:example:e", "EQ", texts=("true",)),
        FactFilter("sensorreport:example:n", "GE", nums=(2.0,)),
        FactFilter("decl:example:ticket", "EQ", texts=("T-9",)),
        FactFilter("inner_decl:example:by", "EXISTS"),
        FactFilter("sensormetadata:example:batch", "EXISTS")}


def test_master_data_facts_are_the_events_own_of_its_read_point_and_biz_location() -> None:
    rows = master_data_facts({
        "readPoint": {"id": "urn:epc:id:sgln:0614141.00777.0"},
        "bizLocation": {"id": "https://id.gs1.org/414/9506000999975"},
        "zhenzhi:masterData": [
            {"id": "urn:epc:id:sgln:0614141.00777.0", "name": {"en": "Dock 7", "zh-Hans": "7号码头"},
             "countryCode": "NZ"},
            {"id": "https://id.gs1.org/417/9506000000004", "name": "A party", "countryCode": "CN"},
            {"id": "https://id.gs1.org/414/9506000999975", "name": "Store", "example:x": 3}]})
    assert set(rows) == {
        ("hasattr.readPoint", "name", None), ("hasattr.readPoint", "countryCode", None),
        ("attr.readPoint.name", "Dock 7", None), ("attr.readPoint.name", "7号码头", None),
        ("attr.readPoint.countryCode", "NZ", None),
        ("hasattr.bizLocation", "name", None), ("attr.bizLocation.name", "Store", None)}
    assert master_data_facts({"readPoint": {"id": "urn:x"}}) == []


def test_master_data_facts_say_which_attributes_describe_an_extension_fields_value() -> None:
    seller = "urn:epc:id:pgln:0614141.00001"
    rows = master_data_facts({
        "zhenzhi:seller": seller, "example:parties": ["urn:other", seller],
        "example:place": {"id": seller}, "example:count": 3, "plain": seller,
        "zhenzhi:masterData": [{"id": seller, "name": {"en": "Shop"}, "countryCode": "CN",
                                "example:x": 3}]})
    assert set(rows) == {("hasattr.zhenzhi:seller", "name", None),
                         ("hasattr.zhenzhi:seller", "countryCode", None),
                         ("hasattr.example:parties", "name", None),
                         ("hasattr.example:parties", "countryCode", None)}


_master = st.lists(st.fixed_dictionaries({"id": st.sampled_from(["urn:a", "urn:b", 3]) | _json},
                                         optional={"name": _json, "countryCode": _json,
                                                   "example:x": _json}), max_size=3)


@given(st.fixed_dictionaries({}, optional={
    "zhenzhi:masterData": _master | _json, "zhenzhi:seller": st.sampled_from(["urn:a", "urn:b"])
    | _json, "example:x": st.lists(st.sampled_from(["urn:a", "urn:c"])) | _json,
    "readPoint": st.fixed_dictionaries({"id": st.sampled_from(["urn:a", "urn:b"])})}))
def test_migration_0024_writes_the_hasattr_rows_capture_writes(event: dict[str, Any]) -> None:
    written = {r for r in master_data_facts(event) if ":" in r[0]}
    assert set(_migration("0024_location_and_attribute_facts").hasattr_facts(event)) == written


def test_the_master_data_parameters_become_fact_filters() -> None:
    got = _filters("HASATTR_readPoint=urn:epcglobal:cbv:mda%23name|countryCode"
                   "&EQ_ATTR_bizLocation_countryCode=NZ|CN"
                   "&HASATTR_zhenzhi:seller=urn:epcglobal:cbv:mda%23name")["facts"]
    assert set(got) == {FactFilter("hasattr.readPoint", "EQ", texts=("name", "countryCode")),
                        FactFilter("attr.bizLocation.countryCode", "EQ", texts=("NZ", "CN")),
                        FactFilter("hasattr.zhenzhi:seller", "EQ", texts=("name",))}


def test_0026s_frozen_party_rule_is_the_live_one() -> None:
    """0026 keeps its own copy of the party rows: held equal to `master_data_facts`' on events
    with parties in both lists, some described, some not, some twice."""
    import random

    parties = [f"urn:epc:id:pgln:0614141.{i:05d}" for i in range(5)]
    rng = random.Random(26)
    for _ in range(300):
        event = {
            "sourceList": [{"type": "owning_party", "source": rng.choice(parties)}
                           for _ in range(rng.randrange(3))],
            "destinationList": [{"type": "possessing_party",
                                 "destination": rng.choice(parties + [7])}
                                for _ in range(rng.randrange(3))],
            "zhenzhi:masterData": [{"id": rng.choice(parties),
                                    rng.choice(["name", "countryCode", "children"]):
                                    rng.choice(["A", {"en": "B", "zh": "乙"}, ["x"]])}
                                   for _ in range(rng.randrange(4))],
        }
        live = [(k, text) for k, text, _ in master_data_facts(event)
                if k.split(".")[1] in ("source", "destination")]
        assert _migration("0026_party_master_data_facts").party_rows(event) == live
