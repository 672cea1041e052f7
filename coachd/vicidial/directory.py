"""Read-only lookups in VICIdial's tables (and coachd's grants), parametrized SQL only.

Tables and columns read (VICIdial 2.14 schema, ``extras/MySQL_AST_CREATE_tables.sql``):

- ``phones``: ``login, server_ip, protocol, extension, active``;
- ``vicidial_users``: ``user, user_level, active, vdc_agent_api_access,
  api_allowed_functions, user_group, phone_login,
  agent_shift_enforcement_override``;
- ``vicidial_user_groups``: ``user_group, shift_enforcement, group_shifts``;
- ``vicidial_shifts``: ``shift_id, shift_start_time, shift_length, shift_weekdays``;
- ``vicidial_live_agents``: ``user, server_ip, conf_exten, extension, status,
  lead_id, campaign_id, last_update_time, live_agent_id``;
- ``coachd_grants`` (coachd's own): ``supervisor, modes, agent_groups, campaigns``.

A supervisor is the VICIdial user whose ``phone_login`` is the ``login`` of
the phone they call from; a phone is the endpoint ``<protocol>/<extension>``,
except that ``SIP`` phones are PJSIP endpoints unless ``SIP`` is one of
``[ari] endpoint_technologies`` (Asterisk 21 and later have no chan_sip, and
VICIdial's default protocol is ``SIP``; ``(extension, server_ip)`` is unique
in ``phones``, so this names one phone per server).

Every method raises :class:`~coachd.storage.errors.StoreError` when the
database cannot be read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from coachd.core.modes import Mode, parse_mode
from coachd.storage.mysql import MysqlPool
from coachd.vicidial.shifts import Shift, group_shift_ids

log = structlog.get_logger(__name__)


def phone_endpoint(
    protocol: str | None, extension: str | None, technologies: Sequence[str]
) -> str | None:
    """The Asterisk endpoint of a VICIdial phone (``PJSIP`` + ``2001`` -> ``PJSIP/2001``)."""
    if not protocol or not extension or protocol.upper() == "EXTERNAL":
        return None
    tech = "PJSIP" if protocol == "SIP" and "SIP" not in technologies else protocol
    return tech + "/" + extension


def extension_endpoint(extension: str | None, technologies: Sequence[str]) -> str | None:
    """The endpoint of ``vicidial_live_agents.extension`` (``SIP/cc100``)."""
    protocol, sep, resource = (extension or "").partition("/")
    return phone_endpoint(protocol, resource, technologies) if sep else None


@dataclass(frozen=True, slots=True)
class Supervisor:
    """A VICIdial user on the phone a call came from."""

    user: str
    user_level: int
    active: bool
    api_access: bool
    """``vdc_agent_api_access = '1'``."""
    api_functions: str
    """``api_allowed_functions`` (`` ALL_FUNCTIONS `` or `` name name ``)."""
    user_group: str | None
    shift_override: str | None
    """``agent_shift_enforcement_override``."""
    phone_login: str
    phone_server_ip: str


@dataclass(frozen=True, slots=True)
class ShiftRules:
    """A user group's shift enforcement and the shifts it lists."""

    group_mode: str | None
    shifts: tuple[Shift, ...]


@dataclass(frozen=True, slots=True)
class LiveAgent:
    """A ``vicidial_live_agents`` row: an agent logged in to VICIdial."""

    user: str
    server_ip: str
    conf_exten: str | None
    extension: str | None
    status: str | None
    lead_id: int | None
    campaign_id: str | None
    user_group: str | None


@dataclass(frozen=True, slots=True)
class Grant:
    """A ``coachd_grants`` row. ``None``: any agent group / campaign."""

    modes: frozenset[Mode]
    agent_groups: frozenset[str] | None
    campaigns: frozenset[str] | None

    def covers(self, agent_group: str | None, campaign: str | None) -> bool:
        """Whether the grant applies to an agent of ``agent_group`` on ``campaign``
        (unknown values match only unrestricted grants)."""
        return _within(agent_group, self.agent_groups) and _within(campaign, self.campaigns)


def _within(value: str | None, allowed: frozenset[str] | None) -> bool:
    if allowed is None:
        return True
    return value is not None and value.casefold() in allowed


def _names(text: str | None) -> frozenset[str] | None:
    if text is None:
        return None
    return frozenset(part.strip().casefold() for part in text.split(",") if part.strip())


def _modes(text: str) -> frozenset[Mode]:
    modes = set()
    for part in text.split(","):
        mode = parse_mode(part)
        if mode is not None:
            modes.add(mode)
        elif part.strip():
            log.warning("vicidial_grant_unknown_mode", mode=part.strip())
    return frozenset(modes)


