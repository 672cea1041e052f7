"""One coaching session as a state machine: events in, commands out, no I/O.

Everything that decides what a session does to Asterisk lives in this file.

The audio design ("ear and mouths"):

- ``ear`` bridge: {supervisor, ear snoop}. The ear snoop sits on the agent's
  channel with ``spy=both`` (the supervisor hears agent and caller) and
  ``whisper=out`` (what the supervisor says reaches the agent only). This
  bridge never changes during the session, so the supervisor never loses the
  call audio on a switch.
- ``barge`` bridge (only when the supervisor may barge): {mic snoop on the
  supervisor's channel with ``spy=in``, caller snoop on the agent's channel
  with ``whisper=in``}: the supervisor's voice mixed into what the agent
  sends, which is what the caller hears.

Snoop directions cannot change after creation, so a mode switch only mutes
and unmutes paths (ARI ``/channels/{id}/mute``), with every path that closes
muted before any path that opens is unmuted: at no moment does a switch
route more than the old mode or the new mode allows.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from coachd.core import commands as c
from coachd.core import events as e
from coachd.core.modes import (
    END_DIGIT,
    KEYMAPS,
    ROUTING,
    VOLUME_DIGIT,
    Mode,
    Routing,
    next_volume,
)

REFUSAL_MEDIA = MappingProxyType(
    {
        "unknown_agent": "sound:pbx-invalid",
        "agent_not_on_call": "sound:vm-isunavail",
        "own_endpoint": "sound:cannot-complete-as-dialed",
        "not_permitted": "sound:feature-not-avail-line",
        "another_supervisor_talking": "sound:feature-not-avail-line",
        "bad_request": "sound:pbx-invalid",
        "error": "sound:cannot-complete-as-dialed",
    }
)
ERROR_TONE_MEDIA = "tone:!620/120,!0/60,!620/120"
ERROR_TONE_SECONDS = 0.3
"""Short, because while it plays the supervisor does not hear the call."""
BEEP_MEDIA = "sound:beep"
END_TONE_MEDIA = "tone:!480/200,!0/100,!480/200"
END_TONE_SECONDS = 0.55
"""ARI tone playbacks never finish by themselves: hang up after the tone's length."""
PLAYBACK_GRACE = 10.0
"""Seconds to wait for a refusal message to finish before hanging up anyway."""


class State(enum.Enum):
    AUTHORIZING = "authorizing"
    SETTING_UP = "setting_up"
    ACTIVE = "active"
    REFUSING = "refusing"
    ENDING = "ending"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class SessionIds:
    """Names of everything a session creates in Asterisk: all start with coachd-<id>."""

    session: str

    @property
    def prefix(self) -> str:
        return "coachd-" + self.session

    @property
    def ear_bridge(self) -> str:
        return self.prefix + "-ear"

    @property
    def barge_bridge(self) -> str:
        return self.prefix + "-barge"

    @property
    def ear_snoop(self) -> str:
        return self.prefix + "-ear"

    @property
    def mic_snoop(self) -> str:
        return self.prefix + "-mic"

    @property
    def caller_snoop(self) -> str:
        return self.prefix + "-caller"

    def playback(self, n: int) -> str:
        return self.prefix + "-play-" + str(n)


@dataclass(frozen=True, slots=True)
class Options:
    keymap: str = "chanspy"
    beep_supervisor: bool = False
    end_tone: bool = True


