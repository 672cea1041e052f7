"""CoachingLog against real databases that go away mid-session and come back.

SQLite: another process holds the write lock (``BEGIN EXCLUSIVE``), or the
database's directory does not exist yet. MariaDB: the store reaches the server
through a TCP proxy that is switched off (listener closed, connections cut)
and on again.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from coachd.core.commands import Publish
from coachd.storage.log import CoachingLog
from coachd.storage.store import TABLES, MysqlStore, SqliteStore, Store

from .conftest import TcpProxy, mysql_target

EMPTY = dict.fromkeys(TABLES, 0)


@dataclass
class Outage:
    store: Store
    """The store the CoachingLog writes through."""
    begin: Callable[[], Awaitable[None]]
    end: Callable[[], Awaitable[None]]
    reference: Store
    """A second store on the same database that is never cut off (for checks)."""


@pytest.fixture(params=["sqlite", "mysql"])
async def outage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Outage]:
    if request.param == "sqlite":
        path = tmp_path / "coachd.db"
        store: Store = SqliteStore(path, busy_timeout=0.1)
        reference: Store = SqliteStore(path)
        locker = sqlite3.connect(path, isolation_level=None)

        async def lock() -> None:
            locker.execute("BEGIN EXCLUSIVE")

        async def unlock() -> None:
            locker.execute("ROLLBACK")

        await reference.upgrade()
        try:
            yield Outage(store, lock, unlock, reference)
        finally:
            locker.close()
            await store.close()
            await reference.close()
        return
    database: str = request.getfixturevalue("mysql_database")
    proxy = TcpProxy()
    await proxy.start()
    store = MysqlStore(mysql_target(database, port=proxy.port), timeout=1.0)
    reference = MysqlStore(mysql_target(database))
    await reference.upgrade()
    try:
        yield Outage(store, proxy.stop, proxy.start, reference)
    finally:
        await store.close()
        await reference.close()
        await proxy.stop()


def events(session_id: str, modes: list[str], *, end: bool = True) -> list[Publish]:
    base = {"session_id": session_id, "agent": "1001", "supervisor": "sup1"}
    base["endpoint"] = "PJSIP/2001"
    out = [Publish("session_started", 1, {**base, "mode": modes[0]})]
    for i, (before, after) in enumerate(itertools.pairwise(modes), start=2):
        out.append(
            Publish("mode_changed", i, {**base, "before": before, "after": after, "source": "dtmf"})
        )
        out.append(Publish("mode_refused", i, {**base, "requested": "barge"}))  # not logged
    if end:
        out.append(Publish("session_ended", len(modes) + 1, {**base, "reason": "agent_hangup"}))
    return out


def refused(session_id: str) -> Publish:
    data = {"session_id": session_id, "agent": "1002", "reason": "agent_not_on_call"}
    return Publish("session_refused", 1, data)


async def until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 (polls figures)
            await asyncio.sleep(0.02)


def spool_lines(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


async def test_outage_mid_session_spools_then_replays(outage: Outage, tmp_path: Path) -> None:
    spool = tmp_path / "spool" / "coaching-log.jsonl"
    log = CoachingLog(
        outage.store, instance="t", spool_path=spool, backoff_initial=0.05, backoff_cap=0.2
    )
    task = asyncio.create_task(log.run(), name="coaching-log")
    first = events("s-a", ["monitor", "whisper", "barge", "monitor"])
    for ev in first[:3]:  # started, mode_changed (+ a mode_refused that is not logged)
        log.enqueue("s-a", ev)
    await until(lambda: log.written == 2)
    assert (await outage.reference.counts())["coachd_mode_periods"] == 2

    await outage.begin()
    for ev in first[3:]:
        log.enqueue("s-a", ev)
    for ev in events("s-b", ["barge", "whisper"]):
        log.enqueue("s-b", ev)
    log.enqueue("s-c", refused("s-c"))
    # 2 more mode changes + end of s-a, start + change + end of s-b, 1 refusal
    await until(lambda: log.stats().spool_pending == 7)
    assert len(spool_lines(spool)) == 7
    assert [(r["session_id"], r["seq"]) for r in spool_lines(spool)][:3] == [
        ("s-a", 3),
        ("s-a", 4),
        ("s-a", 5),
    ]
    await asyncio.sleep(0.5)  # a few failed retries: still nothing written twice or lost
    assert log.written == 2

    await outage.end()
    await until(lambda: log.stats().spool_pending == 0)
    await log.stop(5.0)
    await task
    assert log.stats() == log.stats().__class__(
        written=9, spooled=7, replayed=7, rejected=0, queued=0, spool_pending=0
    )
    assert spool.read_text() == ""
    assert await outage.reference.counts() == {
        **EMPTY,
        "coachd_coaching_log": 2,
        "coachd_mode_periods": 6,
        "coachd_session_refusals": 1,
    }
    a = await outage.reference.session("s-a")
    assert a is not None and (a.final_mode, a.end_reason) == ("monitor", "agent_hangup")
    periods = await outage.reference.periods("s-a")
    assert [p.mode for p in periods] == ["monitor", "whisper", "barge", "monitor"]
    assert all(p.ended_at is not None for p in periods)


async def test_stop_during_outage_keeps_the_spool_for_the_next_run(
    outage: Outage, tmp_path: Path
) -> None:
    spool = tmp_path / "coaching-log.jsonl"
    log = CoachingLog(outage.store, instance="t", spool_path=spool, backoff_initial=0.05)
    task = asyncio.create_task(log.run())
    evs = events("s-d", ["monitor", "whisper"])
    log.enqueue("s-d", evs[0])
    await until(lambda: log.written == 1)
    await outage.begin()
    for ev in evs[1:]:
        log.enqueue("s-d", ev)
    await log.stop(1.0)
    await task
    assert [r["seq"] for r in spool_lines(spool)] == [2, 3]
    await outage.end()

    # the next run (a new process) replays the spool before anything else
    again = CoachingLog(outage.store, instance="t", spool_path=spool, backoff_initial=0.05)
    task = asyncio.create_task(again.run())
    await until(lambda: again.stats().spool_pending == 0 and again.replayed == 2)
    for ev in evs:  # the engine would not, but duplicates must be harmless
        again.enqueue("s-d", ev)
    await until(lambda: again.written == 5)
    await again.stop(5.0)
    await task
    assert await outage.reference.counts() == {
        **EMPTY,
        "coachd_coaching_log": 1,
        "coachd_mode_periods": 2,
    }
    d = await outage.reference.session("s-d")
    assert d is not None and d.duration_sec is not None and d.end_reason == "agent_hangup"


async def test_sqlite_database_directory_missing_at_start(tmp_path: Path) -> None:
    path = tmp_path / "later" / "coachd.db"
    store = SqliteStore(path)
    log = CoachingLog(
        store, instance="t", spool_path=tmp_path / "spool.jsonl", backoff_initial=0.05
    )
    task = asyncio.create_task(log.run())
    for ev in events("s-e", ["monitor", "barge"]):
        log.enqueue("s-e", ev)
    log.enqueue("s-f", refused("s-f"))
    await until(lambda: log.stats().spool_pending == 4)
    path.parent.mkdir()
    setup = SqliteStore(path)
    await setup.upgrade()
    await until(lambda: log.stats().spool_pending == 0)
    await log.stop(5.0)
    await task
    assert await setup.counts() == {
        **EMPTY,
        "coachd_coaching_log": 1,
        "coachd_mode_periods": 2,
        "coachd_session_refusals": 1,
    }
    await setup.close()
    await store.close()
