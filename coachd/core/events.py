"""What happens to a session: the inputs of the state machine."""

from __future__ import annotations

from dataclasses import dataclass, field

from coachd.core.commands import Command
from coachd.core.modes import Mode


@dataclass(frozen=True, slots=True)
class SupervisorArrived:
    """The supervisor's channel entered coachd's Stasis application."""

    channel: str
    endpoint: str
    agent: str
    mode: Mode


@dataclass(frozen=True, slots=True)
class Authorized:
    supervisor: str
    modes: frozenset[Mode]
    agent_channel: str


@dataclass(frozen=True, slots=True)
class Refused:
    reason: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class HandedOff:
    """The agent's call is on another node of the cluster: the supervisor's call was
    sent there, with a signed grant, and the session runs on that node."""

    node: str


@dataclass(frozen=True, slots=True)
class ChannelStarted:
    """A channel the session created entered Stasis (it can now be bridged, muted)."""

    channel: str


@dataclass(frozen=True, slots=True)
class ChannelGone:
    channel: str


@dataclass(frozen=True, slots=True)
class DtmfReceived:
    channel: str
    digit: str


@dataclass(frozen=True, slots=True)
class ModeRequested:
    mode: Mode
    source: str = "dtmf"
    blocked_by: str | None = None
    """Set by the registry when another session already talks to this agent."""


@dataclass(frozen=True, slots=True)
class CueRequested:
    """Play the whisper cue ``name`` into the agent's ear (HTTP API; DTMF digits
    become cues inside the session, see ``Options.cue_digits``)."""

    name: str
    source: str = "api"


@dataclass(frozen=True, slots=True)
class EndRequested:
    reason: str
    tone: bool = False
    """Play the end tone to the supervisor before hanging up (e.g. on shutdown)."""


@dataclass(frozen=True, slots=True)
class PlaybackFinished:
    playback: str


@dataclass(frozen=True, slots=True)
class TimerFired:
    name: str


@dataclass(frozen=True, slots=True)
class CommandFailed:
    """A command failed in Asterisk (status 0: Asterisk unreachable).

    ``dropped`` lists the commands of the same batch that were not carried out
    because of it (empty for a best-effort command, see commands.BEST_EFFORT).
    """

    command: Command
    status: int
    message: str = ""
    dropped: tuple[Command, ...] = field(default=())


SessionEvent = (
    SupervisorArrived
    | Authorized
    | Refused
    | HandedOff
    | ChannelStarted
    | ChannelGone
    | DtmfReceived
    | ModeRequested
    | CueRequested
    | EndRequested
    | PlaybackFinished
    | TimerFired
    | CommandFailed
)
