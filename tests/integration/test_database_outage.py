"""The coaching log on MariaDB going away in the middle of a session: the
session goes on (proven by audio), and once the database is back every row is
there, exactly once."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine, Iterator
from typing import Any

import aiohttp
import pytest

from coachd.ari.client import AriClient
from coachd.storage.store import MysqlStore
from tests.integration import chaos
from tests.integration.conftest import wait_no_leftovers
from tests.sandbox.callcenter import check_routing, connect_call, settle, supervisor_dials
from tests.sandbox.daemon import Daemon
from tests.sandbox.phones import Phones
from tests.sandbox.switches import switch_by_dtmf
from tests.storage.conftest import TcpProxy, mysql_database, mysql_target, mysql_url

__all__ = ["mysql_database"]  # the fixture, used below
LISTEN = "127.0.0.1:18689"


async def ready() -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://{LISTEN}/readyz") as response,
    ):
        return response.status


class ThreadedProxy:
    """A :class:`TcpProxy` on a loop of its own: the daemon fixture blocks the test's
    loop while coachd starts, and coachd must reach the database then."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.proxy = TcpProxy()

    @property
    def port(self) -> int:
        return self.proxy.port

    def _call(self, coro: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    async def start(self) -> None:
        await asyncio.to_thread(self._call, self.proxy.start())

    async def stop(self) -> None:
        await asyncio.to_thread(self._call, self.proxy.stop())

    def close(self) -> None:
        self._call(self.proxy.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def proxy() -> Iterator[ThreadedProxy]:
    p = ThreadedProxy()
    p._call(p.proxy.start())
    yield p
    p.close()


@pytest.fixture
def daemon(mysql_database: str, proxy: ThreadedProxy) -> Iterator[Daemon]:
    url = f"mysql://root@127.0.0.1:{proxy.port}/{mysql_database}"
    env = {"COACHD_DATABASE__URL": url, "COACHD_HTTP__LISTEN": LISTEN}
    with Daemon(env=env, name="db-outage").running() as d:
        yield d


async def test_session_outlives_a_database_outage_and_every_row_arrives_once(
    phones: Phones, pbx: AriClient, daemon: Daemon, proxy: ThreadedProxy, mysql_database: str
) -> None:
    reference = MysqlStore(mysql_target(mysql_database))  # straight to MariaDB, never cut
    try:
        call = await connect_call(phones)
        dialled = await supervisor_dials(phones, "2001", "*2221042")
        sup = dialled.party
        await settle(call, sup, "monitor", after=dialled.answered_at)
        started = await daemon.wait_event("session_started")
        session_id = str(started["session_id"])
        assert await ready() == 200

        await proxy.stop()  # the database is gone
        for digit, mode in (("5", "whisper"), ("6", "barge"), ("4", "monitor")):
            _, t0 = await switch_by_dtmf(call, sup, daemon, digit, mode)
            assert await check_routing(call, sup, mode, t0 + 0.1, t0 + 0.6) == [], mode
        await sup.leg.dtmf("*")
        ended = await daemon.wait_event("session_ended")
        assert ended["reason"] == "supervisor_ended"
        await asyncio.sleep(1.0)
        record = await reference.session(session_id)
        assert record is None or record.ended_at is None  # nothing could be written
        assert await ready() == 503  # the coaching log cannot reach its database

        await proxy.start()  # back, on the same port
        back = time.monotonic()
        deadline = time.monotonic() + 60
        while True:
            record = await reference.session(session_id)
            periods = await reference.periods(session_id)
            if record is not None and record.ended_at is not None and len(periods) == 4:
                break
            assert time.monotonic() < deadline, (record, periods)
            await asyncio.sleep(0.2)
        arrived = time.monotonic()
        await asyncio.sleep(1.0)  # anything replayed twice would show up now
        assert await ready() == 200
        periods = await reference.periods(session_id)
        assert [p.mode for p in periods] == ["monitor", "whisper", "barge", "monitor"]
        assert all(p.ended_at is not None for p in periods)
        assert record.end_reason == "supervisor_ended"
        counts = await reference.counts()
        assert counts["coachd_coaching_log"] == 1
        assert counts["coachd_mode_periods"] == 4
        left = await wait_no_leftovers(pbx, within=1.0)
        assert left == []
    finally:
        await reference.close()
    logged = daemon.session_events(session_id=session_id)
    # Every session coachd logged, straight from MariaDB (coachd still runs: polled).
    sessions = chaos.mode_periods(daemon.session_events())
    rows = await chaos.log_rows_lost(
        mysql_url(mysql_database), sessions, reasons=dict.fromkeys(sessions, "supervisor_ended")
    )
    chaos.record(
        chaos.FaultRecord(
            "MariaDB cut mid-session",
            recovery_s=arrived - back,
            events_lost=len(
                chaos.missing(
                    ["session_started", *["mode_changed"] * 3, "session_ended"],
                    [r["event_type"] for r in logged],
                )
            ),
            log_rows_lost=rows,
            orphans=len(left),
            wrongly_ended=chaos.wrongly_ended(
                [r["reason"] for r in logged if r["event_type"] == "session_ended"],
                {"supervisor_ended"},
            ),
            note="recovery: database back to every row there (polled every 0.2 s);"
            " events from coachd's log, not MQTT; log rows: sessions from coachd's log,"
            " read from MariaDB directly, ended 'supervisor_ended'",
        )
    )
