"""The proof bundle: everything needed to re-verify one item code against any node, offline.

A gateway builds it from its store (`ledger.evidence.builder.build_bundle`) and serves it; the verifier consumes it and
trusts none of it: every event id is recomputed, every proof re-hashed, every signature
recovered, every root looked up on the chain. So the bundle holds claims plus the data to test
them, never conclusions. The same JSON is the `zhenzhi evidence` export used in arbitration.

JSON format, version 2 (`FORMAT`, `VERSION`; bytes are 0x-hex, event ids are ni URIs):

    {"format": "zhenzhi-evidence", "version": 1,
     "code": "https://id.gs1.org/01/<gtin14>/21/<serial>",
     "generatedAt": <unix s>, "source": "<gateway URL>" | null,
     "chain": {"chainId": 31337, "blockNumber": <block the gateway saw>,
               "contracts": {"Consortium": "0x…", "TraceAnchor": "0x…", ...}},
     "registration": {"gtin": "<gtin14>", "lot": "<lot>", "codeProof": ["0x…", ...]} | null,
     "captures": [{"eventsRoot": "0x…", "count": n, "org": "0x…", "nonce": n, "signedAt": n,
                   "signature": "0x…(65 bytes)", "signer": "0x…",
                   "anchor": {"batchRoot": "0x…", "proof": ["0x…"], "txHash": "0x…",
                              "blockNumber": n} | null}],
     "events": [{"commitment": "0x…", "capture": <index into captures>, "proof": ["0x…"],
                 "disclosures": [{"text": "[salt,name,value]", "proof": ["0x…"]}],
                 "eventId": "ni:///sha-256;…?ver=CBV2.0", "event": {EPCIS event},
                 "context": <@context> | null}],
     "customs": [{"consignment": "0x…(32 bytes)", "commitment": "0x…", "proof": ["0x…"]}],
     "scans": [{"at": <unix s>, "region": "CN" | "unknown", "client": "<16 hex>"}]}

An event is named by its *commitment* (`ledger.proofs.disclosure`): the root over its salted
disclosures. A *full* event (members' evidence) carries `eventId`, `event`, `context` and every
disclosure text in order, without paths: the verifier recomputes the id from the event, checks
the texts say exactly what the event says, and rebuilds the commitment. A *public* event (the
shopper's proof) carries only chosen disclosures, each with its path to the commitment, and no
`eventId`, `event` or `context`. `proof` of an event is the commitment's path into the
capture's signed eventsRoot (leaf `capture.event_leaf(commitment)`); `anchor.proof` is the capture's path into the anchored batch root
(leaf `capture.capture_leaf(digest, signer)`); `codeProof` is the code commitment's path into
the lot's codesRoot on CodeRegistry; a customs entry's `proof` is the event commitment's path
into the decision's eventsRoot. A reader refuses other formats and other versions (version 1
named events by their bare CBV ids, which let anyone confirm a guess of a hidden field).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ledger.errors import InvalidInputError
from ledger.proofs.capture import CaptureSignature
from ledger.proofs.disclosure import Disclosed

__all__ = [
    "FORMAT", "VERSION", "AnchorEvidence", "Bundle", "CaptureEvidence", "ChainRef",
    "CustomsEvidence", "EventEvidence", "InvalidBundleError", "Registration", "ScanRecord",
    "capture_json", "customs_json", "event_json", "parse_captures", "parse_customs", "parse_events",
]

FORMAT = "zhenzhi-evidence"
_MAX_DISCLOSURES = 1 << 16
VERSION = 2
# Earlier versions of a GTIN's product conditions a bundle may carry (a brand publishes a few).
MAX_EARLIER_CONDITIONS = 64


class InvalidBundleError(InvalidInputError):
    slug = "invalid-evidence-bundle"
    title = "Invalid evidence bundle"


@dataclass(frozen=True, slots=True)
class ChainRef:
    chain_id: int
    contracts: Mapping[str, str]  # contract name → address
    block_number: int | None = None


@dataclass(frozen=True, slots=True)
class Registration:
    """The gateway's claim of which registered lot commits to the code, with the proof."""

    gtin: str
    lot: str
    code_proof: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class AnchorEvidence:
    batch_root: bytes
    proof: tuple[bytes, ...]
    tx_hash: bytes | None = None
    block_number: int | None = None


@dataclass(frozen=True, slots=True)
class CaptureEvidence:
    signature: CaptureSignature
    signer: str | None  # as claimed by the gateway; the verifier recovers its own
    anchor: AnchorEvidence | None  # None: not anchored yet


