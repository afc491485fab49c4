"""Cold chain: sensor readings of signed events held against a product's allowed ranges.

An EPCIS 2.0 event may carry a `sensorElementList`: each element has optional
`sensorMetadata` (a `time`, or a `startTime`/`endTime` interval, device details) and a list
of `sensorReport`s. The standard's examples (GS1 EPCIS 2.0, `WithSensorData_*`) show every
shape this module reads:

- a single value (`value`, `uom`), timed by the report's own `time`, the element's `time`,
  its `startTime`/`endTime` interval, or else the event's `eventTime`;
- aggregates over an interval: `minValue`, `maxValue`, `meanValue` (and `sDev`, `percValue`,
  which say nothing about whether a bound was crossed and are not read);
- time series: several reports of one type, each with its `time`, or several elements each
  with its `time`;
- units per report (UN/ECE Recommendation 20 codes): temperatures in `CEL`, `FAH` or `KEL`,
  accelerations in `MSK` or `K40` (g), relative humidity in `P1` (percent), absolute
  humidity in `A93` (g/m³). Readings are converted to one unit per measurement type before
  they are compared. A report in a unit this module cannot convert is counted as unreadable,
  never guessed at (`FAR` is the farad, not Fahrenheit).

A reading is *outside* when its value is below the range's `min` or above its `max` (for an
aggregate: its minimum below, its maximum above, or its mean outside, since then some reading
was). How long it stayed outside: an interval report outside counts its whole interval (the
worst case: the aggregate does not say when within it); an instant reading counts until the
next reading of the same type on the path (the last one known), or nothing when none follows.
A range is *breached* when the minutes outside exceed its `allowedMinutesOutside`, or when any
reading is outside a range that allows none. A breach names each excursion: the event, the
reading, the organisation that signed it and the time outside.

Pure: the caller passes verified events (each with its reference and signer) and the
brand's conditions (`ledger.trade.conditions`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ledger.epcis.measurements import MEASUREMENTS, TYPE_PREFIXES

__all__ = [
    "MEASUREMENTS", "Excursion", "PathEvent", "RangeReport", "Reading", "SensorRange",
    "ColdChainReport", "assess_cold_chain", "canonical_type", "convert", "readings",
]

# MEASUREMENTS (type -> canonical unit and conversions) is shared with the store's sensor
# readings index: `ledger.epcis.measurements`.
_TYPE_PREFIXES = TYPE_PREFIXES
# The statistics that say whether a bound was crossed (sDev and percentiles do not).
STATS = ("value", "minValue", "maxValue", "meanValue")


def canonical_type(name: Any) -> str | None:
    """`Temperature` for `Temperature`, `gs1:Temperature` or its full IRI; None otherwise."""
    if not isinstance(name, str):
        return None
    for prefix in _TYPE_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    return name if name in MEASUREMENTS else None


def convert(kind: str, value: float, uom: str) -> float | None:
    """`value` in `uom` expressed in the canonical unit of `kind`, or None if not convertible."""
    spec = MEASUREMENTS.get(kind)
    if spec is None or uom not in spec[1]:
        return None
    factor, offset = spec[1][uom]
    return value * factor + offset


def _when(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class Reading:
    """One statistic of one sensor report, converted to its type's canonical unit."""

    type: str
    stat: str  # value | minValue | maxValue | meanValue
    value: float  # canonical unit
    uom: str  # canonical unit
    raw_value: float
    raw_uom: str
    start_ms: int
    end_ms: int  # == start_ms for an instant
    element: int
    report: int

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "stat": self.stat, "value": self.value, "uom": self.uom,
                "reported": {"value": self.raw_value, "uom": self.raw_uom},
                "start": _iso(self.start_ms), "end": _iso(self.end_ms),
                "element": self.element, "report": self.report}


def readings(event: Mapping[str, Any]) -> tuple[list[Reading], int]:
    """(readings, unreadable): every bound-relevant statistic of the event's sensor reports of
    a known measurement type, and how many such reports could not be read (unit unknown, no
    number, no time)."""
    out: list[Reading] = []
    unreadable = 0
    event_time = _when(event.get("eventTime"))
    elements = event.get("sensorElementList")
    if not isinstance(elements, list):
        return out, 0
    for e_index, element in enumerate(elements):
        if not isinstance(element, Mapping):
            continue
        meta = element.get("sensorMetadata")
        meta = meta if isinstance(meta, Mapping) else {}
        reports = element.get("sensorReport")
        if not isinstance(reports, list):
            continue
        for r_index, report in enumerate(reports):
            if not isinstance(report, Mapping):
                continue
            kind = canonical_type(report.get("type"))
            if kind is None:
                continue  # not a measurement any range is about
            start, end = _report_time(report, meta, event_time)
            uom = report.get("uom")
            stats = [(s, report[s]) for s in STATS if s in report]
            if start is None or not stats:
                unreadable += 1
                continue
            read = 0
            for stat, raw in stats:
                if not isinstance(raw, int | float) or isinstance(raw, bool) or not math.isfinite(raw):
                    continue
                value = convert(kind, float(raw), uom) if isinstance(uom, str) else None
                if value is None:
                    continue
                out.append(Reading(kind, stat, value, MEASUREMENTS[kind][0], float(raw),
                                   str(uom), _ms(start), _ms(end or start), e_index, r_index))
                read += 1
            if not read:
                unreadable += 1
    return out, unreadable


