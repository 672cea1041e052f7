"""VICIdial's ``non_agent_api.php?function=blind_monitor``, answered by coachd.

VICIdial's real-time report (and tools written against VICIdial's non-agent
API) start monitoring with::

    non_agent_api.php?source=realtime&function=blind_monitor&user=U&pass=P
        &phone_login=MANAGER_PHONE&session_id=AGENT_CONF_EXTEN&server_ip=AGENT_SERVER
        &stage=MONITOR|BARGE|WHISPER

or, as the coaching guide writes it, with ``agent_user=AGENT`` instead of
``session_id`` and ``server_ip`` (coachd finds the agent's session).

coachd checks what VICIdial checks, in VICIdial's order and with its answer
lines (``www/vicidial/non_agent_api.php``, build 250720-1841; see
``docs/vicidial.md``), then coachd's own permissions (grants, shifts), rings
the manager's phone and runs the session: so pointing those tools at coachd
gives them coachd's sessions (live switching, the caller never hears a
whisper) instead of VICIdial's MeetMe/ConfBridge monitoring.

Differences, on purpose: ``pass`` is never echoed back in an error; a user whose
password VICIdial keeps only hashed (``pass_hash``) cannot log in here (use an
HTTP API token); ``HIJACK`` (not functional in VICIdial either) is refused.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import structlog

from coachd.core import events as e
from coachd.core.modes import Mode
from coachd.storage.errors import StoreError
from coachd.vicidial.directory import Directory

log = structlog.get_logger(__name__)

FUNCTION = "blind_monitor"
SESSION_ID = re.compile(r"^[0-9]{7}$")
IPV4 = re.compile(r"^[0-9]{1,3}(\.[0-9]{1,3}){3}$")
LOGIN = re.compile(r"^[^|\s]{1,20}$")

Authorize = Callable[[str, str, Mode], Awaitable[e.Authorized | e.Refused]]
Ring = Callable[[str, str, str, Mode], Awaitable[str]]
"""``(user, endpoint, agent, mode)`` -> coachd's session id, once the phone rings."""


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer line, as VICIdial prints it (``ok``: SUCCESS, else ERROR)."""

    ok: bool
    text: str


def stage_mode(stage: str) -> Mode | None:
    """VICIdial's stage (matched as its ``preg_match`` calls do) as a coachd mode."""
    if "HIJACK" in stage:
        return None
    if "WHISPER" in stage:
        return Mode.WHISPER
    if "BARGE" in stage:
        return Mode.BARGE
    return Mode.MONITOR  # MONITOR, or empty


def _error(text: str) -> Answer:
    return Answer(False, "ERROR: " + text + "\n")


class BlindMonitor:
    def __init__(self, directory: Directory, authorize: Authorize, ring: Ring) -> None:
        self.directory = directory
        self.authorize = authorize
        self.ring = ring

    async def handle(self, params: Mapping[str, str]) -> Answer:
        try:
            return await self._handle(params)
        except StoreError as exc:
            log.warning("blind_monitor_store_unavailable", error=str(exc))
            return _error("blind_monitor DATABASE UNAVAILABLE - coachd cannot read VICIdial")

    async def _handle(self, params: Mapping[str, str]) -> Answer:
        user, password = params.get("user", ""), params.get("pass", "")
        function, source = params.get("function", ""), params.get("source", "")
        if not await self._logged_in(user, password):
            return _error("Login incorrect, please try again: |" + user + "||")
        if function != FUNCTION:
            return _error("coachd answers only function=blind_monitor: |" + function + "|")
        if len(source) < 2:
            return _error("Invalid Source - " + source)
        session_id = params.get("session_id", "")
        server_ip = params.get("server_ip", "")
        agent_user = params.get("agent_user", "")
        phone_login = params.get("phone_login", "")
        stage = params.get("stage", "")
        mode = stage_mode(stage)
        if mode is None:
            return _error("blind_monitor HIJACK IS NOT SUPPORTED BY COACHD - " + user)
        invalid = _error(
            "blind_monitor INVALID SESSION ID - " + session_id + "|" + server_ip + "|" + user
        )
        if agent_user and not session_id:
            # The VICIdial guide's form: the agent by user, not by conference.
            if not LOGIN.match(agent_user):
                return invalid
            agent = await self.directory.live_agent(agent_user)
            session_id = "" if agent is None else str(agent.conf_exten or "")
        else:
            if not SESSION_ID.match(session_id) or not IPV4.match(server_ip):
                return invalid
            agent = await self.directory.live_agent_in_session(session_id, server_ip)
        if agent is None:
            return invalid
        endpoint = None
        if LOGIN.match(phone_login):
            endpoint = await self.directory.phone_by_login(phone_login)
        if endpoint is None:
            return _error("blind_monitor INVALID PHONE LOGIN - " + phone_login + "|" + user)
        verdict = await self.authorize(endpoint, agent.user, mode)
        if isinstance(verdict, e.Refused):
            log.info("blind_monitor_refused", user=user, reason=verdict.reason)
            return _error(
                "blind_monitor USER DOES NOT HAVE PERMISSION TO BLIND MONITOR: |"
                + user
                + "|"
                + verdict.reason
                + "|"
            )
        if verdict.supervisor.lower() != user.lower():
            # The phone belongs to another VICIdial user: coachd would coach as them.
            return _error("blind_monitor INVALID PHONE LOGIN - " + phone_login + "|" + user)
        session = await self.ring(user, endpoint, agent.user, mode)
        log.info("blind_monitor_launched", user=user, agent=agent.user, session_id=session)
        return Answer(
            True,
            "SUCCESS: blind_monitor HAS BEEN LAUNCHED - "
            + "|".join((phone_login, endpoint, mode.value, session_id, session, user))
            + "\n",
        )

    async def _logged_in(self, user: str, password: str) -> bool:
        if not user or not password or len(user) > 20 or len(password) > 100:
            return False
        stored = await self.directory.credentials(user)
        if stored is None:
            return False
        _, plain, _hashed = stored
        if not plain:
            log.warning("blind_monitor_hashed_password", user=user)
            return False
        return hmac.compare_digest(plain.encode(), password.encode())
