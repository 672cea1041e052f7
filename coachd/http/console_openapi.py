"""The console's part of the OpenAPI document (merged into :data:`coachd.http.openapi.OPENAPI`)."""

from __future__ import annotations

from typing import Any

MODES = ["monitor", "whisper", "private_whisper", "barge"]


def _json(ref: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/" + ref}}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): {"description": "error", **_json("Error")} for code in codes}


def _page(summary: str) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "security": [],
            "responses": {
                "200": {"description": "the file", "content": {"text/html": {}}},
                **_errors(404),
            },
        }
    }


CONSOLE_SECURITY = {"type": "apiKey", "in": "cookie", "name": "coachd_console"}
"""A console login (``__Host-coachd_console`` with ``[console] secure_cookie``);
state-changing requests also need the header ``X-CSRF-Token``."""

CONSOLE_PATHS: dict[str, Any] = {
    "/console": {
        "get": {
            "summary": "Redirects to /console/",
            "security": [],
            "responses": {"302": {"description": "to console/"}, **_errors(404)},
        }
    },
    "/console/": _page("The supervisors' console (404 unless [console] enabled)"),
    "/console/{file}": {
        "parameters": [
            {
                "name": "file",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "enum": ["index.html", "console.css", "console.js"]},
            }
        ],
        **_page("The console's files"),
    },
    "/v1/console/login": {
        "post": {
            "summary": "Log in to the console; sets the session cookie",
            "description": "5 failures per user (and 20 per client address) a minute, then 429"
            " with Retry-After. VICIdial mode: VICIdial's user and password.",
            "security": [],
            "requestBody": {"required": True, **_json("ConsoleLogin")},
            "responses": {
                "200": {"description": "logged in", **_json("ConsoleMe")},
                **_errors(400, 401, 403, 404, 415, 422, 429, 503),
            },
        }
    },
    "/v1/console/logout": {
        "post": {
            "summary": "End the console login (needs X-CSRF-Token)",
            "responses": {"204": {"description": "logged out"}, **_errors(401, 403)},
        }
    },
    "/v1/console/me": {
        "get": {
            "summary": "Who this request speaks for (and the login's CSRF token)",
            "responses": {
                "200": {"description": "principal", **_json("ConsoleMe")},
                **_errors(401),
            },
        }
    },
    "/v1/agents": {
        "get": {
            "summary": "Agents on calls that this principal may coach, with the modes allowed",
            "responses": {
                "200": {"description": "agents", **_json("AgentList")},
                **_errors(401, 502, 503),
            },
        }
    },
    "/v1/coverage": {
        "get": {
            "summary": "Minutes coached today per supervisor (a supervisor: their own)",
            "responses": {"200": {"description": "coverage", **_json("Coverage")}, **_errors(401)},
        }
    },
}

_NULLABLE_STRING = {"type": ["string", "null"]}

CONSOLE_SCHEMAS: dict[str, Any] = {
    "ConsoleLogin": {
        "type": "object",
        "required": ["user", "password"],
        "properties": {
            "user": {"type": "string", "minLength": 1, "maxLength": 64},
            "password": {"type": "string", "minLength": 1, "maxLength": 256},
        },
    },
    "ConsoleMe": {
        "type": "object",
        "required": ["user", "role", "csrf_token", "expires_at"],
        "properties": {
            "user": _NULLABLE_STRING,
            "role": {"type": "string", "enum": ["admin", "supervisor"]},
            "csrf_token": {**_NULLABLE_STRING, "description": "send as X-CSRF-Token"},
            "expires_at": _NULLABLE_STRING,
            "target_minutes": {"type": "number"},
            "endpoints": {"type": ["array", "null"], "items": {"type": "string"}},
        },
    },
    "Agent": {
        "type": "object",
        "required": ["agent", "endpoint", "since", "seconds", "modes", "coached", "sessions"],
        "properties": {
            "agent": {"type": "string", "description": "what POST /v1/sessions takes"},
            "name": _NULLABLE_STRING,
            "endpoint": {"type": "string"},
            "since": {**_NULLABLE_STRING, "format": "date-time"},
            "seconds": {"type": ["integer", "null"], "description": "call duration so far"},
            "campaign": _NULLABLE_STRING,
            "user_group": _NULLABLE_STRING,
            "modes": {
                "type": ["array", "null"],
                "items": {"type": "string", "enum": MODES},
                "description": "modes this supervisor may use; null for an admin token",
            },
            "coached": {"type": "boolean", "description": "a session runs on this agent"},
            "sessions": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/Session"},
                "description": "this principal's ringing or active sessions on the agent",
            },
        },
    },
    "AgentList": {
        "type": "object",
        "required": ["at", "agents"],
        "properties": {
            "at": {"type": "string", "format": "date-time"},
            "agents": {"type": "array", "items": {"$ref": "#/components/schemas/Agent"}},
        },
    },
    "Coverage": {
        "type": "object",
        "required": ["day", "target_minutes", "log_available", "supervisors"],
        "properties": {
            "day": {"type": "string", "format": "date"},
            "target_minutes": {"type": "number"},
            "log_available": {"type": "boolean"},
            "supervisors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["supervisor", "minutes", "by_mode", "running_sessions"],
                    "properties": {
                        "supervisor": {"type": "string"},
                        "minutes": {"type": "number"},
                        "by_mode": {
                            "type": "object",
                            "additionalProperties": {"type": "number"},
                        },
                        "running_sessions": {"type": "integer"},
                        "percent_of_target": {"type": ["number", "null"]},
                    },
                },
            },
        },
    },
}


def add_console(document: dict[str, Any]) -> None:
    """Add the console's routes, schemas and cookie security to ``document``."""
    document["paths"].update(CONSOLE_PATHS)
    document["components"]["schemas"].update(CONSOLE_SCHEMAS)
    document["components"]["securitySchemes"]["console"] = CONSOLE_SECURITY
    document["security"] = [*document["security"], {"console": []}]