_SUPERVISOR_SQL = (
    "SELECT u.user, u.user_level, u.active, u.vdc_agent_api_access,"
    " u.api_allowed_functions, u.user_group, u.agent_shift_enforcement_override,"
    " p.login, p.server_ip, p.protocol, p.extension"
    " FROM phones p JOIN vicidial_users u ON u.phone_login = p.login"
    " WHERE p.extension = ? AND p.active = 'Y' AND p.login <> ''"
)
_LIVE_AGENT_SQL = (
    "SELECT la.user, la.server_ip, la.conf_exten, la.extension, la.status, la.lead_id,"
    " la.campaign_id, u.user_group"
    " FROM vicidial_live_agents la LEFT JOIN vicidial_users u ON u.user = la.user"
)
_LIVE_ORDER = " ORDER BY la.last_update_time DESC, la.live_agent_id DESC"

# What coachd reads and writes, checked once at start (a missing table or a
# VICIdial older than 2.14 fails then, not at the first supervisor's call).
SCHEMA_PROBES = (
    "SELECT login, server_ip, protocol, extension, active FROM phones LIMIT 0",
    "SELECT user, pass, pass_hash, user_level, active, vdc_agent_api_access,"
    " api_allowed_functions, user_group, phone_login, agent_shift_enforcement_override"
    " FROM vicidial_users LIMIT 0",
    "SELECT user_group, shift_enforcement, group_shifts FROM vicidial_user_groups LIMIT 0",
    "SELECT shift_id, shift_start_time, shift_length, shift_weekdays FROM vicidial_shifts LIMIT 0",
    "SELECT user, server_ip, conf_exten, extension, status, lead_id, campaign_id,"
    " last_update_time, live_agent_id FROM vicidial_live_agents LIMIT 0",
    "SELECT manager_user, manager_server_ip, manager_phone, manager_ip, agent_user,"
    " agent_server_ip, agent_status, agent_session, lead_id, campaign_id, caller_code,"
    " monitor_start_time, monitor_end_time, monitor_sec, monitor_type"
    " FROM vicidial_rt_monitor_log LIMIT 0",
    "SELECT supervisor, modes, agent_groups, campaigns FROM coachd_grants LIMIT 0",
)


