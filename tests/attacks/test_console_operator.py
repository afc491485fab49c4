"""Attack class: governing the consortium from the console without being its operator, now,
from its page, with the officer's own key.

`gateway.routes.console_operator` builds a Consortium transaction (propose, approve, execute)
for the officer's wallet, after dry-running it from the session's key; or relays a transaction
the page signed itself with the key file. Against the real gateway, anvil and Consortium:

- the operator proposes, and a second ADMIN organisation approves, each in its own "wallet";
  the key-file path relays a raw transaction the page signed;
- a role outside its role (an ENTERPRISE asking for a proposal) and a cross-site request are
  refused, no transaction built;
- a relayed transaction signed by another key than the session's, or sent to another contract
  than Consortium, is refused and never reaches the chain;
- a call the contract would refuse (approving twice) is a problem before any wallet is asked.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from eth_account import Account

from ledger.chain.deployment import DEFAULT_OPERATOR_GLN
from ledger.chain.transactor import anvil_dev_key
from ledger.proofs.codes import org_id
from tests.attacks.test_console_brand import _log_in, _problem
from tests.console_wallet import signed_transaction, wallet_send
from tests.integration.traceability_env import Org

pytestmark = [pytest.mark.chain]

_n = itertools.count(int(time.time()) % 10_000 * 10)


def _operator() -> Org:
    key = anvil_dev_key(0)
    key_hex = key if isinstance(key, str) else "0x" + bytes(key).hex()
    return Org("operator", DEFAULT_OPERATOR_GLN, org_id(DEFAULT_OPERATOR_GLN), key_hex,
               Account.from_key(key).address)


@pytest.fixture
def console(client_for: Any) -> Iterator[Any]:
    base = client_for()
    opened: list[httpx.Client] = []

    def make(who: Org) -> httpx.Client:
        client = httpx.Client(base_url=str(base.base_url), timeout=60.0,
                              headers={"Origin": str(base.base_url).rstrip("/")})
        opened.append(client)
        _log_in(client, who)
        return client

    yield make
    for client in opened:
        client.close()


def _fresh_member(trace_stack: Any) -> Org:
    n = next(_n) % 100_000
    return trace_stack.member(f"Candidate {n}", f"47155{n:05d}01"[:12], ["ENTERPRISE"])


def _wait(w3: Any, tx_hash: str) -> Any:
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
    assert receipt["status"] == 1
    return receipt


def _latest_proposal(trace_stack: Any) -> Any:
    return trace_stack.chain.proposal(trace_stack.chain.proposal_count() - 1)


def test_operator_proposes_and_a_second_admin_approves_in_their_wallets(
        trace_stack: Any, console: Any) -> None:
    operator = _operator()
    candidate = _fresh_member(trace_stack)
    client = console(operator)
    r = client.post("/console/operator/proposals",
                    json={"kind": "GRANT_ROLE", "gln": candidate.gln, "role": "CUSTOMS"})
    assert r.status_code == 200, r.text
    tx = r.json()["tx"]
    assert tx["to"] == trace_stack.deployment.address("Consortium")
    assert tx["from"] == operator.address
    _wait(trace_stack.w3, wallet_send(trace_stack.w3, operator.key, tx))
    p = _latest_proposal(trace_stack)
    assert p.kind == "GRANT_ROLE" and p.org == candidate.org and p.args["role"] == "CUSTOMS"
    assert p.approvers == (operator.org,)

    n = next(_n) % 100_000
    second = trace_stack.member(f"Second operator {n}", f"47166{n:05d}01"[:12], ["ADMIN"])
    other = console(second)
    r = other.post(f"/console/operator/proposals/{p.id}/approve")
    assert r.status_code == 200, r.text
    _wait(trace_stack.w3, wallet_send(trace_stack.w3, second.key, r.json()["tx"]))
    assert trace_stack.chain.proposal(p.id).approvers == (operator.org, second.org)
    # Approving twice: the dry run from the session's key says what the contract would.
    problem = _problem(other.post(f"/console/operator/proposals/{p.id}/approve"), 403,
                       "contract-revert")
    assert problem["error"] == "ConsortiumAlreadyApproved"

    r = client.post(f"/console/operator/proposals/{p.id}/execute")
    _wait(trace_stack.w3, wallet_send(trace_stack.w3, operator.key, r.json()["tx"]))
    assert "CUSTOMS" in trace_stack.chain.organisation(candidate.org).roles
    page = client.get("/console/operator")
    assert page.status_code == 200
    assert f'<tr data-id="{p.id}" data-state="executed">' in page.text
    assert 'id="operator-members"' in page.text and 'id="anchoring-table"' in page.text


def test_key_file_path_relays_a_transaction_the_page_signed(trace_stack: Any,
                                                            console: Any) -> None:
    operator = _operator()
    candidate = _fresh_member(trace_stack)
    client = console(operator)
    tx = client.post("/console/operator/proposals",
                     json={"kind": "REVOKE_ROLE", "gln": candidate.gln, "role": "ENTERPRISE"}
                     ).json()["tx"]
    raw = signed_transaction(trace_stack.w3, operator.key, tx)
    r = client.post("/console/operator/relay", json={"rawTransaction": "0x" + raw.hex()})
    assert r.status_code == 200, r.text
    _wait(trace_stack.w3, r.json()["txHash"])
    p = _latest_proposal(trace_stack)
    assert p.kind == "REVOKE_ROLE" and p.org == candidate.org


def test_attack_enterprise_asking_for_a_proposal_is_refused(trace_stack: Any,
                                                            console: Any) -> None:
    client = console(trace_stack.brand)
    before = trace_stack.chain.proposal_count()
    problem = _problem(client.post("/console/operator/proposals", json={
        "kind": "GRANT_ROLE", "gln": trace_stack.brand.gln, "role": "ADMIN"}), 403,
        "console-role-required")
    assert problem["roles"] == ["ADMIN"]
    _problem(client.post("/console/operator/proposals/0/approve"), 403, "console-role-required")
    assert client.get("/console/operator").status_code == 403
    assert trace_stack.chain.proposal_count() == before


def test_attack_cross_site_proposal_is_refused(trace_stack: Any, console: Any) -> None:
    client = console(_operator())
    r = client.post("/console/operator/proposals", headers={"Origin": "http://evil.example"},
                    json={"kind": "SET_QUORUM", "quorum": 1})
    _problem(r, 403, "cross-origin-request")
    r = client.post("/console/operator/relay", headers={"Origin": "http://evil.example"},
                    json={"rawTransaction": "0x00"})
    _problem(r, 403, "cross-origin-request")


def test_attack_relayed_transaction_from_another_key_is_refused(trace_stack: Any,
                                                                console: Any) -> None:
    operator = _operator()
    candidate = _fresh_member(trace_stack)
    client = console(operator)
    tx = client.post("/console/operator/proposals",
                     json={"kind": "REMOVE", "gln": candidate.gln}).json()["tx"]
    before = trace_stack.chain.proposal_count()
    # Signed by another (funded) key: the relay would make the gateway send someone else's
    # transaction under the operator's session.
    foreign = signed_transaction(trace_stack.w3, trace_stack.brand.key,
                                 {**tx, "from": trace_stack.brand.address}, gas=500_000)
    problem = _problem(client.post("/console/operator/relay",
                                   json={"rawTransaction": "0x" + foreign.hex()}), 403,
                       "relayed-sender-not-session-key")
    assert problem["reason"] == "sender" and problem["sender"] == trace_stack.brand.address
    nonce = trace_stack.w3.eth.get_transaction_count(trace_stack.brand.address, "pending")
    # The session's own key, to another contract: not the operator page's business.
    elsewhere = signed_transaction(trace_stack.w3, operator.key, {
        "to": trace_stack.deployment.address("CodeRegistry"), "data": "0x"}, gas=100_000)
    problem = _problem(client.post("/console/operator/relay",
                                   json={"rawTransaction": "0x" + elsewhere.hex()}), 403,
                       "relayed-sender-not-session-key")
    assert problem["reason"] == "recipient"
    assert trace_stack.chain.proposal_count() == before
    assert trace_stack.w3.eth.get_transaction_count(trace_stack.brand.address, "pending") == nonce
    _problem(client.post("/console/operator/relay", json={"rawTransaction": "0xdeadbeef"}), 400,
             "invalid-input")
