"""EPCIS 2.0 queries: `GET /events`, `GET /events/{eventID}`, `GET /epcs/{epc}/events`.

Answers are EPCISQueryDocuments. Paging follows the binding: `perPage` (default 30) and an
opaque `nextPageToken`; while more results exist, `Link: <…&nextPageToken=…>; rel="next"`.
Query parameters the gateway does not implement are refused (400, QueryParameterException)
rather than ignored: silently dropping a filter would return wrong answers.

Read access (issue 6): full events name trading partners, quantities and business
transactions, so every route here needs a signed member request (`gateway.auth.MemberDep`:
timestamp + nonce, replays refused). Any member organisation may query, since the consortium
shares its ledger among its members (per-item, party-only reading is
`GET /items/{gtin}/{serial}/events`); regulators are members too and see everything. Without
a signature: 401 `urn:zhenzhi:problem:member-access-required`. The public reads an item's
consumer profile and the resolver's proof bundle instead.
"""

from __future__ import annotations

import inspect
import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.datastructures import QueryParams

from gateway.auth import MemberDep
from gateway.deps import ServicesDep, SettingsDep
from gateway.negotiation import FORMAT_HEADERS, Negotiation, negotiate
from gateway.problems import problem_responses
from gateway.responses import JSONLDResponse, XMLResponse
from gateway.routes.discovery import EPCIS_HEADERS, options_headers
from gateway.schemas import QUERY_DOCUMENT_SCHEMA
from ledger.epcis.epc_format import EpcFormat, translate_event
from ledger.epcis.xml_writer import CbvXmlFormat
from ledger.errors import InvalidInputError, LedgerError, NotFoundError
from ledger.store.event_facts import FactFilter, bare_party_type, bare_transaction_type, time_ms
from ledger.store.field_order import FIELD_LIMIT, is_field
from ledger.store.sensor_index import OPS, STATS, SensorFilter, hex_binary
from ledger.store.store import normalise_cbv

__all__ = ["SUPPORTED_PARAMETERS", "next_link", "query_filters", "router", "run_query",
           "wants_xml", "with_epc_format"]

router = APIRouter(tags=["Events"])

EVENT_TYPES = ("ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent",
               "AssociationEvent")
_TIMES = {f"{op}_{field}": field for op in ("GE", "GT", "LT", "LE")
          for field in ("eventTime", "recordTime")}
# The query schema spells these `GE_errorDeclaration_Time`; the binding's openapi.yaml
# `GE_errorDeclarationTime`: both are read.
_DECLARATION_TIMES = {"GE_errorDeclarationTime": "ge", "GE_errorDeclaration_Time": "ge",
                      "LT_errorDeclarationTime": "lt", "LT_errorDeclaration_Time": "lt"}
_MATCH = {"MATCH_epc": "epcs", "MATCH_anyEPC": "any_epcs", "MATCH_parentID": "parent_ids",
          "MATCH_inputEPC": "input_epcs", "MATCH_outputEPC": "output_epcs",
          "MATCH_epcClass": "epc_classes", "MATCH_inputEPCClass": "input_epc_classes",
          "MATCH_outputEPCClass": "output_epc_classes", "MATCH_anyEPCClass": "any_epc_classes"}
# Parameters whose value is a `|` list compared with one fact key.
_FACT_LISTS = {"EQ_action": "action", "EQ_transformationID": "transformationID",
               "EQ_persistentDisposition_set": "persistentDisposition.set",
               "EQ_persistentDisposition_unset": "persistentDisposition.unset"}
_ORDERING = ("orderBy", "orderDirection", "eventCountLimit", "maxEventCount")
# Sensor parameters answered from the event facts index (`ledger.store.sensor_index
# .sensor_facts`): `|` lists of one field's values, by the kind of value (checked so: a URI
# has a scheme, hexBinary is pairs of hex digits, a string anything but empty)…
_SENSOR_LISTS = {f"EQ_{field}": (f"sensor.{field}", kind) for field, kind in (
    ("deviceID", "uri"), ("deviceMetadata", "uri"), ("rawData", "uri"),
    ("dataProcessingMethod", "uri"), ("bizRules", "uri"), ("microorganism", "uri"),
    ("chemicalSubstance", "uri"), ("stringValue", "string"), ("hexBinaryValue", "hex"),
    ("uriValue", "uri"))}
# … date-time bounds (`time` of sensorMetadata or sensorReport; `startTime`, `endTime` of
# sensorMetadata) and percRank bounds.
_SENSOR_TIMES = {f"{op}_{field}": (f"sensor.{field}", op) for op in ("GE", "LT")
                 for field in ("time", "startTime", "endTime")}
_PERC_RANKS = {f"{op}_percRank": op for op in ("GT", "GE", "LT", "LE")}
SUPPORTED_PARAMETERS = frozenset({
    "eventType", "EQ_bizStep", "EQ_disposition",
    "EQ_readPoint", "EQ_bizLocation", "WD_readPoint", "WD_bizLocation", "perPage",
    "nextPageToken", "EQ_errorReason", "EXISTS_errorDeclaration", "EQ_correctiveEventID",
    "EQ_type", "EQ_eventID", "EQ_quantity", "GT_quantity", "GE_quantity", "LT_quantity",
    "LE_quantity", *_TIMES, *_DECLARATION_TIMES, *_MATCH, *_FACT_LISTS, *_ORDERING,
    *_SENSOR_LISTS, "EQ_booleanValue", *_SENSOR_TIMES, *_PERC_RANKS,
})
# `<op>_<statistic>_<uom>` sensor parameters (EPCIS 2.0 §8.2.7.1; the query schema's
# `^GE_value_[A-Z0-9]{2,4}$`…): a family of names, not a fixed list.
SENSOR_PARAMETER = re.compile(rf"^({'|'.join(OPS)})_({'|'.join(STATS)})_([A-Z0-9]{{2,4}})$")
# Families the query schema names by pattern, answered from the event facts index
# (`ledger.store.event_facts`): `<op>_quantity_<uom>`; `EQ_bizTransaction_<type>`,
# `EQ_source_<type>`, `EQ_destination_<type>`; `<op>_[INNER_][ILMD_]<prefix:name>` on ILMD and
# extension fields; `EXISTS_<field>` for any top-level field, ILMD or extension field.
QUANTITY_PARAMETER = re.compile(r"^(EQ|GT|GE|LT|LE)_quantity_([A-Z0-9]{2,4})$")
TYPED_PARAMETER = re.compile(r"^EQ_(bizTransaction|source|destination)_([a-z][a-zA-Z0-9_]*)$")
FIELD_PARAMETER = re.compile(
    r"^(EQ|GT|GE|LT|LE|EXISTS)_(INNER_ILMD_|ILMD_|INNER_)?([a-z][a-zA-Z0-9]*:[\w.-]+)$")
