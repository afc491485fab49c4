"""Attack class: input that parses but cannot be represented later (issue 16, item 10a).

`json.loads` accepts a lone surrogate escape (`"\\ud800"`), which no UTF-8 encoder (orjson, the
database driver) takes afterwards; an event time of 0001-01-01 at +14:00 is a valid RFC 3339
date-time whose UTC instant is before year 1, which Python's datetime cannot hold. Captures of
either gave 500; a complaint with a lone surrogate was stored, for its readers to fail on.
Now the lone surrogate is refused on the raw body (`ledger.epcis.json_text`) and the time by the
event hash that normalises it (`UnrepresentableTimeError`): 400 problems, nothing stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.attacks.stack import served
from tests.integration.gateway_env import GatewayStack, document

pytestmark = pytest.mark.chain

CODE = "https://id.zhenzhi.example/01/09506000134352/10/L1/21/SURROGATE1"


@pytest.fixture(scope="module")
def stack(w3: Any, anvil: Any, deployment: Any, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[GatewayStack]:
    with served(w3, anvil, deployment, tmp_path_factory.mktemp("unrepresentable")) as s:
        yield s


def _signed_body(stack: GatewayStack, doc: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    sig = stack.sign(doc, stack.enterprise)
    return json.dumps(doc).encode(), stack.headers(sig)


def test_attack_lone_surrogate_in_a_signed_capture_is_a_400_not_a_500(
        stack: GatewayStack) -> None:
    doc = document(1)
    # Signed over the hash of the text as the attacker's JSON library reads it.
    doc["epcisBody"]["eventList"][0]["bizTransactionList"] = [
        {"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:0614141073467:\ud800"}]
    with stack.client() as client:
        try:
            body, headers = _signed_body(stack, doc)
        except UnicodeEncodeError:
            # Our own hash refuses to encode it: send the escape unsigned-for-this-body with
            # the signature of a clean twin (the check must come before the signature).
            twin = document(1)
            body, headers = _signed_body(stack, twin)
            body = body.replace(b'"OBSERVE"', b'"OBSERVE", "ext:x": "\\ud800"').replace(
                b'"ADD"', b'"ADD", "ext:x": "\\ud800"')
        assert b"\\ud800" in body
        r = client.post("/capture", content=body, headers=headers)
        assert r.status_code == 400, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"] == "urn:zhenzhi:problem:json-lone-surrogate"


def test_attack_lone_surrogate_in_a_complaint_is_a_400_not_a_500(stack: GatewayStack) -> None:
    with stack.client() as client:
        r = client.post("/complaints", content=(
            b'{"code": "' + CODE.encode() + b'", "message": "bad \\ud800 item"}'),
            headers={"Content-Type": "application/json"})
        assert r.status_code == 400, r.text
        assert r.json()["type"] == "urn:zhenzhi:problem:json-lone-surrogate"
        # The same complaint, properly encoded, is taken.
        r = client.post("/complaints", json={"code": CODE, "message": "bad \U0001f600 item"})
        assert r.status_code == 201, r.text


@pytest.mark.parametrize(("when", "zone"), [
    ("0001-01-01T00:00:00.000+14:00", "+14:00"),
    ("9999-12-31T23:59:59.999-12:00", "-12:00"),
])
def test_attack_event_time_outside_utc_years_1_to_9999_is_a_400_not_a_500(
        stack: GatewayStack, when: str, zone: str) -> None:
    doc = document(1, eventTime=when, eventTimeZoneOffset=zone)
    body = json.dumps(doc).encode()
    # Well-formed headers: the event must be refused as input whatever signs it.
    twin_body, headers = _signed_body(stack, document(1))
    assert twin_body != body
    with stack.client() as client:
        r = client.post("/capture", content=body, headers=headers)
        assert r.status_code == 400, r.text
        assert r.json()["type"] == "urn:zhenzhi:problem:unrepresentable-time"
        assert r.json()["value"] == when
