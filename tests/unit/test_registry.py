"""The registry: which session an Asterisk object belongs to, and one talker per agent."""

from __future__ import annotations

import pytest

from coachd.core import commands as c
from coachd.core import events as e
from coachd.core.modes import Mode
from coachd.core.registry import Registry, session_id_of
from coachd.core.session import Options, Session, State

AGENT_CHANNEL = "agent-1"
ALL = frozenset(Mode)


def open_session(
    registry: Registry,
    channel: str,
    *,
    mode: Mode = Mode.MONITOR,
    agent_channel: str = AGENT_CHANNEL,
) -> Session:
    session = registry.open(channel=channel, endpoint="PJSIP/" + channel, agent="1042", mode=mode)
    session.start()
    session.handle(e.Authorized("sup-" + channel, ALL, agent_channel))
    return session


def make_active(session: Session) -> Session:
    for snoop in sorted(session.pending):
        session.handle(e.ChannelStarted(snoop))
    assert session.state is State.ACTIVE
    return session


def active_session(registry: Registry, channel: str, mode: Mode, **kw: str) -> Session:
    return make_active(open_session(registry, channel, mode=mode, **kw))


# --- session ids ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("object_id", "sid"),
    [
        ("coachd-3f2a9c1b7d4e-ear", "3f2a9c1b7d4e"),
        ("coachd-3f2a9c1b7d4e-mic-agent", "3f2a9c1b7d4e"),
        ("coachd-3f2a9c1b7d4e-mic-caller", "3f2a9c1b7d4e"),
        ("coachd-3f2a9c1b7d4e-agent", "3f2a9c1b7d4e"),
        ("coachd-3f2a9c1b7d4e-caller", "3f2a9c1b7d4e"),
        ("coachd-3f2a9c1b7d4e-bridge-ear", "3f2a9c1b7d4e"),
        ("coachd-3f2a9c1b7d4e-bridge-agent", "3f2a9c1b7d4e"),
        ("coachd-3f2a9c1b7d4e-bridge-caller", "3f2a9c1b7d4e"),
        ("coachd-3f2a9c1b7d4e-play-12", "3f2a9c1b7d4e"),
        ("coachd-abc", "abc"),
    ],
)
def test_session_id_is_read_from_coachd_object_ids(object_id: str, sid: str) -> None:
    assert session_id_of(object_id) == sid


@pytest.mark.parametrize(
    "object_id",
    ["coachd-", "coachd--ear", "PJSIP/2001-0000002a", "1718000000.42", "xcoachd-abc-ear", ""],
)
def test_objects_coachd_did_not_make_have_no_session_id(object_id: str) -> None:
    assert session_id_of(object_id) is None


# --- routing objects to sessions ------------------------------------------------------


def test_open_registers_the_session_under_a_fresh_short_id() -> None:
    registry = Registry()
    first = registry.open(channel="c1", endpoint="PJSIP/2001", agent="1042", mode=Mode.WHISPER)
    second = registry.open(channel="c2", endpoint="PJSIP/2002", agent="1042", mode=Mode.MONITOR)
    assert first.id != second.id
    assert len(first.id) == 12
    assert "-" not in first.id  # the id is read back up to the first dash
    assert registry.sessions == {first.id: first, second.id: second}
    assert first.requested_mode is Mode.WHISPER


def test_sessions_share_the_registry_options() -> None:
    options = Options(keymap="vicidial", beep_supervisor=True)
    session = Registry(options=options).open(
        channel="c1", endpoint="PJSIP/2001", agent="1042", mode=Mode.MONITOR
    )
    assert session.options is options


def test_events_of_the_supervisor_channel_reach_its_session() -> None:
    registry = Registry()
    session = open_session(registry, "c1")
    other = open_session(registry, "c2")
    assert registry.for_object("c1") is session
    assert registry.for_object("c2") is other


def test_events_of_snoops_bridges_and_playbacks_reach_their_session_by_prefix() -> None:
    registry = Registry()
    session = open_session(registry, "c1")
    ids = session.ids
    for object_id in (
        ids.ear_snoop,
        ids.agent_mic,
        ids.agent_mouth,
        ids.caller_mic,
        ids.caller_mouth,
        ids.ear_bridge,
        ids.agent_bridge,
        ids.caller_bridge,
    ):
        assert registry.for_object(object_id) is session, object_id
    assert registry.for_object(ids.playback(3)) is session


