"""EIP-712 capture signatures: sign (enterprise tooling) and recover (gateway, verifier).

An enterprise signs one typed message per EPCIS document:

    Capture(bytes32 eventsRoot,uint32 count,bytes32 org,uint64 nonce,uint64 signedAt)

in the domain EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)
with name "Zhenzhi", version "2", the chain id and the Consortium contract's address, so a
signature is worth nothing on another chain or deployment. `eventsRoot` is the Merkle root of
`ledger.proofs.capture.event_leaf(commitment)` over the document's events' disclosure
commitments in order (`ledger.proofs.disclosure`: salted leaves from a per-capture 32-byte
seed, `prepare_capture`). Version "1" signed the root over the bare CBV event ids; the version
was bumped so that no version-1 signature can be read as a commitment root.

The digest is computed here directly with keccak (a few µs) rather than through eth_account's
structured-data encoder (~1 ms); tests prove both give the same bytes. Recovery uses coincurve
(libsecp256k1, ~90 µs). Signatures are 65 bytes r ‖ s ‖ v with v ∈ {27, 28} and low s (s ≤ n/2):
the high-s twin of a valid signature is rejected, so a signature has exactly one encoding.

Signed capture file (`zhenzhi sign` output):
    {"document": <EPCISDocument>, "capture": signature_to_json(domain, sig, seed)}
(the capture object carries the seed as "disclosureSeed": "0x<64 hex>").
HTTP: the gateway takes the document as the body and the signature and seed in the `HEADER_*`
headers; eventsRoot and count are recomputed from the body and the seed, chain id and contract
are the gateway's own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

from coincurve import PrivateKey, PublicKey

from ledger.errors import AuthorizationError, InvalidInputError
from ledger.proofs.capture import CaptureSignature, SignedCapture, events_tree
from ledger.proofs.disclosure import DisclosureError, commit_document, new_seed
from ledger.proofs.merkle import keccak256

__all__ = [
    "CAPTURE_TYPE", "DOMAIN_TYPE", "HEADER_NONCE", "HEADER_ORG", "HEADER_SEED",
    "HEADER_SIGNATURE", "HEADER_SIGNED_AT", "SECP256K1_N", "CaptureDomain", "CaptureJson",
    "CaptureMismatchError", "InvalidCaptureError", "InvalidSignatureError",
    "build_signed_capture", "capture_commitments", "capture_digest", "capture_struct_hash",
    "checksum_address", "prepare_capture", "recover_signer", "seed_from_headers",
    "sign_capture", "sign_digest", "signature_from_headers", "signature_from_json", "signature_to_headers",
    "signature_to_json",
]

CAPTURE_TYPE = "Capture(bytes32 eventsRoot,uint32 count,bytes32 org,uint64 nonce,uint64 signedAt)"
DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
_CAPTURE_TYPEHASH = keccak256(CAPTURE_TYPE.encode())
_DOMAIN_TYPEHASH = keccak256(DOMAIN_TYPE.encode())

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HALF_N = SECP256K1_N // 2

HEADER_SIGNATURE = "Zhenzhi-Capture-Signature"
HEADER_ORG = "Zhenzhi-Capture-Org"
HEADER_NONCE = "Zhenzhi-Capture-Nonce"
HEADER_SIGNED_AT = "Zhenzhi-Capture-Signed-At"
HEADER_SEED = "Zhenzhi-Capture-Disclosure-Seed"

_UINT32 = 1 << 32
_UINT64 = 1 << 64
_UINT256 = 1 << 256


class InvalidSignatureError(AuthorizationError):
    """The capture signature is malformed, not canonical (high s) or does not recover."""

    slug = "invalid-capture-signature"
    title = "Invalid capture signature"


class InvalidCaptureError(InvalidInputError):
    """A field of the capture (root, count, org, nonce, signedAt, domain) is malformed."""

    slug = "invalid-capture"
    title = "Invalid capture fields"


class CaptureMismatchError(InvalidInputError):
    """The signed count or eventsRoot does not match the document's events."""

    slug = "capture-mismatch"
    title = "Capture does not match the document"


# --- addresses and field checks ------------------------------------------------------------------

