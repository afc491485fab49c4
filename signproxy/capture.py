"""The captures the proxy signs, parsed exactly as the gateway parses them (the ledger's own
parsers: `ledger.epcis.document`, `ledger.epcis.xml`, `ledger.epcis.event_document`), so the
events it commits to are the events the gateway will find in the same bytes."""

from __future__ import annotations

from typing import Any, Literal

from ledger.epcis.document import InvalidDocumentError, parse_document
from ledger.epcis.event_document import event_document
from ledger.epcis.json_text import DEFAULT_MAX_JSON_DEPTH
from ledger.epcis.xml import parse_xml_document
from signproxy.errors import CaptureLimitExceededError, UnsupportedMediaTypeError

__all__ = ["Syntax", "parse_capture", "parse_event", "syntax_of"]

Syntax = Literal["json", "xml"]
_JSON_TYPES = ("application/json", "application/ld+json")
_XML_TYPES = ("application/xml", "text/xml")
_MAX_JSON_VALUES = 100_000  # the gateway's default capture_max_json_values


def syntax_of(content_type: str | None, *, xml: bool = True) -> Syntax:
    """JSON or XML by the media type (no Content-Type: JSON, as the gateway reads it)."""
    media = (content_type or "application/json").split(";", 1)[0].strip().lower()
    if media in _JSON_TYPES:
        return "json"
    if xml and media in _XML_TYPES:
        return "xml"
    accepted = ", ".join(_JSON_TYPES + (_XML_TYPES if xml else ()))
    raise UnsupportedMediaTypeError(f"this capture takes {accepted}, not {content_type!r}",
                                    contentType=content_type)


def parse_capture(body: bytes, syntax: Syntax, *, max_bytes: int, max_events: int) -> Any:
    """The EPCISDocument of a `POST /capture` body, or the ledger's refusal (400), or 413 for
    more events than the gateway takes in one capture."""
    try:
        if syntax == "xml":
            doc = parse_xml_document(body, max_bytes=max_bytes, max_events=max_events)
        else:
            doc = parse_document(body, max_bytes=max_bytes, max_events=max_events,
                                 max_depth=DEFAULT_MAX_JSON_DEPTH, max_values=_MAX_JSON_VALUES)
    except InvalidDocumentError as exc:
        if "max_events" in exc.fields:
            raise CaptureLimitExceededError(
                f"the document has {exc.fields.get('count')} events; the gateway takes at most "
                f"{max_events} per capture", limit=max_events,
                count=exc.fields.get("count")) from None
        raise
    except (TypeError, AttributeError, KeyError) as exc:
        raise InvalidDocumentError(
            f"the document has a value of the wrong JSON type ({exc})") from None
    if not doc.events:
        raise InvalidDocumentError("the document holds no events: nothing to capture",
                                   pointer="/epcisBody/eventList")
    return doc


def parse_event(body: bytes, *, max_bytes: int) -> Any:
    """The one-event EPCISDocument of a `POST /events` body, as the gateway builds it."""
    document = event_document(body, max_depth=DEFAULT_MAX_JSON_DEPTH, max_values=_MAX_JSON_VALUES)
    return parse_capture(document, "json", max_bytes=max_bytes, max_events=1)
