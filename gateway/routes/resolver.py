"""GS1 Digital Link resolver: what a scanned QR code opens.

    GET /01/{gtin}/21/{serial}             and, with a lot qualifier,
    GET /01/{gtin}/10/{lot}/21/{serial}

- a browser (Accept: text/html, the default) gets the consumer page: the verifier's verdict
  on this gateway's evidence, rendered by `verifier.page`;
- `Accept: application/json` gets the proof bundle (`ledger.proofs.bundle`, format v1), which any
  verifier re-checks against the chain without trusting this gateway;
- `?linkType=all` gets the RFC 9264 linkset (`application/linkset+json`); `?linkType=<type>`
  redirects (307) to that link.

Each page or bundle resolution is recorded as a scan for the clone rules, with what the server
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

import re
import time
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.deps import ServicesDep
from gateway.problems import problem_responses
from gateway.responses import OrjsonResponse
from gateway.routes.scan_page import static_response
from gateway.traceability import RuntimeDep, TraceabilityRuntime
from ledger.epcis.gs1 import DigitalLink
from ledger.errors import NotFoundError
from ledger.evidence.item import ItemEvidence
from ledger.proofs.bundle import Bundle, ChainRef, ScanRecord
from ledger.runtime.ratelimit import limit, refund
from ledger.store.scan_log import scan_pseudonym
from ledger.trade.profile import ProfileEvent, consumer_profile
from verifier.page import quality_values

__all__ = ["LINKSET_MEDIA_TYPE", "ResolverFastPath", "router"]

router = APIRouter(tags=["Digital Link resolver"])

LINKSET_MEDIA_TYPE = "application/linkset+json"
GS1 = "https://gs1.org/voc/"


class UnknownLinkTypeError(NotFoundError):
    slug = "unknown-link-type"
    title = "No link of this type for the item"


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "consumer page (text/html), proof bundle (application/json) or "
                         "linkset (application/linkset+json)",
          "content": {"text/html": {}, "application/json": {}, LINKSET_MEDIA_TYPE: {}}},
    307: {"description": "redirect to the link of the requested linkType"},
    **problem_responses(400, 404, 429),
}

Gtin = Annotated[str, Path(pattern=r"^[0-9]{8,14}$", description="GTIN-8/12/13/14")]
Segment = Annotated[str, Path(min_length=1, max_length=20)]
LinkType = Annotated[str | None, Query(alias="linkType", max_length=80,
                                       description="`all` for the linkset, or one link type")]


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


def linkset(anchor: str, base: str, path: str) -> dict[str, Any]:
    """RFC 9264 linkset: the resolver's links for one item, keyed by GS1 link type."""
    gtin, serial = path.split("/")[2], path.rsplit("/", 1)[-1]
    return {"linkset": [{
        "anchor": anchor,
        GS1 + "defaultLink": [{"href": base + path, "type": "text/html", "title": "Verification"}],
        GS1 + "pip": [{"href": base + path, "type": "text/html",
                       "title": "Product information and verification"}],
        GS1 + "verificationService": [{"href": base + path, "type": "application/json",
                                       "title": "Proof bundle (zhenzhi-evidence v1)"}],
        GS1 + "traceability": [{"href": f"{base}/items/{gtin}/{quote(serial, safe='')}/events",
                                "type": "application/json",
                                "title": "EPCIS events (signed member requests)"}],
        GS1 + "consumerHandlingStorageInfo": [{
            "href": f"{base}/items/{gtin}/{quote(serial, safe='')}/profile",
            "type": "application/json", "title": "Consumer profile"}],
        "https://ns.zhenzhi.example/linktype/complaint": [{
            "href": base + "/complaints", "type": "application/json",
            "title": "Report a problem"}],
    }]}


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
                 region: str | None, client: bytes, base: str) -> Response | None:
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
                    media_type="application/json", headers={"Vary": "Accept"})


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


