"""The resolver against the GS1-Conformant Resolver Standard 1.2, one test per criterion (the
docstring quotes it), on a real gateway over a real chain and store: a brand registers a lot,
captures an item's commissioning and its packing into a case (SSCC), and the capture is
anchored. Linksets are validated with `jsonschema` against GS1's linkset schema
(`conformance/digital-link/gs1-linkset-schema.json`).

Not tested here, because the gateway does not do it: HTTPS (a TLS-terminating proxy in front
of the gateway does; `ZHENZHI_PUBLIC_URL` makes the links https) and gs1:handledBy (it hands
no company prefix on to another resolver unprocessed: every answer is its own).
"""

from __future__ import annotations

import json
import re
import time
from urllib.parse import quote

import pytest
from eth_account import Account

from ledger.epcis.dl_compression import compress
from ledger.paths import SHARED_DIR
from ledger.proofs.codes import check_digit
from ledger.proofs.signing import CaptureDomain, prepare_capture, sign_capture, signature_to_headers
from tests.integration.traceability_env import BRAND_PREFIX, gtin, signed

pytestmark = pytest.mark.chain

GTIN = gtin("0049")
LOT = "L-CONF"
SSCC_BODY = "0" + BRAND_PREFIX + "00000491"
SSCC = SSCC_BODY + str(check_digit(SSCC_BODY))
SCHEMA = SHARED_DIR / "conformance" / "digital-link" / "gs1-linkset-schema.json"
GS1 = "https://gs1.org/voc/"
# Media types of the IANA registry the resolver's links use.
UNOWNED_BODY = "0999999990001"  # a company prefix no member owns
UNOWNED_GTIN = UNOWNED_BODY + str(check_digit(UNOWNED_BODY))
IANA_TYPES = {"text/html", "application/json", "application/linkset+json", "application/pdf",
              "application/ld+json"}


def _documents(serial: str) -> dict:
    item = f"https://id.gs1.org/01/{GTIN}/21/{serial}"
    where = {"id": "urn:epc:id:sgln:47123456.0001.0"}
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2024-03-01T08:00:00Z",
        "epcisBody": {"eventList": [
            {"type": "ObjectEvent", "eventTime": "2024-03-01T08:00:00Z",
             "eventTimeZoneOffset": "+12:00", "action": "ADD", "epcList": [item],
             "bizStep": "commissioning", "disposition": "active", "readPoint": where,
             "bizLocation": where, "ilmd": {"cbvmda:lotNumber": LOT}},
            {"type": "AggregationEvent", "eventTime": "2024-03-01T09:00:00Z",
             "eventTimeZoneOffset": "+12:00", "action": "ADD",
             "parentID": f"https://id.gs1.org/00/{SSCC}", "childEPCs": [item],
             "bizStep": "packing", "disposition": "in_progress", "readPoint": where},
        ]},
    }


