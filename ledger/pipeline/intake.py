"""The capture pipeline: validate ▶ hash ▶ recover ▶ signedAt and key ▶ role and entitlement
check ▶ store (+ outbox).

`Intake(store, chain_view, domain).accept(document, signature)` is everything the gateway does
for `POST /capture`, with no web framework, so the CLI and tests run the very same code. It is
synchronous and cheap per event: one JSON parse and schema check, one sha-256 per event, one
salted commitment per event (a keccak per field, `ledger.proofs.disclosure`), one Merkle tree,
one signature recovery per document, role checks against chain reads cached per
block, then one database transaction that stores the events and queues the capture for
anchoring. The rules it applies are written once in gateway/README.md ("When a signature
counts", "Who may speak about an item"); an event about goods its signer does not own also
reads the stored history of those goods (`custody`).

Nothing is stored unless every check passes (`rollback`, the EPCIS default). With `proceed`,
events whose required role the signer's organisation lacks, or whose goods it may not speak
about, are left out and reported, and the
rest are stored: each event keeps its own proof into the signed root, so a subset is still
verifiable.

Errors (all `LedgerError`, so the gateway maps them to problem+json):

    InvalidDocumentError (400)   malformed JSON-LD or schema failure (from ledger.epcis.document)
    EventIdMismatchError (400)   an event names an `eventID` that is not its hash
    CaptureLimitExceededError    more events than the capture limit (413)
    UnknownOrganisationError     the organisation named held no role at signedAt (403, checked
                                 from the headers before the body is parsed)
    InvalidCaptureError (400)    malformed or missing signature or disclosure-seed headers/fields
                                 (from ledger.proofs.signing),
                                 or a signedAt past the store's signed 64-bit column
    ValueOutOfRangeError (400)   a value longer than its column (from ledger.store.store)
    InvalidSignatureError (403)  signature malformed, high-s or not recoverable
    UnknownSigningKeyError (403) the recovered key is not registered to that organisation
    SignedAtOutOfWindowError (400) `signedAt` further than `max_skew_s` from the gateway's clock
    RevokedSigningKeyError (403) the key was not valid at `signedAt` (revoked or not yet added),
                                 or is revoked now
    MissingRoleError (403)       the organisation lacks the role an event's bizStep needs
    NotEntitledError (403)       an event speaks about an item its signer may not speak about
                                 (`ledger.epcis.entitlement`: not its brand, not a receiver)
    NotDeclarantError (403)      an event carries an `errorDeclaration` and its signer is neither
                                 the organisation that signed the stored event nor a REGULATOR
    DeclaredEventUnknownError (404) an `errorDeclaration` about an event the store does not hold
    AlreadyDeclaredError (409)   the event was declared erroneous before, otherwise

An event carrying `errorDeclaration` is a *declaration* about the stored event with the same id
(EPCIS 2.0 §7.4.1.4; the event hash leaves the field out), not an event of its own: it needs
no bizStep role and no entitlement to the goods, only the declaration rule above. It is stored
as a row of `error_declarations` held by its own signed capture (`ledger.store.store`).
    (store) replayed nonce (409)
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ledger.chain.roles import REGULATOR, required_role
from ledger.chain.view import Read
from ledger.epcis.document import InvalidDocumentError, parse_document
from ledger.epcis.entitlement import (
    AUTHORITY_ROLES,
    MAX_CONTAINER_DEPTH,
    containers_of,
    not_entitled,
    owner_key,
    receivers,
    subjects,
)
from ledger.epcis.event_hash import event_hashes
from ledger.epcis.json_text import DEFAULT_MAX_JSON_DEPTH
from ledger.epcis.xml import parse_xml_document
from ledger.errors import (
    AuthorizationError,
    InvalidInputError,
    LedgerError,
    NotFoundError,
)
from ledger.proofs.capture import CaptureSignature, SignedCapture, events_tree
from ledger.proofs.signing import (
    HEADER_ORG,
    HEADER_SIGNED_AT,
    CaptureDomain,
    InvalidCaptureError,
    build_signed_capture,
    capture_commitments,
    seed_from_headers,
    signature_from_headers,
)
from ledger.store.store import INT64_MAX, AlreadyDeclaredError

__all__ = [
    "AlreadyDeclaredError", "DeclaredEventUnknownError", "NotDeclarantError",
    "CaptureLimitExceededError", "CheckedCapture", "ErrorBehaviour", "EventIdMismatchError",
    "Intake", "IntakeResult",
    "capture_record",
    "MissingRoleError", "NotEntitledError", "RevokedSigningKeyError", "SignedAtOutOfWindowError",
    "SignerAuthority", "UnknownOrganisationError",
    "UnknownSigningKeyError",
]

ErrorBehaviour = Literal["rollback", "proceed"]
Syntax = Literal["json", "xml"]  # the capture body: JSON-LD or EPCIS XML
_CAPTURE_ID = re.compile(r"[0-9a-f]{64}")


class CaptureLimitExceededError(LedgerError):
    slug = "capture-limit-exceeded"
    title = "Too many events in one capture"
    status = 413


class EventIdMismatchError(LedgerError):
    """An event carries an `eventID` other than its own hash. The id of an event *is* its hash
    (`ledger.epcis.event_hash`); storing the client's id would let it be served as if it were."""

    slug = "event-id-mismatch"
    title = "The event's eventID is not its hash"
    status = 400


