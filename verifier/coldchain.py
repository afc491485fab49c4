"""The cold-chain section of a verification: the item's verified sensor readings held against
its brand's signed conditions, and how the shopper's page says it in three languages.

Computed from verified facts only: the events the verifier kept (each one proven into a signed,
anchored capture by a party entitled to speak about the goods, on the item's path) and the
conditions the bundle carries, whose signature is recovered here and whose signer must be a
key of the organisation that owns the GTIN's company prefix, valid when it signed, at the block
the verification reads. Which version judges the item is the chain's word, not the gateway's:
the brand registers each version's hash on CodeRegistry, and the served text must be the one
`ledger.trade.conditions.in_force` names for the item's last reading; a gateway that serves
another version, an altered or unregistered text, or none while the brand registered some,
leaves the section unverified. The browser verifier (`verifier/web/src/coldchain.js`) computes the
same section from the same facts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ledger.errors import LedgerError
from ledger.evidence.public import names_path
from ledger.proofs.merkle import keccak256
from ledger.trade.coldchain import MEASUREMENTS, PathEvent, assess_cold_chain, readings
from ledger.trade.conditions import SignedConditions, check_authority, in_force

__all__ = ["LANGUAGES", "cold_chain_section", "describe", "title"]

LANGUAGES = ("zh-Hans", "zh-Hant", "en")

_UNIT = {"CEL": "°C", "P1": "%", "A93": "g/m³", "MSK": "m/s²"}

_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Cold chain",
        "kept": "Kept between {lo} and {hi} {unit} for {days} days ({readings} readings from "
                "{events} signed events; lowest {low} {unit}, highest {high} {unit}).",
        "kept.upper": "Kept at or below {hi} {unit} for {days} days ({readings} readings from "
                      "{events} signed events; highest {high} {unit}).",
        "breach": "Breach: outside {lo}–{hi} {unit} for {minutes} minutes (allowed {allowed}). "
                  "{value} {unit} at {time}, signed by {signer}.",
        "none": "No sensor readings on this item's path were disclosed.",
        "unverified": "The brand's storage conditions could not be verified: {reason}",
        "conditions": "Brand's conditions, version {version}",
    },
    "zh-Hans": {
        "title": "冷链",
        "kept": "在 {lo} 至 {hi} {unit} 之间保存 {days} 天（{events} 个已签名事件的 {readings} 次读数；"
                "最低 {low} {unit}，最高 {high} {unit}）。",
        "kept.upper": "在 {hi} {unit} 以下保存 {days} 天（{events} 个已签名事件的 {readings} 次读数；"
                      "最高 {high} {unit}）。",
        "breach": "超标：超出 {lo}–{hi} {unit} 共 {minutes} 分钟（允许 {allowed} 分钟）。"
                  "{time} 读数 {value} {unit}，签名方 {signer}。",
        "none": "该商品路径上没有公开的传感器读数。",
        "unverified": "品牌的储存条件未能验证：{reason}",
        "conditions": "品牌储存条件，第 {version} 版",
    },
    "zh-Hant": {
        "title": "冷鏈",
        "kept": "在 {lo} 至 {hi} {unit} 之間保存 {days} 天（{events} 個已簽署事件的 {readings} 次讀數；"
                "最低 {low} {unit}，最高 {high} {unit}）。",
        "kept.upper": "在 {hi} {unit} 以下保存 {days} 天（{events} 個已簽署事件的 {readings} 次讀數；"
                      "最高 {high} {unit}）。",
        "breach": "超標：超出 {lo}–{hi} {unit} 共 {minutes} 分鐘（允許 {allowed} 分鐘）。"
                  "{time} 讀數 {value} {unit}，簽署方 {signer}。",
        "none": "該商品路徑上沒有公開的感測器讀數。",
        "unverified": "品牌的儲存條件未能驗證：{reason}",
        "conditions": "品牌儲存條件，第 {version} 版",
    },
}


def _ms(text: Any) -> int | None:
    try:
        return round(datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def _last_reading_ms(verified: Sequence[tuple[Mapping[str, Any], str, str]]) -> int | None:
    ends = [r.end_ms for event, _, _ in verified for r in readings(event)[0]]
    return max(ends) if ends else None


def _served(conditions: Mapping[str, Any] | None,
            earlier: Sequence[Mapping[str, Any]]) -> list[SignedConditions]:
    out = []
    for raw in ([] if conditions is None else [conditions]) + list(earlier):
        try:
            out.append(SignedConditions.from_json(raw))
        except LedgerError:
            continue
    return out


def cold_chain_section(gtin14: str, epc: str, conditions: Mapping[str, Any] | None,
                       verified: Sequence[tuple[Mapping[str, Any], str, str]], view: Any,
                       earlier: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any] | None:
    """The section (None when the brand registered no conditions and the bundle carries none).
    `conditions` and `earlier`: the signed versions the bundle carries; `verified`: (event,
    reference, signing organisation 0x-hex) of each verified event on the item's path; `view`
    a `ledger.chain.view.ChainView` pinned to the verification's block."""
    # Read like every other chain fact: a node that cannot answer, or sealed evidence missing
    # the slot, fails the verification rather than leaving the brand's registration unread.
    registered = tuple(view.conditions_history(gtin14))
    served = _served(conditions, earlier)
    if not registered:
        if conditions is None:
            return None
        return {"status": "unverified",
                "reason": f"the brand registered no conditions for GTIN {gtin14} on chain"}
    last = _last_reading_ms(verified)
    record = in_force(registered, last)
    wanted = "0x" + record.conditions_hash.hex()
    signed = next((c for c in served if keccak256(c.text.encode()) == record.conditions_hash),
                  None)
    if signed is None:
        offered = ", ".join(sorted({f"0x{keccak256(c.text.encode()).hex()[:12]}…" for c in served}))
        return {"status": "unverified", "registeredVersion": record.version,
                "registeredHash": wanted,
                "reason": f"the evidence does not carry version {record.version} of the brand's "
                          f"conditions, the one registered on chain for these readings "
                          f"(hash {wanted[:14]}…); it carries {offered or 'none'}"}
    try:
        parsed, signer = check_authority(view.domain, signed, view)
    except LedgerError as exc:
        return {"status": "unverified", "reason": str(exc)}
    except Exception as exc:  # noqa: BLE001 - a view that cannot read the signer's key (sealed
        # evidence seals the reads the checks need): the section is unproven, the verdict stands
        return {"status": "unverified",
                "reason": f"the signer's key could not be read ({type(exc).__name__})"}
    if parsed.gtin != gtin14:
        return {"status": "unverified",
                "reason": f"the conditions are for GTIN {parsed.gtin}, not {gtin14}"}
    if parsed.version != record.version or signed.org != record.org:
        return {"status": "unverified",
                "reason": f"the conditions text says version {parsed.version} of "
                          f"0x{signed.org.hex()}, the chain registered its hash as version "
                          f"{record.version} of 0x{record.org.hex()}"}
    own = frozenset((epc,))
    seen = [t for event, _, _ in verified if names_path(event, own)
            if (t := _ms(event.get("eventTime"))) is not None]
    report = assess_cold_chain(parsed.gtin, parsed.version, parsed.ranges,
                               [PathEvent(e, ref, org) for e, ref, org in verified],
                               since_ms=min(seen) if seen else None)
    return report.to_json() | {"conditions": {
        "signer": signer, "org": "0x" + signed.org.hex(), "signedAt": signed.signed_at,
        "conditionsHash": wanted, "registeredAt": record.registered_at,
        "registeredVersions": len(registered)}}


