"""The sensor metadata and report parameters and the ERROR_DECLARATION_ families, on SQLite and
PostgreSQL (the `store` fixture runs each test on both), read from the query string as the
gateway reads it: each finds the event that has the value and not the one with a value just
beside it (a digit, a millisecond, a case, another part of the sensor element), from the event
facts index (the events' JSON is not read), filled at capture and by migration 0018."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update
from starlette.datastructures import QueryParams

from gateway.routes.events import query_filters
from gateway.services import Services
from ledger.store import tables as t
from ledger.store.sensor_index import sensor_facts
from ledger.store.store import Store
from tests.integration.store.test_store import (
    EXAMPLES,
    object_event,
    plan_text,
    query_plans,
    signed,
)


def _sensor_event(i: int, *, metadata: dict[str, Any], reports: list[dict[str, Any]],
                  element: dict[str, Any] | None = None) -> dict[str, Any]:
    ev = object_event(i, minute=i)
    ev["sensorElementList"] = [{"sensorMetadata": metadata, "sensorReport": reports,
                                **(element or {})}]
    return ev


def _one() -> dict[str, Any]:
    return _sensor_event(1, metadata={
        "time": "2024-03-01T10:00:00.000+08:00", "startTime": "2024-03-01T00:00:00Z",
        "endTime": "2024-03-01T06:00:00Z", "deviceID": "urn:epc:id:giai:4000001.111",
        "deviceMetadata": "https://id.gs1.org/8004/4000001111",
        "rawData": "https://example.org/raw/1", "dataProcessingMethod": "https://example.org/dpm/avg",
        "bizRules": "https://example.org/rules/cold", "example:someFurtherMetaData": "shelf-1",
        "example:calibration": {"example:by": "lab-7", "example:on": "2024-02-01T00:00:00Z"},
    }, reports=[
        {"type": "Temperature", "value": 3.0, "uom": "CEL", "time": "2024-03-01T03:00:00Z",
         "deviceID": "urn:epc:id:giai:4000001.112", "percRank": 50,
         "example:furtherSensorData": 12},
        {"type": "Count", "microorganism": "https://www.ncbi.nlm.nih.gov/taxonomy/1496",
         "chemicalSubstance": "https://identifiers.org/inchikey:CZMRCDWAGMRECN-UGDNZRGBSA-N",
         "stringValue": "SW1", "booleanValue": True, "hexBinaryValue": "0aff",
         "uriValue": "https://example.org/u/1", "example:reading": {"example:cv": 0.5}},
    ], element={"example:element": "E1"})


def _two() -> dict[str, Any]:
    """Every value one step beside event 1's."""
    return _sensor_event(2, metadata={
        "time": "2024-03-01T01:59:59.999Z", "startTime": "2024-02-29T23:59:59.999Z",
        "endTime": "2024-03-01T06:00:00.001Z", "deviceID": "urn:epc:id:giai:4000001.113",
        "deviceMetadata": "https://id.gs1.org/8004/4000001112",
        "rawData": "https://example.org/raw/2", "dataProcessingMethod": "https://example.org/dpm/max",
        "bizRules": "https://example.org/rules/Cold", "example:someFurtherMetaData": "shelf-2",
        "example:calibration": {"example:by": "lab-8"},
    }, reports=[
        {"type": "Temperature", "value": 9.0, "uom": "CEL", "percRank": 49.5,
         "example:furtherSensorData": 11},
        {"type": "Count", "microorganism": "https://www.ncbi.nlm.nih.gov/taxonomy/1497",
         "chemicalSubstance": "https://identifiers.org/inchikey:XLYOFNOQVPJJNP-UHFFFAOYSA-N",
         "stringValue": "sw1", "booleanValue": False, "hexBinaryValue": "0AFE",
         "uriValue": "https://example.org/u/2", "example:reading": {"example:cv": 0.4}},
    ], element={"example:element": "E2"})


def _misplaced() -> dict[str, Any]:
    """Event 1's values where the parameters do not look: the event's own extension fields,
    ILMD, and the other part of the sensor element (bizRules and startTime in a report,
    metadata's extension field in a report)."""
    ev = _sensor_event(4, metadata={"time": "2020-01-01T00:00:00Z"}, reports=[
        {"type": "Temperature", "value": 1.0, "uom": "CEL", "bizRules":
         "https://example.org/rules/cold", "startTime": "2024-03-01T00:00:00Z",
         "example:someFurtherMetaData": "shelf-1"}])
    ev["example:deviceID"] = "urn:epc:id:giai:4000001.111"
    ev["ilmd"] = {"example:stringValue": "SW1"}
    ev["example:ticket"] = "T-9"
    return ev


