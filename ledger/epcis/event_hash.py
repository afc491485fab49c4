"""Event id: the GS1 CBV 2.0 event hash, `ni:///sha-256;<hex>?ver=CBV2.0`.

The id is the sha-256 of the event's canonical *pre-hash string*. That string is defined by the
GS1 reference implementation (RalphTro/epcis-event-hash-generator) rather than by prose, so this
module reproduces its canonical form exactly, quirks included, and is checked against its test
vectors (conformance/event-hash/). In short:

- fields are emitted in the CBV order (`_ORDER`), each as `name=value`, sub-fields nested;
  repeated values (list members) are sorted; fields outside the order (user extensions) follow,
  sorted, with their namespace prefix expanded to `{namespace-iri}local`;
- `recordTime`, `eventID`, `errorDeclaration` and the JSON `type` key never count;
- booleans are `true`/`false`; a user extension whose name ends in `List` is hashed as
  written (the XML form), only the standard's lists are unwrapped (the XML vectors);
- times become UTC with milliseconds (`2020-01-01T10:00:00.000Z`), numbers lose noise
  (`+5.0` → `5`), old CBV URNs become web vocabulary, bare CBV terms (`shipping`) become IRIs,
  and every GS1 key (EPC URN, EPC class/pattern URN, any Digital Link) becomes its canonical
  Digital Link at the finest level (`https://id.gs1.org/01/<gtin14>/21/<serial>`).

Where the reference implementation would crash or depend on its host (a time with no offset is
read in local time; a time that rounds up to the next second raises), this module picks the
deterministic reading: no offset means UTC, and rounding carries into the next second.

Performance: the canonical form is built from the event dict without copying it; value
canonicalisation (the costly part: regexes, timestamp parsing) is memoised because values repeat
heavily across events (locations, vocabularies, products).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ledger.errors import InvalidInputError

__all__ = [
    "InvalidEventIdError",
    "UnrepresentableTimeError",
    "canonical_value",
    "event_hash",
    "event_hashes",
    "event_id",
    "event_ids",
    "format_event_id",
    "parse_event_id",
    "prehash",
    "prehashes",
]

_NI_PREFIX = "ni:///sha-256;"
_NI_SUFFIX = "?ver=CBV2.0"


class InvalidEventIdError(InvalidInputError):
    slug = "invalid-event-id"
    title = "Invalid event id"


class UnrepresentableTimeError(InvalidInputError):
    """A well-formed date-time whose UTC instant falls outside years 1-9999 (e.g. 0001-01-01
    at +14:00): it has no canonical form, so the event has no hash and is refused."""

    slug = "unrepresentable-time"
    title = "Time outside UTC years 1 to 9999"


# --------------------------------------------------------------------------------------------
# Field order of the pre-hash string (CBV 2.0, "Event hash ID"). `None` means a leaf value;
# `_OPAQUE` marks the (type, value) lists that the reference emits with the trailing, generic
# part rather than in order: we must do the same to produce the same string.
# --------------------------------------------------------------------------------------------
_OPAQUE: tuple = ()
_EPC = (("epc", None),)
_QUANTITY = (("quantityElement", (("epcClass", None), ("quantity", None), ("uom", None))),)
_ORDER: tuple = (
    ("eventTime", None),
    ("eventTimeZoneOffset", None),
    ("certificationInfo", None),
    ("parentID", None),
    ("epcList", _EPC),
    ("inputEPCList", _EPC),
    ("childEPCs", _EPC),
    ("quantityList", _QUANTITY),
    ("childQuantityList", _QUANTITY),
    ("inputQuantityList", _QUANTITY),
    ("outputEPCList", _EPC),
    ("outputQuantityList", _QUANTITY),
    ("action", None),
    ("transformationID", None),
    ("bizStep", None),
    ("disposition", None),
    ("persistentDisposition", (("set", None), ("unset", None))),
    ("readPoint", (("id", None),)),
    ("bizLocation", (("id", None),)),
    ("bizTransactionList", _OPAQUE),
    ("sourceList", _OPAQUE),
    ("destinationList", _OPAQUE),
    ("sensorElementList", (("sensorElement", (
        ("sensorMetadata", tuple((n, None) for n in (
            "time", "startTime", "endTime", "deviceID", "deviceMetadata", "rawData",
            "dataProcessingMethod", "bizRules"))),
        ("sensorReport", tuple((n, None) for n in (
            "type", "exception", "deviceID", "deviceMetadata", "rawData", "dataProcessingMethod",
            "time", "microorganism", "chemicalSubstance", "value", "component", "stringValue",
            "booleanValue", "hexBinaryValue", "uriValue", "minValue", "maxValue", "meanValue",
            "sDev", "percRank", "percValue", "uom", "coordinateReferenceSystem"))),
    )),)),
)
_IGNORED_TOP = frozenset(("recordTime", "eventID", "type", "errorDeclaration"))
_UNSORTED_KEYS = ("bizTransaction", "source", "destination")
_SKIPPED_KEYS = frozenset(("#text", "rdfs:comment", "comment"))

# --------------------------------------------------------------------------------------------
# Bare CBV terms. The EPCIS JSON-LD context types these fields as @vocab, so `"shipping"` means
# https://ref.gs1.org/cbv/BizStep-shipping. The reference resolves them by JSON-LD expansion;
# expanding is slow, so the term tables of the standard context are listed here.
# --------------------------------------------------------------------------------------------
_CBV = "https://ref.gs1.org/cbv/"
_VOC = "https://gs1.org/voc/"
_BIZSTEPS = frozenset("""accepting arriving assembling collecting commissioning consigning
    creating_class_instance cycle_counting decommissioning departing destroying disassembling
    dispensing encoding entering_exiting holding inspecting installing killing loading other
    packing picking receiving removing repackaging repairing replacing reserving retail_selling
    sampling sensor_reporting shipping staging_outbound stock_taking stocking storing
    transporting unloading unpacking void_shipping""".split())
_DISPOSITIONS = frozenset("""active available completeness_verified completeness_inferred
    conformant container_closed container_open damaged destroyed dispensed disposed encoded
    expired in_progress in_transit inactive mismatch_instance mismatch_class mismatch_quantity
    needs_replacement no_pedigree_match non_conformant non_sellable_other partially_dispensed
    recalled reserved retail_sold returned sellable_accessible sellable_not_accessible stolen
    unavailable unknown""".split())
_BTTS = frozenset("bol cert desadv inv pedigree po poc prodorder recadv rma testprd testres "
                  "upevt".split())
_SDTS = frozenset(("owning_party", "possessing_party", "location"))
_MEASUREMENTS = frozenset("""AbsoluteHumidity AbsorbedDose AbsorbedDoseRate Acceleration
    Radioactivity Altitude AmountOfSubstance AmountOfSubstancePerUnitVolume Angle
    AngularAcceleration AngularMomentum AngularVelocity Area Capacitance Conductance Conductivity
    Count Density Dimensionless DoseEquivalent DoseEquivalentRate DynamicViscosity ElectricCharge
    ElectricCurrent ElectricCurrentDensity ElectricFieldStrength Energy Exposure Force Frequency
    Illuminance Inductance Irradiance KinematicViscosity Length LinearMomentum Luminance
    LuminousFlux LuminousIntensity MagneticFlux MagneticFluxDensity MagneticVectorPotential Mass
    MassConcentration MassFlowRate MassPerAreaTime MemoryCapacity MolalityOfSolute MolarEnergy
    MolarMass MolarVolume Power Pressure RadiantFlux RadiantIntensity RelativeHumidity Resistance
    Resistivity SolidAngle SpecificVolume Speed SurfaceDensity SurfaceTension Temperature Time
    Torque Voltage Volume VolumeFlowRate VolumeFraction VolumetricFlux Wavenumber""".split())
_EXCEPTIONS = frozenset(("ALARM_CONDITION", "ERROR_CONDITION"))
_COMPONENTS = frozenset("x y z axial_distance azimuth height spherical_radius polar_angle "
                        "elevation_angle easting northing latitude longitude altitude".split())
_REASONS = frozenset(("did_not_occur", "incorrect_data"))
# (terms, IRI prefix) per vocabulary-typed field
_V_BIZSTEP = (_BIZSTEPS, _CBV + "BizStep-")
_V_DISP = (_DISPOSITIONS, _CBV + "Disp-")
_V_BTT = (_BTTS, _CBV + "BTT-")
_V_SDT = (_SDTS, _CBV + "SDT-")
_V_MEASURE = (_MEASUREMENTS, _VOC)
_V_EXCEPTION = (_EXCEPTIONS, _VOC)
_V_COMPONENT = (_COMPONENTS, _CBV + "Comp-")
_V_REASON = (_REASONS, _CBV + "ER-")
_VOCAB_PREFIXES = ("https://ref.gs1.org/cbv", "https://gs1.org/voc")
_CURIES = {"cbv": _CBV, "gs1": _VOC}


def _vocab_iri(value: str, vocab: tuple[frozenset, str]) -> str | None:
    """The IRI JSON-LD expansion gives `value` in a field of this vocabulary (None if no IRI)."""
    terms, prefix = vocab
    if value in terms:
        return prefix + value
    head, sep, tail = value.partition(":")
    if sep and head in _CURIES:
        return _CURIES[head] + tail
    return None


def _collect_vocab(event: Mapping[str, Any]) -> set[str]:
    """Vocabulary IRIs the event mentions: the set that bare strings are resolved against."""
    found: set[str] = set()
    _collect_literals(event, found)

    def add(value: Any, vocab: tuple[frozenset, str]) -> None:
        if isinstance(value, str):
            iri = _vocab_iri(value, vocab)
            if iri is not None:
                found.add(iri)
        elif isinstance(value, list):
            for v in value:
                add(v, vocab)

    add(event.get("bizStep"), _V_BIZSTEP)
    add(event.get("disposition"), _V_DISP)
    pd = event.get("persistentDisposition")
    if isinstance(pd, dict):
        add(pd.get("set"), _V_DISP)
        add(pd.get("unset"), _V_DISP)
    for key, vocab in (("bizTransactionList", _V_BTT), ("sourceList", _V_SDT),
                       ("destinationList", _V_SDT)):
        entries = event.get(key)
        if isinstance(entries, list):
            for entry in entries:
                if isinstance(entry, dict):
                    add(entry.get("type"), vocab)
    sensors = event.get("sensorElementList")
    if isinstance(sensors, list):
        for element in sensors:
            if not isinstance(element, dict):
                continue
            reports = element.get("sensorReport")
            for report in reports if isinstance(reports, list) else (reports,):
                if isinstance(report, dict):
                    add(report.get("type"), _V_MEASURE)
                    add(report.get("exception"), _V_EXCEPTION)
                    add(report.get("component"), _V_COMPONENT)
    error = event.get("errorDeclaration")
    if isinstance(error, dict):
        add(error.get("reason"), _V_REASON)
    return found


def _collect_literals(node: Any, found: set[str]) -> None:
    """Vocabulary IRIs written out in full anywhere in the event."""
    stack = [node.values() if type(node) is dict else node]
    prefixes = _VOCAB_PREFIXES
    while stack:
        for value in stack.pop():
            t = type(value)
            if t is str:
                if value[:8] == "https://" and value.startswith(prefixes):
                    found.add(value)
            elif t is dict:
                stack.append(value.values())
            elif t is list:
                stack.append(value)


_resolver_cache: dict[frozenset, dict[str, str]] = {}


def _resolver(iris: set[str]) -> dict[str, str]:
    """Map bare string → IRI: a string is replaced when exactly one IRI ends in `-string` or
    `/string` (the reference's heuristic, applied to every string value of the event)."""
    key = frozenset(iris)
    cached = _resolver_cache.get(key)
    if cached is not None:
        return cached
    candidates: dict[str, set[str]] = {}
    for iri in iris:
        for i, ch in enumerate(iri):
            if ch == "-" or ch == "/":
                candidates.setdefault(iri[i + 1:], set()).add(iri)
    resolved = {bare: next(iter(m)) for bare, m in candidates.items() if len(m) == 1}
    if len(_resolver_cache) > 4096:
        _resolver_cache.clear()
    _resolver_cache[key] = resolved
    return resolved


# --------------------------------------------------------------------------------------------
# Namespaces: user extension keys `ex:foo` become `{iri}foo` when the document's @context list
# declares `ex`; values `ex:bar` become `iribar`.
# --------------------------------------------------------------------------------------------
def _namespaces(context: Any) -> dict[str, str]:
    # gs1: and cbv: are prefixes of the standard EPCIS context itself, declared or not
    ns: dict[str, str] = dict(_CURIES)
    # As in the reference, only a list-form @context declares namespaces.
    if isinstance(context, list):
        for item in context:
            if isinstance(item, str):
                ns[item] = item
            elif isinstance(item, dict):
                for prefix, iri in item.items():
                    if isinstance(iri, str):
                        ns[prefix] = iri
    return ns


# --------------------------------------------------------------------------------------------
# The event as a tree of (name, text, children) — the reference's common model of the XML and
# JSON bindings, which the pre-hash rules are written against.
# --------------------------------------------------------------------------------------------
class _Build:
    __slots__ = ("ns", "resolve")

    def __init__(self, ns: dict[str, str], resolve: dict[str, str]) -> None:
        self.ns = ns
        self.resolve = resolve

    def key(self, key: str) -> str:
        if ":" in key:
            head, _, tail = key.partition(":")
            iri = self.ns.get(head)
            if iri is not None:
                return "{" + iri + "}" + tail
        return key

    def scalar(self, value: Any) -> str:
        if isinstance(value, str):
            replaced = self.resolve.get(value)
            if replaced is not None:
                return replaced
            if ":" in value:
                head, _, tail = value.partition(":")
                iri = self.ns.get(head)
                if iri is not None:
                    return iri + tail
            return value
        if value is True or value is False:
            # JSON's (and xsd:boolean's) spelling, so that a JSON `true` and an XML `true`
            # give one id (the GS1 XML vector SensorDataExamples); Python's would be "True"
            return "true" if value else "false"
        return str(value)

    def node(self, obj: Any) -> tuple[str, str, list]:
        if isinstance(obj, dict):
            return self.obj(obj)
        if isinstance(obj, list):
            return ("", "", [self.node(v) for v in obj])
        return ("", self.scalar(obj), [])

    def obj(self, obj: dict) -> tuple[str, str, list]:
        name = obj.get("type", "")
        if not isinstance(name, str):
            name = ""
        else:
            name = self.resolve.get(name, name)
        text = self.scalar(obj["#text"]) if "#text" in obj else ""
        children: list = []
        append = children.append
        for key, val in obj.items():
            if key in _SKIPPED_KEYS:
                continue
            if key.startswith("@xmlns"):
                # an in-line namespace declaration applies from here on (the reference keeps
                # a running table)
                self.ns = {**self.ns, key[7:]: val}
                name = self.key(name)
                continue
            if isinstance(val, list):
                k = self.key(key)
                for element in val:
                    if isinstance(element, dict):
                        _, t, c = self.obj(element)
                        append((k, t, c))
                    elif isinstance(element, list):
                        append((k, "", [self.node(v) for v in element]))
                    else:
                        append((k, self.scalar(element), []))
            elif isinstance(val, dict):
                _, t, c = self.obj(val)
                append((self.key(key), t, c))
            else:
                append((self.key(key), self.scalar(val), []))
        if not ("bizTransaction" in obj or "source" in obj or "destination" in obj):
            children.sort()
        return (name, text, children)


def _typed_pair(fields: list) -> tuple:
    """A bizTransaction/source/destination entry as the pair (type, value).

    The reference takes the entry's first two fields in written order, so its hash would depend
    on JSON key order; every vector (and the XML binding) writes `type` first, so `type` is put
    first here. An entry without `type` (allowed for bizTransaction) is the value alone.
    """
    typed = [f for f in fields if f[0] == "type"]
    return tuple((typed + [f for f in fields if f[0] != "type"])[:2])


def _restructure(node: tuple[str, str, list]) -> tuple:
    """Map the JSON shape onto the XML one: `xList: [a, b]` → `xList` holding `x` a, `x` b;
    `childEPCs` likewise; `inputEPC`/`outputEPC` → `epc`; quantity entries → `quantityElement`."""
    name, text, children = node
    plain: list = []
    lists: dict[str, list] = {}
    child_epcs: list = []
    for child in children:
        cname = child[0]
        if cname.endswith("List") and cname[:1] != "{":
            lists.setdefault(cname, []).append((cname[:-4], child[1], child[2]))
        elif cname == "childEPCs":
            child_epcs.append(("epc", child[1], []))
        else:
            plain.append(child)
    out: list = [_restructure(c) for c in plain]
    for list_name, elements in lists.items():
        if list_name in ("sourceList", "destinationList", "bizTransactionList"):
            out.append((list_name, "", [_typed_pair(e[2]) for e in elements]))
        else:
            out.append(_restructure((list_name, "", elements)))
    if child_epcs:
        out.append(("childEPCs", "", child_epcs))
    if name in ("inputEPC", "outputEPC"):
        return ("epc", text, out)
    if name in ("inputQuantity", "outputQuantity", "childQuantity") or (
            name == "quantity" and out):
        return ("quantityElement", text, out)
    return (name, text, out)


# --------------------------------------------------------------------------------------------
# The pre-hash string
# --------------------------------------------------------------------------------------------
def _ordered(children: list, order: tuple) -> str:
    """Emit the children named in `order`, in that order; consumed children are removed from
    `children` so that only the rest is left for the generic part."""
    extensions = _take_extensions(children)
    parts: list[str] = []
    consumed: set[int] = set()
    for name, sub in order:
        values = []
        for child in children:
            if child[0] == name:
                text = _leaf_text(child, sub)
                if text:
                    values.append(text)
                if not child[2]:
                    consumed.add(id(child))
        if values:
            values.sort()
            parts.extend(values)
    if consumed:
        children[:] = [c for c in children if id(c) not in consumed]
    pre = "".join(parts)
    if extensions:
        pre += _generic(extensions)
    return pre


def _take_extensions(children: list) -> list:
    """User extensions nested inside a standard field go right after that field's own values.
    (At event level they go with the generic part instead.)"""
    if len(children) <= 1:
        return []
    for child in children:
        name = child[0]
        if isinstance(name, str) and ("eventTime" in name or "action" in name):
            return []
    ext = [c for c in children if isinstance(c[0], str) and "{" in c[0] and "/}" in c[0]]
    if ext:
        ids = {id(c) for c in ext}
        children[:] = [c for c in children if id(c) not in ids]
    return ext


def _leaf_text(child: tuple, sub: tuple | None) -> str:
    name, raw, grand = child
    nested = _ordered(grand, sub) if sub else ""
    text = ""
    if raw:
        raw = raw.strip()
        lowered = name.lower()
        if "time" in lowered and "offset" not in lowered:
            text = _timestamp(raw)
        else:
            text = _canonical_value(raw)
        if text:
            text = "=" + text
    if text or nested:
        return name + text + nested
    return ""


def _generic(children: Sequence) -> str:
    values = []
    keep_order = False
    for child in children:
        if len(child) < 3:  # a (type, value) entry, not a (name, text, children) node
            values.append(_generic(child))
            continue
        name = child[0]
        if name in _UNSORTED_KEYS:
            keep_order = True
        text = child[1].strip()
        if text:
            text = "=" + _canonical_value(text)
        values.append(name + text + (_generic(child[2]) if child[2] else ""))
    if len(children) > 1 and not keep_order:
        values.sort()
    return "".join(values)


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------
_OLD_CBV = (
    ("urn:epcglobal:cbv:bizstep:", _CBV + "BizStep-"),
    ("urn:epcglobal:cbv:disp:", _CBV + "Disp-"),
    ("urn:epcglobal:cbv:btt:", _CBV + "BTT-"),
    ("urn:epcglobal:cbv:sdt:", _CBV + "SDT-"),
    ("urn:epcglobal:cbv:er:", _CBV + "ER-"),
)
_NOT_NUMERIC_START = frozenset("abcdefghjklmopqrstuvwxyzABCDEFGHJKLMOPQRSTUVWXYZ")
_value_cache: dict[str, str] = {}
_CACHE_LIMIT = 1 << 17


def _canonical_value(text: str) -> str:
    cached = _value_cache.get(text)
    if cached is not None:
        return cached
    value = text
    if "urn:epcglobal:cbv:" in value:
        for old, new in _OLD_CBV:
            value = value.replace(old, new)
    if value and value[0] not in _NOT_NUMERIC_START:
        try:
            number = float(value)
            # int() of inf raises OverflowError: the value is then kept as written
            value = str(int(number)) if int(number) == number else str(number)
        except (ValueError, OverflowError):
            pass
    value = _gs1_key_uri(value) or value
    if len(_value_cache) >= _CACHE_LIMIT:
        _value_cache.clear()
    _value_cache[text] = value
    return value


def canonical_value(text: str) -> str:
    """The spelling the hash reads a string value as (a GS1 key as its canonical Digital Link,
    a number as its shortest form, an old CBV URN as the CBV 2.0 term): two strings with the
    same canonical value give the same event hash."""
    return _canonical_value(text)


_TIME_RE = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d)(?::(\d\d)(?:[.,](\d+))?)?"
    r"\s*(?:([Zz])|([+-])(\d\d)(?::?(\d\d))?)?")
