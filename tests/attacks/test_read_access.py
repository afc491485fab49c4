"""Attack class: reading what only members may read.

A capture job names the capturing organisation, its signer, its nonce, every event id of the
capture, the events `proceed` left out and why. It answered anyone who had (or guessed, or
saw in a log) the capture id. It is now a member read, signed like the event routes
(`MemberSignature`): what it discloses, a member may already read through `/events`.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from ledger.proofs.request_signing import sign_request
from tests.integration.gateway_env import GatewayStack, document

pytestmark = [pytest.mark.chain]


def _signed_get(stack: GatewayStack, client: httpx.Client, path: str) -> httpx.Response:
    wire = httpx.URL(path).raw_path.decode("ascii")
    member = stack.customs  # any member: not the organisation that captured
    headers = sign_request(member.key, "GET", wire, b"", org="0x" + member.org.hex()).headers()
    return client.get(path, headers=headers)


def test_attack_outsider_cannot_read_a_members_capture_job(gateway_stack: GatewayStack) -> None:
    stack = gateway_stack
    doc = document(2)
    with stack.client() as client:
        posted = client.post("/capture", content=json.dumps(doc).encode(),
                             headers=stack.headers(stack.sign(doc, stack.enterprise)))
        assert posted.status_code == 202, posted.text
        location = posted.headers["location"]
        for path in (location, location + "?anchors=true", "/capture/" + "ab" * 32):
            outsider = client.get(path)
            assert outsider.status_code == 401, (path, outsider.text)
            body: Any = outsider.json()
            assert body["type"] == "urn:zhenzhi:problem:member-access-required"
            assert "eventIDs" not in body and "signer" not in body
        member = _signed_get(stack, client, location + "?anchors=true")
        assert member.status_code == 200, member.text
        assert member.json()["eventIDs"] == posted.json()["eventIDs"]


@pytest.mark.parametrize("query", [
    "maxEventCount=0&EQ_action=ADD",  # a 413 would tell the public that events match
    "EQ_ILMD_cbvmda:lotNumber=L1&maxEventCount=0",
    "EQ_bizTransaction_po=urn:epc:id:gdti:0614141.00001.7&eventCountLimit=1",
    "orderBy=nonsense",  # a 400 would tell which parameters this gateway reads
    "GE_recordTime=not-a-time",
])
def test_attack_anonymous_queries_learn_nothing_from_the_query_parameters(
        gateway_stack: GatewayStack, query: str) -> None:
    """The query language's counts and refusals are member answers: without a member
    signature every query, however it would be answered, is the same 401."""
    stack = gateway_stack
    doc = document(2)
    with stack.client() as client:
        assert client.post("/capture", content=json.dumps(doc).encode(),
                           headers=stack.headers(stack.sign(doc, stack.enterprise))
                           ).status_code == 202
        for path in ("/events?" + query, "/queries/nightly/events?" + query):
            outsider = client.get(path)
            assert outsider.status_code == 401, (path, outsider.text)
            assert outsider.json()["type"] == "urn:zhenzhi:problem:member-access-required"
