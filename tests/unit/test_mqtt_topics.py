"""MQTT topics, payloads and the Tracker's message sequences (pure, no broker)."""

from __future__ import annotations

import itertools
import json
import re
import urllib.parse
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from coachd.core.commands import Publish
from coachd.mqtt.topics import (
    CLEARED,
    ENVELOPE_KEYS,
    Message,
    Topics,
    Tracker,
    encode,
    event_payload,
    new_event_id,
    rfc3339,
    topic_level,
)
from tests.mqtt.samples import event_data as base

P = "coachd"
T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
RFC3339_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ts(seconds: float) -> str:
    return rfc3339(at(seconds))


def tracker() -> Tracker:
    counter = itertools.count(1)
    return Tracker(P, "pbx1", new_id=lambda: f"id{next(counter)}")


def started(seq: int = 1, **kw: Any) -> Publish:
    return Publish("session_started", seq, base(**kw))


def changed(seq: int, before: str, after: str, **kw: Any) -> Publish:
    data = {**base(mode=after, **kw), "before": before, "after": after, "source": "dtmf"}
    return Publish("mode_changed", seq, data)


def ended(seq: int, reason: str = "agent_hangup", mode: str = "monitor", **kw: Any) -> Publish:
    return Publish("session_ended", seq, {**base(mode=mode, **kw), "reason": reason})


def decode(message: Message) -> Any:
    return json.loads(message.payload) if message.payload else None


def shape(messages: list[Message]) -> list[tuple[str, bool, Any]]:
    return [(m.topic, m.retain, decode(m)) for m in messages]


def event(n: int, type_: str, seq: int, when: float, **data: object) -> tuple[str, bool, Any]:
    payload = {
        "event_id": f"id{n}",
        "type": type_,
        "session_id": data.get("session_id", "s1"),
        "seq": seq,
        "at": ts(when),
        "instance": "pbx1",
        **data,
    }
    return (f"{P}/events", False, payload)


def session_state(sid: str = "s1", **fields: object) -> dict[str, object]:
    state: dict[str, object] = {
        "session_id": sid,
        "agent": "1001",
        "supervisor": "alice",
        "endpoint": "PJSIP/2001",
        "mode": "monitor",
        "state": "active",
        "started_at": ts(0),
        "mode_since": ts(0),
        "seq": 1,
    }
    state.update(fields)
    return state


# --- names and formats ---------------------------------------------------------------


def test_topic_names() -> None:
    t = Topics("site/coachd")
    assert t.available == "site/coachd/available"
    assert t.events == "site/coachd/events"
    assert t.session_state("abc123") == "site/coachd/sessions/abc123/state"
    assert t.agent_state("1001") == "site/coachd/agents/1001/state"
    assert t.session_states == "site/coachd/sessions/+/state"
    assert t.agent_states == "site/coachd/agents/+/state"
    assert t.availability("online") == Message("site/coachd/available", b"online", retain=True)


@pytest.mark.parametrize(
    ("raw", "level"),
    [
        ("1001", "1001"),
        ("agent/1001", "agent%2F1001"),
        ("a+b", "a%2Bb"),
        ("#all", "%23all"),
        ("nul\0x", "nul%00x"),
        ("100%", "100%25"),
        ("%2F", "%252F"),
        ("tab\tcr\r", "tab%09cr%0D"),
        ("del\x7f\x85", "del%7F%C2%85"),
        ("José ümlaut", "José ümlaut"),
        ("sip:1001@pbx.example", "sip:1001@pbx.example"),
        ("$SYS", "$SYS"),
    ],
)
def test_topic_level_escaping(raw: str, level: str) -> None:
    assert topic_level(raw) == level
    assert not set(level) & set("/+#\0")
    # Reversible with standard percent-decoding.
    assert urllib.parse.unquote(level) == raw


