"""The reports' numbers, computed from plain rows: no I/O, no clock.

Definitions (the README's *Reports* section says the same for users):

- **Calls** are ``vicidial_log`` rows with ``length_in_sec > 0``, as the
  VICIdial coaching guide's queries count them (a 0 s row is a dial nobody
  talked on). **Talk time** is ``length_in_sec``, averaged over those calls.
- **Sales** are calls whose status is a sale status (:class:`SaleRule`);
  **conversion** is sales / calls x 100.
- **Days** are VICIdial's wall-clock dates: ``call_date`` is the VICIdial
  server's local time, while the coaching log keeps UTC, so coaching times are
  converted to that zone (``None``: the zone of the host running the report).
  A :class:`DayRange` ``FROM..TO`` holds both of its days whole.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal

from coachd.core.modes import Mode
from coachd.errors import CoachdError

Zone = tzinfo | None
"""The zone of VICIdial's wall-clock times; ``None``: the host's local zone."""

SaleSource = Literal["option", "vicidial_statuses", "default"]

DEFAULT_SALE_STATUSES: frozenset[str] = frozenset({"SALE"})
"""VICIdial's only ``sale='Y'`` status as installed (``SALE``, "Sale Made")."""

NO_SUPERVISOR = "(none)"


class ReportError(CoachdError):
    """A report cannot be made as asked (bad window, no sessions, ...)."""


# --- time -----------------------------------------------------------------------------


def to_local(at: datetime, zone: Zone) -> datetime:
    """The aware instant ``at`` as a naive wall-clock time in ``zone``."""
    return at.astimezone(zone).replace(tzinfo=None)


def to_utc(wall: datetime, zone: Zone) -> datetime:
    """The naive wall-clock time ``wall`` in ``zone`` as an aware UTC instant."""
    if zone is None:
        return wall.astimezone(UTC)  # naive: taken as the host's local time
    return wall.replace(tzinfo=zone).astimezone(UTC)


def local_day(at: datetime, zone: Zone) -> date:
    return to_local(at, zone).date()


@dataclass(frozen=True, slots=True)
class DayRange:
    """The whole days ``first`` to ``last``, both included."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ReportError(f"{self}: the last day is before the first")

    @classmethod
    def parse(cls, text: str) -> DayRange:
        """``YYYY-MM-DD..YYYY-MM-DD`` (or one ``YYYY-MM-DD``: that day)."""
        first, sep, last = text.strip().partition("..")
        try:
            start = date.fromisoformat(first.strip())
            end = date.fromisoformat(last.strip()) if sep else start
        except ValueError:
            raise ReportError(f"{text!r}: expected FROM..TO as YYYY-MM-DD..YYYY-MM-DD") from None
        return cls(start, end)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def start(self) -> datetime:
        """The first day's midnight (naive wall-clock): included."""
        return datetime.combine(self.first, time())

    @property
    def end(self) -> datetime:
        """The midnight after the last day (naive wall-clock): excluded."""
        return datetime.combine(self.last + timedelta(days=1), time())

    def utc_bounds(self, zone: Zone) -> tuple[datetime, datetime]:
        """:attr:`start` and :attr:`end` in ``zone`` as UTC instants."""
        return to_utc(self.start, zone), to_utc(self.end, zone)

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first <= day <= self.last

    def each(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range(self.days)]

    def __str__(self) -> str:
        return f"{self.first.isoformat()}..{self.last.isoformat()}"


# --- rows in --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallCount:
    """``vicidial_log`` calls (``length_in_sec > 0``) of one day, campaign and status."""

    day: date
    campaign_id: str
    status: str
    calls: int
    talk_sec: int


@dataclass(frozen=True, slots=True)
class AgentCount:
    """``vicidial_log`` calls (``length_in_sec > 0``) of one user, campaign, status
    and user group, over some time (the who-to-coach alerts' rows)."""

    user: str
    campaign_id: str
    status: str
    user_group: str | None
    calls: int


@dataclass(frozen=True, slots=True)
class CoachingSession:
    """A ``coachd_coaching_log`` row (times aware, UTC)."""

    session_id: str
    agent: str
    supervisor: str | None
    started_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class ModePeriod:
    """A ``coachd_mode_periods`` row with its session's supervisor (times aware, UTC)."""

    session_id: str
    supervisor: str | None
    mode: str
    started_at: datetime
    ended_at: datetime | None


