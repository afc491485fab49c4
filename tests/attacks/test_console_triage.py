"""Attack class: moving a complaint without being the regulator, reading one without its receipt,
and putting words in the regulator's mouth.

Complaint triage (`POST /console/regulator/complaints/{id}/status`) and the complainant's view
(`GET /complaints/{id}?receipt=…`), against the real gateway, chain and store:

- only a REGULATOR session moves a complaint; an anonymous client, a brand's session, a
  cross-site or Origin-less POST are refused with problem+json and nothing changes;
- only open → investigating → resolved | rejected, with an outcome for the last two;
- ids are sequential: without the right receipt the answer is the same 404 whether the id
  exists or not, and names neither status nor text;
- a blacklist reason is kept only if it hashes to the reasonHash the transaction put on chain,
  only for a transaction the session's own key sent, and a reason text changed in the store
  afterwards is not shown as the regulator's.
"""
# ruff: noqa: F811 - `regulator` is test_console_regulator's fixture, imported to be used here

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select, update

from ledger.store import tables as t
from tests.attacks.test_console_customs import _officer, _problem, _send
from tests.attacks.test_console_login import _client, _log_in
from tests.attacks.test_console_regulator import _prepare, regulator  # noqa: F401 - fixture
from tests.integration.gateway_env import GatewayStack, Member

pytestmark = [pytest.mark.chain]

CODE = "https://id.zhenzhi.example/01/09506000134352/10/L7/21/TRIAGE{n}"


def _file(stack: GatewayStack, n: int = 1) -> tuple[int, str]:
    """A complaint filed through the store (the HTTP endpoint's budget is five per address)."""
    from ledger.store.store import Store
    from ledger.trade.complaints import ComplaintBook

    store = Store(stack.database_url)
    try:
        filed = ComplaintBook(store.engine).file("09506000134352", f"TRIAGE{n}", "L7",
                                                 f"the seal of can {n} was broken",
                                                 category="quality")
    finally:
        store.close()
    return filed.complaint.id, filed.receipt


def _status(stack: GatewayStack, cid: int) -> tuple[str, str | None, int]:
    engine = create_engine(stack.database_url)
    try:
        with engine.connect() as conn:
            status, outcome = conn.execute(select(t.complaints.c.status, t.complaints.c.outcome)
                                           .where(t.complaints.c.id == cid)).one()
            changes = len(conn.execute(select(t.complaint_transitions.c.id).where(
                t.complaint_transitions.c.complaint_id == cid)).all())
    finally:
        engine.dispose()
    return status, outcome, changes


def _move(client: httpx.Client, cid: int, status: str, outcome: str | None = None,
          **headers: str) -> httpx.Response:
    return client.post(f"/console/regulator/complaints/{cid}/status",
                       json={"status": status, "outcome": outcome}, headers=headers)


def test_regulator_triages_and_the_complainant_reads_the_outcome_with_the_receipt(
        gateway_stack: GatewayStack, regulator: Member) -> None:
    with gateway_stack.client() as anonymous:
        filed = anonymous.post("/complaints", json={"code": CODE.format(n=0),
                                                    "category": "counterfeit",
                                                    "message": "the hologram peels off"})
    assert filed.status_code == 201, filed.text
    cid, receipt = filed.json()["id"], filed.json()["receipt"]
    assert filed.json()["statusUrl"] == f"/complaints/{cid}?receipt={receipt}"
    with gateway_stack.client() as anonymous:
        seen = anonymous.get(f"/complaints/{cid}", params={"receipt": receipt})
    assert seen.status_code == 200, seen.text
    assert seen.headers["referrer-policy"] == "no-referrer"
    assert (seen.json()["status"], seen.json()["outcome"], seen.json()["text"]) == (
        "open", None, "the hologram peels off")

    with _client(gateway_stack) as client:
        assert _log_in(client, regulator).status_code == 200
        page = client.get("/console/regulator", params={"lang": "en", "status": "open"})
        assert page.status_code == 200
        assert f'<tr data-complaint="{cid}" data-status="open">' in page.text
        moved = _move(client, cid, "investigating")
        assert moved.status_code == 200, moved.text
        assert moved.json()["by"] == regulator.address
        listed = client.get("/console/regulator", params={"lang": "en", "status": "open"}).text
        assert f'data-complaint="{cid}"' not in listed  # filtered by status
        moved = _move(client, cid, "resolved", "The seller's stock was seized and destroyed.")
        assert moved.status_code == 200, moved.text
        assert moved.json()["complaint"]["status"] == "resolved"
        # Who and when, in the audit view and its proof.
        audit = client.get("/console/audit", params={"lang": "en"}).text
        assert 'data-action="complaint.resolved"' in audit
        assert f'href="/console/audit/complaint/{cid}"' in audit
        proof = client.get(f"/console/audit/complaint/{cid}").json()
        assert [(c["from"], c["to"], c["signer"]) for c in proof["changes"]] == [
            ("open", "investigating", regulator.address),
            ("investigating", "resolved", regulator.address)]
        assert proof["changes"][1]["org"] == "0x" + regulator.org.hex()

    with gateway_stack.client() as anonymous:
        seen = anonymous.get(f"/complaints/{cid}", params={"receipt": receipt}).json()
    assert (seen["status"], seen["outcome"]) == (
        "resolved", "The seller's stock was seized and destroyed.")
    assert _status(gateway_stack, cid) == (
        "resolved", "The seller's stock was seized and destroyed.", 2)