def _num(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isinf(value)):
        return "–"
    text = f"{float(value):.1f}"
    return text[:-2] if text.endswith(".0") else text


def _who(org: str | None) -> str:
    if not org:
        return "?"
    raw = bytes.fromhex(org[2:])
    if not any(raw[13:]) and raw[:13].isdigit():
        return "GLN " + raw[:13].decode()
    return org[:14] + "…"


def title(lang: str) -> str:
    return _TEXT.get(lang, _TEXT["en"])["title"]


def describe(section: Mapping[str, Any] | None, lang: str) -> list[str]:
    """The section as lines of text in `lang` (empty without a section)."""
    if section is None:
        return []
    t = _TEXT.get(lang, _TEXT["en"])
    status = section.get("status")
    if status == "unverified":
        return [t["unverified"].format(reason=section.get("reason", ""))]
    lines = []
    for r in section.get("ranges", []):
        unit = _UNIT.get(r.get("canonicalUom"), r.get("canonicalUom", ""))
        lo, hi = r.get("bounds", [None, None])
        if r.get("breached"):
            allowed = r["range"].get("allowedMinutesOutside", 0)
            for x in r.get("excursions", [])[:3]:
                lines.append(t["breach"].format(
                    lo=_num(lo), hi=_num(hi), unit=unit, minutes=_num(r["minutesOutside"]),
                    allowed=allowed, value=_num(x["reading"]["value"]),
                    time=x["start"][:16].replace("T", " ") + " UTC", signer=_who(x["signer"])))
        elif r.get("readings"):
            key = "kept" if lo is not None else "kept.upper"
            lines.append(t[key].format(
                lo=_num(lo), hi=_num(hi), unit=unit, days=_num(r["days"]),
                readings=r["readings"], events=r["events"], low=_num(r["lowest"]),
                high=_num(r["highest"])))
    if not lines:
        lines.append(t["none"])
    lines.append(t["conditions"].format(version=section.get("conditionsVersion")))
    return lines


assert set(_TEXT) == set(LANGUAGES)
assert all(set(_TEXT[lang]) == set(_TEXT["en"]) for lang in LANGUAGES)
assert set(_UNIT) == {u for u, _ in MEASUREMENTS.values()}
