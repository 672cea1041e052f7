"""The reports' computations on plain rows (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from coachd.reports.compute import (
    CallCount,
    CoachingSession,
    DayRange,
    Metrics,
    ModePeriod,
    ReportError,
    SaleRule,
    auto_windows,
    change,
    check_windows,
    coverage,
    impact,
    local_day,
    metrics,
    team_report,
    team_window,
    to_utc,
    unfinished,
)

NY = ZoneInfo("America/New_York")
D = date.fromisoformat
SALE = SaleRule.of(["SALE"], source="default")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def counts(day: str, calls: int, sales: int, talk: int, campaign: str = "B2B") -> list[CallCount]:
    return [
        CallCount(D(day), campaign, "SALE", sales, talk * sales // calls),
        CallCount(D(day), campaign, "NI", calls - sales, talk - talk * sales // calls),
    ]


def session(sid: str, agent: str, start: str, supervisor: str | None = "sup1") -> CoachingSession:
    return CoachingSession(sid, agent, supervisor, utc(start), utc(start) + timedelta(minutes=5))


# --- days -------------------------------------------------------------------------------


def test_day_range() -> None:
    r = DayRange.parse("2026-03-01..2026-03-14")
    assert (r.first, r.last, r.days, str(r)) == (
        D("2026-03-01"),
        D("2026-03-14"),
        14,
        "2026-03-01..2026-03-14",
    )
    assert (r.start, r.end) == (datetime(2026, 3, 1), datetime(2026, 3, 15))  # the 14th whole
    assert D("2026-03-14") in r and D("2026-03-15") not in r and "2026-03-01" not in r
    assert DayRange.parse(" 2026-03-05 ") == DayRange(D("2026-03-05"), D("2026-03-05"))
    assert len(r.each()) == 14


@pytest.mark.parametrize("text", ["2026-03-14..2026-03-01", "03/01..03/14", "2026-03-01..", ""])
def test_day_range_refused(text: str) -> None:
    with pytest.raises(ReportError):
        DayRange.parse(text)


def test_zones() -> None:
    # 03:30 UTC on 03-16 is 23:30 on 03-15 in New York (EDT, UTC-4).
    assert local_day(utc("2026-03-16T03:30"), NY) == D("2026-03-15")
    assert local_day(utc("2026-03-16T03:30"), ZoneInfo("UTC")) == D("2026-03-16")
    assert to_utc(datetime(2026, 3, 16), NY) == utc("2026-03-16T04:00")
    assert to_utc(datetime(2026, 2, 16), NY) == utc("2026-02-16T05:00")  # EST
    assert DayRange.parse("2026-03-08").utc_bounds(NY) == (
        utc("2026-03-08T05:00"),
        utc("2026-03-09T04:00"),  # the day DST starts has 23 hours
    )


# --- sales and metrics --------------------------------------------------------------------


def test_sale_rule() -> None:
    rule = SaleRule.of(
        ["SALE"], [("other", "xsale"), ("OTHER", "UPSELL")], source="vicidial_statuses"
    )
    assert rule.is_sale("B2B", "SALE") and rule.is_sale(None, "sale")
    assert rule.is_sale("OTHER", "XSALE") and rule.is_sale("other", "upsell")
    assert not rule.is_sale("B2B", "XSALE") and not rule.is_sale("B2B", None)
    assert rule.describe() == "SALE (vicidial_statuses sale='Y'); in OTHER: UPSELL XSALE"
    assert rule.describe("B2B") == "SALE (vicidial_statuses sale='Y')"
    assert rule.to_json() == {
        "source": "vicidial_statuses",
        "statuses": ["SALE"],
        "campaign_statuses": {"OTHER": ["UPSELL", "XSALE"]},
    }
    assert SaleRule.of(["SALE", "XS"], source="option").describe() == "SALE XS (--sale-status)"
    assert SaleRule.of([], source="vicidial_statuses").describe().startswith("(none)")


def test_the_guides_example() -> None:
    """312 calls, 14 sales before; 298 calls, 22 sales after (the VICIdial guide)."""
    before = metrics(counts("2026-03-01", 312, 14, 61901), SALE)
    after = metrics(counts("2026-03-20", 298, 22, 64249), SALE)
    assert before == Metrics(312, 61901, 14)
    assert round(before.conversion_pct or 0, 2) == 4.49
    assert round(before.avg_talk_sec or 0, 1) == 198.4
    assert round(after.conversion_pct or 0, 2) == 7.38
    c = change(before, after)
    assert (c.calls, c.sales) == (-14, 8)
    assert round(c.conversion_points or 0, 2) == 2.90
    assert round(c.conversion_percent or 0, 1) == 64.5  # the guide's "64% improvement"
    assert round(c.avg_talk_sec or 0, 1) == 17.2


def test_no_calls() -> None:
    empty = metrics([], SALE)
    assert (empty.avg_talk_sec, empty.conversion_pct) == (None, None)
    c = change(empty, Metrics(10, 100, 1))
    assert (c.conversion_points, c.conversion_percent, c.calls) == (None, None, 10)
    # From 0 % the points are known, the relative change is not.
    c = change(Metrics(10, 100, 0), Metrics(10, 100, 1))
    assert (c.conversion_points, c.conversion_percent) == (10.0, None)


def test_impact_uses_the_windows_only() -> None:
    rows = [
        *counts("2026-02-28", 50, 50, 500),  # before the before window
        *counts("2026-03-01", 10, 1, 100),
        *counts("2026-03-15", 50, 50, 500),  # between the windows
        *counts("2026-03-16", 20, 4, 400),
        *counts("2026-03-17", 50, 50, 500),  # after the after window
    ]
    r = impact(
        "a",
        None,
        DayRange.parse("2026-03-01..2026-03-14"),
        DayRange.parse("2026-03-16"),
        rows,
        SALE,
    )
    assert (r.before.metrics, r.after.metrics) == (Metrics(10, 100, 1), Metrics(20, 400, 4))
    assert round(r.change.conversion_points or 0, 6) == 10.0


@pytest.mark.parametrize(
    ("before", "after"),
    [("2026-03-01..2026-03-10", "2026-03-10..2026-03-20"), ("2026-03-11", "2026-03-10")],
)
def test_windows_must_not_overlap(before: str, after: str) -> None:
    with pytest.raises(ReportError, match="must end before"):
        check_windows(DayRange.parse(before), DayRange.parse(after))


# --- --auto -------------------------------------------------------------------------------


def test_auto_windows() -> None:
    before, after = auto_windows({D("2026-03-16"), D("2026-03-15")}, 14)
    assert (str(before), str(after)) == ("2026-03-01..2026-03-14", "2026-03-17..2026-03-30")
    before, after = auto_windows([D("2026-03-10")], 1)
    assert (str(before), str(after)) == ("2026-03-09..2026-03-09", "2026-03-11..2026-03-11")
    with pytest.raises(ReportError, match="no coaching sessions"):
        auto_windows([], 14)
    with pytest.raises(ReportError, match="at least 1"):
        auto_windows([D("2026-03-10")], 0)


def test_unfinished() -> None:
    window = DayRange.parse("2026-03-17..2026-03-30")
    assert unfinished(window, D("2026-03-31")) is None
    note = unfinished(window, D("2026-03-30"))
    assert note is not None and "not over yet (today is 2026-03-30)" in note


# --- team ---------------------------------------------------------------------------------


def test_team_window() -> None:
    assert str(team_window(D("2026-03-30"), 8)) == "2026-02-03..2026-03-30"
    assert team_window(D("2026-03-30"), 1).days == 7
    with pytest.raises(ReportError):
        team_window(D("2026-03-30"), 0)


def test_team_report() -> None:
    window = DayRange.parse("2026-03-10..2026-03-16")
    rows = [
        *counts("2026-03-09", 99, 9, 990),  # outside
        *counts("2026-03-10", 30, 3, 3000),
        *counts("2026-03-12", 20, 1, 2000),
    ]
    sessions = [
        session(
            "late", "agent7", "2026-03-12T03:30"
        ),  # 03-11 23:30 in New York: a day without calls
        session("in", "Agent42", "2026-03-12T14:00"),  # team names compare case-insensitively
        session("out", "1099", "2026-03-12T15:00"),
        session("early", "agent42", "2026-03-10T03:00"),  # 03-09 in New York: outside
    ]
    team = team_report("B2B", window, rows, sessions, SALE, NY, team={"agent42", "agent7"})
    assert [
        (d.day.isoformat(), d.metrics.calls, [s.session_id for s in d.sessions]) for d in team.days
    ] == [
        ("2026-03-10", 30, []),
        ("2026-03-11", 0, ["late"]),
        ("2026-03-12", 20, ["in"]),
    ]
    assert team.total == Metrics(50, 5000, 4)
    assert (team.sessions, team.sessions_of) == (2, "team")
    assert team.notes == (
        "1 of 3 coaching sessions in these days were with agents who took no call in this"
        " campaign, and are not marked (--all-sessions marks every session)",
    )
    everyone = team_report("B2B", window, rows, sessions, SALE, NY, team=None)
    assert (everyone.sessions, everyone.sessions_of, everyone.notes) == (3, "all", ())


# --- coverage -----------------------------------------------------------------------------


def period(sup: str | None, mode: str, start: str, minutes: float | None) -> ModePeriod:
    s = utc(start)
    end = None if minutes is None else s + timedelta(minutes=minutes)
    return ModePeriod("x", sup, mode, s, end)


def test_coverage_clips_to_days() -> None:
    periods = [
        period("sup1", "monitor", "2026-03-16T03:30", 60),  # 23:30-00:30 New York
        period("sup1", "whisper", "2026-03-16T14:00", 45),
        period(None, "barge", "2026-03-16T15:00", 6),
        period("sup2", "monitor", "2026-03-16T16:00", None),  # open
        period("sup2", "monitor", "2026-03-14T16:00", None),  # open, before the window
        period("sup3", "monitor", "2026-03-20T16:00", 30),  # after the window
    ]
    report = coverage(periods, DayRange.parse("2026-03-15..2026-03-16"), NY, 180)
    assert report.modes == ("monitor", "whisper", "private_whisper", "barge")
    got = [
        (
            r.day.isoformat(),
            r.supervisor,
            r.minutes("monitor"),
            r.minutes("whisper"),
            r.minutes("barge"),
            r.open_periods,
        )
        for r in report.rows
    ]
    assert got == [
        ("2026-03-15", "(none)", 0, 0, 0, 0),
        ("2026-03-15", "sup1", 30, 0, 0, 0),
        ("2026-03-15", "sup2", 0, 0, 0, 0),
        ("2026-03-16", "(none)", 0, 0, 6, 0),
        ("2026-03-16", "sup1", 30, 45, 0, 0),
        ("2026-03-16", "sup2", 0, 0, 0, 1),
    ]
    sup1 = report.rows[4]
    assert (sup1.total_minutes, round(sup1.target_pct or 0, 2), sup1.on_target) == (
        75,
        41.67,
        False,
    )
    assert [(s.supervisor, s.total_minutes, s.average_minutes) for s in report.summary] == [
        ("(none)", 6, 3),
        ("sup1", 105, 52.5),
        ("sup2", 0, 0),
    ]


def test_coverage_dst_day_and_other_modes() -> None:
    """A period over all of 03-08 (New York springs forward) holds 23 hours; a mode
    coachd does not know yet is kept, after the known ones."""
    periods = [
        period("sup1", "monitor", "2026-03-08T00:00", 48 * 60),
        period("sup1", "shadow", "2026-03-08T12:00", 15),
    ]
    report = coverage(periods, DayRange.parse("2026-03-08"), NY, 0)
    [row] = report.rows
    assert row.minutes("monitor") == 23 * 60
    assert row.minutes("shadow") == 15
    assert report.modes[-1] == "shadow"
    assert (row.on_target, row.target_pct) == (True, None)


def test_coverage_refuses_a_negative_target() -> None:
    with pytest.raises(ReportError):
        coverage([], DayRange.parse("2026-03-08"), NY, -1)
