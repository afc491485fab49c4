"""GS1-conformant Digital Link resolver: what a scanned QR code opens.

    GET|HEAD|OPTIONS /{Digital Link path}      (GS1-Conformant Resolver Standard 1.2)
    GET|HEAD /pip/{Digital Link path}          the consumer page: the default link

Any GS1 Digital Link path: numeric AIs or short names, uncompressed, partly or wholly
compressed (`ledger.epcis.digital_link`), with any data attributes (in the query string, or
carried by a compressed path); a syntactically bad one (an AI value GS1's syntax for that AI
refuses included) is 400 problem+json naming the AI and the reason. The resolver answers the
identifier levels the ledger holds data for, walking up the identifier tree from a finer path
it does not know (`/01/{gtin}/22/{cpv}` → the GTIN):

    /01/{gtin}                    the product: brand owner, the brand's own links (public)
    /01/{gtin}/10/{lot}           the lot: its status on CodeRegistry, recall (public)
    /01/{gtin}[/10/{lot}]/21/{s}  the item: consumer page, public proof, verification
    /00/{sscc}                    a case or pallet: that it exists and whose prefix it is;
                                  its events for members (signed requests)
    /414/{gln}                    a place or party: its public master data on Consortium

At each level the default link is the level's consumer page (`gs1:pip`) at `/pip{path}`
(`consumer_page`), and a request that says nothing better is redirected to it (307, with the
whole query string: "SHALL redirect to the default link unless there is information in the
request that can be matched against available link metadata"). A JSON `Accept` is such
information: it matches the level's own JSON link (`gs1:verificationService` for an item,
`gs1:masterData` or `gs1:recallStatus` above), whose target is the Digital Link itself, so it is
answered in place. `?linkType=<type>` (any spelling of the type) redirects 307 to that link
with the rest of the query string passed on; of several links of the type, the one whose
`hreflang` and `type` best match `Accept-Language` and `Accept`. `?linkType=linkset` (or `all`)
and `Accept: application/linkset+json` get the RFC 9264 linkset, valid against GS1's schema,
with the links of every level up to the primary key (as JSON-LD, GS1's context inline, for
`Accept: application/ld+json`). Every answer carries the links in a `Link` header
(`rel="linkset"` first; `rel="owl:sameAs"` to the uncompressed URI for a compressed one, its
data attributes as the query string) and CORS headers (`gateway.resolver_cors`). For an item:

- a browser is sent to `/pip/01/{gtin}[/10/{lot}]/21/{serial}`, one static page for every
  item that verifies in the browser (`gateway.routes.scan_page`) and fetches the proof from the
  Digital Link; `?verdict=server` (passed on by the redirect) the server-rendered page;
- `Accept: application/json` gets the public proof bundle (`ledger.proofs.bundle`, format v1),
  which any verifier re-checks against the chain without trusting this gateway.

Each proof or server-rendered page is recorded as a scan (the redirect and the static page are
not: one page view is one scan, by its proof fetch) for the clone rules, with what the server
observes only (`gateway.client`): the client's country from its address (offline table,
`ledger.runtime.geo`) and a salted hash of the address, never anything the client says about
itself (`?region=` and `X-Client-Region` are ignored). Resolutions are rate-limited per client,
so a script cannot flood an item's scan history.

Speed: the bundle is assembled once per store version (`ledger.evidence.item.EvidenceCache`;
new captures and anchors show within 0.25 s) and its JSON encoded once; scans go through a
buffered writer (`ledger.store.scan_log`, in the database within 0.05 s). A JSON answer whose parts
are all in memory is served on the event loop; anything that reads the chain or assembles a
bundle runs in a worker thread.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.deps import ServicesDep
from gateway.linkset import (
    GS1_VOC,
    JSONLD_CONTEXT,
    JSONLD_MEDIA_TYPE,
    LINKSET_CONTEXT,
    LINKSET_CONTEXT_URL,
    ZHENZHI_VOC,
    Link,
    link_header,
    link_type_uri,
    linkset,
)
from gateway.problems import MethodNotAllowedError, UnknownRouteError, problem_responses
from gateway.responses import OrjsonResponse
from gateway.routes.scan_page import static_response
from gateway.traceability import RuntimeDep, TraceabilityRuntime
from ledger.epcis.digital_link import (
    SERVED_KEYS,
    LinkPath,
    is_link_path,
    parse_path,
    query_attributes,
)
from ledger.epcis.gs1 import DigitalLink
from ledger.errors import NotFoundError
from ledger.evidence.item import ItemEvidence
from ledger.proofs.bundle import Bundle, ChainRef, ScanRecord
from ledger.proofs.codes import org_id
from ledger.runtime.ratelimit import limit, refund
from ledger.store.scan_log import scan_pseudonym
from ledger.trade.profile import ProfileEvent, consumer_profile
from verifier.page import quality_values

__all__ = ["ALLOWED_METHODS", "LINKSET_MEDIA_TYPE", "ResolverFastPath", "resolver_description",
           "router"]

router = APIRouter(tags=["Digital Link resolver"])

LINKSET_MEDIA_TYPE = "application/linkset+json"
ALLOWED_METHODS = "GET, HEAD, OPTIONS"
GS1 = GS1_VOC


class UnknownLinkTypeError(NotFoundError):
    slug = "unknown-link-type"
    title = "No link of this type for the item"


class UnknownIdentifierError(NotFoundError):
    slug = "unknown-identifier"
    title = "The resolver has nothing about this identifier"


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "consumer page (text/html), public facts or proof bundle "
                         "(application/json) or linkset (application/linkset+json)",
          "content": {"text/html": {}, "application/json": {}, LINKSET_MEDIA_TYPE: {}}},
    204: {"description": "OPTIONS: the methods (`Allow`) and the CORS preflight answer"},
    307: {"description": "redirect to the link of the requested linkType (query passed on)"},
    **problem_responses(400, 404, 429),
}


def _wants_json(request: Request) -> bool:
    """True if the client ranks JSON above HTML (a browser never does)."""
    best: dict[str, float] = {}
    for kind, q in quality_values(request.headers.get("accept"), limit=64):
        best[kind] = max(q, best.get(kind, 0.0))
    json_q = max(best.get("application/json", 0.0), best.get("application/ld+json", 0.0))
    html_q = max(best.get("text/html", 0.0), best.get("*/*", 0.0) * 0.99)
    return json_q > 0 and json_q >= html_q


def _base(request: Request, services: Any) -> str:
    return (services.settings.public_url or str(request.base_url)).rstrip("/")


def _item(services: Any, runtime: TraceabilityRuntime, link: DigitalLink, *,
          bundle: bool = True) -> tuple[ItemEvidence, ChainRef]:
    """The item's cached evidence (without its bundle if not `bundle`: its JSON only), and the
    chain block to serve it with."""
    view = services.chain_view
    block = view.sync()
    item = runtime.evidence(services).get(
        link, ChainRef(view.chain_id, view.contracts, block), bundle=bundle)
    if item.newest_anchor_block > block:
        # The store saw an anchor in a block the cached view has not reached yet (it re-reads
        # the head at most every 0.25 s): judged at the old block, a genuine item would look
        # forged. Catch up before anyone verifies against this view.
        block = view.sync(force=True)
    return item, ChainRef(view.chain_id, view.contracts, block)


def _cached_json(services: Any, runtime: TraceabilityRuntime, link: DigitalLink,
                 region: str | None, client: bytes, base: str,
                 headers: dict[str, str]) -> Response | None:
    """The JSON answer if the block, the store version and the item's evidence are in memory
    and fresh (and its scan history too, or the store is a local SQLite file); None otherwise,
    and the caller does the work off the event loop."""
    view = services.chain_view
    block = view.fresh_block()
    item = runtime.evidence(services).peek(link)
    if block is None or item is None or item.newest_anchor_block > block:
        return None
    scan_log = runtime.scan_log(services.store.engine)
    gtin14, serial = link.gtin14, str(link.serial)
    history = scan_log.cached_history(gtin14, serial)
    if history is None:
        if services.store.dialect != "sqlite":
            return None
        # One indexed read of a local file (~0.2 ms) costs less than the hop to a worker
        # thread and back; a networked database is read off the loop.
        history = scan_log.history(gtin14, serial)
    now_ms = int(time.time() * 1000)
    scans = [*history, ScanRecord(now_ms // 1000, region or "unknown",
                                  scan_pseudonym(client, gtin14, serial))]
    scan_log.record(gtin14, serial, region=region, client_hash=client, now_ms=now_ms)
    chain = ChainRef(view.chain_id, view.contracts, block)
    return Response(item.dumps(chain=chain, scans=scans, source=base),
                    media_type="application/json", headers=headers)


def assemble(services: Any, runtime: TraceabilityRuntime, link: DigitalLink, *,
             source: str | None, scans: list[Any] | None = None) -> Bundle:
    """The item's proof bundle (`ledger.evidence.item.assemble`, through the runtime's cache):
    events (with aggregation and transformation), lot registration and code proof, customs
    decisions covering it, and the scan history unless `scans` are given."""
    item, chain = _item(services, runtime, link)
    if scans is None:
        scans = runtime.scan_log(services.store.engine).history(link.gtin14, str(link.serial))
    return item.complete(chain=chain, scans=scans, source=source)


def profile_of(services: Any, runtime: TraceabilityRuntime, link: DigitalLink, bundle: Bundle,
               *, customs: Any = None) -> Any:
    """The consumer profile from the gateway's own evidence, unverified (the members' profile
    endpoint; the consumer page shows the verifier's, `Verdict.profile`)."""
    view = services.chain_view
    events = [ProfileEvent(e.event, "0x" + bundle.captures[e.capture].signature.org.hex())
              for e in bundle.events if e.event is not None]
    lot = bundle.registration.lot if bundle.registration else link.lot
    # The view's reads are cached per block: a page costs no call for a lot already read.
    on_chain = view.lot(link.gtin14, lot) if lot else None
    return consumer_profile(link.gtin14, str(link.serial), events, lot=lot,
                            registrant="0x" + on_chain.owner.hex() if on_chain else None,
                            lot_status=on_chain.status if on_chain else None,
                            customs_decision=str(customs.decision) if customs else None,
                            customs_inspection=str(customs.inspection) if customs else None)


