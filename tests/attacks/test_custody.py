"""Attack: a rival member speaks about items that are not its own (issue 16, item 2).

Any ENTERPRISE member could sign events about another brand's EPCs: a `storing` event at its
own site made a genuine can UNVERIFIED, one with `signedAt` ten years ahead was stored,
anchored and made it COUNTERFEIT, a `retail_selling` event marked an unsold can sold. The rule
(gateway/README.md, "Who may speak about an item"; `ledger.epcis.entitlement`): an event about
an identifier is accepted only from the owner of its company prefix, a receiver that an
entitled event about it (or a container it was packed into) names, or an authority for its own
steps. The gateway refuses the rest at capture; the verifier applies the same rule to a bundle,
so events a lying gateway stored anyway are left out of the item's story and never judged.

The honest journey is the demo consortium's (`ledger.demo.scenario.Scenario`, real chain, real
store, the gateway's `Intake`); the HTTP tests use a live gateway (`speakers_env`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ledger.demo.journey import EPCIS_CONTEXT, Organisation
from ledger.demo.scenario import Party, Scenario
from ledger.pipeline.intake import NotEntitledError, SignedAtOutOfWindowError
from tests.attacks.speakers_env import Speakers, document, object_event
from tests.scenarios import played_journey
from verifier.verdict import CheckName, Outcome, VerdictKind
from verifier.verify import verify

pytestmark = [pytest.mark.chain]
PROBLEM = "urn:zhenzhi:problem:"


@pytest.fixture(scope="module")
def scenario(w3: Any, deployment: Any, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Scenario]:
    with played_journey(w3, deployment, tmp_path_factory.mktemp("custody") / "store.db",
                        seed=16, day=163) as sc:
        yield sc


@pytest.fixture(scope="module")
def rival(scenario: Scenario) -> Party:
    """Another dairy, an ENTERPRISE member with a prefix and a site of its own."""
    prefix = "97" + "".join(random.choice("0123456789") for _ in range(7))  # noqa: S311
    org = Organisation("rival", "Rival Dairy Trading Co", "ENTERPRISE", "CN", prefix, "70")
    return scenario.enrol_one(org, ["ENTERPRISE"])


def _doc(*events: dict[str, Any]) -> dict[str, Any]:
    return {"@context": [EPCIS_CONTEXT], "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": max(e["eventTime"] for e in events),
            "epcisBody": {"eventList": list(events)}}


def _rival_event(rival: Party, epc: str, step: str, disposition: str) -> dict[str, Any]:
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    return {"type": "ObjectEvent", "eventTime": now, "eventTimeZoneOffset": "+08:00",
            "epcList": [epc], "action": "OBSERVE", "bizStep": step, "disposition": disposition,
            "readPoint": {"id": rival.org.read_point("dock")},
            "bizLocation": {"id": rival.org.site}}


def _with_forged(sc: Scenario, rival: Party, epc: str, event: dict[str, Any], *,
                 signed_at: int | None = None) -> tuple[Any, Any]:
    """What a lying gateway does: store the rival's signed event anyway, anchor it, and serve
    it in the item's bundle. Returns (verdict without it, verdict with it)."""
    honest = sc.item_events(epc)
    forged = sc.capture_unchecked(rival, _doc(event), signed_at=signed_at)
    sc.anchor_pending()
    served = honest + [sc.store.get_event(forged.event_ids[0])]
    return (verify(epc, sc.bundle(epc), sc.view),
            verify(epc, sc.bundle(epc, events=served), sc.view))


def _left_out(verdict: Any, rival: Party) -> None:
    """The rival's event is left out as unproven (MISSING: UNVERIFIED), never judged as a
    forgery of the brand's goods, and nothing else fails."""
    assert verdict.kind is VerdictKind.UNVERIFIED, verdict.to_json()
    assert verdict.deciding.name is CheckName.SIGNER_ENTITLED
    (entitled,) = verdict.by_name(CheckName.SIGNER_ENTITLED)
    assert entitled.outcome is Outcome.MISSING
    assert entitled.details["org"] == "0x" + rival.org_id.hex()
    assert {c.name for c in verdict.failing()} == {CheckName.SIGNER_ENTITLED}


def test_attack_rival_storing_event_cannot_unverify_a_competitors_item(
        scenario: Scenario, rival: Party) -> None:
    epc = scenario.sold_cans()[0]
    event = _rival_event(rival, epc, "storing", "sellable_accessible")
    _, _, sig = scenario.sign(rival, _doc(event))
    with pytest.raises(NotEntitledError) as refused:
        scenario.intake.accept(_doc(event), sig, seed=scenario.seed_of(sig))  # the gateway refuses it at capture
    assert refused.value.fields["identifiers"] == [epc]
    assert refused.value.fields["org"] == "0x" + rival.org_id.hex()
    honest, served = _with_forged(scenario, rival, epc, event)
    assert honest.kind is VerdictKind.GENUINE, honest.to_json()
    _left_out(served, rival)


def test_attack_rival_future_dated_event_cannot_make_a_competitors_item_counterfeit(
        scenario: Scenario, rival: Party) -> None:
    epc = scenario.sold_cans()[1]
    event = _rival_event(rival, epc, "storing", "sellable_accessible")
    ahead = int(time.time()) + 10 * 365 * 86400
    _, _, sig = scenario.sign(rival, _doc(event), signed_at=ahead)
    with pytest.raises(SignedAtOutOfWindowError):
        scenario.intake.accept(_doc(event), sig, seed=scenario.seed_of(sig))
    honest, served = _with_forged(scenario, rival, epc, event, signed_at=ahead)
    assert honest.kind is VerdictKind.GENUINE
    assert served.kind is not VerdictKind.COUNTERFEIT
    _left_out(served, rival)
    assert not served.by_name(CheckName.SIGNER_KEY) or all(
        c.outcome is Outcome.PASS for c in served.by_name(CheckName.SIGNER_KEY))


