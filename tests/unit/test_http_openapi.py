"""The OpenAPI document matches the routes the API serves."""

from __future__ import annotations

import json
from typing import Any

from coachd.config import parse_config
from coachd.core.registry import Registry
from coachd.http.api import Api
from coachd.http.feed import EventFeed
from coachd.http.openapi import OPENAPI


def test_every_route_is_documented_and_every_documented_route_exists() -> None:
    config = parse_config(
        {"ari": {"url": "http://127.0.0.1:8088", "username": "u", "password": "p"}}, {}
    )
    engine: Any = type("E", (), {"registry": Registry()})()
    app = Api(config=config, engine=engine, feed=EventFeed("t"), ready=lambda: True).app()
    served = {
        (route.resource.canonical, route.method.lower())
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    documented = {
        (path, method)
        for path, item in OPENAPI["paths"].items()
        for method in item
        if method in ("get", "post", "patch", "delete")
    }
    assert served == documented


def test_the_document_is_json_and_openapi_3_1() -> None:
    assert json.loads(json.dumps(OPENAPI))["openapi"] == "3.1.0"
    assert OPENAPI["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
