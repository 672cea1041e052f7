"""The alerts job against the seeded vicidial_log on the real MariaDB (tests/alerts/seed.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest

from coachd.alerts.config import BusinessHours
from coachd.alerts.job import AlertsJob, Settings
from coachd.alerts.payload import AlertList
from coachd.alerts.rank import Criteria
from coachd.alerts.schedule import Schedule
from coachd.mqtt.topics import Message
from coachd.reports.queries import VicidialDatabase

from .seed import EXPECTED_NOW, NOW, ZONE

HALF_HOUR = timedelta(minutes=30)


def settings(
    *,
    campaigns: tuple[str, ...] = (),
    sale_statuses: tuple[str, ...] = (),
    hours: str = "09:00-18:00",
    cooldown: timedelta = timedelta(hours=2),
) -> Settings:
    return Settings(
        schedule=Schedule(BusinessHours.parse(hours), frozenset(range(5)), HALF_HOUR, ZONE),
        criteria=Criteria(min_calls=15, below_conversion=3.0, cooldown=cooldown),
        window_hours=4.0,
        campaigns=campaigns,
        sale_statuses=sale_statuses,
    )


class Published(list[Sequence[Message]]):
    def __call__(self, messages: Sequence[Message]) -> None:
        self.append(messages)


@pytest.fixture
async def make_job(alerts_url: str) -> AsyncIterator[Any]:
    jobs: list[AlertsJob] = []

    def make(url: str = alerts_url, **kwargs: Any) -> AlertsJob:
        clock = kwargs.pop("clock", None)
        job = AlertsJob(
            settings(**kwargs),
            VicidialDatabase(url, timeout=5.0),
            instance="pbx1",
            prefix="coachd",
            publish=Published(),
            **({"clock": clock} if clock else {}),
        )
        jobs.append(job)
        return job

    yield make
    for job in jobs:
        await job.close()


def listed(result: AlertList | None) -> list[tuple[int, str, int, int]]:
    assert result is not None
    return [(a.rank, a.agent, a.calls, a.sales) for a in result.ranking.alerts]


async def test_ranks_exactly_the_expected_agents(make_job: Any) -> None:
    job = make_job()
    result = await job.tick(NOW)
    assert listed(result) == EXPECTED_NOW
    assert all(a.new and a.since == NOW for a in result.ranking.alerts)
    assert result.rule.source == "vicidial_statuses"
    assert (result.window_from, result.window_to) == (NOW - timedelta(hours=4), NOW)
    low = result.ranking.alerts[-1]
    assert (low.conversion, low.campaigns, low.user_groups) == (2.5, ("B2B",), ("TEAM2",))
    assert job.board.latest is result
    (messages,) = job.publish
    assert [m.topic for m in messages] == ["coachd/alerts"] + ["coachd/alerts/raised"] * 5


async def test_campaign_filter_and_configured_sale_statuses(make_job: Any) -> None:
    b2b = await make_job(campaigns=("B2B",)).tick(NOW)
    assert [a for _, a, _, _ in listed(b2b)] == ["a_zero_busy", "a_zero", "a_from", "a_low"]
    # XSALE is a sale in OTHER by VICIdial's flags (5 %: no alert) ...
    other = await make_job(campaigns=("OTHER",)).tick(NOW)
    assert listed(other) == []
    # ... but not when the sale statuses are given (campaigns compare case-insensitively).
    only_sale = await make_job(campaigns=("other",), sale_statuses=("SALE",)).tick(NOW)
    assert listed(only_sale) == [(1, "a_xsale", 20, 0)]
    assert only_sale is not None and only_sale.rule.source == "option"


async def test_the_cooldown_keeps_agents_listed_without_raising_them_again(
    make_job: Any,
) -> None:
    job = make_job()
    first = await job.tick(NOW)
    assert first is not None and len(first.ranking.raised) == 5

    later = await job.tick(NOW + HALF_HOUR)
    # a_from's calls (11:00) left the window; a_bound's 15th call (15:00) came in.
    assert [(a.rank, a.agent, a.new, a.since) for a in later.ranking.alerts] == [
        (1, "a_zero_busy", False, NOW),
        (2, "a_other", False, NOW),
        (3, "a_zero", False, NOW),
        (4, "a_bound", True, NOW + HALF_HOUR),
        (5, "a_low", False, NOW),
    ]
    assert [a.agent for a in later.ranking.raised] == ["a_bound"]
    raised_topics = [m.topic for m in job.publish[-1] if not m.retain]
    assert raised_topics == ["coachd/alerts/raised"]

    # a_from dips back in within its cool-down: listed again, not raised.
    assert job.raised_at["a_from"] == NOW

    at_end = await job.tick(NOW + timedelta(hours=2))
    assert [(a.agent, a.new) for a in at_end.ranking.alerts] == [
        ("a_zero_busy", True),
        ("a_other", True),
        ("a_zero", True),
        ("a_bound", False),  # raised at 15:30: still in its cool-down
        ("a_low", True),
    ]


async def test_outside_business_hours_nothing_runs(make_job: Any) -> None:
    # A database nobody listens on: a query would fail.
    job = make_job(url="mysql://root@127.0.0.1:1/nothing")
    for local in ("2026-03-16 08:59:00", "2026-03-16 18:00:00", "2026-03-14 12:00:00"):
        when = datetime.fromisoformat(local).replace(tzinfo=ZONE)
        assert await job.tick(when) is None
    assert job.board.latest is None
    assert job.publish == []
    assert job.runs == 0


async def test_the_loop_runs_every_interval_and_survives_a_database_outage(
    make_job: Any, alerts_url: str
) -> None:
    # Each read of the clock is half an hour later, up to 17:30: runs at 15:00, 16:00,
    # 17:00 and 17:30 without waiting, then the next one is half an hour away.
    times = [NOW + i * HALF_HOUR for i in range(6)]
    job = make_job(clock=lambda: times.pop(0) if len(times) > 1 else times[0])
    task = asyncio.create_task(job.run(), name="alerts")

    async def four_runs() -> None:
        while job.runs < 4:  # noqa: ASYNC110 (the loop's own pace: no event to wait for)
            await asyncio.sleep(0.01)

    await asyncio.wait_for(four_runs(), 10)
    await asyncio.sleep(0.2)  # now it waits for 18:00, half an hour away
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(job.publish) == job.runs == 4

    down = make_job(url="mysql://root@127.0.0.1:1/nothing", clock=lambda: NOW)
    task = asyncio.create_task(down.run(), name="alerts-down")
    await asyncio.sleep(0.3)
    assert not task.done()  # the failed query was logged, the loop waits to retry
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert down.runs == 0
