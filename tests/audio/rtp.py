"""Minimal RTP (RFC 3550) packet parsing and building."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["PT_PCMU", "RtpPacket", "build_rtp", "parse_rtp"]

PT_PCMU = 0
"""Static payload type of G.711 µ-law."""

_HEADER = struct.Struct("!BBHII")


@dataclass(frozen=True, slots=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    marker: bool
    payload: bytes
    csrcs: tuple[int, ...] = ()
    extension_profile: int | None = None
    extension: bytes = field(default=b"", repr=False)


def parse_rtp(datagram: bytes) -> RtpPacket | None:
    """Parse an RTP datagram; ``None`` if it is not well-formed RTP version 2.

    CSRC lists and header extensions are skipped over (and reported), padding
    is stripped from the payload.
    """
    if len(datagram) < _HEADER.size:
        return None
    b0, b1, sequence, timestamp, ssrc = _HEADER.unpack_from(datagram)
    if b0 >> 6 != 2:
        return None
    payload_type = b1 & 0x7F
    if 72 <= payload_type <= 76:
        # RTCP packet types 200..204 with the marker bit: not RTP (RFC 5761).
        return None
    offset = _HEADER.size
    cc = b0 & 0x0F
    if len(datagram) < offset + 4 * cc:
        return None
    csrcs = struct.unpack_from(f"!{cc}I", datagram, offset) if cc else ()
    offset += 4 * cc
    extension_profile: int | None = None
    extension = b""
    if b0 & 0x10:
        if len(datagram) < offset + 4:
            return None
        extension_profile, words = struct.unpack_from("!HH", datagram, offset)
        offset += 4
        if len(datagram) < offset + 4 * words:
            return None
        extension = bytes(datagram[offset : offset + 4 * words])
        offset += 4 * words
    end = len(datagram)
    if b0 & 0x20:
        pad = datagram[-1]
        if pad == 0 or end - pad < offset:
            return None
        end -= pad
    return RtpPacket(
        payload_type=payload_type,
        sequence=sequence,
        timestamp=timestamp,
        ssrc=ssrc,
        marker=bool(b1 & 0x80),
        payload=bytes(datagram[offset:end]),
        csrcs=tuple(csrcs),
        extension_profile=extension_profile,
        extension=extension,
    )


def build_rtp(
    payload: bytes,
    *,
    sequence: int,
    timestamp: int,
    ssrc: int,
    payload_type: int = PT_PCMU,
    marker: bool = False,
    csrcs: Sequence[int] = (),
    extension_profile: int | None = None,
    extension: bytes = b"",
    padding: int = 0,
) -> bytes:
    """Build an RTP version 2 datagram.

    ``extension`` must be a multiple of 4 bytes; it is only emitted when
    ``extension_profile`` is given.  ``padding`` (0..255) appends that many
    padding bytes, the last one holding the count.
    """
    if len(csrcs) > 15:
        raise ValueError("at most 15 CSRCs")
    if not 0 <= payload_type <= 127:
        raise ValueError(f"payload type out of range: {payload_type}")
    if not 0 <= padding <= 255:
        raise ValueError(f"padding out of range: {padding}")
    if len(extension) % 4:
        raise ValueError("extension length must be a multiple of 4 bytes")
    has_ext = extension_profile is not None
    b0 = 0x80 | (0x20 if padding else 0) | (0x10 if has_ext else 0) | len(csrcs)
    b1 = (0x80 if marker else 0) | payload_type
    parts = [_HEADER.pack(b0, b1, sequence & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc & 0xFFFFFFFF)]
    if csrcs:
        parts.append(struct.pack(f"!{len(csrcs)}I", *(c & 0xFFFFFFFF for c in csrcs)))
    if extension_profile is not None:
        parts.append(struct.pack("!HH", extension_profile & 0xFFFF, len(extension) // 4))
        parts.append(extension)
    parts.append(payload)
    if padding:
        parts.append(bytes(padding - 1) + bytes([padding]))
    return b"".join(parts)
