"""Webhook subscriptions to named queries, end to end: a real gateway (uvicorn) on its own
SQLite store and the session chain, a real HTTP receiver in the test, real captures.

Shown: stream deliveries are the standard's EPCISQueryDocument, HMAC-signed over the body
with the subscriber's signatureToken; a scheduled subscription is refused or accepted by the
standard's QuerySchedule rules; subscriptions are per organisation (a rival cannot subscribe
to, see or delete another's); a subscriber whose key is revoked receives nothing more; URLs
other than http(s) are refused; and a gateway stopped mid-retry and started again delivers
the waiting delivery exactly once, with the same delivery id on every attempt."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account

from bench.gateway import admit_member, revoke_key
from ledger.epcis.event_hash import event_hashes, format_event_id
from ledger.store.store import Store
from ledger.store.subscriptions import pending_deliveries
from tests.integration.gateway.test_named_queries import _send
from tests.integration.gateway.test_query import _get
from tests.integration.gateway_env import GatewayStack, Member, document
from tests.integration.webhook_receiver import Receiver

pytestmark = [pytest.mark.chain]

MARKER = "https://id.gs1.org/414/9506000777771"  # readPoint unique to this module
SECRET = "s3cr3t-token-0123456789abcdef"


def _gateway(stack: GatewayStack, database_url: str, **overrides: Any) -> Any:
    from gateway.app import create_app
    from gateway.server import ThreadedServer
    from gateway.settings import GatewaySettings

    settings = GatewaySettings(
        database_url=database_url, rpc_url=stack.rpc_url, manifest=stack.manifest,
        webhook_allow_private=True, webhook_interval_s=0.1, webhook_backoff_base_s=0.5,
        per_page_max=100, **overrides)
    return ThreadedServer(create_app(settings))


@dataclass
class Live:
    stack: GatewayStack
    url: str
    database_url: str

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0)


@pytest.fixture(scope="module")
def live(gateway_stack: GatewayStack, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Live]:
    """A gateway of its own (its own store, so the session gateway's worker, which refuses
    loopback webhooks, never sees these deliveries) that allows loopback webhook targets."""
    database_url = f"sqlite:///{tmp_path_factory.mktemp('subs') / 'gateway.db'}"
    with _gateway(gateway_stack, database_url) as server:
        yield Live(gateway_stack, server.url, database_url)


_names = iter(range(10**9))


def _query(client: httpx.Client, member: Member, query: dict[str, Any]) -> str:
    name = f"q-{next(_names)}"
    response = _send(client, member, "POST", "/queries", {"name": name, "query": query})
    assert response.status_code == 201, response.text
    return name


def _capture(client: httpx.Client, stack: GatewayStack, doc: dict[str, Any]) -> list[str]:
    sig = stack.sign(doc, stack.enterprise)
    response = client.post("/capture", content=json.dumps(doc).encode(),
                           headers=stack.headers(sig))
    assert response.status_code == 202, response.text
    return [format_event_id(h) for h in event_hashes(doc)]


def _marked(n: int, step: str = "shipping") -> dict[str, Any]:
    doc = document(n)
    for event in doc["epcisBody"]["eventList"]:
        event["readPoint"] = {"id": MARKER}
        event["bizStep"] = step
    return doc


def _wait(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _delivered_ids(receiver: Receiver, subscription_id: str | None = None) -> list[str]:
    out = []
    for _, body in receiver.acknowledged():
        results = json.loads(body)["epcisBody"]["queryResults"]
        if subscription_id is None or results["subscriptionID"] == subscription_id:
            out += [e["eventID"] for e in results["resultsBody"]["eventList"]]
    return out


def test_a_stream_subscription_delivers_signed_query_documents(
        live: Live, receiver: Receiver) -> None:
    stack = live.stack
    with live.client() as client:
        name = _query(client, stack.enterprise, {"EQ_readPoint": [MARKER],
                                                 "EQ_bizStep": ["shipping"]})
        made = _send(client, stack.enterprise, "POST", f"/queries/{name}/subscriptions",
                     {"dest": receiver.url, "signatureToken": SECRET, "stream": True})
        assert made.status_code == 201, made.text
        sub = made.json()
        assert made.headers["Location"] == \
            f"/queries/{name}/subscriptions/{sub['subscriptionID']}"
        assert SECRET not in made.text
        shipped = _capture(client, stack, _marked(2, "shipping"))
        _capture(client, stack, _marked(1, "receiving"))  # not what the query asks for
        _wait(lambda: len(_delivered_ids(receiver)) >= 2)
        got = _get(client, stack.enterprise, made.headers["Location"])
        listed = _get(client, stack.enterprise, f"/queries/{name}/subscriptions")
    assert _delivered_ids(receiver) == shipped
    for headers, body in receiver.acknowledged():
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["gs1-signature"] == expected
        assert headers["content-type"] == "application/json"
        doc = json.loads(body)
        assert doc["type"] == "EPCISQueryDocument" and doc["schemaVersion"] == "2.0"
        assert doc["epcisBody"]["queryResults"]["queryName"] == name
    assert got.status_code == 200 and got.json()["stream"] is True
    assert "lastNotifiedAt" in got.json() and SECRET not in got.text
    assert [s["subscriptionID"] for s in listed.json()] == [sub["subscriptionID"]]


def test_a_webhook_delivers_epcs_as_the_subscription_asked(live: Live, receiver: Receiver
                                                           ) -> None:
    """GS1-EPC-Format on the subscribing request (the binding's parameter of
    `POST /queries/{queryName}/subscriptions`) holds for every delivery: a URN captured is
    delivered as a Digital Link, and the subscription made without the header gets it as
    captured; each delivery's own GS1-EPC-Format header says which. A value outside the
    binding's enum is refused (400) and nothing is kept."""
    stack = live.stack
    urn = f"urn:epc:id:sgtin:0614141.107346.wh{time.time_ns() % 10**12}"
    with live.client() as client:
        name = _query(client, stack.enterprise, {"EQ_readPoint": [MARKER],
                                                 "EQ_bizStep": ["loading"]})
        path = f"/queries/{name}/subscriptions"
        controls = {"dest": receiver.url, "signatureToken": SECRET, "stream": True}
        refused = _send(client, stack.enterprise, "POST", path, controls,
                        headers={"GS1-EPC-Format": "Always_URN"})
        assert refused.status_code == 400, refused.text
        assert _get(client, stack.enterprise, path).json() == []
        as_links = _send(client, stack.enterprise, "POST", path, controls,
                         headers={"GS1-EPC-Format": "Always_GS1_Digital_Link"})
        as_captured = _send(client, stack.enterprise, "POST", path, controls)
        assert as_links.status_code == as_captured.status_code == 201
        doc = _marked(1, "loading")
        doc["epcisBody"]["eventList"][0]["epcList"] = [urn]
        [sent] = _capture(client, stack, doc)
        ids = {as_links.json()["subscriptionID"]: "link",
               as_captured.json()["subscriptionID"]: "urn"}
        _wait(lambda: all(_delivered_ids(receiver, s) for s in ids))
    got, said = {}, {}
    for headers, body in receiver.acknowledged():
        results = json.loads(body)["epcisBody"]["queryResults"]
        if results["subscriptionID"] in ids:
            [event] = results["resultsBody"]["eventList"]
            assert event["eventID"] == sent
            got[ids[results["subscriptionID"]]] = event["epcList"]
            said[ids[results["subscriptionID"]]] = headers.get("gs1-epc-format")
    assert got == {"link": ["https://id.gs1.org/01/10614141073464/21/" + urn.rsplit(".", 1)[1]],
                   "urn": [urn]}
    # Each delivery says how its keys are written, as a query answer does.
    assert said == {"link": "Always_GS1_Digital_Link", "urn": "Never_Translates"}


