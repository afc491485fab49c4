"""Attack class: acting as customs in the console without being customs, or on someone's behalf.

The customs console page (`gateway.routes.console_customs`) has two POSTs: `prepare` (what the
officer's wallet will sign) and `record` (the signed inspecting event, after the wallet's
CustomsRelease transaction). Against the real gateway, chain and store, each test plays the
wallet in Python exactly as a browser wallet would (it signs the transaction and the EIP-712
Capture with the officer's key; the gateway never sees the key) and checks:

- the whole decision works and lands on CustomsRelease, then the inspection outcome;
- a role outside its role (an enterprise's session) is refused, page and POSTs;
- a cross-site POST (foreign Origin, or none) is refused;
- a session whose key was revoked on chain is refused;
- a replayed signed event (the same record twice) is refused, and so is a record pointing at
  a transaction somebody else sent, or an event that does not state what the chain holds.
Every refusal is problem+json and changes nothing on chain or in the store.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from eth_account import Account

from bench.gateway import admit_member, revoke_key
from ledger.trade.customs import (
    DECLARING,
    Declaration,
    border_event,
    declaration_fields,
    inspecting_document,
)
from tests.attacks.test_console_login import _client, _gln, _log_in
from tests.integration.gateway_env import GatewayStack, Member

pytestmark = [pytest.mark.chain]


def _officer(w3: Any, deployment: Any, roles: tuple[str, ...] = ("CUSTOMS",)) -> Member:
    account = Account.create()
    org = admit_member(w3, deployment, _gln(), list(roles), [account.address])
    # Gas for the officer's own transactions: its wallet pays, not the gateway.
    w3.provider.make_request("anvil_setBalance", [account.address, hex(10**20)])
    return Member(org, bytes(account.key), account.address)


def _declare(stack: GatewayStack, office: bytes, ref: str) -> None:
    """The enterprise declares consignment `ref` to customs office `office` (a signed capture)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    event = border_event(DECLARING, event_time=now, epcs=[], offset="+00:00")
    event.update(declaration_fields(
        Declaration(ref, stack.enterprise.org, "NZ", "190110"), office))
    document = inspecting_document(event, created=now)
    sig = stack.sign(document, stack.enterprise)
    with stack.client() as c:
        r = c.post("/capture", content=json.dumps(document).encode(), headers=stack.headers(sig))
    assert r.status_code == 202, r.text


