"""Coaching modes and the audio routing each one means.

Routing is expressed as three switches, one per audio path of a session:

- ``ear``: the call (agent and caller) reaches the supervisor;
- ``agent``: the supervisor's voice reaches the agent;
- ``caller``: the supervisor's voice reaches the caller.

ChanSpy equivalents: monitor ``q``, whisper ``qw``, private whisper ``qW``,
barge ``qB``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from types import MappingProxyType


class Mode(enum.StrEnum):
    MONITOR = "monitor"
    WHISPER = "whisper"
    PRIVATE_WHISPER = "private_whisper"
    BARGE = "barge"


@dataclass(frozen=True, slots=True)
class Routing:
    ear: bool
    agent: bool
    caller: bool


ROUTING = MappingProxyType(
    {
        Mode.MONITOR: Routing(ear=True, agent=False, caller=False),
        Mode.WHISPER: Routing(ear=True, agent=True, caller=False),
        Mode.PRIVATE_WHISPER: Routing(ear=False, agent=True, caller=False),
        Mode.BARGE: Routing(ear=True, agent=True, caller=True),
    }
)

TALKING_MODES = frozenset(m for m, r in ROUTING.items() if r.agent or r.caller)

KEYMAPS = MappingProxyType(
    {
        # ChanSpy's `d` option.
        "chanspy": MappingProxyType({"4": Mode.MONITOR, "5": Mode.WHISPER, "6": Mode.BARGE}),
        # VICIdial's enhanced monitoring swaps barge and whisper.
        "vicidial": MappingProxyType({"4": Mode.MONITOR, "5": Mode.BARGE, "6": Mode.WHISPER}),
    }
)

END_DIGIT = "*"
VOLUME_DIGIT = "#"


def parse_mode(value: str) -> Mode | None:
    try:
        return Mode(value.strip().lower())
    except ValueError:
        return None


def next_volume(level: int) -> int:
    """ChanSpy's `#`: 0, 1, ... 4, -4, -3, ... and round again."""
    return -4 if level >= 4 else level + 1