def _customs_record(services: Any, bundle: Bundle) -> Any:
    view = services.chain_view
    for claim in bundle.customs:
        record = view.customs(claim.consignment)
        if record is not None:
            return record
    return None


def org_names(services: Any, runtime: TraceabilityRuntime, orgs: Any) -> dict[str, str]:
    """Names on Consortium of organisation ids (0x-hex), for the page to say who said what."""
    out = {}
    for org in orgs:
        name = runtime.org_name(services.chain_view, bytes.fromhex(org[2:]))
        if name:
            out[org] = name
    return out


# --- links of each identifier level ---------------------------------------------------------

_JSON = "application/json"
_HTML = "text/html"
_LANGS = ("en", "zh")
# Qualifier combinations the ledger answers, per primary key; a finer path walks up to one.
_KNOWN_LEVELS: dict[str, frozenset[tuple[str, ...]]] = {
    "01": frozenset(((), ("10",), ("21",), ("10", "21"))),
    "00": frozenset(((),)),
    "414": frozenset(((),)),
}


def known_level(link: LinkPath) -> LinkPath:
    """The nearest level up the identifier tree that the ledger answers."""
    while tuple(ai for ai, _ in link.qualifiers) not in _KNOWN_LEVELS[link.key]:
        link = link.up()
    return link


