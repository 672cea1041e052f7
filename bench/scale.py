"""Many coached calls at once: coachd's CPU and memory, Asterisk's CPU, and how
set-up and switch latency grow with the number of sessions.

At each level L: L customers call agents 1100.. (tones on every leg), then
supervisor phone 2001 dials ``*222<agent>`` for each, one after the other
(set-up: answered -> ``session_started`` at an MQTT subscriber). With all L
sessions live, a 10 s window with a switch every 0.5 s over the HTTP API
(PATCH returns once the new routing is in place) measures CPU; then a burst:
every session switched at once (request -> ``mode_changed`` at the MQTT
subscriber, and the events per second that made).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from bench.events import EventCollector
from bench.stats import summary
from coachd.ari.client import AriClient
from tests.integration.conftest import wait_no_leftovers
from tests.sandbox.callcenter import TONES
from tests.sandbox.daemon import Daemon
from tests.sandbox.phones import Leg, Phones

REPO = Path(__file__).resolve().parents[1]
PBX_PIDFILE = REPO / ".sandbox/root/run/coachd-sandbox/pbx/asterisk.pid"
PHONES_PIDFILE = REPO / ".sandbox/root/run/coachd-sandbox/phones/asterisk.pid"
FIRST_AGENT = 1100
WINDOW = 10.0
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _started_for(agent: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["type"] == "session_started" and e["agent"] == agent


async def level(
    size: int, phones: Phones, daemon: Daemon, events: EventCollector, http: str, token: str
) -> dict[str, Any]:
    agents = [str(FIRST_AGENT + i) for i in range(size)]
    mark = len(events.received)
    for i, agent in enumerate(agents):
        try:
            calling = asyncio.create_task(phones.call("carrier", agent))
            agent_leg = await phones.answer(agent)
            caller_leg = await calling
        except TimeoutError:
            raise TimeoutError(f"call {i + 1} of {size} not answered in 10 s") from None
        await caller_leg.say_tone(TONES["caller"])
        await agent_leg.say_tone(TONES["agent"])
    supervisors: list[Leg] = []
    setups = []
    sessions: dict[str, str] = {}
    for i, agent in enumerate(agents):
        try:
            leg = await phones.call("2001", "*222" + agent)
        except TimeoutError:
            raise TimeoutError(f"supervisor call {i + 1} of {size} not answered") from None
        answered = time.time()
        supervisors.append(leg)
        try:
            started = await events.wait(_started_for(agent), since=mark)
        except TimeoutError:
            raise TimeoutError(f"session {i + 1} of {size} not started in 10 s") from None
        setups.append(started.arrived - answered)
        sessions[agent] = started.payload["session_id"]

    assert daemon.proc is not None
    coachd_pid = daemon.proc.pid
    pbx_pid = int(PBX_PIDFILE.read_text())
    phones_pid = int(PHONES_PIDFILE.read_text())
    headers = {"Authorization": "Bearer " + token}
    async with aiohttp.ClientSession(headers=headers) as client:

        async def patch(session_id: str, mode: str) -> float:
            t = time.monotonic()
            url = "http://" + http + "/v1/sessions/" + session_id
            async with client.patch(url, json={"mode": mode}) as response:
                response.raise_for_status()
            return time.monotonic() - t

        cpu0 = {pid: cpu_seconds(pid) for pid in (coachd_pid, pbx_pid, phones_pid)}
        t0 = time.monotonic()
        switch_times = []
        modes = dict.fromkeys(sessions.values(), "monitor")
        while time.monotonic() - t0 < WINDOW:
            sid = random.choice(list(sessions.values()))
            modes[sid] = "whisper" if modes[sid] == "monitor" else "monitor"
            switch_times.append(await patch(sid, modes[sid]))
            await asyncio.sleep(0.5)
        wall = time.monotonic() - t0
        cpu = {pid: (cpu_seconds(pid) - cpu0[pid]) / wall * 100 for pid in cpu0}

        # Burst: every session to barge at once (a different mode from all of them).
        mark = len(events.received)
        sent = time.time()
        await asyncio.gather(*(patch(sid, "barge") for sid in sessions.values()))
        burst = await events.wait_count(
            lambda e: e["type"] == "mode_changed" and e["after"] == "barge", size, since=mark
        )
    arrivals = [r.arrived - sent for r in burst]
    span = max(r.arrived for r in burst) - min(r.arrived for r in burst)
    result = {
        "sessions": size,
        "setup_answer_to_session_started_ms": summary(setups, 1000),
        "switch_http_ms": summary(switch_times, 1000),
        "coachd_cpu_percent_of_one_core": round(cpu[coachd_pid], 1),
        "coachd_rss_mb": rss_mb(coachd_pid),
        "asterisk_pbx_cpu_percent_of_one_core": round(cpu[pbx_pid], 1),
        "asterisk_phones_cpu_percent_of_one_core": round(cpu[phones_pid], 1),
        "burst_request_to_mqtt_ms": summary(arrivals, 1000),
        "burst_events_per_second": round(size / span, 0) if span > 0 else None,
    }
    for leg in supervisors:
        await leg.hangup()
    return result


async def run(
    levels: list[int], daemon: Daemon, pbx: AriClient, http: str, token: str
) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    broke: dict[str, Any] | None = None
    async with EventCollector(daemon.mqtt_prefix) as events:
        for size in levels:
            try:
                async with Phones.connect() as phones:
                    results.append(await level(size, phones, daemon, events, http, token))
            except (TimeoutError, aiohttp.ClientError, OSError, RuntimeError) as exc:
                broke = {"sessions": size, "error": type(exc).__name__ + ": " + str(exc)}
            await wait_no_leftovers(pbx, within=30.0)
            if broke is not None:
                break
    return {"levels": results, "broke": broke}
