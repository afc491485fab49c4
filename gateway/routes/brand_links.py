"""Brand links: a GTIN's brand owner adds its own links to what the resolver offers.

    POST /brand-links/{gtin}     {"linkType": "gs1:certificationInfo", "href": "https://…",
                                  "title": "Organic certificate", "type": "application/pdf",
                                  "hreflang": "en"}
    GET  /brand-links/{gtin}     the links registered for the GTIN (public: the linkset has them)

Only the organisation that owns the GTIN's company prefix on Consortium may register, with a
signed member request (`gateway.auth`): another member gets 403 `not-prefix-owner`, the public
401. The resolver shows the links in the GTIN's linkset and every finer level's (lot, item), and
`?linkType=` redirects to them. Titles are printable ASCII (they go into `Link` headers), targets
absolute http(s) URLs, link types GS1 Web Vocabulary terms in any spelling.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field, field_validator
from starlette.concurrency import run_in_threadpool

from gateway.auth import MemberDep
from gateway.deps import ServicesDep
from gateway.linkset import GS1_VOC, link_type_uri
from gateway.problems import problem_responses
from gateway.routes.codes import _require_owner
from gateway.traceability import RuntimeDep
from ledger.epcis.gs1 import normalise_gtin
from ledger.store import brand_links

__all__ = ["router"]

router = APIRouter(tags=["Digital Link resolver"])

Gtin = Annotated[str, Path(pattern=r"^[0-9]{8,14}$", description="GTIN-8/12/13/14")]
# Link types the resolver makes itself: a brand cannot replace the ledger's own answers.
_RESERVED = frozenset(GS1_VOC + t for t in ("defaultLink", "defaultLinkMulti", "linkset",
                                            "verificationService", "traceability",
                                            "recallStatus", "handledBy"))


class BrandLinkRequest(BaseModel):
    linkType: str = Field(min_length=1, max_length=120,
                          description="GS1 link type: gs1:pip, https://gs1.org/voc/pip, …")
    href: str = Field(pattern=r"^https?://[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]+$",
                      max_length=1000)
    title: str = Field(pattern=r"^[ !#-\[\]-~]+$", min_length=1, max_length=100,
                       description="printable ASCII, no quote or backslash")
    type: str | None = Field(default=None, pattern=r"^\w+/[-+.\w]+$", max_length=100)
    hreflang: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[A-Z]{2})?$")

    @field_validator("linkType")
    @classmethod
    def _gs1_term(cls, value: str) -> str:
        uri = link_type_uri(value)
        if not re.fullmatch(re.escape(GS1_VOC) + r"[A-Za-z]+", uri):
            raise ValueError("a brand link's type is a GS1 Web Vocabulary link type")
        if uri in _RESERVED:
            raise ValueError(f"{value} is the resolver's own link type")
        return uri


def _json(link: brand_links.BrandLink) -> dict[str, Any]:
    return {"linkType": link.link_type, "href": link.href, "title": link.title,
            "type": link.media_type, "hreflang": link.hreflang,
            "registeredBy": "0x" + link.org.hex()}


@router.post("/brand-links/{gtin}", status_code=201, summary="Register a brand link (prefix owner)",
             responses=problem_responses(400, 401, 403))
async def register(gtin: Gtin, body: BrandLinkRequest, viewer: MemberDep,
                   services: ServicesDep, runtime: RuntimeDep) -> dict[str, Any]:
    gtin14 = normalise_gtin(gtin)

    def work() -> dict[str, Any]:
        _require_owner(viewer, services, gtin14)
        assert viewer.org is not None  # a member
        link = brand_links.BrandLink(gtin14, body.linkType, body.href, body.title, body.type,
                                     body.hreflang, viewer.org)
        brand_links.register(services.store.engine, link)
        runtime.forget_brand_links(gtin14)
        return _json(link)

    return await run_in_threadpool(work)


@router.get("/brand-links/{gtin}", summary="Brand links registered for a GTIN")
async def list_links(gtin: Gtin, services: ServicesDep) -> dict[str, Any]:
    gtin14 = normalise_gtin(gtin)
    links = await run_in_threadpool(brand_links.links_for, services.store.engine, gtin14)
    return {"gtin": gtin14, "links": [_json(x) for x in links]}
