"""RFC 9457 problem details: the one place where failures become HTTP responses.

Every `LedgerError` carries its problem `type`, status and fields; `problem_handler` turns it,
and FastAPI's request-validation errors and Starlette's 404/405/413, into
`application/problem+json`. Routes raise domain errors and never build error responses.

Each problem also names the EPCIS 2.0 exception it corresponds to (`epcisException`), so an
EPCIS client that only knows the binding's exception names can still classify it.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict
from starlette.datastructures import URL
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from gateway.responses import ProblemResponse
from ledger.errors import (
    PROBLEM_PREFIX,
    ChainError,
    InvalidInputError,
    LedgerError,
    NotFoundError,
)

__all__ = [
    "BodyTooLargeError", "CaptureLimitError", "MethodNotAllowedError", "ProblemDetails",
    "RequestValidationProblem", "UnknownRouteError", "UnsupportedMediaTypeError",
    "install_problem_handler", "problem_handler", "problem_instance", "problem_responses",
]

log = logging.getLogger("zhenzhi.gateway")


class BodyTooLargeError(LedgerError):
    """The request body is larger than the gateway accepts; it was not parsed."""

    slug = "body-too-large"
    title = "Request body too large"
    status = 413


class CaptureLimitError(LedgerError):
    """More events in one capture than GS1-EPCIS-Capture-Limit allows."""

    slug = "capture-limit-exceeded"
    title = "Too many events in one capture"
    status = 413


class UnsupportedMediaTypeError(LedgerError):
    slug = "unsupported-media-type"
    title = "Unsupported media type"
    status = 415


class RequestValidationProblem(InvalidInputError):
    """A path, query or header parameter failed its declared schema."""

    slug = "invalid-request"
    title = "Invalid request parameters"


class UnknownRouteError(NotFoundError):
    slug = "no-such-resource"
    title = "No such resource"


class MethodNotAllowedError(LedgerError):
    slug = "method-not-allowed"
    title = "Method not allowed"
    status = 405


# EPCIS 2.0 exception names by status: the ones the REST binding's `components/responses`
# allow (its schemas enumerate them; 404 is `NoSuchNameException` there, 415
# `UnsupportedMediaTypeException`).
_EPCIS_EXCEPTION = {
    400: "ValidationException",
    401: "SecurityException",
    403: "SecurityException",
    404: "NoSuchNameException",
    405: "ImplementationException",
    406: "NotAcceptableException",
    409: "ResourceAlreadyExistsException",
    413: "CaptureLimitExceededException",
    415: "UnsupportedMediaTypeException",
    # Rate limits are the implementation's, not the standard's (GS1 has no exception for
    # them): the exception its binding uses for the server's own conditions, and `Retry-After`.
    429: "ImplementationException",
    501: "ImplementationException",
    502: "ImplementationException",
}


class ProblemDetails(BaseModel):
    """RFC 9457 problem details. Extra members carry the error's structured fields."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"example": {
        "type": PROBLEM_PREFIX + "invalid-capture-signature",
        "title": "Invalid capture signature",
        "status": 403,
        "detail": "signature s is in the upper half of the curve order",
        "instance": "/capture",
        "epcisException": "SecurityException",
        "reason": "high-s",
    }})

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    epcisException: str | None = None


