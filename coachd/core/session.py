"""One coaching session as a state machine: events in, commands out, no I/O.

Everything that decides what a session does to Asterisk lives in this file.

The audio design ("one ear, two mouths"):

- ``ear`` bridge: {supervisor, ear snoop}. The ear snoop sits on the agent's
  channel with ``spy=both``: the supervisor hears agent and caller. This
  bridge never changes during the session, so the supervisor never loses the
  call audio on a switch; nothing the supervisor sends into it goes anywhere.
- ``agent`` mouth (when the supervisor may whisper or barge): {a mic snoop on
  the supervisor's channel with ``spy=in``, a snoop on the agent's channel
  with ``whisper=out``}: the supervisor's voice in the agent's ear only.
- ``caller`` mouth (when the supervisor may barge): {a second mic snoop, a
  snoop on the agent's channel with ``whisper=in``}: the supervisor's voice
  mixed into what the agent sends, which is what the caller hears.

Each mouth is switched at both ends (the mic snoop's output and the whisper
snoop's input), on snoop channels only. A first design whispered through the
ear snoop itself; on the sandbox it let one 20 ms frame of the supervisor
reach the agent about 100 ms after a switch to monitor, when the supervisor's
own RTP stream restarted (new SSRC) right after a DTMF digit: a mute on a
channel whose stream restarts is not a reliable barrier.

Snoop directions cannot change after creation, so a mode switch only mutes
and unmutes paths (ARI ``/channels/{id}/mute``), with every path that closes
muted before any path that opens is unmuted: at no moment does a switch
route more than the old mode or the new mode allows.

How the engine carries out a batch of commands (see ``commands.BEST_EFFORT``):
a best-effort command that fails does not stop the batch and is reported
afterwards; any other command that fails stops the batch and is reported with
the commands that were dropped, so the session can decide afresh.
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
    TALKING_MODES,
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
HANGUP_TIMER = "hangup"
STOP_PREFIX = "stop:"
WARNING_TIMER = "time-warning"
LIMIT_TIMER = "time-limit"
WARNING_TONE_MEDIA = "tone:!2600/100,!0/100,!2600/100,!0/100,!2600/100"
WARNING_TONE_SECONDS = 0.5
"""Three short high beeps, to the supervisor only."""


class State(enum.Enum):
    AUTHORIZING = "authorizing"
    SETTING_UP = "setting_up"
    ACTIVE = "active"
    CLOSING = "closing"
    """Telling the supervisor why (refusal prompt or end tone), then hanging up."""
    ENDED = "ended"


class Party(enum.Enum):
    SUPERVISOR = "supervisor"
    AGENT = "agent"


@dataclass(frozen=True, slots=True)
class SessionIds:
    """Names of everything a session creates in Asterisk: all start with coachd-<id>-."""

    session: str

    @property
    def prefix(self) -> str:
        return "coachd-" + self.session

    @property
    def ear_bridge(self) -> str:
        return self.prefix + "-bridge-ear"

    @property
    def agent_bridge(self) -> str:
        return self.prefix + "-bridge-agent"

    @property
    def caller_bridge(self) -> str:
        return self.prefix + "-bridge-caller"

    @property
    def ear_snoop(self) -> str:
        return self.prefix + "-ear"

    @property
    def agent_mic(self) -> str:
        return self.prefix + "-mic-agent"

    @property
    def agent_mouth(self) -> str:
        return self.prefix + "-agent"

    @property
    def caller_mic(self) -> str:
        return self.prefix + "-mic-caller"

    @property
    def caller_mouth(self) -> str:
        return self.prefix + "-caller"

    def playback(self, n: int) -> str:
        return self.prefix + "-play-" + str(n)


@dataclass(frozen=True, slots=True)
class TimeLimit:
    """Continuous time in ``mode``: a warning tone after ``warning`` seconds, the
    session ended after ``limit`` seconds (0: never). The clock restarts on a switch."""

    mode: Mode
    warning: float = 0.0
    limit: float = 0.0


@dataclass(frozen=True, slots=True)
class Options:
    keymap: str = "chanspy"
    beep_supervisor: bool = False
    end_tone: bool = True
    time_limits: tuple[TimeLimit, ...] = ()
    cue_digits: tuple[tuple[str, str], ...] = ()
    """(DTMF digit, cue name): digits that play a whisper cue (none of the mode digits)."""
    cue_media: str = "sound:coachd-cues/"
    notify_agent: str = ""
    """Media played into the agent's ear (only) when a session starts; "" for none."""
    """Media URI prefix of the cues: a cue ``slow-down`` plays ``<cue_media>slow-down``."""


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
    announced: bool = False
    """session_started has been published (so the end is session_ended, not refused)."""
    ids: SessionIds = field(init=False)
    snoops: set[str] = field(default_factory=set)
    pending: set[str] = field(default_factory=set)
    bridges: list[str] = field(default_factory=list)
    muted: dict[tuple[str, c.MuteDirection], bool] = field(default_factory=dict)
    waiting_playback: str | None = None
    limit_timers: set[str] = field(default_factory=set)
    cue_playing: tuple[str, str] | None = None
    """(agent-side, supervisor-side) playbacks of the cue being played."""
    """Time-limit timers running for the current mode."""
    seq: int = 0
    playbacks: int = 0

    def __post_init__(self) -> None:
        self.ids = SessionIds(self.id)

    # --- entry points ---------------------------------------------------------

    def start(self) -> list[c.Command]:
        return [
            c.Answer(self.supervisor_channel),
            c.Authorize(self.endpoint, self.agent, self.requested_mode),
        ]

    def ringing_failed(self, reason: str) -> list[c.Command]:
        """coachd rang the supervisor (HTTP API) and the call was not answered."""
        self.state = State.ENDED
        self.end_reason = reason
        return [self._publish("session_refused", reason=reason), c.Finished(reason)]

    def lost(self, detail: str) -> list[c.Command]:
        """A session a previous run of coachd left open (it was killed): its end,
        on record. Nothing of it is left in Asterisk (the restart removed it)."""
        self.state = State.ENDED
        self.end_reason = "lost"
        return [self._publish("session_ended", reason="lost", detail=detail), c.Finished("lost")]

    def handle(self, event: e.SessionEvent) -> list[c.Command]:
        if isinstance(event, e.CommandFailed):
            self._forget_dropped(event.dropped)
        if isinstance(event, e.TimerFired) and event.name.startswith(STOP_PREFIX):
            return [c.StopPlayback(event.name.removeprefix(STOP_PREFIX))]
        handler = TRANSITIONS.get((self.state, type(event)))
        if handler is None:
            return self._stray(event)
        return handler(self, event)

    @property
    def talking(self) -> bool:
        """Talks, or is about to, to the agent or the caller (for the single-talker rule)."""
        if self.state is State.SETTING_UP:
            return self.requested_mode in TALKING_MODES
        return self.state is State.ACTIVE and self.mode in TALKING_MODES

    def mode_for_digit(self, digit: str) -> Mode | None:
        return KEYMAPS[self.options.keymap].get(digit)

    def party_of(self, channel: str) -> Party | None:
        """Whose departure ``channel`` going away means."""
        if channel in (self.supervisor_channel, self.ids.agent_mic, self.ids.caller_mic):
            return Party.SUPERVISOR
        if channel in (self.ids.ear_snoop, self.ids.agent_mouth, self.ids.caller_mouth):
            # The snoops on the agent's channel end with the agent's call.
            return Party.AGENT
        return None

    # --- authorizing ------------------------------------------------------------

    def _on_authorized(self, ev: e.Authorized) -> list[c.Command]:
        self.supervisor = ev.supervisor
        self.granted = ev.modes
        self.agent_channel = ev.agent_channel
        if self.requested_mode not in self.granted:
            return self._refuse("not_permitted", "mode " + self.requested_mode.value)
        self.state = State.SETTING_UP
        ids = self.ids
        cmds: list[c.Command] = [
            c.CreateBridge(ids.ear_bridge),
            c.CreateSnoop(ids.ear_snoop, self.agent_channel, spy="both", whisper="none"),
        ]
        self.bridges.append(ids.ear_bridge)
        self.snoops.add(ids.ear_snoop)
        for bridge, mic, mouth, whisper in self._mouths():
            cmds += [
                c.CreateBridge(bridge),
                c.CreateSnoop(mic, self.supervisor_channel, spy="in", whisper="none"),
                c.CreateSnoop(mouth, self.agent_channel, spy="none", whisper=whisper),
            ]
            self.bridges.append(bridge)
            self.snoops |= {mic, mouth}
        self.pending = set(self.snoops)
        return cmds

    def _mouths(self) -> list[tuple[str, str, str, c.Direction]]:
        """(bridge, mic snoop, whisper snoop, whisper direction) per mouth granted."""
        ids = self.ids
        mouths: list[tuple[str, str, str, c.Direction]] = []
        # An agent mouth also serves to tell the agent that someone listens in.
        if self.granted & TALKING_MODES or self.options.notify_agent:
            mouths.append((ids.agent_bridge, ids.agent_mic, ids.agent_mouth, "out"))
        if Mode.BARGE in self.granted:
            mouths.append((ids.caller_bridge, ids.caller_mic, ids.caller_mouth, "in"))
        return mouths

    def _on_handed_off(self, ev: e.HandedOff) -> list[c.Command]:
        """The session goes on at ``ev.node``, which publishes its events: nothing
        of it is left here, and the supervisor's call is not ours to hang up."""
        self.state = State.ENDED
        self.end_reason = "handed_off"
        return [c.Finished("handed_off")]

    def _on_refused(self, ev: e.Refused) -> list[c.Command]:
        return self._refuse(ev.reason, ev.detail)

    def _on_failed_early(self, ev: e.CommandFailed) -> list[c.Command]:
        cmd = ev.command
        if c.is_best_effort(cmd):
            return []
        if isinstance(cmd, c.Answer) and ev.status == 404:
            return self._end("supervisor_hangup", supervisor_gone=True)
        if isinstance(cmd, c.CreateSnoop) and cmd.target == self.supervisor_channel:
            if ev.status in (400, 404, 409, 422):
                return self._end("supervisor_hangup", supervisor_gone=ev.status == 404)
        elif isinstance(cmd, c.CreateSnoop) and ev.status in (400, 404, 409, 422):
            # The agent's channel went away (or left) between lookup and snoop.
            return self._refuse("agent_not_on_call", ev.message)
        return self._refuse("error", _describe(ev))

    # --- setting up -------------------------------------------------------------

    def _on_channel_started_setup(self, ev: e.ChannelStarted) -> list[c.Command]:
        self.pending.discard(ev.channel)
        if self.pending:
            return []
        mode = self.requested_mode
        self.state = State.ACTIVE
        self.mode = mode
        cmds: list[c.Command] = self._apply_routing(ROUTING[mode])
        cmds.append(
            c.AddToBridge(self.ids.ear_bridge, (self.supervisor_channel, self.ids.ear_snoop))
        )
        for bridge, mic, mouth, _ in self._mouths():
            cmds.append(c.AddToBridge(bridge, (mic, mouth)))
        if self.options.beep_supervisor:
            cmds.append(self._play(BEEP_MEDIA))
        self.announced = True
        cmds.append(self._publish("session_started", mode=mode.value))
        if self.options.notify_agent:
            cmds += self._into_agent_ear(self.options.notify_agent, supervisor_too=False)
        return cmds + self._limit_timers(mode)

    def _on_mode_requested_setup(self, ev: e.ModeRequested) -> list[c.Command]:
        if ev.mode in self.granted and ev.blocked_by is None:
            self.requested_mode = ev.mode
        return []

    def _on_dtmf_setup(self, ev: e.DtmfReceived) -> list[c.Command]:
        if ev.channel == self.supervisor_channel and ev.digit == END_DIGIT:
            return self._end("supervisor_ended")
        return []

    # --- active -----------------------------------------------------------------

    def _on_mode_requested(self, ev: e.ModeRequested) -> list[c.Command]:
        assert self.mode is not None
        if ev.mode == self.mode:
            return []
        if ev.mode not in self.granted or ev.blocked_by is not None:
            reason = "another_supervisor_talking"
            if ev.mode not in self.granted:
                reason = "not_permitted"
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
            *self._limit_timers(ev.mode),
        ]

    def _limit_timers(self, mode: Mode) -> list[c.Command]:
        """Restart the time-limit clock for ``mode``."""
        cmds: list[c.Command] = [c.CancelTimer(name) for name in sorted(self.limit_timers)]
        self.limit_timers.clear()
        for limit in self.options.time_limits:
            if limit.mode is not mode:
                continue
            if limit.warning > 0 and (limit.limit <= 0 or limit.warning < limit.limit):
                cmds.append(c.StartTimer(WARNING_TIMER, limit.warning))
                self.limit_timers.add(WARNING_TIMER)
            if limit.limit > 0:
                cmds.append(c.StartTimer(LIMIT_TIMER, limit.limit))
                self.limit_timers.add(LIMIT_TIMER)
        return cmds

    def _on_timer_active(self, ev: e.TimerFired) -> list[c.Command]:
        assert self.mode is not None
        limit = next((t for t in self.options.time_limits if t.mode is self.mode), None)
        if limit is None:
            return []
        self.limit_timers.discard(ev.name)
        if ev.name == WARNING_TIMER:
            return [
                *self._play_tone(WARNING_TONE_MEDIA, WARNING_TONE_SECONDS),
                self._publish(
                    "time_limit_warning",
                    after_seconds=limit.warning,
                    limit_seconds=limit.limit or None,
                ),
            ]
        if ev.name == LIMIT_TIMER:
            return self._end(
                "time_limit",
                tone=self.options.end_tone,
                detail=self.mode.value + " for " + f"{limit.limit:g}" + " s",
            )
        return []

    def _on_dtmf(self, ev: e.DtmfReceived) -> list[c.Command]:
        if ev.channel != self.supervisor_channel:
            return []
        if ev.digit == END_DIGIT:
            return self._end("supervisor_ended")
        if ev.digit == VOLUME_DIGIT:
            self.volume = next_volume(self.volume)
            return [c.SetVolume(self.supervisor_channel, self.volume)]
        cue = dict(self.options.cue_digits).get(ev.digit)
        if cue is not None:
            return self._cue(cue, "dtmf")
        # Mode digits reach the session as ModeRequested (see mode_for_digit),
        # after the registry's single-talker check.
        return []

    def _on_cue_requested(self, ev: e.CueRequested) -> list[c.Command]:
        return self._cue(ev.name, ev.source)

    def _cue(self, name: str, source: str) -> list[c.Command]:
        """A short prompt into the agent's ear (never the caller's), and the supervisor's.

        It is played into the agent mouth's bridge, whose whisper snoop only
        reaches the agent, and into the ear bridge, mixed with the call; the
        mouth's far end stays open until it has finished, whatever the mode.
        """
        if not self.granted & TALKING_MODES:
            return [
                *self._play_tone(ERROR_TONE_MEDIA, ERROR_TONE_SECONDS),
                self._publish("cue_refused", cue=name, reason="not_permitted", source=source),
            ]
        return [
            *self._into_agent_ear(self.options.cue_media + name, supervisor_too=True),
            self._publish("cue_played", cue=name, source=source),
        ]

    def _into_agent_ear(self, media: str, *, supervisor_too: bool) -> list[c.Command]:
        """Play ``media`` into the agent mouth's bridge (and the ear bridge)."""
        cmds: list[c.Command] = [c.StopPlayback(p) for p in self.cue_playing or () if p]
        self.playbacks += 1
        agent_side = self.ids.playback(self.playbacks)
        supervisor_side = ""
        if supervisor_too:
            self.playbacks += 1
            supervisor_side = self.ids.playback(self.playbacks)
        self.cue_playing = (agent_side, supervisor_side)
        assert self.mode is not None
        cmds += self._apply_routing(ROUTING[self.mode])
        cmds.append(c.PlayOnBridge(self.ids.agent_bridge, media, agent_side))
        if supervisor_too:
            cmds.append(c.PlayOnBridge(self.ids.ear_bridge, media, supervisor_side))
        return cmds

    def _on_playback_finished_active(self, ev: e.PlaybackFinished) -> list[c.Command]:
        if self.cue_playing is None or ev.playback != self.cue_playing[0]:
            return []
        self.cue_playing = None
        assert self.mode is not None
        return self._apply_routing(ROUTING[self.mode])

    def _on_failed_active(self, ev: e.CommandFailed) -> list[c.Command]:
        cmd = ev.command
        if c.is_best_effort(cmd):
            return []
        if isinstance(cmd, (c.Mute, c.Unmute)) and ev.status == 404:
            return self._party_gone(cmd.channel)
        if isinstance(cmd, c.AddToBridge) and ev.status in (400, 404, 422):
            # addChannel answers 400/422 when a member is gone or left Stasis; which
            # one is unknown, so everything is hung up. If it was the supervisor,
            # the end tone fails to play and the session finishes at once.
            return self._end("agent_hangup", tone=self.options.end_tone)
        return self._end("error", detail=_describe(ev))

    # --- any live state -----------------------------------------------------------

    def _on_channel_gone(self, ev: e.ChannelGone) -> list[c.Command]:
        return self._party_gone(ev.channel)

    def _party_gone(self, channel: str) -> list[c.Command]:
        party = self.party_of(channel)
        self.snoops.discard(channel)
        self.pending.discard(channel)
        if party is Party.SUPERVISOR:
            return self._end(
                "supervisor_hangup", supervisor_gone=channel == self.supervisor_channel
            )
        if party is Party.AGENT:
            if self.state is State.SETTING_UP:
                return self._refuse("agent_not_on_call", "the agent's call ended during set-up")
            return self._end("agent_hangup", tone=self.options.end_tone)
        return []

    def _on_end_requested(self, ev: e.EndRequested) -> list[c.Command]:
        return self._end(ev.reason, tone=ev.tone)

    # --- closing ------------------------------------------------------------------

    def _refuse(self, reason: str, detail: str = "") -> list[c.Command]:
        """Tear down what exists, tell the supervisor why, then hang up."""
        cmds = self._teardown()
        self.state = State.CLOSING
        self.end_reason = reason
        media = REFUSAL_MEDIA.get(reason, REFUSAL_MEDIA["error"])
        return [
            *cmds,
            self._publish("session_refused", **_with_detail(reason, detail)),
            *self._play_then_hangup(media),
        ]

    def _end(
        self,
        reason: str,
        *,
        tone: bool = False,
        supervisor_gone: bool = False,
        detail: str = "",
    ) -> list[c.Command]:
        self.end_reason = reason
        cmds = self._teardown()
        kind = "session_ended" if self.announced else "session_refused"
        cmds.append(self._publish(kind, **_with_detail(reason, detail)))
        if supervisor_gone:
            self.state = State.ENDED
            cmds.append(c.Finished(reason))
        elif tone:
            self.state = State.CLOSING
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
        return [play, c.StartTimer(HANGUP_TIMER, seconds)]

    def _on_playback_finished(self, ev: e.PlaybackFinished) -> list[c.Command]:
        if ev.playback != self.waiting_playback:
            return []
        return self._hang_up_now()

    def _on_timer_closing(self, ev: e.TimerFired) -> list[c.Command]:
        return self._hang_up_now() if ev.name == HANGUP_TIMER else []

    def _on_failed_closing(self, ev: e.CommandFailed) -> list[c.Command]:
        # The prompt or tone cannot be played: do not keep the supervisor waiting.
        if isinstance(ev.command, c.Play) and ev.command.playback == self.waiting_playback:
            return self._hang_up_now()
        return []

    def _on_gone_closing(self, ev: e.ChannelGone) -> list[c.Command]:
        if ev.channel != self.supervisor_channel:
            return []
        self.state = State.ENDED
        return [c.CancelTimer(HANGUP_TIMER), c.Finished(self.end_reason)]

    def _on_end_requested_closing(self, ev: e.EndRequested) -> list[c.Command]:
        return self._hang_up_now()

    def _hang_up_now(self) -> list[c.Command]:
        self.state = State.ENDED
        return [
            c.CancelTimer(HANGUP_TIMER),
            c.Hangup(self.supervisor_channel),
            c.Finished(self.end_reason),
        ]

    def _stray(self, event: e.SessionEvent) -> list[c.Command]:
        # A snoop that enters Stasis after the session let go of it must not live on.
        closing = self.state in (State.CLOSING, State.ENDED)
        if isinstance(event, e.ChannelStarted) and closing:
            return [c.Hangup(event.channel)]
        return []

    # --- helpers ----------------------------------------------------------------

    def _forget_dropped(self, dropped: tuple[c.Command, ...]) -> None:
        """Commands the engine did not carry out: undo what emitting them assumed."""
        for cmd in dropped:
            if isinstance(cmd, c.Publish):
                self.seq -= 1
                if cmd.type == "session_started":
                    self.announced = False
                    self.mode = None
                elif cmd.type == "mode_changed":
                    self.mode = Mode(str(cmd.data["before"]))
            elif isinstance(cmd, c.Mute):
                self.muted[(cmd.channel, cmd.direction)] = False
            elif isinstance(cmd, c.Unmute):
                self.muted[(cmd.channel, cmd.direction)] = True

    def _apply_routing(self, routing: Routing) -> list[c.Command]:
        """Mute and unmute so that ``routing`` holds; closing paths first.

        Fresh snoops start unmuted, which is what ``self.muted`` assumes for a
        path it has not seen.
        """
        ids = self.ids
        want: dict[tuple[str, c.MuteDirection], bool] = {(ids.ear_snoop, "in"): not routing.ear}
        # Two barriers per mouth: the mic snoop's output and the whisper snoop's input.
        for _, mic, mouth, whisper in self._mouths():
            open_ = routing.agent if whisper == "out" else routing.caller
            want[(mic, "in")] = not open_
            # A cue plays into the agent mouth's bridge: its far end stays open.
            cue = whisper == "out" and self.cue_playing is not None
            want[(mouth, "out")] = not (open_ or cue)
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
        return [play, c.StartTimer(STOP_PREFIX + play.playback, seconds)]

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


