"""The one exception tree of Zhenzhi.

    LedgerError                      (problem type, HTTP status, structured fields)
     ├── InvalidInputError           400: a value the caller sent is malformed
     │    └── ... (per module: InvalidDocumentError, InvalidIdentifierError, ...)
     ├── AuthorizationError          403: a signature or role does not allow this
     ├── NotFoundError               404: an id that is not known
     ├── ConflictError               409: contradicts what is already recorded
     ├── ChainError                  502: the chain did not answer or rejected a call
     └── BuildError                  an artifact could not be built or deployed

Each subclass names a stable problem `type` (a URN) and carries structured fields; one handler
in the gateway turns any LedgerError into RFC 9457 application/problem+json. The CLI prints
`str(error)`, one plain line.
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_PREFIX = "urn:zhenzhi:problem:"


class LedgerError(Exception):
    """Base of every domain failure. Subclasses set `slug`, `title` and `status`."""

    slug: ClassVar[str] = "ledger-error"
    title: ClassVar[str] = "Ledger error"
    status: ClassVar[int] = 500

    def __init__(self, detail: str, **fields: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fields = fields

    @property
    def type(self) -> str:
        return PROBLEM_PREFIX + self.slug

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        problem: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            problem["instance"] = instance
        problem.update({k: v for k, v in self.fields.items() if k not in problem})
        return problem

    def __str__(self) -> str:
        return self.detail


class InvalidInputError(LedgerError, ValueError):
    slug = "invalid-input"
    title = "Invalid input"
    status = 400


class AuthorizationError(LedgerError, PermissionError):
    slug = "not-authorized"
    title = "Not authorized"
    status = 403


class NotFoundError(LedgerError, LookupError):
    slug = "not-found"
    title = "Not found"
    status = 404


class ConflictError(LedgerError):
    slug = "conflict"
    title = "Conflict"
    status = 409


class ChainError(LedgerError, ConnectionError):
    slug = "chain-unavailable"
    title = "Chain unavailable"
    status = 502


class BuildError(LedgerError, RuntimeError):
    slug = "build-failed"
    title = "Build failed"
    status = 500
