"""The HTTP control API against the running daemon, with sessions on real calls."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from coachd.ari.client import AriClient
from tests.integration.conftest import call_json, wait_no_leftovers
from tests.sandbox.callcenter import (
    DETECTOR,
    TONES,
    Party,
    connect_call,
    settle,
    supervisor_dials,
)
from tests.sandbox.daemon import ARTIFACTS, Daemon
from tests.sandbox.phones import Phones

LISTEN = "127.0.0.1:18089"
BASE = "http://" + LISTEN
ADMIN = {"Authorization": "Bearer sandbox-admin-token-0001"}
SUP1 = {"Authorization": "Bearer sandbox-sup1-token-0001"}
SUP2 = {"Authorization": "Bearer sandbox-sup2-token-0001"}


@pytest.fixture(scope="module")
def coachd_daemon() -> Iterator[Daemon]:
    with Daemon(env={"COACHD_HTTP__LISTEN": LISTEN}, name="http").running() as daemon:
        yield daemon


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(BASE) as session:
        yield session


async def test_health_is_public_and_everything_else_needs_a_token(
    http: aiohttp.ClientSession, coachd: Daemon
) -> None:
    assert await call_json(http, "GET", "/healthz") == (200, {"status": "ok"})
    assert await call_json(http, "GET", "/readyz") == (200, {"status": "ready"})
    status, body = await call_json(http, "GET", "/v1/sessions")
    assert (status, body["error"]["code"]) == (401, "unauthorized")
    bad = {"Authorization": "Bearer not-a-token-at-all-xxxx"}
    status, body = await call_json(http, "GET", "/v1/sessions", headers=bad)
    assert status == 401
    status, body = await call_json(http, "GET", "/v1/sessions/zz", headers=ADMIN)
    assert (status, body["error"]["code"]) == (400, "invalid_id")
    status, body = await call_json(http, "GET", "/v1/sessions/0123456789ab", headers=ADMIN)
    assert (status, body["error"]["code"]) == (404, "not_found")


async def test_a_session_is_switched_and_ended_over_http_with_the_audio_rules(
    phones: Phones, pbx: AriClient, coachd: Daemon, http: aiohttp.ClientSession
) -> None:
    call = await connect_call(phones)
    dialled = await supervisor_dials(phones, "2001", "*2221042")
    sup = dialled.party
    t = await settle(call, sup, "monitor", after=dialled.answered_at)
    started = await coachd.wait_event("session_started")
    sid = started["session_id"]
    path = "/v1/sessions/" + sid

    status, body = await call_json(http, "GET", "/v1/sessions", headers=SUP1)
    assert status == 200
    assert [s["session_id"] for s in body["sessions"]] == [sid]
    assert (await call_json(http, "GET", "/v1/sessions", headers=SUP2))[1]["sessions"] == []
    assert (await call_json(http, "GET", path, headers=SUP2))[0] == 404

    latencies = []
    for mode in ("whisper", "barge", "private_whisper", "monitor", "whisper"):
        asked = time.monotonic()
        status, body = await call_json(http, "PATCH", path, headers=SUP1, json={"mode": mode})
        answered = time.monotonic()
        assert (status, body["mode"]) == (200, mode), body
        heard = await settle(call, sup, mode, after=asked)
        latencies.append(((answered - asked) * 1000, (heard - asked) * 1000))
    assert call.caller.ear.capture.count_with("supervisor", dialled.answered_at, t) == 0

    status, body = await call_json(http, "PATCH", path, headers=SUP1, json={"mode": "shout"})
    assert (status, body["error"]["details"]["field"]) == (422, "mode")
    status, body = await call_json(http, "PATCH", path, headers=SUP1, data=b"{]")
    assert status == 415
    status, body = await call_json(
        http, "PATCH", path, headers={**SUP1, "Content-Type": "application/json"}, data=b"{]"
    )
    assert (status, body["error"]["code"]) == (400, "invalid_json")

    status, body = await call_json(http, "DELETE", path, headers=ADMIN)
    assert (status, body["state"]) == (202, "ending")
    await asyncio.wait_for(sup.leg.hung_up.wait(), 5)
    assert await wait_no_leftovers(pbx, within=1.0) == []
    await coachd.wait_event("session_ended")
    status, body = await call_json(http, "GET", path, headers=ADMIN)
    assert (status, body["state"], body["reason"]) == (200, "ended", "api")

    (ARTIFACTS / "http-patch.json").write_text(
        json.dumps(
            {
                "patch_request_to_response_ms_median": statistics.median(r for r, _ in latencies),
                "patch_request_to_audible_ms_median": statistics.median(a for _, a in latencies),
                "samples": latencies,
            },
            indent=2,
        )
    )


async def test_a_mode_the_supervisor_may_not_use_is_refused_with_403(
    phones: Phones, pbx: AriClient, coachd: Daemon, http: aiohttp.ClientSession
) -> None:
    call = await connect_call(phones)
    dialled = await supervisor_dials(phones, "2002", "*2221042")  # sup2: monitor, whisper
    await settle(call, dialled.party, "monitor", after=dialled.answered_at)
    sid = (await coachd.wait_event("session_started"))["session_id"]
    status, body = await call_json(
        http, "PATCH", "/v1/sessions/" + sid, headers=SUP2, json={"mode": "barge"}
    )
    assert (status, body["error"]["code"]) == (403, "not_permitted")
    await dialled.party.leg.hangup()
    assert await wait_no_leftovers(pbx, within=1.0) == []


async def collect_sse(
    http: aiohttp.ClientSession, headers: dict[str, str], seconds: float
) -> list[tuple[str, str, Any]]:
    """Every event the stream sends within ``seconds`` (it never ends by itself)."""
    out: list[tuple[str, str, Any]] = []
    fields: dict[str, str] = {}
    try:
        async with asyncio.timeout(seconds), http.get("/v1/events", headers=headers) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            async for raw in resp.content:
                line = raw.decode().rstrip("\n")
                if line:
                    key, _, value = line.partition(": ")
                    fields[key] = value
                else:
                    out.append((fields["id"], fields["event"], json.loads(fields["data"])))
                    fields = {}
    except TimeoutError:
        pass
    return out


async def test_the_event_stream_mirrors_session_events_and_resumes(
    phones: Phones, pbx: AriClient, coachd: Daemon, http: aiohttp.ClientSession
) -> None:
    call = await connect_call(phones)
    dialled = await supervisor_dials(phones, "2001", "*2231042")
    await settle(call, dialled.party, "whisper", after=dialled.answered_at)
    sid = (await coachd.wait_event("session_started"))["session_id"]
    await dialled.party.leg.hangup()
    await coachd.wait_event("session_ended")
    assert await wait_no_leftovers(pbx, within=1.0) == []

    everything = await collect_sse(http, ADMIN, 1.0)
    mine = [(i, t) for i, t, p in everything if p["session_id"] == sid]
    assert [t for _, t in mine] == ["session_started", "session_ended"]
    assert all(p["instance"] == "sandbox" and p["event_id"] for _, _, p in everything)
    # Resuming after the first event gives only what came after it.
    resumed = await collect_sse(http, {**ADMIN, "Last-Event-ID": mine[0][0]}, 1.0)
    assert [i for i, _, p in resumed if p["session_id"] == sid] == [mine[1][0]]
    # Another supervisor's stream does not show sup1's sessions.
    assert [p for _, _, p in await collect_sse(http, SUP2, 0.5) if p["session_id"] == sid] == []


async def test_a_session_started_over_http_rings_the_supervisor_and_starts_on_answer(
    phones: Phones, pbx: AriClient, coachd: Daemon, http: aiohttp.ClientSession
) -> None:
    call = await connect_call(phones)
    asked = time.monotonic()
    status, body = await call_json(
        http,
        "POST",
        "/v1/sessions",
        headers=SUP1,
        json={"supervisor": "sup1", "agent": "1042", "mode": "whisper"},
    )
    assert (status, body["state"]) == (202, "ringing"), body
    sid = body["session_id"]
    assert (await call_json(http, "GET", "/v1/sessions/" + sid, headers=SUP1))[1][
        "state"
    ] == "ringing"

    leg = await phones.answer("2001")
    answered = time.monotonic()
    sup = await leg.listen(DETECTOR, keep_samples=True)
    await leg.say_tone(TONES["supervisor"])
    party = Party("supervisor", leg, sup)
    await settle(call, party, "whisper", after=answered)
    started = await coachd.wait_event("session_started")
    assert started["session_id"] == sid
    status, body = await call_json(http, "GET", "/v1/sessions/" + sid, headers=SUP1)
    assert (status, body["state"], body["mode"]) == (200, "active", "whisper")
    assert call.caller.ear.capture.count_with("supervisor", asked) == 0

    assert (await call_json(http, "DELETE", "/v1/sessions/" + sid, headers=SUP1))[0] == 202
    await asyncio.wait_for(leg.hung_up.wait(), 5)
    assert await wait_no_leftovers(pbx, within=1.0) == []


async def test_a_busy_supervisor_phone_ends_the_http_session_as_refused(
    phones: Phones, pbx: AriClient, coachd: Daemon, http: aiohttp.ClientSession
) -> None:
    await connect_call(phones)
    status, body = await call_json(
        http,
        "POST",
        "/v1/sessions",
        headers=ADMIN,
        json={"supervisor": "sup1", "agent": "1042", "mode": "monitor"},
    )
    assert status == 202, body
    sid = body["session_id"]
    incoming = await asyncio.wait_for(phones.incoming["2001"].get(), 10)
    await phones.ari.hangup(incoming, reason="busy")
    refused = await coachd.wait_event("session_refused")
    assert (refused["session_id"], refused["reason"]) == (sid, "busy")
    status, body = await call_json(http, "GET", "/v1/sessions/" + sid, headers=ADMIN)
    assert (status, body["state"], body["reason"]) == (200, "refused", "busy")
    assert await wait_no_leftovers(pbx, within=1.0) == []


@pytest.mark.parametrize(
    ("token", "request_body", "status", "code"),
    [
        (
            SUP1,
            {"supervisor": "sup1", "agent": "1043", "mode": "monitor"},
            409,
            "agent_not_on_call",
        ),
        (SUP1, {"supervisor": "sup1", "agent": "9999", "mode": "monitor"}, 404, "unknown_agent"),
        (SUP2, {"supervisor": "sup2", "agent": "1042", "mode": "barge"}, 403, "not_permitted"),
        (SUP2, {"supervisor": "sup1", "agent": "1042", "mode": "monitor"}, 403, "forbidden"),
        (
            ADMIN,
            {"supervisor": "nobody", "agent": "1042", "mode": "monitor"},
            404,
            "unknown_supervisor",
        ),
        (ADMIN, {"supervisor": "sup1", "agent": "1042", "mode": "loud"}, 422, "invalid_field"),
        (
            ADMIN,
            {
                "supervisor": "sup1",
                "agent": "1042",
                "mode": "monitor",
                "supervisor_endpoint": "PJSIP/2002",
            },
            422,
            "invalid_field",
        ),
        (ADMIN, {"supervisor": "sup1", "agent": "x" * 65, "mode": "monitor"}, 422, "invalid_field"),
    ],
)
async def test_http_session_requests_are_checked_before_anyone_is_rung(
    token: dict[str, str],
    request_body: dict[str, str],
    status: int,
    code: str,
    phones: Phones,
    pbx: AriClient,
    coachd: Daemon,
    http: aiohttp.ClientSession,
) -> None:
    await connect_call(phones)
    got, body = await call_json(http, "POST", "/v1/sessions", headers=token, json=request_body)
    assert (got, body["error"]["code"]) == (status, code), body
    await asyncio.sleep(0.3)
    assert phones.incoming["2001"].empty() and phones.incoming["2002"].empty()
    assert await wait_no_leftovers(pbx, within=0.5) == []


def metric(text: str, name: str) -> float:
    """The sum of a metric's samples in the Prometheus text format."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            key = line.split(" ")[0]
            if key == name or key.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
    return total


