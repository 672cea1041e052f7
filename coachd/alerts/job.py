"""The alerts job: every ``[alerts] interval`` within business hours, rank the
agents below the conversion threshold and publish the list.

Each run reads VICIdial's sale flags and the window's ``vicidial_log`` counts
(:class:`~coachd.reports.queries.VicidialDatabase`, parametrized SQL), ranks
them (:mod:`coachd.alerts.rank`), keeps the list for ``GET /v1/alerts``
(:class:`~coachd.alerts.board.AlertBoard`) and hands the MQTT messages to the
publisher. Outside business hours nothing is queried or published; the
retained list keeps its ``at``.

The cool-down state (agent -> last raised) lives in memory: it is a throttle
on notifications, so a restart costs at most one repeated ``raised`` message
per agent still below the threshold, while keeping it in coachd's table would
tie the alerts to the coaching log's database (which may be SQLite on another
host, or away) for no gain in the list itself.
"""

from __future__ import annotations

import asyncio
import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from coachd.alerts.board import AlertBoard, GrantsOf
from coachd.alerts.config import alerts_url
from coachd.alerts.payload import AlertList
from coachd.alerts.rank import SYSTEM_USERS, Criteria, rank, tally
from coachd.alerts.schedule import Schedule, window
from coachd.config import Config
from coachd.mqtt.topics import Message
from coachd.reports.compute import ReportError, Zone, to_utc
from coachd.reports.queries import VicidialDatabase

log = structlog.get_logger(__name__)

QUERY_TIMEOUT = 60.0
"""Seconds one run's queries may take."""
RETRY = 60.0
"""Seconds before a run whose query failed is tried again (or the interval, if shorter)."""
MAX_IDLE = 600.0
"""Outside business hours, look at the clock again at least this often (seconds)."""

Publish = Callable[[Sequence[Message]], None]


@dataclass(frozen=True, slots=True)
class Settings:
    schedule: Schedule
    criteria: Criteria
    window_hours: float
    campaigns: tuple[str, ...]
    sale_statuses: tuple[str, ...]

    @classmethod
    def from_config(cls, config: Config) -> Settings:
        a = config.alerts
        zone: Zone = zoneinfo.ZoneInfo(a.timezone) if a.timezone else config.vicidial.zone
        return cls(
            schedule=Schedule(a.hours, a.weekdays, timedelta(seconds=a.interval), zone),
            criteria=Criteria(a.min_calls, a.below_conversion, timedelta(seconds=a.cooldown)),
            window_hours=a.window_hours,
            campaigns=a.campaigns,
            sale_statuses=a.sale_statuses,
        )


def utc_now() -> datetime:
    return datetime.now(UTC)


class AlertsJob:
    def __init__(
        self,
        settings: Settings,
        database: VicidialDatabase,
        *,
        instance: str,
        prefix: str,
        publish: Publish | None = None,
        board: AlertBoard | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.settings = settings
        self.database = database
        self.instance = instance
        self.prefix = prefix
        self.publish = publish
        self.board = board if board is not None else AlertBoard(instance)
        self.clock = clock
        self.raised_at: dict[str, datetime] = {}
        self.runs = 0

    @classmethod
    def from_config(
        cls, config: Config, *, publish: Publish | None = None, grants: GrantsOf | None = None
    ) -> AlertsJob:
        return cls(
            Settings.from_config(config),
            VicidialDatabase(alerts_url(config), timeout=QUERY_TIMEOUT),
            instance=config.instance,
            prefix=config.mqtt.topic_prefix,
            publish=publish,
            board=AlertBoard(config.instance, grants),
        )

    async def tick(self, now: datetime) -> AlertList | None:
        """One look at ``now``: the new list, or None outside business hours."""
        if not self.settings.schedule.open_at(now):
            log.debug("alerts_closed", at=now.isoformat())
            return None
        return await self.run_once(now)

    async def run_once(self, now: datetime) -> AlertList:
        """Query, rank, keep and publish the list at ``now`` (raises ReportError)."""
        s = self.settings
        rule = await self.database.sale_rule(s.sale_statuses or None)
        since, until = window(now, s.window_hours, s.schedule.zone)
        counts = await self.database.agent_counts(
            since, until, campaigns=s.campaigns, exclude_users=SYSTEM_USERS
        )
        ranking = rank(tally(counts, rule), self.raised_at, now, s.criteria)
        self.raised_at = dict(ranking.raised_at)
        result = AlertList(
            at=now,
            window_from=to_utc(since, s.schedule.zone),
            window_to=to_utc(until, s.schedule.zone),
            window_hours=s.window_hours,
            min_calls=s.criteria.min_calls,
            below_conversion=s.criteria.below_conversion,
            campaigns=s.campaigns,
            rule=rule,
            ranking=ranking,
        )
        self.board.latest = result
        self.runs += 1
        if self.publish is not None:
            self.publish(result.messages(self.prefix, self.instance))
        log.info(
            "alerts_ranked",
            alerted=len(ranking.alerts),
            raised=len(ranking.raised),
            agents=len({c.user for c in counts}),
        )
        for alert in ranking.raised:
            log.info(
                "coaching_alert",
                rank=alert.rank,
                agent=alert.agent,
                calls=alert.calls,
                sales=alert.sales,
                conversion=round(alert.conversion, 2),
                window_hours=s.window_hours,
            )
        return result

    async def run(self) -> None:
        """Look every interval within business hours, until cancelled."""
        log.info(
            "alerts_started",
            interval=self.settings.schedule.interval.total_seconds(),
            business_hours=str(self.settings.schedule.hours),
        )
        schedule = self.settings.schedule
        while True:
            now = self.clock()
            failed = False
            try:
                await self.tick(now)
            except ReportError as exc:
                failed = True
                log.warning("alerts_query_failed", error=str(exc), retry_in=RETRY)
            except Exception:
                # A bug here must not take coaching down with it.
                failed = True
                log.exception("alerts_run_failed")
            after = schedule.next_run(now)
            if failed:
                after = min(after, now + timedelta(seconds=RETRY))
            elif not schedule.open_at(now):
                after = min(after, now + timedelta(seconds=MAX_IDLE))
            await asyncio.sleep(max(0.0, (after - self.clock()).total_seconds()))

    async def close(self) -> None:
        await self.database.close()
