"""The session state machine, as call scripts (see playbook.py).

The audio design ("one ear, two mouths", see coachd/core/session.py):

- ear: bridge ``EAR_BRIDGE`` = {supervisor, ``EAR``}, a snoop on the agent
  with spy=both, whisper=none; it never whispers. Only (EAR, "in") is ever
  muted, when the mode does not listen (private whisper).
- agent mouth (a talking mode granted): bridge ``A_BRIDGE`` = {``A_MIC``, a
  snoop on the supervisor with spy=in, ``A_MOUTH``, a snoop on the agent with
  whisper=out}; open iff the mode talks to the agent, switched at both ends:
  (A_MIC, "in") and (A_MOUTH, "out").
- caller mouth (barge granted): bridge ``C_BRIDGE`` = {``C_MIC``, spy=in on the
  supervisor, ``C_MOUTH``, whisper=in on the agent}; open iff barge, switched
  at (C_MIC, "in") and (C_MOUTH, "out").

The supervisor's own channel is never muted.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from coachd.core import commands as c
from coachd.core import events as e
from coachd.core.modes import ROUTING, Mode, Routing
from coachd.core.session import (
    BEEP_MEDIA,
    END_TONE_MEDIA,
    END_TONE_SECONDS,
    ERROR_TONE_MEDIA,
    ERROR_TONE_SECONDS,
    LIMIT_TIMER,
    PLAYBACK_GRACE,
    REFUSAL_MEDIA,
    WARNING_TIMER,
    WARNING_TONE_MEDIA,
    WARNING_TONE_SECONDS,
    Options,
    Party,
    Session,
    SessionIds,
    State,
    TimeLimit,
)
from tests.unit.playbook import (
    NO_ROUTING,
    AriFailure,
    FakeAsterisk,
    Harness,
    Playbook,
    Pub,
    within,
)

SID = "s1"
SUP = "sup-1"
AGENT = "agent-1"
ENDPOINT = "PJSIP/2001"
AGENT_ID = "1042"
USER = "alice"
IDS = SessionIds(SID)
EAR = IDS.ear_snoop
A_MIC, A_MOUTH = IDS.agent_mic, IDS.agent_mouth
C_MIC, C_MOUTH = IDS.caller_mic, IDS.caller_mouth
EAR_BRIDGE, A_BRIDGE, C_BRIDGE = IDS.ear_bridge, IDS.agent_bridge, IDS.caller_bridge
ALL = frozenset(Mode)
NO_BARGE = frozenset({Mode.MONITOR, Mode.WHISPER, Mode.PRIVATE_WHISPER})
MONITOR_ONLY = frozenset({Mode.MONITOR})

# ChanSpy: q (monitor), qw (whisper), qW (private whisper), qB (barge).
CHANSPY = {
    Mode.MONITOR: Routing(ear=True, agent=False, caller=False),
    Mode.WHISPER: Routing(ear=True, agent=True, caller=False),
    Mode.PRIVATE_WHISPER: Routing(ear=False, agent=True, caller=False),
    Mode.BARGE: Routing(ear=True, agent=True, caller=True),
}

EAR_SETUP = [
    c.CreateBridge(EAR_BRIDGE),
    c.CreateSnoop(EAR, AGENT, spy="both", whisper="none"),
]
AGENT_MOUTH_SETUP = [
    c.CreateBridge(A_BRIDGE),
    c.CreateSnoop(A_MIC, SUP, spy="in", whisper="none"),
    c.CreateSnoop(A_MOUTH, AGENT, spy="none", whisper="out"),
]
CALLER_MOUTH_SETUP = [
    c.CreateBridge(C_BRIDGE),
    c.CreateSnoop(C_MIC, SUP, spy="in", whisper="none"),
    c.CreateSnoop(C_MOUTH, AGENT, spy="none", whisper="in"),
]
BRIDGING = [
    c.AddToBridge(EAR_BRIDGE, (SUP, EAR)),
    c.AddToBridge(A_BRIDGE, (A_MIC, A_MOUTH)),
    c.AddToBridge(C_BRIDGE, (C_MIC, C_MOUTH)),
]
# The two barriers of each mouth: the mic snoop's output, the whisper snoop's input.
AGENT_MOUTH_ENDS = [(A_MIC, "in"), (A_MOUTH, "out")]
CALLER_MOUTH_ENDS = [(C_MIC, "in"), (C_MOUTH, "out")]

TEARDOWN = [
    # Snoops in the order of their ids, then bridges in the order they were made.
    c.Hangup(A_MOUTH),
    c.Hangup(C_MOUTH),
    c.Hangup(EAR),
    c.Hangup(A_MIC),
    c.Hangup(C_MIC),
    c.DestroyBridge(EAR_BRIDGE),
    c.DestroyBridge(A_BRIDGE),
    c.DestroyBridge(C_BRIDGE),
]


def without(commands: list[c.Command], *gone: str) -> list[c.Command]:
    """``commands`` without the hang-ups of ``gone`` (snoops the session knows are gone)."""
    return [cmd for cmd in commands if not (isinstance(cmd, c.Hangup) and cmd.channel in gone)]


def new_session(mode: Mode = Mode.MONITOR, sid: str = SID, **options: Any) -> Session:
    return Session(
        id=sid,
        supervisor_channel=SUP,
        endpoint=ENDPOINT,
        agent=AGENT_ID,
        requested_mode=mode,
        options=Options(**options),
    )


def authorized(
    mode: Mode = Mode.MONITOR, granted: frozenset[Mode] = ALL, **options: Any
) -> Playbook:
    pb = Playbook(new_session(mode, **options))
    return (
        pb
        << c.Answer(SUP)
        << c.Authorize(ENDPOINT, AGENT_ID, mode)
        >> e.Authorized(USER, granted, AGENT)
    )


def start_snoops(pb: Playbook) -> Playbook:
    """Every snoop made so far enters Stasis, in the order it was made."""
    for snoop in list(pb.asterisk.unstarted):
        pb >> e.ChannelStarted(snoop)
    return pb


def active(mode: Mode = Mode.MONITOR, granted: frozenset[Mode] = ALL, **options: Any) -> Playbook:
    pb = authorized(mode, granted, **options)
    pb.rest()
    start_snoops(pb).rest()
    assert pb.session.state is State.ACTIVE
    return pb


def hang_up_agent(pb: Playbook) -> Playbook:
    """The agent's call ends: its snoops go with it, the ear snoop's StasisEnd comes first."""
    pb.asterisk.kill(AGENT)
    return pb >> e.ChannelGone(EAR)


def types(commands: list[c.Command]) -> list[str]:
    return [cmd.type for cmd in commands if isinstance(cmd, c.Publish)]


def routings_during(pb: Playbook) -> list[Routing]:
    return [routing for _, routing in pb.asterisk.trace]


def toggles(commands: list[c.Command]) -> list[c.Mute | c.Unmute]:
    return [cmd for cmd in commands if isinstance(cmd, (c.Mute, c.Unmute))]


# --- start and set-up --------------------------------------------------------------


def test_start_answers_the_supervisor_then_asks_who_may_coach_whom() -> None:
    pb = Playbook(new_session(Mode.WHISPER))
    pb << c.Answer(SUP) << c.Authorize(ENDPOINT, AGENT_ID, Mode.WHISPER)
    assert pb
    assert pb.asterisk.answered == {SUP}


@pytest.mark.parametrize("mode", list(Mode), ids=str)
def test_setup_creates_snoops_mutes_them_before_bridging_then_publishes_session_started(
    mode: Mode,
) -> None:
    pb = authorized(mode)
    for cmd in [*EAR_SETUP, *AGENT_MOUTH_SETUP, *CALLER_MOUTH_SETUP]:
        pb << cmd
    start_snoops(pb)
    mutes = pb.take(c.Mute, c.Unmute)
    for cmd in BRIDGING:
        pb << cmd
    pb << Pub(
        "session_started",
        seq=1,
        mode=mode.value,
        session_id=SID,
        agent=AGENT_ID,
        supervisor=USER,
        endpoint=ENDPOINT,
    )
    assert pb
    # Fresh snoops are unmuted: set-up only closes paths, and before bridging.
    assert all(isinstance(m, c.Mute) for m in mutes)
    assert (mode is Mode.BARGE) == (mutes == [])
    assert pb.routing == CHANSPY[mode]
    assert all(within(r, CHANSPY[mode]) for r in routings_during(pb))
    assert pb.session.state is State.ACTIVE


@pytest.mark.parametrize(
    ("mode", "mutes"),
    [
        (Mode.MONITOR, [*AGENT_MOUTH_ENDS, *CALLER_MOUTH_ENDS]),
        (Mode.WHISPER, CALLER_MOUTH_ENDS),
        (Mode.PRIVATE_WHISPER, [(EAR, "in"), *CALLER_MOUTH_ENDS]),
        (Mode.BARGE, []),
    ],
    ids=str,
)
def test_setup_shuts_both_ends_of_every_mouth_the_starting_mode_keeps_closed(
    mode: Mode, mutes: list[tuple[str, c.MuteDirection]]
) -> None:
    pb = authorized(mode)
    pb.rest()
    start_snoops(pb)
    for channel, direction in mutes:
        pb << c.Mute(channel, direction)
    for cmd in BRIDGING:
        pb << cmd
    pb << Pub("session_started", mode=mode.value)
    assert pb
    assert pb.asterisk.muted == set(mutes)
    assert pb.routing == CHANSPY[mode]


def test_monitor_only_supervisor_gets_only_the_ear() -> None:
    pb = (
        authorized(Mode.MONITOR, MONITOR_ONLY)
        << c.CreateBridge(EAR_BRIDGE)
        << c.CreateSnoop(EAR, AGENT, spy="both", whisper="none")
        >> e.ChannelStarted(EAR)
        << c.AddToBridge(EAR_BRIDGE, (SUP, EAR))
        << Pub("session_started", mode="monitor")
    )
    assert pb
    assert pb.asterisk.created_snoops == [EAR]
    assert pb.asterisk.created_bridges == [EAR_BRIDGE]
    assert pb.asterisk.muted == set()
    assert pb.routing == CHANSPY[Mode.MONITOR]
    # Nothing exists that could carry the supervisor's voice anywhere.
    assert not any(ch.target == SUP for ch in pb.asterisk.channels.values())
    assert not any(ch.whisper != "none" for ch in pb.asterisk.channels.values())


EAR_ONLY = ([EAR], [EAR_BRIDGE])
EAR_AND_AGENT_MOUTH = ([EAR, A_MIC, A_MOUTH], [EAR_BRIDGE, A_BRIDGE])
EAR_AND_BOTH_MOUTHS = ([EAR, A_MIC, A_MOUTH, C_MIC, C_MOUTH], [EAR_BRIDGE, A_BRIDGE, C_BRIDGE])


@pytest.mark.parametrize(
    ("dialled", "granted", "made"),
    [
        (Mode.MONITOR, MONITOR_ONLY, EAR_ONLY),
        (Mode.MONITOR, frozenset({Mode.MONITOR, Mode.WHISPER}), EAR_AND_AGENT_MOUTH),
        (Mode.WHISPER, frozenset({Mode.WHISPER}), EAR_AND_AGENT_MOUTH),
        (Mode.PRIVATE_WHISPER, frozenset({Mode.PRIVATE_WHISPER}), EAR_AND_AGENT_MOUTH),
        (Mode.MONITOR, NO_BARGE, EAR_AND_AGENT_MOUTH),
        (Mode.MONITOR, frozenset({Mode.MONITOR, Mode.BARGE}), EAR_AND_BOTH_MOUTHS),
        (Mode.BARGE, frozenset({Mode.BARGE}), EAR_AND_BOTH_MOUTHS),
        (Mode.WHISPER, ALL, EAR_AND_BOTH_MOUTHS),
    ],
    ids=[
        "monitor-only",
        "monitor-whisper",
        "whisper-only",
        "private-whisper-only",
        "no-barge",
        "monitor-barge",
        "barge-only",
        "all",
    ],
)
def test_the_snoops_made_follow_the_grant_ear_always_agent_mouth_to_talk_caller_mouth_to_barge(
    dialled: Mode, granted: frozenset[Mode], made: tuple[list[str], list[str]]
) -> None:
    snoops, bridges = made
    pb = authorized(dialled, granted)
    pb.rest()
    assert pb.asterisk.created_snoops == snoops
    assert pb.asterisk.created_bridges == bridges
    start_snoops(pb)
    batch = pb.rest()
    bridged = [cmd for cmd in batch if isinstance(cmd, c.AddToBridge)]
    assert [cmd.bridge for cmd in bridged] == bridges
    assert sorted(ch for cmd in bridged for ch in cmd.channels) == sorted([SUP, *snoops])
    assert pb.routing == CHANSPY[dialled]


def test_every_snoop_made_departs_with_the_party_it_snoops_on() -> None:
    pb = active(Mode.BARGE)
    made = [cmd for cmd in pb.consumed if isinstance(cmd, c.CreateSnoop)]
    assert len(made) == 5
    owner = {SUP: Party.SUPERVISOR, AGENT: Party.AGENT}
    for cmd in made:
        assert pb.session.party_of(cmd.snoop) is owner[cmd.target], cmd


def test_no_snoop_on_the_agent_both_listens_and_whispers() -> None:
    """The ear never whispers: the supervisor's voice reaches the agent only through a mouth."""
    pb = active(Mode.BARGE)
    for cmd in pb.consumed:
        if isinstance(cmd, c.CreateSnoop) and cmd.target == AGENT:
            assert cmd.spy == "none" or cmd.whisper == "none", cmd
        if isinstance(cmd, c.CreateSnoop) and cmd.target == SUP:
            assert (cmd.spy, cmd.whisper) == ("in", "none"), cmd


