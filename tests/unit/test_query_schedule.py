"""The EPCIS QuerySchedule: grammar, ranges, and the next matching minute (checked against a
brute-force walk over minutes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.epcis.query_schedule import FIELDS, QuerySchedule, SubscriptionControlsError


def test_the_standards_examples() -> None:
    start = datetime(2026, 12, 7, 10, 17, 30, tzinfo=UTC)  # a Monday
    hourly = QuerySchedule.parse({"second": "0", "minute": "0"})
    assert hourly.next_run(start) == datetime(2026, 12, 7, 11, 0, tzinfo=UTC)
    nightly = QuerySchedule.parse({"second": "0", "minute": "30", "hour": "2"})
    assert nightly.next_run(start) == datetime(2026, 12, 8, 2, 30, tzinfo=UTC)
    weekdays = QuerySchedule.parse({"minute": "0", "dayOfWeek": "[1-5]"})
    saturday = datetime(2026, 12, 12, 9, 0, tzinfo=UTC)
    assert weekdays.next_run(saturday) == datetime(2026, 12, 14, 0, 0, tzinfo=UTC)
    every = QuerySchedule.parse({"hour": "2"})  # once a minute here (once a second literally)
    assert every.next_run(datetime(2026, 1, 1, 2, 5, tzinfo=UTC)) == \
        datetime(2026, 1, 1, 2, 6, tzinfo=UTC)
    assert QuerySchedule.parse({"minute": "5,[10-12]"}).next_run(start) == \
        datetime(2026, 12, 7, 11, 5, tzinfo=UTC)


@pytest.mark.parametrize("schedule", [
    {}, [], "0 5 * * *", {"minute": ""}, {"minute": "60"}, {"hour": "24"},
    {"minute": "[5-3]"}, {"minute": "*"}, {"minute": "1-5"}, {"dayOfWeek": "0"},
    {"month": "13"}, {"dayOfMonth": "0"}, {"minutes": "5"}, {"minute": None},
    {"dayOfMonth": "31", "month": "2"},
])
def test_bad_schedules_are_refused_naming_the_field(schedule: object) -> None:
    with pytest.raises(SubscriptionControlsError) as caught:
        QuerySchedule.parse(schedule)
    assert caught.value.fields["pointer"].startswith("/schedule")


def _element(name: str) -> st.SearchStrategy[str]:
    low, high = FIELDS[name]
    number = st.integers(low, high).map(str)
    pair = st.tuples(st.integers(low, high), st.integers(low, high)).map(
        lambda p: f"[{min(p)}-{max(p)}]")
    return st.lists(number | pair, min_size=1, max_size=3).map(",".join)


_SCHEDULES = st.fixed_dictionaries({}, optional={
    name: _element(name) for name in ("minute", "hour", "dayOfWeek", "month")})


@settings(max_examples=60, deadline=None)
@given(_SCHEDULES.filter(bool), st.datetimes(min_value=datetime(2020, 1, 1),
                                               max_value=datetime(2030, 1, 1),
                                               timezones=st.just(UTC)))
def test_next_run_is_the_first_matching_minute(schedule: dict[str, str],
                                                after: datetime) -> None:
    parsed = QuerySchedule.parse(schedule)
    found = parsed.next_run(after)
    assert found is not None and found > after and found.second == 0
    fields = parsed.fields
    def matches(t: datetime) -> bool:
        return all(fields[n] is None or v in fields[n] for n, v in (  # type: ignore[operator]
            ("minute", t.minute), ("hour", t.hour), ("month", t.month),
            ("dayOfWeek", t.isoweekday())))
    assert matches(found)
    # No earlier matching minute (checked minute by minute over the last two days before it).
    t = max(after.replace(second=0, microsecond=0) + timedelta(minutes=1),
            found - timedelta(days=2))
    while t < found:
        assert not matches(t), t
        t += timedelta(minutes=1)
