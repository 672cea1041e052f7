"""A request another node forwarded is answered as this node's own API (or MQTT
control) would answer it."""

from __future__ import annotations

from typing import Any

from coachd.cluster.forwarding import Forwarded
from coachd.core import commands as c
from coachd.http.feed import EventFeed
from coachd.http.session_ops import SessionOps

SID = "0123456789ab"


class Engine:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str, str, str]] = []
        self.ended: list[str] = []
        self.answer: str | None = None

    def request_mode(self, session_id: str, supervisor: str, mode: str, source: str) -> str | None:
        self.asked.append((session_id, supervisor, mode, source))
        return self.answer

    def end_session(self, session_id: str, reason: str) -> bool:
        self.ended.append(session_id)
        return True


def forwarded(
    action: str, *, user: str | None = "sup1", role: str = "supervisor", **kw: Any
) -> Forwarded:
    return Forwarded(
        request_id="r" * 32,
        origin="pbx",
        session_id=kw.pop("sid", SID),
        action=action,
        role=role,  # type: ignore[arg-type]
        user=user,
        body=kw.pop("body", {}),
        source=kw.pop("source", "api"),
    )


async def ops_with_session() -> tuple[SessionOps, Engine]:
    feed = EventFeed("pbx2")
    data = {"session_id": SID, "agent": "1301", "supervisor": "sup1", "mode": "whisper"}
    await feed.publish(None, c.Publish("session_started", 1, data))  # type: ignore[arg-type]
    engine = Engine()
    return SessionOps(engine, feed, ["slow-down"]), engine  # type: ignore[arg-type]


async def test_a_forwarded_get_shows_the_session_to_its_supervisor_and_admins_only() -> None:
    ops, _ = await ops_with_session()
    mine = await ops.perform(forwarded("get"))
    assert (mine.status, mine.body["mode"], mine.body["state"]) == (200, "whisper", "active")
    assert (await ops.perform(forwarded("get", role="admin", user=None))).status == 200
    other = await ops.perform(forwarded("get", user="sup2"))
    assert (other.status, other.body["error"]["code"]) == (404, "not_found")
    bad = await ops.perform(forwarded("get", sid="nothex"))
    assert (bad.status, bad.body["error"]["code"]) == (400, "invalid_id")


async def test_a_forwarded_patch_is_validated_like_a_local_one() -> None:
    ops, engine = await ops_with_session()
    wrong = await ops.perform(forwarded("mode", body={"mode": "shout"}))
    assert (wrong.status, wrong.body["error"]["details"]) == (422, {"field": "mode"})
    same = await ops.perform(forwarded("mode", body={"mode": "whisper"}))
    assert same.status == 200 and engine.asked == []  # already in it


async def test_a_forwarded_delete_ends_the_session() -> None:
    ops, engine = await ops_with_session()
    answer = await ops.perform(forwarded("end"))
    assert (answer.status, answer.body) == (202, {"session_id": SID, "state": "ending"})
    assert engine.ended == [SID]


async def test_a_forwarded_mqtt_set_answers_like_the_mqtt_control() -> None:
    ops, engine = await ops_with_session()
    ok = await ops.perform(forwarded("mode", body={"mode": "barge"}, source="mqtt"))
    assert ok.status == 200
    assert engine.asked == [(SID, "sup1", "barge", "mqtt")]
    engine.answer = "not_your_session"
    refused = await ops.perform(
        forwarded("mode", user="sup2", body={"mode": "barge"}, source="mqtt")
    )
    assert (refused.status, refused.body["error"]["code"]) == (409, "not_your_session")
