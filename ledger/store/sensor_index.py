"""The sensor readings index: one row per statistic of each `sensorReport` of a stored event,
filled at capture (and by migration 0009 for events stored before), so that the EPCIS 2.0
sensor query parameters (`EQ_type`, `GE_value_<uom>`, `LT_maxValue_<uom>`…, EPCIS 2.0 §8.2.7.1
and the REST binding's `openapi.yaml`) are answered from an index, never by reading events.

A row holds the report's measurement type as a bare word (`Temperature` for `Temperature`,
`gs1:Temperature` or `https://gs1.org/voc/Temperature`), the statistic (`value`, `minValue`,
`maxValue`, `meanValue`, `sDev`, `percValue`), the value and unit as reported, and, when the
type and unit are ones the cold chain converts (`ledger.epcis.measurements`), the value in the
type's canonical unit (°C for temperatures): `GE_value_FAH=46.4` then finds a reading of
9 °C. A report in a unit nobody converts is matched in its own unit only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ledger.epcis.measurements import MEASUREMENTS, TYPE_PREFIXES

__all__ = ["OPS", "STATS", "SensorFilter", "bare_type", "sensor_rows", "unit_kind"]

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


@dataclass(frozen=True, slots=True)
class SensorFilter:
    """One `<op>_<stat>_<uom>` query parameter: a report's `stat` compared with `value`
    expressed in `uom`."""

    op: str  # EQ | GT | GE | LT | LE
    stat: str  # one of STATS
    uom: str
    value: float