def test_unsubscribing_stops_deliveries(live: Live, receiver: Receiver) -> None:
    stack = live.stack
    with live.client() as client:
        name = _query(client, stack.enterprise, {"EQ_readPoint": [MARKER]})
        made = _send(client, stack.enterprise, "POST", f"/queries/{name}/subscriptions",
                     {"dest": receiver.url, "signatureToken": SECRET, "stream": True})
        location = made.headers["Location"]
        assert _send(client, stack.enterprise, "DELETE", location).status_code == 204
        assert _get(client, stack.enterprise, location).status_code == 404
        _capture(client, stack, _marked(1))
        # A control subscription made after it proves the worker ran past that capture.
        control = _query(client, stack.enterprise, {"EQ_readPoint": [MARKER]})
        _send(client, stack.enterprise, "POST", f"/queries/{control}/subscriptions",
              {"dest": receiver.url, "signatureToken": SECRET, "stream": True})
        later = _capture(client, stack, _marked(1))
        _wait(lambda: later[0] in _delivered_ids(receiver))
    # Only the control's delivery arrived: nothing for the deleted subscription.
    assert len(receiver.attempts()) == 1


def test_attack_a_rival_cannot_subscribe_to_see_or_delete_anothers_subscriptions(
        live: Live, receiver: Receiver) -> None:
    """Customs (a rival member) names the enterprise's query: 404 as for a name nobody used,
    nothing created; the enterprise's subscription is invisible and undeletable to it, and
    its webhook gets none of the enterprise subscription's deliveries."""
    stack = live.stack
    with live.client() as client:
        name = _query(client, stack.enterprise, {"EQ_readPoint": [MARKER]})
        mine = _send(client, stack.enterprise, "POST", f"/queries/{name}/subscriptions",
                     {"dest": receiver.url, "signatureToken": SECRET, "stream": True})
        location = mine.headers["Location"]
        rival_hook = receiver.url + "/rival"
        theirs = _send(client, stack.customs, "POST", f"/queries/{name}/subscriptions",
                       {"dest": rival_hook, "signatureToken": SECRET, "stream": True})
        assert theirs.status_code == 404
        assert theirs.json()["type"] == "urn:zhenzhi:problem:unknown-query"
        assert _get(client, stack.customs, location).status_code == 404
        assert _get(client, stack.customs, f"/queries/{name}/subscriptions").status_code == 404
        assert _send(client, stack.customs, "DELETE", location).status_code == 404
        ids = _capture(client, stack, _marked(1))
        _wait(lambda: ids[0] in _delivered_ids(receiver))
        assert _get(client, stack.enterprise, location).status_code == 200
    assert all(json.loads(b)["epcisBody"]["queryResults"]["subscriptionID"] ==
               mine.json()["subscriptionID"] for _, b in receiver.acknowledged())


