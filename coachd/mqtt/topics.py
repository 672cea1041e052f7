"""MQTT topics and payloads for session events: pure, no I/O.

The :class:`Tracker` turns each :class:`~coachd.core.commands.Publish` into
the ordered messages to send for it (the event, then the retained state
updates), and keeps enough state to give a :meth:`Tracker.snapshot` of every
retained state topic after a (re)connect. See ``docs/events.md`` for the
contract with consumers.

Ids in topic levels: ``%``, ``/``, ``+``, ``#`` and the control characters
U+0000-U+001F and U+007F-U+009F are percent-encoded as the uppercase hex of
their UTF-8 bytes (``/`` -> ``%2F``, ``%`` -> ``%25``); everything else is
kept. Standard URL percent-decoding gives the id back. An empty id cannot be
a topic level and is rejected.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Literal
from urllib.parse import unquote

from coachd.core.commands import Publish

Availability = Literal["online", "offline", "stopped"]
ONLINE: Final = "online"
OFFLINE: Final = "offline"
STOPPED: Final = "stopped"

SESSION_STARTED: Final = "session_started"
MODE_CHANGED: Final = "mode_changed"
MODE_REFUSED: Final = "mode_refused"
SESSION_ENDED: Final = "session_ended"
SESSION_REFUSED: Final = "session_refused"

ENVELOPE_KEYS: Final = ("event_id", "type", "session_id", "seq", "at", "instance")
"""Keys of every ``<prefix>/events`` payload; data fields never override them."""

CLEARED: Final = b""
"""An empty retained payload: the broker forgets the topic's retained message."""


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    retain: bool


def _escape_char(ch: str) -> str:
    return "".join(f"%{b:02X}" for b in ch.encode("utf-8"))


_ESCAPES: Final[dict[int, str]] = {
    ord(ch): _escape_char(ch)
    for ch in ["%", "/", "+", "#", *map(chr, range(0x20)), *map(chr, range(0x7F, 0xA0))]
}


def topic_level(value: str) -> str:
    """``value`` made safe as one MQTT topic level (see the module docstring)."""
    if not value:
        raise ValueError("an empty id cannot be an MQTT topic level")
    return value.translate(_ESCAPES)


def rfc3339(when: datetime) -> str:
    """UTC, millisecond precision, ``Z`` suffix: ``2024-05-01T12:00:00.123Z``."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("a timezone-aware datetime is required")
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_event_id() -> str:
    return uuid.uuid4().hex


def encode(payload: Mapping[str, object]) -> bytes:
    """Compact UTF-8 JSON; values JSON cannot express are written as strings."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str).encode()


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names under ``prefix``."""

    prefix: str

    @property
    def available(self) -> str:
        return self.prefix + "/available"

    @property
    def events(self) -> str:
        return self.prefix + "/events"

    def session_state(self, session_id: str) -> str:
        return self.prefix + "/sessions/" + topic_level(session_id) + "/state"

    def agent_state(self, agent: str) -> str:
        return self.prefix + "/agents/" + topic_level(agent) + "/state"

    @property
    def session_states(self) -> str:
        """Filter matching every session state topic."""
        return self.prefix + "/sessions/+/state"

    @property
    def agent_states(self) -> str:
        """Filter matching every agent state topic."""
        return self.prefix + "/agents/+/state"

    @property
    def session_set_filter(self) -> str:
        """Filter matching every inbound mode request (``[mqtt] control``)."""
        return self.prefix + "/sessions/+/set"

    def session_of_set(self, topic: str) -> str | None:
        """The (decoded) session id of a ``<prefix>/sessions/<id>/set`` topic, else None."""
        head = self.prefix + "/sessions/"
        if not topic.startswith(head) or not topic.endswith("/set"):
            return None
        level = topic[len(head) : -len("/set")]
        return unquote(level) if level and "/" not in level else None

    def availability(self, status: Availability) -> Message:
        return Message(self.available, status.encode(), retain=True)


def event_payload(
    event: Publish, *, event_id: str, at: datetime, instance: str
) -> dict[str, object]:
    """The ``<prefix>/events`` payload: the envelope, then the event's data fields."""
    payload: dict[str, object] = {
        "event_id": event_id,
        "type": event.type,
        "session_id": str(event.data.get("session_id", "")),
        "seq": event.seq,
        "at": rfc3339(at),
        "instance": instance,
    }
    for key, value in event.data.items():
        if key not in payload:
            payload[key] = value
    return payload


@dataclass(slots=True)
class SessionView:
    """What the retained session state says about one session."""

    session_id: str
    agent: str
    supervisor: str | None
    endpoint: str
    mode: str | None
    started_at: datetime | None
    mode_since: datetime | None
    seq: int = 0

    def payload(
        self,
        state: str = "active",
        *,
        ended_at: datetime | None = None,
        reason: str | None = None,
        detail: str | None = None,
    ) -> dict[str, object]:
        payload: dict[str, object] = {
            "session_id": self.session_id,
            "agent": self.agent,
            "supervisor": self.supervisor,
            "endpoint": self.endpoint,
            "mode": self.mode,
            "state": state,
            "started_at": _opt_time(self.started_at),
            "mode_since": _opt_time(self.mode_since),
            "seq": self.seq,
        }
        if ended_at is not None:
            payload["ended_at"] = rfc3339(ended_at)
        if reason is not None:
            payload["reason"] = reason
        if detail:
            payload["detail"] = detail
        return payload