def checksum_address(address: bytes | str) -> str:
    """EIP-55 checksummed form of a 20-byte address (bytes or hex, any case).

    Mixed-case input must already carry a valid checksum: a wrong one means a typo.
    """
    if isinstance(address, str):
        text = address[2:] if address[:2] in ("0x", "0X") else address
        if len(text) != 40:
            raise InvalidCaptureError(f"not a 20-byte address: {address!r}", field="address")
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise InvalidCaptureError(f"not a hex address: {address!r}", field="address") from None
        out = _checksum(raw)
        if text != text.lower() and text != text.upper() and out[2:] != text:
            raise InvalidCaptureError(f"address {address!r} fails its EIP-55 checksum",
                                      field="address")
        return out
    if len(address) != 20:
        raise InvalidCaptureError(f"an address is 20 bytes, got {len(address)}", field="address")
    return _checksum(bytes(address))


def _checksum(raw: bytes) -> str:
    lower = raw.hex()
    nibbles = keccak256(lower.encode()).hex()[:40]
    return "0x" + "".join(c.upper() if int(h, 16) >= 8 else c for c, h in zip(lower, nibbles, strict=True))


def _bytes32(value: Any, field: str) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != 32:
        raise InvalidCaptureError(f"{field} must be 32 bytes", field=field)
    return bytes(value)


def _uint(value: Any, bound: int, field: str) -> int:
    # bool is an int subclass; True as a nonce is a caller bug, not the number 1.
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < bound:
        raise InvalidCaptureError(f"{field} must be an integer in [0, 2**{bound.bit_length() - 1})",
                                  field=field, value=str(value))
    return value


# --- the typed data ------------------------------------------------------------------------------

@dataclass(frozen=True)
class CaptureDomain:
    """The EIP-712 domain: which chain and which Consortium deployment a signature is for."""

    chain_id: int
    verifying_contract: str
    name: str = "Zhenzhi"
    version: str = "2"

    def __post_init__(self) -> None:
        _uint(self.chain_id, _UINT256, "chainId")
        # Normalised so that two spellings of one address are one domain (equal and same hash).
        object.__setattr__(self, "verifying_contract", checksum_address(self.verifying_contract))

    @cached_property
    def separator(self) -> bytes:
        return keccak256(
            _DOMAIN_TYPEHASH
            + keccak256(self.name.encode())
            + keccak256(self.version.encode())
            + self.chain_id.to_bytes(32, "big")
            + bytes(12) + bytes.fromhex(self.verifying_contract[2:])
        )

    def to_eip712(self) -> dict[str, Any]:
        """The domain as eth_account / eth_signTypedData_v4 spell it."""
        return {"name": self.name, "version": self.version, "chainId": self.chain_id,
                "verifyingContract": self.verifying_contract}


def capture_struct_hash(events_root: bytes, count: int, org: bytes, nonce: int,
                        signed_at: int) -> bytes:
    """hashStruct(Capture): keccak256(typeHash ‖ each field ABI-encoded to 32 bytes)."""
    return keccak256(
        _CAPTURE_TYPEHASH
        + _bytes32(events_root, "eventsRoot")
        + _uint(count, _UINT32, "count").to_bytes(32, "big")
        + _bytes32(org, "org")
        + _uint(nonce, _UINT64, "nonce").to_bytes(32, "big")
        + _uint(signed_at, _UINT64, "signedAt").to_bytes(32, "big")
    )


def capture_digest(domain: CaptureDomain, events_root: bytes, count: int, org: bytes,
                   nonce: int, signed_at: int) -> bytes:
    """The 32 bytes that are signed: keccak256(0x1901 ‖ domainSeparator ‖ hashStruct)."""
    return keccak256(b"\x19\x01" + domain.separator
                     + capture_struct_hash(events_root, count, org, nonce, signed_at))


def _digest_of(domain: CaptureDomain, sig: CaptureSignature) -> bytes:
    return capture_digest(domain, sig.events_root, sig.count, sig.org, sig.nonce, sig.signed_at)


# --- sign and recover ----------------------------------------------------------------------------

