"""Session events on MQTT (real Mosquitto), driven by real calls on the sandbox."""

from __future__ import annotations

import asyncio
import json
import statistics
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from typing import Any

import aiomqtt
import pytest

from coachd.ari.client import AriClient
from tests.integration.conftest import wait_no_leftovers
from tests.sandbox.callcenter import connect_call, settle, supervisor_dials
from tests.sandbox.daemon import ARTIFACTS, Daemon
from tests.sandbox.phones import Phones


class Subscriber:
    """Everything published under a prefix, with the wall-clock time it arrived."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.messages: list[tuple[float, str, bytes, bool]] = []
        self.arrived = asyncio.Event()
        self.task = asyncio.create_task(self._collect())

    async def _collect(self) -> None:
        async for message in self.client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else b""
            self.messages.append(
                (datetime.now().timestamp(), str(message.topic), payload, message.retain)
            )
            self.arrived.set()

    async def until(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                self.arrived.clear()
                await self.arrived.wait()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(p) for _, t, p, _ in self.messages if t.endswith("/events")]

    async def wait_events(self, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        await self.until(lambda: len(self.events()) >= n, timeout)
        return self.events()

    def retained(self, topic: str) -> list[bytes]:
        return [p for _, t, p, r in self.messages if t == topic and r]


@pytest.fixture(scope="module")
def coachd_daemon() -> Iterator[Daemon]:
    """This module's coachd takes mode requests over MQTT ([mqtt] control)."""
    with Daemon(env={"COACHD_MQTT__CONTROL": "true"}, name="mqtt-control").running() as daemon:
        yield daemon


@pytest.fixture
async def subscribe() -> AsyncIterator[Any]:
    clients: list[tuple[aiomqtt.Client, Subscriber]] = []

    async def _subscribe(topic: str) -> Subscriber:
        client = aiomqtt.Client("127.0.0.1", 1883)
        await client.__aenter__()
        await client.subscribe(topic, qos=1)
        sub = Subscriber(client)
        clients.append((client, sub))
        return sub

    yield _subscribe
    for client, sub in clients:
        sub.task.cancel()
        await client.__aexit__(None, None, None)


async def test_a_coached_call_publishes_its_events_and_retained_state(
    phones: Phones, pbx: AriClient, coachd: Daemon, subscribe: Any
) -> None:
    prefix = coachd.mqtt_prefix
    watcher = await subscribe(prefix + "/#")
    call = await connect_call(phones)
    dialled = await supervisor_dials(phones, "2001", "*2231042")
    sup = dialled.party
    t = await settle(call, sup, "whisper", after=dialled.answered_at)
    await sup.leg.dtmf("6")
    t = await settle(call, sup, "barge", after=t)
    await sup.leg.dtmf("4")
    await settle(call, sup, "monitor", after=t)

    started = next(e for e in await watcher.wait_events(3) if e["type"] == "session_started")
    session_id = started["session_id"]
    state_topic = f"{prefix}/sessions/{session_id}/state"
    agent_topic = f"{prefix}/agents/1042/state"

    # A dashboard that connects in the middle of the session sees where things stand.
    late = await subscribe(prefix + "/#")
    await late.until(lambda: bool(late.retained(state_topic) and late.retained(agent_topic)))
    state = json.loads(late.retained(state_topic)[-1])
    assert (state["mode"], state["state"], state["supervisor"]) == ("monitor", "active", "sup1")
    agent = json.loads(late.retained(agent_topic)[-1])
    assert agent["coached"] is True
    assert [s["supervisor"] for s in agent["sessions"]] == ["sup1"]
    assert late.retained(prefix + "/available")[-1] == b"online"

    await sup.leg.hangup()
    assert await wait_no_leftovers(pbx, within=1.0) == []
    events = [e for e in await watcher.wait_events(4) if e["session_id"] == session_id]
    assert [(e["type"], e.get("before"), e.get("after")) for e in events] == [
        ("session_started", None, None),
        ("mode_changed", "whisper", "barge"),
        ("mode_changed", "barge", "monitor"),
        ("session_ended", None, None),
    ]
    assert [e["seq"] for e in events] == [1, 2, 3, 4]
    assert events[-1]["reason"] == "supervisor_hangup"
    assert len({e["event_id"] for e in events}) == 4
    assert all(e["instance"] == "sandbox" for e in events)

    # After the end the retained state is gone: a new subscriber gets nothing for it.
    after = await subscribe(prefix + "/#")
    await asyncio.sleep(0.5)
    assert after.retained(state_topic) == []
    assert after.retained(agent_topic) == []

    # Latency: the ARI DTMF event reaching coachd to the MQTT event at the subscriber.
    digits = [
        datetime.fromisoformat(r["timestamp"]).timestamp()
        for r in coachd.records(since_checkpoint=True)
        if r.get("event") == "dtmf_received"
    ]
    arrivals = [
        at
        for at, topic, payload, _ in watcher.messages
        if topic.endswith("/events") and json.loads(payload)["type"] == "mode_changed"
    ]
    latencies = [(a - d) * 1000 for a, d in zip(arrivals, digits, strict=True)]
    (ARTIFACTS / "mqtt-latency.json").write_text(
        json.dumps(
            {"dtmf_event_to_mqtt_ms": latencies, "median": statistics.median(latencies)},
            indent=2,
        )
    )
    assert len(latencies) == 2