def _report_time(report: Mapping[str, Any], meta: Mapping[str, Any],
                 event_time: datetime | None) -> tuple[datetime | None, datetime | None]:
    own = _when(report.get("time")) or _when(meta.get("time"))
    if own is not None:
        return own, own
    start, end = _when(meta.get("startTime")), _when(meta.get("endTime"))
    if start is not None and end is not None and end >= start:
        return start, end
    if start is not None or end is not None:
        one = start or end
        return one, one
    return event_time, event_time


@dataclass(frozen=True, slots=True)
class SensorRange:
    """An allowed range for one measurement type, bounds in `uom` (either bound optional)."""

    type: str
    uom: str
    min: float | None
    max: float | None
    allowed_minutes: int = 0

    def bounds(self) -> tuple[float, float]:
        lo = -math.inf if self.min is None else convert(self.type, self.min, self.uom)
        hi = math.inf if self.max is None else convert(self.type, self.max, self.uom)
        assert lo is not None and hi is not None, "validated by ledger.trade.conditions"
        return lo, hi

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "uom": self.uom}
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        out["allowedMinutesOutside"] = self.allowed_minutes
        return out


@dataclass(frozen=True, slots=True)
class PathEvent:
    """A verified event on the item's path: its reference (event id or commitment) and signer."""

    event: Mapping[str, Any]
    ref: str
    signer: str | None = None  # organisation id (0x-hex) that signed it


@dataclass(frozen=True, slots=True)
class Excursion:
    """Readings of one event outside a range, back to back in time."""

    type: str
    event: str
    signer: str | None
    worst: Reading  # the reading farthest outside
    bound: str  # "min" or "max": which bound the worst reading crossed
    limit: float  # that bound, canonical unit
    start_ms: int
    end_ms: int
    readings: int

    @property
    def minutes(self) -> float:
        return (self.end_ms - self.start_ms) / 60_000

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "event": self.event, "signer": self.signer,
                "reading": self.worst.to_json(), "bound": self.bound, "limit": self.limit,
                "start": _iso(self.start_ms), "end": _iso(self.end_ms),
                "minutesOutside": round(self.minutes, 3), "readings": self.readings}


@dataclass(frozen=True, slots=True)
class RangeReport:
    range: SensorRange
    readings: int = 0
    events: int = 0
    unreadable: int = 0
    lowest: float | None = None
    highest: float | None = None
    first_ms: int | None = None
    last_ms: int | None = None
    minutes_outside: float = 0.0
    excursions: tuple[Excursion, ...] = ()

    @property
    def breached(self) -> bool:
        if not self.excursions:
            return False
        return self.range.allowed_minutes == 0 or self.minutes_outside > self.range.allowed_minutes

    def to_json(self) -> dict[str, Any]:
        lo, hi = self.range.bounds()
        return {
            "range": self.range.to_json(), "canonicalUom": MEASUREMENTS[self.range.type][0],
            "bounds": [None if math.isinf(lo) else lo, None if math.isinf(hi) else hi],
            "readings": self.readings, "events": self.events, "unreadable": self.unreadable,
            "lowest": self.lowest, "highest": self.highest,
            "first": None if self.first_ms is None else _iso(self.first_ms),
            "last": None if self.last_ms is None else _iso(self.last_ms),
            "days": None if self.first_ms is None or self.last_ms is None
            else round((self.last_ms - self.first_ms) / 86_400_000, 2),
            "minutesOutside": round(self.minutes_outside, 3), "breached": self.breached,
            "excursions": [x.to_json() for x in self.excursions],
        }


