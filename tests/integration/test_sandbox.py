"""The sandbox is real: PJSIP calls with RTP both ways between the phones and the PBX."""

from __future__ import annotations

import asyncio
import time

from coachd.ari.client import AriClient
from tests.audio.analysis import ToneDetector
from tests.sandbox.phones import Phones

TONES = {"caller": 1180.0, "agent": 1570.0}


async def test_a_carrier_call_reaches_the_agent_with_rtp_both_ways(
    phones: Phones, pbx: AriClient
) -> None:
    detector = ToneDetector(TONES)
    calling = asyncio.create_task(phones.call("carrier", "1042"))
    agent = await phones.answer("1042")
    caller = await calling

    agent_ear = await agent.listen(detector)
    caller_ear = await caller.listen(detector)
    await caller.say_tone(TONES["caller"])
    await agent.say_tone(TONES["agent"])

    await agent_ear.wait_for("caller", timeout=5)
    await caller_ear.wait_for("agent", timeout=5)
    t0 = time.monotonic()
    await asyncio.sleep(1.0)
    t1 = time.monotonic()

    assert agent_ear.capture.fraction_with("caller", t0, t1) > 0.95
    assert caller_ear.capture.fraction_with("agent", t0, t1) > 0.95
    # Nobody hears their own voice back.
    assert agent_ear.capture.count_with("agent", t0, t1) == 0
    assert caller_ear.capture.count_with("caller", t0, t1) == 0

    names = sorted(c.name.rsplit("-", 1)[0] for c in await pbx.list_channels())
    assert names == ["PJSIP/1042", "PJSIP/carrier"]