def test_attack_anonymous_and_brand_clients_cannot_triage(
        gateway_stack: GatewayStack, w3: Any, deployment: Any, regulator: Member) -> None:
    cid, _ = _file(gateway_stack, 1)
    with _client(gateway_stack) as anonymous:
        _problem(_move(anonymous, cid, "investigating"), 401, "console-session-required")
        _problem(anonymous.get("/console/audit/complaint/" + str(cid)), 401,
                 "console-session-required")
    brand = _officer(w3, deployment, ("ENTERPRISE",))
    with _client(gateway_stack) as client:
        assert _log_in(client, brand).status_code == 200
        _problem(_move(client, cid, "investigating"), 403, "console-role-required")
        _problem(client.get("/console/regulator"), 403, "console-role-required")
    customs = _officer(w3, deployment, ("CUSTOMS",))
    with _client(gateway_stack) as client:
        assert _log_in(client, customs).status_code == 200
        _problem(_move(client, cid, "investigating"), 403, "console-role-required")
    assert _status(gateway_stack, cid) == ("open", None, 0)


def test_attack_cross_site_triage_is_refused(gateway_stack: GatewayStack,
                                             regulator: Member) -> None:
    cid, _ = _file(gateway_stack, 2)
    with _client(gateway_stack) as client:
        assert _log_in(client, regulator).status_code == 200
        _problem(_move(client, cid, "investigating", Origin="https://evil.example"), 403,
                 "cross-origin-request")
        del client.headers["Origin"]  # a form or script that sends none
        _problem(_move(client, cid, "investigating"), 403, "cross-origin-request")
    assert _status(gateway_stack, cid) == ("open", None, 0)


def test_attack_an_illegal_transition_is_refused(gateway_stack: GatewayStack,
                                                 regulator: Member) -> None:
    cid, _ = _file(gateway_stack, 3)
    with _client(gateway_stack) as client:
        assert _log_in(client, regulator).status_code == 200
        _problem(_move(client, cid, "resolved", "skipped the investigation"), 409,
                 "illegal-complaint-transition")
        _problem(_move(client, cid, "closed"), 400, "invalid-complaint")
        _problem(_move(client, cid + 10_000, "investigating"), 404, "unknown-complaint")
        assert _status(gateway_stack, cid) == ("open", None, 0)
        assert _move(client, cid, "investigating").status_code == 200
        _problem(_move(client, cid, "rejected"), 400, "invalid-complaint")  # no outcome
        _problem(_move(client, cid, "investigating"), 409, "illegal-complaint-transition")
        assert _move(client, cid, "rejected", "Not our product: a grey import.").status_code \
            == 200
        _problem(_move(client, cid, "resolved", "changed my mind"), 409,
                 "illegal-complaint-transition")
    assert _status(gateway_stack, cid) == ("rejected", "Not our product: a grey import.", 2)