def _opt_time(when: datetime | None) -> str | None:
    return None if when is None else rfc3339(when)


def _opt_str(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


@dataclass
class Tracker:
    """Messages to send per event, and the retained state they build up.

    Not thread-safe; call :meth:`handle` in the order events happen (the
    engine calls its sink in order per session).
    """

    prefix: str
    instance: str
    new_id: Callable[[], str] = new_event_id
    topics: Topics = field(init=False)
    sessions: dict[str, SessionView] = field(init=False, default_factory=dict)
    """Active sessions by id, in start order."""

    def __post_init__(self) -> None:
        self.topics = Topics(self.prefix)

    def handle(self, event: Publish, now: datetime) -> list[Message]:
        """The messages for ``event``, in the order they must be sent."""
        payload = event_payload(event, event_id=self.new_id(), at=now, instance=self.instance)
        messages = [Message(self.topics.events, encode(payload), retain=False)]
        session_id = str(event.data.get("session_id", ""))
        if not session_id:
            return messages
        if event.type in (SESSION_STARTED, MODE_CHANGED):
            messages += self._active(session_id, event, now)
        elif event.type in (SESSION_ENDED, SESSION_REFUSED):
            messages += self._finished(session_id, event, now)
        return messages

    def snapshot(self) -> list[Message]:
        """Retained messages stating the current state of every session and agent."""
        messages = [self._session_message(view) for view in self.sessions.values()]
        messages += [self._agent_message(agent) for agent in self._agents()]
        return messages

    def current(self, topic: str) -> Message:
        """The retained message ``topic`` should hold now (empty when it should hold none)."""
        for message in self.snapshot():
            if message.topic == topic:
                return message
        return Message(topic, CLEARED, retain=True)

    def agent_sessions(self, agent: str) -> list[SessionView]:
        return [v for v in self.sessions.values() if v.agent == agent]

    # --- transitions --------------------------------------------------------

    def _active(self, session_id: str, event: Publish, now: datetime) -> list[Message]:
        data = event.data
        view = self.sessions.get(session_id)
        if view is None:
            view = self._view(session_id, data, started_at=now)
            self.sessions[session_id] = view
        mode = _opt_str(data.get("after", data.get("mode")))
        if mode != view.mode or event.type == SESSION_STARTED:
            view.mode_since = now
        view.mode = mode
        if "supervisor" in data:
            view.supervisor = _opt_str(data["supervisor"])
        view.seq = event.seq
        messages = [self._session_message(view)]
        if view.agent:
            messages.append(self._agent_message(view.agent))
        return messages

    def _finished(self, session_id: str, event: Publish, now: datetime) -> list[Message]:
        data = event.data
        view = self.sessions.pop(session_id, None)
        was_active = view is not None
        if view is None:
            view = self._view(session_id, data, started_at=None)
        view.seq = event.seq
        state = "ended" if event.type == SESSION_ENDED else "refused"
        final = view.payload(
            state,
            ended_at=now,
            reason=_opt_str(data.get("reason")),
            detail=_opt_str(data.get("detail")),
        )
        topic = self.topics.session_state(session_id)
        messages = [
            Message(topic, encode(final), retain=True),
            Message(topic, CLEARED, retain=True),
        ]
        if was_active and view.agent:
            agent_topic = self.topics.agent_state(view.agent)
            if self.agent_sessions(view.agent):
                messages.append(self._agent_message(view.agent))
            else:
                idle = {"agent": view.agent, "coached": False, "sessions": []}
                messages.append(Message(agent_topic, encode(idle), retain=True))
                messages.append(Message(agent_topic, CLEARED, retain=True))
        return messages

    # --- payloads -----------------------------------------------------------

    @staticmethod
    def _view(
        session_id: str, data: Mapping[str, object], started_at: datetime | None
    ) -> SessionView:
        mode = _opt_str(data.get("mode"))
        return SessionView(
            session_id=session_id,
            agent=str(data.get("agent") or ""),
            supervisor=_opt_str(data.get("supervisor")),
            endpoint=str(data.get("endpoint") or ""),
            mode=mode,
            started_at=started_at,
            mode_since=started_at if mode is not None else None,
        )

    def _agents(self) -> list[str]:
        return list(dict.fromkeys(v.agent for v in self.sessions.values() if v.agent))

    def _session_message(self, view: SessionView) -> Message:
        return Message(
            self.topics.session_state(view.session_id), encode(view.payload()), retain=True
        )

    def _agent_message(self, agent: str) -> Message:
        views = self.agent_sessions(agent)
        payload = {
            "agent": agent,
            "coached": bool(views),
            "sessions": [
                {
                    "session_id": v.session_id,
                    "supervisor": v.supervisor,
                    "mode": v.mode,
                    "since": _opt_time(v.started_at),
                    "mode_since": _opt_time(v.mode_since),
                }
                for v in views
            ],
        }
        return Message(self.topics.agent_state(agent), encode(payload), retain=True)
