"""Business hours, the next run and the window of the alerts job (coachd.alerts.schedule)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coachd.alerts.config import BusinessHours
from coachd.alerts.schedule import Schedule, window

NY = ZoneInfo("America/New_York")
WEEKDAYS = frozenset(range(5))
HALF_HOUR = timedelta(minutes=30)


def at(text: str, zone: ZoneInfo = NY) -> datetime:
    """A local wall-clock time in ``zone`` as an aware UTC instant."""
    return datetime.fromisoformat(text).replace(tzinfo=zone).astimezone(UTC)


def schedule(hours: str = "09:00-18:00", days: frozenset[int] = WEEKDAYS) -> Schedule:
    return Schedule(BusinessHours.parse(hours), days, HALF_HOUR, NY)


@pytest.mark.parametrize(
    ("local", "open_"),
    [
        ("2026-03-16 08:59:59", False),  # Monday
        ("2026-03-16 09:00:00", True),
        ("2026-03-16 17:59:59", True),
        ("2026-03-16 18:00:00", False),
        ("2026-03-14 12:00:00", False),  # Saturday
    ],
)
def test_day_hours(local: str, open_: bool) -> None:
    assert schedule().open_at(at(local)) is open_


@pytest.mark.parametrize(
    ("local", "open_"),
    [
        ("2026-03-13 22:00:00", True),  # Friday night
        ("2026-03-14 03:00:00", True),  # Saturday 03:00 belongs to Friday's night
        ("2026-03-14 06:00:00", False),
        ("2026-03-14 22:30:00", False),  # Saturday night: not a business day
        ("2026-03-16 03:00:00", False),  # Monday 03:00 is Sunday's night
        ("2026-03-16 12:00:00", False),
    ],
)
def test_overnight_hours_belong_to_the_day_they_start(local: str, open_: bool) -> None:
    assert schedule("22:00-06:00").open_at(at(local)) is open_


def test_whole_day() -> None:
    s = schedule("00:00-24:00", frozenset(range(7)))
    assert s.open_at(at("2026-03-15 00:00:00"))
    assert s.open_at(at("2026-03-15 23:59:59"))


def test_next_run_is_an_interval_later_while_open_else_the_next_opening() -> None:
    s = schedule()
    monday_noon = at("2026-03-16 12:00:00")
    assert s.next_run(monday_noon) == monday_noon + HALF_HOUR
    assert s.next_run(at("2026-03-16 18:00:00")) == at("2026-03-17 09:00:00")
    assert s.next_run(at("2026-03-16 07:00:00")) == at("2026-03-16 09:00:00")
    assert s.next_run(at("2026-03-13 18:30:00")) == at("2026-03-16 09:00:00")  # Fri -> Mon


def test_next_opening_of_a_single_business_day_can_be_a_week_ahead() -> None:
    s = schedule(days=frozenset({0}))
    assert s.next_opening(at("2026-03-16 10:00:00")) == at("2026-03-23 09:00:00")


def test_the_opening_follows_daylight_saving_time() -> None:
    # DST began on Sunday 2026-03-08 in New York: 09:00 is 14:00Z before, 13:00Z after.
    s = schedule()
    assert s.next_opening(at("2026-03-06 19:00:00")) == datetime(2026, 3, 9, 13, tzinfo=UTC)


def test_window_is_naive_wall_clock_and_spans_its_hours_across_dst() -> None:
    now = at("2026-03-08 05:00:00")  # 3 hours after the 02:00 -> 03:00 jump
    start, end = window(now, 4, NY)
    assert end == datetime(2026, 3, 8, 5, 0)
    assert start == datetime(2026, 3, 8, 0, 0)  # 4 real hours: 00:00 EST is 05:00Z
    assert start.tzinfo is None and end.tzinfo is None


@given(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1)),
    st.sampled_from(["09:00-18:00", "22:00-06:00", "00:00-24:00", "13:30-13:45"]),
    st.frozensets(st.integers(0, 6), min_size=1),
)
def test_the_next_run_is_later_and_never_skips_an_opening(
    naive: datetime, hours: str, days: frozenset[int]
) -> None:
    s = schedule(hours, days)
    now = naive.replace(tzinfo=UTC)
    nxt = s.next_run(now)
    assert nxt > now
    if not s.open_at(now):
        opening = s.next_opening(now)
        assert nxt == opening
        assert s.open_at(opening)