def test_attack_a_revoked_subscriber_receives_nothing_more(
        live: Live, receiver: Receiver, w3: Any, deployment: Any) -> None:
    """An organisation subscribes with one key; the key is revoked. What is captured after
    never reaches its webhook, while another member's subscription to the same events does
    (so the worker did run)."""
    stack = live.stack
    old, spare = Account.create(), Account.create()
    org = admit_member(w3, deployment, "9506000888880", ["ENTERPRISE"],
                       [old.address, spare.address])
    member = Member(org, bytes(old.key), old.address)
    time.sleep(0.5)  # the gateway's chain view reads the block number at most every 0.25 s
    revoked_hook = receiver.url + "/revoked"
    with live.client() as client:
        name = _query(client, member, {"EQ_readPoint": [MARKER]})
        made = _send(client, member, "POST", f"/queries/{name}/subscriptions",
                     {"dest": revoked_hook, "signatureToken": SECRET, "stream": True})
        assert made.status_code == 201, made.text
        control = _query(client, stack.enterprise, {"EQ_readPoint": [MARKER]})
        _send(client, stack.enterprise, "POST", f"/queries/{control}/subscriptions",
              {"dest": receiver.url, "signatureToken": SECRET, "stream": True})
        revoke_key(w3, deployment, old.address)
        time.sleep(0.5)  # as for a signed read: the revocation counts from the next block read
        ids = _capture(client, stack, _marked(2))
        _wait(lambda: set(ids) <= set(_delivered_ids(receiver)))
        time.sleep(1.0)  # several more ticks of the worker
    assert _delivered_ids(receiver, made.json()["subscriptionID"]) == []