def test_bridging_waits_until_every_snoop_entered_stasis_in_whatever_order() -> None:
    pb = authorized(Mode.WHISPER)
    pb.rest()
    assert pb.feed(e.ChannelStarted(C_MOUTH)) == []
    assert pb.feed(e.ChannelStarted(C_MOUTH)) == []  # a duplicate StasisStart
    assert pb.feed(e.ChannelStarted(EAR)) == []
    assert pb.feed(e.ChannelStarted(A_MOUTH)) == []
    assert pb.feed(e.ChannelStarted(C_MIC)) == []
    assert pb.routing == NO_ROUTING
    pb >> e.ChannelStarted(A_MIC)
    pb << c.Mute(C_MIC, "in") << c.Mute(C_MOUTH, "out")
    for cmd in BRIDGING:
        pb << cmd
    pb.rest()
    assert pb.routing == CHANSPY[Mode.WHISPER]


def test_snoop_starting_twice_once_active_changes_nothing() -> None:
    pb = active(Mode.WHISPER)
    assert pb.feed(e.ChannelStarted(EAR)) == []
    assert pb.session.state is State.ACTIVE


def test_beep_option_beeps_to_the_supervisor_once_the_bridges_are_up() -> None:
    pb = authorized(Mode.BARGE, beep_supervisor=True)
    pb.rest()
    start_snoops(pb)
    for cmd in BRIDGING:
        pb << cmd
    pb << c.Play(SUP, BEEP_MEDIA, IDS.playback(1)) << Pub("session_started", mode="barge")
    assert pb


def test_mode_chosen_during_setup_becomes_the_starting_mode() -> None:
    pb = authorized(Mode.MONITOR)
    pb.rest()
    assert pb.feed(e.ModeRequested(Mode.BARGE)) == []
    start_snoops(pb)
    batch = pb.rest()
    assert types(batch) == ["session_started"]
    assert Pub("session_started", mode="barge")(batch[-1])
    assert pb.routing == CHANSPY[Mode.BARGE]


@pytest.mark.parametrize(
    "request_",
    [e.ModeRequested(Mode.BARGE), e.ModeRequested(Mode.WHISPER, blocked_by="other")],
    ids=["not-granted", "blocked"],
)
def test_mode_refused_during_setup_is_ignored_and_the_dialled_mode_stays(
    request_: e.ModeRequested,
) -> None:
    pb = authorized(Mode.MONITOR, NO_BARGE)
    pb.rest()
    assert pb.feed(request_) == []
    start_snoops(pb)
    assert Pub("session_started", mode="monitor")(pb.rest()[-1])
    assert pb.routing == CHANSPY[Mode.MONITOR]


@pytest.mark.parametrize(
    ("dialled", "granted"),
    [
        (Mode.WHISPER, MONITOR_ONLY),
        (Mode.BARGE, NO_BARGE),
        (Mode.MONITOR, frozenset({Mode.WHISPER})),
        (Mode.PRIVATE_WHISPER, frozenset()),
    ],
    ids=["whisper-granted-monitor", "barge-granted-no-barge", "monitor-granted-whisper", "none"],
)
def test_dialled_mode_missing_from_the_grant_is_refused_as_not_permitted_before_any_snoop(
    dialled: Mode, granted: frozenset[Mode]
) -> None:
    pb = (
        Playbook(new_session(dialled))
        << c.Answer(SUP)
        << c.Authorize(ENDPOINT, AGENT_ID, dialled)
        >> e.Authorized(USER, granted, AGENT)
        << Pub(
            "session_refused",
            seq=1,
            reason="not_permitted",
            detail="mode " + dialled.value,
            supervisor=USER,
            mode=None,
        )
        << c.Play(SUP, REFUSAL_MEDIA["not_permitted"], IDS.playback(1))
        << c.StartTimer("hangup", PLAYBACK_GRACE)
    )
    assert pb
    assert pb.session.state is State.CLOSING
    assert not pb.session.talking
    assert pb.asterisk.created_snoops == []
    assert pb.asterisk.created_bridges == []
    assert pb.routing == NO_ROUTING


def test_agent_call_ending_during_setup_refuses_as_agent_not_on_call() -> None:
    pb = authorized(Mode.WHISPER)
    pb.rest()
    pb >> e.ChannelStarted(EAR)
    pb.asterisk.kill(AGENT)  # the ear and both mouth snoops on the agent go with it
    pb >> e.ChannelGone(EAR)
    for cmd in without(TEARDOWN, EAR):
        pb << cmd
    (
        pb
        << Pub("session_refused", reason="agent_not_on_call")
        << c.Play(SUP, REFUSAL_MEDIA["agent_not_on_call"], IDS.playback(1))
        << c.StartTimer("hangup", PLAYBACK_GRACE)
    )
    assert pb
    assert pb.asterisk.live_snoops() == []
    assert pb.asterisk.bridges == {}


def test_supervisor_hanging_up_during_setup_tears_down_and_finishes() -> None:
    pb = authorized(Mode.MONITOR)
    pb.rest()
    pb.asterisk.kill(SUP)
    batch = pb.feed(e.ChannelGone(SUP))
    assert batch[-1] == c.Finished("supervisor_hangup")
    assert types(batch) == ["session_refused"]
    assert pb.asterisk.bridges == {}
    assert pb.asterisk.live_snoops() == []


def test_end_requested_during_setup_tears_down_hangs_up_and_finishes() -> None:
    pb = authorized(Mode.MONITOR)
    pb.rest()
    pb >> e.ChannelStarted(EAR)
    batch = pb.feed(e.EndRequested("shutdown"))
    assert batch[-2:] == [c.Hangup(SUP), c.Finished("shutdown")]
    assert pb.asterisk.bridges == {}
    assert pb.asterisk.live_snoops() == []
    assert not pb.asterisk.alive(SUP)


def test_star_during_setup_tears_down_hangs_up_and_publishes_the_end_as_a_refusal() -> None:
    pb = authorized(Mode.WHISPER)
    pb.rest()
    pb >> e.ChannelStarted(EAR)  # the mouths' snoops are not in Stasis yet
    pb >> e.DtmfReceived(SUP, "*")
    for cmd in TEARDOWN:
        pb << cmd
    (
        pb
        << Pub("session_refused", seq=1, reason="supervisor_ended", mode=None)
        << c.Hangup(SUP)
        << c.Finished("supervisor_ended")
    )
    assert pb
    assert pb.session.state is State.ENDED
    assert pb.asterisk.live_snoops() == []
    assert pb.asterisk.bridges == {}
    assert not pb.asterisk.alive(SUP)


@pytest.mark.parametrize(
    "dtmf",
    [e.DtmfReceived(SUP, "#"), e.DtmfReceived(SUP, "1"), e.DtmfReceived(EAR, "*")],
    ids=["hash", "no-such-digit", "star-from-a-snoop"],
)
def test_other_digits_during_setup_change_nothing(dtmf: e.DtmfReceived) -> None:
    pb = authorized(Mode.MONITOR, NO_BARGE)
    pb.rest()
    assert pb.feed(dtmf) == []
    assert pb.session.state is State.SETTING_UP
    start_snoops(pb)
    assert types(pb.rest()) == ["session_started"]


def test_session_objects_are_named_after_the_session_and_never_collide() -> None:
    ids = SessionIds("3f2a9c1b7d4e")
    names = [
        ids.ear_bridge,
        ids.agent_bridge,
        ids.caller_bridge,
        ids.ear_snoop,
        ids.agent_mic,
        ids.agent_mouth,
        ids.caller_mic,
        ids.caller_mouth,
        ids.playback(1),
    ]
    assert names == [
        "coachd-3f2a9c1b7d4e-bridge-ear",
        "coachd-3f2a9c1b7d4e-bridge-agent",
        "coachd-3f2a9c1b7d4e-bridge-caller",
        "coachd-3f2a9c1b7d4e-ear",
        "coachd-3f2a9c1b7d4e-mic-agent",
        "coachd-3f2a9c1b7d4e-agent",
        "coachd-3f2a9c1b7d4e-mic-caller",
        "coachd-3f2a9c1b7d4e-caller",
        "coachd-3f2a9c1b7d4e-play-1",
    ]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize(
    ("channel", "party"),
    [
        (SUP, Party.SUPERVISOR),
        (A_MIC, Party.SUPERVISOR),
        (C_MIC, Party.SUPERVISOR),
        (EAR, Party.AGENT),
        (A_MOUTH, Party.AGENT),
        (C_MOUTH, Party.AGENT),
        (AGENT, None),
        (EAR_BRIDGE, None),
        ("someone-else", None),
    ],
)
def test_a_channel_going_away_means_the_departure_of_its_party(
    channel: str, party: Party | None
) -> None:
    assert new_session().party_of(channel) is party


# --- switching modes ------------------------------------------------------------

SWITCHES = list(itertools.permutations(Mode, 2))


@pytest.mark.parametrize(("before", "after"), SWITCHES, ids=lambda m: str(m))
def test_switch_mutes_closing_paths_before_unmuting_opening_ones_and_publishes_it(
    before: Mode, after: Mode
) -> None:
    pb = active(before)
    muted_before = set(pb.asterisk.muted)
    pb.asterisk.trace.clear()
    batch = pb.feed(e.ModeRequested(after, "dtmf"))

    switched = toggles(batch)
    assert switched, "nothing changes"
    kinds = [type(t) for t in switched]
    assert kinds == sorted(kinds, key=lambda k: k is c.Unmute), "an unmute came before a mute"
    # Only what changes is touched, once; never the supervisor's own channel.
    paths = [(t.channel, t.direction) for t in switched]
    assert len(set(paths)) == len(paths)
    assert SUP not in {t.channel for t in switched}
    for t in switched:
        assert ((t.channel, t.direction) in muted_before) == isinstance(t, c.Unmute), t
    assert batch == [*switched, batch[-1]]
    assert Pub("mode_changed", seq=2, before=before.value, after=after.value, source="dtmf")(
        batch[-1]
    ), batch[-1]
    assert pb.routing == CHANSPY[after]
    for cmd, routing in pb.asterisk.trace:
        assert within(routing, CHANSPY[before]) or within(routing, CHANSPY[after]), (
            f"after {cmd!r} the routing {routing} is neither within {before} nor {after}"
        )
    assert pb.session.mode is after