def _kind(link: LinkPath) -> str:
    if link.key == "00":
        return "logistic-unit"
    if link.key == "414":
        return "place"
    if link.get("21") is not None:
        return "item"
    return "lot" if link.get("10") is not None else "product"


PAGE_PREFIX = "/pip"


def page_url(base: str, link: LinkPath) -> str:
    """The consumer page (`gs1:pip`) of a known level: the default link a browser is sent to."""
    return f"{base}{PAGE_PREFIX}{link.path()}"


def own_links(base: str, link: LinkPath) -> list[Link]:
    """The resolver's own links for a known level and every level above it, the most specific
    first; the first is the default link, the consumer page (`gs1:pip`) of the level. Pure: no
    I/O (they go in every `Link` header)."""
    links: list[Link] = []

    def add(rel: str, href: str, title: str, type_: str | None = None,
            hreflang: tuple[str, ...] = ()) -> None:
        links.append(Link(GS1 + rel if "://" not in rel else rel, href, title, type_, hreflang))

    here = base + link.path()
    page = page_url(base, link)
    if link.key == "00":
        add("defaultLink", page, "Case or pallet")
        add("pip", page, "Case or pallet: what is public", _HTML, _LANGS)
        add("masterData", here, "Case or pallet: public facts", _JSON)
        epc = quote("https://id.gs1.org" + link.path(), safe="")
        add("traceability", f"{base}/epcs/{epc}/events",
            "EPCIS events of the case or pallet (members, signed requests)", _JSON)
        return links
    if link.key == "414":
        add("defaultLink", page, "Place or party")
        add("pip", page, "Place or party: public master data", _HTML, _LANGS)
        add("masterData", here, "Place or party: public master data", _JSON)
        return links
    gtin, lot, serial = link.value, link.get("10"), link.get("21")
    product = LinkPath("01", gtin)
    lot_level = LinkPath("01", gtin, (("10", lot),)) if lot is not None else None
    if serial is not None:
        s = quote(serial, safe="")
        add("defaultLink", page, "Verify this item")
        add("pip", page, "Consumer page: verify this item", _HTML, _LANGS)
        add("verificationService", here, "Public proof of this item (zhenzhi-evidence v1)", _JSON)
        add("masterData", f"{base}/items/{gtin}/{s}/profile", "Consumer profile of the item",
            _JSON)
        add("traceability", f"{base}/items/{gtin}/{s}/events",
            "EPCIS events of the item (members party to it, signed requests)", _JSON)
        add(ZHENZHI_VOC + "complaint", f"{base}/complaints", "Report a problem", _JSON)
    if lot_level is not None:
        if serial is None:
            add("defaultLink", page_url(base, lot_level), "Lot status")
        add("pip", page_url(base, lot_level), "Lot status and recall", _HTML, _LANGS)
        add("recallStatus", base + lot_level.path(), "Recall status of the lot", _JSON)
        add("traceability", f"{base}/recalls/{gtin}/{quote(str(lot), safe='')}",
            "Recall scope (brand owner and regulators, signed requests)", _JSON)
    if serial is None and lot is None:
        add("defaultLink", page_url(base, product), "Product information")
    add("pip", page_url(base, product), "Product information", _HTML, _LANGS)
    add("masterData", base + product.path(), "Product facts: brand owner", _JSON)
    return links


