"""The webhook worker: runs subscriptions into the outbox, and delivers the outbox.

Two steps, each safe to stop at any point (the shape of `ledger.pipeline.anchoring`: the
store holds all the state, the worker none):

1. **Run** each due subscription (`ledger.store.subscriptions`): stream subscriptions on every
   tick (every `interval_s`: "on capture" means within that), scheduled ones when their next
   minute comes. A run finds the events its named query matches after the subscription's
   `last_seq`, as `find` answers them (the gateway passes the same query path `GET
   /queries/{name}/events` takes), and writes them as EPCISQueryDocuments, `batch_events`
   events each, into the outbox in the transaction that moves `last_seq`.
2. **Deliver** what is due: POST the stored body to the subscription's `dest`, signed
   (`GS1-Signature: sha256=<hex HMAC-SHA256(signatureToken, body)>`), with `Zhenzhi-Delivery-Id`
   the same on every attempt, and `GS1-EPC-Format` saying how its GS1 keys are written (as the
   subscription asked, `No_Preference` when some could not be translated, `Never_Translates`
   when sent as captured: what a query answer says). A 2xx deletes the delivery. A 413 is the
   receiver asking for smaller batches (the binding's callback): the delivery is replaced by
   two, each half its events, due at once (one event alone cannot be split: a failure like any
   other). Anything else (or no answer) tries again after `backoff_base_s · 2^attempts` (at
   most `backoff_max_s`), and after `max_attempts` the delivery is dropped. Deliveries to
   one receiver (scheme and host) go one after another, in order; different receivers are
   sent to at the same time, so a slow receiver holds up only its own.

Who receives what: a subscription delivers what its organisation's member could read with a
signed request at that moment. Before each run and each attempt `may_read(org, signer)` asks
whether the key that subscribed is still a valid key of the organisation; if not, nothing is
sent: the run moves past the events without writing them, and a waiting delivery is dropped.

A restart loses nothing and duplicates nothing that the store recorded: runs are
transactional, deliveries stay until acknowledged, and a delivery being sent is leased (a
worker that dies mid-send leaves the lease to expire, and the delivery goes again). A crash
after the receiver's 2xx but before the delete sends that delivery once more, with the same
`Zhenzhi-Delivery-Id`: receivers dedupe on it (delivery over HTTP is at least once).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, NamedTuple

import httpx
import orjson
from sqlalchemy import Engine

from ledger.epcis.epc_format import EpcFormat
from ledger.epcis.query_schedule import QuerySchedule
from ledger.errors import LedgerError
from ledger.pipeline.webhook_target import pin_target
from ledger.store.subscriptions import (
    Delivery,
    Outgoing,
    Subscription,
    claim_deliveries,
    delivery_failed,
    delivery_succeeded,
    due_subscriptions,
    newest_seq,
    record_run,
    split_delivery,
)

__all__ = ["DELIVERY_ID_HEADER", "EPC_FORMAT_HEADER", "SIGNATURE_HEADER", "Found", "WebhookWorker",
           "query_result", "sign_body"]

log = logging.getLogger("zhenzhi.webhooks")

SIGNATURE_HEADER = "GS1-Signature"
DELIVERY_ID_HEADER = "Zhenzhi-Delivery-Id"
EPC_FORMAT_HEADER = "GS1-EPC-Format"
CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]


class Found(NamedTuple):
    """What `find` answers: the events (with their seqs), whether more follow them, and the
    GS1-EPC-Format the events are written in."""

    events: Sequence[tuple[int, dict[str, Any]]]
    more: bool
    epc_format: str = EpcFormat.NEVER_TRANSLATES.value


# (subscription, after_seq, limit) → the events after after_seq
Find = Callable[[Subscription, int, int], Found]
MayRead = Callable[[bytes, str], bool]


def sign_body(secret: str, body: bytes) -> str:
    """The `GS1-Signature` value of a delivery: `sha256=` and the hex HMAC-SHA256 of the
    body's bytes, keyed with the subscription's signatureToken (UTF-8)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def query_result(subscription: Subscription, events: Sequence[dict[str, Any]], now_ms: int
                 ) -> bytes:
    """The standard's EPCISQueryDocument of one delivery."""
    return orjson.dumps({
        "@context": CONTEXT, "type": "EPCISQueryDocument", "schemaVersion": "2.0",
        "creationDate": _iso(now_ms),
        "epcisBody": {"queryResults": {
            "queryName": subscription.query_name, "subscriptionID": subscription.id,
            "resultsBody": {"eventList": list(events)}}},
    })