def test_topic_level_is_injective_on_tricky_inputs() -> None:
    raws = ["a/b", "a%2Fb", "a%252Fb", "a+b", "a%2Bb", "%", "%%", "/", "//"]
    assert len({topic_level(r) for r in raws}) == len(raws)


def test_empty_id_is_rejected() -> None:
    with pytest.raises(ValueError, match="empty"):
        topic_level("")


def test_escaped_ids_in_topics_keep_the_level_count() -> None:
    t = Topics(P)
    topic = t.agent_state("x/+/#")
    assert topic == "coachd/agents/x%2F%2B%2F%23/state"
    assert topic.split("/") == ["coachd", "agents", "x%2F%2B%2F%23", "state"]


def test_rfc3339_is_utc_with_milliseconds() -> None:
    assert rfc3339(T0) == "2024-05-01T12:00:00.123Z"
    assert rfc3339(datetime(2024, 5, 1, 12, 0, tzinfo=UTC)) == "2024-05-01T12:00:00.000Z"
    plus2 = datetime(2024, 5, 1, 14, 0, 0, 5000, tzinfo=timezone(timedelta(hours=2)))
    assert rfc3339(plus2) == "2024-05-01T12:00:00.005Z"
    assert RFC3339_MS.match(rfc3339(datetime.now(UTC)))
    with pytest.raises(ValueError, match="timezone"):
        rfc3339(datetime(2024, 5, 1, 12, 0))


def test_event_ids_are_unique_uuid4_hex() -> None:
    ids = {new_event_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) and i[12] == "4" for i in ids)


def test_default_tracker_gives_every_event_a_fresh_id() -> None:
    tr = Tracker(P, "pbx1")
    msgs = [m for i in range(200) for m in tr.handle(Publish("mode_refused", i, base()), T0)]
    events = [decode(m) for m in msgs if m.topic == f"{P}/events"]
    assert len({e["event_id"] for e in events}) == 200


def test_event_payload_envelope_wins_over_data() -> None:
    ev = Publish("mode_refused", 7, {**base(), "seq": 99, "type": "bogus", "requested": "barge"})
    payload = event_payload(ev, event_id="x", at=T0, instance="pbx1")
    assert list(payload)[: len(ENVELOPE_KEYS)] == list(ENVELOPE_KEYS)
    assert payload["seq"] == 7
    assert payload["type"] == "mode_refused"
    assert payload["requested"] == "barge"


def test_encode_is_compact_utf8() -> None:
    assert encode({"a": "ü", "b": None}) == '{"a":"ü","b":null}'.encode()


# --- Tracker sequences -----------------------------------------------------------------


def test_start_mode_change_end_gives_exactly_these_messages() -> None:
    tr = tracker()
    out = shape(tr.handle(started(), at(0)))
    out += shape(tr.handle(changed(2, "monitor", "whisper"), at(5)))
    out += shape(tr.handle(ended(3, mode="whisper"), at(9)))
    agent_topic = f"{P}/agents/1001/state"
    session_topic = f"{P}/sessions/s1/state"
    whisper = {"mode": "whisper", "mode_since": ts(5)}
    assert out == [
        event(1, "session_started", 1, 0, **base()),
        (session_topic, True, session_state()),
        (
            agent_topic,
            True,
            {
                "agent": "1001",
                "coached": True,
                "sessions": [
                    {
                        "session_id": "s1",
                        "supervisor": "alice",
                        "mode": "monitor",
                        "since": ts(0),
                        "mode_since": ts(0),
                    }
                ],
            },
        ),
        event(
            2,
            "mode_changed",
            2,
            5,
            **base(mode="whisper"),
            before="monitor",
            after="whisper",
            source="dtmf",
        ),
        (session_topic, True, session_state(**whisper, seq=2)),
        (
            agent_topic,
            True,
            {
                "agent": "1001",
                "coached": True,
                "sessions": [
                    {
                        "session_id": "s1",
                        "supervisor": "alice",
                        "mode": "whisper",
                        "since": ts(0),
                        "mode_since": ts(5),
                    }
                ],
            },
        ),
        event(3, "session_ended", 3, 9, **base(mode="whisper"), reason="agent_hangup"),
        (
            session_topic,
            True,
            session_state(**whisper, seq=3, state="ended", ended_at=ts(9), reason="agent_hangup"),
        ),
        (session_topic, True, None),
        (agent_topic, True, {"agent": "1001", "coached": False, "sessions": []}),
        (agent_topic, True, None),
    ]
    assert tr.sessions == {}
    assert tr.snapshot() == []