@dataclass(frozen=True, slots=True)
class EventEvidence:
    commitment: bytes  # claimed; the verifier recomputes it from the disclosures
    capture: int  # index into Bundle.captures
    proof: tuple[bytes, ...]  # event_leaf(commitment) ▶ the capture's eventsRoot
    # Public: the chosen disclosures, each with its path. Full: all of them, in order, no paths.
    disclosed: tuple[Disclosed, ...]
    event: Mapping[str, Any] | None = None  # full events only
    event_id: bytes | None = None  # full events only; the verifier recomputes it from `event`
    context: Any = None

    @property
    def full(self) -> bool:
        return self.event is not None


@dataclass(frozen=True, slots=True)
class CustomsEvidence:
    """A customs decision that covers one of the item's events, with the event's path into the
    decision's events root on CustomsRelease."""

    consignment: bytes
    commitment: bytes
    proof: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class ScanRecord:
    at: int  # unix seconds
    # Where the gateway saw the client: an ISO 3166-1 country from its address ("unknown" if
    # the address has none). Bundles written before issue 16 may carry a client-declared
    # ISO 3166-2 subdivision such as "CN-31".
    region: str
    # A pseudonym of the client, the same for its every scan of this item and unrelated across
    # items (no client can be followed from item to item); None in older bundles.
    client: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"at": self.at, "region": self.region}
        if self.client is not None:
            out["client"] = self.client
        return out


@dataclass(frozen=True, slots=True)
class Bundle:
    code: str
    chain: ChainRef
    registration: Registration | None
    captures: tuple[CaptureEvidence, ...]
    events: tuple[EventEvidence, ...]
    customs: tuple[CustomsEvidence, ...] = ()
    scans: tuple[ScanRecord, ...] = ()
    generated_at: int | None = None
    source: str | None = None
    version: int = field(default=VERSION)
    # The brand's signed product conditions for the GTIN (`ledger.trade.conditions`
    # `SignedConditions.to_json()`), when it published any: shapes only here, the verifier
    # checks the signature and the brand's authority on chain.
    conditions: Mapping[str, Any] | None = None
    # The GTIN's earlier stored versions, oldest first, same shape: a verifier judges by the
    # version the brand's registration on CodeRegistry puts in force at the readings' times,
    # which for goods shipped before the latest version is an earlier one.
    earlier_conditions: tuple[Mapping[str, Any], ...] = ()

    # --- JSON ------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": self.version,
            "code": self.code,
            "generatedAt": self.generated_at,
            "source": self.source,
            "chain": {"chainId": self.chain.chain_id, "blockNumber": self.chain.block_number,
                      "contracts": dict(self.chain.contracts)},
            "registration": None if self.registration is None else {
                "gtin": self.registration.gtin, "lot": self.registration.lot,
                "codeProof": [_hex(p) for p in self.registration.code_proof]},
            "captures": [_capture_json(c) for c in self.captures],
            "events": [_event_json(e) for e in self.events],
            "customs": [customs_json(c) for c in self.customs],
            "scans": [s.to_json() for s in self.scans],
        } | ({} if self.conditions is None else {"conditions": dict(self.conditions)}) | (
            {"earlierConditions": [dict(c) for c in self.earlier_conditions]}
            if self.earlier_conditions else {})

    def dumps(self, *, indent: int | None = None) -> str:
        return json.dumps(self.to_json(), indent=indent, ensure_ascii=False, sort_keys=indent is not None)

    @classmethod
    def from_json(cls, obj: Any) -> Bundle:
        """Parse and shape-check a bundle. Nothing here is trusted: shapes only."""
        try:
            return _parse(obj)
        except InvalidBundleError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            # Any shape error in untrusted JSON is one kind of failure to the caller.
            raise InvalidBundleError(f"malformed evidence bundle: {type(exc).__name__}: {exc}",
                                     ) from None

    @classmethod
    def loads(cls, text: str | bytes) -> Bundle:
        try:
            obj = json.loads(text)
        except ValueError as exc:
            raise InvalidBundleError(f"the evidence bundle is not JSON: {exc}") from None
        return cls.from_json(obj)


# --- helpers (private) ---------------------------------------------------------------------------

def _hex(b: bytes) -> str:
    return "0x" + bytes(b).hex()


def _event_id_uri(event_id: bytes) -> str:
    return f"ni:///sha-256;{bytes(event_id).hex()}?ver=CBV2.0"


