"""The browser console in VICIdial mode: VICIdial users log in with ``vicidial_users.pass``
(hashed-only passwords refused), VICIdial's INCALL agents are listed as the grants allow."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from coachd.config import parse_config
from coachd.http.api import Api
from coachd.http.feed import EventFeed
from coachd.storage.mysql import MysqlPool

from .conftest import SERVER, Seed, VicidialDb, vicidial_engine
from .test_http_api import ADMIN, RingingAri


@pytest.fixture
def center(seed: Seed, vicidial_db: VicidialDb) -> RingingAri:
    seed.user("sup8", 8, phone_login="sup8")
    seed.phone("2008", "sup8")
    seed.grant("sup8", "monitor,whisper", campaigns="TESTCAMP")
    seed.user("hashed", 8, phone_login="hashed")
    seed.user("gone", 8, active="N")
    seed.user("agentuser", 1)
    vicidial_db.sql("UPDATE vicidial_users SET pass = 'sup8-vici-pass' WHERE user = 'sup8'")
    vicidial_db.sql("UPDATE vicidial_users SET pass = '', pass_hash = 'x9Yz' WHERE user = 'hashed'")
    seed.user("agent42", 1, group="AGENTS")
    seed.user("agent43", 1, group="AGENTS")
    seed.live_agent("agent42", "PJSIP/1042", conf_exten="8600051")
    seed.live_agent("agent43", "PJSIP/1043", conf_exten="8600052", campaign="OTHER")
    seed.live_agent("agent44", "PJSIP/1044", conf_exten="8600053", status="PAUSED")
    seed.live_agent("agent45", "PJSIP/1045", conf_exten="8600054", server_ip="10.0.0.99")
    ninety = (datetime.now(UTC) - timedelta(seconds=90)).strftime("%Y-%m-%d %H:%M:%S")
    vicidial_db.sql("UPDATE vicidial_live_agents SET last_state_change = %s", (ninety,))
    ari = RingingAri()
    ari.call("PJSIP/1042", "chan-1042")
    return ari


@pytest.fixture
async def client(
    center: RingingAri, pool: MysqlPool, vicidial_db: VicidialDb
) -> AsyncIterator[TestClient[Any, Any]]:
    config = parse_config(
        {
            "ari": {"url": "http://127.0.0.1:8088", "username": "u", "password": "p"},
            "database": {"url": vicidial_db.url()},
            "vicidial": {"enabled": True, "timezone": "UTC", "server_ip": SERVER},
            "console": {"enabled": True},
            "http": {
                "listen": "127.0.0.1:8089",
                "tokens": [{"token": ADMIN["Authorization"][7:], "role": "admin"}],
            },
        },
        {},
    )
    directory, engine = vicidial_engine(pool, center)
    api = Api(config=config, engine=engine, feed=EventFeed("t"), ready=lambda: True)
    api.console.use_vicidial(directory)
    c: TestClient[Any, Any] = TestClient(TestServer(api.app()))
    await c.start_server()
    yield c
    await c.close()


async def login(client: TestClient[Any, Any], user: str, password: str) -> Any:
    return await client.post("/v1/console/login", json={"user": user, "password": password})


async def test_a_vicidial_user_logs_in_with_their_vicidial_password_as_vicidial_spells_them(
    client: TestClient[Any, Any],
) -> None:
    response = await login(client, "SUP8", "sup8-vici-pass")
    assert response.status == 200, await response.text()
    me = await (await client.get("/v1/console/me")).json()
    assert (me["user"], me["endpoints"]) == ("sup8", ["PJSIP/2008"])


@pytest.mark.parametrize(
    ("user", "password", "status", "code"),
    [
        ("sup8", "wrong", 401, "invalid_credentials"),
        ("gone", "x", 401, "invalid_credentials"),  # inactive
        ("agentuser", "x", 401, "invalid_credentials"),  # below the manager level
        ("nobody", "x", 401, "invalid_credentials"),
        ("hashed", "anything", 403, "hashed_password"),
    ],
)
async def test_bad_vicidial_logins_are_refused(
    client: TestClient[Any, Any], user: str, password: str, status: int, code: str
) -> None:
    response = await login(client, user, password)
    error = (await response.json())["error"]
    assert (response.status, error["code"]) == (status, code)
    if code == "hashed_password":
        assert "hash" in error["message"] and "cannot" in error["message"]


async def test_agents_are_vicidials_incall_agents_that_a_grant_covers(
    client: TestClient[Any, Any],
) -> None:
    admin = await (await client.get("/v1/agents", headers=ADMIN)).json()
    assert [(a["agent"], a["campaign"]) for a in admin["agents"]] == [
        ("agent42", "TESTCAMP"),
        ("agent43", "OTHER"),
    ]
    assert 85 <= admin["agents"][0]["seconds"] <= 120
    assert admin["agents"][0]["endpoint"] == "PJSIP/1042"
    assert (await login(client, "sup8", "sup8-vici-pass")).status == 200
    mine = await (await client.get("/v1/agents")).json()
    assert [(a["agent"], a["modes"]) for a in mine["agents"]] == [
        ("agent42", ["monitor", "whisper"])
    ]


async def test_a_console_login_rings_the_vicidial_users_phone_after_vicidials_checks(
    client: TestClient[Any, Any], center: RingingAri
) -> None:
    response = await login(client, "sup8", "sup8-vici-pass")
    token = (await response.json())["csrf_token"]
    started = await client.post(
        "/v1/sessions",
        json={"supervisor": "sup8", "agent": "agent42", "mode": "whisper"},
        headers={"X-CSRF-Token": token},
    )
    assert started.status == 202, await started.text()
    assert center.rung == ["PJSIP/2008"]
