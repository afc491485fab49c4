"""Attack class: grading or blacklisting an enterprise in the console without being the regulator.

`POST /console/regulator/prepare` builds the Consortium call the regulator's wallet sends. Each
test plays the wallet in Python (the regulator's key signs and sends; the gateway never sees
it) against the real gateway and chain, and checks the refusals: another role's session, a
cross-site POST, a session whose key was revoked, an undefined grade, a blacklisting that
changes nothing; and that Consortium itself reverts the same call from a key without the role.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from eth_account import Account

from bench.gateway import revoke_key
from ledger.chain.client import Chain, ContractRevertError
from ledger.chain.deployment import Deployment
from ledger.chain.transactor import Transactor
from tests.attacks.test_console_customs import _officer, _problem, _send
from tests.attacks.test_console_login import _client, _log_in
from tests.integration.gateway_env import GatewayStack, Member

pytestmark = [pytest.mark.chain]


@pytest.fixture
def regulator(w3: Any, deployment: Any) -> Member:
    member = _officer(w3, deployment, ("REGULATOR",))
    chain = Chain(w3, deployment)
    if "A" not in chain.grade_levels():
        for grade in ("A", "B", "C", "D"):
            chain.define_grade(Transactor(w3, Account.from_key(member.key)), grade)
    return member


def _prepare(client: Any, org: bytes, action: str = "grade", **extra: Any) -> Any:
    return client.post("/console/regulator/prepare", json={
        "action": action, "org": "0x" + org.hex(), "reason": "inspection record 2026-11",
        **({"grade": "C"} if action == "grade" else {}), **extra})


def test_regulator_grades_and_blacklists_in_its_wallet(gateway_stack: GatewayStack, w3: Any,
                                                       deployment: Any,
                                                       regulator: Member) -> None:
    target = _officer(w3, deployment, ("ENTERPRISE",))
    chain = Chain(w3, deployment)
    with _client(gateway_stack) as client:
        assert _log_in(client, regulator).status_code == 200
        page = client.get("/console/regulator?lang=en")
        assert page.status_code == 200 and f'data-org="0x{target.org.hex()}"' in page.text
        plan = _prepare(client, target.org)
        assert plan.status_code == 200, plan.text
        tx = _send(w3, regulator.key, plan.json()["tx"])
        assert chain.organisation(target.org).grade == "C"
        plan = _prepare(client, target.org, "blacklist")
        assert plan.status_code == 200, plan.text
        _send(w3, regulator.key, plan.json()["tx"])
        assert chain.organisation(target.org).blacklisted
        # The history on the page comes from Consortium's logs, each with its transaction.
        page = client.get("/console/regulator?lang=en").text
        assert tx[:12] in page and plan.json()["reasonHash"][:12] in page
        # Blacklisting again changes nothing: refused before any transaction is built.
        _problem(_prepare(client, target.org, "blacklist"), 409, "blacklist-unchanged")
        _problem(_prepare(client, target.org, grade="Z"), 400, "undefined-grade")
        _problem(_prepare(client, bytes(31) + b"\x01"), 404, "unknown-organisation")


def test_attack_another_role_cannot_grade(gateway_stack: GatewayStack, w3: Any,
                                          deployment: Any, regulator: Member) -> None:
    target = _officer(w3, deployment, ("ENTERPRISE",))
    customs = _officer(w3, deployment, ("CUSTOMS",))
    with _client(gateway_stack) as client:
        assert _log_in(client, customs).status_code == 200
        _problem(client.get("/console/regulator"), 403, "console-role-required")
        _problem(_prepare(client, target.org), 403, "console-role-required")
    # The chain does not take the gateway's word either: Consortium reverts the same call
    # from a key without REGULATOR.
    chain = Chain(w3, deployment)
    with pytest.raises(ContractRevertError) as refused:
        chain.set_grade(Transactor(w3, Account.from_key(customs.key)), target.org, "D")
    assert refused.value.error == "AccessControlUnauthorizedAccount"
    assert chain.organisation(target.org).grade is None


def test_attack_cross_site_and_revoked_sessions_cannot_grade(
        gateway_stack: GatewayStack, w3: Any, deployment: Any, regulator: Member) -> None:
    target = _officer(w3, deployment, ("ENTERPRISE",))
    with _client(gateway_stack) as client:
        assert _log_in(client, regulator).status_code == 200
        _problem(client.post("/console/regulator/prepare", headers={
            "Origin": "https://evil.example"}, json={
            "action": "grade", "org": "0x" + target.org.hex(), "grade": "D", "reason": "x"}),
            403, "cross-origin-request")
        revoke_key(w3, deployment, regulator.address)
        deadline = time.monotonic() + 60
        while (r := _prepare(client, target.org)).status_code == 200:
            assert time.monotonic() < deadline, "session outlived its key's revocation"
            time.sleep(0.2)
        _problem(r, 401, "console-session-required")
    assert Chain(w3, Deployment.load(gateway_stack.manifest)).organisation(
        target.org).grade is None


def test_attack_recall_needs_the_regulator_and_an_active_lot(
        gateway_stack: GatewayStack, w3: Any, deployment: Any, regulator: Member) -> None:
    body = {"gtin": "09506000134352", "lot": "NEVER-ISSUED", "reason": "test"}
    customs = _officer(w3, deployment, ("CUSTOMS",))
    with _client(gateway_stack) as client:
        assert _log_in(client, customs).status_code == 200
        _problem(client.post("/console/regulator/recall", json=body), 403,
                 "console-role-required")
        _problem(client.get("/console/regulator/recalls/09506000134352/L1/scope.csv"), 403,
                 "console-role-required")
    with _client(gateway_stack) as client:
        assert _log_in(client, regulator).status_code == 200
        _problem(client.post("/console/regulator/recall", json=body,
                             headers={"Origin": "https://evil.example"}),
                 403, "cross-origin-request")
        _problem(client.post("/console/regulator/recall", json=body), 409, "lot-not-active")