def test_every_snoop_and_bridge_a_session_makes_reaches_that_session() -> None:
    registry = Registry()
    other = open_session(registry, "c1", mode=Mode.BARGE)
    session = registry.open(channel="c2", endpoint="PJSIP/c2", agent="1042", mode=Mode.BARGE)
    session.start()
    created = session.handle(e.Authorized("sup-c2", ALL, AGENT_CHANNEL))
    names = [cmd.snoop for cmd in created if isinstance(cmd, c.CreateSnoop)]
    names += [cmd.bridge for cmd in created if isinstance(cmd, c.CreateBridge)]
    assert len(names) == 8  # the ear, two mouths of two snoops each, three bridges
    for name in names:
        assert registry.for_object(name) is session, name
    assert registry.for_object(other.ids.agent_mic) is other


def test_objects_of_unknown_sessions_and_foreign_channels_reach_no_session() -> None:
    registry = Registry()
    open_session(registry, "c1")
    assert registry.for_object("coachd-000000000000-ear") is None
    assert registry.for_object("PJSIP/2001-0000002a") is None
    assert registry.for_object(AGENT_CHANNEL) is None


def test_closed_session_is_forgotten_and_closing_twice_is_harmless() -> None:
    registry = Registry()
    session = open_session(registry, "c1")
    registry.close(session)
    registry.close(session)
    assert registry.sessions == {}
    assert registry.by_supervisor_channel == {}
    assert registry.for_object("c1") is None
    assert registry.for_object(session.ids.ear_snoop) is None


def test_sessions_on_an_agent_are_listed_by_the_agent_channel() -> None:
    registry = Registry()
    a = open_session(registry, "c1")
    b = open_session(registry, "c2")
    open_session(registry, "c3", agent_channel="agent-2")
    assert registry.on_agent(AGENT_CHANNEL) == [a, b]
    assert registry.on_agent("agent-9") == []


# --- one talker per agent -----------------------------------------------------------


@pytest.mark.parametrize("talking", [Mode.WHISPER, Mode.PRIVATE_WHISPER, Mode.BARGE], ids=str)
@pytest.mark.parametrize("wanted", [Mode.WHISPER, Mode.PRIVATE_WHISPER, Mode.BARGE], ids=str)
def test_talking_request_is_blocked_while_another_supervisor_talks_to_the_agent(
    talking: Mode, wanted: Mode
) -> None:
    registry = Registry()
    talker = active_session(registry, "c1", talking)
    listener = active_session(registry, "c2", Mode.MONITOR)
    request = registry.mode_request(listener, wanted, "dtmf")
    assert request == e.ModeRequested(wanted, "dtmf", blocked_by=talker.id)


def test_monitoring_is_never_blocked_by_a_talker() -> None:
    registry = Registry()
    active_session(registry, "c1", Mode.BARGE)
    listener = active_session(registry, "c2", Mode.WHISPER)
    assert registry.mode_request(listener, Mode.MONITOR, "api").blocked_by is None


def test_blocked_request_is_refused_by_the_session_and_its_routing_kept() -> None:
    registry = Registry()
    active_session(registry, "c1", Mode.WHISPER)
    listener = active_session(registry, "c2", Mode.MONITOR)
    commands = listener.handle(registry.mode_request(listener, Mode.WHISPER, "dtmf"))
    assert [p.data["reason"] for p in commands if isinstance(p, c.Publish)] == [
        "another_supervisor_talking"
    ]
    assert listener.mode is Mode.MONITOR


def test_a_session_never_blocks_itself() -> None:
    registry = Registry()
    talker = active_session(registry, "c1", Mode.WHISPER)
    assert registry.mode_request(talker, Mode.BARGE, "dtmf").blocked_by is None


def test_listening_supervisors_do_not_block_each_other() -> None:
    registry = Registry()
    active_session(registry, "c1", Mode.MONITOR)
    listener = active_session(registry, "c2", Mode.MONITOR)
    assert registry.mode_request(listener, Mode.BARGE, "dtmf").blocked_by is None


