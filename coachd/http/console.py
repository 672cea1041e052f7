"""The supervisors' browser console: its pages, cookie logins, and the two routes it reads.

With ``[console] enabled = true`` coachd serves a console at ``/console/`` (plain
HTML, CSS and JavaScript from ``coachd/http/console/``). A supervisor logs in
(``POST /v1/console/login``) with the configuration's ``password_hash`` or, in
VICIdial mode, their VICIdial user and password; coachd answers with a session
cookie (``HttpOnly``, ``SameSite=Strict``, ``Secure`` with ``[console]
secure_cookie``) and a CSRF token. The cookie then authenticates the same HTTP
API as bearer tokens do, as that supervisor (like a supervisor's token: their
sessions only); every state-changing request (POST, PUT, PATCH, DELETE) also
needs the header ``X-CSRF-Token`` with the login's token. A request that has an
``Authorization`` header is judged by it alone, exactly as before.

Failed logins are limited per user name and per client address
(:class:`~coachd.http.sessions_store.LoginLimiter`); passwords and tokens are
compared in constant time; logins live in memory (:mod:`coachd.http.sessions_store`).

``GET /v1/agents`` (agents on calls, :mod:`coachd.http.agents`) and
``GET /v1/coverage`` (minutes coached today, :mod:`coachd.http.coverage`) serve
the console and any token.
"""

from __future__ import annotations

import hmac
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from coachd.ari.errors import AriError
from coachd.config import Config, TokenConfig
from coachd.engine import Engine
from coachd.http.agents import AgentOnCall, AgentSource, AriAgents
from coachd.http.common import PRINCIPAL, ApiError, error_response, json_body
from coachd.http.coverage import Coverage, LogPeriods
from coachd.http.credentials import ConfigCredentials, Credentials
from coachd.http.feed import EventFeed
from coachd.http.sessions_store import ConsoleSession, ConsoleSessions, LoginLimiter
from coachd.mqtt.topics import rfc3339
from coachd.storage.errors import StoreError
from coachd.vicidial.console import VicidialAgents, VicidialCredentials
from coachd.vicidial.directory import Directory

log = structlog.get_logger(__name__)

STATIC = Path(__file__).with_name("console")
FILES = {
    "index.html": "text/html",
    "console.css": "text/css",
    "console.js": "text/javascript",
}
COOKIE = "coachd_console"
SECURE_COOKIE = "__Host-coachd_console"
"""The name with ``secure_cookie``: browsers then insist on Secure, Path=/ and no Domain."""
CSRF_HEADER = "X-CSRF-Token"
LOGIN = "/v1/console/login"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none';"
        " base-uri 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
NO_STORE = {"Cache-Control": "no-store"}
CONSOLE_SESSION = web.RequestKey("coachd.console_session", ConsoleSession)
MESSAGES = {
    "invalid_credentials": (401, "wrong user name or password"),
    "hashed_password": (
        403,
        "VICIdial keeps only a hash of this user's password, which coachd cannot check:"
        " this user cannot log in to the console",
    ),
    "not_permitted": (403, "this user's level does not allow coaching"),
}


def is_public(path: str) -> bool:
    """Paths served without a login: the pages and the login itself."""
    return path in (LOGIN, "/console") or path.startswith("/console/")


