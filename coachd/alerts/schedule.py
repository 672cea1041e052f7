"""When the alerts job runs, and over which window. Pure: no I/O, no clock.

Business hours and ``vicidial_log.call_date`` are wall-clock times in the
alerts' zone (``None``: the host's local zone). A range that ends at or before
its start crosses midnight and belongs to the day it started: with
``22:00-06:00`` on Monday to Friday, Saturday 03:00 is inside (Friday's night)
and Monday 03:00 is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from coachd.alerts.config import BusinessHours
from coachd.reports.compute import Zone, to_local, to_utc


@dataclass(frozen=True, slots=True)
class Schedule:
    hours: BusinessHours
    weekdays: frozenset[int]
    """``date.weekday()`` numbers (Monday 0) the business hours apply on."""
    interval: timedelta
    zone: Zone

    def open_at(self, now: datetime) -> bool:
        """Whether the aware instant ``now`` is within business hours."""
        local = to_local(now, self.zone)
        t, start, end = local.time(), self.hours.start, self.hours.end
        if end is None or end > start:
            opened = local.date() if t >= start and (end is None or t < end) else None
        elif t >= start:
            opened = local.date()
        elif t < end:
            opened = local.date() - timedelta(days=1)
        else:
            opened = None
        return opened is not None and opened.weekday() in self.weekdays

    def next_opening(self, now: datetime) -> datetime:
        """The first business-hours start after ``now`` (an aware UTC instant)."""
        today = to_local(now, self.zone).date()
        for ahead in range(8):
            day = today + timedelta(days=ahead)
            if day.weekday() not in self.weekdays:
                continue
            at = to_utc(datetime.combine(day, self.hours.start), self.zone)
            if at > now:
                return at
        raise ValueError("no business day")  # weekdays is never empty (config)

    def next_run(self, now: datetime) -> datetime:
        """When to look again after a check at ``now``: an interval later while
        open, else at the next opening."""
        if self.open_at(now):
            return now + self.interval
        return self.next_opening(now)


def window(now: datetime, hours: float, zone: Zone) -> tuple[datetime, datetime]:
    """``[now - hours, now)`` as naive wall-clock times in ``zone`` (as
    ``call_date`` holds them); across a DST change the span stays ``hours`` long."""
    return to_local(now - timedelta(hours=hours), zone), to_local(now, zone)