def _with_detail(reason: str, detail: str) -> dict[str, object]:
    return {"reason": reason, "detail": detail} if detail else {"reason": reason}


def _describe(ev: e.CommandFailed) -> str:
    return f"{type(ev.command).__name__}: {ev.status} {ev.message}".strip()


_Handler = Callable[[Session, e.SessionEvent], list[c.Command]]


def _h(fn: object) -> _Handler:
    return fn  # type: ignore[return-value]


# (state, event type) -> handler. An event with no entry is a stray (see _stray).
TRANSITIONS: Mapping[tuple[State, type], _Handler] = MappingProxyType(
    {
        (State.AUTHORIZING, e.Authorized): _h(Session._on_authorized),
        (State.AUTHORIZING, e.Refused): _h(Session._on_refused),
        (State.AUTHORIZING, e.HandedOff): _h(Session._on_handed_off),
        (State.AUTHORIZING, e.ChannelGone): _h(Session._on_channel_gone),
        (State.AUTHORIZING, e.CommandFailed): _h(Session._on_failed_early),
        (State.AUTHORIZING, e.EndRequested): _h(Session._on_end_requested),
        (State.SETTING_UP, e.ChannelStarted): _h(Session._on_channel_started_setup),
        (State.SETTING_UP, e.ModeRequested): _h(Session._on_mode_requested_setup),
        (State.SETTING_UP, e.DtmfReceived): _h(Session._on_dtmf_setup),
        (State.SETTING_UP, e.ChannelGone): _h(Session._on_channel_gone),
        (State.SETTING_UP, e.CommandFailed): _h(Session._on_failed_early),
        (State.SETTING_UP, e.EndRequested): _h(Session._on_end_requested),
        (State.ACTIVE, e.ModeRequested): _h(Session._on_mode_requested),
        (State.ACTIVE, e.DtmfReceived): _h(Session._on_dtmf),
        (State.ACTIVE, e.ChannelGone): _h(Session._on_channel_gone),
        (State.ACTIVE, e.EndRequested): _h(Session._on_end_requested),
        (State.ACTIVE, e.CommandFailed): _h(Session._on_failed_active),
        (State.ACTIVE, e.TimerFired): _h(Session._on_timer_active),
        (State.ACTIVE, e.CueRequested): _h(Session._on_cue_requested),
        (State.ACTIVE, e.PlaybackFinished): _h(Session._on_playback_finished_active),
        (State.CLOSING, e.PlaybackFinished): _h(Session._on_playback_finished),
        (State.CLOSING, e.TimerFired): _h(Session._on_timer_closing),
        (State.CLOSING, e.ChannelGone): _h(Session._on_gone_closing),
        (State.CLOSING, e.CommandFailed): _h(Session._on_failed_closing),
        (State.CLOSING, e.EndRequested): _h(Session._on_end_requested_closing),
    }
)
