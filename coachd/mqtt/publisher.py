"""Session events to an MQTT broker: the only module that imports aiomqtt.

:class:`MqttPublisher` is an engine ``EventSink``: :meth:`MqttPublisher.publish`
turns an event into messages (:class:`~coachd.mqtt.topics.Tracker`) and puts
them in a bounded in-memory queue without waiting for the network. The
long-running :meth:`MqttPublisher.run` task owns the connection:

- connect (Last Will: ``<prefix>/available`` = ``offline``, retained, QoS 1);
- on the first connection of the process, clear retained session and agent
  states left by an earlier run that are not live now;
- publish the snapshot of every live retained state, then ``online``;
- send the queue in order, one QoS 1 publish at a time; a message leaves the
  queue only once the broker acknowledged it, so a connection lost in the
  middle loses nothing (the unacknowledged message is sent again: consumers
  dedupe events by ``event_id``);
- on any connection error: a new client after an exponential backoff with
  jitter (at most :data:`BACKOFF_CAP` seconds).

When the queue is full the oldest message is dropped (counted, one warning per
outage); a dropped retained state is re-sent from the tracker once the queue
has drained, so the broker's retained states still end up right.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import socket
import ssl
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

import aiomqtt
import structlog

from coachd.config import MqttConfig
from coachd.core import commands as c
from coachd.core.session import Session
from coachd.mqtt.topics import CLEARED, OFFLINE, ONLINE, STOPPED, Message, Tracker, topic_level

log = structlog.get_logger(__name__)

ControlHandler = Callable[[str, bytes], Awaitable[bytes]]
"""(session id, request payload) -> answer payload, for ``<prefix>/sessions/<id>/set``."""
Listener = Callable[[str, bytes, bool], None]
"""(topic, payload, retained): messages of a filter subscribed for another part (cluster)."""

QOS = 1
BACKOFF_INITIAL = 0.1
BACKOFF_CAP = 5.0
"""Longest wait between two connection attempts, in seconds."""
SYNC_TIMEOUT = 2.0
"""How long the first connection waits for the broker's retained states."""


