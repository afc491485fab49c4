"""An organisation's capture jobs, newest first, paged (`GET /capture`).

A capture job is a stored capture (`captures`); the job of each is built by the caller from
`Store.get_capture`. Only the organisation that signed a capture lists it: its jobs name its
signer, nonce and event ids, which are no other member's business. The listing reads the
index on (org, received_ms, id) and nothing else, so a page costs the same however many
captures the store holds.
"""

from __future__ import annotations

import base64

from sqlalchemy import Engine, and_, or_, select

from ledger.store import tables as t
from ledger.store.store import InvalidPageTokenError

__all__ = ["list_capture_ids"]

_VERSION = "j1"


def list_capture_ids(engine: Engine, org: bytes, per_page: int, token: str | None = None
                     ) -> tuple[list[str], str | None]:
    """Ids of `org`'s captures, newest first, `per_page` at a time, and the next page's token
    (None on the last page)."""
    c = t.captures.c
    stmt = select(c.id, c.received_ms).where(c.org == org)
    if token:
        received, after = _after(token)
        stmt = stmt.where(or_(c.received_ms < received,
                              and_(c.received_ms == received, c.id < after)))
    stmt = stmt.order_by(c.received_ms.desc(), c.id.desc()).limit(per_page + 1)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    page = rows[:per_page]
    more = len(rows) > per_page
    return [r.id for r in page], (_token(page[-1].received_ms, page[-1].id) if more else None)


def _token(received_ms: int, capture_id: str) -> str:
    raw = f"{_VERSION}:{received_ms}:{capture_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(token: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        version, received, capture_id = raw.split(":", 2)
        if version != _VERSION or len(capture_id) > 64:
            raise ValueError(version)
        return int(received), capture_id
    except (ValueError, UnicodeDecodeError):
        raise InvalidPageTokenError("the page token is not one the capture job listing issued",
                                    token=token[:100]) from None