@pytest.mark.parametrize(("body", "pointer"), [
    ({"dest": "file:///etc/passwd", "signatureToken": SECRET, "stream": True}, "/dest"),
    ({"dest": "ftp://example.com/x", "signatureToken": SECRET, "stream": True}, "/dest"),
    ({"dest": "http://user:pw@example.com/", "signatureToken": SECRET, "stream": True}, "/dest"),
    ({"dest": "http://127.0.0.1:9/x", "stream": True}, "/signatureToken"),
    ({"dest": "http://127.0.0.1:9/x", "signatureToken": "short", "stream": True},
     "/signatureToken"),
    ({"dest": "http://127.0.0.1:9/x", "signatureToken": SECRET}, "/schedule"),
    ({"dest": "http://127.0.0.1:9/x", "signatureToken": SECRET, "stream": True,
      "schedule": {"minute": "5"}}, "/schedule"),
    ({"dest": "http://127.0.0.1:9/x", "signatureToken": SECRET,
      "schedule": {"minute": "61"}}, "/schedule/minute"),
    ({"dest": "http://127.0.0.1:9/x", "signatureToken": SECRET, "stream": True,
      "initialRecordTime": "yesterday"}, "/initialRecordTime"),
    ({"dest": "http://127.0.0.1:9/x", "signatureToken": SECRET, "stream": True,
      "trigger": "x"}, "/trigger"),
])
def test_bad_subscriptions_are_refused_as_subscription_controls(
        live: Live, body: dict[str, Any], pointer: str) -> None:
    stack = live.stack
    with live.client() as client:
        name = _query(client, stack.enterprise, {"EQ_readPoint": [MARKER]})
        response = _send(client, stack.enterprise, "POST", f"/queries/{name}/subscriptions",
                         body)
        assert response.status_code == 400, response.text
        problem = response.json()
        assert problem["epcisException"] == "SubscriptionControlsException"
        assert problem["pointer"] == pointer
        assert _get(client, stack.enterprise, f"/queries/{name}/subscriptions").json() == []


def test_a_scheduled_subscription_is_kept_with_its_schedule(live: Live) -> None:
    stack = live.stack
    with live.client() as client:
        name = _query(client, stack.enterprise, {"EQ_readPoint": [MARKER]})
        made = _send(client, stack.enterprise, "POST", f"/queries/{name}/subscriptions",
                     {"dest": "http://127.0.0.1:9/x", "signatureToken": SECRET,
                      "reportIfEmpty": True, "schedule": {"hour": "1", "minute": "5"}})
        assert made.status_code == 201, made.text
        assert made.json()["schedule"] == {"hour": "1", "minute": "5"}
        assert made.json()["reportIfEmpty"] is True and "stream" not in made.json()
        assert client.options(f"/queries/{name}/subscriptions").headers["Allow"] == \
            "OPTIONS, GET, POST"
        assert client.options(made.headers["Location"]).headers["Allow"] == \
            "OPTIONS, GET, DELETE"
        assert client.get(made.headers["Location"]).status_code == 401  # members only


