"""The audit view: who did what and when, read back from the chain and the store, each row
with its proof; for regulators and admins only."""

from __future__ import annotations

import time
from typing import Any

from eth_account import Account

from ledger.chain.client import Chain
from ledger.chain.transactor import Transactor
from tests.attacks.test_console_customs import _declare, _officer, _problem, _ref
from tests.attacks.test_console_login import _client, _log_in
from tests.attacks.test_console_regulator import regulator  # noqa: F401 - fixture
from tests.integration.gateway_env import GatewayStack, Member


def test_audit_shows_the_regulators_grade_and_the_enterprises_capture_with_proofs(
        gateway_stack: GatewayStack, w3: Any, deployment: Any,
        regulator: Member) -> None:  # noqa: F811 - the fixture
    target = _officer(w3, deployment, ("ENTERPRISE",))
    chain = Chain(w3, deployment)
    outcome = chain.set_grade(Transactor(w3, Account.from_key(regulator.key)), target.org, "B")
    office = _officer(w3, deployment)
    _declare(gateway_stack, office.org, _ref("AUDIT"))
    with _client(gateway_stack) as client:
        assert _log_in(client, regulator).status_code == 200
        page = client.get("/console/audit", params={"org": "0x" + regulator.org.hex(),
                                                    "lang": "en"})
        assert page.status_code == 200, page.text
        assert 'data-action="Consortium.GradeSet"' in page.text
        assert outcome.tx_hash[:14] in page.text
        # Filtered to the regulator: no one else's capture is listed.
        assert 'data-source="store"' not in page.text
        proof = client.get(f"/console/audit/tx/{outcome.tx_hash}").json()
        assert proof["from"] == regulator.address and proof["contract"] == "Consortium"

        everyone = client.get("/console/audit").text
        assert 'data-source="store"' in everyone and 'data-action="capture"' in everyone
        capture_id = everyone.split('href="/console/audit/capture/', 1)[1].split('"', 1)[0]
        record = client.get(f"/console/audit/capture/{capture_id}")
        assert record.status_code == 200 and record.json()["eventIDs"], record.text

        future = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 3 * 86_400))
        later = client.get("/console/audit", params={"from": future}).text
        assert "data-source=" not in later
        _problem(client.get("/console/audit/capture/" + "0" * 64), 404, "unknown-proof")


def test_attack_the_audit_view_is_not_for_other_roles(gateway_stack: GatewayStack, w3: Any,
                                                      deployment: Any) -> None:
    enterprise = _officer(w3, deployment, ("ENTERPRISE",))
    with _client(gateway_stack) as client:
        _problem(client.get("/console/audit"), 401, "console-session-required")
        assert _log_in(client, enterprise).status_code == 200
        _problem(client.get("/console/audit"), 403, "console-role-required")
        _problem(client.get("/console/audit/tx/0x" + "1" * 64), 403, "console-role-required")
