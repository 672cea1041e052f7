"""A call-center call on the sandbox, and the who-hears-whom checks of each mode."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from coachd.ari.client import AriClient
from tests.audio.analysis import ToneDetector
from tests.audio.capture import RtpCapture
from tests.audio.wire import WireTap
from tests.sandbox.phones import Leg, Phones

# Frequencies chosen so that intermodulation of any two never lands on a third.
TONES = {"caller": 1180.0, "agent": 1570.0, "supervisor": 2160.0, "supervisor2": 2950.0}
# coachd's end-of-session tone (480 Hz), time-limit warning (2600 Hz) and the
# tests' whisper cue (3300 Hz) are listened for too.
DETECTOR = ToneDetector({**TONES, "end_tone": 480.0, "warning_tone": 2600.0, "cue_tone": 3300.0})

# (listener, speaker) -> heard, per mode: ChanSpy's q / qw / qW / qB.
EXPECTED: dict[str, dict[tuple[str, str], bool]] = {
    "monitor": {
        ("supervisor", "caller"): True,
        ("supervisor", "agent"): True,
        ("agent", "supervisor"): False,
        ("caller", "supervisor"): False,
    },
    "whisper": {
        ("supervisor", "caller"): True,
        ("supervisor", "agent"): True,
        ("agent", "supervisor"): True,
        ("caller", "supervisor"): False,
    },
    "private_whisper": {
        ("supervisor", "caller"): False,
        ("supervisor", "agent"): False,
        ("agent", "supervisor"): True,
        ("caller", "supervisor"): False,
    },
    "barge": {
        ("supervisor", "caller"): True,
        ("supervisor", "agent"): True,
        ("agent", "supervisor"): True,
        ("caller", "supervisor"): True,
    },
}


def changed_paths(before: str, after: str) -> list[tuple[str, str, bool]]:
    """The (listener, speaker, heard) paths a switch from ``before`` to ``after`` changes:
    the ones whose change shows that the switch took effect."""
    old, new = EXPECTED[before], EXPECTED[after]
    return [(lis, spk, new[(lis, spk)]) for (lis, spk) in new if old[(lis, spk)] != new[(lis, spk)]]


async def switch_heard(ears: dict[str, RtpCapture], before: str, after: str, sent: float) -> float:
    """When every path a switch sent at ``sent`` changes (:func:`changed_paths`) was
    heard changed: a path opening heard at once, a closing one after 3 silent frames."""
    observed = sent
    for listener, speaker, heard in changed_paths(before, after):
        ear = ears[listener]
        if heard:
            seen = await ear.wait_for(speaker, 3.0, after=sent)
        else:
            seen = await ear.wait_without(speaker, 3.0, after=sent, consecutive=3)
        observed = max(observed, seen)
    return observed


@dataclass
class Party:
    name: str
    leg: Leg
    ear: RtpCapture


@dataclass
class Call:
    caller: Party
    agent: Party

    def ears(self, supervisor: Party) -> dict[str, RtpCapture]:
        return {"caller": self.caller.ear, "agent": self.agent.ear, "supervisor": supervisor.ear}


def loudest(ear: RtpCapture, after: float = 0.0) -> int:
    """Peak sample heard after ``after`` (needs ``keep_samples``): 0 means silence."""
    frames = [f for f in ear.capture.frames if f.arrival >= after]
    samples = ear.capture.samples()[-len(frames) * 160 :] if frames else []
    return max((abs(x) for x in samples), default=0)


async def connect_call(phones: Phones, agent: str = "1042", *, trunk: str = "carrier") -> Call:
    """A customer calls in over the carrier trunk (``carrier2``: to pbx2); the agent
    answers; both talk."""
    calling = asyncio.create_task(phones.call(trunk, agent))
    agent_leg = await phones.answer(agent)
    caller_leg = await calling
    call = Call(
        caller=Party("caller", caller_leg, await caller_leg.listen(DETECTOR)),
        agent=Party("agent", agent_leg, await agent_leg.listen(DETECTOR)),
    )
    await caller_leg.say_tone(TONES["caller"])
    await agent_leg.say_tone(TONES["agent"])
    await call.agent.ear.wait_for("caller", timeout=5)
    await call.caller.ear.wait_for("agent", timeout=5)
    return call


async def wire_taps(pbx: AriClient, agent: str = "1042") -> dict[str, WireTap]:
    """Taps on what the PBX sends to the caller's and the agent's phones."""
    taps: dict[str, WireTap] = {}
    channels = await pbx.list_channels()
    for party, prefix in (("caller", "PJSIP/carrier-"), ("agent", f"PJSIP/{agent}-")):
        (channel,) = [ch for ch in channels if ch.name.startswith(prefix)]
        dest = await pbx.request(
            "GET", f"/channels/{channel.id}/variable", params={"variable": "CHANNEL(rtp,dest)"}
        )
        taps[party] = await WireTap.open(DETECTOR, int(str(dest["value"]).rsplit(":", 1)[1]))
    return taps


@dataclass
class Dialled:
    party: Party
    answered_at: float


async def supervisor_dials(
    phones: Phones, phone: str, code: str, name: str = "supervisor"
) -> Dialled:
    """A supervisor's phone dials a feature code; returns once coachd answered."""
    leg = await phones.call(phone, code)
    answered = time.monotonic()
    ear = await leg.listen(DETECTOR, keep_samples=True)
    await leg.say_tone(TONES[name])
    return Dialled(Party(name, leg, ear), answered)


async def settle(
    call: Call, supervisor: Party, mode: str, *, after: float, timeout: float = 3.0
) -> float:
    """Wait until every path of ``mode`` is as expected; returns when that was first true."""
    ears = call.ears(supervisor)
    seen = after
    for (listener, speaker), heard in EXPECTED[mode].items():
        if heard:
            t = await ears[listener].wait_for(speaker, timeout, after=after, consecutive=3)
        else:
            t = await ears[listener].wait_without(speaker, timeout, after=after, consecutive=5)
        seen = max(seen, t)
    return seen


async def check_routing(
    call: Call, supervisor: Party, mode: str, t0: float, t1: float
) -> list[str]:
    """Deviations from ``mode``'s routing in [t0, t1]; empty when all is right.

    Waits until ``t1`` (plus the time for the last frames to arrive) first.
    """
    await asyncio.sleep(max(0.0, t1 + 0.1 - time.monotonic()))
    ears = call.ears(supervisor)
    problems = []
    for (listener, speaker), heard in EXPECTED[mode].items():
        capture = ears[listener].capture
        if heard:
            fraction = capture.fraction_with(speaker, t0, t1)
            if fraction < 0.9:
                problems.append(f"{listener} heard {speaker} in only {fraction:.0%} of frames")
        else:
            n = capture.count_with(speaker, t0, t1)
            if n:
                problems.append(f"{listener} heard {speaker} in {n} frames")
    # The call itself goes on whatever the mode.
    for listener, speaker in (("caller", "agent"), ("agent", "caller")):
        fraction = ears[listener].capture.fraction_with(speaker, t0, t1)
        if fraction < 0.9:
            problems.append(f"{listener} heard {speaker} in only {fraction:.0%} of frames")
    return problems
