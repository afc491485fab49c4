"""EIP-712 capture signatures: digest equal to eth_account's, sign/recover, canonical-only."""

from __future__ import annotations

import json

import pytest
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from eth_keys import keys
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import AuthorizationError, InvalidInputError
from ledger.proofs.capture import CaptureSignature, event_leaf, events_tree
from ledger.proofs.signing import (
    HEADER_NONCE,
    HEADER_ORG,
    HEADER_SEED,
    HEADER_SIGNATURE,
    HEADER_SIGNED_AT,
    SECP256K1_N,
    CaptureDomain,
    CaptureMismatchError,
    InvalidCaptureError,
    InvalidSignatureError,
    build_signed_capture,
    capture_commitments,
    capture_digest,
    capture_struct_hash,
    checksum_address,
    prepare_capture,
    recover_signer,
    seed_from_headers,
    sign_capture,
    signature_from_headers,
    signature_from_json,
    signature_to_headers,
    signature_to_json,
)

CAPTURE_TYPES = {"Capture": [
    {"name": "eventsRoot", "type": "bytes32"},
    {"name": "count", "type": "uint32"},
    {"name": "org", "type": "bytes32"},
    {"name": "nonce", "type": "uint64"},
    {"name": "signedAt", "type": "uint64"},
]}
KEY = bytes.fromhex("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")  # anvil #0
ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
DOMAIN = CaptureDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
ORG = b"0614141000005".ljust(32, b"\0")
ROOT = bytes(range(32))

bytes32 = st.binary(min_size=32, max_size=32)
uint32 = st.integers(0, 2**32 - 1)
uint64 = st.integers(0, 2**64 - 1)
private_keys = st.integers(1, SECP256K1_N - 1).map(lambda k: k.to_bytes(32, "big"))
addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
domains = st.builds(CaptureDomain, st.integers(1, 2**256 - 1), addresses)


def eth_account_message(domain, root, count, org, nonce, signed_at):
    return encode_typed_data(domain.to_eip712(), CAPTURE_TYPES, {
        "eventsRoot": root, "count": count, "org": org, "nonce": nonce, "signedAt": signed_at})


def sign(key=KEY, domain=DOMAIN, root=ROOT, count=3, org=ORG, nonce=1, signed_at=1_700_000_000):
    return sign_capture(key, domain, root, count, org, nonce, signed_at)


def with_signature(sig: CaptureSignature, raw: bytes) -> CaptureSignature:
    return CaptureSignature(sig.events_root, sig.count, sig.org, sig.nonce, sig.signed_at, raw)


def high_s_twin(raw: bytes) -> bytes:
    """The other valid encoding of the same signature: s → n − s, and the recovery id flips."""
    s = int.from_bytes(raw[32:64], "big")
    return raw[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - raw[64]])


# --- the digest ----------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(domains, bytes32, uint32, bytes32, uint64, uint64)
def test_digest_equals_eth_account_encode_typed_data(domain, root, count, org, nonce, signed_at):
    message = eth_account_message(domain, root, count, org, nonce, signed_at)
    assert domain.separator == message.header
    assert capture_struct_hash(root, count, org, nonce, signed_at) == message.body
    assert capture_digest(domain, root, count, org, nonce, signed_at) == _hash_eip191_message(message)


def test_domain_address_spellings_are_one_domain():
    lower = CaptureDomain(31337, DOMAIN.verifying_contract.lower())
    assert lower == DOMAIN and lower.separator == DOMAIN.separator
    assert lower.verifying_contract == "0x5FbDB2315678afecb367f032d93F642f64180aa3"


@pytest.mark.parametrize("bad", ["0x5fbDB2315678afecb367f032d93F642f64180aa3",  # checksum typo
                                 "0x1234", "0x" + "zz" * 20])
def test_domain_rejects_bad_contract_address(bad):
    with pytest.raises(InvalidCaptureError):
        CaptureDomain(1, bad)


@given(st.binary(min_size=20, max_size=20))
def test_checksum_address_matches_eth_utils(raw):
    from eth_utils import to_checksum_address

    assert checksum_address(raw) == checksum_address("0x" + raw.hex()) == to_checksum_address(raw)


