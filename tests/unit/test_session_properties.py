"""Random call histories against the session, run the way the engine runs it.

Hypothesis draws a history step by step: Asterisk delivering its events in
any order (StasisStart of snoops, duplicates, StasisEnd), channels going away
at any moment (also between two commands of a batch, e.g. in the middle of a
mode switch), ARI calls failing, mode requests with random grants and
blocking, DTMF, timers, playbacks, shutdown.

ARI calls fail the way the engine sees them fail (the batch contract, see
playbook.py): any command the engine sends to Asterisk can fail, with a status
Asterisk would answer for it (a 404 only for a channel that is really gone,
and likewise "Channel not found"/"not in Stasis" from AddToBridge; never a 404
for Hangup, DestroyBridge, StopPlayback, which the engine takes for done). A
best-effort command failing lets the batch go on; any other stops it, and the
session hears what was dropped. StartTimer, CancelTimer (the engine's own
timers) and Publish (the sink) never fail with an ARI error. On top of that, a
best-effort failure may be reported late, when the session has moved on
(robustness beyond the contract). The "switching" chaos makes only the
commands that open and close paths fail (mutes, unmutes, bridging), often.

The grant is drawn too, and may lack the dialled mode (the session must refuse
it as not_permitted before making anything).

The invariants (see Watch) are checked after every command, carried out or
failed, and after every event, on the *effective* routing FakeAsterisk
computes from channels, bridges and mutes, and on what was published:

(a) the caller hears the supervisor only in barge; (b) the agent only in a
talking mode; never more than the mode before or after the event allows;
(c) at Finished nothing is left in Asterisk but what it refused to remove;
(d) an ended session was finished, a closing one has its hang-up timer, and
every history ends (EndRequested or the supervisor hanging up finish it);
(e) published seqs are 1, 2, 3... with no gap, one session_started at most,
exactly one end last (session_ended if and only if session_started); every
event carries the mode last published (None in session_refused); an end for
an error names a command that is not best-effort, and an end that says the
agent or the supervisor left has something of that side gone or failing;
(f) "one ear, two mouths": the supervisor's own channel is never muted and
never shares a bridge with a whispering snoop; only the five barriers are
ever muted; a mouth that neither the mode before nor the mode after the event
opens has both its ends muted whenever its two snoops are bridged together;
(g) the snoops made follow the grant: the ear always, the agent mouth when a
talking mode is granted, the caller mouth when barge is; nothing at all when
the dialled mode is not granted;
(h) once the engine is done with an event, an active session's routing is its
mode's, with both ends of every mouth muted exactly when the mode keeps it
closed (unless something went away the session has not heard of yet).

The second test checks the model itself: the same history run through the
Harness and through ``coachd.engine.Engine._execute`` (over an ARI client
backed by a FakeAsterisk) must do the same, command for command.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from coachd.ari.errors import error_for_status
from coachd.core import commands as c
from coachd.core import events as e
from coachd.core.modes import ROUTING, Mode
from coachd.core.registry import Registry
from coachd.core.session import Options, Session, SessionIds, State
from coachd.engine import Engine
from tests.unit.playbook import (
    NO_ROUTING,
    AriFailure,
    FakeAsterisk,
    Harness,
    allowed,
    snapshot,
    within,
)

SUP = "sup-1"
AGENT = "agent-1"
SID = "p1"
IDS = SessionIds(SID)
EAR = IDS.ear_snoop
A_MIC, A_MOUTH = IDS.agent_mic, IDS.agent_mouth
C_MIC, C_MOUTH = IDS.caller_mic, IDS.caller_mouth
MOUTHS = {
    # path of the routing: (its bridge's two snoops), each switched at one end
    "agent": ((A_MIC, "in"), (A_MOUTH, "out")),
    "caller": ((C_MIC, "in"), (C_MOUTH, "out")),
}
BARRIERS = {(EAR, "in"), *MOUTHS["agent"], *MOUTHS["caller"]}
SNOOPS = [EAR, A_MIC, A_MOUTH, C_MIC, C_MOUTH]
TALKING = frozenset({Mode.WHISPER, Mode.PRIVATE_WHISPER, Mode.BARGE})
MODES = list(Mode)
GRANTS = [
    frozenset(MODES),
    frozenset(MODES) - {Mode.BARGE},
    frozenset({Mode.MONITOR}),
    frozenset({Mode.MONITOR, Mode.WHISPER}),
    frozenset({Mode.BARGE}),
    frozenset(),
]
DIGITS = list("0123456789*#")
UNREACHABLE = [500, 0]
FAILURES: dict[type, list[int]] = {
    # What Asterisk may answer instead of 2xx, per command.
    # ... commands that stop their batch when they fail:
    c.Answer: [404, 409, *UNREACHABLE],
    c.Authorize: UNREACHABLE,
    c.CreateBridge: [409, *UNREACHABLE],
    c.CreateSnoop: [404, 400, 409, 422, *UNREACHABLE],
    c.Mute: [404, 409, *UNREACHABLE],
    c.Unmute: [404, 409, *UNREACHABLE],
    c.AddToBridge: [400, 404, 422, *UNREACHABLE],
    # ... best-effort ones (404 on the first three is not a failure for the engine):
    c.Hangup: [409, *UNREACHABLE],
    c.DestroyBridge: [409, *UNREACHABLE],
    c.StopPlayback: [409, *UNREACHABLE],
    c.Play: [404, 409, *UNREACHABLE],
    c.SetVolume: [404, 409, *UNREACHABLE],
}
LATE_STATUSES = [409, *UNREACHABLE]
REASONS = ["unknown_agent", "agent_not_on_call", "not_permitted", "another_supervisor_talking"]
CALM = ["nothing"] * 4 + ["mode"] * 6 + ["dtmf"] * 3 + ["duplicate_start", "timer", "playback"]
DISRUPTIVE = ["kill", "end", "late_failure"]
SWITCHING = (c.Mute, c.Unmute, c.AddToBridge)
CHAOS: dict[str, tuple[int, int, list[str], tuple[type, ...]]] = {
    # name: (one ARI call in n fails, a channel vanishes before one command in n,
    # actions, the commands that may fail: all of FAILURES when empty)
    "calm": (0, 0, CALM, ()),
    "some": (40, 60, CALM + DISRUPTIVE, ()),
    "wild": (10, 15, CALM + DISRUPTIVE * 3, ()),
    # The end of the set-up (mutes, then bridging) and the switches: where the
    # mouths open and close.
    "switching": (4, 25, CALM, SWITCHING),
}
END_TYPES = ("session_ended", "session_refused")


def gone_channel(cmd: c.Command) -> str | None:
    """The channel a 404 for ``cmd`` says is gone (for AddToBridge: the bridge, not this)."""
    if isinstance(cmd, c.CreateSnoop):
        return cmd.target
    if isinstance(cmd, (c.Answer, c.Mute, c.Unmute, c.Play, c.SetVolume)):
        return cmd.channel
    return None


def snoops_for(granted: frozenset[Mode]) -> set[str]:
    """The snoops a grant calls for: the ear; a mouth to the agent to talk; one to the caller."""
    snoops = {EAR}
    if granted & TALKING:
        snoops |= {A_MIC, A_MOUTH}
    if Mode.BARGE in granted:
        snoops |= {C_MIC, C_MOUTH}
    return snoops


AGENT_SIDE = {AGENT, EAR, A_MOUTH, C_MOUTH}
SUPERVISOR_SIDE = {SUP, A_MIC, C_MIC}


def went_away(harness: Harness, fake: FakeAsterisk, side: set[str]) -> bool:
    """Whether a channel of this side went away, or Asterisk said so of a command on it."""
    if any(channel in side for channel in fake.killed):
        return True
    for failure in harness.failures:
        cmd = failure.command
        if isinstance(cmd, c.CreateSnoop) and cmd.target in side:
            return True
        if isinstance(cmd, (c.Answer, c.Mute, c.Unmute)) and cmd.channel in side:
            return True
        if isinstance(cmd, c.AddToBridge):
            return True  # "a member is gone": which one, Asterisk does not say
    return False


@dataclass
class Watch:
    """The invariants, checked by the harness after every command and every event."""

    session: Session
    fake: FakeAsterisk
    checked_publishes: int = 0
    log: list[str] = field(default_factory=list)
    dialled: Mode | None = None
    granted: frozenset[Mode] | None = None
    """What the authorizer answered (None until it answered Authorized)."""
    refused: str | None = None
    """The reason the authorizer refused with, if it did."""
    last_mode: str | None = None
    """The mode consumers were last told about."""

    def __call__(self, harness: Harness, cmd: c.Command | None) -> None:
        fake, now = self.fake, snapshot(self.session)
        routing = fake.routing()
        # The modes the session was in since the engine took the current event:
        # before it, and after it (and after each failure it led to), e.g.
        # monitor then whisper for a switch, or barge then ended when the
        # set-up failed half-way.
        modes = [allowed(s) for s in harness.seen]
        where = f"after {cmd!r} (session {harness.seen}); history:\n" + "\n".join(self.log)
        # (a) the caller hears the supervisor only in barge
        assert not routing.caller or any(m.caller for m in modes), "caller reached " + where
        # (b) the agent never hears the supervisor in monitor (only in a talking mode)
        assert not routing.agent or any(m.agent for m in modes), "agent reached " + where
        # (a+b) as a whole: never more than one of those modes allows
        assert any(within(routing, m) for m in modes), f"{routing} " + where
        self._check_design(modes, where)
        self._check_grant(where)
        self._check_published(harness, where)
        if isinstance(cmd, c.Finished):
            self._check_finished(harness, routing, where)
        if cmd is None:
            self._check_settled(harness, now, routing, where)

    def _check_design(self, modes: list[Any], where: str) -> None:
        """(f) One ear, two mouths: the supervisor's channel is never a barrier."""
        fake = self.fake
        assert fake.muted <= BARRIERS, f"muted {fake.muted - BARRIERS} " + where
        for members in fake.bridges.values():
            if SUP in members:
                whisperers = [m for m in members if fake.channels[m].whisper != "none"]
                assert whisperers == [], f"{whisperers} bridged with the supervisor " + where
        for path, ((mic, mic_end), (mouth, mouth_end)) in MOUTHS.items():
            if any(getattr(m, path) for m in modes) or not fake.bridged_together(mic, mouth):
                continue
            assert fake.is_muted(mic, mic_end), f"{path} mouth open at {mic} " + where
            assert fake.is_muted(mouth, mouth_end), f"{path} mouth open at {mouth} " + where

    def _check_grant(self, where: str) -> None:
        """(g) The snoops made follow the grant; nothing for a dialled mode not granted."""
        made = set(self.fake.created_snoops)
        if self.granted is None:
            assert made == set(), "snoops before authorization " + where
        elif self.dialled not in self.granted:
            assert made == set(), f"snoops for a mode not granted: {made} " + where
        else:
            extra = made - snoops_for(self.granted)
            assert not extra, f"{extra} not called for by {set(self.granted)} " + where

    def _check_published(self, harness: Harness, where: str) -> None:
        """(e) What consumers see: 1, 2, 3... with no gap, one start, one end, in order,
        each in the mode last published; an end that says who left or what failed
        tells the truth."""
        published = self.fake.published
        for i in range(self.checked_publishes, len(published)):
            p, before = published[i], [q.type for q in published[:i]]
            assert p.seq == i + 1, f"seq {p.seq} published as number {i + 1} " + where
            assert not any(t in END_TYPES for t in before), f"{p.type} after the end " + where
            if p.type == "session_started":
                assert "session_started" not in before, "session_started twice " + where
                self.last_mode = str(p.data["mode"])
            elif p.type in ("mode_changed", "mode_refused", "session_ended"):
                assert "session_started" in before, f"{p.type} before session_started " + where
                if p.type == "mode_changed":
                    assert p.data["before"] == self.last_mode, f"{p} " + where
                    self.last_mode = str(p.data["after"])
                assert p.data["mode"] == self.last_mode, f"{p}: not the mode published " + where
            elif p.type == "session_refused":
                assert "session_started" not in before, "refused once started " + where
                assert p.data["mode"] is None, f"{p} " + where
            if p.type in END_TYPES:
                self._check_reason(harness, str(p.data["reason"]), str(p.data.get("detail")), where)
        self.checked_publishes = len(published)

    def _check_reason(self, harness: Harness, reason: str, detail: str, where: str) -> None:
        if reason == self.refused:
            return  # the authorizer's word
        if reason == "error":
            # Cleanup, prompts and reports failing never end a session.
            failed = detail.partition(":")[0]
            assert failed not in {t.__name__ for t in c.BEST_EFFORT}, detail + " " + where
        elif reason in ("agent_not_on_call", "agent_hangup"):
            assert went_away(harness, self.fake, AGENT_SIDE), f"{reason}: agent there " + where
        elif reason == "supervisor_hangup":
            assert went_away(harness, self.fake, SUPERVISOR_SIDE), f"{reason}: sup there " + where

    def _check_finished(self, harness: Harness, routing: Any, where: str) -> None:
        """(c) Nothing left behind but what Asterisk refused to remove."""
        fake = self.fake
        for snoop in fake.live_snoops():
            assert harness.failed(c.Hangup(snoop)), f"snoop {snoop} left " + where
        for bridge in fake.bridges:
            assert harness.failed(c.DestroyBridge(bridge)), f"bridge {bridge} left " + where
        if fake.alive(SUP):
            assert harness.failed(c.Hangup(SUP)), "supervisor left " + where
        refused_cleanup = any(
            isinstance(cmd, (c.Hangup, c.DestroyBridge)) for cmd in harness.refused
        )
        assert refused_cleanup or routing == NO_ROUTING, f"{routing} at the end " + where
        # (e) exactly one end, published last
        types = [p.type for p in fake.published]
        assert sum(t in END_TYPES for t in types) == 1, f"ends published: {types} " + where
        assert types[-1] in END_TYPES, where
        assert (types[-1] == "session_ended") == ("session_started" in types), where

    def _check_settled(self, harness: Harness, now: Any, routing: Any, where: str) -> None:
        """After the engine is done with an event."""
        state, mode = now
        # (d) an ended session was finished: the engine's session task does not hang on
        assert state is not State.ENDED or harness.finished is not None, "stuck " + where
        # (d) a closing session has its hang-up timer running: something will end it
        if state is State.CLOSING:
            assert "hangup" in self.fake.timers, "nothing will end it " + where
        if state is State.ACTIVE and mode is not None:
            # (h) The mode is really in place, unless something went away that the
            # session has not heard of yet.
            fake = self.fake
            if all(fake.alive(ch) for ch in [SUP, AGENT, *fake.created_snoops]):
                assert routing == allowed(now), f"{routing} is not the mode's " + where
                assert self.granted is not None
                assert set(fake.created_snoops) == snoops_for(self.granted), where
                wanted = ROUTING[mode]
                assert fake.is_muted(EAR, "in") is not wanted.ear, "ear mute " + where
                for path, ends in MOUTHS.items():
                    if ends[0][0] not in fake.created_snoops:
                        continue
                    assert fake.bridged_together(ends[0][0], ends[1][0]), path + " " + where
                    shut = not getattr(wanted, path)
                    for channel, direction in ends:
                        assert fake.is_muted(channel, direction) is shut, (
                            f"{path} mouth end {channel} {direction} " + where
                        )


@settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_random_call_histories_never_leak_the_supervisor_voice_and_always_end(
    data: st.DataObject,
) -> None:
    draw = data.draw
    options = Options(
        keymap=draw(st.sampled_from(["chanspy", "vicidial"])),
        beep_supervisor=draw(st.booleans()),
        end_tone=draw(st.booleans()),
    )
    session = Session(
        id=SID,
        supervisor_channel=SUP,
        endpoint="PJSIP/2001",
        agent="1042",
        requested_mode=draw(st.sampled_from(MODES)),
        options=options,
    )
    fake = FakeAsterisk(supervisor=SUP, agent=AGENT)
    watch = Watch(session, fake)
    chaos = draw(st.sampled_from(["calm", "calm", "some", "wild", "switching"]))
    fail_one_in, kill_one_in, actions, focus = CHAOS[chaos]
    event("chaos: " + chaos)

    def authorize(cmd: c.Authorize) -> e.SessionEvent:
        if draw(st.integers(0, 9)) == 0:
            watch.refused = draw(st.sampled_from(REASONS))
            return e.Refused(watch.refused, "drawn")
        granted = draw(st.sampled_from(GRANTS) | st.frozensets(st.sampled_from(MODES)))
        # Mostly with the dialled mode (ConfigAuthorizer refuses otherwise itself),
        # sometimes without: the session must refuse it.
        if draw(st.integers(0, 7)) != 0:
            granted |= {cmd.mode}
        watch.dialled, watch.granted = cmd.mode, granted
        return e.Authorized("alice", granted, AGENT)

    def kill_something() -> None:
        targets = [SUP, AGENT, *SNOOPS]
        target = draw(st.sampled_from([t for t in targets if fake.alive(t)] or [SUP]))
        watch.log.append(f"  kill {target}")
        fake.kill(target)

    def interfere(harness: Harness, cmd: c.Command) -> AriFailure | None:
        if kill_one_in and draw(st.integers(1, kill_one_in)) == 1:
            kill_something()  # a channel goes away right before this command
        statuses = FAILURES.get(type(cmd))
        if focus and not isinstance(cmd, focus):
            statuses = None
        if fail_one_in and statuses and draw(st.integers(1, fail_one_in)) == 1:
            status = draw(st.sampled_from(statuses))
            channel = gone_channel(cmd)
            if isinstance(cmd, c.AddToBridge) and status in (400, 422):
                # "Channel not found" / "not in Stasis": one of them went away.
                channel = draw(st.sampled_from(cmd.channels))
            elif status != 404:
                channel = None
            if channel is not None and fake.alive(channel):
                # Asterisk answers so for a channel that is gone.
                watch.log.append(f"  kill {channel}")
                fake.kill(channel)
            watch.log.append(f"  fail {cmd!r} {status}")
            return AriFailure(status, "drawn")
        return None

    def mode_request(mode: Mode) -> e.ModeRequested:
        return e.ModeRequested(mode, "dtmf", draw(st.sampled_from([None, None, "s2"])))

    harness = Harness(
        session,
        fake,
        authorize=authorize,
        interfere=interfere,
        check=watch,
        mode_request=mode_request,
    )

    def feed(event: e.SessionEvent) -> None:
        watch.log.append(f"{session.state.value:>10} >> {event!r}")
        harness.feed(event)

    harness.start()
    for _ in range(draw(st.integers(10, 80))):
        if harness.finished is not None:
            break
        # Asterisk at work: snoops enter Stasis, events arrive in any order.
        if fake.unstarted and draw(st.integers(0, 3)) != 0:
            fake.start(draw(st.sampled_from(fake.unstarted)))
        if fake.outbox and draw(st.integers(0, 2)) != 0:
            feed(fake.outbox.pop(draw(st.integers(0, len(fake.outbox) - 1))))
        if harness.finished is not None:
            break
        # The world at work.
        action = draw(st.sampled_from(actions))
        started = [s for s in fake.created_snoops if fake.channels[s].in_stasis]
        if action == "duplicate_start" and started:
            # StasisStart again for a snoop already in Stasis (never one not in it yet).
            feed(e.ChannelStarted(draw(st.sampled_from(started))))
        elif action == "mode":
            feed(
                e.ModeRequested(
                    draw(st.sampled_from(MODES)),
                    draw(st.sampled_from(["dtmf", "api"])),
                    draw(st.sampled_from([None, None, "s2"])),
                )
            )
        elif action == "dtmf":
            channel = draw(st.sampled_from([SUP, SUP, SUP, EAR, A_MIC]))
            feed(e.DtmfReceived(channel, draw(st.sampled_from(DIGITS))))
        elif action == "kill":
            kill_something()
        elif action == "end":
            feed(e.EndRequested(draw(st.sampled_from(["shutdown", "api"]))))
        elif action == "timer":
            # A running timer fires (possibly after it was cancelled: a race), or another.
            names = [*fake.timers, "hangup", "stop:" + IDS.playback(1), "other"]
            feed(e.TimerFired(draw(st.sampled_from(names))))
        elif action == "playback":
            ids = [p.playback for p in fake.playbacks] + [IDS.playback(99)]
            feed(e.PlaybackFinished(draw(st.sampled_from(ids))))
        elif action == "late_failure":
            late = [cmd for cmd in harness.emitted if isinstance(cmd, c.BEST_EFFORT)]
            late = [cmd for cmd in late if type(cmd) in FAILURES]
            if late:
                cmd = draw(st.sampled_from(late))
                feed(e.CommandFailed(cmd, draw(st.sampled_from(LATE_STATUSES)), "late"))

    published = [p.type for p in fake.published]
    event("reached active" if "session_started" in published else "never active")
    event(f"mode switches: {min(published.count('mode_changed'), 3)}")
    event(f"commands dropped: {min(len(harness.dropped), 3)}")
    ends = [str(p.data.get("reason")) for p in fake.published if p.type in END_TYPES]
    event("ended early: " + (ends[0] if ends else "no"))

    # (d) the session always reaches Finished.
    if draw(st.booleans()):
        # ... once the supervisor hangs up, at once:
        if fake.alive(SUP):
            fake.kill(SUP)
        harness.deliver_all()
    else:
        # ... after EndRequested, at once, whatever it was doing.
        feed(e.EndRequested("shutdown"))
    assert harness.finished is not None, "\n".join(watch.log)
    assert session.state is State.ENDED


