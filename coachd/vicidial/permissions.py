"""Who may coach whom in VICIdial mode: :class:`VicidialAuthorizer` and its agent resolver.

A session is allowed, checked in this order (first failure refuses):

1. the supervisor's endpoint is the phone (``phones``, active) whose ``login``
   is the ``phone_login`` of exactly one **active** VICIdial user
   (``not_permitted`` otherwise);
2. that user's ``user_level >= [vicidial] min_user_level`` (7, as VICIdial's
   ``blind_monitor`` asks: ``user_level > 6``) (``not_permitted``);
3. for sessions asked for over the HTTP API, with ``require_api_access``:
   ``vdc_agent_api_access = '1'`` and ``blind_monitor`` (or
   ``ALL_FUNCTIONS``) in ``api_allowed_functions``, as VICIdial's own API
   demands of a manager who monitors (``not_permitted``);
4. VICIdial's shift enforcement for the user's group, as at agent login
   (:mod:`coachd.vicidial.shifts`; the manager-override flag is not honoured:
   VICIdial clears it at the user's next agent-screen login, which coachd is
   not, so honouring it could exempt a supervisor for good) (``outside_shift``);
5. the mode is in a ``coachd_grants`` row of the user (``not_permitted``);
6. the agent is a VICIdial user logged in (``vicidial_live_agents``), or else
   an endpoint (:class:`~coachd.authorize.EndpointResolver`) (``unknown_agent``);
7. the agent is not the supervisor (same endpoint or same user) (``own_endpoint``);
8. a grant covering the agent's user group and campaign has the mode
   (``not_permitted``);
9. the agent's phone has an answered channel (``agent_not_on_call``).

When the database cannot be read, every new session is refused with
``permission_store_unavailable`` (fail closed); sessions already running are
not asked again and go on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

import structlog

from coachd.ari.client import AriClient
from coachd.authorize import AGENT_ID, AgentResolver, EndpointResolver, Via
from coachd.core import events as e
from coachd.core.modes import Mode
from coachd.storage.errors import StoreError
from coachd.vicidial.context import ContextBook, MonitorContext
from coachd.vicidial.directory import Directory, LiveAgent, Supervisor, extension_endpoint
from coachd.vicidial.shifts import Check, local_now, shift_allows

log = structlog.get_logger(__name__)

API_FUNCTION = "blind_monitor"


@dataclass(frozen=True, slots=True)
class AgentTarget:
    """The agent's phone, its answered channel ("" if none) and VICIdial login."""

    endpoint: str
    channel: str
    live: LiveAgent | None


class VicidialAgentResolver:
    """An agent is a VICIdial user logged in (``vicidial_live_agents``), whose phone's
    answered channel is found through ARI; anything else is left to ``fallback``.

    Raises StoreError when the database cannot be read.
    """

    def __init__(
        self,
        directory: Directory,
        ari: AriClient,
        *,
        fallback: AgentResolver,
        technologies: Sequence[str] = ("PJSIP",),
    ) -> None:
        self.directory = directory
        self.ari = ari
        self.fallback = fallback
        self.technologies = tuple(technologies)

    async def find(self, agent: str) -> AgentTarget | None:
        live = await self.directory.live_agent(agent)
        if live is not None:
            endpoint = extension_endpoint(live.extension, self.technologies)
            if endpoint is None:
                return AgentTarget(live.extension or "", "", live)
            tech, _, resource = endpoint.partition("/")
            found = await EndpointResolver(self.ari, (tech,)).resolve(resource)
            return AgentTarget(endpoint, found[1] if found else "", live)
        found = await self.fallback.resolve(agent)
        if found is None:
            return None
        endpoint, channel = found
        return AgentTarget(endpoint, channel, await self.directory.live_agent_on(endpoint))

    async def resolve(self, agent: str) -> tuple[str, str] | None:
        target = await self.find(agent)
        return None if target is None else (target.endpoint, target.channel)


@dataclass(frozen=True, slots=True)
class Policy:
    min_user_level: int = 7
    require_api_access: bool = True
    zone: tzinfo | None = None
    """VICIdial's wall-clock time zone (None: the host's)."""


