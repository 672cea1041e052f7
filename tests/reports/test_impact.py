"""``coachd report impact`` against the seeded VICIdial database and coaching log."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from typing import Any

import pytest

from coachd.reports.render import IMPACT_CSV_HEADERS

from . import seed
from .conftest import Report

NY = ("--timezone", seed.ZONE_NAME)
GIVEN = ("--before", "2026-03-01..2026-03-14", "--after", "2026-03-17..2026-03-30")

BEFORE = {
    "from": "2026-03-01",
    "to": "2026-03-14",
    "days": 14,
    "calls": 312,
    "talk_sec": 61901,
    "avg_talk_sec": 198.4,
    "sales": 14,
    "conversion_pct": 4.49,
}
AFTER = {
    "from": "2026-03-17",
    "to": "2026-03-30",
    "days": 14,
    "calls": 298,
    "talk_sec": 64249,
    "avg_talk_sec": 215.6,
    "sales": 22,
    "conversion_pct": 7.38,
}
CHANGE = {
    "calls": -14,
    "avg_talk_sec": 17.2,
    "sales": 8,
    "conversion_points": 2.9,
    "conversion_percent": 64.53,
}


def as_json(result: Any) -> dict[str, Any]:
    assert result.code == 0, result.err
    assert result.err == ""
    data: dict[str, Any] = json.loads(result.out)
    return data


def expected(user: str, first: str, last: str, campaign: str | None = None) -> dict[str, Any]:
    """The plain-Python answer for ``user``'s calls in ``first``..``last``."""
    rows = [c for c in seed.calls() if c.user == user]
    rows = [c for c in rows if campaign is None or c.campaign_id == campaign]
    calls, talk, sales = seed.totals(
        seed.on_days(rows, date.fromisoformat(first), date.fromisoformat(last))
    )
    return {"from": first, "to": last, "calls": calls, "talk_sec": talk, "sales": sales}


def window(data: dict[str, Any]) -> dict[str, Any]:
    return {k: data[k] for k in ("from", "to", "calls", "talk_sec", "sales")}


def test_given_windows(report: Report, vicidial_url: str) -> None:
    data = as_json(
        report(
            "impact",
            "--agent",
            "agent42",
            *GIVEN,
            "--vicidial-url",
            vicidial_url,
            "--format",
            "json",
        )
    )
    assert data["before"] == BEFORE
    assert data["after"] == AFTER
    assert data["change"] == CHANGE
    assert data["windows"] == "given"
    assert data["sessions"] == []
    assert data["sale_statuses"] == {
        "source": "vicidial_statuses",
        "statuses": ["SALE"],
        "campaign_statuses": {"OTHER": ["XSALE"]},
    }
    assert data["notes"] == []
    # The answers agree with a plain-Python count of the generated rows.
    assert window(data["before"]) == expected("agent42", "2026-03-01", "2026-03-14")
    assert window(data["after"]) == expected("agent42", "2026-03-17", "2026-03-30")


def test_auto_windows_around_the_sessions(report: Report, vicidial_url: str, log_url: str) -> None:
    data = as_json(
        report(
            "impact",
            "--agent",
            "agent42",
            "--auto",
            *NY,
            "--vicidial-url",
            vicidial_url,
            "--log-url",
            log_url,
            "--format",
            "json",
        )
    )
    # Session C started 03-15 23:30 New York time (03-16 03:30 UTC): the first coaching
    # day is 03-15, the last 03-16, so 14 days each side are exactly the given windows.
    assert [s["session_id"] for s in data["sessions"]] == ["C", "A", "B"]
    assert data["sessions"][0]["started_at"] == "2026-03-16T03:30:00+00:00"
    assert (data["windows"], data["auto_days"]) == ("auto", 14)
    assert (data["before"], data["after"], data["change"]) == (BEFORE, AFTER, CHANGE)


