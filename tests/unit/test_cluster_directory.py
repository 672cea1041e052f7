"""The cluster's agent directory: local entries from channels, the others' from MQTT."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from coachd.cluster.directory import (
    Directory,
    DirectoryTopics,
    LocalDirectory,
    agents_on_calls,
)
from coachd.mqtt.topics import CLEARED, Message

T0 = datetime(2026, 12, 2, 8, 0, 0, tzinfo=UTC)
PREFIX = "coachd-cluster"


def test_agents_on_calls_counts_answered_agent_channels_only() -> None:
    channels = [
        ("1", "PJSIP/1301-00000001", "Up"),
        ("2", "PJSIP/1302-00000002", "Ringing"),
        ("3", "PJSIP/2001-00000003", "Up"),  # a supervisor
        ("4", "PJSIP/coachd-pbx-00000004", "Up"),  # the trunk
        ("coachd-abc-ear", "Snoop/1-00000005", "Up"),
        ("coachd-abc-x", "PJSIP/1303-00000006", "Up"),
        ("7", "Local/foo@bar-00000007;1", "Up"),
        ("8", "PJSIP/1304-00000008", "Up"),
    ]
    found = agents_on_calls(
        channels, technologies=["PJSIP"], exclude=["PJSIP/2001", "PJSIP/coachd-pbx"]
    )
    assert found == {"1301": "PJSIP/1301", "1304": "PJSIP/1304"}
    only_13 = agents_on_calls(channels, technologies=["PJSIP"], patterns=["PJSIP/1301"])
    assert only_13 == {"1301": "PJSIP/1301"}


def test_local_directory_publishes_changes_only() -> None:
    local = LocalDirectory("pbx2", PREFIX)
    first = local.update({"1301": "PJSIP/1301"}, T0)
    assert [m.topic for m in first] == ["coachd-cluster/pbx2/agents/1301"]
    assert first[0].retain
    assert json.loads(first[0].payload) == {
        "node": "pbx2",
        "agent": "1301",
        "endpoint": "PJSIP/1301",
        "on_call": True,
        "since": "2026-12-02T08:00:00.000Z",
    }
    assert local.update({"1301": "PJSIP/1301"}, T0) == []
    cleared = local.update({}, T0)
    assert cleared == [Message("coachd-cluster/pbx2/agents/1301", CLEARED, retain=True)]
    assert local.snapshot() == []


def test_local_directory_clears_what_an_earlier_run_left() -> None:
    local = LocalDirectory("pbx2", PREFIX)
    local.update({"1301": "PJSIP/1301"}, T0)
    live = "coachd-cluster/pbx2/agents/1301"
    left = "coachd-cluster/pbx2/agents/1302"
    assert local.stale(live, b"{}") is None
    assert local.stale(left, b"{}") == Message(left, CLEARED, retain=True)
    assert local.stale(left, b"") is None  # already cleared
    assert local.stale("coachd-cluster/pbx/agents/1302", b"{}") is None  # not ours


def test_directory_locates_other_nodes_agents() -> None:
    local = LocalDirectory("pbx2", PREFIX)
    (message,) = local.update({"1301": "PJSIP/1301"}, T0)
    directory = Directory("pbx", PREFIX)
    assert directory.apply(message.topic, message.payload)
    entry = directory.locate("1301")
    assert entry is not None and entry.node == "pbx2" and entry.endpoint == "PJSIP/1301"
    (cleared,) = local.update({}, T0)
    assert directory.apply(cleared.topic, cleared.payload)
    assert directory.locate("1301") is None


def test_directory_ignores_own_node_foreign_topics_and_bad_payloads() -> None:
    directory = Directory("pbx", PREFIX)
    own = LocalDirectory("pbx", PREFIX).update({"1042": "PJSIP/1042"}, T0)[0]
    assert not directory.apply(own.topic, own.payload)
    assert not directory.apply("coachd-cluster/pbx2/sessions/x", b"{}")
    assert not directory.apply("elsewhere/pbx2/agents/1301", b"{}")
    for payload in (b"not json", b"[]", b'{"on_call": false}', b'{"node":"pbx3","agent":"1301"}'):
        assert directory.apply("coachd-cluster/pbx2/agents/1301", payload)
        assert directory.locate("1301") is None


def test_an_agent_on_two_nodes_is_ambiguous() -> None:
    directory = Directory("pbx", PREFIX)
    for node in ("pbx2", "pbx3"):
        (m,) = LocalDirectory(node, PREFIX).update({"1301": "PJSIP/1301"}, T0)
        directory.apply(m.topic, m.payload)
    assert directory.locate("1301") is None
    directory.apply(directory.topics.entry("pbx3", "1301"), b"")  # pbx3's call ended
    located = directory.locate("1301")
    assert located is not None and located.node == "pbx2"


ids = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20).filter(
    lambda s: s.strip()
)


@given(node=ids, agent=ids)
def test_any_node_and_agent_round_trip_through_the_topic(node: str, agent: str) -> None:
    topics = DirectoryTopics(PREFIX)
    topic = topics.entry(node, agent)
    assert "+" not in topic and "#" not in topic
    assert topics.parse(topic) == (node, agent)
    (m,) = LocalDirectory(node, PREFIX).update({agent: "PJSIP/x"}, T0)
    directory = Directory(node + "-other", PREFIX)
    directory.apply(m.topic, m.payload)
    located = directory.locate(agent)
    assert located is not None and located.node == node


@given(st.lists(st.sets(st.sampled_from(["1301", "1302", "1303", "1304"]))))
def test_the_remote_view_follows_any_sequence_of_updates(steps: list[set[str]]) -> None:
    local = LocalDirectory("pbx2", PREFIX)
    remote = Directory("pbx", PREFIX)
    for agents in steps:
        for m in local.update({a: "PJSIP/" + a for a in agents}, T0):
            remote.apply(m.topic, m.payload)
        assert {a for (_, a) in remote.entries} == agents


def test_directory_messages_match_the_asyncapi_document() -> None:
    from tests.mqtt.asyncapi import Contract

    contract = Contract()
    local = LocalDirectory("pbx2", PREFIX)
    messages = local.update({"1301": "PJSIP/1301", "agent/+#": "PJSIP/x"}, T0)
    messages += local.update({"1301": "PJSIP/1301"}, T0)
    seen = set()
    for m in messages:
        channel, kind = contract.check("site/coachd", m.topic, m.payload)
        assert channel == "clusterAgent"
        seen.add(kind)
    assert seen == {"clusterAgent", "cleared"}
