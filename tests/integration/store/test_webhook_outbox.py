"""The webhook outbox and worker (`ledger.store.subscriptions`, `ledger.pipeline.webhooks`) on
SQLite and PostgreSQL, with a real HTTP receiver: scheduled runs, two workers racing for one
run or one delivery, backoff and giving up, SSRF refusal at send time."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from ledger.pipeline.webhooks import Found, WebhookWorker, sign_body
from ledger.store.named_queries import create_query
from ledger.store.store import Store
from ledger.store.subscriptions import (
    claim_deliveries,
    create_subscription,
    due_subscriptions,
    get_subscription,
    pending_deliveries,
)
from tests.integration.webhook_receiver import Receiver

ORG = b"\x01" * 32
SIGNER = "0x" + "ab" * 20
SECRET = "0123456789abcdef-secret"


def _no_events(_sub: Any, _after: int, _limit: int) -> Found:
    return Found([], False)


def _worker(store: Store, *, may_read: Any = None, **kwargs: Any) -> WebhookWorker:
    return WebhookWorker(store.engine, _no_events, may_read or (lambda org, signer: True),
                         allow_private=kwargs.pop("allow_private", True), **kwargs)


def _scheduled(store: Store, dest: str, *, next_run_ms: int, report_if_empty: bool = True
               ) -> Any:
    create_query(store.engine, ORG, "nightly", {"EQ_bizStep": ["shipping"]})
    return create_subscription(
        store.engine, org=ORG, query_name="nightly", signer=SIGNER, dest=dest, secret=SECRET,
        stream=False, schedule={"minute": "[0-59]"}, report_if_empty=report_if_empty,
        initial_record_ms=None, next_run_ms=next_run_ms)


def test_a_scheduled_run_reports_an_empty_result_once_per_minute(
        store: Store, receiver: Receiver) -> None:
    due = int(datetime(2030, 1, 1, 1, 5, tzinfo=UTC).timestamp() * 1000)
    sub = _scheduled(store, receiver.url, next_run_ms=due)
    worker = _worker(store)
    try:
        worker.tick(now_ms=due - 1)  # not yet
        assert receiver.attempts() == []
        worker.tick(now_ms=due + 10)
        worker.tick(now_ms=due + 20)  # the same minute: no second run
    finally:
        worker.close()
    [(headers, body)] = receiver.acknowledged()
    assert headers["gs1-signature"] == sign_body(SECRET, body)
    doc = json.loads(body)
    assert doc["epcisBody"]["queryResults"] == {
        "queryName": "nightly", "subscriptionID": sub.id, "resultsBody": {"eventList": []}}
    after = get_subscription(store.engine, ORG, "nightly", sub.id)
    assert after.next_run_ms == due + 60_000 and after.last_notified_ms is not None


def test_without_report_if_empty_an_empty_run_sends_nothing(store: Store,
                                                            receiver: Receiver) -> None:
    due = 1_900_000_000_000 // 60_000 * 60_000
    _scheduled(store, receiver.url, next_run_ms=due, report_if_empty=False)
    worker = _worker(store)
    try:
        worker.tick(now_ms=due)
    finally:
        worker.close()
    assert receiver.attempts() == []


def test_attack_two_workers_racing_for_one_run_write_one_delivery(
        store: Store, receiver: Receiver) -> None:
    due = 1_900_000_000_000 // 60_000 * 60_000
    _scheduled(store, receiver.url, next_run_ms=due)
    [snapshot] = due_subscriptions(store.engine, due)
    a, b = _worker(store), _worker(store)
    try:
        assert [a.run_subscription(snapshot, due), b.run_subscription(snapshot, due)] == \
            [True, False]
        assert len(pending_deliveries(store.engine)) == 1
        # And one worker at a time holds a delivery: the other's claim finds it leased.
        assert len(claim_deliveries(store.engine, due, 60_000)) == 1
        assert claim_deliveries(store.engine, due, 60_000) == []
        # A lease left by a worker that died expires; the delivery goes again, same id.
        [again] = claim_deliveries(store.engine, due + 60_001, 60_000)
        assert again.id == pending_deliveries(store.engine)[0]["id"]
    finally:
        a.close()
        b.close()


def test_failed_attempts_back_off_exponentially_then_give_up(store: Store,
                                                             receiver: Receiver) -> None:
    receiver.statuses[:] = [503] * 10
    due = 1_900_000_000_000 // 60_000 * 60_000
    _scheduled(store, receiver.url, next_run_ms=due)
    worker = _worker(store, backoff_base_s=10.0, max_attempts=3)
    try:
        worker.run_subscription(due_subscriptions(store.engine, due)[0], due)
        waits = []
        for _ in range(3):
            [delivery] = claim_deliveries(store.engine, 2**62, 1)
            before = pending_deliveries(store.engine)[0]
            sent = int(time.time() * 1000)
            worker.deliver(delivery)
            after = pending_deliveries(store.engine)
            if after:
                waits.append(after[0]["next_attempt_ms"] - sent)
                assert after[0]["attempts"] == before["attempts"] + 1
                assert after[0]["last_error"] == "HTTP 503"
    finally:
        worker.close()
    assert len(receiver.attempts()) == 3
    assert pending_deliveries(store.engine) == []  # dropped after max_attempts
    # 10 s after the first attempt, 20 s after the second (within the attempt's own time).
    assert len(waits) == 2
    assert 10_000 <= waits[0] <= 11_000 and 20_000 <= waits[1] <= 21_000


def test_attack_a_private_target_is_refused_at_send_time(store: Store,
                                                         receiver: Receiver) -> None:
    """A subscription stored while private targets were allowed (or whose name now resolves
    to loopback) is not called by a worker that refuses them: the attempt fails, unsent."""
    due = 1_900_000_000_000 // 60_000 * 60_000
    _scheduled(store, receiver.url, next_run_ms=due)
    worker = _worker(store, allow_private=False)
    try:
        worker.tick(now_ms=due)
    finally:
        worker.close()
    assert receiver.attempts() == []
    [row] = pending_deliveries(store.engine)
    assert "WebhookTargetError" in row["last_error"]


def test_a_subscriber_no_longer_entitled_gets_nothing(store: Store,
                                                      receiver: Receiver) -> None:
    due = 1_900_000_000_000 // 60_000 * 60_000
    _scheduled(store, receiver.url, next_run_ms=due)
    worker = _worker(store, may_read=lambda org, signer: False)
    try:
        worker.tick(now_ms=due)
    finally:
        worker.close()
    assert receiver.attempts() == [] and pending_deliveries(store.engine) == []


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/x", "http://localhost/x", "http://10.1.2.3/", "http://169.254.169.254/",
    "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "http://100.64.0.1/",
    "http://192.168.1.1/", "http://224.0.0.1/",
])
def test_private_and_loopback_targets_are_refused_unless_allowed(url: str) -> None:
    from ledger.pipeline.webhook_target import WebhookTargetError, check_target

    with pytest.raises(WebhookTargetError):
        check_target(url, allow_private=False)
    assert check_target(url, allow_private=True) == url


def _resolver(answers: list[str]) -> Any:
    """A DNS answer per lookup of `rebind.example` (the last one repeated): what a name whose
    owner runs its own DNS server can make the gateway see. Other names resolve normally."""
    import socket

    real = socket.getaddrinfo
    seen: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.example":
            return real(host, port, *args, **kwargs)
        address = answers[min(len(seen), len(answers) - 1)]
        seen.append(address)
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port)))]

    getaddrinfo.seen = seen  # type: ignore[attr-defined]
    return getaddrinfo


def test_attack_dns_rebinding_between_the_check_and_the_connection_reaches_nothing_private(
        store: Store, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    """The name answers a public address to the send-time check, then loopback (where the
    receiver stands for the gateway's own services) to every later lookup. The attempt goes
    to the address that was checked, so the loopback service gets nothing."""
    import socket

    port = int(receiver.url.rsplit(":", 1)[1].split("/", 1)[0])
    resolver = _resolver(["8.8.8.8", "127.0.0.1"])
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    due = 1_900_000_000_000 // 60_000 * 60_000
    _scheduled(store, f"http://rebind.example:{port}/hook", next_run_ms=due)
    worker = _worker(store, allow_private=False, timeout_s=1.0)
    try:
        worker.tick(now_ms=due)
    finally:
        worker.close()
    assert resolver.seen[0] == "8.8.8.8"  # the check saw a public address
    assert receiver.attempts() == []  # and the loopback service was never called
    [row] = pending_deliveries(store.engine)
    assert row["last_error"] and "WebhookTargetError" not in row["last_error"]


@pytest.mark.parametrize(("url", "answer", "pinned", "host", "server_name"), [
    ("https://rebind.example/hook?x=1", "8.8.8.8", "https://8.8.8.8/hook?x=1",
     "rebind.example", "rebind.example"),
    ("http://rebind.example:8080/a/b", "8.8.4.4", "http://8.8.4.4:8080/a/b",
     "rebind.example:8080", None),
    ("https://rebind.example:8443/", "2001:4860:4860::8888",
     "https://[2001:4860:4860::8888]:8443/", "rebind.example:8443", "rebind.example"),
])
def test_a_target_is_pinned_to_the_address_checked_keeping_the_name_for_host_and_tls(
        url: str, answer: str, pinned: str, host: str, server_name: str | None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from ledger.pipeline.webhook_target import pin_target

    monkeypatch.setattr(socket, "getaddrinfo", _resolver([answer]))
    target = pin_target(url, allow_private=False)
    assert (target.url, target.host, target.server_name) == (pinned, host, server_name)
    assert pin_target(url, allow_private=True).url == url  # nothing resolved when allowed


def test_attack_a_receiver_that_hangs_delays_only_its_own_deliveries(
        store: Store, receiver: Receiver, other_receiver: Receiver) -> None:
    """A subscriber whose endpoint never answers (until the HTTP timeout) must not hold up
    another subscriber's deliveries: claimed together, the hanging one first, the other
    receiver gets its delivery while the first is still hanging."""
    import threading

    create_query(store.engine, ORG, "q", {"EQ_bizStep": ["shipping"]})
    stuck = threading.Event()
    receiver.hold = stuck
    subs = [create_subscription(
        store.engine, org=ORG, query_name="q", signer=SIGNER, dest=dest, secret=SECRET,
        stream=False, schedule={"minute": "[0-59]"}, report_if_empty=True,
        initial_record_ms=None, next_run_ms=0) for dest in (receiver.url, other_receiver.url)]
    worker = _worker(store, timeout_s=60)
    try:
        now = int(time.time() * 1000)
        for sub in subs:  # the hanging receiver's delivery is written, and claimed, first
            worker.run_subscription(sub, now)
        claimed = claim_deliveries(store.engine, now + 5_000, 60_000)
        assert [c.dest for c in claimed] == [receiver.url, other_receiver.url]
        ticking = threading.Thread(target=worker.deliver_claimed, args=(claimed,))
        ticking.start()
        deadline = time.monotonic() + 30
        while not other_receiver.acknowledged() and time.monotonic() < deadline:
            time.sleep(0.02)
        delivered_while_stuck = bool(other_receiver.acknowledged())
        stuck.set()
        ticking.join(60)
    finally:
        stuck.set()
        worker.close()
    assert delivered_while_stuck, "the other receiver waited for the hanging one"
    assert len(receiver.acknowledged()) == len(other_receiver.acknowledged()) == 1
    assert pending_deliveries(store.engine, subs[0].id) == []


def _events(count: int) -> list[dict[str, Any]]:
    return [{"type": "ObjectEvent", "eventID": f"ni:///sha-256;{i:064x}?ver=CBV2.0"}
            for i in range(count)]


def _stream(store: Store, dest: str) -> Any:
    """A stream subscription to `dest` (what its runs find is the worker's `find`)."""
    create_query(store.engine, ORG, "q", {"EQ_bizStep": ["shipping"]})
    return create_subscription(
        store.engine, org=ORG, query_name="q", signer=SIGNER, dest=dest, secret=SECRET,
        stream=True, schedule=None, report_if_empty=False, initial_record_ms=None,
        next_run_ms=None)


def _found(events: list[dict[str, Any]], epc_format: str) -> Any:
    def find(_sub: Any, after: int, limit: int) -> Found:
        rest = [(seq, e) for seq, e in enumerate(events, 1) if seq > after]
        return Found(rest[:limit], len(rest) > limit, epc_format)
    return find


def _sent_event_ids(body: bytes) -> list[str]:
    return [e["eventID"] for e in
            json.loads(body)["epcisBody"]["queryResults"]["resultsBody"]["eventList"]]


def _deliver_all(store: Store, worker: WebhookWorker, rounds: int = 20) -> None:
    for _ in range(rounds):
        claimed = claim_deliveries(store.engine, 2**62, 60_000)
        if not claimed:
            return
        worker.deliver_claimed(claimed)


def test_a_delivery_says_how_its_keys_are_written(store: Store, receiver: Receiver) -> None:
    """The GS1-EPC-Format `find` reports for the events (here No_Preference: a translation
    that could not be completed) is the delivery's header, on every attempt."""
    events = _events(3)
    sub = _stream(store, receiver.url)
    receiver.statuses[:] = [503]
    worker = WebhookWorker(store.engine, _found(events, "No_Preference"), lambda o, s: True,
                           allow_private=True, backoff_base_s=0.0)
    try:
        assert worker.run_subscription(get_subscription(store.engine, ORG, "q", sub.id),
                                       int(time.time() * 1000))
        _deliver_all(store, worker)
    finally:
        worker.close()
    attempts = receiver.attempts()
    assert [status for _, _, status in attempts] == [503, 200]
    assert {headers["gs1-epc-format"] for headers, _, _ in attempts} == {"No_Preference"}


def test_a_receivers_413_gets_the_events_in_smaller_documents_in_order(
        store: Store, receiver: Receiver) -> None:
    """The binding's callback: 413 means the receiver "asks the server to send EPCIS events in
    smaller batches". A 5-event delivery refused whole, then its 3-event half refused too, is
    delivered as 2 + 1 + 2 events, in order, each part signed over its own body; nothing is
    lost or sent twice, and the 413s count as no failed attempt."""
    events = _events(5)
    sub = _stream(store, receiver.url)
    receiver.statuses[:] = [413, 200, 413]
    worker = WebhookWorker(store.engine, _found(events, "Never_Translates"), lambda o, s: True,
                           allow_private=True)
    try:
        assert worker.run_subscription(get_subscription(store.engine, ORG, "q", sub.id),
                                       int(time.time() * 1000))
        _deliver_all(store, worker)
    finally:
        worker.close()
    assert [status for _, _, status in receiver.attempts()] == [413, 200, 413, 200, 200]
    sent = [_sent_event_ids(body) for _, body in receiver.acknowledged()]
    ids = [e["eventID"] for e in events]
    assert sent == [ids[0:2], ids[2:3], ids[3:5]]
    for headers, body in receiver.acknowledged():
        assert headers["gs1-signature"] == sign_body(SECRET, body)
    assert len({headers["zhenzhi-delivery-id"] for headers, _ in receiver.acknowledged()}) == 3
    assert pending_deliveries(store.engine) == []


def test_a_413_for_one_event_is_a_failure_like_any_other(store: Store,
                                                         receiver: Receiver) -> None:
    events = _events(1)
    sub = _stream(store, receiver.url)
    receiver.statuses[:] = [413]
    worker = WebhookWorker(store.engine, _found(events, "Never_Translates"), lambda o, s: True,
                           allow_private=True, backoff_base_s=30.0)
    try:
        worker.run_subscription(get_subscription(store.engine, ORG, "q", sub.id),
                                int(time.time() * 1000))
        [delivery] = claim_deliveries(store.engine, 2**62, 60_000)
        worker.deliver(delivery)
    finally:
        worker.close()
    [waiting] = pending_deliveries(store.engine)
    assert waiting["id"] == delivery.id and waiting["attempts"] == 1
    assert "413" in waiting["last_error"]


def test_the_documents_of_one_run_are_claimed_in_order(store: Store, receiver: Receiver) -> None:
    """A run that writes several documents (batch_events at a time) has them claimed, and so
    sent to the receiver, in event order, though written in the same millisecond."""
    events = _events(40)
    sub = _stream(store, receiver.url)
    worker = WebhookWorker(store.engine, _found(events, "Never_Translates"), lambda o, s: True,
                           allow_private=True, batch_events=2, max_documents_per_run=20)
    try:
        worker.run_subscription(get_subscription(store.engine, ORG, "q", sub.id),
                                int(time.time() * 1000))
        claimed = claim_deliveries(store.engine, 2**62, 60_000)
    finally:
        worker.close()
    assert len(claimed) == 20
    assert [i for d in claimed for i in _sent_event_ids(d.body)] == [e["eventID"] for e in events]
