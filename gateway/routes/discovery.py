"""EPCIS 2.0 discovery: `GET /` (top-level resources) and `OPTIONS` on the root."""

from __future__ import annotations

from fastapi import APIRouter, Response

from gateway.negotiation import VERSION_HEADERS
from gateway.problems import problem_responses
from gateway.responses import OrjsonResponse
from ledger import __version__

__all__ = ["DISCOVERY_HEADERS", "EPCIS_HEADERS", "TOP_LEVEL", "options_headers", "router"]

# Versions this gateway speaks, sent on every EPCIS response (REST binding, components/headers).
EPCIS_HEADERS = {"GS1-EPCIS-Version": "2.0.0", "GS1-CBV-Version": "2.0.0"}
# What OPTIONS announces, and only what is true: EPCIS and CBV 2.0 (queries answer 2.0 only;
# EPCIS 1.2 XML is accepted by capture alone, see OPTIONS /capture; a request whose
# GS1-EPCIS-Min/Max or GS1-CBV-Min/Max exclude 2.0.0 is answered 406). No `GS1-Extensions`
# (none is supported). `GS1-EPC-Format` says how a resource writes EPCs: resources that answer
# events honour the request's `GS1-EPC-Format` and, for XML, `GS1-CBV-XML-Format`
# (`gateway.negotiation`), so they announce `No_Preference` for both (the server has none of its
# own: it writes what the client asks for); the others write EPCs as captured
# (`Never_Translates`) or, the `/epcs` listing, as the store's canonical Digital Links.
DISCOVERY_HEADERS = {
    **EPCIS_HEADERS,
    "GS1-EPCIS-Min": "2.0.0", "GS1-EPCIS-Max": "2.0.0",
    "GS1-CBV-Min": "2.0.0", "GS1-CBV-Max": "2.0.0",
    "GS1-EPC-Format": "Never_Translates",
    "GS1-Vendor-Version": f"zhenzhi-{__version__}",
}
# The top-level resources `GET /` lists: each is served (GET at least) by this gateway.
TOP_LEVEL = ["queries", "capture", "events", "eventTypes", "epcs", "bizSteps", "bizLocations",
             "readPoints", "dispositions"]


def options_headers(*, epc_format: str = "Never_Translates",
                    answers_events: bool = False) -> dict[str, str]:
    """The discovery headers of an OPTIONS answer (`epc_format`: how that resource writes
    EPCs; `answers_events`: it answers EPCISQueryDocuments, which honour `GS1-EPC-Format` and
    `GS1-CBV-XML-Format`)."""
    if answers_events:
        return {**DISCOVERY_HEADERS, "GS1-EPC-Format": "No_Preference",
                "GS1-CBV-XML-Format": "No_Preference"}
    return {**DISCOVERY_HEADERS, "GS1-EPC-Format": epc_format}

router = APIRouter(tags=["Discovery"])


@router.get("/", summary="Top-level resources of this EPCIS repository", response_model=None,
            responses={200: {"description": "Top-level resources", "content": {
                "application/json": {"schema": {
                    "type": "object", "required": ["type", "member"],
                    "properties": {"@context": {}, "type": {"type": "string"},
                                   "member": {"type": "array", "items": {"type": "string"}}},
                }}}}, **problem_responses(400, 406)}, dependencies=VERSION_HEADERS)
async def top_level() -> OrjsonResponse:
    body = {
        "@context": "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
        "type": "Collection",
        "member": TOP_LEVEL,
    }
    return OrjsonResponse(body, headers=EPCIS_HEADERS)


@router.options("/", status_code=204, summary="EPCIS and CBV versions this server speaks",
                response_class=Response)
async def discover() -> Response:
    # The repository as a whole: its query answers honour the format headers.
    return Response(status_code=204,
                    headers={**options_headers(answers_events=True), "Allow": "OPTIONS, GET"})