def test_attack_rival_retail_selling_cannot_mark_an_unsold_item_sold(
        scenario: Scenario, rival: Party) -> None:
    lot = next(lot for lot in scenario.journey.lots if lot.product == "stage1")
    epc = next(e for e in lot.items if e not in scenario.journey.sold)
    event = _rival_event(rival, epc, "retail_selling", "retail_sold")
    _, _, sig = scenario.sign(rival, _doc(event))
    with pytest.raises(NotEntitledError):
        scenario.intake.accept(_doc(event), sig, seed=scenario.seed_of(sig))
    honest, served = _with_forged(scenario, rival, epc, event)
    # Unsold, with or without the rival's "sale": the scan rules judge it as an unsold code.
    assert honest.by_name(CheckName.SCAN_HISTORY)[0].details["sold"] is False
    assert served.by_name(CheckName.SCAN_HISTORY)[0].details["sold"] is False
    _left_out(served, rival)


def test_receivers_named_by_the_brand_speak_about_its_goods_in_the_honest_journey(
        scenario: Scenario) -> None:
    # The exporter, carrier, bonded warehouse and platform own none of the can's prefixes:
    # each speaks because an entitled event named it (the platform through the can's case and
    # pallet); customs as an authority.
    epc = scenario.sold_cans()[2]
    verdict = verify(epc, scenario.bundle(epc), scenario.view)
    assert verdict.kind is VerdictKind.GENUINE, verdict.to_json()
    (entitled,) = verdict.by_name(CheckName.SIGNER_ENTITLED)
    assert entitled.outcome is Outcome.PASS
    speakers_ = {scenario.bundle(epc).captures[e.capture].signature.org
                 for e in scenario.bundle(epc).events}
    assert speakers_ == {p.org_id for p in scenario.parties.values() if p.org.key != "rival"}


# --- over HTTP, with a brand, a receiver it names, a rival and customs --------------------------

def test_attack_rival_capture_about_a_brands_item_is_refused_over_http(
        speakers: Speakers) -> None:
    brand = speakers.admit("c-brand", ["ENTERPRISE"], prefix=True)
    receiver = speakers.admit("c-receiver", ["ENTERPRISE"], prefix=True)
    rival = speakers.admit("c-rival", ["ENTERPRISE"], prefix=True)
    customs = speakers.admit("c-customs", ["CUSTOMS"])
    gtin = brand.gtin("5")
    cans = [f"https://id.gs1.org/01/{gtin}/21/h-{i}" for i in range(3)]
    case_body = "0" + brand.prefix + "1".rjust(16 - len(brand.prefix), "0")
    from ledger.proofs.codes import check_digit

    case = f"https://id.gs1.org/00/{case_body}{check_digit(case_body)}"

    def ok(response: Any) -> None:
        assert response.status_code == 202, response.text

    def refused(response: Any, identifier: str) -> None:
        assert response.status_code == 403, response.text
        problem = response.json()
        assert problem["type"] == PROBLEM + "not-entitled"
        assert identifier in problem["identifiers"]

    ok(speakers.capture(document(object_event(cans, "commissioning",
                                              location=brand.site())), brand))
    # Before anyone names it, the receiver may not speak about the cans either.
    refused(speakers.capture(document(object_event(cans[:1], "receiving",
                                                   location=receiver.site())), receiver), cans[0])
    packing = {"type": "AggregationEvent", "eventTime": "2026-01-01T09:00:00.000Z",
               "eventTimeZoneOffset": "+00:00", "parentID": case, "childEPCs": cans,
               "action": "ADD", "bizStep": "packing", "disposition": "in_progress"}
    shipping = object_event([case], "shipping", location=brand.site(),
                            when="2026-01-01T10:00:00.000Z",
                            destinationList=[{"type": "owning_party",
                                              "destination": receiver.pgln},
                                             {"type": "location",
                                              "destination": receiver.site()}])
    ok(speakers.capture(document(packing, shipping), brand))
    # Named as the case's receiver: it speaks about the case and, through it, the cans in it.
    ok(speakers.capture(document(object_event([case], "receiving", location=receiver.site(),
                                              when="2026-01-02T10:00:00.000Z")), receiver))
    ok(speakers.capture(document(object_event(cans[:1], "retail_selling",
                                              location=receiver.site(),
                                              when="2026-01-03T10:00:00.000Z")), receiver))
    # The rival is named by no one: not about the cans, not about the case.
    refused(speakers.capture(document(object_event(cans[1:2], "storing",
                                                   location=rival.site())), rival), cans[1])
    refused(speakers.capture(document(object_event([case], "retail_selling",
                                                   location=rival.site())), rival), case)
    # Nor can it name itself a receiver: the shipping that would do so is itself refused.
    self_named = object_event(cans[2:], "shipping", location=rival.site(),
                              destinationList=[{"type": "owning_party",
                                                "destination": rival.pgln}])
    refused(speakers.capture(document(self_named), rival), cans[2])
    # Customs inspects any goods (its own steps only), but naming a destination there hands
    # nothing over: the rival stays refused.
    ok(speakers.capture(document(object_event(
        cans[1:2], "inspecting", location=receiver.site(),
        destinationList=[{"type": "owning_party", "destination": rival.pgln}])), customs))
    refused(speakers.capture(document(object_event(cans[1:2], "storing",
                                                   location=rival.site(),
                                                   when="2026-01-04T10:00:00.000Z")), rival),
            cans[1])
