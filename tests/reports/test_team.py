"""``coachd report team``: daily conversion, coaching days marked, CSV/JSON and the PNG."""

from __future__ import annotations

import csv
import io
import json
import struct
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from coachd.reports.render import TEAM_CSV_HEADERS

from . import seed
from .conftest import Report

UNTIL = ("--campaign", "B2B", "--until", "2026-03-30", "--timezone", seed.ZONE_NAME)


def team(report: Report, vicidial_url: str, log_url: str, *extra: str) -> dict[str, Any]:
    result = report("team", *UNTIL, "--vicidial-url", vicidial_url, "--log-url", log_url, *extra)
    assert result.code == 0, result.err
    data: dict[str, Any] = json.loads(result.out)
    return data


def day_of(data: dict[str, Any], day: str) -> dict[str, Any]:
    found = [d for d in data["days"] if d["day"] == day]
    assert len(found) == 1, day
    result: dict[str, Any] = found[0]
    return result


def test_known_days(report: Report, vicidial_url: str, log_url: str) -> None:
    data = team(report, vicidial_url, log_url, "--format", "json")
    assert (data["campaign"], data["from"], data["to"]) == ("B2B", "2026-02-03", "2026-03-30")
    assert data["sessions_marked"] == "team"
    # Tuesday 02-03: agent7 20 calls 1 sale 100 s each, agent9 10 calls 1 sale 150 s each.
    assert day_of(data, "2026-02-03") == {
        "day": "2026-02-03",
        "calls": 30,
        "talk_sec": 3500,
        "avg_talk_sec": 116.67,
        "sales": 2,
        "conversion_pct": 6.67,
        "coaching_sessions": [],
    }
    # Friday 02-20 (agent9: no sale on Fridays), coached: session G with agent7.
    d = day_of(data, "2026-02-20")
    assert (d["calls"], d["sales"], d["conversion_pct"]) == (30, 1, 3.33)
    assert [(s["session_id"], s["agent"]) for s in d["coaching_sessions"]] == [("G", "agent7")]
    # Sunday 03-15: agent42 alone (20 calls, 3 sales, 200 s); session C (23:30 local).
    d = day_of(data, "2026-03-15")
    assert (d["calls"], d["talk_sec"], d["sales"], d["conversion_pct"]) == (20, 4000, 3, 15.0)
    assert [s["session_id"] for s in d["coaching_sessions"]] == ["C"]
    # Monday 03-16: agent7 20/1, agent9 10/0, agent42 20/3; five sessions that day.
    d = day_of(data, "2026-03-16")
    assert (d["calls"], d["talk_sec"], d["sales"], d["conversion_pct"]) == (50, 7500, 4, 8.0)
    assert [s["session_id"] for s in d["coaching_sessions"]] == ["A", "D", "B", "E", "I"]
    # Monday 03-02: agent99's XSALE is a call in B2B but not a sale there.
    d = day_of(data, "2026-03-02")
    assert (d["calls"], d["sales"]) == (20 + 10 + 23 + 1, 1 + 0 + 1)
    # Session F (agent 1099, 03-10) is not the team's: not marked, and said so.
    assert day_of(data, "2026-03-10")["coaching_sessions"] == []
    assert data["total"]["coaching_sessions"] == 7
    assert data["notes"] == [
        "1 of 8 coaching sessions in these days were with agents who took no call in this"
        " campaign, and are not marked (--all-sessions marks every session)"
    ]


def test_every_day_matches_plain_python(report: Report, vicidial_url: str, log_url: str) -> None:
    data = team(report, vicidial_url, log_url, "--format", "json")
    rows = [c for c in seed.calls() if c.campaign_id == "B2B"]
    expected = []
    day = date(2026, 2, 3)
    while day <= date(2026, 3, 30):
        calls, talk, sales = seed.totals(seed.on_days(rows, day, day))
        if calls:
            expected.append((day.isoformat(), calls, talk, sales))
        day += timedelta(days=1)
    assert [(d["day"], d["calls"], d["talk_sec"], d["sales"]) for d in data["days"]] == expected
    calls, talk, sales = seed.totals(seed.on_days(rows, date(2026, 2, 3), date(2026, 3, 30)))
    assert (data["total"]["calls"], data["total"]["talk_sec"]) == (calls, talk)
    assert (data["total"]["sales"], data["total"]["conversion_pct"]) == (
        sales,
        round(sales / calls * 100, 2),
    )
    # Sundays before March have no calls and no sessions: not listed.
    assert "2026-02-08" not in {d["day"] for d in data["days"]}