@pytest.mark.parametrize(("before", "after"), SWITCHES, ids=lambda m: str(m))
def test_closing_mutes_both_ends_of_every_closing_mouth_before_anything_opens(
    before: Mode, after: Mode
) -> None:
    pb = active(before)
    pb >> e.ModeRequested(after)
    pb.take(c.Mute)
    fake = pb.asterisk  # every mute carried out, no unmute yet
    mouths = {"agent": AGENT_MOUTH_ENDS, "caller": CALLER_MOUTH_ENDS}
    for path, ends in mouths.items():
        if not getattr(ROUTING[after], path):
            assert all(fake.is_muted(ch, d) for ch, d in ends), f"{path} mouth not shut"
    if not ROUTING[after].ear:
        assert fake.is_muted(EAR, "in"), "ear not shut"
    # Now, before any unmute, nothing is open that the new mode keeps closed.
    assert within(fake.routing(), CHANSPY[after])
    rest = pb.rest()
    assert all(isinstance(t, c.Unmute) for t in toggles(rest))
    assert pb.routing == CHANSPY[after]


def test_whisper_switch_opens_both_ends_of_the_agent_mouth() -> None:
    pb = active(Mode.MONITOR)
    pb.asterisk.trace.clear()
    (
        pb
        >> e.ModeRequested(Mode.WHISPER, "api")
        << c.Unmute(A_MIC, "in")
        << c.Unmute(A_MOUTH, "out")
        << Pub("mode_changed", before="monitor", after="whisper", source="api", mode="whisper")
    )
    assert pb
    # The first end alone opens nothing: the other one still holds.
    assert routings_during(pb) == [
        CHANSPY[Mode.MONITOR],
        CHANSPY[Mode.WHISPER],
        CHANSPY[Mode.WHISPER],
    ]
    assert not any(pb.asterisk.is_muted(ch, d) for ch, d in AGENT_MOUTH_ENDS)
    assert all(pb.asterisk.is_muted(ch, d) for ch, d in CALLER_MOUTH_ENDS)


def test_whisper_to_monitor_shuts_the_agent_mouth_at_both_ends() -> None:
    pb = active(Mode.WHISPER)
    pb.asterisk.trace.clear()
    (
        pb
        >> e.ModeRequested(Mode.MONITOR)
        << c.Mute(A_MIC, "in")
        << c.Mute(A_MOUTH, "out")
        << Pub("mode_changed", before="whisper", after="monitor")
    )
    assert pb
    # One end is enough to stop the voice: the second is the spare barrier.
    assert routings_during(pb) == [CHANSPY[Mode.MONITOR]] * 3
    assert all(pb.asterisk.is_muted(ch, d) for ch, d in AGENT_MOUTH_ENDS)


def test_barge_to_monitor_shuts_both_mouths_at_both_ends() -> None:
    pb = active(Mode.BARGE)
    (
        pb
        >> e.ModeRequested(Mode.MONITOR)
        << c.Mute(A_MIC, "in")
        << c.Mute(A_MOUTH, "out")
        << c.Mute(C_MIC, "in")
        << c.Mute(C_MOUTH, "out")
        << Pub("mode_changed", before="barge", after="monitor")
    )
    assert pb
    assert pb.routing == CHANSPY[Mode.MONITOR]
    assert pb.asterisk.muted == {*AGENT_MOUTH_ENDS, *CALLER_MOUTH_ENDS}


def test_barge_to_whisper_shuts_only_the_caller_mouth() -> None:
    pb = active(Mode.BARGE)
    (
        pb
        >> e.ModeRequested(Mode.WHISPER)
        << c.Mute(C_MIC, "in")
        << c.Mute(C_MOUTH, "out")
        << Pub("mode_changed", before="barge", after="whisper")
    )
    assert pb
    assert pb.routing == CHANSPY[Mode.WHISPER]


def test_private_whisper_to_monitor_closes_the_mouth_before_opening_the_ear() -> None:
    pb = active(Mode.PRIVATE_WHISPER)
    pb.asterisk.trace.clear()
    (
        pb
        >> e.ModeRequested(Mode.MONITOR)
        << c.Mute(A_MIC, "in")
        << c.Mute(A_MOUTH, "out")
        << c.Unmute(EAR, "in")
        << Pub("mode_changed", before="private_whisper", after="monitor")
    )
    assert pb
    # In between, the supervisor neither talks nor listens: never both at once.
    assert routings_during(pb) == [
        NO_ROUTING,
        NO_ROUTING,
        CHANSPY[Mode.MONITOR],
        CHANSPY[Mode.MONITOR],
    ]


def test_monitor_to_private_whisper_closes_the_ear_before_opening_the_mouth() -> None:
    pb = active(Mode.MONITOR)
    pb.asterisk.trace.clear()
    (
        pb
        >> e.ModeRequested(Mode.PRIVATE_WHISPER)
        << c.Mute(EAR, "in")
        << c.Unmute(A_MIC, "in")
        << c.Unmute(A_MOUTH, "out")
        << Pub("mode_changed", before="monitor", after="private_whisper")
    )
    assert pb
    assert routings_during(pb) == [
        NO_ROUTING,
        NO_ROUTING,
        CHANSPY[Mode.PRIVATE_WHISPER],
        CHANSPY[Mode.PRIVATE_WHISPER],
    ]


def test_the_ear_bridge_never_changes_during_switches() -> None:
    pb = active(Mode.MONITOR)
    for mode in [Mode.WHISPER, Mode.BARGE, Mode.PRIVATE_WHISPER, Mode.MONITOR, Mode.BARGE]:
        batch = pb.feed(e.ModeRequested(mode))
        assert not any(isinstance(cmd, (c.AddToBridge, c.CreateBridge)) for cmd in batch)
        assert pb.asterisk.bridges[EAR_BRIDGE] == [SUP, EAR]
        assert pb.routing == CHANSPY[mode]


def test_requesting_the_current_mode_again_does_nothing() -> None:
    pb = active(Mode.WHISPER)
    assert pb.feed(e.ModeRequested(Mode.WHISPER)) == []
    assert pb.routing == CHANSPY[Mode.WHISPER]


def test_switch_to_a_mode_not_granted_plays_the_error_tone_and_publishes_mode_refused() -> None:
    pb = active(Mode.MONITOR, NO_BARGE)
    (
        pb
        >> e.ModeRequested(Mode.BARGE, "dtmf")
        << c.Play(SUP, ERROR_TONE_MEDIA, IDS.playback(1))
        << c.StartTimer("stop:" + IDS.playback(1), ERROR_TONE_SECONDS)
        << Pub(
            "mode_refused",
            seq=2,
            requested="barge",
            reason="not_permitted",
            source="dtmf",
            mode="monitor",
        )
    )
    assert pb
    assert pb.session.mode is Mode.MONITOR
    assert pb.routing == CHANSPY[Mode.MONITOR]


def test_monitor_only_supervisor_asking_to_whisper_is_refused_and_has_no_mouth_to_open() -> None:
    pb = active(Mode.MONITOR, MONITOR_ONLY)
    batch = pb.feed(e.ModeRequested(Mode.WHISPER))
    assert toggles(batch) == []
    assert Pub("mode_refused", requested="whisper", reason="not_permitted")(batch[-1])
    assert pb.asterisk.created_snoops == [EAR]
    assert pb.routing == CHANSPY[Mode.MONITOR]


def test_switch_blocked_by_another_talking_supervisor_is_refused_and_routing_kept() -> None:
    pb = active(Mode.MONITOR)
    (
        pb
        >> e.ModeRequested(Mode.WHISPER, "dtmf", blocked_by="s2")
        << c.Play(SUP, ERROR_TONE_MEDIA, IDS.playback(1))
        << c.StartTimer("stop:" + IDS.playback(1), ERROR_TONE_SECONDS)
        << Pub("mode_refused", requested="whisper", reason="another_supervisor_talking")
    )
    assert pb
    assert pb.session.mode is Mode.MONITOR
    assert pb.routing == CHANSPY[Mode.MONITOR]


def test_error_tone_is_stopped_when_its_timer_fires_and_the_call_is_heard_again() -> None:
    pb = active(Mode.MONITOR, NO_BARGE)
    pb.feed(e.ModeRequested(Mode.BARGE))
    pb >> e.TimerFired("stop:" + IDS.playback(1)) << c.StopPlayback(IDS.playback(1))
    assert pb
    assert pb.asterisk.stopped == [IDS.playback(1)]
    assert pb.feed(e.TimerFired("hangup")) == []  # no such timer while active
    assert pb.session.state is State.ACTIVE


def test_error_tone_that_cannot_be_stopped_keeps_the_session_running() -> None:
    pb = active(Mode.MONITOR, NO_BARGE)
    pb.feed(e.ModeRequested(Mode.BARGE))
    stop = c.StopPlayback(IDS.playback(1))
    pb >> e.TimerFired("stop:" + IDS.playback(1)) << stop
    assert pb.feed(e.CommandFailed(stop, 500, "boom")) == []
    assert pb.session.state is State.ACTIVE


def test_moving_to_monitor_is_never_blocked_by_another_talker() -> None:
    pb = active(Mode.WHISPER)
    batch = pb.feed(e.ModeRequested(Mode.MONITOR, blocked_by=None))
    assert types(batch) == ["mode_changed"]
    assert pb.routing == CHANSPY[Mode.MONITOR]


def test_dtmf_from_another_channel_than_the_supervisor_is_ignored() -> None:
    pb = active(Mode.MONITOR)
    assert pb.feed(e.DtmfReceived(EAR, "*")) == []
    assert pb.feed(e.DtmfReceived(A_MIC, "*")) == []
    assert pb.feed(e.DtmfReceived("someone-else", "#")) == []
    assert pb.session.state is State.ACTIVE


def test_mode_digits_reach_the_session_as_mode_requests_not_as_dtmf() -> None:
    pb = active(Mode.MONITOR)
    assert pb.session.mode_for_digit("5") is Mode.WHISPER
    assert pb.feed(e.DtmfReceived(SUP, "5")) == []
    assert pb.session.mode is Mode.MONITOR


def test_vicidial_keymap_maps_5_to_barge() -> None:
    assert new_session(keymap="vicidial").mode_for_digit("5") is Mode.BARGE
    assert new_session(keymap="chanspy").mode_for_digit("5") is Mode.WHISPER


# --- volume --------------------------------------------------------------------------


def test_hash_cycles_the_supervisor_volume_like_chanspy() -> None:
    pb = active(Mode.MONITOR)
    batches = [pb.feed(e.DtmfReceived(SUP, "#")) for _ in range(10)]
    assert batches == [[c.SetVolume(SUP, v)] for v in [1, 2, 3, 4, -4, -3, -2, -1, 0, 1]]
    assert pb.asterisk.volumes[SUP] == 1


def test_failed_volume_change_keeps_the_session_running() -> None:
    pb = active(Mode.MONITOR)
    pb >> e.DtmfReceived(SUP, "#") << c.SetVolume(SUP, 1)
    assert pb.feed(e.CommandFailed(c.SetVolume(SUP, 1), 500, "boom")) == []
    assert pb.session.state is State.ACTIVE
    assert types(pb.feed(e.ModeRequested(Mode.WHISPER))) == ["mode_changed"]


# --- ending --------------------------------------------------------------------------


