"""What an Asterisk sends to one RTP address, read off the loopback interface.

A far-end capture (a snoop on the phone's leg) shows what a phone *plays*,
including the far end's own buffering artifacts; a wire tap shows what the
PBX *sends* to it, which is what coachd controls. Needs CAP_NET_RAW (root).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time

from tests.audio.analysis import Capture, ToneDetector
from tests.audio.g711 import ulaw_decode
from tests.audio.rtp import parse_rtp

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
ETH_HEADER = 14


class WireTap:
    """``tap = await WireTap.open(detector, dst_port)``; ``tap.capture`` fills as packets pass."""

    def __init__(self, detector: ToneDetector, dst_port: int) -> None:
        self.detector = detector
        self.dst_port = dst_port
        self.capture = Capture(party_names=tuple(detector.names))
        self.packets = 0
        self._sock: socket.socket | None = None

    @classmethod
    async def open(cls, detector: ToneDetector, dst_port: int) -> WireTap:
        tap = cls(detector, dst_port)
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        sock.bind(("lo", 0))
        sock.setblocking(False)
        tap._sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), tap._on_readable)
        return tap

    def _on_readable(self) -> None:
        assert self._sock is not None
        while True:
            try:
                frame, address = self._sock.recvfrom(65535)
            except BlockingIOError:
                return
            # Loopback shows every packet twice: as sent and as received.
            if address[2] == PACKET_OUTGOING:
                continue
            self._on_frame(frame)

    def _on_frame(self, frame: bytes) -> None:
        ip = frame[ETH_HEADER:]
        if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != socket.IPPROTO_UDP:
            return
        udp = ip[(ip[0] & 0x0F) * 4 :]
        if len(udp) < 8:
            return
        (dst_port,) = struct.unpack("!H", udp[2:4])
        if dst_port != self.dst_port:
            return
        packet = parse_rtp(udp[8:])
        if packet is None or packet.payload_type != 0:
            return
        self.packets += 1
        self.capture.add(
            self.detector.classify(ulaw_decode(packet.payload)),
            arrival=time.monotonic(),
            sequence=packet.sequence,
            rtp_timestamp=packet.timestamp,
            ssrc=packet.ssrc,
        )

    def close(self) -> None:
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
