"""Requests for a session that runs on another node, over the cluster's MQTT link.

A session started on this node (the supervisor's home: ``*223<agent>`` or
``POST /v1/sessions``) for an agent on another node runs there, under the same
session id. The supervisor's dashboard still talks to its home node: its
``GET``/``PATCH``/``DELETE /v1/sessions/{id}``, ``POST .../cues`` and MQTT
``set`` requests for that session are sent to the session's node, which
answers as its own HTTP API would, and the home node passes the answer on.

Topics (under ``cluster.topic_prefix``; QoS 1, not retained)::

    <prefix>/<node>/requests   requests for sessions running on <node>
    <prefix>/<node>/replies    answers to the requests <node> sent

The session's node also sends each of the session's events to the home node,
on ``<prefix>/<home>/events`` (sealed the same way, context
``coachd-event.v1.``), so that the home node's event stream and session list
show it.

Each payload is a sealed token (:func:`coachd.cluster.signing.seal`, HMAC-SHA256
with ``cluster.secret``, contexts ``coachd-request.v1.`` and ``coachd-reply.v1.``)
addressed to one node, valid for :data:`MESSAGE_TTL` seconds and taken once.
The home node authenticated the user; the session's node checks that the
session is that user's, as for a local request.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

import structlog

from coachd.cluster.signing import GrantRefused, Once, new_nonce, seal, unseal
from coachd.core.commands import Publish
from coachd.mqtt.topics import Message, topic_level

log = structlog.get_logger(__name__)

REQUEST_CONTEXT: Final = b"coachd-request.v1."
REPLY_CONTEXT: Final = b"coachd-reply.v1."
EVENT_CONTEXT: Final = b"coachd-event.v1."
EVENT_TYPES: Final = frozenset(
    {
        "session_started",
        "mode_changed",
        "mode_refused",
        "session_ended",
        "session_refused",
        "time_limit_warning",
        "cue_played",
        "cue_refused",
    }
)
MESSAGE_TTL: Final = 10.0
ANSWER_TIMEOUT: Final = 5.0
"""How long the home node waits for the session's node (its own wait is 3 s)."""
ACTIONS: Final = frozenset({"get", "mode", "cue", "end"})
MAX_HANDOFFS: Final = 10_000
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

Role = Literal["admin", "supervisor"]


@dataclass(frozen=True, slots=True)
class Forwarded:
    """A request for a session on this node, sent by the node that handed it over."""

    request_id: str
    origin: str
    session_id: str
    action: str
    role: Role
    user: str | None
    body: dict[str, Any]
    source: str
    """``api`` or ``mqtt``: where the home node got the request."""


@dataclass(frozen=True, slots=True)
class Answer:
    """The session's node's answer: an HTTP status and body, as its API gives them."""

    status: int
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ForwardTopics:
    prefix: str

    def requests(self, node: str) -> str:
        return f"{self.prefix}/{topic_level(node)}/requests"

    def replies(self, node: str) -> str:
        return f"{self.prefix}/{topic_level(node)}/replies"

    def events(self, node: str) -> str:
        return f"{self.prefix}/{topic_level(node)}/events"


@dataclass(frozen=True, slots=True)
class HandedOver:
    node: str
    agent: str


class Handoffs:
    """Sessions this node handed over: session id -> where it runs (bounded: the
    oldest are forgotten first)."""

    def __init__(self, limit: int = MAX_HANDOFFS) -> None:
        self._sessions: OrderedDict[str, HandedOver] = OrderedDict()
        self._limit = limit

    def add(self, session_id: str, node: str, agent: str) -> None:
        self._sessions[session_id] = HandedOver(node, agent)
        self._sessions.move_to_end(session_id)
        while len(self._sessions) > self._limit:
            self._sessions.popitem(last=False)

    def node_of(self, session_id: str) -> str | None:
        handed = self._sessions.get(session_id)
        return handed.node if handed is not None else None

    def pop(self, session_id: str) -> HandedOver | None:
        return self._sessions.pop(session_id, None)

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._sessions


def error_body(code: str, message: str, **details: object) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


