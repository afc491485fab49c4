"""The EPCIS QuerySchedule of a scheduled subscription (EPCIS 1.2 §8.2.5.3, kept by 2.0).

Each field (`second`, `minute`, `hour`, `dayOfMonth`, `month`, `dayOfWeek`) is a string of
comma-separated elements, each a number or a range `[a-b]`, within the field's range; an
omitted field matches every value. A time matches when every given field matches (UTC here:
the standard lets the service choose the time zone; dayOfWeek 1 is Monday, 7 Sunday).

This service runs a subscription at most once a minute: at each minute in which some second
matches the schedule. The standard allows it ("an implementation ... can honor the general
intent"); a schedule asking for several runs within one minute gets one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ledger.errors import InvalidInputError

__all__ = ["FIELDS", "QuerySchedule", "SubscriptionControlsError"]

# field → (lowest, highest) legal value
FIELDS: dict[str, tuple[int, int]] = {
    "second": (0, 59), "minute": (0, 59), "hour": (0, 23),
    "dayOfMonth": (1, 31), "month": (1, 12), "dayOfWeek": (1, 7),
}
_ELEMENT = re.compile(r"(?:(\d{1,2})|\[(\d{1,2})-(\d{1,2})\])")
_HORIZON = timedelta(days=366 * 5)  # the next run of a satisfiable schedule is within a leap cycle


class SubscriptionControlsError(InvalidInputError):
    """EPCIS SubscriptionControlsException: the subscription's controls are invalid."""

    slug = "subscription-controls"
    title = "Invalid subscription controls"

    def __init__(self, detail: str, **fields: Any) -> None:
        super().__init__(detail, **{"epcisException": "SubscriptionControlsException", **fields})


def _values(name: str, text: Any) -> frozenset[int]:
    low, high = FIELDS[name]
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)
    if not isinstance(text, str) or not text or len(text) > 200:
        raise SubscriptionControlsError(f"schedule.{name} must be a non-empty string",
                                        pointer=f"/schedule/{name}")
    out: set[int] = set()
    for element in text.split(","):
        m = _ELEMENT.fullmatch(element.strip())
        if m is None:
            raise SubscriptionControlsError(
                f"schedule.{name}: {element!r} is neither a number nor a range [a-b]",
                pointer=f"/schedule/{name}")
        a, b = (int(m.group(1)),) * 2 if m.group(1) is not None else \
            (int(m.group(2)), int(m.group(3)))
        if not low <= a <= b <= high:
            raise SubscriptionControlsError(
                f"schedule.{name}: {element.strip()!r} is outside {low}-{high} or an "
                "inverted range", pointer=f"/schedule/{name}")
        out.update(range(a, b + 1))
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class QuerySchedule:
    """A parsed QuerySchedule: each field's allowed values (None: omitted, any value)."""

    fields: Mapping[str, frozenset[int] | None]

    @classmethod
    def parse(cls, schedule: Any) -> QuerySchedule:
        """Parse the `schedule` object of a subscription, or raise SubscriptionControlsError
        naming the field (unknown fields, bad grammar, out of range, never satisfiable)."""
        if not isinstance(schedule, dict) or not schedule:
            raise SubscriptionControlsError("schedule must be an object with at least one "
                                            "field", pointer="/schedule")
        unknown = sorted(set(schedule) - set(FIELDS))
        if unknown:
            raise SubscriptionControlsError(f"schedule has unknown fields: {', '.join(unknown)}",
                                            pointer=f"/schedule/{unknown[0]}")
        parsed = cls({name: _values(name, schedule[name]) if name in schedule else None
                      for name in FIELDS})
        if parsed.next_run(datetime(2000, 1, 1, tzinfo=UTC)) is None:
            raise SubscriptionControlsError("this schedule matches no date (e.g. 31 February)",
                                            pointer="/schedule")
        return parsed

    def _matches_minute(self, t: datetime) -> bool:
        f = self.fields
        return all(allowed is None or value in allowed for allowed, value in (
            (f["minute"], t.minute), (f["hour"], t.hour), (f["dayOfMonth"], t.day),
            (f["month"], t.month), (f["dayOfWeek"], t.isoweekday())))

    def next_run(self, after: datetime) -> datetime | None:
        """The first whole minute strictly after `after` (UTC) that the schedule matches
        (`second` needs no check: every minute holds all 60 seconds, and the field is not
        empty), or None if none within five years."""
        t = after.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        end = t + _HORIZON
        f = self.fields
        while t < end:
            # Skip whole days, then hours, that cannot match: a few thousand steps at most.
            if (f["month"] is not None and t.month not in f["month"]) or \
                    (f["dayOfMonth"] is not None and t.day not in f["dayOfMonth"]) or \
                    (f["dayOfWeek"] is not None and t.isoweekday() not in f["dayOfWeek"]):
                t = (t + timedelta(days=1)).replace(hour=0, minute=0)
                continue
            if f["hour"] is not None and t.hour not in f["hour"]:
                t = (t + timedelta(hours=1)).replace(minute=0)
                continue
            if self._matches_minute(t):
                return t
            t += timedelta(minutes=1)
        return None