class Console:
    def __init__(self, *, config: Config, engine: Engine, feed: EventFeed) -> None:
        self.config = config
        self.engine = engine
        self.feed = feed
        self.enabled = config.console.enabled
        self.cookie = SECURE_COOKIE if config.console.secure_cookie else COOKIE
        self.sessions = ConsoleSessions(config.console.session_ttl)
        self.limiter = LoginLimiter()
        self.credentials: Credentials = ConfigCredentials(config)
        self._agents: AgentSource | None = None
        self._log = LogPeriods(config.database.url)
        self.coverage = Coverage(
            self._log,
            feed,
            zone=config.vicidial.zone,
            target_minutes=config.console.target_minutes,
        )

    @property
    def agents(self) -> AgentSource:
        if self._agents is None:  # built at first use: the engine's ARI client
            self._agents = AriAgents(self.engine.ari, self.config)
        return self._agents

    @agents.setter
    def agents(self, source: AgentSource) -> None:
        self._agents = source

    def use_vicidial(self, directory: Directory) -> None:
        """VICIdial mode: VICIdial's users log in, VICIdial's agents are listed."""
        self.credentials = VicidialCredentials(directory, self.config.vicidial.min_user_level)
        self.agents = VicidialAgents(directory, self.config.vicidial.zone)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/console", self.to_index)
        app.router.add_get("/console/", self.index)
        app.router.add_get("/console/{file}", self.static)
        app.router.add_post(LOGIN, self.login)
        app.router.add_post("/v1/console/logout", self.logout)
        app.router.add_get("/v1/console/me", self.me)
        app.router.add_get("/v1/agents", self.list_agents)
        app.router.add_get("/v1/coverage", self.get_coverage)
        app.on_cleanup.append(self._close)

    async def _close(self, app: web.Application) -> None:
        await self._log.close()

    # --- the cookie as a principal ---------------------------------------------------

    def principal(self, request: web.Request) -> TokenConfig | None:
        """The supervisor a console cookie speaks for (None: no live login).

        Raises ApiError 403 for a state-changing request without the login's CSRF token.
        """
        if not self.enabled:
            return None
        session = self.sessions.get(request.cookies.get(self.cookie, ""))
        if session is None:
            return None
        if request.method in UNSAFE:
            presented = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(presented.encode(), session.csrf.encode()):
                log.info("console_csrf_refused", method=request.method, path=request.path)
                raise ApiError(
                    403, "csrf_failed", "send the X-CSRF-Token header of your console login"
                )
        request[CONSOLE_SESSION] = session
        return TokenConfig("", "supervisor", session.user)

    # --- pages ---------------------------------------------------------------------

    def _on(self) -> None:
        if not self.enabled:
            raise ApiError(404, "not_found", "the console is off ([console] enabled)")

    async def to_index(self, request: web.Request) -> web.Response:
        self._on()
        # Relative, so that it works behind a reverse proxy's path prefix too.
        return web.Response(status=302, headers={"Location": "console/", **PAGE_HEADERS})

    async def index(self, request: web.Request) -> web.Response:
        return self._file("index.html")

    async def static(self, request: web.Request) -> web.Response:
        return self._file(request.match_info["file"])

    def _file(self, name: str) -> web.Response:
        self._on()
        content_type = FILES.get(name)
        if content_type is None:
            raise ApiError(404, "not_found", "no such file")
        body = (STATIC / name).read_bytes()
        return web.Response(
            body=body, content_type=content_type, charset="utf-8", headers=PAGE_HEADERS
        )

    # --- login ---------------------------------------------------------------------

    async def login(self, request: web.Request) -> web.Response:
        self._on()
        body = await json_body(request)
        user, password = body.get("user"), body.get("password")
        if not isinstance(user, str) or not 0 < len(user) <= 64:
            raise ApiError(422, "invalid_field", "a string of 1..64 characters", field="user")
        if not isinstance(password, str) or not 0 < len(password) <= 256:
            raise ApiError(422, "invalid_field", "a string of 1..256 characters", field="password")
        address = request.remote or ""
        wait = self.limiter.begin(user, address)
        if wait > 0:
            log.warning("console_login_limited", user=user, address=address)
            response = error_response(
                429, "too_many_attempts", "too many failed logins: try again later"
            )
            response.headers["Retry-After"] = str(math.ceil(wait))
            return response
        outcome = None
        try:
            outcome = await self.credentials.check(user, password)
        except StoreError as exc:
            log.warning("console_login_store_unavailable", error=str(exc))
            raise ApiError(
                503, "permission_store_unavailable", "the user database cannot be read"
            ) from None
        finally:
            # Unread (database away, request cancelled) counts as neither.
            if outcome is None:
                self.limiter.cancel(user, address)
            else:
                self.limiter.end(user, address, ok=outcome.user is not None)
        if outcome.user is None:
            refusal = outcome.refusal or "invalid_credentials"
            log.info("console_login_refused", user=user, address=address, reason=refusal)
            status, message = MESSAGES[refusal]
            raise ApiError(status, refusal, message)
        old = request.cookies.get(self.cookie)
        if old:
            self.sessions.drop(old)  # a login never reuses a session (fixation)
        token, session = self.sessions.create(outcome.user)
        log.info("console_login", user=outcome.user, address=address)
        response = web.json_response(self._me(TokenConfig("", "supervisor", session.user), session))
        response.headers.update(NO_STORE)
        response.set_cookie(
            self.cookie,
            token,
            max_age=int(self.config.console.session_ttl),
            path="/",
            httponly=True,
            secure=self.config.console.secure_cookie,
            samesite="Strict",
        )
        return response

    async def logout(self, request: web.Request) -> web.Response:
        token = request.cookies.get(self.cookie)
        if token and CONSOLE_SESSION in request:
            self.sessions.drop(token)
            log.info("console_logout", user=request[CONSOLE_SESSION].user)
        response = web.Response(status=204, headers=NO_STORE)
        response.del_cookie(
            self.cookie,
            path="/",
            secure=self.config.console.secure_cookie,
            httponly=True,
            samesite="Strict",
        )
        return response

    async def me(self, request: web.Request) -> web.Response:
        principal = request[PRINCIPAL]
        view = self._me(principal, request.get(CONSOLE_SESSION))
        if principal.user is not None:
            try:
                view["endpoints"] = list(await self.engine.authorizer.endpoints_of(principal.user))
            except StoreError:
                view["endpoints"] = None
        return web.json_response(view, headers=NO_STORE)

    def _me(self, principal: TokenConfig, session: ConsoleSession | None) -> dict[str, Any]:
        return {
            "user": principal.user,
            "role": principal.role,
            "csrf_token": None if session is None else session.csrf,
            "expires_at": None if session is None else rfc3339(session.expires_at),
            "target_minutes": self.config.console.target_minutes,
        }

    # --- agents and coverage -----------------------------------------------------------

    async def list_agents(self, request: web.Request) -> web.Response:
        principal = request[PRINCIPAL]
        user = None if principal.role == "admin" else principal.user
        try:
            agents = await self.agents.on_calls(user)
        except StoreError as exc:
            log.warning("agents_store_unavailable", error=str(exc))
            raise ApiError(
                503, "permission_store_unavailable", "the agent database cannot be read"
            ) from None
        except AriError as exc:
            log.warning("agents_ari_unavailable", error=str(exc))
            raise ApiError(502, "ari_unavailable", "Asterisk did not list the calls") from None
        now = datetime.now(UTC)
        views = [self._agent_view(agent, user, now) for agent in agents]
        return web.json_response({"at": rfc3339(now), "agents": views})

    def _agent_view(self, agent: AgentOnCall, user: str | None, now: datetime) -> dict[str, Any]:
        names = {agent.agent, agent.endpoint, agent.endpoint.partition("/")[2]}
        live = [
            v
            for v in self.feed.sessions.values()
            if v.get("state") in ("ringing", "active") and v.get("agent") in names
        ]
        mine = [v for v in live if user is None or v.get("supervisor") == user]
        coached = any(v.get("state") == "active" for v in live)
        return agent.view(now, mine, coached)

    async def get_coverage(self, request: web.Request) -> web.Response:
        principal = request[PRINCIPAL]
        user = None if principal.role == "admin" else principal.user
        return web.json_response(await self.coverage.today(user))
