"""The ARI event stream: one websocket, reconnected for as long as it runs.

A dead connection is noticed by websocket pings (``heartbeat``); on every
(re)connect the ``on_connect`` hook runs before any event of the new
connection is delivered, so the owner can resync its state with Asterisk.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import aiohttp
import structlog

log = structlog.get_logger(__name__)

Event = dict[str, Any]
EventHandler = Callable[[Event], Awaitable[None]]
ConnectHook = Callable[[], Awaitable[None]]


def events_url(base_url: str, app: str) -> str:
    """``base_url`` is Asterisk's http(s) URL; the websocket is under /ari/events."""
    ws_base = base_url.rstrip("/").replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    return ws_base + "/ari/events?" + urlencode({"app": app, "subscribeAll": "false"})


class EventStream:
    def __init__(
        self,
        *,
        url: str,
        app: str,
        headers: Mapping[str, str],
        heartbeat: float = 2.0,
        backoff_initial: float = 0.2,
        backoff_max: float = 5.0,
    ) -> None:
        self._url = events_url(url, app)
        self._headers = dict(headers)
        self._heartbeat = heartbeat
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self.connected = asyncio.Event()
        self.reconnects = 0

    async def run(self, handler: EventHandler, on_connect: ConnectHook | None = None) -> None:
        """Deliver events to ``handler`` forever; returns only when cancelled."""
        delay = self._backoff_initial
        first = True
        async with aiohttp.ClientSession(headers=self._headers) as session:
            while True:
                try:
                    async with session.ws_connect(
                        self._url, heartbeat=self._heartbeat, autoping=True
                    ) as ws:
                        if not first:
                            self.reconnects += 1
                        first = False
                        log.info("ari_events_connected", reconnects=self.reconnects)
                        if on_connect is not None:
                            await on_connect()
                        self.connected.set()
                        delay = self._backoff_initial
                        async for msg in ws:
                            if msg.type is aiohttp.WSMsgType.TEXT:
                                await handler(json.loads(msg.data))
                            elif msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSED):
                                break
                except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                    log.warning("ari_events_unavailable", error=type(exc).__name__, detail=str(exc))
                self.connected.clear()
                log.warning("ari_events_disconnected", retry_in=round(delay, 2))
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self._backoff_max)