def test_auto_days_are_vicidial_dates(
    report: Report, vicidial_url: str, sqlite_log_url: str
) -> None:
    """In UTC, session C falls on 03-16: the before window moves by a day."""
    data = as_json(
        report(
            "impact",
            "--agent",
            "agent42",
            "--auto",
            "--timezone",
            "UTC",
            "--vicidial-url",
            vicidial_url,
            "--log-url",
            sqlite_log_url,
            "--format",
            "json",
        )
    )
    assert window(data["before"]) == expected("agent42", "2026-03-02", "2026-03-15")
    assert data["before"]["calls"] == 312 - 23 + 20  # 03-01 out, coaching day 03-15 in
    assert data["after"] == AFTER


def test_auto_with_sessions_and_days(
    report: Report, vicidial_url: str, sqlite_log_url: str
) -> None:
    data = as_json(
        report(
            "impact",
            "--agent",
            "agent42",
            "--auto",
            "--sessions",
            "2026-03-16..2026-03-16",
            "--days",
            "7",
            *NY,
            "--vicidial-url",
            vicidial_url,
            "--log-url",
            sqlite_log_url,
            "--format",
            "json",
        )
    )
    assert [s["session_id"] for s in data["sessions"]] == ["A", "B"]
    assert window(data["before"]) == expected("agent42", "2026-03-09", "2026-03-15")
    assert window(data["after"]) == expected("agent42", "2026-03-17", "2026-03-23")
    assert data["before"]["days"] == data["after"]["days"] == 7


def test_auto_log_agent(report: Report, vicidial_url: str, sqlite_log_url: str) -> None:
    """The coaching log names the agent by endpoint (1099): --log-agent."""
    data = as_json(
        report(
            "impact",
            "--agent",
            "agent42",
            "--auto",
            "--log-agent",
            "1099",
            *NY,
            "--vicidial-url",
            vicidial_url,
            "--log-url",
            sqlite_log_url,
            "--format",
            "json",
        )
    )
    assert [s["session_id"] for s in data["sessions"]] == ["F"]
    assert window(data["before"]) == expected("agent42", "2026-02-24", "2026-03-09")
    assert window(data["after"]) == expected("agent42", "2026-03-11", "2026-03-24")


def test_table(report: Report, vicidial_url: str) -> None:
    result = report("impact", "--agent", "agent42", *GIVEN, "--vicidial-url", vicidial_url)
    assert result.code == 0, result.err
    assert result.out == (
        "Coaching impact: agent42, all campaigns\n"
        "Sales: SALE (vicidial_statuses sale='Y'); in OTHER: XSALE\n"
        "Calls: vicidial_log rows with length_in_sec > 0\n"
        "\n"
        "period  from        to          days  calls  avg talk s  sales  conversion %\n"
        "before  2026-03-01  2026-03-14    14    312       198.4     14          4.49\n"
        "after   2026-03-17  2026-03-30    14    298       215.6     22          7.38\n"
        "change                                  -14       +17.2     +8     +2.90 pts\n"
        "\n"
        "Conversion +2.90 points (+64.5 % relative to before)\n"
    )


def test_csv(report: Report, vicidial_url: str) -> None:
    result = report(
        "impact", "--agent", "agent42", *GIVEN, "--vicidial-url", vicidial_url, "--format", "csv"
    )
    assert result.code == 0, result.err
    rows = list(csv.reader(io.StringIO(result.out)))
    assert rows[0] == list(IMPACT_CSV_HEADERS)
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row == {
        "agent": "agent42",
        "campaign": "",
        "before_from": "2026-03-01",
        "before_to": "2026-03-14",
        "before_days": "14",
        "before_calls": "312",
        "before_talk_sec": "61901",
        "before_avg_talk_sec": "198.40",
        "before_sales": "14",
        "before_conversion_pct": "4.49",
        "after_from": "2026-03-17",
        "after_to": "2026-03-30",
        "after_days": "14",
        "after_calls": "298",
        "after_talk_sec": "64249",
        "after_avg_talk_sec": "215.60",
        "after_sales": "22",
        "after_conversion_pct": "7.38",
        "change_calls": "-14",
        "change_avg_talk_sec": "17.20",
        "change_sales": "8",
        "change_conversion_points": "2.90",
        "change_conversion_percent": "64.53",
    }


