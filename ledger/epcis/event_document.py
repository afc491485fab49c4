"""The EPCISDocument that holds the one event of a `POST /events` body.

The binding's `POST /events` takes a bare event; Zhenzhi signs and checks documents. The gateway
wraps the event here before checking its signature, and a signer (the sign-proxy) wraps it the
same way before signing, so both commit to the same events under the same `@context` and
compute the same event id.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from ledger.epcis.json_text import check_json_text
from ledger.errors import InvalidInputError

__all__ = ["DOCUMENT_CONTEXT", "NotAnEventError", "event_document"]

DOCUMENT_CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]


class NotAnEventError(InvalidInputError):
    """EPCIS ValidationException: `POST /events` takes one event, as a JSON object."""

    slug = "not-an-event"
    title = "Not one EPCIS event"


def event_document(body: bytes, *, max_depth: int, max_values: int) -> bytes:
    """The EPCISDocument (JSON bytes) holding the one event of `body`, its `@context` (or the
    standard's) moved to the document. The JSON text is checked before it is parsed, as the
    intake checks a document's; anything but one event object is a NotAnEventError."""
    # One level less: the document adds two around the event (document, body, list).
    check_json_text(body, max_depth=max(1, max_depth - 3), max_values=max_values)
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise NotAnEventError(f"the body is not JSON: {exc}", pointer="") from None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise NotAnEventError("POST /events takes one EPCIS event: a JSON object with a "
                              "`type` (use POST /capture for an EPCISDocument)", pointer="")
    if event["type"] in ("EPCISDocument", "EPCISQueryDocument"):
        raise NotAnEventError("this is a document, not an event: POST it to /capture",
                              pointer="/type")
    context = event.pop("@context", None) or DOCUMENT_CONTEXT
    return orjson.dumps({
        "@context": context, "type": "EPCISDocument", "schemaVersion": "2.0",
        "creationDate": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "epcisBody": {"eventList": [event]}})
