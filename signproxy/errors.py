"""The proxy's own refusals: each a `LedgerError` with its problem type and status, answered as
RFC 9457 problem+json with the EPCIS exception it stands for (`epcisException`), like the
gateway's. Nothing is forwarded when one is raised.

    LedgerError
     ├── InvalidInputError
     │    └── (the ledger's own: InvalidDocumentError, InvalidXmlError, NotAnEventError, …)
     ├── BrowserOriginError           403  a request from a web page (`Origin`)
     ├── OutsideBindingError          404  not a path of the EPCIS 2.0 REST binding
     ├── MethodNotAllowedError        405  a path of the binding, not with this method
     ├── BodyTooLargeError            413  over the gateway's GS1-EPCIS-Capture-File-Size-Limit
     ├── CaptureLimitExceededError    413  more events than the gateway's GS1-EPCIS-Capture-Limit
     ├── UnsupportedMediaTypeError    415  a capture that is neither JSON nor XML
     ├── UnknownHostError             421  a `Host` the proxy is not reached by (DNS rebinding)
     └── GatewayUnreachableError      502  the gateway did not answer
"""

from __future__ import annotations

from typing import Any

from ledger.errors import AuthorizationError, LedgerError, NotFoundError

__all__ = [
    "BodyTooLargeError", "BrowserOriginError", "CaptureLimitExceededError", "GatewayUnreachableError",
    "MethodNotAllowedError", "OutsideBindingError", "UnknownHostError",
    "UnsupportedMediaTypeError", "problem_of",
]

_EPCIS_EXCEPTIONS = {
    400: "ValidationException", 401: "SecurityException", 403: "SecurityException",
    404: "NoSuchNameException", 405: "ImplementationException",
    413: "CaptureLimitExceededException", 415: "UnsupportedMediaTypeException",
    421: "SecurityException",
    502: "ImplementationException",
}


class BrowserOriginError(AuthorizationError):
    slug = "browser-origin"
    title = "Requests from web pages are refused"


class OutsideBindingError(NotFoundError):
    slug = "outside-epcis-binding"
    title = "Not a path of the EPCIS 2.0 REST binding"


class MethodNotAllowedError(LedgerError):
    slug = "method-not-allowed"
    title = "Method not allowed on this path"
    status = 405


class BodyTooLargeError(LedgerError):
    slug = "body-too-large"
    title = "Request body too large"
    status = 413


class CaptureLimitExceededError(LedgerError):
    slug = "capture-limit-exceeded"
    title = "Too many events in one capture"
    status = 413


class UnsupportedMediaTypeError(LedgerError):
    slug = "unsupported-media-type"
    title = "Unsupported media type"
    status = 415


class UnknownHostError(LedgerError):
    slug = "unknown-host"
    title = "The proxy is not reached by this name"
    status = 421  # Misdirected Request (RFC 9110 §15.5.20)


class GatewayUnreachableError(LedgerError):
    slug = "gateway-unreachable"
    title = "The gateway did not answer"
    status = 502


def problem_of(error: LedgerError, instance: str) -> dict[str, Any]:
    """The problem+json body of a refusal, naming the proxy as the one that refused."""
    problem = error.to_problem(instance=instance)
    problem.setdefault("epcisException",
                       _EPCIS_EXCEPTIONS.get(error.status, "ImplementationException"))
    problem["refusedBy"] = "zhenzhi-sign-proxy"
    return problem
