"""``GET /v1/alerts`` in the OpenAPI document (:mod:`coachd.http.openapi` includes it)."""

from __future__ import annotations

from typing import Any

_TIME = {"type": "string", "format": "date-time"}
_ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}

ALERTS_PATH: dict[str, Any] = {
    "get": {
        "summary": "Who to coach: agents below the conversion threshold, ranked",
        "description": (
            "The list of the alerts job's last run ([alerts]), as retained on MQTT at"
            " <prefix>/alerts. An admin token sees every alert; a supervisor's token,"
            " in VICIdial mode, the agents its coachd_grants cover. Before the first"
            " run `at` is null and the list empty; 404 when [alerts] is off."
        ),
        "responses": {
            "200": {
                "description": "the last list",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/AlertList"}}
                },
            },
            **{str(code): {"description": "error", **_ERROR} for code in (401, 404, 503)},
        },
    }
}

ALERTS_SCHEMAS: dict[str, Any] = {
    "AlertList": {
        "type": "object",
        "required": ["at", "instance", "alerts"],
        "properties": {
            "at": {"type": ["string", "null"], "format": "date-time"},
            "instance": {"type": "string"},
            "window": {
                "type": "object",
                "required": ["from", "to", "hours"],
                "properties": {"from": _TIME, "to": _TIME, "hours": {"type": "number"}},
            },
            "min_calls": {"type": "integer"},
            "below_conversion": {"type": "number"},
            "campaigns": {"type": "array", "items": {"type": "string"}},
            "sale_statuses": {"type": "object"},
            "alerts": {"type": "array", "items": {"$ref": "#/components/schemas/Alert"}},
        },
    },
    "Alert": {
        "type": "object",
        "required": ["rank", "agent", "calls", "sales", "conversion", "since", "new"],
        "properties": {
            "rank": {"type": "integer", "minimum": 1},
            "agent": {"type": "string"},
            "calls": {"type": "integer"},
            "sales": {"type": "integer"},
            "conversion": {"type": "number", "description": "percent, 2 decimals"},
            "since": {**_TIME, "description": "when the agent was last alerted"},
            "new": {"type": "boolean", "description": "alerted by this run"},
            "campaigns": {"type": "array", "items": {"type": "string"}},
            "user_groups": {"type": "array", "items": {"type": "string"}},
        },
    },
}
