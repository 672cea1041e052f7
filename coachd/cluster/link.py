"""The node's own MQTT connection for the cluster.

A second connection next to the events publisher, because its Last Will is
the cluster's: ``<cluster.topic_prefix>/<node>/available`` = ``offline``,
which tells the other nodes at once that this one is gone. It carries the
directory (:mod:`coachd.cluster.directory`), the nodes' availability and the
forwarded requests (:mod:`coachd.cluster.forwarding`); it is an
:class:`~coachd.mqtt.publisher.MqttPublisher` under ``<prefix>/<node>`` with
the same reconnect, backoff and queueing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import structlog

from coachd.cluster.forwarding import Answer, Forwarded, Forwarder, error_body
from coachd.cluster.node import ClusterNode
from coachd.config import MqttConfig
from coachd.core.commands import Publish
from coachd.core.session import Session
from coachd.mqtt.publisher import MqttPublisher

log = structlog.get_logger(__name__)

Perform = Callable[[Forwarded], Awaitable[Answer]]
"""Runs a forwarded request against this node's sessions (the HTTP API's rules)."""
Mirrored = Callable[[Publish], Coroutine[Any, Any, None]]
"""Takes an event of a session this node handed over (the HTTP feed)."""


class ClusterLink:
    def __init__(self, node: ClusterNode, mqtt: MqttConfig, instance: str) -> None:
        self.node = node
        prefix = node.config.topic_prefix
        own = (mqtt.client_id or "coachd-" + instance) + "-cluster"
        config = replace(mqtt, topic_prefix=prefix + "/" + node.node, client_id=own, control=False)
        forwarder = Forwarder(node.node, node.secret, prefix, lambda m: self.publisher.send(m))
        node.forwarder = forwarder
        topics = node.directory.topics
        self.publisher = MqttPublisher(
            config,
            instance,
            clear_stale=False,
            listeners={
                topics.filter: self._directory,
                topics.available_filter: self._available,
                forwarder.topics.requests(node.node): self._request,
                forwarder.topics.replies(node.node): self._reply,
                forwarder.topics.events(node.node): self._event,
            },
        )
        self.perform: Perform | None = None
        self.mirrored: Mirrored | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # --- EventSink: events of the sessions other nodes handed over ---------------------

    async def publish(self, session: Session, event: Publish) -> None:
        """Send an event of a handed-over session to its home node too."""
        grant = self.node.hosted.get(session.id)
        if grant is not None and self.node.forwarder is not None:
            self.node.forwarder.mirror(grant.issuer, event)

    # --- listeners (called on the publisher's connection task) --------------------

    def _directory(self, topic: str, payload: bytes, retained: bool) -> None:
        replies = self.node.on_message(topic, payload, retained)
        if replies:
            self.publisher.send(replies)

    def _available(self, topic: str, payload: bytes, retained: bool) -> None:
        name = self.node.directory.topics.node_of_available(topic)
        if name is not None:
            self.node.directory.apply_available(name, payload, datetime.now(UTC))
            log.info("cluster_node", node=name, status=payload.decode("utf-8", "replace")[:32])

    def _reply(self, topic: str, payload: bytes, retained: bool) -> None:
        assert self.node.forwarder is not None
        if not retained:
            self.node.forwarder.on_reply(payload)

    def _event(self, topic: str, payload: bytes, retained: bool) -> None:
        assert self.node.forwarder is not None
        event = None if retained else self.node.forwarder.take_event(payload)
        sid = str(event.data.get("session_id")) if event is not None else ""
        if event is None or self.mirrored is None or sid not in self.node.handoffs:
            return
        task = asyncio.create_task(self.mirrored(event), name="cluster-event")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _request(self, topic: str, payload: bytes, retained: bool) -> None:
        assert self.node.forwarder is not None
        request = None if retained else self.node.forwarder.take(payload)
        if request is None:
            return
        task = asyncio.create_task(self._serve(request), name="cluster-request")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, request: Forwarded) -> None:
        assert self.node.forwarder is not None
        perform = self.perform
        if perform is None:
            answer = Answer(503, error_body("not_ready", "this node takes no requests yet"))
        else:
            try:
                answer = await perform(request)
            except Exception:
                log.exception("cluster_request_failed", session_id=request.session_id)
                answer = Answer(500, error_body("internal_error", "internal error"))
        log.info(
            "cluster_request",
            origin=request.origin,
            session_id=request.session_id,
            action=request.action,
            status=answer.status,
        )
        self.node.forwarder.answer(request, answer)

    # --- life ---------------------------------------------------------------------

    async def run(self) -> None:
        await self.publisher.run()

    async def stop(self, timeout: float) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.publisher.stop(timeout)