def sign_capture(private_key: bytes, domain: CaptureDomain, events_root: bytes, count: int,
                 org: bytes, nonce: int, signed_at: int) -> CaptureSignature:
    """Sign a capture. libsecp256k1 always produces low s, so the result is canonical."""
    digest = capture_digest(domain, events_root, count, org, nonce, signed_at)
    return CaptureSignature(events_root=bytes(events_root), count=count, org=bytes(org),
                            nonce=nonce, signed_at=signed_at,
                            signature=sign_digest(private_key, digest))


def sign_digest(private_key: bytes, digest: bytes) -> bytes:
    """An EIP-712 digest signed as r‖s‖v (v 27/28), low s (libsecp256k1 always gives it), as
    `_recover` takes it."""
    try:
        key = PrivateKey(bytes(private_key))
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(f"not a secp256k1 private key: {exc}") from None
    rsv = key.sign_recoverable(digest, hasher=None)
    return rsv[:64] + bytes([rsv[64] + 27])


def _recover(digest: bytes, signature: Any) -> str:
    if not isinstance(signature, bytes | bytearray) or len(signature) != 65:
        n = len(signature) if isinstance(signature, bytes | bytearray) else type(signature).__name__
        raise InvalidSignatureError(f"a capture signature is 65 bytes r‖s‖v, got {n}",
                                    reason="length")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    v = signature[64]
    if v not in (27, 28):
        raise InvalidSignatureError(f"signature v must be 27 or 28, got {v}", reason="v")
    if not 0 < r < SECP256K1_N or not 0 < s < SECP256K1_N:
        raise InvalidSignatureError("signature r or s is out of range", reason="range")
    if s > _HALF_N:
        raise InvalidSignatureError("signature s is in the upper half of the curve order "
                                    "(not canonical; sign with a low-s signer)", reason="high-s")
    try:
        public = PublicKey.from_signature_and_message(
            bytes(signature[:64]) + bytes([v - 27]), digest, hasher=None)
    except ValueError:
        raise InvalidSignatureError("signature does not recover a public key",
                                    reason="recovery") from None
    return _checksum(keccak256(public.format(compressed=False)[1:])[12:])


def recover_signer(domain: CaptureDomain, sig: CaptureSignature) -> str:
    """The checksummed address that signed `sig` in `domain`.

    A signature made for another domain or other fields recovers some other address: callers
    must compare the result with the key registered for the org.
    """
    return _recover(_digest_of(domain, sig), sig.signature)


def capture_commitments(events: Sequence[Mapping[str, Any]], event_ids: Sequence[bytes],
                        seed: bytes) -> tuple[bytes, ...]:
    """Each event's disclosure commitment (`ledger.proofs.disclosure.commit_document`)."""
    seed = _seed(seed)
    try:
        return tuple(c.commitment for c in commit_document(events, event_ids, seed))
    except DisclosureError as exc:
        raise CaptureMismatchError(f"the events cannot be committed: {exc}",
                                   field="events") from None


def prepare_capture(events: Sequence[Mapping[str, Any]], event_ids: Sequence[bytes],
                    seed: bytes | None = None) -> tuple[bytes, tuple[bytes, ...], bytes]:
    """What a signer needs before `sign_capture`: (seed, commitments, eventsRoot).

    `seed` defaults to a fresh one from the CSPRNG (`disclosure.new_seed`); send it with the
    capture (`signature_to_headers`, `signature_to_json`) and keep it nowhere public."""
    seed = new_seed() if seed is None else _seed(seed)
    commitments = capture_commitments(events, event_ids, seed)
    return seed, commitments, events_tree(commitments).root


def _seed(seed: Any) -> bytes:
    if not isinstance(seed, bytes | bytearray) or len(seed) != 32:
        raise InvalidCaptureError("the disclosure seed must be 32 bytes", field="disclosureSeed")
    return bytes(seed)