EXISTS_PARAMETER = re.compile(r"^EXISTS_([a-z][a-zA-Z0-9]*)$")
_FIELD_KEYS = {"INNER_ILMD_": "inner_ilmd", "ILMD_": "ilmd", "INNER_": "inner", None: "ext"}
# Extension fields of a sensorElement, its sensorMetadata or its sensorReports, and of an
# event's errorDeclaration; INNER_: nested in one. The query schema names EXISTS_ for the
# sensor parts' own fields but not for the nested ones (no `EXISTS_INNER_SENSORREPORT_`), so
# that one is refused.
SENSOR_FIELD_PARAMETER = re.compile(
    r"^(?:(EQ|GT|GE|LT|LE)_(INNER_)?|(EXISTS)_)(SENSORELEMENT|SENSORMETADATA|SENSORREPORT)_"
    r"([a-z][a-zA-Z0-9]*:[\w.-]+)$")
DECLARATION_FIELD_PARAMETER = re.compile(
    r"^(EQ|GT|GE|LT|LE|EXISTS)_(INNER_)?ERROR_DECLARATION_([a-z][a-zA-Z0-9]*:[\w.-]+)$")
# Extension fields of an event's readPoint and bizLocation (EPCIS 2.0 §8.2.7.1,
# `EQ_readPoint_fieldname`…); INNER_: nested at any depth in one. The query schema names EQ_
# alone for them.
LOCATION_FIELD_PARAMETER = re.compile(
    r"^EQ_(INNER_)?(readPoint|bizLocation)_([a-z][a-zA-Z0-9]*:[\w.-]+)$")
# Master data (EPCIS 2.0 §8.2.7.1, `HASATTR_fieldname`, `EQ_ATTR_fieldname_attrname`): of the
# fields the signed master data describes, from each event's own (`ledger.store.event_facts
# .master_data_facts`): readPoint, bizLocation and the parties of sourceList and
# destinationList (`source`, `destination`), and for HASATTR_ an extension field whose
# value is a vocabulary element (the query schema's `HASATTR_<prefix:field>`; its `EQ_ATTR_\w+`
# names no extension field).
HASATTR_PARAMETER = re.compile(
    r"^HASATTR_(readPoint|bizLocation|source|destination|[a-z][a-zA-Z0-9]*:[\w.-]+)$")
ATTR_PARAMETER = re.compile(
    r"^EQ_ATTR_(readPoint|bizLocation|source|destination)_([A-Za-z][A-Za-z0-9]*)$")
_MDA_PREFIX = "urn:epcglobal:cbv:mda#"
_FAMILIES = (SENSOR_PARAMETER, QUANTITY_PARAMETER, TYPED_PARAMETER, FIELD_PARAMETER,
             EXISTS_PARAMETER, SENSOR_FIELD_PARAMETER, DECLARATION_FIELD_PARAMETER,
             LOCATION_FIELD_PARAMETER, HASATTR_PARAMETER, ATTR_PARAMETER)
# A URI as RFC 3986 begins one (a scheme and a colon), with no spaces.
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]


class QueryParameterError(InvalidInputError):
    """EPCIS QueryParameterException: a parameter is unknown, unsupported or malformed."""

    slug = "query-parameter"
    title = "Invalid query parameter"


class StatelessPageTokenError(LedgerError):
    """EPCIS ImplementationException: page tokens hold nothing to release (501)."""

    slug = "page-tokens-are-stateless"
    title = "Page tokens hold no resources"
    status = 501


class UnknownEventError(NotFoundError):
    slug = "unknown-event"
    title = "No such event"


def _pipe(value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split("|") if v.strip()]
    return items or None


