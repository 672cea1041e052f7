"""CoachingLog's writer: queueing, spooling, replay order, rejects, shutdown.

The store is a real SqliteStore behind a switch that makes it unavailable,
slow or refusing on demand, and that records the order rows reach it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from coachd.core.commands import Publish
from coachd.core.modes import Mode
from coachd.core.session import Session
from coachd.storage.log import CoachingLog
from coachd.storage.store import (
    EventRow,
    PeriodRecord,
    RefusalRecord,
    SessionRecord,
    SqliteStore,
    StoreError,
    StoreUnavailable,
)


class SwitchStore:
    """A Store that forwards to SQLite unless told otherwise."""

    def __init__(self, inner: SqliteStore) -> None:
        self.inner = inner
        self.down = False
        self.delay = 0.0
        self.refuse: set[str] = set()
        self.applied: list[tuple[str, int]] = []
        self.attempts = 0

    async def upgrade(self) -> int:
        return await self.inner.upgrade()

    async def record(self, row: EventRow) -> None:
        self.attempts += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.down:
            raise StoreUnavailable("switched off")
        if row.session_id in self.refuse:
            raise StoreError("refused")
        await self.inner.record(row)
        self.applied.append((row.session_id, row.seq))

    async def session(self, session_id: str) -> SessionRecord | None:
        return await self.inner.session(session_id)

    async def periods(self, session_id: str) -> list[PeriodRecord]:
        return await self.inner.periods(session_id)

    async def refusal(self, session_id: str) -> RefusalRecord | None:
        return await self.inner.refusal(session_id)

    async def counts(self) -> dict[str, int]:
        return await self.inner.counts()

    async def close(self) -> None:
        await self.inner.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SwitchStore]:
    s = SwitchStore(SqliteStore(tmp_path / "c.db"))
    await s.upgrade()
    yield s
    await s.close()


def started(sid: str) -> Publish:
    return Publish(
        "session_started",
        1,
        {"session_id": sid, "agent": "1001", "endpoint": "PJSIP/2001", "mode": "monitor"},
    )


def changed(sid: str, seq: int, after: str) -> Publish:
    return Publish("mode_changed", seq, {"session_id": sid, "after": after, "agent": "1001"})


def ended(sid: str, seq: int) -> Publish:
    return Publish("session_ended", seq, {"session_id": sid, "reason": "agent_hangup"})


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 (polls figures)
            await asyncio.sleep(0.01)


def make_log(store: SwitchStore, tmp_path: Path) -> CoachingLog:
    return CoachingLog(
        store,
        instance="i",
        spool_path=tmp_path / "spool.jsonl",
        backoff_initial=0.02,
        backoff_cap=0.05,
    )


async def test_publish_never_waits_for_the_database(store: SwitchStore, tmp_path: Path) -> None:
    store.delay = 0.5
    log = make_log(store, tmp_path)
    task = asyncio.create_task(log.run())
    session = Session(
        id="s1",
        supervisor_channel="c",
        endpoint="PJSIP/2001",
        agent="1001",
        requested_mode=Mode.MONITOR,
    )
    begin = time.perf_counter()
    await log.publish(session, started("s1"))
    for seq in range(2, 50):
        await log.publish(session, changed("s1", seq, "whisper" if seq % 2 else "barge"))
    assert time.perf_counter() - begin < 0.1
    assert log.stats().queued >= 48
    store.delay = 0.0
    await until(lambda: log.written == 49)
    await log.stop(2.0)
    await task
    assert len(await store.periods("s1")) == 49


async def test_rows_keep_their_order_through_the_spool(store: SwitchStore, tmp_path: Path) -> None:
    log = make_log(store, tmp_path)
    task = asyncio.create_task(log.run())
    log.enqueue("a", started("a"))
    await until(lambda: log.written == 1)
    store.down = True
    log.enqueue("a", changed("a", 2, "whisper"))
    await until(lambda: log.stats().spool_pending == 1)
    store.down = False
    # Rows that arrive while the spool is not yet replayed must follow it.
    log.enqueue("a", changed("a", 3, "barge"))
    log.enqueue("a", ended("a", 4))
    await until(lambda: log.written == 4)
    await log.stop(2.0)
    await task
    assert store.applied == [("a", 1), ("a", 2), ("a", 3), ("a", 4)]
    assert [p.mode for p in await store.periods("a")] == ["monitor", "whisper", "barge"]


async def test_refused_rows_are_set_aside_not_retried(store: SwitchStore, tmp_path: Path) -> None:
    store.refuse = {"bad"}
    log = make_log(store, tmp_path)
    task = asyncio.create_task(log.run())
    log.enqueue("bad", started("bad"))
    log.enqueue("good", started("good"))
    await until(lambda: log.written == 1)
    await log.stop(2.0)
    await task
    assert (log.rejected, store.attempts) == (1, 2)
    rejected = [json.loads(x) for x in log.rejected_path.read_text().splitlines()]
    assert [r["session_id"] for r in rejected] == ["bad"]


async def test_a_torn_spool_line_is_set_aside(store: SwitchStore, tmp_path: Path) -> None:
    spool = tmp_path / "spool.jsonl"
    good = EventRow(
        kind="started",
        session_id="old",
        seq=1,
        at=datetime(2026, 1, 1, tzinfo=UTC),
        instance="i",
        mode="barge",
    )
    spool.write_text(json.dumps(good.to_json()) + "\n" + '{"kind": "mode_ch')  # crash mid-write
    log = make_log(store, tmp_path)
    store.down = True
    task = asyncio.create_task(log.run())
    log.enqueue("new", started("new"))
    await until(lambda: log.stats().spool_pending == 3)
    assert spool.read_text().count("\n") == 3  # the new row did not glue onto the torn one
    store.down = False
    await until(lambda: log.stats().spool_pending == 0)
    await log.stop(2.0)
    await task
    assert store.applied == [("old", 1), ("new", 1)]
    assert log.rejected == 1


async def test_stop_without_run_spools_the_queue(store: SwitchStore, tmp_path: Path) -> None:
    log = make_log(store, tmp_path)
    log.enqueue("x", started("x"))
    await log.stop(1.0)
    assert len((tmp_path / "spool.jsonl").read_text().splitlines()) == 1


async def test_stop_before_the_run_task_got_going_still_writes_every_row_once(
    store: SwitchStore, tmp_path: Path
) -> None:
    log = make_log(store, tmp_path)
    task = asyncio.create_task(log.run())  # not started yet when stop() begins
    log.enqueue("early", started("early"))
    log.enqueue("early", ended("early", 2))
    await log.stop(2.0)
    await task
    assert store.applied == [("early", 1), ("early", 2)]
    assert log.stats().spool_pending == 0


async def test_stop_gives_up_on_a_hung_database_and_keeps_the_rows(
    store: SwitchStore, tmp_path: Path
) -> None:
    store.delay = 30.0
    log = make_log(store, tmp_path)
    task = asyncio.create_task(log.run())
    log.enqueue("h", started("h"))
    log.enqueue("h", ended("h", 2))
    await asyncio.sleep(0.05)
    begin = time.perf_counter()
    await log.stop(0.5)
    assert time.perf_counter() - begin < 2.0
    assert task.done()
    lines = (tmp_path / "spool.jsonl").read_text().splitlines()
    assert [json.loads(x)["seq"] for x in lines] == [1, 2]