DECLARATION = {"declarationTime": "2024-03-02T10:00:00.000Z", "reason": "incorrect_data",
               "example:ticket": "T-9", "example:severity": 3,
               "example:audit": {"example:by": "QA", "example:at": "2024-03-02T09:00:00Z"}}


def _ids(store: Store, query: str) -> list[str]:
    filters = query_filters(QueryParams(query))
    events, token = store.query_events(Services.event_query(filters), 100)
    assert token is None
    return [e.event["epcList"][0].rsplit(".", 1)[1] for e in events]


@pytest.fixture
def sensors(store: Store) -> Store:
    store.accept_capture(signed([_one(), _two(), object_event(3, minute=3), _misplaced()],
                                nonce=1))
    declared = copy.deepcopy(_two())
    declared["errorDeclaration"] = DECLARATION
    store.accept_capture(signed([declared], nonce=2))
    return store


@pytest.mark.parametrize(("query", "expected"), [
    ("EQ_deviceID=urn:epc:id:giai:4000001.111", ["1"]),  # of sensorMetadata
    ("EQ_deviceID=urn:epc:id:giai:4000001.112", ["1"]),  # of a sensorReport
    ("EQ_deviceID=urn:epc:id:giai:4000001.113|urn:epc:id:giai:4000001.112", ["1", "2"]),
    ("EQ_deviceID=urn:epc:id:giai:4000001.11", []),
    ("EQ_deviceMetadata=https://id.gs1.org/8004/4000001111", ["1"]),
    ("EQ_deviceMetadata=https://id.gs1.org/8004/400000111", []),
    ("EQ_rawData=https://example.org/raw/2", ["2"]),
    ("EQ_rawData=https://example.org/raw/3", []),
    ("EQ_dataProcessingMethod=https://example.org/dpm/avg", ["1"]),
    ("EQ_dataProcessingMethod=https://example.org/dpm/min", []),
    ("EQ_bizRules=https://example.org/rules/cold", ["1"]),  # not event 4's, in a report
    ("EQ_bizRules=https://example.org/rules/Cold", ["2"]),  # as written: case counts
    ("EQ_microorganism=https://www.ncbi.nlm.nih.gov/taxonomy/1496", ["1"]),
    ("EQ_microorganism=https://www.ncbi.nlm.nih.gov/taxonomy/149", []),
    ("EQ_chemicalSubstance=https://identifiers.org/inchikey:XLYOFNOQVPJJNP-UHFFFAOYSA-N",
     ["2"]),
    ("EQ_chemicalSubstance=https://identifiers.org/inchikey:XLYOFNOQVPJJNP", []),
    ("EQ_stringValue=SW1", ["1"]),  # not event 2's `sw1`, nor event 4's ILMD field
    ("EQ_stringValue=SW1|sw1", ["1", "2"]),
    ("EQ_stringValue=SW", []),
    ("EQ_booleanValue=true", ["1"]),
    ("EQ_booleanValue=false", ["2"]),
    ("EQ_hexBinaryValue=0AFF", ["1"]),
    ("EQ_hexBinaryValue=0afe", ["2"]),  # one value in either case
    ("EQ_hexBinaryValue=0AFD", []),
    ("EQ_uriValue=https://example.org/u/1", ["1"]),
    ("EQ_uriValue=https://example.org/u/", []),
    # event 1: metadata 02:00Z, report 03:00Z; event 2: 01:59:59.999Z; event 4: 2020.
    ("GE_time=2024-03-01T02:00:00Z", ["1"]),
    ("LT_time=2024-03-01T10:00:00%2B08:00", ["2", "4"]),
    ("GE_time=2024-03-01T03:00:00.001Z", []),
    ("GE_time=2024-03-01T01:59:59.999Z&LT_time=2024-03-01T02:00:00Z", ["2"]),
    ("GE_startTime=2024-03-01T00:00:00Z", ["1"]),  # not event 4's, in a report
    ("LT_startTime=2024-03-01T00:00:00Z", ["2"]),
    ("LT_startTime=2024-02-29T23:59:59.999Z", []),
    ("GE_endTime=2024-03-01T06:00:00.001Z", ["2"]),
    ("LT_endTime=2024-03-01T06:00:00.001Z", ["1"]),
    ("GT_percRank=49.5", ["1"]),
    ("GE_percRank=49.5", ["1", "2"]),
    ("LT_percRank=50", ["2"]),
    ("LE_percRank=49", []),
    ("EQ_SENSORMETADATA_example:someFurtherMetaData=shelf-1", ["1"]),  # not event 4's report
    ("EQ_SENSORREPORT_example:someFurtherMetaData=shelf-1", ["4"]),
    ("EQ_SENSORMETADATA_example:someFurtherMetaData=shelf-3", []),
    ("GT_SENSORREPORT_example:furtherSensorData=11", ["1"]),
    ("LE_SENSORREPORT_example:furtherSensorData=11", ["2"]),
    ("EQ_SENSORREPORT_example:furtherSensorData=12|11", ["1", "2"]),
    ("EQ_SENSORELEMENT_example:element=E2", ["2"]),
    ("EQ_SENSORELEMENT_example:element=E", []),
    ("EQ_SENSORREPORT_example:element=E2", []),  # an element's field, not a report's
    ("EQ_INNER_SENSORMETADATA_example:by=lab-7", ["1"]),
    ("EQ_SENSORMETADATA_example:by=lab-7", []),  # nested, not a field of its own
    ("GE_INNER_SENSORMETADATA_example:on=2024-02-01T00:00:00Z", ["1"]),
    ("LT_INNER_SENSORREPORT_example:cv=0.5", ["2"]),
    ("GT_INNER_SENSORELEMENT_example:cv=0", []),
    ("EXISTS_SENSORELEMENT_example:element", ["1", "2"]),
    ("EXISTS_SENSORMETADATA_example:calibration", ["1", "2"]),  # an object
    ("EXISTS_SENSORMETADATA_example:by", []),  # nested, not a field of its own
    ("EXISTS_SENSORREPORT_example:someFurtherMetaData", ["4"]),  # not 1's, in its metadata
    ("EXISTS_SENSORREPORT_example:reading", ["1", "2"]),
    ("EXISTS_SENSORREPORT_example:element", []),  # an element's field, not a report's
    # Event 2 is declared erroneous; event 4 has an `example:ticket` of its own, not declared.
    ("EQ_ERROR_DECLARATION_example:ticket=T-9", ["2"]),
    ("EQ_ERROR_DECLARATION_example:ticket=T-8", []),
    ("GE_ERROR_DECLARATION_example:severity=3", ["2"]),
    ("GT_ERROR_DECLARATION_example:severity=3", []),
    ("EXISTS_ERROR_DECLARATION_example:audit", ["2"]),
    ("EXISTS_ERROR_DECLARATION_example:by", []),
    ("EQ_INNER_ERROR_DECLARATION_example:by=QA", ["2"]),
    ("LT_INNER_ERROR_DECLARATION_example:at=2024-03-02T09:00:00Z", []),
    ("LE_INNER_ERROR_DECLARATION_example:at=2024-03-02T17:00:00%2B08:00", ["2"]),
    ("EXISTS_INNER_ERROR_DECLARATION_example:at", ["2"]),
    ("EQ_example:ticket=T-9", ["4"]),  # the event's own field, as before
    # Several parameters: AND.
    ("EQ_deviceID=urn:epc:id:giai:4000001.111&EQ_booleanValue=false", []),
    ("EQ_type=Temperature&GT_percRank=49.9&EQ_booleanValue=true", ["1"]),
])
def test_each_parameter_finds_its_event_and_not_the_near_miss(sensors: Store, query: str,
                                                              expected: list[str]) -> None:
    assert _ids(sensors, query) == expected