def _problem(r: httpx.Response, status: int, slug: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    assert r.json()["type"] == f"urn:zhenzhi:problem:{slug}", r.json()


def _send(w3: Any, key: bytes, tx: dict[str, Any]) -> str:
    """What a wallet's eth_sendTransaction does: sign with its own key, send, wait."""
    account = Account.from_key(key)
    full = {"from": account.address, "to": tx["to"], "data": tx["data"],
            "chainId": int(tx["chainId"], 16), "nonce": w3.eth.get_transaction_count(
                account.address), "gas": 500_000, "gasPrice": w3.eth.gas_price}
    signed = account.sign_transaction(full)
    h = w3.eth.send_raw_transaction(signed.raw_transaction)
    w3.eth.wait_for_transaction_receipt(h, timeout=120)
    return "0x" + bytes(h).hex()


def _sign_typed(key: bytes, typed: dict[str, Any]) -> str:
    signed = Account.sign_typed_data(key, full_message=typed)
    return "0x" + bytes(signed.signature).hex()


def _decide(client: httpx.Client, w3: Any, officer: Member, ref: str, decision: str,
            inspection: str = "NOT_INSPECTED") -> tuple[dict[str, Any], httpx.Response]:
    plan = client.post(f"/console/customs/{ref}/prepare",
                       json={"decision": decision, "inspection": inspection})
    assert plan.status_code == 200, plan.text
    body = plan.json()
    tx_hash = _send(w3, officer.key, body["tx"])
    record = {"txHash": tx_hash, "document": body["document"], "seed": body["seed"],
              "nonce": body["nonce"], "signedAt": body["signedAt"],
              "signature": _sign_typed(officer.key, body["typedData"])}
    return record, client.post(f"/console/customs/{ref}/record", json=record)


def _on_chain(stack: GatewayStack, ref: str) -> Any:
    with stack.client() as c:
        r = c.get(f"/consignments/{ref}/decision")
    return r.json() if r.status_code == 200 else None


def _ref(tag: str) -> str:
    return f"CN-NS-{tag}-{time.time_ns() % 10**12}"


def test_customs_decides_then_records_the_inspection_in_its_wallet(
        gateway_stack: GatewayStack, w3: Any, deployment: Any) -> None:
    officer = _officer(w3, deployment)
    ref = _ref("OK")
    _declare(gateway_stack, officer.org, ref)
    with _client(gateway_stack) as client:
        assert _log_in(client, officer).status_code == 200
        page = client.get("/console/customs?lang=en")
        assert page.status_code == 200, page.text
        assert f'data-consignment="{ref}" data-step="decide"' in page.text
        # Another office's queue does not list it.
        other = _officer(w3, deployment)
        with _client(gateway_stack) as elsewhere:
            assert _log_in(elsewhere, other).status_code == 200
            assert ref not in elsewhere.get("/console/customs").text
            _problem(elsewhere.post(f"/console/customs/{ref}/prepare", json={
                "decision": "DIRECT_RELEASE", "inspection": "NOT_INSPECTED"}),
                404, "not-in-customs-queue")

        _, done = _decide(client, w3, officer, ref, "NORMAL_CONTROL")
        assert done.status_code == 200, done.text
        held = _on_chain(gateway_stack, ref)
        assert held["decision"] == "NORMAL_CONTROL" and held["inspection"] == "NOT_INSPECTED"
        assert held["recorder"] == officer.address
        assert f'data-consignment="{ref}" data-step="inspect"' in \
            client.get("/console/customs?lang=en").text
        # The inspection outcome must keep the decision in force.
        _problem(client.post(f"/console/customs/{ref}/prepare", json={
            "decision": "DIRECT_RELEASE", "inspection": "PASSED"}), 409, "customs-step-mismatch")
        _, passed = _decide(client, w3, officer, ref, "NORMAL_CONTROL", "PASSED")
        assert passed.status_code == 200, passed.text
        final = _on_chain(gateway_stack, ref)
        assert final["inspection"] == "PASSED" and final["released"] and final["decisions"] == 2
        assert ref not in client.get("/console/customs").text
        # The signed inspecting event is stored, signed by the officer's key.
        from ledger.store.store import Store

        store = Store(gateway_stack.database_url)
        try:
            stored = store.get_capture(passed.json()["captureID"])
        finally:
            store.close()
        assert stored is not None and stored.signer == officer.address


def test_attack_a_role_outside_its_role_is_refused(gateway_stack: GatewayStack, w3: Any,
                                                   deployment: Any) -> None:
    officer = _officer(w3, deployment)
    enterprise = _officer(w3, deployment, ("ENTERPRISE",))
    ref = _ref("ROLE")
    _declare(gateway_stack, officer.org, ref)
    with _client(gateway_stack) as client:
        assert _log_in(client, enterprise).status_code == 200
        _problem(client.get("/console/customs"), 403, "console-role-required")
        _problem(client.post(f"/console/customs/{ref}/prepare", json={
            "decision": "DIRECT_RELEASE", "inspection": "NOT_INSPECTED"}),
            403, "console-role-required")
    # A decision the enterprise sends to CustomsRelease itself reverts on chain (not the
    # gateway's check): nothing was recorded.
    assert _on_chain(gateway_stack, ref) is None


def test_attack_no_session_or_a_foreign_origin_is_refused(gateway_stack: GatewayStack,
                                                          w3: Any, deployment: Any) -> None:
    officer = _officer(w3, deployment)
    ref = _ref("CSRF")
    _declare(gateway_stack, officer.org, ref)
    body = {"decision": "DIRECT_RELEASE", "inspection": "NOT_INSPECTED"}
    with _client(gateway_stack) as anonymous:
        _problem(anonymous.post(f"/console/customs/{ref}/prepare", json=body), 401,
                 "console-session-required")
    with _client(gateway_stack) as client:
        assert _log_in(client, officer).status_code == 200
        _problem(client.post(f"/console/customs/{ref}/prepare", json=body,
                             headers={"Origin": "https://evil.example"}),
                 403, "cross-origin-request")
        client.headers.pop("Origin")
        _problem(client.post(f"/console/customs/{ref}/prepare", json=body), 403,
                 "cross-origin-request")
    assert _on_chain(gateway_stack, ref) is None


def test_attack_a_session_after_its_key_is_revoked_is_refused(
        gateway_stack: GatewayStack, w3: Any, deployment: Any) -> None:
    officer = _officer(w3, deployment)
    ref = _ref("REVOKED")
    _declare(gateway_stack, officer.org, ref)
    with _client(gateway_stack) as client:
        assert _log_in(client, officer).status_code == 200
        plan = client.post(f"/console/customs/{ref}/prepare",
                           json={"decision": "DIRECT_RELEASE", "inspection": "NOT_INSPECTED"})
        assert plan.status_code == 200, plan.text
        revoke_key(w3, deployment, officer.address)
        deadline = time.monotonic() + 60
        while (r := client.post(f"/console/customs/{ref}/prepare", json={
                "decision": "DIRECT_RELEASE", "inspection": "NOT_INSPECTED"})).status_code == 200:
            assert time.monotonic() < deadline, "session outlived its key's revocation"
            time.sleep(0.2)
        _problem(r, 401, "console-session-required")
    assert _on_chain(gateway_stack, ref) is None


def test_attack_replayed_or_borrowed_signatures_are_refused(
        gateway_stack: GatewayStack, w3: Any, deployment: Any) -> None:
    officer = _officer(w3, deployment)
    ref = _ref("REPLAY")
    _declare(gateway_stack, officer.org, ref)
    with _client(gateway_stack) as client:
        assert _log_in(client, officer).status_code == 200
        record, done = _decide(client, w3, officer, ref, "IMMEDIATE_CONTROL")
        assert done.status_code == 200, done.text
        # The same signed event again.
        _problem(client.post(f"/console/customs/{ref}/record", json=record), 409,
                 "customs-record-replayed")

        # An event that claims another decision than the chain holds.
        plan = client.post(f"/console/customs/{ref}/prepare",
                           json={"decision": "IMMEDIATE_CONTROL", "inspection": "FAILED"}).json()
        forged = {**record, "document": plan["document"], "seed": plan["seed"],
                  "nonce": plan["nonce"], "signedAt": plan["signedAt"],
                  "signature": _sign_typed(officer.key, plan["typedData"])}
        _problem(client.post(f"/console/customs/{ref}/record", json=forged), 400,
                 "customs-event-mismatch")

        # A transaction another organisation's key sent (here: the operator's, to
        # CustomsRelease's neighbour) is not this officer's decision.
        other = _officer(w3, deployment)
        stranger = _send(w3, other.key, {"to": other.address, "data": "0x",
                                         "chainId": hex(w3.eth.chain_id)})
        _problem(client.post(f"/console/customs/{ref}/record",
                             json={**forged, "txHash": stranger}), 403,
                 "customs-transaction-refused")
    held = _on_chain(gateway_stack, ref)
    assert held["decision"] == "IMMEDIATE_CONTROL" and held["inspection"] == "NOT_INSPECTED"


def test_relay_carries_only_the_session_keys_transactions(
        gateway_stack: GatewayStack, w3: Any, deployment: Any) -> None:
    """The keystore path: the page signs, the gateway relays. A transaction signed by another
    key, or calling something else than the console's contracts, is refused unsent."""
    officer = _officer(w3, deployment)
    other = _officer(w3, deployment)
    ref = _ref("RELAY")
    _declare(gateway_stack, officer.org, ref)

    def raw(key: bytes, to: str, data: str, nonce: int | None = None) -> str:
        account = Account.from_key(key)
        signed = account.sign_transaction({
            "to": to, "data": data, "value": 0, "gas": 500_000, "gasPrice": w3.eth.gas_price,
            "chainId": w3.eth.chain_id,
            "nonce": w3.eth.get_transaction_count(account.address) if nonce is None else nonce})
        return "0x" + bytes(signed.raw_transaction).hex()

    with _client(gateway_stack) as client:
        assert _log_in(client, officer).status_code == 200
        plan = client.post(f"/console/customs/{ref}/prepare", json={
            "decision": "DIRECT_RELEASE", "inspection": "NOT_INSPECTED"}).json()
        params = client.get("/console/relay/params").json()
        assert params["from"] == officer.address and params["chainId"] == w3.eth.chain_id
        # Another key's signature over the very same call: not this session's to send.
        _problem(client.post("/console/relay", json={
            "raw": raw(other.key, plan["tx"]["to"], plan["tx"]["data"])}), 403, "relay-refused")
        # The session's own key, but to an address that is none of the console's contracts.
        _problem(client.post("/console/relay", json={
            "raw": raw(officer.key, other.address, "0x")}), 403, "relay-refused")
        _problem(client.post("/console/relay", json={"raw": "0xc0ffee"}), 400, "invalid-input")
        # Cross-site: refused before anything is decoded.
        _problem(client.post("/console/relay", headers={"Origin": "https://evil.example"},
                             json={"raw": raw(officer.key, plan["tx"]["to"],
                                              plan["tx"]["data"])}), 403, "cross-origin-request")
        assert _on_chain(gateway_stack, ref) is None
        sent = client.post("/console/relay", json={
            "raw": raw(officer.key, plan["tx"]["to"], plan["tx"]["data"], params["nonce"])})
        assert sent.status_code == 200, sent.text
        assert sent.json()["to"] == "CustomsRelease"
        w3.eth.wait_for_transaction_receipt(sent.json()["hash"], timeout=120)
        assert client.get(f"/console/relay/{sent.json()['hash']}").json()["status"] == "0x1"
    assert _on_chain(gateway_stack, ref)["decision"] == "DIRECT_RELEASE"