@dataclass(frozen=True, slots=True)
class ColdChainReport:
    gtin: str
    version: int
    ranges: tuple[RangeReport, ...] = field(default_factory=tuple)

    @property
    def breached(self) -> bool:
        return any(r.breached for r in self.ranges)

    def breaches(self) -> list[Excursion]:
        """The excursions of every breached range: the derived breach facts."""
        return [x for r in self.ranges if r.breached for x in r.excursions]

    def to_json(self) -> dict[str, Any]:
        return {"gtin": self.gtin, "conditionsVersion": self.version,
                "status": "breach" if self.breached else (
                    "kept" if any(r.readings for r in self.ranges) else "no-readings"),
                "ranges": [r.to_json() for r in self.ranges],
                "breaches": [x.to_json() for x in self.breaches()]}


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{ms % 1000:03d}Z"



def assess_cold_chain(gtin: str, version: int, ranges: Sequence[SensorRange],
                      events: Iterable[PathEvent], *, since_ms: int | None = None
                      ) -> ColdChainReport:
    """Hold every reading of `events` against `ranges`. Readings that end before `since_ms`
    (when the item itself was first seen) are about other goods the container held before."""
    per_event: list[tuple[PathEvent, list[Reading], int]] = []
    for pe in events:
        found, unreadable = readings(pe.event)
        if since_ms is not None:
            found = [r for r in found if r.end_ms >= since_ms]
        per_event.append((pe, found, unreadable))
    return ColdChainReport(gtin, version, tuple(_judge(rng, per_event) for rng in ranges))


def _judge(rng: SensorRange, per_event: Sequence[tuple[PathEvent, list[Reading], int]]
           ) -> RangeReport:
    lo, hi = rng.bounds()
    timed: list[tuple[Reading, PathEvent]] = []
    events = 0
    for pe, found, _ in per_event:
        mine = [r for r in found if r.type == rng.type]
        if mine:
            events += 1
        timed.extend((r, pe) for r in mine)
    unreadable = sum(u for _, _, u in per_event)
    if not timed:
        return RangeReport(rng, unreadable=unreadable)
    # Stable order: time, then the event reference, element, report and statistic.
    timed.sort(key=lambda t: (t[0].start_ms, t[0].end_ms, t[1].ref, t[0].element, t[0].report,
                              STATS.index(t[0].stat)))
    starts = sorted({r.start_ms for r, _ in timed})
    excursions: list[Excursion] = []
    current: dict[str, Any] | None = None
    for reading, pe in timed:
        outside = reading.value < lo or reading.value > hi
        if not outside:
            if current is not None and reading.start_ms > current["start"]:
                excursions.append(_close(current))
                current = None
            continue
        if reading.end_ms > reading.start_ms:
            until = reading.end_ms
        else:
            later = _next_after(starts, reading.start_ms)
            until = reading.start_ms if later is None else later
        bound, limit = ("min", lo) if reading.value < lo else ("max", hi)
        distance = (lo - reading.value) if bound == "min" else (reading.value - hi)
        if current is not None and current["event"] == pe.ref and reading.start_ms <= current["end"]:
            current["end"] = max(current["end"], until)
            current["count"] += 1
            if distance > current["distance"]:
                current.update(worst=reading, bound=bound, limit=limit, distance=distance)
            continue
        if current is not None:
            excursions.append(_close(current))
        current = {"type": rng.type, "event": pe.ref, "signer": pe.signer, "worst": reading,
                   "bound": bound, "limit": limit, "distance": distance,
                   "start": reading.start_ms, "end": until, "count": 1}
    if current is not None:
        excursions.append(_close(current))
    values = [r.value for r, _ in timed]
    return RangeReport(
        rng, readings=len(timed), events=events, unreadable=unreadable,
        lowest=min(values), highest=max(values),
        first_ms=min(r.start_ms for r, _ in timed), last_ms=max(r.end_ms for r, _ in timed),
        minutes_outside=_union_minutes(excursions), excursions=tuple(excursions))


def _next_after(starts: Sequence[int], at: int) -> int | None:
    import bisect

    i = bisect.bisect_right(starts, at)
    return starts[i] if i < len(starts) else None


def _close(c: Mapping[str, Any]) -> Excursion:
    return Excursion(c["type"], c["event"], c["signer"], c["worst"], c["bound"], c["limit"],
                     c["start"], c["end"], c["count"])


def _union_minutes(excursions: Sequence[Excursion]) -> float:
    """Minutes covered by the excursions' intervals (overlaps, e.g. a pallet's and its
    container's loggers reporting the same hour, count once)."""
    spans = sorted((x.start_ms, x.end_ms) for x in excursions)
    total = 0
    cur_start: int | None = None
    cur_end = 0
    for start, end in spans:
        if cur_start is None or start > cur_end:
            if cur_start is not None:
                total += cur_end - cur_start
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    if cur_start is not None:
        total += cur_end - cur_start
    return total / 60_000
