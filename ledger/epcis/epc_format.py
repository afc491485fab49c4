"""How a query answer writes GS1 keys: the EPCIS 2.0 `GS1-EPC-Format` header, on the way out.

    No_Preference            as captured (the server's choice)
    Always_GS1_Digital_Link  every GS1 key as its canonical Digital Link
    Always_EPC_URN           every GS1 key as its EPC URN (id, lgtin class, sgtin pattern)
    Never_Translates         as captured

Translation rewrites a copy of the event, never the stored, signed one, and only the
identifier fields of the standard (the EPC lists, `parentID`, quantity classes, `readPoint` and
`bizLocation` ids, sources and destinations). The event id is unchanged: the event hash
canonicalises every GS1 key to its Digital Link (`ledger.epcis.event_hash`), so both
spellings hash alike. The conversions are `ledger.epcis.gs1`'s.

A Digital Link → URN needs the GS1 Company Prefix length, which a Digital Link does not carry.
`company_prefix` answers it from a 14-character probe whose characters after the first begin
with the key's prefix (a GTIN-14 as it is, `0`+GLN, the SSCC's first 14 digits…), as
Consortium's `gtinOwner` reads a GTIN: the consortium registry knows the prefix of every member.
A key whose prefix nobody registered cannot be written as a URN: it stays as captured and the
translation reports itself incomplete.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any
from urllib.parse import unquote, urlsplit

from ledger.epcis.event_hash import _gs1_key_uri
from ledger.epcis.gs1 import InvalidIdentifierError, digital_link_to_urn

__all__ = ["EpcFormat", "PrefixLookup", "key_probe", "translate_event"]

PrefixLookup = Callable[[str], "str | None"]


class EpcFormat(StrEnum):
    """The values of `GS1-EPC-Format` (EPCIS 2.0 REST binding, components/schemas)."""

    NO_PREFERENCE = "No_Preference"
    ALWAYS_GS1_DIGITAL_LINK = "Always_GS1_Digital_Link"
    ALWAYS_EPC_URN = "Always_EPC_URN"
    NEVER_TRANSLATES = "Never_Translates"


_EPC_LISTS = ("epcList", "childEPCs", "inputEPCList", "outputEPCList")
_QUANTITY_LISTS = ("quantityList", "childQuantityList", "inputQuantityList",
                   "outputQuantityList")
_LOCATIONS = ("readPoint", "bizLocation")
_PARTIES = (("sourceList", "source"), ("destinationList", "destination"))


def key_probe(digital_link: str) -> tuple[str, str] | None:
    """(probe, digits) of a canonical Digital Link's primary key: `probe` is 14 characters
    whose tail starts with the company prefix (what `gtinOwner` reads), `digits` the key
    characters that prefix must begin; None for a key with no company prefix here."""
    path = [unquote(s) for s in urlsplit(digital_link).path.split("/") if s]
    if len(path) < 2:
        return None
    ai, value = path[0], path[1]
    if ai == "01" and len(value) == 14:
        return value, value[1:13]
    if ai == "00" and len(value) == 18:
        return value[:14], value[1:17]
    if ai in ("414", "417") and len(value) == 13:
        return "0" + value, value[:12]
    if ai == "8003" and len(value) >= 14:
        return value[:14], value[1:13]
    if ai == "8004" and value:
        return ("0" + value + "0" * 13)[:14], value
    return None


def _prefix_length(dl: str, company_prefix: PrefixLookup) -> int | None:
    probe = key_probe(dl)
    if probe is None:
        return None
    prefix = company_prefix(probe[0])
    # The registry matches on the probe; the prefix must also lie within the key's own digits
    # (a short GIAI is padded to make the probe).
    if prefix is None or not probe[1].startswith(prefix) or not 6 <= len(prefix) <= 12:
        return None
    return len(prefix)


class _Translator:
    def __init__(self, fmt: EpcFormat, company_prefix: PrefixLookup | None) -> None:
        self.fmt = fmt
        self.company_prefix = company_prefix
        self.complete = True
        self._memo: dict[str, str] = {}

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if value not in self._memo:
            self._memo[value] = self._translate(value)
        return self._memo[value]

    def _translate(self, value: str) -> str:
        if value.startswith("urn:epc:"):
            if self.fmt is EpcFormat.ALWAYS_EPC_URN:
                return value
            return _gs1_key_uri(value) or value  # a URN of no GS1 key has no Digital Link
        if not value.startswith("http") or self.fmt is EpcFormat.ALWAYS_GS1_DIGITAL_LINK:
            # Not a GS1 key, or a Digital Link already: its host and qualifiers stay.
            return value
        canonical = _gs1_key_uri(value) or value
        if key_probe(canonical) is None:
            return value  # a Web URI of no GS1 key
        n = _prefix_length(canonical, self.company_prefix) if self.company_prefix else None
        if n is not None:
            try:
                urn = digital_link_to_urn(canonical, n)
            except InvalidIdentifierError:
                urn = None
            # Only a URN that names the very key the event hash reads: the id cannot change.
            if urn is not None and _gs1_key_uri(urn) == canonical:
                return urn
        self.complete = False
        return value


def translate_event(event: Mapping[str, Any], fmt: EpcFormat,
                    company_prefix: PrefixLookup | None = None) -> tuple[dict[str, Any], bool]:
    """(a copy of `event` with its GS1 keys written as `fmt` asks, whether every key could be).

    No_Preference and Never_Translates give the event as captured. For Always_EPC_URN,
    `company_prefix` maps a `key_probe` to the registered GS1 Company Prefix (None: unknown);
    a Digital Link whose prefix is unknown is left as it is and the flag is False."""
    out = dict(event)
    if fmt in (EpcFormat.NO_PREFERENCE, EpcFormat.NEVER_TRANSLATES):
        return out, True
    tr = _Translator(fmt, company_prefix)
    for name in _EPC_LISTS:
        if isinstance(out.get(name), list):
            out[name] = [tr(v) for v in out[name]]
    if "parentID" in out:
        out["parentID"] = tr(out["parentID"])
    for name in _QUANTITY_LISTS:
        if isinstance(out.get(name), list):
            out[name] = [{**q, "epcClass": tr(q["epcClass"])}
                         if isinstance(q, Mapping) and "epcClass" in q else q
                         for q in out[name]]
    for name in _LOCATIONS:
        if isinstance(out.get(name), Mapping) and "id" in out[name]:
            out[name] = {**out[name], "id": tr(out[name]["id"])}
    for name, key in _PARTIES:
        if isinstance(out.get(name), list):
            out[name] = [{**p, key: tr(p[key])} if isinstance(p, Mapping) and key in p else p
                         for p in out[name]]
    return out, tr.complete