@dataclass
class Session:
    """Feed events with :meth:`handle`; carry out the commands it returns, in order."""

    id: str
    supervisor_channel: str
    endpoint: str
    agent: str
    requested_mode: Mode
    options: Options = field(default_factory=Options)

    state: State = State.AUTHORIZING
    supervisor: str = ""
    agent_channel: str = ""
    granted: frozenset[Mode] = frozenset()
    mode: Mode | None = None
    volume: int = 0
    end_reason: str = ""
    ids: SessionIds = field(init=False)
    snoops: set[str] = field(default_factory=set)
    pending: set[str] = field(default_factory=set)
    bridges: list[str] = field(default_factory=list)
    muted: dict[tuple[str, c.MuteDirection], bool] = field(default_factory=dict)
    waiting_playback: str | None = None
    seq: int = 0
    playbacks: int = 0

    def __post_init__(self) -> None:
        self.ids = SessionIds(self.id)

    # --- entry point --------------------------------------------------------

    def start(self) -> list[c.Command]:
        return [
            c.Answer(self.supervisor_channel),
            c.Authorize(self.endpoint, self.agent, self.requested_mode),
        ]

    def handle(self, event: e.SessionEvent) -> list[c.Command]:
        handler = TRANSITIONS.get((self.state, type(event)))
        if handler is None:
            return self._stray(event)
        return handler(self, event)

    @property
    def talking(self) -> bool:
        return (
            self.state is State.ACTIVE
            and self.mode is not None
            and (ROUTING[self.mode].agent or ROUTING[self.mode].caller)
        )

    def owns(self, channel: str) -> bool:
        return channel == self.supervisor_channel or channel in self.snoops

    # --- authorizing --------------------------------------------------------

    def _on_authorized(self, ev: e.Authorized) -> list[c.Command]:
        self.supervisor = ev.supervisor
        self.granted = ev.modes
        self.agent_channel = ev.agent_channel
        self.state = State.SETTING_UP
        cmds: list[c.Command] = [
            c.CreateBridge(self.ids.ear_bridge),
            c.CreateSnoop(self.ids.ear_snoop, self.agent_channel, spy="both", whisper="out"),
        ]
        self.bridges.append(self.ids.ear_bridge)
        self.snoops.add(self.ids.ear_snoop)
        if Mode.BARGE in self.granted:
            cmds += [
                c.CreateBridge(self.ids.barge_bridge),
                c.CreateSnoop(
                    self.ids.mic_snoop, self.supervisor_channel, spy="in", whisper="none"
                ),
                c.CreateSnoop(self.ids.caller_snoop, self.agent_channel, spy="none", whisper="in"),
            ]
            self.bridges.append(self.ids.barge_bridge)
            self.snoops |= {self.ids.mic_snoop, self.ids.caller_snoop}
        self.pending = set(self.snoops)
        return cmds

    def _on_refused(self, ev: e.Refused) -> list[c.Command]:
        return self._refuse(ev.reason, ev.detail)

    def _refuse(self, reason: str, detail: str = "") -> list[c.Command]:
        """Tear down what exists, tell the supervisor why, then hang up."""
        cmds = self._teardown()
        self.state = State.REFUSING
        self.end_reason = reason
        media = REFUSAL_MEDIA.get(reason, REFUSAL_MEDIA["error"])
        data: dict[str, object] = {"reason": reason}
        if detail:
            data["detail"] = detail
        return [*cmds, self._publish("session_refused", **data), *self._play_then_hangup(media)]

    # --- setting up ---------------------------------------------------------

    def _on_channel_started_setup(self, ev: e.ChannelStarted) -> list[c.Command]:
        self.pending.discard(ev.channel)
        if self.pending:
            return []
        mode = self.requested_mode
        if mode not in self.granted:
            return self._refuse("not_permitted")
        self.state = State.ACTIVE
        self.mode = mode
        routing = ROUTING[mode]
        cmds: list[c.Command] = self._apply_routing(routing)
        cmds.append(
            c.AddToBridge(self.ids.ear_bridge, (self.supervisor_channel, self.ids.ear_snoop))
        )
        if Mode.BARGE in self.granted:
            cmds.append(
                c.AddToBridge(self.ids.barge_bridge, (self.ids.mic_snoop, self.ids.caller_snoop))
            )
        if self.options.beep_supervisor:
            cmds.append(self._play(BEEP_MEDIA))
        cmds.append(self._publish("session_started", mode=mode.value))
        return cmds

    def _on_mode_requested_setup(self, ev: e.ModeRequested) -> list[c.Command]:
        if ev.mode in self.granted and ev.blocked_by is None:
            self.requested_mode = ev.mode
        return []

    # --- active ---------------------------------------------------------------

    def _on_mode_requested(self, ev: e.ModeRequested) -> list[c.Command]:
        assert self.mode is not None
        if ev.mode == self.mode:
            return []
        if ev.mode not in self.granted or ev.blocked_by is not None:
            reason = (
                "not_permitted" if ev.mode not in self.granted else "another_supervisor_talking"
            )
            return [
                *self._play_tone(ERROR_TONE_MEDIA, ERROR_TONE_SECONDS),
                self._publish(
                    "mode_refused", requested=ev.mode.value, reason=reason, source=ev.source
                ),
            ]
        before = self.mode
        self.mode = ev.mode
        return [
            *self._apply_routing(ROUTING[ev.mode]),
            self._publish(
                "mode_changed", before=before.value, after=ev.mode.value, source=ev.source
            ),
        ]

    def _on_dtmf(self, ev: e.DtmfReceived) -> list[c.Command]:
        if ev.channel != self.supervisor_channel:
            return []
        if ev.digit == END_DIGIT:
            return self._end("supervisor_ended", tone=False)
        if ev.digit == VOLUME_DIGIT:
            self.volume = next_volume(self.volume)
            return [c.SetVolume(self.supervisor_channel, self.volume)]
        # Mode digits reach the session as ModeRequested (see mode_for_digit),
        # after the registry's single-talker check.
        return []

    def mode_for_digit(self, digit: str) -> Mode | None:
        return KEYMAPS[self.options.keymap].get(digit)

    def _on_channel_gone(self, ev: e.ChannelGone) -> list[c.Command]:
        if ev.channel == self.supervisor_channel or ev.channel == self.ids.mic_snoop:
            self.snoops.discard(ev.channel)
            return self._end("supervisor_hangup", tone=False, supervisor_gone=True)
        if ev.channel in self.snoops:
            # The snoops on the agent's channel end with the agent's call.
            self.snoops.discard(ev.channel)
            return self._end("agent_hangup", tone=self.options.end_tone)
        return []

    def _on_end_requested(self, ev: e.EndRequested) -> list[c.Command]:
        return self._end(ev.reason, tone=False)

    def _on_command_failed(self, ev: e.CommandFailed) -> list[c.Command]:
        cmd = ev.command
        if isinstance(cmd, (c.Mute, c.Unmute, c.AddToBridge)) and ev.status == 404:
            # A snoop vanished under us: the agent's call is over.
            return self._end("agent_hangup", tone=self.options.end_tone)
        if isinstance(cmd, (c.Play, c.StopPlayback, c.SetVolume)):
            return []
        if isinstance(cmd, c.Answer):
            return self._end("supervisor_hangup", tone=False, supervisor_gone=True)
        return self._end(
            "error", tone=False, detail=f"{type(cmd).__name__}: {ev.status} {ev.message}"
        )

    # --- ending -----------------------------------------------------------------

    def _end(
        self,
        reason: str,
        *,
        tone: bool,
        supervisor_gone: bool = False,
        detail: str = "",
    ) -> list[c.Command]:
        was_active = self.state is State.ACTIVE
        self.end_reason = reason
        cmds = self._teardown()
        data: dict[str, object] = {"reason": reason}
        if detail:
            data["detail"] = detail
        if was_active:
            cmds.append(self._publish("session_ended", **data))
        else:
            cmds.append(self._publish("session_refused", **data))
        if supervisor_gone:
            self.state = State.ENDED
            cmds.append(c.Finished(reason))
        elif tone:
            self.state = State.ENDING
            cmds += self._play_then_hangup(END_TONE_MEDIA, END_TONE_SECONDS)
        else:
            self.state = State.ENDED
            cmds += [c.Hangup(self.supervisor_channel), c.Finished(reason)]
        return cmds

    def _teardown(self) -> list[c.Command]:
        cmds: list[c.Command] = [c.Hangup(s) for s in sorted(self.snoops)]
        cmds += [c.DestroyBridge(b) for b in self.bridges]
        self.snoops.clear()
        self.pending.clear()
        self.bridges.clear()
        return cmds

    def _play_then_hangup(self, media: str, seconds: float = PLAYBACK_GRACE) -> list[c.Command]:
        """Play to the supervisor, then hang up: when it finishes, or after ``seconds``."""
        play = self._play(media)
        self.waiting_playback = play.playback
        return [play, c.StartTimer("hangup", seconds)]

    def _on_playback_finished(self, ev: e.PlaybackFinished) -> list[c.Command]:
        if ev.playback != self.waiting_playback:
            return []
        return self._finish_after_playback()

    def _on_timer(self, ev: e.TimerFired) -> list[c.Command]:
        if ev.name != "hangup":
            return []
        return self._finish_after_playback()

    def _on_timer_active(self, ev: e.TimerFired) -> list[c.Command]:
        if ev.name.startswith("stop:"):
            return [c.StopPlayback(ev.name.removeprefix("stop:"))]
        return []

    def _finish_after_playback(self) -> list[c.Command]:
        self.state = State.ENDED
        return [
            c.CancelTimer("hangup"),
            c.Hangup(self.supervisor_channel),
            c.Finished(self.end_reason),
        ]

    def _on_failed_while_closing(self, ev: e.CommandFailed) -> list[c.Command]:
        if isinstance(ev.command, c.Play):
            return self._finish_after_playback()
        return []

    def _on_supervisor_gone_while_closing(self, ev: e.ChannelGone) -> list[c.Command]:
        if ev.channel != self.supervisor_channel:
            return []
        self.state = State.ENDED
        return [c.CancelTimer("hangup"), c.Finished(self.end_reason)]

    def _on_supervisor_gone_early(self, ev: e.ChannelGone) -> list[c.Command]:
        if ev.channel == self.supervisor_channel or ev.channel == self.ids.mic_snoop:
            return self._end("supervisor_hangup", tone=False, supervisor_gone=True)
        if ev.channel in self.snoops:
            self.snoops.discard(ev.channel)
            return self._refuse("agent_not_on_call", "the agent's call ended during set-up")
        return []

    def _on_failed_early(self, ev: e.CommandFailed) -> list[c.Command]:
        if isinstance(ev.command, c.Answer):
            return self._end("supervisor_hangup", tone=False, supervisor_gone=True)
        if isinstance(ev.command, c.CreateSnoop) and ev.status in (404, 409, 422):
            return self._refuse("agent_not_on_call", ev.message)
        return self._refuse("error", f"{type(ev.command).__name__}: {ev.status} {ev.message}")

    def _stray(self, event: e.SessionEvent) -> list[c.Command]:
        # A snoop that starts after the session ended must not live on.
        closing = self.state in (State.REFUSING, State.ENDING, State.ENDED)
        if isinstance(event, e.ChannelStarted) and closing:
            return [c.Hangup(event.channel)]
        return []

    # --- helpers --------------------------------------------------------------

    def _apply_routing(self, routing: Routing) -> list[c.Command]:
        """Mute and unmute so that ``routing`` holds; closing paths first.

        Fresh snoops start unmuted, which is what ``self.muted`` assumes for a
        path it has not seen.
        """
        talking = routing.agent or routing.caller
        want: dict[tuple[str, c.MuteDirection], bool] = {
            # Silent at the source when the supervisor talks to nobody: a second
            # barrier behind the snoops' own mutes (a frame of the supervisor was
            # seen to slip through a freshly muted snoop after a DTMF digit).
            (self.supervisor_channel, "in"): not talking,
            (self.ids.ear_snoop, "in"): not routing.ear,
            (self.ids.ear_snoop, "out"): not routing.agent,
        }
        if Mode.BARGE in self.granted:
            # Two barriers on the way to the caller: the mic snoop's output and
            # the caller snoop's input.
            want[(self.ids.mic_snoop, "in")] = not routing.caller
            want[(self.ids.caller_snoop, "out")] = not routing.caller
        closing: list[c.Command] = []
        opening: list[c.Command] = []
        for (channel, direction), muted in want.items():
            if self.muted.get((channel, direction), False) == muted:
                continue
            self.muted[(channel, direction)] = muted
            if muted:
                closing.append(c.Mute(channel, direction))
            else:
                opening.append(c.Unmute(channel, direction))
        return closing + opening

    def _play_tone(self, media: str, seconds: float) -> list[c.Command]:
        """A tone to the supervisor, stopped after ``seconds`` (tones never end by themselves)."""
        play = self._play(media)
        return [play, c.StartTimer("stop:" + play.playback, seconds)]

    def _play(self, media: str) -> c.Play:
        self.playbacks += 1
        return c.Play(self.supervisor_channel, media, self.ids.playback(self.playbacks))

    def _publish(self, type_: str, **data: object) -> c.Publish:
        self.seq += 1
        base: dict[str, object] = {
            "session_id": self.id,
            "agent": self.agent,
            "supervisor": self.supervisor or None,
            "endpoint": self.endpoint,
            "mode": self.mode.value if self.mode else None,
        }
        base.update(data)
        return c.Publish(type_, self.seq, base)


