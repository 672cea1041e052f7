"""G.711 µ-law codec (pure Python, table driven) and tone generation.

Samples are 16-bit signed linear PCM (-32768..32767).  Decoding uses a
256-entry table; encoding uses a lazily built 65536-entry table, so both are
a single table lookup per sample.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from functools import cache

__all__ = [
    "FRAME_SAMPLES",
    "FULL_SCALE",
    "SAMPLE_RATE",
    "ULAW_DECODE_TABLE",
    "dbfs_to_amplitude",
    "tone_frames",
    "tone_samples",
    "ulaw_decode",
    "ulaw_encode",
    "ulaw_silence",
]

SAMPLE_RATE = 8000
"""G.711 sample rate in Hz."""

FRAME_SAMPLES = 160
"""Samples per 20 ms packet at 8 kHz."""

FULL_SCALE = 32768.0
"""Amplitude of a 0 dBFS sine (the dBFS reference used throughout tests.audio)."""

_BIAS = 0x84
_CLIP = 32635


def _decode_byte(u: int) -> int:
    u = ~u & 0xFF
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return -magnitude if u & 0x80 else magnitude


ULAW_DECODE_TABLE: tuple[int, ...] = tuple(_decode_byte(u) for u in range(256))
"""µ-law byte -> 16-bit linear sample."""


def _encode_sample(sample: int) -> int:
    if sample < 0:
        magnitude = -sample
        sign = 0x80
    else:
        magnitude = sample
        sign = 0x00
    magnitude = min(magnitude, _CLIP) + _BIAS
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not magnitude & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


@cache
def _encode_table() -> bytes:
    # Index = sample + 32768.
    return bytes(_encode_sample(s) for s in range(-32768, 32768))


def ulaw_decode(payload: bytes) -> list[int]:
    """Decode µ-law bytes into 16-bit linear samples."""
    return list(map(ULAW_DECODE_TABLE.__getitem__, payload))


def ulaw_encode(samples: Sequence[int]) -> bytes:
    """Encode 16-bit linear samples (clamped to int16) into µ-law bytes."""
    table = _encode_table()
    out = bytearray(len(samples))
    for i, s in enumerate(samples):
        s = int(s)
        if s > 32767:
            s = 32767
        elif s < -32768:
            s = -32768
        out[i] = table[s + 32768]
    return bytes(out)


def ulaw_silence(samples: int = FRAME_SAMPLES) -> bytes:
    """A µ-law payload of digital silence (0xFF decodes to 0)."""
    return b"\xff" * samples


def dbfs_to_amplitude(level_dbfs: float) -> float:
    """Peak amplitude of a sine at ``level_dbfs`` (0 dBFS = amplitude 32768)."""
    return FULL_SCALE * math.pow(10.0, level_dbfs / 20.0)


def tone_samples(
    freq_hz: float,
    level_dbfs: float = -12.0,
    *,
    count: int = FRAME_SAMPLES,
    start: int = 0,
    sample_rate: int = SAMPLE_RATE,
) -> list[int]:
    """``count`` linear samples of a sine, starting at absolute sample index ``start``."""
    amplitude = min(dbfs_to_amplitude(level_dbfs), 32767.0)
    w = 2.0 * math.pi * freq_hz / sample_rate
    sin = math.sin
    return [round(amplitude * sin(w * n)) for n in range(start, start + count)]


def tone_frames(
    freq_hz: float,
    level_dbfs: float = -12.0,
    *,
    frame_samples: int = FRAME_SAMPLES,
    sample_rate: int = SAMPLE_RATE,
) -> Iterator[bytes]:
    """Endless consecutive µ-law frames of one continuous, phase-coherent sine.

    The phase is computed from the absolute sample index (reduced modulo the
    exact period when the frequency is a rational fraction of the rate), so
    it neither drifts nor jumps at frame boundaries however long it runs.
    """
    # The sine repeats every `period` samples when freq/rate = p/q in lowest
    # terms; keeping the index modulo that period keeps float error bounded.
    ratio = freq_hz / sample_rate
    period = 0
    for q in range(1, sample_rate + 1):
        if abs(ratio * q - round(ratio * q)) < 1e-9:
            period = q
            break
    n = 0
    while True:
        yield ulaw_encode(
            tone_samples(
                freq_hz,
                level_dbfs,
                count=frame_samples,
                start=n,
                sample_rate=sample_rate,
            )
        )
        n += frame_samples
        if period:
            n %= period
