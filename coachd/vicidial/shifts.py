"""VICIdial's shift enforcement, reimplemented without I/O.

This is the check of ``www/agc/vicidial.php`` (at agent login) and
``www/agc/conf_exten_check.php`` (every refresh of a logged-in agent screen):

- **Whether it applies.** The user group's ``shift_enforcement`` (OFF, START,
  ALL, ADMIN_EXEMPT) and the user's ``agent_shift_enforcement_override``
  (DISABLED, OFF, START, ALL) are matched as PHP's ``preg_match`` does, as
  substrings. At login it applies when the group says START or ALL and the
  user's override is not OFF, or when the override says START or ALL; while
  running, when the group says ALL and the override is neither OFF nor START,
  or when the override says ALL. ``ADMIN_EXEMPT`` matches neither, so in both
  places it acts as OFF (VICIdial gives it no other meaning there).
- **Override flag.** At login only, ``vicidial_users.shift_override_flag`` =
  1 (set by a manager's override on the login screen, reset by the next
  successful login) lets the user in anyway.
- **Which shifts.** ``vicidial_user_groups.group_shifts`` is a whitespace
  separated list of ``shift_id`` (two whitespace characters in a row are
  deleted first, as VICIdial's ``preg_replace('/\\s\\s/', '')`` does).
  No shift found means outside every shift.
- **A shift matches** when today's weekday digit (PHP ``date("w")``:
  0 = Sunday ... 6 = Saturday) occurs in ``shift_weekdays`` and the time of
  day ``HHMM`` lies in the shift: ``shift_start_time`` is ``HHMM``,
  ``shift_length`` is ``HH:MM``; the end is start + length with minutes
  carried and 24 subtracted once from the hour. Then ``start <= now < end``,
  or, when ``end <= start`` (the shift crosses midnight, or lasts 24:00, or
  00:00), ``now < end`` or ``now >= start``. So 24:00 (and 00:00) is all day,
  and only *today's* weekday is tested, also after midnight in an overnight
  shift (a Monday 22:00 + 8 h shift does not cover Tuesday 03:00 unless
  Tuesday is one of its days).

Values VICIdial's admin pages would not store (a start that is not four
digits, a length that is not ``DD:DD``) make that shift never match, where
PHP would compute with its loose string-to-number rules or fail: coachd
fails closed.

**Time zone.** VICIdial uses PHP ``date()``, the local time of the web
server; its shift tables carry no time zone. coachd uses ``[vicidial]
timezone`` (an IANA name such as ``America/New_York``), by default the local
time of the host coachd runs on: set it to the web server's zone when the
two differ. Callers pass ``now`` already in that zone (see :func:`local_now`).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo

_START = re.compile(r"[0-9]{4}", re.ASCII)
_LENGTH = re.compile(r"[0-9]{2}:[0-9]{2}", re.ASCII)
_PHP_SPACE = "[ \t\n\r\x0b\x0c]"


class Check(enum.Enum):
    LOGIN = "login"
    """vicidial.php at login: START or ALL apply; the override flag lets in."""
    RUNNING = "running"
    """conf_exten_check.php while logged in: ALL applies; no override flag."""


@dataclass(frozen=True, slots=True)
class Shift:
    """A ``vicidial_shifts`` row (the columns the check reads)."""

    shift_id: str
    start_time: str | None
    """``shift_start_time``, ``HHMM``."""
    length: str | None
    """``shift_length``, ``HH:MM``."""
    weekdays: str | None
    """``shift_weekdays``, digits 0 (Sunday) to 6 (Saturday)."""


def local_now(zone: tzinfo | None) -> datetime:
    """Now in ``zone``, or in the host's local time zone when ``None``."""
    return datetime.now(zone) if zone is not None else datetime.now().astimezone()


def enforced(group_mode: str | None, user_override: str | None, check: Check) -> bool:
    """Whether the shift check applies (substring tests, as PHP's preg_match)."""
    group, override = group_mode or "", user_override or ""
    if check is Check.LOGIN:
        by_group = _has(group, "START", "ALL") and not _has(override, "OFF")
        return by_group or _has(override, "START", "ALL")
    by_group = _has(group, "ALL") and not _has(override, "OFF", "START")
    return by_group or _has(override, "ALL")


def group_shift_ids(group_shifts: str | None) -> tuple[str, ...]:
    """The ``shift_id`` list of ``vicidial_user_groups.group_shifts``, in order, once each.

    An empty id (from leading or trailing whitespace) is kept: VICIdial's
    ``shift_id IN('', ...)`` keeps it too.
    """
    if not group_shifts:
        return ()
    text = re.sub(_PHP_SPACE * 2, "", group_shifts)
    return tuple(dict.fromkeys(re.split(_PHP_SPACE, text)))


def weekday_digit(now: datetime) -> str:
    """PHP ``date("w")``: 0 = Sunday ... 6 = Saturday."""
    return str((now.weekday() + 1) % 7)


def end_time(start_time: str, length: str) -> int | None:
    """``HHMM`` (as a number) where a shift ends, VICIdial's way; None if malformed."""
    if not _START.fullmatch(start_time) or not _LENGTH.fullmatch(length):
        return None
    hours = int(length[0:2]) + int(start_time[0:2])
    minutes = int(length[3:5]) + int(start_time[2:4])
    if minutes > 59:
        minutes -= 60
        hours += 1
    if hours > 23:
        hours -= 24
    return int(f"{hours:02d}{minutes:02d}")


def shift_matches(shift: Shift, now: datetime) -> bool:
    """Whether ``now`` (local wall-clock time) is inside ``shift``."""
    if shift.weekdays is None or weekday_digit(now) not in shift.weekdays:
        return False
    if shift.start_time is None or shift.length is None:
        return False
    end = end_time(shift.start_time, shift.length)
    if end is None:
        return False
    start = int(shift.start_time)
    hhmm = now.hour * 100 + now.minute
    return (
        (start <= hhmm < end)
        or (hhmm < start and hhmm < end and end <= start)
        or (hhmm >= start and hhmm >= end and end <= start)
    )


def within_shifts(shifts: Iterable[Shift], now: datetime) -> bool:
    """Whether any of ``shifts`` covers ``now``."""
    return any(shift_matches(shift, now) for shift in shifts)


def shift_allows(
    *,
    group_mode: str | None,
    user_override: str | None,
    override_flag: bool,
    shifts: Iterable[Shift],
    now: datetime,
    check: Check = Check.LOGIN,
) -> bool:
    """VICIdial's verdict: True when the user may go on at ``now``."""
    if not enforced(group_mode, user_override, check):
        return True
    if check is Check.LOGIN and override_flag:
        return True
    return within_shifts(shifts, now)


def _has(value: str, *words: str) -> bool:
    return any(word in value for word in words)
