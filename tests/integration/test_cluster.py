"""Multi-server coaching on the sandbox: a supervisor on pbx coaches an agent on pbx2.

Two coachd instances, one per PBX, share a cluster (directory on MQTT, a
signed grant in the trunk call). The customer calls agent 1301 on pbx2; the
supervisor's phone 2001 dials ``*2231301`` on pbx. Audio is proven as in
test_coaching.py: each party sends its own tone and what each one hears is
analysed per 20 ms frame, plus wire taps on what pbx2 sends to the caller.
Calls that reach pbx2's cluster trunk without a valid grant are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from typing import Any

import aiohttp
import aiomqtt
import pytest

from coachd.ari.client import AriClient
from coachd.ari.errors import AriError
from coachd.cluster.signing import issue
from coachd.core.modes import Mode
from tests.audio.wire import WireTap
from tests.integration.conftest import call_json, wait_no_leftovers
from tests.mqtt.conftest import Subscriber
from tests.sandbox import cluster
from tests.sandbox.callcenter import (
    DETECTOR,
    TONES,
    Call,
    Party,
    check_routing,
    connect_call,
    settle,
    supervisor_dials,
    wire_taps,
)
from tests.sandbox.daemon import ARTIFACTS, Daemon
from tests.sandbox.phones import HARNESS_PASSWORD, HARNESS_USER, PBX2_ARI_URL, Phones
from tests.sandbox.switches import (
    assert_fifty_switches_held,
    fifty_switches,
    switch_by_dtmf,
)

SECRET = cluster.SECRET
AGENT = "1301"
HOME_HTTP = "127.0.0.1:18094"
SUP1 = {"Authorization": "Bearer sandbox-sup1-token-0001"}
SUP2 = {"Authorization": "Bearer sandbox-sup2-token-0001"}
ADMIN = {"Authorization": "Bearer sandbox-admin-token-0001"}


@pytest.fixture(scope="module")
def cluster_prefix() -> str:
    return f"coachd-cluster-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def nodes(cluster_prefix: str) -> Iterator[tuple[Daemon, Daemon]]:
    """coachd on pbx (the supervisors' node, with the HTTP API and MQTT control) and
    on pbx2 (the agents'), one cluster."""
    home, remote = cluster.nodes(
        cluster_prefix, {"COACHD_HTTP__LISTEN": HOME_HTTP, "COACHD_MQTT__CONTROL": "true"}
    )
    with home.running(), remote.running():
        yield home, remote


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession("http://" + HOME_HTTP) as session:
        yield session


@pytest.fixture
async def pbx2() -> AsyncIterator[AriClient]:
    async with AriClient(url=PBX2_ARI_URL, username=HARNESS_USER, password=HARNESS_PASSWORD) as ari:
        try:
            await ari.info()
        except AriError as exc:
            pytest.fail(f"the sandbox's pbx2 is not answering ({exc}); run: scripts/sandbox up")
        yield ari


async def call_on_pbx2(phones: Phones) -> Call:
    """A customer calls agent 1301 on pbx2 (the phones' carrier2 trunk); both talk."""
    return await connect_call(phones, AGENT, trunk="carrier2")


async def tapped_call_on_pbx2(
    phones: Phones, pbx2: AriClient, nodes: tuple[Daemon, Daemon]
) -> tuple[Call, dict[str, WireTap]]:
    """From now on in both nodes' logs: a customer's call to agent 1301 on pbx2, with
    wire taps on what pbx2 sends, once pbx knows the agent is on it."""
    home, remote = nodes
    home.checkpoint()
    remote.checkpoint()
    call = await call_on_pbx2(phones)
    wire = await wire_taps(pbx2, AGENT)
    await listed(home, AGENT)
    return call, wire


async def listed(home: Daemon, agent: str, *, on_call: bool = True, timeout: float = 10.0) -> None:
    """Wait until the supervisors' node knows whether ``agent`` is on a call on
    pbx2: its latest directory record says so, after pbx2 had the time to look
    again (a previous test's call of the same agent may just have been cleared)."""
    await asyncio.sleep(0.8)
    deadline = time.monotonic() + timeout
    while True:
        seen = [
            r.get("on_call")
            for r in home.records()
            if r.get("event") == "cluster_directory"
            and r.get("agent") == agent
            and r.get("node") == "pbx2"
        ]
        if seen and seen[-1] is on_call:
            return
        assert time.monotonic() < deadline, f"pbx never heard that {agent} on_call={on_call}"
        await asyncio.sleep(0.05)


def handed_off(home: Daemon) -> list[dict[str, object]]:
    return [
        r for r in home.records(since_checkpoint=True) if r.get("event") == "session_handed_off"
    ]


async def test_supervisor_on_pbx_coaches_agent_on_pbx2_across_the_trunk(
    phones: Phones, pbx: AriClient, pbx2: AriClient, nodes: tuple[Daemon, Daemon]
) -> None:
    home, remote = nodes
    call, wire = await tapped_call_on_pbx2(phones, pbx2, nodes)

    dialled = await supervisor_dials(phones, "2001", "*223" + AGENT)
    sup = dialled.party
    started = await remote.wait_event("session_started", timeout=10)
    assert (started["supervisor"], started["agent"], started["mode"]) == (
        "sup1",
        AGENT,
        "whisper",
    )
    assert started["endpoint"] == "PJSIP/2001"
    (handed,) = handed_off(home)
    assert handed["node"] == "pbx2"
    assert handed["session_id"] == started["session_id"]  # one session id end to end
    assert home.session_events() == []  # the session is pbx2's

    # Whisper: the agent hears the supervisor, the caller never does.
    t = await settle(call, sup, "whisper", after=dialled.answered_at, timeout=5.0)
    problems = await check_routing(call, sup, "whisper", t + 0.1, t + 2.1)
    assert not problems, problems

    # DTMF on the supervisor's phone (on pbx) switches modes on pbx2.
    switched: dict[str, float] = {}
    for digit, mode in (("4", "monitor"), ("6", "barge"), ("5", "whisper")):
        switched[mode], t = await switch_by_dtmf(call, sup, remote, digit, mode)
        changed = await remote.wait_event(
            "mode_changed", timeout=5, where=lambda r, m=mode: r["after"] == m
        )
        assert changed["source"] == "dtmf"
        problems = await check_routing(call, sup, mode, t + 0.1, t + 1.6)
        assert not problems, (mode, problems)
        remote.checkpoint()

    # Outside barge, not one frame of the supervisor reached the caller, on the
    # wire either; in barge the caller heard the supervisor.
    await asyncio.sleep(1.0)
    before_barge = (dialled.answered_at, switched["barge"])
    assert wire["caller"].capture.count_with("supervisor", *before_barge) == 0
    assert call.caller.ear.capture.count_with("supervisor", *before_barge) == 0
    assert wire["caller"].capture.count_with("supervisor", switched["barge"]) > 0
    assert wire["caller"].capture.count_with("supervisor", t + 0.2) == 0
    assert call.caller.ear.capture.count_with("supervisor", t + 0.2) == 0

    await sup.leg.dtmf("*")
    ended = await remote.wait_event("session_ended", timeout=5)
    assert ended["reason"] == "supervisor_ended"
    assert await wait_no_leftovers(pbx2, within=2.0) == []
    assert await wait_no_leftovers(pbx, within=2.0) == []
    # The customer's call goes on.
    t1 = time.monotonic()
    await asyncio.sleep(0.5)
    assert call.caller.ear.capture.fraction_with("agent", t1, t1 + 0.5) > 0.9


async def test_the_caller_never_hears_a_cross_server_whisper(
    phones: Phones, pbx2: AriClient, nodes: tuple[Daemon, Daemon]
) -> None:
    home, remote = nodes
    call, wire = await tapped_call_on_pbx2(phones, pbx2, nodes)
    dialled = await supervisor_dials(phones, "2001", "*223" + AGENT)
    sup = dialled.party
    t = await settle(call, sup, "whisper", after=dialled.answered_at, timeout=5.0)
    await asyncio.sleep(3.0)
    assert wire["caller"].capture.count_with("supervisor", dialled.answered_at) == 0
    assert wire["caller"].capture.fraction_with("agent", t, t + 3.0) > 0.95
    assert call.caller.ear.capture.count_with("supervisor", dialled.answered_at) == 0
    assert call.agent.ear.capture.fraction_with("supervisor", t + 0.1, t + 3.0) > 0.95
    await sup.leg.hangup()
    ended = await remote.wait_event("session_ended", timeout=5)
    assert ended["reason"] == "supervisor_hangup"
    assert await wait_no_leftovers(pbx2, within=2.0) == []
    # The call ends: the agent leaves the directory.
    home.checkpoint()
    await call.agent.leg.hangup()
    await listed(home, AGENT, on_call=False)


async def test_permissions_are_checked_on_the_supervisors_node(
    phones: Phones, nodes: tuple[Daemon, Daemon]
) -> None:
    home, remote = nodes
    home.checkpoint()
    remote.checkpoint()
    await call_on_pbx2(phones)
    await listed(home, AGENT)
    # sup2 may not barge: refused on pbx, nothing reaches pbx2.
    await supervisor_dials(phones, "2002", "*224" + AGENT)
    refused = await home.wait_event("session_refused", timeout=5)
    assert refused["reason"] == "not_permitted"
    await asyncio.sleep(0.5)
    assert remote.session_events() == []


async def forged_call(phones: Phones, grant: str | None) -> None:
    """A call on pbx2's cluster trunk that did not come from coachd on pbx: the
    phones' ``forger`` endpoint has the trunk's From user, so pbx2 takes it for the
    trunk; ``grant`` is put in X-Coachd-Grant as is."""
    variables = {} if grant is None else {"PJSIP_HEADER(add,X-Coachd-Grant)": grant}
    cid = f"forger-{uuid.uuid4().hex[:8]}"
    phones.channels.append(cid)
    await phones.start_and_wait(
        cid,
        phones.ari.originate(
            endpoint="PJSIP/coachd@forger",
            app="phones",
            app_args="outgoing",
            channel_id=cid,
            variables=variables,
        ),
    )


def grant_for_pbx2(*, secret: str = SECRET, ttl: float = 10.0, now: float | None = None) -> str:
    _, token = issue(
        secret=secret.encode(),
        issuer="pbx",
        audience="pbx2",
        supervisor="sup1",
        endpoint="PJSIP/2001",
        agent=AGENT,
        mode=Mode.BARGE,
        modes=list(Mode),
        session_id=uuid.uuid4().hex[:12],
        ttl=ttl,
        now=now,
    )
    return token


async def test_forged_unsigned_and_replayed_grants_are_refused(
    phones: Phones, pbx2: AriClient, nodes: tuple[Daemon, Daemon]
) -> None:
    _, remote = nodes
    remote.checkpoint()
    await call_on_pbx2(phones)
    valid = grant_for_pbx2()
    cases = [
        (None, "malformed"),  # no grant at all
        ("v1.eyJzdXAiOiJzdXAxIn0.AAAA", "bad_signature"),  # made up
        (grant_for_pbx2(secret="another-secret-of-at-least-32-chars!!"), "bad_signature"),
        (grant_for_pbx2(now=time.time() - 60), "expired"),
    ]
    for grant, reason in cases:
        await forged_call(phones, grant)
        refused = await remote.wait_event("session_refused", timeout=5)
        assert refused["reason"] == "not_permitted"
        assert reason in refused["detail"], (reason, refused)
        remote.checkpoint()

    # A genuine grant works once...
    await forged_call(phones, valid)
    started = await remote.wait_event("session_started", timeout=5)
    assert (started["supervisor"], started["mode"]) == ("sup1", "barge")
    # ... and not twice.
    remote.checkpoint()
    await forged_call(phones, valid)
    refused = await remote.wait_event("session_refused", timeout=5)
    assert "replayed" in refused["detail"]
    with contextlib.suppress(AriError):
        for cid in list(phones.channels):
            if cid.startswith("forger-"):
                await phones.ari.hangup(cid)
    assert await wait_no_leftovers(pbx2, within=3.0) == []


async def home_view(
    http: aiohttp.ClientSession, sid: str, ready: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The home node's listing of ``sid``, once ``ready`` says it is up to date."""
    deadline = time.monotonic() + 5.0
    while True:
        _, listing = await call_json(http, "GET", "/v1/sessions", headers=ADMIN)
        found = [v for v in listing["sessions"] if v["session_id"] == sid]
        if found and ready(found[0]):
            return dict(found[0])
        assert time.monotonic() < deadline, listing
        await asyncio.sleep(0.05)


async def home_events(http: aiohttp.ClientSession) -> list[tuple[str, dict[str, Any]]]:
    """Every event in the home node's event stream so far: (type, payload)."""
    text = ""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(1.0), http.get("/v1/events", headers=ADMIN) as resp:
            async for raw in resp.content:
                text += raw.decode()
    out = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            out.append((fields["event"], json.loads(fields["data"])))
    return out


async def answer_rung_supervisor(phones: Phones) -> tuple[Party, float]:
    """Answer the call coachd placed to phone 2001; the supervisor talks."""
    leg = await phones.answer("2001")
    answered = time.monotonic()
    ear = await leg.listen(DETECTOR, keep_samples=True)
    await leg.say_tone(TONES["supervisor"])
    return Party("supervisor", leg, ear), answered


async def test_the_home_nodes_http_api_and_mqtt_set_drive_a_session_on_the_agents_node(
    phones: Phones,
    pbx: AriClient,
    pbx2: AriClient,
    nodes: tuple[Daemon, Daemon],
    http: aiohttp.ClientSession,
) -> None:
    home, remote = nodes
    call, wire = await tapped_call_on_pbx2(phones, pbx2, nodes)

    # The dashboard only knows the supervisor's node.
    body = {"supervisor": "sup1", "agent": AGENT, "mode": "whisper"}
    status, created = await call_json(http, "POST", "/v1/sessions", headers=SUP1, json=body)
    assert (status, created["state"]) == (202, "ringing"), created
    sid = created["session_id"]
    sup, answered = await answer_rung_supervisor(phones)
    t = await settle(call, sup, "whisper", after=answered, timeout=5.0)
    started = await remote.wait_event("session_started", timeout=10)
    assert (started["session_id"], started["supervisor"]) == (sid, "sup1")
    path = "/v1/sessions/" + sid
    status, view = await call_json(http, "GET", path, headers=SUP1)
    assert (status, view["state"], view["mode"], view["agent"]) == (200, "active", "whisper", AGENT)
    # The home node lists it too, as pbx2 reports its events back.
    assert (await home_view(http, sid, lambda v: v["state"] == "active"))["mode"] == "whisper"

    # PATCH on the home node switches on pbx2; the audio follows.
    asked = time.monotonic()
    status, view = await call_json(http, "PATCH", path, headers=SUP1, json={"mode": "barge"})
    answered_patch = time.monotonic()
    assert (status, view["mode"]) == (200, "barge"), view
    barge_at = await settle(call, sup, "barge", after=asked, timeout=5.0)
    problems = await check_routing(call, sup, "barge", barge_at + 0.1, barge_at + 1.1)
    assert not problems, problems
    changed = await remote.wait_event("mode_changed", where=lambda r: r["after"] == "barge")
    assert changed["source"] == "api"
    # Private whisper (no feature digit for it): only over the API, across the hop too.
    private_asked = time.monotonic()
    status, view = await call_json(
        http, "PATCH", path, headers=SUP1, json={"mode": "private_whisper"}
    )
    assert (status, view["mode"]) == (200, "private_whisper"), view
    private_at = await settle(call, sup, "private_whisper", after=private_asked, timeout=5.0)
    problems = await check_routing(call, sup, "private_whisper", private_at + 0.1, private_at + 1.1)
    assert not problems, problems
    # Another supervisor's token, or a mode the API does not know: pbx2's answers.
    status, refused = await call_json(http, "PATCH", path, headers=SUP2, json={"mode": "monitor"})
    assert (status, refused["error"]["code"]) == (404, "not_found")
    status, refused = await call_json(http, "PATCH", path, headers=SUP1, json={"mode": "shout"})
    assert (status, refused["error"]["details"]["field"]) == (422, "mode")

    # MQTT set on the home node's prefix, forwarded the same way.
    async with Subscriber(home.mqtt_prefix, topic_filter="sessions/+/set/result") as results:
        set_topic = f"{home.mqtt_prefix}/sessions/{sid}/set"
        async with aiomqtt.Client("127.0.0.1", 1883) as client:
            sent = time.monotonic()
            payload = {"mode": "monitor", "supervisor": "sup1", "request_id": "r1"}
            await client.publish(set_topic, json.dumps(payload).encode(), qos=1)
            await results.wait_for(lambda: len(results.received) >= 1)
            monitor_at = await settle(call, sup, "monitor", after=sent, timeout=5.0)
            problems = await check_routing(call, sup, "monitor", monitor_at + 0.1, monitor_at + 1.1)
            assert not problems, problems
            wrong = {"mode": "whisper", "supervisor": "sup2", "request_id": "r2"}
            await client.publish(set_topic, json.dumps(wrong).encode(), qos=1)
            await results.wait_for(lambda: len(results.received) >= 2)
    assert [r.json() for r in results.received] == [
        {"ok": True, "request_id": "r1"},
        {"ok": False, "request_id": "r2", "error": "not_your_session"},
    ]
    changed = await remote.wait_event("mode_changed", where=lambda r: r["after"] == "monitor")
    assert changed["source"] == "mqtt"

    # Not one frame of the supervisor at the caller outside barge, on the wire either.
    await asyncio.sleep(0.5)
    for t0, t1 in (
        (answered, asked),
        (private_at + 0.2, sent),
        (monitor_at + 0.2, time.monotonic()),
    ):
        assert wire["caller"].capture.count_with("supervisor", t0, t1) == 0
        assert call.caller.ear.capture.count_with("supervisor", t0, t1) == 0

    status, ending = await call_json(http, "DELETE", path, headers=SUP1)
    assert (status, ending["state"]) == (202, "ending")
    ended = await remote.wait_event("session_ended", timeout=5)
    assert (ended["session_id"], ended["reason"]) == (sid, "api")
    await asyncio.wait_for(sup.leg.hung_up.wait(), 5)
    status, view = await call_json(http, "GET", path, headers=SUP1)
    assert (status, view["state"], view["reason"]) == (200, "ended", "api")
    mirrored = await home_view(http, sid, lambda v: v["state"] == "ended")
    assert (mirrored["reason"], mirrored["mode"]) == ("api", "monitor")
    # The home node's event stream carried the session's events, in order.
    types = [t for t, p in await home_events(http) if p["session_id"] == sid]
    assert types == ["session_started", *["mode_changed"] * 3, "session_ended"], types
    assert home.session_events() == []  # every event of it is pbx2's
    assert await wait_no_leftovers(pbx2, within=2.0) == []
    assert await wait_no_leftovers(pbx, within=2.0) == []
    (ARTIFACTS / "cluster-http.json").write_text(
        json.dumps(
            {
                "patch_response_ms": round((answered_patch - asked) * 1000, 1),
                "patch_request_to_audible_ms": round((barge_at - asked) * 1000, 1),
                "mqtt_set_to_audible_ms": round((monitor_at - sent) * 1000, 1),
                "whisper_audible_after_answer_ms": round((t - answered) * 1000, 1),
            },
            indent=2,
        )
    )


async def test_fifty_switches_across_the_trunk_keep_the_routing_and_never_leak(
    phones: Phones, pbx: AriClient, pbx2: AriClient, nodes: tuple[Daemon, Daemon]
) -> None:
    _, remote = nodes
    call, wire = await tapped_call_on_pbx2(phones, pbx2, nodes)
    dialled = await supervisor_dials(phones, "2001", "*222" + AGENT)
    sup = dialled.party
    started = await remote.wait_event("session_started", timeout=10)
    t = await settle(call, sup, "monitor", after=dialled.answered_at, timeout=5.0)
    run = await fifty_switches(call, sup, wire, remote, started["session_id"], t)
    run.report["answer_to_call_audio_ms"] = round((t - dialled.answered_at) * 1000, 1)
    (ARTIFACTS / "cluster-switches.json").write_text(json.dumps(run.report, indent=2))
    print(json.dumps(run.report, indent=2))
    assert_fifty_switches_held(run, wire)
    await sup.leg.hangup()
    assert await wait_no_leftovers(pbx2, within=2.0) == []
    assert await wait_no_leftovers(pbx, within=2.0) == []


async def test_a_trunk_call_that_fails_is_refused_on_the_home_node_with_the_reason(
    phones: Phones, pbx: AriClient, nodes: tuple[Daemon, Daemon], cluster_prefix: str
) -> None:
    """pbx3 says it is online and lists agent 1399, but pbx has no trunk to it."""
    home, _ = nodes
    home.checkpoint()
    entry = {"node": "pbx3", "agent": "1399", "endpoint": "PJSIP/1399", "on_call": True}
    topics = [f"{cluster_prefix}/pbx3/available", f"{cluster_prefix}/pbx3/agents/1399"]
    async with aiomqtt.Client("127.0.0.1", 1883) as client:
        await client.publish(topics[0], b"online", qos=1, retain=True)
        await client.publish(topics[1], json.dumps(entry).encode(), qos=1, retain=True)
        try:
            await home.wait_record(
                lambda r: r.get("event") == "cluster_directory" and r.get("node") == "pbx3",
                timeout=5,
            )
            dialled = await supervisor_dials(phones, "2001", "*2231399")
            refused = await home.wait_event("session_refused", timeout=10)
            assert refused["reason"] == "node_unreachable"
            assert refused["agent"] == "1399"
            assert "pbx3" in refused["detail"] and "CHANUNAVAIL" in refused["detail"]
            (handed,) = handed_off(home)
            assert handed["session_id"] == refused["session_id"]
            # Told, then hung up: not left in silence.
            await asyncio.wait_for(dialled.party.leg.hung_up.wait(), 10)
        finally:
            for topic in topics:
                await client.publish(topic, b"", qos=1, retain=True)
    assert await wait_no_leftovers(pbx, within=2.0) == []


async def test_an_agent_on_a_node_that_died_is_refused_with_the_reason_at_once(
    phones: Phones, pbx: AriClient, nodes: tuple[Daemon, Daemon], http: aiohttp.ClientSession
) -> None:
    """Last in this module: pbx2's coachd is killed, then started again."""
    home, remote = nodes
    await call_on_pbx2(phones)
    await listed(home, AGENT)
    home.checkpoint()

    def pbx2_said(status: str) -> Callable[[dict[str, Any]], bool]:
        return lambda r: (
            r.get("event") == "cluster_node"
            and r.get("node") == "pbx2"
            and r.get("status") == status
        )

    said = {s: len([r for r in home.records() if pbx2_said(s)(r)]) for s in ("online", "offline")}
    killed = time.time()
    remote.kill()
    try:
        # The broker sends pbx2's Last Will.
        offline = await home.wait_record(
            pbx2_said("offline"), count=said["offline"] + 1, timeout=10
        )
        # When pbx's coachd logged the Last Will, by its own clock.
        noticed = datetime.fromisoformat(offline[-1]["timestamp"]).timestamp()
        # The dashboard is told at once, and no phone rings.
        body = {"supervisor": "sup1", "agent": AGENT, "mode": "whisper"}
        status, refused = await call_json(http, "POST", "/v1/sessions", headers=SUP1, json=body)
        assert (status, refused["error"]["code"]) == (503, "node_unavailable"), refused
        assert "node pbx2 is offline" in refused["error"]["details"]["detail"]
        assert phones.incoming["2001"].empty()
        # A supervisor dialling the code hears why, instead of a trunk call to nowhere.
        dialled = await supervisor_dials(phones, "2001", "*223" + AGENT)
        event = await home.wait_event("session_refused", timeout=5)
        assert event["reason"] == "node_unavailable"
        assert "node pbx2 is offline" in event["detail"]
        assert handed_off(home) == []
        await asyncio.wait_for(dialled.party.leg.hung_up.wait(), 10)
        assert await wait_no_leftovers(pbx, within=2.0) == []
        (ARTIFACTS / "cluster-node-died.json").write_text(
            json.dumps({"kill_to_last_will_at_pbx_ms": round((noticed - killed) * 1000, 1)})
        )
    finally:
        remote.start()
    # Back: pbx2 is online again and takes sessions.
    await home.wait_record(pbx2_said("online"), count=said["online"] + 1, timeout=10)
    await listed(home, AGENT)
    dialled = await supervisor_dials(phones, "2001", "*222" + AGENT)
    started = await remote.wait_event("session_started", timeout=10)
    assert started["agent"] == AGENT
    await dialled.party.leg.hangup()
    await remote.wait_event("session_ended", timeout=5)
