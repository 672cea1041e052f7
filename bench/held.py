"""Held soak: many coached calls at once, held for minutes, with random switches.

N customers call agents 1100.. over the carrier trunk and the agents answer
(``tones``: every leg also sends its tone; off by default, see below); then
supervisor phone 2001 dials ``*222<agent>`` for each, so N sessions run at
once. For ``minutes``, a random session switches to a random other mode over
the HTTP API every ``interval`` seconds (PATCH returns once the new routing is
in place), and every 30 s coachd's RSS, open file descriptors and CPU are
sampled. At the end every supervisor hangs up: sessions started vs ended vs
coaching-log rows (every session on record), anything of coachd's left in
Asterisk, and the error records in coachd's log.

Without tones the phones instance does not generate 2N continuous tones and
Asterisk mixes no audio: on the 2-core sandbox that is what stops Asterisk
answering ARI at 75-100 calls (``bench/scale.py``), and coachd's own work
(snoops, bridges, mutes, events, log rows) is the same with or without them.
Every leg still says a 200 ms tone once a minute: the sandbox's endpoints
hang up a call after 300 s without RTP (``rtp_timeout``, as a production
PBX should), which would end every session after five minutes.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import aiohttp

from bench.events import EventCollector
from bench.scale import FIRST_AGENT, cpu_seconds, rss_mb
from bench.soak import coaching_log_counts, open_fds
from bench.stats import summary
from coachd.ari.client import AriClient
from tests.integration.conftest import coachd_leftovers, wait_no_leftovers
from tests.sandbox.callcenter import TONES
from tests.sandbox.daemon import Daemon
from tests.sandbox.phones import Leg, Phones

MODES = ("monitor", "whisper", "barge", "private_whisper")
SAMPLE_EVERY = 30.0
KEEPALIVE_EVERY = 60.0
"""Seconds between two short tones of each leg (the sandbox's rtp_timeout is 300)."""


async def keep_talking(legs: list[Leg]) -> None:
    """Each leg says a short tone every :data:`KEEPALIVE_EVERY` seconds, spread out."""
    while True:
        for leg in legs:
            await leg.say(f"tone:!{TONES['caller']:g}/200")
            await asyncio.sleep(KEEPALIVE_EVERY / len(legs))


async def run(
    sessions: int,
    minutes: float,
    daemon: Daemon,
    pbx: AriClient,
    http: str,
    token: str,
    *,
    interval: float = 0.5,
    tones: bool = False,
) -> dict[str, Any]:
    assert daemon.proc is not None
    pid = daemon.proc.pid
    agents = [str(FIRST_AGENT + i) for i in range(sessions)]
    async with EventCollector(daemon.mqtt_prefix) as events, Phones.connect() as phones:
        mark = len(events.received)
        legs: list[Leg] = []
        for agent in agents:
            calling = asyncio.create_task(phones.call("carrier", agent))
            agent_leg = await phones.answer(agent)
            caller_leg = await calling
            legs += [caller_leg, agent_leg]
            if tones:
                await caller_leg.say_tone(TONES["caller"])
                await agent_leg.say_tone(TONES["agent"])
        supervisors: list[Leg] = []
        ids: dict[str, str] = {}
        for agent in agents:
            supervisors.append(await phones.call("2001", "*222" + agent))
            started = await events.wait(
                lambda e, a=agent: e["type"] == "session_started" and e["agent"] == a,
                since=mark,
            )
            ids[agent] = started.payload["session_id"]
        keepalive = None if tones else asyncio.create_task(keep_talking(legs + supervisors))
        modes = dict.fromkeys(ids.values(), "monitor")
        samples: list[dict[str, float]] = []
        switch_times: list[float] = []
        failed: list[str] = []
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        next_sample = t0
        headers = {"Authorization": "Bearer " + token}
        async with aiohttp.ClientSession(headers=headers) as client:
            while time.monotonic() - t0 < minutes * 60:
                now = time.monotonic()
                if now >= next_sample:
                    samples.append(
                        {
                            "at_s": round(now - t0, 1),
                            "rss_mb": rss_mb(pid),
                            "fds": open_fds(pid),
                            "cpu_percent": round(
                                (cpu_seconds(pid) - cpu0) / max(now - t0, 1e-3) * 100, 1
                            ),
                        }
                    )
                    next_sample += SAMPLE_EVERY
                sid = random.choice(list(ids.values()))
                mode = random.choice([m for m in MODES if m != modes[sid]])
                url = "http://" + http + "/v1/sessions/" + sid
                asked = time.monotonic()
                async with client.patch(url, json={"mode": mode}) as response:
                    if response.status == 200:
                        modes[sid] = mode
                        switch_times.append(time.monotonic() - asked)
                    else:
                        failed.append(f"{response.status} {await response.text()}"[:200])
                await asyncio.sleep(interval)
        samples.append(
            {
                "at_s": round(time.monotonic() - t0, 1),
                "rss_mb": rss_mb(pid),
                "fds": open_fds(pid),
                "cpu_percent": round((cpu_seconds(pid) - cpu0) / (time.monotonic() - t0) * 100, 1),
            }
        )
        ended_early = [
            a.payload.get("reason")
            for a in events.received[mark:]
            if a.payload["type"] == "session_ended"
        ]
        if keepalive is not None:
            keepalive.cancel()
        for leg in supervisors:
            await leg.hangup()
        await events.wait_count(lambda e: e["type"] == "session_ended", sessions, since=mark)
        kinds = [a.payload["type"] for a in events.received[mark:]]
    await wait_no_leftovers(pbx, within=30.0)
    counts = await coaching_log_counts(daemon)
    first, last = samples[0], samples[-1]
    return {
        "sessions": sessions,
        "minutes": minutes,
        "tones": tones,
        "switches": len(switch_times),
        "failed_switches": failed,
        "switch_http_ms": summary(switch_times, 1000),
        "sessions_started": kinds.count("session_started"),
        "sessions_ended": kinds.count("session_ended"),
        "sessions_ended_before_the_end": ended_early,
        "mode_changes": kinds.count("mode_changed"),
        "coaching_log_sessions": counts.get("coachd_coaching_log"),
        "coaching_log_periods": counts.get("coachd_mode_periods"),
        "leftovers_in_asterisk": await coachd_leftovers(pbx),
        "errors_in_log": [r for r in daemon.records() if r.get("level") in ("error", "critical")],
        "rss_mb_first_last": [first["rss_mb"], last["rss_mb"]],
        "open_fds_first_last": [first["fds"], last["fds"]],
        "samples": samples,
    }