def test_deleting_the_query_deletes_its_subscriptions(live: Live) -> None:
    stack = live.stack
    with live.client() as client:
        name = _query(client, stack.enterprise, {"EQ_readPoint": [MARKER]})
        made = _send(client, stack.enterprise, "POST", f"/queries/{name}/subscriptions",
                     {"dest": "http://127.0.0.1:9/x", "signatureToken": SECRET,
                      "stream": True})
        assert _send(client, stack.enterprise, "DELETE", f"/queries/{name}").status_code == 204
        assert _get(client, stack.enterprise, made.headers["Location"]).status_code == 404


def test_a_restart_mid_retry_neither_loses_nor_duplicates_the_delivery(
        gateway_stack: GatewayStack, receiver: Receiver, tmp_path: Path) -> None:
    """The receiver fails the first attempts (500). The gateway is stopped after the first
    failure, with the delivery in the outbox; a new gateway on the same store sends it again
    until the receiver takes it: one acknowledged delivery, the same id and body on every
    attempt, and the outbox empty."""
    stack = gateway_stack
    database_url = f"sqlite:///{tmp_path / 'restart.db'}"
    receiver.statuses[:] = [500, 500]
    with _gateway(stack, database_url) as first:
        with httpx.Client(base_url=first.url, timeout=30.0) as client:
            name = _query(client, stack.enterprise, {"EQ_readPoint": [MARKER]})
            made = _send(client, stack.enterprise, "POST", f"/queries/{name}/subscriptions",
                         {"dest": receiver.url, "signatureToken": SECRET, "stream": True})
            assert made.status_code == 201, made.text
            ids = _capture(client, stack, _marked(2))
            _wait(lambda: len(receiver.attempts()) >= 1)
    # Stopped mid-retry: one failed attempt, the delivery waiting in the store.
    store = Store(database_url)
    try:
        waiting = pending_deliveries(store.engine)
    finally:
        store.close()
    assert len(waiting) == 1 and waiting[0]["attempts"] >= 1
    assert waiting[0]["last_error"] == "HTTP 500"
    with _gateway(stack, database_url):
        _wait(lambda: len(receiver.acknowledged()) == 1)
        time.sleep(1.5)  # more ticks: nothing else may be sent
    attempts = receiver.attempts()
    assert [status for _, _, status in attempts] == [500, 500, 200]
    assert len({h["zhenzhi-delivery-id"] for h, _, _ in attempts}) == 1
    assert len({body for _, body, _ in attempts}) == 1
    assert _delivered_ids(receiver) == ids
    store = Store(database_url)
    try:
        assert pending_deliveries(store.engine) == []
    finally:
        store.close()


# -- WebSocket subscriptions ------------------------------------------------------------------

def _socket_headers(member: Member, path: str) -> dict[str, str]:
    from ledger.proofs.request_signing import sign_request

    return sign_request(member.key, "GET", path, b"", org="0x" + member.org.hex()).headers()


def test_a_websocket_stream_sends_what_the_query_matches(live: Live) -> None:
    from websockets.sync.client import connect

    stack = live.stack
    with live.client() as client:
        name = _query(client, stack.enterprise, {"EQ_readPoint": [MARKER],
                                                 "EQ_bizStep": ["receiving"]})
        path = f"/queries/{name}/events?stream=true"
        url = live.url.replace("http://", "ws://") + path
        with connect(url, additional_headers=_socket_headers(stack.enterprise, path),
                     open_timeout=10) as socket:
            time.sleep(0.3)  # the subscription starts from the events stored when it opens
            _capture(client, stack, _marked(1, "shipping"))
            received = _capture(client, stack, _marked(2, "receiving"))
            got: list[str] = []
            while len(got) < 2:
                doc = json.loads(socket.recv(timeout=10))
                assert doc["type"] == "EPCISQueryDocument"
                assert doc["epcisBody"]["queryResults"]["queryName"] == name
                got += [e["eventID"] for e in
                        doc["epcisBody"]["queryResults"]["resultsBody"]["eventList"]]
    assert got == received