@pytest.fixture(scope="module")
def env(trace_stack, tmp_path_factory):
    import httpx

    from gateway.server import ThreadedServer
    from ledger.epcis.event_hash import event_hashes
    from ledger.pipeline.anchoring import AnchorWorker
    from ledger.store.store import Store
    from tests.integration.traceability_env import make_app

    url = f"sqlite:///{tmp_path_factory.mktemp('conformance') / 'store.db'}"
    server = ThreadedServer(make_app(trace_stack, url, scan_burst=1000)).start()
    client = httpx.Client(base_url=server.url, timeout=60.0)
    lot = signed(client, trace_stack.brand, "POST", "/codes/lots",
                 json_body={"gtin": GTIN, "lot": LOT, "count": 3}).json()
    reg = lot["registration"]
    sig = Account.unsafe_sign_hash(bytes.fromhex(reg["digest"][2:]), trace_stack.brand.key).signature
    assert signed(client, trace_stack.brand, "POST", f"/codes/lots/{GTIN}/{LOT}/registration",
                  json_body={"signer": reg["signer"], "deadline": reg["deadline"],
                             "signature": "0x" + bytes(sig).hex()}).status_code == 200
    serial = lot["serials"][0]
    doc = _documents(serial)
    ids = event_hashes(doc)
    domain = CaptureDomain(trace_stack.deployment.chainId,
                           trace_stack.deployment.address("Consortium"))
    seed, _, root = prepare_capture(doc["epcisBody"]["eventList"], ids)
    capture = sign_capture(bytes.fromhex(trace_stack.brand.key[2:]), domain, root, len(ids),
                           trace_stack.brand.org, time.time_ns() // 1000, int(time.time()))
    r = client.post("/capture", content=json.dumps(doc).encode(),
                    headers={**signature_to_headers(capture, seed),
                             "Content-Type": "application/ld+json"})
    assert r.status_code == 202, r.text
    store = Store(url)
    AnchorWorker(store, trace_stack.chain, trace_stack.admin()).run(once=True)
    store.close()
    yield {"client": client, "url": server.url, "serial": serial, "other": lot["serials"][1],
           "item": f"/01/{GTIN}/10/{LOT}/21/{serial}", "stack": trace_stack}
    client.close()
    server.stop()


def _links(header: str) -> list[dict[str, str]]:
    out = []
    for part in re.findall(r'<[^>]*>(?:\s*;\s*[a-zA-Z*]+="[^"]*")*', header):
        link = {"href": part[1:part.index(">")]}
        link.update(re.findall(r'([a-zA-Z*]+)="([^"]*)"', part))
        out.append(link)
    return out


def _validate(linkset: dict) -> None:
    import jsonschema

    jsonschema.validate(linkset, json.loads(SCHEMA.read_text()))


# --- HTTP -----------------------------------------------------------------------------------

def test_supports_http_get_head_and_options(env):
    """SHALL support HTTP 1.1 (or higher) GET, HEAD and OPTIONS requests."""
    client = env["client"]
    for path in (env["item"], f"/01/{GTIN}", f"/01/{GTIN}/10/{LOT}", f"/00/{SSCC}",
                 f"/414/{env['stack'].brand.gln}"):
        get = client.get(path, headers={"Accept": "application/json"})
        head = client.head(path, headers={"Accept": "application/json"})
        options = client.options(path)
        assert get.status_code == head.status_code == 200, (path, get.text)
        assert head.content == b"" and head.headers["link"] == get.headers["link"]
        assert options.status_code == 204
        assert set(options.headers["allow"].replace(" ", "").split(",")) == \
            {"GET", "HEAD", "OPTIONS"}


def test_supports_cors(env):
    """SHALL support CORS."""
    client = env["client"]
    origin = {"Origin": "https://retailer.example"}
    for path, status in ((env["item"], 307), (f"/01/{GTIN}?linkType=linkset", 200),
                         (f"/01/{GTIN[:-1]}0", 400), ("/.well-known/gs1resolver", 200)):
        r = client.get(path, headers=origin)
        assert r.status_code == status, r.text
        assert r.headers["access-control-allow-origin"] == "*"
        assert "Link" in r.headers["access-control-expose-headers"]
    preflight = client.options(env["item"], headers={
        **origin, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "accept-language, x-app"})
    assert preflight.status_code == 204
    assert "GET" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["access-control-allow-headers"] == "accept-language, x-app"
    # Only the resolver is opened to other origins, not the member reads.
    assert "access-control-allow-origin" not in client.get("/events", headers=origin).headers


# --- compression ----------------------------------------------------------------------------

def _compressed(env) -> str:
    return "/" + compress([("01", GTIN), ("10", LOT), ("21", env["serial"])])


def test_decompresses_a_compressed_uri(env):
    """SHALL be able to decompress a URI to generate a GS1 Digital Link URI, in accordance with
    GS1 Digital Link: Compression."""
    client = env["client"]
    plain = client.get(env["item"], headers={"Accept": "application/json"})
    packed = client.get(_compressed(env), headers={"Accept": "application/json"})
    assert packed.status_code == plain.status_code == 200
    assert packed.json()["code"] == plain.json()["code"]
    redirect = client.get(_compressed(env) + "?linkType=gs1:verificationService",
                          follow_redirects=False)
    assert redirect.status_code == 307
    assert redirect.headers["location"] == env["url"] + env["item"]


def test_compressed_request_exposes_the_uncompressed_uri_as_owl_same_as(env):
    """If handling a compressed request URI, it SHALL expose the uncompressed URI in the Link
    response header with a rel value of owl:sameAs."""
    r = env["client"].head(_compressed(env), headers={"Accept": "application/json"})
    same = [x for x in _links(r.headers["link"]) if x.get("rel") == "owl:sameAs"]
    assert [x["href"] for x in same] == [env["url"] + env["item"]]
    assert not [x for x in _links(env["client"].head(env["item"]).headers["link"])
                if x.get("rel") == "owl:sameAs"]


def test_compressed_uri_with_data_attributes_resolves_and_same_as_carries_them(env):
    """A compressed URI carrying data attributes beyond the key and qualifiers (net weight
    3103, expiry 17) decompresses to the key's answer; its owl:sameAs is the uncompressed URI
    with the attributes as the query string (GS1 Digital Link URI Syntax)."""
    client = env["client"]
    packed = "/" + compress([("01", GTIN), ("10", LOT), ("21", env["serial"]),
                             ("3103", "001250"), ("17", "291231")])
    plain = client.get(env["item"], headers={"Accept": "application/json"})
    r = client.get(packed, headers={"Accept": "application/json"})
    assert r.status_code == plain.status_code == 200, r.text
    assert r.json()["code"] == plain.json()["code"]
    same = [x["href"] for x in _links(r.headers["link"]) if x.get("rel") == "owl:sameAs"]
    assert same == [env["url"] + env["item"] + "?17=291231&3103=001250"]
    # The same attributes in the query string of the uncompressed URI are as good.
    r = client.get(env["item"] + "?17=291231&3103=001250", headers={"Accept": "application/json"})
    assert r.status_code == 200 and r.json()["code"] == plain.json()["code"]


# --- syntax ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "reason"), [
    (f"/01/{GTIN[:-1]}{(int(GTIN[-1]) + 1) % 10}", "check-digit"),
    (f"/01/{GTIN}/21/ABC/10/{LOT}", "qualifier-order"),
    (f"/01/{GTIN}/21/A%20B", "illegal-character"),
    (f"/01/{GTIN}/05/X", "unknown-ai"),
    (f"/01/{GTIN}/17/261231", "not-a-qualifier"),
    (f"/01/{GTIN}/foo", "unsupported-ai"),       # the GS1 test suite's own probe
    (f"/00/{SSCC[:-1]}{(int(SSCC[-1]) + 1) % 10}", "check-digit"),
])
def test_syntax_errors_are_reported_with_400(env, path, reason):
    """SHALL extract and syntactically validate the URI in accordance with sections 2 and
    4.3.1, and report errors with an HTTP response code of 400."""
    r = env["client"].get(path)
    assert r.status_code == 400, r.text
    problem = r.json()
    assert r.headers["content-type"] == "application/problem+json"
    assert problem["type"] == "urn:zhenzhi:problem:invalid-digital-link"
    assert problem["reason"] == reason and problem["detail"]


