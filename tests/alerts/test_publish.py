"""The alerts on the real broker (retained list, raised messages) and at GET /v1/alerts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from coachd.alerts.job import AlertsJob
from coachd.config import Config, MqttConfig, parse_config
from coachd.core.registry import Registry
from coachd.http.api import Api
from coachd.http.feed import EventFeed
from coachd.mqtt.publisher import MqttPublisher
from coachd.mqtt.topics import Message
from coachd.storage.mysql import MysqlPool, MysqlTarget
from coachd.vicidial.directory import Directory
from tests.mqtt.asyncapi import Contract
from tests.mqtt.conftest import URL, Subscriber, retained

from .seed import EXPECTED_NOW, NOW, ZONE_NAME

ADMIN = "admin-token-0123456789"
TEAMLEAD = "teamlead-token-0123456789"
B2BLEAD = "b2blead-token-0123456789"


def config_for(url: str, prefix: str) -> Config:
    return parse_config(
        {
            "instance": "pbx1",
            "ari": {"url": "http://127.0.0.1:8088", "username": "u", "password": "p"},
            "database": {"url": url},
            "vicidial": {"enabled": True, "timezone": ZONE_NAME},
            "mqtt": {
                "url": URL,
                "topic_prefix": prefix,
                "client_id": "test-alerts-" + uuid.uuid4().hex[:10],
            },
            "http": {
                "listen": "127.0.0.1:8089",  # not bound: TestServer serves the app
                "tokens": [
                    {"token": ADMIN, "role": "admin"},
                    {"token": TEAMLEAD, "role": "supervisor", "user": "teamlead"},
                    {"token": B2BLEAD, "role": "supervisor", "user": "b2blead"},
                ],
            },
            "alerts": {"enabled": True, "campaigns": [], "business_hours": "09:00-18:00"},
        },
        {},
    )


@pytest.fixture
async def pool(alerts_url: str) -> AsyncIterator[MysqlPool]:
    p = MysqlPool(MysqlTarget.from_url(alerts_url), timeout=5.0)
    yield p
    await p.close()


async def http_client(config: Config, job: AlertsJob | None) -> TestClient[Any, Any]:
    engine: Any = type("E", (), {"registry": Registry()})()
    api = Api(config=config, engine=engine, feed=EventFeed("pbx1"), ready=lambda: True)
    api.alerts = None if job is None else job.board
    client: TestClient[Any, Any] = TestClient(TestServer(api.app()))
    await client.start_server()
    return client


async def get_alerts(client: TestClient[Any, Any], token: str | None) -> tuple[int, Any]:
    headers = {} if token is None else {"Authorization": "Bearer " + token}
    response = await client.get("/v1/alerts", headers=headers)
    return response.status, await response.json()


def agents(body: dict[str, Any]) -> list[str]:
    return [a["agent"] for a in body["alerts"]]


async def test_the_retained_list_reaches_subscribers_and_http_serves_the_same(
    alerts_url: str, prefix: str, pool: MysqlPool
) -> None:
    config = config_for(alerts_url, prefix)
    publisher = MqttPublisher(config.mqtt, config.instance, keepalive=5, clear_stale=False)
    job = AlertsJob.from_config(config, publish=publisher.send, grants=Directory(pool).grants)
    client = await http_client(config, job)
    running = asyncio.create_task(publisher.run(), name="mqtt")
    try:
        async with Subscriber(prefix) as sub:
            await asyncio.wait_for(publisher.connected.wait(), 10)
            status, before = await get_alerts(client, ADMIN)
            assert (status, before) == (200, {"at": None, "instance": "pbx1", "alerts": []})

            await job.tick(NOW)
            await sub.wait_for(lambda: len(sub.on("alerts/raised")) == 5)
            await sub.wait_for(lambda: len(sub.on("alerts")) == 1)

            (live,) = sub.on("alerts")
            assert live.retain is False  # a live delivery; the broker keeps it retained
            body = live.json()
            assert [(a["rank"], a["agent"], a["calls"], a["sales"]) for a in body["alerts"]] == [
                tuple(e) for e in EXPECTED_NOW
            ]
            assert body["at"] == "2026-03-16T19:00:00.000Z"
            assert body["window"]["from"] == "2026-03-16T15:00:00.000Z"
            assert [r.json()["agent"] for r in sub.on("alerts/raised")] == agents(body)

            # A subscriber arriving later gets the list as a retained message.
            stored = await retained(prefix)
            assert json.loads(stored[prefix + "/alerts"]) == body
            assert prefix + "/alerts/raised" not in stored

            # GET /v1/alerts answers the same list to an admin ...
            status, answer = await get_alerts(client, ADMIN)
            assert (status, answer) == (200, body)
            # ... and to a supervisor the agents their coachd_grants cover.
            status, team = await get_alerts(client, TEAMLEAD)
            assert (status, agents(team)) == (200, ["a_low"])
            assert team["alerts"][0]["rank"] == 5
            status, b2b = await get_alerts(client, B2BLEAD)
            assert agents(b2b) == ["a_zero_busy", "a_zero", "a_from", "a_low"]
            assert (await get_alerts(client, None))[0] == 401

            # The next run replaces the retained list; only a_bound is raised.
            await job.tick(NOW + timedelta(minutes=30))
            await sub.wait_for(lambda: len(sub.on("alerts")) == 2)
            await sub.wait_for(lambda: len(sub.on("alerts/raised")) == 6)
            assert sub.on("alerts/raised")[-1].json()["agent"] == "a_bound"
            stored = await retained(prefix)
            newest = json.loads(stored[prefix + "/alerts"])
            assert newest == sub.on("alerts")[-1].json()
            assert [(a["agent"], a["new"]) for a in newest["alerts"]][3] == ("a_bound", True)
            assert (await get_alerts(client, ADMIN))[1] == newest

        contract = Contract()
        for message in sub.received:
            contract.check(prefix, message.topic, message.payload)
    finally:
        await client.close()
        await publisher.stop(2.0)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(running, 5)
        await job.close()


async def test_without_alerts_the_route_is_404(alerts_url: str, prefix: str) -> None:
    client = await http_client(config_for(alerts_url, prefix), None)
    try:
        status, body = await get_alerts(client, ADMIN)
        assert (status, body["error"]["code"]) == (404, "not_found")
    finally:
        await client.close()


async def test_a_retained_list_dropped_by_overflow_is_sent_again_not_cleared(
    prefix: str,
) -> None:
    config = MqttConfig(
        url=URL, topic_prefix=prefix, queue_size=2, client_id="test-alerts-" + uuid.uuid4().hex
    )
    publisher = MqttPublisher(config, "pbx1", keepalive=5, clear_stale=False)
    alerts = Message(prefix + "/alerts", b'{"alerts":[]}', retain=True)
    raised = [Message(prefix + "/alerts/raised", b"{}", retain=False) for _ in range(3)]
    publisher.send([alerts, *raised])  # the list and one raised message are dropped
    assert publisher.dropped == 2
    running = asyncio.create_task(publisher.run(), name="mqtt")
    try:
        await asyncio.wait_for(publisher.connected.wait(), 10)

        async def resent() -> dict[str, bytes]:
            while True:
                stored = await retained(prefix)
                if prefix + "/alerts" in stored:
                    return stored
                await asyncio.sleep(0.05)

        stored = await asyncio.wait_for(resent(), 10)
        assert stored[prefix + "/alerts"] == b'{"alerts":[]}'
        assert publisher.published == 2  # the two raised messages left in the queue
    finally:
        await publisher.stop(2.0)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(running, 5)