def build_signed_capture(document_events: Sequence[dict[str, Any]], context: Any,
                         event_ids: Sequence[bytes], sig: CaptureSignature,
                         domain: CaptureDomain, *, seed: bytes,
                         commitments: Sequence[bytes] | None = None,
                         expected_signer: str | None = None) -> SignedCapture:
    """Check that `sig` covers exactly these events, recover its signer, and bundle them.

    Requirements: one event id per event; `sig.count` and `sig.events_root` equal the count and
    Merkle root of the events' commitments under `seed` (`commitments`, if given, must be
    those: callers that computed them already pass them); a valid low-s signature; if
    `expected_signer` is given (e.g. the "signer" a file claims) the recovered address must
    equal it.
    """
    if len(event_ids) != len(document_events):
        raise CaptureMismatchError(
            f"{len(event_ids)} event ids for {len(document_events)} events",
            field="events", expected=len(document_events), actual=len(event_ids))
    if sig.count != len(event_ids):
        raise CaptureMismatchError(
            f"the signature covers {sig.count} events but the document has {len(event_ids)}",
            field="count", expected=len(event_ids), actual=sig.count)
    seed = _seed(seed)
    if commitments is None:
        commitments = capture_commitments(document_events, event_ids, seed)
    commitments = tuple(commitments)
    root = events_tree(commitments).root
    if root != sig.events_root:
        raise CaptureMismatchError(
            "the signed eventsRoot is not the Merkle root of the document's event commitments "
            "under its disclosure seed (altered events, or another seed than the one signed)",
            field="eventsRoot", expected="0x" + root.hex(),
            actual="0x" + bytes(sig.events_root).hex())
    digest = _digest_of(domain, sig)
    signer = _recover(digest, sig.signature)
    if expected_signer is not None and checksum_address(expected_signer) != signer:
        raise InvalidSignatureError(
            f"the signature recovers {signer}, not the claimed signer {expected_signer}",
            reason="signer", recovered=signer, claimed=expected_signer)
    return SignedCapture(signature=sig, signer=signer, digest=digest,
                         event_ids=tuple(event_ids), events=tuple(document_events),
                         context=context, seed=seed, commitments=commitments)


# --- JSON ----------------------------------------------------------------------------------------

class CaptureJson(NamedTuple):
    """A parsed "capture" object: the signature, its domain, the signer the file claims, and
    the disclosure seed the events were committed with."""

    signature: CaptureSignature
    domain: CaptureDomain
    signer: str | None
    seed: bytes


def signature_to_json(domain: CaptureDomain, sig: CaptureSignature,
                      seed: bytes) -> dict[str, Any]:
    """The "capture" object of a signed capture file. The signer is recovered, never trusted."""
    return {
        "eventsRoot": "0x" + bytes(sig.events_root).hex(),
        "count": sig.count,
        "org": "0x" + bytes(sig.org).hex(),
        "nonce": sig.nonce,
        "signedAt": sig.signed_at,
        "signature": "0x" + bytes(sig.signature).hex(),
        "signer": recover_signer(domain, sig),
        "chainId": domain.chain_id,
        "verifyingContract": domain.verifying_contract,
        "disclosureSeed": "0x" + _seed(seed).hex(),
    }


def _hex(value: Any, size: int, field: str,
         error: type[InvalidCaptureError | InvalidSignatureError] = InvalidCaptureError) -> bytes:
    if not isinstance(value, str) or value[:2] not in ("0x", "0X"):
        raise error(f"{field} must be a 0x-prefixed hex string", field=field)
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError:
        raise error(f"{field} is not valid hex", field=field) from None
    if len(raw) != size:
        raise error(f"{field} must be {size} bytes, got {len(raw)}", field=field)
    return raw


def _int(value: Any, field: str) -> int:
    # Decimal strings are accepted too: JavaScript tooling cannot carry a uint64 as a number.
    if isinstance(value, str) and value.isascii() and value.isdecimal():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise InvalidCaptureError(f"{field} must be an integer", field=field)