class UnknownOrganisationError(AuthorizationError):
    slug = "unknown-organisation"
    title = "Organisation may not capture"


class UnknownSigningKeyError(AuthorizationError):
    slug = "unknown-signing-key"
    title = "Signing key not registered to the organisation"


class SignedAtOutOfWindowError(InvalidInputError):
    """`signedAt` is the signer's own claim: the gateway takes it only close to its own clock,
    so a capture can be neither dated ahead (to outlive its key) nor back-dated (into the old
    window of a key revoked since)."""

    slug = "signed-at-out-of-window"
    title = "signedAt is too far from the gateway's clock"


class RevokedSigningKeyError(AuthorizationError):
    slug = "revoked-signing-key"
    title = "Signing key not valid at signing time"


class MissingRoleError(AuthorizationError):
    slug = "missing-role"
    title = "Organisation lacks the role these events need"


class NotEntitledError(AuthorizationError):
    slug = "not-entitled"
    title = "The signer may not speak about these items"


class NotDeclarantError(AuthorizationError):
    """An error declaration by an organisation that neither signed the declared event nor is a
    REGULATOR: a rival could otherwise strike a competitor's events from the record."""

    slug = "not-declarant"
    title = "Only the event's signer or a regulator may declare it erroneous"


class DeclaredEventUnknownError(NotFoundError):
    slug = "declared-event-unknown"
    title = "The event declared erroneous is not stored"


class SignerAuthority(Protocol):
    """Chain reads the intake needs: `ledger.chain.view.ChainView` (cached per block)."""

    def sync(self) -> int:
        """Refresh the pinned block if it may be stale; returns it."""

    def key_verdict(self, org: bytes, key: str, at: int) -> str:
        """"valid", "unknown" (not a key of `org`) or why it was not valid at unix time `at`."""

    def revoked_at(self, key: str) -> int:
        """When `key` was revoked (unix time of the block), 0 if it is not."""

    def was_valid_signer(self, org: bytes, key: str, role: str, at: int) -> bool:
        """`key` was valid for `org` at `at` and `org` holds `role`."""

    def prefix_owner(self, gtin14: str) -> bytes | None:
        """The organisation owning the company prefix of a 14-character key, or None."""

    def prefetch(self, reads: Any) -> Any:
        """Load several reads at once (one JSON-RPC batch)."""

    def org_roles(self, org: bytes, at: int | None = None) -> frozenset[str]:
        """The roles `org` held at unix time `at` (now if None)."""

    def signers_at(self, org: bytes, at: int) -> frozenset[str]:
        """The keys (lower-case addresses) valid for `org` at `at`."""


