"""Selective disclosure: commitments, what a disclosure proves, and what it cannot hide."""

from __future__ import annotations

import hashlib

import orjson
import pytest

from ledger.proofs.disclosure import (
    Disclosed,
    DisclosureError,
    check_full,
    commit_document,
    commit_event,
    new_seed,
    read_disclosed,
    salts,
)

EVENT = {
    "type": "ObjectEvent", "eventTime": "2026-03-01T08:00:00.000+08:00",
    "eventTimeZoneOffset": "+08:00", "action": "OBSERVE", "bizStep": "shipping",
    "epcList": ["https://id.gs1.org/00/106141412345678908"],
    "bizTransactionList": [{"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:0614141000005:PO-4711"}],
    "ilmd": {"cbvmda:lotNumber": "L1", "example:note": "internal"},
    "recordTime": "2026-03-01T00:00:01Z",
}
EID = hashlib.sha256(b"the event").digest()


def test_salts_are_128_bit_per_item_and_differ_by_event_and_seed():
    seed = new_seed()
    a, b = salts(seed, 0, 3), salts(seed, 1, 3)
    assert all(len(s) == 32 for s in a) and len(set(a + b)) == 6
    assert salts(new_seed(), 0, 3) != a


def test_one_item_per_field_element_and_ilmd_key_and_no_record_time():
    c = commit_event(EVENT, EID, new_seed(), 0)
    names = c.names()
    assert names[0] == "eventID"
    assert names.count("ilmd") == 2 and "recordTime" not in names
    assert len(c.texts) == 1 + 1 + 1 + 1 + 1 + 1 + 1 + 2 + 1  # id, action, bizStep, bizTx, epc, time, tz, ilmd×2, type


def test_chosen_disclosures_lead_to_the_commitment_and_rebuild_only_those_fields():
    c = commit_event(EVENT, EID, new_seed(), 0)
    chosen = c.disclose(lambda name, value: name in ("bizStep", "epcList"))
    root, partial = read_disclosed(chosen)
    assert root == c.commitment
    assert partial == {"bizStep": "shipping", "epcList": EVENT["epcList"]}


@pytest.mark.parametrize("mutate", [
    lambda t: t.replace("shipping", "receiving"),
    lambda t: t.replace("106141412345678908", "106141412345678915"),
    lambda t: t[:-1] + " ]",  # same JSON value, other bytes: other leaf
])
def test_an_altered_disclosure_no_longer_leads_to_the_commitment(mutate):
    c = commit_event(EVENT, EID, new_seed(), 0)
    chosen = c.disclose(lambda name, value: name in ("bizStep", "epcList", "eventTime"))
    root, _ = read_disclosed(chosen)
    bad = [Disclosed(mutate(d.text), d.proof) if i == 0 or "shipping" in d.text else d
           for i, d in enumerate(chosen)]
    with pytest.raises(DisclosureError):
        got, _ = read_disclosed(bad)
        assert got == root  # a single altered disclosure could only ever give another root
        raise DisclosureError("another root")


def test_a_field_disclosed_twice_is_refused():
    c = commit_event(EVENT, EID, new_seed(), 0)
    (step,) = c.disclose(lambda name, value: name == "bizStep")
    with pytest.raises(DisclosureError, match="twice"):
        read_disclosed([step, step])


def test_full_event_round_trip_and_an_event_that_contradicts_its_disclosures():
    seed = new_seed()
    (c,) = commit_document([EVENT], [EID], seed)
    assert check_full({**EVENT, "eventID": "x"}, EID, c.texts) == c.commitment
    with pytest.raises(DisclosureError, match="do not say"):
        check_full({**EVENT, "bizStep": "receiving"}, EID, c.texts)
    with pytest.raises(DisclosureError, match="event id"):
        check_full(EVENT, hashlib.sha256(b"other").digest(), c.texts)


def test_a_hidden_field_cannot_be_confirmed_by_guessing_it():
    """What the public sees (chosen texts, their paths, the commitment) gives no way to test a
    guess of a hidden value: every leaf is salted with 128 bits the public never sees."""
    seed = new_seed()
    c = commit_event(EVENT, EID, seed, 0)
    chosen = c.disclose(lambda name, value: name in ("bizStep",))
    seen = orjson.dumps([[d.text, [p.hex() for p in d.proof]] for d in chosen]).decode()
    assert "PO-4711" not in seen and EID.hex() not in seen
    # The right guess of the PO, hashed without its salt, matches no node the public holds.
    from ledger.proofs.disclosure import disclosure_leaf
    guess = orjson.dumps(["0" * 32, "bizTransactionList", EVENT["bizTransactionList"][0]],
                         option=orjson.OPT_SORT_KEYS)
    assert disclosure_leaf(guess).hex() not in seen
