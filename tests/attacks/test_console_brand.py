"""Attack class: acting as a brand in the console without being that brand, now, from its page.

The brand's console actions (`gateway.routes.console_brand`) issue a lot's codes and relay the
wallet's EIP-712 `RegisterLot` signature to CodeRegistry. Against the real gateway (uvicorn),
anvil with the deployed contracts and a real store, each attack is refused with a problem and
changes nothing (no codes stored, nothing on CodeRegistry):

- a role acting outside its role: a customs officer, and an enterprise that does not own the
  GTIN's company prefix;
- a cross-site request (foreign or missing Origin) riding a brand's session;
- a session whose key was revoked on chain since it logged in;
- a replayed RegisterLot signature (once more for the same lot, or on another lot), and a
  signature by a key other than the session's;
- for signed replies to complaints: a replayed reply, a reply signed for another complaint,
  a reply to a complaint about someone else's product.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from siwe import SiweMessage

from bench.gateway import revoke_key
from ledger.proofs.codes import check_digit, codes_tree
from tests.integration.traceability_env import Org, gtin, signed

pytestmark = [pytest.mark.chain]

GTIN = gtin("0031")
_lots = itertools.count(int(time.time()) % 100_000 * 10)


def _lot() -> str:
    return f"CB-{next(_lots)}"


def _log_in(client: httpx.Client, who: Org) -> None:
    fields = client.get("/console/nonce").json()
    message = SiweMessage(
        domain=fields["domain"], address=who.address, statement=fields["statement"],
        uri=fields["uri"], version="1", chain_id=fields["chainId"], nonce=fields["nonce"],
        issued_at=fields["issuedAt"], expiration_time=fields["expirationTime"]
    ).prepare_message()
    signature = Account.sign_message(encode_defunct(text=message), who.key).signature
    r = client.post("/console/login", json={"message": message,
                                            "signature": "0x" + bytes(signature).hex()})
    assert r.status_code == 200, r.text


@pytest.fixture
def console(client_for: Any) -> Iterator[Any]:
    """`console(who)`: an httpx client of a fresh gateway (with a relayer), sending the
    console's own Origin, logged in as `who`."""
    base = client_for()
    opened: list[httpx.Client] = []

    def make(who: Org) -> httpx.Client:
        client = httpx.Client(base_url=str(base.base_url), timeout=60.0,
                              headers={"Origin": str(base.base_url).rstrip("/")})
        client.database_url = base.database_url  # type: ignore[attr-defined]
        opened.append(client)
        _log_in(client, who)
        return client

    yield make
    for client in opened:
        client.close()


def _issue(client: httpx.Client, lot: str, count: int = 3, **headers: str) -> httpx.Response:
    return client.post("/console/brand/lots", json={"gtin": GTIN, "lot": lot, "count": count},
                       headers=headers)


def _sign_typed(typed: dict[str, Any], key: str) -> str:
    # As a wallet's eth_signTypedData_v4 does, from the JSON the page hands it.
    message = encode_typed_data(full_message=json.loads(json.dumps(typed)))
    return "0x" + bytes(Account.sign_message(message, key).signature).hex()


def _register(client: httpx.Client, lot: str, deadline: int, signature: str,
              **headers: str) -> httpx.Response:
    return client.post(f"/console/brand/lots/{GTIN}/{lot}/registration",
                       json={"deadline": deadline, "signature": signature}, headers=headers)


