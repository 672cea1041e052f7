"""Coaching on real PJSIP calls, proven with audio: each party sends its own tone
and what each party hears is analysed per 20 ms frame."""

from __future__ import annotations

import asyncio
import json
import statistics
import time

import pytest

from coachd.ari.client import AriClient
from tests.integration.conftest import wait_no_leftovers
from tests.mqtt.conftest import Subscriber
from tests.sandbox.callcenter import (
    DETECTOR,
    Party,
    check_routing,
    connect_call,
    settle,
    supervisor_dials,
    wire_taps,
)
from tests.sandbox.daemon import ARTIFACTS, Daemon
from tests.sandbox.phones import Phones
from tests.sandbox.switches import assert_fifty_switches_held, fifty_switches

CODES = {"monitor": "*222", "whisper": "*223", "barge": "*224", "private_whisper": "*225"}


@pytest.mark.parametrize("mode", list(CODES))
async def test_each_feature_code_starts_a_session_with_chanspy_routing(
    mode: str, phones: Phones, pbx: AriClient, coachd: Daemon
) -> None:
    call = await connect_call(phones)
    dialled = await supervisor_dials(phones, "2001", CODES[mode] + "1042")
    sup = dialled.party

    started = await coachd.wait_event("session_started", where=lambda r: r["mode"] == mode)
    assert started["supervisor"] == "sup1"
    assert started["agent"] == "1042"
    t = await settle(call, sup, mode, after=dialled.answered_at)
    problems = await check_routing(call, sup, mode, t + 0.1, t + 1.1)
    assert not problems, problems

    await sup.leg.hangup()
    assert await wait_no_leftovers(pbx, within=1.0) == []
    ended = await coachd.wait_event(
        "session_ended", where=lambda r: r["session_id"] == started["session_id"]
    )
    assert ended["reason"] == "supervisor_hangup"


async def test_whisper_reaches_the_agent_and_never_the_caller(
    phones: Phones, pbx: AriClient, coachd: Daemon
) -> None:
    call = await connect_call(phones)
    wire = await wire_taps(pbx)
    dialled = await supervisor_dials(phones, "2001", "*2231042")
    sup = dialled.party
    t = await settle(call, sup, "whisper", after=dialled.answered_at)
    await asyncio.sleep(3.0)
    # From the moment the supervisor's call was answered, not one frame at the caller:
    # neither in what the PBX sends to the caller's phone nor in what it plays.
    assert wire["caller"].capture.count_with("supervisor", dialled.answered_at) == 0
    assert wire["caller"].capture.fraction_with("agent", t, t + 3.0) > 0.95
    assert call.caller.ear.capture.count_with("supervisor", dialled.answered_at) == 0
    assert call.agent.ear.capture.fraction_with("supervisor", t + 0.1, t + 3.0) > 0.95
    await sup.leg.hangup()
    assert await wait_no_leftovers(pbx, within=1.0) == []


async def test_fifty_dtmf_switches_keep_the_routing_and_never_leak(
    phones: Phones, pbx: AriClient, coachd: Daemon
) -> None:
    mqtt = Subscriber(coachd.mqtt_prefix, topic_filter="events")
    await mqtt.__aenter__()
    call = await connect_call(phones)
    wire = await wire_taps(pbx)
    dialled = await supervisor_dials(phones, "2001", "*2221042")
    sup = dialled.party
    started = await coachd.wait_event(
        "session_started", where=lambda r: r["endpoint"] == "PJSIP/2001"
    )
    session_id = started["session_id"]
    t = await settle(call, sup, "monitor", after=dialled.answered_at)
    run = await fifty_switches(call, sup, wire, coachd, session_id, t)
    report, latencies, received = run.report, run.latencies, run.received
    if len(received) == len(latencies):
        # The ARI DTMF event reaching coachd to the mode_changed event at an MQTT
        # subscriber (perf_counter and monotonic are the same clock on Linux).
        await mqtt.wait_for(
            lambda: sum(e["type"] == "mode_changed" for e in mqtt.events()) >= len(received)
        )
        arrivals = [r.at for r in mqtt.on("events") if r.json()["type"] == "mode_changed"]
        to_mqtt = sorted((a - d) * 1000 for a, d in zip(arrivals, received, strict=True))
        report["ari_event_to_mqtt_ms_median"] = round(statistics.median(to_mqtt), 1)
        report["ari_event_to_mqtt_ms_p99"] = round(to_mqtt[int(len(to_mqtt) * 0.99) - 1], 1)
    await mqtt.__aexit__(None, None, None)
    (ARTIFACTS / "dtmf-switches.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    assert_fifty_switches_held(run, wire)

    await sup.leg.hangup()
    assert await wait_no_leftovers(pbx, within=1.0) == []


async def test_session_setup_brings_the_call_to_the_supervisor_ear(
    phones: Phones, pbx: AriClient, coachd: Daemon
) -> None:
    call = await connect_call(phones)
    setups: list[float] = []
    for _ in range(10):
        dialled = await supervisor_dials(phones, "2001", "*2221042")
        heard = await dialled.party.ear.wait_for("caller", 3.0, after=dialled.answered_at)
        setups.append(heard - dialled.answered_at)
        await dialled.party.leg.hangup()
        assert await wait_no_leftovers(pbx, within=1.0) == []
    report = {
        "sessions": len(setups),
        "answer_to_call_audio_ms_median": round(statistics.median(setups) * 1000, 1),
        "answer_to_call_audio_ms_max": round(max(setups) * 1000, 1),
    }
    (ARTIFACTS / "setup.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report))
    assert call.caller.ear.capture.count_with("supervisor") == 0


async def test_hash_raises_the_supervisor_listening_volume_like_chanspy(
    phones: Phones, pbx: AriClient, coachd: Daemon
) -> None:
    call = await connect_call(phones)
    dialled = await supervisor_dials(phones, "2001", "*2221042")
    sup = dialled.party
    t = await settle(call, sup, "monitor", after=dialled.answered_at)
    await asyncio.sleep(0.5)
    before = _level(sup, "caller", t + 0.1, t + 0.5)
    await sup.leg.dtmf("##")  # 0 -> 1 -> 2: twice as loud
    await asyncio.sleep(1.0)
    now = time.monotonic()
    after = _level(sup, "caller", now - 0.5, now)
    assert after - before > 4.0, (before, after)
    assert call.agent.ear.capture.count_with("supervisor", dialled.answered_at) == 0
    await sup.leg.hangup()
    assert await wait_no_leftovers(pbx, within=1.0) == []


def _level(party: Party, speaker: str, t0: float, t1: float) -> float:
    """Median level (dBFS) of ``speaker``'s tone in what ``party`` heard in [t0, t1]."""
    capture = party.ear.capture
    samples = capture.samples()
    frames = capture.frames
    levels = [
        DETECTOR.levels(samples[i * 160 : (i + 1) * 160])[speaker]
        for i, f in enumerate(frames)
        if t0 <= f.arrival <= t1 and not f.lost
    ]
    return statistics.median(levels)
