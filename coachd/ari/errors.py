"""Errors raised by the ARI client, carrying Asterisk's own message."""

from __future__ import annotations

from coachd.errors import CoachdError


class AriError(CoachdError):
    """An ARI request failed. ``status`` is 0 when Asterisk could not be reached."""

    def __init__(self, status: int, message: str, *, method: str, path: str) -> None:
        self.status = status
        self.message = message
        self.method = method
        self.path = path
        super().__init__(f"{method} {path}: {status} {message}")


class AriUnavailable(AriError):
    """Asterisk did not answer (connection refused, timeout, 5xx)."""


class AriBadRequest(AriError):
    """400: a parameter Asterisk would not take."""


class AriNotFound(AriError):
    """404: the channel, bridge, endpoint or playback does not exist (any more)."""


class AriConflict(AriError):
    """409: e.g. the bridge or channel is not in this Stasis application."""


class AriUnprocessable(AriError):
    """422: e.g. the channel is not in this Stasis application."""


def error_for_status(status: int, message: str, *, method: str, path: str) -> AriError:
    cls: type[AriError]
    if status == 400:
        cls = AriBadRequest
    elif status == 404:
        cls = AriNotFound
    elif status == 409:
        cls = AriConflict
    elif status == 422:
        cls = AriUnprocessable
    elif status == 0 or status >= 500:
        cls = AriUnavailable
    else:
        cls = AriError
    return cls(status, message, method=method, path=path)
