"""Fifty DTMF switches on a live coached call, measured frame by frame: the
routing after each switch, leaks on the wire and at the far ends, the call
audio missing at the supervisor, and how long each switch took to be heard.
Shared by the same-server test (test_coaching.py) and the cross-server one
(test_cluster.py); the tests assert, this module only measures."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from tests.audio.analysis import Frame
from tests.sandbox.callcenter import Call, Party, WireTap, settle, switch_heard
from tests.sandbox.daemon import Daemon

DIGITS = {"monitor": "4", "whisper": "5", "barge": "6"}
ORDER = ["whisper", "barge", "monitor", "barge", "whisper", "monitor"]
ROUNDS = 50


@dataclass
class SwitchRun:
    report: dict[str, Any]
    latencies: list[float]
    timeline: list[tuple[float, str]]
    """(when the switch was heard, mode), the opening mode first."""
    received: list[float] = field(default_factory=list)
    """When coachd got each digit (its dtmf_received records), monotonic."""


def strays(frames: list[Frame], party: str, *, closing: bool) -> int:
    """Frames with ``party`` on a path that should be closed.

    A closing path may still carry its tail until its first 3 frames without
    ``party``; an already closed one may carry nothing.
    """
    quiet = 0
    settled = not closing
    n = 0
    for frame in frames:
        if party in frame.parties:
            quiet = 0
            n += settled
        else:
            quiet += 1
            settled = settled or quiet >= 3
    return n


def digit_receipts(daemon: Daemon, session_id: str) -> list[float]:
    """When ``daemon`` received each DTMF digit of a session, on the monotonic clock."""
    return [
        daemon.monotonic_at(r)
        for r in daemon.records()
        if r.get("event") == "dtmf_received" and r.get("session_id") == session_id
    ]


async def switch_by_dtmf(
    call: Call, sup: Party, daemon: Daemon, digit: str, mode: str, *, timeout: float = 5.0
) -> tuple[float, float]:
    """Press ``digit`` on the supervisor's phone; ``(sent, settled)``: when it was
    sent, and when every path of ``mode`` was as expected, counted from when
    ``daemon`` (running the session) switched. While a digit is sent the
    supervisor's phone is silent, which would look like a closed path too soon."""

    def switched(r: dict[str, Any]) -> bool:
        return (
            r.get("event") == "session_event"
            and r.get("event_type") == "mode_changed"
            and r.get("after") == mode
        )

    before = len([r for r in daemon.records() if switched(r)])
    sent = time.monotonic()
    await sup.leg.dtmf(digit)
    found = await daemon.wait_record(switched, count=before + 1, timeout=timeout)
    at = max(sent, daemon.monotonic_at(found[-1]))
    return sent, await settle(call, sup, mode, after=at, timeout=timeout)


