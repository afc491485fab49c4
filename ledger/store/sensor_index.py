"""The sensor readings index: one row per statistic of each `sensorReport` of a stored event,
filled at capture (and by migration 0010 for events stored before), so that the EPCIS 2.0
sensor query parameters (`EQ_type`, `GE_value_<uom>`, `LT_maxValue_<uom>`…, EPCIS 2.0 §8.2.7.1
and the REST binding's `openapi.yaml`) are answered from an index, never by reading events.

A row holds the report's measurement type as a bare word (`Temperature` for `Temperature`,
`gs1:Temperature` or `https://gs1.org/voc/Temperature`), the statistic (`value`, `minValue`,
`maxValue`, `meanValue`, `sDev`, `percValue`), the value and unit as reported, and, when the
type and unit are ones the cold chain converts (`ledger.epcis.measurements`), the value in the
type's canonical unit (°C for temperatures): `GE_value_FAH=46.4` then finds a reading of
9 °C. A report in a unit nobody converts is matched in its own unit only.

The other sensor fields the query language names go to the event facts index
(`ledger.store.event_facts`) as rows of their own keys (`sensor_facts`), read by the same
(key, text, seq) and (key, num, seq) indexes as every other facts parameter:
- `sensor.<field>` for the URI and string fields (`deviceID`, `deviceMetadata`, `rawData`,
  `dataProcessingMethod` of sensorMetadata and of sensorReport alike, `bizRules` of
  sensorMetadata, `microorganism`, `chemicalSubstance`, `stringValue`, `uriValue` of
  sensorReport) as text, as written; `hexBinaryValue` in upper case (hex digits name bytes,
  `0a` and `0A` are one value); `booleanValue` as `true`/`false`; `time` (of either),
  `startTime`, `endTime` (of sensorMetadata) as epoch milliseconds in `num`, only when they are
  date-times with a zone; `percRank` as a number;
- `sensorelement:<name>`, `sensormetadata:<name>`, `sensorreport:<name>` for the extension
  fields (a name with a namespace prefix) of a sensorElement, its sensorMetadata and its
  sensorReports, as `event_facts` keeps an event's own extension fields, and
  `inner_sensorelement:<name>` (… `inner_sensorreport:`) for the named fields nested in them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ledger.epcis.measurements import MEASUREMENTS, TYPE_PREFIXES
from ledger.store.event_facts import TEXT_LIMIT, extension_rows, time_ms

__all__ = ["METADATA_FIELDS", "OPS", "REPORT_FIELDS", "STATS", "SensorFilter", "bare_type",
           "hex_binary", "sensor_facts", "sensor_rows", "unit_kind"]

# Statistics of a sensorReport the query language compares (EPCIS 2.0 §8.2.7.1).
STATS = ("value", "minValue", "maxValue", "meanValue", "sDev", "percValue")
OPS = ("EQ", "GT", "GE", "LT", "LE")
_TYPE_PREFIXES = TYPE_PREFIXES
TYPE_LIMIT = 128
UOM_LIMIT = 16


def bare_type(name: Any) -> str | None:
    """A measurement type as a bare word, or None for no type."""
    if not isinstance(name, str) or not name.strip():
        return None
    name = name.strip()
    for prefix in _TYPE_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def unit_kind(uom: str) -> str | None:
    """The measurement type whose units include `uom` (`CEL` → Temperature), if one does."""
    for kind, (_, units) in MEASUREMENTS.items():
        if uom in units:
            return kind
    return None


def _canonical(kind: str, stat: str, value: float, uom: str | None) -> float | None:
    spec = MEASUREMENTS.get(kind)
    if spec is None or uom is None or uom not in spec[1]:
        return None
    factor, offset = spec[1][uom]
    # A standard deviation is a difference: scaled, never shifted.
    return value * factor + (0.0 if stat == "sDev" else offset)


def sensor_rows(event: Mapping[str, Any]
                ) -> list[tuple[int, int, str, str, str | None, float, float | None]]:
    """(element, report, stat, type, uom, value, canonical value) of every numeric statistic
    of every typed sensorReport of `event`."""
    out: list[tuple[int, int, str, str, str | None, float, float | None]] = []
    elements = event.get("sensorElementList")
    if not isinstance(elements, list):
        return out
    for e_index, element in enumerate(elements):
        reports = element.get("sensorReport") if isinstance(element, Mapping) else None
        if not isinstance(reports, list):
            continue
        for r_index, report in enumerate(reports):
            if not isinstance(report, Mapping):
                continue
            kind = bare_type(report.get("type"))
            if kind is None:
                continue
            uom = report.get("uom")
            uom = uom if isinstance(uom, str) and uom else None
            for stat in STATS:
                raw = report.get(stat)
                if not isinstance(raw, int | float) or isinstance(raw, bool):
                    continue
                value = float(raw)
                if not math.isfinite(value):
                    continue
                out.append((e_index, r_index, stat, kind, uom, value,
                            _canonical(kind, stat, value, uom)))
    return out


# The fields of sensorMetadata and of sensorReport that `sensor_facts` indexes, by the kind of
# value each holds (EPCIS 2.0 §7.3.7.3; the query parameters of §8.2.7.1 that compare them).
_TEXTS = ("deviceID", "deviceMetadata", "rawData", "dataProcessingMethod")
_TIMES = ("time",)
METADATA_FIELDS = (*_TEXTS, "bizRules", *_TIMES, "startTime", "endTime")
REPORT_FIELDS = (*_TEXTS, "microorganism", "chemicalSubstance", "stringValue", "uriValue",
                 "hexBinaryValue", "booleanValue", *_TIMES, "percRank")
_TIME_FIELDS = frozenset({"time", "startTime", "endTime"})
_HEX = frozenset("0123456789ABCDEF")
_BOOLEANS = {"true": "true", "1": "true", "false": "false", "0": "false"}

Fact = tuple[str, str | None, float | None]


def hex_binary(value: str) -> str | None:
    """An xsd:hexBinary value in its one spelling (upper case), None if it is not one."""
    upper = value.strip().upper()
    if len(upper) % 2 or not set(upper) <= _HEX:
        return None
    return upper


def _field(name: str, value: Any) -> Fact | None:
    key = f"sensor.{name}"
    if name in _TIME_FIELDS:
        ms = time_ms(value) if isinstance(value, str) else None
        return (key, None, ms) if ms is not None else None
    if name == "percRank":
        if isinstance(value, int | float) and not isinstance(value, bool) \
                and math.isfinite(float(value)):
            return key, None, float(value)
        return None
    if name == "booleanValue":
        if isinstance(value, bool):
            return key, "true" if value else "false", None
        text = _BOOLEANS.get(value.strip()) if isinstance(value, str) else None
        return (key, text, None) if text is not None else None
    if not isinstance(value, str) or not value or len(value) > TEXT_LIMIT:
        return None
    if name == "hexBinaryValue":
        text = hex_binary(value)
        return (key, text, None) if text is not None else None
    return key, value, None


def sensor_facts(event: Mapping[str, Any]) -> list[Fact]:
    """(key, text, num) rows of `event`'s sensorElementList for the event facts index (see the
    module's docstring), duplicates dropped."""
    out: list[Fact] = []
    elements = event.get("sensorElementList")
    if not isinstance(elements, list):
        return out
    for element in elements:
        if not isinstance(element, Mapping):
            continue
        out.extend(extension_rows(element, "sensorelement", "inner_sensorelement"))
        metadata = element.get("sensorMetadata")
        parts: list[tuple[Mapping[str, Any], tuple[str, ...], str]] = []
        if isinstance(metadata, Mapping):
            parts.append((metadata, METADATA_FIELDS, "sensormetadata"))
        reports = element.get("sensorReport")
        for report in reports if isinstance(reports, list) else ():
            if isinstance(report, Mapping):
                parts.append((report, REPORT_FIELDS, "sensorreport"))
        for fields, names, key in parts:
            for name in names:
                if name in fields and (row := _field(name, fields[name])) is not None:
                    out.append(row)
            out.extend(extension_rows(fields, key, f"inner_{key}"))
    return list(dict.fromkeys(out))


@dataclass(frozen=True, slots=True)
class SensorFilter:
    """One `<op>_<stat>_<uom>` query parameter: a report's `stat` compared with `value`
    expressed in `uom`."""

    op: str  # EQ | GT | GE | LT | LE
    stat: str  # one of STATS
    uom: str
    value: float
