"""EPCIS 2.0 discovery: `GET /` (top-level resources) and `OPTIONS` on the root."""

from __future__ import annotations

from fastapi import APIRouter, Response

from gateway.responses import OrjsonResponse

__all__ = ["EPCIS_HEADERS", "router"]

# Versions this gateway speaks, sent on every EPCIS response (REST binding, components/headers).
EPCIS_HEADERS = {"GS1-EPCIS-Version": "2.0.0", "GS1-CBV-Version": "2.0.0"}
DISCOVERY_HEADERS = {
    **EPCIS_HEADERS,
    "GS1-EPCIS-Min": "2.0.0", "GS1-EPCIS-Max": "2.0.0",
    "GS1-CBV-Min": "2.0.0", "GS1-CBV-Max": "2.0.0",
    "GS1-EPC-Format": "Always_GS1_Digital_Link",
    "GS1-Vendor-Version": "zhenzhi",
}

router = APIRouter(tags=["Discovery"])


@router.get("/", summary="Top-level resources of this EPCIS repository", response_model=None,
            responses={200: {"description": "Top-level resources", "content": {
                "application/json": {"schema": {
                    "type": "object", "required": ["type", "member"],
                    "properties": {"@context": {}, "type": {"type": "string"},
                                   "member": {"type": "array", "items": {"type": "string"}}},
                }}}}})
async def top_level() -> OrjsonResponse:
    body = {
        "@context": "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
        "type": "Collection",
        "member": ["capture", "events", "epcs"],
    }
    return OrjsonResponse(body, headers=EPCIS_HEADERS)


@router.options("/", status_code=204, summary="EPCIS and CBV versions this server speaks",
                response_class=Response)
async def discover() -> Response:
    return Response(status_code=204, headers={**DISCOVERY_HEADERS, "Allow": "OPTIONS, GET"})