def test_all_sessions_and_weeks(report: Report, vicidial_url: str, sqlite_log_url: str) -> None:
    data = team(
        report, vicidial_url, sqlite_log_url, "--all-sessions", "--weeks", "3", "--format", "json"
    )
    assert (data["from"], data["to"]) == ("2026-03-10", "2026-03-30")
    assert data["sessions_marked"] == "all"
    assert [s["agent"] for s in day_of(data, "2026-03-10")["coaching_sessions"]] == ["1099"]
    assert data["total"]["coaching_sessions"] == 7  # F, C, A, D, B, E, I
    assert data["notes"] == []


def test_csv(report: Report, vicidial_url: str, log_url: str) -> None:
    result = report(
        "team", *UNTIL, "--vicidial-url", vicidial_url, "--log-url", log_url, "--format", "csv"
    )
    assert result.code == 0, result.err
    rows = list(csv.reader(io.StringIO(result.out)))
    assert rows[0] == list(TEAM_CSV_HEADERS)
    by_day = {r[0]: r for r in rows[1:]}
    assert by_day["2026-02-03"] == ["2026-02-03", "30", "3500", "116.67", "2", "6.67", "0", ""]
    assert by_day["2026-03-16"] == [
        "2026-03-16",
        "50",
        "7500",
        "150.00",
        "4",
        "8.00",
        "5",
        "agent42 agent7 agent9",
    ]
    assert len(rows) - 1 == len({r[0] for r in rows[1:]})  # one row per day


def test_table(report: Report, vicidial_url: str, sqlite_log_url: str) -> None:
    result = report("team", *UNTIL, "--vicidial-url", vicidial_url, "--log-url", sqlite_log_url)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "Team conversion: campaign B2B, 2026-02-03..2026-03-30 (56 days)"
    assert lines[1] == "Sales: SALE (vicidial_statuses sale='Y')"
    assert lines[5] == "day         calls  avg talk s  sales  conversion %  coaching"
    assert "2026-03-16     50       150.0      4          8.00  * 5: agent42 agent7 agent9" in lines
    assert lines[-2].startswith("total ")
    assert lines[-2].endswith("5.27  7 session(s)")
    assert lines[-1].startswith("Note: 1 of 8 coaching sessions")


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert data[-12:-4] == b"\x00\x00\x00\x00IEND"  # a complete file
    return width, height


@pytest.mark.parametrize(("size", "expected"), [(None, (1200, 600)), ("800x450", (800, 450))])
def test_png(
    report: Report,
    vicidial_url: str,
    sqlite_log_url: str,
    tmp_path: Path,
    size: str | None,
    expected: tuple[int, int],
) -> None:
    path = tmp_path / "team.png"
    extra = ("--png-size", size) if size else ()
    result = report(
        "team",
        *UNTIL,
        "--vicidial-url",
        vicidial_url,
        "--log-url",
        sqlite_log_url,
        "--png",
        str(path),
        *extra,
        "--format",
        "csv",
    )
    assert result.code == 0, result.err
    assert result.out.startswith(",".join(TEAM_CSV_HEADERS) + "\n")  # the text still printed
    assert png_size(path) == expected
    assert path.stat().st_size > 20_000  # drawn, not blank


def test_png_without_matplotlib(
    report: Report,
    vicidial_url: str,
    sqlite_log_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    path = tmp_path / "team.png"
    result = report(
        "team",
        *UNTIL,
        "--vicidial-url",
        vicidial_url,
        "--log-url",
        sqlite_log_url,
        "--png",
        str(path),
    )
    assert result.code == 1
    assert result.out == ""
    assert "--png needs matplotlib" in result.err
    assert "pip install 'coachd[reports]'" in result.err
    assert not path.exists()


def test_png_unwritable(
    report: Report, vicidial_url: str, sqlite_log_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "missing" / "team.png"
    result = report(
        "team",
        *UNTIL,
        "--vicidial-url",
        vicidial_url,
        "--log-url",
        sqlite_log_url,
        "--png",
        str(path),
    )
    assert result.code == 1
    assert f"cannot write {path}" in result.err


def test_bad_png_size(report: Report) -> None:
    result = report("team", "--campaign", "B2B", "--png-size", "big")
    assert result.code == 2
    assert "WIDTHxHEIGHT" in result.err
