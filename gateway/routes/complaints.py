"""Complaints about an item code: anyone may file one, brand owners and regulators read them.

    POST /complaints   JSON or the consumer page's form; rate-limited per client, size-limited;
                       answers the complaint's id and a receipt only the complainant gets
    GET  /complaints   brand owner's members: complaints about GTINs their organisation owns;
                       regulators: all
    GET  /complaints/{id}?receipt=…   the complainant, no account: where the complaint stands
                       (status, the regulator's outcome, the brand's replies)

The receipt is a random 256-bit token; the store keeps only its SHA-256
(`ComplaintBook.for_receipt`). Ids are sequential, so without the right receipt the answer is
the same 404 `unknown-complaint` whether the id exists or not, and says nothing of it. A form
post's redirect carries the receipt back to the item's page on this site, the one the form is on
(`/pip/01/…?verdict=server&complaint=<id>&receipt=<token>`, never through the resolver to a page
a brand registered),
which shows the complaint's standing from then on; that page is served with
`Referrer-Policy: same-origin` so the receipt never travels to another site in a Referer (not
`no-referrer`: a browser then posts the page's forms with `Origin: null`, refused below).

Filing needs no account: the per-client token bucket (shared through Redis when configured)
and the text limit are what keep the endpoint from being flooded. The client is kept only as a
salted hash, so the risk rules count clients, not complaints (`ComplaintBook.counts`).

Cross-site posts are refused (403 `cross-site-request`): the consumer page's form is plain HTML,
so without this any site could make its visitors' browsers file complaints. A browser says where
a request comes from (`Sec-Fetch-Site`, `Origin`); a request that names another site is
refused, one that names none (a script, curl) is not a cross-site request. Behind a proxy that
terminates TLS, set ZHENZHI_PUBLIC_URL so the site's own origin is known. After a form post the
browser goes back to the item's page, a path on this site built from the parsed code.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from gateway.auth import Access, MemberDep
from gateway.deps import ServicesDep
from gateway.problems import problem_responses
from gateway.traceability import RuntimeDep
from ledger.errors import AuthorizationError, InvalidInputError
from ledger.proofs.codes import validate_gtin14, validate_lot
from ledger.runtime.ratelimit import limit
from ledger.trade.complaints import CATEGORIES, ComplaintBook, InvalidComplaintError, Standing

__all__ = ["CrossSiteRequestError", "item_path", "parse_code", "refuse_cross_site", "router",
           "standing_json"]

router = APIRouter(tags=["Complaints"])

_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {
            "type": "object", "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "the item's Digital Link (or its path)"},
                "category": {"type": "string", "enum": list(CATEGORIES)},
                "message": {"type": "string", "maxLength": 20000},
            }}},
        "application/x-www-form-urlencoded": {"schema": {
            "type": "object", "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "category": {"type": "string"},
                           "message": {"type": "string"}}}},
    },
}


class CrossSiteRequestError(AuthorizationError):
    slug = "cross-site-request"
    title = "Request from another site"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def refuse_cross_site(request: Request, public_url: str | None) -> None:
    """Raise `CrossSiteRequestError` if the browser says the request comes from another site."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site.lower() not in ("same-origin", "none"):
        raise CrossSiteRequestError("complaints are filed from this site's own pages",
                                    secFetchSite=fetch_site[:40])
    origin = request.headers.get("origin")
    if origin is not None:
        own = {_origin(str(request.base_url))} | ({_origin(public_url)} if public_url else set())
        if origin.strip().lower() not in own:
            raise CrossSiteRequestError("complaints are filed from this site's own pages",
                                        origin=origin[:200])


def item_path(gtin: str, serial: str | None, lot: str | None) -> str:
    """The item's page on this site, from parsed (validated) parts, each one path segment."""
    if serial is None:
        return "/"
    return (f"/01/{gtin}" + (f"/10/{quote(lot, safe='')}" if lot else "")
            + f"/21/{quote(serial, safe='')}")


def gtin14(text: str) -> str:
    if text.isdigit() and len(text) in (8, 12, 13):
        text = text.zfill(14)
    return validate_gtin14(text)


def parse_code(code: str) -> tuple[str, str | None, str | None]:
    """(gtin, serial, lot) of a Digital Link URI or path (`/01/<gtin>[/10/<lot>]/21/<serial>`)."""
    from urllib.parse import unquote

    parts = [unquote(p) for p in urlsplit(code.strip()).path.split("/") if p]
    try:
        start = parts.index("01")
    except ValueError:
        raise InvalidComplaintError("code must be a GS1 Digital Link (…/01/<GTIN>/21/<serial>)",
                                    field="code") from None
    pairs = parts[start:]
    if len(pairs) % 2:
        raise InvalidComplaintError("code path must be AI/value pairs", field="code")
    values = dict(zip(pairs[0::2], pairs[1::2], strict=True))
    gtin = gtin14(values["01"])
    serial = values.get("21")
    lot = values.get("10")
    if serial is not None:
        validate_lot(serial, "serial")
    if lot is not None:
        validate_lot(lot)
    return gtin, serial, lot


@router.post("/complaints", status_code=201, summary="File a complaint about an item code",
             openapi_extra={"requestBody": _BODY},
             responses={303: {"description": "form posts: back to the item page"},
                        **problem_responses(400, 403, 413, 415, 429)})
