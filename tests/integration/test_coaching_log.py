"""Every session on record: the coaching log written by coachd itself, on SQLite (the
embedded default) and on MariaDB, from real calls on the sandbox."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from coachd.ari.client import AriClient
from coachd.storage.store import open_store
from tests.integration.conftest import wait_no_leftovers
from tests.sandbox.callcenter import connect_call, settle, supervisor_dials
from tests.sandbox.daemon import Daemon
from tests.sandbox.phones import Phones
from tests.storage.conftest import mysql_database, mysql_url

__all__ = ["mysql_database"]  # a fixture, used below


@pytest.fixture(params=["sqlite", "mysql"])
def daemon(request: pytest.FixtureRequest, mysql_database: str) -> Iterator[Daemon]:
    env = {"COACHD_DATABASE__URL": mysql_url(mysql_database)} if request.param == "mysql" else {}
    with Daemon(name="log-" + request.param, env=env).running() as d:
        yield d


async def test_a_session_and_its_mode_periods_are_recorded_exactly_once(
    phones: Phones, pbx: AriClient, daemon: Daemon
) -> None:
    call = await connect_call(phones)
    dialled = await supervisor_dials(phones, "2001", "*2221042")
    sup = dialled.party
    t = await settle(call, sup, "monitor", after=dialled.answered_at)
    for digit, mode in (("5", "whisper"), ("6", "barge"), ("4", "monitor")):
        await sup.leg.dtmf(digit)
        t = await settle(call, sup, mode, after=t)
    await sup.leg.hangup()
    assert await wait_no_leftovers(pbx, within=1.0) == []
    ended = await daemon.wait_event("session_ended")
    refused = await _refusal(phones, daemon)

    store = open_store(daemon.database_url)
    try:
        record = None
        for _ in range(100):  # the log is written behind the engine's back: poll
            record = await store.session(ended["session_id"])
            if record is not None and record.ended_at is not None:
                break
            await asyncio.sleep(0.05)
        assert record is not None
        assert (record.supervisor, record.agent, record.end_reason) == (
            "sup1",
            "1042",
            "supervisor_hangup",
        )
        periods = await store.periods(ended["session_id"])
        assert [p.mode for p in periods] == ["monitor", "whisper", "barge", "monitor"]
        assert all(p.ended_at is not None for p in periods)
        assert record.duration_sec is not None
        assert record.duration_sec >= sum(p.duration_sec or 0 for p in periods) - 0.01
        refusal = await store.refusal(refused["session_id"])
        assert refusal is not None
        assert refusal.reason == "not_permitted"
        counts = await store.counts()
        assert counts["coachd_coaching_log"] == 1, counts
        assert counts["coachd_mode_periods"] == 4, counts
        assert counts["coachd_session_refusals"] == 1, counts
    finally:
        await store.close()


async def _refusal(phones: Phones, daemon: Daemon) -> dict[str, object]:
    dialled = await supervisor_dials(phones, "2003", "*2221042")  # level 6
    await asyncio.wait_for(dialled.party.leg.hung_up.wait(), 12)
    return await daemon.wait_event("session_refused")
