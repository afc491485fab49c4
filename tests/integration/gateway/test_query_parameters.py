"""`GET /events` over HTTP with the parameters the event facts index answers (issue 19, item 2;
the sensor metadata and report parameters, the ERROR_DECLARATION_ families and the readPoint
and bizLocation extension fields too, captured as JSON or as XML), orderBy / eventCountLimit /
maxEventCount with Link paging, and `GS1-Extensions`."""

from __future__ import annotations

import copy
import re
import urllib.parse
from typing import Any

import httpx
import pytest

from ledger.epcis.xml_writer import write_document
from tests.integration.gateway.test_query import _events, _get, captured_corpus
from tests.integration.gateway.test_xml_capture import _post_xml
from tests.integration.gateway_env import GatewayStack, document

pytestmark = [pytest.mark.chain]

CLASS = "urn:epc:class:lgtin:4012345.012345.998877"
DEVICE = "urn:epc:id:giai:4000001.111"
LOCATION = "https://id.gs1.org/414/9506000999968"
SELLER = "https://id.gs1.org/417/9506000999944"


def _sensors(n: int, flag: bool, time: str, rank: float) -> list[dict[str, Any]]:
    return [{"sensorMetadata": {"time": time, "deviceID": f"urn:epc:id:giai:4000001.11{n}",
                                "deviceMetadata": f"https://id.gs1.org/8004/400000111{n}",
                                "rawData": f"https://example.org/raw/{n}",
                                "dataProcessingMethod": f"https://example.org/dpm/{n}",
                                "bizRules": f"https://example.org/rules/{n}",
                                "startTime": time, "endTime": time,
                                "example:shelf": f"S{n}"},
             "sensorReport": [{"type": "Temperature", "value": 3.0 + n, "uom": "CEL",
                               "percRank": rank, "stringValue": f"SW{n}", "booleanValue": flag,
                               "hexBinaryValue": f"0A{n:02X}",
                               "uriValue": f"https://example.org/u/{n}",
                               "microorganism": f"https://www.ncbi.nlm.nih.gov/taxonomy/149{n}",
                               "chemicalSubstance": f"https://identifiers.org/inchikey:X{n}",
                               "example:probe": {"example:depth": 10 + n}}],
             "example:element": f"E{n}"}]


@pytest.fixture(scope="module")
def corpus(gateway_stack: GatewayStack) -> dict[str, Any]:
    """Four events under a readPoint unique to this module; event 0 carries the fields."""
    marker = "https://id.gs1.org/414/9506000999975"
    doc = document(4)
    doc["@context"] = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
                       {"example": "https://ns.example.com/epcis/",
                        "zhenzhi": "https://ns.zhenzhi.example/epcis/"}]
    events = doc["epcisBody"]["eventList"]
    for i, event in enumerate(events):
        event["readPoint"] = {"id": marker}
        event["eventTime"] = f"2032-0{4 - i}-01T08:00:00.000+08:00"  # later captured, earlier
    # Extension fields of event 0's readPoint and bizLocation; event 1 has the same values one
    # level up or down (a field of its own where 0's is nested, and the other way round).
    events[0]["readPoint"] |= {"example:dock": "D7", "example:gate": {"example:lane": 3}}
    events[0]["bizLocation"] = {"id": LOCATION, "example:zone": "Z1"}
    events[1]["readPoint"] |= {"example:dock": "D8", "example:lane": 3}
    events[1]["bizLocation"] = {"id": LOCATION, "example:yard": {"example:zone": "Z1"}}
    first = events[0]
    first["action"] = "ADD"
    first["bizTransactionList"] = [{"type": "po", "bizTransaction": "urn:epc:id:gdti:0614141.00001.7"}]
    first["quantityList"] = [{"epcClass": CLASS, "quantity": 12.5, "uom": "KGM"}]
    first["ilmd"] = {"example:bestBeforeDate": "2033-01-01T00:00:00Z"}
    first["example:zone"] = "frozen"
    # Event 0's sensor data; event 1's one step beside it (device …112, a millisecond earlier,
    # a rank below, false, another hex byte…).
    first["sensorElementList"] = _sensors(1, True, "2032-04-01T08:00:00.000Z", 50)
    # Event 0's own master data names its readPoint; event 1's names another place.
    # Both name a seller; only event 0's own master data describes it.
    first["zhenzhi:masterData"] = [{"id": marker, "name": "Module dock", "countryCode": "NZ"},
                                   {"id": SELLER, "name": "Module shop"}]
    events[1]["zhenzhi:masterData"] = [{"id": "https://id.gs1.org/414/9506000999982",
                                        "name": "Module dock", "countryCode": "NZ"}]
    first["zhenzhi:seller"] = events[1]["zhenzhi:seller"] = SELLER
    events[1]["sensorElementList"] = _sensors(2, False, "2032-04-01T07:59:59.999Z", 49.5)
    captured = captured_corpus(gateway_stack, doc, marker)
    # Event 1 declared erroneous, with extension fields in its declaration.
    declared = copy.deepcopy(events[1])
    declared["errorDeclaration"] = {
        "declarationTime": "2032-05-01T00:00:00.000Z", "reason": "incorrect_data",
        "example:ticket": "T-9", "example:audit": {"example:by": "QA"}}
    declaration = copy.deepcopy(doc)
    declaration["epcisBody"]["eventList"] = [declared]
    captured_corpus(gateway_stack, declaration, marker)
    return captured


