"""VICIdial's shift check (coachd/vicidial/shifts.py) against the PHP it copies."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coachd.vicidial.shifts import (
    Check,
    Shift,
    end_time,
    enforced,
    group_shift_ids,
    shift_allows,
    shift_matches,
    weekday_digit,
)

MONDAY = datetime(2024, 5, 6)  # a Monday: weekday digit 1
EVERY_DAY = "0123456"


def at(hhmm: str, day: datetime = MONDAY) -> datetime:
    return day.replace(hour=int(hhmm[:2]), minute=int(hhmm[2:]))


def shift(start: str, length: str, weekdays: str | None = EVERY_DAY) -> Shift:
    return Shift("S1", start, length, weekdays)


# --- weekdays -----------------------------------------------------------------------


def test_weekday_digits_start_at_sunday_as_php_date_w() -> None:
    days = [weekday_digit(MONDAY + timedelta(days=i)) for i in range(7)]
    assert days == ["1", "2", "3", "4", "5", "6", "0"]


def test_a_shift_applies_only_on_its_weekdays() -> None:
    weekdays_only = shift("0900", "08:00", "12345")
    assert shift_matches(weekdays_only, at("1000"))
    assert not shift_matches(weekdays_only, at("1000", MONDAY - timedelta(days=1)))  # Sunday
    assert not shift_matches(weekdays_only, at("1000", MONDAY + timedelta(days=5)))  # Saturday


def test_an_overnight_shift_is_checked_against_todays_weekday_after_midnight() -> None:
    monday_night = shift("2200", "08:00", "1")
    assert shift_matches(monday_night, at("2300"))
    tuesday_3am = at("0300", MONDAY + timedelta(days=1))
    assert not shift_matches(monday_night, tuesday_3am)
    assert shift_matches(shift("2200", "08:00", "12"), tuesday_3am)


def test_no_weekdays_never_matches() -> None:
    assert not shift_matches(shift("0000", "24:00", None), at("1200"))
    assert not shift_matches(shift("0000", "24:00", ""), at("1200"))


# --- times --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "length", "inside", "outside"),
    [
        ("0900", "08:00", ["0900", "1200", "1659"], ["0859", "1700", "2359", "0000"]),
        ("2200", "08:00", ["2200", "2359", "0000", "0559"], ["0600", "1200", "2159"]),
        ("2200", "02:00", ["2200", "2359"], ["0000", "2159"]),  # ends exactly at midnight
        ("2330", "00:45", ["2330", "2359", "0000", "0014"], ["0015", "2329"]),  # minutes carry
        ("0845", "00:30", ["0845", "0914"], ["0915", "0844"]),
    ],
)
def test_start_and_length_bound_the_shift(
    start: str, length: str, inside: list[str], outside: list[str]
) -> None:
    for hhmm in inside:
        assert shift_matches(shift(start, length), at(hhmm)), hhmm
    for hhmm in outside:
        assert not shift_matches(shift(start, length), at(hhmm)), hhmm


@pytest.mark.parametrize("start", ["0000", "0900", "1730", "2359"])
@pytest.mark.parametrize("length", ["24:00", "00:00"])
def test_24_hours_and_zero_length_shifts_cover_the_whole_day(start: str, length: str) -> None:
    # end == start, so VICIdial's "crosses midnight" branch takes every minute.
    for minute in range(0, 24 * 60, 7):
        assert shift_matches(shift(start, length), MONDAY + timedelta(minutes=minute))


def test_lengths_over_a_day_subtract_24_hours_only_once_as_vicidial_does() -> None:
    assert end_time("2000", "30:00") == 2600
    assert shift_matches(shift("2000", "30:00"), at("2100"))
    assert not shift_matches(shift("2000", "30:00"), at("1000"))


@pytest.mark.parametrize(
    ("start", "length"),
    [("900", "08:00"), ("09:00", "08:00"), ("0900", "8:00"), ("0900", "0800"), ("ab00", "08:00")],
)
def test_malformed_start_or_length_never_matches(start: str, length: str) -> None:
    for minute in range(0, 24 * 60, 30):
        assert not shift_matches(shift(start, length), MONDAY + timedelta(minutes=minute))


def test_missing_start_or_length_never_matches() -> None:
    assert not shift_matches(Shift("S", None, "24:00", EVERY_DAY), at("1200"))
    assert not shift_matches(Shift("S", "0000", None, EVERY_DAY), at("1200"))


valid_start = st.builds(lambda h, m: f"{h:02d}{m:02d}", st.integers(0, 23), st.integers(0, 59))
short_length = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59))
any_time = st.integers(0, 24 * 60 - 1).map(lambda m: MONDAY + timedelta(minutes=m))


def minutes(hhmm: str) -> int:
    return int(hhmm[:2]) * 60 + int(hhmm[2:4])


@given(valid_start, short_length, any_time)
def test_shifts_under_a_day_cover_exactly_start_to_start_plus_length(
    start: str, length: str, now: datetime
) -> None:
    span = int(length[:2]) * 60 + int(length[3:])
    elapsed = (now.hour * 60 + now.minute - minutes(start)) % (24 * 60)
    expected = elapsed < span if span else True  # 00:00 is all day (see above)
    assert shift_matches(shift(start, length), now) is expected


@given(valid_start, short_length, any_time, st.text(alphabet="0123456", max_size=7))
def test_a_shift_never_matches_on_a_day_it_does_not_list(
    start: str, length: str, now: datetime, weekdays: str
) -> None:
    if weekday_digit(now) not in weekdays:
        assert not shift_matches(shift(start, length, weekdays), now)


# --- when the check applies ------------------------------------------------------------

GROUPS = ["OFF", "START", "ALL", "ADMIN_EXEMPT", None]
OVERRIDES = ["DISABLED", "OFF", "START", "ALL"]

# vicidial.php (login): rows are the group's shift_enforcement, columns the
# user's agent_shift_enforcement_override in the order of OVERRIDES.
AT_LOGIN = {
    "OFF": [False, False, True, True],
    "START": [True, False, True, True],
    "ALL": [True, False, True, True],
    "ADMIN_EXEMPT": [False, False, True, True],
    None: [False, False, True, True],
}
# conf_exten_check.php (running): START does not apply, an override of START exempts.
WHILE_RUNNING = {
    "OFF": [False, False, False, True],
    "START": [False, False, False, True],
    "ALL": [True, False, False, True],
    "ADMIN_EXEMPT": [False, False, False, True],
    None: [False, False, False, True],
}


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("override", OVERRIDES)
def test_enforcement_follows_the_group_and_the_users_override(
    group: str | None, override: str
) -> None:
    column = OVERRIDES.index(override)
    assert enforced(group, override, Check.LOGIN) is AT_LOGIN[group][column]
    assert enforced(group, override, Check.RUNNING) is WHILE_RUNNING[group][column]


def test_missing_override_counts_as_disabled() -> None:
    assert enforced("ALL", None, Check.LOGIN)
    assert not enforced("OFF", None, Check.LOGIN)


# --- group_shifts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("DAY NIGHT", ("DAY", "NIGHT")),
        ("DAY", ("DAY",)),
        (" DAY NIGHT", ("", "DAY", "NIGHT")),
        ("DAY\tNIGHT", ("DAY", "NIGHT")),
        ("DAY  NIGHT", ("DAYNIGHT",)),  # VICIdial deletes pairs of whitespace first
        ("DAY   NIGHT", ("DAY", "NIGHT")),
        ("DAY DAY", ("DAY",)),
        ("", ()),
        (None, ()),
    ],
)
def test_group_shifts_split_as_vicidial_splits_them(text: str | None, ids: tuple[str, ...]) -> None:
    assert group_shift_ids(text) == ids


# --- the verdict -------------------------------------------------------------------------

DAY = [shift("0900", "08:00", "12345")]


def allows(**changes: object) -> bool:
    args: dict[str, object] = {
        "group_mode": "ALL",
        "user_override": "DISABLED",
        "override_flag": False,
        "shifts": DAY,
        "now": at("1000"),
    }
    args.update(changes)
    return shift_allows(**args)  # type: ignore[arg-type]


def test_inside_a_shift_is_allowed_and_outside_is_not() -> None:
    assert allows()
    assert not allows(now=at("1800"))


def test_any_one_of_several_shifts_is_enough() -> None:
    evening = shift("1700", "04:00", "12345")
    assert allows(now=at("1800"), shifts=[*DAY, evening])


def test_no_shifts_at_all_is_outside() -> None:
    assert not allows(shifts=[])


def test_off_or_an_override_of_off_lets_anyone_in() -> None:
    assert allows(group_mode="OFF", now=at("0300"))
    assert allows(user_override="OFF", now=at("0300"))


def test_a_users_override_of_all_enforces_shifts_of_a_group_that_does_not() -> None:
    assert not allows(group_mode="OFF", user_override="ALL", now=at("0300"))


def test_the_managers_override_flag_lets_in_at_login_but_not_while_running() -> None:
    assert allows(override_flag=True, now=at("0300"))
    assert not allows(override_flag=True, now=at("0300"), check=Check.RUNNING)
