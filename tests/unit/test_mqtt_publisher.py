"""MqttPublisher without a broker: configuration, queueing, backoff, logs."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest
from structlog.testing import capture_logs

from coachd.config import MqttConfig
from coachd.core.commands import Publish
from coachd.core.modes import Mode
from coachd.core.session import Session
from coachd.mqtt.publisher import BACKOFF_CAP, Broker, MqttPublisher, backoff_delay


def closed_port() -> int:
    """A local TCP port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def publisher(url: str = "mqtt://127.0.0.1:1", **config: object) -> MqttPublisher:
    return MqttPublisher(MqttConfig(url=url, **config), "pbx1")  # type: ignore[arg-type]


def refused(i: int) -> Publish:
    return Publish("mode_refused", i, {"session_id": "s1", "agent": "1001", "mode": "monitor"})


def test_broker_from_url() -> None:
    b = Broker.from_config(MqttConfig(url="mqtt://broker.example:1884"))
    assert b == Broker("broker.example", 1884, tls=False, username=None, password=None)
    b = Broker.from_config(
        MqttConfig(url="mqtts://broker.example:8884", username="u", password="p")
    )
    assert (b.port, b.tls, b.username, b.password) == (8884, True, "u", "p")


def test_broker_credentials_from_url_unless_configured() -> None:
    b = Broker.from_config(MqttConfig(url="mqtts://us%40er:p%3Ass@h:8883"))
    assert (b.username, b.password) == ("us@er", "p:ss")
    b = Broker.from_config(MqttConfig(url="mqtt://x:y@h:1883", username="u", password="p"))
    assert (b.username, b.password) == ("u", "p")


def test_broker_needs_a_url() -> None:
    with pytest.raises(ValueError, match="not set"):
        Broker.from_config(MqttConfig())


def test_client_id_defaults_to_instance() -> None:
    assert publisher().client_id == "coachd-pbx1"
    assert publisher(client_id="custom").client_id == "custom"


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    lows = [backoff_delay(a, rand=lambda: 0.0) for a in range(12)]
    highs = [backoff_delay(a, rand=lambda: 1.0) for a in range(12)]
    assert highs[:4] == pytest.approx([0.1, 0.2, 0.4, 0.8])
    assert lows[:4] == pytest.approx([0.05, 0.1, 0.2, 0.4])
    assert max(highs) == BACKOFF_CAP
    assert highs[-1] == BACKOFF_CAP
    assert lows[-1] == BACKOFF_CAP / 2
    assert all(0 < backoff_delay(a) <= BACKOFF_CAP for a in range(100))
    assert backoff_delay(10_000) <= BACKOFF_CAP


async def test_publish_only_queues() -> None:
    pub = publisher()
    session = Session(
        id="s1",
        supervisor_channel="c1",
        endpoint="PJSIP/2001",
        agent="1001",
        requested_mode=Mode.MONITOR,
    )
    started = time.perf_counter()
    for i in range(1000):
        await pub.publish(session, refused(i))
    assert time.perf_counter() - started < 1.0
    assert pub.queue_depth == 1000
    assert pub.stats().published == 0


async def test_publish_fills_in_a_missing_session_id() -> None:
    pub = publisher()
    pub.enqueue("s9", Publish("mode_refused", 1, {"agent": "1001"}))
    assert json.loads(pub._queue[0].payload)["session_id"] == "s9"


async def test_overflow_drops_oldest_counts_and_warns_once() -> None:
    pub = publisher(queue_size=5)
    with capture_logs() as logs:
        for i in range(1, 13):
            pub.enqueue("s1", refused(i))
    assert pub.queue_depth == 5
    assert pub.dropped == 7
    assert [json.loads(m.payload)["seq"] for m in pub._queue] == [8, 9, 10, 11, 12]
    assert [e["event"] for e in logs] == ["mqtt_queue_overflow"]


async def test_dropped_retained_topics_are_remembered_for_repair() -> None:
    pub = publisher(queue_size=1)
    data = {"session_id": "s1", "agent": "1001", "supervisor": "a", "endpoint": "E", "mode": "m"}
    pub.enqueue("s1", Publish("session_started", 1, data))  # event, session, agent
    assert pub.dropped == 2
    assert [m.topic for m in pub._queue] == ["coachd/agents/1001/state"]
    assert pub._stale == {"coachd/sessions/s1/state"}


async def test_a_bad_event_is_logged_not_raised() -> None:
    pub = publisher()
    bad = Publish("session_started", 1, {"session_id": "s1", "agent": "1001"})
    pub.tracker.new_id = lambda: 1 / 0  # type: ignore[assignment, return-value]
    with capture_logs() as logs:
        pub.enqueue("s1", bad)
    assert pub.queue_depth == 0
    assert logs[0]["event"] == "mqtt_event_unconvertible"


async def test_stop_without_run_returns() -> None:
    await publisher().stop(1.0)


async def test_unreachable_broker_retries_stops_in_time_and_logs_no_secret() -> None:
    port = closed_port()
    pub = publisher(f"mqtt://bob:hunter2@127.0.0.1:{port}")
    with capture_logs() as logs:
        task = asyncio.create_task(pub.run())
        await asyncio.sleep(0.5)
        assert not task.done()
        assert not pub.connected.is_set()
        pub.enqueue("s1", refused(1))
        started = time.perf_counter()
        await pub.stop(0.5)
        assert time.perf_counter() - started < 1.0
        await asyncio.wait_for(task, 1)
    failures = [e for e in logs if e["event"] == "mqtt_connection_failed"]
    assert len(failures) >= 2
    assert failures[0]["log_level"] == "warning"
    assert all(e["log_level"] == "debug" for e in failures[1:])
    assert "hunter2" not in repr(logs)
    assert pub.queue_depth == 1
    assert logs[-1]["event"] == "mqtt_stopped_offline"


async def test_run_twice_is_an_error() -> None:
    pub = publisher()
    task = asyncio.create_task(pub.run())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="already running"):
        await pub.run()
    await pub.stop(0.2)
    await asyncio.wait_for(task, 1)