def _by_hand(bits: str) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    bits += "0" * (-len(bits) % 6)
    return "/" + "".join(alphabet[int(bits[i:i + 6], 2)] for i in range(0, len(bits), 6))


# The GTIN entry, then AI 17 with 291331 (a 13th month): compress() refuses it, so by hand.
_BAD_EXPIRY = _by_hand("00000001" + format(int(GTIN), "b").zfill(47) + "00010111"
                       + format(291331, "b").zfill(20))


@pytest.mark.parametrize(("path", "ai", "reason"), [
    (f"/01/{GTIN}/10/{LOT}?17=291331", "17", "bad-value"),
    (f"/01/{GTIN}?3103=12.5", "3103", "illegal-character"),
    (f"/01/{GTIN}?3103=1250", "3103", "bad-length"),
    (f"/01/{GTIN}?3109=123456", "3109", "unknown-ai"),
    (f"/01/{GTIN}?02={GTIN[:-1]}{(int(GTIN[-1]) + 1) % 10}", "02", "check-digit"),
    (f"/01/{GTIN}/10/{LOT}?10=OTHER", "10", "repeated-ai"),
    (_BAD_EXPIRY, "17", "bad-value"),
    ("/253/3060077601308", "253", "check-digit"),
    (f"/01/{GTIN}/3109/123456", "3109", "unknown-ai"),
])
def test_syntax_errors_in_ai_values_are_reported_with_400_naming_the_ai(env, path, ai, reason):
    """SHALL extract and syntactically validate the URI (every AI value against GS1's syntax for
    that AI, data attributes included) and report errors with an HTTP response code of 400."""
    for method in ("GET", "HEAD"):
        r = env["client"].request(method, path)
        assert r.status_code == 400, r.text
        assert r.headers["content-type"] == "application/problem+json"
    problem = env["client"].get(path).json()
    assert problem["type"] == "urn:zhenzhi:problem:invalid-digital-link"
    assert (problem["reason"], problem["ai"]) == (reason, ai), problem
    assert ai in problem["detail"]


def test_no_200_ok_for_an_error(env):
    """SHALL NOT use a 200 OK response code with a resource that indicates an error
    condition."""
    client = env["client"]
    for path in (f"/01/{GTIN}/foo", f"/01/{GTIN}?linkType=gs1:nothing", "/8003/04965031954585",
                 f"/01/{UNOWNED_GTIN}", f"/01/{GTIN}/10/NOSUCHLOT"):
        r = client.get(path)
        assert r.status_code >= 400 and r.headers["content-type"] == "application/problem+json"


def test_tolerates_a_trailing_slash(env):
    """SHOULD tolerate trailing slashes at the end of GS1 Digital Link URIs, i.e. the resolver
    SHOULD NOT fail if one is present."""
    client = env["client"]
    for path in (env["item"], f"/01/{GTIN}"):
        a = client.get(path, headers={"Accept": "application/json"})
        b = client.get(path + "/", headers={"Accept": "application/json"})
        assert a.status_code == b.status_code == 200
        assert a.json().get("code", a.json().get("gtin")) == b.json().get("code", b.json().get("gtin"))