_DESCRIPTIONS = {
    400: "Malformed input (JSON-LD, EPCIS schema, parameters, capture fields).",
    403: "The capture signature does not verify, the key is unknown or revoked, or the "
         "organisation lacks the role the events need.",
    404: "No such resource.",
    405: "Method not allowed on this resource.",
    406: "The request's GS1-EPCIS-Min/Max or GS1-CBV-Min/Max exclude 2.0.0, the only "
         "version this server writes (NotAcceptableException).",
    409: "Conflicts with what is recorded (e.g. a replayed capture nonce).",
    413: "Body larger than GS1-EPCIS-Capture-File-Size-Limit or more events than "
         "GS1-EPCIS-Capture-Limit; nothing was parsed or stored.",
    415: "The body is neither JSON(-LD) nor EPCIS XML.",
    501: "Not implemented by this server (the binding lets a server say so).",
    502: "The chain did not answer; nothing was stored. Retry later.",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries: each status answers with problem+json."""
    schema = ProblemDetails.model_json_schema()
    return {
        status: {
            "description": _DESCRIPTIONS.get(status, "Problem details (RFC 9457)."),
            "content": {"application/problem+json": {"schema": schema}},
        }
        for status in statuses
    }


def _as_ledger_error(exc: Exception) -> LedgerError:
    if isinstance(exc, LedgerError):
        return exc
    if isinstance(exc, RequestValidationError):
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
             "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        return RequestValidationProblem(
            f"{'.'.join(first['loc'])}: {first['msg']}", errors=errors)
    if isinstance(exc, StarletteHTTPException):
        if exc.status_code == 404:
            return UnknownRouteError("no such resource")
        if exc.status_code == 405:
            return MethodNotAllowedError("method not allowed on this resource")
        if exc.status_code == 413:
            return BodyTooLargeError(str(exc.detail))
        generic = LedgerError(str(exc.detail))
        generic.status = exc.status_code  # type: ignore[misc] - instance override of a ClassVar
        return generic
    if _is_chain_unreachable(exc):
        return ChainError("the chain did not answer; retry later",
                          reason=type(exc).__name__)
    return LedgerError("internal error")


def _is_chain_unreachable(exc: Exception) -> bool:
    """A chain read that never got an answer (node down, restarting, too slow). Chain reads go
    through web3's HTTP provider from many places (intake, verifier, resolver); this is where
    their transport failure becomes the documented 502, not an "internal error" 500."""
    from requests.exceptions import ConnectionError as RequestsConnectionError
    from requests.exceptions import Timeout
    from web3.exceptions import ProviderConnectionError

    return isinstance(exc, RequestsConnectionError | Timeout | ProviderConnectionError)


# RFC 3986 reserved and unreserved characters, and `%` (the path's own escapes stay as sent).
_URI_SAFE = "!#$&'()*+,/:;=?@[]~-._%"


def problem_instance(scope: Scope) -> str:
    """A problem's `instance`: the absolute URI of the request, path as sent, without its
    query. GS1's binding types it `format: uri` (absolute), where RFC 9457 would also take
    a relative reference."""
    path: bytes = scope.get("raw_path") or scope.get("path", "/").encode()
    root = scope.get("root_path", "").encode()
    if root and not path.startswith(root):
        path = root + path
    url = URL(scope=scope)
    return f"{url.scheme}://{url.netloc}{quote(path.split(b'?', 1)[0], safe=_URI_SAFE)}"


async def problem_handler(request: Request, exc: Exception) -> ProblemResponse:
    """The one handler: any failure → application/problem+json with a stable `type`."""
    error = _as_ledger_error(exc)
    if error.status >= 500 and error.status != 501:  # 501: a documented answer, not a fault
        log.error("%s %s failed: %r", request.method, request.url.path, exc,
                  exc_info=not isinstance(exc, LedgerError))
    body = error.to_problem(instance=problem_instance(request.scope))
    epcis = _EPCIS_EXCEPTION.get(error.status)
    if epcis and "epcisException" not in body:
        body["epcisException"] = epcis
    headers = dict(getattr(exc, "headers", None) or {})
    extra = getattr(request.app.state, "problem_headers", None)
    if error.status == 413 and extra:
        headers.update(extra)
    if error.status == 405 and isinstance(exc, StarletteHTTPException) and exc.headers:
        headers.update(exc.headers)
    return ProblemResponse(body, status_code=error.status, headers=headers or None)


def install_problem_handler(app: FastAPI) -> None:
    for kind in (LedgerError, RequestValidationError, StarletteHTTPException, Exception):
        app.add_exception_handler(kind, problem_handler)  # type: ignore[arg-type]