def test_star_ends_the_session_and_leaves_nothing_behind() -> None:
    pb = active(Mode.WHISPER)
    pb >> e.DtmfReceived(SUP, "*")
    for cmd in TEARDOWN:
        pb << cmd
    (
        pb
        << Pub("session_ended", seq=2, reason="supervisor_ended", mode="whisper")
        << c.Hangup(SUP)
        << c.Finished("supervisor_ended")
    )
    assert pb
    fake = pb.asterisk
    assert fake.live_snoops() == []
    assert fake.bridges == {}
    assert sorted(fake.destroyed_bridges) == sorted([EAR_BRIDGE, A_BRIDGE, C_BRIDGE])
    assert not fake.alive(SUP)
    assert pb.routing == NO_ROUTING


def test_star_of_a_monitor_only_supervisor_removes_the_ear_alone() -> None:
    pb = active(Mode.MONITOR, MONITOR_ONLY)
    (
        pb
        >> e.DtmfReceived(SUP, "*")
        << c.Hangup(EAR)
        << c.DestroyBridge(EAR_BRIDGE)
        << Pub("session_ended", reason="supervisor_ended")
        << c.Hangup(SUP)
        << c.Finished("supervisor_ended")
    )
    assert pb
    assert pb.asterisk.live_snoops() == []
    assert pb.asterisk.bridges == {}


def test_end_requested_while_active_ends_without_a_tone() -> None:
    pb = active(Mode.BARGE)
    batch = pb.feed(e.EndRequested("shutdown"))
    n = len(TEARDOWN)
    assert batch[:n] == TEARDOWN
    assert Pub("session_ended", reason="shutdown")(batch[n])
    assert batch[n + 1 :] == [c.Hangup(SUP), c.Finished("shutdown")]
    assert not any(isinstance(cmd, c.Play) for cmd in batch)


def test_agent_hangup_tears_down_then_plays_the_end_tone_then_hangs_up_the_supervisor() -> None:
    pb = active(Mode.WHISPER)
    hang_up_agent(pb)
    for cmd in without(TEARDOWN, EAR):
        pb << cmd  # the mouths on the agent are gone too: 404, ignored
    (
        pb
        << Pub("session_ended", reason="agent_hangup", mode="whisper")
        << c.Play(SUP, END_TONE_MEDIA, IDS.playback(1))
        << c.StartTimer("hangup", END_TONE_SECONDS)
    )
    assert pb.routing == NO_ROUTING
    assert pb.feed(e.ChannelGone(A_MOUTH)) == []  # the other snoops' StasisEnd
    assert pb.feed(e.ChannelGone(C_MOUTH)) == []
    assert pb.session.state is State.CLOSING
    (
        pb
        >> e.PlaybackFinished(IDS.playback(1))
        << c.CancelTimer("hangup")
        << c.Hangup(SUP)
        << c.Finished("agent_hangup")
    )
    assert pb
    assert pb.asterisk.live_snoops() == []
    assert not pb.asterisk.alive(SUP)
    assert pb.asterisk.timers == {}


def test_agent_hangup_hangs_up_the_supervisor_once_the_end_tone_timer_fires() -> None:
    pb = active(Mode.MONITOR)
    hang_up_agent(pb).rest()
    assert pb.feed(e.TimerFired("other")) == []
    (
        pb
        >> e.TimerFired("hangup")
        << c.CancelTimer("hangup")
        << c.Hangup(SUP)
        << c.Finished("agent_hangup")
    )
    assert pb


def test_end_tone_wait_ignores_other_playbacks_finishing() -> None:
    pb = active(Mode.MONITOR, NO_BARGE)
    pb.feed(e.ModeRequested(Mode.BARGE))  # error tone: playback 1
    hang_up_agent(pb).rest()  # end tone: playback 2
    assert pb.feed(e.PlaybackFinished(IDS.playback(1))) == []
    assert pb.session.state is State.CLOSING
    assert pb.feed(e.PlaybackFinished(IDS.playback(2)))[-1] == c.Finished("agent_hangup")


def test_agent_hangup_without_end_tone_hangs_up_the_supervisor_at_once() -> None:
    pb = active(Mode.MONITOR, end_tone=False)
    batch = hang_up_agent(pb).rest()
    assert batch[-2:] == [c.Hangup(SUP), c.Finished("agent_hangup")]
    assert not any(isinstance(cmd, c.Play) for cmd in batch)


def test_supervisor_hangup_tears_down_everything_and_finishes_without_waiting() -> None:
    pb = active(Mode.BARGE)
    pb.asterisk.kill(SUP)  # both mic snoops go with it
    pb >> e.ChannelGone(SUP)
    for cmd in TEARDOWN:
        pb << cmd
    pb << Pub("session_ended", reason="supervisor_hangup") << c.Finished("supervisor_hangup")
    assert pb
    fake = pb.asterisk
    assert fake.live_snoops() == []
    assert fake.bridges == {}
    assert c.Hangup(SUP) not in pb.consumed
    assert pb.routing == NO_ROUTING


def test_hanging_up_a_supervisor_already_gone_is_harmless_for_the_engine() -> None:
    fake = FakeAsterisk(supervisor=SUP, agent=AGENT)
    fake.kill(SUP)
    with pytest.raises(AriFailure) as failure:
        fake.apply(c.Hangup(SUP))
    assert failure.value.status == 404  # which the engine suppresses for Hangup


def test_supervisor_hanging_up_during_the_end_tone_finishes_at_once() -> None:
    pb = active(Mode.MONITOR)
    hang_up_agent(pb).rest()
    pb.asterisk.kill(SUP)
    pb >> e.ChannelGone(SUP) << c.CancelTimer("hangup") << c.Finished("agent_hangup")
    assert pb


@pytest.mark.parametrize("mic", [A_MIC, C_MIC], ids=["agent-mic", "caller-mic"])
def test_mic_snoop_vanishing_alone_ends_as_supervisor_hangup_and_hangs_up_the_supervisor(
    mic: str,
) -> None:
    pb = active(Mode.BARGE)
    pb.asterisk.kill(mic)
    pb >> e.ChannelGone(mic)
    for cmd in without(TEARDOWN, mic):
        pb << cmd
    (
        pb
        << Pub("session_ended", seq=2, reason="supervisor_hangup")
        << c.Hangup(SUP)
        << c.Finished("supervisor_hangup")
    )
    assert pb
    assert not pb.asterisk.alive(SUP)
    assert pb.asterisk.live_snoops() == []
    assert pb.routing == NO_ROUTING


@pytest.mark.parametrize("mouth", [A_MOUTH, C_MOUTH], ids=["agent-mouth", "caller-mouth"])
def test_mouth_snoop_vanishing_alone_ends_as_agent_hangup_with_the_end_tone(mouth: str) -> None:
    pb = active(Mode.BARGE)
    pb.asterisk.kill(mouth)
    pb >> e.ChannelGone(mouth)
    for cmd in without(TEARDOWN, mouth):
        pb << cmd
    (
        pb
        << Pub("session_ended", seq=2, reason="agent_hangup")
        << c.Play(SUP, END_TONE_MEDIA, IDS.playback(1))
        << c.StartTimer("hangup", END_TONE_SECONDS)
    )
    assert pb
    assert pb.asterisk.live_snoops() == []
    assert pb.routing == NO_ROUTING


def test_mic_snoop_vanishing_during_setup_hangs_up_the_supervisor() -> None:
    pb = authorized(Mode.BARGE)
    pb.rest()
    pb >> e.ChannelStarted(A_MIC)
    pb.asterisk.kill(A_MIC)
    batch = pb.feed(e.ChannelGone(A_MIC))
    assert types(batch) == ["session_refused"]
    assert Pub("session_refused", reason="supervisor_hangup")(
        next(cmd for cmd in batch if isinstance(cmd, c.Publish))
    )
    assert batch[-2:] == [c.Hangup(SUP), c.Finished("supervisor_hangup")]
    assert not pb.asterisk.alive(SUP)
    assert pb.asterisk.live_snoops() == []


# --- refusals ---------------------------------------------------------------------

REASONS = [
    "unknown_agent",
    "agent_not_on_call",
    "own_endpoint",
    "not_permitted",
    "another_supervisor_talking",
    "bad_request",
    "error",
]


@pytest.mark.parametrize("reason", REASONS)
def test_refusal_publishes_session_refused_plays_its_message_then_hangs_up(reason: str) -> None:
    pb = Playbook(new_session(Mode.WHISPER))
    (
        pb
        << c.Answer(SUP)
        << c.Authorize(ENDPOINT, AGENT_ID, Mode.WHISPER)
        >> e.Refused(reason, "why")
        << Pub("session_refused", seq=1, reason=reason, detail="why", supervisor=None)
        << c.Play(SUP, REFUSAL_MEDIA[reason], IDS.playback(1))
        << c.StartTimer("hangup", PLAYBACK_GRACE)
    )
    assert pb.session.state is State.CLOSING
    assert pb.asterisk.alive(SUP)
    (
        pb
        >> e.PlaybackFinished(IDS.playback(1))
        << c.CancelTimer("hangup")
        << c.Hangup(SUP)
        << c.Finished(reason)
    )
    assert pb
    assert pb.asterisk.created_snoops == []
    assert not pb.asterisk.alive(SUP)


def test_refusal_messages_say_something_specific_for_each_reason() -> None:
    assert REFUSAL_MEDIA["unknown_agent"] != REFUSAL_MEDIA["agent_not_on_call"]
    assert all(REFUSAL_MEDIA[r].startswith("sound:") for r in REASONS)


def test_refusal_for_an_unknown_reason_plays_the_generic_error_message() -> None:
    pb = Playbook(new_session())
    pb << c.Answer(SUP) << c.Authorize(ENDPOINT, AGENT_ID, Mode.MONITOR)
    pb >> e.Refused("shutting_down") << Pub("session_refused", reason="shutting_down")
    pb << c.Play(SUP, REFUSAL_MEDIA["error"], IDS.playback(1)) << c.StartTimer
    assert pb


def test_refusal_hangs_up_when_the_message_never_reports_finishing() -> None:
    pb = Playbook(new_session())
    pb << c.Answer(SUP) << c.Authorize(ENDPOINT, AGENT_ID, Mode.MONITOR)
    pb.feed(e.Refused("unknown_agent"))
    assert pb.feed(e.PlaybackFinished("coachd-s1-play-99")) == []
    (
        pb
        >> e.TimerFired("hangup")
        << c.CancelTimer("hangup")
        << c.Hangup(SUP)
        << c.Finished("unknown_agent")
    )
    assert pb


def test_supervisor_hanging_up_during_the_refusal_message_finishes_at_once() -> None:
    pb = Playbook(new_session())
    pb << c.Answer(SUP) << c.Authorize(ENDPOINT, AGENT_ID, Mode.MONITOR)
    pb.feed(e.Refused("unknown_agent"))
    assert pb.feed(e.ChannelGone("someone-else")) == []
    pb.asterisk.kill(SUP)
    pb >> e.ChannelGone(SUP) << c.CancelTimer("hangup") << c.Finished("unknown_agent")
    assert pb


@pytest.mark.parametrize("closing", ["refusal-message", "end-tone"])
def test_end_requested_while_closing_hangs_up_at_once(closing: str) -> None:
    if closing == "refusal-message":
        pb = Playbook(new_session())
        pb << c.Answer(SUP) << c.Authorize(ENDPOINT, AGENT_ID, Mode.MONITOR)
        pb.feed(e.Refused("unknown_agent"))
        reason = "unknown_agent"
    else:
        pb = active(Mode.WHISPER)
        hang_up_agent(pb).rest()
        reason = "agent_hangup"
    assert pb.session.state is State.CLOSING
    assert "hangup" in pb.asterisk.timers
    (
        pb
        >> e.EndRequested("shutdown")
        << c.CancelTimer("hangup")
        << c.Hangup(SUP)
        << c.Finished(reason)  # the reason already published stays the session's
    )
    assert pb
    assert not pb.asterisk.alive(SUP)
    assert pb.asterisk.timers == {}
    assert pb.session.state is State.ENDED