async def test_mode_requests_over_mqtt_switch_the_session_with_the_keypad_rules(
    phones: Phones, pbx: AriClient, coachd: Daemon, subscribe: Any
) -> None:
    prefix = coachd.mqtt_prefix
    watcher = await subscribe(prefix + "/#")
    call = await connect_call(phones)
    dialled = await supervisor_dials(phones, "2002", "*2221042")  # sup2: monitor, whisper
    sup = dialled.party
    t = await settle(call, sup, "monitor", after=dialled.answered_at)
    started = next(e for e in await watcher.wait_events(1) if e["type"] == "session_started")
    set_topic = f"{prefix}/sessions/{started['session_id']}/set"
    result_topic = set_topic + "/result"

    async def ask(payload: bytes) -> dict[str, Any]:
        before = len([m for m in watcher.messages if m[1] == result_topic])
        await watcher.client.publish(set_topic, payload, qos=1)
        await watcher.until(
            lambda: len([m for m in watcher.messages if m[1] == result_topic]) > before
        )
        return dict(json.loads([m for m in watcher.messages if m[1] == result_topic][-1][2]))

    assert await ask(b'{"mode": "whisper", "supervisor": "sup2", "request_id": "a"}') == {
        "ok": True,
        "request_id": "a",
    }
    t = await settle(call, sup, "whisper", after=t)
    # Refused: barge is not granted to sup2, sup1 is not this session's supervisor,
    # garbage is answered, not crashed on.
    assert (await ask(b'{"mode": "barge", "supervisor": "sup2"}'))["error"] == "not_permitted"
    assert (await ask(b'{"mode": "monitor", "supervisor": "sup1"}'))["error"] == "not_your_session"
    assert (await ask(b"{]"))["error"] == "invalid_request"
    assert (await ask(b'{"mode": "shout", "supervisor": "sup2"}'))["error"] == "invalid_mode"
    await asyncio.sleep(0.5)
    assert call.caller.ear.capture.count_with("supervisor", dialled.answered_at) == 0

    assert (await ask(b'{"mode": "monitor", "supervisor": "sup2"}'))["ok"] is True
    await settle(call, sup, "monitor", after=t)
    changes = [e for e in watcher.events() if e["type"] == "mode_changed"]
    assert [(e["after"], e["source"]) for e in changes] == [
        ("whisper", "mqtt"),
        ("monitor", "mqtt"),
    ]
    await sup.leg.hangup()
    assert await wait_no_leftovers(pbx, within=1.0) == []
