"""Unit tests of the tests.audio support library (synthetic signals, UDP loopback)."""

from __future__ import annotations

import asyncio
import itertools
import math
import time
import wave
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.audio import (
    FRAME_SAMPLES,
    Capture,
    RtpSender,
    ToneDetector,
    build_rtp,
    goertzel_coeff,
    goertzel_power,
    open_capture,
    parse_rtp,
    tone_frames,
    tone_samples,
    ulaw_decode,
    ulaw_encode,
    ulaw_silence,
)
from tests.audio.g711 import ULAW_DECODE_TABLE, dbfs_to_amplitude

FREQS = {"caller": 500.0, "agent": 1100.0, "supervisor": 1700.0, "other": 2300.0}
PARTIES = tuple(FREQS)


@pytest.fixture(scope="module")
def detector() -> ToneDetector:
    return ToneDetector(FREQS)


def mixed_frame(levels: dict[str, float], start: int = 0) -> list[int]:
    """One µ-law-coded frame (decoded again) of the given parties' tones summed."""
    total = [0] * FRAME_SAMPLES
    for name, level in levels.items():
        tone = tone_samples(FREQS[name], level, start=start)
        total = [a + b for a, b in zip(total, tone, strict=True)]
    return ulaw_decode(ulaw_encode(total))


# -- G.711 -----------------------------------------------------------------


def test_ulaw_decode_table_known_values() -> None:
    assert ULAW_DECODE_TABLE[0xFF] == 0
    assert ULAW_DECODE_TABLE[0x7F] == 0
    assert ULAW_DECODE_TABLE[0x80] == 32124
    assert ULAW_DECODE_TABLE[0x00] == -32124
    assert ulaw_decode(ulaw_silence()) == [0] * FRAME_SAMPLES


def test_ulaw_round_trip_error_small() -> None:
    samples = list(range(-32768, 32768, 7))
    decoded = ulaw_decode(ulaw_encode(samples))
    for s, d in zip(samples, decoded, strict=True):
        # Half a quantisation step: 4 at the bottom, ~1/32 of the magnitude above.
        assert abs(d - s) <= 4 + abs(s) / 30 or abs(s) > 32124, (s, d)


def test_ulaw_encode_inverts_decode() -> None:
    codes = bytes(range(256))
    reencoded = ulaw_encode(ulaw_decode(codes))
    # 0x7F is "negative zero" and encodes as positive zero 0xFF.
    assert reencoded == codes.replace(b"\x7f", b"\xff")


def test_ulaw_encode_clamps() -> None:
    assert ulaw_decode(ulaw_encode([100_000, -100_000])) == [32124, -32124]


def test_tone_snr_after_ulaw() -> None:
    clean = tone_samples(1100.0, -12.0, count=800)
    coded = ulaw_decode(ulaw_encode(clean))
    signal = sum(c * c for c in clean)
    noise = sum((c - d) ** 2 for c, d in zip(clean, coded, strict=True))
    assert 10 * math.log10(signal / noise) > 30


def test_tone_frames_are_phase_continuous() -> None:
    frames = list(itertools.islice(tone_frames(1234.5, -12.0), 5))
    assert all(len(f) == FRAME_SAMPLES for f in frames)
    joined = b"".join(frames)
    assert joined == ulaw_encode(tone_samples(1234.5, -12.0, count=5 * FRAME_SAMPLES))


def test_tone_frames_periodic_frequency_stays_coherent() -> None:
    # 1100 Hz at 8 kHz repeats every 80 samples: frames keep repeating exactly.
    gen = tone_frames(1100.0)
    first = next(gen)
    assert all(next(gen) == first for _ in range(200))


# -- RTP -------------------------------------------------------------------