def session_in(state: State) -> Session:
    if state is State.AUTHORIZING:
        session = new_session()
        session.start()
        return session
    if state is State.SETTING_UP:
        pb = authorized(Mode.MONITOR)
        pb.rest()
        return pb.session
    if state is State.ACTIVE:
        return active(Mode.MONITOR).session
    pb = Playbook(new_session())
    pb << c.Answer(SUP) << c.Authorize(ENDPOINT, AGENT_ID, Mode.MONITOR)
    pb.feed(e.Refused("unknown_agent"))
    return pb.session


@pytest.mark.parametrize("state", [State.SETTING_UP, State.ACTIVE, State.CLOSING], ids=str)
def test_stop_timer_of_a_tone_stops_it_whatever_the_state(state: State) -> None:
    session = session_in(state)
    assert session.state is state
    stop = e.TimerFired("stop:" + IDS.playback(7))
    assert session.handle(stop) == [c.StopPlayback(IDS.playback(7))]
    assert session.state is state


# --- failing commands: the batch contract (see playbook.py) -------------------------


def test_answer_404_finishes_as_supervisor_hangup_without_authorizing() -> None:
    pb = Playbook(new_session())
    answer = c.Answer(SUP)
    pb.asterisk.kill(SUP)
    (
        pb
        << answer
        >> e.CommandFailed(answer, 404, "Channel not found")
        << Pub("session_refused", seq=1, reason="supervisor_hangup")
        << c.Finished("supervisor_hangup")
    )
    assert pb
    assert pb.failures[0].dropped == (c.Authorize(ENDPOINT, AGENT_ID, Mode.MONITOR),)


def test_answer_failing_otherwise_refuses_as_error_then_hangs_up_the_supervisor() -> None:
    pb = Playbook(new_session())
    answer = c.Answer(SUP)
    (
        pb
        << answer
        >> e.CommandFailed(answer, 500, "boom")
        << Pub("session_refused", seq=1, reason="error", detail="Answer: 500 boom")
        << c.Play(SUP, REFUSAL_MEDIA["error"], IDS.playback(1))
        << c.StartTimer("hangup", PLAYBACK_GRACE)
    )
    assert pb.failures == [
        e.CommandFailed(
            answer, 500, "boom", dropped=(c.Authorize(ENDPOINT, AGENT_ID, Mode.MONITOR),)
        )
    ]
    assert pb.session.state is State.CLOSING
    assert pb.asterisk.alive(SUP)
    (
        pb
        >> e.PlaybackFinished(IDS.playback(1))
        << c.CancelTimer("hangup")
        << c.Hangup(SUP)
        << c.Finished("error")
    )
    assert pb
    assert not pb.asterisk.alive(SUP)


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_snoop_on_the_agent_failing_refuses_as_agent_not_on_call_and_removes_what_was_made(
    status: int,
) -> None:
    snoop = c.CreateSnoop(EAR, AGENT, spy="both", whisper="none")
    pb = authorized(Mode.MONITOR)
    pb << c.CreateBridge(EAR_BRIDGE) << snoop >> e.CommandFailed(snoop, status, "Channel not found")
    assert pb.failures[0].dropped == (*AGENT_MOUTH_SETUP, *CALLER_MOUTH_SETUP)
    for cmd in TEARDOWN:
        pb << cmd  # the mouths were never made: 404, ignored
    (
        pb
        << Pub("session_refused", reason="agent_not_on_call", detail="Channel not found")
        << c.Play(SUP, REFUSAL_MEDIA["agent_not_on_call"], IDS.playback(1))
        << c.StartTimer("hangup", PLAYBACK_GRACE)
    )
    assert pb
    assert pb.asterisk.bridges == {}
    assert pb.asterisk.destroyed_bridges == [EAR_BRIDGE]


def test_whisper_snoop_on_the_agent_failing_is_read_as_the_agent_gone_too() -> None:
    mouth = c.CreateSnoop(A_MOUTH, AGENT, spy="none", whisper="out")
    pb = authorized(Mode.WHISPER, NO_BARGE)
    for cmd in [*EAR_SETUP, *AGENT_MOUTH_SETUP[:2]]:
        pb << cmd
    pb << mouth >> e.CommandFailed(mouth, 404, "Channel not found")
    batch = pb.rest()
    assert Pub("session_refused", reason="agent_not_on_call")(
        next(cmd for cmd in batch if isinstance(cmd, c.Publish))
    )
    assert pb.asterisk.live_snoops() == []
    assert pb.asterisk.bridges == {}


def test_bridge_creation_failing_refuses_as_error_with_the_detail() -> None:
    bridge = c.CreateBridge(EAR_BRIDGE)
    pb = authorized(Mode.MONITOR)
    pb << bridge >> e.CommandFailed(bridge, 500, "boom")
    batch = pb.rest()
    assert Pub("session_refused", reason="error", detail="CreateBridge: 500 boom")(
        next(cmd for cmd in batch if isinstance(cmd, c.Publish))
    )
    assert c.Play(SUP, REFUSAL_MEDIA["error"], IDS.playback(1)) in batch


def test_mute_404_on_the_agent_mouth_during_a_switch_ends_as_agent_hangup_and_drops_it() -> None:
    pb = active(Mode.BARGE)
    pb >> e.ModeRequested(Mode.MONITOR)
    pb.asterisk.kill(AGENT)
    mute = c.Mute(A_MOUTH, "out")
    pb << c.Mute(A_MIC, "in") << mute >> e.CommandFailed(mute, 404, "Channel not found")
    dropped = pb.failures[0].dropped
    assert dropped[:2] == (c.Mute(C_MIC, "in"), c.Mute(C_MOUTH, "out"))
    assert [Pub("mode_changed", seq=2)(cmd) for cmd in dropped] == [False, False, True]
    # The agent mouth is known gone: not hung up again.
    for cmd in without(TEARDOWN, A_MOUTH):
        pb << cmd
    (
        pb
        # The dropped mode_changed gave its seq back (no gap for consumers), and
        # its mode: the switch was never published, the end says barge.
        << Pub("session_ended", seq=2, reason="agent_hangup", mode="barge")
        << c.Play(SUP, END_TONE_MEDIA, IDS.playback(1))
        << c.StartTimer("hangup", END_TONE_SECONDS)
    )
    assert pb
    assert [(p.type, p.seq) for p in pb.published] == [("session_started", 1), ("session_ended", 2)]
    assert not any(isinstance(cmd, c.Unmute) for cmd in pb.consumed)
    assert pb.routing == NO_ROUTING


@pytest.mark.parametrize(
    ("after", "gone", "tail"),
    [
        (
            Mode.MONITOR,
            A_MIC,
            [
                Pub("session_ended", seq=2, reason="supervisor_hangup"),
                c.Hangup(SUP),
                c.Finished("supervisor_hangup"),
            ],
        ),
        (
            Mode.MONITOR,
            C_MIC,
            [
                Pub("session_ended", seq=2, reason="supervisor_hangup"),
                c.Hangup(SUP),
                c.Finished("supervisor_hangup"),
            ],
        ),
        (
            Mode.MONITOR,
            A_MOUTH,
            [
                Pub("session_ended", seq=2, reason="agent_hangup"),
                c.Play(SUP, END_TONE_MEDIA, IDS.playback(1)),
                c.StartTimer("hangup", END_TONE_SECONDS),
            ],
        ),
        (
            Mode.MONITOR,
            C_MOUTH,
            [
                Pub("session_ended", seq=2, reason="agent_hangup"),
                c.Play(SUP, END_TONE_MEDIA, IDS.playback(1)),
                c.StartTimer("hangup", END_TONE_SECONDS),
            ],
        ),
        (
            Mode.PRIVATE_WHISPER,
            EAR,
            [
                Pub("session_ended", seq=2, reason="agent_hangup"),
                c.Play(SUP, END_TONE_MEDIA, IDS.playback(1)),
                c.StartTimer("hangup", END_TONE_SECONDS),
            ],
        ),
    ],
    ids=[
        "agent-mic-is-the-supervisor",
        "caller-mic-is-the-supervisor",
        "agent-mouth-is-the-agent",
        "caller-mouth-is-the-agent",
        "ear-is-the-agent",
    ],
)
def test_mute_404_during_a_switch_is_read_by_whose_snoop_went_away(
    after: Mode, gone: str, tail: list[object]
) -> None:
    pb = active(Mode.BARGE)
    pb >> e.ModeRequested(after)
    pb.asterisk.kill(gone)  # that snoop alone
    order = list(pb.pending)
    failing = next(m for m in order if isinstance(m, c.Mute) and m.channel == gone)
    for mute in order[: order.index(failing) + 1]:
        pb << mute
    pb >> e.CommandFailed(failing, 404, "Channel not found")
    hangups = pb.take(c.Hangup)
    assert sorted(h.channel for h in hangups if isinstance(h, c.Hangup)) == sorted(
        {EAR, A_MIC, A_MOUTH, C_MIC, C_MOUTH} - {gone}
    )
    pb << c.DestroyBridge(EAR_BRIDGE) << c.DestroyBridge(A_BRIDGE) << c.DestroyBridge(C_BRIDGE)
    for expected in tail:
        pb << expected
    assert pb
    assert pb.asterisk.live_snoops() == []
    assert pb.routing == NO_ROUTING


def test_supervisor_gone_during_a_switch_ends_as_supervisor_hangup_without_a_tone() -> None:
    pb = active(Mode.WHISPER)
    pb >> e.ModeRequested(Mode.MONITOR)
    pb.asterisk.kill(SUP)  # both mic snoops go with it
    mute = c.Mute(A_MIC, "in")
    pb << mute >> e.CommandFailed(mute, 404, "Channel not found")
    for cmd in without(TEARDOWN, A_MIC):
        pb << cmd
    (
        pb
        << Pub("session_ended", seq=2, reason="supervisor_hangup", mode="whisper")
        # Only the mic snoop is known gone: the supervisor is hung up to be sure (404: done).
        << c.Hangup(SUP)
        << c.Finished("supervisor_hangup")
    )
    assert pb
    assert not any(isinstance(cmd, c.Play) for cmd in pb.consumed)
    assert pb.asterisk.live_snoops() == []


def test_mute_failing_otherwise_ends_with_error_and_hangs_up() -> None:
    pb = active(Mode.WHISPER)
    mute = c.Mute(A_MIC, "in")
    pb >> e.ModeRequested(Mode.MONITOR) << mute >> e.CommandFailed(mute, 500, "boom")
    batch = pb.rest()
    n = len(TEARDOWN)
    assert batch[:n] == TEARDOWN
    assert Pub("session_ended", seq=2, reason="error", detail="Mute: 500 boom", mode="whisper")(
        batch[n]
    )
    assert batch[n + 1 :] == [c.Hangup(SUP), c.Finished("error")]


@pytest.mark.parametrize(
    ("before", "after", "fails_at"),
    [
        (Mode.BARGE, Mode.MONITOR, 1),
        (Mode.MONITOR, Mode.BARGE, 0),
        (Mode.PRIVATE_WHISPER, Mode.BARGE, 1),
    ],
    ids=["dropped-mutes", "dropped-unmutes", "dropped-after-an-unmute"],
)
def test_a_switch_failing_half_way_forgets_what_it_dropped_mode_and_mutes_alike(
    before: Mode, after: Mode, fails_at: int
) -> None:
    pb = active(before)
    pb >> e.ModeRequested(after)
    switch = list(pb.pending)
    failing = switch[fails_at]
    for cmd in switch[:fails_at]:
        pb << cmd
    pb << failing >> e.CommandFailed(failing, 500, "boom")
    dropped = pb.failures[0].dropped
    assert dropped == tuple(switch[fails_at + 1 :])
    assert toggles(list(dropped)), "nothing was dropped but the publish"
    session, fake = pb.session, pb.asterisk
    # The session's bookkeeping is Asterisk's for every path it did not get to touch...
    for t in toggles(list(dropped)):
        assert session.muted[(t.channel, t.direction)] is fake.is_muted(t.channel, t.direction), t
    # ... and its mode is the one last published.
    assert session.mode is before
    assert Pub("session_ended", reason="error", mode=before.value)(
        next(cmd for cmd in pb.rest() if isinstance(cmd, c.Publish))
    )