class CaptureStore(Protocol):
    def accept_capture(self, capture: SignedCapture, *, keep: Any = None) -> Any: ...

    def events_for_epc(self, epc: str) -> Sequence[Any]:
        """Stored events naming `epc` (objects with an `.event` dict)."""

    def declaration_targets(self, event_ids: Sequence[bytes]
                            ) -> Mapping[bytes, tuple[bytes, Any]]:
        """Stored events among `event_ids`: (signing organisation, declaration or None)."""


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
                 committer: CaptureSink | None = None, max_skew_s: int = 300,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.max_skew_s = max_skew_s  # how far `signedAt` may be from `clock()`
        self._clock = clock
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

    def _check_window(self, at: int) -> None:
        """signedAt within `max_skew_s` of the gateway's clock ("When a signature counts")."""
        now = int(self._clock())
        if abs(at - now) > self.max_skew_s:
            raise SignedAtOutOfWindowError(
                f"signedAt={at} is {at - now:+d} s from the gateway's clock ({now}); at most "
                f"{self.max_skew_s} s either way is accepted",
                signedAt=at, gatewayTime=now, maxSkewS=self.max_skew_s)

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
        self._check_window(at)  # the rule `authorise` applies again, cheaper here
        self.chain_view.sync()
        if not self.chain_view.org_roles(org, at):
            org_hex = "0x" + org.hex()
            raise UnknownOrganisationError(
                f"organisation {org_hex} held no role at signedAt={at}: nothing it signed then "
                "can be captured", org=org_hex, signedAt=at)

    def parse(self, document: bytes | str | Mapping[str, Any], syntax: Syntax = "json") -> Any:
        """Parse and validate an EPCISDocument (the size limit is checked before parsing):
        JSON-LD, or XML (`syntax="xml"`: EPCIS 2.0 or 1.2, checked against the standard's XSD
        and converted to the same events, `ledger.epcis.xml`)."""
        try:
            if syntax == "xml":
                doc = parse_xml_document(document, max_bytes=self.max_bytes,  # type: ignore[arg-type]
                                         max_events=self.max_events)
            else:
                doc = parse_document(document, max_bytes=self.max_bytes,
                                     max_events=self.max_events, max_depth=self.max_depth,
                                     max_values=self.max_values)
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
        """Event hashes in document order (a document's ignoreFields are honoured); an event
        that names an `eventID` must name its own hash."""
        ids = event_hashes(doc)
        for index, (event, digest) in enumerate(zip(doc.events, ids, strict=True)):
            claimed = event.get("eventID")
            if claimed is not None and not _names_hash(claimed, digest):
                computed = _ni(digest)
                raise EventIdMismatchError(
                    f"event {index} names eventID {claimed!r}, but its hash is {computed}",
                    eventIndex=index, eventID=claimed, computedEventID=computed,
                    pointer=f"/epcisBody/eventList/{index}/eventID")
        return ids

    def signed_capture(self, doc: Any, signature: CaptureSignature | Mapping[str, str],
                       seed: bytes | None, *, expected_signer: str | None = None
                       ) -> SignedCapture:
        """Hash and commit the parsed document's events, read the signature (from the headers,
        whose root and count come from the events), check it covers them, recover the signer.

        The seed is the capture's disclosure seed: from `HEADER_SEED` when `signature` is the
        headers, else the `seed` argument (a signed capture file's "disclosureSeed")."""
        event_ids = self.hash_events(doc)
        events = list(doc.events)
        if isinstance(signature, CaptureSignature):
            if seed is None:
                raise InvalidCaptureError("a capture needs its disclosure seed",
                                          field="disclosureSeed")
            commitments = capture_commitments(events, event_ids, seed)
            sig = signature
        else:
            seed = seed_from_headers(signature)
            commitments = capture_commitments(events, event_ids, seed)
            sig = signature_from_headers(signature, events_root=events_tree(commitments).root,
                                         count=len(event_ids))
        return build_signed_capture(events, doc.context, event_ids, sig, self.domain,
                                    seed=seed, commitments=commitments,
                                    expected_signer=expected_signer)

    def authorise(self, capture: SignedCapture, behaviour: ErrorBehaviour = "rollback"
                  ) -> tuple[list[int], list[dict[str, Any]]]:
        """Indices of the events the signer may capture, and a problem for each other one."""
        org = capture.signature.org
        at = capture.signature.signed_at
        org_hex = "0x" + org.hex()
        # The rule of gateway/README.md "When a signature counts": signedAt within the skew
        # of our clock, the key valid at signedAt, and not revoked now.
        self._check_window(at)
        view = self.chain_view
        view.sync()
        verdict = view.key_verdict(org, capture.signer, at)
        if verdict == "unknown":
            raise UnknownSigningKeyError(
                f"key {capture.signer} is not a signing key of organisation {org_hex}",
                org=org_hex, signer=capture.signer)
        if verdict != "valid":
            raise RevokedSigningKeyError(
                f"key {capture.signer} of organisation {org_hex} was not valid at "
                f"signedAt={at} ({verdict})",
                org=org_hex, signer=capture.signer, signedAt=at, reason=str(verdict))
        revoked_at = view.revoked_at(capture.signer)
        if revoked_at:
            raise RevokedSigningKeyError(
                f"key {capture.signer} of organisation {org_hex} is revoked (since "
                f"{revoked_at}): it signs nothing more, whatever signedAt says",
                org=org_hex, signer=capture.signer, signedAt=at, revokedAt=revoked_at,
                reason="revoked")
        self._prefetch_owners(capture.events)
        # Stored events per identifier, read once per capture: a capture's events often name
        # the same cases and pallets.
        history: dict[str, Sequence[Any]] = {}
        granted: dict[str, bool] = {}
        allowed: list[int] = []
        problems: list[dict[str, Any]] = []
        declared = [i for i, e in enumerate(capture.events) if "errorDeclaration" in e]
        targets = (self.store.declaration_targets([capture.event_ids[i] for i in declared])
                   if declared else {})
        for index, event in enumerate(capture.events):
            if "errorDeclaration" in event:
                try:
                    self._check_declaration(capture, index, targets)
                except LedgerError as refused:
                    # A declaration refused for its signer is refused whatever the behaviour:
                    # `proceed` leaves it out like any event the signer may not sign.
                    if behaviour == "rollback" or not isinstance(refused, AuthorizationError):
                        raise
                    problems.append(refused.to_problem())
                    continue
                allowed.append(index)
                continue
            role = required_role(event)
            ok = granted.get(role)
            if ok is None:
                ok = granted[role] = bool(view.was_valid_signer(org, capture.signer, role, at))
            if ok:
                speechless = self._not_entitled(event, org, role, history)
                if not speechless:
                    allowed.append(index)
                    continue
                entitled = NotEntitledError(
                    f"event {index} speaks about {speechless[0]}"
                    f"{f' (and {len(speechless) - 1} more)' if len(speechless) > 1 else ''}, "
                    f"which organisation {org_hex} may not speak about: it neither owns its "
                    "company prefix nor was named a receiver of it (gateway/README.md, "
                    "\"Who may speak about an item\")",
                    org=org_hex, eventIndex=index, eventID=_ni(capture.event_ids[index]),
                    identifiers=speechless[:20])
                if behaviour == "rollback":
                    raise entitled
                problems.append(entitled.to_problem())
                continue
            error = MissingRoleError(
                f"event {index} (bizStep {event.get('bizStep')!r}) needs role {role}, which "
                f"organisation {org_hex} does not hold",
                org=org_hex, role=role, eventIndex=index, eventID=_ni(capture.event_ids[index]))
            if behaviour == "rollback":
                raise error
            problems.append(error.to_problem())
        return allowed, problems

    def _check_declaration(self, capture: SignedCapture, index: int,
                           targets: Mapping[bytes, tuple[bytes, Any]]) -> None:
        """The error declaration of event `index` may be stored: the event is stored, the
        declaring organisation signed it or is a REGULATOR at signedAt, and no other
        declaration of it was accepted (the same one again is, and changes nothing)."""
        org, at = capture.signature.org, capture.signature.signed_at
        eid = capture.event_ids[index]
        event_id = _ni(eid)
        target = targets.get(eid)
        if target is None:
            raise DeclaredEventUnknownError(
                f"event {index} declares event {event_id} erroneous, but no such event is "
                "stored: an error declaration is the stored event again, with errorDeclaration",
                eventIndex=index, eventID=event_id)
        signed_by, existing = target
        if signed_by != org and not self.chain_view.was_valid_signer(org, capture.signer,
                                                                     REGULATOR, at):
            raise NotDeclarantError(
                f"event {index} declares event {event_id} erroneous; only its signer "
                f"(organisation 0x{signed_by.hex()}) or a REGULATOR may, not organisation "
                f"0x{org.hex()}", org="0x" + org.hex(), signedBy="0x" + signed_by.hex(),
                eventIndex=index, eventID=event_id)
        if existing is not None and existing != capture.events[index]["errorDeclaration"]:
            raise AlreadyDeclaredError(
                f"event {event_id} was declared erroneous before, otherwise; the first "
                "declaration stands", eventIndex=index, eventID=event_id,
                errorDeclaration=existing)

    def _prefetch_owners(self, events: Sequence[Mapping[str, Any]]) -> None:
        keys = {k for e in events for x in subjects(e) if (k := owner_key(x)) is not None}
        if keys:
            self.chain_view.prefetch(Read("gtinOwner", (k,)) for k in sorted(keys))

    def _not_entitled(self, event: Mapping[str, Any], org: bytes, role: str,
                      history: dict[str, Sequence[Any]]) -> list[str]:
        """`ledger.epcis.entitlement.not_entitled` against the chain and the stored events."""
        return not_entitled(event, org, role, self.chain_view.prefix_owner,
                            lambda identifier: self.custody(identifier, history))

    def custody(self, identifier: str, history: dict[str, Sequence[Any]] | None = None
                ) -> set[bytes]:
        """The receivers of `identifier` named by stored events about it or about a container
        it was packed into. Stored events passed this same rule when they were captured.
        `history` memoises the store's answers (per identifier) across calls."""
        owner_of = self.chain_view.prefix_owner
        history = {} if history is None else history
        found: set[bytes] = set()
        seen, frontier = {identifier}, [identifier]
        for _ in range(MAX_CONTAINER_DEPTH):
            if not frontier:
                break
            deeper: list[str] = []
            for epc in frontier:
                stored_events = history.get(epc)
                if stored_events is None:
                    stored_events = history[epc] = self.store.events_for_epc(epc)
                for stored in stored_events:
                    if required_role(stored.event) in AUTHORITY_ROLES:
                        continue  # an authority speaks about goods, it hands none over
                    found |= receivers(stored.event, owner_of)
                    for parent in containers_of(stored.event, epc):
                        if parent not in seen:
                            seen.add(parent)
                            deeper.append(parent)
            frontier = deeper
        return found

    # -- the pipeline -------------------------------------------------------------------------

    def check(self, document: bytes | str | Mapping[str, Any],
              signature: CaptureSignature | Mapping[str, str], *,
              behaviour: ErrorBehaviour = "rollback",
              expected_signer: str | None = None,
              seed: bytes | None = None,
              isolate: Executor | None = None, syntax: Syntax = "json") -> CheckedCapture:
        """Every step but storing: admit (from the headers), parse, hash, recover, authorise.
        Raises a `LedgerError`.

        `seed`: the disclosure seed, needed when `signature` is a parsed `CaptureSignature`
        (the headers carry their own). `isolate` (a process pool): parse, hash, commit and
        recover there (`recover_capture`), so the
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
                max_depth=self.max_depth, max_values=self.max_values, syntax=syntax).result()
            if isinstance(outcome, SignedCapture):
                signed = outcome
            else:  # a key not valid for the organisation signed it: say which way it is not
                signed = SignedCapture(signature_from_headers(  # type: ignore[arg-type]
                    signature, events_root=bytes(32), count=0), outcome, bytes(32), (), ())
        else:
            signed = self.signed_capture(self.parse(document, syntax), signature, seed,
                                         expected_signer=expected_signer)
        if signed.signature.signed_at > INT64_MAX:
            # A valid uint64 to sign, but no time the store's integer column can hold: refused
            # here, before it could join (and fail) a group commit shared with other members.
            at = signed.signature.signed_at
            raise InvalidCaptureError(
                f"signedAt {at} is past the largest time the store holds ({INT64_MAX})",
                field="signedAt", value=str(at), limit=INT64_MAX)
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
               expected_signer: str | None = None,
               seed: bytes | None = None, syntax: Syntax = "json") -> IntakeResult:
        """Run the whole pipeline; raise a `LedgerError` and store nothing if it fails.

        `signature` is either a parsed `CaptureSignature` (e.g. from a signed capture file) or
        the HTTP headers (`Zhenzhi-Capture-*`), whose root and count come from the document
        and the disclosure seed header. With a `CaptureSignature`, `seed` is the capture's
        disclosure seed. Returns once the capture is committed.
        """
        checked = self.check(document, signature, behaviour=behaviour,
                             expected_signer=expected_signer, seed=seed, syntax=syntax)
        return checked.result(self.submit(checked).result())


def recover_capture(document: bytes | str, headers: Mapping[str, str], domain: CaptureDomain,
                    signers: frozenset[str], *, max_bytes: int, max_events: int,
                    max_depth: int, max_values: int | None,
                    syntax: Syntax = "json") -> SignedCapture | str:
    """Parse, hash, commit and recover a capture (in a worker process:
    `Intake.check(isolate=...)`).
    Returns the `SignedCapture` if its signer is one of `signers` (lower-case addresses), else
    only the signer's address: the events of a capture nobody valid signed never leave the
    worker. Raises the parse and signature errors of `Intake.check`."""
    intake = Intake(None, None, domain, max_bytes=max_bytes,  # type: ignore[arg-type]
                    max_events=max_events, max_depth=max_depth, max_values=max_values)
    signed = intake.signed_capture(intake.parse(document, syntax), headers, None)
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


def _names_hash(claimed: Any, digest: bytes) -> bool:
    """`claimed` is the ni URI of `digest` (hex in either case, with or without `?ver=`)."""
    if not isinstance(claimed, str):
        return False
    head, _, _ = claimed.partition("?")
    scheme, _, hexpart = head.partition(";")
    return scheme.lower() == "ni:///sha-256" and hexpart.lower() == digest.hex()


def _ni(event_id: bytes) -> str:
    return f"ni:///sha-256;{event_id.hex()}?ver=CBV2.0"