class Forwarder:
    """Both ends: :meth:`ask` on the home node, :meth:`take` and :meth:`answer` on
    the session's node. Sends through ``send`` (the cluster link's queue)."""

    def __init__(
        self,
        node: str,
        secret: bytes,
        prefix: str,
        send: Callable[[list[Message]], None],
        *,
        timeout: float = ANSWER_TIMEOUT,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.node = node
        self.topics = ForwardTopics(prefix)
        self.send = send
        self.timeout = timeout
        self._secret = secret
        self._once = Once(node, MESSAGE_TTL + 5.0)
        if clock is not None:
            self._once.clock = clock
        self._pending: dict[str, asyncio.Future[Answer]] = {}

    def _expiry(self) -> int:
        return int(self._once.clock() + MESSAGE_TTL)

    # --- the home node -------------------------------------------------------------

    async def ask(
        self,
        node: str,
        session_id: str,
        action: str,
        *,
        role: Role,
        user: str | None,
        body: dict[str, Any],
        source: str,
    ) -> Answer:
        """Send a request to ``node`` and wait for its answer; 504 when none comes."""
        request_id = new_nonce()
        claims: dict[str, object] = {
            "iss": self.node,
            "aud": node,
            "rid": request_id,
            "sid": session_id,
            "act": action,
            "role": role,
            "user": user,
            "body": body,
            "src": source,
            "exp": self._expiry(),
            "nonce": new_nonce(),
        }
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        token = seal(claims, self._secret, REQUEST_CONTEXT)
        self.send([Message(self.topics.requests(node), token.encode(), retain=False)])
        try:
            return await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            log.warning("cluster_request_unanswered", node=node, session_id=session_id)
            return Answer(
                504,
                error_body(
                    "node_unreachable",
                    "the node running the session did not answer in time",
                    node=node,
                ),
            )
        finally:
            self._pending.pop(request_id, None)

    def on_reply(self, payload: bytes) -> None:
        """An answer on this node's replies topic."""
        try:
            claims = self._open(payload, REPLY_CONTEXT)
            request_id, status, body = claims["rid"], claims["status"], claims["body"]
            if not isinstance(status, int) or not isinstance(body, dict):
                raise GrantRefused("malformed", "bad reply")
        except GrantRefused as exc:
            log.warning("cluster_reply_refused", reason=exc.reason, detail=exc.detail)
            return
        future = self._pending.get(str(request_id))
        if future is not None and not future.done():
            future.set_result(Answer(status, body))

    # --- the session's node ----------------------------------------------------------

    def take(self, payload: bytes) -> Forwarded | None:
        """The request a message on this node's requests topic carries, if authentic."""
        try:
            claims = self._open(payload, REQUEST_CONTEXT)
            request = Forwarded(
                request_id=_text(claims, "rid"),
                origin=_text(claims, "iss"),
                session_id=_text(claims, "sid"),
                action=_text(claims, "act"),
                role=_role(claims.get("role")),
                user=_optional_text(claims.get("user")),
                body=_dict(claims.get("body")),
                source=_text(claims, "src"),
            )
            if request.action not in ACTIONS or request.source not in ("api", "mqtt"):
                raise GrantRefused("malformed", "unknown action")
            if request.role == "supervisor" and request.user is None:
                raise GrantRefused("malformed", "a supervisor without a name")
        except GrantRefused as exc:
            log.warning("cluster_request_refused", reason=exc.reason, detail=exc.detail)
            return None
        return request

    def answer(self, request: Forwarded, answer: Answer) -> None:
        claims: dict[str, object] = {
            "iss": self.node,
            "aud": request.origin,
            "rid": request.request_id,
            "status": answer.status,
            "body": answer.body,
            "exp": self._expiry(),
            "nonce": new_nonce(),
        }
        token = seal(claims, self._secret, REPLY_CONTEXT)
        self.send([Message(self.topics.replies(request.origin), token.encode(), retain=False)])

    # --- events of handed-over sessions ----------------------------------------------

    def mirror(self, home: str, event: Publish) -> None:
        """Send an event of a session handed over by ``home`` to it."""
        claims: dict[str, object] = {
            "iss": self.node,
            "aud": home,
            "type": event.type,
            "seq": event.seq,
            "data": event.data,
            "exp": self._expiry(),
            "nonce": new_nonce(),
        }
        token = seal(claims, self._secret, EVENT_CONTEXT)
        self.send([Message(self.topics.events(home), token.encode(), retain=False)])

    def take_event(self, payload: bytes) -> Publish | None:
        """An event another node sent of a session handed over by this one."""
        try:
            claims = self._open(payload, EVENT_CONTEXT)
            kind, seq, data = claims.get("type"), claims.get("seq"), _dict(claims.get("data"))
            if kind not in EVENT_TYPES or not isinstance(seq, int) or isinstance(seq, bool):
                raise GrantRefused("malformed", "bad event")
            if not isinstance(data.get("session_id"), str):
                raise GrantRefused("malformed", "bad session_id")
        except GrantRefused as exc:
            log.warning("cluster_event_refused", reason=exc.reason, detail=exc.detail)
            return None
        return Publish(str(kind), seq, data)

    def _open(self, payload: bytes, context: bytes) -> dict[str, object]:
        try:
            token = payload.decode("ascii")
        except UnicodeDecodeError:
            raise GrantRefused("malformed", "not ASCII") from None
        claims = unseal(token, self._secret, context)
        expires = claims.get("exp")
        if not isinstance(expires, int) or isinstance(expires, bool):
            raise GrantRefused("malformed", "bad exp")
        self._once.check(_text(claims, "aud"), float(expires), _text(claims, "nonce"))
        return claims


def _text(claims: dict[str, object], key: str) -> str:
    value = claims.get(key)
    if not isinstance(value, str) or not _ID.match(value):
        raise GrantRefused("malformed", "bad " + key)
    return value


def _optional_text(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= 128:
        raise GrantRefused("malformed", "bad user")
    return value


def _role(value: object) -> Role:
    if value == "admin":
        return "admin"
    if value == "supervisor":
        return "supervisor"
    raise GrantRefused("malformed", "bad role")


def _dict(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise GrantRefused("malformed", "bad body")
    return value