def test_a_talker_on_another_agent_does_not_block() -> None:
    registry = Registry()
    active_session(registry, "c1", Mode.BARGE, agent_channel="agent-2")
    listener = active_session(registry, "c2", Mode.MONITOR)
    assert registry.mode_request(listener, Mode.WHISPER, "dtmf").blocked_by is None


def test_a_talker_going_back_to_monitor_unblocks_the_others() -> None:
    registry = Registry()
    talker = active_session(registry, "c1", Mode.WHISPER)
    listener = active_session(registry, "c2", Mode.MONITOR)
    talker.handle(e.ModeRequested(Mode.MONITOR))
    assert registry.mode_request(listener, Mode.WHISPER, "dtmf").blocked_by is None


def test_a_talker_that_ended_unblocks_the_others() -> None:
    registry = Registry()
    talker = active_session(registry, "c1", Mode.WHISPER)
    listener = active_session(registry, "c2", Mode.MONITOR)
    talker.handle(e.DtmfReceived(talker.supervisor_channel, "*"))
    assert registry.mode_request(listener, Mode.WHISPER, "dtmf").blocked_by is None
    registry.close(talker)
    assert registry.mode_request(listener, Mode.BARGE, "dtmf").blocked_by is None


def test_without_single_talker_nothing_is_ever_blocked() -> None:
    registry = Registry(single_talker=False)
    active_session(registry, "c1", Mode.BARGE)
    listener = active_session(registry, "c2", Mode.MONITOR)
    for mode in Mode:
        assert registry.mode_request(listener, mode, "dtmf").blocked_by is None


def test_mode_request_keeps_the_source() -> None:
    registry = Registry()
    session = active_session(registry, "c1", Mode.MONITOR)
    assert registry.mode_request(session, Mode.WHISPER, "api") == e.ModeRequested(
        Mode.WHISPER, "api", None
    )


def test_a_session_still_setting_up_to_whisper_blocks_another_talker() -> None:
    registry = Registry()
    first = open_session(registry, "c1", mode=Mode.WHISPER)
    assert first.state is State.SETTING_UP
    second = open_session(registry, "c2", mode=Mode.MONITOR)
    assert registry.mode_request(second, Mode.WHISPER, "dial").blocked_by == first.id


@pytest.mark.parametrize("mode", list(Mode), ids=str)
def test_a_session_setting_up_talks_exactly_when_its_requested_mode_talks(mode: Mode) -> None:
    session = open_session(Registry(), "c1", mode=mode)
    assert session.state is State.SETTING_UP
    assert session.talking is (mode is not Mode.MONITOR)


def test_a_mode_chosen_during_setup_counts_for_the_single_talker_rule() -> None:
    registry = Registry()
    first = open_session(registry, "c1", mode=Mode.MONITOR)
    second = open_session(registry, "c2", mode=Mode.MONITOR)
    assert registry.mode_request(second, Mode.BARGE, "dtmf").blocked_by is None
    first.handle(registry.mode_request(first, Mode.WHISPER, "dtmf"))
    assert first.state is State.SETTING_UP
    assert registry.mode_request(second, Mode.BARGE, "dtmf").blocked_by == first.id


def test_a_session_refused_a_dialled_mode_it_was_not_granted_does_not_block_a_talker() -> None:
    registry = Registry()
    refused = registry.open(channel="c1", endpoint="PJSIP/c1", agent="1042", mode=Mode.BARGE)
    refused.start()
    refused.handle(e.Authorized("sup-c1", frozenset({Mode.MONITOR}), AGENT_CHANNEL))
    assert refused.state is State.CLOSING
    assert not refused.talking
    listener = active_session(registry, "c2", Mode.MONITOR)
    assert registry.mode_request(listener, Mode.WHISPER, "dtmf").blocked_by is None


def test_a_session_being_authorized_or_refused_does_not_talk() -> None:
    registry = Registry()
    session = registry.open(channel="c1", endpoint="PJSIP/c1", agent="1042", mode=Mode.BARGE)
    session.start()
    assert session.state is State.AUTHORIZING
    assert not session.talking
    session.handle(e.Refused("unknown_agent"))
    assert session.state is State.CLOSING
    assert not session.talking
