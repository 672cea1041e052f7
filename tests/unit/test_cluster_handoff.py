"""The engine's side of multi-server coaching, against a fake ARI: the hand-off on
the supervisor's node, and the grant checks on the agent's node."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from coachd.ari.client import AriClient, Channel, Endpoint
from coachd.ari.errors import AriNotFound
from coachd.authorize import ConfigAuthorizer, EndpointResolver
from coachd.cluster.directory import LocalDirectory
from coachd.cluster.node import ClusterNode, ClusterResolver
from coachd.cluster.signing import GrantRefused, Verifier
from coachd.config import Config, parse_config
from coachd.core import commands as c
from coachd.core.modes import Mode
from coachd.core.registry import Registry
from coachd.core.session import Session
from coachd.engine import Engine

SECRET = "cluster-secret-for-the-unit-tests-0123456789"


class FakeAri:
    """Records every call; knows the endpoints and channels it is given."""

    def __init__(self, agents: dict[str, str] | None = None) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.agents = agents or {}  # agent resource -> its Up channel id

    async def get_endpoint(self, technology: str, resource: str) -> Endpoint:
        if resource not in self.agents:
            raise AriNotFound(404, "no endpoint", method="GET", path="/endpoints")
        return Endpoint(technology, resource, "online", (self.agents[resource],))

    async def get_channel(self, channel_id: str) -> Channel:
        return Channel(channel_id, "PJSIP/x-1", "Up", "", "")

    # The real client's mapping onto ARI's REST call, recorded as that call.
    continue_in_dialplan = AriClient.continue_in_dialplan

    def __getattr__(self, name: str) -> Callable[..., Awaitable[None]]:
        async def record(*args: Any, **kwargs: Any) -> None:
            self.calls.append((name, args, kwargs))

        return record

    def named(self, name: str) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
        return [(a, k) for n, a, k in self.calls if n == name]


class Sink:
    def __init__(self) -> None:
        self.events: list[c.Publish] = []

    async def publish(self, session: Session, event: c.Publish) -> None:
        self.events.append(event)


def config(node: str, **cluster: Any) -> Config:
    return parse_config(
        {
            "instance": node,
            "ari": {"url": "http://127.0.0.1:8088", "username": "coachd", "password": "pw"},
            "mqtt": {"url": "mqtt://127.0.0.1:1883"},
            "cluster": {"enabled": True, "secret": SECRET, **cluster},
            "supervisors": [
                {
                    "user": "sup1",
                    "endpoints": ["PJSIP/2001"],
                    "user_level": 8,
                    "modes": ["monitor", "whisper"],
                }
            ],
        },
        {},
    )


def node_engine(cfg: Config, ari: FakeAri) -> tuple[Engine, ClusterNode, Sink]:
    cluster = ClusterNode(
        cfg.cluster,
        instance=cfg.instance,
        technologies=("PJSIP",),
        supervisor_endpoints=("PJSIP/2001",),
    )
    agents = EndpointResolver(ari, ("PJSIP",))  # type: ignore[arg-type]
    authorizer = ConfigAuthorizer(cfg, ClusterResolver(agents, cluster.directory))
    sink = Sink()
    engine = Engine(
        ari=ari,  # type: ignore[arg-type]
        app="coachd",
        registry=Registry(),
        authorizer=authorizer,
        sink=sink,
    )
    engine.cluster, engine.agents = cluster, agents
    return engine, cluster, sink


async def arrive(engine: Engine, cid: str, name: str, *args: str) -> None:
    await engine.on_ari_event(
        {"type": "StasisStart", "channel": {"id": cid, "name": name}, "args": list(args)}
    )
    for _ in range(50):
        await asyncio.sleep(0)


def agent_on_pbx2(cluster: ClusterNode, agent: str = "1301", status: str = "online") -> None:
    """pbx2 lists ``agent`` on a call, and its ``available`` topic says ``status``."""
    (m,) = LocalDirectory("pbx2", "coachd-cluster").update(
        {agent: "PJSIP/" + agent}, datetime.now(UTC)
    )
    cluster.on_message(m.topic, m.payload, retained=True)
    cluster.directory.apply_available("pbx2", status.encode(), datetime.now(UTC))


async def test_home_node_hands_the_supervisor_over_with_a_signed_grant() -> None:
    ari = FakeAri()
    engine, cluster, sink = node_engine(config("pbx"), ari)
    agent_on_pbx2(cluster)
    await arrive(engine, "sup-1", "PJSIP/2001-00000001", "whisper", "1301")
    calls = [n for n, _, _ in ari.calls]
    assert calls == ["answer", "set_variable", "set_variable", "set_variable", "request"]
    grant_var, trunk_var, session_var = [a for a, _ in ari.named("set_variable")]
    assert grant_var[:2] == ("sup-1", "_COACHD_GRANT")
    assert trunk_var == ("sup-1", "COACHD_TRUNK", "PJSIP/coachd@coachd-pbx2")
    assert session_var[:2] == ("sup-1", "COACHD_SESSION")
    assert cluster.handoffs.node_of(session_var[2]) == "pbx2"
    (args, kwargs) = ari.named("request")[0]
    assert args == ("POST", "/channels/sup-1/continue")
    assert kwargs["params"] == {
        "context": "coachd-cluster-out",
        "extension": "handoff",
        "priority": 1,
    }
    grant = Verifier("pbx2", SECRET.encode()).verify(grant_var[2])
    assert (grant.issuer, grant.supervisor, grant.endpoint, grant.agent) == (
        "pbx",
        "sup1",
        "PJSIP/2001",
        "1301",
    )
    assert grant.mode is Mode.WHISPER
    assert grant.modes == {Mode.MONITOR, Mode.WHISPER}
    assert sink.events == []  # the session's events are the agent's node's
    assert engine.registry.sessions == {}


@pytest.mark.parametrize(("status", "said"), [("offline", "is offline"), ("stopped", "is stopped")])
async def test_an_agent_on_a_node_that_is_gone_is_refused_with_that_reason(
    status: str, said: str
) -> None:
    ari = FakeAri()
    engine, cluster, sink = node_engine(config("pbx"), ari)
    agent_on_pbx2(cluster, status=status)  # its Last Will (offline) or a clean stop
    await arrive(engine, "sup-1", "PJSIP/2001-00000001", "whisper", "1301")
    assert ari.named("set_variable") == [] and ari.named("request") == []
    (refused,) = sink.events
    assert refused.type == "session_refused" and refused.data["reason"] == "node_unavailable"
    assert "node pbx2 " + said in str(refused.data["detail"])
    assert ari.named("play_on_channel")  # told, then hung up: nobody is left waiting


async def test_a_node_never_heard_of_takes_no_session() -> None:
    ari = FakeAri()
    engine, cluster, sink = node_engine(config("pbx"), ari)
    agent_on_pbx2(cluster)
    cluster.directory.apply_available("pbx2", b"", datetime.now(UTC))  # status cleared
    await arrive(engine, "sup-1", "PJSIP/2001-00000001", "whisper", "1301")
    assert [e.data["reason"] for e in sink.events] == ["node_unavailable"]


async def test_a_failed_trunk_call_is_refused_on_the_home_node_under_its_session_id() -> None:
    ari = FakeAri()
    engine, cluster, sink = node_engine(config("pbx"), ari)
    agent_on_pbx2(cluster)
    await arrive(engine, "sup-1", "PJSIP/2001-00000001", "whisper", "1301")
    (_, _, (_, _, sid)) = [a for a, _ in ari.named("set_variable")]
    ari.calls.clear()
    # The dialplan's Dial() failed: the call comes back with the DIALSTATUS.
    await arrive(engine, "sup-1b", "PJSIP/2001-00000001", "cluster-failed", sid, "CHANUNAVAIL")
    (refused,) = sink.events
    assert refused.type == "session_refused"
    assert refused.data["reason"] == "node_unreachable"
    assert refused.data["session_id"] == sid and refused.data["agent"] == "1301"
    assert "pbx2: CHANUNAVAIL" in str(refused.data["detail"])
    assert "answer" not in [n for n, _, _ in ari.calls]  # answered before the hand-off
    assert sid not in cluster.handoffs


async def test_permissions_are_checked_before_any_hand_off() -> None:
    ari = FakeAri()
    engine, cluster, sink = node_engine(config("pbx"), ari)
    agent_on_pbx2(cluster)
    await arrive(engine, "sup-1", "PJSIP/2001-00000001", "barge", "1301")  # not granted
    await arrive(engine, "sup-2", "PJSIP/2004-00000002", "monitor", "1301")  # unknown
    assert ari.named("set_variable") == [] and ari.named("request") == []
    assert [e.data["reason"] for e in sink.events] == ["not_permitted", "not_permitted"]


async def test_a_local_agent_is_coached_here() -> None:
    ari = FakeAri({"1301": "agent-chan"})
    engine, cluster, _ = node_engine(config("pbx"), ari)
    agent_on_pbx2(cluster)  # also listed elsewhere: the call here wins
    await arrive(engine, "sup-1", "PJSIP/2001-00000001", "monitor", "1301")
    assert ari.named("request") == []
    assert any(a[0] == "agent-chan" for a, _ in ari.named("snoop"))


async def test_agent_node_runs_the_session_of_a_valid_grant_once() -> None:
    home = ClusterNode(
        config("pbx").cluster, instance="pbx", technologies=("PJSIP",), supervisor_endpoints=()
    )
    _, token = home.grant_for(
        node="pbx2",
        session_id="feedc0ffee01",
        supervisor="sup1",
        endpoint="PJSIP/2001",
        agent="1301",
        mode=Mode.WHISPER,
        modes={Mode.MONITOR, Mode.WHISPER},
    )
    ari = FakeAri({"1301": "agent-chan"})
    engine, _, sink = node_engine(config("pbx2", trunk_endpoints=["PJSIP/coachd-pbx"]), ari)
    await arrive(engine, "trunk-1", "PJSIP/coachd-pbx-00000001", "cluster", token)
    session = engine.registry.sessions["feedc0ffee01"]
    assert (session.supervisor, session.endpoint, session.agent) == ("sup1", "PJSIP/2001", "1301")
    assert session.granted == {Mode.MONITOR, Mode.WHISPER}
    assert session.agent_channel == "agent-chan"
    snooped = {a[0] for a, _ in ari.named("snoop")}
    assert snooped == {"agent-chan", "trunk-1"}
    assert sink.events == []  # session_started once the snoops are up
    # The same token again (a replay): refused, nothing snooped.
    await arrive(engine, "trunk-2", "PJSIP/coachd-pbx-00000002", "cluster", token)
    assert [e.type for e in sink.events] == ["session_refused"]
    assert sink.events[0].data["reason"] == "not_permitted"
    assert "replayed" in str(sink.events[0].data["detail"])
    assert {a[0] for a, _ in ari.named("snoop")} == snooped


@pytest.mark.parametrize(
    ("name", "token", "detail"),
    [
        ("PJSIP/coachd-pbx-00000001", "", "malformed"),
        ("PJSIP/coachd-pbx-00000001", "v1.e30.AAAA", "bad_signature"),
        ("PJSIP/2001-00000001", "whatever", "cluster trunk"),
    ],
)
async def test_agent_node_refuses_calls_without_a_valid_grant(
    name: str, token: str, detail: str
) -> None:
    ari = FakeAri({"1301": "agent-chan"})
    engine, _, sink = node_engine(config("pbx2", trunk_endpoints=["PJSIP/coachd-pbx"]), ari)
    await arrive(engine, "trunk-1", name, "cluster", token)
    assert ari.named("snoop") == []
    (refused,) = sink.events
    assert refused.type == "session_refused" and refused.data["reason"] == "not_permitted"
    assert detail in str(refused.data["detail"])


async def test_without_the_cluster_a_cluster_call_is_a_bad_request() -> None:
    ari = FakeAri({"1301": "agent-chan"})
    engine, _, sink = node_engine(config("pbx2"), ari)
    engine.cluster = None
    await arrive(engine, "trunk-1", "PJSIP/coachd-pbx-00000001", "cluster", "v1.x.y")
    assert [e.data["reason"] for e in sink.events] == ["bad_request"]


def test_grants_from_another_cluster_are_refused() -> None:
    home = ClusterNode(
        config("pbx").cluster, instance="pbx", technologies=("PJSIP",), supervisor_endpoints=()
    )
    _, token = home.grant_for(
        node="pbx2",
        session_id="s1",
        supervisor="sup1",
        endpoint="PJSIP/2001",
        agent="1301",
        mode=Mode.MONITOR,
        modes={Mode.MONITOR},
    )
    with pytest.raises(GrantRefused):
        Verifier("pbx2", b"another-cluster-secret-0123456789abcdef").verify(token)