def _time(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise QueryParameterError(f"{name} must be an ISO 8601 date-time, got {value!r}",
                                  parameter=name) from None
    if parsed.tzinfo is None:
        raise QueryParameterError(f"{name} needs a time zone (e.g. Z or +08:00)", parameter=name)
    return parsed.astimezone(UTC)


def _sensor_filters(params: QueryParams) -> list[SensorFilter]:
    out = []
    for name in sorted(set(params)):
        m = SENSOR_PARAMETER.match(name)
        if m is None:
            continue
        values = params.getlist(name)
        if len(values) != 1:
            raise QueryParameterError(f"{name} may be given once", parameter=name)
        try:
            value = float(values[0].strip())
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise QueryParameterError(f"{name} must be a number, got {values[0]!r}",
                                      parameter=name)
        out.append(SensorFilter(m.group(1), m.group(2), m.group(3), value))
    return out


_PIPE_DOC = " Several values: separate with `|`."
EventTypeQ = Annotated[str | None, Query(alias="eventType", description=(
    "ObjectEvent, AggregationEvent, TransactionEvent, TransformationEvent or AssociationEvent."
    + _PIPE_DOC), examples=["ObjectEvent"])]
GEEventTime = Annotated[str | None, Query(alias="GE_eventTime", description=(
    "eventTime ≥ this ISO 8601 date-time (with zone)."), examples=["2024-01-01T00:00:00Z"])]
LTEventTime = Annotated[str | None, Query(alias="LT_eventTime", description=(
    "eventTime < this ISO 8601 date-time (with zone)."), examples=["2030-01-01T00:00:00Z"])]
BizStepQ = Annotated[str | None, Query(alias="EQ_bizStep", description=(
    "bizStep equals (bare CBV word or URI)." + _PIPE_DOC), examples=["shipping"])]
DispositionQ = Annotated[str | None, Query(alias="EQ_disposition", description=(
    "disposition equals." + _PIPE_DOC), examples=["in_transit"])]
ReadPointQ = Annotated[str | None, Query(alias="EQ_readPoint", description=(
    "readPoint id equals." + _PIPE_DOC + " Its extension fields: `EQ_readPoint_<prefix:field>` "
    "(a field of the readPoint beside its id has one of these values, compared as the ILMD "
    "and extension fields are) and `EQ_INNER_readPoint_<prefix:field>` (a field nested at "
    "any depth in one); answered from the event facts index."))]
BizLocationQ = Annotated[str | None, Query(alias="EQ_bizLocation", description=(
    "bizLocation id equals." + _PIPE_DOC + " Its extension fields: "
    "`EQ_[INNER_]bizLocation_<prefix:field>`, as EQ_[INNER_]readPoint_<prefix:field>."))]
MatchEpcQ = Annotated[str | None, Query(alias="MATCH_epc", description=(
    "an EPC in epcList or childEPCs." + _PIPE_DOC))]
MatchAnyEpcQ = Annotated[str | None, Query(alias="MATCH_anyEPC", description=(
    "an EPC in epcList, childEPCs, parentID, inputEPCList or outputEPCList." + _PIPE_DOC))]
ErrorReasonQ = Annotated[str | None, Query(alias="EQ_errorReason", description=(
    "declared erroneous with this reason (bare CBV word or URI)." + _PIPE_DOC),
    examples=["incorrect_data"])]
ExistsErrorQ = Annotated[str | None, Query(alias="EXISTS_errorDeclaration", description=(
    "present (any value, as the standard says): only events declared erroneous."))]
TypeQ = Annotated[str | None, Query(alias="EQ_type", description=(
    "events with a sensorReport of this measurement type (bare word, e.g. `Temperature`; "
    "`gs1:` and `https://gs1.org/voc/` forms match too)." + _PIPE_DOC
    + " Sensor values: `<EQ|GT|GE|LT|LE>_<value|minValue|maxValue|meanValue|sDev|percValue>"
    "_<uom>` (UN/ECE Rec 20 unit, e.g. `GE_value_CEL=8`): a sensorReport (of an `EQ_type` "
    "type, if given) whose statistic compares so; temperatures, humidities and accelerations "
    "are compared across units (`GE_value_FAH=46.4` finds 9 °C), other units as reported. "
    "Answered from the sensor readings index."), examples=["Temperature"])]


_FACTS_DOC = " Answered from the event facts index."
# (name, description, example) of the simple query parameters with fixed names beyond the
# routes' own arguments: declared for the OpenAPI by `more_query_parameters`.
_MORE: tuple[tuple[str, str, str | None], ...] = (
    ("GT_eventTime", "eventTime > this ISO 8601 date-time (with zone).", None),
    ("LE_eventTime", "eventTime ≤ this date-time.", None),
    ("GE_recordTime", "recordTime ≥ this date-time.", None),
    ("GT_recordTime", "recordTime > this date-time.", None),
    ("LT_recordTime", "recordTime < this date-time.", None),
    ("LE_recordTime", "recordTime ≤ this date-time.", None),
    ("EQ_action", "action is ADD, OBSERVE or DELETE." + _PIPE_DOC + _FACTS_DOC, "ADD"),
    ("EQ_persistentDisposition_set", "persistentDisposition `set` has one of these (bare CBV "
     "word or URI)." + _PIPE_DOC + _FACTS_DOC, None),
    ("EQ_persistentDisposition_unset", "persistentDisposition `unset` has one of these."
     + _PIPE_DOC + _FACTS_DOC, None),
    ("WD_readPoint", "readPoint is this location or a descendant of it, by the `children` the "
     "event's own signed master data (`zhenzhi:masterData`) gives its elements." + _PIPE_DOC,
     None),
    ("WD_bizLocation", "bizLocation is this location or a descendant of it, as WD_readPoint."
     + _PIPE_DOC, None),
    ("EQ_transformationID", "transformationID equals." + _PIPE_DOC + _FACTS_DOC, None),
    ("MATCH_parentID", "parentID is this EPC (or `*` pattern)." + _PIPE_DOC, None),
    ("MATCH_inputEPC", "an EPC in inputEPCList." + _PIPE_DOC, None),
    ("MATCH_outputEPC", "an EPC in outputEPCList." + _PIPE_DOC, None),
    ("MATCH_epcClass", "an epcClass in quantityList or childQuantityList." + _PIPE_DOC
     + _FACTS_DOC, None),
    ("MATCH_inputEPCClass", "an epcClass in inputQuantityList." + _PIPE_DOC + _FACTS_DOC, None),
    ("MATCH_outputEPCClass", "an epcClass in outputQuantityList." + _PIPE_DOC + _FACTS_DOC,
     None),
    ("MATCH_anyEPCClass", "an epcClass in any quantity list." + _PIPE_DOC, None),
    ("EQ_quantity", "a QuantityElement's quantity equals (any uom; `EQ_quantity_<uom>` for one "
     "unit, and GT_/GE_/LT_/LE_ likewise)." + _PIPE_DOC + _FACTS_DOC, None),
    ("GT_quantity", "a QuantityElement's quantity >.", None),
    ("GE_quantity", "a QuantityElement's quantity ≥.", None),
    ("LT_quantity", "a QuantityElement's quantity <.", None),
    ("LE_quantity", "a QuantityElement's quantity ≤.", None),
    ("EQ_eventID", "the event's CBV 2.0 hash (`ni:///sha-256;…`) or the `eventID` it was "
     "captured with." + _PIPE_DOC, None),
    ("GE_errorDeclarationTime", "declared erroneous at or after this date-time (also spelt "
     "GE_errorDeclaration_Time).", None),
    ("LT_errorDeclarationTime", "declared erroneous before this date-time (also spelt "
     "LT_errorDeclaration_Time).", None),
    ("EQ_correctiveEventID", "declared erroneous with this id among its correctiveEventIDs."
     + _PIPE_DOC, None),
    *((f"EQ_{field}", f"a {where} `{field}` equals one of these ({kind})." + _PIPE_DOC
       + _FACTS_DOC, None) for field, where, kind in (
        ("deviceID", "sensorMetadata's or sensorReport's", "URIs"),
        ("deviceMetadata", "sensorMetadata's or sensorReport's", "URIs"),
        ("rawData", "sensorMetadata's or sensorReport's", "URIs"),
        ("dataProcessingMethod", "sensorMetadata's or sensorReport's", "URIs"),
        ("bizRules", "sensorMetadata's", "URIs"),
        ("microorganism", "sensorReport's", "URIs"),
        ("chemicalSubstance", "sensorReport's", "URIs"),
        ("stringValue", "sensorReport's", "strings, compared as written"),
        ("hexBinaryValue", "sensorReport's", "hexBinary, in either case"),
        ("uriValue", "sensorReport's", "URIs"))),
    ("EQ_booleanValue", "a sensorReport's `booleanValue` is this (`true` or `false`)."
     + _FACTS_DOC, None),
    ("GE_time", "a sensorMetadata or sensorReport `time` ≥ this date-time (with zone)."
     + _FACTS_DOC, None),
    ("LT_time", "a sensorMetadata or sensorReport `time` < this date-time.", None),
    ("GE_startTime", "a sensorMetadata `startTime` ≥ this date-time.", None),
    ("LT_startTime", "a sensorMetadata `startTime` < this date-time.", None),
    ("GE_endTime", "a sensorMetadata `endTime` ≥ this date-time.", None),
    ("LT_endTime", "a sensorMetadata `endTime` < this date-time.", None),
    ("GT_percRank", "a sensorReport's `percRank` > this number (also GE_, LT_, LE_). "
     "Extension fields of a sensorElement, its sensorMetadata or sensorReports: "
     "`<EQ|GT|GE|LT|LE>_[INNER_]<SENSORELEMENT|SENSORMETADATA|SENSORREPORT>_<prefix:field>` "
     "and `EXISTS_<SENSORELEMENT|SENSORMETADATA|SENSORREPORT>_<prefix:field>`; "
     "of an errorDeclaration: `<EQ|GT|GE|LT|LE|EXISTS>_[INNER_]ERROR_DECLARATION_"
     "<prefix:field>`." + _FACTS_DOC, None),
    ("GE_percRank", "a sensorReport's `percRank` ≥ this number.", None),
    ("LT_percRank", "a sensorReport's `percRank` < this number.", None),
    ("LE_percRank", "a sensorReport's `percRank` ≤ this number.", None),
    ("HASATTR_readPoint", "the event's own signed master data (`zhenzhi:masterData`) gives its "
     "readPoint one of these attributes (`name`, `countryCode`; a CBV URN "
     "`urn:epcglobal:cbv:mda#name` too). `EQ_ATTR_readPoint_<attribute>`: that attribute has "
     "one of these values; bizLocation, `source` and `destination` (a party of the event's "
     "sourceList / destinationList) alike. `HASATTR_<prefix:field>`: an extension field's "
     "value (`zhenzhi:seller`'s party) is an element the event's own master data gives one of "
     "these attributes." + _PIPE_DOC + _FACTS_DOC, "name"),
    ("HASATTR_bizLocation", "as HASATTR_readPoint, for the bizLocation." + _PIPE_DOC, None),
    ("HASATTR_source", "as HASATTR_readPoint, for a party of the event's sourceList."
     + _PIPE_DOC, None),
    ("HASATTR_destination", "as HASATTR_readPoint, for a party of the event's "
     "destinationList." + _PIPE_DOC, None),
    ("orderBy", "eventTime, recordTime or a top-level extension field `prefix:name` (numbers "
     "and date-times by value, then strings by code point, then the events without a value, "
     "in either direction). Without it: the order events were recorded in.", "eventTime"),
    ("orderDirection", "ASC or DESC (default DESC, as the standard says).", "DESC"),
    ("eventCountLimit", "the first N events in orderBy's order (needs orderBy), across pages.",
     None),
    ("maxEventCount", "more matches than this: 413 QueryTooLargeException instead of an "
     "answer (checked on every page).", None),
)


def more_query_parameters(**_: str | None) -> None:
    """The simple query parameters with fixed names beyond the routes' own arguments (`_MORE`),
    declared for the OpenAPI; `query_filters` reads them, and the families whose names are
    built from a field, type or unit (`EQ_ILMD_<prefix:field>`, `EQ_bizTransaction_<type>`,
    `GE_quantity_<uom>`, `EXISTS_<field>`, `EQ_SENSORREPORT_<prefix:field>`,
    `EQ_ERROR_DECLARATION_<prefix:field>`, `EQ_readPoint_<prefix:field>`…), which no fixed
    list can name."""


# FastAPI reads a dependency's parameters from its signature: one optional query string each.
more_query_parameters.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                      annotation=Annotated[str | None, Query(
                          alias=name, description=description,
                          examples=[example] if example else None)])
    for name, description, example in _MORE])
