"""The browser console in VICIdial mode: VICIdial users log in, VICIdial's agents are listed.

Login checks ``vicidial_users.pass`` (in constant time), as VICIdial's own
API and coachd's ``blind_monitor`` do, for an active user of at least ``[vicidial]
min_user_level``. A user whose password VICIdial keeps only hashed (``pass_hash``,
VICIdial's "encrypted passwords") cannot be checked by coachd and is refused
with ``hashed_password``. The name coachd goes on with is VICIdial's spelling
of the user (VICIdial compares user names case-insensitively).

Agents on calls are ``vicidial_live_agents`` rows with status ``INCALL`` on
this server (``[vicidial] server_ip``), timed from ``last_state_change`` as
VICIdial's real-time report does; a supervisor sees the agents one of their
``coachd_grants`` covers (user group and campaign), with that grant's modes.
"""

from __future__ import annotations

import hmac
from dataclasses import replace
from datetime import datetime

from coachd.config import MODES
from coachd.http.agents import CACHE_SECONDS, AgentOnCall, Cached
from coachd.http.credentials import LoginOutcome
from coachd.reports.compute import Zone, to_utc
from coachd.vicidial.directory import Directory, extension_endpoint

_IN_CALL_SQL = (
    "SELECT la.user, la.extension, la.campaign_id, la.last_state_change, la.last_call_time,"
    " u.user_group, u.full_name"
    " FROM vicidial_live_agents la LEFT JOIN vicidial_users u ON u.user = la.user"
    " WHERE la.status = 'INCALL'"
)


class VicidialCredentials:
    def __init__(self, directory: Directory, min_user_level: int) -> None:
        self.directory = directory
        self.min_user_level = min_user_level

    async def check(self, user: str, password: str) -> LoginOutcome:
        """Raises StoreError when VICIdial's database cannot be read."""
        stored = await self.directory.credentials(user, self.min_user_level)
        spelled, plain, hashed = stored or ("", "", "")
        # Compare even when there is nothing to compare with: the same time either way.
        matched = hmac.compare_digest(plain.encode(), password.encode())
        if stored is None:
            return LoginOutcome.refused("invalid_credentials")
        if not plain:
            if hashed:
                return LoginOutcome.refused("hashed_password")
            return LoginOutcome.refused("invalid_credentials")
        if not matched:
            return LoginOutcome.refused("invalid_credentials")
        return LoginOutcome.ok(spelled)


def _since(row_state: object, row_call: object, zone: Zone) -> datetime | None:
    wall = row_state if isinstance(row_state, datetime) else row_call
    return to_utc(wall, zone) if isinstance(wall, datetime) else None


class VicidialAgents:
    """``INCALL`` agents of ``vicidial_live_agents`` (see the module docstring)."""

    def __init__(self, directory: Directory, zone: Zone) -> None:
        self.directory = directory
        self.zone = zone
        self._cache = Cached(CACHE_SECONDS)

    async def _everyone(self) -> list[AgentOnCall]:
        cached: list[AgentOnCall] | None = self._cache.get()
        if cached is not None:
            return cached
        sql, params = _IN_CALL_SQL, []
        if self.directory.server_ip is not None:
            sql, params = sql + " AND la.server_ip = ?", [self.directory.server_ip]
        async with self.directory.pool.transaction() as cur:
            rows = await cur.fetchall(sql + " ORDER BY la.user", params)
        agents = []
        seen: set[str] = set()
        for r in rows:
            user = str(r[0] or "")
            if not user or user in seen:
                continue
            seen.add(user)
            endpoint = extension_endpoint(r[1], self.directory.technologies) or str(r[1] or "")
            agents.append(
                AgentOnCall(
                    agent=user,
                    endpoint=endpoint,
                    since=_since(r[3], r[4], self.zone),
                    name=None if r[6] is None else str(r[6]),
                    campaign=None if r[2] is None else str(r[2]),
                    user_group=None if r[5] is None else str(r[5]),
                )
            )
        self._cache.put(agents)
        return agents

    async def on_calls(self, user: str | None) -> list[AgentOnCall]:
        """Raises StoreError when VICIdial's database cannot be read."""
        everyone = await self._everyone()
        if user is None:
            return everyone
        grants = await self.directory.grants(user)
        result = []
        for agent in everyone:
            if agent.agent.casefold() == user.casefold():
                continue
            covering = [g for g in grants if g.covers(agent.user_group, agent.campaign)]
            granted = {m.value for g in covering for m in g.modes}
            if granted:
                result.append(replace(agent, modes=tuple(m for m in MODES if m in granted)))
        return result
