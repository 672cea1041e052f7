"""coachd's session events as an MQTT subscriber receives them, with arrival times."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

import aiomqtt


@dataclass(frozen=True, slots=True)
class Arrival:
    arrived: float
    """``time.time()`` when the message arrived."""
    payload: dict[str, Any]


class EventCollector:
    """``async with EventCollector(prefix) as events:`` records ``<prefix>/events``."""

    def __init__(self, prefix: str, host: str = "127.0.0.1", port: int = 1883) -> None:
        self.prefix = prefix
        self.host = host
        self.port = port
        self.received: list[Arrival] = []
        self.reconnects = 0
        self._changed = asyncio.Event()
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run(), name="bench-events")
        await asyncio.wait_for(self._ready.wait(), 5)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        ident = "bench-" + uuid.uuid4().hex[:8]
        while True:  # a broker restart (another test run's) costs what it missed, no more
            try:
                async with aiomqtt.Client(self.host, self.port, identifier=ident) as client:
                    await client.subscribe(self.prefix + "/events", qos=1)
                    self._ready.set()
                    async for message in client.messages:
                        payload = json.loads(bytes(message.payload))  # type: ignore[arg-type,unused-ignore]
                        self.received.append(Arrival(time.time(), payload))
                        self._changed.set()
            except aiomqtt.MqttError:
                self.reconnects += 1
                await asyncio.sleep(0.5)

    async def wait_count(
        self,
        where: Callable[[dict[str, Any]], bool],
        count: int,
        *,
        since: int = 0,
        timeout: float = 30.0,
    ) -> list[Arrival]:
        async with asyncio.timeout(timeout):
            while True:
                found = [a for a in self.received[since:] if where(a.payload)]
                if len(found) >= count:
                    return found[:count]
                self._changed.clear()
                await self._changed.wait()

    async def wait(
        self, where: Callable[[dict[str, Any]], bool], *, since: int = 0, timeout: float = 10.0
    ) -> Arrival:
        return (await self.wait_count(where, 1, since=since, timeout=timeout))[0]