def _ids(stack: GatewayStack, corpus: dict[str, Any], **params: str) -> list[str]:
    with stack.client() as client:
        got = _events(_get(client, stack.enterprise, "/events",
                           params={"EQ_readPoint": corpus["marker"], **params}))
    return [e["eventID"] for e in got]


@pytest.mark.parametrize("params", [
    {"EQ_action": "ADD"},
    {"EQ_bizTransaction_po": "urn:epc:id:gdti:0614141.00001.7"},
    {"MATCH_epcClass": CLASS},
    {"MATCH_anyEPCClass": CLASS},
    {"GT_quantity": "12"},
    {"EQ_quantity_KGM": "12.5"},
    {"EQ_ILMD_example:bestBeforeDate": "2033-01-01T00:00:00Z"},
    {"LT_ILMD_example:bestBeforeDate": "2033-06-01T00:00:00+08:00"},
    {"EQ_example:zone": "frozen|chilled"},
    {"EXISTS_example:zone": ""},
    {"EXISTS_ILMD_example:bestBeforeDate": ""},
    {"EXISTS_quantityList": ""},
    {"WD_readPoint": "https://id.gs1.org/414/9506000999975"},
    {"EQ_deviceID": DEVICE},
    {"EQ_deviceMetadata": "https://id.gs1.org/8004/4000001111"},
    {"EQ_rawData": "https://example.org/raw/1"},
    {"EQ_dataProcessingMethod": "https://example.org/dpm/1"},
    {"EQ_bizRules": "https://example.org/rules/1|https://example.org/rules/3"},
    {"EQ_microorganism": "https://www.ncbi.nlm.nih.gov/taxonomy/1491"},
    {"EQ_chemicalSubstance": "https://identifiers.org/inchikey:X1"},
    {"EQ_stringValue": "SW1"},
    {"EQ_booleanValue": "true"},
    {"EQ_hexBinaryValue": "0a01"},
    {"EQ_uriValue": "https://example.org/u/1"},
    {"GE_time": "2032-04-01T08:00:00Z"},
    {"GE_startTime": "2032-04-01T16:00:00+08:00"},
    {"GE_endTime": "2032-04-01T08:00:00Z"},
    {"GT_percRank": "49.5"},
    {"GE_percRank": "50"},
    {"EQ_SENSORMETADATA_example:shelf": "S1"},
    {"EQ_SENSORELEMENT_example:element": "E1"},
    {"LT_INNER_SENSORREPORT_example:depth": "12"},
    {"HASATTR_readPoint": "name"},
    {"HASATTR_readPoint": "urn:epcglobal:cbv:mda#countryCode"},
    {"EQ_ATTR_readPoint_name": "Module dock"},
    {"EQ_ATTR_readPoint_countryCode": "NZ|CN"},
    {"EQ_readPoint_example:dock": "D7|D9"},
    {"EQ_INNER_readPoint_example:lane": "3"},
    {"EQ_bizLocation_example:zone": "Z1"},
    {"HASATTR_zhenzhi:seller": "name|address"},
])
def test_a_parameter_finds_the_event_that_has_it_and_only_that(
        gateway_stack: GatewayStack, corpus: dict[str, Any], params: dict[str, str]) -> None:
    expected = [corpus["ids"][0]]
    if "WD_readPoint" in params:
        expected = corpus["ids"]
    assert _ids(gateway_stack, corpus, **params) == expected


