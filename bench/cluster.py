"""A supervisor on pbx coaching an agent on pbx2 (the cluster's hand-off over the
trunk) against the same supervisor coaching an agent on pbx (one server), in
the same run, with the same two coachd nodes.

Set-up: the supervisor's call answered to the first frame of call audio in
the supervisor's ear (``*222``), alternating same-server and cross-server so
that drift hits both alike. Switches: :func:`tests.sandbox.switches.fifty_switches`
on each (DTMF; the digit crosses the trunk as RFC 4733), with its leak
counts: digit sent to every changed path heard, and the node running the
session receiving the digit to that.
"""

from __future__ import annotations

import statistics
from typing import Any

from bench.stats import summary
from coachd.ari.client import AriClient
from tests.integration.conftest import wait_no_leftovers
from tests.sandbox.callcenter import Call, connect_call, settle, supervisor_dials, wire_taps
from tests.sandbox.daemon import Daemon
from tests.sandbox.phones import Phones
from tests.sandbox.switches import fifty_switches

SAME, CROSS = "same_server", "cross_server"
AGENTS = {SAME: "1042", CROSS: "1301"}


async def _listed(home: Daemon, agent: str, timeout: float = 10.0) -> None:
    await home.wait_record(
        lambda r: (
            r.get("event") == "cluster_directory"
            and r.get("agent") == agent
            and r.get("on_call") is True
        ),
        timeout=timeout,
    )


async def run(
    rounds: int,
    switches: int,
    phones: Phones,
    pbx: AriClient,
    pbx2: AriClient,
    home: Daemon,
    remote: Daemon,
) -> dict[str, Any]:
    calls: dict[str, Call] = {
        SAME: await connect_call(phones, AGENTS[SAME]),
        CROSS: await connect_call(phones, AGENTS[CROSS], trunk="carrier2"),
    }
    await _listed(home, AGENTS[CROSS])
    setups: dict[str, list[float]] = {SAME: [], CROSS: []}
    for _ in range(rounds):
        for where, agent in AGENTS.items():
            dialled = await supervisor_dials(phones, "2001", "*222" + agent)
            heard = await dialled.party.ear.wait_for("caller", 5.0, after=dialled.answered_at)
            setups[where].append(heard - dialled.answered_at)
            await dialled.party.leg.hangup()
            for ari in (pbx, pbx2):
                await wait_no_leftovers(ari, within=3.0)
    result: dict[str, Any] = {"setup_answer_to_call_audio_ms": {}, "switches": {}}
    for where in (SAME, CROSS):
        result["setup_answer_to_call_audio_ms"][where] = summary(setups[where], 1000)
    for where, agent in AGENTS.items():
        daemon, ari = (home, pbx) if where == SAME else (remote, pbx2)
        call = calls[where]
        wire = await wire_taps(ari, agent)
        daemon.checkpoint()
        dialled = await supervisor_dials(phones, "2001", "*222" + agent)
        started = await daemon.wait_event("session_started", timeout=10)
        t = await settle(call, dialled.party, "monitor", after=dialled.answered_at, timeout=5.0)
        switched = await fifty_switches(
            call, dialled.party, wire, daemon, started["session_id"], t, rounds=switches
        )
        report = switched.report
        received = switched.received
        after_digit = (
            [obs - got for (obs, _), got in zip(switched.timeline[1:], received, strict=True)]
            if len(received) == len(switched.latencies)
            else []
        )
        result["switches"][where] = {
            "switches": report["switches"],
            "digit_sent_to_audible_ms": summary(switched.latencies, 1000),
            "node_got_digit_to_audible_ms": summary(after_digit, 1000),
            "leak_frames_at_caller": report["leak_frames_at_caller"],
            "supervisor_frames_at_agent_in_monitor": report[
                "supervisor_frames_at_agent_in_monitor"
            ],
            "gap_frames_at_supervisor_per_switch_max": report["gap_frames_per_switch_max"],
        }
        await dialled.party.leg.hangup()
        for tap in wire.values():
            tap.close()
        await wait_no_leftovers(ari, within=3.0)
    for call in calls.values():
        await call.caller.leg.hangup()
    setup = result["setup_answer_to_call_audio_ms"]
    sw = result["switches"]
    result["extra_ms_of_the_hop_median"] = {
        "setup": round(setup[CROSS]["median"] - setup[SAME]["median"], 1),
        "switch_digit_sent_to_audible": round(
            sw[CROSS]["digit_sent_to_audible_ms"]["median"]
            - sw[SAME]["digit_sent_to_audible_ms"]["median"],
            1,
        ),
    }
    result["setup_ratio_cross_to_same_median"] = round(
        statistics.median(setups[CROSS]) / statistics.median(setups[SAME]), 2
    )
    return result
