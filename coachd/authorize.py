"""Who may coach whom: supervisor identity, permission and the agent's live channel.

The embedded default reads supervisors from the configuration and finds the
agent's channel through ARI endpoints; both are small Protocols so that the
database (VICIdial) implementations slot in.
"""

from __future__ import annotations

import re
from typing import Literal, Protocol

from coachd.ari.client import AriClient
from coachd.ari.errors import AriNotFound
from coachd.config import Config
from coachd.core import events as e
from coachd.core.modes import Mode

AGENT_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

Via = Literal["dial", "api"]
"""How a session is asked for: a feature code dialled, or the HTTP API."""

REFUSAL_REASONS = (
    "not_permitted",
    "unknown_agent",
    "own_endpoint",
    "agent_not_on_call",
    "outside_shift",
    "permission_store_unavailable",
    "node_unavailable",
)
"""Every reason an authorizer refuses with (documented in docs/events.md)."""


class AgentResolver(Protocol):
    async def resolve(self, agent: str) -> tuple[str, str] | None:
        """``(endpoint, live channel id or "")`` for an agent, None when unknown."""


class Authorizer(Protocol):
    async def authorize(
        self, endpoint: str, agent: str, mode: Mode, *, via: Via = "dial"
    ) -> e.Authorized | e.Refused: ...

    async def endpoints_of(self, user: str) -> tuple[str, ...]:
        """Where supervisor ``user`` can be rung (HTTP API); () when there is no such one.

        May raise :class:`~coachd.storage.errors.StoreError` (database authorizers).
        """
        ...


class EndpointResolver:
    """The agent names an endpoint (``1042`` -> ``PJSIP/1042``); its Up channel is the call."""

    def __init__(self, ari: AriClient, technologies: tuple[str, ...]) -> None:
        self._ari = ari
        self._technologies = technologies

    async def resolve(self, agent: str) -> tuple[str, str] | None:
        for tech in self._technologies:
            try:
                endpoint = await self._ari.get_endpoint(tech, agent)
            except AriNotFound:
                continue
            for cid in endpoint.channel_ids:
                try:
                    channel = await self._ari.get_channel(cid)
                except AriNotFound:
                    continue
                if channel.state == "Up" and not channel.id.startswith("coachd-"):
                    return tech + "/" + agent, channel.id
            return tech + "/" + agent, ""
        return None


class ConfigAuthorizer:
    def __init__(self, config: Config, resolver: AgentResolver) -> None:
        self._config = config
        self._resolver = resolver

    async def endpoints_of(self, user: str) -> tuple[str, ...]:
        found = next((s for s in self._config.supervisors if s.user == user), None)
        return () if found is None else found.endpoints

    async def authorize(
        self, endpoint: str, agent: str, mode: Mode, *, via: Via = "dial"
    ) -> e.Authorized | e.Refused:
        supervisor = self._config.supervisor_for_endpoint(endpoint)
        if supervisor is None:
            return e.Refused("not_permitted", "unknown supervisor endpoint " + endpoint)
        if supervisor.user_level < self._config.policy.min_user_level:
            return e.Refused("not_permitted", "user level below the minimum")
        granted = frozenset(Mode(m) for m in supervisor.modes)
        if mode not in granted:
            return e.Refused("not_permitted", "mode " + mode.value + " not granted")
        if not AGENT_ID.match(agent):
            return e.Refused("unknown_agent", "not an agent id")
        found = await self._resolver.resolve(agent)
        if found is None:
            return e.Refused("unknown_agent", "no endpoint for agent")
        agent_endpoint, channel = found
        if agent_endpoint in supervisor.endpoints or agent_endpoint == endpoint:
            return e.Refused("own_endpoint", "the agent is the supervisor's own endpoint")
        if not channel:
            return e.Refused("agent_not_on_call", "the agent has no call in progress")
        return e.Authorized(supervisor.user, granted, channel)