@pytest.mark.parametrize("params", [
    {"EQ_action": "DELETE"},
    {"EQ_bizTransaction_inv": "urn:epc:id:gdti:0614141.00001.7"},
    {"MATCH_inputEPCClass": CLASS},
    {"LT_quantity_KGM": "12.5"},
    {"GT_ILMD_example:bestBeforeDate": "2033-01-01T00:00:00Z"},
    {"EQ_example:zone": "chilled"},
    {"EXISTS_INNER_example:zone": ""},
    {"EQ_eventID": "urn:uuid:3e7d4a5e-0000-4000-8000-000000000000"},
    # Sensor values beside both events' (device …110, a rank above both…).
    {"EQ_deviceID": "urn:epc:id:giai:4000001.110"},
    {"EQ_deviceMetadata": "https://id.gs1.org/8004/400000111"},
    {"EQ_rawData": "https://example.org/raw/"},
    {"EQ_dataProcessingMethod": "https://example.org/dpm/3"},
    {"EQ_bizRules": "https://example.org/rules/0"},
    {"EQ_microorganism": "https://www.ncbi.nlm.nih.gov/taxonomy/149"},
    {"EQ_chemicalSubstance": "https://identifiers.org/inchikey:X"},
    {"EQ_stringValue": "sw1"},
    {"EQ_hexBinaryValue": "0A03"},
    {"EQ_uriValue": "https://example.org/u/11"},
    {"GE_time": "2032-04-01T08:00:00.001Z"},
    {"LT_time": "2032-04-01T07:59:59.999Z"},
    {"LT_startTime": "2032-04-01T07:59:59.999Z"},
    {"GE_endTime": "2032-04-01T08:00:00.001Z"},
    {"LT_percRank": "49.5"},
    {"GT_percRank": "50"},
    {"EQ_SENSORMETADATA_example:element": "E1"},  # an element's field, not the metadata's
    {"EQ_SENSORREPORT_example:shelf": "S1"},
    {"GT_INNER_SENSORREPORT_example:depth": "12"},
    {"EQ_ERROR_DECLARATION_example:ticket": "T-8"},
    {"EXISTS_ERROR_DECLARATION_example:by": ""},  # nested: INNER_
    {"HASATTR_bizLocation": "name"},
    {"HASATTR_readPoint": "address"},
    {"EQ_ATTR_readPoint_name": "Module doc"},
    {"EQ_ATTR_readPoint_countryCode": "nz"},
    {"EQ_readPoint_example:dock": "D9"},
    {"EQ_bizLocation_example:dock": "D7"},  # a readPoint's field
    {"EQ_INNER_readPoint_example:dock": "D7"},  # a field of its own, not nested
    {"EQ_INNER_bizLocation_example:lane": "3"},
    {"EQ_example:dock": "D7"},  # not an event's own field
    {"HASATTR_zhenzhi:seller": "countryCode"},
    {"HASATTR_example:zone": "name"},  # no vocabulary element its master data describes
])
def test_a_parameter_the_events_do_not_satisfy_finds_none(
        gateway_stack: GatewayStack, corpus: dict[str, Any], params: dict[str, str]) -> None:
    assert _ids(gateway_stack, corpus, **params) == []


