"""Attack: use the sign-proxy as a signing oracle for the enterprise's key.

Whoever reaches the proxy may ask it to sign. It must sign only what it parsed as an EPCIS
capture (a capture signature over exactly the events of the body it forwards), and request
signatures only for the EPCIS 2.0 binding's own paths: nothing for the console, members, codes
or any other route of the gateway, nothing for bytes that are not a capture. Every refusal is
the proxy's own problem+json, and nothing is forwarded. Observed at the wire: the proxy's
transport to the real gateway records each request it sends.
"""

from __future__ import annotations

import json

import httpx
import pytest

from ledger.epcis.document import parse_document
from ledger.epcis.event_hash import event_hashes
from ledger.proofs.capture import events_tree
from ledger.proofs.signing import (
    HEADER_SIGNATURE,
    build_signed_capture,
    capture_commitments,
    seed_from_headers,
    signature_from_headers,
)
from tests.integration.gateway_env import MAX_BODY, document

pytestmark = [pytest.mark.chain]

CAPTURE_HEADER = HEADER_SIGNATURE.lower()
AUTH_HEADER = "zhenzhi-auth-signature"


def _signed(requests: list[httpx.Request]) -> list[httpx.Request]:
    return [r for r in requests if CAPTURE_HEADER in r.headers or AUTH_HEADER in r.headers]


def _refused_by_proxy(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["refusedBy"] == "zhenzhi-sign-proxy"
    assert problem["status"] == status
    return problem


NOT_CAPTURES = [
    pytest.param(b'{"hello": "world"}', "application/json", 400, id="json-not-epcis"),
    pytest.param(b"Zhenzhi-Request-v1\nGET\n/members\n", "application/json", 400, id="text"),
    pytest.param(b"\x00\x01\xfe\xffbinary", "application/json", 400, id="binary"),
    pytest.param(b'{"type": "EPCISQueryDocument", "schemaVersion": "2.0"}', "application/json",
                 400, id="query-document"),
    pytest.param(b"<foo>bar</foo>", "application/xml", 400, id="xml-not-epcis"),
    pytest.param(b'{"type": "EPCISDocument"}', "text/plain", 415, id="other-media-type"),
    pytest.param(b'{"@context": [], "type": "EPCISDocument", "schemaVersion": "2.0", '
                 b'"creationDate": "2024-01-01T00:00:00Z", "epcisBody": {"eventList": []}}',
                 "application/json", 400, id="no-events"),
]


@pytest.mark.parametrize(("body", "media", "status"), NOT_CAPTURES)
def test_RevertIf_not_a_capture_gets_a_capture_signature(sign_proxy, body, media, status) -> None:
    sign_proxy.mark()
    with sign_proxy.client() as client:
        got = client.post("/capture", content=body, headers={"Content-Type": media})
    _refused_by_proxy(got, status)
    assert [r for r in sign_proxy.sent_since_mark() if r.method != "GET"] == []
    assert _signed(sign_proxy.sent_since_mark()) == []


@pytest.mark.parametrize("body", [b'{"type": "EPCISDocument", "epcisBody": {}}', b"[1, 2]",
                                  b'"ObjectEvent"', b"not json"])
def test_RevertIf_not_one_event_gets_a_capture_signature_on_post_events(sign_proxy, body) -> None:
    sign_proxy.mark()
    with sign_proxy.client() as client:
        got = client.post("/events", content=body, headers={"Content-Type": "application/json"})
    _refused_by_proxy(got, 400)
    assert _signed(sign_proxy.sent_since_mark()) == []


def test_RevertIf_xml_event_gets_a_capture_signature_on_post_events(sign_proxy) -> None:
    """`POST /events` is JSON only at the gateway (XML goes to /capture): the proxy refuses it
    as the gateway would, before signing."""
    sign_proxy.mark()
    with sign_proxy.client() as client:
        got = client.post("/events", content=b"<ObjectEvent/>",
                          headers={"Content-Type": "application/xml"})
    _refused_by_proxy(got, 415)
    assert _signed(sign_proxy.sent_since_mark()) == []


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/members"),
    ("POST", "/console/operator/keys"),
    ("POST", "/codes/issue"),
    ("POST", "/recalls"),
    ("GET", "/capture/domain/x"),
    ("GET", "/events/../members"),
    ("GET", "/events/%2e%2e/members"),
    ("GET", "/events/./../console"),
    ("POST", "/complaints"),
    ("GET", "/openapi.json"),
    ("GET", "//members"),
])
def test_RevertIf_path_outside_the_binding_is_signed(sign_proxy, method, path) -> None:
    sign_proxy.mark()
    with httpx.Client(timeout=30.0) as client:
        # Sent as written: httpx would otherwise collapse the dot segments before sending.
        request = client.build_request(method, sign_proxy.url, content=b"{}",
                                       headers={"Content-Type": "application/json"})
        request.url = request.url.copy_with(raw_path=path.encode())
        got = client.send(request)
    _refused_by_proxy(got, 404)
    assert sign_proxy.sent_since_mark() == []


