"""Fixtures for tests against the real Mosquitto broker on 127.0.0.1:1883.

Like the sandbox tests these never skip: when the broker is down they start it
(``mosquitto -d -c /etc/mosquitto/mosquitto.conf``) and fail if that fails.
Every test works under its own random topic prefix and clears the retained
messages it left there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from coachd.config import MqttConfig
from coachd.core.commands import Publish
from coachd.core.modes import Mode
from coachd.core.session import Session
from coachd.mqtt.publisher import MqttPublisher
from tests.mqtt.samples import event_data as data

HOST = "127.0.0.1"
PORT = 1883
URL = f"mqtt://{HOST}:{PORT}"
MOSQUITTO = ["mosquitto", "-d", "-c", "/etc/mosquitto/mosquitto.conf"]
PIDFILE = Path("/run/mosquitto/mosquitto.pid")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FIGURES = ARTIFACTS / "mqtt-figures.json"


# --- the broker process ------------------------------------------------------------


def broker_up() -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, PORT), timeout=0.5):
        return True
    return False


def wait_broker(up: bool, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while broker_up() != up:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"broker on {HOST}:{PORT} not {'up' if up else 'down'} in {timeout}s"
            )
        time.sleep(0.02)


def start_broker() -> None:
    subprocess.run(MOSQUITTO, check=True, timeout=10)
    wait_broker(up=True)


def ensure_broker() -> None:
    if not broker_up():
        start_broker()


def broker_pid() -> int:
    """The broker's pid: from its pid file, or else the one mosquitto process.

    (A second mosquitto started while one runs fails on the port and deletes the
    running one's pid file on its way out.)"""
    if PIDFILE.exists():
        pid = int(PIDFILE.read_text().strip())
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        if comm != "mosquitto":
            raise RuntimeError(f"{PIDFILE} names pid {pid}, which is {comm!r}, not mosquitto")
        return pid
    found = [
        int(proc.name)
        for proc in Path("/proc").iterdir()
        if proc.name.isdigit() and _comm(proc) == "mosquitto"
    ]
    if len(found) != 1:
        raise RuntimeError(f"no {PIDFILE}, and {len(found)} mosquitto processes")
    return found[0]


def _comm(proc: Path) -> str:
    try:
        return (proc / "comm").read_text().strip()
    except OSError:
        return ""


def stop_broker(sig: signal.Signals = signal.SIGTERM, timeout: float = 10.0) -> None:
    """Stop the broker (SIGTERM: it saves its persistence file) and wait until it is gone."""
    pid = broker_pid()
    os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"mosquitto (pid {pid}) did not exit in {timeout}s")
        time.sleep(0.01)
    wait_broker(up=False)


@pytest.fixture(scope="session", autouse=True)
def broker() -> Iterator[None]:
    try:
        ensure_broker()
    except (OSError, subprocess.SubprocessError, TimeoutError) as exc:
        pytest.fail(f"no MQTT broker on {HOST}:{PORT} and could not start one: {exc}")
    yield
    ensure_broker()


# --- figures for the report ------------------------------------------------------------


@pytest.fixture(scope="session")
def figures() -> Iterator[dict[str, Any]]:
    collected: dict[str, Any] = {}
    yield collected
    if collected:
        ARTIFACTS.mkdir(exist_ok=True)
        old: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            old = json.loads(FIGURES.read_text())
        FIGURES.write_text(json.dumps({**old, **collected}, indent=2) + "\n")


# --- subscribers ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    qos: int
    at: float
    """time.perf_counter() on receipt."""

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass
class Subscriber:
    """Subscribes to ``<prefix>/#`` (QoS 1) and records what arrives, reconnecting if asked.

    ``persistent`` uses a fixed client id with a persistent session, so the
    broker keeps what arrives while this subscriber is reconnecting (and, when
    stopped with SIGTERM, across a broker restart).
    """

    prefix: str
    persistent: bool = False
    topic_filter: str = "#"
    client_id: str = field(default_factory=lambda: "test-sub-" + uuid.uuid4().hex[:10])
    received: list[Received] = field(default_factory=list)
    connections: int = 0
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Subscriber:
        self._task = asyncio.create_task(self._run(), name="test-subscriber")
        await asyncio.wait_for(self.subscribed.wait(), 5)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if self.persistent:
            # Forget the persistent session on the broker.
            with contextlib.suppress(aiomqtt.MqttError):
                async with aiomqtt.Client(
                    HOST, PORT, identifier=self.client_id, clean_session=True
                ):
                    pass

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    HOST,
                    PORT,
                    identifier=self.client_id,
                    clean_session=not self.persistent,
                    keepalive=5,
                ) as client:
                    self.connections += 1
                    await client.subscribe(self.prefix + "/" + self.topic_filter, qos=1)
                    self.subscribed.set()
                    async for message in client.messages:
                        payload = message.payload
                        assert isinstance(payload, bytes)
                        self.received.append(
                            Received(
                                message.topic.value,
                                payload,
                                message.retain,
                                message.qos,
                                time.perf_counter(),
                            )
                        )
                        self._changed.set()
            except aiomqtt.MqttError:
                await asyncio.sleep(0.02)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        async def loop() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(loop(), timeout)
        except TimeoutError:
            raise AssertionError(f"not seen within {timeout}s; got {self.summary()}") from None

    def on(self, suffix: str) -> list[Received]:
        topic = self.prefix + "/" + suffix
        return [r for r in self.received if r.topic == topic]

    def events(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.on("events")]

    def summary(self, last: int = 8) -> list[tuple[str, bytes]]:
        return [(r.topic, r.payload[:80]) for r in self.received[-last:]]


