"""``coachd report impact|team|coverage``: the command line of the reports.

Where the data comes from:

- VICIdial's calls (``vicidial_log``, and the ``sale`` flags of its status
  tables): ``--vicidial-url mysql://...``, else the config's ``[database] url``
  (coachd's database in VICIdial mode is VICIdial's own);
- the coaching log: ``--log-url``, else the config's ``[database] url``, else
  the default SQLite file, exactly as ``coachd run`` would write it;
- the configuration: ``--config PATH``, else ``$COACHD_CONFIG``, else none
  (then the options above are all there is);
- VICIdial's time zone (``call_date`` is its wall-clock time; the coaching
  log is UTC): ``--timezone``, else the config's ``[vicidial] timezone``, else
  the zone of the host running the report.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TypeVar

from coachd.config import Config, load_config
from coachd.errors import ConfigError
from coachd.reports import chart, compute, render
from coachd.reports.compute import DayRange, ReportError, Zone
from coachd.reports.queries import CoachingLogDatabase, VicidialDatabase
from coachd.storage.errors import StoreError

T = TypeVar("T")

DEFAULT_DAYS = 14
DEFAULT_WEEKS = 8
DEFAULT_TARGET_MINUTES = 180.0

AUTO_HELP = (
    "--auto places the windows around the agent's coaching sessions in the coaching log"
    " (all of them, or those started in --sessions FROM..TO): 'before' is the --days whole days"
    " before the day of the first session, 'after' the --days whole days after the day of the"
    " last one; the coaching days themselves are in neither window. Days are VICIdial's dates"
    " (see --timezone)."
)


def _argtype(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse ``type=`` that reports ``parse``'s error as a usage error."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except (ReportError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__
    return convert


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ReportError(f"{text!r}: expected a date, YYYY-MM-DD") from None


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ReportError(f"{text}: must be at least 1")
    return value


def _minutes(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise ReportError(f"{text}: must be a number of minutes, 0 or more")
    return value


def _zone(text: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ReportError(f"{text!r}: not an IANA time zone (e.g. America/New_York)") from None


DAY_RANGE = _argtype(DayRange.parse)
DAY = _argtype(_day)
POSITIVE = _argtype(_positive)
MINUTES = _argtype(_minutes)
ZONE = _argtype(_zone)
SIZE = _argtype(chart.parse_size)


# --- the parser ------------------------------------------------------------------------------


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``report`` and its three reports to coachd's ``commands``."""
    report = commands.add_parser(
        "report",
        help="coaching reports: impact on an agent, team trend, supervisors' coverage",
        description="Coaching reports from VICIdial's vicidial_log and coachd's coaching log.",
    )
    kinds = report.add_subparsers(dest="report", required=True, metavar="REPORT")
    _impact_parser(kinds)
    _team_parser(kinds)
    _coverage_parser(kinds)


def _common(parser: argparse.ArgumentParser, *, vicidial: bool) -> None:
    where = parser.add_argument_group("databases and time")
    where.add_argument(
        "--config",
        "-c",
        type=Path,
        metavar="PATH",
        help="TOML configuration file: its [database] url and [vicidial] timezone are the"
        " defaults below (default: $COACHD_CONFIG, else none)",
    )
    if vicidial:
        where.add_argument(
            "--vicidial-url",
            metavar="URL",
            help="VICIdial's database, mysql://user:password@host:port/asterisk"
            " (default: the config's [database] url)",
        )
    where.add_argument(
        "--log-url",
        metavar="URL",
        help="the coaching log, mysql://... or sqlite:///path (default: the config's"
        " [database] url, else the default SQLite file of coachd run)",
    )
    where.add_argument(
        "--timezone",
        type=ZONE,
        metavar="ZONE",
        help="IANA zone of VICIdial's dates and times, e.g. America/New_York (default: the"
        " config's [vicidial] timezone, else this host's zone)",
    )
    parser.add_argument(
        "--format", choices=render.FORMATS, default="table", help="output (default: table)"
    )


def _sale_status(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sale-status",
        action="append",
        metavar="STATUS",
        help="a status that counts as a sale (repeatable, or comma-separated). Default:"
        " VICIdial's own flags, vicidial_statuses.sale='Y' plus the campaign's"
        " vicidial_campaign_statuses.sale='Y'; SALE where those tables are missing",
    )


