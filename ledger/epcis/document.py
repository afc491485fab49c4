"""EPCIS 2.0 capture documents: parse, bound, validate against the official GS1 JSON Schema.

Validation uses the GS1 single-file schema (`EPCIS-JSON-Schema.json`, draft-07) with formats
asserted (date-time, uri), compiled once on first use with `jsonschema_rs`: a Rust validator,
about 20× faster than fastjsonschema on EPCIS events, which is what lets validation plus hashing
run at ingest speed. A rejected document names the JSON pointer of its first problem.

EPC normalisation (`event_epcs`): every GS1 key is given as its canonical Digital Link
(`https://id.gs1.org/01/<gtin14>/21/<serial>`), the same form the event hash uses, so an EPC
written as URN in one event and as Digital Link in another is indexed once. Identifiers that are
not GS1 keys (other URIs) are kept as written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger.epcis.event_hash import _gs1_key_uri
from ledger.epcis.json_text import DEFAULT_MAX_JSON_DEPTH, check_json_text
from ledger.errors import InvalidInputError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_EVENTS",
    "EVENT_TYPES",
    "SCHEMA_FILE",
    "EPCISDocument",
    "InvalidDocumentError",
    "event_epcs",
    "parse_document",
    "validate_event",
]

# The official schema, vendored: a deployed gateway has no conformance folder beside it.
SCHEMA_FILE = Path(__file__).resolve().parent / "schemas" / "EPCIS-JSON-Schema.json"
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_EVENTS = 10_000
EVENT_TYPES = frozenset(("ObjectEvent", "AggregationEvent", "TransactionEvent",
                         "TransformationEvent", "AssociationEvent"))
_COMBINATORS = frozenset(("anyOf", "oneOf", "allOf", "if", "then", "else", "not", "$ref"))


class InvalidDocumentError(InvalidInputError):
    """The document is not an acceptable EPCIS 2.0 capture: `pointer` says where, `detail` what."""

    slug = "invalid-epcis-document"
    title = "Invalid EPCIS document"

    def __init__(self, detail: str, *, pointer: str = "", **fields: Any) -> None:
        super().__init__(detail, pointer=pointer, **fields)
        self.pointer = pointer


@dataclass(frozen=True, slots=True)
class EPCISDocument:
    """A validated capture document. `events` are the JSON-LD event objects as sent."""

    context: Any
    schema_version: str
    creation_date: str
    events: tuple[dict[str, Any], ...]
    raw: dict[str, Any] = field(repr=False)
    header: dict[str, Any] | None = None
    instance_identifier: str | None = None
    sender: str | None = None
    receiver: str | None = None
    ignore_fields: tuple[str, ...] = ()


class _Validators:
    """The compiled schema: documents (and lone events with @context), and events in a list."""

    def __init__(self, schema_file: Path) -> None:
        import jsonschema_rs

        try:
            schema = json.loads(schema_file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InvalidInputError(f"EPCIS schema not readable at {schema_file}: {exc}") from exc
        self.document = jsonschema_rs.validator_for(schema, validate_formats=True)
        event_schema = {"$schema": schema["$schema"], "definitions": schema["definitions"],
                        "allOf": [{"$ref": "#/definitions/EPCIS-Document-Event"}]}
        self.event = jsonschema_rs.validator_for(event_schema, validate_formats=True)


_validators: _Validators | None = None


def _compiled() -> _Validators:
    global _validators
    if _validators is None:
        _validators = _Validators(SCHEMA_FILE)
    return _validators


def _pointer(path: Any) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _first_problem(validator: Any, instance: Any, prefix: str = "") -> InvalidDocumentError | None:
    if validator.is_valid(instance):  # the common case, and twice as fast as collecting errors
        return None
    errors = validator.iter_errors(instance)
    first = None
    for error in errors:
        if first is None:
            first = error
        # a leaf keyword (enum, format, required, ...) says more than "anyOf failed"
        if error.schema_path and str(error.schema_path[-1]) not in _COMBINATORS:
            first = error
            break
    if first is None:
        return None
    pointer = prefix + _pointer(first.instance_path)
    message = first.message
    if len(message) > 240:
        message = message[:237] + "..."
    where = pointer or "the document"
    return InvalidDocumentError(f"{where}: {message}", pointer=pointer)


def validate_event(event: Mapping[str, Any], *, pointer: str = "") -> None:
    """Check one event as it appears in an eventList (no @context needed)."""
    if not isinstance(event, dict):
        raise InvalidDocumentError(f"{pointer or 'the event'}: an event must be a JSON object",
                                   pointer=pointer)
    if event.get("type") not in EVENT_TYPES:
        raise InvalidDocumentError(
            f"{pointer}/type: an event type must be one of {', '.join(sorted(EVENT_TYPES))}",
            pointer=pointer + "/type")
    problem = _first_problem(_compiled().event, event, pointer)
    if problem is not None:
        raise problem


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _load(data: bytes | str | dict, max_bytes: int, max_depth: int = DEFAULT_MAX_JSON_DEPTH,
          max_values: int | None = None) -> Any:
    if isinstance(data, dict):
        return data
    if isinstance(data, (bytes, bytearray, memoryview)):
        size = len(data)
    elif isinstance(data, str):
        size = len(data.encode("utf-8")) if len(data) * 4 > max_bytes else len(data)
    else:
        raise InvalidDocumentError("an EPCIS document must be JSON text or an object")
    if size > max_bytes:
        raise InvalidDocumentError(
            f"the document is {size} bytes; at most {max_bytes} are accepted",
            size=size, max_bytes=max_bytes)
    # Before the parser: it recurses per level, its cost and the hash's grow with the values,
    # and a lone surrogate parses but cannot be stored (ledger.epcis.json_text).
    check_json_text(data, max_depth=max_depth, max_values=max_values)
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidDocumentError(f"the document is not valid JSON: {exc}") from exc


def parse_document(data: bytes | str | dict, *, max_bytes: int = DEFAULT_MAX_BYTES,
                   max_events: int = DEFAULT_MAX_EVENTS,
                   max_depth: int = DEFAULT_MAX_JSON_DEPTH,
                   max_values: int | None = None, schema: bool = True) -> EPCISDocument:
    """Parse and validate an EPCIS 2.0 capture: an `EPCISDocument`, or one event with @context
    (the REST binding's `POST /events`), which becomes a document of one. JSON text nested
    deeper than `max_depth` or holding more than `max_values` values is refused before it is
    parsed (`ledger.epcis.json_text` errors: 400, or 413 for the values).

    `schema=False` skips the JSON Schema: for a document converted from XML
    (`ledger.epcis.xml`), which the standard's XSD has checked already. The two schemas do not
    agree everywhere (the XSD allows a sensorReport without `type` and a persistentDisposition
    on an AggregationEvent; the JSON Schema does not), and an XML document is judged by the
    XML binding's own."""
    raw = _load(data, max_bytes, max_depth, max_values)
    if not isinstance(raw, dict):
        raise InvalidDocumentError("an EPCIS document must be a JSON object")
    kind = raw.get("type")
    if kind == "EPCISQueryDocument":
        raise InvalidDocumentError(
            "/type: an EPCISQueryDocument is a query result, not a capture document",
            pointer="/type")
    if kind == "EPCISDocument":
        body = raw.get("epcisBody")
        events = body.get("eventList") if isinstance(body, dict) else None
        if isinstance(events, list) and len(events) > max_events:
            raise InvalidDocumentError(
                f"/epcisBody/eventList: {len(events)} events; at most {max_events} per document",
                pointer="/epcisBody/eventList", count=len(events), max_events=max_events)
    elif kind not in EVENT_TYPES:
        raise InvalidDocumentError(
            "/type: expected EPCISDocument or one of " + ", ".join(sorted(EVENT_TYPES)),
            pointer="/type")
    problem = _first_problem(_compiled().document, raw) if schema else None
    if problem is not None:
        raise problem
    if kind in EVENT_TYPES:
        event = {k: v for k, v in raw.items() if k != "@context"}
        return EPCISDocument(context=raw.get("@context"), schema_version="2.0",
                             creation_date=raw.get("eventTime", ""), events=(event,), raw=raw)
    body = raw["epcisBody"]
    events = body.get("eventList")
    if events is None:
        events = [body["event"]] if "event" in body else []
    ignore: list[str] = []
    for key, value in raw.items():
        if (key == "ignoreFields" or key.endswith(":ignoreFields")) and isinstance(value, list):
            ignore.extend(v for v in value if isinstance(v, str))
    header = raw.get("epcisHeader")
    return EPCISDocument(
        context=raw.get("@context"),
        schema_version=str(raw.get("schemaVersion", "")),
        creation_date=str(raw.get("creationDate", "")),
        events=tuple(events),
        raw=raw,
        header=header if isinstance(header, dict) else None,
        instance_identifier=raw.get("instanceIdentifier"),
        sender=raw.get("sender"),
        receiver=raw.get("receiver"),
        ignore_fields=tuple(ignore),
    )


_EPC_ROLES = (("epcList", "epc"), ("parentID", "parent"), ("childEPCs", "child"),
              ("inputEPCList", "input"), ("outputEPCList", "output"))
_CLASS_LISTS = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")


def _canonical_epc(value: str) -> str:
    value = value.strip()
    return _gs1_key_uri(value) or value


def event_epcs(event: Mapping[str, Any]) -> dict[str, list[str]]:
    """Every EPC an event touches, by role: epc, parent, child, input, output, class.

    Values are canonical Digital Links where the identifier is a GS1 key, else as written;
    duplicates are dropped, first occurrence order kept. Every role is present (maybe empty).
    """
    # Runs for every stored event: absent keys and one-element lists (most of them) take the
    # short way.
    get = event.get
    out: dict[str, list[str]] = {}
    for key, role in _EPC_ROLES:
        value = get(key)
        if isinstance(value, str):
            out[role] = [_canonical_epc(value)]
        elif not value or not isinstance(value, list):
            out[role] = []
        elif len(value) == 1:
            out[role] = [_canonical_epc(value[0])] if isinstance(value[0], str) else []
        else:
            out[role] = list(dict.fromkeys(_canonical_epc(v) for v in value
                                           if isinstance(v, str)))
    classes: list[str] = []
    for key in _CLASS_LISTS:
        for element in get(key) or ():
            if isinstance(element, dict) and isinstance(element.get("epcClass"), str):
                classes.append(_canonical_epc(element["epcClass"]))
    out["class"] = list(dict.fromkeys(classes)) if classes else classes
    return out
