"""Who may log in to the console: supervisors of the configuration, by ``password_hash``.

(VICIdial mode checks VICIdial's users instead: :mod:`coachd.vicidial.console`.)
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal, Protocol

from coachd.config import Config
from coachd.passwords import DUMMY_HASH, dummy_hash, parse_hash, verify_password

Refusal = Literal["invalid_credentials", "hashed_password", "not_permitted"]

HASHING_THREADS = 2
"""PBKDF2 runs in threads, at most this many at once (bounded CPU per burst of logins)."""


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    user: str | None
    """The user as coachd names them (sessions, events), when the login is good."""
    refusal: Refusal | None = None

    @classmethod
    def ok(cls, user: str) -> LoginOutcome:
        return cls(user)

    @classmethod
    def refused(cls, refusal: Refusal) -> LoginOutcome:
        return cls(None, refusal)


class Credentials(Protocol):
    async def check(self, user: str, password: str) -> LoginOutcome:
        """May raise :class:`~coachd.storage.errors.StoreError` (database backends)."""
        ...


class ConfigCredentials:
    """``[[supervisors]]`` with a ``password_hash``; others cannot log in. Unknown
    users cost the same hashing time as known ones."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._hashing = asyncio.Semaphore(HASHING_THREADS)
        hashes = [s.password_hash for s in config.supervisors if s.password_hash]
        # As costly as a real check: the iteration count the configured hashes use.
        self._dummy = dummy_hash(parse_hash(hashes[0])[0]) if hashes else DUMMY_HASH

    async def check(self, user: str, password: str) -> LoginOutcome:
        found = next((s for s in self.config.supervisors if s.user == user), None)
        encoded = found.password_hash if found is not None else None
        async with self._hashing:
            matched = await asyncio.to_thread(verify_password, password, encoded or self._dummy)
        if found is None or encoded is None or not matched:
            return LoginOutcome.refused("invalid_credentials")
        if found.user_level < self.config.policy.min_user_level:
            return LoginOutcome.refused("not_permitted")
        return LoginOutcome.ok(found.user)