_UTC = UTC
_time_cache: dict[str, str] = {}


def _timestamp(text: str) -> str:
    """UTC, millisecond precision, `Z`: `2020-01-01T11:00:00.0005+01:00` → `...10:00:00.000Z`.
    Microseconds round half-to-even at the millisecond, as the reference does."""
    cached = _time_cache.get(text)
    if cached is not None:
        return cached
    m = _TIME_RE.fullmatch(text)
    if m is None:
        return text  # not a time: kept as written, like the reference
    year, month, day, hour, minute, second, fraction, zulu, sign, oh, om = m.groups()
    micro = int((fraction or "")[:6].ljust(6, "0"))
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute),
                          int(second or 0), tzinfo=_UTC)
    except ValueError:
        return text
    try:
        if sign:
            offset = timedelta(hours=int(oh), minutes=int(om or 0))
            moment = moment - offset if sign == "+" else moment + offset
        moment += timedelta(microseconds=round(micro, -3))
    except OverflowError:
        raise UnrepresentableTimeError(
            f"{text!r} is before 0001-01-01 or after 9999-12-31 in UTC", value=text) from None
    fixed = (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
             f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond // 1000:03d}Z")
    if len(_time_cache) >= _CACHE_LIMIT:
        _time_cache.clear()
    _time_cache[text] = fixed
    return fixed


# --------------------------------------------------------------------------------------------
# GS1 keys → canonical Digital Link, exactly as the hash algorithm defines it (the reference's
# "DL normaliser"). `ledger.epcis.gs1` is the general, validating library; this function instead
# reproduces the hash's rules, including what it leaves alone.
# --------------------------------------------------------------------------------------------
_C = r"(?:%2[125-9A-Fa-f]|%3[0-9A-Fa-f]|%4[1-9A-Fa-f]|%5[0-9AaFf]|%6[1-9A-Fa-f]|%7[0-9Aa]|[!')(*+,.0-9:;=A-Za-z_-])"
_CPI = r"(?:%2[3dfDF]|%3[0-9]|%4[1-9A-Fa-f]|%5[0-9Aa]|[0-9A-Z-])"
_DL_ESCAPES = str.maketrans({"!": "%21", "(": "%28", ")": "%29", "*": "%2A", "+": "%2B",
                             ",": "%2C", ":": "%3A"})


_check_cache: dict[str, str] = {}


def _check_digit(digits: str) -> str:
    """GS1 mod-10 check digit (weights 3,1,3,… from the right); memoised: keys repeat."""
    cd = _check_cache.get(digits)
    if cd is None:
        total = 0
        for i, d in enumerate(reversed(digits)):
            total += int(d) * (3 if i % 2 == 0 else 1)
        cd = str(-total % 10)
        if len(_check_cache) >= _CACHE_LIMIT:
            _check_cache.clear()
        _check_cache[digits] = cd
    return cd


def _gtin(cp: str, ref: str) -> str:
    raw = ref[0] + cp + ref[1:]
    return raw + _check_digit(raw)


_EPC_BODY = {
    # scheme: compiled body pattern (after "urn:epc:id:<scheme>:")
    "sgtin": re.compile(r"(\d{6,12})\.(\d{1,7})\.(" + _C + r"{1,20})"),
    "sscc": re.compile(r"(\d{6,12})\.(\d{5,11})"),
    "sgln": re.compile(r"(\d{6,12})\.(\d{0,6})\.(" + _C + r"{1,20})"),
    "grai": re.compile(r"(\d{6,11})\.(\d{1,6})\.(" + _C + r"{1,16})"),
    "giai": re.compile(r"(\d{6,12})\.(" + _C + r"{1,24})"),
    "gsrn": re.compile(r"(\d{6,12})\.(\d{5,11})"),
    "gsrnp": re.compile(r"(\d{6,12})\.(\d{5,11})"),
    "gdti": re.compile(r"(\d{6,11})\.(\d{1,6})\.(" + _C + r"{0,19})"),
    "cpi": re.compile(r"(\d{6,12})\.(" + _CPI + r"{1,24})\.(\d{1,12})"),
    "sgcn": re.compile(r"(\d{6,12})\.(\d{0,6})\.(\d{1,12})"),
    "ginc": re.compile(r"(\d{6,12})\.(" + _C + r"{1,24})"),
    "gsin": re.compile(r"(\d{6,12})\.(\d{4,10})"),
    "itip": re.compile(r"(\d{6,12})\.(\d{1,7})\.(\d\d)\.(\d\d)\.(" + _C + r"{1,20})"),
    "upui": re.compile(r"(\d{6,12})\.(\d{1,7})\.(" + _C + r"{1,28})"),
    "pgln": re.compile(r"(\d{6,12})\.(\d{0,6})"),
}


# With a 12-digit company prefix the reference reads GRAI and GDTI with one dot more than
# written for the other lengths (cp + ".." + serial); its vectors depend on it.
_EPC_BODY_CP12 = {
    "grai": re.compile(r"(\d{12})\.\.(\." + _C + r"{1,16})"),
    "gdti": re.compile(r"(\d{12})\.\.(" + _C + r"{1,20})"),
}


def _plain_sgtin(body: str) -> str | None:
    """The common SGTIN (ASCII digits, then an ASCII letters-and-digits serial: nothing to
    check character by character, nothing to escape), as the pattern below reads it, without
    the regular expression (a quarter of the cost); anything else None."""
    cp, _, rest = body.partition(".")
    ref, dot, serial = rest.partition(".")
    if (dot and 6 <= len(cp) <= 12 and len(cp) + len(ref) == 13 and 1 <= len(serial) <= 20
            and body.isascii() and cp.isdigit() and ref.isdigit() and serial.isalnum()):
        return "https://id.gs1.org/01/" + _gtin(cp, ref) + "/21/" + serial
    return None


def _epc_id(scheme: str, body: str) -> str | None:
    if scheme == "sgtin" and (plain := _plain_sgtin(body)) is not None:
        return plain
    pattern = _EPC_BODY.get(scheme)
    if pattern is None:
        return None
    m = pattern.fullmatch(body)
    if m is None and scheme in _EPC_BODY_CP12:
        m12 = _EPC_BODY_CP12[scheme].fullmatch(body)
        if m12 is None:
            return None
        cp, serial = m12.groups()
        if scheme == "grai":
            return ("https://id.gs1.org/8003/0" + cp + _check_digit("0" + cp)
                    + serial.translate(_DL_ESCAPES))
        return "https://id.gs1.org/253/" + cp + _check_digit(cp) + serial.translate(_DL_ESCAPES)
    if m is None:
        return None
    g = m.groups()
    cp = g[0]
    n = len(cp)
    if scheme == "sgtin":
        if n + len(g[1]) != 13:
            return None
        return "https://id.gs1.org/01/" + _gtin(cp, g[1]) + "/21/" + g[2].translate(_DL_ESCAPES)
    if scheme == "sscc":
        if n + len(g[1]) != 17:
            return None
        raw = g[1][0] + cp + g[1][1:]
        return "https://id.gs1.org/00/" + raw + _check_digit(raw)
    if scheme == "sgln":
        if n + len(g[1]) != 12:
            return None
        gln = cp + g[1] + _check_digit(cp + g[1])
        if g[2] == "0":
            return "https://id.gs1.org/414/" + gln
        return "https://id.gs1.org/414/" + gln + "/254/" + g[2].translate(_DL_ESCAPES)
    if scheme == "grai":
        if n + len(g[1]) != 12:
            return None
        raw = "0" + cp + g[1]
        return "https://id.gs1.org/8003/" + raw + _check_digit(raw) + g[2].translate(_DL_ESCAPES)
    if scheme in ("giai", "ginc"):
        if len(g[1]) > 30 - n:
            return None
        ai = "8004" if scheme == "giai" else "401"
        return "https://id.gs1.org/" + ai + "/" + cp + g[1].translate(_DL_ESCAPES)
    if scheme in ("gsrn", "gsrnp"):
        if n + len(g[1]) != 17:
            return None
        ai = "8018" if scheme == "gsrn" else "8017"
        return "https://id.gs1.org/" + ai + "/" + cp + g[1] + _check_digit(cp + g[1])
    if scheme == "gdti":
        if n + len(g[1]) != 12:
            return None
        return ("https://id.gs1.org/253/" + cp + g[1] + _check_digit(cp + g[1])
                + g[2].translate(_DL_ESCAPES))
    if scheme == "cpi":
        if len(g[1]) > 30 - n:
            return None
        return "https://id.gs1.org/8010/" + (cp + g[1]).translate(_DL_ESCAPES) + "/8011/" + g[2]
    if scheme == "sgcn":
        if n + len(g[1]) != 12:
            return None
        return "https://id.gs1.org/255/" + cp + g[1] + _check_digit(cp + g[1]) + g[2]
    if scheme == "gsin":
        if n + len(g[1]) != 16:
            return None
        return "https://id.gs1.org/402/" + cp + g[1] + _check_digit(cp + g[1])
    if scheme == "itip":
        if n + len(g[1]) != 13:
            return None
        return ("https://id.gs1.org/8006/" + _gtin(cp, g[1]) + g[2] + g[3] + "/21/"
                + g[4].translate(_DL_ESCAPES))
    if scheme == "upui":
        if n + len(g[1]) != 13:
            return None
        return "https://id.gs1.org/01/" + _gtin(cp, g[1]) + "/235/" + g[2].translate(_DL_ESCAPES)
    # pgln
    if n + len(g[1]) != 12:
        return None
    return "https://id.gs1.org/417/" + cp + g[1] + _check_digit(cp + g[1])


_LGTIN = re.compile(r"(\d{6,12})\.(\d{1,7})\.(" + _C + r"{1,20})")
_IDPAT = {
    "sgtin": re.compile(r"(\d{6,12})\.(\d{1,7})\.\*"),
    "upui": re.compile(r"(\d{6,12})\.(\d{1,7})\.\*"),
    "grai": re.compile(r"(\d{6,11})\.(\d{1,6})\.\*"),
    "gdti": re.compile(r"(\d{6,11})\.(\d{1,6})\.\*"),
    "sgcn": re.compile(r"(\d{6,11})\.(\d{1,6})\.\*"),
    "cpi": re.compile(r"(\d{6,12})\.(" + _CPI + r"{1,24})\.\*"),
    "itip": re.compile(r"(\d{6,12})\.(\d{1,7})\.(\d\d)\.(\d\d)\.\*"),
}


_IDPAT_CP12 = re.compile(r"(\d{12})\.\.\.\*")  # grai/gdti/sgcn: see _EPC_BODY_CP12


def _epc_pattern(scheme: str, body: str) -> str | None:
    pattern = _IDPAT.get(scheme)
    m = pattern.fullmatch(body) if pattern else None
    if m is None and scheme in ("grai", "gdti", "sgcn"):
        m12 = _IDPAT_CP12.fullmatch(body)
        if m12 is None:
            return None
        cp = m12.group(1)
        if scheme == "grai":
            return "https://id.gs1.org/8003/0" + cp + _check_digit("0" + cp)
        ai = "253" if scheme == "gdti" else "255"
        return "https://id.gs1.org/" + ai + "/" + cp + _check_digit(cp)
    if m is None:
        return None
    g = m.groups()
    cp = g[0]
    n = len(cp)
    if scheme in ("sgtin", "upui", "itip"):
        if n + len(g[1]) != 13:
            return None
        gtin = _gtin(cp, g[1])
        if scheme == "itip":
            return "https://id.gs1.org/8006/" + gtin + g[2] + g[3]
        return "https://id.gs1.org/01/" + gtin
    if scheme == "cpi":
        if len(g[1]) > 30 - n:
            return None
        return "https://id.gs1.org/8010/" + (cp + g[1]).translate(_DL_ESCAPES)
    if n + len(g[1]) != 12:
        return None
    if scheme == "grai":
        raw = "0" + cp + g[1]
        return "https://id.gs1.org/8003/" + raw + _check_digit(raw)
    ai = "253" if scheme == "gdti" else "255"
    return "https://id.gs1.org/" + ai + "/" + cp + g[1] + _check_digit(cp + g[1])


_DL_KEYS = ("01|gtin|8006|itip|8010|cpid|414|gln|417|party|8017|gsrnp|8018|gsrn|255|gcn|00|sscc|"
            "253|gdti|401|ginc|402|gsin|8003|grai|8004|giai")
_DL_GATE = re.compile(r"https?:[^?#]*/(?:" + _DL_KEYS + r")/\d{4}[^/]+")
_DL_SHORT_NAMES = (
    ("/gtin/", "/01/"), ("/itip/", "/8006/"), ("/cpid/", "/8010/"), ("/gln/", "/414/"),
    ("/party/", "/417/"), ("/gsrnp/", "/8017/"), ("/gsrn/", "/8018/"), ("/gcn/", "/255/"),
    ("/sscc/", "/00/"), ("/gdti/", "/253/"), ("/ginc/", "/401/"), ("/gsin/", "/402/"),
    ("/grai/", "/8003/"), ("/giai/", "/8004/"), ("/cpv/", "/22/"), ("/lot/", "/10/"),
    ("/ser/", "/21/"))
# the reference writes the host with unescaped dots; kept so the same inputs qualify
_DL_CANONICAL_HOST = re.compile(
    r"https://id.gs1.org/(?:01|8006|8010|414|417|8017|8018|255|00|253|401|402|8003|8004)/\d{4}[^/]")
_DL_REBASE_ORDER = ("/00/", "/01/", "/253/", "/255/", "/401/", "/402/", "/414/", "/417/",
                    "/8003/", "/8004/", "/8006/", "/8010/", "/8017/", "/8018/")
_X = r"[\x22\x27\x2D\x2E\x30-\x39\x3B-\x3F\x41-\x5A\x5F\x61-\x7A]"
_KEY_WITH = r"https://id.gs1.org/(?:8006/\d{18}|01/\d{14})"
_CPV_ONLY = re.compile(_KEY_WITH + r"/22/" + _X + r"{0,20}")
_CPV_THEN = re.compile(_KEY_WITH + r"/22/[\x2F\x22\x27\x2D\x2E\x30-\x39\x3B-\x3F\x41-\x5A\x5F\x61-\x7A]{0,20}")
_LOT_AND_SERIAL = re.compile(_KEY_WITH + r"/10/" + _X + r"{0,20}/21/" + _X + r"{0,20}")
_DL_FINAL = re.compile(
    r"https://id.gs1.org/(?:"
    r"00/\d{18}"
    r"|01/\d{14}(?:/21/" + _X + r"{0,20}|/10/" + _X + r"{0,20}|/235/" + _X + r"{0,28})?"
    r"|253/\d{13}" + _X + r"{0,17}"
    r"|255/\d{13}\d{0,12}"
    r"|401/" + _X + r"{0,30}"
    r"|402/\d{17}"
    r"|414/\d{13}(?:/254/" + _X + r"{0,20})?"
    r"|417/\d{13}"
    r"|8003/\d{14}" + _X + r"{0,16}"
    r"|8004/" + _X + r"{0,30}"
    r"|8006/\d{18}(?:/21/" + _X + r"{0,20}|/10/" + _X + r"{0,20})?"
    r"|8010/[\x23\x2D\x2F\x30-\x39\x41-\x5A]{0,30}(?:/8011/\d{0,12})?"
    r"|8017/\d{18}"
    r"|8018/\d{18})")
_GTIN_DIGITS = re.compile(r"https://id.gs1.org/01/(\d*)")


def _digital_link(uri: str) -> str | None:
    if _DL_GATE.match(uri) is None:
        return None
    q = uri.find("?")
    if q >= 0:
        uri = uri[:q]
    for short, ai in _DL_SHORT_NAMES:
        if short in uri:
            uri = uri.replace(short, ai)
    if _DL_CANONICAL_HOST.match(uri) is None:
        for ai in _DL_REBASE_ORDER:
            at = uri.find(ai)
            if at != -1:
                uri = "https://id.gs1.org" + uri[at:]
                break
    m = _GTIN_DIGITS.match(uri)
    if m is not None:
        n = len(m.group(1))
        if n < 14:
            pad = "0" if n == 13 else "00" if n == 12 else "000000" if n >= 8 else ""
            if pad:
                uri = uri.replace("/01/", "/01/" + pad)
    if "/22/" in uri:
        at = uri.find("/22/")
        rest = uri[at + 4:]
        if _CPV_ONLY.fullmatch(uri):
            uri = uri[:at]
        elif _CPV_THEN.fullmatch(uri):
            slash = rest.find("/")
            uri = uri[:at] + (rest[slash:] if slash >= 0 else rest[-1:])
    if "/10/" in uri and _LOT_AND_SERIAL.fullmatch(uri):
        at = uri.find("/10/")
        rest = uri[at + 4:]
        uri = uri[:at] + rest[rest.find("/"):]
    return uri if _DL_FINAL.fullmatch(uri) else None


def _gs1_key_uri(uri: str) -> str | None:
    """Canonical Digital Link of a GS1 key written as EPC URN, class, pattern or Digital Link."""
    if "." not in uri:
        return None
    if uri.startswith("urn:epc:"):
        kind, _, rest = uri[8:].partition(":")
        scheme, _, body = rest.partition(":")
        if kind == "id":
            return _epc_id(scheme, body)
        if kind == "class" and scheme == "lgtin":
            m = _LGTIN.fullmatch(body)
            if m is None or len(m.group(1)) + len(m.group(2)) != 13:
                return None
            return ("https://id.gs1.org/01/" + _gtin(m.group(1), m.group(2)) + "/10/"
                    + m.group(3).translate(_DL_ESCAPES))
        if kind == "idpat":
            return _epc_pattern(scheme, body)
        return None
    if uri.startswith("http"):
        return _digital_link(uri)
    return None



# --------------------------------------------------------------------------------------------
# Fast path. Most events have only standard fields of standard shape and scalar extensions; for
# those the pre-hash string is written straight from the dict, which gives exactly what the tree
# gives (a test checks both on every vector and example). Anything else returns None and takes
# the tree.
# --------------------------------------------------------------------------------------------
_F_LEAF = frozenset(("eventTime", "eventTimeZoneOffset", "certificationInfo", "parentID",
                     "action", "transformationID", "bizStep", "disposition"))
_F_EPCS = frozenset(("epcList", "inputEPCList", "childEPCs", "outputEPCList"))
_F_QUANTITIES = frozenset(("quantityList", "childQuantityList", "inputQuantityList",
                           "outputQuantityList"))
_F_LOCATIONS = frozenset(("readPoint", "bizLocation"))
_F_PAIRS = {"bizTransactionList": "bizTransaction", "sourceList": "source",
            "destinationList": "destination"}
_F_QUANTITY_KEYS = ("epcClass", "quantity", "uom")
_F_ORDER = tuple(name for name, _ in _ORDER if name not in _F_PAIRS)
_F_SKIP = frozenset(("type", "eventID", "recordTime", "errorDeclaration", "#text", "comment",
                     "rdfs:comment"))
_F_SCALARS = (str, int, float, bool)
_F_AWKWARD_KEYS = frozenset(("quantity", "inputEPC", "outputEPC", "inputQuantity",
                             "outputQuantity", "childQuantity", "bizTransaction", "source",
                             "destination"))


def _fast_prehash(event: Mapping[str, Any], build: _Build) -> str | None:
    if "eventTime" not in event:
        return None
    scalar = build.scalar
    ordered: dict[str, str] = {}
    rest: list[str] = []
    for key, value in event.items():
        if key in _F_SKIP:
            continue
        if key in _F_LEAF:
            if isinstance(value, list):
                items = []
                for v in value:
                    if not isinstance(v, _F_SCALARS):
                        return None
                    item = _f_leaf(key, scalar(v))
                    if item:
                        items.append(item)
                items.sort()
                ordered[key] = "".join(items)
            elif isinstance(value, _F_SCALARS) or value is None:
                ordered[key] = _f_leaf(key, scalar(value))
            else:
                return None
        elif key in _F_EPCS:
            if not isinstance(value, list):
                return None
            items = []
            for v in value:
                if not isinstance(v, _F_SCALARS):
                    return None
                item = _f_leaf("epc", scalar(v))
                if item:
                    items.append(item)
            if items:
                items.sort()
                ordered[key] = key + "".join(items)
        elif key in _F_QUANTITIES:
            if not isinstance(value, list):
                return None
            items = []
            for element in value:
                if not isinstance(element, dict) or not element or any(
                        k not in _F_QUANTITY_KEYS for k in element):
                    return None
                text = ""
                for k in _F_QUANTITY_KEYS:
                    if k in element:
                        v = element[k]
                        if not isinstance(v, _F_SCALARS):
                            return None
                        text += _f_leaf(k, scalar(v))
                if text:
                    items.append("quantityElement" + text)
            if items:
                items.sort()
                ordered[key] = key + "".join(items)
        elif key in _F_LOCATIONS:
            if not isinstance(value, dict) or any(k != "id" for k in value):
                return None
            if "id" in value:
                v = value["id"]
                if not isinstance(v, _F_SCALARS):
                    return None
                text = _f_leaf("id", scalar(v))
                if text:
                    ordered[key] = key + text
        elif key == "persistentDisposition":
            if not isinstance(value, dict) or any(k not in ("set", "unset") for k in value):
                return None
            text = ""
            for k in ("set", "unset"):
                v = value.get(k)
                if v is None and k not in value:
                    continue
                values = v if isinstance(v, list) else [v]
                items = []
                for x in values:
                    if not isinstance(x, _F_SCALARS):
                        return None
                    item = _f_leaf(k, scalar(x))
                    if item:
                        items.append(item)
                items.sort()
                text += "".join(items)
            if text:
                ordered[key] = key + text
        elif key in _F_PAIRS:
            if not isinstance(value, list):
                return None
            if not value:
                continue
            what = _F_PAIRS[key]
            pairs = []
            for entry in value:
                if not isinstance(entry, dict) or what not in entry or any(
                        k != "type" and k != what for k in entry):
                    return None
                pair = ""
                for k in ("type", what):
                    if k in entry:
                        v = entry[k]
                        if not isinstance(v, _F_SCALARS):
                            return None
                        pair += _f_piece(k, scalar(v))
                pairs.append(pair)
            if len(pairs) > 1:
                pairs.sort()
            rest.append(key + "".join(pairs))
        else:
            # a user extension (or unknown field) with a plain value
            if (not isinstance(value, _F_SCALARS) or key.startswith("@") or key in _F_AWKWARD_KEYS
                    or key == "childEPCs"):
                return None
            name = build.key(key)
            if name.endswith("List") or name in _F_AWKWARD_KEYS:
                return None
            rest.append(_f_piece(name, scalar(value)))
    head = event.get("type", "")
    head = build.resolve.get(head, head) if isinstance(head, str) else ""
    out = "eventType=" + head + "".join(
        ordered[name] for name in _F_ORDER if name in ordered)
    if len(rest) > 1:
        rest.sort()
    return out + "".join(rest)


def _f_leaf(name: str, raw: str) -> str:
    """`name=value` of an ordered leaf (what `_leaf_text` gives for a childless node)."""
    if not raw:
        return ""
    raw = raw.strip()
    if name == "eventTime":
        text = _timestamp(raw)
    else:
        text = _canonical_value(raw)
    return name + "=" + text if text else ""


def _f_piece(name: str, raw: str) -> str:
    """`name=value` of a generic leaf (what `_generic` gives)."""
    text = raw.strip()
    return name + "=" + _canonical_value(text) if text else name


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------
def prehash(event: Mapping[str, Any], context: Any = None, *,
            ignore_fields: Iterable[str] = ()) -> str:
    """The canonical pre-hash string of one EPCIS event (JSON-LD object).

    `context` is the enclosing document's `@context` (it declares the extension namespaces);
    `ignore_fields` are top-level keys excluded from the hash (a document's `ignoreFields`).
    """
    return _prehash(event, _namespaces(context), frozenset(ignore_fields))


def _prehash(event: Mapping[str, Any], ns: dict[str, str], ignore: frozenset[str]) -> str:
    if not isinstance(event, Mapping):
        raise InvalidInputError("an EPCIS event must be a JSON object", pointer="")
    if "@context" in event:
        # a single event posted on its own carries its document's context
        if not ns:
            ns = _namespaces(event["@context"])
        ignore = ignore | {"@context"}
    if ignore:
        event = {k: v for k, v in event.items() if k not in ignore}
    build = _Build(ns, _resolver(_collect_vocab(event)))
    fast = _fast_prehash(event, build)
    if fast is not None:
        return fast
    return _tree_prehash(event, build)


def _tree_prehash(event: Mapping[str, Any], build: _Build) -> str:
    name, _, children = _restructure(build.obj(dict(event) if not isinstance(event, dict)
                                               else event))
    head = "eventType=" + name + _ordered(children, _ORDER)
    rest = [c for c in children if c[0] not in _IGNORED_TOP]
    return head + (_generic(rest) if rest else "")


def event_hash(event: Mapping[str, Any], context: Any = None, *,
               ignore_fields: Iterable[str] = ()) -> bytes:
    """The 32-byte sha-256 event hash: the event's identity in the store, trees and API."""
    return hashlib.sha256(prehash(event, context, ignore_fields=ignore_fields).encode()).digest()


def event_id(event: Mapping[str, Any], context: Any = None, *,
             ignore_fields: Iterable[str] = ()) -> str:
    """`ni:///sha-256;<hex>?ver=CBV2.0` of one event."""
    return format_event_id(event_hash(event, context, ignore_fields=ignore_fields))


def format_event_id(digest: bytes) -> str:
    if len(digest) != 32:
        raise InvalidEventIdError("an event hash is 32 bytes", length=len(digest))
    return _NI_PREFIX + digest.hex() + _NI_SUFFIX


_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def parse_event_id(text: str) -> bytes:
    """32 bytes from `ni:///sha-256;<hex>?ver=CBV2.0` or from 64 plain hex digits."""
    if not isinstance(text, str):
        raise InvalidEventIdError("an event id is a string", value=repr(text)[:80])
    candidate = text.strip()
    if candidate.startswith(_NI_PREFIX):
        candidate = candidate[len(_NI_PREFIX):]
        if not candidate.endswith(_NI_SUFFIX):
            raise InvalidEventIdError(
                f"event id {text[:100]!r} must end with {_NI_SUFFIX!r}", value=text[:100])
        candidate = candidate[:-len(_NI_SUFFIX)]
    if not _HEX64.fullmatch(candidate):
        raise InvalidEventIdError(
            f"{text[:100]!r} is not an event id (ni:///sha-256;<64 hex>?ver=CBV2.0 or 64 hex)",
            value=text[:100])
    return bytes.fromhex(candidate)


def _document_parts(document: Any) -> tuple[Any, list, frozenset[str]]:
    """(@context, events, ignore fields) of an EPCISDocument / query document / single event,
    given as a dict or as a parsed `ledger.epcis.document.EPCISDocument`."""
    raw = getattr(document, "raw", document)
    events = getattr(document, "events", None)
    if not isinstance(raw, Mapping):
        raise InvalidInputError("an EPCIS document must be a JSON object", pointer="")
    context = raw.get("@context")
    ignore: set[str] = set()
    _ignore_fields_of(raw, ignore)
    body = raw.get("epcisBody")
    if events is None:
        if isinstance(body, Mapping):
            if "eventList" in body:
                events = body["eventList"]
            elif "queryResults" in body:
                results = body["queryResults"]
                _ignore_fields_of(results, ignore)
                events = results.get("resultsBody", {}).get("eventList", [])
            elif "event" in body:
                events = [body["event"]]
            else:
                events = []
        elif body is None and "eventTime" in raw:
            events = [raw]  # a single event posted on its own
        else:
            raise InvalidInputError("no epcisBody in the EPCIS document", pointer="/epcisBody")
    elif isinstance(body, Mapping) and isinstance(body.get("queryResults"), Mapping):
        _ignore_fields_of(body["queryResults"], ignore)
    if not isinstance(events, (list, tuple)):
        raise InvalidInputError("eventList must be an array", pointer="/epcisBody/eventList")
    return context, list(events), frozenset(ignore)


def _ignore_fields_of(obj: Any, into: set[str]) -> None:
    # `<prefix>:ignoreFields` names extension fields that a repository adds after capture (its
    # own hash, capture ids): they must not change the event id.
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            if (key == "ignoreFields" or key.endswith(":ignoreFields")) and isinstance(value, list):
                into.update(v for v in value if isinstance(v, str))


def prehashes(document: Any) -> list[str]:
    """Pre-hash strings of every event of a document, in document order."""
    context, events, ignore = _document_parts(document)
    ns = _namespaces(context)
    return [_prehash(e, ns, ignore) for e in events]


def event_hashes(document: Any) -> list[bytes]:
    """32-byte event hashes of every event of a document, in document order."""
    sha = hashlib.sha256
    return [sha(p.encode()).digest() for p in prehashes(document)]


def event_ids(document: Any) -> list[str]:
    """`ni:///sha-256;…?ver=CBV2.0` ids of every event of a document, in document order."""
    return [format_event_id(h) for h in event_hashes(document)]
