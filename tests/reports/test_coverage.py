"""``coachd report coverage``: minutes per supervisor per day, by mode, against the target."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from coachd.reports.render import coverage_csv_headers

from . import seed
from .conftest import Report

NY = ("--timezone", seed.ZONE_NAME)
MODES = ["monitor", "whisper", "private_whisper", "barge"]


def minutes(
    monitor: float = 0, whisper: float = 0, pw: float = 0, barge: float = 0
) -> dict[str, float]:
    return {"monitor": monitor, "whisper": whisper, "private_whisper": pw, "barge": barge}


def coverage(report: Report, log_url: str, *args: str) -> dict[str, Any]:
    result = report("coverage", *args, "--log-url", log_url, "--format", "json")
    assert result.code == 0, result.err
    data: dict[str, Any] = json.loads(result.out)
    return data


def rows(data: dict[str, Any]) -> list[tuple[str, str, dict[str, float], float, int]]:
    return [
        (r["day"], r["supervisor"], r["minutes"], r["total_minutes"], r["open_periods"])
        for r in data["rows"]
    ]


def test_one_day(report: Report, log_url: str) -> None:
    data = coverage(report, log_url, "--date", "2026-03-16", *NY)
    assert (data["from"], data["to"], data["target_minutes"]) == ("2026-03-16", "2026-03-16", 180)
    assert data["modes"] == MODES
    assert rows(data) == [
        ("2026-03-16", "(none)", minutes(monitor=10), 10, 0),
        # A: monitor 30+15, whisper 45; B: monitor 20+25, private whisper 10, barge 5;
        # E: still open (no minutes, counted as open).
        ("2026-03-16", "sup1", minutes(monitor=90, whisper=45, pw=10, barge=5), 150, 1),
        # C: its 30 minutes after midnight; D: whisper 180.
        ("2026-03-16", "sup2", minutes(monitor=30, whisper=180), 210, 0),
    ]
    assert [(r["target_pct"], r["shortfall_minutes"]) for r in data["rows"]] == [
        (5.56, 170),
        (83.33, 30),
        (116.67, 0),
    ]


def test_days_range_and_midnight(report: Report, log_url: str) -> None:
    data = coverage(report, log_url, "--from", "2026-03-15", "--to", "2026-03-16", *NY)
    assert [(r[0], r[1], r[3]) for r in rows(data)] == [
        ("2026-03-15", "(none)", 0),
        ("2026-03-15", "sup1", 0),
        ("2026-03-15", "sup2", 30),  # C's 30 minutes before midnight
        ("2026-03-16", "(none)", 10),
        ("2026-03-16", "sup1", 150),
        ("2026-03-16", "sup2", 210),
    ]
    assert data["supervisors"] == [
        {
            "supervisor": "(none)",
            "days": 2,
            "total_minutes": 10,
            "average_minutes": 5,
            "days_on_target": 0,
        },
        {
            "supervisor": "sup1",
            "days": 2,
            "total_minutes": 150,
            "average_minutes": 75,
            "days_on_target": 0,
        },
        {
            "supervisor": "sup2",
            "days": 2,
            "total_minutes": 240,
            "average_minutes": 120,
            "days_on_target": 1,
        },
    ]


def test_days_are_in_the_given_zone(report: Report, log_url: str) -> None:
    """In UTC, all of session C (03:30-04:30Z) is on 03-16."""
    data = coverage(report, log_url, "--date", "2026-03-16", "--timezone", "UTC")
    assert [(r[1], r[2]["monitor"]) for r in rows(data)] == [
        ("(none)", 10),
        ("sup1", 90),
        ("sup2", 60),
    ]


def test_target_minutes(report: Report, log_url: str) -> None:
    data = coverage(report, log_url, "--date", "2026-03-16", *NY, "--target-minutes", "150")
    assert [r["target_pct"] for r in data["rows"]] == [6.67, 100, 140]
    assert [s["days_on_target"] for s in data["supervisors"]] == [0, 1, 1]


def test_a_day_without_coaching(report: Report, log_url: str) -> None:
    data = coverage(report, log_url, "--date", "2026-03-01", *NY)
    assert data["rows"] == []
    assert data["supervisors"] == []
    result = report("coverage", "--date", "2026-03-01", *NY, "--log-url", log_url)
    assert result.out.endswith("No coaching in these days.\n")


def test_csv(report: Report, log_url: str) -> None:
    result = report(
        "coverage", "--date", "2026-03-16", *NY, "--log-url", log_url, "--format", "csv"
    )
    assert result.code == 0, result.err
    table = list(csv.reader(io.StringIO(result.out)))
    assert table[0] == list(coverage_csv_headers(MODES))
    assert table[0] == [
        "day",
        "supervisor",
        "monitor_min",
        "whisper_min",
        "private_whisper_min",
        "barge_min",
        "total_min",
        "target_min",
        "target_pct",
        "shortfall_min",
        "open_periods",
    ]
    assert table[1:] == [
        [
            "2026-03-16",
            "(none)",
            "10.00",
            "0.00",
            "0.00",
            "0.00",
            "10.00",
            "180.00",
            "5.56",
            "170.00",
            "0",
        ],
        [
            "2026-03-16",
            "sup1",
            "90.00",
            "45.00",
            "10.00",
            "5.00",
            "150.00",
            "180.00",
            "83.33",
            "30.00",
            "1",
        ],
        [
            "2026-03-16",
            "sup2",
            "30.00",
            "180.00",
            "0.00",
            "0.00",
            "210.00",
            "180.00",
            "116.67",
            "0.00",
            "0",
        ],
    ]


def test_table(report: Report, log_url: str) -> None:
    result = report("coverage", "--date", "2026-03-16", *NY, "--log-url", log_url)
    assert result.code == 0, result.err
    assert result.out == (
        "Coaching coverage: 2026-03-16, target 180 minutes per supervisor per day (minutes)\n"
        "\n"
        "day         supervisor  monitor  whisper  private_whisper  barge  total  target %"
        "  short  open\n"
        "2026-03-16  (none)         10.0      0.0              0.0    0.0   10.0       5.6"
        "  170.0\n"
        "2026-03-16  sup1           90.0     45.0             10.0    5.0  150.0      83.3"
        "   30.0     1\n"
        "2026-03-16  sup2           30.0    180.0              0.0    0.0  210.0     116.7"
        "    0.0\n"
        "open: periods with no end yet (running, or left by a crash): not counted\n"
    )


def test_config_supplies_log_and_zone(report: Report, log_url: str, tmp_path: Path) -> None:
    """Without --log-url and --timezone: the config's [database] url and [vicidial] timezone."""
    config = tmp_path / "coachd.toml"
    config.write_text(
        '[ari]\nurl = "http://127.0.0.1:8088"\nusername = "coachd"\npassword = "pw"\n'
        f'[database]\nurl = "{log_url}"\n'
        f'[vicidial]\ntimezone = "{seed.ZONE_NAME}"\n'
    )
    result = report("coverage", "--date", "2026-03-15", "--config", str(config), "--format", "json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    # Only sup2 coached on 03-15 (New York time): the first half hour of session C.
    assert [(r["supervisor"], r["total_minutes"]) for r in data["rows"]] == [("sup2", 30)]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--date", "2026-03-16", "--from", "2026-03-01"), 2, "not allowed with"),
        (("--date", "2026-03-16", "--to", "2026-03-17"), 1, "--to goes with --from"),
        (("--from", "2026-03-17", "--to", "2026-03-16"), 1, "last day is before the first"),
        (("--target-minutes", "-5"), 2, "0 or more"),
        (("--date", "16/03/2026"), 2, "expected a date"),
        (("--timezone", "Mars/Olympus"), 2, "not an IANA time zone"),
    ],
)
def test_refused(report: Report, args: tuple[str, ...], code: int, message: str) -> None:
    result = report("coverage", *args, "--log-url", "sqlite:///nonexistent/coachd.db")
    assert result.code == code
    assert message in result.err


def test_missing_log(report: Report, tmp_path: Path) -> None:
    result = report("coverage", "--log-url", f"sqlite://{tmp_path}/none.db")
    assert result.code == 1
    assert f"no coaching log at {tmp_path}/none.db" in result.err


def test_log_without_tables(report: Report, tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.write_bytes(b"")
    result = report("coverage", "--log-url", f"sqlite://{path}")
    assert result.code == 1
    assert "no such table" in result.err