@pytest.mark.parametrize("status", [400, 404, 422])
def test_snoop_gone_while_bridging_ends_as_agent_hangup_with_the_end_tone(status: int) -> None:
    pb = authorized(Mode.MONITOR)
    pb.rest()
    start_snoops(pb)
    pb.take(c.Mute)
    pb.asterisk.kill(AGENT)
    add = c.AddToBridge(EAR_BRIDGE, (SUP, EAR))
    pb << add >> e.CommandFailed(add, status, "Channel not found")
    # Which member is gone is unknown: every snoop is hung up, none is dropped.
    for cmd in TEARDOWN:
        pb << cmd
    (
        pb
        # session_started was dropped with the rest of the set-up: the end is a refusal.
        << Pub("session_refused", seq=1, reason="agent_hangup")
        << c.Play(SUP, END_TONE_MEDIA, IDS.playback(1))
        << c.StartTimer("hangup", END_TONE_SECONDS)
    )
    assert pb
    assert [p.type for p in pb.published] == ["session_refused"]
    assert pb.asterisk.live_snoops() == []


@pytest.mark.parametrize("status", [400, 422])
def test_supervisor_gone_while_bridging_hangs_up_every_snoop_and_finishes(status: int) -> None:
    pb = authorized(Mode.WHISPER, NO_BARGE)
    pb.rest()
    start_snoops(pb)
    pb.asterisk.kill(SUP)  # the agent mic goes with it; the ear and the agent mouth live on
    add = c.AddToBridge(EAR_BRIDGE, (SUP, EAR))
    pb << add >> e.CommandFailed(add, status, "Channel not found")
    play = c.Play(SUP, END_TONE_MEDIA, IDS.playback(1))
    (
        pb
        << c.Hangup(A_MOUTH)
        << c.Hangup(EAR)
        << c.Hangup(A_MIC)
        << c.DestroyBridge(EAR_BRIDGE)
        << c.DestroyBridge(A_BRIDGE)
        << Pub("session_refused", seq=1, reason="agent_hangup")
        << play
        >> e.CommandFailed(play, 404, "Channel not found")
        << c.StartTimer("hangup", END_TONE_SECONDS)
        # The end tone cannot play: the session finishes at once.
        << c.CancelTimer("hangup")
        << c.Hangup(SUP)
        << c.Finished("agent_hangup")
    )
    assert pb
    assert {EAR, A_MOUTH} <= set(pb.asterisk.hung_up)
    assert pb.asterisk.live_snoops() == []
    assert pb.asterisk.bridges == {}


def test_setup_failing_before_session_started_publishes_the_end_as_session_refused() -> None:
    pb = authorized(Mode.MONITOR)
    pb.rest()
    start_snoops(pb)
    assert pb.session.announced  # session_started is in the batch...
    pb.asterisk.kill(AGENT)
    mute = c.Mute(A_MOUTH, "out")
    pb << c.Mute(A_MIC, "in") << mute >> e.CommandFailed(mute, 404, "Channel not found")
    assert Pub("session_started", seq=1)(pb.failures[0].dropped[-1])  # ... and was dropped
    assert not pb.session.announced
    batch = pb.rest()
    assert types(batch) == ["session_refused"]
    assert Pub("session_refused", seq=1, reason="agent_hangup")(
        next(cmd for cmd in batch if isinstance(cmd, c.Publish))
    )
    assert [p.type for p in pb.published] == ["session_refused"]


SETUP = [*EAR_SETUP, *AGENT_MOUTH_SETUP, *CALLER_MOUTH_SETUP]


@pytest.mark.parametrize("status", [400, 404, 409, 422])
@pytest.mark.parametrize("mic", [A_MIC, C_MIC], ids=["agent-mic", "caller-mic"])
def test_mic_snoop_failing_to_be_made_ends_as_supervisor_hangup_not_agent_not_on_call(
    mic: str, status: int
) -> None:
    create = next(cmd for cmd in SETUP if isinstance(cmd, c.CreateSnoop) and cmd.snoop == mic)
    assert create.target == SUP
    pb = authorized(Mode.BARGE)
    for cmd in SETUP[: SETUP.index(create)]:
        pb << cmd
    if status == 404:
        pb.asterisk.kill(SUP)  # Asterisk answers 404 for a supervisor gone
    pb << create >> e.CommandFailed(create, status, "Channel not found")
    assert pb.failures[0].dropped == tuple(SETUP[SETUP.index(create) + 1 :])
    for cmd in TEARDOWN:
        pb << cmd
    pb << Pub("session_refused", seq=1, reason="supervisor_hangup")
    if status != 404:
        pb << c.Hangup(SUP)  # the supervisor may still be there: hung up, no prompt
    pb << c.Finished("supervisor_hangup")
    assert pb
    assert not any(isinstance(cmd, c.Play) for cmd in pb.consumed)
    assert not pb.asterisk.alive(SUP)
    assert pb.asterisk.live_snoops() == []
    assert pb.asterisk.bridges == {}


def test_mic_snoop_failing_to_be_made_for_another_reason_refuses_as_error() -> None:
    create = c.CreateSnoop(A_MIC, SUP, spy="in", whisper="none")
    pb = authorized(Mode.WHISPER, NO_BARGE)
    pb << c.CreateBridge(EAR_BRIDGE) << EAR_SETUP[1] << c.CreateBridge(A_BRIDGE)
    pb << create >> e.CommandFailed(create, 500, "boom")
    batch = pb.rest()
    assert Pub("session_refused", reason="error", detail="CreateSnoop: 500 boom")(
        next(cmd for cmd in batch if isinstance(cmd, c.Publish))
    )
    assert c.Play(SUP, REFUSAL_MEDIA["error"], IDS.playback(1)) in batch


BEST_EFFORT = [
    c.StopPlayback(IDS.playback(1)),
    c.Play(SUP, ERROR_TONE_MEDIA, IDS.playback(1)),
    c.SetVolume(SUP, 1),
    c.Hangup(EAR),
    c.DestroyBridge(EAR_BRIDGE),
    c.Publish("mode_refused", 1),
]


@pytest.mark.parametrize("state", [State.AUTHORIZING, State.SETTING_UP], ids=str)
@pytest.mark.parametrize("failed", BEST_EFFORT, ids=lambda cmd: type(cmd).__name__)
def test_best_effort_failure_reported_before_the_session_is_active_changes_nothing(
    state: State, failed: c.Command
) -> None:
    session = session_in(state)
    before = (session.state, session.seq, set(session.snoops), list(session.bridges))
    assert session.handle(e.CommandFailed(failed, 500, "late")) == []
    assert (session.state, session.seq, set(session.snoops), list(session.bridges)) == before


def test_tone_failing_to_stop_during_setup_does_not_refuse_the_session() -> None:
    pb = authorized(Mode.WHISPER)
    pb.rest()
    stop = c.StopPlayback(IDS.playback(1))
    pb >> e.TimerFired("stop:" + IDS.playback(1)) << stop >> e.CommandFailed(stop, 409, "boom")
    assert pb.rest() == []
    assert pb.session.state is State.SETTING_UP
    start_snoops(pb)
    assert types(pb.rest()) == ["session_started"]
    assert pb.routing == CHANSPY[Mode.WHISPER]


def test_error_tone_failing_to_play_still_publishes_mode_refused_and_keeps_the_session() -> None:
    pb = active(Mode.MONITOR, NO_BARGE)
    play = c.Play(SUP, ERROR_TONE_MEDIA, IDS.playback(1))
    failure = e.CommandFailed(play, 409, "Channel not in Stasis application")
    pb >> e.ModeRequested(Mode.BARGE) << play >> failure
    # Best-effort: the batch goes on, the session hears of the failure after it.
    assert pb.failures == []
    (
        pb
        << c.StartTimer("stop:" + IDS.playback(1), ERROR_TONE_SECONDS)
        << Pub("mode_refused", seq=2, requested="barge", reason="not_permitted")
    )
    assert pb
    assert pb.failures == [failure]
    assert [p.type for p in pb.published] == ["session_started", "mode_refused"]
    assert pb.session.state is State.ACTIVE
    assert pb.routing == CHANSPY[Mode.MONITOR]


def test_playbook_fills_in_what_the_engine_drops_and_refuses_anything_else() -> None:
    pb = active(Mode.WHISPER)
    mute = c.Mute(A_MIC, "in")
    pb >> e.ModeRequested(Mode.MONITOR) << mute
    rest = tuple(pb.pending)
    assert rest[0] == c.Mute(A_MOUTH, "out")
    assert [type(cmd) for cmd in rest] == [c.Mute, c.Publish]
    with pytest.raises(AssertionError, match="the engine would drop"):
        pb >> e.CommandFailed(mute, 500, "boom", dropped=rest[:1])
    pb >> e.CommandFailed(mute, 500, "boom")
    assert pb.failures == [e.CommandFailed(mute, 500, "boom", dropped=rest)]
    assert types(pb.rest()) == ["session_ended"]


def test_playbook_refuses_failures_the_engine_never_reports() -> None:
    pb = active(Mode.MONITOR, NO_BARGE)
    play = c.Play(SUP, ERROR_TONE_MEDIA, IDS.playback(1))
    pb >> e.ModeRequested(Mode.BARGE) << play
    with pytest.raises(AssertionError, match="best-effort"):
        pb >> e.CommandFailed(play, 500, "boom", dropped=(c.StartTimer("x", 1.0),))
    pb = active(Mode.MONITOR)
    pb >> e.DtmfReceived(SUP, "*") << c.Hangup(A_MOUTH)
    with pytest.raises(AssertionError, match="never reports a 404"):
        pb >> e.CommandFailed(c.Hangup(A_MOUTH), 404, "Channel not found")


# --- the model of Asterisk (FakeAsterisk.routing) ---------------------------------------


def mouth_in_asterisk(*, whisper: c.Direction = "out") -> FakeAsterisk:
    """A FakeAsterisk holding one open mouth: a mic snoop and a whisper snoop, bridged."""
    fake = FakeAsterisk(supervisor=SUP, agent=AGENT)
    mouth = A_MOUTH if whisper == "out" else C_MOUTH
    for cmd in [
        c.CreateBridge(A_BRIDGE),
        c.CreateSnoop(A_MIC, SUP, spy="in", whisper="none"),
        c.CreateSnoop(mouth, AGENT, spy="none", whisper=whisper),
    ]:
        fake.apply(cmd)
    fake.start(A_MIC)
    fake.start(mouth)
    fake.apply(c.AddToBridge(A_BRIDGE, (A_MIC, mouth)))
    return fake


@pytest.mark.parametrize(("whisper", "to"), [("out", "agent"), ("in", "caller")])
def test_model_a_mouth_carries_the_voice_only_with_both_ends_open(
    whisper: c.Direction, to: str
) -> None:
    mouth = A_MOUTH if whisper == "out" else C_MOUTH
    open_ = Routing(ear=False, agent=to == "agent", caller=to == "caller")
    assert mouth_in_asterisk(whisper=whisper).routing() == open_
    for end in [(A_MIC, "in"), (mouth, "out")]:
        fake = mouth_in_asterisk(whisper=whisper)
        fake.apply(c.Mute(*end))
        assert fake.routing() == NO_ROUTING, end
    fake = mouth_in_asterisk(whisper=whisper)
    fake.kill(A_MIC)  # a mouth without its mic carries nothing
    assert fake.routing() == NO_ROUTING