async def _resolve(request: Request, services: Any, runtime: TraceabilityRuntime, gtin: str,
                   serial: str, lot: str | None, link_type: str | None) -> Response:
    path = f"/01/{gtin}" + (f"/10/{quote(lot, safe='')}" if lot else "") + \
        f"/21/{quote(serial, safe='')}"
    link = DigitalLink.parse("https://id.gs1.org" + path)
    base = _base(request, services)
    if link_type is not None:
        links = linkset(link.canonical_uri(), base, path)
        if link_type == "all":
            return OrjsonResponse(links, media_type=LINKSET_MEDIA_TYPE,
                                  headers={"Link": f'<{base}{path}?linkType=all>; rel="linkset"; '
                                                   f'type="{LINKSET_MEDIA_TYPE}"'})
        key = link_type if link_type.startswith("http") else GS1 + link_type.removeprefix("gs1:")
        targets = links["linkset"][0].get(key)
        if not targets:
            raise UnknownLinkTypeError(f"no {link_type} link for this item", linkType=link_type)
        return RedirectResponse(targets[0]["href"], status_code=307)

    wants_json = _wants_json(request)
    if not wants_json and request.query_params.get("verdict") != "server":
        # The shopper's page: one static shell for every item, verified in the browser
        # (gateway.routes.scan_page). The scan is recorded when the page fetches the proof.
        return static_response(request, "scan.html")
    identity = runtime.client(request)
    region = identity.country
    limit(runtime.scans, identity.key)
    client = identity.salted_hash(runtime.settings.scan_salt.get_secret_value())

    if wants_json:
        # Served from memory on the event loop when nothing needs reading: the thread hop
        # and the dependency-free work cost less than a thread switch.
        fast = _cached_json(services, runtime, link, region, client, base)
        if fast is not None:
            return fast

    def work() -> Response:
        scan_log = runtime.scan_log(services.store.engine)
        gtin14, serial = link.gtin14, str(link.serial)
        item, chain = _item(services, runtime, link, bundle=not wants_json)
        history = scan_log.history(gtin14, serial)
        now_ms = int(time.time() * 1000)
        # This scan is part of the history it is served with (and judged by): the copy scanned
        # in one region too many learns it now, not at the next scan somewhere else.
        scans = [*history, ScanRecord(now_ms // 1000, region or "unknown",
                                      scan_pseudonym(client, gtin14, serial))]
        if wants_json:
            scan_log.record(gtin14, serial, region=region, client_hash=client, now_ms=now_ms)
            return Response(item.dumps(chain=chain, scans=scans, source=base),
                            media_type="application/json", headers={"Vary": "Accept"})
        from verifier.page import negotiate, render_page
        from verifier.verify import verify

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
                           names=org_names(services, runtime, dict.fromkeys(by)))
        return HTMLResponse(html, headers={"Vary": "Accept, Accept-Language",
                                           "Cache-Control": "no-store"})

    return await run_in_threadpool(work)


@router.get("/01/{gtin}/21/{serial}", summary="Resolve an item's Digital Link",
            response_class=Response, responses=_RESPONSES)
async def resolve_item(request: Request, gtin: Gtin, serial: Segment, services: ServicesDep,
                       runtime: RuntimeDep, link_type: LinkType = None) -> Response:
    return await _resolve(request, services, runtime, gtin, serial, None, link_type)


@router.get("/01/{gtin}/10/{lot}/21/{serial}", summary="Resolve an item's Digital Link (with lot)",
            response_class=Response, responses=_RESPONSES)
async def resolve_item_with_lot(request: Request, gtin: Gtin, lot: Segment, serial: Segment,
                                services: ServicesDep, runtime: RuntimeDep,
                                link_type: LinkType = None) -> Response:
    return await _resolve(request, services, runtime, gtin, serial, lot, link_type)


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
        gtin, serial = match.groups()
        try:
            link = DigitalLink.parse(f"https://id.gs1.org/01/{gtin}/21/{quote(serial, safe='')}")
        except Exception:  # noqa: BLE001 - the route answers with its problem
            return None
        identity = runtime.client(request)
        if not runtime.scans.take(identity.key).allowed:
            return None  # the route refuses it (429)
        try:
            client = identity.salted_hash(runtime.settings.scan_salt.get_secret_value())
            fast = _cached_json(services, runtime, link, identity.country, client,
                                _base(request, services))
        except Exception:
            refund(runtime.scans, identity.key, 1.0)
            raise
        if fast is None:
            refund(runtime.scans, identity.key, 1.0)
        return fast
