"""`zhenzhi sign-proxy` in front of the real gateway: XML captures (EPCIS 2.0 and 1.2) and
`POST /events` signed by the proxy and stored under the gateway's ids; reads signed and their
paging links kept behind the proxy; the gateway's own refusals passed back unchanged."""

from __future__ import annotations

import time
import urllib.parse

import httpx
import orjson
import pytest

from ledger.epcis.document import parse_document
from ledger.epcis.event_document import event_document
from ledger.epcis.event_hash import event_hashes, event_ids, format_event_id
from ledger.epcis.xml import parse_xml_document
from ledger.epcis.xml_writer import write_document
from tests.integration.gateway_env import document

pytestmark = [pytest.mark.chain]


def _xml_12(serial: int) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:1" schemaVersion="1.2"
    creationDate="2026-05-01T10:00:00Z">
  <EPCISBody>
    <EventList>
      <ObjectEvent>
        <eventTime>2026-05-01T12:00:00.000+02:00</eventTime>
        <eventTimeZoneOffset>+02:00</eventTimeZoneOffset>
        <epcList><epc>urn:epc:id:sgtin:950600099.0991.{serial}</epc></epcList>
        <action>OBSERVE</action>
        <bizStep>urn:epcglobal:cbv:bizstep:shipping</bizStep>
        <disposition>urn:epcglobal:cbv:disp:in_transit</disposition>
        <readPoint><id>urn:epc:id:sgln:950600099.999.0</id></readPoint>
      </ObjectEvent>
    </EventList>
  </EPCISBody>
