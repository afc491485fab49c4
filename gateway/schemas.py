"""HTTP shapes of the gateway (request and response bodies), separate from the domain model."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.problems import ProblemDetails

__all__ = ["AnchorInfo", "CaptureDomainOut", "CaptureJob", "EPCIS_DOCUMENT_SCHEMA",
           "QUERY_DOCUMENT_SCHEMA"]


class AnchorInfo(BaseModel):
    """Where an event stands on the chain (Zhenzhi extension)."""

    eventID: str
    anchored: bool
    status: str = Field(description="e.g. pending, anchored")
    txHash: str | None = None
    batchRoot: str | None = None
    blockNumber: int | None = None


class CaptureJob(BaseModel):
    """EPCIS 2.0 capture job, plus Zhenzhi extensions (signer, org, eventIDs, anchoring).

    Capture is synchronous here: a job exists only once its events are stored, so `running`
    is always false; `success` is false only for `proceed` captures that left events out.
    """

    model_config = ConfigDict(json_schema_extra={"example": {
        "captureID": "5b1f…", "createdAt": "2024-05-01T08:00:00Z",
        "finishedAt": "2024-05-01T08:00:00Z", "running": False, "success": True,
        "captureErrorBehaviour": "rollback", "errors": [],
        "eventIDs": ["ni:///sha-256;df7b…?ver=CBV2.0"], "signer": "0xAb…", "org": "0x…",
    }})

    captureID: str
    createdAt: str | None = None
    finishedAt: str | None = None
    running: bool = False
    success: bool = True
    captureErrorBehaviour: Literal["rollback", "proceed"] = "rollback"
    errors: list[ProblemDetails] = Field(default_factory=list)
    eventIDs: list[str] = Field(default_factory=list)
    signer: str | None = None
    org: str | None = None
    nonce: str | None = None
    anchored: bool | None = Field(default=None, description="every event anchored on chain")
    anchors: list[AnchorInfo] | None = Field(
        default=None, description="per-event anchoring status (with ?anchors=true)")


class CaptureDomainOut(BaseModel):
    """The EIP-712 domain captures must be signed in (Zhenzhi extension)."""

    name: str
    version: str
    chainId: int
    verifyingContract: str
    primaryType: str = "Capture"
    types: dict[str, list[dict[str, str]]]
    captureLimit: int
    fileSizeLimit: int
    org: str | None = Field(default=None, description="organisation of `signer`, if asked")


# OpenAPI description of an EPCISDocument body: the outline of the official JSON Schema
# (the full schema is enforced by the ledger, which answers 400 with a JSON pointer).
EPCIS_DOCUMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "EPCISDocument",
    "description": "An EPCIS 2.0 EPCISDocument in JSON-LD "
                   "(https://ref.gs1.org/standards/epcis/2.0.0/epcis-json-schema.json).",
    "required": ["@context", "type", "schemaVersion", "creationDate", "epcisBody"],
    "properties": {
        "@context": {"description": "JSON-LD context"},
        "type": {"type": "string", "enum": ["EPCISDocument"]},
        "schemaVersion": {"type": "string", "example": "2.0"},
        "creationDate": {"type": "string", "format": "date-time"},
        "epcisBody": {
            "type": "object",
            "required": ["eventList"],
            "properties": {"eventList": {"type": "array", "items": {"type": "object"}}},
        },
    },
}

QUERY_DOCUMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "EPCISQueryDocument",
    "required": ["@context", "type", "schemaVersion", "creationDate", "epcisBody"],
    "properties": {
        "@context": {},
        "type": {"type": "string", "enum": ["EPCISQueryDocument"]},
        "schemaVersion": {"type": "string"},
        "creationDate": {"type": "string", "format": "date-time"},
        "epcisBody": {
            "type": "object",
            "required": ["queryResults"],
            "properties": {"queryResults": {
                "type": "object",
                "required": ["queryName", "resultsBody"],
                "properties": {
                    "queryName": {"type": "string"},
                    "resultsBody": {
                        "type": "object",
                        "required": ["eventList"],
                        "properties": {"eventList": {"type": "array",
                                                     "items": {"type": "object"}}},
                    },
                },
            }},
        },
    },
}