def _brand_links(services: Any, runtime: TraceabilityRuntime, link: LinkPath, *,
                 io: bool = True) -> list[Link] | None:
    """The links the GTIN's brand owner registered (for the GTIN and every finer level), from
    the runtime's cache; with `io=False`, None if that would need a read."""
    if link.key != "01":
        return []
    found = runtime.brand_links(services, link.value, io=io)
    if found is None:
        return None
    return [Link(b.link_type, b.href, b.title, b.media_type, (b.hreflang,) if b.hreflang else ())
            for b in found]


async def _brand_links_async(services: Any, runtime: TraceabilityRuntime,
                             link: LinkPath) -> list[Link]:
    cached = _brand_links(services, runtime, link, io=False)
    if cached is not None:
        return cached
    return await run_in_threadpool(lambda: _brand_links(services, runtime, link) or [])


def _linkset_url(base: str, link: LinkPath) -> str:
    return f"{base}{link.path()}?linkType=linkset"


def resolver_headers(base: str, requested: LinkPath, known: LinkPath,
                     brand: Sequence[Link] = ()) -> dict[str, str]:
    """`Link` (the linkset first, then the level's own links, then the brand's; the
    uncompressed URI as `owl:sameAs` for a compressed request) and `Vary`, on every resolver
    answer."""
    header = [Link("linkset", _linkset_url(base, requested), "Every link for this identifier",
                   LINKSET_MEDIA_TYPE), *own_links(base, known), *brand]
    value = link_header(header)
    if requested.compressed:
        value = f'<{base}{requested.uncompressed()}>; rel="owl:sameAs"; ' \
                f'title="The uncompressed Digital Link", ' + value
    return {"Link": value, "Vary": "Accept, Accept-Language"}


# --- answers --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Facts:
    description: str
    facts: dict[str, Any]


def _org_label(runtime: TraceabilityRuntime, view: Any, org: bytes | None) -> str | None:
    return runtime.org_name(view, org) if org else None


def _facts(services: Any, runtime: TraceabilityRuntime, link: LinkPath) -> _Facts:
    """What is public about a product, lot, case or pallet, or place; 404 if nothing."""
    view = services.chain_view
    view.sync()
    kind = _kind(link)
    if kind in ("product", "lot"):
        gtin = link.value
        owner = view.prefix_owner(gtin)
        brand = _org_label(runtime, view, owner)
        if kind == "product":
            if owner is None:
                raise UnknownIdentifierError(f"no member owns the company prefix of GTIN {gtin}",
                                             gtin=gtin)
            return _Facts(f"{brand} product, GTIN {gtin}",
                          {"gtin": gtin, "brandOwner": brand, "brandOwnerId": "0x" + owner.hex()})
        lot = str(link.get("10"))
        record = view.lot(gtin, lot)
        if record is None:
            raise UnknownIdentifierError(f"lot {lot} of GTIN {gtin} is not registered on "
                                         "CodeRegistry", gtin=gtin, lot=lot)
        return _Facts(f"{brand} product, GTIN {gtin}, lot {lot}", {
            "gtin": gtin, "lot": lot, "brandOwner": brand, "status": record.status,
            "recalled": record.status == "recalled",
            "recallReasonHash": "0x" + record.reason_hash.hex() if record.reason_hash else None,
            "registeredAt": record.registered_at,
            "registeredBy": _org_label(runtime, view, record.owner)})
    if kind == "logistic-unit":
        sscc = link.value
        owner = view.prefix_owner(sscc[:14])
        uri = "https://id.gs1.org/00/" + sscc
        named = bool(services.store.events_for_epc(uri)) if owner is not None else False
        if owner is None and not named:
            raise UnknownIdentifierError(f"nothing is known about SSCC {sscc}", sscc=sscc)
        return _Facts(f"Case or pallet, SSCC {sscc}", {
            "sscc": sscc, "prefixOwner": _org_label(runtime, view, owner),
            "recordedInEvents": named})
    gln = link.value
    record = runtime.chain(view).organisation(org_id(gln))
    owner = view.prefix_owner("0" + gln)
    if record is None and owner is None:
        raise UnknownIdentifierError(f"GLN {gln} is neither a member nor under a member's "
                                     "company prefix", gln=gln)
    facts: dict[str, Any] = {"gln": gln, "prefixOwner": _org_label(runtime, view, owner)}
    if record is not None:
        facts["organisation"] = {"name": record.name, "roles": sorted(record.roles),
                                 "member": bool(record.member)}
    name = record.name if record is not None else facts["prefixOwner"]
    return _Facts(f"{name}, GLN {gln}", facts)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{title}</title></head>
