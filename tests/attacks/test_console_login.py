"""Attack class: getting into the console without a key the Consortium lists now.

The console is served to remote clients behind Sign-In with Ethereum (EIP-4361,
`gateway.sessions`). Each test plays one attack against the real gateway (uvicorn), the real
chain (anvil with the deployed Consortium) and the real store, and checks that it is refused
with a problem and that no session comes of it:

- a replayed log-in (the same signed message twice), a nonce the gateway never issued;
- a message signed for another domain or URI, or another chain id; an expired message;
- a signature by a key no organisation holds; a key revoked on chain (the open session ends);
- a forged or altered session cookie;
- cross-site requests: a log-in or log-out POST from another origin or with none.
"""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from siwe import SiweMessage

from bench.gateway import admit_member, revoke_key
from tests.integration.gateway_env import GatewayStack, Member

pytestmark = [pytest.mark.chain]

_gln_bodies = itertools.count(int(time.time()) % 10_000_000 * 10)


def _gln() -> str:
    body = f"95{next(_gln_bodies) % 10**10:010d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def _member(w3: Any, deployment: Any, roles: list[str]) -> Member:
    account = Account.create()
    org = admit_member(w3, deployment, _gln(), roles, [account.address])
    return Member(org, bytes(account.key), account.address)


def _client(stack: GatewayStack) -> httpx.Client:
    return httpx.Client(base_url=stack.url, timeout=30.0, headers={"Origin": stack.url},
                        follow_redirects=False)


def _message(client: httpx.Client, address: str, **changes: Any) -> str:
    fields = client.get("/console/nonce").json()
    message = SiweMessage(
        domain=fields["domain"], address=address, statement=fields["statement"],
        uri=fields["uri"], version="1", chain_id=fields["chainId"], nonce=fields["nonce"],
        issued_at=fields["issuedAt"], expiration_time=fields["expirationTime"])
    for name, value in changes.items():
        setattr(message, name, value)
    return message.prepare_message()


def _sign(key: bytes, message: str) -> str:
    return "0x" + Account.sign_message(encode_defunct(text=message), key).signature.hex().removeprefix("0x")


def _log_in(client: httpx.Client, member: Member, **changes: Any) -> httpx.Response:
    message = _message(client, member.address, **changes)
    return client.post("/console/login",
                       json={"message": message, "signature": _sign(member.key, message)})


def _refused(r: httpx.Response, reason: str, status: int = 401) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json().get("reason") == reason, r.json()
    assert "set-cookie" not in r.headers


def _console(client: httpx.Client) -> httpx.Response:
    return client.get("/console")


def _assert_out(client: httpx.Client) -> None:
    r = _console(client)
    assert r.status_code == 303 and r.headers["location"] == "/console/login", r.text
    assert "members-table" not in r.text


@pytest.fixture
def member(w3: Any, deployment: Any) -> Member:
    return _member(w3, deployment, ["ENTERPRISE"])


def test_a_listed_key_logs_in_and_sees_its_organisation(gateway_stack: GatewayStack,
                                                        member: Member) -> None:
    with _client(gateway_stack) as client:
        _assert_out(client)
        r = _log_in(client, member)
        assert r.status_code == 200, r.text
        assert r.json()["roles"] == ["ENTERPRISE"]
        assert r.json()["org"] == "0x" + member.org.hex()
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
        assert "secure" not in cookie  # plain http on loopback: the browser would drop it
        page = _console(client)
        assert page.status_code == 200, page.text
        assert 'id="session-org"' in page.text and "member 95" in page.text
        assert member.address in page.text
        assert "members-table" in page.text
        # An ENTERPRISE reads neither customs' risk reasons nor shoppers' complaints.
        assert "complaints-table" not in page.text and "decisions-table" not in page.text
        assert 'data-needs="complaints"' in page.text

        out = client.post("/console/logout")
        assert out.status_code == 303 and out.headers["location"] == "/console/login"
        _assert_out(client)


def test_customs_sees_decisions_not_complaints(gateway_stack: GatewayStack) -> None:
    with _client(gateway_stack) as client:
        assert _log_in(client, gateway_stack.customs).status_code == 200
        page = _console(client).text
        assert "decisions-table" in page and "complaints-table" not in page


def test_attack_replayed_login_message_is_refused(gateway_stack: GatewayStack,
                                                  member: Member) -> None:
    with _client(gateway_stack) as client:
        message = _message(client, member.address)
        body = {"message": message, "signature": _sign(member.key, message)}
        first = client.post("/console/login", json=body)
        assert first.status_code == 200, first.text
    with _client(gateway_stack) as thief:
        _refused(thief.post("/console/login", json=body), "nonce")
        _assert_out(thief)


