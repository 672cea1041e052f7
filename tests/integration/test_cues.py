"""Whisper cues on real calls: the cue reaches the agent and the supervisor, never the
caller, whatever the mode, by DTMF and by the HTTP API; the supervisor keeps the call.

The cue is a 3300 Hz tone file (so that every ear can be checked per 20 ms frame),
installed in the sandbox's sounds as the cue ``test-tone``.
"""

from __future__ import annotations

import asyncio
import json
import math
import struct
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from coachd.ari.client import AriClient
from coachd.storage.store import open_store
from tests.integration.conftest import wait_no_leftovers
from tests.sandbox.callcenter import Call, Party, connect_call, settle, supervisor_dials, wire_taps
from tests.sandbox.daemon import REPO, Daemon
from tests.sandbox.phones import Phones

SOUNDS = REPO / ".sandbox/root/usr/share/asterisk/sounds/coachd-cues"
LISTEN = "127.0.0.1:18489"
ADMIN = {"Authorization": "Bearer sandbox-admin-token-0001"}
CUE_SECONDS = 1.5


def write_tone(path: Path, freq: float = 3300.0, seconds: float = CUE_SECONDS) -> None:
    rate = 8000
    amplitude = 0.3 * 32767
    frames = b"".join(
        struct.pack("<h", int(amplitude * math.sin(2 * math.pi * freq * n / rate)))
        for n in range(int(rate * seconds))
    )
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)


@pytest.fixture(scope="module")
def cued() -> Iterator[Daemon]:
    SOUNDS.mkdir(parents=True, exist_ok=True)
    write_tone(SOUNDS / "test-tone.wav")
    env = {
        "COACHD_CUES__NAMES": json.dumps(["test-tone", "slow-down"]),
        "COACHD_CUES__DIGITS": json.dumps(["1:test-tone"]),
        "COACHD_HTTP__LISTEN": LISTEN,
    }
    with Daemon(env=env, name="cues").running() as daemon:
        yield daemon


async def check_cue(call: Call, sup: Party, asked: float, wire: dict[str, object]) -> float:
    """The cue at the agent's and the supervisor's ears, never at the caller's."""
    heard = await call.agent.ear.wait_for("cue_tone", 3.0, after=asked)
    await sup.ear.wait_for("cue_tone", 3.0, after=asked)
    done = await call.agent.ear.wait_without("cue_tone", 5.0, after=heard, consecutive=10)
    assert call.agent.ear.capture.fraction_with("cue_tone", heard, heard + 1.2) > 0.9
    assert call.caller.ear.capture.count_with("cue_tone", asked, done + 0.5) == 0
    assert wire["caller"].capture.count_with("cue_tone", asked, done + 0.5) == 0  # type: ignore[attr-defined]
    # The supervisor heard the call all along (the cue is mixed in, not instead).
    assert sup.ear.capture.longest_gap("caller", asked, done) <= 2
    return done


async def test_a_cue_key_in_monitor_reaches_the_agent_and_the_supervisor_never_the_caller(
    phones: Phones, pbx: AriClient, cued: Daemon
) -> None:
    cued.checkpoint()
    call = await connect_call(phones)
    wire = await wire_taps(pbx)
    dialled = await supervisor_dials(phones, "2001", "*2221042")
    sup = dialled.party
    await settle(call, sup, "monitor", after=dialled.answered_at)
    asked = time.monotonic()
    await sup.leg.dtmf("1")
    played = await cued.wait_event("cue_played")
    assert (played["cue"], played["source"], played["mode"]) == ("test-tone", "dtmf", "monitor")
    done = await check_cue(call, sup, asked, wire)
    # On record in the coaching log (which, when, how).
    store = open_store(cued.database_url)
    try:
        uses = await store.cue_uses(str(played["session_id"]))
    finally:
        await store.close()
    assert [(u.cue, u.source, u.mode) for u in uses] == [("test-tone", "dtmf", "monitor")]
    await asyncio.sleep(max(0.0, done + 1.1 - time.monotonic()))
    # Monitor all along: the supervisor's own voice reached the agent at no time.
    assert call.agent.ear.capture.count_with("supervisor", asked, done + 1.0) == 0
    assert wire["agent"].capture.count_with("supervisor", asked, done + 1.0) == 0
    await sup.leg.hangup()
    for tap in wire.values():
        tap.close()
    assert await wait_no_leftovers(pbx, within=1.0) == []


async def test_the_api_plays_a_cue_in_whisper_and_the_whisper_goes_on(
    phones: Phones, pbx: AriClient, cued: Daemon
) -> None:
    cued.checkpoint()
    call = await connect_call(phones)
    wire = await wire_taps(pbx)
    dialled = await supervisor_dials(phones, "2001", "*2231042")
    sup = dialled.party
    await settle(call, sup, "whisper", after=dialled.answered_at)
    started = await cued.wait_event("session_started")
    url = f"http://{LISTEN}/v1/sessions/{started['session_id']}/cues"
    asked = time.monotonic()
    async with aiohttp.ClientSession(headers=ADMIN) as http:
        async with http.post(url, json={"cue": "test-tone"}) as response:
            assert response.status == 201, await response.text()
            assert (await response.json())["cue"] == "test-tone"
        async with http.post(url, json={"cue": "not-a-cue"}) as response:
            assert response.status == 422
    done = await check_cue(call, sup, asked, wire)
    # The whisper itself is untouched: the agent hears the supervisor after the cue.
    await asyncio.sleep(max(0.0, done + 0.9 - time.monotonic()))
    assert call.agent.ear.capture.fraction_with("supervisor", done + 0.2, done + 0.8) > 0.9
    assert call.caller.ear.capture.count_with("supervisor", asked, done + 0.8) == 0
    await sup.leg.hangup()
    for tap in wire.values():
        tap.close()
    assert await wait_no_leftovers(pbx, within=1.0) == []


@pytest.fixture(scope="module")
def notifying() -> Iterator[Daemon]:
    SOUNDS.mkdir(parents=True, exist_ok=True)
    write_tone(SOUNDS / "test-tone.wav")
    env = {
        "COACHD_POLICY__NOTIFY_AGENT": "true",
        "COACHD_POLICY__NOTIFY_AGENT_MEDIA": "sound:coachd-cues/test-tone",
    }
    with Daemon(env=env, name="notify").running() as daemon:
        yield daemon


async def test_notify_agent_tells_the_agent_alone_that_a_supervisor_listens(
    phones: Phones, pbx: AriClient, notifying: Daemon
) -> None:
    call = await connect_call(phones)
    wire = await wire_taps(pbx)
    dialled = await supervisor_dials(phones, "2001", "*2221042")
    sup = dialled.party
    heard = await call.agent.ear.wait_for("cue_tone", 3.0, after=dialled.answered_at)
    done = await call.agent.ear.wait_without("cue_tone", 5.0, after=heard, consecutive=10)
    assert done - heard > 1.0  # the whole notice
    await asyncio.sleep(max(0.0, done + 1.0 - time.monotonic()))
    assert call.caller.ear.capture.count_with("cue_tone", dialled.answered_at) == 0
    assert wire["caller"].capture.count_with("cue_tone", dialled.answered_at) == 0
    assert sup.ear.capture.count_with("cue_tone", dialled.answered_at) == 0
    # Monitor: the supervisor's own voice reached the agent at no time.
    assert wire["agent"].capture.count_with("supervisor", dialled.answered_at) == 0
    await sup.leg.hangup()
    for tap in wire.values():
        tap.close()
    assert await wait_no_leftovers(pbx, within=1.0) == []
