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

_TIMES = frozenset(("declarationTime", "inspectionTime", "releaseTime", "saleTime"))
_PARTIES = frozenset(("manufacturer", "exporter", "carrier", "declaringEnterprise", "warehouse",
                      "platform", "seller"))
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
                scan_count: int | None = None, complaint_url: str = "/complaints",
                names: Mapping[str, str] | None = None,
                complaint: Mapping[str, Any] | None = None) -> str:
    """The whole HTML page for one verification, in `lang` (one of LANGUAGES). `profile` is
    the verdict's (`Verdict.profile`, `ledger.trade.profile`); `names` maps organisation ids
    (0x-hex) to their names on Consortium, for saying who stated each fact. `complaint` is
    where the reader's own complaint stands (the gateway's `GET /complaints/{id}` answer for
    its receipt), `{"unknown": True}` for a receipt that matches none, or None."""
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
        complaint_standing=complaint_standing(complaint, t),
        kind=str(kind),
        verdict_label=escape(t[f"verdict.{kind}"]),
        explain=escape(t[f"explain.{kind}"]),
        reason=escape(_reason(verdict, t, lang)),
        gateways_word=escape(t["gateways.word"]),
        recall=_recall_banner(verdict, _lot(fields, verdict), t),
        journey_title=escape(t["journey"]),
        timeline=_timeline(verdict, bundle, t, lang),
        coldchain=_cold_chain(verdict, lang),
        fields_title=escape(t["fields"]),
        fields_note=escape(t["fields.note"]),
        fields=_fields_html(fields, t, lang, {**(names or {}), **_signed_names(fields, lang)}),
        scans=escape(t["scans"].format(count=count)),
        checks_title=escape(t["checks"].format(passed=passed, total=len(checks))),
        checks="\n".join(_check_html(c, t, lang) for c in checks),
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


