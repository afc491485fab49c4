"""Sealed evidence: one file that a court, a bank or a customs office abroad checks with no node.

A sealed bundle is an item's proof bundle (`ledger.proofs.bundle`, stripped of what the gateway
merely claims) plus a state witness (`ledger.chain.proven`): one block header and the
`eth_getProof` account and storage proofs, with contract code, for every chain fact the
verifier reads about the item at that block. The only thing a checker must trust is the block
hash (and that the contract addresses are the consortium's): everything else is recomputed.

The file is canonical JSON (keys sorted, no insignificant whitespace, UTF-8, no trailing
newline) and `SealedEvidence.loads` refuses any other spelling: a file is accepted only if it
is exactly the serialisation of what it parses to, so no byte can change without changing a
value that is checked. The format is described for other implementers in `verifier/README.md`
("Sealed evidence").
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from eth_utils import to_checksum_address

from ledger.chain.proven import AccountWitness, SlotWitness, StateWitness
from ledger.epcis.event_hash import canonical_value
from ledger.epcis.gs1 import DigitalLink
from ledger.errors import LedgerError
from ledger.evidence.consignment import DISCLOSURES, ConsignmentBundle
from ledger.evidence.consignment import FORMAT as CONSIGNMENT_FORMAT
from ledger.evidence.consignment import VERSION as CONSIGNMENT_VERSION
from ledger.proofs.bundle import (
    FORMAT as BUNDLE_FORMAT,
)
from ledger.proofs.bundle import (
    VERSION as BUNDLE_VERSION,
)
from ledger.proofs.bundle import (
    AnchorEvidence,
    Bundle,
    ChainRef,
    InvalidBundleError,
)
from ledger.proofs.state_proof import BlockHeader, StateProofError

__all__ = ["SEALED_CONSIGNMENT_FORMAT", "SEALED_CONSIGNMENT_VERSION", "SEALED_FORMAT",
           "SEALED_VERSION", "SealedEvidence", "SealedEvidenceError", "canonical_json",
           "seal_bundle", "seal_consignment"]

SEALED_FORMAT = "zhenzhi-sealed-evidence"
SEALED_VERSION = 1
# A consignment's sealed evidence (`ledger.evidence.consignment`): the same block, chain and
# state parts; its `evidence` is a consignment bundle. Item files are unchanged by it.
SEALED_CONSIGNMENT_FORMAT = "zhenzhi-sealed-consignment"
SEALED_CONSIGNMENT_VERSION = 1
# The contracts whose state the verifier reads; only these are named (an address that is never
# read would be an unchecked claim).
READ_CONTRACTS = ("CodeRegistry", "Consortium", "CustomsRelease", "TraceAnchor")
# Top-level event keys no signature covers (the event's commitment leaves them out:
# `ledger.proofs.disclosure.items`), so a sealed bundle does not carry them. errorDeclaration,
# which the CBV event hash leaves out, is committed as a field of its own, so it stays.
UNSIGNED_EVENT_KEYS = ("eventID", "recordTime")
_MAX_PROOF_NODES = 64
_LOWER_HEX = re.compile(r"0x(?:[0-9a-f]{2})*")


class SealedEvidenceError(InvalidBundleError):
    """A sealed bundle refused; `place` is where (a JSON path such as `state[2].code`)."""

    slug = "invalid-sealed-evidence"
    title = "Invalid sealed evidence"

    def __init__(self, detail: str, *, place: str, **fields: object) -> None:
        super().__init__(f"{place}: {detail}", place=place, **fields)
        self.place = place


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


@dataclass(frozen=True, slots=True)
class SealedEvidence:
    # An item's bundle (chain, code, registration, captures, events, customs; no scans, no
    # source) or a consignment's (`ConsignmentBundle`).
    bundle: Bundle | ConsignmentBundle
    witness: StateWitness

    @property
    def kind(self) -> str:
        return "consignment" if isinstance(self.bundle, ConsignmentBundle) else "item"

    @property
    def block_hash(self) -> bytes:
        return self.witness.header.hash

    @property
    def chain_id(self) -> int:
        return self.bundle.chain.chain_id

    @property
    def contracts(self) -> dict[str, str]:
        return dict(self.bundle.chain.contracts)

    # --- writing ---------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        h = self.witness.header
        evidence = self.bundle.to_json()
        for key in ("format", "version", "chain", "generatedAt", "source", "scans"):
            evidence.pop(key, None)
        consignment = self.kind == "consignment"
        return {
            "format": SEALED_CONSIGNMENT_FORMAT if consignment else SEALED_FORMAT,
            "version": SEALED_CONSIGNMENT_VERSION if consignment else SEALED_VERSION,
            "block": {"hash": _hex(h.hash), "number": h.number, "timestamp": h.timestamp,
                      "header": _hex(h.rlp)},
            "chain": {"chainId": self.chain_id, "contracts": self.contracts},
            "evidence": evidence,
            "state": [{"address": a.address,
                       "accountProof": [_hex(n) for n in a.proof],
                       "code": _hex(a.code),
                       "storage": [{"slot": _word(s.slot), "value": _word(s.value),
                                    "proof": [_hex(n) for n in s.proof]} for s in a.storage]}
                      for a in self.witness.accounts],
        }

    def dumps(self) -> bytes:
        return canonical_json(self.to_json())

    # --- reading ---------------------------------------------------------------------------

    @classmethod
    def loads(cls, raw: bytes) -> SealedEvidence:
        """Parse a sealed bundle, refusing anything but its canonical serialisation. Checks
        shapes and the header's hash; proofs and the verdict are `verifier.sealed`'s job."""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SealedEvidenceError(f"not UTF-8 at byte {exc.start}", place=f"byte {exc.start}") from None
        try:
            obj = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
        except ValueError as exc:
            pos = getattr(exc, "pos", None)
            raise SealedEvidenceError(f"not JSON: {getattr(exc, 'msg', exc)}",
                                      place="file" if pos is None else f"byte {len(text[:pos].encode())}") from None
        sealed = _parse(obj)
        canon = sealed.dumps()
        if canon != raw:
            at = next((i for i, (a, b) in enumerate(zip(canon, raw, strict=False)) if a != b),
                      min(len(canon), len(raw)))
            raise SealedEvidenceError(
                f"not the canonical serialisation of its content (first difference at byte "
                f"{at}: {raw[max(0, at - 24):at + 24]!r})", place=f"byte {at}")
        return sealed


def seal_bundle(bundle: Bundle, contracts: Mapping[str, str], block_number: int) -> Bundle:
    """`bundle` with only what a checker verifies: no scans, source or generation time (the
    gateway's word), no claimed signer or anchoring transaction (recomputed or unused), events
    without the keys their hash leaves out, and only the contracts the verifier reads."""
    captures = tuple(replace(c, signer=None, anchor=None if c.anchor is None else AnchorEvidence(
        c.anchor.batch_root, c.anchor.proof)) for c in bundle.captures)
    events = tuple(e if e.event is None else replace(
        e, event={k: v for k, v in e.event.items() if k not in UNSIGNED_EVENT_KEYS},
        context=_namespace_declarations(e.context, e.event)) for e in bundle.events)
    chain = ChainRef(bundle.chain.chain_id,
                     {name: to_checksum_address(contracts[name]) for name in READ_CONTRACTS},
                     block_number)
    return replace(bundle, code=_canonical_code(bundle.code), chain=chain, captures=captures,
                   events=events, scans=(), generated_at=None, source=None)


def _canonical_code(code: str) -> str:
    """The one spelling a sealed item's code has: its canonical Digital Link (a code that is
    no Digital Link stays as it is, and the verifier reports it: `code.format`)."""
    try:
        return DigitalLink.parse(code).canonical_uri()
    except LedgerError:
        return code


def seal_consignment(bundle: ConsignmentBundle, contracts: Mapping[str, str],
                     block_number: int) -> ConsignmentBundle:
    """`bundle` with only what a checker verifies (as `seal_bundle` does for an item)."""
    item = seal_bundle(Bundle("https://id.gs1.org/01/00000000000000/21/0", bundle.chain, None,
                              bundle.captures, bundle.events), contracts, block_number)
    return replace(bundle, chain=item.chain, captures=item.captures, events=item.events,
                   generated_at=None, source=None)


def _namespace_declarations(context: Any, event: Mapping[str, Any]) -> list[Any] | None:
    # The event hash reads only the objects of a list-form @context (prefix → IRI), and only
    # the prefixes the event uses; a context URL points at the standard's vocabulary, and no
    # signature covers either.
    if not isinstance(context, list):
        return None
    used = _used_prefixes(event)
    kept = []
    for c in context:
        if isinstance(c, Mapping):
            d = {k: v for k, v in c.items() if k in used and isinstance(v, str)}
            if d:
                kept.append(d)
    return kept or None


# --- parsing (private) -------------------------------------------------------------------------

def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _keys(obj: Any, keys: set[str], place: str) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise SealedEvidenceError("must be an object", place=place)
    if set(obj) != keys:
        extra, missing = sorted(set(obj) - keys), sorted(keys - set(obj))
        raise SealedEvidenceError(f"unexpected keys {extra}, missing keys {missing}", place=place)
    return obj


def _list(obj: Any, place: str, limit: int | None = None) -> list[Any]:
    if not isinstance(obj, list) or (limit is not None and len(obj) > limit):
        raise SealedEvidenceError("must be a list" + (f" of at most {limit}" if limit else ""),
                                  place=place)
    return obj


def _hexbytes(value: Any, place: str, size: int | None = None) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise SealedEvidenceError("must be 0x-hex", place=place)
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError:
        raise SealedEvidenceError("is not valid hex", place=place) from None
    if size is not None and len(raw) != size:
        raise SealedEvidenceError(f"must be {size} bytes", place=place)
    return raw


def _uint(value: Any, place: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SealedEvidenceError("must be a non-negative integer", place=place)
    return value


def _address(value: Any, place: str) -> str:
    raw = _hexbytes(value, place, 20)
    checksummed = to_checksum_address(raw)
    if value != checksummed:
        raise SealedEvidenceError(f"must be the checksummed address {checksummed}", place=place)
    return checksummed


def _parse(obj: Any) -> SealedEvidence:
    formats = {SEALED_FORMAT: SEALED_VERSION, SEALED_CONSIGNMENT_FORMAT: SEALED_CONSIGNMENT_VERSION}
    if isinstance(obj, Mapping) and obj.get("format") not in formats:
        raise SealedEvidenceError(f"not a {SEALED_FORMAT} or {SEALED_CONSIGNMENT_FORMAT} "
                                  "document", place="format")
    top = _keys(obj, {"format", "version", "block", "chain", "evidence", "state"}, "$")
    version = formats[top["format"]]
    if top["version"] != version:
        raise SealedEvidenceError(f"version {top['version']!r} is not supported (this checker "
                                  f"reads version {version})", place="version")
    block = _keys(top["block"], {"hash", "number", "timestamp", "header"}, "block")
    block_hash = _hexbytes(block["hash"], "block.hash", 32)
    try:
        header = BlockHeader.decode(_hexbytes(block["header"], "block.header"), place="block.header")
    except StateProofError as exc:
        raise SealedEvidenceError(exc.detail, place=exc.place) from None
    if header.hash != block_hash:
        raise SealedEvidenceError(f"the header hashes to 0x{header.hash.hex()}, not to the "
                                  f"block hash 0x{block_hash.hex()}", place="block.header")
    if _uint(block["number"], "block.number") != header.number:
        raise SealedEvidenceError(f"is {block['number']}, the header says {header.number}",
                                  place="block.number")
    if _uint(block["timestamp"], "block.timestamp") != header.timestamp:
        raise SealedEvidenceError(f"is {block['timestamp']}, the header says {header.timestamp}",
                                  place="block.timestamp")
    chain = _keys(top["chain"], {"chainId", "contracts"}, "chain")
    chain_id = _uint(chain["chainId"], "chain.chainId")
    contracts = _keys(chain["contracts"], set(READ_CONTRACTS), "chain.contracts")
    addresses = {name: _address(contracts[name], f"chain.contracts.{name}") for name in READ_CONTRACTS}
    accounts = _parse_state(top["state"])
    evidence = top["evidence"]
    if not isinstance(evidence, Mapping) or {"format", "version", "chain"} & set(evidence):
        raise SealedEvidenceError("must be an object without format, version or chain",
                                  place="evidence")
    _evidence_elements(evidence, top["format"] == SEALED_CONSIGNMENT_FORMAT)
    chain_json = {"chainId": chain_id, "contracts": addresses, "blockNumber": header.number}
    bundle: Bundle | ConsignmentBundle
    try:
        if top["format"] == SEALED_CONSIGNMENT_FORMAT:
            bundle = _parse_consignment(evidence, chain_json)
        else:
            bundle = Bundle.from_json({**evidence, "format": BUNDLE_FORMAT,
                                       "version": BUNDLE_VERSION, "chain": chain_json})
    except InvalidBundleError as exc:
        if isinstance(exc, SealedEvidenceError):
            raise
        field = exc.fields.get("field")
        raise SealedEvidenceError(str(exc), place="evidence" + (f" ({field})" if field else "")) from None
    if isinstance(bundle, Bundle):
        canon = _canonical_code(bundle.code)
        if canon != bundle.code:
            # Another spelling of the same item (any host, "./" in the path) would verify as
            # the item and show a code nobody sealed: one spelling only.
            raise SealedEvidenceError(f"must be the canonical Digital Link {canon!r}",
                                      place="evidence.code")
    for i, e in enumerate(bundle.events):
        if e.event is None:
            continue  # a public event: disclosures only, each checked against its path
        unsigned = sorted(set(e.event) & set(UNSIGNED_EVENT_KEYS))
        if unsigned:
            raise SealedEvidenceError(f"carries {unsigned}, which no signature covers",
                                      place=f"evidence.events[{i}].event")
        if e.context != _namespace_declarations(e.context, e.event):
            raise SealedEvidenceError("must be null or a list of the namespace declarations "
                                      "the event uses (the only part of an @context its hash "
                                      "reads)", place=f"evidence.events[{i}].context")
        odd = _loose_spelling(e.event)
        if odd is not None:
            raise SealedEvidenceError(f"{odd[:60]!r} is not written as the event hash reads it "
                                      f"({canonical_value(odd)[:60]!r})",
                                      place=f"evidence.events[{i}].event")
    used = {e.capture for e in bundle.events}
    for i in range(len(bundle.captures)):
        if i not in used:
            raise SealedEvidenceError("no event uses this capture, so nothing checks it",
                                      place=f"evidence.captures[{i}]")
    return SealedEvidence(bundle, StateWitness(header, tuple(accounts)))


def _evidence_elements(evidence: Mapping[str, Any], consignment: bool) -> None:
    """The evidence's keys, and each capture, event, disclosure and customs claim has exactly its keys and lowercase hex
    of its size, so an altered key or digit is named where it is (the page's `evidenceShape`
    does the same), not only found by the canonical-serialisation check that follows."""
    if consignment:
        _keys(evidence, {"captures", "consignment", "customs", "disclosure", "events"}, "evidence")
        c = _keys(evidence["consignment"], {"key", "ref"}, "evidence.consignment")
        if c["ref"] is not None and not isinstance(c["ref"], str):
            raise SealedEvidenceError("consignment.ref must be a string or null",
                                      place="evidence (consignment.ref)")
        if not isinstance(c["key"], str) or not re.fullmatch(r"0x[0-9a-fA-F]{64}", c["key"]):
            raise SealedEvidenceError("must be 0x-hex", place="evidence.consignment.key")
        if c["key"] != c["key"].lower():
            raise SealedEvidenceError("must be lowercase hex", place="evidence.consignment.key")
        if evidence["disclosure"] not in DISCLOSURES:
            raise SealedEvidenceError(f"disclosure must be one of {list(DISCLOSURES)}",
                                      place="evidence (disclosure)")
    else:
        _keys(evidence, {"captures", "code", "customs", "events", "registration"}, "evidence")
        if not isinstance(evidence["code"], str):
            raise SealedEvidenceError("must be a string", place="evidence.code")
        if evidence["registration"] is not None:
            r = _keys(evidence["registration"], {"codeProof", "gtin", "lot"},
                      "evidence.registration")
            if not isinstance(r["gtin"], str) or not isinstance(r["lot"], str):
                raise SealedEvidenceError("gtin and lot must be strings",
                                          place="evidence.registration")
            _hashes(r["codeProof"], "evidence.registration.codeProof")
    for i, c in enumerate(_list(evidence["captures"], "evidence.captures")):
        at = f"evidence.captures[{i}]"
        _keys(c, {"anchor", "count", "eventsRoot", "nonce", "org", "signature", "signedAt",
                  "signer"}, at)
        _lowhex(c["eventsRoot"], f"{at}.eventsRoot", 32)
        _lowhex(c["org"], f"{at}.org", 32)
        _lowhex(c["signature"], f"{at}.signature", 65)
        for name in ("count", "nonce", "signedAt"):
            _uint(c[name], f"{at}.{name}")
        if c["anchor"] is not None:
            a = _keys(c["anchor"], {"batchRoot", "blockNumber", "proof", "txHash"}, f"{at}.anchor")
            _lowhex(a["batchRoot"], f"{at}.anchor.batchRoot", 32)
            _hashes(a["proof"], f"{at}.anchor.proof")
    for i, e in enumerate(_list(evidence["events"], "evidence.events")):
        at = f"evidence.events[{i}]"
        full = isinstance(e, Mapping) and "event" in e
        _keys(e, {"capture", "commitment", "disclosures", "proof"}
              | ({"context", "event", "eventId"} if full else set()), at)
        _lowhex(e["commitment"], f"{at}.commitment", 32)
        _hashes(e["proof"], f"{at}.proof")
        if _uint(e["capture"], f"{at}.capture") >= len(evidence["captures"]):
            raise SealedEvidenceError(f"refers to capture {e['capture']} of "
                                      f"{len(evidence['captures'])}", place=f"{at}.capture")
        for j, d in enumerate(_list(e["disclosures"], f"{at}.disclosures", 65536)):
            _keys(d, {"text"} if full else {"proof", "text"}, f"{at}.disclosures[{j}]")
            if not isinstance(d["text"], str):
                raise SealedEvidenceError("must be a string", place=f"{at}.disclosures[{j}].text")
            if not full:
                _hashes(d["proof"], f"{at}.disclosures[{j}].proof")
    for i, c in enumerate(_list(evidence["customs"], "evidence.customs")):
        at = f"evidence.customs[{i}]"
        _keys(c, {"commitment", "consignment", "proof"}, at)
        _lowhex(c["commitment"], f"{at}.commitment", 32)
        _lowhex(c["consignment"], f"{at}.consignment", 32)
        _hashes(c["proof"], f"{at}.proof")


def _lowhex(value: Any, place: str, size: int) -> None:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise SealedEvidenceError("must be 0x-hex", place=place)
    if not _LOWER_HEX.fullmatch(value):
        raise SealedEvidenceError("is not lowercase hex", place=place)
    if len(value) != 2 + 2 * size:
        raise SealedEvidenceError(f"must be {size} bytes", place=place)


def _hashes(value: Any, place: str) -> None:
    for k, h in enumerate(_list(value, place, _MAX_PROOF_NODES)):
        _lowhex(h, f"{place}[{k}]", 32)


def _parse_consignment(evidence: Mapping[str, Any], chain: Mapping[str, Any]) -> ConsignmentBundle:
    _keys(evidence, {"consignment", "disclosure", "captures", "events", "customs"}, "evidence")
    c = _keys(evidence["consignment"], {"ref", "key"}, "evidence.consignment")
    _hexbytes(c["key"], "evidence.consignment.key", 32)
    if c["key"] != c["key"].lower():
        raise SealedEvidenceError("must be lowercase hex", place="evidence.consignment.key")
    return ConsignmentBundle.from_json({**evidence, "format": CONSIGNMENT_FORMAT,
                                        "version": CONSIGNMENT_VERSION, "chain": chain})


def _parse_state(raw: Any) -> list[AccountWitness]:
    accounts: list[AccountWitness] = []
    for i, a in enumerate(_list(raw, "state")):
        at = f"state[{i}]"
        a = _keys(a, {"address", "accountProof", "code", "storage"}, at)
        slots = []
        for j, s in enumerate(_list(a["storage"], f"{at}.storage")):
            sp = f"{at}.storage[{j}]"
            s = _keys(s, {"slot", "value", "proof"}, sp)
            slots.append(SlotWitness(
                int.from_bytes(_hexbytes(s["slot"], f"{sp}.slot", 32), "big"),
                int.from_bytes(_hexbytes(s["value"], f"{sp}.value", 32), "big"),
                tuple(_hexbytes(n, f"{sp}.proof[{k}]") for k, n in
                      enumerate(_list(s["proof"], f"{sp}.proof", _MAX_PROOF_NODES)))))
        if any(x.slot >= y.slot for x, y in zip(slots, slots[1:], strict=False)):
            raise SealedEvidenceError("slots must be listed once each, in ascending order",
                                      place=f"{at}.storage")
        address = _address(a["address"], f"{at}.address")
        if accounts and accounts[-1].address.lower() >= address.lower():
            raise SealedEvidenceError("accounts must be listed once each, in ascending order of "
                                      "address", place=f"{at}.address")
        accounts.append(AccountWitness(
            address,
            tuple(_hexbytes(n, f"{at}.accountProof[{k}]") for k, n in
                  enumerate(_list(a["accountProof"], f"{at}.accountProof", _MAX_PROOF_NODES))),
            _hexbytes(a["code"], f"{at}.code"), tuple(slots)))
    return accounts


def _loose_spelling(value: Any) -> str | None:
    """A string in `value` that the event hash reads as another spelling (`canonical_value`):
    a sealed event is written in the spellings the hash reads, so no byte can change while the
    hash stays the same."""
    if isinstance(value, str):
        return value if canonical_value(value) != value else None
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, list):
        for v in value:
            found = _loose_spelling(v)
            if found is not None:
                return found
    return None


def _used_prefixes(event: Mapping[str, Any]) -> set[str]:
    found: set[str] = set()

    def walk(v: Any) -> None:
        if isinstance(v, Mapping):
            for k, x in v.items():
                found.add(str(k).split(":", 1)[0])
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, str) and ":" in v:
            found.add(v.split(":", 1)[0])

    walk(event)
    return found


def _hex(b: bytes) -> str:
    return "0x" + bytes(b).hex()


def _word(n: int) -> str:
    return "0x" + n.to_bytes(32, "big").hex()