MORE_PARAMETERS = [Depends(more_query_parameters)]

PerPageQ = Annotated[int | None, Query(alias="perPage", ge=1, description=(
    "most events per page (default 30; larger values are capped at the server maximum)."))]
TokenQ = Annotated[str | None, Query(alias="nextPageToken", max_length=512,
                                     description="opaque token from a `Link: rel=\"next\"` URL")]

_QUERY_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "An EPCISQueryDocument with the matching events.",
          "headers": {"Link": {"schema": {"type": "string"},
                               "description": "`<URL>; rel=\"next\"` while more pages exist"},
                      "GS1-EPC-Format": {"schema": {"type": "string"}, "description": (
                          "how GS1 keys were written: as the request's `GS1-EPC-Format` "
                          "asked, `Never_Translates` (as captured) or `No_Preference` (some "
                          "Digital Link whose company prefix no member registered stayed "
                          "one)")},
                      "GS1-CBV-XML-Format": {"schema": {"type": "string"}, "description": (
                          "XML answers: how CBV values were written")}},
          "content": {"application/json": {"schema": QUERY_DOCUMENT_SCHEMA},
                      "application/xml": {"schema": {
                          "type": "string", "description": "with `Accept: application/xml`: "
                          "the EPCIS 2.0 XML EPCISQueryDocument"}}}},
    **problem_responses(400, 401, 404, 406, 413),
}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