async def test_metrics_count_sessions_and_switches_and_openapi_is_public(
    phones: Phones, pbx: AriClient, coachd: Daemon, http: aiohttp.ClientSession
) -> None:
    async with http.get("/metrics") as resp:
        assert resp.status == 401
    async with http.get("/metrics", headers=ADMIN) as resp:
        before = await resp.text()
    call = await connect_call(phones)
    dialled = await supervisor_dials(phones, "2001", "*2221042")
    t = await settle(call, dialled.party, "monitor", after=dialled.answered_at)
    await dialled.party.leg.dtmf("5")
    await settle(call, dialled.party, "whisper", after=t)
    async with http.get("/metrics", headers=ADMIN) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain")
        during = await resp.text()
    assert metric(during, "coachd_sessions_started_total") == (
        metric(before, "coachd_sessions_started_total") + 1
    )
    assert metric(during, "coachd_switch_seconds_count") == (
        metric(before, "coachd_switch_seconds_count") + 1
    )
    assert 'coachd_active_sessions{mode="whisper"} 1.0' in during
    assert metric(during, "coachd_mqtt_connected") == 1.0
    await dialled.party.leg.hangup()
    assert await wait_no_leftovers(pbx, within=1.0) == []

    status, doc = await call_json(http, "GET", "/openapi.json")
    assert (status, doc["openapi"]) == (200, "3.1.0")
    assert "/v1/sessions/{id}" in doc["paths"]