@pytest.mark.parametrize(("method", "path"), [
    ("PUT", "/events"), ("DELETE", "/capture"), ("PATCH", "/queries"), ("POST", "/"),
    ("POST", "/eventTypes"), ("DELETE", "/events/x"),
])
def test_RevertIf_method_outside_the_binding_is_signed(sign_proxy, method, path) -> None:
    sign_proxy.mark()
    with sign_proxy.client() as client:
        got = client.request(method, path, content=b"{}")
    _refused_by_proxy(got, 405)
    assert "Allow" in got.headers
    assert sign_proxy.sent_since_mark() == []


def test_RevertIf_body_over_the_gateways_limit_is_forwarded(sign_proxy) -> None:
    doc = document(1)
    doc["padding"] = "x" * MAX_BODY
    sign_proxy.mark()
    with sign_proxy.client() as client:
        got = client.post("/capture", json=doc)
        streamed = client.post("/capture", content=iter([b"{" + b" " * MAX_BODY, b"}"]),
                               headers={"Content-Type": "application/json"})
    assert _refused_by_proxy(got, 413)["limit"] == MAX_BODY
    _refused_by_proxy(streamed, 413)
    assert [r for r in sign_proxy.sent_since_mark() if r.method != "GET"] == []


def test_a_capture_signature_covers_exactly_the_events_forwarded(sign_proxy, gateway_stack
                                                                 ) -> None:
    """The one thing the proxy does sign: the body it forwards is the client's, byte for byte,
    and the signature recovers the proxy's key over that body's events and no other."""
    doc = document(2)
    sign_proxy.mark()
    with sign_proxy.client() as client:
        got = client.post("/capture", json=doc, headers={
            # a client cannot choose what is signed, nor for whom
            "Zhenzhi-Capture-Org": "0x" + "11" * 32, "Zhenzhi-Auth-Org": "0x" + "22" * 32})
    assert got.status_code == 202, got.text
    (sent,) = [r for r in sign_proxy.sent_since_mark() if r.method == "POST"]
    assert sent.url.path == "/capture"
    body = sent.content
    assert body == got.request.content
    parsed = parse_document(body)
    ids = event_hashes(parsed)
    headers = dict(sent.headers)
    assert AUTH_HEADER not in headers
    seed = seed_from_headers(headers)
    commitments = capture_commitments(parsed.events, ids, seed)
    sig = signature_from_headers(headers, events_root=events_tree(commitments).root,
                                 count=len(ids))
    assert sig.org == sign_proxy.member.org
    signed = build_signed_capture(parsed.events, parsed.context, ids, sig, gateway_stack.domain,
                                  seed=seed, expected_signer=sign_proxy.member.address)
    assert ["ni:///sha-256;" + i.hex() + "?ver=CBV2.0" for i in signed.event_ids] == \
        got.json()["eventIDs"]


def test_reads_get_request_signatures_never_capture_signatures(sign_proxy) -> None:
    sign_proxy.mark()
    with sign_proxy.client() as client:
        got = client.post("/queries", json={"name": "proxy-oracle-probe", "query": {
            "EQ_bizStep": ["shipping"]}})
        client.delete("/queries/proxy-oracle-probe")
    assert got.status_code in (201, 409), got.text
    sent = [r for r in sign_proxy.sent_since_mark() if r.url.path.startswith("/queries")]
    assert sent and all(AUTH_HEADER in r.headers and CAPTURE_HEADER not in r.headers
                        for r in sent)


def test_a_gateway_that_does_not_answer_is_502(sign_proxy_member) -> None:
    from gateway.server import ThreadedServer
    from ledger.proofs.keystore import load_key
    from signproxy import ProxySettings, Signer, create_app
    from tests.conftest import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    signer = Signer(load_key(sign_proxy_member.key_file, sign_proxy_member.passphrase))
    with ThreadedServer(create_app(ProxySettings(gateway_url=dead, timeout_s=5), signer)) as proxy:
        for method, path, body in (("POST", "/capture", b"{}"), ("GET", "/events", b"")):
            got = httpx.request(method, proxy.url + path, content=body, timeout=30.0)
            problem = _refused_by_proxy(got, 502)
            assert problem["gateway"] == dead