def test_the_query_reads_the_index_not_the_events_json(sensors: Store) -> None:
    with sensors.engine.begin() as conn:
        conn.execute(update(t.events).where(t.events.c.seq == 1)
                     .values(body=json.dumps(object_event(1, minute=1))))
    assert _ids(sensors, "EQ_deviceID=urn:epc:id:giai:4000001.111") == ["1"]
    with sensors.engine.begin() as conn:
        conn.execute(delete(t.event_facts).where(t.event_facts.c.seq == 1,
                                                 t.event_facts.c.key.like("sensor%")))
        conn.execute(delete(t.event_facts).where(t.event_facts.c.key.like("decl:%")))
    assert _ids(sensors, "EQ_deviceID=urn:epc:id:giai:4000001.111") == []
    assert _ids(sensors, "EQ_ERROR_DECLARATION_example:ticket=T-9") == []


def _facts(store: Store) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(select(t.event_facts)).all())


def test_a_declaration_or_an_event_captured_again_adds_no_facts(sensors: Store) -> None:
    before = _facts(sensors)
    declared = copy.deepcopy(_two())
    declared["errorDeclaration"] = DECLARATION
    sensors.accept_capture(signed([_one(), declared], nonce=3))  # the same again
    assert _facts(sensors) == before


def test_a_declaration_captured_with_its_event_has_its_facts(store: Store) -> None:
    declared = copy.deepcopy(_one())
    declared["errorDeclaration"] = DECLARATION
    store.accept_captures([signed([_one()], nonce=1), signed([declared], nonce=2)])
    assert _ids(store, "EQ_ERROR_DECLARATION_example:ticket=T-9") == ["1"]


