"""Test support: who hears whom on real calls, measured with per-party sine tones.

Each party sends a continuous tone at its own frequency; what a listening
point hears arrives as G.711 µ-law RTP (8 kHz, 20 ms packets) and is
classified frame by frame into the set of parties present.

Typical use::

    detector = ToneDetector({"caller": 500, "agent": 1100, "supervisor": 1700})
    async with await open_capture(detector, host="0.0.0.0") as agent_ear:
        ...  # point an ARI externalMedia channel at agent_ear.port
        t = await agent_ear.wait_for("caller", timeout=5)
        assert agent_ear.capture.fraction_with("caller", t, t + 2) > 0.95
"""

from tests.audio.analysis import Capture, Frame, ToneDetector, goertzel_coeff, goertzel_power
from tests.audio.capture import RtpCapture, RtpSender, open_capture, save_wav
from tests.audio.g711 import (
    FRAME_SAMPLES,
    SAMPLE_RATE,
    tone_frames,
    tone_samples,
    ulaw_decode,
    ulaw_encode,
    ulaw_silence,
)
from tests.audio.rtp import PT_PCMU, RtpPacket, build_rtp, parse_rtp

__all__ = [
    "FRAME_SAMPLES",
    "PT_PCMU",
    "SAMPLE_RATE",
    "Capture",
    "Frame",
    "RtpCapture",
    "RtpPacket",
    "RtpSender",
    "ToneDetector",
    "build_rtp",
    "goertzel_coeff",
    "goertzel_power",
    "open_capture",
    "parse_rtp",
    "save_wav",
    "tone_frames",
    "tone_samples",
    "ulaw_decode",
    "ulaw_encode",
    "ulaw_silence",
]
