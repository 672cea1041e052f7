"""Inbound control over MQTT (``[mqtt] control = true``): pure parsing and answers.

``<prefix>/sessions/<session_id>/set`` with ``{"mode": ..., "supervisor": ...}``
(optionally ``"request_id"``) asks to switch a session's mode; the answer goes to
``<prefix>/sessions/<session_id>/set/result``. Whether the switch then happened
is the ``mode_changed`` or ``mode_refused`` event on ``<prefix>/events``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

MAX_PAYLOAD = 4096
MAX_FIELD = 128


@dataclass(frozen=True, slots=True)
class SetRequest:
    mode: str
    supervisor: str
    request_id: str | None


class InvalidRequest(ValueError):
    pass


def parse_set_request(payload: bytes) -> SetRequest:
    if len(payload) > MAX_PAYLOAD:
        raise InvalidRequest("payload larger than " + str(MAX_PAYLOAD) + " bytes")
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("payload is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidRequest("payload is not a JSON object")
    unknown = sorted(set(data) - {"mode", "supervisor", "request_id"})
    if unknown:
        raise InvalidRequest("unknown field " + unknown[0])
    fields: dict[str, str | None] = {}
    for name in ("mode", "supervisor", "request_id"):
        value = data.get(name)
        if value is None and name == "request_id":
            fields[name] = None
            continue
        if not isinstance(value, str) or not value or len(value) > MAX_FIELD:
            raise InvalidRequest(name + ": a string of 1.." + str(MAX_FIELD) + " characters")
        fields[name] = value
    mode, supervisor = fields["mode"], fields["supervisor"]
    assert mode is not None and supervisor is not None
    return SetRequest(mode=mode, supervisor=supervisor, request_id=fields["request_id"])


def result_payload(request_id: str | None, error: str | None, detail: str = "") -> bytes:
    body: dict[str, object] = {"ok": error is None}
    if request_id is not None:
        body["request_id"] = request_id
    if error is not None:
        body["error"] = error
        if detail:
            body["detail"] = detail
    return json.dumps(body, separators=(",", ":")).encode()