_JSON_MEDIA = ("application/json", "application/ld+json")
_XML_MEDIA = ("application/xml", "text/xml")


def wants_xml(accept: str | None) -> bool:
    """Whether `Accept` prefers EPCIS XML to JSON-LD (by q, then by order; JSON on a tie)."""
    if not accept:
        return False
    best_json = best_xml = (-1.0, 0)
    for index, part in enumerate(accept.split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        rank = (q, -index)
        media = media.lower()
        if media in _JSON_MEDIA or media in ("*/*", "application/*"):
            best_json = max(best_json, rank)
        if media in _XML_MEDIA:
            best_xml = max(best_xml, rank)
    return best_xml[0] > 0 and best_xml > best_json


def _answer(request: Request, services: Any, events: list[dict[str, Any]],
            headers: dict[str, str], asked: Negotiation) -> JSONLDResponse | XMLResponse:
    """The EPCISQueryDocument, as JSON-LD, or as XML when the client asks for it
    (`Accept: application/xml`; valid against the standard's XSD: ledger.epcis.xml_writer),
    GS1 keys and CBV values written as the request's GS1 headers ask (`asked`), and response
    headers saying what was done."""
    events, epc_format = with_epc_format(services, events, asked.epc_format)
    headers = {**headers, "GS1-EPC-Format": epc_format, "Vary": _VARY}
    if wants_xml(request.headers.get("accept")):
        from ledger.epcis.xml_writer import write_query_document

        cbv = asked.cbv_xml_format
        done = cbv if cbv in (CbvXmlFormat.ALWAYS_URN, CbvXmlFormat.ALWAYS_WEB_URI) \
            else CbvXmlFormat.NEVER_TRANSLATES
        return XMLResponse(write_query_document(events, context=CONTEXT, creation_date=_now(),
                                                cbv_format=done),
                           headers={**headers, "GS1-CBV-XML-Format": done.value})
    return JSONLDResponse(_query_document(events), headers=headers)


_VARY = "Accept, GS1-EPC-Format, GS1-CBV-XML-Format"


def with_epc_format(services: Any, events: list[dict[str, Any]], fmt: EpcFormat
                     ) -> tuple[list[dict[str, Any]], str]:
    """`events` with GS1 keys as `fmt` asks, and the `GS1-EPC-Format` that says what was done:
    `Never_Translates` when answered as captured; `No_Preference` when some Digital Link could
    not become a URN (no member registered its company prefix) and the answer mixes forms."""
    if fmt in (EpcFormat.NO_PREFERENCE, EpcFormat.NEVER_TRANSLATES):
        return events, EpcFormat.NEVER_TRANSLATES.value
    out, complete = [], True
    for event in events:
        translated, whole = translate_event(event, fmt, services.chain_view.company_prefix)
        out.append(translated)
        complete = complete and whole
    return out, (fmt if complete else EpcFormat.NO_PREFERENCE).value


def _query_document(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": _now(),
        "epcisBody": {"queryResults": {
            "queryName": "SimpleEventQuery",
            "resultsBody": {"eventList": events},
        }},
    }


def run_query(request: Request, services: Any, settings: Any, *, per_page: int | None,
              token: str | None, fixed: dict[str, list[str]] | None = None,
              own: frozenset[str] = frozenset(), params: QueryParams | None = None
              ) -> JSONLDResponse | XMLResponse:
    """Answer an EPCIS simple event query from the request's query string (or `params`: a
    named query's). `fixed`: filters a resource path sets (`/bizSteps/{bizStep}/events`:
    biz_steps), ANDed with the rest; `own`: the query parameters that path stands for,
    refused in its query string."""
    asked = negotiate(request.headers)
    q = request.query_params if params is None else params
    filters = {**query_filters(q, own), **(fixed or {})}
    limit = min(per_page or settings.per_page_default, settings.per_page_max)
    events, next_token = services.query_events(filters, limit, token)
    headers = dict(EPCIS_HEADERS)
    if next_token:
        headers["Link"] = next_link(request, settings, next_token)
    return _answer(request, services, events, headers, asked)


def _once(q: QueryParams, name: str) -> str:
    values = q.getlist(name)
    if len(values) != 1:
        raise QueryParameterError(f"{name} may be given once", parameter=name)
    return values[0].strip()


def _number(q: QueryParams, name: str) -> float:
    raw = _once(q, name)
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise QueryParameterError(f"{name} must be a number, got {raw!r}", parameter=name)
    return value


def _count(q: QueryParams, name: str) -> int | None:
    if name not in q:
        return None
    raw = _once(q, name)
    if not raw.isdigit() or int(raw) < 1 or int(raw) > 2**62:
        raise QueryParameterError(f"{name} must be a positive integer, got {raw!r}",
                                  parameter=name)
    return int(raw)


def _numbers(name: str, values: list[str]) -> tuple[float, ...]:
    out = []
    for v in values:
        try:
            out.append(float(v))
        except ValueError:
            raise QueryParameterError(f"{name} must be numbers, got {v!r}",
                                      parameter=name) from None
    if not all(math.isfinite(x) for x in out):
        raise QueryParameterError(f"{name} must be finite numbers", parameter=name)
    return tuple(out)


def _field_value(name: str, raw: str) -> float | None:
    """A number, or a date-time as epoch milliseconds (how the facts index keeps both)."""
    try:
        value = float(raw)
    except ValueError:
        return time_ms(raw.strip())
    return value if math.isfinite(value) else None


def _field_filter(q: QueryParams, name: str, op: str, key: str) -> FactFilter:
    """The condition of an extension field parameter (`EQ_ILMD_<field>`, `GT_SENSORREPORT_
    <field>`…) on the facts of `key`: EQ_ any of the `|` values, as text or as the number (or
    instant) it reads as; GT_/GE_/LT_/LE_ a number or a date-time with a zone; EXISTS_."""
    if op == "EXISTS":
        return FactFilter(key, "EXISTS")
    if op == "EQ":
        values = _pipe(q.get(name)) or []
        if not values:
            raise QueryParameterError(f"{name} needs a value", parameter=name)
        nums = tuple(n for n in (_field_value(name, v) for v in values) if n is not None)
        return FactFilter(key, "EQ", texts=tuple(values), nums=nums)
    raw = _once(q, name)
    bound = _field_value(name, raw)
    if bound is None:
        raise QueryParameterError(f"{name} compares numbers and date-times (with a zone), got "
                                  f"{raw!r}", parameter=name)
    return FactFilter(key, op, nums=(bound,))


def _sensor_fact_filters(q: QueryParams) -> list[FactFilter]:
    """The conditions of the sensor metadata and report parameters (EQ_deviceID …
    EQ_booleanValue, GE_/LT_time, GE_/LT_startTime, GE_/LT_endTime, <op>_percRank) on the
    event facts index."""
    out: list[FactFilter] = []
    for name, (key, kind) in _SENSOR_LISTS.items():
        if name not in q:
            continue
        values = _pipe(q.get(name))
        if not values:
            raise QueryParameterError(f"{name} needs a value", parameter=name)
        if kind == "uri":
            bad = [v for v in values if not _URI.match(v)]
            if bad:
                raise QueryParameterError(f"{name} takes URIs, got {bad[0]!r}", parameter=name)
        elif kind == "hex":
            spelt = [hex_binary(v) for v in values]
            if None in spelt:
                raise QueryParameterError(f"{name} takes hexBinary (pairs of hex digits), got "
                                          f"{values[spelt.index(None)]!r}", parameter=name)
            values = [v for v in spelt if v is not None]
        out.append(FactFilter(key, "EQ", texts=tuple(values)))
    if "EQ_booleanValue" in q:
        raw = _once(q, "EQ_booleanValue")
        if raw not in ("true", "false"):
            raise QueryParameterError(f"EQ_booleanValue is true or false, got {raw!r}",
                                      parameter="EQ_booleanValue")
        out.append(FactFilter("sensor.booleanValue", "EQ", texts=(raw,)))
    for name, (key, op) in _SENSOR_TIMES.items():
        if name in q and (at := _time(name, _once(q, name))) is not None:
            out.append(FactFilter(key, op, nums=(float(round(at.timestamp() * 1000)),)))
    for name, op in _PERC_RANKS.items():
        if name in q:
            out.append(FactFilter("sensor.percRank", op, nums=(_number(q, name),)))
    return out


def _fact_filters(q: QueryParams) -> list[FactFilter]:
    """The conditions on the event facts index that `q` asks for."""
    out: list[FactFilter] = _sensor_fact_filters(q)
    for name, key in _FACT_LISTS.items():
        values = _pipe(q.get(name))
        if name in q and not values:
            raise QueryParameterError(f"{name} needs a value", parameter=name)
        if values:
            if name == "EQ_action":
                bad = [v for v in values if v not in ("ADD", "OBSERVE", "DELETE")]
                if bad:
                    raise QueryParameterError(f"EQ_action: {bad[0]!r} is not ADD, OBSERVE or "
                                              "DELETE", parameter=name)
            if key.startswith("persistentDisposition"):
                values = [normalise_cbv(v) or v for v in values]
            out.append(FactFilter(key, "EQ", texts=tuple(values)))
    if "EQ_quantity" in q:
        out.append(FactFilter("quantity", "EQ",
                              nums=_numbers("EQ_quantity", _pipe(q.get("EQ_quantity")) or [])))
    for op in ("GT", "GE", "LT", "LE"):
        if f"{op}_quantity" in q:
            out.append(FactFilter("quantity", op, nums=(_number(q, f"{op}_quantity"),)))
    for name in sorted(set(q)):
        if (m := QUANTITY_PARAMETER.match(name)) is not None:
            op, uom = m.groups()
            nums = (_numbers(name, _pipe(q.get(name)) or []) if op == "EQ"
                    else (_number(q, name),))
            out.append(FactFilter("quantity", op, nums=nums, uom=uom))
        elif (m := TYPED_PARAMETER.match(name)) is not None:
            family, kind = m.groups()
            bare = bare_transaction_type if family == "bizTransaction" else bare_party_type
            out.append(FactFilter(f"{family}.{bare(kind)}", "EQ",
                                  texts=tuple(_pipe(q.get(name)) or ())))
        elif (m := FIELD_PARAMETER.match(name)) is not None:
            op, scope, field = m.groups()
            out.append(_field_filter(q, name, op, f"{_FIELD_KEYS[scope]}:{field}"))
        elif (m := SENSOR_FIELD_PARAMETER.match(name)) is not None:
            op, inner, exists, part, field = m.groups()
            key = f"{'inner_' if inner else ''}{part.lower()}:{field}"
            out.append(_field_filter(q, name, op or exists, key))
        elif (m := LOCATION_FIELD_PARAMETER.match(name)) is not None:
            inner, field, extension = m.groups()
            key = f"{'inner_' if inner else ''}{field}:{extension}"
            out.append(_field_filter(q, name, "EQ", key))
        elif (m := DECLARATION_FIELD_PARAMETER.match(name)) is not None:
            op, inner, field = m.groups()
            out.append(_field_filter(q, name, op, f"{'inner_' if inner else ''}decl:{field}"))
        elif (m := HASATTR_PARAMETER.match(name)) is not None:
            names = _pipe(q.get(name))
            if not names:
                raise QueryParameterError(f"{name} needs the name of an attribute",
                                          parameter=name)
            # A CBV attribute may be named by its URN (`urn:epcglobal:cbv:mda#name`).
            out.append(FactFilter(f"hasattr.{m.group(1)}", "EQ", texts=tuple(
                n.removeprefix(_MDA_PREFIX) for n in names)))
        elif (m := ATTR_PARAMETER.match(name)) is not None:
            values = _pipe(q.get(name))
            if not values:
                raise QueryParameterError(f"{name} needs a value", parameter=name)
            out.append(FactFilter(f"attr.{m.group(1)}.{m.group(2)}", "EQ", texts=tuple(values)))
        elif (m := EXISTS_PARAMETER.match(name)) is not None \
                and name != "EXISTS_errorDeclaration":
            out.append(FactFilter(f"has:{m.group(1)}", "EXISTS"))
    return out


def _ordering(q: QueryParams) -> dict[str, Any]:
    """orderBy, orderDirection, eventCountLimit and maxEventCount, checked as the standard
    says (QueryParameterException otherwise)."""
    order_by = _once(q, "orderBy") if "orderBy" in q else None
    # An extension field is named as the EQ_<prefix:field> family names it (EPCIS 2.0
    # §8.2.7.1: "constructed as for the EQ_fieldname parameter"); the store answers it from
    # the facts index (`ledger.store.field_order`), which keeps names up to FIELD_LIMIT.
    if order_by is not None and order_by not in ("eventTime", "recordTime") \
            and not is_field(order_by):
        raise QueryParameterError(
            f"orderBy {order_by[:300]!r}: eventTime, recordTime or an extension field "
            f"prefix:name (at most {FIELD_LIMIT} characters)", parameter="orderBy")
    direction = _once(q, "orderDirection") if "orderDirection" in q else "DESC"
    if direction not in ("ASC", "DESC"):
        raise QueryParameterError(f"orderDirection must be ASC or DESC, got {direction!r}",
                                  parameter="orderDirection")
    limit, most = _count(q, "eventCountLimit"), _count(q, "maxEventCount")
    if limit is not None and most is not None:
        raise QueryParameterError("eventCountLimit and maxEventCount exclude each other",
                                  parameter="eventCountLimit")
    if limit is not None and order_by is None:
        raise QueryParameterError("eventCountLimit needs orderBy (the first N in which order?)",
                                  parameter="eventCountLimit")
    return {"order_by": order_by, "order_desc": direction == "DESC",
            "event_count_limit": limit, "max_event_count": most}


def query_filters(q: QueryParams, own: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The filters of `Services.query_events` that query-string parameters `q` ask for;
    QueryParameterError (400) for a parameter this gateway does not implement or a value it
    cannot read, rather than an answer that silently ignores it."""
    allowed = SUPPORTED_PARAMETERS - own
    unknown = sorted(n for n in set(q) - allowed
                     if n in own or not any(f.match(n) for f in _FAMILIES))
    if unknown:
        raise QueryParameterError(
            f"unsupported query parameter(s): {', '.join(unknown)}; this resource implements "
            f"{', '.join(sorted(allowed))} and the families "
            "<EQ|GT|GE|LT|LE>_<value|minValue|maxValue|meanValue|sDev|percValue>_<uom>, "
            "<EQ|GT|GE|LT|LE>_quantity_<uom>, EQ_<bizTransaction|source|destination>_<type>, "
            "<EQ|GT|GE|LT|LE|EXISTS>_[INNER_][ILMD_]<prefix:field>, EXISTS_<field>, "
            "<EQ|GT|GE|LT|LE>_[INNER_]<SENSORELEMENT|SENSORMETADATA|SENSORREPORT>_"
            "<prefix:field>, EXISTS_<SENSORELEMENT|SENSORMETADATA|SENSORREPORT>_<prefix:field>, "
            "<EQ|GT|GE|LT|LE|EXISTS>_[INNER_]ERROR_DECLARATION_<prefix:field>, "
            "EQ_[INNER_]<readPoint|bizLocation>_<prefix:field>, "
            "HASATTR_<readPoint|bizLocation|source|destination|prefix:field>, "
            "EQ_ATTR_<readPoint|bizLocation|source|destination>_<attribute>",
            parameters=unknown)
    types = _pipe(q.get("eventType"))
    if types:
        bad = [t for t in types if t not in EVENT_TYPES]
        if bad:
            raise QueryParameterError(f"unknown eventType {bad[0]!r}", parameter="eventType")
    times = {f"{name[:2].lower()}_{'event' if field == 'eventTime' else 'record'}_time":
             _time(name, q.get(name)) for name, field in _TIMES.items()}
    declared = {f"{which}_error_declaration_time": _time(name, q.get(name))
                for name, which in _DECLARATION_TIMES.items() if name in q}
    return {
        "event_types": types,
        **times,
        **declared,
        "biz_steps": _pipe(q.get("EQ_bizStep")),
        "dispositions": _pipe(q.get("EQ_disposition")),
        "read_points": _pipe(q.get("EQ_readPoint")),
        "biz_locations": _pipe(q.get("EQ_bizLocation")),
        # The location itself (EPCIS 2.0 §8.2.7.1 includes it) or a descendant by the
        # `children` of the event's own signed master data (`zhenzhi:masterData`).
        "wd_read_points": _pipe(q.get("WD_readPoint")),
        "wd_biz_locations": _pipe(q.get("WD_bizLocation")),
        **{key: _pipe(q.get(name)) for name, key in _MATCH.items()},
        "error_reasons": _pipe(q.get("EQ_errorReason")),
        "exists_error_declaration": "EXISTS_errorDeclaration" in q,
        "corrective_event_ids": _pipe(q.get("EQ_correctiveEventID")),
        "event_ids": _pipe(q.get("EQ_eventID")),
        "types": _pipe(q.get("EQ_type")),
        "sensor": _sensor_filters(q),
        "facts": _fact_filters(q),
        **_ordering(q),
    }


def next_link(request: Request, settings: Any, token: str) -> str:
    """`<this URL with nextPageToken=token>; rel="next"` (the binding's paging header)."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "nextPageToken"]
    params.append(("nextPageToken", token))
    base = settings.public_url.rstrip("/") if settings.public_url else \
        str(request.base_url).rstrip("/")
    # raw_path keeps the client's percent-encoding: a decoded Digital Link EPC would put
    # extra slashes into the URL.
    path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
    return f'<{base}{path}?{urlencode(params)}>; rel="next"'


@router.get("/events", summary="Query events (EPCIS simple query parameters)",
            response_model=None, responses=_QUERY_RESPONSES,
            dependencies=[*FORMAT_HEADERS, *MORE_PARAMETERS])
def list_events(
    request: Request, services: ServicesDep, settings: SettingsDep, viewer: MemberDep,
    eventType: EventTypeQ = None, GE_eventTime: GEEventTime = None,  # noqa: N803
    LT_eventTime: LTEventTime = None, EQ_bizStep: BizStepQ = None,  # noqa: N803
    EQ_disposition: DispositionQ = None, EQ_readPoint: ReadPointQ = None,  # noqa: N803
    EQ_bizLocation: BizLocationQ = None, MATCH_epc: MatchEpcQ = None,  # noqa: N803
    MATCH_anyEPC: MatchAnyEpcQ = None, perPage: PerPageQ = None,  # noqa: N803
    nextPageToken: TokenQ = None, EQ_errorReason: ErrorReasonQ = None,  # noqa: N803
    EXISTS_errorDeclaration: ExistsErrorQ = None,  # noqa: N803
    EQ_type: TypeQ = None,  # noqa: N803
) -> JSONLDResponse | XMLResponse:
    return run_query(request, services, settings, per_page=perPage, token=nextPageToken)


@router.get("/events/{eventID:path}", summary="One event by its CBV 2.0 event id",
            response_model=None, dependencies=FORMAT_HEADERS,
            responses={200: {"description": "An EPCISQueryDocument with the one event.",
                             "content": {"application/json": {"schema": QUERY_DOCUMENT_SCHEMA},
                                         "application/xml": {"schema": {"type": "string"}}}},
                       **problem_responses(400, 401, 404, 406)})
def get_event(
    request: Request,
    services: ServicesDep,
    viewer: MemberDep,
    eventID: Annotated[str, Path(description=(  # noqa: N803
        "The CBV 2.0 event hash: `ni:///sha-256;<hex>?ver=CBV2.0` URL-encoded, or the "
        "64 hex digits alone."),
        examples=["ni%3A%2F%2F%2Fsha-256%3Bdf7bb3c352fef055578554f09f5e2aa41782150ced7bd0b8af24dd3ccb30ba69%3Fver%3DCBV2.0"])],
) -> JSONLDResponse | XMLResponse:
    asked = negotiate(request.headers)
    raw = eventID
    # An unencoded `?ver=CBV2.0` arrives as the query string, not in the path.
    if raw.startswith("ni:") and "?" not in raw and request.url.query:
        raw = f"{raw}?{request.url.query}"
    event_id = services.parse_event_id(raw)
    event = services.get_event(event_id)
    if event is None:
        raise UnknownEventError(f"no event {raw}", eventID=raw)
    return _answer(request, services, [event], dict(EPCIS_HEADERS), asked)


@router.get("/epcs/{epc:path}/events", summary="Events that name an EPC (URN or Digital Link)",
            response_model=None, responses=_QUERY_RESPONSES,
            dependencies=[*FORMAT_HEADERS, *MORE_PARAMETERS])
def epc_events(
    request: Request, services: ServicesDep, settings: SettingsDep, viewer: MemberDep,
    epc: Annotated[str, Path(description="an EPC URN or constrained Digital Link, URL-encoded",
                             examples=["urn:epc:id:sgtin:0614141.107346.2018"])],
    eventType: EventTypeQ = None, GE_eventTime: GEEventTime = None,  # noqa: N803
    LT_eventTime: LTEventTime = None, EQ_bizStep: BizStepQ = None,  # noqa: N803
    EQ_disposition: DispositionQ = None, EQ_readPoint: ReadPointQ = None,  # noqa: N803
    EQ_bizLocation: BizLocationQ = None, MATCH_epc: MatchEpcQ = None,  # noqa: N803
    perPage: PerPageQ = None, nextPageToken: TokenQ = None,  # noqa: N803
    EQ_errorReason: ErrorReasonQ = None,  # noqa: N803
    EXISTS_errorDeclaration: ExistsErrorQ = None,  # noqa: N803
    EQ_type: TypeQ = None,  # noqa: N803
) -> JSONLDResponse | XMLResponse:
    # The binding offers no MATCH_anyEPC here: the path's EPC is that filter.
    return run_query(request, services, settings, per_page=perPage, token=nextPageToken,
                     fixed={"any_epcs": [epc]}, own=frozenset({"MATCH_anyEPC"}))


@router.delete("/nextPageToken/{token}", tags=["Queries"], response_class=Response,
               summary="Release a page token: not needed here (501, as the binding allows)",
               responses=problem_responses(501))
async def delete_page_token(token: Annotated[str, Path(max_length=512)]) -> Response:
    # The binding makes this operation optional: 204 says the token was invalidated, 501 that
    # the server does not do it. Every page token here is stateless (the position after the
    # last result, as base64: `ledger.store`), so the server holds nothing to release, and
    # nothing could make a token stop working short of a list of revoked tokens. 204 would
    # claim an invalidation that did not happen; 501 is what is true.
    raise StatelessPageTokenError(
        "page tokens are stateless: the server holds nothing for them, so there is nothing "
        "to release, and a token is not invalidated (it stays a position in the results)",
        token=token[:100])


@router.options("/events", status_code=204, response_class=Response, tags=["Discovery"],
                summary="Discovery headers of the events resource")
async def events_options() -> Response:
    return Response(status_code=204,
                    headers={**options_headers(answers_events=True),
                             "Allow": "OPTIONS, GET, POST"})


@router.options("/events/{eventID:path}", status_code=204, response_class=Response,
                tags=["Discovery"], summary="Discovery headers of one event")
async def event_options(eventID: str) -> Response:  # noqa: N803 - the binding's name
    return Response(status_code=204, headers={**options_headers(answers_events=True),
                                              "Allow": "OPTIONS, GET"})
