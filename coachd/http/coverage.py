"""Minutes each supervisor coached today (``GET /v1/coverage``), for the console's counter.

Ended mode periods come from the coaching log (``coachd_mode_periods``, as
``coachd report coverage`` counts them: only the part inside today); sessions
running now come from the event feed and count up to this moment, so the
counter moves while a supervisor coaches. Today is the local day of
``[vicidial] timezone`` (else the host's zone). Log reads are cached for
:data:`CACHE_SECONDS`; when the log cannot be read the counter shows the
running sessions only, and says so (``log_available``).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from datetime import time as midnight
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import structlog

from coachd.config import MODES
from coachd.http.feed import EventFeed
from coachd.reports.compute import ModePeriod, ReportError, Zone, to_utc
from coachd.reports.queries import CoachingLogDatabase
from coachd.storage.errors import StoreError
from coachd.storage.store import default_sqlite_path

log = structlog.get_logger(__name__)

CACHE_SECONDS = 15.0
SAME_MOMENT = timedelta(seconds=1)
"""The log's and the feed's times of one mode change differ by less than this."""
Periods = Callable[[datetime, datetime], Awaitable[list[ModePeriod]]]
"""Mode periods overlapping ``[since, until)`` (and open ones started before ``until``)."""


class LogPeriods:
    """The coaching log at ``url`` (``[database] url``; None: the default SQLite file),
    opened read only at first use."""

    def __init__(self, url: str | None) -> None:
        self.url = url
        self._db: CoachingLogDatabase | None = None

    def _sqlite_path(self) -> Path | None:
        if self.url is None:
            return default_sqlite_path()
        if self.url.startswith("sqlite:///"):
            return Path(unquote(self.url[len("sqlite://") :]))
        return None

    async def __call__(self, since: datetime, until: datetime) -> list[ModePeriod]:
        path = self._sqlite_path()
        if path is not None and not path.is_file():
            return []  # nothing logged yet
        if self._db is None:
            self._db = CoachingLogDatabase.open(self.url, timeout=5.0)
        return await self._db.periods(since, until)

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            await db.close()


def _overlap(start: datetime, end: datetime, lo: datetime, hi: datetime) -> float:
    return max(0.0, (min(end, hi) - max(start, lo)).total_seconds())


def _parse(at: object) -> datetime | None:
    if not isinstance(at, str) or not at:
        return None
    return datetime.fromisoformat(at.replace("Z", "+00:00"))


class Coverage:
    def __init__(
        self,
        periods: Periods,
        feed: EventFeed,
        *,
        zone: Zone,
        target_minutes: float,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.periods = periods
        self.feed = feed
        self.zone = zone
        self.target_minutes = target_minutes
        self._now = now
        self._clock = clock
        self._cached: tuple[float, datetime, list[ModePeriod] | None] | None = None

    async def _logged(self, start: datetime, now: datetime) -> list[ModePeriod] | None:
        """Today's periods from the log (cached), None when it cannot be read."""
        cached = self._cached
        if cached is not None and cached[1] == start and self._clock() - cached[0] < CACHE_SECONDS:
            return cached[2]
        try:
            found: list[ModePeriod] | None = await self.periods(start, now + timedelta(days=1))
        except (ReportError, StoreError, OSError) as exc:
            log.warning("coverage_log_unavailable", error=str(exc))
            found = None
        self._cached = (self._clock(), start, found)
        return found

    async def today(self, user: str | None) -> dict[str, Any]:
        """Today's minutes of supervisor ``user`` (None: of every supervisor)."""
        now = self._now()
        day = now.astimezone(self.zone).date() if self.zone else now.astimezone().date()
        start = to_utc(datetime.combine(day, midnight()), self.zone)
        logged = await self._logged(start, now)
        live = {
            sid: v
            for sid, v in self.feed.sessions.items()
            if v.get("state") == "active" and v.get("supervisor") and v.get("started_at")
        }
        seconds: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for p in logged or []:
            if p.session_id in live or p.ended_at is None or not p.supervisor:
                continue  # running sessions are counted from the feed, below
            seconds[p.supervisor][p.mode] += _overlap(p.started_at, p.ended_at, start, now)
        running: dict[str, int] = defaultdict(int)
        for sid, view in live.items():
            who = str(view["supervisor"])
            running[who] += 1
            since = _parse(view.get("mode_since")) or _parse(view.get("started_at"))
            for p in logged or []:
                if p.session_id != sid:
                    continue
                # A period the (cached) log still has open but the feed saw end ends
                # where the current mode began.
                end = p.ended_at
                if end is None and since is not None and p.started_at < since - SAME_MOMENT:
                    end = since
                if end is not None:
                    seconds[who][p.mode] += _overlap(p.started_at, end, start, now)
            if since is not None and view.get("mode"):
                seconds[who][str(view["mode"])] += _overlap(since, now, start, now)
        users: Iterable[str] = sorted(set(seconds) | set(running)) if user is None else [user]
        return {
            "day": day.isoformat(),
            "target_minutes": self.target_minutes,
            "log_available": logged is not None,
            "supervisors": [self._row(u, seconds.get(u, {}), running.get(u, 0)) for u in users],
        }

    def _row(self, user: str, by_mode: dict[str, float], running: int) -> dict[str, Any]:
        minutes = sum(by_mode.values()) / 60
        target = self.target_minutes
        return {
            "supervisor": user,
            "minutes": round(minutes, 1),
            "by_mode": {m: round(by_mode.get(m, 0.0) / 60, 1) for m in MODES},
            "running_sessions": running,
            "percent_of_target": round(100 * minutes / target, 1) if target else None,
        }
