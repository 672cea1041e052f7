"""Requests for handed-over sessions between two nodes: sealed, addressed, taken
once, answered or timed out; node availability in the directory."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from coachd.cluster.directory import Directory, DirectoryTopics
from coachd.cluster.forwarding import Answer, Forwarded, Forwarder, Handoffs
from coachd.core.commands import Publish
from coachd.mqtt.topics import Message
from tests.mqtt.asyncapi import Contract

SECRET = b"cluster-secret-for-the-unit-tests-0123456789"
PREFIX = "coachd-cluster"


class Wire:
    """A broker stand-in: messages sent by a forwarder, delivered on demand."""

    def __init__(self) -> None:
        self.sent: list[Message] = []

    def send(self, messages: list[Message]) -> None:
        self.sent.extend(messages)


def pair(timeout: float = 1.0) -> tuple[Forwarder, Forwarder, Wire, Wire]:
    home_wire, remote_wire = Wire(), Wire()
    home = Forwarder("pbx", SECRET, PREFIX, home_wire.send, timeout=timeout)
    remote = Forwarder("pbx2", SECRET, PREFIX, remote_wire.send, timeout=timeout)
    return home, remote, home_wire, remote_wire


async def ask(home: Forwarder, **overrides: Any) -> asyncio.Task[Answer]:
    args: dict[str, Any] = {
        "role": "supervisor",
        "user": "sup1",
        "body": {"mode": "barge"},
        "source": "api",
    }
    args.update(overrides)
    task = asyncio.create_task(home.ask("pbx2", "0123456789ab", "mode", **args))
    await asyncio.sleep(0)
    return task


async def test_a_request_reaches_the_sessions_node_and_its_answer_comes_back() -> None:
    home, remote, home_wire, remote_wire = pair()
    task = await ask(home)
    (request_message,) = home_wire.sent
    assert request_message.topic == PREFIX + "/pbx2/requests" and not request_message.retain
    request = remote.take(request_message.payload)
    assert request == Forwarded(
        request_id=request.request_id if request else "",
        origin="pbx",
        session_id="0123456789ab",
        action="mode",
        role="supervisor",
        user="sup1",
        body={"mode": "barge"},
        source="api",
    )
    assert request is not None
    remote.answer(request, Answer(200, {"mode": "barge"}))
    (reply,) = remote_wire.sent
    assert reply.topic == PREFIX + "/pbx/replies"
    home.on_reply(reply.payload)
    assert await task == Answer(200, {"mode": "barge"})


async def test_a_replayed_or_misaddressed_request_is_not_taken() -> None:
    home, remote, home_wire, _ = pair()
    task = await ask(home)
    payload = home_wire.sent[0].payload
    assert remote.take(payload) is not None
    assert remote.take(payload) is None  # the same message again
    third = Forwarder("pbx3", SECRET, PREFIX, Wire().send)
    home2 = Forwarder("pbx", SECRET, PREFIX, Wire().send)
    assert third.take(payload) is None and home2.take(payload) is None
    task.cancel()


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not a token",
        b"v1.eyJzaWQiOiIxIn0.AAAA",
        "v1.\u00e9.x".encode(),
        b"v1." + b"A" * 5000 + b".AAAA",
    ],
)
async def test_anything_but_a_sealed_request_is_dropped(payload: bytes) -> None:
    _, remote, _, _ = pair()
    assert remote.take(payload) is None


async def test_a_request_sealed_with_another_secret_is_dropped() -> None:
    wire = Wire()
    forger = Forwarder("pbx", b"another-secret-of-at-least-32-chars!!", PREFIX, wire.send)
    task = await ask(forger)
    _, remote, _, _ = pair()
    assert remote.take(wire.sent[0].payload) is None
    task.cancel()


async def test_an_expired_request_is_dropped() -> None:
    now = [1_000_000.0]
    wire = Wire()
    home = Forwarder("pbx", SECRET, PREFIX, wire.send, clock=lambda: now[0])
    remote = Forwarder("pbx2", SECRET, PREFIX, Wire().send, clock=lambda: now[0] + 60)
    task = await ask(home)
    assert remote.take(wire.sent[0].payload) is None
    task.cancel()


async def test_a_reply_is_not_taken_for_a_request() -> None:
    home, remote, home_wire, remote_wire = pair()
    task = await ask(home)
    request = remote.take(home_wire.sent[0].payload)
    assert request is not None
    remote.answer(request, Answer(200, {}))
    # Sent to the requests topic instead: another context, not a request.
    assert Forwarder("pbx", SECRET, PREFIX, Wire().send).take(remote_wire.sent[0].payload) is None
    task.cancel()


async def test_no_answer_in_time_is_504_node_unreachable() -> None:
    home, _, _, _ = pair(timeout=0.05)
    answer = await (await ask(home))
    assert answer.status == 504
    assert answer.body["error"]["code"] == "node_unreachable"
    assert answer.body["error"]["details"] == {"node": "pbx2"}


async def test_an_admins_request_needs_no_user_but_a_supervisors_does() -> None:
    home, remote, home_wire, _ = pair()
    tasks = [await ask(home, role="admin", user=None), await ask(home, user=None)]
    admin, nameless = (remote.take(m.payload) for m in home_wire.sent)
    assert admin is not None and admin.role == "admin"
    assert nameless is None
    for task in tasks:
        task.cancel()


async def test_forwarded_messages_match_the_asyncapi_document() -> None:
    home, remote, home_wire, remote_wire = pair()
    task = await ask(home)
    request = remote.take(home_wire.sent[0].payload)
    assert request is not None
    remote.answer(request, Answer(409, {"error": {"code": "session_not_active"}}))
    contract = Contract()
    assert contract.check("site/coachd", home_wire.sent[0].topic, home_wire.sent[0].payload) == (
        "clusterRequests",
        "clusterRequest",
    )
    assert contract.check(
        "site/coachd", remote_wire.sent[0].topic, remote_wire.sent[0].payload
    ) == ("clusterReplies", "clusterReply")
    assert contract.check("site/coachd", "c/pbx2/available", b"offline")[0] == "clusterNode"
    task.cancel()


def test_handoffs_remember_the_node_of_the_newest_sessions() -> None:
    handoffs = Handoffs(limit=2)
    for sid, node in (("a", "pbx2"), ("b", "pbx3"), ("c", "pbx2")):
        handoffs.add(sid, node, "1301")
    assert "a" not in handoffs
    assert (handoffs.node_of("b"), handoffs.node_of("c")) == ("pbx3", "pbx2")
    popped = handoffs.pop("b")
    assert popped is not None and popped.agent == "1301"
    assert handoffs.node_of("b") is None


def test_a_node_is_available_only_while_its_last_word_is_online() -> None:
    directory = Directory("pbx", PREFIX)
    topics = DirectoryTopics(PREFIX)
    now = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    assert directory.unavailable("pbx2") == "node pbx2 has not said it is online"
    node = topics.node_of_available(topics.available("pbx2"))
    assert node == "pbx2"
    directory.apply_available("pbx2", b"online", now)
    assert directory.unavailable("pbx2") is None
    directory.apply_available("pbx2", b"offline", now)  # its Last Will
    assert directory.unavailable("pbx2") == "node pbx2 is offline since 2026-12-02T09:00:00.000Z"
    directory.apply_available("pbx2", b"stopped", now)
    assert "is stopped" in str(directory.unavailable("pbx2"))
    directory.apply_available("pbx", b"offline", now)  # this node's own: not tracked
    assert "pbx" not in directory.nodes
    assert topics.node_of_available(PREFIX + "/a/b/available") is None
    assert topics.node_of_available("other/pbx2/available") is None


def test_events_of_a_handed_over_session_reach_its_home_node_once() -> None:
    _, remote, _, remote_wire = pair()
    home = Forwarder("pbx", SECRET, PREFIX, Wire().send)
    event = Publish("mode_changed", 3, {"session_id": "0123456789ab", "after": "barge"})
    remote.mirror("pbx", event)
    (message,) = remote_wire.sent
    assert message.topic == PREFIX + "/pbx/events" and not message.retain
    assert home.take_event(message.payload) == event
    assert home.take_event(message.payload) is None  # sent again: taken once
    assert Forwarder("pbx3", SECRET, PREFIX, Wire().send).take_event(message.payload) is None
    assert Contract().check("site/coachd", message.topic, message.payload) == (
        "clusterEvents",
        "clusterEvent",
    )


@pytest.mark.parametrize(
    "event",
    [
        Publish("rm -rf", 1, {"session_id": "0123456789ab"}),
        Publish("session_started", 1, {"agent": "1301"}),
    ],
)
def test_an_event_of_no_known_kind_or_session_is_dropped(event: Publish) -> None:
    _, remote, _, remote_wire = pair()
    remote.mirror("pbx", event)
    home = Forwarder("pbx", SECRET, PREFIX, Wire().send)
    assert home.take_event(remote_wire.sent[0].payload) is None


async def test_a_request_is_not_taken_for_an_event() -> None:
    home, _, home_wire, _ = pair()
    task = await ask(home)
    remote = Forwarder("pbx2", SECRET, PREFIX, Wire().send)
    assert remote.take_event(home_wire.sent[0].payload) is None
    task.cancel()