def test_a_websocket_stream_writes_epcs_as_the_handshake_asks(live: Live) -> None:
    """GS1-EPC-Format on the handshake: every message's GS1 keys as Digital Links; the 101
    says so. A value the binding does not define is refused (400) instead of the 101."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    stack = live.stack
    urn = f"urn:epc:id:sgtin:0614141.107346.ws{time.time_ns() % 10**12}"
    with live.client() as client:
        name = _query(client, stack.enterprise, {"EQ_readPoint": [MARKER],
                                                 "EQ_bizStep": ["packing"]})
        path = f"/queries/{name}/events?stream=true"
        url = live.url.replace("http://", "ws://") + path
        with pytest.raises(InvalidStatus) as refused:
            connect(url, additional_headers={**_socket_headers(stack.enterprise, path),
                                             "GS1-EPC-Format": "Always_URN"}, open_timeout=10)
        assert refused.value.response.status_code == 400
        with connect(url, additional_headers={**_socket_headers(stack.enterprise, path),
                                              "GS1-EPC-Format": "Always_GS1_Digital_Link"},
                     open_timeout=10) as socket:
            assert socket.response.headers["GS1-EPC-Format"] == "Always_GS1_Digital_Link"
            time.sleep(0.3)
            doc = _marked(1, "packing")
            doc["epcisBody"]["eventList"][0]["epcList"] = [urn]
            sent = _capture(client, stack, doc)
            message = json.loads(socket.recv(timeout=10))
    [event] = message["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert event["eventID"] == sent[0]
    assert event["epcList"] == ["https://id.gs1.org/01/10614141073464/21/" + urn.rsplit(".", 1)[1]]


@pytest.mark.parametrize(("who", "query_string", "status"), [
    ("nobody", "?stream=true", 401),
    ("rival", "?stream=true", 404),
    ("owner", "", 400),
    ("owner", "?stream=true&minute=5", 400),
    ("owner", "?minute=61", 400),
    ("owner", "?stream=true&EQ_bizStep=x", 400),
])
def test_attack_a_websocket_handshake_is_refused_with_a_problem(
        live: Live, who: str, query_string: str, status: int) -> None:
    """Unsigned: 401; a rival naming the member's query: 404, as one nobody made; bad
    controls: 400. The handshake answers the problem instead of 101."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    stack = live.stack
    with live.client() as client:
        name = _query(client, stack.enterprise, {"EQ_readPoint": [MARKER]})
    path = f"/queries/{name}/events{query_string}"
    headers = {} if who == "nobody" else _socket_headers(
        stack.customs if who == "rival" else stack.enterprise, path)
    with pytest.raises(InvalidStatus) as refused:
        connect(live.url.replace("http://", "ws://") + path, additional_headers=headers,
                open_timeout=10)
    response = refused.value.response
    assert response.status_code == status
    assert json.loads(response.body)["status"] == status


def test_attack_a_websocket_closes_when_the_subscribing_key_is_revoked(
        live: Live, w3: Any, deployment: Any) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    stack = live.stack
    key = Account.create()
    org = admit_member(w3, deployment, "9506000666662", ["ENTERPRISE"], [key.address])
    member = Member(org, bytes(key.key), key.address)
    time.sleep(0.5)  # the gateway's chain view reads the block number at most every 0.25 s
    with live.client() as client:
        name = _query(client, member, {"EQ_readPoint": [MARKER]})
        path = f"/queries/{name}/events?stream=true"
        with connect(live.url.replace("http://", "ws://") + path,
                     additional_headers=_socket_headers(member, path),
                     open_timeout=10) as socket:
            revoke_key(w3, deployment, key.address)
            time.sleep(0.5)
            _capture(client, stack, _marked(1))
            with pytest.raises(ConnectionClosed) as closed:
                socket.recv(timeout=10)  # no event: the close comes first
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
