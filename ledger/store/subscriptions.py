"""Webhook subscriptions to named queries, and the outbox of their deliveries.

A subscription belongs to the organisation that made it and names one of that organisation's
named queries (`ledger.store.named_queries`); like the queries, another organisation's
subscription is simply not found. Each keeps `last_seq`, the `events.seq` up to which events
were considered: a run finds the matching events after it, and in **one transaction** writes
their deliveries to `webhook_outbox` and moves `last_seq` past them (guarded by the value it
read, so two workers never both deliver one run). A delivery is the exact body to send, kept
until the receiver answers 2xx: a restart between the two neither loses it (the row stays)
nor makes a second one (the run already moved `last_seq`). Sending is claimed by a lease, so
one worker at a time sends a delivery; it is deleted once acknowledged.

Delivery ids are time-ordered (UUID version 7: the milliseconds of writing, then the document's
place in its run), so deliveries due at the same moment are claimed in the order written: the
documents of one run in event order, and the parts of a split delivery (`split_delivery`, a
receiver's 413) one after the other.

`events.seq` is commit order: the store's write lock orders every commit that inserts events
(`Store._write`), so an event committed after a run has a higher seq than any it saw.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Engine, and_, delete, func, insert, or_, select, update

from ledger.errors import NotFoundError
from ledger.store import tables as t
from ledger.store.named_queries import get_query
from ledger.store.store import InvalidPageTokenError

__all__ = ["Delivery", "Outgoing", "Subscription", "UnknownSubscriptionError", "claim_deliveries",
           "create_subscription", "delete_subscription", "delivery_failed",
           "delivery_succeeded", "due_subscriptions", "get_subscription",
           "delete_query_subscriptions", "list_subscriptions", "newest_seq", "pending_deliveries",
           "record_run", "split_delivery"]


class UnknownSubscriptionError(NotFoundError):
    """EPCIS NoSuchNameException, the binding's 404 (the same for another organisation's)."""

    slug = "unknown-subscription"
    title = "No such subscription"

    def __init__(self, detail: str, **fields: Any) -> None:
        super().__init__(detail, **{"epcisException": "NoSuchNameException", **fields})


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    org: bytes
    query_name: str
    signer: str
    dest: str
    secret: str
    stream: bool
    schedule: dict[str, Any] | None
    report_if_empty: bool
    initial_record_ms: int
    last_seq: int
    next_run_ms: int | None
    created_ms: int
    last_notified_ms: int | None
    epc_format: str | None = None  # GS1-EPC-Format asked when subscribing (None: as captured)


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    subscription_id: str
    body: bytes
    attempts: int
    dest: str
    secret: str
    org: bytes
    signer: str
    epc_format: str | None = None  # the GS1-EPC-Format header to send (None: none)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A delivery to write: the body to send, and the GS1-EPC-Format its keys are written in."""

    body: bytes
    epc_format: str | None = None


def _now_ms() -> int:
    return int(time.time() * 1000)


