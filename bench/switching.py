"""Mode switches on a live call: coachd by DTMF, coachd by the HTTP API, ChanSpy by DTMF.

The same call set-up for each (a customer on the carrier trunk talking to agent
1042, supervisor 2001 dialling in), every party sending its own tone, and
wire taps on what the PBX sends to the caller's and the agent's phones.
Per switch: the time from the request (DTMF sent, or HTTP PATCH sent) and
from the digit's end (sent + its 100 ms) until every path that changes has
changed at the far ends; frames of call audio missing at the supervisor's
ear around it. Between switches: supervisor frames on the wire to the caller
outside barge (leaks), to the agent in monitor, and the supervisor's own
voice in the supervisor's ear (echo).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp

from bench.stats import summary
from coachd.ari.client import AriClient
from tests.audio.analysis import Capture
from tests.integration.conftest import wait_no_leftovers
from tests.sandbox.callcenter import (
    Call,
    Party,
    changed_paths,
    connect_call,
    settle,
    supervisor_dials,
    switch_heard,
    wire_taps,
)
from tests.sandbox.daemon import Daemon
from tests.sandbox.phones import Phones

FEATURE_CODE = {"coachd-dtmf": "*2221042", "coachd-api": "*2221042", "chanspy-dtmf": "*8881042"}
DIGITS = {"monitor": "4", "whisper": "5", "barge": "6"}  # ChanSpy's d, coachd's "chanspy" keymap
ORDER = ("whisper", "barge", "monitor", "barge", "whisper", "monitor")
DTMF_MS = 100
STEADY = 0.15
"""Seconds each mode is held after its switch was observed (the leak windows)."""
API_TOKEN = "sandbox-admin-token-0001"


@dataclass(frozen=True, slots=True)
class Switch:
    before: str
    after: str
    sent: float
    observed: float
    response: float | None = None
    """HTTP: seconds until the PATCH returned (coachd answers once the routing is in place)."""


async def switch_once(call: Call, sup: Party, before: str, after: str, send: Any) -> Switch:
    ears = call.ears(sup)
    sent = time.monotonic()
    response = await send(after)
    observed = await switch_heard(ears, before, after, sent)
    return Switch(before, after, sent, observed, response)


async def run(
    system: str, switches: int, phones: Phones, pbx: AriClient, daemon: Daemon | None, http: str
) -> dict[str, Any]:
    if daemon is not None:
        daemon.checkpoint()  # its session is the next one
    call = await connect_call(phones)
    wire = await wire_taps(pbx)
    dialled = await supervisor_dials(phones, "2001", FEATURE_CODE[system])
    sup = dialled.party
    await settle(call, sup, "monitor", after=dialled.answered_at)
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer " + API_TOKEN}) as client:
        if system == "coachd-api":
            assert daemon is not None
            started = await daemon.wait_event(
                "session_started", where=lambda r: r["endpoint"] == "PJSIP/2001"
            )
            url = "http://" + http + "/v1/sessions/" + str(started["session_id"])

            async def send(mode: str) -> float | None:
                t = time.monotonic()
                async with client.patch(url, json={"mode": mode}) as response:
                    response.raise_for_status()
                return time.monotonic() - t

        else:

            async def send(mode: str) -> float | None:
                await sup.leg.dtmf(DIGITS[mode], duration_ms=DTMF_MS)
                return None

        done: list[Switch] = []
        failures = 0
        current = "monitor"
        i = 0
        while len(done) + failures < switches:
            target = ORDER[i % len(ORDER)]
            i += 1
            if target == current:
                continue
            try:
                done.append(await switch_once(call, sup, current, target, send))
            except TimeoutError:
                failures += 1  # not observed within 3 s: the mode is unknown now
                await settle(call, sup, target, after=time.monotonic(), timeout=5.0)
            current = target
            await asyncio.sleep(STEADY)
    end = time.monotonic()
    received = None
    if daemon is not None and system == "coachd-dtmf":
        wall = time.time() - time.monotonic()
        received = [
            datetime.fromisoformat(r["timestamp"]).timestamp() - wall
            for r in daemon.records(since_checkpoint=True)
            if r.get("event") == "dtmf_received"
        ]
    result = measure(system, done, call, sup, wire, end, received)
    result["unobserved_switches"] = failures
    for tap in wire.values():
        tap.close()
    await sup.leg.hangup()
    await call.caller.leg.hangup()
    await wait_no_leftovers(pbx, within=3.0)
    return result


def on_wire(capture: Capture, heard: bool, after: float, until: float) -> float | None:
    """When the PBX's output shows the change: the first frame with the supervisor, or
    the first of 3 in a row without."""
    run = 0
    for frame in capture.frames_between(after, until):
        if heard and "supervisor" in frame.parties:
            return frame.arrival
        if not heard:
            run = 0 if "supervisor" in frame.parties else run + 1
            if run == 3:
                return frame.arrival - 0.04
    return None


def wire_times(done: list[Switch], wire: dict[str, Any]) -> list[float | None]:
    """Per switch, when the last changing path changed on the wire (the PBX's output:
    no phone or capture in between); None where the taps did not show it."""
    out: list[float | None] = []
    for s in done:
        seen = [
            on_wire(wire[lis].capture, heard, s.sent, s.observed + 0.5)
            for lis, _, heard in changed_paths(s.before, s.after)
        ]
        known = [t for t in seen if t is not None]
        out.append(max(known) if seen and len(known) == len(seen) else None)
    return out


def measure(
    system: str,
    done: list[Switch],
    call: Call,
    sup: Party,
    wire: dict[str, Any],
    end: float,
    received: list[float] | None = None,
) -> dict[str, Any]:
    """``received``: when coachd got each digit (monotonic clock), if known."""
    ear = sup.ear.capture
    from_request = [s.observed - s.sent for s in done]
    wired = wire_times(done, wire)
    to_wire = [w - s.sent for w, s in zip(wired, done, strict=True) if w is not None]
    gaps = [
        max(
            ear.longest_gap("caller", s.sent - 0.1, s.observed + 0.2),
            ear.longest_gap("agent", s.sent - 0.1, s.observed + 0.2),
        )
        for s in done
    ]
    leaks = at_agent = echo = far_leaks = 0
    for s, nxt in zip(done, [*done[1:], None], strict=True):
        t0, t1 = s.observed, (nxt.sent if nxt else end)
        if s.after != "barge":
            leaks += wire["caller"].capture.count_with("supervisor", t0, t1)
            far_leaks += call.caller.ear.capture.count_with("supervisor", t0, t1)
        if s.after == "monitor":
            at_agent += wire["agent"].capture.count_with("supervisor", t0, t1)
        echo += ear.count_with("supervisor", t0, t1)
    result: dict[str, Any] = {
        "system": system,
        "switches": len(done),
        "request_to_audible_ms": summary(from_request, 1000),
        "gap_frames_at_supervisor": summary(gaps, 1, 0),
        "leak_frames_at_caller_outside_barge": leaks,
        "far_end_leak_frames_at_caller": far_leaks,
        "supervisor_frames_at_agent_in_monitor": at_agent,
        "echo_frames_supervisor_hears_self": echo,
        "wire_frames_seen_at_agent": wire["agent"].capture.count_with("supervisor"),
    }
    result["request_to_wire_ms"] = summary(to_wire, 1000)
    # A DTMF digit silences the supervisor's phone while it is sent, which hides when a
    # closing path closed; switches that open a path time the routing itself.
    opening = [
        i for i, s in enumerate(done) if any(h for *_, h in changed_paths(s.before, s.after))
    ]
    result["opening_request_to_audible_ms"] = summary([from_request[i] for i in opening], 1000)
    result["opening_request_to_wire_ms"] = summary(
        [w - done[i].sent for i in opening if (w := wired[i]) is not None], 1000
    )
    result["request_to_audible_raw_ms"] = [round(t * 1000, 1) for t in from_request]
    if system.endswith("dtmf"):
        after_digit = [t - DTMF_MS / 1000 for t in from_request]
        result["digit_end_to_audible_ms"] = summary(after_digit, 1000)
        result["digit_end_to_wire_ms"] = summary([t - DTMF_MS / 1000 for t in to_wire], 1000)
        opened = result["opening_request_to_audible_ms"]
        result["opening_digit_end_to_audible_ms"] = {
            k: (round(v - DTMF_MS, 1) if k != "n" else v) for k, v in opened.items()
        }
    if received and len(received) == len(done):
        # coachd's receipt of the digit (Asterisk reports a digit when it ends).
        result["opening_coachd_receipt_to_wire_ms"] = summary(
            [w - received[i] for i in opening if (w := wired[i]) is not None], 1000
        )
        result["opening_coachd_receipt_to_audible_ms"] = summary(
            [done[i].observed - received[i] for i in opening], 1000
        )
    responses = [s.response for s in done if s.response is not None]
    if responses:
        result["http_response_ms"] = summary(responses, 1000)
    return result