@dataclass(frozen=True, slots=True)
class Broker:
    """Where to connect, from ``mqtt.url`` plus ``mqtt.username`` / ``mqtt.password``."""

    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None

    @classmethod
    def from_config(cls, config: MqttConfig) -> Broker:
        if config.url is None:
            raise ValueError("mqtt.url is not set")
        parts = urlsplit(config.url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError("mqtt.url must be mqtt://host:port or mqtts://host:port")
        tls = parts.scheme == "mqtts"
        username = config.username
        password = config.password
        if username is None and parts.username:
            username = unquote(parts.username)
            password = unquote(parts.password) if parts.password is not None else password
        return cls(
            host=parts.hostname,
            port=parts.port or (8883 if tls else 1883),
            tls=tls,
            username=username,
            password=password,
        )


@dataclass(frozen=True, slots=True)
class PublisherStats:
    published: int
    """Messages (events and states) the broker acknowledged."""
    events_published: int
    """Of those, messages on ``<prefix>/events``."""
    dropped: int
    """Messages dropped because the queue was full."""
    queued: int
    reconnects: int
    """Connections made after the first one."""
    connected: bool


def backoff_delay(
    attempt: int,
    *,
    initial: float = BACKOFF_INITIAL,
    cap: float = BACKOFF_CAP,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before attempt ``attempt + 1``: doubling, half of it jitter, capped."""
    ceiling: float = min(cap, initial * 2.0 ** min(attempt, 32))
    return ceiling / 2 + rand() * ceiling / 2


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    cause = error.__cause__
    return f"{text} ({cause})" if cause is not None and str(cause) else text


def _utcnow() -> datetime:
    return datetime.now(UTC)


class MqttPublisher:
    """EventSink that publishes session events and states to MQTT (see the module docstring)."""

    def __init__(
        self,
        config: MqttConfig,
        instance: str,
        *,
        keepalive: int = 30,
        publish_timeout: float = 10.0,
        clear_stale: bool = True,
        clock: Callable[[], datetime] = _utcnow,
        control: ControlHandler | None = None,
        listeners: Mapping[str, Listener] | None = None,
    ) -> None:
        self.config = config
        self.instance = instance
        self.broker = Broker.from_config(config)
        self.client_id = config.client_id or f"coachd-{instance}"
        self.keepalive = keepalive
        self.publish_timeout = publish_timeout
        self.tracker = Tracker(config.topic_prefix, instance)
        self.topics = self.tracker.topics
        self.connected = asyncio.Event()
        """Set while connected and ``online`` has been published."""
        self.published = 0
        self.events_published = 0
        self.dropped = 0
        self.reconnects = 0
        self._clock = clock
        self._queue: deque[Message] = deque()
        self._wakeup = asyncio.Event()
        self._stale: set[str] = set()
        self._needs_sync = clear_stale
        self._ever_connected = False
        self._overflow_warned = False
        self._dropped_offline = 0
        self._online_at: float | None = None
        self._outage_since: float | None = None
        self._stopping = False
        self._stop_requested = asyncio.Event()
        self._flush_deadline = math.inf
        self._hard_deadline = math.inf
        self._task: asyncio.Task[None] | None = None
        self._sync_done = asyncio.Event()
        self._sync_topic = ""
        self._sync_found: set[str] = set()
        self._control = control
        self._listeners = dict(listeners or {})
        self._control_tasks: set[asyncio.Task[None]] = set()
        self._retained: dict[str, Message] = {}
        """The last retained message of each topic outside the tracker (alerts)."""

    # --- EventSink ------------------------------------------------------------

    async def publish(self, session: Session, event: c.Publish) -> None:
        """Queue ``event`` (and the state updates it causes); never waits for the broker."""
        self.enqueue(session.id, event)

    def enqueue(self, session_id: str, event: c.Publish) -> None:
        """Synchronous :meth:`publish` for callers without a :class:`Session`."""
        if "session_id" not in event.data:
            event = replace(event, data={**event.data, "session_id": session_id})
        try:
            messages = self.tracker.handle(event, self._clock())
        except Exception:
            # A bad event must not break the session that reported it.
            log.exception("mqtt_event_unconvertible", event_type=event.type, seq=event.seq)
            return
        for message in messages:
            self._put(message)
        self._wakeup.set()

    def send(self, messages: Iterable[Message]) -> None:
        """Queue messages that are not session events (the who-to-coach alerts),
        in order; a retained one that overflow drops is sent again later."""
        for message in messages:
            if message.retain:
                self._retained[message.topic] = message
            self._put(message)
        self._wakeup.set()

    def _put(self, message: Message) -> None:
        if len(self._queue) >= self.config.queue_size:
            oldest = self._queue.popleft()
            self.dropped += 1
            self._dropped_offline += 1
            if oldest.retain:
                self._stale.add(oldest.topic)
            if not self._overflow_warned:
                self._overflow_warned = True
                log.warning(
                    "mqtt_queue_overflow",
                    queue_size=self.config.queue_size,
                    connected=self.connected.is_set(),
                )
        self._queue.append(message)

    # --- figures --------------------------------------------------------------

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    def stats(self) -> PublisherStats:
        return PublisherStats(
            published=self.published,
            events_published=self.events_published,
            dropped=self.dropped,
            queued=len(self._queue),
            reconnects=self.reconnects,
            connected=self.connected.is_set(),
        )

    # --- connection loop --------------------------------------------------------

    async def run(self) -> None:
        """Stay connected and send the queue until :meth:`stop` (run it as a task)."""
        if self._task is not None:
            raise RuntimeError("MqttPublisher.run() is already running")
        self._task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        attempt = 0
        try:
            while True:
                error: BaseException | None = None
                try:
                    await self._connection()
                except* aiomqtt.MqttError as group:
                    error = group.exceptions[0]
                finally:
                    self.connected.clear()
                if error is None:
                    return
                now = loop.time()
                was_online = self._online_at is not None
                if self._online_at is not None and now - self._online_at > BACKOFF_CAP:
                    attempt = 0  # the connection held for a while: back off afresh
                self._online_at = None
                if self._outage_since is None:
                    self._outage_since = now
                if self._stopping and now >= self._flush_deadline:
                    log.warning("mqtt_stopped_offline", unsent=len(self._queue))
                    return
                delay = backoff_delay(attempt)
                (log.warning if attempt == 0 or was_online else log.debug)(
                    "mqtt_connection_failed" if not was_online else "mqtt_connection_lost",
                    error=_describe(error),
                    host=self.broker.host,
                    port=self.broker.port,
                    attempt=attempt + 1,
                    retry_in=round(delay, 2),
                    queued=len(self._queue),
                )
                attempt += 1
                await self._pause(delay)
        finally:
            self.connected.clear()
            self._task = None

    async def _pause(self, delay: float) -> None:
        if self._stopping:
            remaining = self._flush_deadline - asyncio.get_running_loop().time()
            await asyncio.sleep(max(0.0, min(delay, remaining)))
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_requested.wait(), delay)

    def _client(self) -> aiomqtt.Client:
        broker = self.broker
        return aiomqtt.Client(
            broker.host,
            broker.port,
            username=broker.username,
            password=broker.password,
            identifier=self.client_id,
            will=aiomqtt.Will(self.topics.available, OFFLINE, qos=QOS, retain=True),
            clean_session=True,
            keepalive=self.keepalive,
            timeout=self.publish_timeout,
            tls_context=ssl.create_default_context() if broker.tls else None,
        )

    async def _connection(self) -> None:
        """One connection: announce, drain until stopped; raises MqttError when it breaks."""
        async with self._client() as client:
            _no_delay(client)
            try:
                async with asyncio.TaskGroup() as tg:
                    watcher = tg.create_task(self._watch(client), name="mqtt-watch")
                    await self._announce(client)
                    await self._drain(client)
                    await self._send(client, self.topics.availability(STOPPED))
                    log.info(
                        "mqtt_stopped",
                        published=self.published,
                        dropped=self.dropped,
                        unsent=len(self._queue),
                    )
                    watcher.cancel()
            except asyncio.CancelledError:
                # Leaving the context disconnects cleanly, so the broker would not
                # send the Will: say it ourselves, briefly.
                status = self.topics.availability(STOPPED if self._stopping else OFFLINE)
                with contextlib.suppress(aiomqtt.MqttError):
                    await client.publish(
                        status.topic, status.payload, qos=QOS, retain=True, timeout=1.0
                    )
                raise

    async def _watch(self, client: aiomqtt.Client) -> None:
        """Raise MqttError as soon as the connection is lost (the iterator does)."""
        async for message in client.messages:
            self._on_message(message)

    async def _announce(self, client: aiomqtt.Client) -> None:
        if self._control is not None:
            await client.subscribe(self.topics.session_set_filter, qos=QOS)
        for topic_filter in self._listeners:
            await client.subscribe(topic_filter, qos=QOS)
        if self._needs_sync:
            await self._clear_stale_states(client)
            self._needs_sync = False
        for message in self.tracker.snapshot():
            await self._send(client, message)
        await self._send(client, self.topics.availability(ONLINE))
        if self._ever_connected:
            self.reconnects += 1
        self._ever_connected = True
        now = asyncio.get_running_loop().time()
        outage = None if self._outage_since is None else round(now - self._outage_since, 3)
        self._online_at = now
        self._outage_since = None
        self.connected.set()
        log.info(
            "mqtt_online",
            offline_seconds=outage,
            host=self.broker.host,
            port=self.broker.port,
            tls=self.broker.tls,
            client_id=self.client_id,
            reconnects=self.reconnects,
            queued=len(self._queue),
            dropped_while_offline=self._dropped_offline,
        )
        self._dropped_offline = 0
        self._overflow_warned = False

    async def _drain(self, client: aiomqtt.Client) -> None:
        """Send the queue in order; return once stopping and flushed (or out of time)."""
        loop = asyncio.get_running_loop()
        while True:
            if self._stopping and loop.time() >= self._flush_deadline:
                return
            if self._queue:
                message = self._queue[0]
                await self._send(client, message)
                # Overflow may have dropped it meanwhile: remove it only if still first.
                if self._queue and self._queue[0] is message:
                    self._queue.popleft()
                self.published += 1
                if message.topic == self.topics.events:
                    self.events_published += 1
                continue
            if self._stale:
                topic = self._stale.pop()
                try:
                    current = self._retained.get(topic) or self.tracker.current(topic)
                    await self._send(client, current)
                except BaseException:
                    self._stale.add(topic)
                    raise
                continue
            if self._stopping:
                return
            self._wakeup.clear()
            await self._wakeup.wait()

    async def _send(self, client: aiomqtt.Client, message: Message) -> None:
        timeout = self.publish_timeout
        if self._stopping:
            remaining = self._hard_deadline - asyncio.get_running_loop().time()
            timeout = max(0.05, min(timeout, remaining))
        await client.publish(
            message.topic, message.payload, qos=QOS, retain=message.retain, timeout=timeout
        )

    # --- clearing states left by an earlier run -----------------------------------

    async def _clear_stale_states(self, client: aiomqtt.Client) -> None:
        """Clear retained session/agent states on the broker that are not live now.

        Subscribes to both state filters, then to a private sync topic and
        publishes a marker there: the broker sends the retained messages before
        the marker, so once the marker is back every retained state is known.
        """
        topics = self.topics
        self._sync_topic = topics.prefix + "/sync/" + topic_level(self.client_id)
        self._sync_found = set()
        self._sync_done.clear()
        filters = [topics.session_states, topics.agent_states]
        for topic_filter in filters:
            await client.subscribe(topic_filter, qos=QOS)
        await client.subscribe(self._sync_topic, qos=QOS)
        await client.publish(self._sync_topic, b"sync", qos=QOS, retain=False)
        try:
            await asyncio.wait_for(self._sync_done.wait(), SYNC_TIMEOUT)
        except TimeoutError:
            log.warning("mqtt_state_sync_timed_out", timeout=SYNC_TIMEOUT)
        for topic_filter in [*filters, self._sync_topic]:
            await client.unsubscribe(topic_filter)
        live = {m.topic for m in self.tracker.snapshot()}
        stale = sorted(self._sync_found - live)
        self._sync_topic = ""
        for topic in stale:
            await self._send(client, Message(topic, CLEARED, retain=True))
        if stale:
            log.info("mqtt_stale_states_cleared", count=len(stale))

    def _on_message(self, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        for topic_filter, listener in self._listeners.items():
            if message.topic.matches(topic_filter):
                payload = message.payload if isinstance(message.payload, bytes) else b""
                try:
                    listener(topic, payload, bool(message.retain))
                except Exception:
                    # A bad message must not break the connection.
                    log.exception("mqtt_listener_failed", topic=topic)
                return
        session_id = self.topics.session_of_set(topic)
        if session_id is not None:
            if self._control is not None and not message.retain:
                payload = message.payload if isinstance(message.payload, bytes) else b""
                task = asyncio.create_task(
                    self._answer(session_id, payload, topic + "/result"), name="mqtt-control"
                )
                self._control_tasks.add(task)
                task.add_done_callback(self._control_tasks.discard)
            return
        if not self._sync_topic:
            return
        if topic == self._sync_topic:
            self._sync_done.set()
        elif message.retain and message.payload:
            self._sync_found.add(topic)

    async def _answer(self, session_id: str, payload: bytes, result_topic: str) -> None:
        assert self._control is not None
        answer = await self._control(session_id, payload)
        self._put(Message(result_topic, answer, retain=False))
        self._wakeup.set()

    # --- shutdown -----------------------------------------------------------------

    async def stop(self, timeout: float) -> None:
        """Flush what can be sent within ``timeout`` s, publish ``stopped``, disconnect.

        Returns within about ``timeout`` seconds. Messages still queued then are
        lost (logged). A clean disconnect means the broker does not send the Will.
        """
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._stopping = True
        self._hard_deadline = now + timeout
        self._flush_deadline = now + max(0.0, timeout - min(1.0, timeout / 2))
        self._stop_requested.set()
        self._wakeup.set()
        task = self._task
        if task is None or task.done():
            return
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
            log.warning("mqtt_stop_timed_out", unsent=len(self._queue))


def _no_delay(client: aiomqtt.Client) -> None:
    """Send each packet at once (TCP_NODELAY). Without it, a publish that follows
    a PUBACK waits for the broker's delayed ACK of the PUBACK, 40 ms on Linux:
    a forwarded request and its answer would each pay it (cluster)."""
    sock = client._client.socket()
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def probe(broker: Broker, client_id: str, timeout: float) -> str | None:
    """Connect to ``broker`` and disconnect (``coachd doctor``): None, or what failed."""
    client = aiomqtt.Client(
        broker.host,
        broker.port,
        username=broker.username,
        password=broker.password,
        identifier=client_id,
        clean_session=True,
        timeout=timeout,
        tls_context=ssl.create_default_context() if broker.tls else None,
    )
    try:
        async with asyncio.timeout(timeout), client:
            pass
    except (aiomqtt.MqttError, OSError, TimeoutError) as exc:
        return str(exc) or type(exc).__name__
    return None
