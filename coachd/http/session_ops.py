"""What the HTTP API does to one session: read it, switch its mode, play a cue,
end it. The same rules answer a local request and one that another node of
the cluster forwarded (:mod:`coachd.cluster.forwarding`); errors are
:class:`~coachd.http.common.ApiError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from coachd.cluster.forwarding import Answer, Forwarded, error_body
from coachd.core.modes import parse_mode
from coachd.engine import Engine
from coachd.http.common import ApiError
from coachd.http.feed import EventFeed, FeedItem

SESSION_ID = re.compile(r"^[0-9a-f]{12}$")
ANSWER_TIMEOUT = 3.0
"""How long a request waits for the session's answer (mode_changed, cue_played...)."""
MODES_TEXT = "mode is one of monitor, whisper, private_whisper, barge"


class Principal(Protocol):
    @property
    def role(self) -> str: ...

    @property
    def user(self) -> str | None: ...


class SessionOps:
    def __init__(self, engine: Engine, feed: EventFeed, cue_names: Sequence[str]) -> None:
        self.engine = engine
        self.feed = feed
        self.cue_names = tuple(cue_names)

    @staticmethod
    def visible(principal: Principal, view: dict[str, Any]) -> bool:
        return principal.role == "admin" or view.get("supervisor") == principal.user

    @staticmethod
    def check_id(session_id: str) -> str:
        if not SESSION_ID.match(session_id):
            raise ApiError(400, "invalid_id", "session ids are 12 hex digits", field="id")
        return session_id

    def view(self, session_id: str, principal: Principal) -> dict[str, Any]:
        view = self.feed.sessions.get(self.check_id(session_id))
        if view is None or not self.visible(principal, view):
            raise ApiError(404, "not_found", "no such session", id=session_id)
        return view

    async def set_mode(self, view: dict[str, Any], body: dict[str, Any], source: str) -> None:
        unknown = sorted(set(body) - {"mode"})
        if unknown:
            raise ApiError(422, "invalid_field", "unknown field", field=unknown[0])
        mode_name = body.get("mode")
        if not isinstance(mode_name, str) or parse_mode(mode_name) is None:
            raise ApiError(422, "invalid_field", MODES_TEXT, field="mode")
        if view["state"] != "active":
            raise ApiError(409, "session_not_active", "the session is over", id=view["session_id"])
        if view["mode"] == mode_name:
            return
        sid = view["session_id"]
        await self._ask(
            sid,
            lambda: self.engine.request_mode(sid, str(view["supervisor"]), mode_name, source),
            ("mode_changed", "mode_refused"),
            "mode change refused",
            mode=mode_name,
        )

    async def play_cue(self, view: dict[str, Any], body: dict[str, Any], source: str) -> str:
        """The cue played; its ``played_at``."""
        unknown = sorted(set(body) - {"cue"})
        if unknown:
            raise ApiError(422, "invalid_field", "unknown field", field=unknown[0])
        name = body.get("cue")
        if not isinstance(name, str) or name not in self.cue_names:
            raise ApiError(
                422, "invalid_field", "cue is one of " + ", ".join(self.cue_names), field="cue"
            )
        if view["state"] != "active":
            raise ApiError(409, "session_not_active", "the session is over", id=view["session_id"])
        sid = view["session_id"]
        outcome = await self._ask(
            sid,
            lambda: self.engine.request_cue(sid, str(view["supervisor"]), name, source),
            ("cue_played", "cue_refused"),
            "cue refused",
            cue=name,
        )
        return str(outcome.payload["at"])

    def end(self, view: dict[str, Any], source: str) -> None:
        if view["state"] != "active" or not self.engine.end_session(view["session_id"], source):
            raise ApiError(409, "session_not_active", "the session is over", id=view["session_id"])

    async def _ask(
        self,
        session_id: str,
        ask: Callable[[], str | None],
        outcomes: tuple[str, str],
        refused: str,
        **details: object,
    ) -> FeedItem:
        """``ask`` the session, then wait for its answer: ``outcomes`` = (done, refused)
        events. Refusals are 403 (not permitted) or 409; no answer in time is 504."""
        after = self.feed.last_id
        error = ask()
        if error is not None:
            raise ApiError(403 if error == "not_permitted" else 409, error, refused, **details)
        try:
            outcome = await self.feed.next_outcome(session_id, after, ANSWER_TIMEOUT, outcomes)
        except TimeoutError:
            raise ApiError(504, "timeout", "the session did not answer in time") from None
        if outcome is None or outcome.type != outcomes[0]:
            reason = str(outcome.payload.get("reason") if outcome else "unknown")
            raise ApiError(403 if reason == "not_permitted" else 409, reason, refused, **details)
        return outcome

    # --- a request another node forwarded ------------------------------------------

    async def perform(self, request: Forwarded) -> Answer:
        """Answer ``request`` as this node's API would answer it."""
        try:
            return await self._perform(request)
        except ApiError as exc:
            return Answer(exc.status, error_body(exc.code, exc.message, **exc.details))

    async def _perform(self, request: Forwarded) -> Answer:
        if request.source == "mqtt":
            return self._mqtt_set(request)
        view = self.view(request.session_id, request)
        source = request.source
        match request.action:
            case "get":
                return Answer(200, dict(view))
            case "mode":
                await self.set_mode(view, request.body, source)
                return Answer(200, dict(self.feed.sessions[view["session_id"]]))
            case "cue":
                at = await self.play_cue(view, request.body, source)
                body = {"session_id": view["session_id"], "cue": request.body["cue"]}
                return Answer(201, {**body, "played_at": at})
            case _:
                self.end(view, source)
                return Answer(202, {"session_id": view["session_id"], "state": "ending"})

    def _mqtt_set(self, request: Forwarded) -> Answer:
        """An MQTT ``set`` request, answered as this node's MQTT control answers it:
        passed to the session (200), or why not (409, the code as ``set/result``
        gives it)."""
        mode = request.body.get("mode")
        if request.action != "mode" or not isinstance(mode, str) or request.user is None:
            return Answer(409, error_body("invalid_request", "a mode and a supervisor"))
        error = self.engine.request_mode(request.session_id, request.user, mode, "mqtt")
        if error is not None:
            return Answer(409, error_body(error, "mode change refused"))
        return Answer(200, {"session_id": request.session_id, "mode": mode})
