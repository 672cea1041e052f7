"""What the publisher really sends through the broker matches docs/asyncapi.yaml."""

from __future__ import annotations

from coachd.core.commands import Publish
from tests.mqtt.asyncapi import Contract
from tests.mqtt.conftest import StartPublisher, Subscriber, data, lifecycle, retained, session


async def test_captured_traffic_validates(prefix: str, start_publisher: StartPublisher) -> None:
    contract = Contract()
    async with Subscriber(prefix) as sub:
        running = await start_publisher()
        pub = running.publisher
        alice = lifecycle("s1", agent="agent/1", sup="alice")
        bob = lifecycle("s2", agent="agent/1", sup="bob", changes=1)
        await pub.publish(session("s1"), alice[0])
        await pub.publish(session("s2"), bob[0])
        await pub.publish(session("s1"), alice[1])
        refused_mode = {**data("s2", mode="monitor"), "requested": "barge", "source": "dtmf"}
        refused_mode["reason"] = "another_supervisor_talking"
        await pub.publish(session("s2"), Publish("mode_refused", 2, refused_mode))
        await running.drained()
        mid_session = await retained(prefix)
        for event in alice[2:]:
            await pub.publish(session("s1"), event)
        await pub.publish(session("s2"), bob[-1])
        refused = {**data("s3", sup=None, mode=None), "reason": "agent_not_on_call"}
        refused["detail"] = "the agent has no call in progress"
        await pub.publish(session("s3"), Publish("session_refused", 1, refused))
        await running.stop()
        await sub.wait_for(lambda: any(r.payload == b"stopped" for r in sub.received))

    kinds: dict[tuple[str, str], int] = {}
    for r in sub.received:
        kind = contract.check(prefix, r.topic, r.payload)
        kinds[kind] = kinds.get(kind, 0) + 1
    for topic, payload in mid_session.items():
        kind = contract.check(prefix, topic, payload)
        assert kind[0] in ("available", "sessionState", "agentState")
    assert set(kinds) == {
        ("sync", "marker"),
        ("available", "availability"),
        ("events", "event"),
        ("sessionState", "sessionState"),
        ("sessionState", "cleared"),
        ("agentState", "agentState"),
        ("agentState", "cleared"),
    }
    assert kinds[("events", "event")] == len(alice) + 2 + 2  # bob: start, end; mode_refused; s3
