"""Signed coaching grants: how one node tells another "this supervisor may coach
that agent in these modes", pure, no I/O.

The supervisor's home node checks the permissions (its authorizer) and signs a
:class:`Grant`; the agent's node verifies the token and runs the session with
the modes it names, never trusting anything of the call that is not signed.

Token format (ASCII, fits a SIP header value or a dialplan argument: no commas,
no spaces)::

    v1.<payload>.<signature>

``payload`` is the base64url (no padding) of compact JSON with the keys
``iss`` (signing node), ``aud`` (the node that may use it), ``sup``
(supervisor user), ``ep`` (supervisor's endpoint), ``agent``, ``mode``
(requested), ``modes`` (granted, sorted), ``sid`` (session id), ``exp``
(expiry, Unix seconds) and ``nonce`` (random hex). ``signature`` is the
base64url of HMAC-SHA256 over ``"coachd-grant.v1." + payload`` with the
cluster's shared secret.

Verification (:class:`Verifier`): the signature (constant-time compare), then
the audience (this node), the expiry (and a token may not claim to live longer
than the verifier allows), then replay: a nonce is accepted once, remembered
until the token it came in expires.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

from coachd.core.modes import Mode, parse_mode

VERSION: Final = "v1"
_CONTEXT: Final = b"coachd-grant.v1."
MAX_TOKEN_LENGTH: Final = 2048
"""Longer tokens are refused unread (a SIP header is not a place for megabytes)."""
MAX_NONCES: Final = 100_000
"""Replay cache bound; when full, the verifier refuses new tokens (fails closed)."""
_B64 = re.compile(r"^[A-Za-z0-9_-]+$")
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_NONCE = re.compile(r"^[0-9a-f]{16,64}$")
_ENDPOINT = re.compile(r"^[A-Za-z0-9_-]+/[^/\s,]{1,80}$")
_KEYS: Final = frozenset(
    {"iss", "aud", "sup", "ep", "agent", "mode", "modes", "sid", "exp", "nonce"}
)


class GrantRefused(Exception):
    """A token that must not start a session; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason + (": " + detail if detail else ""))
        self.reason = reason
        self.detail = detail


REASONS: Final = ("malformed", "bad_signature", "wrong_node", "expired", "replayed")