class Directory:
    """VICIdial's users, phones, shifts and live agents, as coachd needs them.

    ``server_ip`` (``[vicidial] server_ip``) limits phones and live agents to
    this Asterisk server; ``technologies`` is ``[ari] endpoint_technologies``.
    """

    def __init__(
        self,
        pool: MysqlPool,
        *,
        technologies: Sequence[str] = ("PJSIP",),
        server_ip: str | None = None,
    ) -> None:
        self.pool = pool
        self.technologies = tuple(technologies)
        self.server_ip = server_ip

    async def check_schema(self) -> None:
        """Raise StoreError unless every table and column coachd uses is there."""
        async with self.pool.transaction() as cur:
            for probe in SCHEMA_PROBES:  # constant text, no input
                await cur.fetchall(probe)

    async def supervisors_on(self, endpoint: str) -> list[Supervisor]:
        """The VICIdial users whose phone is ``endpoint`` (several: ambiguous)."""
        _, sep, resource = endpoint.partition("/")
        if not sep or not resource:
            return []
        sql, params = self._on_server(_SUPERVISOR_SQL, [resource], "p.server_ip")
        async with self.pool.transaction() as cur:
            rows = await cur.fetchall(sql, params)
        return [
            Supervisor(
                user=str(r[0]),
                user_level=int(r[1] or 0),
                active=r[2] == "Y",
                api_access=r[3] == "1",
                api_functions=str(r[4] or ""),
                user_group=r[5],
                shift_override=r[6],
                phone_login=str(r[7]),
                phone_server_ip=str(r[8] or ""),
            )
            for r in rows
            if phone_endpoint(r[9], r[10], self.technologies) == endpoint
        ]

    async def endpoints_of(self, user: str) -> tuple[str, ...]:
        """The endpoints of the phones whose login is ``user``'s ``phone_login``."""
        sql, params = self._on_server(
            "SELECT p.protocol, p.extension FROM vicidial_users u"
            " JOIN phones p ON p.login = u.phone_login"
            " WHERE u.user = ? AND p.active = 'Y' AND p.login <> ''",
            [user],
            "p.server_ip",
        )
        async with self.pool.transaction() as cur:
            rows = await cur.fetchall(sql + " ORDER BY p.extension", params)
        endpoints = (phone_endpoint(r[0], r[1], self.technologies) for r in rows)
        return tuple(dict.fromkeys(e for e in endpoints if e is not None))

    async def shift_rules(self, user_group: str | None) -> ShiftRules:
        async with self.pool.transaction() as cur:
            groups = await cur.fetchall(
                "SELECT shift_enforcement, group_shifts FROM vicidial_user_groups"
                " WHERE user_group = ?",
                (user_group or "",),
            )
            mode, listed = (groups[0][0], groups[0][1]) if groups else (None, None)
            ids = group_shift_ids(listed)
            rows: list[tuple[Any, ...]] = []
            if ids:
                marks = ", ".join("?" for _ in ids)
                rows = await cur.fetchall(
                    "SELECT shift_id, shift_start_time, shift_length, shift_weekdays"
                    f" FROM vicidial_shifts WHERE shift_id IN ({marks}) ORDER BY shift_id",
                    ids,
                )
        return ShiftRules(mode, tuple(Shift(str(r[0]), r[1], r[2], r[3]) for r in rows))

    async def live_agent(self, user: str) -> LiveAgent | None:
        """The agent ``user`` as logged in to VICIdial (the latest row), or None."""
        sql, params = self._on_server(_LIVE_AGENT_SQL + " WHERE la.user = ?", [user])
        async with self.pool.transaction() as cur:
            rows = await cur.fetchall(sql + _LIVE_ORDER + " LIMIT 1", params)
        return _live(rows[0]) if rows else None

    async def live_agent_on(self, endpoint: str) -> LiveAgent | None:
        """The agent logged in to VICIdial with the phone ``endpoint``, or None."""
        tech, _, resource = endpoint.partition("/")
        spellings: list[object] = [endpoint]
        if tech == "PJSIP" and "SIP" not in self.technologies:
            spellings.append("SIP/" + resource)
        marks = ", ".join("?" for _ in spellings)
        sql, params = self._on_server(
            _LIVE_AGENT_SQL + f" WHERE la.extension IN ({marks})", spellings
        )
        async with self.pool.transaction() as cur:
            rows = await cur.fetchall(sql + _LIVE_ORDER, params)
        for row in rows:
            if extension_endpoint(row[3], self.technologies) == endpoint:
                return _live(row)
        return None

    async def credentials(self, user: str, min_level: int = 7) -> tuple[str, str, str] | None:
        """``(user as VICIdial spells it, pass, pass_hash)`` of an active user at
        ``min_level`` or above (VICIdial's API: 7), or None."""
        async with self.pool.transaction() as cur:
            rows = await cur.fetchall(
                "SELECT user, pass, pass_hash FROM vicidial_users"
                " WHERE user = ? AND active = 'Y' AND user_level >= ?",
                (user, min_level),
            )
        if not rows:
            return None
        return str(rows[0][0]), str(rows[0][1] or ""), str(rows[0][2] or "")

    async def phone_by_login(self, login: str) -> str | None:
        """The endpoint of the phone whose ``phones.login`` is ``login``, or None."""
        sql, params = self._on_server(
            "SELECT protocol, extension FROM phones WHERE login = ? AND login <> ''",
            [login],
            "server_ip",
        )
        async with self.pool.transaction() as cur:
            rows = await cur.fetchall(sql + " ORDER BY extension", params)
        endpoints = (phone_endpoint(r[0], r[1], self.technologies) for r in rows)
        return next((e for e in endpoints if e is not None), None)

    async def live_agent_in_session(self, conf_exten: str, server_ip: str) -> LiveAgent | None:
        """The agent whose VICIdial session (conference) is ``conf_exten`` on ``server_ip``."""
        async with self.pool.transaction() as cur:
            rows = await cur.fetchall(
                _LIVE_AGENT_SQL + " WHERE la.conf_exten = ? AND la.server_ip = ?" + _LIVE_ORDER,
                (conf_exten, server_ip),
            )
        return _live(rows[0]) if rows else None

    async def grants(self, supervisor: str) -> list[Grant]:
        async with self.pool.transaction() as cur:
            rows = await cur.fetchall(
                "SELECT modes, agent_groups, campaigns FROM coachd_grants"
                " WHERE supervisor = ? ORDER BY id",
                (supervisor,),
            )
        return [Grant(_modes(str(r[0] or "")), _names(r[1]), _names(r[2])) for r in rows]

    def _on_server(
        self, sql: str, params: list[object], column: str = "la.server_ip"
    ) -> tuple[str, list[object]]:
        if self.server_ip is None:
            return sql, params
        return sql + f" AND {column} = ?", [*params, self.server_ip]


def _live(row: tuple[Any, ...]) -> LiveAgent:
    return LiveAgent(
        user=str(row[0]),
        server_ip=str(row[1] or ""),
        conf_exten=row[2],
        extension=row[3],
        status=row[4],
        lead_id=None if row[5] is None else int(row[5]),
        campaign_id=row[6],
        user_group=row[7],
    )


__all__ = [
    "SCHEMA_PROBES",
    "Directory",
    "Grant",
    "LiveAgent",
    "ShiftRules",
    "Supervisor",
    "extension_endpoint",
    "phone_endpoint",
]
