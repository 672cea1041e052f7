"""Soak: sessions started, switched and ended over and over for a while.

Each round: a customer calls an agent (1100 + round % 10), supervisor phone
2001 dials ``*222<agent>``, presses 5, 6, 4 (whisper, barge, monitor) and *,
then the call ends. Every ``--soak-minutes`` of this, coachd's RSS and open
file descriptors are sampled; at the end: sessions started vs ended vs coaching
log rows (every session on record), anything of coachd's left in Asterisk, and
how memory grew (a leak shows as steady growth per round).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from bench.events import EventCollector
from bench.scale import rss_mb
from coachd.ari.client import AriClient
from coachd.storage.store import open_store
from tests.integration.conftest import coachd_leftovers, wait_no_leftovers
from tests.sandbox.callcenter import TONES
from tests.sandbox.daemon import Daemon
from tests.sandbox.phones import Phones


def open_fds(pid: int) -> int:
    return sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())


async def coaching_log_counts(daemon: Daemon) -> dict[str, int]:
    """Rows per table of ``daemon``'s coaching log, once it has caught up."""
    await asyncio.sleep(1.0)  # the coaching log writes behind
    store = open_store(daemon.database_url)
    try:
        return await store.counts()
    finally:
        await store.close()


async def one_round(phones: Phones, agent: str, events: EventCollector, since: int) -> None:
    calling = asyncio.create_task(phones.call("carrier", agent))
    agent_leg = await phones.answer(agent)
    caller = await calling
    await caller.say_tone(TONES["caller"])
    await agent_leg.say_tone(TONES["agent"])
    sup = await phones.call("2001", "*222" + agent)
    await events.wait(lambda e: e["type"] == "session_started" and e["agent"] == agent, since=since)
    for digit in "564":
        await sup.dtmf(digit)
        await asyncio.sleep(0.4)
    await sup.dtmf("*")
    await events.wait(lambda e: e["type"] == "session_ended" and e["agent"] == agent, since=since)
    await caller.hangup()
    await asyncio.wait_for(agent_leg.hung_up.wait(), 5)


async def run(minutes: float, daemon: Daemon, pbx: AriClient) -> dict[str, Any]:
    assert daemon.proc is not None
    pid = daemon.proc.pid
    samples: list[dict[str, float]] = []
    rounds = failures = 0
    started = time.monotonic()
    async with EventCollector(daemon.mqtt_prefix) as events:
        mark = len(events.received)
        while time.monotonic() - started < minutes * 60:
            async with Phones.connect() as phones:
                for _ in range(10):
                    since = len(events.received)
                    try:
                        await one_round(phones, str(1100 + rounds % 10), events, since)
                    except TimeoutError:
                        failures += 1
                    rounds += 1
            await wait_no_leftovers(pbx, within=5.0)
            samples.append(
                {
                    "at_s": round(time.monotonic() - started, 1),
                    "rounds": rounds,
                    "rss_mb": rss_mb(pid),
                    "fds": open_fds(pid),
                }
            )
        kinds = [a.payload["type"] for a in events.received[mark:]]
    counts = await coaching_log_counts(daemon)
    first, last = samples[0], samples[-1]
    growth = (last["rss_mb"] - first["rss_mb"]) / max(1, last["rounds"] - first["rounds"])
    return {
        "minutes": minutes,
        "rounds": rounds,
        "failed_rounds": failures,
        "sessions_started": kinds.count("session_started"),
        "sessions_ended": kinds.count("session_ended"),
        "mode_changes": kinds.count("mode_changed"),
        "coaching_log_sessions": counts.get("coachd_coaching_log"),
        "coaching_log_periods": counts.get("coachd_mode_periods"),
        "leftovers_in_asterisk": await coachd_leftovers(pbx),
        "rss_mb_first_last": [first["rss_mb"], last["rss_mb"]],
        "rss_kb_per_round_after_warmup": round(growth * 1024, 1),
        "open_fds_first_last": [first["fds"], last["fds"]],
        "samples": samples,
        "log": str(Path(daemon.log_path).name),
    }