def test_sensor_parameters_each_find_the_event_beside_too(gateway_stack: GatewayStack,
                                                         corpus: dict[str, Any]) -> None:
    ids = corpus["ids"]
    assert _ids(gateway_stack, corpus, EQ_booleanValue="false") == [ids[1]]
    assert _ids(gateway_stack, corpus, LT_time="2032-04-01T08:00:00Z") == [ids[1]]
    assert _ids(gateway_stack, corpus, EQ_deviceID=f"{DEVICE}|urn:epc:id:giai:4000001.112",
                GE_percRank="49.5", LE_percRank="49.5") == [ids[1]]
    assert _ids(gateway_stack, corpus, EQ_type="Temperature", GE_percRank="0") == ids[:2]
    assert _ids(gateway_stack, corpus, **{"EXISTS_SENSORMETADATA_example:shelf": ""}) \
        == ids[:2]
    assert _ids(gateway_stack, corpus, **{"EXISTS_SENSORREPORT_example:probe": ""}) == ids[:2]
    assert _ids(gateway_stack, corpus, **{"EXISTS_SENSORELEMENT_example:element": ""}) \
        == ids[:2]
    # Another part's field, or one nested in a report: not a field of the part named.
    assert _ids(gateway_stack, corpus, **{"EXISTS_SENSORREPORT_example:shelf": ""}) == []
    assert _ids(gateway_stack, corpus, **{"EXISTS_SENSORMETADATA_example:element": ""}) == []
    assert _ids(gateway_stack, corpus, **{"EXISTS_SENSORREPORT_example:depth": ""}) == []


def test_location_fields_distinguish_inner_from_their_own(gateway_stack: GatewayStack,
                                                         corpus: dict[str, Any]) -> None:
    ids = corpus["ids"]
    assert _ids(gateway_stack, corpus, **{"EQ_readPoint_example:lane": "3"}) == [ids[1]]
    assert _ids(gateway_stack, corpus, **{"EQ_INNER_readPoint_example:lane": "3"}) == [ids[0]]
    assert _ids(gateway_stack, corpus, **{"EQ_bizLocation_example:zone": "Z1"}) == [ids[0]]
    assert _ids(gateway_stack, corpus, **{"EQ_INNER_bizLocation_example:zone": "Z1"}) \
        == [ids[1]]
    assert _ids(gateway_stack, corpus, **{"EQ_readPoint_example:dock": "D7|D8",
                                          "EQ_bizLocation_example:zone": "Z1"}) == [ids[0]]


def test_location_fields_of_an_xml_capture_are_found_as_a_json_ones(
        gateway_stack: GatewayStack) -> None:
    """`<readPoint><id>…</id><example:dock>…` in an XML capture is indexed as the same field
    in JSON-LD: one query finds the event captured each way."""
    marker = "https://id.gs1.org/414/9506000999951"
    fields = {"example:dock": "X1", "example:gate": {"example:lane": 5}}
    context = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
               {"example": "https://ns.example.com/epcis/"}]
    as_xml, as_json = document(1), document(1)
    for doc in (as_xml, as_json):
        doc["@context"] = context
        doc["epcisBody"]["eventList"][0]["readPoint"] = {"id": marker, **fields}
        doc["epcisBody"]["eventList"][0]["bizLocation"] = {"id": LOCATION, **fields}
    body = write_document(as_xml["epcisBody"]["eventList"], context=context,
                          creation_date="2032-01-01T00:00:00Z")
    assert b"<example:dock>X1</example:dock>" in body and b"<example:lane>5" in body
    response = _post_xml(gateway_stack, body)
    assert response.status_code == 202, response.text
    xml_id = response.json()["eventIDs"][0]
    json_id = captured_corpus(gateway_stack, as_json, marker)["ids"][0]
    found = {"marker": marker}
    for query in ({"EQ_readPoint_example:dock": "X1"}, {"EQ_INNER_readPoint_example:lane": "5"},
                  {"EQ_bizLocation_example:dock": "X1"},
                  {"EQ_INNER_bizLocation_example:lane": "5"}):
        assert sorted(_ids(gateway_stack, found, **query)) == sorted([xml_id, json_id]), query
    assert _ids(gateway_stack, found, **{"EQ_readPoint_example:lane": "5"}) == []


