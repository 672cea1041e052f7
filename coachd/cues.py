"""Whisper cues: the guide's "pre-arranged signals", five words or fewer.

coachd plays ``<[cues] media_prefix><name>`` (Asterisk finds the file in its
sounds directory); ``coachd cues generate`` speaks :data:`LIBRARY` into 8 kHz
WAV files with espeak-ng and sox, for the operator to copy there (or record
their own under the same names).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from coachd.errors import CoachdError

LIBRARY: Mapping[str, str] = MappingProxyType(
    {
        "ask-timeline": "Ask about the timeline.",
        "price-objection": "Price objection. Use R O I.",
        "slow-down": "Slow down.",
        "compliance-now": "Compliance disclosure now.",
        "ask-for-close": "Ask for the close.",
        "build-rapport": "Build rapport.",
        "listen-more": "Listen more, talk less.",
        "confirm-details": "Confirm the details.",
    }
)
"""Cue name -> what is said."""

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class CueError(CoachdError):
    """A cue could not be generated."""


def generate(
    out: Path, names: tuple[str, ...] = tuple(LIBRARY), voice: str = "en-us"
) -> list[Path]:
    """Speak each cue of the library into ``out/<name>.wav`` (8 kHz, 16-bit, mono)."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise CueError(tool + " is not installed (Debian: apt-get install espeak-ng sox)")
    unknown = [n for n in names if n not in LIBRARY]
    if unknown:
        raise CueError("no text for cue " + unknown[0] + ": record it yourself")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            raw = Path(tmp) / (name + ".wav")
            target = out / (name + ".wav")
            try:
                subprocess.run(
                    ["espeak-ng", "-v", voice, "-s", "170", "-w", str(raw), LIBRARY[name]],
                    check=True,
                    capture_output=True,
                )
                subprocess.run(
                    ["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(target)],
                    check=True,
                    capture_output=True,
                )
            except subprocess.CalledProcessError as exc:
                raise CueError(name + ": " + exc.stderr.decode(errors="replace").strip()) from None
            written.append(target)
    return written