# --- the model against the engine ------------------------------------------------------


class AriOverFake:
    """The ARI client calls ``Engine._do`` makes, carried out on a FakeAsterisk."""

    def __init__(self, attempt: Any) -> None:
        self.attempt = attempt

    async def answer(self, channel_id: str) -> None:
        self.attempt(c.Answer(channel_id))

    async def create_bridge(self, bridge_id: str, name: str = "") -> None:
        self.attempt(c.CreateBridge(bridge_id))

    async def snoop(self, target: str, *, app: str, snoop_id: str, spy: Any, whisper: Any) -> None:
        self.attempt(c.CreateSnoop(snoop_id, target, spy=spy, whisper=whisper))

    async def mute(self, channel_id: str, direction: Any) -> None:
        self.attempt(c.Mute(channel_id, direction))

    async def unmute(self, channel_id: str, direction: Any) -> None:
        self.attempt(c.Unmute(channel_id, direction))

    async def add_channels(self, bridge_id: str, channel_ids: list[str]) -> None:
        self.attempt(c.AddToBridge(bridge_id, tuple(channel_ids)))

    async def play_on_channel(self, channel_id: str, media: str, playback_id: str) -> None:
        self.attempt(c.Play(channel_id, media, playback_id))

    async def stop_playback(self, playback_id: str) -> None:
        self.attempt(c.StopPlayback(playback_id))

    async def set_variable(self, channel_id: str, variable: str, value: str) -> None:
        assert variable == "VOLUME(TX)"
        self.attempt(c.SetVolume(channel_id, int(value)))

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self.attempt(c.Hangup(channel_id))

    async def destroy_bridge(self, bridge_id: str) -> None:
        self.attempt(c.DestroyBridge(bridge_id))