<body><main><h1>{title}</h1><dl>{facts}</dl><h2>Links</h2><ul>{links}</ul></main></body></html>
"""


def _facts_page(facts: _Facts, links: list[Link]) -> str:
    def show(value: Any) -> str:
        if isinstance(value, dict):
            return ", ".join(f"{k}: {show(v)}" for k, v in value.items())
        if isinstance(value, list):
            return ", ".join(map(show, value))
        return "—" if value is None else str(value)

    rows = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(show(v))}</dd>"
                   for k, v in facts.facts.items())
    items = "".join(f'<li><a href="{html.escape(x.href)}" rel="{html.escape(x.rel)}">'
                    f"{html.escape(x.title)}</a></li>" for x in links
                    if not x.rel.endswith("/defaultLink"))
    return _PAGE.format(title=html.escape(facts.description), facts=rows, links=items)


def _redirect_target(href: str, request: Request) -> str:
    """`href` with the request's query string, less `linkType`, passed on."""
    rest = [(k, v) for k, v in request.query_params.multi_items() if k != "linkType"]
    if not rest:
        return href
    return href + ("&" if "?" in href else "?") + urlencode(rest)


def _wants_linkset(request: Request, link_type: str | None) -> bool:
    if link_type in ("linkset", "all"):
        return True
    accepted = {kind for kind, q in quality_values(request.headers.get("accept"), limit=64) if q}
    return LINKSET_MEDIA_TYPE in accepted


def _linkset_media_type(request: Request) -> str:
    """The linkset's form the client ranks first: RFC 9264 `application/linkset+json` (the
    default, and on a tie), JSON-LD (`application/ld+json`: the same linkset with GS1's context
    in it, as GS1's example linkset has it) or plain `application/json`."""
    best: dict[str, float] = {}
    for kind, q in quality_values(request.headers.get("accept"), limit=64):
        best[kind] = max(q, best.get(kind, 0.0))
    linkset_q = best.get(LINKSET_MEDIA_TYPE, 0.0)
    ld_q, json_q = best.get(JSONLD_MEDIA_TYPE, 0.0), best.get("application/json", 0.0)
    if linkset_q >= max(ld_q, json_q):
        return LINKSET_MEDIA_TYPE
    return JSONLD_MEDIA_TYPE if ld_q >= json_q else "application/json"


def _choose(links: list[Link], request: Request) -> Link:
    """Of several links of one type, the one that best matches the request's metadata: its
    languages (`Accept-Language` against `hreflang`, a primary subtag matching too), then its
    media type (`Accept` against `type`); the first listed on a tie."""
    languages = [(tag, q) for tag, q in
                 quality_values(request.headers.get("accept-language"), limit=32) if q > 0]
    types = {kind: q for kind, q in quality_values(request.headers.get("accept"), limit=64)}

    def language_q(link: Link) -> float:
        qs = [q for tag, q in languages for lang in link.hreflang
              if tag == lang.lower() or tag.split("-")[0] == lang.lower().split("-")[0]]
        return max(qs, default=0.0)

    def type_q(link: Link) -> float:
        if not link.type:
            return 0.0
        return types.get(link.type, types.get(link.type.split("/")[0] + "/*",
                                              types.get("*/*", 0.0)))

    return max(links, key=lambda x: (language_q(x), type_q(x)))


async def _linkset_or_redirect(request: Request, services: Any, runtime: TraceabilityRuntime,
                               requested: LinkPath, known: LinkPath, base: str,
                               link_type: str | None, headers: dict[str, str]) -> Response:
    def work() -> tuple[list[Link], str]:
        links = [*own_links(base, known), *(_brand_links(services, runtime, known) or [])]
        if _kind(known) == "item":
            view = services.chain_view
            view.sync()
            brand = _org_label(runtime, view, view.prefix_owner(known.value))
            return links, f"{brand or 'Unknown brand'} item, GTIN {known.value}, serial " \
                          f"{known.get('21')}"
        return links, _facts(services, runtime, known).description

    links, description = await run_in_threadpool(work)
    if link_type is None or link_type in ("linkset", "all"):
        body = linkset("https://id.gs1.org" + requested.path(), description, links)
        media_type = _linkset_media_type(request)
        if media_type == JSONLD_MEDIA_TYPE:
            body = {"@context": LINKSET_CONTEXT, **body}
        context = f'<{LINKSET_CONTEXT_URL}>; rel="{JSONLD_CONTEXT}"; ' \
                  f'type="application/ld+json"; title="JSON-LD context of the linkset"'
        return OrjsonResponse(body, media_type=media_type,
                              headers={**headers, "Link": headers["Link"] + ", " + context})
    wanted = link_type_uri(link_type)
    targets = [x for x in links if x.rel == wanted]
    if not targets:
        raise UnknownLinkTypeError(f"no {link_type} link for {requested.path()}",
                                   linkType=link_type, available=sorted({x.rel for x in links}))
    return RedirectResponse(_redirect_target(_choose(targets, request).href, request),
                            status_code=307, headers=headers)


async def _answer_level(request: Request, services: Any, runtime: TraceabilityRuntime,
                        known: LinkPath, base: str, headers: dict[str, str]) -> Response:
    """The public facts of a product, lot, case or pallet, or place, as JSON (`gs1:masterData`,
    `gs1:recallStatus`: links whose media type the request asked for)."""
    identity = runtime.client(request)
    limit(runtime.scans, identity.key)
    facts = await run_in_threadpool(_facts, services, runtime, known)
    return OrjsonResponse({"description": facts.description, **facts.facts}, headers=headers)