# --- which statuses are sales -----------------------------------------------------------

AGENT99 = ("--agent", "agent99", "--before", "2026-03-02..2026-03-02")
AFTER_EMPTY = ("--after", "2026-03-03..2026-03-03", "--format", "json")


@pytest.mark.parametrize(
    ("extra", "calls", "sales", "source"),
    [
        # vicidial_statuses SALE everywhere, XSALE only in OTHER (not in B2B).
        ((), 21, 5, "vicidial_statuses"),
        (("--campaign", "OTHER"), 20, 5, "vicidial_statuses"),
        (("--campaign", "B2B"), 1, 0, "vicidial_statuses"),
        (("--sale-status", "SALE"), 21, 1, "option"),
        (("--sale-status", "sale,xsale"), 21, 6, "option"),
        (("--sale-status", "XSALE", "--sale-status", "SALE"), 21, 6, "option"),
    ],
)
def test_sale_statuses(
    report: Report,
    vicidial_url: str,
    extra: tuple[str, ...],
    calls: int,
    sales: int,
    source: str,
) -> None:
    data = as_json(report("impact", *AGENT99, *AFTER_EMPTY, "--vicidial-url", vicidial_url, *extra))
    assert (data["before"]["calls"], data["before"]["sales"]) == (calls, sales)
    assert data["sale_statuses"]["source"] == source
    # No calls after: no averages, no change in conversion.
    assert data["after"]["calls"] == 0
    assert data["after"]["conversion_pct"] is None
    assert data["change"]["conversion_points"] is None


def test_sale_default_without_status_tables(report: Report, bare_vicidial_url: str) -> None:
    data = as_json(report("impact", *AGENT99, *AFTER_EMPTY, "--vicidial-url", bare_vicidial_url))
    assert (data["before"]["calls"], data["before"]["sales"]) == (21, 1)
    assert data["sale_statuses"] == {
        "source": "default",
        "statuses": ["SALE"],
        "campaign_statuses": {},
    }


# --- refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--before", "2026-03-10..2026-03-20", "--after", "2026-03-15..2026-03-30"), "must end"),
        (("--before", "2026-03-01..2026-03-14"), "give --before FROM..TO and --after"),
        (("--auto", *GIVEN), "drop --before and --after"),
        (("--auto", "--agent", "nobody"), "no coaching sessions of 'nobody'"),
        ((*GIVEN, "--log-agent", "x"), "go with --auto"),
    ],
)
def test_refused(
    report: Report, vicidial_url: str, sqlite_log_url: str, args: tuple[str, ...], message: str
) -> None:
    agent = () if "--agent" in args else ("--agent", "agent42")
    urls = ("--vicidial-url", vicidial_url, "--log-url", sqlite_log_url)
    result = report("impact", *agent, *args, *urls)
    assert result.code == 1
    assert result.out == ""
    assert message in result.err


def test_usage_errors(report: Report) -> None:
    result = report("impact", "--agent", "a", "--before", "2026-03-01", "--after", "yesterday")
    assert result.code == 2
    assert "expected FROM..TO" in result.err


def test_needs_a_vicidial_database(report: Report, sqlite_log_url: str) -> None:
    result = report("impact", "--agent", "agent42", *GIVEN)
    assert result.code == 1
    assert "no VICIdial database" in result.err
    result = report("impact", "--agent", "agent42", *GIVEN, "--vicidial-url", sqlite_log_url)
    assert result.code == 1
    assert "no VICIdial database" in result.err


def test_vicidial_database_down(report: Report) -> None:
    result = report(
        "impact", "--agent", "agent42", *GIVEN, "--vicidial-url", "mysql://root@127.0.0.1:1/x"
    )
    assert result.code == 1
    assert result.err.startswith("coachd: report: VICIdial database: mysql:")
