"""Session events for HTTP clients: the SSE stream (with a bounded backlog for
``Last-Event-ID``) and a view of each session, fed like any other EventSink.

Payloads are the ones published on MQTT (``<prefix>/events``).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from coachd.core import commands as c
from coachd.core.session import Session
from coachd.mqtt.topics import event_payload, new_event_id, rfc3339

BACKLOG = 1000
ENDED_KEPT = 500


@dataclass(frozen=True, slots=True)
class FeedItem:
    id: int
    type: str
    payload: dict[str, Any]


class EventFeed:
    def __init__(self, instance: str, backlog: int = BACKLOG) -> None:
        self.instance = instance
        self.items: deque[FeedItem] = deque(maxlen=backlog)
        self.sessions: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._next = 1
        self._changed = asyncio.Condition()
        self.closed = False

    async def publish(self, session: Session, event: c.Publish) -> None:
        await self.add(event)

    async def add(self, event: c.Publish) -> None:
        """An event of a session here, or of one another node runs (cluster)."""
        now = datetime.now(UTC)
        payload = event_payload(event, event_id=new_event_id(), at=now, instance=self.instance)
        item = FeedItem(self._next, event.type, payload)
        self._next += 1
        self.items.append(item)
        self._update_view(event, rfc3339(now))
        async with self._changed:
            self._changed.notify_all()

    def _update_view(self, event: c.Publish, at: str) -> None:
        data = event.data
        sid = str(data.get("session_id", ""))
        view = self.sessions.setdefault(
            sid,
            {
                "session_id": sid,
                "agent": data.get("agent"),
                "supervisor": data.get("supervisor"),
                "endpoint": data.get("endpoint"),
                "mode": None,
                "state": "active",
                "started_at": None,
                "mode_since": None,
                "ended_at": None,
                "reason": None,
            },
        )
        if event.type == "session_started":
            view.update(state="active", mode=data.get("mode"), started_at=at, mode_since=at)
        elif event.type == "mode_changed":
            view.update(mode=data.get("after"), mode_since=at)
        elif event.type in ("session_ended", "session_refused"):
            state = "ended" if event.type == "session_ended" else "refused"
            view.update(state=state, ended_at=at, reason=data.get("reason"))
            self._forget_old_ended()

    def _forget_old_ended(self) -> None:
        ended = [sid for sid, v in self.sessions.items() if v["state"] != "active"]
        for sid in ended[: max(0, len(ended) - ENDED_KEPT)]:
            del self.sessions[sid]

    def since(self, last_id: int) -> list[FeedItem]:
        return [item for item in self.items if item.id > last_id]

    async def close(self) -> None:
        """End every follower (shutdown)."""
        self.closed = True
        async with self._changed:
            self._changed.notify_all()

    async def follow(self, last_id: int) -> AsyncIterator[FeedItem]:
        """Items after ``last_id`` (from the backlog), then live ones, until closed."""
        while not self.closed:
            items = self.since(last_id)
            for item in items:
                yield item
                last_id = item.id
            if not items:
                async with self._changed:
                    await self._changed.wait()

    async def next_outcome(
        self,
        session_id: str,
        after: int,
        timeout: float,
        types: tuple[str, ...] = ("mode_changed", "mode_refused"),
    ) -> FeedItem | None:
        """The first event of ``types`` (or the end) of ``session_id`` after feed id ``after``."""
        async with asyncio.timeout(timeout):
            async for item in self.follow(after):
                sid = item.payload.get("session_id")
                if sid == session_id and item.type in types:
                    return item
                if sid == session_id and item.type in ("session_ended", "session_refused"):
                    return item
        return None

    @property
    def last_id(self) -> int:
        return self._next - 1