@pytest.mark.parametrize(("field", "kwargs"), [
    ("count", {"count": 2**32}), ("count", {"count": -1}), ("count", {"count": True}),
    ("nonce", {"nonce": 2**64}), ("signedAt", {"signed_at": 2**64}),
    ("eventsRoot", {"root": b"\x00" * 31}), ("org", {"org": "0614141000005"}),
])
def test_out_of_range_fields_rejected(field, kwargs):
    with pytest.raises(InvalidCaptureError) as exc:
        sign(**kwargs)
    assert exc.value.fields["field"] == field and exc.value.status == 400


# --- sign and recover ----------------------------------------------------------------------------

def test_sign_known_key_recovers_its_address():
    sig = sign()
    assert recover_signer(DOMAIN, sig) == ADDRESS
    assert len(sig.signature) == 65 and sig.signature[64] in (27, 28)


@settings(max_examples=40, deadline=None)
@given(private_keys, domains, bytes32, uint32, bytes32, uint64, uint64)
def test_round_trip_and_same_bytes_as_eth_account(key, domain, root, count, org, nonce, signed_at):
    sig = sign_capture(key, domain, root, count, org, nonce, signed_at)
    address = Account.from_key(key).address
    assert recover_signer(domain, sig) == address
    assert int.from_bytes(sig.signature[32:64], "big") <= SECP256K1_N // 2
    # Both sign deterministically (RFC 6979) with low s, so the bytes are identical.
    theirs = Account.sign_typed_data(key, domain.to_eip712(), CAPTURE_TYPES, {
        "eventsRoot": root, "count": count, "org": org, "nonce": nonce, "signedAt": signed_at})
    assert sig.signature == bytes(theirs.signature)


def test_high_s_twin_is_rejected_although_it_is_mathematically_valid():
    sig = sign()
    twin = high_s_twin(sig.signature)
    digest = capture_digest(DOMAIN, ROOT, 3, ORG, 1, 1_700_000_000)
    # A permissive recoverer (eth_keys) gets the same signer from the twin: that is malleability.
    r, s, v = (int.from_bytes(twin[:32], "big"), int.from_bytes(twin[32:64], "big"), twin[64])
    permissive = keys.Signature(vrs=(v - 27, r, s)).recover_public_key_from_msg_hash(digest)
    assert permissive.to_checksum_address() == ADDRESS
    with pytest.raises(InvalidSignatureError) as exc:
        recover_signer(DOMAIN, with_signature(sig, twin))
    assert exc.value.fields["reason"] == "high-s"


@settings(max_examples=20, deadline=None)
@given(private_keys, bytes32, uint64)
def test_high_s_twin_always_rejected(key, root, nonce):
    sig = sign(key=key, root=root, nonce=nonce)
    with pytest.raises(InvalidSignatureError, match="upper half"):
        recover_signer(DOMAIN, with_signature(sig, high_s_twin(sig.signature)))


def test_other_chain_or_contract_recovers_another_signer():
    sig = sign()
    assert recover_signer(CaptureDomain(1, DOMAIN.verifying_contract), sig) != ADDRESS
    assert recover_signer(CaptureDomain(31337, "0x" + "22" * 20), sig) != ADDRESS
    assert recover_signer(CaptureDomain(31337, DOMAIN.verifying_contract, version="1"), sig) != ADDRESS


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(["events_root", "count", "org", "nonce", "signed_at"]), st.data())
def test_any_changed_field_recovers_another_signer(field, data):
    sig = sign()
    values = {"events_root": ROOT, "count": 3, "org": ORG, "nonce": 1, "signed_at": 1_700_000_000}
    strategy = {"events_root": bytes32, "org": bytes32, "count": uint32}.get(field, uint64)
    values[field] = data.draw(strategy.filter(lambda x: x != values[field]))
    changed = CaptureSignature(signature=sig.signature, **values)
    try:
        assert recover_signer(DOMAIN, changed) != ADDRESS
    except InvalidSignatureError:
        pass  # a digest for which r is not recoverable at all is a rejection too