def test_error_declaration_fields_find_the_declared_event(gateway_stack: GatewayStack,
                                                          corpus: dict[str, Any]) -> None:
    declared = [corpus["ids"][1]]
    assert _ids(gateway_stack, corpus, **{"EQ_ERROR_DECLARATION_example:ticket": "T-9"}) \
        == declared
    assert _ids(gateway_stack, corpus, **{"EXISTS_ERROR_DECLARATION_example:audit": ""}) \
        == declared
    assert _ids(gateway_stack, corpus, **{"EQ_INNER_ERROR_DECLARATION_example:by": "QA"}) \
        == declared
    # Event 0's own `example:zone` is no declaration field.
    assert _ids(gateway_stack, corpus, **{"EXISTS_ERROR_DECLARATION_example:zone": ""}) == []


@pytest.mark.parametrize("query", [
    "EQ_deviceID=not%20a%20uri", "EQ_deviceMetadata=", "EQ_rawData=raw",
    "EQ_dataProcessingMethod=avg", "EQ_bizRules=urn:x|rules", "EQ_microorganism=salmonella",
    "EQ_chemicalSubstance=CO2", "EQ_stringValue=", "EQ_booleanValue=yes",
    "EQ_hexBinaryValue=0G", "EQ_uriValue=plain", "GE_time=yesterday",
    "LT_time=2032-01-01T00:00:00", "GE_startTime=soon", "LT_startTime=",
    "GE_endTime=2032-13-01T00:00:00Z", "LT_endTime=2032-01-01", "GT_percRank=high",
    "GE_percRank=inf", "LT_percRank=1&LT_percRank=2", "LE_percRank=",
    "GT_SENSORELEMENT_example:x=big", "GE_SENSORMETADATA_example:x=2032-01-01T00:00:00",
    "EQ_SENSORREPORT_example:x=", "LE_INNER_SENSORREPORT_example:x=many",
    "GE_ERROR_DECLARATION_example:x=many", "EQ_INNER_ERROR_DECLARATION_example:x=",
    "EXISTS_INNER_SENSORREPORT_example:x=", "EQ_percRank=50", "HASATTR_readPoint=",
    "EQ_ATTR_bizLocation_name=", "HASATTR_epcList=name", "EQ_ATTR_bizStep_name=x",
    "EQ_readPoint_example:x=", "EQ_INNER_bizLocation_example:x=%7C",
    "GT_readPoint_example:x=1", "EXISTS_INNER_readPoint_example:x=", "EQ_readPoint_x=1",
    "HASATTR_zhenzhi:seller=", "HASATTR_INNER_example:x=name", "HASATTR_bizStep=name",
])
def test_a_malformed_new_parameter_is_a_400_validation_problem(
        gateway_stack: GatewayStack, corpus: dict[str, Any], query: str) -> None:
    with gateway_stack.client() as client:
        response = _get(client, gateway_stack.enterprise, "/events?" + query)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:zhenzhi:problem:query-parameter"
    assert problem["epcisException"] == "ValidationException"
    name = query.split("=", 1)[0]
    assert name in (problem.get("parameter"), *(problem.get("parameters") or ()))


def test_eq_event_id_and_record_time(gateway_stack: GatewayStack,
                                     corpus: dict[str, Any]) -> None:
    ids = corpus["ids"]
    assert _ids(gateway_stack, corpus, EQ_eventID=f"{ids[2]}|{ids[3]}") == ids[2:]
    assert _ids(gateway_stack, corpus, GE_recordTime="2020-01-01T00:00:00Z") == ids
    assert _ids(gateway_stack, corpus, LT_recordTime="2020-01-01T00:00:00Z") == []


