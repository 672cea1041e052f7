"""The ``report`` command line without databases: parsing, defaults, formats."""

from __future__ import annotations

import argparse
import csv
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from coachd.reports import chart, cli, render
from coachd.reports.compute import (
    CoachingSession,
    CoverageReport,
    DayRange,
    Metrics,
    ReportError,
    SaleRule,
    TeamDay,
    TeamReport,
    coverage,
    impact,
)

CONFIG = """
[ari]
url = "http://127.0.0.1:8088"
username = "coachd"
password = "pw"
[database]
url = "mysql://cron:1234@10.0.0.5/asterisk"
[vicidial]
timezone = "America/Chicago"
"""


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="coachd")
    cli.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["report", *argv])


@pytest.fixture(autouse=True)
def no_env_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COACHD_CONFIG", raising=False)


def test_sources_from_the_config(tmp_path: Path) -> None:
    path = tmp_path / "coachd.toml"
    path.write_text(CONFIG)
    args = parse("team", "--campaign", "B2B", "--config", str(path))
    src = cli.sources(args)
    assert src.vicidial_url == src.log_url == "mysql://cron:1234@10.0.0.5/asterisk"
    assert src.zone == ZoneInfo("America/Chicago")
    args = parse(
        "team",
        "--campaign",
        "B2B",
        "--config",
        str(path),
        "--vicidial-url",
        "mysql://r@h/vici",
        "--log-url",
        "sqlite:///var/lib/coachd/coachd.db",
        "--timezone",
        "Europe/Paris",
    )
    src = cli.sources(args)
    assert (src.vicidial_url, src.log_url) == (
        "mysql://r@h/vici",
        "sqlite:///var/lib/coachd/coachd.db",
    )
    assert src.zone == ZoneInfo("Europe/Paris")


def test_sources_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "coachd.toml"
    path.write_text(CONFIG)
    monkeypatch.setenv("COACHD_CONFIG", str(path))
    src = cli.sources(parse("coverage"))
    assert src.log_url == "mysql://cron:1234@10.0.0.5/asterisk"
    assert not hasattr(parse("coverage"), "vicidial_url")  # coverage needs no VICIdial


def test_sources_without_config() -> None:
    src = cli.sources(parse("coverage"))
    assert (src.vicidial_url, src.log_url, src.zone) == (None, None, None)
    with pytest.raises(ReportError, match="no VICIdial database"):
        src.vicidial()


def test_bad_config_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "coachd.toml"
    path.write_text("[database]\nurl = 'x'\n")
    assert cli.main(["report", "coverage", "--config", str(path)]) == 1
    assert capsys.readouterr().err.startswith("coachd: config error: ")


def test_coverage_window() -> None:
    today = date(2026, 3, 16)
    assert str(cli.coverage_window(parse("coverage"), today)) == "2026-03-16..2026-03-16"
    args = parse("coverage", "--date", "2026-03-01")
    assert str(cli.coverage_window(args, today)) == "2026-03-01..2026-03-01"
    args = parse("coverage", "--from", "2026-03-01")
    assert str(cli.coverage_window(args, today)) == "2026-03-01..2026-03-16"
    args = parse("coverage", "--to", "2026-03-10")
    assert str(cli.coverage_window(args, today)) == "2026-03-10..2026-03-10"


def test_defaults() -> None:
    args = parse("impact", "--agent", "a", "--auto")
    assert (args.days, args.format, args.sale_status, args.campaign) == (14, "table", None, None)
    args = parse("team", "--campaign", "B2B")
    assert (args.weeks, args.until, args.png, args.png_size) == (8, None, None, (1200, 600))
    assert parse("coverage").target_minutes == 180


def test_sale_status_lists() -> None:
    assert cli._statuses(None) is None
    assert cli._statuses(["SALE, XSALE", "UP"]) == ["SALE", "XSALE", "UP"]
    with pytest.raises(ReportError):
        cli._statuses([" , "])


@pytest.mark.parametrize(("text", "size"), [("1200x600", (1200, 600)), ("800X450", (800, 450))])
def test_png_size(text: str, size: tuple[int, int]) -> None:
    assert chart.parse_size(text) == size


@pytest.mark.parametrize("text", ["1200", "x600", "100x100", "20000x600", "axb"])
def test_png_size_refused(text: str) -> None:
    with pytest.raises(ReportError):
        chart.parse_size(text)


def test_help_documents_auto(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report", "impact", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "the --days whole days before the day of the first session" in out


# --- output shapes on plain data ------------------------------------------------------------


def test_impact_json_with_no_calls() -> None:
    rule = SaleRule.of(["SALE"], source="default")
    report = impact(
        "a", "B2B", DayRange.parse("2026-03-01"), DayRange.parse("2026-03-02"), [], rule
    )
    data = json.loads(render.impact(report, "json"))
    assert data["before"] == {
        "from": "2026-03-01",
        "to": "2026-03-01",
        "days": 1,
        "calls": 0,
        "talk_sec": 0,
        "avg_talk_sec": None,
        "sales": 0,
        "conversion_pct": None,
    }
    assert data["change"]["conversion_percent"] is None
    assert data["campaign"] == "B2B"
    row = list(csv.reader(io.StringIO(render.impact(report, "csv"))))[1]
    assert row[:2] == ["a", "B2B"] and row[7] == "" and row[-1] == ""
    table = render.impact(report, "table")
    assert "campaign B2B" in table and "n/a" in table


def test_team_and_coverage_json_shapes() -> None:
    start = datetime(2026, 3, 16, 13, tzinfo=UTC)
    s = CoachingSession("A", "agent42", "sup1", start, None)
    team = TeamReport(
        "B2B",
        DayRange.parse("2026-03-16"),
        (TeamDay(date(2026, 3, 16), Metrics(10, 1000, 1), (s,)),),
        Metrics(10, 1000, 1),
        SaleRule.of(["SALE"], source="default"),
        "team",
    )
    data = json.loads(render.team(team, "json"))
    assert set(data) == {
        "report",
        "campaign",
        "from",
        "to",
        "calls_counted",
        "sale_statuses",
        "sessions_marked",
        "days",
        "total",
        "notes",
    }
    assert data["days"][0]["coaching_sessions"] == [
        {
            "session_id": "A",
            "agent": "agent42",
            "supervisor": "sup1",
            "started_at": "2026-03-16T13:00:00+00:00",
            "ended_at": None,
        }
    ]
    assert data["total"] == {
        "calls": 10,
        "talk_sec": 1000,
        "avg_talk_sec": 100.0,
        "sales": 1,
        "conversion_pct": 10.0,
        "coaching_sessions": 1,
    }
    empty: CoverageReport = coverage([], DayRange.parse("2026-03-16"), None, 180)
    assert json.loads(render.coverage(empty, "json"))["rows"] == []
    assert render.coverage(empty, "csv").count("\n") == 1  # the header only