def signature_from_json(obj: Any) -> CaptureJson:
    """Parse a "capture" object. Field formats are checked here; the signature is not."""
    if not isinstance(obj, Mapping):
        raise InvalidCaptureError("the capture must be a JSON object", field="capture")
    missing = [k for k in ("eventsRoot", "count", "org", "nonce", "signedAt", "signature",
                           "chainId", "verifyingContract", "disclosureSeed") if k not in obj]
    if missing:
        raise InvalidCaptureError(f"the capture lacks {', '.join(missing)}", field=missing[0])
    sig = CaptureSignature(
        events_root=_hex(obj["eventsRoot"], 32, "eventsRoot"),
        count=_uint(_int(obj["count"], "count"), _UINT32, "count"),
        org=_hex(obj["org"], 32, "org"),
        nonce=_uint(_int(obj["nonce"], "nonce"), _UINT64, "nonce"),
        signed_at=_uint(_int(obj["signedAt"], "signedAt"), _UINT64, "signedAt"),
        # Anything wrong with the signature bytes is a signature failure (403), as in recovery.
        signature=_hex(obj["signature"], 65, "signature", InvalidSignatureError),
    )
    if not isinstance(obj["verifyingContract"], str):
        raise InvalidCaptureError("verifyingContract must be an address", field="verifyingContract")
    domain = CaptureDomain(_int(obj["chainId"], "chainId"), obj["verifyingContract"])
    signer = obj.get("signer")
    if signer is not None:
        if not isinstance(signer, str):
            raise InvalidCaptureError("signer must be an address", field="signer")
        signer = checksum_address(signer)
    return CaptureJson(sig, domain, signer, _hex(obj["disclosureSeed"], 32, "disclosureSeed"))


# --- HTTP headers --------------------------------------------------------------------------------

def signature_to_headers(sig: CaptureSignature, seed: bytes) -> dict[str, str]:
    """Headers that carry a capture's signature and disclosure seed beside the document sent
    as the body."""
    return {
        HEADER_SIGNATURE: "0x" + bytes(sig.signature).hex(),
        HEADER_ORG: "0x" + bytes(sig.org).hex(),
        HEADER_NONCE: str(sig.nonce),
        HEADER_SIGNED_AT: str(sig.signed_at),
        HEADER_SEED: "0x" + _seed(seed).hex(),
    }


_HEADERS = (HEADER_SIGNATURE, HEADER_ORG, HEADER_NONCE, HEADER_SIGNED_AT, HEADER_SEED)


def _read_headers(headers: Mapping[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    wanted = {h.lower() for h in _HEADERS}
    for key, value in headers.items():
        low = key.lower()
        if low in wanted:
            if low in found:
                raise InvalidCaptureError(f"header {key} is repeated", field=key)
            found[low] = value.strip()
    for name in _HEADERS:
        if name.lower() not in found:
            raise InvalidCaptureError(f"missing header {name}", field=name)
    return found


def seed_from_headers(headers: Mapping[str, str]) -> bytes:
    """The disclosure seed of an HTTP capture (`HEADER_SEED`, 0x + 64 hex digits)."""
    return _hex(_read_headers(headers)[HEADER_SEED.lower()], 32, HEADER_SEED)


def signature_from_headers(headers: Mapping[str, str], *, events_root: bytes,
                           count: int) -> CaptureSignature:
    """Read the signature headers (any case); root and count come from the body's events
    (committed under the seed of `seed_from_headers`). All five headers must be present.

    A repeated signature header is refused: two values leave it open which one was meant.
    """
    found = _read_headers(headers)
    _hex(found[HEADER_SEED.lower()], 32, HEADER_SEED)  # well formed, whoever reads it

    def number(name: str) -> int:
        text = found[name.lower()]
        if not (text.isascii() and text.isdecimal()):
            raise InvalidCaptureError(f"header {name} must be a decimal integer", field=name)
        return int(text)

    return CaptureSignature(
        events_root=_bytes32(events_root, "eventsRoot"),
        count=_uint(count, _UINT32, "count"),
        org=_hex(found[HEADER_ORG.lower()], 32, HEADER_ORG),
        nonce=_uint(number(HEADER_NONCE), _UINT64, HEADER_NONCE),
        signed_at=_uint(number(HEADER_SIGNED_AT), _UINT64, HEADER_SIGNED_AT),
        signature=_hex(found[HEADER_SIGNATURE.lower()], 65, HEADER_SIGNATURE,
                       InvalidSignatureError),
    )