def test_model_the_ear_is_open_only_bridged_with_the_supervisor_and_unmuted() -> None:
    fake = FakeAsterisk(supervisor=SUP, agent=AGENT)
    fake.apply(c.CreateBridge(EAR_BRIDGE))
    fake.apply(c.CreateSnoop(EAR, AGENT, spy="both", whisper="none"))
    fake.start(EAR)
    fake.apply(c.AddToBridge(EAR_BRIDGE, (EAR,)))
    assert fake.routing() == NO_ROUTING  # alone in its bridge
    fake.apply(c.AddToBridge(EAR_BRIDGE, (SUP,)))
    assert fake.routing() == Routing(ear=True, agent=False, caller=False)
    fake.apply(c.Mute(EAR, "in"))
    assert fake.routing() == NO_ROUTING
    # Whatever the supervisor says into the ear bridge goes nowhere: the ear never whispers.
    fake.apply(c.Unmute(EAR, "in"))
    assert not fake.routing().agent


def test_model_a_mute_on_the_supervisor_channel_is_no_barrier() -> None:
    """The lesson of the first design: the supervisor's stream restarts and a frame slips by."""
    fake = FakeAsterisk(supervisor=SUP, agent=AGENT)
    fake.apply(c.CreateBridge(EAR_BRIDGE))
    fake.apply(c.CreateSnoop(EAR, AGENT, spy="both", whisper="out"))  # the old ear
    fake.start(EAR)
    fake.apply(c.AddToBridge(EAR_BRIDGE, (SUP, EAR)))
    fake.apply(c.Mute(SUP, "in"))
    assert fake.routing().agent


def test_model_refuses_to_mute_a_snoop_before_it_enters_stasis() -> None:
    fake = FakeAsterisk(supervisor=SUP, agent=AGENT)
    fake.apply(c.CreateSnoop(A_MIC, SUP, spy="in", whisper="none"))
    with pytest.raises(AriFailure) as failure:
        fake.apply(c.Mute(A_MIC, "in"))
    assert failure.value.status == 409


def test_model_the_supervisor_hanging_up_takes_the_mic_snoops_but_not_the_mouths() -> None:
    pb = active(Mode.BARGE)
    pb.asterisk.kill(SUP)
    assert sorted(pb.asterisk.live_snoops()) == sorted([EAR, A_MOUTH, C_MOUTH])
    assert pb.routing == NO_ROUTING


# --- after the end -------------------------------------------------------------------


def test_snoop_starting_after_the_session_ended_is_hung_up() -> None:
    mouth = c.CreateSnoop(A_MOUTH, AGENT, spy="none", whisper="out")
    pb = authorized(Mode.MONITOR)
    for cmd in [*EAR_SETUP, *AGENT_MOUTH_SETUP[:2]]:
        pb << cmd
    pb << mouth >> e.CommandFailed(mouth, 500, "boom")
    pb.rest()
    assert pb.session.state is State.CLOSING
    pb >> e.ChannelStarted(EAR) << c.Hangup(EAR)
    pb >> e.PlaybackFinished(IDS.playback(1))
    assert pb.rest()[-1] == c.Finished("error")
    pb >> e.ChannelStarted(A_MIC) << c.Hangup(A_MIC)
    assert pb


@pytest.mark.parametrize(
    "event",
    [
        e.DtmfReceived(SUP, "*"),
        e.DtmfReceived(SUP, "#"),
        e.ModeRequested(Mode.BARGE),
        e.EndRequested("shutdown"),
        e.TimerFired("hangup"),
        e.PlaybackFinished(IDS.playback(1)),
        e.ChannelGone(SUP),
        e.ChannelGone(EAR),
        e.CommandFailed(c.Mute(A_MOUTH, "out"), 404),
        e.Authorized(USER, ALL, AGENT),
    ],
    ids=lambda ev: type(ev).__name__,
)
def test_events_after_the_session_finished_do_nothing(event: e.SessionEvent) -> None:
    pb = active(Mode.BARGE)
    assert pb.feed(e.DtmfReceived(SUP, "*"))[-1] == c.Finished("supervisor_ended")
    assert pb.session.handle(event) == []
    assert pb.session.state is State.ENDED


# --- published events ------------------------------------------------------------


def test_published_seq_increases_by_one_per_session() -> None:
    pb = active(Mode.MONITOR, NO_BARGE)
    pb.feed(e.ModeRequested(Mode.WHISPER))
    pb.feed(e.ModeRequested(Mode.BARGE))  # refused
    pb.feed(e.DtmfReceived(SUP, "#"))
    pb.feed(e.ModeRequested(Mode.PRIVATE_WHISPER))
    pb.feed(e.DtmfReceived(SUP, "*"))
    assert [(p.type, p.seq) for p in pb.published] == [
        ("session_started", 1),
        ("mode_changed", 2),
        ("mode_refused", 3),
        ("mode_changed", 4),
        ("session_ended", 5),
    ]
    assert all(p.data["session_id"] == SID for p in pb.published)


def test_each_session_counts_its_own_seq() -> None:
    first = active(Mode.MONITOR)
    first.feed(e.ModeRequested(Mode.WHISPER))
    second = Playbook(new_session(sid="s2"))
    second << c.Answer(SUP) << c.Authorize(ENDPOINT, AGENT_ID, Mode.MONITOR)
    second.feed(e.Refused("unknown_agent"))
    assert [p.seq for p in first.published] == [1, 2]
    assert [p.seq for p in second.published] == [1]


def test_publish_matcher_reports_what_differs() -> None:
    pb = active(Mode.MONITOR)
    with pytest.raises(AssertionError, match=r"expected Pub\('mode_changed', after='barge'\)"):
        (
            pb
            >> e.ModeRequested(Mode.WHISPER)
            << c.Unmute(A_MIC, "in")
            << c.Unmute(A_MOUTH, "out")
            << Pub("mode_changed", after="barge")
        )


def test_playbook_shows_the_whole_batch_when_a_command_differs() -> None:
    pb = active(Mode.MONITOR)
    with pytest.raises(AssertionError) as failure:
        pb >> e.ModeRequested(Mode.WHISPER) << c.Unmute(A_MOUTH, "out")
    message = str(failure.value)
    assert "command 1" in message
    assert "-> " in message
    assert f"Unmute(channel='{A_MIC}', direction='in')" in message


def test_playbook_complains_about_commands_nobody_expected() -> None:
    pb = active(Mode.MONITOR)
    pb >> e.ModeRequested(Mode.WHISPER)
    with pytest.raises(AssertionError, match="never expected"):
        assert pb


# --- run the way the engine runs it (Harness) -------------------------------------------


def run(
    session: Session,
    fail: c.Command,
    status: int = 500,
    *,
    granted: frozenset[Mode] = ALL,
    refuse: str | None = None,
) -> Harness:
    """Run a session the way the engine does, ``fail`` failing the first time it is run."""
    fake = FakeAsterisk(supervisor=SUP, agent=AGENT)
    failed: list[c.Command] = []

    def authorize(cmd: c.Authorize) -> e.SessionEvent:
        if refuse is not None:
            return e.Refused(refuse)
        return e.Authorized(USER, granted, AGENT)

    def interfere(_: Harness, cmd: c.Command) -> AriFailure | None:
        if cmd == fail and not failed:
            failed.append(cmd)
            return AriFailure(status, "boom")
        return None

    harness = Harness(session, fake, authorize=authorize, interfere=interfere)
    harness.start()
    for snoop in list(fake.unstarted):
        fake.start(snoop)
    harness.deliver_all()
    return harness


@pytest.mark.parametrize("case", ["refusal-message", "end-tone"])
def test_message_failing_to_play_hangs_up_the_supervisor_at_once(case: str) -> None:
    if case == "refusal-message":
        media = REFUSAL_MEDIA["unknown_agent"]
        harness = run(new_session(), c.Play(SUP, media, IDS.playback(1)), refuse="unknown_agent")
    else:
        harness = run(new_session(), c.Play(SUP, END_TONE_MEDIA, IDS.playback(1)))
        harness.asterisk.kill(AGENT)
        harness.deliver_all()
    assert harness.finished is not None
    assert not harness.asterisk.alive(SUP)


@pytest.mark.parametrize(
    ("failing", "left"),
    [
        (c.Hangup(EAR), [EAR]),
        # A mic snoop Asterisk refused to hang up goes with the supervisor's channel.
        (c.Hangup(A_MIC), []),
        (c.DestroyBridge(C_BRIDGE), [C_BRIDGE]),
        (c.Hangup(SUP), [SUP]),
    ],
    ids=["ear", "mic", "bridge", "supervisor"],
)
def test_cleanup_failing_half_way_does_not_stop_the_rest_of_the_teardown(
    failing: c.Hangup | c.DestroyBridge, left: list[str]
) -> None:
    harness = run(new_session(Mode.BARGE), failing)
    assert harness.session.state is State.ACTIVE
    harness.feed(e.DtmfReceived(SUP, "*"))
    assert harness.finished == c.Finished("supervisor_ended")
    assert harness.refused == [failing]
    assert harness.failures == []  # Finished came first: nothing more to tell the session
    cleanup = [cmd for cmd in harness.emitted if isinstance(cmd, (c.Hangup, c.DestroyBridge))]
    assert cleanup == [*TEARDOWN, c.Hangup(SUP)]
    fake = harness.asterisk
    assert [cmd for cmd in fake.applied if cmd in cleanup] == [
        cmd for cmd in cleanup if cmd != failing
    ]
    # What Asterisk refused to remove is all that is left.
    assert [*fake.live_snoops(), *fake.bridges, *([SUP] if fake.alive(SUP) else [])] == left
    assert [p.type for p in fake.published] == ["session_started", "session_ended"]


def test_error_tone_failing_to_play_does_not_stop_the_rest_of_its_batch() -> None:
    play = c.Play(SUP, ERROR_TONE_MEDIA, IDS.playback(1))
    harness = run(new_session(), play, 409, granted=NO_BARGE)
    harness.feed(e.ModeRequested(Mode.BARGE))
    assert [p.type for p in harness.asterisk.published] == ["session_started", "mode_refused"]
    assert c.StartTimer("stop:" + IDS.playback(1), ERROR_TONE_SECONDS) in harness.asterisk.applied
    assert harness.failures == [e.CommandFailed(play, 409, "boom")]
    assert harness.session.state is State.ACTIVE
    assert harness.asterisk.routing() == CHANSPY[Mode.MONITOR]


def test_beep_failing_to_play_still_publishes_session_started() -> None:
    beep = c.Play(SUP, BEEP_MEDIA, IDS.playback(1))
    harness = run(new_session(Mode.WHISPER, beep_supervisor=True), beep)
    assert harness.session.state is State.ACTIVE
    assert [p.type for p in harness.asterisk.published] == ["session_started"]
    assert harness.failures == [e.CommandFailed(beep, 500, "boom")]
    assert harness.asterisk.routing() == CHANSPY[Mode.WHISPER]


def test_a_dropped_publish_gives_its_seq_back_so_published_seqs_have_no_gap() -> None:
    # Back to whisper from monitor, the first Unmute of the agent mouth fails: the
    # switch is dropped with its mode_changed, and the session ends with an error.
    harness = run(new_session(Mode.WHISPER), c.Unmute(A_MIC, "in"))
    harness.feed(e.ModeRequested(Mode.MONITOR))
    harness.feed(e.ModeRequested(Mode.WHISPER))
    assert [p.seq for p in harness.dropped if isinstance(p, c.Publish)] == [3]
    assert [(p.type, p.seq) for p in harness.asterisk.published] == [
        ("session_started", 1),
        ("mode_changed", 2),
        ("session_ended", 3),
    ]
    assert harness.finished == c.Finished("error")