def test_rtp_round_trip_plain() -> None:
    payload = bytes(range(160))
    data = build_rtp(payload, sequence=65535, timestamp=0xFFFFFFF0, ssrc=0xDEADBEEF, marker=True)
    assert len(data) == 12 + 160
    p = parse_rtp(data)
    assert p is not None
    assert (p.payload_type, p.sequence, p.timestamp, p.ssrc, p.marker) == (
        0,
        65535,
        0xFFFFFFF0,
        0xDEADBEEF,
        True,
    )
    assert p.payload == payload
    assert p.csrcs == ()
    assert p.extension_profile is None


def test_rtp_round_trip_csrc_extension_padding() -> None:
    payload = b"\x01\x02\x03"
    data = build_rtp(
        payload,
        sequence=7,
        timestamp=160,
        ssrc=1,
        payload_type=8,
        csrcs=(11, 22, 33),
        extension_profile=0xBEDE,
        extension=b"\x10\xaa\x00\x00\x20\xbb\xcc\x00",
        padding=5,
    )
    p = parse_rtp(data)
    assert p is not None
    assert p.payload == payload
    assert p.payload_type == 8
    assert p.marker is False
    assert p.csrcs == (11, 22, 33)
    assert p.extension_profile == 0xBEDE
    assert p.extension == b"\x10\xaa\x00\x00\x20\xbb\xcc\x00"
    assert (p.sequence, p.timestamp, p.ssrc) == (7, 160, 1)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x80\x00\x00",
        bytes([0x40]) + bytes(11),  # version 1
        bytes([0x82]) + bytes(11),  # 2 CSRCs announced, none present
        bytes([0x90]) + bytes(11) + b"\x00\x00\x00\x05",  # extension longer than packet
        bytes([0xA0]) + bytes(11) + b"\x00\x00\x00\x00",  # padding count 0
        bytes([0xA0]) + bytes(11) + b"\x00\x09",  # padding longer than packet
        bytes([0x80, 0xC8]) + bytes(10),  # RTCP sender report
    ],
)
def test_parse_rtp_rejects_garbage(data: bytes) -> None:
    assert parse_rtp(data) is None


# -- detection ---------------------------------------------------------------


def test_goertzel_power_of_integer_bin_sine() -> None:
    samples = [1000.0 * math.sin(2 * math.pi * 500 * n / 8000) for n in range(160)]
    power = goertzel_power(samples, goertzel_coeff(500.0))
    assert math.isclose(math.sqrt(power), 1000.0 * 160 / 2, rel_tol=1e-6)
    assert goertzel_power(samples, goertzel_coeff(1100.0)) < 1e-6 * power


@pytest.mark.parametrize("party", PARTIES)
def test_single_tone_detected_and_only_it(detector: ToneDetector, party: str) -> None:
    for i, frame in enumerate(itertools.islice(tone_frames(FREQS[party], -12.0), 10)):
        samples = ulaw_decode(frame)
        assert detector.classify(samples) == {party}, i
        assert detector.levels(samples)[party] == pytest.approx(-12.0, abs=0.5)


@pytest.mark.parametrize("pair", list(itertools.combinations(PARTIES, 2)))
def test_two_mixed_tones_both_detected(detector: ToneDetector, pair: tuple[str, str]) -> None:
    for start in (0, 37, 1000):
        samples = mixed_frame(dict.fromkeys(pair, -18.0), start)
        assert detector.classify(samples) == set(pair)


def test_silence_detects_nothing(detector: ToneDetector) -> None:
    assert detector.classify(ulaw_decode(ulaw_silence())) == frozenset()
    assert detector.classify([0] * FRAME_SAMPLES) == frozenset()
    assert detector.classify([]) == frozenset()
    # Low-level broadband noise stays below the threshold.
    noise = [((n * 7919) % 61) - 30 for n in range(FRAME_SAMPLES)]
    assert detector.classify(ulaw_decode(ulaw_encode(noise))) == frozenset()


