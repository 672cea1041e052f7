"""What every part of the HTTP API shares: the error shape, the principal's request key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from coachd.config import TokenConfig

PRINCIPAL = web.RequestKey("coachd.principal", TokenConfig)
"""Who a request speaks for: a bearer token, or a console login (a supervisor)."""
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **details: object) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def error_response(status: int, code: str, message: str, details: object = None) -> web.Response:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return web.json_response(body, status=status)


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body; 415, 400 or 422 (ApiError) otherwise."""
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "send application/json")
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "the body is not JSON") from None
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_body", "the body is a JSON object")
    return body
