"""POST /v1/sessions in VICIdial mode: the supervisor is a VICIdial user, rung on their
phone, and VICIdial's API permission is asked of them first."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from coachd.config import parse_config
from coachd.http.api import Api
from coachd.http.feed import EventFeed
from coachd.storage.mysql import MysqlPool

from .conftest import FakeAri, Seed, VicidialDb, vicidial_engine

ADMIN = {"Authorization": "Bearer admin-token-0123456789"}
SUP8 = {"Authorization": "Bearer sup8-token-0123456789"}


class RingingAri(FakeAri):
    def __init__(self) -> None:
        super().__init__()
        self.rung: list[str] = []

    async def originate(self, *, endpoint: str, **_: Any) -> None:
        self.rung.append(endpoint)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def client_for(pool: MysqlPool, ari: RingingAri, db: VicidialDb) -> TestClient[Any, Any]:
    config = parse_config(
        {
            "ari": {"url": "http://127.0.0.1:8088", "username": "u", "password": "p"},
            "database": {"url": db.url()},
            "vicidial": {"enabled": True},
            "http": {
                "listen": "127.0.0.1:8089",
                "tokens": [
                    {"token": ADMIN["Authorization"][7:], "role": "admin"},
                    {"token": SUP8["Authorization"][7:], "role": "supervisor", "user": "sup8"},
                ],
            },
        },
        {},
    )
    _, engine = vicidial_engine(pool, ari)
    api = Api(config=config, engine=engine, feed=EventFeed("t"), ready=lambda: True)
    client: TestClient[Any, Any] = TestClient(TestServer(api.app()))
    await client.start_server()
    return client


@pytest.fixture
def center(seed: Seed) -> RingingAri:
    seed.user("sup8", 8, phone_login="sup8")
    seed.phone("2008", "sup8")
    seed.grant("sup8")
    seed.user("noapi", 9, phone_login="noapi", api_access="0")
    seed.phone("2010", "noapi")
    seed.grant("noapi")
    seed.live_agent("1042", "PJSIP/1042")
    ari = RingingAri()
    ari.call("PJSIP/1042", "chan-1042")
    return ari


@pytest.fixture
async def client(
    center: RingingAri, pool: MysqlPool, vicidial_db: VicidialDb
) -> AsyncIterator[TestClient[Any, Any]]:
    c = await client_for(pool, center, vicidial_db)
    yield c
    await c.close()


def body(supervisor: str = "sup8", **extra: str) -> dict[str, str]:
    return {"supervisor": supervisor, "agent": "1042", "mode": "whisper", **extra}


async def test_a_vicidial_supervisor_is_rung_on_the_phone_of_their_phone_login(
    client: TestClient[Any, Any], center: RingingAri
) -> None:
    response = await client.post("/v1/sessions", json=body(), headers=SUP8)
    assert response.status == 202, await response.text()
    assert center.rung == ["PJSIP/2008"]


async def test_without_vdc_agent_api_access_the_api_refuses_before_ringing(
    client: TestClient[Any, Any], center: RingingAri
) -> None:
    response = await client.post("/v1/sessions", json=body("noapi"), headers=ADMIN)
    assert response.status == 403
    error = (await response.json())["error"]
    assert (error["code"], error["details"]["detail"]) == (
        "not_permitted",
        "vdc_agent_api_access is not enabled",
    )
    assert center.rung == []


async def test_a_user_with_no_phone_is_an_unknown_supervisor(
    client: TestClient[Any, Any],
) -> None:
    response = await client.post("/v1/sessions", json=body("ghost"), headers=ADMIN)
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "unknown_supervisor"


async def test_outside_the_shift_is_403_outside_shift(
    client: TestClient[Any, Any], seed: Seed, vicidial_db: VicidialDb
) -> None:
    seed.group("NEVER", "ALL", "")
    vicidial_db.sql("UPDATE vicidial_users SET user_group = 'NEVER' WHERE user = 'sup8'")
    response = await client.post("/v1/sessions", json=body(), headers=SUP8)
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "outside_shift"


async def test_an_unreachable_database_is_503_and_nobody_is_rung(
    center: RingingAri, vicidial_db: VicidialDb
) -> None:
    dead = MysqlPool(vicidial_db.target(port=free_port()), timeout=1.0)
    client = await client_for(dead, center, vicidial_db)
    try:
        response = await client.post("/v1/sessions", json=body(), headers=SUP8)
        assert response.status == 503
        assert (await response.json())["error"]["code"] == "permission_store_unavailable"
    finally:
        await client.close()
        await dead.close()
    assert center.rung == []