@pytest.mark.parametrize(("reason", "mutate"), [
    ("length", lambda raw: raw[:64]),
    ("length", lambda raw: raw + b"\x00"),
    ("length", lambda raw: b""),
    ("v", lambda raw: raw[:64] + b"\x00"),
    ("v", lambda raw: raw[:64] + b"\x01"),
    ("v", lambda raw: raw[:64] + b"\x1d"),
    ("range", lambda raw: bytes(32) + raw[32:]),
    ("range", lambda raw: raw[:32] + bytes(32) + raw[64:]),
    ("range", lambda raw: SECP256K1_N.to_bytes(32, "big") + raw[32:]),
    # r = 5 is in range but no curve point has x = 5 (5³ + 7 is not a square mod p).
    ("recovery", lambda raw: (5).to_bytes(32, "big") + raw[32:]),
])
def test_malformed_signatures_rejected(reason, mutate):
    sig = sign()
    with pytest.raises(InvalidSignatureError) as exc:
        recover_signer(DOMAIN, with_signature(sig, mutate(sig.signature)))
    assert exc.value.fields["reason"] == reason


def test_invalid_signature_error_is_a_stable_403_problem():
    err = InvalidSignatureError("x", reason="v")
    assert isinstance(err, AuthorizationError)
    problem = err.to_problem()
    assert problem["type"] == "urn:zhenzhi:problem:invalid-capture-signature"
    assert problem["status"] == 403 and problem["reason"] == "v"
    assert issubclass(CaptureMismatchError, InvalidInputError)
    assert CaptureMismatchError.slug == "capture-mismatch"


def test_bad_private_key_rejected():
    with pytest.raises(InvalidInputError, match="private key"):
        sign(key=bytes(32))


# --- build_signed_capture ------------------------------------------------------------------------

EVENT_IDS = [bytes([i]) * 32 for i in range(1, 6)]
EVENTS = [{"type": "ObjectEvent", "n": i} for i in range(5)]


SEED = bytes(range(100, 132))


def commitments(events=EVENTS, ids=EVENT_IDS, seed=SEED):
    return capture_commitments(events, ids, seed)


def signed_for(ids, events=None, seed=SEED, **kwargs):
    events = EVENTS[:len(ids)] if events is None else events
    return sign(root=events_tree(commitments(events, ids, seed)).root, count=len(ids), **kwargs)


def test_domain_version_is_2():
    """eventsRoot is over disclosure commitments since version "2" (over bare ids in "1")."""
    assert DOMAIN.version == "2" and DOMAIN.to_eip712()["version"] == "2"


def test_build_signed_capture_recovers_and_bundles():
    sig = signed_for(EVENT_IDS)
    sc = build_signed_capture(EVENTS, {"@vocab": "x"}, EVENT_IDS, sig, DOMAIN, seed=SEED,
                              expected_signer=ADDRESS.lower())
    assert sc.signer == ADDRESS and sc.event_ids == tuple(EVENT_IDS) and sc.events == tuple(EVENTS)
    assert sc.digest == capture_digest(DOMAIN, sig.events_root, 5, ORG, 1, 1_700_000_000)
    assert sc.context == {"@vocab": "x"} and sc.signature == sig
    assert sc.seed == SEED and sc.commitments == commitments()


def test_prepare_capture_draws_a_fresh_seed_and_gives_the_root():
    seed, got, root = prepare_capture(EVENTS, EVENT_IDS)
    assert len(seed) == 32 and got == commitments(seed=seed)
    assert root == events_tree(got).root
    assert prepare_capture(EVENTS, EVENT_IDS)[0] != seed  # a new seed per capture
    assert prepare_capture(EVENTS, EVENT_IDS, SEED) == (SEED, commitments(), events_tree(
        commitments()).root)
    with pytest.raises(InvalidCaptureError):
        prepare_capture(EVENTS, EVENT_IDS, b"short")


def test_single_event_is_a_tree_of_one():
    sig = signed_for(EVENT_IDS[:1])
    assert sig.events_root == event_leaf(commitments(EVENTS[:1], EVENT_IDS[:1])[0])
    assert build_signed_capture(EVENTS[:1], None, EVENT_IDS[:1], sig, DOMAIN,
                                seed=SEED).signer == ADDRESS


