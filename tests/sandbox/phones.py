"""The phones instance of the sandbox, driven over its ARI.

Every party of a call-center call (the carrier's caller, agents, supervisors)
is a real PJSIP leg from the phones instance to the PBX. Each leg can say a
tone (played into a one-party bridge with the leg, so it is what the phone
sends) and have what it hears captured: a snoop with ``spy=in`` on the leg,
bridged to an externalMedia channel that sends µ-law RTP to a UDP socket of
the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from coachd.ari.client import AriClient
from coachd.ari.errors import AriError
from coachd.ari.events import EventStream
from tests.audio.analysis import ToneDetector
from tests.audio.capture import RtpCapture, open_capture

PHONES_ARI_URL = "http://127.0.0.1:18090"
PBX_ARI_URL = "http://127.0.0.1:18088"
PBX2_ARI_URL = "http://127.0.0.1:18092"
"""The sandbox's second PBX (cluster tests)."""
HARNESS_USER = "harness"
HARNESS_PASSWORD = "sandbox-harness-secret"
APP = "phones"

_ids = itertools.count(1)


def _uid(kind: str) -> str:
    return f"t{os.getpid()}-{kind}-{next(_ids)}"


@dataclass
class Leg:
    """One phone's call to or from the PBX."""

    phones: Phones
    name: str
    channel_id: str
    bridge_id: str | None = None
    tone_playback: str | None = None
    captures: list[RtpCapture] = field(default_factory=list)
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def ari(self) -> AriClient:
        return self.phones.ari

    async def say_tone(self, freq_hz: float) -> None:
        """Send a continuous tone to the PBX, as if the person spoke."""
        await self.say(f"tone:{freq_hz:g}/1000")

    async def say(self, media: str) -> None:
        """Send ``media`` (an ARI media URI, e.g. ``sound:...``) to the PBX, instead
        of whatever this phone said before."""
        if self.bridge_id is None:
            self.bridge_id = _uid("talk")
            await self.ari.create_bridge(self.bridge_id, name=self.bridge_id)
            self.phones.bridges.append(self.bridge_id)
            await self.ari.add_channels(self.bridge_id, [self.channel_id])
        await self.stop_tone()
        self.tone_playback = _uid("say")
        await self.ari.play_on_bridge(self.bridge_id, media, self.tone_playback)

    async def stop_tone(self) -> None:
        if self.tone_playback is not None:
            with contextlib.suppress(AriError):
                await self.ari.stop_playback(self.tone_playback)
            self.tone_playback = None

    async def listen(self, detector: ToneDetector, *, keep_samples: bool = False) -> RtpCapture:
        """Capture what this phone hears, classified per 20 ms frame."""
        capture = await open_capture(detector, keep_samples=keep_samples)
        self.captures.append(capture)
        snoop_id = _uid("ear")
        media_id = _uid("media")
        bridge_id = _uid("cap")
        await self.ari.create_bridge(bridge_id, name=bridge_id)
        self.phones.bridges.append(bridge_id)
        await self.phones.start_and_wait(
            snoop_id,
            self.ari.snoop(self.channel_id, app=APP, snoop_id=snoop_id, spy="in"),
        )
        await self.phones.start_and_wait(
            media_id,
            self.ari.external_media(
                app=APP, channel_id=media_id, external_host=f"127.0.0.1:{capture.port}"
            ),
        )
        self.phones.channels.extend([snoop_id, media_id])
        await self.ari.add_channels(bridge_id, [snoop_id, media_id])
        return capture

    async def dtmf(self, digits: str, *, duration_ms: int = 100) -> None:
        await self.ari.send_dtmf(self.channel_id, digits, duration_ms=duration_ms)

    async def hangup(self) -> None:
        with contextlib.suppress(AriError):
            await self.ari.hangup(self.channel_id)


class Phones:
    """``async with Phones.connect() as phones:``"""

    def __init__(self, ari: AriClient) -> None:
        self.ari = ari
        self.stream = EventStream(url=PHONES_ARI_URL, app=APP, headers=ari.auth_headers)
        self.channels: list[str] = []
        self.bridges: list[str] = []
        self.legs: dict[str, Leg] = {}
        self._started: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.incoming: defaultdict[str, asyncio.Queue[str]] = defaultdict(asyncio.Queue)
        self._task: asyncio.Task[None] | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls) -> AsyncIterator[Phones]:
        async with AriClient(
            url=PHONES_ARI_URL, username=HARNESS_USER, password=HARNESS_PASSWORD
        ) as ari:
            phones = cls(ari)
            phones._task = asyncio.create_task(phones.stream.run(phones._on_event), name="phones")
            try:
                await asyncio.wait_for(phones.stream.connected.wait(), 10)
                yield phones
            finally:
                await phones.cleanup()
                phones._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await phones._task

    async def _on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        channel = event.get("channel") or {}
        cid = channel.get("id", "")
        if kind == "StasisStart":
            args = event.get("args") or []
            fut = self._started.get(cid)
            if fut is not None and not fut.done():
                fut.set_result(event)
            if args[:1] == ["incoming"] and len(args) > 1:
                self.channels.append(cid)
                self.incoming[args[1]].put_nowait(cid)
        elif kind in ("StasisEnd", "ChannelDestroyed"):
            leg = self.legs.get(cid)
            if leg is not None:
                leg.hung_up.set()
            fut = self._started.get(cid)
            if fut is not None and not fut.done():
                fut.set_exception(RuntimeError(f"{cid} ended before it started"))

    async def start_and_wait(self, channel_id: str, create: Any, timeout: float = 10.0) -> None:
        """Run ``create`` (an awaitable making a channel) and wait for its StasisStart."""
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._started[channel_id] = fut
        try:
            await create
            await asyncio.wait_for(fut, timeout)
        finally:
            self._started.pop(channel_id, None)

    async def call(self, phone: str, exten: str, *, timeout: float = 10.0) -> Leg:
        """``phone`` dials ``exten`` on the PBX; returns once the call is answered."""
        cid = _uid(phone)
        self.channels.append(cid)
        await self.start_and_wait(
            cid,
            self.ari.originate(
                endpoint=f"PJSIP/{exten}@{phone}", app=APP, app_args="outgoing", channel_id=cid
            ),
            timeout,
        )
        leg = Leg(self, phone, cid)
        self.legs[cid] = leg
        return leg

    async def answer(self, exten: str, *, timeout: float = 10.0) -> Leg:
        """Wait for the PBX to ring ``exten`` on the phones instance and answer it."""
        cid = await asyncio.wait_for(self.incoming[exten].get(), timeout)
        await self.ari.answer(cid)
        leg = Leg(self, exten, cid)
        self.legs[cid] = leg
        return leg

    async def cleanup(self) -> None:
        for leg in self.legs.values():
            for cap in leg.captures:
                cap.close()
        for cid in reversed(self.channels):
            with contextlib.suppress(AriError):
                await self.ari.hangup(cid)
        for bid in self.bridges:
            with contextlib.suppress(AriError):
                await self.ari.destroy_bridge(bid)
        self.channels.clear()
        self.bridges.clear()
