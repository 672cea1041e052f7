"""All live sessions, and the rules that span sessions (one talker per agent)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from coachd.core import events as e
from coachd.core.modes import TALKING_MODES, Mode
from coachd.core.session import Options, Session

PREFIX = "coachd-"


def session_id_of(object_id: str) -> str | None:
    """The session a coachd-made channel, bridge or playback id belongs to."""
    if not object_id.startswith(PREFIX):
        return None
    rest = object_id[len(PREFIX) :]
    sid, _, _ = rest.partition("-")
    return sid or None


def new_session_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass
class Registry:
    options: Options = field(default_factory=Options)
    single_talker: bool = True
    sessions: dict[str, Session] = field(default_factory=dict)
    by_supervisor_channel: dict[str, str] = field(default_factory=dict)

    def open(
        self, *, channel: str, endpoint: str, agent: str, mode: Mode, session_id: str = ""
    ) -> Session:
        sid = session_id or new_session_id()
        session = Session(
            id=sid,
            supervisor_channel=channel,
            endpoint=endpoint,
            agent=agent,
            requested_mode=mode,
            options=self.options,
        )
        self.sessions[sid] = session
        self.by_supervisor_channel[channel] = sid
        return session

    def close(self, session: Session) -> None:
        self.sessions.pop(session.id, None)
        self.by_supervisor_channel.pop(session.supervisor_channel, None)

    def for_object(self, object_id: str) -> Session | None:
        sid = self.by_supervisor_channel.get(object_id) or session_id_of(object_id)
        return self.sessions.get(sid) if sid else None

    def mode_request(self, session: Session, mode: Mode, source: str) -> e.ModeRequested:
        """A mode request, marked blocked when another supervisor talks to the agent."""
        blocked_by = None
        if self.single_talker and mode in TALKING_MODES:
            talkers = [
                other
                for other in self.on_agent(session.agent_channel)
                if other is not session and other.talking
            ]
            blocked_by = talkers[0].id if talkers else None
        return e.ModeRequested(mode, source, blocked_by)

    def on_agent(self, agent_channel: str) -> list[Session]:
        return [s for s in self.sessions.values() if s.agent_channel == agent_channel]