@dataclass
class Side:
    """One way of running the session: its Asterisk, and what it did."""

    session: Session
    fake: FakeAsterisk
    attempted: list[c.Command] = field(default_factory=list)
    """Every command sent to Asterisk, the authorizer or the sink (timers are the engine's)."""
    handled: list[e.SessionEvent] = field(default_factory=list)

    def record_handling(self) -> None:
        handle = self.session.handle

        def recorded(event: e.SessionEvent) -> list[c.Command]:
            self.handled.append(event)
            return handle(event)

        self.session.handle = recorded  # type: ignore[method-assign]

    def state(self) -> object:
        fake = self.fake
        return (
            snapshot(self.session),
            self.session.seq,
            self.session.announced,
            sorted(fake.muted),
            {b: list(m) for b, m in fake.bridges.items()},
            sorted(ch for ch in fake.channels if fake.alive(ch)),
            fake.published,
            fake.outbox,
            fake.stopped,
            fake.volumes,
        )


def new_side(mode: Mode, options: Options) -> Side:
    session = Session(
        id=SID,
        supervisor_channel=SUP,
        endpoint="PJSIP/2001",
        agent="1042",
        requested_mode=mode,
        options=options,
    )
    side = Side(session, FakeAsterisk(supervisor=SUP, agent=AGENT))
    side.record_handling()
    return side


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_the_harness_runs_a_session_exactly_like_the_engine(data: st.DataObject) -> None:
    draw = data.draw
    mode = draw(st.sampled_from(MODES))
    options = Options(beep_supervisor=draw(st.booleans()), end_tone=draw(st.booleans()))
    granted = draw(st.sampled_from(GRANTS))
    with_dialled = draw(st.booleans()) or draw(st.booleans())
    refused = draw(st.sampled_from([None, None, None, "unknown_agent"]))
    # The n-th command sent fails with this status (the same n on both sides).
    failing: dict[int, int] = draw(
        st.dictionaries(st.integers(0, 40), st.sampled_from([400, 404, 409, 422, 500, 0]))
    )
    model, real = new_side(mode, options), new_side(mode, options)

    def attempt_on(side: Side, cmd: c.Command) -> AriFailure | None:
        n = len(side.attempted)
        side.attempted.append(cmd)
        if n in failing and type(cmd) in FAILURES:
            return AriFailure(failing[n], "drawn")
        return None

    def answer(cmd: c.Authorize) -> e.Authorized | e.Refused:
        if refused is not None:
            return e.Refused(refused, "drawn")
        return e.Authorized("alice", granted | {cmd.mode} if with_dialled else granted, AGENT)

    def interfere(_: Harness, cmd: c.Command) -> AriFailure | None:
        if isinstance(cmd, (c.StartTimer, c.CancelTimer)):
            return None  # the engine's own timers: nothing sent anywhere
        return attempt_on(model, cmd)

    harness = Harness(model.session, model.fake, authorize=answer, interfere=interfere)

    def attempt_real(cmd: c.Command) -> None:
        failure = attempt_on(real, cmd)
        if failure is None:
            try:
                real.fake.apply(cmd)
            except AriFailure as natural:
                failure = natural
        if failure is not None:
            raise error_for_status(failure.status, failure.message, method="X", path="/x")

    class Authorizer:
        async def authorize(self, endpoint: str, agent: str, mode: Mode) -> Any:
            cmd = c.Authorize(endpoint, agent, mode)
            attempt_real(cmd)
            return answer(cmd)

    class Sink:
        async def publish(self, session: Session, event: c.Publish) -> None:
            attempt_real(event)

    engine = Engine(
        ari=AriOverFake(attempt_real),  # type: ignore[arg-type]
        app="coachd",
        registry=Registry(),
        authorizer=Authorizer(),
        sink=Sink(),
    )
    loop = asyncio.new_event_loop()
    finished = False

    def run_real(commands: list[c.Command]) -> None:
        nonlocal finished
        finished = loop.run_until_complete(engine._execute(real.session, commands))

    def same(where: str) -> None:
        assert model.attempted == real.attempted, where
        assert model.handled == real.handled, where
        assert (harness.finished is not None) == finished, where
        assert model.state() == real.state(), where
        assert set(model.fake.timers) == {name for _, name in engine._timers}, where

    try:
        harness.start()
        run_real(real.session.start())
        same("start")
        for step in range(draw(st.integers(0, 25))):
            if finished:
                break
            fake = model.fake
            action = draw(st.sampled_from(["start", "deliver", "mode", "dtmf", "kill", "end"]))
            ev: e.SessionEvent | None = None
            if action == "start" and fake.unstarted:
                snoop = draw(st.sampled_from(fake.unstarted))
                model.fake.start(snoop)
                real.fake.start(snoop)
            elif action == "deliver" and fake.outbox:
                i = draw(st.integers(0, len(fake.outbox) - 1))
                ev = model.fake.outbox.pop(i)
                assert real.fake.outbox.pop(i) == ev
            elif action == "mode":
                ev = e.ModeRequested(draw(st.sampled_from(MODES)), "api")
            elif action == "dtmf":
                ev = e.DtmfReceived(SUP, draw(st.sampled_from(DIGITS)))
            elif action == "kill":
                target = draw(st.sampled_from([SUP, AGENT, *SNOOPS]))
                model.fake.kill(target)
                real.fake.kill(target)
            elif action == "end":
                ev = e.EndRequested("api")
            if ev is not None:
                harness.feed(ev)
                if isinstance(ev, e.DtmfReceived):
                    # What Engine._run does with a mode digit.
                    digit_mode = real.session.mode_for_digit(ev.digit)
                    if digit_mode is not None:
                        ev = engine.registry.mode_request(real.session, digit_mode, "dtmf")
                run_real(real.session.handle(ev))
            same(f"step {step}: {action} {ev!r}")
    finally:
        loop.close()
    event("finished" if finished else "still running")
    event(f"failures reported: {min(len(harness.failures), 3)}")
