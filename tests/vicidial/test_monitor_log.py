"""MonitorLog writes vicidial_rt_monitor_log rows per mode period, once, even on replay."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coachd.authorize import EndpointResolver
from coachd.core import events as e
from coachd.core.commands import Publish
from coachd.core.modes import Mode
from coachd.storage.mysql import MysqlPool
from coachd.vicidial.context import ContextBook, MonitorContext
from coachd.vicidial.directory import Directory
from coachd.vicidial.monitor_log import MonitorLog, caller_code
from coachd.vicidial.permissions import VicidialAgentResolver, VicidialAuthorizer
from tests.storage.conftest import TcpProxy

from .conftest import SERVER, FakeAri, Seed, VicidialDb

NEW_YORK = ZoneInfo("America/New_York")
T0 = datetime(2024, 5, 6, 14, 0, 0, 250000, tzinfo=UTC)  # 10:00:00 in New York
SID = "0123456789ab"
CONTEXT = MonitorContext(
    manager_user="sup9",
    manager_phone="sup9",
    manager_server_ip=SERVER,
    agent_user="1042",
    agent_server_ip=SERVER,
    agent_status="INCALL",
    agent_session="8600051",
    lead_id=4242,
    campaign_id="TESTCAMP",
)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def base(sid: str, mode: str | None, agent: str = "1042") -> dict[str, object]:
    return {
        "session_id": sid,
        "agent": agent,
        "supervisor": "sup9",
        "endpoint": "PJSIP/2009",
        "mode": mode,
    }


def started(sid: str = SID, mode: str = "monitor", agent: str = "1042") -> Publish:
    return Publish("session_started", 1, base(sid, mode, agent))


def changed(seq: int, before: str, after: str, sid: str = SID) -> Publish:
    data = {**base(sid, after), "before": before, "after": after, "source": "dtmf"}
    return Publish("mode_changed", seq, data)


def ended(seq: int, mode: str, sid: str = SID) -> Publish:
    return Publish("session_ended", seq, {**base(sid, mode), "reason": "agent_hangup"})


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 (polls figures)
            await asyncio.sleep(0.01)


class Running:
    """A MonitorLog writing in a task, on a pool of its own."""

    def __init__(self, log: MonitorLog) -> None:
        self.log = log
        self.task = asyncio.create_task(log.run())

    async def stop(self) -> None:
        await self.log.stop(5.0)
        await self.task


@pytest.fixture
def contexts() -> ContextBook:
    book = ContextBook()
    book.put("PJSIP/2009", "1042", CONTEXT)
    return book


@pytest.fixture
async def running(
    pool: MysqlPool, contexts: ContextBook, tmp_path: Path
) -> AsyncIterator[tuple[Running, Clock]]:
    clock = Clock()
    log = MonitorLog(
        pool,
        contexts=contexts,
        spool_path=tmp_path / "monitor.spool.jsonl",
        zone=NEW_YORK,
        clock=clock,
        backoff_initial=0.02,
        backoff_cap=0.1,
    )
    r = Running(log)
    yield r, clock
    if not r.task.done():
        await r.stop()


def at(hms: str) -> datetime:
    return datetime.fromisoformat("2024-05-06T" + hms)


async def test_each_mode_period_is_one_row_with_vicidials_types_times_and_seconds(
    running: tuple[Running, Clock], vicidial_db: VicidialDb
) -> None:
    r, clock = running
    script = [
        (started(), 0),
        (changed(2, "monitor", "whisper"), 12.5),
        (Publish("mode_refused", 3, base(SID, "whisper")), 1),
        (changed(4, "whisper", "private_whisper"), 30),
        (changed(5, "private_whisper", "barge"), 3.4),
        (ended(6, "barge"), 61),
    ]
    for event, after in script:
        clock.advance(after)
        r.log.enqueue(SID, event)
    await until(lambda: r.log.written == 5)
    rows = vicidial_db.monitor_rows()
    assert [
        (
            row["caller_code"],
            row["monitor_type"],
            row["monitor_start_time"],
            row["monitor_end_time"],
            row["monitor_sec"],
        )
        for row in rows
    ] == [
        (caller_code(SID, 1), "LISTEN", at("10:00:00"), at("10:00:12"), 12),
        (caller_code(SID, 2), "WHISPER", at("10:00:12"), at("10:00:43"), 31),
        # 43.75 s to 47.15 s: VICIdial counts whole seconds between epochs, so 4
        (caller_code(SID, 3), "WHISPER", at("10:00:43"), at("10:00:47"), 4),
        (caller_code(SID, 4), "BARGE", at("10:00:47"), at("10:01:48"), 61),
    ]
    assert {(row["manager_ip"]) for row in rows} == {None}


async def test_rows_carry_what_the_authorizer_saw_of_manager_and_agent(
    running: tuple[Running, Clock], vicidial_db: VicidialDb
) -> None:
    r, _ = running
    r.log.enqueue(SID, started())
    await until(lambda: r.log.written == 1)
    [row] = vicidial_db.monitor_rows()
    assert row == {
        "manager_user": "sup9",
        "manager_server_ip": SERVER,
        "manager_phone": "sup9",
        "manager_ip": None,
        "agent_user": "1042",
        "agent_server_ip": SERVER,
        "agent_status": "INCALL",
        "agent_session": "8600051",
        "lead_id": 4242,
        "campaign_id": "TESTCAMP",
        "caller_code": "CD0123456789ab000001",
        "monitor_start_time": at("10:00:00"),
        "monitor_end_time": None,
        "monitor_sec": 0,
        "monitor_type": "LISTEN",
    }


async def test_sessions_interleaved_keep_their_own_rows(
    running: tuple[Running, Clock], vicidial_db: VicidialDb
) -> None:
    r, clock = running
    other = "ba9876543210"
    r.log.enqueue(SID, started())
    r.log.enqueue(other, started(other, "barge", agent="1043"))
    clock.advance(5)
    r.log.enqueue(other, ended(2, "barge", other))
    r.log.enqueue(SID, changed(2, "monitor", "whisper"))
    await until(lambda: r.log.written == 4)
    rows = {row["caller_code"]: row for row in vicidial_db.monitor_rows()}
    assert set(rows) == {caller_code(SID, 1), caller_code(SID, 2), caller_code(other, 1)}
    assert rows[caller_code(other, 1)]["agent_user"] == "1043"
    assert rows[caller_code(other, 1)]["manager_phone"] == ""  # nothing the authorizer left
    assert rows[caller_code(other, 1)]["monitor_sec"] == 5
    assert rows[caller_code(SID, 2)]["monitor_end_time"] is None


async def test_events_of_sessions_it_never_saw_start_write_nothing(
    running: tuple[Running, Clock], vicidial_db: VicidialDb
) -> None:
    r, _ = running
    r.log.enqueue(SID, changed(2, "monitor", "whisper"))
    r.log.enqueue(SID, ended(3, "whisper"))
    r.log.enqueue(SID, Publish("session_refused", 1, {**base(SID, None), "reason": "x"}))
    await asyncio.sleep(0.2)
    assert r.log.stats().queued == 0
    assert vicidial_db.monitor_rows() == []


async def test_a_lost_sessions_open_row_is_ended_by_the_next_run(
    pool: MysqlPool, contexts: ContextBook, vicidial_db: VicidialDb, tmp_path: Path
) -> None:
    """coachd was killed in the session's second period; the restarted coachd ends
    the session as lost (coachd.recovery): its open row ends then, no other row moves."""
    clock = Clock()

    def run_of(name: str) -> Running:
        return Running(
            MonitorLog(
                pool,
                contexts=contexts,
                spool_path=tmp_path / (name + ".spool.jsonl"),
                zone=NEW_YORK,
                clock=clock,
            )
        )

    killed = run_of("killed")
    killed.log.enqueue(SID, started())
    clock.advance(10)
    killed.log.enqueue(SID, changed(2, "monitor", "whisper"))
    await until(lambda: killed.log.written == 2)
    killed.task.cancel()  # as good as killed: it never sees the end

    clock.advance(95.5)
    restarted = run_of("restarted")
    lost = {**base(SID, "whisper"), "reason": "lost", "detail": "coachd stopped"}
    restarted.log.enqueue(SID, Publish("session_ended", 3, lost))
    await until(lambda: restarted.log.written == 1)
    await restarted.stop()
    assert [
        (row["caller_code"], row["monitor_end_time"], row["monitor_sec"])
        for row in vicidial_db.monitor_rows()
    ] == [
        (caller_code(SID, 1), at("10:00:10"), 10),
        (caller_code(SID, 2), at("10:01:45"), 95),
    ]


# --- the database away: nothing lost, nothing twice -----------------------------------------


async def test_rows_wait_in_the_spool_during_an_outage_and_replays_never_duplicate(
    vicidial_db: VicidialDb, contexts: ContextBook, proxy: TcpProxy, tmp_path: Path
) -> None:
    spool = tmp_path / "monitor.spool.jsonl"
    clock = Clock()

    def make(pool: MysqlPool) -> MonitorLog:
        return MonitorLog(
            pool,
            contexts=contexts,
            spool_path=spool,
            zone=NEW_YORK,
            clock=clock,
            backoff_initial=0.02,
            backoff_cap=0.1,
        )

    pool = MysqlPool(vicidial_db.target(port=proxy.port), timeout=1.0)
    r = Running(make(pool))
    r.log.enqueue(SID, started())
    await until(lambda: r.log.written == 1)
    await proxy.stop()
    for event, after in (
        (changed(2, "monitor", "whisper"), 10),
        (changed(3, "whisper", "barge"), 10),
        (ended(4, "barge"), 10),
    ):
        clock.advance(after)
        r.log.enqueue(SID, event)
    await until(lambda: r.log.stats().spool_pending == 3)
    spooled = spool.read_text()
    assert len(vicidial_db.monitor_rows()) == 1
    await proxy.start()
    await until(lambda: r.log.stats().spool_pending == 0)
    await r.stop()
    written = vicidial_db.monitor_rows()
    assert [(w["caller_code"], w["monitor_sec"]) for w in written] == [
        (caller_code(SID, 1), 10),
        (caller_code(SID, 2), 10),
        (caller_code(SID, 3), 10),
    ]

    # A crash mid-replay means the next run applies the same lines again.
    spool.write_text(spooled + spooled)
    clock.advance(3600)
    again = Running(make(pool))
    await until(lambda: again.log.replayed == 6)
    await again.stop()
    await pool.close()
    assert vicidial_db.monitor_rows() == written


# --- what is stored ---------------------------------------------------------------------------


async def test_quotes_and_unicode_are_stored_verbatim_and_overlong_values_cut_to_the_column(
    pool: MysqlPool, vicidial_db: VicidialDb, tmp_path: Path
) -> None:
    odd = "o'hara\"; --ñ李"
    contexts = ContextBook()
    contexts.put(
        "PJSIP/2009",
        "1042",
        MonitorContext(
            manager_user=odd,
            manager_phone="ph'one",
            agent_user="a" * 10240,
            campaign_id="C" * 100,
            agent_session="); DROP TABLE vicidial_users; --",
        ),
    )
    log = MonitorLog(pool, contexts=contexts, spool_path=tmp_path / "s.jsonl", clock=Clock())
    r = Running(log)
    log.enqueue(SID, started())
    await until(lambda: log.written == 1)
    await r.stop()
    [row] = vicidial_db.monitor_rows()
    assert (row["manager_user"], row["manager_phone"]) == (odd, "ph'one")
    assert (row["agent_user"], row["campaign_id"]) == ("a" * 20, "C" * 8)
    assert row["agent_session"] == "); DROP TABLE vicidial_users; --"[:10]
    assert vicidial_db.sql("SELECT COUNT(*) FROM vicidial_users") == [(0,)]


@given(st.text(min_size=1, max_size=200), st.integers(1, 999_999))
def test_caller_codes_are_20_characters_vicidials_hangup_logging_never_matches(
    session_id: str, period: int
) -> None:
    code = caller_code(session_id, period)
    assert len(code) == 20
    assert not re.match(r"^B[MBW]\d{8}", code)
    assert caller_code(session_id, period) == code


def test_caller_codes_differ_per_session_and_period() -> None:
    codes = {caller_code(sid, n) for sid in (SID, "ba9876543210", "x") for n in (1, 2, 10)}
    assert len(codes) == 9
    assert caller_code(SID, 7) == "CD" + SID + "000007"


# --- with the authorizer ----------------------------------------------------------------------


async def test_a_session_the_authorizer_allowed_is_logged_with_the_agents_lead_and_campaign(
    seed: Seed, ari: FakeAri, pool: MysqlPool, vicidial_db: VicidialDb, tmp_path: Path
) -> None:
    seed.user("sup9", 9, phone_login="sup9")
    seed.phone("2009", "sup9")
    seed.grant("sup9", "monitor")
    seed.live_agent("jdoe", "PJSIP/1042", conf_exten="8600057", lead_id=99, campaign="SALES")
    ari.call("PJSIP/1042", "chan-1042")
    contexts = ContextBook()
    directory = Directory(pool, server_ip=SERVER)
    resolver = VicidialAgentResolver(
        directory,
        ari,  # type: ignore[arg-type]
        fallback=EndpointResolver(ari, ("PJSIP",)),  # type: ignore[arg-type]
    )
    authorizer = VicidialAuthorizer(directory, resolver, contexts=contexts)
    verdict = await authorizer.authorize("PJSIP/2009", "jdoe", Mode.MONITOR)
    assert isinstance(verdict, e.Authorized)
    log = MonitorLog(pool, contexts=contexts, spool_path=tmp_path / "s.jsonl")
    r = Running(log)
    log.enqueue(SID, started(agent="jdoe"))
    await until(lambda: log.written == 1)
    await r.stop()
    [row] = vicidial_db.monitor_rows()
    assert (row["manager_user"], row["agent_user"], row["agent_session"]) == (
        "sup9",
        "jdoe",
        "8600057",
    )
    assert (row["lead_id"], row["campaign_id"], row["agent_server_ip"]) == (99, "SALES", SERVER)
    assert len(contexts) == 0