def _problem(r: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    assert r.json()["type"] == f"urn:zhenzhi:problem:{slug}", r.json()
    return r.json()


def _nothing_stored(client: httpx.Client, trace_stack: Any, lot: str) -> None:
    r = signed(client, trace_stack.brand, "GET", f"/codes/lots/{GTIN}/{lot}")
    _problem(r, 404, "unknown-lot")
    assert trace_stack.chain.lot(GTIN, lot) is None


def test_brand_issues_signs_in_its_wallet_and_the_lot_is_on_code_registry(
        trace_stack: Any, console: Any) -> None:
    client = console(trace_stack.brand)
    lot = _lot()
    r = _issue(client, lot, count=5)
    assert r.status_code == 201, r.text
    issued = r.json()
    typed = issued["typedData"]
    assert typed["primaryType"] == "RegisterLot"
    assert typed["domain"]["verifyingContract"] == trace_stack.deployment.address("CodeRegistry")
    assert issued["signer"] == trace_stack.brand.address
    r = _register(client, lot, typed["message"]["deadline"],
                  _sign_typed(typed, trace_stack.brand.key))
    assert r.status_code == 200, r.text
    assert r.json()["chain"] == {"status": "active", "matchesIssued": True}
    on_chain = trace_stack.chain.lot(GTIN, lot)
    assert on_chain.org == trace_stack.brand.org and on_chain.count == 5
    serials = signed(client, trace_stack.brand, "GET", f"/codes/lots/{GTIN}/{lot}"
                     ).json()["serials"]
    assert on_chain.codes_root == codes_tree(GTIN, serials).root
    pdf = client.get(f"/console/brand/lots/{GTIN}/{lot}/labels.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    page = client.get("/console/brand")
    assert page.status_code == 200 and f'data-lot="{lot}"' in page.text
    assert "status_active" in page.text


def test_attack_customs_acting_as_a_brand_is_refused(trace_stack: Any, console: Any) -> None:
    client = console(trace_stack.customs)
    lot = _lot()
    problem = _problem(_issue(client, lot), 403, "console-role-required")
    assert problem["roles"] == ["ENTERPRISE"] and problem["held"] == ["CUSTOMS"]
    _problem(client.get(f"/console/brand/lots/{GTIN}/{lot}/labels.pdf"), 403,
             "console-role-required")
    assert client.get("/console/brand").status_code == 403
    _nothing_stored(client, trace_stack, lot)


def test_attack_enterprise_issuing_for_a_prefix_it_does_not_own_is_refused(
        trace_stack: Any, console: Any) -> None:
    client = console(trace_stack.other)
    lot = _lot()
    _problem(_issue(client, lot), 403, "not-prefix-owner")
    _nothing_stored(client, trace_stack, lot)


@pytest.mark.parametrize("origin", ["http://evil.example", "null", None])
def test_attack_cross_site_request_riding_a_brand_session_is_refused(
        trace_stack: Any, console: Any, origin: str | None) -> None:
    client = console(trace_stack.brand)
    lot = _lot()
    if origin is None:
        client.headers.pop("Origin")
        r = _issue(client, lot)
    else:
        r = _issue(client, lot, Origin=origin)
    _problem(r, 403, "cross-origin-request")
    _nothing_stored(client, trace_stack, lot)
    # The registration relay is guarded the same way.
    client.headers["Origin"] = str(client.base_url).rstrip("/")
    issued = _issue(client, lot).json()
    typed = issued["typedData"]
    sig = _sign_typed(typed, trace_stack.brand.key)
    _problem(_register(client, lot, typed["message"]["deadline"], sig,
                       Origin="http://evil.example"), 403, "cross-origin-request")
    assert trace_stack.chain.lot(GTIN, lot) is None


def test_attack_session_after_its_key_is_revoked_is_refused(trace_stack: Any,
                                                           console: Any) -> None:
    # Its own brand (and prefix), so revoking its key leaves the shared brand alone.
    n = next(_lots) % 10_000
    brand = trace_stack.member("Revoked Brand Ltd", f"47133{n:04d}001", ["ENTERPRISE"],
                               f"4713{n:04d}")
    client = console(brand)
    item = "0" + f"4713{n:04d}" + "0001"
    own_gtin = item + str(check_digit(item))
    assert client.post("/console/brand/lots", json={"gtin": own_gtin, "lot": "L1", "count": 1}
                       ).status_code == 201
    revoke_key(trace_stack.w3, trace_stack.deployment, brand.address)
    # The gateway's chain view reaches the revoking block within its staleness bound.
    deadline = time.monotonic() + 60
    while True:
        r = client.post("/console/brand/lots", json={"gtin": own_gtin, "lot": "L2", "count": 1})
        if r.status_code != 201:
            break
        assert time.monotonic() < deadline, "the session outlived its key's revocation"
        time.sleep(0.3)
    _problem(r, 401, "console-session-required")
    # Closed, not refused once: the page sends it to the log-in.
    page = client.get("/console/brand", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/console/login"


def test_attack_replayed_registration_signature_is_refused(trace_stack: Any,
                                                           console: Any) -> None:
    client = console(trace_stack.brand)
    first, second = _lot(), _lot()
    typed = _issue(client, first).json()["typedData"]
    sig = _sign_typed(typed, trace_stack.brand.key)
    deadline = typed["message"]["deadline"]
    assert _register(client, first, deadline, sig).status_code == 200
    # The same signature again, for the same lot: already registered, nothing sent.
    _problem(_register(client, first, deadline, sig), 409, "lot-already-registered")
    # The same signature on another lot of the brand's: it recovers to someone else.
    assert _issue(client, second).status_code == 201
    problem = _problem(_register(client, second, deadline, sig), 403,
                       "signature-not-from-session-key")
    assert problem["reason"] == "not-session-key"
    assert trace_stack.chain.lot(GTIN, second) is None


def test_attack_signature_by_another_key_is_refused_before_anything_is_sent(
        trace_stack: Any, console: Any) -> None:
    client = console(trace_stack.brand)
    lot = _lot()
    typed = _issue(client, lot).json()["typedData"]
    forged = _sign_typed(typed, trace_stack.other.key)
    problem = _problem(_register(client, lot, typed["message"]["deadline"], forged), 403,
                       "signature-not-from-session-key")
    assert problem["recovered"] == trace_stack.other.address
    assert trace_stack.chain.lot(GTIN, lot) is None


def _complaint(client: httpx.Client, gtin_: str = GTIN) -> int:
    from ledger.store.store import Store
    from ledger.trade.complaints import ComplaintBook

    store = Store(client.database_url)  # type: ignore[attr-defined]
    try:
        return ComplaintBook(store.engine).file(gtin_, "SERIAL1", None, "the seal was broken",
                                                category="quality").complaint.id
    finally:
        store.close()


def _signed_reply(trace_stack: Any, key: str, complaint: int, text: str,
                  gtin_: str = GTIN) -> dict[str, Any]:
    from gateway.routes.console_brand import reply_typed_data

    at = int(time.time())
    typed = reply_typed_data(trace_stack.deployment.chainId, complaint, gtin_, text, at)
    return {"text": text, "repliedAt": at, "signature": _sign_typed(typed, key)}


def test_brand_replies_to_a_complaint_with_a_signed_reply_and_a_replay_is_refused(
        trace_stack: Any, console: Any) -> None:
    client = console(trace_stack.brand)
    first, second = _complaint(client), _complaint(client)
    body = _signed_reply(trace_stack, trace_stack.brand.key, first, "We are sorry: send it back.")
    r = client.post(f"/console/brand/complaints/{first}/replies", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["signer"] == trace_stack.brand.address
    page = client.get("/console/brand").text
    assert "We are sorry: send it back." in page
    # The same signed reply again: stored once.
    _problem(client.post(f"/console/brand/complaints/{first}/replies", json=body), 409,
             "reply-replayed")
    # Signed for the first complaint, posted on the second: recovers to someone else.
    _problem(client.post(f"/console/brand/complaints/{second}/replies", json=body), 403,
             "signature-not-from-session-key")
    # Signed by another key than the session's.
    forged = _signed_reply(trace_stack, trace_stack.other.key, second, "not us")
    _problem(client.post(f"/console/brand/complaints/{second}/replies", json=forged), 403,
             "signature-not-from-session-key")
    # Cross-site.
    other = _signed_reply(trace_stack, trace_stack.brand.key, second, "cross-site")
    _problem(client.post(f"/console/brand/complaints/{second}/replies", json=other,
                         headers={"Origin": "http://evil.example"}), 403, "cross-origin-request")
    assert "cross-site" not in client.get("/console/brand").text


def test_attack_reply_to_a_complaint_about_someone_elses_product_is_refused(
        trace_stack: Any, console: Any) -> None:
    brand = console(trace_stack.brand)
    complaint = _complaint(brand)
    thief = console(trace_stack.other)
    body = _signed_reply(trace_stack, trace_stack.other.key, complaint, "ignore this complaint")
    _problem(thief.post(f"/console/brand/complaints/{complaint}/replies", json=body), 403,
             "not-prefix-owner")
    customs = console(trace_stack.customs)
    body = _signed_reply(trace_stack, trace_stack.customs.key, complaint, "customs here")
    _problem(customs.post(f"/console/brand/complaints/{complaint}/replies", json=body), 403,
             "console-role-required")
    assert "ignore this complaint" not in brand.get("/console/brand").text
