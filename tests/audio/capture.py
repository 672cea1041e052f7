"""Live RTP capture (asyncio UDP) and a paced RTP tone sender.

:func:`open_capture` binds a UDP socket (e.g. the target of an Asterisk ARI
externalMedia channel), decodes every µ-law packet on arrival, classifies it
with a :class:`~tests.audio.analysis.ToneDetector` and appends the result to
a :class:`~tests.audio.analysis.Capture` timeline.  :class:`RtpSender` sends
a tone as 20 ms RTP packets, paced on the monotonic clock.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import os
import random
import sys
import time
import wave
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any, Self

from tests.audio.analysis import Capture, Frame, ToneDetector
from tests.audio.g711 import FRAME_SAMPLES, SAMPLE_RATE, tone_frames, ulaw_decode, ulaw_silence
from tests.audio.rtp import PT_PCMU, build_rtp, parse_rtp

__all__ = ["RtpCapture", "RtpSender", "open_capture", "save_wav"]

Address = tuple[str, int]


def save_wav(
    samples: Iterable[int], path: str | os.PathLike[str], *, sample_rate: int = SAMPLE_RATE
) -> None:
    """Write 16-bit linear samples as a mono WAV file (8 kHz by default)."""
    pcm = array.array("h", (max(-32768, min(32767, int(s))) for s in samples))
    if sys.byteorder == "big":
        pcm.byteswap()
    with wave.open(os.fspath(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm.tobytes())


class _RunWaiter:
    """Resolves a future on the first run of ``consecutive`` received frames
    that all have (``present=True``) or all lack ``party``."""

    def __init__(
        self,
        party: str,
        present: bool,
        consecutive: int,
        after: float | None,
        future: asyncio.Future[float],
    ) -> None:
        self.party = party
        self.present = present
        self.consecutive = consecutive
        self.after = after
        self.future = future
        self._run = 0
        self._run_start = 0.0

    def feed(self, frame: Frame) -> bool:
        """Returns True once satisfied (and resolves the future)."""
        if self.after is not None and frame.arrival < self.after:
            return False
        if frame.lost or (self.party in frame.parties) != self.present:
            self._run = 0
            return False
        if self._run == 0:
            self._run_start = frame.arrival
        self._run += 1
        if self._run >= self.consecutive:
            if not self.future.done():
                self.future.set_result(self._run_start)
            return True
        return False


class _CaptureProtocol(asyncio.DatagramProtocol):
    def __init__(self, owner: RtpCapture) -> None:
        self._owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self._owner._on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        self._owner.errors += 1


class RtpCapture:
    """A bound UDP socket recording what arrives on it; see :func:`open_capture`."""

    def __init__(
        self, detector: ToneDetector, *, keep_samples: bool = False, payload_type: int = PT_PCMU
    ) -> None:
        self.detector = detector
        self.payload_type = payload_type
        self.capture = Capture(party_names=detector.names, keep_samples=keep_samples)
        self.packets = 0
        """Valid RTP packets of ``payload_type`` received."""
        self.invalid = 0
        """Datagrams that were not RTP."""
        self.ignored = 0
        """RTP packets of another payload type (e.g. comfort noise, DTMF)."""
        self.errors = 0
        """Socket errors reported (e.g. ICMP port unreachable after sending)."""
        self.remote_addr: Address | None = None
        """Source address of the first RTP packet (where to send RTP back)."""
        self.first_packet_time: float | None = None
        self.host = ""
        self.port = 0
        self.transport: asyncio.DatagramTransport | None = None
        self._waiters: list[_RunWaiter] = []
        self._packet_waiters: list[asyncio.Future[float]] = []

    async def _bind(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _CaptureProtocol(self), local_addr=(host, port)
        )
        self.transport = transport
        sockname = transport.get_extra_info("sockname")
        self.host, self.port = str(sockname[0]), int(sockname[1])

    def _on_datagram(self, data: bytes, addr: tuple[Any, ...]) -> None:
        now = time.monotonic()
        packet = parse_rtp(data)
        if packet is None:
            self.invalid += 1
            return
        if self.remote_addr is None:
            self.remote_addr = (str(addr[0]), int(addr[1]))
        if packet.payload_type != self.payload_type:
            self.ignored += 1
            return
        self.packets += 1
        if self.first_packet_time is None:
            self.first_packet_time = now
            for future in self._packet_waiters:
                if not future.done():
                    future.set_result(now)
            self._packet_waiters.clear()
        samples = ulaw_decode(packet.payload)
        added = self.capture.add(
            self.detector.classify(samples),
            arrival=now,
            sequence=packet.sequence,
            rtp_timestamp=packet.timestamp,
            ssrc=packet.ssrc,
            samples=samples,
        )
        if self._waiters and added:
            for frame in added:
                self._waiters = [w for w in self._waiters if not w.feed(frame)]

    # -- waiting ---------------------------------------------------------

    async def _wait_run(
        self,
        party: str,
        present: bool,
        timeout: float,
        after: float | None,
        consecutive: int,
    ) -> float:
        if party not in self.detector.names:
            raise KeyError(f"unknown party {party!r}; known: {self.detector.names}")
        if consecutive < 1:
            raise ValueError("consecutive must be >= 1")
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        waiter = _RunWaiter(party, present, consecutive, after, future)
        for frame in self.capture.frames:
            if waiter.feed(frame):
                return future.result()
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            what = "heard" if present else "absent"
            raise TimeoutError(
                f"{party!r} not {what} for {consecutive} frame(s) within {timeout}s "
                f"on port {self.port} ({self.packets} packets): {self.capture.describe()}"
            ) from None
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    async def wait_for(
        self,
        party: str,
        timeout: float,
        *,
        after: float | None = None,
        consecutive: int = 1,
    ) -> float:
        """Arrival time of the first frame (at/after ``after``) in which ``party`` is heard.

        With ``consecutive > 1``, the first frame of the first run of that
        many received frames all containing the party.  Frames already
        captured count.  Raises ``TimeoutError`` (with the timeline).
        """
        return await self._wait_run(party, True, timeout, after, consecutive)

    async def wait_without(
        self,
        party: str,
        timeout: float,
        *,
        after: float | None = None,
        consecutive: int = 5,
    ) -> float:
        """Arrival time of the first of ``consecutive`` received frames lacking ``party``."""
        return await self._wait_run(party, False, timeout, after, consecutive)

    async def wait_first_packet(self, timeout: float) -> float:
        """Arrival time of the first RTP packet; raises ``TimeoutError``."""
        if self.first_packet_time is not None:
            return self.first_packet_time
        if self.transport is None or self.transport.is_closing():
            raise RuntimeError("capture is not open")
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._packet_waiters.append(future)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise TimeoutError(f"no RTP within {timeout}s on {self.host}:{self.port}") from None
        finally:
            with contextlib.suppress(ValueError):
                self._packet_waiters.remove(future)

    # -- sending back, saving, closing --------------------------------------

    def sender(
        self,
        freq_hz: float | None,
        level_dbfs: float = -12.0,
        *,
        remote: Address | None = None,
    ) -> RtpSender:
        """An :class:`RtpSender` sending from this capture's own socket.

        Sends to ``remote``, by default :attr:`remote_addr` (so the capture
        must have received a packet first).  Sending from the receiving
        socket keeps RTP symmetric, which Asterisk's strict RTP expects.
        """
        target = remote or self.remote_addr
        if target is None:
            raise RuntimeError("no remote address yet: no RTP received and none given")
        if self.transport is None:
            raise RuntimeError("capture is not bound")
        return RtpSender(target, freq_hz, level_dbfs, transport=self.transport)

    def samples(self) -> list[int]:
        """Received linear samples (silence for lost packets); needs keep_samples."""
        if not self.capture.keep_samples:
            raise RuntimeError("open the capture with keep_samples=True to keep samples")
        return self.capture.samples()

    def save_wav(self, path: str | os.PathLike[str]) -> None:
        """Write what was heard to a WAV file (needs ``keep_samples=True``)."""
        save_wav(self.samples(), path)

    def close(self) -> None:
        """Close the socket; pending waits fail with ``ConnectionError``."""
        if self.transport is not None:
            self.transport.close()
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.set_exception(ConnectionError("capture closed"))
        self._waiters.clear()
        for future in self._packet_waiters:
            if not future.done():
                future.set_exception(ConnectionError("capture closed"))
        self._packet_waiters.clear()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


async def open_capture(
    detector: ToneDetector,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    keep_samples: bool = False,
    payload_type: int = PT_PCMU,
) -> RtpCapture:
    """Bind a UDP socket on ``host:port`` (0 = any free port) and start capturing.

    Usable as ``async with await open_capture(...) as cap:`` or closed with
    :meth:`RtpCapture.close`.
    """
    cap = RtpCapture(detector, keep_samples=keep_samples, payload_type=payload_type)
    await cap._bind(host, port)
    return cap


class _SenderProtocol(asyncio.DatagramProtocol):
    def __init__(self, owner: RtpSender) -> None:
        self._owner = owner

    def error_received(self, exc: Exception) -> None:
        self._owner.errors += 1


class RtpSender:
    """Send a tone (or silence) as µ-law RTP to ``remote`` every 20 ms.

    Pacing follows an absolute ``time.monotonic()`` schedule, so it does not
    drift; after short stalls it catches up by sending the overdue packets
    back-to-back, after a stall longer than ``max_catchup`` seconds it skips
    the overdue packets (advancing the RTP timestamp and the tone phase but
    not the sequence number, as a real sender would).  Without ``transport``
    it opens (and later closes) its own UDP socket.
    """

    def __init__(
        self,
        remote: Address,
        freq_hz: float | None,
        level_dbfs: float = -12.0,
        *,
        transport: asyncio.DatagramTransport | None = None,
        payload_type: int = PT_PCMU,
        ssrc: int | None = None,
        frame_samples: int = FRAME_SAMPLES,
        sample_rate: int = SAMPLE_RATE,
        max_catchup: float = 0.2,
    ) -> None:
        self.remote = remote
        self.payload_type = payload_type
        self.ssrc = random.getrandbits(32) if ssrc is None else ssrc
        self.sequence = random.getrandbits(16)
        self.timestamp = random.getrandbits(32)
        self.frame_samples = frame_samples
        self.sample_rate = sample_rate
        self.period = frame_samples / sample_rate
        self.max_catchup = max_catchup
        self.sent = 0
        """Packets sent."""
        self.skipped = 0
        """Packets skipped after stalls longer than ``max_catchup``."""
        self.errors = 0
        self._transport = transport
        self._own_transport = transport is None
        self._task: asyncio.Task[None] | None = None
        self._frames: Iterator[bytes] | None = None
        self.set_tone(freq_hz, level_dbfs)

    def set_tone(self, freq_hz: float | None, level_dbfs: float = -12.0) -> None:
        """Change what is sent from the next packet on (``None`` = digital silence)."""
        self.freq_hz = freq_hz
        self.level_dbfs = level_dbfs
        if freq_hz is None:
            self._frames = None
        else:
            self._frames = tone_frames(
                freq_hz, level_dbfs, frame_samples=self.frame_samples, sample_rate=self.sample_rate
            )

    def _next_payload(self) -> bytes:
        if self._frames is None:
            return ulaw_silence(self.frame_samples)
        return next(self._frames)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start sending (opens the socket if this sender owns one)."""
        if self._task is not None:
            raise RuntimeError("sender already started")
        if self._transport is None:
            loop = asyncio.get_running_loop()
            self._transport, _ = await loop.create_datagram_endpoint(
                lambda: _SenderProtocol(self), remote_addr=self.remote
            )
        self._task = asyncio.create_task(self._run(), name=f"rtp-sender->{self.remote}")

    async def stop(self) -> None:
        """Stop sending; re-raises an error that ended the sending task."""
        task, self._task = self._task, None
        try:
            if task is not None:
                task.cancel()
                await asyncio.wait([task])
                error = None if task.cancelled() else task.exception()
                if error is not None:
                    raise error
        finally:
            if self._own_transport and self._transport is not None:
                self._transport.close()
                self._transport = None

    def _send(self, marker: bool) -> None:
        assert self._transport is not None
        datagram = build_rtp(
            self._next_payload(),
            sequence=self.sequence,
            timestamp=self.timestamp,
            ssrc=self.ssrc,
            payload_type=self.payload_type,
            marker=marker,
        )
        if self._own_transport:
            self._transport.sendto(datagram)
        else:
            self._transport.sendto(datagram, self.remote)
        self.sent += 1
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.timestamp = (self.timestamp + self.frame_samples) & 0xFFFFFFFF

    async def _run(self) -> None:
        period = self.period
        due = time.monotonic()
        marker = True
        while True:
            behind = time.monotonic() - due
            if behind > self.max_catchup:
                skip = int(behind / period)
                for _ in range(skip):
                    self._next_payload()
                self.timestamp = (self.timestamp + skip * self.frame_samples) & 0xFFFFFFFF
                self.skipped += skip
                due += skip * period
                marker = True
            self._send(marker)
            marker = False
            due += period
            await asyncio.sleep(max(0.0, due - time.monotonic()))

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