def test_quiet_tone_below_default_threshold(detector: ToneDetector) -> None:
    quiet = ulaw_decode(next(tone_frames(FREQS["agent"], -50.0)))
    assert detector.classify(quiet) == frozenset()
    assert detector.levels(quiet)["agent"] == pytest.approx(-50.0, abs=1.5)
    audible = ulaw_decode(next(tone_frames(FREQS["agent"], -30.0)))
    assert detector.classify(audible) == {"agent"}
    sensitive = ToneDetector(FREQS, threshold_dbfs=-55.0)
    assert sensitive.classify(quiet) == {"agent"}


def test_tone_far_below_the_peak_is_ignored() -> None:
    # Agent 34 dB below the caller: above the absolute threshold but beyond
    # the 30 dB guard; the µ-law distortion products (about -54 dBFS) stay
    # below the threshold.
    sensitive = ToneDetector(FREQS, threshold_dbfs=-50.0)
    samples = mixed_frame({"caller": -6.0, "agent": -40.0})
    assert sensitive.classify(samples) == {"caller"}
    relaxed = ToneDetector(FREQS, threshold_dbfs=-50.0, max_below_peak_db=40.0)
    assert relaxed.classify(samples) == {"caller", "agent"}


def test_off_bin_frequency_still_detected(detector: ToneDetector) -> None:
    # A tone 30 Hz off its nominal frequency (e.g. a sloppy generator).
    samples = ulaw_decode(next(tone_frames(1130.0, -20.0)))
    assert detector.classify(samples) == {"agent"}


def test_detector_rejects_bad_frequencies() -> None:
    with pytest.raises(ValueError, match="closer than"):
        ToneDetector({"a": 1000.0, "b": 1060.0})
    with pytest.raises(ValueError, match="out of range"):
        ToneDetector({"a": 4000.0})
    with pytest.raises(ValueError):
        ToneDetector({})


@settings(max_examples=300, deadline=None)
@given(
    levels=st.fixed_dictionaries(
        {},
        optional={p: st.floats(min_value=-30.0, max_value=-6.0) for p in PARTIES},
    ),
    start=st.integers(min_value=0, max_value=8000),
)
def test_classify_returns_exactly_the_mixed_subset(levels: dict[str, float], start: int) -> None:
    # A mix that clips is distorted: with these equally spaced frequencies
    # the intermodulation products (2*f1 - f2) land on the other parties.
    assume(sum(dbfs_to_amplitude(level) for level in levels.values()) <= 32124)
    detector = ToneDetector(FREQS)
    assert detector.classify(mixed_frame(levels, start)) == set(levels)


def test_analysis_speed_60s_four_parties() -> None:
    detector = ToneDetector(FREQS)
    frames = [
        ulaw_encode(
            [
                sum(v)
                for v in zip(
                    *(tone_samples(f, -18.0, start=i * FRAME_SAMPLES) for f in FREQS.values()),
                    strict=True,
                )
            ]
        )
        for i in range(50)
    ]
    payloads = [frames[i % len(frames)] for i in range(3000)]  # 60 s
    t = time.process_time()
    capture = Capture(party_names=detector.names)
    for i, payload in enumerate(payloads):
        capture.add(
            detector.classify(ulaw_decode(payload)),
            arrival=i * 0.02,
            sequence=i & 0xFFFF,
            rtp_timestamp=i * 160,
        )
    elapsed = time.process_time() - t
    assert all(capture.count_with(p) == 3000 for p in PARTIES)
    assert elapsed < 3.0, f"60 s of audio took {elapsed:.3f} s CPU"


# -- capture timeline --------------------------------------------------------

A = frozenset({"agent"})
NONE: frozenset[str] = frozenset()


def feed(capture: Capture, seqs: list[int], parties: frozenset[str] = A, ssrc: int = 1) -> None:
    for i, seq in enumerate(seqs):
        capture.add(parties, arrival=float(i), sequence=seq, rtp_timestamp=seq * 160, ssrc=ssrc)


