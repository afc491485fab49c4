"""Response classes serialised with orjson (several times faster than the stdlib encoder)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

__all__ = ["JSONLDResponse", "OrjsonResponse", "ProblemResponse", "XMLResponse"]

_OPTS = orjson.OPT_NON_STR_KEYS


class OrjsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=_OPTS)


class JSONLDResponse(OrjsonResponse):
    """EPCIS documents: JSON-LD is JSON, and EPCIS clients send `Accept: application/json`."""

    media_type = "application/json"


class ProblemResponse(OrjsonResponse):
    media_type = "application/problem+json"


class XMLResponse(Response):
    """EPCIS XML documents, already serialised (`ledger.epcis.xml_writer`)."""

    media_type = "application/xml"
