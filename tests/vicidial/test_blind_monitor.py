"""VICIdial's non_agent_api.php?function=blind_monitor, answered by coachd: VICIdial's
checks and answer lines, then coachd's permissions, then the manager's phone rings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from coachd.config import parse_config
from coachd.core.modes import Mode
from coachd.http.api import VICIDIAL_API, Api
from coachd.http.feed import EventFeed
from coachd.storage.mysql import MysqlPool
from coachd.vicidial.blind_monitor import BlindMonitor, stage_mode

from .conftest import SERVER, Seed, VicidialDb, vicidial_engine
from .test_http_api import ADMIN, RingingAri

ADMIN_TOKEN = ADMIN["Authorization"][7:]
PERMISSION = "ERROR: blind_monitor USER DOES NOT HAVE PERMISSION TO BLIND MONITOR: "


async def client_for(
    pool: MysqlPool, ari: RingingAri, db: VicidialDb, *, shim: bool = True
) -> TestClient[Any, Any]:
    config = parse_config(
        {
            "ari": {"url": "http://127.0.0.1:8088", "username": "u", "password": "p"},
            "database": {"url": db.url()},
            "vicidial": {"enabled": True},
            "http": {
                "listen": "127.0.0.1:8089",
                "tokens": [{"token": ADMIN_TOKEN, "role": "admin"}],
            },
        },
        {},
    )
    directory, engine = vicidial_engine(pool, ari)
    authorizer = engine.authorizer
    api = Api(config=config, engine=engine, feed=EventFeed("t"), ready=lambda: True)
    if shim:
        api.blind_monitor = BlindMonitor(
            directory,
            lambda endpoint, agent, mode: authorizer.authorize(endpoint, agent, mode, via="api"),
            api.ring,
        )
        api.public = api.public | {VICIDIAL_API}
    client: TestClient[Any, Any] = TestClient(TestServer(api.app()))
    await client.start_server()
    return client


@pytest.fixture
def center(seed: Seed, vicidial_db: VicidialDb) -> RingingAri:
    seed.user("sup8", 8, phone_login="sup8")
    seed.phone("2008", "sup8")
    seed.grant("sup8")
    seed.user("sup9", 9, phone_login="sup9")
    seed.phone("2009", "sup9")
    seed.grant("sup9", "monitor")
    seed.user("noapi", 9, phone_login="noapi", api_access="0")
    seed.phone("2010", "noapi")
    seed.grant("noapi")
    seed.user("hashed", 9, phone_login="hashed")
    vicidial_db.sql("UPDATE vicidial_users SET pass = '', pass_hash = 'abc' WHERE user = 'hashed'")
    seed.live_agent("1042", "PJSIP/1042", conf_exten="8600051")
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


def form(**changes: str) -> dict[str, str]:
    """What VICIdial's realtime_report.php POSTs for LISTEN."""
    return {
        "source": "realtime",
        "function": "blind_monitor",
        "user": "sup8",
        "pass": "x",
        "phone_login": "sup8",
        "session_id": "8600051",
        "server_ip": SERVER,
        "stage": "MONITOR",
        **changes,
    }


async def answer(client: TestClient[Any, Any], **changes: str) -> str:
    response = await client.post(VICIDIAL_API, data=form(**changes))
    assert response.status == 200
    assert response.content_type == "text/plain"
    return await response.text()


async def test_realtime_report_listen_rings_the_managers_phone_and_says_success(
    client: TestClient[Any, Any], center: RingingAri
) -> None:
    text = await answer(client)
    assert text.startswith("SUCCESS: blind_monitor HAS BEEN LAUNCHED - sup8|PJSIP/2008|monitor|")
    assert text.endswith("|8600051|" + text.split("|")[4] + "|sup8\n")
    assert center.rung == ["PJSIP/2008"]
    session_id = text.split("|")[4]
    response = await client.get("/v1/sessions/" + session_id, headers=ADMIN)
    view = await response.json()
    assert (view["state"], view["agent"], view["supervisor"]) == ("ringing", "1042", "sup8")


async def test_a_get_with_the_parameters_in_the_query_works_like_the_post(
    client: TestClient[Any, Any], center: RingingAri
) -> None:
    response = await client.get(VICIDIAL_API, params=form(stage="BARGE"))
    assert (await response.text()).startswith("SUCCESS: blind_monitor HAS BEEN LAUNCHED")
    assert center.rung == ["PJSIP/2008"]