# --- sales ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SaleRule:
    """Which statuses are sales, as VICIdial's own reports decide.

    From VICIdial's tables (``source="vicidial_statuses"``): the system
    statuses with ``vicidial_statuses.sale='Y'`` in every campaign, plus the
    ``vicidial_campaign_statuses`` with ``sale='Y'`` in their own campaign.
    Otherwise a fixed list for every campaign (``--sale-status``, else
    ``SALE``). Statuses and campaigns compare case-insensitively, as MySQL's
    default collations do.
    """

    system: frozenset[str]
    campaigns: Mapping[str, frozenset[str]] = field(default_factory=dict)
    source: SaleSource = "default"

    @classmethod
    def of(
        cls,
        system: Iterable[str],
        campaigns: Iterable[tuple[str, str]] = (),
        *,
        source: SaleSource,
    ) -> SaleRule:
        """From status names and ``(campaign_id, status)`` pairs."""
        by_campaign: dict[str, set[str]] = defaultdict(set)
        for campaign, status in campaigns:
            by_campaign[campaign.upper()].add(status.upper())
        return cls(
            frozenset(s.upper() for s in system),
            {c: frozenset(s) for c, s in sorted(by_campaign.items())},
            source,
        )

    def is_sale(self, campaign_id: str | None, status: str | None) -> bool:
        status = (status or "").upper()
        if status in self.system:
            return True
        return status in self.campaigns.get((campaign_id or "").upper(), frozenset())

    def describe(self, campaign: str | None = None) -> str:
        """The sale statuses in words (of ``campaign`` only, when given)."""
        system = " ".join(sorted(self.system)) or "(none)"
        if self.source == "option":
            return f"{system} (--sale-status)"
        if self.source == "default":
            return f"{system} (default; no sale flags in VICIdial's tables)"
        text = f"{system} (vicidial_statuses sale='Y')"
        for name, statuses in self.campaigns.items():
            if campaign is None or name == campaign.upper():
                text += f"; in {name}: {' '.join(sorted(statuses))}"
        return text

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "statuses": sorted(self.system),
            "campaign_statuses": {c: sorted(s) for c, s in self.campaigns.items()},
        }


# --- metrics --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Metrics:
    calls: int = 0
    talk_sec: int = 0
    sales: int = 0

    @property
    def avg_talk_sec(self) -> float | None:
        return self.talk_sec / self.calls if self.calls else None

    @property
    def conversion_pct(self) -> float | None:
        return self.sales / self.calls * 100 if self.calls else None


def metrics(counts: Iterable[CallCount], rule: SaleRule) -> Metrics:
    calls = talk = sales = 0
    for c in counts:
        calls += c.calls
        talk += c.talk_sec
        if rule.is_sale(c.campaign_id, c.status):
            sales += c.calls
    return Metrics(calls, talk, sales)