class VicidialAuthorizer:
    """The :class:`~coachd.authorize.Authorizer` of VICIdial mode (see the module docstring)."""

    def __init__(
        self,
        directory: Directory,
        resolver: VicidialAgentResolver,
        *,
        policy: Policy = Policy(),
        contexts: ContextBook | None = None,
        clock: Callable[[tzinfo | None], datetime] = local_now,
    ) -> None:
        self.directory = directory
        self.resolver = resolver
        self.policy = policy
        self.contexts = contexts if contexts is not None else ContextBook()
        self._clock = clock

    async def endpoints_of(self, user: str) -> tuple[str, ...]:
        return await self.directory.endpoints_of(user)

    async def authorize(
        self, endpoint: str, agent: str, mode: Mode, *, via: Via = "dial"
    ) -> e.Authorized | e.Refused:
        try:
            return await self._authorize(endpoint, agent, mode, via)
        except StoreError as exc:
            log.warning("vicidial_permission_store_unavailable", error=str(exc))
            return e.Refused("permission_store_unavailable", "the VICIdial database cannot be read")

    async def _authorize(
        self, endpoint: str, agent: str, mode: Mode, via: Via
    ) -> e.Authorized | e.Refused:
        found = await self._supervisor(endpoint)
        if isinstance(found, e.Refused):
            return found
        sup = found
        refused = self._level_and_api(sup, via) or await self._shift(sup)
        if refused is not None:
            return refused
        grants = await self.directory.grants(sup.user)
        if not any(mode in g.modes for g in grants):
            return e.Refused("not_permitted", "mode " + mode.value + " not granted")
        if not AGENT_ID.match(agent):
            return e.Refused("unknown_agent", "not an agent id")
        target = await self.resolver.find(agent)
        if target is None:
            return e.Refused("unknown_agent", "no VICIdial agent or endpoint for agent")
        live = target.live
        if target.endpoint == endpoint or (
            live is not None and live.user.casefold() == sup.user.casefold()
        ):
            return e.Refused("own_endpoint", "the agent is the supervisor")
        group = live.user_group if live else None
        campaign = live.campaign_id if live else None
        granted = frozenset(m for g in grants if g.covers(group, campaign) for m in g.modes)
        if mode not in granted:
            return e.Refused(
                "not_permitted",
                "mode " + mode.value + " not granted for this agent's group or campaign",
            )
        if not target.channel:
            return e.Refused("agent_not_on_call", "the agent has no call in progress")
        self.contexts.put(endpoint, agent, _context(sup, agent, live))
        return e.Authorized(sup.user, granted, target.channel)

    async def _supervisor(self, endpoint: str) -> Supervisor | e.Refused:
        candidates = await self.directory.supervisors_on(endpoint)
        if not candidates:
            return e.Refused("not_permitted", "no VICIdial user's phone is " + endpoint[:100])
        active = {s.user: s for s in candidates if s.active}
        if not active:
            return e.Refused("not_permitted", "the VICIdial user is not active")
        if len(active) > 1:
            return e.Refused("not_permitted", "several VICIdial users have this phone")
        return next(iter(active.values()))

    def _level_and_api(self, sup: Supervisor, via: Via) -> e.Refused | None:
        if sup.user_level < self.policy.min_user_level:
            return e.Refused("not_permitted", "user level below the minimum")
        if via == "api" and self.policy.require_api_access:
            if not sup.api_access:
                return e.Refused("not_permitted", "vdc_agent_api_access is not enabled")
            functions = sup.api_functions
            if " " + API_FUNCTION + " " not in functions and "ALL_FUNCTIONS" not in functions:
                return e.Refused("not_permitted", "api_allowed_functions lacks blind_monitor")
        return None

    async def _shift(self, sup: Supervisor) -> e.Refused | None:
        rules = await self.directory.shift_rules(sup.user_group)
        allowed = shift_allows(
            group_mode=rules.group_mode,
            user_override=sup.shift_override,
            override_flag=False,
            shifts=rules.shifts,
            now=self._clock(self.policy.zone),
            check=Check.LOGIN,
        )
        if allowed:
            return None
        return e.Refused("outside_shift", "outside the shifts of the user group")


def _context(sup: Supervisor, agent: str, live: LiveAgent | None) -> MonitorContext:
    if live is None:
        return MonitorContext(sup.user, sup.phone_login, sup.phone_server_ip, agent_user=agent)
    return MonitorContext(
        manager_user=sup.user,
        manager_phone=sup.phone_login,
        manager_server_ip=sup.phone_server_ip,
        agent_user=live.user,
        agent_server_ip=live.server_ip,
        agent_status=live.status,
        agent_session=live.conf_exten,
        lead_id=live.lead_id,
        campaign_id=live.campaign_id,
    )