async def test_the_guides_form_names_the_agent_by_user_instead_of_session(
    client: TestClient[Any, Any], center: RingingAri
) -> None:
    guide = {
        k: v for k, v in form(agent_user="1042").items() if k not in ("session_id", "server_ip")
    }
    response = await client.get(VICIDIAL_API, params=guide)
    text = await response.text()
    assert text.startswith(
        "SUCCESS: blind_monitor HAS BEEN LAUNCHED - sup8|PJSIP/2008|monitor|8600051|"
    )
    assert center.rung == ["PJSIP/2008"]
    unknown = {**guide, "agent_user": "nobody"}
    response = await client.get(VICIDIAL_API, params=unknown)
    assert (await response.text()).startswith("ERROR: blind_monitor INVALID SESSION ID")


@pytest.mark.parametrize(
    ("stage", "mode"),
    [
        ("", Mode.MONITOR),
        ("MONITOR", Mode.MONITOR),
        ("BARGE", Mode.BARGE),
        ("BARGESWAP", Mode.BARGE),
        ("WHISPER", Mode.WHISPER),
        ("HIJACK", None),
    ],
)
def test_stages_map_to_modes_as_vicidial_matches_them(stage: str, mode: Mode | None) -> None:
    assert stage_mode(stage) is mode


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"pass": "wrong"}, "ERROR: Login incorrect, please try again: |sup8||\n"),
        ({"user": "ghost"}, "ERROR: Login incorrect, please try again: |ghost||\n"),
        ({"user": "hashed", "pass": ""}, "ERROR: Login incorrect, please try again: |hashed||\n"),
        (
            {"function": "add_lead"},
            "ERROR: coachd answers only function=blind_monitor: |add_lead|\n",
        ),
        ({"source": "x"}, "ERROR: Invalid Source - x\n"),
        ({"stage": "HIJACK"}, "ERROR: blind_monitor HIJACK IS NOT SUPPORTED BY COACHD - sup8\n"),
        (
            {"session_id": "8600099"},
            f"ERROR: blind_monitor INVALID SESSION ID - 8600099|{SERVER}|sup8\n",
        ),
        (
            {"server_ip": "10.9.9.9"},
            "ERROR: blind_monitor INVALID SESSION ID - 8600051|10.9.9.9|sup8\n",
        ),
        ({"phone_login": "nosuch"}, "ERROR: blind_monitor INVALID PHONE LOGIN - nosuch|sup8\n"),
        # Another manager's phone: coachd would coach as its owner.
        ({"phone_login": "sup9"}, "ERROR: blind_monitor INVALID PHONE LOGIN - sup9|sup8\n"),
        (
            {"user": "noapi", "phone_login": "noapi"},
            PERMISSION + "|noapi|not_permitted|\n",
        ),
        (
            {"user": "sup9", "phone_login": "sup9", "stage": "BARGE"},
            PERMISSION + "|sup9|not_permitted|\n",
        ),
    ],
)
async def test_refusals_answer_with_vicidials_error_lines_and_ring_nobody(
    client: TestClient[Any, Any], center: RingingAri, changes: dict[str, str], expected: str
) -> None:
    vicidial_hashed = changes.get("user") == "hashed"
    if vicidial_hashed:
        changes = {**changes, "pass": "abc"}
    assert await answer(client, **changes) == expected
    assert center.rung == []


@pytest.mark.parametrize(
    "field", ["user", "pass", "phone_login", "session_id", "server_ip", "stage", "source"]
)
@pytest.mark.parametrize(
    "hostile", ["' OR '1'='1", "8600051'; DROP TABLE phones; --", "ünï©ødé", "9" * 10000]
)
async def test_hostile_values_are_refused_and_change_nothing(
    client: TestClient[Any, Any],
    center: RingingAri,
    vicidial_db: VicidialDb,
    field: str,
    hostile: str,
) -> None:
    text = await answer(client, **{field: hostile})
    if field in ("stage", "source"):  # any other stage is MONITOR; source is a label
        assert text.startswith("SUCCESS")
    else:
        assert text.startswith("ERROR: ")
        assert center.rung == []
    assert vicidial_db.sql("SELECT COUNT(*) FROM phones")[0][0] == 3


async def test_without_vicidial_mode_the_path_needs_a_token_like_any_other(
    center: RingingAri, pool: MysqlPool, vicidial_db: VicidialDb
) -> None:
    c = await client_for(pool, center, vicidial_db, shim=False)
    try:
        response = await c.post(VICIDIAL_API, data=form())
        assert response.status == 401
        assert center.rung == []
    finally:
        await c.close()
