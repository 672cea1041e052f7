"""VICIdial mode on the sandbox: supervisors and agents from a VICIdial-shaped
database (real MariaDB), sessions on real calls, VICIdial's monitoring log and
its blind_monitor API."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from coachd.ari.client import AriClient
from tests.integration.conftest import wait_no_leftovers
from tests.sandbox.callcenter import (
    DETECTOR,
    TONES,
    Party,
    check_routing,
    connect_call,
    settle,
    supervisor_dials,
)
from tests.sandbox.daemon import Daemon
from tests.sandbox.phones import Phones
from tests.sandbox.switches import switch_by_dtmf
from tests.vicidial.conftest import Seed, VicidialDb, _create, _drop

SERVER = "10.0.0.5"
LISTEN = "127.0.0.1:18389"
CONFIG = """
instance = "vicidial-it"
[ari]
url = "http://127.0.0.1:18088"
username = "coachd"
password = "sandbox-coachd-secret"
[mqtt]
url = "mqtt://127.0.0.1:1883"
[http]
listen = "{listen}"
[[http.tokens]]
token = "sandbox-admin-token-0001"
role = "admin"
[vicidial]
enabled = true
server_ip = "{server}"
[logging]
level = "debug"
format = "json"
"""


@pytest.fixture(scope="module")
def db() -> Iterator[VicidialDb]:
    vdb = _create(f"coachd_vici_it_{secrets.token_hex(4)}")
    seed = Seed(vdb)
    seed.user("mgr8", 8, phone_login="mgr8")
    seed.phone("2001", "mgr8", server_ip=SERVER)
    seed.grant("mgr8")
    seed.user("mgr7", 7, phone_login="mgr7")
    seed.phone("2002", "mgr7", server_ip=SERVER)
    seed.grant("mgr7", "monitor,whisper")
    seed.user("lead6", 6, phone_login="lead6")
    seed.phone("2003", "lead6", server_ip=SERVER)
    seed.grant("lead6")
    seed.live_agent("agent42", "PJSIP/1042", server_ip=SERVER, conf_exten="8600051")
    try:
        yield vdb
    finally:
        vdb.close()
        _drop(vdb.name)


@pytest.fixture(scope="module")
def vici(db: VicidialDb, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    config: Path = tmp_path_factory.mktemp("vici") / "coachd.toml"
    config.write_text(CONFIG.format(listen=LISTEN, server=SERVER))
    with Daemon(config, env={"COACHD_DATABASE__URL": db.url()}, name="vicidial").running() as d:
        yield d


async def test_a_vicidial_manager_coaches_an_agent_by_vicidial_user_and_vicidial_logs_it(
    phones: Phones, pbx: AriClient, vici: Daemon, db: VicidialDb
) -> None:
    vici.checkpoint()
    db.sql("DELETE FROM vicidial_rt_monitor_log")
    call = await connect_call(phones)
    dialled = await supervisor_dials(phones, "2001", "*223agent42")
    sup = dialled.party
    t0 = await settle(call, sup, "whisper", after=dialled.answered_at)
    assert await check_routing(call, sup, "whisper", t0, t0 + 0.5) == []
    started = await vici.wait_event("session_started")
    assert (started["supervisor"], started["agent"]) == ("mgr8", "agent42")
    for digit, mode in (("6", "barge"), ("4", "monitor")):
        _, t0 = await switch_by_dtmf(call, sup, vici, digit, mode)
        assert await check_routing(call, sup, mode, t0, t0 + 0.5) == [], mode
    await sup.leg.dtmf("*")
    await vici.wait_event("session_ended")

    rows: list[dict[str, object]] = []
    for _ in range(100):
        rows = db.monitor_rows()
        if len(rows) == 3 and all(r["monitor_end_time"] is not None for r in rows):
            break
        await asyncio.sleep(0.1)
    assert [r["monitor_type"] for r in rows] == ["WHISPER", "BARGE", "LISTEN"]
    for row in rows:
        assert (row["manager_user"], row["agent_user"], row["agent_session"]) == (
            "mgr8",
            "agent42",
            "8600051",
        )
        assert (row["lead_id"], row["campaign_id"]) == (4242, "TESTCAMP")
    await asyncio.sleep(0.5)
    assert len(db.monitor_rows()) == 3  # once each
    assert await wait_no_leftovers(pbx, within=1.0) == []


@pytest.mark.parametrize(
    ("phone", "code", "reason"),
    [("2003", "*222agent42", "not_permitted"), ("2002", "*224agent42", "not_permitted")],
    ids=["level 6", "barge not granted"],
)
async def test_vicidial_users_below_level_7_or_without_the_grant_are_refused(
    phones: Phones, pbx: AriClient, vici: Daemon, db: VicidialDb, phone: str, code: str, reason: str
) -> None:
    vici.checkpoint()
    db.sql("DELETE FROM vicidial_rt_monitor_log")
    call = await connect_call(phones)
    leg = await phones.call(phone, code)
    refused = await vici.wait_event("session_refused")
    assert refused["reason"] == reason
    await asyncio.wait_for(leg.hung_up.wait(), 15)
    assert call.caller.ear.capture.count_with("supervisor") == 0
    assert db.monitor_rows() == []
    assert await wait_no_leftovers(pbx, within=1.0) == []


async def test_vicidials_realtime_report_blind_monitor_starts_a_coachd_whisper(
    phones: Phones, pbx: AriClient, vici: Daemon, db: VicidialDb
) -> None:
    vici.checkpoint()
    call = await connect_call(phones)
    form = {
        "source": "realtime",
        "function": "blind_monitor",
        "user": "mgr8",
        "pass": "x",
        "phone_login": "mgr8",
        "session_id": "8600051",
        "server_ip": SERVER,
        "stage": "WHISPER",
    }
    asked = time.monotonic()
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"http://{LISTEN}/vicidial/non_agent_api.php", data=form) as response,
    ):
        text = await response.text()
    assert text.startswith("SUCCESS: blind_monitor HAS BEEN LAUNCHED - mgr8|PJSIP/2001|whisper|")
    leg = await phones.answer("2001")
    answered = time.monotonic()
    ear = await leg.listen(DETECTOR, keep_samples=True)
    await leg.say_tone(TONES["supervisor"])
    sup = Party("supervisor", leg, ear)
    t0 = await settle(call, sup, "whisper", after=answered)
    assert await check_routing(call, sup, "whisper", t0, t0 + 0.5) == []
    started = await vici.wait_event("session_started")
    assert started["session_id"] == text.split("|")[4]
    assert call.caller.ear.capture.count_with("supervisor", asked) == 0
    await leg.hangup()
    await vici.wait_event("session_ended")
    assert await wait_no_leftovers(pbx, within=1.0) == []