def _impact_parser(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = kinds.add_parser(
        "impact",
        help="an agent's calls, talk time, sales and conversion before and after coaching",
        description="An agent's numbers in a window before and a window after coaching,"
        " and the change. Calls are vicidial_log rows with length_in_sec > 0; FROM..TO"
        " holds both days whole.",
        epilog=AUTO_HELP,
    )
    p.add_argument("--agent", required=True, metavar="USER", help="the VICIdial user")
    p.add_argument("--campaign", metavar="CAMPAIGN", help="only this campaign's calls")
    p.add_argument("--before", type=DAY_RANGE, metavar="FROM..TO", help="the window before")
    p.add_argument("--after", type=DAY_RANGE, metavar="FROM..TO", help="the window after")
    p.add_argument(
        "--auto",
        action="store_true",
        help="place equal windows around the agent's coaching sessions (see below)",
    )
    p.add_argument(
        "--days",
        type=POSITIVE,
        default=DEFAULT_DAYS,
        metavar="N",
        help=f"with --auto: days in each window (default: {DEFAULT_DAYS})",
    )
    p.add_argument(
        "--sessions",
        type=DAY_RANGE,
        metavar="FROM..TO",
        help="with --auto: only the sessions started in these days (default: all)",
    )
    p.add_argument(
        "--log-agent",
        metavar="NAME",
        help="with --auto: the agent as the coaching log names it, when that is not the"
        " VICIdial user (e.g. the endpoint, 1042; default: --agent)",
    )
    _sale_status(p)
    _common(p, vicidial=True)


def _team_parser(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = kinds.add_parser(
        "team",
        help="a campaign's daily conversion with the coaching days marked (CSV, JSON, PNG)",
        description="A campaign's calls, talk time, sales and conversion per day, with the"
        " coaching sessions started each day. Sessions marked are those with agents who took"
        " a call in the campaign in these days (--all-sessions: every session).",
    )
    p.add_argument("--campaign", required=True, metavar="CAMPAIGN", help="the campaign_id")
    p.add_argument(
        "--weeks",
        type=POSITIVE,
        default=DEFAULT_WEEKS,
        metavar="N",
        help=f"the N x 7 days ending with --until (default: {DEFAULT_WEEKS})",
    )
    p.add_argument("--until", type=DAY, metavar="DATE", help="the last day (default: today)")
    p.add_argument(
        "--all-sessions",
        action="store_true",
        help="mark every coaching session, not only those with the campaign's agents",
    )
    p.add_argument("--png", type=Path, metavar="PATH", help="also draw the chart to this PNG")
    p.add_argument(
        "--png-size",
        type=SIZE,
        default=chart.DEFAULT_SIZE,
        metavar="WxH",
        help="the PNG's size in pixels (default: 1200x600)",
    )
    _sale_status(p)
    _common(p, vicidial=True)


def _coverage_parser(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = kinds.add_parser(
        "coverage",
        help="minutes coached per supervisor per day, by mode, against a target",
        description="Minutes each supervisor coached each day, by mode, from the coaching"
        " log's mode periods (a period crossing midnight counts on both days; one without an"
        " end yet counts 0 and is shown as open), against a daily target.",
    )
    when = p.add_mutually_exclusive_group()
    when.add_argument("--date", type=DAY, metavar="DATE", help="one day (default: today)")
    when.add_argument(
        "--from",
        dest="from_",
        type=DAY,
        metavar="DATE",
        help="the first day (to --to, default today)",
    )
    p.add_argument("--to", type=DAY, metavar="DATE", help="the last day (default: today)")
    p.add_argument(
        "--target-minutes",
        type=MINUTES,
        default=DEFAULT_TARGET_MINUTES,
        metavar="MIN",
        help="coaching minutes per supervisor per day to reach (default: 180, the guide's 3 hours)",
    )
    _common(p, vicidial=False)


# --- running ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sources:
    vicidial_url: str | None
    log_url: str | None
    zone: Zone

    def vicidial(self) -> VicidialDatabase:
        if self.vicidial_url is None or not self.vicidial_url.startswith("mysql://"):
            raise ReportError(
                "no VICIdial database: give --vicidial-url mysql://user:password@host/asterisk,"
                " or a config whose [database] url is VICIdial's"
            )
        return VicidialDatabase(self.vicidial_url)

    def log(self) -> CoachingLogDatabase:
        return CoachingLogDatabase.open(self.log_url)

    def today(self) -> date:
        return datetime.now(self.zone).date() if self.zone else datetime.now().date()


def _config(args: argparse.Namespace) -> Config | None:
    path: Path | None = args.config
    if path is None:
        env_path = os.environ.get("COACHD_CONFIG")
        if not env_path:
            return None
        path = Path(env_path)
    return load_config(path, os.environ)


def sources(args: argparse.Namespace) -> Sources:
    """The databases and zone from the options, defaulting to the configuration's."""
    config = _config(args)
    db_url = config.database.url if config is not None else None
    zone: Zone = args.timezone
    if zone is None and config is not None:
        zone = config.vicidial.zone
    return Sources(
        vicidial_url=getattr(args, "vicidial_url", None) or db_url,
        log_url=args.log_url or db_url,
        zone=zone,
    )


def _statuses(values: Sequence[str] | None) -> list[str] | None:
    if not values:
        return None
    found = [s.strip() for v in values for s in v.split(",") if s.strip()]
    if not found:
        raise ReportError("--sale-status: no status given")
    return found


async def impact_report(args: argparse.Namespace, src: Sources) -> compute.Impact:
    sessions: list[compute.CoachingSession] = []
    coaching: DayRange | None = None
    if args.auto:
        if args.before is not None or args.after is not None:
            raise ReportError("--auto places the windows itself: drop --before and --after")
        name = args.log_agent or args.agent
        since, until = args.sessions.utc_bounds(src.zone) if args.sessions else (None, None)
        log = src.log()
        try:
            sessions = await log.sessions(agents=[name], since=since, until=until)
        finally:
            await log.close()
        if not sessions:
            where = f" started in {args.sessions}" if args.sessions else ""
            hint = "" if args.log_agent else " (does it name the agent otherwise? --log-agent)"
            raise ReportError(f"no coaching sessions of {name!r}{where} in the coaching log{hint}")
        days = {compute.local_day(s.started_at, src.zone) for s in sessions}
        before, after = compute.auto_windows(days, args.days)
        coaching = DayRange(min(days), max(days))
    else:
        if args.before is None or args.after is None:
            raise ReportError("give --before FROM..TO and --after FROM..TO, or --auto")
        if args.sessions is not None or args.log_agent is not None:
            raise ReportError("--sessions and --log-agent go with --auto")
        before, after = args.before, args.after
        compute.check_windows(before, after)
    today = src.today()
    notes = [n for w in (before, after) if (n := compute.unfinished(w, today))]
    vdb = src.vicidial()
    try:
        rule = await vdb.sale_rule(_statuses(args.sale_status))
        counts = [
            *await vdb.call_counts(before, user=args.agent, campaign=args.campaign),
            *await vdb.call_counts(after, user=args.agent, campaign=args.campaign),
        ]
    finally:
        await vdb.close()
    return compute.impact(
        args.agent,
        args.campaign,
        before,
        after,
        counts,
        rule,
        sessions=sessions,
        coaching=coaching,
        auto_days=args.days if args.auto else None,
        notes=notes,
    )


async def team_report(args: argparse.Namespace, src: Sources) -> compute.TeamReport:
    window = compute.team_window(args.until or src.today(), args.weeks)
    vdb = src.vicidial()
    try:
        rule = await vdb.sale_rule(_statuses(args.sale_status))
        counts = await vdb.call_counts(window, campaign=args.campaign)
        team = None if args.all_sessions else await vdb.campaign_users(window, args.campaign)
    finally:
        await vdb.close()
    since, until = window.utc_bounds(src.zone)
    log = src.log()
    try:
        sessions = await log.sessions(since=since, until=until)
    finally:
        await log.close()
    return compute.team_report(args.campaign, window, counts, sessions, rule, src.zone, team=team)


def coverage_window(args: argparse.Namespace, today: date) -> DayRange:
    if args.date is not None:
        if args.to is not None:
            raise ReportError("--to goes with --from, not with --date")
        return DayRange(args.date, args.date)
    last = args.to or today
    return DayRange(args.from_ or last, last)


async def coverage_report(args: argparse.Namespace, src: Sources) -> compute.CoverageReport:
    window = coverage_window(args, src.today())
    since, until = window.utc_bounds(src.zone)
    log = src.log()
    try:
        periods = await log.periods(since, until)
    finally:
        await log.close()
    return compute.coverage(periods, window, src.zone, args.target_minutes)


async def run(args: argparse.Namespace) -> str:
    """The report ``args`` ask for, as text (and the PNG, when asked for)."""
    src = sources(args)
    if args.report == "impact":
        return render.impact(await impact_report(args, src), args.format)
    if args.report == "team":
        if args.png is not None:
            chart.require()
        team = await team_report(args, src)
        if args.png is not None:
            chart.write_png(team, args.png, size=args.png_size)
        return render.team(team, args.format)
    return render.coverage(await coverage_report(args, src), args.format)


def handle(args: argparse.Namespace) -> int:
    """``coachd report ...``: print the report; exit 1 with the reason when it cannot be made."""
    try:
        text = asyncio.run(run(args))
    except ConfigError as exc:
        print(f"coachd: config error: {exc}", file=sys.stderr)
        return 1
    except (ReportError, StoreError, ValueError) as exc:
        print(f"coachd: report: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    sys.stdout.write(text)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m coachd.reports.cli`` / tests: the ``report`` command alone."""
    parser = argparse.ArgumentParser(prog="coachd")
    register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    return handle(args)


if __name__ == "__main__":
    sys.exit(main())
