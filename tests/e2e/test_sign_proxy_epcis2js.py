"""An enterprise's unmodified EPCIS client captures and queries through `zhenzhi sign-proxy`.

The client is epcis2.js from npm (tests/epcis2-client, installed by scripts/bootstrap), run by
Node: it builds an ObjectEvent and an AggregationEvent, captures them with its own `capture()`,
polls the job with its own `CaptureResponse`, then reads the events back page by page and by
id. No Zhenzhi code on the client side, no key: the proxy, started as an enterprise would
start it (the CLI, an encrypted key file, the passphrase from the environment), signs.
Checked on the gateway itself: the events are stored under the proxy key's signature, with the
ids the gateway computed, and read back equal to what the client sent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.epcis.document import parse_document
from ledger.epcis.event_hash import event_hashes, format_event_id
from ledger.paths import REPO_ROOT
from ledger.proofs.keystore import load_key
from ledger.proofs.request_signing import sign_request
from tests.conftest import free_port
from tests.integration.sign_proxy_env import ProxyMember

pytestmark = [pytest.mark.chain, pytest.mark.slow]

CLIENT = REPO_ROOT / "tests" / "epcis2-client"
GTIN = "09506000999914"  # under the sign-proxy enterprise's GLN prefix, unique to this module
READ_POINT = "https://id.gs1.org/414/9506000999913"


def _node() -> str:
    node = shutil.which("node")
    assert node, "node is needed (scripts/bootstrap checks for it)"
    assert (CLIENT / "node_modules" / "epcis2.js").is_dir(), \
        "epcis2.js is not installed: run scripts/test, or `source scripts/bootstrap; setup_epcis2_client`"
    return node


ALLOWED_HOST = "epcis-proxy.acme.test"


@pytest.fixture
def proxy_cli(gateway_stack: Any, sign_proxy_member: ProxyMember) -> Iterator[str]:
    """`zhenzhi sign-proxy` as a process, as an enterprise runs it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "ZHENZHI_KEY_PASSPHRASE": sign_proxy_member.passphrase}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "sign-proxy", "--key",
         str(sign_proxy_member.key_file), "--gateway", gateway_stack.url, "--port", str(port),
         "--allow-host", ALLOWED_HOST],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"sign-proxy exited: {proc.communicate()[1]}"
            try:
                httpx.get(url + "/", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "sign-proxy did not start"
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def _gateway_read(gateway_stack: Any, member: ProxyMember, path: str) -> httpx.Response:
    """A member read straight from the gateway, signed here (not through the proxy)."""
    account = load_key(member.key_file, member.passphrase)
    raw = httpx.URL(gateway_stack.url + path).raw_path.decode("ascii")
    auth = sign_request(bytes(account.key), "GET", raw, b"", org="0x" + member.org.hex())
    return httpx.get(gateway_stack.url + path, headers=auth.headers(), timeout=30)


def _strip(event: dict[str, Any]) -> dict[str, Any]:
    """An event as the client sent it: the repository's additions (recordTime, its id and
    Zhenzhi's extension fields) left out."""
    return {k: v for k, v in event.items()
            if k not in ("recordTime", "eventID", "@context") and not k.startswith("zhenzhi:")}


def test_epcis2js_captures_and_queries_through_the_sign_proxy(
        proxy_cli: str, gateway_stack: Any, sign_proxy_member: ProxyMember,
        tmp_path: Path) -> None:
    serial = int(time.time() * 1000)
    args = {"apiUrl": proxy_cli, "gtin": GTIN, "serial": serial,
            "sscc": f"39506000999{serial % 10**6:06d}0",
            "eventTime": "2026-03-01T08:00:00.000+08:00",
            "packTime": "2026-03-01T09:00:00.000+08:00",
            "readPoint": READ_POINT,
            "bizLocation": "https://id.gs1.org/414/9506000999906"}
    run = subprocess.run([_node(), "capture_and_query.js", json.dumps(args)], cwd=CLIENT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    (tmp_path / "epcis2js.json").write_text(json.dumps(out, indent=2))

    # The capture: accepted, the job read back by epcis2.js's own CaptureResponse.
    assert out["capture"]["status"] == 202, out["capture"]
    job = out["capture"]["body"]
    assert out["capture"]["location"] == f"/capture/{job['captureID']}"
    assert out["job"] == {"running": False, "success": True, "errors": [],
                          "location": f"/capture/{job['captureID']}"}

    # The ids are the gateway's, computed over what the client sent.
    sent = out["sent"]
    expected = [format_event_id(h) for h in event_hashes(parse_document(json.dumps(sent)))]
    assert job["eventIDs"] == expected
    assert [e["type"] for e in sent["epcisBody"]["eventList"]] == ["ObjectEvent",
                                                                   "AggregationEvent"]

    # On the gateway, read directly: stored under the proxy key's signature for its org.
    stored_job = _gateway_read(gateway_stack, sign_proxy_member, f"/capture/{job['captureID']}")
    assert stored_job.status_code == 200, stored_job.text
    assert stored_job.json()["signer"] == sign_proxy_member.address
    assert stored_job.json()["org"] == "0x" + sign_proxy_member.org.hex()
    assert stored_job.json()["eventIDs"] == expected

    # Read back through the proxy: one per page, the second page reached by following the
    # gateway's Link, rewritten to the proxy.
    pages = out["pages"]
    assert [p["status"] for p in pages] == [200] * len(pages)
    assert pages[0]["link"] and pages[0]["link"].startswith(f"<{proxy_cli}/events?")
    listed = [e for p in pages for e in p["body"]["epcisBody"]["queryResults"]["resultsBody"][
        "eventList"]]
    ours = {e["eventID"]: e for e in listed if e["eventID"] in expected}
    assert sorted(ours) == sorted(expected)
    for event_id, sent_event in zip(expected, sent["epcisBody"]["eventList"], strict=True):
        assert _strip(ours[event_id]) == _strip(sent_event)

    # And by id (the binding answers an EPCISQueryDocument holding the one event).
    assert [r["status"] for r in out["byId"]] == [200, 200]
    by_id = [r["body"]["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
             for r in out["byId"]]
    assert [[e["eventID"] for e in events] for events in by_id] == [[i] for i in expected]
    for (got,), sent_event in zip(by_id, sent["epcisBody"]["eventList"], strict=True):
        assert _strip(got) == _strip(sent_event)

    # epcis2.js's own CBV 2.0 event-hash implementation names the same ids: two independent
    # implementations agree on what was stored.
    assert out["clientEventIDs"] == expected


def test_the_cli_answers_only_the_host_names_it_is_given(proxy_cli: str) -> None:
    """`--allow-host` adds a name to the addresses and localhost; any other name is a page's
    rebound one (DNS rebinding), refused before signing."""
    port = proxy_cli.rsplit(":", 1)[1]
    for host, status in ((f"{ALLOWED_HOST}:{port}", 200), (f"localhost:{port}", 200),
                         (f"evil.example:{port}", 421)):
        got = httpx.get(proxy_cli + "/", headers={"Host": host}, timeout=30)
        assert got.status_code == status, (host, got.text)