async def file_complaint(request: Request, services: ServicesDep, runtime: RuntimeDep) -> Any:
    """No account needed. Rate-limited per client (429 with Retry-After) and size-limited."""
    settings = runtime.settings
    refuse_cross_site(request, services.settings.public_url)
    identity = runtime.client(request)
    limit(runtime.complaints, identity.key)
    raw = await request.body()
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    is_form = kind == "application/x-www-form-urlencoded"
    if is_form:
        try:
            parsed = parse_qs(raw.decode("utf-8", "replace"), max_num_fields=10)
        except ValueError:
            # parse_qs refuses a form with more fields than the cap by raising ValueError: that
            # is the client's input, a 400, not a server error.
            raise InvalidComplaintError("the form has too many fields (at most 10)") from None
        fields = {k: v[0] for k, v in parsed.items()}
    elif kind == "application/json":
        try:
            fields = json.loads(raw)
        except ValueError as exc:
            raise InvalidInputError(f"body is not JSON: {exc}") from None
        if not isinstance(fields, dict):
            raise InvalidInputError("body must be a JSON object")
    else:
        from gateway.problems import UnsupportedMediaTypeError

        raise UnsupportedMediaTypeError("send application/json or a form", contentType=kind)
    code, message = fields.get("code"), fields.get("message")
    if not isinstance(code, str) or not isinstance(message, str):
        raise InvalidComplaintError("code and message are required strings")
    category = fields.get("category") or "other"
    if not isinstance(category, str):
        raise InvalidComplaintError("category must be a string", field="category")
    gtin, serial, lot = parse_code(code)
    book = ComplaintBook(services.store.engine)
    filed = await run_in_threadpool(
        book.file, gtin, serial, lot, message, category=category,
        max_chars=settings.complaint_max_chars,
        client_hash=identity.salted_hash(settings.scan_salt.get_secret_value()))
    complaint = filed.complaint
    if is_form:
        from gateway.routes.resolver import PAGE_PREFIX

        # Never the raw `code`: "https://x//evil.example/…" has the path "//evil.example/…",
        # which a browser reads as another host. Straight to this site's own page, not through
        # the resolver: a brand's registered page for the GTIN must not receive the receipt.
        # Back to the page the form is on (the gateway's verdict, no script needed), which
        # shows the complaint's standing from then on; the browser-verified page does too.
        path = item_path(gtin, serial, lot)
        where = f"{PAGE_PREFIX}{path}?verdict=server&" if serial is not None else f"{path}?"
        return RedirectResponse(
            f"{where}complaint={complaint.id}&receipt={filed.receipt}",
            status_code=303, headers={"Cache-Control": "no-store",
                                      "Referrer-Policy": "same-origin"})
    return {"id": complaint.id, "gtin": gtin, "serial": serial, "lot": lot,
            "category": complaint.category, "status": complaint.status,
            "receipt": filed.receipt,
            "statusUrl": f"/complaints/{complaint.id}?receipt={filed.receipt}"}


def standing_json(standing: Standing, names: dict[bytes, str | None]) -> dict[str, Any]:
    """What the complainant reads: the complaint as filed, its status and outcome, replies."""
    c = standing.complaint
    return {"id": c.id, "gtin": c.gtin, "serial": c.serial, "lot": c.lot,
            "category": c.category, "text": c.text, "createdMs": c.created_ms,
            "status": c.status, "outcome": c.outcome, "updatedMs": c.updated_ms,
            "replies": [{"org": "0x" + r.org.hex(), "orgName": names.get(r.org),
                         "text": r.text, "repliedMs": r.replied_ms} for r in standing.replies]}


@router.get("/complaints/{complaint_id}",
            summary="Where a complaint stands, for the holder of its receipt (no account)",
            responses=problem_responses(400, 404, 429))
def complaint_standing(request: Request, complaint_id: Annotated[int, Path(ge=1, le=2**62)],
                       services: ServicesDep, runtime: RuntimeDep,
                       receipt: Annotated[str | None, Query(max_length=200)] = None,
                       ) -> JSONResponse:
    """404 `unknown-complaint` for a wrong or missing receipt exactly as for an unknown id."""
    limit(runtime.scans, runtime.client(request).key)
    standing = ComplaintBook(services.store.engine).for_receipt(complaint_id, receipt)
    names = {r.org: services.chain_view.org_name(r.org) for r in standing.replies}
    return JSONResponse(standing_json(standing, names),
                        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


@router.get("/complaints", summary="Complaints (brand owners: their GTINs; regulators: all)",
            responses=problem_responses(400, 401, 403))
def list_complaints(viewer: MemberDep, services: ServicesDep,
                    gtin: Annotated[str | None, Query(pattern=r"^[0-9]{14}$")] = None,
                    lot: Annotated[str | None, Query(max_length=20)] = None,
                    after: Annotated[int, Query(ge=0)] = 0,
                    limit_: Annotated[int, Query(alias="limit", ge=1, le=1000)] = 100,
                    ) -> dict[str, Any]:
    book = ComplaintBook(services.store.engine)
    gtins: list[str] | None
    if viewer.access is Access.REGULATOR:
        gtins = [gtin] if gtin else None
    else:
        view = services.chain_view
        view.sync()
        # Only GTINs whose company prefix this organisation owns now, on chain.
        candidates = [gtin] if gtin else book.gtins()
        gtins = [g for g in candidates if view.prefix_owner(g) == viewer.org]
    items = book.list(gtins, lot=lot, after_id=after, limit=limit_)
    out: dict[str, Any] = {"complaints": [c.to_json() for c in items]}
    if len(items) == limit_:
        out["next"] = f"/complaints?after={items[-1].id}&limit={limit_}"
    return out
