"""[limits]: a warning only the supervisor hears, then the session ends, at the
configured times (seconds here instead of the default 15 minutes)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from coachd.ari.client import AriClient
from tests.integration.conftest import wait_no_leftovers
from tests.sandbox.callcenter import connect_call, settle, supervisor_dials
from tests.sandbox.daemon import Daemon
from tests.sandbox.phones import Phones

WARNING_AFTER = 1.5
LIMIT_AFTER = 3.0


def seconds_between(a: dict[str, Any], b: dict[str, Any]) -> float:
    t0 = datetime.fromisoformat(a["timestamp"])
    return (datetime.fromisoformat(b["timestamp"]) - t0).total_seconds()


@pytest.fixture(scope="module")
def limited() -> Iterator[Daemon]:
    env = {
        "COACHD_LIMITS__WHISPER_WARNING": str(WARNING_AFTER),
        "COACHD_LIMITS__WHISPER_LIMIT": str(LIMIT_AFTER),
    }
    with Daemon(env=env, name="limits").running() as daemon:
        yield daemon


async def test_whisper_warns_the_supervisor_alone_then_ends_at_the_limit(
    phones: Phones, pbx: AriClient, limited: Daemon
) -> None:
    limited.checkpoint()
    call = await connect_call(phones)
    dialled = await supervisor_dials(phones, "2001", "*2231042")
    sup = dialled.party
    await settle(call, sup, "whisper", after=dialled.answered_at)
    started = await limited.wait_event("session_started")

    warning = await limited.wait_event("time_limit_warning", timeout=WARNING_AFTER + 2)
    assert warning["mode"] == "whisper"
    assert warning["after_seconds"] == WARNING_AFTER
    assert warning["limit_seconds"] == LIMIT_AFTER
    beeps = await sup.ear.wait_for("warning_tone", 2, after=dialled.answered_at)
    ended = await limited.wait_event("session_ended", timeout=LIMIT_AFTER + 2)
    assert ended["reason"] == "time_limit"
    await asyncio.wait_for(sup.leg.hung_up.wait(), 5)
    done = time.monotonic()

    # At the configured times after the session started (log timestamps, wall clock).
    assert WARNING_AFTER <= seconds_between(started, warning) < WARNING_AFTER + 1.0
    assert LIMIT_AFTER <= seconds_between(started, ended) < LIMIT_AFTER + 1.0
    for listener in (call.agent, call.caller):
        assert listener.ear.capture.count_with("warning_tone", dialled.answered_at, done) == 0
    heard = sup.ear.capture.count_with("warning_tone", beeps - 0.1, beeps + 1.0)
    assert 5 <= heard <= 20, sup.ear.capture.describe(beeps - 0.2, beeps + 1.0, origin=beeps)
    assert await wait_no_leftovers(pbx, within=1.0) == []


async def test_switching_to_monitor_stops_the_whisper_clock(
    phones: Phones, pbx: AriClient, limited: Daemon
) -> None:
    limited.checkpoint()
    call = await connect_call(phones)
    dialled = await supervisor_dials(phones, "2001", "*2231042")
    sup = dialled.party
    await settle(call, sup, "whisper", after=dialled.answered_at)
    await sup.leg.dtmf("4")
    await limited.wait_event("mode_changed")
    await asyncio.sleep(LIMIT_AFTER + 0.5)
    assert limited.session_events(event_type="time_limit_warning") == []
    assert limited.session_events(event_type="session_ended") == []
    await sup.leg.dtmf("*")
    ended = await limited.wait_event("session_ended")
    assert ended["reason"] == "supervisor_ended"
    assert await wait_no_leftovers(pbx, within=1.0) == []