async def _redirect_to_default(request: Request, services: Any, runtime: TraceabilityRuntime,
                               known: LinkPath, base: str,
                               headers: dict[str, str]) -> Response:
    """307 to the default link, the level's consumer page, with the whole query string. An
    identifier the ledger knows nothing about is 404 here, not sent on to an empty page. The
    redirect records no scan: the page's proof fetch (or its server rendering) does, once."""
    if _kind(known) != "item":
        # Items always have a page (a never-issued code is shown as counterfeit there).
        identity = runtime.client(request)
        limit(runtime.scans, identity.key)
        await run_in_threadpool(_facts, services, runtime, known)
    return RedirectResponse(_redirect_target(page_url(base, known), request), status_code=307,
                            headers=headers)


def resolver_description(base: str) -> dict[str, Any]:
    """The resolver description file (GS1-Conformant Resolver 1.2, /.well-known/gs1resolver)."""
    return {
        "name": "Zhenzhi traceability gateway",
        "resolverRoot": base + "/",
        "supportedPrimaryKeys": sorted(SERVED_KEYS),
        "supportedLinkType": [{"namespace": GS1_VOC, "prefix": "gs1:"},
                              {"namespace": ZHENZHI_VOC, "prefix": "zhenzhi:"}],
        "linkTypeDefaultCanBeLinkset": False,
        "jsonLdContextLocation": LINKSET_CONTEXT_URL,
        "compressionSupported": True,
    }


@router.get("/.well-known/gs1resolver", summary="GS1 resolver description file",
            response_class=OrjsonResponse, response_model=None,
            responses={200: {"description": "the description (GS1's description-file schema)",
                             "content": {"application/json": {"schema": {"type": "object"}}}}})
async def well_known(request: Request, services: ServicesDep) -> OrjsonResponse:
    return OrjsonResponse(resolver_description(_base(request, services)),
                          headers={"Cache-Control": "max-age=3600"})


def _raw_path(scope: Scope, decoded: str) -> str:
    """The path as sent, percent-escapes intact (a serial may hold an escaped `/` or `%`): the
    Digital Link parser decodes each segment once itself."""
    raw = scope.get("raw_path")
    return raw.decode("latin-1") if raw else "/" + quote(decoded.lstrip("/"), safe="/")


def _not_a_link(request: Request) -> None:
    """The catch-all saw a path that is no Digital Link: what the router would have said."""
    from starlette.routing import Match

    allowed: set[str] = set()
    for route in request.app.router.routes:
        if getattr(route, "endpoint", None) is resolve:
            continue
        match, _ = route.matches(request.scope)
        if match is Match.PARTIAL:
            allowed |= set(getattr(route, "methods", None) or ())
    if allowed:
        error = MethodNotAllowedError("method not allowed on this resource")
        error.headers = {"Allow": ", ".join(sorted(allowed))}  # type: ignore[attr-defined]
        raise error
    raise UnknownRouteError("no such resource")


async def _resolve_item(request: Request, services: Any, runtime: TraceabilityRuntime,
                        known: LinkPath, base: str, headers: dict[str, str]) -> Response:
    """The item's public proof (`gs1:verificationService`, JSON), recorded as a scan."""
    link = known.digital_link()
    if request.method == "HEAD":
        # The headers of the answer, without its work: a HEAD is no scan.
        return Response(status_code=200, headers=headers, media_type=_JSON)
    identity = runtime.client(request)
    region = identity.country
    limit(runtime.scans, identity.key)
    client = identity.salted_hash(runtime.settings.scan_salt.get_secret_value())
    # Served from memory on the event loop when nothing needs reading: the thread hop and the
    # dependency-free work cost less than a thread switch.
    fast = _cached_json(services, runtime, link, region, client, base, headers)
    if fast is not None:
        return fast

    def work() -> Response:
        scan_log = runtime.scan_log(services.store.engine)
        gtin14, serial = link.gtin14, str(link.serial)
        item, chain = _item(services, runtime, link, bundle=False)
        history = scan_log.history(gtin14, serial)
        now_ms = int(time.time() * 1000)
        # This scan is part of the history it is served with (and judged by): the copy scanned
        # in one region too many learns it now, not at the next scan somewhere else.
        scans = [*history, ScanRecord(now_ms // 1000, region or "unknown",
                                      scan_pseudonym(client, gtin14, serial))]
        scan_log.record(gtin14, serial, region=region, client_hash=client, now_ms=now_ms)
        return Response(item.dumps(chain=chain, scans=scans, source=base),
                        media_type="application/json", headers=headers)

    return await run_in_threadpool(work)