# --- linksets -------------------------------------------------------------------------------

def test_linkset_on_link_type_linkset_and_on_accept_linkset_json(env):
    """SHALL respond to a query parameter of linkType set to linkset and/or a request with the
    HTTP Accept header set to application/linkset+json by returning a list of links available
    to the client application. The list SHALL be available as per RFC9264."""
    client = env["client"]
    by_query = client.get(env["item"] + "?linkType=linkset")
    by_accept = client.get(env["item"], headers={"Accept": "application/linkset+json"})
    legacy = client.get(env["item"] + "?linkType=all")
    for r in (by_query, by_accept, legacy):
        assert r.status_code == 200 and r.headers["content-type"] == "application/linkset+json"
        _validate(r.json())
    assert by_query.json() == by_accept.json() == legacy.json()
    # Asked as plain JSON, the same list as application/json.
    plain = client.get(env["item"] + "?linkType=linkset", headers={"Accept": "application/json"})
    assert plain.headers["content-type"] == "application/json" and plain.json() == by_query.json()


@pytest.mark.parametrize("level", ["item", "lot", "product", "sscc", "gln", "compressed"])
def test_every_linkset_validates_against_gs1s_linkset_schema(env, level):
    """(Artefact) A JSON schema against which linksets returned from a GS1-Conformant resolver
    SHALL validate."""
    path = {"item": env["item"], "lot": f"/01/{GTIN}/10/{LOT}", "product": f"/01/{GTIN}",
            "sscc": f"/00/{SSCC}", "gln": f"/414/{env['stack'].brand.gln}",
            "compressed": _compressed(env)}[level]
    r = env["client"].get(path + "?linkType=linkset")
    assert r.status_code == 200, r.text
    _validate(r.json())
    assert r.json()["linkset"][0]["itemDescription"]


def test_linkset_includes_the_links_of_every_level_up_to_the_primary_key(env):
    """If the request GS1 Digital Link URI includes one or more key qualifiers, any links
    associated with each level up to the primary key SHALL be included in the linkset."""
    (item,) = env["client"].get(env["item"] + "?linkType=linkset").json()["linkset"]
    hrefs = {x["href"] for links in item.values() if isinstance(links, list) for x in links}
    base = env["url"]
    assert {base + env["item"], f"{base}/01/{GTIN}/10/{LOT}", f"{base}/01/{GTIN}"} <= hrefs


def test_the_subject_of_the_linkset_is_the_uncompressed_uri(env):
    """The URI used as the subject of facts presented SHALL be the uncompressed version."""
    (item,) = env["client"].get(_compressed(env) + "?linkType=linkset").json()["linkset"]
    assert item["anchor"] == "https://id.gs1.org" + env["item"]


def test_every_link_has_a_target_a_link_type_and_a_title(env):
    """All links in the linkset SHALL include the target URL, the link type and a link title,
    and SHOULD include the human language(s)."""
    client = env["client"]
    (item,) = client.get(env["item"] + "?linkType=linkset").json()["linkset"]
    for rel, links in item.items():
        if rel in ("anchor", "itemDescription"):
            continue
        assert rel.startswith("http")
        for link in links:
            assert link["href"].startswith("http") and link["title"]
    pages = [x for x in item[GS1 + "pip"]]
    assert all(x["hreflang"] for x in pages)
    for link in _links(client.head(env["item"]).headers["link"]):
        assert link["href"].startswith("http") and link["rel"] and link["title"]


def test_link_media_types_are_registered_with_iana(env):
    """If a media type is defined for a link, it SHALL be one defined by IANA."""
    (item,) = env["client"].get(env["item"] + "?linkType=linkset").json()["linkset"]
    types = {x["type"] for links in item.values() if isinstance(links, list) for x in links
             if "type" in x}
    assert types and types <= IANA_TYPES


def test_the_default_link_is_also_described_by_a_descriptive_link_type(env):
    """Links that are typed gs1:defaultLink or gs1:defaultLinkMulti SHALL also be described
    using a descriptive link type."""
    for path in (env["item"], f"/01/{GTIN}/10/{LOT}", f"/01/{GTIN}", f"/00/{SSCC}"):
        (item,) = env["client"].get(path + "?linkType=linkset").json()["linkset"]
        (default,) = item[GS1 + "defaultLink"]
        described = [rel for rel, links in item.items() if isinstance(links, list)
                     and rel != GS1 + "defaultLink" and any(x["href"] == default["href"]
                                                            for x in links)]
        assert described, path


