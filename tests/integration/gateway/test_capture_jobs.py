"""`GET /capture`: the list of capture jobs, paged like the other lists, each job the standard's
CaptureJob. Members only, and a member lists only its own organisation's jobs."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import jsonschema
import pytest

from ledger.epcis.event_hash import event_hashes, format_event_id
from tests.integration.gateway.epcis_spec import spec_root
from tests.integration.gateway.test_query import _get
from tests.integration.gateway_env import GatewayStack, Member, document

pytestmark = [pytest.mark.chain]


def _validate_job(job: dict[str, Any]) -> None:
    """Valid against the standard's CaptureJob properties. Its `oneOf` of `errors` or
    `errorFile` is left out: both branches list properties only, so every object matches both
    and the `oneOf` refuses everything, the standard's own example included."""
    root = spec_root()
    properties = root["components"]["schemas"]["CaptureJob"]["allOf"][0]
    jsonschema.Draft7Validator({**root, **properties}).validate(job)
    assert isinstance(job["errors"], list)


def _capture(client: httpx.Client, stack: GatewayStack, member: Member, n: int = 1) -> str:
    doc = document(n)
    sig = stack.sign(doc, member)
    response = client.post("/capture", content=json.dumps(doc).encode(),
                           headers=stack.headers(sig))
    assert response.status_code == 202, response.text
    assert response.json()["eventIDs"] == [format_event_id(h) for h in event_hashes(doc)]
    return response.headers["Location"].rsplit("/", 1)[1]


def _all_jobs(client: httpx.Client, member: Member, per_page: int) -> tuple[list[Any], int]:
    jobs: list[Any] = []
    pages = 0
    url: str | None = f"/capture?perPage={per_page}"
    while url:
        response = _get(client, member, url)
        assert response.status_code == 200, response.text
        jobs += response.json()
        pages += 1
        link = response.headers.get("link")
        url = re.fullmatch(r'<([^>]+)>; rel="next"', link).group(1) if link else None
    return jobs, pages


def test_a_member_lists_its_capture_jobs_newest_first_by_link(
        gateway_stack: GatewayStack) -> None:
    with gateway_stack.client() as client:
        before, _ = _all_jobs(client, gateway_stack.enterprise, 1000)
        made = [_capture(client, gateway_stack, gateway_stack.enterprise) for _ in range(3)]
        jobs, pages = _all_jobs(client, gateway_stack.enterprise, 2)
    ids = [job["captureID"] for job in jobs]
    assert ids[:3] == made[::-1]
    assert ids[3:] == [job["captureID"] for job in before]
    assert pages == (len(jobs) + 1) // 2
    for job in jobs:
        _validate_job(job)
        assert job["org"] == "0x" + gateway_stack.enterprise.org.hex()
        assert job["running"] is False and job["finishedAt"]


def test_attack_another_members_capture_jobs_are_not_listed(
        gateway_stack: GatewayStack) -> None:
    """Customs captures too; neither sees the other's jobs in its list (a job names the
    signer, its nonce and every event id)."""
    with gateway_stack.client() as client:
        mine = _capture(client, gateway_stack, gateway_stack.enterprise)
        customs_doc = document(1, bizStep="inspecting")
        sig = gateway_stack.sign(customs_doc, gateway_stack.customs)
        response = client.post("/capture", content=json.dumps(customs_doc).encode(),
                               headers=gateway_stack.headers(sig))
        assert response.status_code == 202, response.text
        theirs = response.headers["Location"].rsplit("/", 1)[1]
        customs_jobs, _ = _all_jobs(client, gateway_stack.customs, 1000)
        enterprise_jobs, _ = _all_jobs(client, gateway_stack.enterprise, 1000)
    assert theirs in [j["captureID"] for j in customs_jobs]
    assert mine not in [j["captureID"] for j in customs_jobs]
    assert {j["org"] for j in customs_jobs} == {"0x" + gateway_stack.customs.org.hex()}
    assert theirs not in [j["captureID"] for j in enterprise_jobs]


def test_capture_jobs_are_for_members_and_bad_tokens_are_refused(
        gateway_stack: GatewayStack) -> None:
    with gateway_stack.client() as client:
        public = client.get("/capture")
        assert public.status_code == 401
        assert public.json()["type"] == "urn:zhenzhi:problem:member-access-required"
        bad = _get(client, gateway_stack.enterprise, "/capture?nextPageToken=djE6MTA")
        assert bad.status_code == 400
        assert bad.json()["type"] == "urn:zhenzhi:problem:invalid-page-token"
        options = client.options("/capture/" + "ab" * 32)
        assert options.status_code == 204
        assert options.headers["Allow"] == "OPTIONS, GET"
        assert client.options("/capture").headers["Allow"] == "OPTIONS, POST, GET"