def test_attack_nonce_the_gateway_never_issued_is_refused(gateway_stack: GatewayStack,
                                                          member: Member) -> None:
    with _client(gateway_stack) as client:
        _refused(_log_in(client, member, nonce="selfmade12345678"), "nonce")


def test_attack_message_for_another_domain_is_refused(gateway_stack: GatewayStack,
                                                      member: Member) -> None:
    with _client(gateway_stack) as client:
        _refused(_log_in(client, member, domain="evil.example",
                         uri="https://evil.example/console"), "domain")
        _refused(_log_in(client, member, uri="https://evil.example/console"), "uri")
        _assert_out(client)


def test_attack_message_for_another_chain_is_refused(gateway_stack: GatewayStack,
                                                     member: Member) -> None:
    with _client(gateway_stack) as client:
        _refused(_log_in(client, member, chain_id=1), "chain-id")


def test_attack_expired_message_is_refused(gateway_stack: GatewayStack, member: Member) -> None:
    past = datetime.now(UTC) - timedelta(minutes=1)
    with _client(gateway_stack) as client:
        _refused(_log_in(client, member,
                         issued_at=(past - timedelta(minutes=2)).isoformat().replace("+00:00", "Z"),
                         expiration_time=past.isoformat().replace("+00:00", "Z")), "expired")
        _assert_out(client)


def test_attack_key_no_organisation_holds_is_refused(gateway_stack: GatewayStack) -> None:
    stranger = Account.create()
    with _client(gateway_stack) as client:
        message = _message(client, stranger.address)
        r = client.post("/console/login",
                        json={"message": message, "signature": _sign(bytes(stranger.key),
                                                                     message)})
        _refused(r, "unknown-key")
        # A listed member's address in the message, signed by the stranger: the signature
        # does not recover to the address.
        victim = gateway_stack.enterprise
        message = _message(client, victim.address)
        r = client.post("/console/login",
                        json={"message": message, "signature": _sign(bytes(stranger.key),
                                                                     message)})
        _refused(r, "signature")
        _assert_out(client)


def test_attack_revoked_key_cannot_log_in(gateway_stack: GatewayStack) -> None:
    with _client(gateway_stack) as client:
        _refused(_log_in(client, gateway_stack.revoked), "unknown-key")


def test_attack_session_ends_when_its_key_is_revoked_on_chain(
        gateway_stack: GatewayStack, member: Member, w3: Any, deployment: Any) -> None:
    with _client(gateway_stack) as client:
        assert _log_in(client, member).status_code == 200
        assert _console(client).status_code == 200
        revoke_key(w3, deployment, member.address)
        # The gateway's chain view moves to the revoking block within its staleness bound
        # (0.25 s); from then on the session is gone. Generous deadline: a loaded machine.
        deadline = time.monotonic() + 60
        while (r := _console(client)).status_code == 200:
            assert time.monotonic() < deadline, "session outlived its key's revocation"
            time.sleep(0.2)
        assert r.status_code == 303 and r.headers["location"] == "/console/login"
        # Closed in the store, not just refused once: the same cookie stays out.
        _assert_out(client)


def test_attack_forged_or_altered_session_cookie_is_refused(gateway_stack: GatewayStack,
                                                            member: Member) -> None:
    with _client(gateway_stack) as client:
        assert _log_in(client, member).status_code == 200
        real = client.cookies["zhenzhi-console"]
    for forged in (real[:-1] + ("A" if real[-1] != "A" else "B"), "x" * 43, "",
                   real + "0", "a" * 500):
        with _client(gateway_stack) as attacker:
            attacker.cookies.set("zhenzhi-console", forged)
            _assert_out(attacker)


@pytest.mark.parametrize("origin", ["http://evil.example", "null", None])
def test_attack_cross_site_login_and_logout_are_refused(gateway_stack: GatewayStack,
                                                        member: Member,
                                                        origin: str | None) -> None:
    with _client(gateway_stack) as client:
        message = _message(client, member.address)
        body = {"message": message, "signature": _sign(member.key, message)}
        headers = {"Origin": origin} if origin else {}
        if origin is None:
            client.headers.pop("Origin")
        r = client.post("/console/login", json=body, headers=headers)
        assert r.status_code == 403, r.text
        assert r.json()["type"].endswith("cross-origin-request")
        assert "set-cookie" not in r.headers
        # The refused POST did not burn the nonce: the page's own POST still logs in.
        assert client.post("/console/login", json=body,
                           headers={"Origin": gateway_stack.url}).status_code == 200
        r = client.post("/console/logout", headers=headers)
        assert r.status_code == 403, r.text
        assert _console(client).status_code == 200  # still logged in


def test_attack_malformed_login_gets_a_problem(gateway_stack: GatewayStack) -> None:
    with _client(gateway_stack) as client:
        r = client.post("/console/login", json={"message": "hello", "signature": "0x00"})
        assert r.status_code == 400, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
