"""Per-frame tone detection and a timeline of who was heard when.

Every party of a call sends a continuous sine at its own frequency.  The
:class:`ToneDetector` measures, per 20 ms frame, the level of each party's
frequency (Hann-windowed Goertzel filter) and reports the parties present.
A :class:`Capture` records the per-frame results of one listening point as a
timeline, filling gaps in the RTP sequence numbers with "lost" frames in
which nothing was heard, and answers the questions integration tests ask:
how often, from when, with which gaps was a party heard.

All times are ``time.monotonic()`` seconds, so tests can mark their actions
with ``time.monotonic()`` and query the windows between them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from operator import mul
from typing import Any, NamedTuple

from tests.audio.g711 import FRAME_SAMPLES, FULL_SCALE, SAMPLE_RATE, ulaw_decode

__all__ = ["Capture", "Frame", "ToneDetector", "goertzel_coeff", "goertzel_power"]


def goertzel_coeff(freq_hz: float, sample_rate: int = SAMPLE_RATE) -> float:
    """The Goertzel recurrence coefficient ``2*cos(2*pi*f/fs)``."""
    return 2.0 * math.cos(2.0 * math.pi * freq_hz / sample_rate)


def goertzel_power(samples: Iterable[float], coeff: float) -> float:
    """Squared DFT magnitude ``|X(f)|**2`` of ``samples`` at the frequency of ``coeff``.

    Works for any (also non-integer bin) frequency.  For an unwindowed sine of
    amplitude ``A`` over ``N`` samples at exactly that frequency the result is
    about ``(A*N/2)**2``.
    """
    s1 = 0.0
    s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coeff * s1 * s2


def _power_to_dbfs(power: float, window_sum: float) -> float:
    if power <= 0.0:
        return -math.inf
    amplitude = 2.0 * math.sqrt(power) / window_sum
    return 20.0 * math.log10(amplitude / FULL_SCALE)


class _FrameSetup(NamedTuple):
    window: tuple[float, ...]
    window_sum: float
    threshold_power: float


class ToneDetector:
    """Decide which parties' tones are present in a frame of linear samples.

    ``freqs`` maps party name to tone frequency (Hz).  A party is present
    when the level at its frequency, expressed in dBFS of the equivalent sine
    (a -12 dBFS sine measures about -12), is above ``threshold_dbfs`` *and*
    no more than ``max_below_peak_db`` below the strongest party in the same
    frame (so leakage, distortion or harmonics of a loud tone are not
    mistaken for a quiet one).  Frequencies must be at least
    ``min_separation_hz`` apart (the Hann main lobe of a 20 ms frame is
    +-100 Hz) and should not be harmonics of each other.
    """

    def __init__(
        self,
        freqs: Mapping[str, float],
        threshold_dbfs: float = -40.0,
        *,
        max_below_peak_db: float = 30.0,
        sample_rate: int = SAMPLE_RATE,
        min_separation_hz: float = 150.0,
    ) -> None:
        if not freqs:
            raise ValueError("at least one party frequency is required")
        nyquist = sample_rate / 2.0
        for name, f in freqs.items():
            if not 0.0 < f < nyquist:
                raise ValueError(f"frequency of {name!r} out of range (0, {nyquist}): {f}")
        ordered = sorted(freqs.items(), key=lambda kv: kv[1])
        for (n1, f1), (n2, f2) in pairwise(ordered):
            if f2 - f1 < min_separation_hz:
                raise ValueError(
                    f"{n1!r} ({f1} Hz) and {n2!r} ({f2} Hz) are closer than "
                    f"{min_separation_hz} Hz and cannot be told apart"
                )
        self.freqs: dict[str, float] = dict(freqs)
        self.threshold_dbfs = threshold_dbfs
        self.max_below_peak_db = max_below_peak_db
        self.sample_rate = sample_rate
        self.names: tuple[str, ...] = tuple(self.freqs)
        self._coeffs: tuple[float, ...] = tuple(
            goertzel_coeff(f, sample_rate) for f in self.freqs.values()
        )
        self._relative = math.pow(10.0, -max_below_peak_db / 10.0)
        self._setups: dict[int, _FrameSetup] = {}
        self._setup(FRAME_SAMPLES)

    def _setup(self, n: int) -> _FrameSetup:
        setup = self._setups.get(n)
        if setup is None:
            # Periodic Hann window: sidelobes fall off fast, so a loud tone
            # does not leak into the bins of the other parties.
            window = tuple(0.5 - 0.5 * math.cos(2.0 * math.pi * i / n) for i in range(n))
            window_sum = math.fsum(window)
            amplitude = FULL_SCALE * math.pow(10.0, self.threshold_dbfs / 20.0)
            threshold_power = (amplitude * window_sum / 2.0) ** 2
            setup = _FrameSetup(window, window_sum, threshold_power)
            self._setups[n] = setup
        return setup

    def _powers(self, samples: Sequence[float], setup: _FrameSetup) -> list[float]:
        windowed = list(map(mul, setup.window, samples))
        return [goertzel_power(windowed, c) for c in self._coeffs]

    def levels(self, samples: Sequence[float]) -> dict[str, float]:
        """Level (dBFS of the equivalent sine) at each party's frequency."""
        if not samples:
            return dict.fromkeys(self.names, -math.inf)
        setup = self._setup(len(samples))
        powers = self._powers(samples, setup)
        return {
            name: _power_to_dbfs(p, setup.window_sum)
            for name, p in zip(self.names, powers, strict=True)
        }

    def classify(self, samples: Sequence[float]) -> frozenset[str]:
        """Names of the parties whose tone is present in this frame."""
        if not samples:
            return frozenset()
        setup = self._setup(len(samples))
        powers = self._powers(samples, setup)
        floor = max(setup.threshold_power, max(powers) * self._relative)
        return frozenset(name for name, p in zip(self.names, powers, strict=True) if p > floor)

    def classify_payload(self, payload: bytes) -> frozenset[str]:
        """:meth:`classify` for a G.711 µ-law payload."""
        return self.classify(ulaw_decode(payload))