async def retained(prefix: str, timeout: float = 5.0) -> dict[str, bytes]:
    """What a subscriber arriving now gets as retained messages under ``prefix``.

    A marker published after subscribing comes back after the broker has sent
    every retained message, so no fixed wait is needed.
    """
    marker = f"coachd-test-marker/{uuid.uuid4().hex}"
    found: dict[str, bytes] = {}
    async with aiomqtt.Client(HOST, PORT) as client:
        await client.subscribe(prefix + "/#", qos=1)
        await client.subscribe(marker, qos=1)
        await client.publish(marker, b"x", qos=1)

        async def collect() -> None:
            async for message in client.messages:
                if message.topic.value == marker:
                    return
                if message.retain:
                    payload = message.payload
                    assert isinstance(payload, bytes)
                    found[message.topic.value] = payload

        await asyncio.wait_for(collect(), timeout)
    return found


async def clear_retained(prefix: str) -> None:
    topics = await retained(prefix)
    if topics:
        async with aiomqtt.Client(HOST, PORT) as client:
            for topic in topics:
                await client.publish(topic, b"", qos=1, retain=True)


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    value = "coachd-test/" + uuid.uuid4().hex[:12]
    yield value
    ensure_broker()
    await clear_retained(value)


# --- publishers ----------------------------------------------------------------------------


@dataclass
class Running:
    publisher: MqttPublisher
    task: asyncio.Task[None]

    async def stop(self, timeout: float = 3.0) -> None:
        await self.publisher.stop(timeout)
        await asyncio.wait_for(self.task, timeout + 2)

    async def drained(self, timeout: float = 10.0) -> None:
        """Wait until everything queued so far was acknowledged by the broker."""
        pub = self.publisher

        async def loop() -> None:
            while pub.queue_depth or not pub.connected.is_set():  # noqa: ASYNC110 (polls figures)
                await asyncio.sleep(0.005)

        await asyncio.wait_for(loop(), timeout)


StartPublisher = Callable[..., Awaitable[Running]]


@pytest.fixture
async def start_publisher(prefix: str) -> AsyncIterator[StartPublisher]:
    running: list[Running] = []

    async def start(*, connected: bool = True, **kwargs: Any) -> Running:
        queue_size = kwargs.pop("queue_size", 10000)
        config = MqttConfig(url=URL, topic_prefix=prefix, queue_size=queue_size)
        kwargs.setdefault("keepalive", 5)
        pub = MqttPublisher(config, kwargs.pop("instance", "test"), **kwargs)
        item = Running(pub, asyncio.create_task(pub.run(), name="mqtt-publisher"))
        running.append(item)
        if connected:
            await asyncio.wait_for(pub.connected.wait(), 10)
        return item

    yield start
    for item in running:
        if not item.task.done():
            await item.stop(2.0)


# --- events as the session state machine emits them -------------------------------------------


def session(sid: str, agent: str = "1001") -> Session:
    return Session(
        id=sid,
        supervisor_channel="chan-" + sid,
        endpoint="PJSIP/2001",
        agent=agent,
        requested_mode=Mode.MONITOR,
    )


def lifecycle(sid: str, agent: str = "1001", sup: str = "alice", changes: int = 3) -> list[Publish]:
    """session_started, ``changes`` mode changes, session_ended: seq 1..changes+2."""
    modes = ["monitor", "whisper", "barge", "private_whisper"]
    events = [Publish("session_started", 1, data(sid, agent, sup))]
    for i in range(changes):
        before, after = modes[i % 4], modes[(i + 1) % 4]
        events.append(
            Publish(
                "mode_changed",
                i + 2,
                {
                    **data(sid, agent, sup, after),
                    "before": before,
                    "after": after,
                    "source": "dtmf",
                },
            )
        )
    last = modes[changes % 4]
    events.append(
        Publish(
            "session_ended", changes + 2, {**data(sid, agent, sup, last), "reason": "agent_hangup"}
        )
    )
    return events
