"""Who may speak about an item: the rule the gateway applies at capture and the verifier applies
again to a bundle (written once, for people, in gateway/README.md "Who may speak about an item").

An event names identifiers (its EPCs, parent, children, inputs, outputs and quantity classes).
An identifier whose GS1 company prefix an organisation owns on Consortium belongs to that
*owner*. The signer of an event is entitled to speak about such an identifier if it

  (a) is its owner;
  (b) signs a step only the authorities may sign (its bizStep needs CUSTOMS or REGULATOR:
      `ledger.chain.roles`): customs and regulators speak about any goods, for those steps;
  (c) is a *receiver* of it: an accepted event naming the identifier, or a container it was
      packed into (an AggregationEvent ADD naming it as a child, transitively), names the
      signer in its `destinationList` — a party (PGLN) that is the signer, or a party or
      location whose GLN is under a company prefix the signer owns. Events of (b) name no
      receivers: an authority speaks about goods, it does not hand them over.

An identifier with no owner on chain (no brand has registered its prefix) restricts nobody.
An event is entitled if its signer is entitled to speak about every identifier it names.
"Accepted" is where the two sides differ only in what they hold: the gateway counts the events
it stored (each passed this rule when it was captured), the verifier the events of the bundle
that are themselves entitled, found as a fixed point from the owner's own events.

Pure: the chain (`owner_of`) and the history (`custody`) are passed in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ledger.epcis.document import event_epcs
from ledger.epcis.event_hash import _gs1_key_uri

__all__ = ["AUTHORITY_ROLES", "containers_of", "not_entitled", "owner_key", "receiver_keys",
           "receivers", "subjects"]

AUTHORITY_ROLES = frozenset(("CUSTOMS", "REGULATOR"))
MAX_CONTAINER_DEPTH = 8  # a can in a case on a pallet in a container: a few levels at most

_KEY = re.compile(r"https://id\.gs1\.org/(01|00|414|417)/([0-9]{13,18})(?:/|$)")

OwnerOf = Callable[[str], "bytes | None"]  # 14-character key → owning organisation, or None


def owner_key(identifier: str) -> str | None:
    """The 14 characters whose 2nd.. begin with the identifier's GS1 company prefix, the form
    Consortium `gtinOwner` reads: the GTIN-14 of a GTIN-based key, the extension digit and 13
    digits of an SSCC, "0" and the 13 digits of a GLN. None: not a key a prefix owns."""
    m = _KEY.match(identifier)
    if m is None:
        return None
    ai, digits = m.groups()
    if ai == "01" and len(digits) == 14:
        return digits
    if ai == "00" and len(digits) == 18:
        return digits[:14]
    if ai in ("414", "417") and len(digits) == 13:
        return "0" + digits
    return None


def subjects(event: Mapping[str, Any]) -> list[str]:
    """Every identifier the event speaks about (canonical Digital Links where GS1 keys)."""
    named = event_epcs(event)
    return list(dict.fromkeys(x for role in ("epc", "parent", "child", "input", "output",
                                             "class") for x in named[role]))


def _destination_glns(event: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(AI, GLN) of each party (417) or location (414) in the event's destinationList."""
    out = []
    for entry in event.get("destinationList") or ():
        if not isinstance(entry, Mapping) or not isinstance(entry.get("destination"), str):
            continue
        uri = _gs1_key_uri(entry["destination"].strip())
        m = _KEY.match(uri or "")
        if m is not None and m.group(1) in ("414", "417") and len(m.group(2)) == 13:
            out.append((m.group(1), m.group(2)))
    return out


def receiver_keys(event: Mapping[str, Any]) -> list[str]:
    """The owner keys `receivers` looks up (so that callers can read them in one batch)."""
    return ["0" + gln for _, gln in _destination_glns(event)]


def receivers(event: Mapping[str, Any], owner_of: OwnerOf) -> frozenset[bytes]:
    """The organisations the event names as destinations (see (c) in the module docstring)."""
    out: set[bytes] = set()
    for ai, gln in _destination_glns(event):
        if ai == "417":
            out.add(gln.encode("ascii") + bytes(19))  # the organisation id of a PGLN
        owner = owner_of("0" + gln)
        if owner is not None:
            out.add(owner)
    return frozenset(out)


def containers_of(event: Mapping[str, Any], identifier: str) -> list[str]:
    """The parent the event packs `identifier` into (an AggregationEvent ADD), if any."""
    if event.get("type") != "AggregationEvent" or event.get("action") != "ADD":
        return []
    named = event_epcs(event)
    if identifier in named["child"] and named["parent"]:
        return list(named["parent"])
    return []


def not_entitled(event: Mapping[str, Any], org: bytes, role: str, owner_of: OwnerOf,
                 custody: Callable[[str], Iterable[bytes]]) -> list[str]:
    """The identifiers of `event` that `org`, signing with `role`, may not speak about (empty:
    the event is entitled). `custody(identifier)` gives the receivers of the identifier."""
    if role in AUTHORITY_ROLES:
        return []
    out = []
    for identifier in subjects(event):
        key = owner_key(identifier)
        if key is None:
            continue
        owner = owner_of(key)
        if owner is None or owner == org:
            continue
        if org in set(custody(identifier)):
            continue
        out.append(identifier)
    return out
