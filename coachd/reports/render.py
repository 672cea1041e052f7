"""Reports as text: an aligned table (for people), CSV and JSON (for tools).

CSV and JSON carry the raw counts (calls, talk seconds, sales) beside the
derived values, which are rounded to 2 decimals; the table rounds talk time
and minutes to 1 decimal and conversion to 2, as the VICIdial guide does.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Literal

from coachd.reports.compute import (
    CoachingSession,
    CoverageReport,
    DayRange,
    Impact,
    Metrics,
    TeamReport,
    Window,
)

Format = Literal["table", "csv", "json"]
FORMATS: tuple[Format, ...] = ("table", "csv", "json")

CALLS_COUNTED = "vicidial_log rows with length_in_sec > 0"


def _r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _fixed(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _signed(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:+.{digits}f}"


def _cell(value: float | None) -> str:
    """A CSV cell: 2 decimals, empty when there is no value."""
    return "" if value is None else f"{value:.2f}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> list[str]:
    """Aligned columns: ``align`` has an ``l`` (left) or ``r`` (right) per column."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.ljust(w) if a == "l" else c.rjust(w)
            for c, w, a in zip(cells, widths, align, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return [line(headers), *(line(r) for r in rows)]


def _csv(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return out.getvalue()


def _json(data: object) -> str:
    return json.dumps(data, indent=2) + "\n"


def _session(s: CoachingSession) -> dict[str, object]:
    return {
        "session_id": s.session_id,
        "agent": s.agent,
        "supervisor": s.supervisor,
        "started_at": s.started_at.isoformat(),
        "ended_at": None if s.ended_at is None else s.ended_at.isoformat(),
    }


def _metrics_json(m: Metrics) -> dict[str, object]:
    return {
        "calls": m.calls,
        "talk_sec": m.talk_sec,
        "avg_talk_sec": _r(m.avg_talk_sec),
        "sales": m.sales,
        "conversion_pct": _r(m.conversion_pct),
    }


# --- impact ----------------------------------------------------------------------------


def impact(report: Impact, fmt: Format) -> str:
    if fmt == "json":
        return _json(impact_json(report))
    if fmt == "csv":
        return _impact_csv(report)
    return _impact_table(report)


def _range(days: DayRange) -> dict[str, object]:
    return {"from": days.first.isoformat(), "to": days.last.isoformat(), "days": days.days}


def _window_json(w: Window) -> dict[str, object]:
    return _range(w.days)


def impact_json(report: Impact) -> dict[str, object]:
    c = report.change
    return {
        "report": "impact",
        "agent": report.agent,
        "campaign": report.campaign,
        "windows": "auto" if report.auto_days is not None else "given",
        "auto_days": report.auto_days,
        "coaching_days": None if report.coaching is None else _range(report.coaching),
        "sessions": [_session(s) for s in report.sessions],
        "calls_counted": CALLS_COUNTED,
        "sale_statuses": report.rule.to_json(),
        "before": {**_window_json(report.before), **_metrics_json(report.before.metrics)},
        "after": {**_window_json(report.after), **_metrics_json(report.after.metrics)},
        "change": {
            "calls": c.calls,
            "avg_talk_sec": _r(c.avg_talk_sec),
            "sales": c.sales,
            "conversion_points": _r(c.conversion_points),
            "conversion_percent": _r(c.conversion_percent),
        },
        "notes": list(report.notes),
    }


IMPACT_CSV_HEADERS: tuple[str, ...] = (
    "agent",
    "campaign",
    *(
        f"{w}_{k}"
        for w in ("before", "after")
        for k in (
            "from",
            "to",
            "days",
            "calls",
            "talk_sec",
            "avg_talk_sec",
            "sales",
            "conversion_pct",
        )
    ),
    "change_calls",
    "change_avg_talk_sec",
    "change_sales",
    "change_conversion_points",
    "change_conversion_percent",
)


def _impact_csv(report: Impact) -> str:
    row: list[object] = [report.agent, report.campaign or ""]
    for w in (report.before, report.after):
        m = w.metrics
        row += [w.days.first.isoformat(), w.days.last.isoformat(), w.days.days, m.calls]
        row += [m.talk_sec, _cell(m.avg_talk_sec), m.sales, _cell(m.conversion_pct)]
    c = report.change
    row += [c.calls, _cell(c.avg_talk_sec), c.sales]
    row += [_cell(c.conversion_points), _cell(c.conversion_percent)]
    return _csv(IMPACT_CSV_HEADERS, [row])


def _impact_table(report: Impact) -> str:
    lines = [f"Coaching impact: {report.agent}, " + _campaign(report.campaign)]
    if report.auto_days is not None and report.coaching is not None:
        lines.append(
            f"Windows: {report.auto_days} days before and after the coaching days"
            f" {report.coaching} ({len(report.sessions)} sessions)"
        )
    lines.append(f"Sales: {report.rule.describe(report.campaign)}")
    lines.append(f"Calls: {CALLS_COUNTED}")
    lines.append("")
    headers = ("period", "from", "to", "days", "calls", "avg talk s", "sales", "conversion %")
    rows = [
        (
            w.label,
            w.days.first.isoformat(),
            w.days.last.isoformat(),
            str(w.days.days),
            str(w.metrics.calls),
            _fixed(w.metrics.avg_talk_sec, 1),
            str(w.metrics.sales),
            _fixed(w.metrics.conversion_pct, 2),
        )
        for w in (report.before, report.after)
    ]
    c = report.change
    rows.append(
        (
            "change",
            "",
            "",
            "",
            f"{c.calls:+d}",
            _signed(c.avg_talk_sec, 1),
            f"{c.sales:+d}",
            _signed(c.conversion_points, 2) + " pts",
        )
    )
    lines += _table(headers, rows, "lllrrrrr")
    lines.append("")
    lines.append(
        f"Conversion {_signed(c.conversion_points, 2)} points"
        f" ({_signed(c.conversion_percent, 1)} % relative to before)"
    )
    lines += [f"Note: {n}" for n in report.notes]
    return "\n".join(lines) + "\n"


def _campaign(campaign: str | None) -> str:
    return "all campaigns" if campaign is None else f"campaign {campaign}"


# --- team ------------------------------------------------------------------------------


def team(report: TeamReport, fmt: Format) -> str:
    if fmt == "json":
        return _json(team_json(report))
    if fmt == "csv":
        return _team_csv(report)
    return _team_table(report)


def _agents(sessions: Sequence[CoachingSession]) -> str:
    return " ".join(sorted({s.agent for s in sessions}))


def team_json(report: TeamReport) -> dict[str, object]:
    return {
        "report": "team",
        "campaign": report.campaign,
        "from": report.window.first.isoformat(),
        "to": report.window.last.isoformat(),
        "calls_counted": CALLS_COUNTED,
        "sale_statuses": report.rule.to_json(),
        "sessions_marked": report.sessions_of,
        "days": [
            {
                "day": d.day.isoformat(),
                **_metrics_json(d.metrics),
                "coaching_sessions": [_session(s) for s in d.sessions],
            }
            for d in report.days
        ],
        "total": {**_metrics_json(report.total), "coaching_sessions": report.sessions},
        "notes": list(report.notes),
    }


TEAM_CSV_HEADERS: tuple[str, ...] = (
    "day",
    "calls",
    "talk_sec",
    "avg_talk_sec",
    "sales",
    "conversion_pct",
    "coaching_sessions",
    "coached_agents",
)


def _team_csv(report: TeamReport) -> str:
    rows = [
        (
            d.day.isoformat(),
            d.metrics.calls,
            d.metrics.talk_sec,
            _cell(d.metrics.avg_talk_sec),
            d.metrics.sales,
            _cell(d.metrics.conversion_pct),
            len(d.sessions),
            _agents(d.sessions),
        )
        for d in report.days
    ]
    return _csv(TEAM_CSV_HEADERS, rows)


def _team_table(report: TeamReport) -> str:
    marked = "the team's" if report.sessions_of == "team" else "all"
    lines = [
        f"Team conversion: campaign {report.campaign}, {report.window} ({report.window.days} days)",
        f"Sales: {report.rule.describe(report.campaign)}",
        f"Calls: {CALLS_COUNTED}",
        f"Coaching: {marked} sessions, marked * on the day they started",
        "",
    ]
    headers = ("day", "calls", "avg talk s", "sales", "conversion %", "coaching")
    rows = [
        (
            d.day.isoformat(),
            str(d.metrics.calls),
            _fixed(d.metrics.avg_talk_sec, 1),
            str(d.metrics.sales),
            _fixed(d.metrics.conversion_pct, 2),
            f"* {len(d.sessions)}: {_agents(d.sessions)}" if d.sessions else "",
        )
        for d in report.days
    ]
    t = report.total
    rows.append(
        (
            "total",
            str(t.calls),
            _fixed(t.avg_talk_sec, 1),
            str(t.sales),
            _fixed(t.conversion_pct, 2),
            f"{report.sessions} session(s)",
        )
    )
    lines += _table(headers, rows, "lrrrrl")
    lines += [f"Note: {n}" for n in report.notes]
    return "\n".join(lines) + "\n"


# --- coverage --------------------------------------------------------------------------


def coverage(report: CoverageReport, fmt: Format) -> str:
    if fmt == "json":
        return _json(coverage_json(report))
    if fmt == "csv":
        return _coverage_csv(report)
    return _coverage_table(report)


def _shortfall(total: float, target: float) -> float:
    return max(0.0, target - total)


def coverage_json(report: CoverageReport) -> dict[str, object]:
    return {
        "report": "coverage",
        "from": report.window.first.isoformat(),
        "to": report.window.last.isoformat(),
        "target_minutes": report.target_minutes,
        "modes": list(report.modes),
        "rows": [
            {
                "day": r.day.isoformat(),
                "supervisor": r.supervisor,
                "minutes": {m: _r(r.minutes(m)) for m in report.modes},
                "total_minutes": _r(r.total_minutes),
                "target_pct": _r(r.target_pct),
                "shortfall_minutes": _r(_shortfall(r.total_minutes, r.target_minutes)),
                "open_periods": r.open_periods,
            }
            for r in report.rows
        ],
        "supervisors": [
            {
                "supervisor": s.supervisor,
                "days": s.days,
                "total_minutes": _r(s.total_minutes),
                "average_minutes": _r(s.average_minutes),
                "days_on_target": s.days_on_target,
            }
            for s in report.summary
        ],
    }


def coverage_csv_headers(modes: Sequence[str]) -> tuple[str, ...]:
    return (
        "day",
        "supervisor",
        *(f"{m}_min" for m in modes),
        "total_min",
        "target_min",
        "target_pct",
        "shortfall_min",
        "open_periods",
    )


def _coverage_csv(report: CoverageReport) -> str:
    rows = [
        (
            r.day.isoformat(),
            r.supervisor,
            *(_cell(r.minutes(m)) for m in report.modes),
            _cell(r.total_minutes),
            _cell(r.target_minutes),
            _cell(r.target_pct),
            _cell(_shortfall(r.total_minutes, r.target_minutes)),
            r.open_periods,
        )
        for r in report.rows
    ]
    return _csv(coverage_csv_headers(report.modes), rows)


def _coverage_table(report: CoverageReport) -> str:
    w = report.window
    when = w.first.isoformat() if w.days == 1 else str(w)
    lines = [
        f"Coaching coverage: {when}, target {report.target_minutes:g} minutes"
        " per supervisor per day (minutes)",
        "",
    ]
    if not report.rows:
        return "\n".join([*lines, "No coaching in these days."]) + "\n"
    headers = ("day", "supervisor", *report.modes, "total", "target %", "short", "open")
    rows = [
        (
            r.day.isoformat(),
            r.supervisor,
            *(_fixed(r.minutes(m), 1) for m in report.modes),
            _fixed(r.total_minutes, 1),
            _fixed(r.target_pct, 1),
            _fixed(_shortfall(r.total_minutes, r.target_minutes), 1),
            str(r.open_periods) if r.open_periods else "",
        )
        for r in report.rows
    ]
    lines += _table(headers, rows, "ll" + "r" * (len(headers) - 2))
    if any(r.open_periods for r in report.rows):
        lines.append("open: periods with no end yet (running, or left by a crash): not counted")
    if w.days > 1:
        lines.append("")
        summary = [
            (
                s.supervisor,
                str(s.days),
                _fixed(s.total_minutes, 1),
                _fixed(s.average_minutes, 1),
                str(s.days_on_target),
            )
            for s in report.summary
        ]
        headers = ("supervisor", "days", "minutes", "per day", "days on target")
        lines += _table(headers, summary, "lrrrr")
    return "\n".join(lines) + "\n"