_Handler = Callable[[Session, e.SessionEvent], list[c.Command]]


def _h(fn: Callable[[Session, e.SessionEvent], list[c.Command]] | object) -> _Handler:
    return fn  # type: ignore[return-value]


TRANSITIONS: Mapping[tuple[State, type], _Handler] = MappingProxyType(
    {
        (State.AUTHORIZING, e.Authorized): _h(Session._on_authorized),
        (State.AUTHORIZING, e.Refused): _h(Session._on_refused),
        (State.AUTHORIZING, e.ChannelGone): _h(Session._on_supervisor_gone_early),
        (State.AUTHORIZING, e.CommandFailed): _h(Session._on_failed_early),
        (State.AUTHORIZING, e.EndRequested): _h(Session._on_end_requested),
        (State.SETTING_UP, e.ChannelStarted): _h(Session._on_channel_started_setup),
        (State.SETTING_UP, e.ModeRequested): _h(Session._on_mode_requested_setup),
        (State.SETTING_UP, e.ChannelGone): _h(Session._on_supervisor_gone_early),
        (State.SETTING_UP, e.CommandFailed): _h(Session._on_failed_early),
        (State.SETTING_UP, e.EndRequested): _h(Session._on_end_requested),
        (State.ACTIVE, e.ModeRequested): _h(Session._on_mode_requested),
        (State.ACTIVE, e.DtmfReceived): _h(Session._on_dtmf),
        (State.ACTIVE, e.ChannelGone): _h(Session._on_channel_gone),
        (State.ACTIVE, e.EndRequested): _h(Session._on_end_requested),
        (State.ACTIVE, e.CommandFailed): _h(Session._on_command_failed),
        (State.ACTIVE, e.TimerFired): _h(Session._on_timer_active),
        (State.REFUSING, e.PlaybackFinished): _h(Session._on_playback_finished),
        (State.REFUSING, e.TimerFired): _h(Session._on_timer),
        (State.REFUSING, e.ChannelGone): _h(Session._on_supervisor_gone_while_closing),
        (State.REFUSING, e.CommandFailed): _h(Session._on_failed_while_closing),
        (State.ENDING, e.PlaybackFinished): _h(Session._on_playback_finished),
        (State.ENDING, e.TimerFired): _h(Session._on_timer),
        (State.ENDING, e.ChannelGone): _h(Session._on_supervisor_gone_while_closing),
        (State.ENDING, e.CommandFailed): _h(Session._on_failed_while_closing),
    }
)
