"""The capture pipeline: validate ▶ hash ▶ recover ▶ role check ▶ store (+ outbox).

`Intake(store, chain_view, domain).accept(document, signature)` is everything the gateway does
for `POST /capture`, with no web framework, so the CLI and tests run the very same code. It is
synchronous and cheap per event: one JSON parse and schema check, one sha-256 per event, one
Merkle tree, one signature recovery per document, role checks against chain reads cached per
block, then one database transaction that stores the events and queues the capture for
anchoring.

Nothing is stored unless every check passes (`rollback`, the EPCIS default). With `proceed`,
events whose required role the signer's organisation lacks are left out and reported, and the
rest are stored: each event keeps its own proof into the signed root, so a subset is still
verifiable.

Errors (all `LedgerError`, so the gateway maps them to problem+json):

    InvalidDocumentError (400)   malformed JSON-LD or schema failure (from ledger.epcis.document)
    CaptureLimitExceededError    more events than the capture limit (413)
    UnknownOrganisationError     the organisation named held no role at signedAt (403, checked
                                 from the headers before the body is parsed)
    InvalidCaptureError (400)    malformed signature headers/fields (from ledger.proofs.signing)
    InvalidSignatureError (403)  signature malformed, high-s or not recoverable
    UnknownSigningKeyError (403) the recovered key is not registered to that organisation
    RevokedSigningKeyError (403) the key was not valid at `signedAt` (revoked or not yet added)
    MissingRoleError (403)       the organisation lacks the role an event's bizStep needs
    (store) replayed nonce (409)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ledger.chain.roles import required_role
from ledger.epcis.document import InvalidDocumentError, parse_document
from ledger.epcis.event_hash import event_hashes
from ledger.epcis.json_text import DEFAULT_MAX_JSON_DEPTH
from ledger.errors import AuthorizationError, LedgerError
from ledger.proofs.capture import CaptureSignature, SignedCapture, events_tree
from ledger.proofs.signing import (
    HEADER_ORG,
    HEADER_SIGNED_AT,
    CaptureDomain,
    build_signed_capture,
    signature_from_headers,
)

__all__ = [
    "CaptureLimitExceededError", "CheckedCapture", "ErrorBehaviour", "Intake", "IntakeResult",
    "capture_record",
    "MissingRoleError", "RevokedSigningKeyError", "SignerAuthority", "UnknownOrganisationError",
    "UnknownSigningKeyError",
]

ErrorBehaviour = Literal["rollback", "proceed"]
_CAPTURE_ID = re.compile(r"[0-9a-f]{64}")


class CaptureLimitExceededError(LedgerError):
    slug = "capture-limit-exceeded"
    title = "Too many events in one capture"
    status = 413


class UnknownOrganisationError(AuthorizationError):
    slug = "unknown-organisation"
    title = "Organisation may not capture"


class UnknownSigningKeyError(AuthorizationError):
    slug = "unknown-signing-key"
    title = "Signing key not registered to the organisation"


class RevokedSigningKeyError(AuthorizationError):
    slug = "revoked-signing-key"
    title = "Signing key not valid at signing time"


class MissingRoleError(AuthorizationError):
    slug = "missing-role"
    title = "Organisation lacks the role these events need"


class SignerAuthority(Protocol):
    """Chain reads the intake needs: `ledger.chain.view.ChainView` (cached per block)."""

    def sync(self) -> int:
        """Refresh the pinned block if it may be stale; returns it."""

    def key_verdict(self, org: bytes, key: str, at: int) -> str:
        """"valid", "unknown" (not a key of `org`) or why it was not valid at unix time `at`."""

    def was_valid_signer(self, org: bytes, key: str, role: str, at: int) -> bool:
        """`key` was valid for `org` at `at` and `org` holds `role`."""

    def org_roles(self, org: bytes, at: int | None = None) -> frozenset[str]:
        """The roles `org` held at unix time `at` (now if None)."""

    def signers_at(self, org: bytes, at: int) -> frozenset[str]:
        """The keys (lower-case addresses) valid for `org` at `at`."""


class CaptureStore(Protocol):
    def accept_capture(self, capture: SignedCapture, *, keep: Any = None) -> Any: ...


class CaptureSink(Protocol):
    """`ledger.pipeline.committer.CaptureCommitter`: group commits of concurrent captures."""

    def submit(self, capture: SignedCapture, keep: Any = None) -> Future[Any]: ...


@dataclass(frozen=True)
class IntakeResult:
    """What the intake did with one document."""

    capture: SignedCapture  # the capture as stored (with `proceed`, only the accepted events)
    stored: Any  # the store's AcceptResult
    behaviour: ErrorBehaviour
    rejected: tuple[dict[str, Any], ...] = field(default=())  # per-event problems (proceed)

    @property
    def capture_id(self) -> str:
        return self.capture.digest.hex()

    @property
    def success(self) -> bool:
        return not self.rejected


class Intake:
    """Validate, hash, recover, authorise and store signed EPCIS captures."""

    def __init__(self, store: CaptureStore, chain_view: SignerAuthority, domain: CaptureDomain,
                 *, max_bytes: int = 2 * 1024 * 1024, max_events: int = 500,
                 max_depth: int = DEFAULT_MAX_JSON_DEPTH, max_values: int | None = None,
                 committer: CaptureSink | None = None) -> None:
        self.store = store
        self.committer = committer
        self.chain_view = chain_view
        self.domain = domain
        self.max_bytes = max_bytes
        self.max_events = max_events
        self.max_depth = max_depth
        self.max_values = max_values

    # -- the steps, each usable alone ---------------------------------------------------------

    def _org_and_time(self, headers: Mapping[str, str]) -> tuple[bytes, int] | None:
        found = {k.lower(): v for k, v in headers.items()}
        try:
            org = bytes.fromhex(found[HEADER_ORG.lower()].removeprefix("0x").removeprefix("0X"))
            at = int(found[HEADER_SIGNED_AT.lower()])
        except (KeyError, ValueError):
            return None  # malformed or missing: signature_from_headers names the field later
        if len(org) != 32 or not 0 <= at < 1 << 64:
            return None
        return org, at

    def admit(self, headers: Mapping[str, str]) -> None:
        """The check the signature headers allow before the body is parsed: the organisation
        they name held a role at `signedAt` (chain reads cached per block). Without it, no
        signature it made could be accepted, so parsing and hashing its body would be work
        done for nobody. The key itself is checked after the parse: the signature covers the
        events root, so the signer is only known once the body is hashed."""
        found = self._org_and_time(headers)
        if found is None:
            return
        org, at = found
        self.chain_view.sync()
        if not self.chain_view.org_roles(org, at):
            org_hex = "0x" + org.hex()
            raise UnknownOrganisationError(
                f"organisation {org_hex} held no role at signedAt={at}: nothing it signed then "
                "can be captured", org=org_hex, signedAt=at)

    def parse(self, document: bytes | str | Mapping[str, Any]) -> Any:
        """Parse and validate an EPCISDocument (the size limit is checked before parsing)."""
        try:
            doc = parse_document(document, max_bytes=self.max_bytes, max_events=self.max_events,
                                 max_depth=self.max_depth, max_values=self.max_values)
        except InvalidDocumentError as exc:
            if "max_events" in exc.fields:
                # Too many events is a limit (413, like GS1-EPCIS-Capture-Limit), not bad input.
                raise CaptureLimitExceededError(
                    f"the document has {exc.fields.get('count')} events; at most "
                    f"{self.max_events} per capture", limit=self.max_events,
                    count=exc.fields.get("count")) from None
            raise
        except (TypeError, AttributeError, KeyError) as exc:
            # A document whose values have the wrong JSON types (e.g. an object where a string
            # belongs) must be refused as input, never fail as a server error.
            raise InvalidDocumentError(
                f"the document has a value of the wrong JSON type ({exc})") from None
        if not doc.events:
            raise InvalidDocumentError("the document holds no events: nothing to capture",
                                       pointer="/epcisBody/eventList")
        return doc

    def hash_events(self, doc: Any) -> list[bytes]:
        """Event hashes in document order (a document's ignoreFields are honoured)."""
        return event_hashes(doc)

    def signature_for(self, signature: CaptureSignature | Mapping[str, str],
                      event_ids: Sequence[bytes]) -> CaptureSignature:
        if isinstance(signature, CaptureSignature):
            return signature
        return signature_from_headers(signature, events_root=events_tree(event_ids).root,
                                      count=len(event_ids))

    def authorise(self, capture: SignedCapture, behaviour: ErrorBehaviour = "rollback"
                  ) -> tuple[list[int], list[dict[str, Any]]]:
        """Indices of the events the signer may capture, and a problem for each other one."""
        org = capture.signature.org
        at = capture.signature.signed_at
        view = self.chain_view
        view.sync()
        verdict = view.key_verdict(org, capture.signer, at)
        org_hex = "0x" + org.hex()
        if verdict == "unknown":
            raise UnknownSigningKeyError(
                f"key {capture.signer} is not a signing key of organisation {org_hex}",
                org=org_hex, signer=capture.signer)
        if verdict != "valid":
            raise RevokedSigningKeyError(
                f"key {capture.signer} of organisation {org_hex} was not valid at "
                f"signedAt={at} ({verdict})",
                org=org_hex, signer=capture.signer, signedAt=at, reason=str(verdict))
        granted: dict[str, bool] = {}
        allowed: list[int] = []
        problems: list[dict[str, Any]] = []
        for index, event in enumerate(capture.events):
            role = required_role(event)
            ok = granted.get(role)
            if ok is None:
                ok = granted[role] = bool(view.was_valid_signer(org, capture.signer, role, at))
            if ok:
                allowed.append(index)
                continue
            error = MissingRoleError(
                f"event {index} (bizStep {event.get('bizStep')!r}) needs role {role}, which "
                f"organisation {org_hex} does not hold",
                org=org_hex, role=role, eventIndex=index, eventID=_ni(capture.event_ids[index]))
            if behaviour == "rollback":
                raise error
            problems.append(error.to_problem())
        return allowed, problems

    # -- the pipeline -------------------------------------------------------------------------

    def check(self, document: bytes | str | Mapping[str, Any],
              signature: CaptureSignature | Mapping[str, str], *,
              behaviour: ErrorBehaviour = "rollback",
              expected_signer: str | None = None,
              isolate: Executor | None = None) -> CheckedCapture:
        """Every step but storing: admit (from the headers), parse, hash, recover, authorise.
        Raises a `LedgerError`.

        `isolate` (a process pool): parse, hash and recover there (`recover_capture`), so the
        CPU they take, seconds for a large crafted document, is not taken from this process's
        GIL; the events come back only if a key valid for the organisation signed them."""
        found = None if isinstance(signature, CaptureSignature) else self._org_and_time(signature)
        if not isinstance(signature, CaptureSignature):
            self.admit(signature)
        if isolate is not None and found is not None and expected_signer is None:
            org, at = found
            signers = self.chain_view.signers_at(org, at)
            outcome = isolate.submit(
                recover_capture, document, dict(signature), self.domain, signers,  # type: ignore[arg-type]
                max_bytes=self.max_bytes, max_events=self.max_events,
                max_depth=self.max_depth, max_values=self.max_values).result()
            if isinstance(outcome, SignedCapture):
                signed = outcome
            else:  # a key not valid for the organisation signed it: say which way it is not
                signed = SignedCapture(signature_from_headers(  # type: ignore[arg-type]
                    signature, events_root=bytes(32), count=0), outcome, bytes(32), (), ())
        else:
            doc = self.parse(document)
            event_ids = self.hash_events(doc)
            sig = self.signature_for(signature, event_ids)
            signed = build_signed_capture(list(doc.events), doc.context, event_ids, sig,
                                          self.domain, expected_signer=expected_signer)
        allowed, problems = self.authorise(signed, behaviour)
        if not allowed:
            raise MissingRoleError(
                "no event of this capture may be signed by this organisation",
                org="0x" + signed.signature.org.hex(), errors=problems)
        # `keep` stores only the allowed events; the capture row still records every signed
        # id, so each stored event's proof into the signed root can be rebuilt.
        return CheckedCapture(signed, behaviour, allowed if problems else None, tuple(problems))

    def submit(self, checked: CheckedCapture) -> Future[Any]:
        """Store a checked capture: through the committer (a group commit) if there is one.
        The future resolves to the store's `AcceptResult` once the capture is committed."""
        if self.committer is not None:
            return self.committer.submit(checked.capture, checked.keep)
        future: Future[Any] = Future()
        try:
            future.set_result(self.store.accept_capture(checked.capture, keep=checked.keep))
        except LedgerError as exc:
            future.set_exception(exc)
        return future

    def accept(self, document: bytes | str | Mapping[str, Any],
               signature: CaptureSignature | Mapping[str, str], *,
               behaviour: ErrorBehaviour = "rollback",
               expected_signer: str | None = None) -> IntakeResult:
        """Run the whole pipeline; raise a `LedgerError` and store nothing if it fails.

        `signature` is either a parsed `CaptureSignature` (e.g. from a signed capture file) or
        the HTTP headers (`Zhenzhi-Capture-*`), whose root and count come from the document.
        Returns once the capture is committed.
        """
        checked = self.check(document, signature, behaviour=behaviour,
                             expected_signer=expected_signer)
        return checked.result(self.submit(checked).result())


def recover_capture(document: bytes | str, headers: Mapping[str, str], domain: CaptureDomain,
                    signers: frozenset[str], *, max_bytes: int, max_events: int,
                    max_depth: int, max_values: int | None) -> SignedCapture | str:
    """Parse, hash and recover a capture (in a worker process: `Intake.check(isolate=...)`).
    Returns the `SignedCapture` if its signer is one of `signers` (lower-case addresses), else
    only the signer's address: the events of a capture nobody valid signed never leave the
    worker. Raises the parse and signature errors of `Intake.check`."""
    intake = Intake(None, None, domain, max_bytes=max_bytes,  # type: ignore[arg-type]
                    max_events=max_events, max_depth=max_depth, max_values=max_values)
    doc = intake.parse(document)
    event_ids = intake.hash_events(doc)
    sig = intake.signature_for(headers, event_ids)
    signed = build_signed_capture(list(doc.events), doc.context, event_ids, sig, domain)
    return signed if signed.signer.lower() in signers else signed.signer


@dataclass(frozen=True)
class CheckedCapture:
    """A capture that passed every check and awaits storing."""

    capture: SignedCapture
    behaviour: ErrorBehaviour
    keep: list[int] | None  # with `proceed`, the indices of the events to store
    rejected: tuple[dict[str, Any], ...]

    def result(self, stored: Any) -> IntakeResult:
        return IntakeResult(capture=self.capture, stored=stored, behaviour=self.behaviour,
                            rejected=self.rejected)


def capture_record(store: Any, capture_id: str) -> dict[str, Any] | None:
    """What a capture job reports (None: no such capture); see `Store.get_capture`."""
    if not isinstance(capture_id, str) or not _CAPTURE_ID.fullmatch(capture_id):
        return None
    record = store.get_capture(capture_id)
    if record is None:
        return None
    return {
        "signer": record.signer, "org": record.org, "nonce": record.nonce,
        "received_ms": record.received_ms, "event_ids": list(record.event_ids),
        "left_out": list(record.left_out), "anchored": record.anchored,
    }


def _ni(event_id: bytes) -> str:
    return f"ni:///sha-256;{event_id.hex()}?ver=CBV2.0"