def _event_json(e: EventEvidence) -> dict[str, Any]:
    out: dict[str, Any] = {"commitment": _hex(e.commitment), "capture": e.capture,
                           "proof": [_hex(p) for p in e.proof]}
    if e.full:
        out["disclosures"] = [{"text": d.text} for d in e.disclosed]
        out["eventId"] = None if e.event_id is None else _event_id_uri(e.event_id)
        out["event"] = e.event
        out["context"] = e.context
    else:
        out["disclosures"] = [{"text": d.text, "proof": [_hex(p) for p in d.proof]}
                              for d in e.disclosed]
    return out


def _capture_json(c: CaptureEvidence) -> dict[str, Any]:
    s = c.signature
    return {
        "eventsRoot": _hex(s.events_root), "count": s.count, "org": _hex(s.org),
        "nonce": s.nonce, "signedAt": s.signed_at, "signature": _hex(s.signature),
        "signer": c.signer,
        "anchor": None if c.anchor is None else {
            "batchRoot": _hex(c.anchor.batch_root),
            "proof": [_hex(p) for p in c.anchor.proof],
            "txHash": None if c.anchor.tx_hash is None else _hex(c.anchor.tx_hash),
            "blockNumber": c.anchor.block_number,
        },
    }


def _bytes(value: Any, size: int | None, what: str) -> bytes:
    if not isinstance(value, str) or not value.startswith(("0x", "0X")):
        raise InvalidBundleError(f"{what} must be 0x-hex", field=what)
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError:
        raise InvalidBundleError(f"{what} is not valid hex", field=what) from None
    if size is not None and len(raw) != size:
        raise InvalidBundleError(f"{what} must be {size} bytes, got {len(raw)}", field=what)
    return raw


def _proof(value: Any, what: str) -> tuple[bytes, ...]:
    if not isinstance(value, list) or len(value) > 64:
        # 64 levels cover 2**64 leaves: a longer "proof" is an attempt to burn our CPU.
        raise InvalidBundleError(f"{what} must be a list of at most 64 hashes", field=what)
    return tuple(_bytes(p, 32, what) for p in value)


def _int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidBundleError(f"{what} must be a non-negative integer", field=what)
    return value


def _opt_int(value: Any, what: str) -> int | None:
    return None if value is None else _int(value, what)


def _parse_event_id(value: Any) -> bytes:
    prefix, suffix = "ni:///sha-256;", "?ver=CBV2.0"
    if isinstance(value, str) and value.startswith(prefix) and value.endswith(suffix):
        return _bytes("0x" + value[len(prefix):-len(suffix)], 32, "eventId")
    return _bytes(value, 32, "eventId")


def _parse(obj: Any) -> Bundle:
    if not isinstance(obj, Mapping) or obj.get("format") != FORMAT:
        raise InvalidBundleError(f"not a {FORMAT} document", field="format")
    version = obj.get("version")
    if version != VERSION:
        raise InvalidBundleError(f"evidence bundle version {version!r} is not supported "
                                 f"(this verifier reads version {VERSION})", field="version")
    chain = obj["chain"]
    contracts = chain["contracts"]
    if not isinstance(contracts, Mapping):
        raise InvalidBundleError("chain.contracts must be an object", field="chain.contracts")
    reg = obj.get("registration")
    registration = None if reg is None else Registration(
        gtin=str(reg["gtin"]), lot=str(reg["lot"]), code_proof=_proof(reg["codeProof"], "codeProof"))
    captures = parse_captures(obj["captures"])
    events = parse_events(obj["events"], len(captures))
    customs = parse_customs(obj.get("customs") or ())
    scans = tuple(ScanRecord(_int(s["at"], "scan.at"), str(s.get("region") or ""),
                             str(s["client"]) if isinstance(s.get("client"), str) else None)
                  for s in obj.get("scans") or ())
    return Bundle(
        code=str(obj["code"]),
        chain=ChainRef(_int(chain["chainId"], "chainId"),
                       {str(k): str(v) for k, v in contracts.items()},
                       _opt_int(chain.get("blockNumber"), "blockNumber")),
        registration=registration, captures=captures, events=events,
        customs=customs, scans=scans,
        generated_at=_opt_int(obj.get("generatedAt"), "generatedAt"),
        source=obj.get("source") if isinstance(obj.get("source"), str) else None,
        version=VERSION,
        conditions=_conditions(obj.get("conditions")),
        earlier_conditions=_earlier_conditions(obj.get("earlierConditions")),
    )