def test_migration_0018_indexes_what_was_stored_before_it(sensors: Store) -> None:
    before = _facts(sensors)
    new_keys = ("sensor", "inner_sensor", "decl:", "inner_decl:")
    added = [r for r in before if str(r[1]).startswith(new_keys)]
    assert len(added) > 30
    sensors.migrate("0017")
    assert [r for r in _facts(sensors) if str(r[1]).startswith(new_keys)] == []
    assert len(_facts(sensors)) == len(before) - len(added)
    sensors.migrate()
    assert sensors.schema_revision() == sensors.head_revision()
    assert _facts(sensors) == before


def test_the_standards_sensor_examples_are_found_by_their_metadata(store: Store) -> None:
    for nonce, path in enumerate(sorted(EXAMPLES.glob("WithSensorData_*.jsonld")), 1):
        doc = json.loads(path.read_text())
        store.accept_capture(signed(doc["epcisBody"]["eventList"], nonce=nonce,
                                    context=doc.get("@context")))
    with store.engine.connect() as conn:
        bodies = [json.loads(b) for b in conn.execute(select(t.events.c.body)).scalars()]
        indexed = conn.execute(select(func.count()).select_from(t.event_facts)
                               .where(t.event_facts.c.key.like("sensor%"))).scalar_one()
    assert indexed == sum(len([f for f in sensor_facts(b) if f[0].startswith("sensor")])
                          for b in bodies) > 40
    with_device = [b for b in bodies if "urn:epc:id:giai:4000001.111" in json.dumps(b)]
    assert with_device
    found, _ = store.query_events(Services.event_query(query_filters(QueryParams(
        "EQ_deviceID=urn:epc:id:giai:4000001.111"))), 100)
    assert len(found) == len(with_device)


def test_a_sensor_parameter_is_a_search_of_the_facts_index(tmp_path: Any) -> None:
    """The statement `query_events` sends for a sensor or declaration parameter is planned as a
    search of (key, text, seq) or (key, num, seq), never a scan of the events or the facts."""
    s = Store(f"sqlite:///{tmp_path / 'plan.db'}")
    s.migrate()
    try:
        for n in range(5):
            s.accept_capture(signed([(_one() if i % 2 else _two()) | {"epcList": [
                f"urn:epc:id:sgtin:0614141.107346.{n * 100 + i}"]} for i in range(100)],
                nonce=n))
        s.optimize()
        for query, index in (("EQ_deviceID=urn:epc:id:giai:4000001.111",
                              "ix_event_facts_key_text_seq"),
                             ("GE_time=2024-03-01T02:00:00Z", "ix_event_facts_key_num_seq"),
                             ("GT_percRank=49.5&EQ_SENSORREPORT_example:furtherSensorData=12",
                              "ix_event_facts_key_num_seq")):
            asked = Services.event_query(query_filters(QueryParams(query)))
            (page, _), plans = query_plans(
                s, lambda: s.query_events(asked, per_page=30))  # noqa: B023 - called at once
            assert len(page) == 30
            plan = plan_text(plans[0])
            assert index in plan, plan
            assert "SCAN event_facts" not in plan and "SCAN events" not in plan, plan
    finally:
        s.close()