class Frame(NamedTuple):
    """One frame of the timeline (indexable as ``(arrival, rtp_timestamp, parties)``)."""

    arrival: float
    """``time.monotonic()`` at arrival (interpolated for lost frames)."""
    rtp_timestamp: int | None
    parties: frozenset[str]
    """Parties heard in the frame (empty for lost frames)."""
    sequence: int | None = None
    """RTP sequence number (16 bit), ``None`` when not known."""
    lost: bool = False
    """True for a placeholder of a packet missing from the sequence."""


_NOTHING: frozenset[str] = frozenset()


def _in(frame: Frame, t0: float | None, t1: float | None) -> bool:
    return (t0 is None or frame.arrival >= t0) and (t1 is None or frame.arrival < t1)


@dataclass
class Capture:
    """Timeline of per-frame detection results of one listening point.

    ``frames`` is in media (RTP sequence) order.  A time window ``(t0, t1)``
    selects the frames with ``t0 <= arrival < t1``; ``None`` leaves that side
    open.  Gaps in the sequence numbers of one SSRC are filled with lost
    frames (nothing heard); a new SSRC, or a jump of more than
    ``max_fill_frames``, starts a new segment without filling.
    """

    party_names: tuple[str, ...] = ()
    keep_samples: bool = False
    frame_samples: int = FRAME_SAMPLES
    max_fill_frames: int = 1500
    frames: list[Frame] = field(default_factory=list)
    packets: int = 0
    """Frames added (received packets), excluding duplicates and late drops."""
    duplicates: int = 0
    reordered: int = 0
    """Late packets that filled a gap already recorded as lost."""
    late_dropped: int = 0
    """Late packets older than the start of their segment (ignored)."""
    discontinuities: int = 0
    """New segments started by an SSRC change or a huge sequence jump."""

    _samples: list[list[int] | None] = field(default_factory=list, repr=False)
    _ssrc: int | None = field(default=None, repr=False)
    _seg_base: int = field(default=0, repr=False)
    _seg_first: int = field(default=0, repr=False)
    _seg_max: int | None = field(default=None, repr=False)

    # -- recording -------------------------------------------------------

    def add(
        self,
        parties: frozenset[str],
        *,
        arrival: float,
        sequence: int | None = None,
        rtp_timestamp: int | None = None,
        ssrc: int | None = None,
        samples: list[int] | None = None,
    ) -> list[Frame]:
        """Record one received frame; returns the frames appended to the timeline.

        Those are the lost placeholders for a sequence gap followed by the new
        frame.  A duplicate, or a late packet (which at most replaces its lost
        placeholder in place), appends nothing.
        """
        kept = samples if self.keep_samples else None
        frame = Frame(arrival, rtp_timestamp, parties, sequence)
        if sequence is None:
            self.packets += 1
            self._append(frame, kept)
            return [frame]

        if self._seg_max is None or (ssrc is not None and ssrc != self._ssrc):
            if self._seg_max is not None:
                self.discontinuities += 1
            self._start_segment(sequence, ssrc)
            self.packets += 1
            self._append(frame, kept)
            return [frame]

        seg_max = self._seg_max
        delta = (sequence - seg_max) & 0xFFFF
        if delta == 0:
            self.duplicates += 1
            return []
        if delta < 0x8000:
            if delta > self.max_fill_frames:
                self.discontinuities += 1
                self._start_segment(sequence, ssrc)
                self.packets += 1
                self._append(frame, kept)
                return [frame]
            added = self._fill_gap(delta - 1, frame)
            self._seg_max = seg_max + delta
            self.packets += 1
            self._append(frame, kept)
            added.append(frame)
            return added

        ext = seg_max - (0x10000 - delta)
        if ext < self._seg_first:
            self.late_dropped += 1
            return []
        index = self._seg_base + (ext - self._seg_first)
        if not self.frames[index].lost:
            self.duplicates += 1
            return []
        self.frames[index] = frame
        self._samples[index] = kept
        self.reordered += 1
        self.packets += 1
        return []

    def _start_segment(self, sequence: int, ssrc: int | None) -> None:
        self._ssrc = ssrc
        self._seg_base = len(self.frames)
        # Extended sequence numbers start at 2**16 so late packets of the
        # first cycle still get non-negative values.
        self._seg_first = 0x10000 + sequence
        self._seg_max = self._seg_first

    def _fill_gap(self, missing: int, frame: Frame) -> list[Frame]:
        if missing <= 0:
            return []
        last = self.frames[-1]
        added: list[Frame] = []
        steps = missing + 1
        ts_step: float | None = None
        if last.rtp_timestamp is not None and frame.rtp_timestamp is not None:
            ts_step = ((frame.rtp_timestamp - last.rtp_timestamp) & 0xFFFFFFFF) / steps
        seq0 = last.sequence
        for k in range(1, steps):
            arrival = last.arrival + (frame.arrival - last.arrival) * k / steps
            ts = None
            if ts_step is not None and last.rtp_timestamp is not None:
                ts = (last.rtp_timestamp + round(ts_step * k)) & 0xFFFFFFFF
            seq = None if seq0 is None else (seq0 + k) & 0xFFFF
            lost = Frame(arrival, ts, _NOTHING, seq, True)
            self._append(lost, None)
            added.append(lost)
        return added

    def _append(self, frame: Frame, samples: list[int] | None) -> None:
        self.frames.append(frame)
        self._samples.append(samples)

    # -- queries ---------------------------------------------------------

    def frames_between(self, t0: float | None = None, t1: float | None = None) -> list[Frame]:
        """Frames with ``t0 <= arrival < t1`` (lost frames included)."""
        if t0 is None and t1 is None:
            return list(self.frames)
        return [f for f in self.frames if _in(f, t0, t1)]

    def count_with(self, party: str, t0: float | None = None, t1: float | None = None) -> int:
        """Number of frames in the window in which ``party`` was heard."""
        return sum(1 for f in self.frames if party in f.parties and _in(f, t0, t1))

    def count_without(self, party: str, t0: float | None = None, t1: float | None = None) -> int:
        """Number of frames in the window (lost ones included) lacking ``party``."""
        return sum(1 for f in self.frames if party not in f.parties and _in(f, t0, t1))

    def count_lost(self, t0: float | None = None, t1: float | None = None) -> int:
        """Number of lost (sequence gap) frames in the window."""
        return sum(1 for f in self.frames if f.lost and _in(f, t0, t1))

    def fraction_with(self, party: str, t0: float | None = None, t1: float | None = None) -> float:
        """Fraction of the window's frames (lost ones included) in which ``party`` was heard.

        Raises ``ValueError`` for a window without frames, so that an
        assertion about a window in which nothing arrived cannot pass
        vacuously.
        """
        frames = self.frames_between(t0, t1)
        if not frames:
            raise ValueError(f"no frames between {t0} and {t1}: {self.describe()}")
        return sum(1 for f in frames if party in f.parties) / len(frames)

    def first_time_with(self, party: str, after: float | None = None) -> float | None:
        """Arrival time of the first frame at or after ``after`` in which ``party`` was heard."""
        for f in self.frames:
            if party in f.parties and (after is None or f.arrival >= after):
                return f.arrival
        return None

    def last_time_with(self, party: str, before: float | None = None) -> float | None:
        """Arrival time of the last frame before ``before`` in which ``party`` was heard."""
        for f in reversed(self.frames):
            if party in f.parties and (before is None or f.arrival < before):
                return f.arrival
        return None

    def longest_gap(self, party: str, t0: float | None = None, t1: float | None = None) -> int:
        """Longest run of consecutive frames in the window lacking ``party``.

        Lost frames (missing sequence numbers) count as lacking.  Raises
        ``ValueError`` for a window without frames.
        """
        frames = self.frames_between(t0, t1)
        if not frames:
            raise ValueError(f"no frames between {t0} and {t1}: {self.describe()}")
        longest = run = 0
        for f in frames:
            if party in f.parties:
                run = 0
            else:
                run += 1
                longest = max(longest, run)
        return longest

    def max_arrival_gap(self, t0: float | None = None, t1: float | None = None) -> float:
        """Longest time (s) between consecutive received (not lost) frames in the window.

        Reveals stalls in which no packets arrived at all, which sequence
        numbers cannot show.  0.0 with fewer than two frames.
        """
        times = sorted(f.arrival for f in self.frames if not f.lost and _in(f, t0, t1))
        return max((b - a for a, b in pairwise(times)), default=0.0)

    def timeline(
        self, t0: float | None = None, t1: float | None = None
    ) -> list[tuple[float, float, frozenset[str], int]]:
        """Runs of frames with the same parties: ``(first_arrival, last_arrival, parties, n)``."""
        runs: list[tuple[float, float, frozenset[str], int]] = []
        for f in self.frames_between(t0, t1):
            if runs and runs[-1][2] == f.parties:
                start, _, parties, n = runs[-1]
                runs[-1] = (start, f.arrival, parties, n + 1)
            else:
                runs.append((f.arrival, f.arrival, f.parties, 1))
        return runs

    def describe(
        self,
        t0: float | None = None,
        t1: float | None = None,
        *,
        origin: float | None = None,
        max_runs: int = 40,
    ) -> str:
        """Human-readable timeline, for assertion messages.

        Times are relative to ``origin`` (default: the first frame).
        """
        if not self.frames:
            return "<no frames>"
        base = self.frames[0].arrival if origin is None else origin
        runs = self.timeline(t0, t1)
        parts = [
            f"{s - base:+.3f}..{e - base:+.3f}s {n}fr {'+'.join(sorted(p)) if p else '-'}"
            for s, e, p, n in runs[:max_runs]
        ]
        if len(runs) > max_runs:
            parts.append(f"... {len(runs) - max_runs} more runs")
        return "; ".join(parts) if parts else "<no frames in window>"

    def samples(self) -> list[int]:
        """Kept linear samples in timeline order, silence for lost frames.

        Empty unless the capture was created with ``keep_samples=True``.
        """
        if not self.keep_samples:
            return []
        out: list[int] = []
        for s in self._samples:
            out.extend(s if s is not None else [0] * self.frame_samples)
        return out

    def summary(self) -> dict[str, Any]:
        """Counts and per-party statistics (JSON-serialisable)."""
        frames = self.frames
        names = list(self.party_names)
        for f in frames:
            for p in sorted(f.parties):
                if p not in names:
                    names.append(p)
        parties: dict[str, dict[str, Any]] = {}
        for name in names:
            heard = sum(1 for f in frames if name in f.parties)
            parties[name] = {
                "frames": heard,
                "fraction": heard / len(frames) if frames else 0.0,
                "first": self.first_time_with(name),
                "longest_gap": self.longest_gap(name) if frames else 0,
            }
        return {
            "frames": len(frames),
            "packets": self.packets,
            "lost": self.count_lost(),
            "duplicates": self.duplicates,
            "reordered": self.reordered,
            "late_dropped": self.late_dropped,
            "discontinuities": self.discontinuities,
            "first_arrival": frames[0].arrival if frames else None,
            "last_arrival": frames[-1].arrival if frames else None,
            "duration_s": frames[-1].arrival - frames[0].arrival if frames else 0.0,
            "max_arrival_gap_s": self.max_arrival_gap(),
            "parties": parties,
        }
