"""EPCIS 2.0 named queries (`POST /queries`), kept per organisation.

A query belongs to the organisation of the member that created it: every read, run and delete
names that organisation, so a member never sees, runs or learns the existence of another's
query (another organisation's name is simply not found). The query is kept as the JSON text
the member sent, already checked against the query language by the caller
(`ledger.epcis.query`).
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from ledger.errors import ConflictError, NotFoundError
from ledger.store import tables as t
from ledger.store.store import InvalidPageTokenError

__all__ = ["NamedQuery", "QueryExistsError", "UnknownQueryError", "create_query",
           "delete_query", "get_query", "list_queries"]


class QueryExistsError(ConflictError):
    """EPCIS ResourceAlreadyExistsException: the organisation has a query of this name."""

    slug = "query-exists"
    title = "A query of this name exists"


class UnknownQueryError(NotFoundError):
    """EPCIS NoSuchNameException (the same for another organisation's query)."""

    slug = "unknown-query"
    title = "No such query"


@dataclass(frozen=True, slots=True)
class NamedQuery:
    name: str
    query: dict[str, Any]
    created_ms: int


def create_query(engine: Engine, org: bytes, name: str, query: dict[str, Any]) -> NamedQuery:
    created = int(time.time() * 1000)
    try:
        with engine.begin() as conn:
            conn.execute(insert(t.named_queries).values(
                org=org, name=name, query=orjson.dumps(query).decode(), created_ms=created))
    except IntegrityError:
        raise QueryExistsError(f"a query named {name!r} exists", queryName=name) from None
    return NamedQuery(name, query, created)


def get_query(engine: Engine, org: bytes, name: str) -> NamedQuery:
    q = t.named_queries.c
    with engine.connect() as conn:
        row = conn.execute(select(q.name, q.query, q.created_ms)
                           .where(q.org == org, q.name == name)).first()
    if row is None:
        raise UnknownQueryError(f"no query named {name!r}", queryName=name)
    return NamedQuery(row.name, orjson.loads(row.query), row.created_ms)


def delete_query(engine: Engine, org: bytes, name: str) -> None:
    """Delete the query, and with it its subscriptions and their undelivered deliveries."""
    from ledger.store.subscriptions import delete_query_subscriptions

    q = t.named_queries.c
    with engine.begin() as conn:
        delete_query_subscriptions(conn, org, name)
        gone = conn.execute(delete(t.named_queries).where(q.org == org, q.name == name))
        if gone.rowcount == 0:
            raise UnknownQueryError(f"no query named {name!r}", queryName=name)


def list_queries(engine: Engine, org: bytes, per_page: int, token: str | None = None
                 ) -> tuple[list[NamedQuery], str | None]:
    """The organisation's queries by name, `per_page` at a time, and the next page's token."""
    q = t.named_queries.c
    stmt = select(q.name, q.query, q.created_ms).where(q.org == org)
    if token:
        stmt = stmt.where(q.name > _after(token))
    with engine.connect() as conn:
        rows = conn.execute(stmt.order_by(q.name).limit(per_page + 1)).all()
    out = [NamedQuery(r.name, orjson.loads(r.query), r.created_ms) for r in rows[:per_page]]
    more = len(rows) > per_page
    return out, (_token(out[-1].name) if more else None)


def _token(name: str) -> str:
    return base64.urlsafe_b64encode(f"q1:{name}".encode()).decode().rstrip("=")


def _after(token: str) -> str:
    try:
        version, name = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode() \
            .split(":", 1)
    except (ValueError, UnicodeDecodeError):
        version = name = ""
    if version != "q1":
        raise InvalidPageTokenError("the page token is not one the query listing issued",
                                    token=token[:100])
    return name
