"""coachd killed with SIGKILL in the middle of a whisper: a restarted coachd removes
what the dead one left in Asterisk, so nothing keeps whispering into the agent's ear."""

from __future__ import annotations

import asyncio
import json
import time

from coachd.ari.client import AriClient
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

    first.kill()
    await asyncio.sleep(0.5)
    # With coachd dead, Asterisk still holds its snoops and bridges: the whisper goes on.
    assert await coachd_leftovers(pbx) != []
    t = time.monotonic()
    assert call.agent.ear.capture.count_with("supervisor", t - 0.4, t) > 0

    second = Daemon(name="crash-2")
    restarted = time.monotonic()
    second.start()
    try:
        assert await wait_no_leftovers(pbx, within=5.0) == []
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
    finally:
        assert second.stop() == 0, second.tail()