def _ordered_ids(now_ms: int, count: int) -> list[str]:
    """`count` UUIDv7 (RFC 9562 §5.7) ids in order: 48 bits of `now_ms`, the version, 12 bits
    of place (0…count-1), the variant, 62 random bits."""
    if count > 0xFFF:
        raise ValueError(f"{count} deliveries in one write: at most 4095")
    ids = []
    for place in range(count):
        random = int.from_bytes(uuid.uuid4().bytes[8:], "big") & ((1 << 62) - 1)
        value = (now_ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | place << 64 | 0b10 << 62 | random
        ids.append(str(uuid.UUID(int=value)))
    return ids


def _insert_outgoing(conn: Any, subscription_id: str, outgoing: Sequence[Outgoing],
                     now_ms: int) -> None:
    for id_, out in zip(_ordered_ids(now_ms, len(outgoing)), outgoing, strict=True):
        conn.execute(insert(t.webhook_outbox).values(
            id=id_, subscription_id=subscription_id, body=out.body, created_ms=now_ms,
            attempts=0, next_attempt_ms=now_ms, lease_until_ms=None, last_error=None,
            epc_format=out.epc_format))


def _subscription(row: Any) -> Subscription:
    return Subscription(
        id=row.id, org=bytes(row.org), query_name=row.query_name, signer=row.signer,
        dest=row.dest, secret=row.secret, stream=bool(row.stream),
        schedule=orjson.loads(row.schedule) if row.schedule else None,
        report_if_empty=bool(row.report_if_empty), initial_record_ms=row.initial_record_ms,
        last_seq=row.last_seq, next_run_ms=row.next_run_ms, created_ms=row.created_ms,
        last_notified_ms=row.last_notified_ms, epc_format=row.epc_format)


def create_subscription(engine: Engine, *, org: bytes, query_name: str, signer: str,
                        dest: str, secret: str, stream: bool,
                        schedule: dict[str, Any] | None, report_if_empty: bool,
                        initial_record_ms: int | None, next_run_ms: int | None,
                        epc_format: str | None = None) -> Subscription:
    """Subscribe `org` to its named query `query_name` (UnknownQueryError if it has none of
    that name). Without `initial_record_ms` the subscription considers events recorded from
    now on: `last_seq` starts at the newest event's seq. With it, at 0, and each run asks for
    a recordTime at or after `initial_record_ms`."""
    get_query(engine, org, query_name)  # 404 for a query the organisation does not have
    now = _now_ms()
    s = t.subscriptions
    with engine.begin() as conn:
        if initial_record_ms is None:
            last_seq = conn.execute(select(func.coalesce(func.max(t.events.c.seq), 0))).scalar_one()
            initial = now
        else:
            last_seq, initial = 0, initial_record_ms
        subscription_id = str(uuid.uuid4())
        values = {"id": subscription_id, "org": org, "query_name": query_name,
                  "signer": signer, "dest": dest, "secret": secret, "stream": int(stream),
                  "schedule": orjson.dumps(schedule).decode() if schedule else None,
                  "report_if_empty": int(report_if_empty), "initial_record_ms": initial,
                  "last_seq": int(last_seq), "next_run_ms": next_run_ms, "created_ms": now,
                  "last_notified_ms": None, "epc_format": epc_format}
        conn.execute(insert(s).values(**values))
    return Subscription(
        id=subscription_id, org=org, query_name=query_name, signer=signer, dest=dest,
        secret=secret, stream=stream, schedule=schedule, report_if_empty=report_if_empty,
        initial_record_ms=initial, last_seq=int(last_seq), next_run_ms=next_run_ms,
        created_ms=now, last_notified_ms=None, epc_format=epc_format)


def get_subscription(engine: Engine, org: bytes, query_name: str, subscription_id: str
                     ) -> Subscription:
    s = t.subscriptions.c
    with engine.connect() as conn:
        row = conn.execute(select(t.subscriptions).where(
            s.id == subscription_id, s.org == org, s.query_name == query_name)).first()
    if row is None:
        raise UnknownSubscriptionError(f"no subscription {subscription_id!r} to {query_name!r}",
                                       subscriptionID=subscription_id, queryName=query_name)
    return _subscription(row)


def list_subscriptions(engine: Engine, org: bytes, query_name: str, per_page: int,
                       token: str | None = None) -> tuple[list[Subscription], str | None]:
    """The organisation's subscriptions to one of its queries, by id, paged."""
    get_query(engine, org, query_name)
    s = t.subscriptions.c
    stmt = select(t.subscriptions).where(s.org == org, s.query_name == query_name)
    if token:
        stmt = stmt.where(s.id > _after(token))
    with engine.connect() as conn:
        rows = conn.execute(stmt.order_by(s.id).limit(per_page + 1)).all()
    out = [_subscription(r) for r in rows[:per_page]]
    return out, (_token(out[-1].id) if len(rows) > per_page else None)


def delete_subscription(engine: Engine, org: bytes, query_name: str, subscription_id: str
                        ) -> None:
    """Unsubscribe: the subscription and its undelivered deliveries go together."""
    s = t.subscriptions.c
    with engine.begin() as conn:
        found = conn.execute(select(s.id).where(
            s.id == subscription_id, s.org == org, s.query_name == query_name)).first()
        if found is None:
            raise UnknownSubscriptionError(
                f"no subscription {subscription_id!r} to {query_name!r}",
                subscriptionID=subscription_id, queryName=query_name)
        conn.execute(delete(t.webhook_outbox).where(
            t.webhook_outbox.c.subscription_id == subscription_id))
        conn.execute(delete(t.subscriptions).where(s.id == subscription_id))


def delete_query_subscriptions(conn: Any, org: bytes, query_name: str) -> None:
    """Inside a named query's deletion: its subscriptions and their deliveries go with it."""
    s = t.subscriptions.c
    ids = select(s.id).where(s.org == org, s.query_name == query_name)
    conn.execute(delete(t.webhook_outbox).where(t.webhook_outbox.c.subscription_id.in_(ids)))
    conn.execute(delete(t.subscriptions).where(s.org == org, s.query_name == query_name))


def due_subscriptions(engine: Engine, now_ms: int) -> list[Subscription]:
    """Stream subscriptions (each run looks for new events) and scheduled ones whose next run
    has come."""
    s = t.subscriptions.c
    with engine.connect() as conn:
        rows = conn.execute(select(t.subscriptions).where(
            or_(s.stream == 1, s.next_run_ms <= now_ms)).order_by(s.id)).all()
    return [_subscription(r) for r in rows]


def newest_seq(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.max(t.events.c.seq), 0))).scalar_one())