def test_build_rejects_count_mismatch():
    sig = sign(root=events_tree(commitments()).root, count=4)
    with pytest.raises(CaptureMismatchError) as exc:
        build_signed_capture(EVENTS, None, EVENT_IDS, sig, DOMAIN, seed=SEED)
    assert exc.value.fields == {"field": "count", "expected": 5, "actual": 4}


@pytest.mark.parametrize("ids", [
    EVENT_IDS[::-1],  # same events, other order
    [*EVENT_IDS[:4], bytes(32)],  # one event swapped
])
def test_build_rejects_root_mismatch(ids):
    sig = signed_for(EVENT_IDS)
    with pytest.raises(CaptureMismatchError) as exc:
        build_signed_capture(EVENTS, None, ids, sig, DOMAIN, seed=SEED)
    assert exc.value.fields["field"] == "eventsRoot"


def test_build_rejects_an_altered_event_under_the_same_ids():
    sig = signed_for(EVENT_IDS)
    altered = [*EVENTS[:4], {"type": "ObjectEvent", "n": 99}]
    with pytest.raises(CaptureMismatchError) as exc:
        build_signed_capture(altered, None, EVENT_IDS, sig, DOMAIN, seed=SEED)
    assert exc.value.fields["field"] == "eventsRoot"


def test_build_rejects_a_seed_other_than_the_one_signed_over():
    sig = signed_for(EVENT_IDS)
    with pytest.raises(CaptureMismatchError, match="seed") as exc:
        build_signed_capture(EVENTS, None, EVENT_IDS, sig, DOMAIN, seed=bytes(32))
    assert exc.value.fields["field"] == "eventsRoot"
    with pytest.raises(InvalidCaptureError):
        build_signed_capture(EVENTS, None, EVENT_IDS, sig, DOMAIN, seed=SEED[:31])


def test_build_rejects_ids_not_matching_events():
    with pytest.raises(CaptureMismatchError, match="4 event ids for 5 events"):
        build_signed_capture(EVENTS, None, EVENT_IDS[:4], signed_for(EVENT_IDS[:4]), DOMAIN,
                             seed=SEED)


def test_build_rejects_claimed_signer_that_did_not_sign():
    with pytest.raises(InvalidSignatureError) as exc:
        build_signed_capture(EVENTS, None, EVENT_IDS, signed_for(EVENT_IDS), DOMAIN, seed=SEED,
                             expected_signer="0x" + "33" * 20)
    assert exc.value.fields["recovered"] == ADDRESS


def test_build_rejects_high_s():
    sig = signed_for(EVENT_IDS)
    with pytest.raises(InvalidSignatureError):
        build_signed_capture(EVENTS, None, EVENT_IDS,
                             with_signature(sig, high_s_twin(sig.signature)), DOMAIN, seed=SEED)


# --- JSON and headers ----------------------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(domains, bytes32, uint32, bytes32, uint64, uint64)
def test_json_round_trip(domain, root, count, org, nonce, signed_at):
    sig = sign_capture(KEY, domain, root, count, org, nonce, signed_at)
    obj = signature_to_json(domain, sig, SEED)
    assert obj["signer"] == ADDRESS and obj["chainId"] == domain.chain_id
    assert obj["disclosureSeed"] == "0x" + SEED.hex()
    parsed = signature_from_json(json.loads(json.dumps(obj)))
    assert parsed == (sig, domain, ADDRESS, SEED)


def test_json_accepts_decimal_strings_for_integers():
    obj = signature_to_json(DOMAIN, sign(nonce=2**64 - 1), SEED)
    obj["nonce"], obj["chainId"] = str(obj["nonce"]), str(obj["chainId"])
    parsed = signature_from_json(obj)
    assert parsed.signature.nonce == 2**64 - 1 and parsed.domain == DOMAIN


