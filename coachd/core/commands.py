"""What a session asks the outside world to do: the outputs of the state machine.

The executor carries them out in order and reports results back as events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from coachd.core.modes import Mode

Direction = Literal["none", "both", "out", "in"]
MuteDirection = Literal["in", "out"]


@dataclass(frozen=True, slots=True)
class Answer:
    channel: str


@dataclass(frozen=True, slots=True)
class Authorize:
    """Check the supervisor and find the agent's channel: answers Authorized or Refused."""

    endpoint: str
    agent: str
    mode: Mode


@dataclass(frozen=True, slots=True)
class CreateBridge:
    bridge: str


@dataclass(frozen=True, slots=True)
class CreateSnoop:
    snoop: str
    target: str
    spy: Direction
    whisper: Direction


@dataclass(frozen=True, slots=True)
class Mute:
    channel: str
    direction: MuteDirection


@dataclass(frozen=True, slots=True)
class Unmute:
    channel: str
    direction: MuteDirection


@dataclass(frozen=True, slots=True)
class AddToBridge:
    bridge: str
    channels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Play:
    channel: str
    media: str
    playback: str


@dataclass(frozen=True, slots=True)
class PlayOnBridge:
    """Play to every member of a bridge, mixed with what they hear already."""

    bridge: str
    media: str
    playback: str


@dataclass(frozen=True, slots=True)
class StopPlayback:
    playback: str


@dataclass(frozen=True, slots=True)
class SetVolume:
    channel: str
    level: int


@dataclass(frozen=True, slots=True)
class Hangup:
    channel: str


@dataclass(frozen=True, slots=True)
class DestroyBridge:
    bridge: str


@dataclass(frozen=True, slots=True)
class StartTimer:
    name: str
    seconds: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    name: str


@dataclass(frozen=True, slots=True)
class Publish:
    """A session event for the outside world (log, MQTT, audit)."""

    type: str
    seq: int
    data: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Finished:
    """The session is over and holds nothing in Asterisk any more."""

    reason: str


Command = (
    Answer
    | Authorize
    | CreateBridge
    | CreateSnoop
    | Mute
    | Unmute
    | AddToBridge
    | Play
    | PlayOnBridge
    | StopPlayback
    | SetVolume
    | Hangup
    | DestroyBridge
    | StartTimer
    | CancelTimer
    | Publish
    | Finished
)


BEST_EFFORT: tuple[type, ...] = (
    Hangup,
    DestroyBridge,
    Play,
    PlayOnBridge,
    StopPlayback,
    SetVolume,
    StartTimer,
    CancelTimer,
    Publish,
)
"""Commands whose failure does not stop the rest of their batch: cleanup,
prompts and reports. (Hangup, DestroyBridge and StopPlayback of something
already gone are not failures at all.)"""


def is_best_effort(command: Command) -> bool:
    return isinstance(command, BEST_EFFORT)