def test_one_default_link_with_no_optional_attributes(env):
    """The resolver SHALL recognise one available link as the default for any given request
    URI. The default link SHALL NOT have any optional attributes."""
    for path in (env["item"], f"/01/{GTIN}/10/{LOT}", f"/01/{GTIN}", f"/414/{env['stack'].brand.gln}"):
        (item,) = env["client"].get(path + "?linkType=linkset").json()["linkset"]
        (default,) = item[GS1 + "defaultLink"]
        assert set(default) == {"href", "title"}  # the schema requires the title


def test_a_default_link_at_every_level_however_granular(env):
    """For any request URI, no matter how granular, there SHALL be a default link at the entry
    level or higher up the tree."""
    base = env["url"] + "/pip"
    for path, default in ((f"/01/{GTIN}/22/VARIANT1", f"{base}/01/{GTIN}"),
                          (f"/01/{GTIN}/22/V1/10/{LOT}", f"{base}/01/{GTIN}"),
                          (f"/01/{GTIN}/10/{LOT}/235/TPX1", f"{base}/01/{GTIN}/10/{LOT}"),
                          (env["item"], base + env["item"])):
        (item,) = env["client"].get(path + "?linkType=linkset").json()["linkset"]
        assert item[GS1 + "defaultLink"][0]["href"] == default, path


def test_linkset_response_points_to_the_json_ld_context(env):
    """The resolver SHOULD include an HTTP Link header pointing to a JSON-LD context file with a
    rel type of http://www.w3.org/ns/json-ld#context."""
    r = env["client"].get(env["item"] + "?linkType=linkset")
    context = [x for x in _links(r.headers["link"])
               if x.get("rel") == "http://www.w3.org/ns/json-ld#context"]
    assert context and context[0]["type"] == "application/ld+json"


# --- redirects ------------------------------------------------------------------------------

@pytest.mark.parametrize("spelling", ["gs1:verificationService",
                                      "https://gs1.org/voc/verificationService",
                                      "https://ref.gs1.org/voc/verificationService",
                                      "http://www.gs1.org/voc/verificationService",
                                      "verificationService"])