def test_attack_a_wrong_or_missing_receipt_reveals_nothing(gateway_stack: GatewayStack,
                                                           regulator: Member) -> None:
    cid, receipt = _file(gateway_stack, 4)
    with _client(gateway_stack) as client:
        assert _log_in(client, regulator).status_code == 200
        assert _move(client, cid, "investigating").status_code == 200
    with gateway_stack.client() as anonymous:
        answers = [anonymous.get(f"/complaints/{cid}"),
                   anonymous.get(f"/complaints/{cid}", params={"receipt": ""}),
                   anonymous.get(f"/complaints/{cid}", params={"receipt": receipt[:-1] + "A"
                                                               if receipt[-1] != "A" else "B"}),
                   anonymous.get(f"/complaints/{cid - 1}", params={"receipt": receipt}),
                   anonymous.get(f"/complaints/{cid + 10_000}", params={"receipt": receipt})]
        for r in answers:
            _problem(r, 404, "unknown-complaint")
            body = r.text.lower()
            assert "investigating" not in body and "seal" not in body and "quality" not in body
        # Apart from the id asked for (and the path, which holds it), the same answer for an id
        # that exists and one that does not.
        shapes = {tuple(sorted((k, v) for k, v in r.json().items()
                               if k not in ("complaint", "instance"))) for r in answers}
        assert len(shapes) == 1
        assert anonymous.get(f"/complaints/{cid}", params={"receipt": receipt}).json()[
            "status"] == "investigating"


def test_regulator_reasons_are_kept_with_their_transactions_and_checked_against_the_chain(
        gateway_stack: GatewayStack, w3: Any, deployment: Any, regulator: Member) -> None:
    target = _officer(w3, deployment, ("ENTERPRISE",))
    other_regulator = _officer(w3, deployment, ("REGULATOR",))
    org = "0x" + target.org.hex()
    with _client(gateway_stack) as client:
        assert _log_in(client, regulator).status_code == 200
        graded = _send(w3, regulator.key, _prepare(client, target.org,
                                                   reason="late filings").json()["tx"])
        kept = client.post("/console/regulator/reasons",
                           json={"txHash": graded, "reason": "late filings"})
        assert kept.status_code == 201, kept.text
        assert kept.json() | {"txHash": ""} == {"txHash": "", "org": org, "action": "grade",
                                                "grade": "C", "checked": "gateway-record"}
        _problem(client.post("/console/regulator/reasons",
                             json={"txHash": graded, "reason": "late filings"}),
                 409, "reason-already-kept")

        plan = _prepare(client, target.org, "blacklist", reason="forged certificates").json()
        listed = _send(w3, regulator.key, plan["tx"])
        # A text that is not the one hashed on chain is refused: the gateway cannot make it up.
        _problem(client.post("/console/regulator/reasons",
                             json={"txHash": listed, "reason": "something milder"}),
                 409, "reason-mismatch")
        # Not a transaction the session's key sent.
        with _client(gateway_stack) as other:
            assert _log_in(other, other_regulator).status_code == 200
            _problem(other.post("/console/regulator/reasons",
                                json={"txHash": listed, "reason": "forged certificates"}),
                     400, "reason-transaction-refused")
        assert client.post("/console/regulator/reasons", json={
            "txHash": listed, "reason": "forged certificates"}).status_code == 201

        page = client.get("/console/regulator", params={"lang": "en"}).text
        row = page[page.index(f'data-org="{org}"'):]
        row = row[:row.index("</tr>")]
        assert f'data-tx="{graded}"' in row and 'data-reason="gateway-record"' in row
        assert "late filings" in row and "forged certificates" in row
        assert 'data-reason="matches-chain"' in row
        audit = client.get("/console/audit", params={"lang": "en", "org": org}).text
        assert "reason: forged certificates (matches the reason hash on chain)" in audit
        assert "reason: late filings (the gateway&#x27;s record" in audit

        # The store's text changed behind the gateway's back: no longer shown as the reason.
        engine = create_engine(gateway_stack.database_url)
        with engine.begin() as conn:
            conn.execute(update(t.regulator_reasons).where(
                t.regulator_reasons.c.tx_hash == bytes.fromhex(listed[2:])).values(
                reason="a harmless paperwork slip"))
        engine.dispose()
        page = client.get("/console/regulator", params={"lang": "en"}).text
        assert "a harmless paperwork slip" not in page
        assert 'data-reason="mismatch"' in page
        audit = client.get("/console/audit", params={"lang": "en", "org": org}).text
        assert "a harmless paperwork slip" not in audit
        assert "does not match the reason hash on chain" in audit
