"""The HTTP control API (aiohttp): sessions, Server-Sent Events, health.

Every request but the health checks needs ``Authorization: Bearer <token>``
(``[[http.tokens]]``); an admin token acts on every session, a supervisor's
token only on that supervisor's sessions. A browser console login's cookie
(:mod:`coachd.http.console`) stands for a supervisor in the same way, when no
``Authorization`` header is sent. Errors are always
``{"error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import web

from coachd.alerts.board import AlertBoard
from coachd.ari.errors import AriError
from coachd.config import Config
from coachd.core.events import Refused
from coachd.core.modes import Mode, parse_mode
from coachd.core.registry import new_session_id
from coachd.engine import Engine
from coachd.http import console
from coachd.http.common import PRINCIPAL, ApiError, Handler, error_response, json_body
from coachd.http.feed import EventFeed
from coachd.http.metrics import CONTENT_TYPE, Metrics
from coachd.http.openapi import OPENAPI
from coachd.http.session_ops import MODES_TEXT, SessionOps
from coachd.storage.errors import StoreError
from coachd.vicidial.blind_monitor import BlindMonitor

log = structlog.get_logger(__name__)

MAX_BODY = 16 * 1024
PUBLIC = frozenset({"/healthz", "/readyz", "/openapi.json"})
VICIDIAL_API = "/vicidial/non_agent_api.php"
REFUSAL_STATUS = {
    "not_permitted": 403,
    "outside_shift": 403,
    "unknown_agent": 404,
    "permission_store_unavailable": 503,
    "node_unavailable": 503,
}
"""HTTP status of a refused POST /v1/sessions by reason; any other reason is 409."""

__all__ = ["PRINCIPAL", "Api", "ApiError", "error_response"]


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.details)
    except web.HTTPException as exc:
        code = exc.reason.lower().replace(" ", "_")
        response = error_response(exc.status, code, exc.reason)
        if "Allow" in exc.headers:  # 405 says which methods the resource has
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        log.exception("http_internal_error", method=request.method, path=request.path)
        return error_response(500, "internal_error", "internal error")


class Api:
    def __init__(
        self,
        *,
        config: Config,
        engine: Engine,
        feed: EventFeed,
        ready: Callable[[], bool],
        metrics: Metrics | None = None,
        blind_monitor: BlindMonitor | None = None,
    ) -> None:
        self.metrics = metrics
        self.blind_monitor = blind_monitor
        self.alerts: AlertBoard | None = None
        """The who-to-coach alerts (``[alerts]``); None: GET /v1/alerts is 404."""
        self.public = PUBLIC | ({VICIDIAL_API} if blind_monitor is not None else set())
        self.config = config
        self.engine = engine
        self.feed = feed
        self.ready = ready
        self.tokens = config.tokens
        self.ops = SessionOps(engine, feed, config.cues.names)
        """Reading and changing one session (also for other nodes: cluster)."""
        self.console = console.Console(config=config, engine=engine, feed=feed)
        """The browser console (``[console]``): its pages, logins, agents and coverage."""

    def app(self) -> web.Application:
        @web.middleware
        async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
            return await self.auth(request, handler)

        app = web.Application(middlewares=[errors, auth], client_max_size=MAX_BODY)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/v1/sessions", self.list_sessions)
        app.router.add_post("/v1/sessions", self.create_session)
        app.router.add_get("/v1/sessions/{id}", self.get_session)
        app.router.add_patch("/v1/sessions/{id}", self.patch_session)
        app.router.add_delete("/v1/sessions/{id}", self.delete_session)
        app.router.add_post("/v1/sessions/{id}/cues", self.post_cue)
        app.router.add_get("/v1/events", self.events)
        app.router.add_get("/v1/alerts", self.list_alerts)
        app.router.add_get("/metrics", self.render_metrics)
        app.router.add_get("/openapi.json", self.openapi)
        self.console.add_routes(app)
        if self.blind_monitor is not None:
            # Authenticated by VICIdial user and password, as VICIdial does.
            app.router.add_get(VICIDIAL_API, self.vicidial_api)
            app.router.add_post(VICIDIAL_API, self.vicidial_api)
        return app

    # --- auth ---------------------------------------------------------------------

    async def auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in self.public or console.is_public(request.path):
            return await handler(request)
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        principal = None
        if scheme.lower() == "bearer" and presented:
            for token in self.tokens:
                # Compare with every token, in constant time each.
                if hmac.compare_digest(token.token.encode(), presented.strip().encode()):
                    principal = token
        if principal is None and not header:
            # A console login's cookie (a supervisor), with its CSRF token for changes.
            principal = self.console.principal(request)
        if principal is None:
            log.info("http_unauthorized", method=request.method, path=request.path)
            raise ApiError(401, "unauthorized", "a valid bearer token is needed")
        request[PRINCIPAL] = principal
        response = await handler(request)
        log.info(
            "http_request",
            method=request.method,
            path=request.path,
            status=response.status,
            role=principal.role,
            user=principal.user,
        )
        return response

    # --- health ---------------------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        if not self.ready():
            raise ApiError(
                503, "not_ready", "not connected to Asterisk, or the coaching log is unreachable"
            )
        return web.json_response({"status": "ready"})

    # --- sessions -------------------------------------------------------------------

    async def list_sessions(self, request: web.Request) -> web.Response:
        """This node's sessions, and those it handed over to another node (as their
        events, which that node sends back, say)."""
        principal = request[PRINCIPAL]
        views = [v for v in self.feed.sessions.values() if self.ops.visible(principal, v)]
        return web.json_response({"sessions": views})

    async def create_session(self, request: web.Request) -> web.Response:
        """Ring the supervisor's phone; answered, the session starts in ``mode``."""
        principal = request[PRINCIPAL]
        body = await json_body(request)
        unknown = sorted(set(body) - {"supervisor", "agent", "mode", "supervisor_endpoint"})
        if unknown:
            raise ApiError(422, "invalid_field", "unknown field", field=unknown[0])
        user, agent, mode_name = body.get("supervisor"), body.get("agent"), body.get("mode")
        for name, value in (("supervisor", user), ("agent", agent), ("mode", mode_name)):
            if not isinstance(value, str) or not 0 < len(value) <= 64:
                raise ApiError(422, "invalid_field", "a string of 1..64 characters", field=name)
        assert isinstance(user, str) and isinstance(agent, str) and isinstance(mode_name, str)
        mode = parse_mode(mode_name)
        if mode is None:
            raise ApiError(422, "invalid_field", MODES_TEXT, field="mode")
        if principal.role != "admin" and principal.user != user:
            raise ApiError(403, "forbidden", "a supervisor's token starts only their sessions")
        try:
            endpoints = await self.engine.authorizer.endpoints_of(user)
        except StoreError as exc:
            log.warning("http_permission_store_unavailable", error=str(exc))
            raise ApiError(
                503, "permission_store_unavailable", "the permission database cannot be read"
            ) from None
        if not endpoints:
            raise ApiError(404, "unknown_supervisor", "no such supervisor", field="supervisor")
        endpoint = body.get("supervisor_endpoint", endpoints[0])
        if endpoint not in endpoints:
            raise ApiError(
                422,
                "invalid_field",
                "not one of the supervisor's endpoints",
                field="supervisor_endpoint",
            )
        # Refuse before ringing anyone: the same checks the feature codes get
        # (and, in VICIdial mode, the API's own: vdc_agent_api_access).
        verdict = await self.engine.authorizer.authorize(endpoint, agent, mode, via="api")
        if not isinstance(verdict, Refused):
            verdict = self.engine.node_refusal(verdict) or verdict
        if isinstance(verdict, Refused):
            status = REFUSAL_STATUS.get(verdict.reason, 409)
            raise ApiError(status, verdict.reason, "session refused", detail=verdict.detail)
        session_id = await self.ring(user, endpoint, agent, mode)
        return web.json_response({"session_id": session_id, "state": "ringing"}, status=202)

    async def ring(self, user: str, endpoint: str, agent: str, mode: Mode) -> str:
        """Ring ``endpoint`` for a session (visible at GET at once); its id."""
        session_id = new_session_id()
        self.feed.sessions[session_id] = {
            "session_id": session_id,
            "agent": agent,
            "supervisor": user,
            "endpoint": endpoint,
            "mode": None,
            "state": "ringing",
            "started_at": None,
            "mode_since": None,
            "ended_at": None,
            "reason": None,
        }
        try:
            await self.engine.ring_supervisor(
                session_id=session_id, endpoint=endpoint, agent=agent, mode=mode
            )
        except AriError as exc:
            del self.feed.sessions[session_id]
            raise ApiError(502, "call_failed", "Asterisk did not place the call") from exc
        return session_id

    async def vicidial_api(self, request: web.Request) -> web.Response:
        """VICIdial's non_agent_api.php, function blind_monitor (VICIdial mode only)."""
        assert self.blind_monitor is not None
        params = {k: v for k, v in request.query.items() if isinstance(v, str)}
        if request.method == "POST":
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        try:
            answer = await self.blind_monitor.handle(params)
        except ApiError as exc:  # ringing failed
            answer_text = "ERROR: blind_monitor CALL FAILED - " + exc.message + "\n"
            return web.Response(text=answer_text, content_type="text/plain")
        log.info("http_request", method=request.method, path=request.path, ok=answer.ok)
        return web.Response(text=answer.text, content_type="text/plain")

    async def get_session(self, request: web.Request) -> web.Response:
        sid = self.ops.check_id(request.match_info["id"])
        forwarded = await self._forward(request, sid, "get", {})
        if forwarded is not None:
            return forwarded
        return web.json_response(self.ops.view(sid, request[PRINCIPAL]))

    async def patch_session(self, request: web.Request) -> web.Response:
        sid = self.ops.check_id(request.match_info["id"])
        body = await json_body(request)
        forwarded = await self._forward(request, sid, "mode", body)
        if forwarded is not None:
            return forwarded
        view = self.ops.view(sid, request[PRINCIPAL])
        await self.ops.set_mode(view, body, "api")
        return web.json_response(self.feed.sessions[sid])

    async def post_cue(self, request: web.Request) -> web.Response:
        """Play a whisper cue into the agent's ear (and the supervisor's)."""
        sid = self.ops.check_id(request.match_info["id"])
        body = await json_body(request)
        forwarded = await self._forward(request, sid, "cue", body)
        if forwarded is not None:
            return forwarded
        view = self.ops.view(sid, request[PRINCIPAL])
        played_at = await self.ops.play_cue(view, body, "api")
        return web.json_response(
            {"session_id": sid, "cue": body["cue"], "played_at": played_at}, status=201
        )

    async def delete_session(self, request: web.Request) -> web.Response:
        sid = self.ops.check_id(request.match_info["id"])
        forwarded = await self._forward(request, sid, "end", {})
        if forwarded is not None:
            return forwarded
        self.ops.end(self.ops.view(sid, request[PRINCIPAL]), "api")
        return web.json_response({"session_id": sid, "state": "ending"}, status=202)

    async def _forward(
        self, request: web.Request, sid: str, action: str, body: dict[str, Any]
    ) -> web.Response | None:
        """The answer of the node a session was handed over to; None when it is
        not such a session (cluster)."""
        cluster = self.engine.cluster
        node = cluster.handoffs.node_of(sid) if cluster is not None else None
        if cluster is None or node is None or cluster.forwarder is None:
            return None
        principal = request[PRINCIPAL]
        answer = await cluster.forwarder.ask(
            node,
            sid,
            action,
            role=principal.role,
            user=principal.user,
            body=body,
            source="api",
        )
        return web.json_response(answer.body, status=answer.status)

    async def list_alerts(self, request: web.Request) -> web.Response:
        """The last who-to-coach list: all of it for admins, a supervisor's agents
        for a supervisor (:mod:`coachd.alerts.board`)."""
        if self.alerts is None:
            raise ApiError(404, "not_found", "alerts are off")
        principal = request[PRINCIPAL]
        try:
            body = await self.alerts.visible_to(principal.role, principal.user)
        except StoreError as exc:
            log.warning("http_permission_store_unavailable", error=str(exc))
            raise ApiError(
                503, "permission_store_unavailable", "the permission database cannot be read"
            ) from None
        return web.json_response(body)

    async def render_metrics(self, request: web.Request) -> web.Response:
        if self.metrics is None:
            raise ApiError(404, "not_found", "metrics are off")
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(OPENAPI)

    # --- events ---------------------------------------------------------------------

    async def events(self, request: web.Request) -> web.StreamResponse:
        last = request.headers.get("Last-Event-ID", "0")
        if not last.isdigit():
            raise ApiError(400, "invalid_header", "Last-Event-ID is a number")
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        principal = request[PRINCIPAL]
        # A console login's stream lasts as long as the login: until it expires,
        # or, at the next event, once it logged out.
        login = request.get(console.CONSOLE_SESSION)
        cookie = request.cookies.get(self.console.cookie, "")
        try:
            async with asyncio.timeout_at(login.expires if login is not None else None):
                async for item in self.feed.follow(int(last)):
                    if login is not None and self.console.sessions.get(cookie) is None:
                        break
                    if self.ops.visible(principal, item.payload):
                        await response.write(_sse(item.id, item.type, item.payload))
        except TimeoutError:
            log.info("http_event_stream_login_expired", user=principal.user)
        except ConnectionResetError:
            pass  # the client went away: nothing more to send
        return response


def _sse(event_id: int, event_type: str, payload: dict[str, Any]) -> bytes:
    return f"id: {event_id}\nevent: {event_type}\ndata: {json.dumps(payload)}\n\n".encode()