def test_attack_a_web_page_cannot_open_a_subscription_through_the_proxy(sign_proxy) -> None:
    """Browsers apply no CORS to WebSockets: any page the enterprise's staff visit could open
    ws://127.0.0.1:<proxy>/queries/…/events and read the events the proxy signs for. A browser
    always sends `Origin` on the handshake (EPCIS clients, not browsers, send none): such a
    handshake is refused by the proxy before anything is signed or forwarded."""
    import time as _time

    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    name = f"cswsh-{_time.time_ns()}"
    with sign_proxy.client() as client:
        assert client.post("/queries", json={"name": name, "query": {}}).status_code == 201
    url = sign_proxy.url.replace("http://", "ws://") + f"/queries/{name}/events?stream=true"
    for origin in ("https://evil.example", sign_proxy.url):
        with pytest.raises(InvalidStatus) as refused:
            connect(url, origin=origin, open_timeout=20)
        answer = refused.value.response
        assert answer.status_code == 403, answer.body
        problem = json.loads(answer.body)
        assert problem["refusedBy"] == "zhenzhi-sign-proxy"
        assert problem["type"] == "urn:zhenzhi:problem:browser-origin"


# A rebinding page's Host is its own name: never an IP literal (an IP cannot be re-pointed).
REBOUND_HOSTS = ["evil.example", "evil.example:8090", "127.0.0.1.evil.example",
                 "localhost.evil.example", "EVIL.example"]


@pytest.mark.parametrize("host", REBOUND_HOSTS)
def test_attack_a_rebound_name_cannot_read_through_the_proxy(sign_proxy, host) -> None:
    """DNS rebinding: a page on evil.example re-points its own name at 127.0.0.1, and its
    scripts then reach the proxy same-origin, so they read whatever the proxy answers (every
    member read signed with the enterprise's key) and send what they like, without `Origin`.
    The one thing such a request cannot hide is its Host: the page's own name. The proxy
    answers only requests addressed to a name it listens on, and signs nothing otherwise."""
    sign_proxy.mark()
    with sign_proxy.client() as client:
        for method, path, body in (("GET", "/events", b""), ("POST", "/capture", b"{}"),
                                   ("GET", "/queries", b"")):
            got = client.request(method, path, content=body, headers={"Host": host})
            problem = _refused_by_proxy(got, 421)
            assert problem["type"] == "urn:zhenzhi:problem:unknown-host"
            assert problem["epcisException"] == "SecurityException"
    assert _signed(sign_proxy.sent_since_mark()) == []


def test_attack_a_rebound_name_cannot_subscribe_through_the_proxy(sign_proxy) -> None:
    """The same over WebSocket (a rebound page sends no cross-site Origin to object to: its
    Origin is its own name, which is refused as well, but the Host alone must suffice)."""
    import socket

    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    sign_proxy.mark()
    port = int(sign_proxy.url.rsplit(":", 1)[1])
    url = f"ws://evil.example:{port}/queries/any/events?stream=true"  # as the rebound page
    with pytest.raises(InvalidStatus) as refused, \
            socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        connect(url, sock=sock, open_timeout=20)
    answer = refused.value.response
    assert answer.status_code == 421, answer.body
    assert json.loads(answer.body)["type"] == "urn:zhenzhi:problem:unknown-host"
    assert _signed(sign_proxy.sent_since_mark()) == []


@pytest.mark.parametrize(("method", "path", "body", "media"), [
    ("POST", "/queries", b'{"name": "csrf", "query": {}}', "text/plain"),
    ("DELETE", "/queries/csrf", b"", None),
    ("GET", "/events", b"", None),
])
def test_attack_a_cross_site_request_is_not_signed(sign_proxy, method, path, body, media) -> None:
    """A page elsewhere posting to http://127.0.0.1:<proxy> (a form, or fetch in no-cors mode)
    sends Origin, as browsers do on every cross-site request but a plain navigation; EPCIS
    clients send none. Refused before signing, whatever the gateway would make of the body."""
    sign_proxy.mark()
    headers = {"Origin": "https://evil.example"} | ({"Content-Type": media} if media else {})
    with sign_proxy.client() as client:
        got = client.request(method, path, content=body, headers=headers)
    problem = _refused_by_proxy(got, 403)
    assert problem["type"] == "urn:zhenzhi:problem:browser-origin"
    assert _signed(sign_proxy.sent_since_mark()) == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST", "[::1]", "127.0.0.2"])
def test_loopback_names_are_served(sign_proxy, host) -> None:
    port = sign_proxy.url.rsplit(":", 1)[1]
    with sign_proxy.client() as client:
        got = client.get("/events", params={"perPage": 1}, headers={"Host": f"{host}:{port}"})
    assert got.status_code == 200, got.text