def test_error_tone_playing_when_the_agent_hangs_up_is_still_stopped() -> None:
    pb = active(Mode.MONITOR, NO_BARGE)
    pb.feed(e.ModeRequested(Mode.BARGE))  # error tone: playback 1, stop timer running
    hang_up_agent(pb).rest()  # end tone: playback 2
    assert pb.session.state is State.CLOSING
    pb >> e.TimerFired("stop:" + IDS.playback(1)) << c.StopPlayback(IDS.playback(1))
    assert pb
    assert pb.asterisk.stopped == [IDS.playback(1)]
    assert pb.session.state is State.CLOSING  # still waiting for the end tone
    assert pb.feed(e.PlaybackFinished(IDS.playback(2)))[-1] == c.Finished("agent_hangup")


def test_end_after_a_failed_switch_reports_the_mode_last_published() -> None:
    harness = run(new_session(Mode.WHISPER), c.Mute(A_MIC, "in"))  # first run: to monitor
    harness.feed(e.ModeRequested(Mode.MONITOR))
    assert harness.finished == c.Finished("error")
    started, ended = harness.asterisk.published
    assert (started.type, ended.type) == ("session_started", "session_ended")
    assert ended.data["mode"] == started.data["mode"] == "whisper"


def test_supervisor_gone_while_bridging_hangs_up_the_ear_snoop() -> None:
    fake = FakeAsterisk(supervisor=SUP, agent=AGENT)

    def authorize(cmd: c.Authorize) -> e.SessionEvent:
        return e.Authorized(USER, NO_BARGE, AGENT)

    def interfere(_: Harness, cmd: c.Command) -> AriFailure | None:
        if isinstance(cmd, c.AddToBridge):
            fake.kill(SUP)  # the supervisor hangs up right then: addChannel answers 400
        return None

    harness = Harness(new_session(Mode.WHISPER), fake, authorize=authorize, interfere=interfere)
    harness.start()
    for snoop in list(fake.unstarted):
        fake.start(snoop)
    harness.deliver_all()  # StasisStart of the snoops, then StasisEnd of the supervisor
    assert harness.failures[0].command == c.AddToBridge(EAR_BRIDGE, (SUP, EAR))
    assert harness.failures[0].status == 400
    assert harness.finished == c.Finished("agent_hangup")
    assert EAR in fake.hung_up
    assert fake.live_snoops() == []
    assert fake.bridges == {}


def test_refusal_after_a_dropped_session_started_reports_no_mode() -> None:
    pb = authorized(Mode.WHISPER)
    pb.rest()
    start_snoops(pb)
    pb.asterisk.kill(AGENT)
    mute = c.Mute(C_MOUTH, "out")
    pb << c.Mute(C_MIC, "in") << mute >> e.CommandFailed(mute, 404, "Channel not found")
    assert Pub("session_started")(pb.failures[0].dropped[-1])
    assert not any(isinstance(cmd, c.AddToBridge) for cmd in pb.consumed)
    refused = next(cmd for cmd in pb.rest() if isinstance(cmd, c.Publish))
    assert Pub("session_refused", seq=1, reason="agent_hangup")(refused)
    assert refused.data["mode"] is None


def test_a_supervisor_call_not_answered_is_reported_as_refused_with_the_cause() -> None:
    session = Session(
        id="abc123def456",
        supervisor_channel="coachdring-abc123def456",
        endpoint="PJSIP/2001",
        agent="1042",
        requested_mode=Mode.WHISPER,
    )
    commands = session.ringing_failed("busy")
    assert commands == [
        c.Publish(
            "session_refused",
            1,
            {
                "session_id": "abc123def456",
                "agent": "1042",
                "supervisor": None,
                "endpoint": "PJSIP/2001",
                "mode": None,
                "reason": "busy",
            },
        ),
        c.Finished("busy"),
    ]
    assert session.state is State.ENDED


# --- time limits -----------------------------------------------------------------------

WHISPER_15_MIN = (TimeLimit(Mode.WHISPER, warning=900.0),)


def test_time_in_a_limited_mode_is_clocked_from_the_moment_the_session_starts_in_it() -> None:
    pb = authorized(Mode.WHISPER, time_limits=WHISPER_15_MIN)
    pb.rest()
    batch = start_snoops(pb).rest()
    assert batch[-1] == c.StartTimer(WARNING_TIMER, 900.0)
    assert types(batch) == ["session_started"]


def test_warning_time_plays_a_tone_to_the_supervisor_only_and_publishes_it() -> None:
    pb = active(Mode.WHISPER, time_limits=WHISPER_15_MIN)
    routing = pb.routing
    batch = pb.feed(e.TimerFired(WARNING_TIMER))
    play = c.Play(SUP, WARNING_TONE_MEDIA, IDS.playback(1))
    assert batch == [
        play,
        c.StartTimer("stop:" + play.playback, WARNING_TONE_SECONDS),
        batch[-1],
    ]
    assert Pub("time_limit_warning", mode="whisper", after_seconds=900.0, limit_seconds=None)(
        batch[-1]
    ), batch[-1]
    assert pb.routing == routing  # the agent and the caller hear nothing of it
    assert pb.session.state is State.ACTIVE


def test_switching_restarts_the_clock_and_a_mode_without_limits_stops_it() -> None:
    pb = active(Mode.MONITOR, time_limits=WHISPER_15_MIN)
    assert c.StartTimer(WARNING_TIMER, 900.0) in pb.feed(e.ModeRequested(Mode.WHISPER))
    batch = pb.feed(e.ModeRequested(Mode.MONITOR))
    assert c.CancelTimer(WARNING_TIMER) in batch
    assert not [cmd for cmd in batch if isinstance(cmd, c.StartTimer)]
    # A warning that fired anyway on its way in is ignored outside the limited mode.
    assert pb.feed(e.TimerFired(WARNING_TIMER)) == []


def test_hard_limit_ends_the_session_with_reason_time_limit_and_the_end_tone() -> None:
    limits = (TimeLimit(Mode.BARGE, warning=60.0, limit=120.0),)
    pb = active(Mode.BARGE, time_limits=limits)
    assert pb.feed(e.TimerFired(WARNING_TIMER))
    batch = pb.feed(e.TimerFired(LIMIT_TIMER))
    assert Pub("session_ended", reason="time_limit", detail="barge for 120 s")(
        next(cmd for cmd in batch if isinstance(cmd, c.Publish))
    )
    assert c.Play(SUP, END_TONE_MEDIA, IDS.playback(2)) in batch
    assert pb.session.state is State.CLOSING
    assert pb.routing == NO_ROUTING


def test_a_warning_not_before_the_limit_is_not_started() -> None:
    limits = (TimeLimit(Mode.WHISPER, warning=300.0, limit=300.0),)
    pb = authorized(Mode.WHISPER, time_limits=limits)
    pb.rest()
    timers = [cmd for cmd in start_snoops(pb).rest() if isinstance(cmd, c.StartTimer)]
    assert timers == [c.StartTimer(LIMIT_TIMER, 300.0)]


# --- whisper cues --------------------------------------------------------------------------

CUES = (("1", "slow-down"), ("2", "ask-for-close"))


def cue_plays(batch: list[c.Command]) -> list[c.PlayOnBridge]:
    return [cmd for cmd in batch if isinstance(cmd, c.PlayOnBridge)]


def test_a_cue_digit_in_monitor_plays_to_the_agent_mouth_and_the_ear_never_the_caller() -> None:
    pb = active(Mode.MONITOR, cue_digits=CUES)
    batch = pb.feed(e.DtmfReceived(SUP, "1"))
    assert toggles(batch) == [c.Unmute(A_MOUTH, "out")]  # the mic stays shut
    assert [(p.bridge, p.media) for p in cue_plays(batch)] == [
        (A_BRIDGE, "sound:coachd-cues/slow-down"),
        (EAR_BRIDGE, "sound:coachd-cues/slow-down"),
    ]
    assert Pub("cue_played", cue="slow-down", source="dtmf", mode="monitor")(batch[-1])
    assert C_BRIDGE not in {p.bridge for p in cue_plays(batch)}
    assert pb.routing == CHANSPY[Mode.MONITOR]  # the supervisor's voice reaches nobody


def test_when_the_cue_has_played_the_agent_mouth_closes_again() -> None:
    pb = active(Mode.MONITOR, cue_digits=CUES)
    agent_side = cue_plays(pb.feed(e.DtmfReceived(SUP, "2")))[0].playback
    assert pb.feed(e.PlaybackFinished("something-else")) == []
    assert pb.feed(e.PlaybackFinished(agent_side)) == [c.Mute(A_MOUTH, "out")]
    assert pb.session.cue_playing is None


def test_a_switch_to_monitor_during_a_cue_shuts_the_mic_and_lets_the_cue_finish() -> None:
    pb = active(Mode.WHISPER, cue_digits=CUES)
    agent_side = cue_plays(pb.feed(e.DtmfReceived(SUP, "1")))[0].playback
    batch = pb.feed(e.ModeRequested(Mode.MONITOR))
    assert c.Mute(A_MIC, "in") in batch
    assert c.Mute(A_MOUTH, "out") not in batch
    assert pb.routing == CHANSPY[Mode.MONITOR]
    assert pb.feed(e.PlaybackFinished(agent_side)) == [c.Mute(A_MOUTH, "out")]


def test_a_cue_in_whisper_leaves_the_whisper_open_when_it_ends() -> None:
    pb = active(Mode.WHISPER, cue_digits=CUES)
    batch = pb.feed(e.CueRequested("ask-for-close", "api"))
    assert toggles(batch) == []
    assert Pub("cue_played", cue="ask-for-close", source="api")(batch[-1])
    assert pb.feed(e.PlaybackFinished(cue_plays(batch)[0].playback)) == []
    assert pb.routing == CHANSPY[Mode.WHISPER]


def test_a_second_cue_stops_the_first() -> None:
    pb = active(Mode.MONITOR, cue_digits=CUES)
    first = [p.playback for p in cue_plays(pb.feed(e.DtmfReceived(SUP, "1")))]
    batch = pb.feed(e.DtmfReceived(SUP, "2"))
    assert batch[:2] == [c.StopPlayback(first[0]), c.StopPlayback(first[1])]
    # The first cue's end is no longer the cue's end.
    assert pb.feed(e.PlaybackFinished(first[0])) == []


def test_a_supervisor_who_may_only_listen_cannot_cue() -> None:
    pb = active(Mode.MONITOR, frozenset({Mode.MONITOR}), cue_digits=CUES)
    batch = pb.feed(e.DtmfReceived(SUP, "1"))
    assert cue_plays(batch) == []
    assert Pub("cue_refused", cue="slow-down", reason="not_permitted", source="dtmf")(batch[-1])


def test_digits_without_a_cue_change_nothing() -> None:
    pb = active(Mode.MONITOR, cue_digits=CUES)
    assert pb.feed(e.DtmfReceived(SUP, "9")) == []


# --- telling the agent ----------------------------------------------------------------------


def test_notify_agent_beeps_into_the_agents_ear_only_even_for_a_listener() -> None:
    pb = authorized(Mode.MONITOR, frozenset({Mode.MONITOR}), notify_agent="sound:beep")
    pb.rest()
    batch = start_snoops(pb).rest()
    beeps = cue_plays(batch)
    assert [(b.bridge, b.media) for b in beeps] == [(A_BRIDGE, "sound:beep")]
    assert types(batch) == ["session_started"]
    assert pb.routing == CHANSPY[Mode.MONITOR]  # the supervisor's voice reaches nobody
    assert pb.feed(e.PlaybackFinished(beeps[0].playback)) == [c.Mute(A_MOUTH, "out")]


def test_without_notify_agent_a_listener_gets_no_agent_mouth_at_all() -> None:
    pb = authorized(Mode.MONITOR, frozenset({Mode.MONITOR}))
    pb.rest()
    assert A_BRIDGE not in pb.asterisk.bridges
