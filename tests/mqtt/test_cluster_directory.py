"""The cluster's directory through a real broker: one node's agents on calls reach
another node's directory, retained, and an earlier run's leftovers are cleared."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from coachd.cluster.config import ClusterConfig
from coachd.cluster.node import ClusterNode
from coachd.config import MqttConfig
from coachd.mqtt.publisher import MqttPublisher
from tests.mqtt.asyncapi import Contract
from tests.mqtt.conftest import URL, retained

SECRET = "cluster-secret-for-the-broker-tests-0123"


def node(name: str, prefix: str) -> ClusterNode:
    config = ClusterConfig(enabled=True, node=name, secret=SECRET, topic_prefix=prefix)
    return ClusterNode(config, instance=name, technologies=("PJSIP",), supervisor_endpoints=())


@dataclass
class Joined:
    publisher: MqttPublisher
    task: asyncio.Task[None]


async def joined(
    prefix: str, cluster: ClusterNode, name: str, running: list[Joined]
) -> MqttPublisher:
    publisher: MqttPublisher | None = None

    def listener(topic: str, payload: bytes, retained: bool) -> None:
        replies = cluster.on_message(topic, payload, retained)
        if replies and publisher is not None:
            publisher.send(replies)

    config = MqttConfig(url=URL, topic_prefix=prefix)
    publisher = MqttPublisher(
        config,
        f"{name}-{uuid.uuid4().hex[:8]}",
        keepalive=5,
        listeners={cluster.directory.topics.filter: listener},
    )
    running.append(Joined(publisher, asyncio.create_task(publisher.run())))
    await asyncio.wait_for(publisher.connected.wait(), 10)
    return publisher


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "not in time"
        await asyncio.sleep(0.02)


@pytest.fixture
async def running() -> AsyncIterator[list[Joined]]:
    items: list[Joined] = []
    yield items
    for item in items:
        await item.publisher.stop(2.0)
        await asyncio.wait_for(item.task, 4.0)


async def test_entries_travel_between_nodes_and_leftovers_are_cleared(
    running: list[Joined], prefix: str
) -> None:
    cluster_prefix = prefix + "/cluster"  # cleared with the prefix
    pbx, pbx2 = node("pbx", cluster_prefix), node("pbx2", cluster_prefix)
    # An earlier run of pbx2 left agent 1399 listed.
    stale = node("pbx2", cluster_prefix)
    left = stale.local.update({"1399": "PJSIP/1399"}, datetime.now(UTC))
    home = await joined(prefix, pbx, "pbx", running)
    other = await joined(prefix, pbx2, "pbx2", running)
    other.send(left)
    await until(lambda: pbx.directory.locate("1399") is not None)

    # pbx2 starts again: it clears what it finds of its own that is not live.
    again = node("pbx2", cluster_prefix)
    restarted = await joined(prefix, again, "pbx2-again", running)
    await until(lambda: pbx.directory.locate("1399") is None)

    restarted.send(again.local.update({"1301": "PJSIP/1301"}, datetime.now(UTC)))
    await until(lambda: pbx.directory.locate("1301") is not None)
    entry = pbx.directory.locate("1301")
    assert entry is not None and (entry.node, entry.endpoint) == ("pbx2", "PJSIP/1301")

    state = await retained(cluster_prefix)
    assert list(state) == [cluster_prefix + "/pbx2/agents/1301"]
    assert (
        Contract().check(prefix, "c/pbx2/agents/1301", state[cluster_prefix + "/pbx2/agents/1301"])[
            0
        ]
        == "clusterAgent"
    )

    restarted.send(again.local.update({}, datetime.now(UTC)))
    await until(lambda: pbx.directory.locate("1301") is None)
    assert home.connected.is_set()