def test_cleared_is_an_empty_retained_payload() -> None:
    tr = tracker()
    tr.handle(started(), at(0))
    final = tr.handle(ended(2), at(1))
    cleared = [m for m in final if m.payload == CLEARED]
    assert [m.topic for m in cleared] == [f"{P}/sessions/s1/state", f"{P}/agents/1001/state"]
    assert all(m.retain for m in cleared)


def test_mode_refused_is_an_event_only() -> None:
    tr = tracker()
    tr.handle(started(), at(0))
    data = {**base(), "requested": "barge", "reason": "not_permitted", "source": "dtmf"}
    out = tr.handle(Publish("mode_refused", 2, data), at(1))
    assert shape(out) == [event(2, "mode_refused", 2, 1, **data)]
    assert decode(tr.current(f"{P}/sessions/s1/state"))["seq"] == 1


def test_refused_session_publishes_final_state_then_clears_and_no_agent_state() -> None:
    tr = tracker()
    data = {**base(sup=None, mode=None), "reason": "unknown_agent", "detail": "no such agent"}
    out = tr.handle(Publish("session_refused", 1, data), at(2))
    topic = f"{P}/sessions/s1/state"
    assert shape(out) == [
        event(1, "session_refused", 1, 2, **data),
        (
            topic,
            True,
            {
                "session_id": "s1",
                "agent": "1001",
                "supervisor": None,
                "endpoint": "PJSIP/2001",
                "mode": None,
                "state": "refused",
                "started_at": None,
                "mode_since": None,
                "seq": 1,
                "ended_at": ts(2),
                "reason": "unknown_agent",
                "detail": "no such agent",
            },
        ),
        (topic, True, None),
    ]


def test_refused_with_empty_agent_still_works() -> None:
    tr = tracker()
    data = {**base(agent="", sup=None, mode=None), "reason": "bad_request"}
    out = tr.handle(Publish("session_refused", 1, data), at(0))
    state = f"{P}/sessions/s1/state"
    assert [m.topic for m in out] == [f"{P}/events", state, state]


def test_two_supervisors_on_one_agent() -> None:
    tr = tracker()
    agent_topic = f"{P}/agents/1001/state"
    tr.handle(started(sid="s1", sup="alice"), at(0))
    out = tr.handle(started(sid="s2", sup="bob", mode="whisper"), at(3))
    assert [m.topic for m in out] == [f"{P}/events", f"{P}/sessions/s2/state", agent_topic]
    agent = decode(out[2])
    assert agent["coached"] is True
    assert [
        (s["session_id"], s["supervisor"], s["mode"], s["since"]) for s in agent["sessions"]
    ] == [
        ("s1", "alice", "monitor", ts(0)),
        ("s2", "bob", "whisper", ts(3)),
    ]
    # The first supervisor leaves: the agent is still coached by the second.
    out = tr.handle(ended(2, sid="s1", sup="alice"), at(5))
    assert [(m.topic, m.payload == CLEARED) for m in out] == [
        (f"{P}/events", False),
        (f"{P}/sessions/s1/state", False),
        (f"{P}/sessions/s1/state", True),
        (agent_topic, False),
    ]
    agent = decode(out[3])
    assert [s["session_id"] for s in agent["sessions"]] == ["s2"]
    # The second one leaves too: idle, then cleared.
    out = tr.handle(ended(2, sid="s2", sup="bob", mode="whisper"), at(7))
    assert shape(out[-2:]) == [
        (agent_topic, True, {"agent": "1001", "coached": False, "sessions": []}),
        (agent_topic, True, None),
    ]


