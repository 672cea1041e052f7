"""Agents on calls (``GET /v1/agents``): who a supervisor could coach right now.

Without VICIdial mode coachd knows agents only as endpoints, so an agent on a
call is an endpoint of ``[ari] endpoint_technologies`` with an answered channel
(ARI ``GET /channels``) that is no supervisor's endpoint and none of coachd's
own calls, narrowed by ``[console] agent_endpoints`` when set. VICIdial mode
lists ``vicidial_live_agents`` instead (:mod:`coachd.vicidial.console`).

Each agent carries the modes the asking supervisor may use on them (``None``
for an admin token: any supervisor may be named); the final word is still the
authorizer's, asked by ``POST /v1/sessions`` before anyone is rung.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any, Protocol

from coachd.ari.client import AriClient, Channel
from coachd.ari.translate import endpoint_of
from coachd.config import MODES, Config
from coachd.core.registry import PREFIX
from coachd.engine import RING_PREFIX
from coachd.mqtt.topics import rfc3339

CACHE_SECONDS = 2.0
"""One ARI listing (or database query) serves every console polling within this time."""


@dataclass(frozen=True, slots=True)
class AgentOnCall:
    agent: str
    """What ``POST /v1/sessions`` takes as ``agent``."""
    endpoint: str
    since: datetime | None
    """When the call started (the channel's creation; VICIdial: the agent's INCALL)."""
    name: str | None = None
    campaign: str | None = None
    user_group: str | None = None
    modes: tuple[str, ...] | None = None
    """Modes the asking supervisor may use on this agent; None: not narrowed (admin)."""

    def view(
        self, now: datetime, sessions: Sequence[dict[str, Any]], coached: bool
    ) -> dict[str, Any]:
        seconds = None if self.since is None else max(0, int((now - self.since).total_seconds()))
        return {
            "agent": self.agent,
            "name": self.name,
            "endpoint": self.endpoint,
            "since": None if self.since is None else rfc3339(self.since),
            "seconds": seconds,
            "campaign": self.campaign,
            "user_group": self.user_group,
            "modes": None if self.modes is None else list(self.modes),
            "coached": coached,
            "sessions": list(sessions),
        }


class AgentSource(Protocol):
    async def on_calls(self, user: str | None) -> list[AgentOnCall]:
        """Agents on calls that supervisor ``user`` may coach (None: every agent).

        May raise :class:`~coachd.ari.errors.AriError` or
        :class:`~coachd.storage.errors.StoreError`.
        """
        ...


def parse_ari_time(text: str) -> datetime | None:
    """ARI's ``2024-05-06T10:00:00.123+0000`` (None when absent or malformed)."""
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


class Cached:
    """The last value of an async call, reused for ``seconds``."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._at = -1e18
        self._value: Any = None

    def get(self) -> Any:
        return self._value if self._clock() - self._at < self.seconds else None

    def put(self, value: Any) -> None:
        self._value, self._at = value, self._clock()


class AriAgents:
    """Endpoints with an answered call, from ARI (see the module docstring)."""

    def __init__(self, ari: AriClient, config: Config) -> None:
        self.ari = ari
        self.config = config
        self._cache = Cached(CACHE_SECONDS)
        self._supervisor_endpoints = {e for s in config.supervisors for e in s.endpoints}

    async def on_calls(self, user: str | None) -> list[AgentOnCall]:
        everyone: list[AgentOnCall] | None = self._cache.get()
        if everyone is None:
            everyone = self._agents(await self.ari.list_channels())
            self._cache.put(everyone)
        if user is None:
            return everyone
        supervisor = next((s for s in self.config.supervisors if s.user == user), None)
        if supervisor is None or supervisor.user_level < self.config.policy.min_user_level:
            return []
        modes = tuple(m for m in MODES if m in supervisor.modes)
        return [replace(a, modes=modes) for a in everyone if a.endpoint not in supervisor.endpoints]

    def _agents(self, channels: list[Channel]) -> list[AgentOnCall]:
        technologies = self.config.ari.endpoint_technologies
        patterns = self.config.console.agent_endpoints
        found: dict[str, AgentOnCall] = {}
        for channel in channels:
            if channel.state != "Up" or channel.id.startswith((PREFIX, RING_PREFIX)):
                continue
            endpoint = endpoint_of(channel.name)
            tech, _, resource = endpoint.partition("/")
            if tech not in technologies or not resource or endpoint in self._supervisor_endpoints:
                continue
            if patterns and not any(fnmatchcase(endpoint, p) for p in patterns):
                continue
            since = parse_ari_time(channel.creationtime)
            earlier = found.get(endpoint)
            if earlier is None or (since and earlier.since and since < earlier.since):
                found[endpoint] = AgentOnCall(agent=resource, endpoint=endpoint, since=since)
        return sorted(found.values(), key=lambda a: a.agent)