def test_redirects_to_the_requested_link_type_in_every_spelling(env, spelling):
    """SHALL redirect to the requested type of link if available."""
    r = env["client"].get(env["item"], params={"linkType": spelling}, follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == env["url"] + env["item"]


def test_every_link_in_the_header_is_reachable_by_its_link_type(env):
    """SHALL redirect to the requested linkType if available (each link the Link header
    exposes, as GS1's test suite walks them)."""
    client = env["client"]
    links = _links(client.head(f"/01/{GTIN}/10/{LOT}").headers["link"])
    for link in links:
        if link["rel"] in ("linkset", GS1 + "defaultLink"):
            continue
        r = client.get(f"/01/{GTIN}/10/{LOT}", params={"linkType": link["rel"]},
                       follow_redirects=False)
        assert r.status_code == 307 and r.headers["location"] in {
            x["href"] for x in links if x["rel"] == link["rel"]}


def test_404_when_no_link_of_the_requested_type(env):
    """SHALL return a 404 Not Found message if a link of the requested type is not
    available."""
    r = env["client"].get(env["item"] + "?linkType=gs1:epil")
    assert r.status_code == 404 and r.json()["type"] == "urn:zhenzhi:problem:unknown-link-type"


def test_query_string_is_passed_on_when_redirecting(env):
    """By default, SHALL pass on all key=value pairs in the query string of the request URI (if
    present) when redirecting."""
    r = env["client"].get(env["item"] + "?foo=bar&linkType=gs1:traceability&17=261231",
                          follow_redirects=False)
    assert r.status_code == 307
    assert r.headers["location"] == (f"{env['url']}/items/{GTIN}/{env['serial']}/events"
                                     "?foo=bar&17=261231")


def _default_href(env, path: str) -> str:
    (item,) = env["client"].get(path + "?linkType=linkset").json()["linkset"]
    (default,) = item[GS1 + "defaultLink"]
    return default["href"]


def test_redirects_to_the_default_link_unless_the_request_matches_a_better_one(env):
    """SHALL redirect to the default link unless there is information in the request that can
    be matched against available link metadata to provide a better response."""
    client, base = env["client"], env["url"]
    gln = env["stack"].brand.gln
    for path in (env["item"], f"/01/{GTIN}/10/{LOT}", f"/01/{GTIN}", f"/00/{SSCC}",
                 f"/414/{gln}", f"/01/{GTIN}/22/VARIANT1", _compressed(env)):
        default = _default_href(env, path)
        assert default.startswith(base + "/pip/")
        # No information (curl's */*, a browser's text/html): the default link, GET and HEAD.
        for accept in ("*/*", "text/html,application/xhtml+xml,*/*;q=0.8"):
            for method in ("GET", "HEAD"):
                r = client.request(method, path, headers={"Accept": accept})
                assert r.status_code == 307, (path, method, r.text)
                assert r.headers["location"] == default, path
        # A JSON Accept matches the level's own JSON link (proof, public facts), whose target
        # is this very URI: answered in place.
        r = client.get(path, headers={"Accept": "application/json"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
        (item,) = client.get(path + "?linkType=linkset").json()["linkset"]
        json_here = [x for links in item.values() if isinstance(links, list) for x in links
                     if x.get("type") == "application/json" and
                     x["href"] == base + _canonical(env, path)]
        assert json_here, path
    # The default is the consumer page itself, and it is there: a browser lands on it.
    page = client.get(env["item"], headers={"Accept": "text/html"}, follow_redirects=True)
    assert page.status_code == 200 and page.url.path == "/pip" + env["item"]
    assert "/verifier/verify.js" in page.text
    # An identifier the ledger knows nothing about is 404, not a redirect to an empty page.
    for path in (f"/01/{UNOWNED_GTIN}", f"/01/{GTIN}/10/NOSUCHLOT"):
        assert client.get(path, headers={"Accept": "text/html"}).status_code == 404


def _canonical(env, path: str) -> str:
    if path == _compressed(env):
        return env["item"]
    return path.split("/22/")[0] if "/22/" in path else path


def test_default_link_redirect_passes_on_the_query_string(env):
    """By default, SHALL pass on all key=value pairs in the query string of the request URI (if
    present) when redirecting (the default link included)."""
    client = env["client"]
    r = client.get(env["item"] + "?foo=bar&17=261231&verdict=server", follow_redirects=False)
    assert r.status_code == 307
    assert r.headers["location"] == (f"{env['url']}/pip{env['item']}"
                                     "?foo=bar&17=261231&verdict=server")
    # The consumer page reads what it is passed: the server-rendered page, in the language.
    page = client.get(env["item"] + "?verdict=server&lang=en",
                      headers={"Accept": "text/html", "Accept-Language": "en"},
                      follow_redirects=True)
    assert page.status_code == 200 and 'data-verdict="GENUINE"' in page.text


def test_attack_the_default_redirect_neither_adds_nor_loses_a_scan(env):
    """The redirect to the consumer page is no scan: a script hammering the Digital Link with a
    browser's Accept (or HEAD) adds nothing to the item's scan history, which the clone rules
    count; the page view it leads to is recorded exactly once (the page's proof fetch, or the
    server-rendered page)."""
    client = env["client"]
    path = f"/01/{GTIN}/21/{env['other']}"  # a serial nothing else here scans

    def recorded() -> int:
        # The proof's history holds every scan before it, and this fetch itself last.
        return len(client.get(path, headers={"Accept": "application/json"}).json()["scans"]) - 1

    before = recorded()           # 0 on a fresh module; the proof fetch itself counts 1
    for _ in range(20):
        assert client.get(path, headers={"Accept": "text/html"}).status_code == 307
        assert client.head(path).status_code == 307
        assert client.head("/pip" + path).status_code == 200
    shell = client.get(path, headers={"Accept": "text/html"}, follow_redirects=True)
    assert shell.status_code == 200 and 'data-verdict="GENUINE"' not in shell.text
    assert recorded() == before + 1   # only the previous recorded() fetch
    page = client.get(path + "?verdict=server", headers={"Accept": "text/html"},
                      follow_redirects=True)
    assert page.status_code == 200 and re.search(r'data-verdict="[A-Z_]+"', page.text)
    assert recorded() == before + 3   # two proof fetches and the one server page


def test_linkset_is_available_as_json_ld(env):
    """(1.1, kept by the test suite) The list SHALL be available as JSON, SHOULD be available
    as JSON-LD and MAY be available in HTML and any other formats, served through content
    negotiation. GS1's example linkset carries its JSON-LD context inline."""
    client = env["client"]
    context = json.loads((SCHEMA.parent / "linksetContext.jsonld").read_text())["@context"]
    for link_type in ("linkset", "all"):
        ld = client.get(env["item"] + f"?linkType={link_type}",
                        headers={"Accept": "application/ld+json"})
        plain = client.get(env["item"] + f"?linkType={link_type}")
        assert ld.status_code == 200 and ld.headers["content-type"] == "application/ld+json"
        assert "Accept" in ld.headers["vary"]
        body = ld.json()
        assert body.pop("@context") == context
        assert body == plain.json()
        _validate(body)
    # Each ranked: the linkset media type wins a tie; a lower q loses.
    tie = client.get(env["item"] + "?linkType=linkset",
                     headers={"Accept": "application/ld+json, application/linkset+json"})
    assert tie.headers["content-type"] == "application/linkset+json"
    low = client.get(env["item"] + "?linkType=linkset",
                     headers={"Accept": "application/ld+json, application/linkset+json;q=0.5"})
    assert low.headers["content-type"] == "application/ld+json"


def test_link_to_the_linkset_in_a_link_header_even_when_redirecting(env):
    """SHOULD expose link to the linkset in an HTTP Link header, even when redirecting."""
    client = env["client"]
    for r in (client.get(env["item"] + "?linkType=gs1:pip", follow_redirects=False),
              client.get(env["item"], headers={"Accept": "application/json"}),
              client.get(f"/01/{GTIN}", headers={"Accept": "text/html"})):
        linkset = [x for x in _links(r.headers["link"]) if x["rel"] == "linkset"]
        assert linkset and linkset[0]["href"].endswith("?linkType=linkset")
        assert linkset[0]["type"] == "application/linkset+json"


def test_recognises_the_gs1_web_vocabulary(env):
    """If supporting multiple links per identified item, SHALL recognise the GS1 Web vocabulary
    namespace. A resolver MAY recognise additional namespaces but link types defined elsewhere
    SHALL NOT duplicate link types available from GS1."""
    (item,) = env["client"].get(env["item"] + "?linkType=linkset").json()["linkset"]
    rels = [rel for rel in item if rel not in ("anchor", "itemDescription")]
    others = [rel for rel in rels if not rel.startswith(GS1)]
    assert len(others) < len(rels)
    assert all(rel.rsplit("/", 1)[1] not in {r.rsplit("/", 1)[1] for r in rels
                                             if r.startswith(GS1)} for rel in others)


# --- the brand's own links ------------------------------------------------------------------

def _until(probe, what: str):
    """Poll `probe` until truthy (the resolver's caches follow the store within 0.25 s; the
    wait is generous for a loaded machine), then return its value."""
    deadline = time.monotonic() + 60
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_brand_links_appear_in_the_link_header_and_the_linkset_and_match_the_language(env):
    """All links exposed SHALL include the target URL, the link relationship type (the link
    type) and a human-readable title; SHALL redirect to the default link unless there is
    information in the request that can be matched against available link metadata to provide
    a better response. A brand's own links (registered by the GTIN's prefix owner, nobody
    else) are exposed like the resolver's: in the `Link` header and the linkset of the GTIN
    and of every finer level, each reachable by its type, the language asked for chosen."""
    client, stack = env["client"], env["stack"]
    recipe = GS1 + "recipeInfo"
    links = {"en": "https://brand.example/recipes/en", "zh": "https://brand.example/recipes/zh"}
    for lang, href in links.items():
        r = signed(client, stack.brand, "POST", f"/brand-links/{GTIN}", json_body={
            "linkType": "gs1:recipeInfo", "href": href, "title": f"Recipes ({lang})",
            "type": "text/html", "hreflang": lang})
        assert r.status_code == 201, r.text
    rival = signed(client, stack.other, "POST", f"/brand-links/{GTIN}", json_body={
        "linkType": "gs1:recipeInfo", "href": "https://rival.example/", "title": "Rival"})
    assert rival.status_code == 403
    for path in (f"/01/{GTIN}", f"/01/{GTIN}/10/{LOT}", env["item"], _compressed(env)):
        def header_links(path: str = path) -> list[dict[str, str]] | None:
            got = _links(client.head(path, headers={"Accept": "application/json"})
                         .headers["link"])
            mine = [x for x in got if x["rel"] == recipe]
            return mine if len(mine) == 2 else None

        found = _until(header_links, f"brand links in the Link header of {path}")
        assert {(x["href"], x["hreflang"], x["title"]) for x in found} == \
            {(href, lang, f"Recipes ({lang})") for lang, href in links.items()}
        (item,) = client.get(path + "?linkType=linkset").json()["linkset"]
        assert {x["href"] for x in item[recipe]} == set(links.values())
        assert "https://rival.example/" not in json.dumps(item)
        for lang, want in (("zh-CN,zh;q=0.9", links["zh"]), ("en-GB", links["en"]),
                           ("fr", links["en"])):   # nothing matches: the first listed
            r = client.get(path, params={"linkType": "gs1:recipeInfo"},
                           headers={"Accept-Language": lang}, follow_redirects=False)
            assert r.status_code == 307 and r.headers["location"] == want, (path, lang)
    # The item's proof, answered from memory before routing, carries them too.
    for _ in range(3):
        r = client.get(env["item"], headers={"Accept": "application/json"})
        assert len([x for x in _links(r.headers["link"]) if x["rel"] == recipe]) == 2


def test_no_prefix_is_handed_on_unprocessed_so_no_handled_by(env):
    """If supporting redirection based on an MO or Global Company Prefix with no further
    processing taking place on the resolver, redirections SHALL be annotated with the
    gs1:handledBy link type. This resolver hands no prefix on: every level's default is its own
    page, and no brand can make a prefix-wide hand-off (`gs1:handledBy` is the resolver's
    own type, refused to brand links)."""
    client, stack = env["client"], env["stack"]
    for path in (f"/01/{GTIN}", f"/01/{GTIN}/10/{LOT}", env["item"], f"/00/{SSCC}"):
        (item,) = client.get(path + "?linkType=linkset").json()["linkset"]
        assert GS1 + "handledBy" not in item
        assert _default_href(env, path).startswith(env["url"] + "/pip/")
    r = signed(client, stack.brand, "POST", f"/brand-links/{GTIN}", json_body={
        "linkType": "gs1:handledBy", "href": "https://resolver.brand.example/",
        "title": "Our resolver"})
    assert r.status_code == 400, r.text


# --- resolver description file --------------------------------------------------------------

def test_resolver_description_file(env):
    """The resolver SHALL provide a resolver description file at /.well-known/gs1resolver. The
    list of supported primary identifiers SHALL be provided in the Resolver Description File. A
    context file that can be used to render the linkset as JSON-LD SHOULD be declared in it."""
    r = env["client"].get("/.well-known/gs1resolver")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    description = r.json()
    assert description["resolverRoot"] == env["url"] + "/"
    assert set(description["supportedPrimaryKeys"]) == {"01", "00", "414"}
    assert {"namespace": GS1, "prefix": "gs1:"} in description["supportedLinkType"]
    assert description["linkTypeDefaultCanBeLinkset"] is False
    assert description["jsonLdContextLocation"].startswith("https://ref.gs1.org/")
    assert description["name"]


# --- the identifier tree --------------------------------------------------------------------

def test_the_gtin_alone_answers_its_product_facts(env):
    r = env["client"].get(f"/01/{GTIN}", headers={"Accept": "application/json"})
    assert r.status_code == 200
    assert r.json()["brandOwner"] == env["stack"].brand.name and r.json()["gtin"] == GTIN
    page = env["client"].get(f"/01/{GTIN}", headers={"Accept": "text/html"},
                             follow_redirects=True)
    assert page.url.path == f"/pip/01/{GTIN}"
    assert page.headers["content-type"].startswith("text/html")
    assert env["stack"].brand.name in page.text


def test_the_lot_answers_its_status_and_recall(env):
    r = env["client"].get(f"/01/{GTIN}/10/{LOT}", headers={"Accept": "application/json"})
    assert r.status_code == 200
    assert r.json()["status"] == "active" and r.json()["recalled"] is False
    recall = env["client"].get(f"/01/{GTIN}/10/{LOT}?linkType=gs1:recallStatus",
                               follow_redirects=False)
    assert recall.status_code == 307


def test_the_sscc_says_it_exists_and_sends_members_to_its_events(env):
    client, stack = env["client"], env["stack"]
    r = client.get(f"/00/{SSCC}", headers={"Accept": "application/json"})
    assert r.status_code == 200
    assert r.json() == {"description": f"Case or pallet, SSCC {SSCC}", "sscc": SSCC,
                        "prefixOwner": stack.brand.name, "recordedInEvents": True}
    trace = client.get(f"/00/{SSCC}?linkType=gs1:traceability", follow_redirects=False)
    events = trace.headers["location"].removeprefix(env["url"])
    assert events == "/epcs/" + quote(f"https://id.gs1.org/00/{SSCC}", safe="") + "/events"
    assert client.get(events).status_code == 401          # the public: no events
    member = signed(client, stack.brand, "GET", events)
    assert member.status_code == 200
    got = member.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert [e["bizStep"] for e in got] == ["packing"]


def test_the_gln_answers_the_organisations_public_master_data(env):
    brand = env["stack"].brand
    r = env["client"].get(f"/414/{brand.gln}", headers={"Accept": "application/json"})
    assert r.status_code == 200
    assert r.json()["organisation"] == {"name": brand.name, "roles": ["ENTERPRISE"],
                                        "member": True}
    short = env["client"].get(f"/gln/{brand.gln}")  # short name: the same default link
    assert short.status_code == 307
    assert short.headers["location"] == f"{env['url']}/pip/414/{brand.gln}"
    page = env["client"].get(f"/gln/{brand.gln}", follow_redirects=True)
    assert page.status_code == 200 and brand.name in page.text


def test_a_key_the_ledger_holds_nothing_about_is_404(env):
    for path in ("/8003/04965031954585", f"/01/{UNOWNED_GTIN}", f"/01/{GTIN}/10/NOSUCHLOT"):
        r = env["client"].get(path, headers={"Accept": "application/json"})
        assert r.status_code == 404, path
        assert r.json()["type"] == "urn:zhenzhi:problem:unknown-identifier"