async def fifty_switches(
    call: Call,
    sup: Party,
    wire: dict[str, WireTap],
    daemon: Daemon,
    session_id: str,
    t: float,
    *,
    rounds: int = ROUNDS,
) -> SwitchRun:
    """Switch monitor -> ... ``rounds`` times by DTMF from ``sup``, starting in
    monitor (settled at ``t``); ``daemon`` is the coachd running the session."""
    ears = call.ears(sup)
    timeline: list[tuple[float, str]] = [(t, "monitor")]
    sent_times: list[tuple[float, str]] = []
    latencies: list[float] = []
    current = "monitor"
    for i in range(rounds):
        target = ORDER[i % len(ORDER)]
        if target == current:
            continue
        sent = time.monotonic()
        sent_times.append((sent, target))
        await sup.leg.dtmf(DIGITS[target])
        observed = await switch_heard(ears, current, target, sent)
        latencies.append(observed - sent)
        timeline.append((observed, target))
        current = target
        await asyncio.sleep(0.15)
    end = time.monotonic()

    # On the wire (what the PBX sends to each phone, which coachd controls): between
    # two digits, a closed path carries no supervisor frame at all, except the tail
    # of a path closing at that digit, before its first 3 frames of silence.
    # A digit silences the supervisor's phone while it is sent, which can look like
    # the tail's end; the switch itself starts when coachd has the digit (Asterisk
    # reports it when it ends), so a closing path's tail may also run until coachd
    # had it plus 60 ms (3 frames). Anything later is a leak.
    got_digit = digit_receipts(daemon, session_id)
    counts = {"wire_caller": 0, "wire_agent": 0, "far_caller": 0, "far_agent": 0}
    where: list[str] = []
    modes = ["monitor"] + [m for _, m in sent_times]
    bounds = [s for s, _ in sent_times] + [end]
    for i, (t0, t1) in enumerate(itertools.pairwise(bounds)):
        before, mode = modes[i], modes[i + 1]
        for party, path_open in (
            ("caller", lambda m: m == "barge"),
            ("agent", lambda m: m != "monitor"),
        ):
            if path_open(mode):
                continue
            closing = path_open(before)
            start = t0
            if closing and len(got_digit) == len(sent_times):
                start = max(t0, got_digit[i] + 0.06)
            frames = wire[party].capture.frames_between(start, t1)
            n = strays(frames, "supervisor", closing=closing and start == t0)
            if n:
                where.append(
                    f"{party} wire {before}->{mode}: "
                    + wire[party].capture.describe(t0, t1, origin=t0)
                )
            counts["wire_" + party] += n
    # At the far end (what the phone plays, after the switch was heard there); the
    # sandbox's Asterisk phones rarely replay a stale frame that was not on the wire.
    steady = [
        (observed, sent_next, mode)
        for (observed, mode), (sent_next, _) in zip(timeline, [*sent_times, (end, "")], strict=True)
    ]
    for t0, t1, mode in steady:
        if mode != "barge":
            counts["far_caller"] += call.caller.ear.capture.count_with("supervisor", t0, t1)
        if mode == "monitor":
            counts["far_agent"] += call.agent.ear.capture.count_with("supervisor", t0, t1)
    leaks_at_caller = counts["wire_caller"]
    at_agent_in_monitor = counts["wire_agent"]
    worst_gap = sup.ear.capture.longest_gap("caller", timeline[0][0], end)
    # Frames of call audio missing at the supervisor's ear around each switch.
    per_switch = [
        sup.ear.capture.longest_gap("caller", sent - 0.1, observed + 0.2)
        for (sent, _), (observed, _) in zip(sent_times, timeline[1:], strict=True)
    ]
    report = {
        "switches": len(latencies),
        "leak_frames_at_caller": leaks_at_caller,
        "supervisor_frames_at_agent_in_monitor": at_agent_in_monitor,
        "far_end_leak_frames_at_caller": counts["far_caller"],
        "far_end_supervisor_frames_at_agent_in_monitor": counts["far_agent"],
        "worst_gap_frames_at_supervisor": worst_gap,
        "gap_frames_per_switch_median": statistics.median(per_switch),
        "gap_frames_per_switch_max": max(per_switch),
        "dtmf_send_to_audible_ms_median": round(statistics.median(latencies) * 1000, 1),
        "dtmf_send_to_audible_ms_p99": round(
            sorted(latencies)[int(len(latencies) * 0.99) - 1] * 1000, 1
        ),
        "dtmf_send_to_audible_ms_max": round(max(latencies) * 1000, 1),
        "caller_heard_agent_longest_gap_frames": call.caller.ear.capture.longest_gap(
            "agent", t, end
        ),
        "agent_heard_caller_longest_gap_frames": call.agent.ear.capture.longest_gap(
            "caller", t, end
        ),
    }
    report["where"] = where
    # Asterisk reports a digit when it ends: split the time at coachd's receipt of it.
    if len(got_digit) == len(latencies):
        after_digit = [obs - got for (obs, _), got in zip(timeline[1:], got_digit, strict=True)]
        report["digit_end_to_audible_ms_median"] = round(statistics.median(after_digit) * 1000, 1)
        report["digit_end_to_audible_ms_max"] = round(max(after_digit) * 1000, 1)
    return SwitchRun(report, latencies, timeline, got_digit)


def assert_fifty_switches_held(run: SwitchRun, wire: dict[str, WireTap]) -> None:
    """The pass criteria of a fifty-switch run (the same on one server or across two)."""
    report = run.report
    assert len(run.latencies) >= ROUNDS - ROUNDS // len(ORDER)
    assert report["leak_frames_at_caller"] == 0, report
    assert report["supervisor_frames_at_agent_in_monitor"] == 0, report
    # The wire taps really see the supervisor when they should.
    assert wire["agent"].capture.count_with("supervisor") > 100, report
    assert report["far_end_leak_frames_at_caller"] <= 2, report
    assert report["far_end_supervisor_frames_at_agent_in_monitor"] <= 6, report
    assert report["worst_gap_frames_at_supervisor"] <= 2, report
    # The call itself never breaks up while the supervisor switches.
    assert report["caller_heard_agent_longest_gap_frames"] <= 2, report
    assert report["agent_heard_caller_longest_gap_frames"] <= 2, report