def _follow(client: httpx.Client, stack: GatewayStack, url: str) -> list[list[str]]:
    pages: list[list[str]] = []
    while url:
        response = _get(client, stack.enterprise, url)
        pages.append([e["eventID"] for e in _events(response)])
        link = response.headers.get("link")
        if link is None:
            break
        match = re.fullmatch(r'<([^>]+)>; rel="next"', link)
        assert match, link
        url = match.group(1)
    return pages


def test_order_by_and_event_count_limit_follow_link_pages(gateway_stack: GatewayStack,
                                                          corpus: dict[str, Any]) -> None:
    ids = corpus["ids"]
    base = {"EQ_readPoint": corpus["marker"], "perPage": 2}
    with gateway_stack.client() as client:
        asc = _follow(client, gateway_stack, "/events?" + urllib.parse.urlencode(
            {**base, "orderBy": "eventTime", "orderDirection": "ASC"}))
        # DESC is the standard's default direction.
        desc = _follow(client, gateway_stack, "/events?" + urllib.parse.urlencode(
            {**base, "orderBy": "eventTime", "eventCountLimit": 3}))
    assert asc == [[ids[3], ids[2]], [ids[1], ids[0]]]
    assert desc == [[ids[0], ids[1]], [ids[2]]]


def test_max_event_count_is_a_413_query_too_large_problem(gateway_stack: GatewayStack,
                                                         corpus: dict[str, Any]) -> None:
    assert len(_ids(gateway_stack, corpus, maxEventCount="4")) == 4
    with gateway_stack.client() as client:
        response = _get(client, gateway_stack.enterprise, "/events", params={
            "EQ_readPoint": corpus["marker"], "maxEventCount": "3"})
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["epcisException"] == "QueryTooLargeException"
    assert problem["type"] == "urn:zhenzhi:problem:query-too-large"


@pytest.mark.parametrize(("value", "status", "slug"), [
    ("example=https://ns.example.com/epcis/", 406, "extensions-not-supported"),
    ("fit=https://ref.gs1.org/fit/, example=https://ns.example.com/epcis/", 406,
     "extensions-not-supported"),
    ("not a pair", 400, "invalid-header"),
])
def test_gs1_extensions_are_refused_as_unsupported(gateway_stack: GatewayStack,
                                                   corpus: dict[str, Any], value: str,
                                                   status: int, slug: str) -> None:
    with gateway_stack.client() as client:
        response = _get(client, gateway_stack.enterprise, "/events",
                        params={"EQ_readPoint": corpus["marker"]},
                        headers={"GS1-Extensions": value})
        empty = _get(client, gateway_stack.enterprise, "/events",
                     params={"EQ_readPoint": corpus["marker"]}, headers={"GS1-Extensions": ""})
    assert response.status_code == status, response.text
    assert response.json()["type"] == "urn:zhenzhi:problem:" + slug
    assert response.json()["epcisException"] in ("NotAcceptableException", "ValidationException")
    assert len(_events(empty)) == 4


def test_the_openapi_describes_the_new_parameters(gateway_stack: GatewayStack) -> None:
    with gateway_stack.client() as client:
        spec = client.get("/openapi.json").json()
    names = {p["name"] for p in spec["paths"]["/events"]["get"]["parameters"]}
    assert {"EQ_action", "MATCH_epcClass", "GE_recordTime", "orderBy", "eventCountLimit",
            "maxEventCount", "EQ_correctiveEventID", "GS1-Extensions", "EQ_deviceID",
            "EQ_booleanValue", "GE_time", "LT_endTime", "GT_percRank", "EQ_hexBinaryValue",
            "HASATTR_readPoint", "HASATTR_bizLocation"} <= names
    assert "413" in spec["paths"]["/events"]["get"]["responses"]