def _own_complaint(services: Any, request: Request) -> dict[str, Any] | None:
    """The reader's complaint when the page is opened with its receipt
    (`?complaint=<id>&receipt=<token>`, where the complaint form's post lands)."""
    from gateway.routes.complaints import standing_json
    from ledger.trade.complaints import ComplaintBook, UnknownComplaintError

    cid, receipt = request.query_params.get("complaint"), request.query_params.get("receipt")
    if not cid or not receipt:
        return None
    if not cid.isdigit() or len(cid) > 18:
        return {"unknown": True}
    try:
        standing = ComplaintBook(services.store.engine).for_receipt(int(cid), receipt)
    except UnknownComplaintError:
        return {"unknown": True}
    return standing_json(standing, {r.org: services.chain_view.org_name(r.org)
                                    for r in standing.replies})


async def _server_page(request: Request, services: Any, runtime: TraceabilityRuntime,
                       known: LinkPath, base: str, headers: dict[str, str]) -> Response:
    """The no-JavaScript consumer page (`?verdict=server`): the gateway's own verdict, recorded
    as a scan with it."""
    link = known.digital_link()
    identity = runtime.client(request)
    region = identity.country
    limit(runtime.scans, identity.key)
    client = identity.salted_hash(runtime.settings.scan_salt.get_secret_value())

    def work() -> Response:
        from verifier.page import negotiate, render_page
        from verifier.verify import verify

        scan_log = runtime.scan_log(services.store.engine)
        gtin14, serial = link.gtin14, str(link.serial)
        item, chain = _item(services, runtime, link)
        history = scan_log.history(gtin14, serial)
        now_ms = int(time.time() * 1000)
        scans = [*history, ScanRecord(now_ms // 1000, region or "unknown",
                                      scan_pseudonym(client, gtin14, serial))]
        bundle = item.complete(chain=chain, scans=scans, source=base)
        verdict = verify(link.canonical_uri(), bundle, services.chain_view, scans=scans)
        # The scan is recorded with the verdict it got; the page counts it among the scans.
        scan_log.record(gtin14, serial, region=region, client_hash=client, now_ms=now_ms,
                        verdict=str(verdict.kind))
        profile = verdict.profile or {}
        by = [f["by"] for f in profile.values()
              if isinstance(f, dict) and str(f.get("by", "")).startswith("0x")]
        html = render_page(verdict, bundle, profile,
                           negotiate(request.headers.get("accept-language")),
                           scan_count=len(scans), complaint_url="/complaints",
                           names=org_names(services, runtime, dict.fromkeys(by)),
                           complaint=_own_complaint(services, request))
        # `same-origin`, not `no-referrer`: the receipt in the address goes nowhere else, and
        # the complaint form still posts with this site's Origin (no-referrer makes it "null",
        # which the complaint endpoint refuses as cross-site).
        return HTMLResponse(html, headers={**headers, "Cache-Control": "no-store",
                                           "Referrer-Policy": "same-origin"})

    return await run_in_threadpool(work)


@router.get(PAGE_PREFIX + "/{dl_path:path}",
            summary="Consumer page (gs1:pip, the default link) of an item, lot, product, case "
                    "or pallet, or place",
            response_class=HTMLResponse, responses={
                200: {"description": "the page", "content": {"text/html": {}}},
                **problem_responses(400, 404, 429)})
@router.head(PAGE_PREFIX + "/{dl_path:path}", include_in_schema=False)
async def consumer_page(request: Request, dl_path: str, services: ServicesDep,
                        runtime: RuntimeDep) -> Response:
    """The page a browser is redirected to from a Digital Link. An item's page is one static
    shell that verifies in the browser, fetching the proof from the Digital Link itself (which
    records the scan); `?verdict=server` renders the gateway's verdict instead (and records
    the scan). A product's, lot's, case's or place's page lists its public facts and links."""
    requested = parse_path(_raw_path(request.scope, dl_path).removeprefix(PAGE_PREFIX))
    query_attributes(request.url.query, requested)
    if requested.key not in SERVED_KEYS:
        raise UnknownIdentifierError(f"this resolver holds nothing under AI {requested.key}",
                                     ai=requested.key)
    known = known_level(requested)
    base = _base(request, services)
    headers = resolver_headers(base, known, known,
                               await _brand_links_async(services, runtime, known))
    if request.method == "HEAD":
        return Response(status_code=200, headers=headers, media_type="text/html; charset=utf-8")
    if _kind(known) == "item":
        if request.query_params.get("verdict") == "server":
            return await _server_page(request, services, runtime, known, base, headers)
        page = static_response(request, "scan.html")
        page.headers.update(headers)
        page.headers["Vary"] = "Accept, Accept-Language"
        # The address may carry a complaint's receipt (`?receipt=`): never in a Referer to
        # another site.
        page.headers["Referrer-Policy"] = "same-origin"
        return page
    identity = runtime.client(request)
    limit(runtime.scans, identity.key)

    def work() -> tuple[_Facts, list[Link]]:
        return _facts(services, runtime, known), [
            *own_links(base, known), *(_brand_links(services, runtime, known) or [])]

    facts, links = await run_in_threadpool(work)
    return HTMLResponse(_facts_page(facts, links), headers={**headers,
                                                           "Cache-Control": "no-cache"})


@router.get("/{dl_path:path}",
            summary="Resolve a GS1 Digital Link (any key, qualifiers, compressed or not)",
            response_class=Response, responses=_RESPONSES)
