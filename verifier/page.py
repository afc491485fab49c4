"""The consumer page: what a shopper sees after scanning, rendered from a `Verdict`.

Mobile-first and self-contained: one HTML response with inline CSS, no script, no web font and
no CDN, so it loads fast on a weak connection and makes no third-party request that could leak
the scan. The verdict comes first, then the recall banner (whenever the lot is recalled, even if
the verdict is worse), the journey as a timeline, the traceability fields, the scan count, every
check, and a complaint form that POSTs to the gateway.

Text lives in `templates/strings.json` (zh-Hans, zh-Hant, en; the same keys in each, a test
proves it); `negotiate` picks the language from Accept-Language. Every value that came from
outside (events, profile, reasons) is HTML-escaped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from html import escape
from pathlib import Path
from string import Template
from typing import Any

from ledger.proofs.bundle import Bundle
from verifier import journey as journey_mod
from verifier.verdict import CheckName, Outcome, Verdict, VerdictKind

__all__ = ["LANGUAGES", "negotiate", "render_page", "strings"]

TEMPLATES = Path(__file__).with_name("templates")
LANGUAGES = ("zh-Hans", "zh-Hant", "en")
DEFAULT_LANGUAGE = "zh-Hans"
# Regions that write Traditional Chinese when a browser sends only "zh-XX".
_HANT_REGIONS = {"tw", "hk", "mo"}

_FIELDS = ("productName", "gtin", "serial", "lot", "productionDate", "expiryDate",
           "originCountry", "manufacturer", "brandOwner", "exporter", "carrier", "portOfEntry",
           "customsDecision", "warehouse", "retailer", "saleTime", "lotStatus")
_COMPLAINT_CATEGORIES = ("counterfeit", "quality", "label", "other")


@cache
def strings() -> dict[str, dict[str, str]]:
    return json.loads((TEMPLATES / "strings.json").read_text(encoding="utf-8"))


@cache
def _template() -> Template:
    return Template((TEMPLATES / "page.html").read_text(encoding="utf-8"))


def quality_values(header: str | None, limit: int = 20) -> list[tuple[str, float]]:
    """The (lower-cased token, q) pairs of an Accept-style header in order (RFC 9110 §12.4.2);
    at most `limit` of them, so a hostile header costs little."""
    out: list[tuple[str, float]] = []
    for part in (header or "").split(",")[:limit]:
        token, _, params = part.strip().partition(";")
        q = 1.0
        for p in params.split(";"):
            name, _, value = p.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        out.append((token.strip().lower(), q))
    return out


def negotiate(accept_language: str | None) -> str:
    """The best of zh-Hans, zh-Hant and en for an Accept-Language header (RFC 9110 q-values)."""
    best, best_q = DEFAULT_LANGUAGE, -1.0
    for position, (tag, q) in enumerate(quality_values(accept_language)):
        lang = _match(tag)
        # Ties go to the earlier tag: the browser lists preferences in order.
        if lang is not None and q > 0 and q - position * 1e-6 > best_q:
            best, best_q = lang, q - position * 1e-6
    return best


def _match(tag: str) -> str | None:
    parts = tag.split("-")
    if parts[0] == "en":
        return "en"
    if parts[0] != "zh":
        return None
    rest = parts[1:]
    if "hant" in rest or any(r in _HANT_REGIONS for r in rest):
        return "zh-Hant"
    return "zh-Hans"


def render_page(verdict: Verdict, bundle: Bundle | None, profile: Any, lang: str, *,
                scan_count: int | None = None, complaint_url: str = "/complaints") -> str:
    """The whole HTML page for one verification, in `lang` (one of LANGUAGES)."""
    if lang not in LANGUAGES:
        lang = negotiate(lang)
    t = strings()[lang]
    kind = verdict.kind
    fields = _profile_fields(profile, verdict)
    checks = verdict.checks
    passed = sum(1 for c in checks if c.outcome is Outcome.PASS)
    count = scan_count if scan_count is not None else (len(bundle.scans) if bundle else 0)
    return _template().substitute(
        lang=lang,
        title=escape(t["title"]),
        kind=str(kind),
        verdict_label=escape(t[f"verdict.{kind}"]),
        explain=escape(t[f"explain.{kind}"]),
        reason=escape(verdict.reason),
        gateways_word=escape(t["gateways.word"]),
        recall=_recall_banner(verdict, fields.get("lot"), t),
        journey_title=escape(t["journey"]),
        timeline=_timeline(verdict, bundle, t),
        coldchain=_cold_chain(verdict, lang),
        fields_title=escape(t["fields"]),
        fields="\n".join(f"<dt>{escape(t['field.' + k])}</dt><dd>{escape(str(v))}</dd>"
                         for k in _FIELDS if (v := fields.get(k)) not in (None, "")),
        scans=escape(t["scans"].format(count=count)),
        checks_title=escape(t["checks"].format(passed=passed, total=len(checks))),
        checks="\n".join(
            f'<li class="o-{c.outcome}" data-check="{escape(str(c.name))}">'
            f"<b>{escape(t['outcome.' + str(c.outcome)])}</b> {escape(str(c.name))}: "
            f"{escape(c.reason)}</li>" for c in checks),
        complaint_title=escape(t["complaint"]),
        complaint_url=escape(complaint_url, quote=True),
        code=escape(verdict.code, quote=True),
        complaint_category=escape(t["complaint.category"]),
        categories="\n".join(f'<option value="{c}">{escape(t["complaint.cat." + c])}</option>'
                             for c in _COMPLAINT_CATEGORIES),
        complaint_message=escape(t["complaint.message"]),
        complaint_submit=escape(t["complaint.submit"]),
        checked=escape(t["checked"].format(chain=verdict.chain_id, block=verdict.block_number)),
    )


def _profile_fields(profile: Any, verdict: Verdict) -> dict[str, Any]:
    if profile is None:
        fields: dict[str, Any] = {}
    elif isinstance(profile, Mapping):
        fields = dict(profile)
    else:
        fields = dict(profile.to_json())
    if "gtin" not in fields or "serial" not in fields:
        parts = verdict.code.split("/")
        if len(parts) >= 4 and parts[-4] == "01" and parts[-2] == "21":
            fields.setdefault("gtin", parts[-3])
            fields.setdefault("serial", parts[-1])
    for check in verdict.by_name(CheckName.CODE_REGISTERED):
        if check.outcome is Outcome.PASS:
            fields.setdefault("lot", check.details.get("lot"))
    for check in verdict.by_name(CheckName.LOT_STATUS):
        fields["lotStatus"] = check.details.get("status", "active")
    return fields


def _cold_chain(verdict: Verdict, lang: str) -> str:
    from verifier.coldchain import describe, title

    section = verdict.cold_chain
    if section is None:
        return ""
    status = escape(str(section.get("status")), quote=True)
    items = "".join(f"<li>{escape(line)}</li>" for line in describe(section, lang))
    return (f'<section id="coldchain" class="coldchain c-{status}" data-status="{status}">'
            f"<h2>{escape(title(lang))}</h2><ul>{items}</ul></section>")


def _recall_banner(verdict: Verdict, lot: Any, t: Mapping[str, str]) -> str:
    for check in verdict.by_name(CheckName.LOT_STATUS):
        if check.outcome is Outcome.FAIL and check.fails_as is VerdictKind.RECALLED:
            status = str(check.details.get("status", "recalled"))
            text = t["recall.banner"].format(lot=lot or "?",
                                             status=t.get(f"status.{status}", status))
            return f'<section class="recall" id="recall" role="alert">{escape(text)}</section>'
    return ""


def _shown_events(bundle: Bundle) -> list[tuple[bytes, Mapping[str, Any]]]:
    """(commitment, event) of each bundle event: a full event as it is, a public one as its
    disclosed fields say; one whose disclosures do not read back is left off the timeline
    (the verdict has already failed it)."""
    from ledger.proofs.disclosure import DisclosureError, read_disclosed

    out: list[tuple[bytes, Mapping[str, Any]]] = []
    for e in bundle.events:
        if e.event is not None:
            out.append((e.commitment, e.event))
            continue
        try:
            _, partial = read_disclosed(e.disclosed)
        except DisclosureError:
            continue
        if "eventTime" in partial:
            out.append((e.commitment, partial))
    return out


def _timeline(verdict: Verdict, bundle: Bundle | None, t: Mapping[str, str]) -> str:
    steps = journey_mod.steps(_shown_events(bundle)) if bundle else []
    customs = next((c for c in verdict.by_name(CheckName.CUSTOMS_DECISION)
                    if c.details.get("decision")), None)
    items = []
    customs_shown = False
    for i, step in enumerate(steps):
        items.append(
            f'<li data-stage="{step.stage}"><span class="stage">'
            f"{escape(t.get('stage.' + str(step.stage), str(step.stage)))}</span>"
            f'<span class="when">{escape(_when(step.time_text))}</span>'
            + (f'<span class="where">{escape(step.location)}</span>' if step.location else "")
            + "</li>")
        nxt = steps[i + 1].stage if i + 1 < len(steps) else None
        # The decision (a chain fact, not an event) goes after the last border step.
        if customs and not customs_shown and step.stage in (
                journey_mod.Stage.PORT_OF_ENTRY, journey_mod.Stage.CUSTOMS) and nxt not in (
                journey_mod.Stage.PORT_OF_ENTRY, journey_mod.Stage.CUSTOMS):
            items.append(_customs_item(customs, t))
            customs_shown = True
    if customs and not customs_shown and items:
        items.append(_customs_item(customs, t))
    if not items:
        return f"<p>{escape(t['journey.empty'])}</p>"
    return '<ol class="timeline">\n' + "\n".join(items) + "\n</ol>"


def _customs_item(check: Any, t: Mapping[str, str]) -> str:
    text = f"{check.details.get('decision')} · {check.details.get('inspection')}"
    return (f'<li class="customs" data-stage="customs_decision"><span class="stage">'
            f"{escape(t['customs.decision'])}</span><span class=\"when\">{escape(text)}</span></li>")


def _when(text: str) -> str:
    # "2026-03-01T08:30:00.000+12:00" → "2026-03-01 08:30 +12:00": readable, still exact.
    if len(text) >= 16 and text[10] == "T":
        tail = text[19:].lstrip(".0123456789")
        return f"{text[:10]} {text[11:16]} {tail}".strip()
    return text