def record_run(engine: Engine, subscription: Subscription, *, last_seq: int,
               next_run_ms: int | None, bodies: Sequence[Outgoing]) -> bool:
    """Write a run's deliveries and move the subscription past them, in one transaction,
    only if no other worker ran it since it was read (False: someone did; nothing written)."""
    s = t.subscriptions.c
    now = _now_ms()
    with engine.begin() as conn:
        moved = conn.execute(update(t.subscriptions).where(
            s.id == subscription.id, s.last_seq == subscription.last_seq,
            (s.next_run_ms == subscription.next_run_ms) if subscription.next_run_ms is not None
            else s.next_run_ms.is_(None),
        ).values(last_seq=last_seq, next_run_ms=next_run_ms))
        if moved.rowcount != 1:
            return False
        _insert_outgoing(conn, subscription.id, bodies, now)
    return True


def claim_deliveries(engine: Engine, now_ms: int, lease_ms: int, limit: int = 32
                     ) -> list[Delivery]:
    """Deliveries due now that no other worker holds, each leased to the caller for
    `lease_ms` (a worker that dies mid-send leaves the lease to expire, and the delivery is
    sent again, with the same id)."""
    o, s = t.webhook_outbox.c, t.subscriptions.c
    free = or_(o.lease_until_ms.is_(None), o.lease_until_ms < now_ms)
    with engine.connect() as conn:
        rows = conn.execute(
            select(o.id, o.subscription_id, o.body, o.attempts, s.dest, s.secret, s.org,
                   s.signer, o.epc_format)
            .select_from(t.webhook_outbox.join(t.subscriptions, s.id == o.subscription_id))
            .where(o.next_attempt_ms <= now_ms, free)
            .order_by(o.next_attempt_ms, o.id).limit(limit)).all()
    claimed = []
    for r in rows:
        with engine.begin() as conn:
            got = conn.execute(update(t.webhook_outbox).where(
                and_(o.id == r.id, free)).values(lease_until_ms=now_ms + lease_ms))
        if got.rowcount == 1:
            claimed.append(Delivery(r.id, r.subscription_id, bytes(r.body), r.attempts,
                                    r.dest, r.secret, bytes(r.org), r.signer, r.epc_format))
    return claimed


def delivery_succeeded(engine: Engine, delivery: Delivery, now_ms: int) -> None:
    with engine.begin() as conn:
        conn.execute(delete(t.webhook_outbox).where(t.webhook_outbox.c.id == delivery.id))
        conn.execute(update(t.subscriptions).where(
            t.subscriptions.c.id == delivery.subscription_id).values(last_notified_ms=now_ms))


def delivery_failed(engine: Engine, delivery: Delivery, *, next_attempt_ms: int | None,
                    error: str) -> None:
    """Record a failed attempt: try again at `next_attempt_ms`, or (None) give up and drop
    the delivery."""
    o = t.webhook_outbox.c
    with engine.begin() as conn:
        if next_attempt_ms is None:
            conn.execute(delete(t.webhook_outbox).where(o.id == delivery.id))
        else:
            conn.execute(update(t.webhook_outbox).where(o.id == delivery.id).values(
                attempts=delivery.attempts + 1, next_attempt_ms=next_attempt_ms,
                lease_until_ms=None, last_error=error[:2000]))


def split_delivery(engine: Engine, delivery: Delivery, bodies: Sequence[bytes]) -> bool:
    """Replace `delivery` by deliveries of `bodies` (its events in smaller documents, in
    order), due now, in one transaction (False: it was no longer in the outbox; nothing
    written). The parts are new deliveries, with ids of their own: the receiver refused the
    whole, so it has nothing to dedupe them against."""
    now = _now_ms()
    with engine.begin() as conn:
        gone = conn.execute(delete(t.webhook_outbox).where(t.webhook_outbox.c.id == delivery.id))
        if gone.rowcount != 1:
            return False
        _insert_outgoing(conn, delivery.subscription_id,
                         [Outgoing(body, delivery.epc_format) for body in bodies], now)
    return True


def pending_deliveries(engine: Engine, subscription_id: str | None = None) -> list[dict[str, Any]]:
    """The outbox as it stands (for operators and tests): id, subscription, attempts, next
    attempt, last error."""
    o = t.webhook_outbox.c
    stmt = select(o.id, o.subscription_id, o.attempts, o.next_attempt_ms, o.last_error)
    if subscription_id is not None:
        stmt = stmt.where(o.subscription_id == subscription_id)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt.order_by(o.created_ms, o.id))]


def _token(subscription_id: str) -> str:
    return base64.urlsafe_b64encode(f"s1:{subscription_id}".encode()).decode().rstrip("=")


def _after(token: str) -> str:
    try:
        version, after = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode() \
            .split(":", 1)
    except (ValueError, UnicodeDecodeError):
        version = after = ""
    if version != "s1":
        raise InvalidPageTokenError("the page token is not one the subscription listing issued",
                                    token=token[:100])
    return after