def complaint_standing(c: Mapping[str, Any] | None, t: Mapping[str, str]) -> str:
    """The reader's own complaint: status, the regulator's outcome, the brand's replies."""
    import time

    if c is None:
        return ""
    if c.get("unknown"):
        return (f'<section id="complaint-standing" class="standing" data-status="unknown">'
                f'<h2>{escape(t["complaint.standing"])}</h2>'
                f'<p>{escape(t["complaint.unknown"])}</p></section>')

    def day(ms: Any) -> str:
        return time.strftime("%Y-%m-%d", time.gmtime(int(ms) // 1000))

    status = str(c.get("status"))
    replies = "".join(
        f'<li class="reply">{escape(str(r.get("text")))} <small class="by">— '
        f'{escape(t["complaint.reply.by"].format(org=r.get("orgName") or r.get("org"), date=day(r.get("repliedMs", 0))))}'
        "</small></li>" for r in c.get("replies") or ())
    outcome = (f'<dt>{escape(t["complaint.outcome"])}</dt>'
               f'<dd class="outcome">{escape(str(c["outcome"]))}</dd>' if c.get("outcome") else "")
    return (f'<section id="complaint-standing" class="standing" data-status="{escape(status, quote=True)}">'
            f'<h2>{escape(t["complaint.standing"])}</h2>'
            f'<p class="note">{escape(t["complaint.receipt"])}</p><dl>'
            f'<dt>{escape(t["complaint.filed"].format(date=day(c.get("createdMs", 0))))}</dt>'
            f'<dd class="text">{escape(str(c.get("text", "")))}</dd>'
            f'<dt>{escape(t["complaint.status"])}</dt>'
            f'<dd class="status">{escape(t.get("complaint.status." + status, status))}</dd>'
            f'{outcome}<dt>{escape(t["complaint.replies"])}</dt><dd class="replies">'
            f'{f"<ul>{replies}</ul>" if replies else escape(t["complaint.noreply"])}</dd></dl>'
            "</section>")


def _profile_fields(profile: Any, verdict: Verdict) -> dict[str, Any]:
    if profile is None:
        fields: dict[str, Any] = {}
    elif isinstance(profile, Mapping):
        fields = dict(profile)
    else:
        fields = dict(profile.to_json())
    fields = {k: v for k, v in fields.items() if isinstance(v, Mapping)}
    if "gtin" not in fields or "serial" not in fields:
        parts = verdict.code.split("/")
        if len(parts) >= 4 and parts[-4] == "01" and parts[-2] == "21":
            fields.setdefault("gtin", {"value": parts[-3], "by": None})
            fields.setdefault("serial", {"value": parts[-1], "by": None})
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


def _lot(fields: Mapping[str, Any], verdict: Verdict) -> Any:
    if fields.get("lot"):
        return fields["lot"].get("value")
    for check in verdict.by_name(CheckName.CODE_REGISTERED):
        if check.details.get("lot"):
            return check.details["lot"]
    return None


def local_text(value: Any, lang: str) -> str:
    """A signed text value: a string, or a language map read in `lang` (else the other Chinese
    script for a Chinese reader, else English, else the first language it has)."""
    if isinstance(value, Mapping):
        other = {"zh-Hans": "zh-Hant", "zh-Hant": "zh-Hans"}.get(lang, lang)
        for key in (lang, other, "en", *value):
            if isinstance(value.get(key), str):
                return str(value[key])
        return ""
    return "" if value is None else str(value)


def _country(code: Any, t: Mapping[str, str]) -> str:
    return t.get(f"country.{code}", str(code))


def field_text(key: str, f: Mapping[str, Any], t: Mapping[str, str], lang: str,
               names: Mapping[str, str]) -> str:
    """What the page shows for one profile field, in `lang`."""
    from ledger.trade.profile import local_time

    value = f.get("value")
    if key in _TIMES or (key == "productionDate" and "T" in str(value)):
        shown = local_time(str(value), f.get("offset"))
        if shown is None:
            return str(value)
        date, hhmm, offset = shown
        return t["time.local"].format(date=date, time=hhmm, offset=offset) if offset \
            else f"{date} {hhmm}"
    if key == "originCountry":
        return _country(value, t)
    if key == "customsDecision":
        text = t.get(f"decision.{value}", str(value))
        inspection = f.get("inspection")
        return f"{text} · {t.get(f'inspection.{inspection}', inspection)}" if inspection else text
    if key == "lotStatus":
        return t.get(f"status.{value}", str(value))
    if key == "logistics" and isinstance(value, list):
        return t["route.sep"].join(local_text(v, lang) for v in value)
    text = local_text(value, lang)
    if key in _PARTIES and not text:
        text = names.get(str(f.get("by")), "")
    if key in _PARTIES and f.get("country"):
        text = f"{text} ({_country(f['country'], t)})" if text else _country(f["country"], t)
    if key == "warehouse" and f.get("place"):
        text += " · " + local_text(f["place"], lang)
    if key == "portOfEntry" and f.get("country"):
        text = f"{text} ({_country(f['country'], t)})"
    return text


def _signed_names(fields: Mapping[str, Any], lang: str) -> dict[str, str]:
    """Names of the signing organisations in the reader's language, from the master data each
    signed about itself (the Consortium name is one language only)."""
    out: dict[str, str] = {}
    from ledger.trade.profile import FIELDS

    for key in (k for k in FIELDS if k in _PARTIES and k != "seller"):
        f = fields.get(key)
        if f and f.get("by") and (text := local_text(f.get("value"), lang)):
            out.setdefault(str(f["by"]), text)
    return out


def source_text(f: Mapping[str, Any], t: Mapping[str, str], names: Mapping[str, str]) -> str:
    """Who stated a profile field, in the page's language."""
    by = f.get("by")
    if by in ("CodeRegistry", "CustomsRelease"):
        return t[f"by.{by}"]
    if not by:
        return t["by.code"]
    who = names.get(str(by)) or _gln(str(by)) or str(by)[:14] + "…"
    return t["by.org"].format(org=who)


def _gln(org: str) -> str | None:
    from ledger.trade.profile import party_uri

    uri = party_uri(org)
    return "GLN " + uri.rsplit("/", 1)[-1] if uri else None


def _fields_html(fields: Mapping[str, Any], t: Mapping[str, str], lang: str,
                 names: Mapping[str, str]) -> str:
    from ledger.trade.profile import FIELDS

    rows = []
    for key in FIELDS:
        f = fields.get(key)
        if not f:
            continue
        text = field_text(key, f, t, lang, names)
        if not text:
            continue
        source = source_text(f, t, names)
        if key in ("gtin", "serial") and f.get("by"):
            who = names.get(str(f["by"])) or _gln(str(f["by"])) or str(f["by"])
            source = t["by.registrant"].format(org=who)
        rows.append(f'<dt data-field="{key}">{escape(t["field." + key])}</dt>'
                    f'<dd data-field="{key}"><span class="value">{escape(text)}</span>'
                    f'<small class="by">{escape(source)}</small></dd>')
    return "\n".join(rows) or f"<dd>{escape(t['fields.empty'])}</dd>"


def check_text(name: str, outcome: str, t: Mapping[str, str]) -> str:
    """What a check's outcome means, for a shopper, in the page's language."""
    if outcome == "SKIPPED":
        return t["check.SKIPPED"]
    return t.get(f"check.{name}.{outcome}", t.get(f"check.{name}", name))


def _check_html(c: Any, t: Mapping[str, str], lang: str) -> str:
    name, outcome = str(c.name), str(c.outcome)
    # The verifier's one-line reason is technical English: shown as such on the English page,
    # kept as the row's tooltip on the others.
    detail = (f' <span class="reason">{escape(c.reason)}</span>' if lang == "en" else "")
    return (f'<li class="o-{outcome}" data-check="{escape(name)}" title="{escape(c.reason)}">'
            f"<b>{escape(t['outcome.' + outcome])}</b> "
            f"{escape(t.get('check.' + name, name))}: {escape(check_text(name, outcome, t))}"
            f"{detail}</li>")


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


def _reason(verdict: Verdict, t: Mapping[str, str], lang: str) -> str:
    deciding = verdict.deciding
    if lang == "en" or deciding is None:
        return verdict.reason if lang == "en" else ""
    return (f"{t.get('check.' + str(deciding.name), str(deciding.name))}: "
            f"{check_text(str(deciding.name), str(deciding.outcome), t)}")


def _where(event: Mapping[str, Any], location: str | None, t: Mapping[str, str],
           lang: str) -> str:
    from ledger.trade.profile import place_of

    place = place_of(event)
    if "value" not in place:
        return location or ""
    text = local_text(place["value"], lang)
    return f"{text} ({_country(place['country'], t)})" if place.get("country") else text


def _timeline(verdict: Verdict, bundle: Bundle | None, t: Mapping[str, str],
              lang: str = "en") -> str:
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
            + (f'<span class="where">{escape(where)}</span>'
               if (where := _where(step.event, step.location, t, lang)) else "")
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