def _halves(body: bytes) -> list[bytes] | None:
    """A delivery's EPCISQueryDocument as two, each with half its events in order (None: it
    holds fewer than two)."""
    document = orjson.loads(body)
    results = document["epcisBody"]["queryResults"]["resultsBody"]
    events = results["eventList"]
    if len(events) < 2:
        return None
    middle = len(events) // 2
    halves = []
    for part in (events[:middle], events[middle:]):
        results["eventList"] = part
        halves.append(orjson.dumps(document))
    return halves


class WebhookWorker:
    def __init__(self, engine: Engine, find: Find, may_read: MayRead, *,
                 allow_private: bool = False, transport: httpx.BaseTransport | None = None,
                 interval_s: float = 0.5, backoff_base_s: float = 2.0,
                 backoff_max_s: float = 3600.0, max_attempts: int = 12,
                 lease_s: float = 60.0, timeout_s: float = 10.0, batch_events: int = 100,
                 max_documents_per_run: int = 10, destinations_at_once: int = 8) -> None:
        self.engine = engine
        self.find = find
        self.may_read = may_read
        self.allow_private = allow_private
        self.interval_s = interval_s
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.max_attempts = max_attempts
        self.lease_ms = int(lease_s * 1000)
        self.batch_events = batch_events
        self.max_documents_per_run = max_documents_per_run
        self.destinations_at_once = destinations_at_once
        # No redirects: a 3xx to a private address would get round `pin_target`.
        self.client = httpx.Client(transport=transport, timeout=timeout_s,
                                   follow_redirects=False)

    def close(self) -> None:
        self.client.close()

    def run(self, stop: threading.Event) -> None:
        """Tick every `interval_s` until `stop` is set; a failing tick is logged and the next
        one tries again (the store holds the state)."""
        try:
            while not stop.is_set():
                try:
                    self.tick()
                except Exception:  # noqa: BLE001 - a worker must outlive a bad tick
                    log.exception("webhook tick failed")
                stop.wait(self.interval_s)
        finally:
            self.close()

    def tick(self, now_ms: int | None = None) -> None:
        now = int(time.time() * 1000) if now_ms is None else now_ms
        for subscription in due_subscriptions(self.engine, now):
            self.run_subscription(subscription, now)
        self.deliver_claimed(claim_deliveries(self.engine, now, self.lease_ms))

    def deliver_claimed(self, claimed: Sequence[Delivery]) -> None:
        """Send claimed deliveries: those to one receiver (scheme and host) one after another
        in the order claimed, different receivers at the same time (up to
        `destinations_at_once`), so a slow or silent receiver delays only its own. A receiver's
        queue stops once half the lease has gone: the rest are sent after their leases lapse,
        never while another worker may have claimed them."""
        queues: dict[str, list[Delivery]] = {}
        for delivery in claimed:
            origin = httpx.URL(delivery.dest)
            queues.setdefault(f"{origin.scheme}://{origin.netloc.decode()}", []).append(delivery)
        if not queues:
            return
        deadline = time.monotonic() + self.lease_ms / 2000

        def send_in_order(queue: list[Delivery]) -> None:
            for delivery in queue:
                if time.monotonic() > deadline:
                    return
                self.deliver(delivery)

        if len(queues) == 1 or self.destinations_at_once <= 1:
            for queue in queues.values():
                send_in_order(queue)
            return
        with ThreadPoolExecutor(max_workers=min(self.destinations_at_once, len(queues)),
                                thread_name_prefix="zhenzhi-webhook") as pool:
            for done in [pool.submit(send_in_order, q) for q in queues.values()]:
                done.result()

    # -- 1. runs -------------------------------------------------------------------------------

    def run_subscription(self, subscription: Subscription, now_ms: int) -> bool:
        """One run: its deliveries written and `last_seq` moved, in one transaction (False:
        another worker ran it first, or there was nothing to record)."""
        scheduled = not subscription.stream
        next_run = None
        if scheduled:
            schedule = QuerySchedule.parse(subscription.schedule)
            following = schedule.next_run(datetime.fromtimestamp(now_ms / 1000, UTC))
            next_run = int(following.timestamp() * 1000) if following else None
        high = newest_seq(self.engine)
        if not self.may_read(subscription.org, subscription.signer):
            # Not entitled now: the events of this time are never delivered to it.
            if high == subscription.last_seq and not scheduled:
                return False
            return record_run(self.engine, subscription, last_seq=max(high,
                              subscription.last_seq), next_run_ms=next_run, bodies=())
        bodies: list[Outgoing] = []
        last = subscription.last_seq
        more = True
        while more and len(bodies) < self.max_documents_per_run:
            found = self.find(subscription, last, self.batch_events)
            more = found.more
            if not found.events:
                break
            bodies.append(Outgoing(query_result(subscription, [e for _, e in found.events],
                                                now_ms), found.epc_format))
            last = found.events[-1][0]
        if not more:
            last = max(last, high)
        if scheduled and not bodies and subscription.report_if_empty:
            # No keys to write: the format asked is kept, vacuously.
            bodies.append(Outgoing(query_result(subscription, [], now_ms),
                                   subscription.epc_format or EpcFormat.NEVER_TRANSLATES.value))
        if not scheduled and not bodies and last == subscription.last_seq:
            return False
        return record_run(self.engine, subscription, last_seq=last, next_run_ms=next_run,
                          bodies=bodies)

    # -- 2. deliveries -------------------------------------------------------------------------

    def deliver(self, delivery: Delivery) -> bool:
        """One attempt (True: acknowledged)."""
        now = int(time.time() * 1000)
        if not self.may_read(delivery.org, delivery.signer):
            delivery_failed(self.engine, delivery, next_attempt_ms=None,
                            error="the subscribing key is no longer valid for its organisation")
            return False
        try:
            # Connect to the address just checked, not to whatever the name resolves to a
            # moment later (DNS rebinding).
            target = pin_target(delivery.dest, allow_private=self.allow_private)
            headers = {
                "Host": target.host,
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign_body(delivery.secret, delivery.body),
                DELIVERY_ID_HEADER: delivery.id,
                "GS1-EPCIS-Version": "2.0.0",
            }
            if delivery.epc_format:
                headers[EPC_FORMAT_HEADER] = delivery.epc_format
            response = self.client.post(
                target.url, content=delivery.body, headers=headers,
                extensions={"sni_hostname": target.server_name} if target.server_name else None)
            error = None if 200 <= response.status_code < 300 else \
                f"HTTP {response.status_code}"
            if response.status_code == 413:
                halves = _halves(delivery.body)
                if halves:  # the receiver asks for smaller batches
                    split_delivery(self.engine, delivery, halves)
                    return False
                error = "HTTP 413 for a single event: nothing smaller to send"
        except (httpx.HTTPError, LedgerError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        if error is None:
            delivery_succeeded(self.engine, delivery, int(time.time() * 1000))
            return True
        attempts = delivery.attempts + 1
        if attempts >= self.max_attempts:
            log.warning("webhook delivery %s dropped after %d attempts: %s", delivery.id,
                        attempts, error)
            delivery_failed(self.engine, delivery, next_attempt_ms=None, error=error)
        else:
            wait = min(self.backoff_max_s, self.backoff_base_s * 2 ** delivery.attempts)
            delivery_failed(self.engine, delivery, next_attempt_ms=now + int(wait * 1000),
                            error=error)
        return False