def _diff(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else after - before


@dataclass(frozen=True, slots=True)
class Change:
    """After minus before; ``conversion_percent`` is the relative change of the
    conversion (7.38 % after 4.49 % is +2.90 points, +64.5 %)."""

    calls: int
    avg_talk_sec: float | None
    sales: int
    conversion_points: float | None
    conversion_percent: float | None


def change(before: Metrics, after: Metrics) -> Change:
    points = _diff(after.conversion_pct, before.conversion_pct)
    percent = None
    if points is not None and before.conversion_pct:
        percent = points / before.conversion_pct * 100
    return Change(
        calls=after.calls - before.calls,
        avg_talk_sec=_diff(after.avg_talk_sec, before.avg_talk_sec),
        sales=after.sales - before.sales,
        conversion_points=points,
        conversion_percent=percent,
    )


# --- impact ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    label: str
    days: DayRange
    metrics: Metrics


@dataclass(frozen=True, slots=True)
class Impact:
    agent: str
    campaign: str | None
    before: Window
    after: Window
    change: Change
    rule: SaleRule
    sessions: tuple[CoachingSession, ...] = ()
    """With ``--auto``: the coaching sessions the windows are placed around."""
    coaching: DayRange | None = None
    """With ``--auto``: the first to the last coaching day (in neither window)."""
    auto_days: int | None = None
    notes: tuple[str, ...] = ()


def check_windows(before: DayRange, after: DayRange) -> None:
    if not before.last < after.first:
        raise ReportError(f"the before window ({before}) must end before the after window starts")


def auto_windows(session_days: Collection[date], days: int) -> tuple[DayRange, DayRange]:
    """``--auto``: the ``days`` whole days before the first coaching day, and the
    ``days`` whole days after the last one. The coaching days themselves (first
    to last, with whatever lies between) are in neither window."""
    if days < 1:
        raise ReportError("--days must be at least 1")
    if not session_days:
        raise ReportError("no coaching sessions to place the windows around")
    first, last = min(session_days), max(session_days)
    before = DayRange(first - timedelta(days=days), first - timedelta(days=1))
    after = DayRange(last + timedelta(days=1), last + timedelta(days=days))
    return before, after


def unfinished(window: DayRange, today: date) -> str | None:
    """A note when ``window`` is not over on ``today`` (its numbers are partial)."""
    if window.last < today:
        return None
    return (
        f"the window {window} is not over yet (today is {today.isoformat()}):"
        " its numbers are partial"
    )


def impact(
    agent: str,
    campaign: str | None,
    before: DayRange,
    after: DayRange,
    counts: Iterable[CallCount],
    rule: SaleRule,
    *,
    sessions: Iterable[CoachingSession] = (),
    coaching: DayRange | None = None,
    auto_days: int | None = None,
    notes: Iterable[str] = (),
) -> Impact:
    """Before/after numbers from ``counts`` (rows outside both windows are ignored)."""
    check_windows(before, after)
    rows = list(counts)
    b = metrics((c for c in rows if c.day in before), rule)
    a = metrics((c for c in rows if c.day in after), rule)
    return Impact(
        agent=agent,
        campaign=campaign,
        before=Window("before", before, b),
        after=Window("after", after, a),
        change=change(b, a),
        rule=rule,
        sessions=tuple(sorted(sessions, key=lambda s: s.started_at)),
        coaching=coaching,
        auto_days=auto_days,
        notes=tuple(notes),
    )


# --- team -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TeamDay:
    day: date
    metrics: Metrics
    sessions: tuple[CoachingSession, ...]
    """Coaching sessions started that (local) day."""


@dataclass(frozen=True, slots=True)
class TeamReport:
    campaign: str
    window: DayRange
    days: tuple[TeamDay, ...]
    """Each day with calls or coaching sessions, in order."""
    total: Metrics
    rule: SaleRule
    sessions_of: Literal["team", "all"]
    notes: tuple[str, ...] = ()

    @property
    def sessions(self) -> int:
        return sum(len(d.sessions) for d in self.days)


def team_window(until: date, weeks: int) -> DayRange:
    """The ``weeks`` x 7 whole days ending with ``until``."""
    if weeks < 1:
        raise ReportError("--weeks must be at least 1")
    return DayRange(until - timedelta(days=7 * weeks - 1), until)


def team_report(
    campaign: str,
    window: DayRange,
    counts: Iterable[CallCount],
    sessions: Iterable[CoachingSession],
    rule: SaleRule,
    zone: Zone,
    *,
    team: Collection[str] | None,
) -> TeamReport:
    """Daily team conversion with the coaching sessions of each day.

    ``team``: the agents whose sessions count (the campaign's users); ``None``:
    every session in the coaching log.
    """
    by_day: dict[date, list[CallCount]] = defaultdict(list)
    for c in counts:
        if c.day in window:
            by_day[c.day].append(c)
    in_window = [s for s in sessions if local_day(s.started_at, zone) in window]
    members = None if team is None else {a.upper() for a in team}
    kept = [s for s in in_window if members is None or s.agent.upper() in members]
    sessions_by_day: dict[date, list[CoachingSession]] = defaultdict(list)
    for s in sorted(kept, key=lambda s: s.started_at):
        sessions_by_day[local_day(s.started_at, zone)].append(s)
    notes: list[str] = []
    if members is not None and len(kept) < len(in_window):
        notes.append(
            f"{len(in_window) - len(kept)} of {len(in_window)} coaching sessions in these days"
            " were with agents who took no call in this campaign, and are not marked"
            " (--all-sessions marks every session)"
        )
    days = tuple(
        TeamDay(d, metrics(by_day.get(d, ()), rule), tuple(sessions_by_day.get(d, ())))
        for d in sorted(by_day.keys() | sessions_by_day.keys())
    )
    total = metrics((c for rows in by_day.values() for c in rows), rule)
    return TeamReport(
        campaign=campaign,
        window=window,
        days=days,
        total=total,
        rule=rule,
        sessions_of="all" if team is None else "team",
        notes=tuple(notes),
    )


# --- coverage -------------------------------------------------------------------------

MODES: tuple[str, ...] = tuple(m.value for m in Mode)


@dataclass(frozen=True, slots=True)
class CoverageRow:
    """One supervisor's coaching on one day (periods clipped to the day)."""

    day: date
    supervisor: str
    seconds: Mapping[str, float]
    """Seconds coached in each mode."""
    open_periods: int
    """Periods started this day that have no end yet (counted as 0 minutes)."""
    target_minutes: float

    def minutes(self, mode: str) -> float:
        return self.seconds.get(mode, 0.0) / 60

    @property
    def total_minutes(self) -> float:
        return sum(self.seconds.values()) / 60

    @property
    def target_pct(self) -> float | None:
        return self.total_minutes / self.target_minutes * 100 if self.target_minutes else None

    @property
    def on_target(self) -> bool:
        return self.total_minutes >= self.target_minutes


@dataclass(frozen=True, slots=True)
class SupervisorSummary:
    supervisor: str
    days: int
    total_minutes: float
    days_on_target: int

    @property
    def average_minutes(self) -> float:
        return self.total_minutes / self.days if self.days else 0.0


@dataclass(frozen=True, slots=True)
class CoverageReport:
    window: DayRange
    target_minutes: float
    modes: tuple[str, ...]
    rows: tuple[CoverageRow, ...]
    """Every (day, supervisor) of the window, for each supervisor with a period in it."""
    summary: tuple[SupervisorSummary, ...]


def _overlap(start: datetime, end: datetime, lo: datetime, hi: datetime) -> float:
    return max(0.0, (min(end, hi) - max(start, lo)).total_seconds())


def coverage(
    periods: Iterable[ModePeriod], window: DayRange, zone: Zone, target_minutes: float
) -> CoverageReport:
    """Minutes coached per supervisor per day, by mode.

    A period crossing midnight counts on each day for its part of that day. A
    period without an end (a session still running, or one a crash left open)
    counts no minutes: it is reported in ``open_periods`` of the day it started.
    """
    if target_minutes < 0:
        raise ReportError("--target-minutes must not be negative")
    days = window.each()
    midnights = [*days, window.last + timedelta(days=1)]
    bounds = [to_utc(datetime.combine(d, time()), zone) for d in midnights]
    seconds: dict[tuple[date, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    open_count: dict[tuple[date, str], int] = defaultdict(int)
    supervisors: set[str] = set()
    modes: set[str] = set()
    for p in periods:
        who = p.supervisor or NO_SUPERVISOR
        if p.ended_at is None:
            day = local_day(p.started_at, zone)
            if day in window:
                open_count[day, who] += 1
                supervisors.add(who)
            continue
        for i, day in enumerate(days):
            part = _overlap(p.started_at, p.ended_at, bounds[i], bounds[i + 1])
            if part > 0:
                seconds[day, who][p.mode] += part
                supervisors.add(who)
                modes.add(p.mode)
    order = (*MODES, *sorted(modes - set(MODES)))
    rows = tuple(
        CoverageRow(
            day=day,
            supervisor=who,
            seconds=dict(seconds.get((day, who), {})),
            open_periods=open_count.get((day, who), 0),
            target_minutes=target_minutes,
        )
        for day in days
        for who in sorted(supervisors)
    )
    summary = tuple(
        SupervisorSummary(
            supervisor=who,
            days=len(days),
            total_minutes=sum(r.total_minutes for r in rows if r.supervisor == who),
            days_on_target=sum(1 for r in rows if r.supervisor == who and r.on_target),
        )
        for who in sorted(supervisors)
    )
    return CoverageReport(window, target_minutes, order, rows, summary)
