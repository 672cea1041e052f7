"""The console's server-side login sessions (in memory) and its login rate limit.

A session is a random 256-bit token (the cookie) and a CSRF token, both from
:mod:`secrets`; only a SHA-256 digest of the cookie token is kept as the key.
Sessions end at logout or ``ttl`` seconds after login, and are lost when coachd
restarts (supervisors log in again). Every bound is fixed so that no client can
grow memory without limit.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MAX_SESSIONS = 10_000
MAX_PER_USER = 20
"""A user's oldest session ends when they log in once more than this."""


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    user: str
    csrf: str
    expires: float
    """On the store's (monotonic) clock."""
    expires_at: datetime
    """The same moment in UTC, for people."""


class ConsoleSessions:
    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._sessions: OrderedDict[str, ConsoleSession] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, user: str) -> tuple[str, ConsoleSession]:
        """A new session for ``user``: ``(cookie token, session)``."""
        self._purge()
        mine = [k for k, s in self._sessions.items() if s.user == user]
        for key in mine[: max(0, len(mine) - MAX_PER_USER + 1)]:
            del self._sessions[key]
        while len(self._sessions) >= MAX_SESSIONS:
            self._sessions.popitem(last=False)
        token = secrets.token_urlsafe(32)
        session = ConsoleSession(
            user=user,
            csrf=secrets.token_urlsafe(32),
            expires=self._clock() + self.ttl,
            expires_at=datetime.now(UTC) + timedelta(seconds=self.ttl),
        )
        self._sessions[_key(token)] = session
        return token, session

    def get(self, token: str) -> ConsoleSession | None:
        """The live session of cookie ``token``, or None (unknown, ended or expired)."""
        if not token or len(token) > 128:
            return None
        key = _key(token)
        session = self._sessions.get(key)
        if session is not None and session.expires <= self._clock():
            del self._sessions[key]
            return None
        return session

    def drop(self, token: str) -> None:
        self._sessions.pop(_key(token), None)

    def _purge(self) -> None:
        now = self._clock()
        for key in [k for k, s in self._sessions.items() if s.expires <= now]:
            del self._sessions[key]


class LoginLimiter:
    """At most ``failures`` failed logins per user name (case-insensitive) and
    ``per_address`` per client address within ``window`` seconds; past that,
    logins are refused without checking the password until the oldest failure
    is ``window`` seconds old. Attempts still being checked count too, so a
    burst of parallel requests gets no more tries (:meth:`begin`, :meth:`end`)."""

    MAX_KEYS = 10_000

    def __init__(
        self,
        failures: int = 5,
        window: float = 60.0,
        *,
        per_address: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = failures
        self.window = window
        self.per_address = per_address
        self._clock = clock
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()
        self._pending: dict[str, int] = {}

    def begin(self, user: str, address: str) -> float:
        """Seconds to wait (refused), or 0: the attempt may go on and is pending until
        :meth:`end`."""
        wait = self.retry_after(user, address)
        if wait == 0:
            for key in (_user(user), _addr(address)):
                self._pending[key] = self._pending.get(key, 0) + 1
        return wait

    def end(self, user: str, address: str, *, ok: bool) -> None:
        """The attempt :meth:`begin` let through succeeded or failed."""
        self.cancel(user, address)
        if ok:
            self.succeeded(user)
        else:
            self.failed(user, address)

    def cancel(self, user: str, address: str) -> None:
        """The attempt could not be judged: it counts as nothing."""
        for key in (_user(user), _addr(address)):
            left = self._pending.get(key, 0) - 1
            if left > 0:
                self._pending[key] = left
            else:
                self._pending.pop(key, None)

    def retry_after(self, user: str, address: str) -> float:
        """Seconds until ``user`` may try again from ``address`` (0: now)."""
        now = self._clock()
        waits = [
            self._wait(key, limit, now)
            for key, limit in ((_user(user), self.failures), (_addr(address), self.per_address))
        ]
        return max(waits)

    def failed(self, user: str, address: str) -> None:
        now = self._clock()
        for key in (_user(user), _addr(address)):
            times = self._seen.pop(key, None) or deque(maxlen=max(self.failures, self.per_address))
            times.append(now)
            self._seen[key] = times
        while len(self._seen) > self.MAX_KEYS:
            self._seen.popitem(last=False)

    def succeeded(self, user: str) -> None:
        self._seen.pop(_user(user), None)

    def _wait(self, key: str, limit: int, now: float) -> float:
        times = self._seen.get(key)
        while times and times[0] <= now - self.window:
            times.popleft()
        if times is not None and not times:
            del self._seen[key]
            times = None
        failures = len(times) if times else 0
        if failures + self._pending.get(key, 0) < limit:
            return 0.0
        if times is None or failures < limit:
            return 1.0  # attempts in progress decide: ask again in a moment
        return times[-limit] + self.window - now


def _user(user: str) -> str:
    return "user:" + user.casefold()


def _addr(address: str) -> str:
    return "addr:" + address
