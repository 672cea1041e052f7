"""Per-field validators and redactors used by the configuration schema.

A validator takes an already type-checked value and raises ``ValueError``
with a human-readable message when the value is unacceptable.  Messages
must never echo secrets: URL validators show the URL with its password
masked.
"""

import ipaddress
import re
import zoneinfo
from urllib.parse import urlsplit

MASK = "********"

_APP_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TECH_RE = re.compile(r"[A-Za-z0-9_-]+")
_ENDPOINT_RE = re.compile(r"[A-Za-z0-9_-]+/[^/\s]+")
_PORT_RE = re.compile(r"[0-9]{1,5}")


def mask(value: object) -> str:
    """Replace a secret value entirely."""
    return MASK


def mask_url(url: str) -> str:
    """Mask only the password part of ``scheme://user:password@host/...``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, slash, path = rest.partition("/")
    userinfo, at, hostport = netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:{MASK}@{hostport}{slash}{path}"


def _port(url: str) -> int | None:
    try:
        return urlsplit(url).port
    except ValueError:
        return -1


def nonempty(value: str) -> None:
    if not value.strip():
        raise ValueError("must not be empty")


def positive(value: float) -> None:
    if value <= 0:
        raise ValueError(f"must be greater than 0, got {value}")


def non_negative(value: int) -> None:
    if value < 0:
        raise ValueError(f"must not be negative, got {value}")


def http_url(value: str) -> None:
    parts = urlsplit(value)
    port = _port(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or port in (-1, 0):
        raise ValueError(f"not an http(s) URL: {mask_url(value)!r}")


def mqtt_url(value: str) -> None:
    parts = urlsplit(value)
    port = _port(value)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname or not port or port < 0:
        raise ValueError(f"not an mqtt(s)://host:port URL: {mask_url(value)!r}")


def database_url(value: str) -> None:
    if value.startswith("sqlite:///") and len(value) > len("sqlite:///"):
        return
    if value.startswith("mysql://") and urlsplit(value).hostname and _port(value) != -1:
        return
    raise ValueError(
        f"expected mysql://user:password@host/db or sqlite:///path, got {mask_url(value)!r}"
    )


def app_name(value: str) -> None:
    if not _APP_RE.fullmatch(value):
        raise ValueError(f"must match [A-Za-z0-9_-]{{1,64}}, got {value!r}")


def technologies(value: tuple[str, ...]) -> None:
    if not value:
        raise ValueError("must not be empty")
    for tech in value:
        if not _TECH_RE.fullmatch(tech):
            raise ValueError(f"not a channel technology name: {tech!r}")


def endpoints(value: tuple[str, ...]) -> None:
    if not value:
        raise ValueError("must not be empty")
    for endpoint in value:
        if not _ENDPOINT_RE.fullmatch(endpoint):
            raise ValueError(f"expected TECH/resource (e.g. 'PJSIP/2001'), got {endpoint!r}")
    _unique(value)


def modes(value: tuple[str, ...]) -> None:
    if not value:
        raise ValueError("must not be empty")
    _unique(value)


def _unique(value: tuple[str, ...]) -> None:
    seen: set[str] = set()
    for item in value:
        if item in seen:
            raise ValueError(f"duplicate entry {item!r}")
        seen.add(item)


def topic_prefix(value: str) -> None:
    nonempty(value)
    if any(c in value for c in "+#\0"):
        raise ValueError(f"must not contain MQTT wildcards or NUL, got {value!r}")


def split_listen(value: str) -> tuple[str, int]:
    """Split ``host:port`` / ``[v6]:port``; raise ``ValueError`` when malformed."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not host or not _PORT_RE.fullmatch(port_text):
        raise ValueError(f"expected host:port, got {value!r}")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError(f"port must be in 1..65535, got {port}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"IPv6 addresses must be bracketed ([::1]:8080), got {value!r}")
    if not host:
        raise ValueError(f"expected host:port, got {value!r}")
    return host, port


def listen(value: str) -> None:
    split_listen(value)


def timezone(value: str) -> None:
    """An IANA time zone name the host's time zone database knows."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (e.g. 'America/New_York')") from None


def ipv4(value: str) -> None:
    """A dotted IPv4 address (what VICIdial keeps in its server_ip columns)."""
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError(f"expected an IPv4 address such as 10.0.0.5, got {value!r}") from None


_CUE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_RESERVED_DIGITS = frozenset("456*#")
"""Mode digits in both keymaps, end and volume."""


def cue_names(value: tuple[str, ...]) -> None:
    for name in value:
        if not _CUE_NAME.match(name):
            raise ValueError(f"{name!r} is not a cue name (a-z, 0-9, '-', at most 64)")
    _unique(value)


def cue_digits(value: tuple[str, ...]) -> None:
    digits = []
    for item in value:
        digit, sep, name = item.partition(":")
        if not sep or len(digit) != 1 or not digit.isdigit() or not _CUE_NAME.match(name):
            raise ValueError(f"{item!r} is not '<digit>:<cue>'")
        if digit in _RESERVED_DIGITS:
            raise ValueError(f"{digit} switches modes; cues may use 0-3 and 7-9")
        digits.append(digit)
    _unique(tuple(digits))
