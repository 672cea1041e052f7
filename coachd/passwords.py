"""Supervisors' console passwords: PBKDF2-SHA256 hashes (``[[supervisors]] password_hash``).

The format, one string::

    pbkdf2_sha256$<iterations>$<salt>$<key>

``iterations`` is a decimal number (at least :data:`MIN_ITERATIONS`), ``salt``
(at least 16 bytes) and ``key`` (the 32-byte PBKDF2-HMAC-SHA256 output) are
standard base64. ``coachd hash-password`` prints one; Python's standard library
makes the same with ``hashlib.pbkdf2_hmac("sha256", password, salt, iterations)``.
Passwords are UTF-8.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

ALGORITHM = "pbkdf2_sha256"
ITERATIONS = 600_000
"""What :func:`hash_password` uses (OWASP's 2023 figure for PBKDF2-HMAC-SHA256)."""
MIN_ITERATIONS = 100_000
MAX_ITERATIONS = 10_000_000
SALT_BYTES = 16
KEY_BYTES = 32
MAX_PASSWORD = 256
"""Longer passwords are refused without hashing them (bounded work per login)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def hash_password(password: str, *, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    """``password`` as a ``pbkdf2_sha256$...`` string, with a random salt unless given."""
    if not password:
        raise ValueError("the password is empty")
    if len(password) > MAX_PASSWORD:
        raise ValueError(f"the password is longer than {MAX_PASSWORD} characters")
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    key = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations, KEY_BYTES)
    return f"{ALGORITHM}${iterations}${_b64(salt)}${_b64(key)}"


def parse_hash(encoded: str) -> tuple[int, bytes, bytes]:
    """``(iterations, salt, key)``; ValueError (without the hash in it) when malformed."""
    parts = encoded.split("$")
    if len(parts) != 4 or parts[0] != ALGORITHM:
        raise ValueError(f"not a {ALGORITHM}$<iterations>$<salt>$<key> hash (coachd hash-password)")
    if not parts[1].isdigit():
        raise ValueError("the iteration count is not a number")
    iterations = int(parts[1])
    if not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
        raise ValueError(
            f"the iteration count must be {MIN_ITERATIONS}..{MAX_ITERATIONS}, got {iterations}"
        )
    try:
        salt, key = _unb64(parts[2]), _unb64(parts[3])
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError("the salt or the key is not base64") from None
    if len(salt) < SALT_BYTES:
        raise ValueError(f"the salt must have at least {SALT_BYTES} bytes")
    if len(key) != KEY_BYTES:
        raise ValueError(f"the key must have {KEY_BYTES} bytes")
    return iterations, salt, key


def check_hash(encoded: str) -> None:
    """Configuration validator for ``password_hash``."""
    parse_hash(encoded)


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches ``encoded`` (compared in constant time).

    CPU-bound (about 0.3 s at :data:`ITERATIONS`): call it off the event loop.
    """
    iterations, salt, key = parse_hash(encoded)
    if not password or len(password) > MAX_PASSWORD:
        return False
    derived = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations, len(key))
    return hmac.compare_digest(derived, key)


def dummy_hash(iterations: int = ITERATIONS) -> str:
    """A valid hash that no password matches (in practice), checked against when the
    user is unknown or has no hash, so that a login takes as long either way."""
    return f"{ALGORITHM}${iterations}${_b64(b'coachd-dummy-salt')}${_b64(bytes(KEY_BYTES))}"


DUMMY_HASH = dummy_hash()