def test_gap_counting_with_missing_sequence_number() -> None:
    cap = Capture()
    feed(cap, [10, 11, 13, 14])
    assert len(cap.frames) == 5
    assert cap.count_lost() == 1
    lost = cap.frames[2]
    assert lost.lost and lost.sequence == 12 and lost.parties == NONE
    assert lost.rtp_timestamp == 12 * 160
    assert lost.arrival == pytest.approx(1.5)
    assert cap.count_with("agent") == 4
    assert cap.count_without("agent") == 1
    assert cap.longest_gap("agent") == 1
    assert cap.fraction_with("agent") == pytest.approx(0.8)
    assert cap.summary()["lost"] == 1


def test_gap_of_several_packets_and_sequence_wrap() -> None:
    cap = Capture()
    feed(cap, [65533, 65534, 2, 3])  # 65535, 0, 1 missing
    assert len(cap.frames) == 7
    assert [f.sequence for f in cap.frames] == [65533, 65534, 65535, 0, 1, 2, 3]
    assert cap.longest_gap("agent") == 3


def test_duplicates_reordering_and_ssrc_change() -> None:
    cap = Capture()
    feed(cap, [100, 101, 103, 101, 102, 103])
    # 101 duplicate, 102 arrives late and replaces its lost placeholder, 103 duplicate.
    assert [f.sequence for f in cap.frames] == [100, 101, 102, 103]
    assert cap.count_lost() == 0
    assert (cap.duplicates, cap.reordered, cap.packets) == (2, 1, 4)
    feed(cap, [99], ssrc=1)  # older than the segment start
    assert cap.late_dropped == 1
    feed(cap, [5000, 5001], ssrc=2)  # new stream: no gap filled
    assert len(cap.frames) == 6
    assert cap.discontinuities == 1
    assert cap.count_lost() == 0


def test_time_window_queries() -> None:
    cap = Capture(party_names=("agent", "caller"))
    parties = [A, A, NONE, NONE, NONE, A | {"caller"}, A]
    for i, p in enumerate(parties):
        cap.add(p, arrival=10.0 + i * 0.02, sequence=i, rtp_timestamp=i * 160)
    assert len(cap.frames_between(10.0, 10.05)) == 3
    assert cap.count_with("agent", 10.03) == 2
    assert cap.count_without("agent", None, 10.09) == 3
    assert cap.first_time_with("caller") == pytest.approx(10.1)
    assert cap.first_time_with("agent", after=10.03) == pytest.approx(10.1)
    assert cap.first_time_with("caller", after=10.11) is None
    assert cap.last_time_with("agent", before=10.09) == pytest.approx(10.02)
    assert cap.longest_gap("agent") == 3
    assert cap.longest_gap("agent", 10.05) == 2
    assert cap.longest_gap("agent", 10.09) == 0
    assert cap.fraction_with("caller") == pytest.approx(1 / 7)
    with pytest.raises(ValueError, match="no frames"):
        cap.fraction_with("agent", 20.0, 21.0)
    with pytest.raises(ValueError, match="no frames"):
        cap.longest_gap("agent", 20.0, 21.0)
    assert [(p, n) for _, _, p, n in cap.timeline()] == [
        (A, 2),
        (NONE, 3),
        (A | {"caller"}, 1),
        (A, 1),
    ]
    assert "agent+caller" in cap.describe()
    summary = cap.summary()
    assert summary["frames"] == 7
    assert summary["parties"]["caller"]["frames"] == 1
    assert summary["parties"]["agent"]["longest_gap"] == 3
    assert cap.max_arrival_gap() == pytest.approx(0.02)


# -- UDP loopback ------------------------------------------------------------