def test_snapshot_states_every_live_session_and_agent() -> None:
    tr = tracker()
    tr.handle(started(sid="s1", agent="1001"), at(0))
    tr.handle(started(sid="s2", agent="1001", sup="bob"), at(1))
    tr.handle(started(sid="s3", agent="a/2", sup="carol"), at(2))
    tr.handle(ended(2, sid="s3", agent="a/2", sup="carol"), at(3))
    snap = tr.snapshot()
    assert [m.topic for m in snap] == [
        f"{P}/sessions/s1/state",
        f"{P}/sessions/s2/state",
        f"{P}/agents/1001/state",
    ]
    assert all(m.retain and m.payload for m in snap)
    assert tr.current(f"{P}/agents/a%2F2/state") == Message(
        f"{P}/agents/a%2F2/state", CLEARED, retain=True
    )
    assert tr.current(f"{P}/sessions/s2/state") == snap[1]


def test_snapshot_matches_last_retained_message_per_topic() -> None:
    """Replaying every retained message gives what snapshot() says (plus cleared topics)."""
    tr = tracker()
    retained: dict[str, bytes] = {}
    script = [
        started(sid="s1"),
        started(sid="s2", sup="bob"),
        changed(2, "monitor", "barge", sid="s1"),
        Publish("mode_refused", 2, {**base(sid="s2", sup="bob"), "requested": "barge"}),
        ended(3, sid="s2", sup="bob"),
        started(sid="s3", agent="2002", sup="carol"),
    ]
    for i, ev in enumerate(script):
        for m in tr.handle(ev, at(i)):
            if m.retain:
                retained[m.topic] = m.payload
    live = {topic: payload for topic, payload in retained.items() if payload}
    assert live == {m.topic: m.payload for m in tr.snapshot()}


def test_mode_changed_for_an_unknown_session_starts_tracking_it() -> None:
    tr = tracker()
    out = tr.handle(changed(4, "monitor", "barge"), at(1))
    assert [m.topic for m in out] == [
        f"{P}/events",
        f"{P}/sessions/s1/state",
        f"{P}/agents/1001/state",
    ]
    assert decode(out[1])["mode"] == "barge"


def test_ended_for_an_unknown_session_still_clears() -> None:
    tr = tracker()
    out = tr.handle(ended(3), at(1))
    assert [(m.topic, m.payload == CLEARED) for m in out] == [
        (f"{P}/events", False),
        (f"{P}/sessions/s1/state", False),
        (f"{P}/sessions/s1/state", True),
    ]


def test_unknown_event_types_are_forwarded_as_events() -> None:
    tr = tracker()
    out = tr.handle(Publish("volume_changed", 1, {**base(), "level": 2}), at(0))
    assert shape(out) == [event(1, "volume_changed", 1, 0, **base(), level=2)]


def test_event_without_session_id_has_no_state() -> None:
    tr = tracker()
    out = tr.handle(Publish("session_started", 1, {"agent": "1001"}), at(0))
    assert [m.topic for m in out] == [f"{P}/events"]
    assert decode(out[0])["session_id"] == ""


def test_every_timestamp_is_rfc3339_utc_milliseconds() -> None:
    tr = tracker()
    msgs = tr.handle(started(), at(0)) + tr.handle(changed(2, "monitor", "barge"), at(1.5))
    msgs += tr.handle(ended(3), at(2))
    seen = 0
    for m in msgs:
        payload = decode(m)
        if payload is None:
            continue
        stamps = [payload.get(k) for k in ("at", "started_at", "mode_since", "ended_at")]
        stamps += [s[k] for s in payload.get("sessions", []) for k in ("since", "mode_since")]
        for stamp in filter(None, stamps):
            assert RFC3339_MS.match(stamp), stamp
            seen += 1
    assert seen > 10