# --- parts shared with other evidence kinds (`ledger.evidence.consignment`) ------------------

def capture_json(c: CaptureEvidence) -> dict[str, Any]:
    return _capture_json(c)


def event_json(e: EventEvidence) -> dict[str, Any]:
    return _event_json(e)


def customs_json(c: CustomsEvidence) -> dict[str, Any]:
    return {"consignment": _hex(c.consignment), "commitment": _hex(c.commitment),
            "proof": [_hex(p) for p in c.proof]}


def parse_captures(raw: Any) -> tuple[CaptureEvidence, ...]:
    """The `captures` list of a bundle (shapes only; raises InvalidBundleError or a
    KeyError/TypeError/ValueError the caller maps)."""
    captures = []
    for c in raw:
        a = c.get("anchor")
        anchor = None if a is None else AnchorEvidence(
            batch_root=_bytes(a["batchRoot"], 32, "anchor.batchRoot"),
            proof=_proof(a["proof"], "anchor.proof"),
            tx_hash=None if a.get("txHash") is None else _bytes(a["txHash"], 32, "anchor.txHash"),
            block_number=_opt_int(a.get("blockNumber"), "anchor.blockNumber"))
        sig = CaptureSignature(
            events_root=_bytes(c["eventsRoot"], 32, "eventsRoot"), count=_int(c["count"], "count"),
            org=_bytes(c["org"], 32, "org"), nonce=_int(c["nonce"], "nonce"),
            signed_at=_int(c["signedAt"], "signedAt"),
            signature=_bytes(c["signature"], 65, "signature"))
        signer = c.get("signer")
        captures.append(CaptureEvidence(sig, signer if isinstance(signer, str) else None, anchor))
    return tuple(captures)


def parse_events(raw: Any, captures: int) -> tuple[EventEvidence, ...]:
    """The `events` list of a bundle whose `captures` list has `captures` entries."""
    events = []
    for e in raw:
        index = _int(e["capture"], "capture")
        if index >= captures:
            raise InvalidBundleError(f"event refers to capture {index} of {captures}",
                                     field="capture")
        texts = e["disclosures"]
        if not isinstance(texts, list) or len(texts) > _MAX_DISCLOSURES:
            raise InvalidBundleError(f"disclosures must be a list of at most {_MAX_DISCLOSURES}",
                                     field="disclosures")
        disclosed = tuple(Disclosed(d["text"] if isinstance(d["text"], str) else None,  # type: ignore[arg-type]
                                    _proof(d.get("proof") or [], "disclosure.proof"))
                          for d in texts)
        if any(d.text is None for d in disclosed):
            raise InvalidBundleError("a disclosure text must be a string", field="disclosures")
        event = e.get("event")
        if event is not None and not isinstance(event, Mapping):
            raise InvalidBundleError("event must be a JSON object", field="event")
        events.append(EventEvidence(
            _bytes(e["commitment"], 32, "commitment"), index, _proof(e["proof"], "proof"),
            disclosed, event,
            None if event is None else _parse_event_id(e["eventId"]), e.get("context")))
    return tuple(events)


def parse_customs(raw: Any) -> tuple[CustomsEvidence, ...]:
    return tuple(CustomsEvidence(_bytes(c["consignment"], 32, "consignment"),
                                 _bytes(c["commitment"], 32, "customs.commitment"),
                                 _proof(c["proof"], "customs.proof"))
                 for c in raw)


def _conditions(raw: Any) -> Mapping[str, Any] | None:
    if raw is None:
        return None
    if (not isinstance(raw, Mapping) or not isinstance(raw.get("text"), str)
            or len(raw["text"]) > 4096):
        raise InvalidBundleError("conditions must be an object with the signed text",
                                 field="conditions")
    _bytes(raw.get("org"), 32, "conditions.org")
    _bytes(raw.get("signature"), 65, "conditions.signature")
    _int(raw.get("signedAt"), "conditions.signedAt")
    return {"text": raw["text"], "org": raw["org"], "signedAt": raw["signedAt"],
            "signature": raw["signature"]}


def _earlier_conditions(raw: Any) -> tuple[Mapping[str, Any], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_EARLIER_CONDITIONS:
        raise InvalidBundleError(
            f"earlierConditions must be a list of at most {MAX_EARLIER_CONDITIONS}",
            field="earlierConditions")
    return tuple(c for c in (_conditions(r) for r in raw) if c is not None)


# --- building a bundle from the store --------------------------------------------------------