@dataclass(frozen=True, slots=True)
class Grant:
    issuer: str
    """The node that checked the permissions and signed."""
    audience: str
    """The node that may run the session."""
    supervisor: str
    endpoint: str
    """The supervisor's endpoint on the issuing node (``PJSIP/2001``)."""
    agent: str
    mode: Mode
    modes: frozenset[Mode]
    session_id: str
    expires: float
    nonce: str

    def claims(self) -> dict[str, object]:
        return {
            "iss": self.issuer,
            "aud": self.audience,
            "sup": self.supervisor,
            "ep": self.endpoint,
            "agent": self.agent,
            "mode": self.mode.value,
            "modes": sorted(m.value for m in self.modes),
            "sid": self.session_id,
            "exp": int(self.expires),
            "nonce": self.nonce,
        }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not _B64.match(text):
        raise GrantRefused("malformed", "not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise GrantRefused("malformed", "not base64url") from None


def _mac(secret: bytes, payload: str, context: bytes = _CONTEXT) -> bytes:
    return hmac.new(secret, context + payload.encode("ascii"), hashlib.sha256).digest()


def new_nonce() -> str:
    return secrets.token_hex(16)


def seal(claims: dict[str, object], secret: bytes, context: bytes = _CONTEXT) -> str:
    """``v1.<payload>.<signature>`` of ``claims``; ``context`` keeps one kind of
    message from being taken for another (a grant for a forwarded request)."""
    if not secret:
        raise ValueError("an empty secret signs nothing")
    body = json.dumps(claims, separators=(",", ":"), sort_keys=True).encode()
    payload = _b64(body)
    return f"{VERSION}.{payload}.{_b64(_mac(secret, payload, context))}"


def unseal(token: str, secret: bytes, context: bytes = _CONTEXT) -> dict[str, object]:
    """The claims of an authentic token (signature checked, nothing else)."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise GrantRefused("malformed", "too long")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != VERSION:
        raise GrantRefused("malformed", "not a v1 token")
    _, payload, signature = parts
    if not _B64.match(payload):
        raise GrantRefused("malformed", "not base64url")
    given = _unb64(signature)
    if not hmac.compare_digest(given, _mac(secret, payload, context)):
        raise GrantRefused("bad_signature")
    # Authentic from here on: what follows only guards against our own bugs.
    try:
        claims = json.loads(_unb64(payload))
    except ValueError:
        raise GrantRefused("malformed", "payload is not JSON") from None
    if not isinstance(claims, dict):
        raise GrantRefused("malformed", "unexpected claims")
    return claims


def sign(grant: Grant, secret: bytes) -> str:
    """The token for ``grant``."""
    return seal(grant.claims(), secret)


def issue(
    *,
    secret: bytes,
    issuer: str,
    audience: str,
    supervisor: str,
    endpoint: str,
    agent: str,
    mode: Mode,
    modes: Iterable[Mode],
    session_id: str,
    ttl: float,
    now: float | None = None,
    nonce: str | None = None,
) -> tuple[Grant, str]:
    """A fresh grant valid for ``ttl`` seconds, and its token."""
    granted = frozenset(modes)
    if mode not in granted:
        raise ValueError("the requested mode must be among the granted ones")
    grant = Grant(
        issuer=issuer,
        audience=audience,
        supervisor=supervisor,
        endpoint=endpoint,
        agent=agent,
        mode=mode,
        modes=granted,
        session_id=session_id,
        expires=float(int((time.time() if now is None else now) + ttl)),
        nonce=nonce or new_nonce(),
    )
    return grant, sign(grant, secret)


def _text(claims: dict[str, object], key: str, pattern: re.Pattern[str]) -> str:
    value = claims.get(key)
    if not isinstance(value, str) or not pattern.match(value):
        raise GrantRefused("malformed", "bad " + key)
    return value


def decode(token: str, secret: bytes) -> Grant:
    """The grant of an authentic token (signature checked, nothing else)."""
    claims = unseal(token, secret)
    if set(claims) != _KEYS:
        raise GrantRefused("malformed", "unexpected claims")
    mode = parse_mode(str(claims.get("mode")))
    raw_modes = claims.get("modes")
    if not isinstance(raw_modes, list):
        raise GrantRefused("malformed", "bad modes")
    modes = [parse_mode(str(m)) for m in raw_modes]
    if mode is None or None in modes or mode not in modes:
        raise GrantRefused("malformed", "bad modes")
    expires = claims.get("exp")
    if not isinstance(expires, int) or isinstance(expires, bool):
        raise GrantRefused("malformed", "bad exp")
    return Grant(
        issuer=_text(claims, "iss", _ID),
        audience=_text(claims, "aud", _ID),
        supervisor=_text(claims, "sup", re.compile(r"^\S{1,128}$")),
        endpoint=_text(claims, "ep", _ENDPOINT),
        agent=_text(claims, "agent", _ID),
        mode=mode,
        modes=frozenset(m for m in modes if m is not None),
        session_id=_text(claims, "sid", _ID),
        expires=float(expires),
        nonce=_text(claims, "nonce", _NONCE),
    )


@dataclass
class Once:
    """Takes each addressed, unexpired (audience, expiry, nonce) once: the checks
    every sealed message gets after its signature."""

    node: str
    max_ttl: float = 60.0
    """A token may not expire later than this many seconds from now (clock skew
    included): a leaked long-lived token is refused even when authentic."""
    clock: Callable[[], float] = time.time
    max_nonces: int = MAX_NONCES
    _seen: dict[str, float] = field(default_factory=dict)
    """nonce -> expiry of the token it came in."""

    def check(self, audience: str, expires: float, nonce: str) -> None:
        """Raises :class:`GrantRefused`; an accepted nonce is never accepted again."""
        now = self.clock()
        if audience != self.node:
            raise GrantRefused("wrong_node", "addressed to " + audience)
        if expires <= now:
            raise GrantRefused("expired")
        if expires > now + self.max_ttl:
            raise GrantRefused("expired", "lives longer than allowed")
        self._forget(now)
        if nonce in self._seen:
            raise GrantRefused("replayed")
        if len(self._seen) >= self.max_nonces:
            raise GrantRefused("replayed", "replay cache full")
        self._seen[nonce] = expires

    def _forget(self, now: float) -> None:
        """Drop nonces of expired tokens: those tokens are refused as expired anyway."""
        for nonce in [n for n, exp in self._seen.items() if exp <= now]:
            del self._seen[nonce]

    @property
    def remembered(self) -> int:
        return len(self._seen)


@dataclass
class Verifier:
    """Accepts each authentic, unexpired grant addressed to ``node`` once."""

    node: str
    secret: bytes
    max_ttl: float = 60.0
    clock: Callable[[], float] = time.time
    max_nonces: int = MAX_NONCES
    once: Once = field(init=False)

    def __post_init__(self) -> None:
        self.once = Once(self.node, self.max_ttl, lambda: self.clock(), self.max_nonces)

    def verify(self, token: str) -> Grant:
        """The grant, or :class:`GrantRefused`; an accepted nonce is never accepted again."""
        grant = decode(token, self.secret)
        self.once.check(grant.audience, grant.expires, grant.nonce)
        return grant

    @property
    def remembered(self) -> int:
        return self.once.remembered