@pytest.mark.parametrize(("key", "value", "error"), [
    ("eventsRoot", "0x00", InvalidCaptureError),
    ("org", "0614141000005", InvalidCaptureError),
    ("count", 2**32, InvalidCaptureError),
    ("count", "3.0", InvalidCaptureError),
    ("nonce", -1, InvalidCaptureError),
    ("signedAt", None, InvalidCaptureError),
    ("chainId", True, InvalidCaptureError),
    ("verifyingContract", 5, InvalidCaptureError),
    ("signer", "0xnot-an-address", InvalidCaptureError),
    ("signature", "0x" + "ab" * 64, InvalidSignatureError),
    ("signature", "ab" * 65, InvalidSignatureError),
    ("disclosureSeed", "0x" + "ab" * 31, InvalidCaptureError),
    ("disclosureSeed", None, InvalidCaptureError),
])
def test_json_rejects_malformed_fields(key, value, error):
    obj = signature_to_json(DOMAIN, sign(), SEED)
    obj[key] = value
    with pytest.raises(error):
        signature_from_json(obj)


def test_json_rejects_missing_fields_and_non_objects():
    obj = signature_to_json(DOMAIN, sign(), SEED)
    del obj["nonce"]
    with pytest.raises(InvalidCaptureError, match="lacks nonce"):
        signature_from_json(obj)
    with pytest.raises(InvalidCaptureError):
        signature_from_json([1, 2])
    obj = signature_to_json(DOMAIN, sign(), SEED)
    del obj["disclosureSeed"]
    with pytest.raises(InvalidCaptureError, match="lacks disclosureSeed"):
        signature_from_json(obj)


def test_headers_round_trip_any_case():
    sig = sign(nonce=2**63, signed_at=1_700_000_123)
    headers = signature_to_headers(sig, SEED)
    assert set(headers) == {"Zhenzhi-Capture-Signature", "Zhenzhi-Capture-Org",
                            "Zhenzhi-Capture-Nonce", "Zhenzhi-Capture-Signed-At",
                            "Zhenzhi-Capture-Disclosure-Seed"}
    lowered = {k.lower(): v for k, v in headers.items()}
    for h in (headers, lowered):
        assert signature_from_headers(h, events_root=ROOT, count=3) == sig
        assert seed_from_headers(h) == SEED


def test_headers_missing_repeated_or_malformed():
    headers = signature_to_headers(sign(), SEED)
    with pytest.raises(InvalidCaptureError, match=f"missing header {HEADER_NONCE}"):
        signature_from_headers({k: v for k, v in headers.items() if k != HEADER_NONCE},
                               events_root=ROOT, count=3)

    class Repeated(dict):
        def items(self):
            return [*super().items(), (HEADER_ORG.upper(), headers[HEADER_ORG])]

    with pytest.raises(InvalidCaptureError, match="repeated"):
        signature_from_headers(Repeated(headers), events_root=ROOT, count=3)
    with pytest.raises(InvalidCaptureError, match="decimal"):
        signature_from_headers({**headers, HEADER_SIGNED_AT: "-1"}, events_root=ROOT, count=3)
    with pytest.raises(InvalidSignatureError):
        signature_from_headers({**headers, HEADER_SIGNATURE: "0x1234"}, events_root=ROOT, count=3)


@pytest.mark.parametrize("value", [None, "", "0x1234", "ab" * 32, "0x" + "zz" * 32,
                                   "0x" + "ab" * 33])
def test_headers_without_a_well_formed_seed_are_refused(value):
    headers = signature_to_headers(sign(), SEED)
    if value is None:
        del headers[HEADER_SEED]
    else:
        headers[HEADER_SEED] = value
    for read in (seed_from_headers,
                 lambda h: signature_from_headers(h, events_root=ROOT, count=3)):
        with pytest.raises(InvalidCaptureError) as exc:
            read(headers)
        assert exc.value.status == 400


def test_headers_from_starlette_request_headers():
    """The gateway passes Starlette's Headers (lower-case raw names, repeats kept)."""
    from starlette.datastructures import Headers

    sig = sign()
    raw = [(k.lower().encode(), v.encode()) for k, v in signature_to_headers(sig, SEED).items()]
    assert signature_from_headers(Headers(raw=raw), events_root=ROOT, count=3) == sig
    with pytest.raises(InvalidCaptureError, match="repeated"):
        signature_from_headers(Headers(raw=[*raw, raw[0]]), events_root=ROOT, count=3)
