"""The OpenAPI 3.1 document of the HTTP API (served at /openapi.json)."""

from __future__ import annotations

from typing import Any

from coachd import __version__
from coachd.alerts.openapi import ALERTS_PATH, ALERTS_SCHEMAS
from coachd.http.console_openapi import add_console

MODE = {"type": "string", "enum": ["monitor", "whisper", "private_whisper", "barge"]}
ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[0-9a-f]{12}$"},
}


def _json(ref: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/" + ref}}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): {"description": "error", **_json("Error")} for code in codes}


FORWARDED = (
    "With [cluster], a session handed over to another node (the agent's call is there)"
    " keeps its id; this node forwards the request to that node over MQTT and answers"
    " with its answer; 504 node_unreachable when it does not answer within 5 s."
)

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "coachd",
        "version": __version__,
        "description": "Real-time call coaching for Asterisk: sessions, events, health.",
    },
    "security": [{"bearer": []}],
    "paths": {
        "/healthz": {
            "get": {
                "summary": "The process is up",
                "security": [],
                "responses": {"200": {"description": "up"}},
            }
        },
        "/readyz": {
            "get": {
                "summary": "Connected to Asterisk",
                "security": [],
                "responses": {"200": {"description": "ready"}, **_errors(503)},
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1"}},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {
                    "200": {"description": "text exposition format", "content": {"text/plain": {}}},
                    **_errors(401),
                },
            }
        },
        "/v1/sessions": {
            "get": {
                "summary": "Sessions the token may see (ringing, active, recently ended)",
                "responses": {
                    "200": {"description": "sessions", **_json("SessionList")},
                    **_errors(401),
                },
            },
            "post": {
                "summary": "Ring the supervisor's phone; answered, the session starts",
                "requestBody": {"required": True, **_json("NewSession")},
                "responses": {
                    "202": {"description": "ringing", **_json("Ringing")},
                    **_errors(400, 401, 403, 404, 409, 415, 422, 502, 503),
                },
            },
        },
        "/v1/sessions/{id}": {
            "parameters": [ID],
            "get": {
                "summary": "One session",
                "description": FORWARDED,
                "responses": {
                    "200": {"description": "session", **_json("Session")},
                    **_errors(400, 401, 404, 504),
                },
            },
            "patch": {
                "summary": "Switch the mode; returns once the new routing is in place",
                "description": FORWARDED,
                "requestBody": {"required": True, **_json("ModeChange")},
                "responses": {
                    "200": {"description": "switched", **_json("Session")},
                    **_errors(400, 401, 403, 404, 409, 415, 422, 504),
                },
            },
            "delete": {
                "summary": "End the session",
                "description": FORWARDED,
                "responses": {
                    "202": {"description": "ending"},
                    **_errors(400, 401, 404, 409, 504),
                },
            },
        },
        "/v1/sessions/{id}/cues": {
            "parameters": [ID],
            "post": {
                "summary": "Play a whisper cue into the agent's ear (never the caller's)",
                "description": "Returns once the cue is playing; the event is cue_played.",
                "requestBody": {"required": True, **_json("Cue")},
                "responses": {
                    "201": {"description": "playing", **_json("CuePlayed")},
                    **_errors(400, 401, 403, 404, 409, 415, 422, 504),
                },
            },
        },
        "/v1/alerts": ALERTS_PATH,
        "/v1/events": {
            "get": {
                "summary": "Session events as Server-Sent Events (payloads as on MQTT)",
                "parameters": [
                    {
                        "name": "Last-Event-ID",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "pattern": "^[0-9]+$"},
                    }
                ],
                "responses": {
                    "200": {"description": "event stream", "content": {"text/event-stream": {}}},
                    **_errors(400, 401),
                },
            }
        },
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message", "details"],
                        "properties": {
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                            "details": {"type": "object"},
                        },
                    }
                },
            },
            "Session": {
                "type": "object",
                "required": ["session_id", "agent", "supervisor", "state"],
                "properties": {
                    "session_id": {"type": "string"},
                    "agent": {"type": "string"},
                    "supervisor": {"type": ["string", "null"]},
                    "endpoint": {"type": ["string", "null"]},
                    "mode": {"oneOf": [MODE, {"type": "null"}]},
                    "state": {"type": "string", "enum": ["ringing", "active", "ended", "refused"]},
                    "started_at": {"type": ["string", "null"]},
                    "mode_since": {"type": ["string", "null"]},
                    "ended_at": {"type": ["string", "null"]},
                    "reason": {"type": ["string", "null"]},
                },
            },
            "SessionList": {
                "type": "object",
                "required": ["sessions"],
                "properties": {
                    "sessions": {"type": "array", "items": {"$ref": "#/components/schemas/Session"}}
                },
            },
            "NewSession": {
                "type": "object",
                "additionalProperties": False,
                "required": ["supervisor", "agent", "mode"],
                "properties": {
                    "supervisor": {"type": "string", "minLength": 1, "maxLength": 64},
                    "agent": {"type": "string", "minLength": 1, "maxLength": 64},
                    "mode": MODE,
                    "supervisor_endpoint": {"type": "string"},
                },
            },
            "Ringing": {
                "type": "object",
                "required": ["session_id", "state"],
                "properties": {"session_id": {"type": "string"}, "state": {"const": "ringing"}},
            },
            "Cue": {
                "type": "object",
                "required": ["cue"],
                "additionalProperties": False,
                "properties": {"cue": {"type": "string", "description": "one of [cues] names"}},
            },
            "CuePlayed": {
                "type": "object",
                "required": ["session_id", "cue", "played_at"],
                "properties": {
                    "session_id": {"type": "string"},
                    "cue": {"type": "string"},
                    "played_at": {"type": "string", "format": "date-time"},
                },
            },
            **ALERTS_SCHEMAS,
            "ModeChange": {
                "type": "object",
                "additionalProperties": False,
                "required": ["mode"],
                "properties": {"mode": MODE},
            },
        },
    },
}

add_console(OPENAPI)
