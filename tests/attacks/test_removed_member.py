"""Attack: an organisation removed from the consortium by governance keeps using its keys
(issue 16, item 4). Removal used to close the membership and role windows but leave every key
unrevoked, so the gateway's member-request check (`keyInfo` only) still let its signed requests
read `/events`. Membership ended means every key of it fails every check, on chain and in the
gateway: reads, captures and code registration. The removal goes through the real governance
path (a Consortium proposal, executed by the ADMIN quorum)."""

from __future__ import annotations

import pytest

from ledger.chain.client import ContractRevertError
from ledger.proofs.merkle import keccak256
from tests.attacks.speakers_env import Speakers, document, object_event

pytestmark = [pytest.mark.chain]


def test_attack_removed_member_keeps_reading_capturing_and_registering(
        speakers: Speakers) -> None:
    from eth_account import Account

    from ledger.chain.transactor import Transactor

    leaver = speakers.admit("leaver", ["ENTERPRISE"], prefix=True)
    gtin = leaver.gtin("7")
    epc = f"https://id.gs1.org/01/{gtin}/21/r-1"
    first = speakers.capture(document(object_event([epc], "commissioning")), leaver)
    assert first.status_code == 202, first.text
    assert speakers.member_get(leaver, "/events?perPage=1").status_code == 200

    # Governance removes it: propose, then execute with the quorum (the operator).
    proposal = speakers.chain.propose_remove(speakers.admin(), leaver.org)
    speakers.chain.execute(speakers.admin(), proposal.event("ProposalCreated")["id"])
    assert speakers.chain.organisation(leaver.org).member is False

    # On chain: the key is revoked as of the removal, and no check accepts it.
    info = speakers.chain.key_info(leaver.address)
    assert info is not None and info.revoked
    assert speakers.chain.active_org_of_key(leaver.address) is None
    assert not speakers.chain.has_role("ENTERPRISE", leaver.address)
    with pytest.raises(ContractRevertError) as err:
        speakers.chain.register_lot(Transactor(speakers.w3, Account.from_key(leaver.key)),
                                    gtin, "L1", keccak256(b"codes"), 1)
    assert err.value.error == "AccessControlUnauthorizedAccount"

    # In the gateway: its signed reads are refused (once its view has passed the removal
    # block), and so are its captures.
    read = speakers.until_gateway_sees(leaver, reads=False)
    assert read.status_code == 401, read.text
    assert read.json()["type"] == "urn:zhenzhi:problem:invalid-request-signature"
    again = speakers.capture(document(object_event([epc], "storing")), leaver)
    assert again.status_code == 403, again.text
    # Refused from its headers already (the organisation holds no role now), or, past that,
    # for its revoked key: either way before anything is stored.
    assert again.json()["type"] in ("urn:zhenzhi:problem:unknown-organisation",
                                    "urn:zhenzhi:problem:revoked-signing-key"), again.text