</epcis:EPCISDocument>""".encode()


def test_xml_20_capture_through_the_proxy(sign_proxy) -> None:
    doc = document(2)
    body = write_document(doc["epcisBody"]["eventList"], context=doc["@context"],
                          creation_date="2026-01-01T00:00:00Z")
    with sign_proxy.client() as client:
        got = client.post("/capture", content=body, headers={"Content-Type": "application/xml"})
    assert got.status_code == 202, got.text
    job = got.json()
    assert job["eventIDs"] == event_ids(doc)  # the JSON form's ids
    assert job["signer"] == sign_proxy.member.address
    assert got.headers["location"] == f"/capture/{job['captureID']}"
    (sent,) = [r for r in sign_proxy.recorder.sent if r.method == "POST"
               and r.content == body]
    assert sent.headers["content-type"] == "application/xml"  # forwarded as XML, unchanged


def test_xml_12_capture_through_the_proxy(sign_proxy) -> None:
    body = _xml_12(int(time.time() * 1000) % 10**9)
    with sign_proxy.client() as client:
        got = client.post("/capture", content=body,
                          headers={"Content-Type": "text/xml; charset=utf-8"})
    assert got.status_code == 202, got.text
    expected = [format_event_id(h) for h in event_hashes(parse_xml_document(body))]
    assert got.json()["eventIDs"] == expected
    assert got.json()["signer"] == sign_proxy.member.address


def test_post_events_through_the_proxy(sign_proxy) -> None:
    event = document(1)["epcisBody"]["eventList"][0]
    body = orjson.dumps(event)
    (expected,) = event_hashes(parse_document(event_document(body, max_depth=64,
                                                             max_values=1000)))
    with sign_proxy.client() as client:
        got = client.post("/events", content=body, headers={"Content-Type": "application/json"})
        assert got.status_code == 201, got.text
        location = "/events/" + urllib.parse.quote(format_event_id(expected), safe="")
        assert got.headers["location"] == location
        assert got.headers["link"].startswith("</capture/")
        assert got.json()["eventID"] == format_event_id(expected)
        again = client.get(location)  # the relative Location, resolved against the proxy
    assert again.status_code == 200, again.text


def test_the_gateways_refusal_passes_back_unchanged(sign_proxy, gateway_stack) -> None:
    """A capture the gateway refuses (an eventID that is not the event's hash): the proxy
    signed it, the gateway said no, and the client hears the gateway's answer as it was."""
    doc = document(1)
    doc["epcisBody"]["eventList"][0]["eventID"] = "ni:///sha-256;" + "00" * 32 + "?ver=CBV2.0"
    with sign_proxy.client() as client:
        got = client.post("/capture", json=doc)
    assert got.status_code == 400, got.text
    problem = got.json()
    assert "refusedBy" not in problem
    assert problem["type"] == "urn:zhenzhi:problem:event-id-mismatch"
    assert got.headers["content-type"].startswith("application/problem+json")


def test_reads_are_signed_and_paging_stays_behind_the_proxy(sign_proxy, gateway_stack) -> None:
    with sign_proxy.client() as client:
        for _ in range(2):
            assert client.post("/capture", json=document(1)).status_code == 202
        jobs = client.get("/capture", params={"perPage": 1})
        assert jobs.status_code == 200, jobs.text
        link = jobs.headers["link"]
        assert link.startswith(f"<{sign_proxy.url}/capture?"), link
        nxt = client.get(link[1:link.index(">")])
        assert nxt.status_code == 200, nxt.text
        assert [j["org"] for j in jobs.json() + nxt.json()] == \
            ["0x" + sign_proxy.member.org.hex()] * 2
        assert client.get("/eventTypes").status_code == 200
        assert client.options("/events").status_code == 204
    # The same read straight to the gateway, unsigned: a member read needs the signature.
    assert httpx.get(gateway_stack.url + "/capture", timeout=30).status_code == 401


def test_a_websocket_subscription_through_the_proxy(sign_proxy, gateway_stack) -> None:
    """A plain WebSocket client (the `websockets` library, no Zhenzhi code, no key) subscribes
    through the proxy: the proxy signs the handshake, the 101 carries the gateway's
    GS1-EPC-Format, and an event captured through the proxy arrives as the gateway sent it."""
    from websockets.sync.client import connect

    marker = f"https://id.gs1.org/414/95060009{time.time_ns() % 10**5:05d}"
    name = f"proxy-socket-{time.time_ns()}"
    urn = f"urn:epc:id:sgtin:0614141.107346.px{time.time_ns() % 10**12}"
    with sign_proxy.client() as client:
        made = client.post("/queries", json={"name": name, "query": {"EQ_readPoint": [marker]}})
        assert made.status_code == 201, made.text
        url = sign_proxy.url.replace("http://", "ws://") + f"/queries/{name}/events?stream=true"
        with connect(url, additional_headers={"GS1-EPC-Format": "Always_GS1_Digital_Link"},
                     open_timeout=20) as socket:
            assert socket.response.headers["GS1-EPC-Format"] == "Always_GS1_Digital_Link"
            time.sleep(0.3)  # the gateway's subscription starts from the newest event
            doc = document(1)
            event = doc["epcisBody"]["eventList"][0]
            event["readPoint"] = {"id": marker}
            event["epcList"] = [urn]
            assert client.post("/capture", json=doc).status_code == 202
            message = orjson.loads(socket.recv(timeout=20))
    [got] = message["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert got["eventID"] == event_ids(doc)[0]
    assert got["epcList"] == ["https://id.gs1.org/01/10614141073464/21/" + urn.rsplit(".", 1)[1]]
    # The proxy signed the handshake: the same one straight to the gateway, unsigned, is 401.
    from websockets.exceptions import InvalidStatus

    direct = gateway_stack.url.replace("http://", "ws://") + f"/queries/{name}/events?stream=true"
    with pytest.raises(InvalidStatus) as unsigned:
        connect(direct, open_timeout=20)
    assert unsigned.value.response.status_code == 401


@pytest.mark.parametrize(("path", "status", "by_proxy"), [
    ("/queries/no-such-query-here/events?stream=true", 404, False),  # the gateway's 404
    ("/queries/{name}/events?stream=true&minute=61", 400, False),  # the gateway's 400
    ("/members?stream=true", 404, True),  # not the binding's: refused before signing
    ("/queries/{name}/events/../../members", 404, True),
    ("/events", 404, True),  # the binding's, but no WebSocket operation
])
def test_a_refused_websocket_handshake_through_the_proxy(sign_proxy, path, status,
                                                          by_proxy) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    name = f"proxy-refused-{time.time_ns()}"
    with sign_proxy.client() as client:
        assert client.post("/queries", json={"name": name, "query": {}}).status_code == 201
    url = sign_proxy.url.replace("http://", "ws://") + path.format(name=name)
    with pytest.raises(InvalidStatus) as refused:
        connect(url, open_timeout=20)
    answer = refused.value.response
    assert answer.status_code == status, answer.body
    problem = orjson.loads(answer.body)
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert (problem.get("refusedBy") == "zhenzhi-sign-proxy") is by_proxy, problem
