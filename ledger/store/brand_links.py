"""Brand links: the links a GTIN's brand owner registered for the resolver to offer.

Who may register is the gateway's check (the prefix owner on Consortium); this module keeps
them. Registering the same (GTIN, link type, target) again replaces its title and attributes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select

from ledger.store import tables as t

__all__ = ["BrandLink", "links_for", "register"]


@dataclass(frozen=True, slots=True)
class BrandLink:
    gtin: str
    link_type: str  # full URI
    href: str
    title: str
    media_type: str | None
    hreflang: str | None
    org: bytes


def register(engine: Any, link: BrandLink) -> None:
    with engine.begin() as conn:
        conn.execute(delete(t.brand_links).where(
            t.brand_links.c.gtin == link.gtin, t.brand_links.c.link_type == link.link_type,
            t.brand_links.c.href == link.href))
        conn.execute(insert(t.brand_links).values(
            gtin=link.gtin, link_type=link.link_type, href=link.href, title=link.title,
            media_type=link.media_type, hreflang=link.hreflang, org=link.org,
            registered_ms=int(time.time() * 1000)))


def links_for(engine: Any, gtin: str) -> list[BrandLink]:
    b = t.brand_links.c
    with engine.connect() as conn:
        rows = conn.execute(select(b.gtin, b.link_type, b.href, b.title, b.media_type,
                                   b.hreflang, b.org).where(b.gtin == gtin).order_by(b.id)).all()
    return [BrandLink(r.gtin, r.link_type, r.href, r.title, r.media_type, r.hreflang,
                      bytes(r.org)) for r in rows]