@router.head("/{dl_path:path}", include_in_schema=False)
@router.options("/{dl_path:path}", include_in_schema=False)
async def resolve(request: Request, dl_path: str, services: ServicesDep,
                  runtime: RuntimeDep) -> Response:
    path = _raw_path(request.scope, dl_path)
    if not is_link_path(path):
        _not_a_link(request)
    if request.method == "OPTIONS":
        # The CORS preflight headers are added by gateway.resolver_cors.
        return Response(status_code=204, headers={"Allow": ALLOWED_METHODS})
    requested = parse_path(path)
    query_attributes(request.url.query, requested)  # 400 for a data attribute GS1 refuses
    if requested.key not in SERVED_KEYS:
        raise UnknownIdentifierError(f"this resolver holds nothing under AI {requested.key} "
                                     f"(it serves {', '.join(sorted(SERVED_KEYS))})",
                                     ai=requested.key)
    known = known_level(requested)
    base = _base(request, services)
    headers = resolver_headers(base, requested, known,
                               await _brand_links_async(services, runtime, known))
    link_type = request.query_params.get("linkType")
    if link_type is not None and len(link_type) > 200:
        raise UnknownLinkTypeError("linkType is at most 200 characters", linkType=link_type[:40])
    if link_type is not None or _wants_linkset(request, link_type):
        return await _linkset_or_redirect(request, services, runtime, requested, known, base,
                                          link_type, headers)
    if not _wants_json(request):
        # "SHALL redirect to the default link unless there is information in the request that
        # can be matched against available link metadata": a JSON Accept matches the level's
        # own JSON link (the proof, the public facts), whose target is this very URI.
        return await _redirect_to_default(request, services, runtime, known, base, headers)
    if _kind(known) == "item":
        return await _resolve_item(request, services, runtime, known, base, headers)
    return await _answer_level(request, services, runtime, known, base, headers)


# --- the proof JSON from memory, before routing ---------------------------------------------------

_ITEM_PATH = re.compile(r"/01/([0-9]{8,14})/21/([^/]{1,20})")


class ResolverFastPath:
    """A shopper's proof request (`GET /01/{gtin}/21/{serial}`, JSON wanted, no query, no body)
    whose answer is in memory (`_cached_json`: block, store version, the item's cached proof)
    is answered here, before routing: matching the gateway's routes and solving the route's
    dependencies cost more than the answer. The answer, the rate limit and the scan record are
    the route's own; anything else (a miss, a refusal, an error) goes on to the app untouched,
    with the rate-limit token given back so the route takes its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope["query_string"]:
            match = _ITEM_PATH.fullmatch(scope["path"])
            if match is not None:
                response = self._answer(scope, match)
                if response is not None:
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    @staticmethod
    def _answer(scope: Scope, match: re.Match[str]) -> Response | None:
        app = scope["app"]
        state = app.state
        runtime = getattr(state, "traceability_runtime", None)
        services = getattr(state, "services", None)
        # Until the route has built the runtime (first request), or while a test overrides
        # the route's dependencies, the route answers.
        if runtime is None or services is None or app.dependency_overrides:
            return None
        if any(name in (b"content-length", b"transfer-encoding") for name, _ in scope["headers"]):
            return None  # a GET with a body: the body limit's to judge
        request = Request(scope)
        if not _wants_json(request):
            return None
        try:
            path, link = _parsed(_raw_path(scope, scope["path"]))
        except Exception:  # noqa: BLE001 - the route answers with its problem
            return None
        brand = _brand_links(services, runtime, path, io=False)
        if brand is None:
            return None  # the brand's links need a read: the route does it off the loop
        identity = runtime.client(request)
        if not runtime.scans.take(identity.key).allowed:
            return None  # the route refuses it (429)
        try:
            client = identity.salted_hash(runtime.settings.scan_salt.get_secret_value())
            base = _base(request, services)
            fast = _cached_json(services, runtime, link, identity.country, client, base,
                                dict(_item_headers(base, path, tuple(brand))))
        except Exception:
            refund(runtime.scans, identity.key, 1.0)
            raise
        if fast is None:
            refund(runtime.scans, identity.key, 1.0)
        return fast


# Parsing a Digital Link and writing its `Link` header cost ~40% of a cached answer's CPU; both
# are pure functions of the path (and base and brand links), so the fast path keeps the last
# ones. Bounded, and holding only what a valid path gives: a stream of distinct or invalid
# paths costs a miss each (invalid ones are not kept), never memory.
_FAST_CACHE = 16_384


@lru_cache(maxsize=_FAST_CACHE)
def _parsed(raw: str) -> tuple[LinkPath, DigitalLink]:
    path = parse_path(raw)
    return path, path.digital_link()


@lru_cache(maxsize=_FAST_CACHE)
def _item_headers(base: str, path: LinkPath, brand: tuple[Link, ...]) -> dict[str, str]:
    return resolver_headers(base, path, path, brand)  # callers copy: a Response keeps no alias
