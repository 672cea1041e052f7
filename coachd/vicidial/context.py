"""What the authorizer learnt about a session about to start, for the monitoring log.

VICIdial's ``vicidial_rt_monitor_log`` wants the manager's phone and server,
the agent's session, status, lead and campaign as they were when monitoring
began. The authorizer has just read them (that is what authorizing took);
it leaves them here under (supervisor endpoint, agent as dialled), and the
monitor log takes them when the session's ``session_started`` comes.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MonitorContext:
    manager_user: str
    manager_phone: str = ""
    manager_server_ip: str = ""
    agent_user: str = ""
    agent_server_ip: str | None = None
    agent_status: str | None = None
    agent_session: str | None = None
    lead_id: int | None = None
    campaign_id: str | None = None


class ContextBook:
    """A small bounded map: entries for sessions that never started age out."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[str, str], MonitorContext] = OrderedDict()

    def put(self, endpoint: str, agent: str, context: MonitorContext) -> None:
        key = (endpoint, agent)
        self._entries.pop(key, None)
        self._entries[key] = context
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def take(self, endpoint: str, agent: str) -> MonitorContext | None:
        return self._entries.pop((endpoint, agent), None)

    def __len__(self) -> int:
        return len(self._entries)
