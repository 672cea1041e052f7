"""Why the sandbox PBX runs without bridge_native_rtp (README: "Native RTP bridging").

With native RTP bridging, attaching any snoop moves the call to core bridging
and the PBX restarts each leg's RTP stream (new SSRC, sequence, timestamps).
An Asterisk 22.10 PJSIP far end then drops one of the streams: measured
here, caller and agent stop hearing each other either while the snoop exists
or, worse, after it is gone (the call stays silent when coaching ends). The
RTP on the wire carries both voices throughout (seen with tcpdump). This test
keeps that measured: if it starts failing, Asterisk's behaviour changed and
the README's advice must be revisited.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

import pytest

from coachd.ari.client import AriClient
from coachd.ari.errors import AriError
from tests.integration.conftest import wait_no_leftovers
from tests.sandbox.callcenter import connect_call, supervisor_dials
from tests.sandbox.daemon import ARTIFACTS, Daemon
from tests.sandbox.phones import Phones

MODULE = "bridge_native_rtp.so"


@pytest.fixture
async def native_rtp(pbx: AriClient) -> AsyncIterator[None]:
    await pbx.request("POST", "/asterisk/modules/" + MODULE)
    try:
        yield
    finally:
        with contextlib.suppress(AriError):
            await pbx.request("DELETE", "/asterisk/modules/" + MODULE)


async def test_native_rtp_with_an_asterisk_far_end_loses_the_call_while_coached(
    native_rtp: None, phones: Phones, pbx: AriClient, coachd: Daemon
) -> None:
    call = await connect_call(phones)
    bridges = await pbx.list_bridges()
    assert "native_rtp" in [b.technology for b in bridges], bridges
    before = time.monotonic()
    await asyncio.sleep(0.5)
    dialled = await supervisor_dials(phones, "2001", "*2221042")
    await dialled.party.ear.wait_for("caller", 3.0, after=dialled.answered_at)
    t0 = time.monotonic()
    await asyncio.sleep(1.0)
    t1 = time.monotonic()
    await dialled.party.leg.hangup()
    assert await wait_no_leftovers(pbx, within=1.0) == []
    await asyncio.sleep(1.0)
    t2 = time.monotonic()

    heard = {
        "before_session": call.caller.ear.capture.fraction_with("agent", before, before + 0.5),
        "during_session": call.caller.ear.capture.fraction_with("agent", t0, t1),
        "after_session": call.caller.ear.capture.fraction_with("agent", t1 + 0.3, t2),
        "agent_hears_caller_during_session": call.agent.ear.capture.fraction_with("caller", t0, t1),
        "supervisor_hears_caller_during_session": dialled.party.ear.capture.fraction_with(
            "caller", t0, t1
        ),
    }
    (ARTIFACTS / "native-rtp.json").write_text(json.dumps(heard, indent=2))
    assert heard["before_session"] > 0.95, heard
    # coachd itself still works: the supervisor hears the call...
    assert heard["supervisor_hears_caller_during_session"] > 0.95, heard
    # ...but the parties lose each other, during the session or after it.
    assert min(heard["during_session"], heard["after_session"]) < 0.2, heard