async def test_udp_loopback_sender_to_capture(tmp_path: Path) -> None:
    detector = ToneDetector(FREQS)
    cap = await open_capture(detector, keep_samples=True)
    try:
        assert cap.port > 0
        sender = RtpSender(("127.0.0.1", cap.port), FREQS["agent"])
        t_start = time.monotonic()
        await sender.start()
        heard = await cap.wait_for("agent", timeout=2.0)
        assert heard >= t_start
        await asyncio.sleep(0.5)
        await sender.stop()
        elapsed = time.monotonic() - t_start
        await asyncio.sleep(0.05)
    finally:
        cap.close()

    assert cap.remote_addr is not None and cap.remote_addr[0] == "127.0.0.1"
    assert cap.packets == sender.sent
    # 20 ms pacing: about elapsed / 0.02 packets (generous for loaded machines).
    assert abs(sender.sent - elapsed / 0.02) <= 5
    assert cap.capture.count_lost() == 0
    assert cap.capture.fraction_with("agent") == 1.0
    assert cap.capture.count_with("caller") == 0
    assert cap.capture.longest_gap("agent") == 0
    timestamps = [f.rtp_timestamp for f in cap.capture.frames]
    assert all((b - a) & 0xFFFFFFFF == 160 for a, b in itertools.pairwise(timestamps) if a and b)

    wav_path = tmp_path / "agent.wav"
    cap.save_wav(wav_path)
    with wave.open(str(wav_path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
        assert wav.getnframes() == cap.packets * FRAME_SAMPLES


async def test_capture_sends_back_and_waits_for_absence() -> None:
    detector = ToneDetector(FREQS)
    async with (
        await open_capture(detector) as near,
        await open_capture(detector) as far,
    ):
        async with RtpSender(("127.0.0.1", near.port), FREQS["caller"]):
            await near.wait_first_packet(timeout=2.0)
            assert near.remote_addr is not None
            # Answer from near's own socket (symmetric RTP) to far.
            back = near.sender(FREQS["supervisor"], remote=("127.0.0.1", far.port))
            async with back:
                t = await far.wait_for("supervisor", timeout=2.0, consecutive=3)
                back.set_tone(None)
                gone = await far.wait_without("supervisor", timeout=2.0, after=t)
                assert gone > t
        assert far.remote_addr == ("127.0.0.1", near.port)
        assert far.capture.count_with("caller") == 0
        with pytest.raises(TimeoutError, match="not heard"):
            await far.wait_for("other", timeout=0.1)
        with pytest.raises(KeyError):
            await far.wait_for("nobody", timeout=0.1)


async def test_capture_ignores_non_rtp_and_other_payload_types() -> None:
    detector = ToneDetector(FREQS)
    cap = await open_capture(detector)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, remote_addr=("127.0.0.1", cap.port)
    )
    try:
        transport.sendto(b"hello")
        transport.sendto(build_rtp(b"\x00", sequence=1, timestamp=0, ssrc=5, payload_type=13))
        transport.sendto(
            build_rtp(next(tone_frames(FREQS["other"])), sequence=2, timestamp=160, ssrc=5)
        )
        assert await cap.wait_for("other", timeout=2.0) > 0
        assert (cap.invalid, cap.ignored, cap.packets) == (1, 1, 1)
        with pytest.raises(RuntimeError, match="keep_samples"):
            cap.samples()
    finally:
        transport.close()
        cap.close()


async def test_wait_fails_when_capture_closed() -> None:
    cap = await open_capture(ToneDetector(FREQS))
    waiting = asyncio.create_task(cap.wait_for("agent", timeout=5.0))
    first = asyncio.create_task(cap.wait_first_packet(timeout=5.0))
    await asyncio.sleep(0.01)
    cap.close()
    with pytest.raises(ConnectionError):
        await waiting
    with pytest.raises(ConnectionError):
        await first
    with pytest.raises(TimeoutError, match="no RTP"):
        other = await open_capture(ToneDetector(FREQS))
        try:
            await other.wait_first_packet(timeout=0.05)
        finally:
            other.close()
