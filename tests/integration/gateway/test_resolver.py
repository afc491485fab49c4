"""The Digital Link resolver end to end: a brand issues and registers codes, captures the
item's commissioning, the capture is anchored by the real worker; then a scan gets the page,
the proof bundle (which the verifier checks against the chain), the linkset, scans recorded
with the country the server observed, the consumer profile, member-only events, and a recall with its scope."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest
from eth_account import Account

from gateway.cli import main
from ledger.proofs.bundle import Bundle
from ledger.proofs.signing import (
    CaptureDomain,
    prepare_capture,
    sign_capture,
    signature_to_headers,
)
from tests.integration.traceability_env import gtin, signed

pytestmark = pytest.mark.chain

GTIN = gtin("0048")
LOT = "L-RES"


def commissioning(serial: str) -> dict:
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2024-03-01T08:00:00Z",
        "epcisBody": {"eventList": [{
            "type": "ObjectEvent", "eventTime": "2024-03-01T08:00:00Z",
            "eventTimeZoneOffset": "+12:00", "action": "ADD",
            "epcList": [f"https://id.gs1.org/01/{GTIN}/21/{serial}"],
            "bizStep": "commissioning", "disposition": "active",
            "readPoint": {"id": "urn:epc:id:sgln:4712345.00001.0"},
            "bizLocation": {"id": "urn:epc:id:sgln:4712345.00001.0"},
            "ilmd": {"cbvmda:lotNumber": LOT, "cbvmda:countryOfOrigin": "CN",
                     "cbvmda:itemExpirationDate": "2026-03-01"},
        }]},
    }


@pytest.fixture(scope="module")
def item(trace_stack, tmp_path_factory):
    """A gateway with one issued, registered, captured and anchored item (module-wide)."""
    import httpx

    from gateway.server import ThreadedServer
    from ledger.epcis.event_hash import event_hashes
    from ledger.pipeline.anchoring import AnchorWorker
    from ledger.store.store import Store
    from tests.integration.traceability_env import make_app

    url = f"sqlite:///{tmp_path_factory.mktemp('resolver') / 'store.db'}"
    server = ThreadedServer(make_app(trace_stack, url, scan_burst=1000,
                                     trusted_proxies="127.0.0.1")).start()
    # A browser follows the Digital Link's redirect to the consumer page (/pip/…).
    client = httpx.Client(base_url=server.url, timeout=60.0, follow_redirects=True)
    lot = signed(client, trace_stack.brand, "POST", "/codes/lots",
                 json_body={"gtin": GTIN, "lot": LOT, "count": 3}).json()
    reg = lot["registration"]
    sig = Account.unsafe_sign_hash(bytes.fromhex(reg["digest"][2:]), trace_stack.brand.key).signature
    assert signed(client, trace_stack.brand, "POST", f"/codes/lots/{GTIN}/{LOT}/registration",
                  json_body={"signer": reg["signer"], "deadline": reg["deadline"],
                             "signature": "0x" + bytes(sig).hex()}).status_code == 200
    serial = lot["serials"][0]
    doc = commissioning(serial)
    ids = event_hashes(doc)
    domain = CaptureDomain(trace_stack.deployment.chainId,
                           trace_stack.deployment.address("Consortium"))
    seed, _, root = prepare_capture(doc["epcisBody"]["eventList"], ids)
    capture = sign_capture(bytes.fromhex(trace_stack.brand.key[2:]), domain,
                           root, len(ids), trace_stack.brand.org,
                           time.time_ns() // 1000, int(time.time()))
    r = client.post("/capture", content=json.dumps(doc).encode(),
                    headers={**signature_to_headers(capture, seed),
                             "Content-Type": "application/ld+json"})
    assert r.status_code == 202, r.text
    store = Store(url)
    AnchorWorker(store, trace_stack.chain, trace_stack.admin()).run(once=True)
    store.close()
    yield {"client": client, "serial": serial, "unused": lot["serials"][1], "lot": lot,
           "path": f"/01/{GTIN}/10/{LOT}/21/{serial}", "url": server.url}
    client.close()
    server.stop()


def test_json_gets_the_bundle_and_the_verifier_finds_nothing_wrong(trace_stack, item):
    from ledger.chain.view import ChainView
    from verifier.verdict import Outcome
    from verifier.verify import verify

    r = item["client"].get(item["path"], headers={"Accept": "application/json"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    bundle = Bundle.from_json(r.json())
    assert bundle.registration.lot == LOT
    assert trace_stack.chain.verify_code(GTIN, LOT, item["serial"], bundle.registration.code_proof)
    assert len(bundle.events) == 1 and bundle.captures[0].anchor is not None
    verdict = verify(bundle.code, bundle, ChainView(trace_stack.w3, trace_stack.deployment))
    outcomes = {str(c.name): c.outcome for c in verdict.checks}
    assert outcomes["code.registered"] is Outcome.PASS
    assert outcomes["code.prefix_owner"] is Outcome.PASS
    assert outcomes["lot.status"] is Outcome.PASS
    assert not [c for c in verdict.checks if c.outcome is Outcome.FAIL], verdict.checks
    assert str(verdict.kind) == "GENUINE"


def test_browsers_get_the_consumer_page_and_every_scan_is_recorded_with_its_country(item):
    client = item["client"]
    # Behind the (trusted) loopback proxy: the country of the address it forwards.
    page = client.get(item["path"] + "?region=NZ&verdict=server",
                      headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
                               "Accept-Language": "zh-CN,zh;q=0.9",
                               "X-Forwarded-For": "114.114.114.114"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'lang="zh-Hans"' in page.text and 'data-verdict="GENUINE"' in page.text
    # What the client says of itself is not believed; a loopback peer has no country.
    client.get(item["path"] + "?verdict=server", headers={"Accept": "text/html", "X-Client-Region": "NZ"})
    bundle = client.get(item["path"], headers={"Accept": "application/json",
                                               "X-Forwarded-For": "1.2.3.4"}).json()
    scans = bundle["scans"][-3:]
    assert [s["region"] for s in scans] == ["CN", "unknown", "AU"]  # this resolution too
    # One pseudonym per client for this item; the loopback peer and its forwarded clients
    # are three clients.
    assert len({s["client"] for s in scans}) == 3


def test_linkset_and_link_type_redirects(item):
    client = item["client"]
    r = client.get(item["path"] + "?linkType=all")
    assert r.status_code == 200 and r.headers["content-type"] == "application/linkset+json"
    (links,) = r.json()["linkset"]
    assert links["anchor"] == f"https://id.gs1.org/01/{GTIN}/10/{LOT}/21/{item['serial']}"
    assert links["https://gs1.org/voc/verificationService"][0]["type"] == "application/json"
    r = client.get(item["path"] + "?linkType=gs1:traceability", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"].endswith(f"/items/{GTIN}/{item['serial']}/events")
    assert client.get(item["path"] + "?linkType=gs1:nothing").status_code == 404


def test_a_code_that_was_never_issued_is_counterfeit(item):
    r = item["client"].get(f"/01/{GTIN}/21/NEVERISSUED2?verdict=server", headers={"Accept": "text/html"})
    assert r.status_code == 200 and 'data-verdict="COUNTERFEIT"' in r.text
    bundle = item["client"].get(f"/01/{GTIN}/21/NEVERISSUED2",
                                headers={"Accept": "application/json"}).json()
    assert bundle["registration"] is None and bundle["events"] == []


@pytest.mark.parametrize(("path", "reason"), [
    (f"/01/{GTIN[:-1]}{(int(GTIN[-1]) + 1) % 10}/21/ABC", "check-digit"),
    (f"/01/{GTIN}/21/AB%20C", "illegal-character"),
])
def test_bad_codes_are_400_problems(item, path, reason):
    r = item["client"].get(path)
    assert r.status_code == 400, r.text
    assert r.json()["type"] == "urn:zhenzhi:problem:invalid-digital-link"
    assert r.json()["reason"] == reason


def test_scans_are_rate_limited(trace_stack, client_for):
    client = client_for(scan_burst=2, scan_per_minute=0.01)
    path = f"/01/{GTIN}/21/ANYTHING22"
    for _ in range(2):
        assert client.get(path, headers={"Accept": "application/json"}).status_code == 200
    r = client.get(path, headers={"Accept": "application/json"})
    assert r.status_code == 429 and "retry-after" in r.headers


def test_public_profile_and_member_only_events(trace_stack, item):
    client = item["client"]
    profile = client.get(f"/items/{GTIN}/{item['serial']}/profile").json()
    brand = "0x" + trace_stack.brand.org.hex()
    assert profile["originCountry"]["value"] == "CN" and profile["lot"]["value"] == LOT
    # Each field says who said it: the brand's own signed events, the code it registered.
    assert profile["manufacturer"]["by"] == brand and profile["gtin"]["by"] == brand
    assert profile["lot"]["by"] == brand and profile["originCountry"]["by"] == brand
    assert profile["expiryDate"]["value"] == "2026-03-01"
    assert profile["lotStatus"] == {"value": profile["lotStatus"]["value"], "by": "CodeRegistry"}
    assert profile["lotStatus"]["value"] in ("active", "recalled")
    assert "epcList" not in json.dumps(profile)
    path = f"/items/{GTIN}/{item['serial']}/events"
    assert client.get(path).status_code == 401
    # A member that is no party to this item's chain sees the profile, not the events.
    r = signed(client, trace_stack.other, "GET", path)
    assert r.status_code == 403 and r.json()["type"] == "urn:zhenzhi:problem:not-a-party"
    for who in (trace_stack.brand, trace_stack.regulator):
        r = signed(client, who, "GET", path)
        assert r.status_code == 200
        events = r.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        assert [e["bizStep"] for e in events] == ["commissioning"]


def test_recall_by_the_brand_then_scope_and_verdict(trace_stack, item, monkeypatch, capsys, tmp_path):
    client = item["client"]
    # Only the brand or a regulator may see the scope.
    assert signed(client, trace_stack.other, "GET", f"/recalls/{GTIN}/{LOT}").status_code == 403
    monkeypatch.setenv("ZHENZHI_SIGNING_KEY", trace_stack.brand.key)
    out_csv = tmp_path / "scope.csv"
    code = main(["recall", "--gtin", GTIN, "--lot", LOT, "--reason", "melamine found",
                 "--scope-csv", str(out_csv), "--gateway", item["url"],
                 "--rpc", trace_stack.w3.provider.endpoint_uri,
                 "--manifest", str(trace_stack.manifest), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["scopeRows"] == 1
    assert trace_stack.chain.lot(GTIN, LOT).status.lower() == "recalled"
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text())))
    assert rows[0]["epc"] == f"https://id.gs1.org/01/{GTIN}/21/{item['serial']}"
    assert rows[0]["lastBizStep"] == "commissioning"
    scope = signed(client, trace_stack.regulator, "GET", f"/recalls/{GTIN}/{LOT}").json()
    assert scope["status"] == "recalled" and scope["count"] == 1
    time.sleep(0.3)  # the gateway's chain view re-reads the block at most every 0.25 s
    page = client.get(item["path"] + "?verdict=server", headers={"Accept": "text/html"})
    assert 'data-verdict="RECALLED"' in page.text
    # A second recall is refused by the contract: a 4xx problem, not a 500.
    code = main(["recall", "--gtin", GTIN, "--lot", LOT, "--reason", "again",
                 "--rpc", trace_stack.w3.provider.endpoint_uri,
                 "--manifest", str(trace_stack.manifest)])
    assert code == 1 and "LotNotActive" in capsys.readouterr().err


def test_a_browser_gets_one_static_cache_validated_shell_that_verifies_for_itself(item):
    client = item["client"]
    page = client.get(item["path"], headers={"Accept": "text/html"})
    assert page.status_code == 200 and "/verifier/verify.js" in page.text
    assert page.history[0].status_code == 307 and page.url.path == "/pip" + item["path"]
    assert "data-verdict=\"GENUINE\"" not in page.text  # no verdict from the server
    etag = page.headers["etag"]
    again = client.get(item["path"], headers={"Accept": "text/html", "If-None-Match": etag})
    assert again.status_code == 304
    other = client.get(f"/01/{GTIN}/21/ANYOTHER", headers={"Accept": "text/html"})
    assert other.text == page.text and other.headers["etag"] == etag  # one shell for all
    config = client.get("/verifier/config.json").json()
    assert set(config) == {"rpcUrl", "chainId", "contracts"} and "Consortium" in config["contracts"]
    script = client.get("/verifier/verify.js", headers={"If-None-Match": "x"})
    assert script.status_code == 200 and "zhenzhiVerify" in script.text
    assert client.get("/verifier/../README.md").status_code == 404


def test_the_public_json_names_no_other_serial_and_no_business_transaction(item):
    text = item["client"].get(item["path"], headers={"Accept": "application/json"}).text
    serial = item["path"].rsplit("/", 1)[1]
    assert serial in text
    assert "bizTransaction" not in text and "ni:///" not in text and "quantity" not in text
    import re as _re

    serials = set(_re.findall(r'/01/[0-9]{14}/21/([^\\"/]+)', text))
    assert serials == {serial}, serials


def test_the_servers_page_gives_away_no_more_than_the_public_proof(item):
    """An anonymous client asking for the no-JavaScript page must not learn what the public
    proof hides: event ids (a plain hash of a whole event lets one test a guessed PO number),
    other serials, business transactions."""
    import re as _re

    page = item["client"].get(item["path"] + "?verdict=server",
                              headers={"Accept": "text/html", "Accept-Language": "en"}).text
    serial = item["path"].rsplit("/", 1)[1]
    assert "data-verdict=" in page
    assert "ni:///" not in page and "sha-256" not in page
    assert "bizTransaction" not in page and "urn:epcglobal:cbv:bt" not in page
    serials = set(_re.findall(r"/21/([A-Za-z0-9]+)", page))
    assert serials <= {serial}, serials


def test_the_in_memory_answer_carries_the_routes_own_link_header(item):
    """A repeated scan is answered from memory before routing, with the parsed path and its
    `Link` header kept from the last time: the same headers as the route's answer, and a
    header changed by one response is never served to the next."""
    from gateway.routes import resolver

    path = f"/01/{GTIN}/21/{item['serial']}"
    first = item["client"].get(path, headers={"Accept": "application/json"})
    assert first.status_code == 200
    hits = resolver._item_headers.cache_info().hits
    answers = [item["client"].get(path, headers={"Accept": "application/json"})
               for _ in range(3)]
    assert resolver._item_headers.cache_info().hits >= hits + 2  # the fast path answered
    for r in answers:
        assert r.status_code == 200
        assert r.headers["link"] == first.headers["link"]
        assert r.headers["vary"] == first.headers["vary"]
        assert r.headers["content-length"] == str(len(r.content))
    cached = resolver._item_headers(item["url"].rstrip("/"),
                                    resolver.parse_path(path), ())
    assert set(cached) == {"Link", "Vary"}  # no Content-Length or the like written into it


def test_attack_a_forged_host_header_does_not_poison_the_kept_link_headers(item):
    """The fast path keeps `Link` headers by path and base (the request's own origin while no
    ZHENZHI_PUBLIC_URL is set): an anonymous client scanning with `Host: evil.example` gets
    links to evil.example itself, and every later shopper still gets the gateway's own."""
    path = f"/01/{GTIN}/21/{item['serial']}"
    own = item["url"].split("://", 1)[1]
    for _ in range(2):  # the second one from memory
        forged = item["client"].get(path, headers={"Accept": "application/json",
                                                   "Host": "evil.example"})
        assert forged.status_code == 200 and "evil.example" in forged.headers["link"]
    for _ in range(2):
        genuine = item["client"].get(path, headers={"Accept": "application/json"})
        assert genuine.status_code == 200
        assert "evil.example" not in genuine.headers["link"]
        assert f"http://{own}/" in genuine.headers["link"]
