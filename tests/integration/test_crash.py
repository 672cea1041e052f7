"""coachd killed with SIGKILL in the middle of a whisper: a restarted coachd removes
what the dead one left in Asterisk, so nothing keeps whispering into the agent's ear,
and ends on record (reason "lost") the session the dead one left open."""

from __future__ import annotations

import asyncio
import json
import time

from coachd.ari.client import AriClient
from tests.integration.chaos import mode_periods, read_log, record_stopped
from tests.integration.conftest import coachd_leftovers, wait_no_leftovers
from tests.sandbox.callcenter import connect_call, settle, supervisor_dials
from tests.sandbox.daemon import ARTIFACTS, Daemon
from tests.sandbox.phones import Phones


async def test_a_restarted_coachd_removes_what_a_killed_one_left(
    phones: Phones, pbx: AriClient
) -> None:
    first = Daemon(name="crash-1")
    first.start()
    call = await connect_call(phones)
    dialled = await supervisor_dials(phones, "2001", "*2231042")
    sup = dialled.party
    await settle(call, sup, "whisper", after=dialled.answered_at)
    session_id = str((await first.wait_event("session_started"))["session_id"])
    ending = {session_id: "lost"}  # how the restarted coachd must end it

    first.kill()
    killed = time.monotonic()
    await asyncio.sleep(0.5)
    # With coachd dead, Asterisk still holds its snoops and bridges: the whisper goes on.
    assert await coachd_leftovers(pbx) != []
    t = time.monotonic()
    assert call.agent.ear.capture.count_with("supervisor", t - 0.4, t) > 0

    # The same coaching log and spool: what the killed coachd left open is the new one's.
    second = Daemon(
        name="crash-2",
        env={
            "COACHD_DATABASE__URL": first.database_url,
            "COACHD_DATABASE__SPOOL": str(first.spool_path),
        },
    )
    restarted = time.monotonic()
    second.start()
    try:
        left = await wait_no_leftovers(pbx, within=5.0)
        assert left == []
        await asyncio.wait_for(sup.leg.hung_up.wait(), 5)
        cleaned = time.monotonic()
        silent = await call.agent.ear.wait_without("supervisor", 5, after=restarted, consecutive=5)
        await asyncio.sleep(1.0)
        assert call.agent.ear.capture.count_with("supervisor", silent, silent + 1.0) == 0
        assert call.caller.ear.capture.count_with("supervisor", dialled.answered_at) == 0
        # The call itself goes on.
        assert call.caller.ear.capture.fraction_with("agent", silent + 0.2, silent + 1.0) > 0.9
        (ARTIFACTS / "crash-restart.json").write_text(
            json.dumps(
                {
                    "restart_to_clean_ms": round((cleaned - restarted) * 1000),
                    "restart_to_agent_silent_ms": round((silent - restarted) * 1000),
                },
                indent=2,
            )
        )
        # The killed coachd's session ends on record, as lost, by the restarted one.
        lost = await second.wait_event(
            "session_ended", where=lambda r: r.get("session_id") == session_id
        )
        assert lost["reason"] == "lost", lost
        periods = mode_periods(r for daemon in (first, second) for r in daemon.session_events())
        row, found = (await read_log(first.database_url, periods, reasons=ending))[session_id]
        assert row is not None, "no coaching-log row"
        assert row.ended_at is not None, row
        assert row.end_reason == "lost", row
        assert all(p.ended_at is not None for p in found), found
    finally:
        assert second.stop() == 0, second.tail()
    # Both coachds have stopped: every row must be there now.
    await record_stopped(
        "coachd kill -9, restarted",
        [first, second],
        recovery_s=cleaned - killed,
        orphans=len(left),
        allowed={"lost"},
        note="recovery: kill to leftovers removed and supervisor hung up, incl. 0.5 s"
        " before the restart; events from both coachds' logs, not MQTT; log rows: the"
        " killed session's row and periods in the shared coaching log, ended 'lost' by"
        " the restarted coachd; wrongly ended: an end other than 'lost', or a second one",
    )
