"""The values the store holds of one indexed field, paged: what the EPCIS 2.0 top-level
resources list (`/epcs`, `/bizSteps`, `/bizLocations`, `/readPoints`, `/dispositions`).

Each page is a loose index scan: the next value is `min(column) WHERE column > previous`, one
probe of the column's index per value (all of a page's probes in one recursive statement), so
a page costs the same whether a value occurs in ten events or in a million (`SELECT DISTINCT` would read every index entry of every repeated value
before the page's last one). The page token is the last value listed, tagged with its resource,
so a token of one listing is refused by another.

EPCs: an EPC is listed when it is named by an event in a role that `GET /epcs/{epc}/events`
(MATCH_anyEPC) answers: epcList, childEPCs, parentID, inputEPCList, outputEPCList. Quantity
classes (`class` role) are not EPCs and are left out, so every EPC listed leads to events.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Engine, select, text

from ledger.errors import InvalidInputError
from ledger.store import tables as t
from ledger.store.store import InvalidPageTokenError

__all__ = ["EPC_LISTING_ROLES", "LISTED_FIELDS", "holds_value", "list_values", "page_token",
           "token_value"]

# Roles of an EPC that MATCH_anyEPC (and so `/epcs/{epc}/events`) reads.
EPC_LISTING_ROLES = ("epc", "child", "parent", "input", "output")

# Top-level resource → the indexed column that holds its values (bare CBV terms for CBV
# bizSteps and dispositions, as captured ids for locations, canonical EPCs).
LISTED_FIELDS: dict[str, Column[Any]] = {
    "bizSteps": t.events.c.biz_step,
    "dispositions": t.events.c.disposition,
    "readPoints": t.events.c.read_point,
    "bizLocations": t.events.c.biz_location,
    "epcs": t.event_epcs.c.epc,
}


def page_token(resource: str, value: str) -> str:
    """The token of the page after `value` in `resource`'s listing."""
    raw = f"l1:{resource}:{value}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def token_value(resource: str, token: str) -> str:
    """The last value listed before the page `token` names (400 if another listing's)."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        version, of, value = raw.split(":", 2)
    except (ValueError, UnicodeDecodeError):
        version = of = value = ""
    if version != "l1" or of != resource:
        raise InvalidPageTokenError(f"the page token is not one this {resource} listing "
                                       "issued", token=token[:100])
    return value


def _is_epc(conn: Any, value: str) -> bool:
    ee = t.event_epcs
    probe = select(ee.c.epc).where(ee.c.epc == value,
                                   ee.c.role.in_(EPC_LISTING_ROLES)).limit(1)
    return conn.execute(probe).first() is not None


def _next_values(conn: Any, column: Column[Any], after: str | None, steps: int
                 ) -> tuple[list[str], bool]:
    """Up to `steps` distinct values after `after`, in one statement (a recursive CTE, the
    loose index scan: each step one `min(column) WHERE column > previous` probe), and whether
    the column's last value was reached. Table and column names are the schema's own."""
    table, col = column.table.name, column.name  # type: ignore[attr-defined]
    start = f"{col} > :after" if after is not None else f"{col} IS NOT NULL"
    sql = text(
        f"WITH RECURSIVE d(v, n) AS ("  # noqa: S608 - names from the schema, values bound
        f"SELECT (SELECT min({col}) FROM {table} WHERE {start}), 1 "
        f"UNION ALL SELECT (SELECT min({col}) FROM {table} WHERE {col} > d.v), d.n + 1 "
        f"FROM d WHERE d.v IS NOT NULL AND d.n < :steps) SELECT v FROM d ORDER BY n")
    rows = conn.execute(sql, {"after": after, "steps": steps}).scalars().all()
    values = [v for v in rows if v is not None]
    return values, len(values) < len(rows)


def _epcs_among(conn: Any, values: list[str]) -> set[str]:
    ee = t.event_epcs
    if not values:
        return set()
    return set(conn.execute(select(ee.c.epc).distinct().where(
        ee.c.epc.in_(values), ee.c.role.in_(EPC_LISTING_ROLES))).scalars())


def list_values(engine: Engine, resource: str, per_page: int, token: str | None = None
                ) -> tuple[list[str], str | None]:
    """Up to `per_page` distinct values of `resource`'s field in ascending order after the
    token's, and the token of the next page (None: no more)."""
    column = LISTED_FIELDS[resource]
    if not 1 <= per_page <= 10_000:
        raise InvalidInputError("per_page must be between 1 and 10000", per_page=per_page)
    after = token_value(resource, token) if token else None
    out: list[str] = []
    with engine.connect() as conn, conn.begin():
        while len(out) <= per_page:
            # One more than the page (to know whether another page follows); EPCs in quantity
            # class roles only are skipped, so those batches may need a follow-up.
            values, ended = _next_values(conn, column, after, per_page + 1 - len(out))
            if values:
                after = values[-1]
                kept = _epcs_among(conn, values) if resource == "epcs" else set(values)
                out += [v for v in values if v in kept]
            if ended or not values:
                break
    if len(out) > per_page:
        return out[:per_page], page_token(resource, out[per_page - 1])
    return out, None


def holds_value(engine: Engine, resource: str, values: Sequence[str]) -> bool:
    """Whether some event holds one of `values` in `resource`'s field (an index probe)."""
    column = LISTED_FIELDS[resource]
    with engine.connect() as conn, conn.begin():
        if resource == "epcs":
            return any(_is_epc(conn, v) for v in values)
        return conn.execute(select(column).where(column.in_(list(values))).limit(1)
                            ).first() is not None
